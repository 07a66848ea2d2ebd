//! `debfleet snapshot create|list|show|diff`.

use super::clock;
use super::context::{self, Format};
use anyhow::Result;
use debfleet::release::snapshot::{self, Selection};
use debfleet::release::testrun;
use debfleet::store::OpenMode;
use std::process::ExitCode;

/// Freeze, compare and inspect snapshots of the fleet's builds.
///
/// A snapshot records, for every selected image, its latest successful build
/// (number, manifest hash, digest) plus the index generations in force.
/// Default names are ISO weeks of --now (2026-W48).
///
/// Examples:
///   debfleet snapshot create
///   debfleet snapshot create --name 2026-W48-hotfix --image 'nginx*' --reason "openssl DSA"
///   debfleet snapshot diff 2026-W47 2026-W48
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Create a snapshot of the latest successful builds.
    Create {
        /// The name (default: the ISO week, e.g. 2026-W48).
        #[arg(long)]
        name: Option<String>,
        /// Only images matching this glob.
        #[arg(long, value_name = "GLOB")]
        image: Option<String>,
        /// Why (free text).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List snapshots, oldest first.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show a snapshot's images, generations and test results.
    Show {
        /// The snapshot name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Images added, removed and rebuilt from A to B, with package changes.
    Diff {
        /// The older snapshot.
        a: String,
        /// The newer snapshot.
        b: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        SnapshotCommand::Create {
            name,
            image,
            reason,
            format,
        } => {
            let now = clock::now(global)?;
            let fleet = context::load_fleet(global)?;
            let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: false })?;
            let snap = snapshot::create(
                &store,
                &fleet,
                name.as_deref(),
                &Selection {
                    image_glob: image.clone(),
                },
                &global.actor(),
                now,
                reason.as_deref(),
            )?;
            match format {
                Format::Json => context::print_json(&snap)?,
                Format::Table => println!(
                    "created snapshot {} ({} images, {} entries stored, {} bytes)",
                    snap.name,
                    snap.images.len(),
                    snap.stored_entries,
                    snap.stored_bytes
                ),
            }
        }
        SnapshotCommand::List { format } => {
            let store = read_store(global)?;
            let list = snapshot::list(&store)?;
            match format {
                Format::Json => {
                    #[derive(serde::Serialize)]
                    struct Row<'a> {
                        name: &'a str,
                        created_at: &'a str,
                        actor: &'a str,
                        images: usize,
                        stored_entries: usize,
                        stored_bytes: u64,
                        reason: Option<&'a str>,
                    }
                    let rows: Vec<Row> = list
                        .iter()
                        .map(|s| Row {
                            name: &s.name,
                            created_at: &s.created_at,
                            actor: &s.actor,
                            images: s.images.len(),
                            stored_entries: s.stored_entries,
                            stored_bytes: s.stored_bytes,
                            reason: s.reason.as_deref(),
                        })
                        .collect();
                    context::print_json(&rows)?;
                }
                Format::Table => {
                    if list.is_empty() {
                        println!("no snapshots");
                    }
                    for s in &list {
                        println!(
                            "{:<20} {}  {:>4} images  {:>4} changed  {:>7} B  {}",
                            s.name,
                            s.created_at,
                            s.images.len(),
                            s.stored_entries,
                            s.stored_bytes,
                            s.actor
                        );
                    }
                }
            }
        }
        SnapshotCommand::Show { name, format } => {
            let store = read_store(global)?;
            let snap = snapshot::show(&store, name)?;
            let tests = testrun::for_snapshot(&store, name)?;
            match format {
                Format::Json => {
                    #[derive(serde::Serialize)]
                    struct Show<'a> {
                        #[serde(flatten)]
                        snapshot: &'a snapshot::Snapshot,
                        tests: &'a [testrun::TestRecord],
                    }
                    context::print_json(&Show {
                        snapshot: &snap,
                        tests: &tests,
                    })?;
                }
                Format::Table => {
                    println!("snapshot   {}", snap.name);
                    println!("created    {} by {}", snap.created_at, snap.actor);
                    if let Some(r) = &snap.reason {
                        println!("reason     {r}");
                    }
                    let gens: Vec<String> = snap
                        .generations
                        .iter()
                        .map(|(k, v)| format!("{k}@{v}"))
                        .collect();
                    println!("generations {}", gens.join(" "));
                    println!("images     {}", snap.images.len());
                    for (image, e) in &snap.images {
                        println!(
                            "  {:<40} #{:<4} {}",
                            image,
                            e.build,
                            e.digest.as_deref().unwrap_or("-")
                        );
                    }
                    println!("tests      {}", tests.len());
                    for t in &tests {
                        println!(
                            "  {:<10} {:<6} {:<30} {} {}",
                            t.suite,
                            if t.passed { "pass" } else { "FAIL" },
                            t.image.as_deref().unwrap_or("(all images)"),
                            t.recorded_at,
                            t.note.as_deref().unwrap_or("")
                        );
                    }
                }
            }
        }
        SnapshotCommand::Diff { a, b, format } => {
            let store = read_store(global)?;
            let d = snapshot::diff(&store, a, b)?;
            match format {
                Format::Json => context::print_json(&d)?,
                Format::Table => {
                    println!("{} -> {}", d.from, d.to);
                    for (image, build) in &d.added {
                        println!("  added    {image} #{build}");
                    }
                    for (image, build) in &d.removed {
                        println!("  removed  {image} #{build}");
                    }
                    for r in &d.rebuilt {
                        println!(
                            "  rebuilt  {} #{} -> #{} ({} package changes)",
                            r.image,
                            r.from_build,
                            r.to_build,
                            r.changes.len()
                        );
                        for c in &r.changes {
                            println!(
                                "             {:<36} {} -> {}",
                                c.package,
                                c.from.as_deref().unwrap_or("(none)"),
                                c.to.as_deref().unwrap_or("(removed)")
                            );
                        }
                    }
                    for (suite, (x, y)) in &d.generations {
                        println!(
                            "  suite    {suite} generation {} -> {}",
                            x.map_or("-".into(), |v| v.to_string()),
                            y.map_or("-".into(), |v| v.to_string())
                        );
                    }
                    if d.added.is_empty() && d.removed.is_empty() && d.rebuilt.is_empty() {
                        println!("  no image changes");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_store(global: &super::GlobalArgs) -> Result<debfleet::store::Store> {
    let fleet = context::load_fleet(global).ok();
    context::open_store(global, fleet.as_ref(), OpenMode::Read)
}
