//! `debfleet audit verify|at|history|who-had|fix-latency`: the audit trail, offline.

use super::clock;
use super::context::{self, Format};
use anyhow::Result;
use debfleet::audit::{self, at, fix_latency, history, who_had};
use debfleet::store::OpenMode;
use std::process::ExitCode;

/// Verify the hash-chained record journal and query it offline.
///
/// Examples:
///   debfleet audit verify
///   debfleet audit at 2026-11-20T12:00:00Z --stage production
///   debfleet audit history nginx
///   debfleet audit who-had libssl3 --version '<< 3.0.15-1~deb12u1' --stage production
///   debfleet audit who-had libc6 --between 2026-01-01 2026-06-30 --format json
///   debfleet audit fix-latency CVE-2024-2511 --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and the indexes; report the first broken
    /// link. Exit status: 0 intact, 2 broken link found, 1 error.
    Verify {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Which image builds, with which package sets, a stage ran at TIME.
    At {
        /// RFC 3339 time or a date (UTC midnight).
        time: String,
        /// Only this stage (default: every stage).
        #[arg(long)]
        stage: Option<String>,
        /// Print every package of every image (table format).
        #[arg(short, long)]
        verbose: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Builds, snapshots, tests and promotions of IMAGE over time.
    History {
        /// The image.
        image: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Which images carried PACKAGE, in which versions, for how long.
    WhoHad {
        /// The binary package name.
        package: String,
        /// Only versions satisfying 'OP VERSION' (<< <= = >= >>).
        #[arg(long, value_name = "CONSTRAINT")]
        version: Option<String>,
        /// Carried in this stage (default: by each image's latest successful build).
        #[arg(long)]
        stage: Option<String>,
        /// Only time between T1 and T2.
        #[arg(long, num_args = 2, value_names = ["T1", "T2"])]
        between: Option<Vec<String>>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Time-to-fix of fast-tracked issues per image: fix known/mirrored,
    /// planned, built, in testing, in production, and the durations.
    FixLatency {
        /// Only this issue (default: every fast-tracked issue).
        cve: Option<String>,
        /// Output format (JSON: `{"fixes": [...]}` for SLA dashboards).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global).ok();
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    match &args.command {
        AuditCommand::FixLatency { cve, format } => {
            let Some(fleet) = fleet.as_ref() else {
                // Reload to report why the fleet could not be read.
                context::load_fleet(global)?;
                anyhow::bail!("fix-latency needs the fleet (pass --fleet)");
            };
            let report = fix_latency::fix_latency(&store, fleet, cve.as_deref())?;
            match format {
                Format::Json => context::print_json(&report)?,
                Format::Table => {
                    if report.fixes.is_empty() {
                        println!("no fast-tracked issue recorded");
                    }
                    let d = |s: Option<i64>| {
                        s.map_or("-".to_string(), debfleet::release::promote::human_duration)
                    };
                    for f in &report.fixes {
                        println!(
                            "{} {} ({} >= {})",
                            f.cve, f.image, f.source, f.fixed_version
                        );
                        let steps = [
                            ("fix available", &f.fix_available_at, None),
                            ("planned", &f.planned_at, Some(f.durations.plan)),
                            ("built", &f.built_at, Some(f.durations.build)),
                            ("testing", &f.testing_at, Some(f.durations.testing)),
                            ("production", &f.production_at, Some(f.durations.production)),
                        ];
                        for (name, at, took) in steps {
                            let after = took.map(|t| format!("  (+{})", d(t))).unwrap_or_default();
                            println!("  {name:<14} {}{after}", at.as_deref().unwrap_or("-"));
                        }
                        println!("  {:<14} {}", "total", d(f.durations.total));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { format } => {
            let report = audit::verify(&store)?;
            match format {
                Format::Json => context::print_json(&report)?,
                Format::Table => match report.broken() {
                    None => println!(
                        "journal intact: {} entries, head #{} {}; {} sync generations cross-checked; indexes {}",
                        report.journal.entries,
                        report.journal.head_seq,
                        report.journal.head_hash,
                        report.journal.generations_checked,
                        if report.indexes_checked {
                            "consistent"
                        } else {
                            "not checked"
                        }
                    ),
                    Some(b) => println!("BROKEN at entry {}: {}", b.seq, b.problem),
                },
            }
            Ok(if report.broken().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        AuditCommand::At {
            time,
            stage,
            verbose,
            format,
        } => {
            let when = clock::parse_time(time)
                .map_err(|e| anyhow::anyhow!("{time:?}: expected RFC 3339 or a date: {e}"))?;
            let report = at::at(&store, when, stage.as_deref())?;
            match format {
                Format::Json => context::print_json(&report)?,
                Format::Table => {
                    println!("at {}", report.at);
                    if report.stages.is_empty() {
                        println!("  no stage ran anything then");
                    }
                    for s in &report.stages {
                        println!("{}:", s.stage);
                        for i in &s.images {
                            println!(
                                "  {:<40} #{:<4} {:>4} pkgs  since {}  ({})",
                                i.image,
                                i.build,
                                i.packages.len(),
                                i.since,
                                i.snapshot
                            );
                            if *verbose {
                                for (p, v) in i.packages.iter() {
                                    println!("      {p} {v}");
                                }
                            }
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::History { image, format } => {
            let events = history::history(&store, image)?;
            match format {
                Format::Json => context::print_json(&events)?,
                Format::Table => {
                    for e in &events {
                        println!(
                            "{:>6}  {}  {:<10} {}  ({})",
                            e.seq, e.at, e.kind, e.summary, e.actor
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::WhoHad {
            package,
            version,
            stage,
            between,
            format,
        } => {
            let now = clock::now(global)?;
            let between = match between.as_deref() {
                Some([a, b]) => Some((clock::parse_time(a)?, clock::parse_time(b)?)),
                Some(_) => anyhow::bail!("--between needs two times: T1 T2"),
                None => None,
            };
            let constraint = version
                .as_deref()
                .map(who_had::Constraint::parse)
                .transpose()?;
            let answer = who_had::who_had(
                &store,
                &who_had::WhoHadQuery {
                    package: package.clone(),
                    constraint,
                    stage: stage.clone(),
                    between,
                    now,
                },
            )?;
            match format {
                Format::Json => context::print_json(&answer)?,
                Format::Table => {
                    if answer.images.is_empty() {
                        println!("no image carried {package} (in that range)");
                    }
                    for i in &answer.images {
                        println!("{} ({})", i.image, i.package);
                        for v in &i.versions {
                            println!(
                                "  {:<30} {}",
                                v.version,
                                debfleet::release::promote::human_duration(v.seconds)
                            );
                            for iv in &v.intervals {
                                let builds: Vec<String> =
                                    iv.builds.iter().map(|b| format!("#{b}")).collect();
                                println!(
                                    "      {} .. {}  {}",
                                    iv.from,
                                    iv.to.as_deref().unwrap_or("(still)"),
                                    builds.join(" ")
                                );
                            }
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
