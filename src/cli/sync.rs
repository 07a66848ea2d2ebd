//! `debfleet sync`: fetch, verify and index the fleet's suites into the store.

use super::context::{self, Format, human_bytes};
use anyhow::Result;
use debfleet::deb::pdiff::PdiffLimits;
use debfleet::fleet::sources;
use debfleet::mirror::{HttpOptions, ReleasePolicy};
use debfleet::store::sync::{SuiteOutcome, SyncOptions, SyncProgress, SyncReport};
use debfleet::store::{OpenMode, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Fetch, verify and index the suites every base uses into the store.
///
/// Signatures and hashes are verified before any byte is used.
///
/// An unchanged suite costs one read and a hash compare; a changed index
/// is patched with pdiffs when the mirror offers them, and only added,
/// removed and changed package records are written. A suite that fails
/// (bad signature, hash mismatch, expired) keeps its previous generation;
/// the others go on; the exit status is 1.
///
/// A sync that rewrote more than 20,000 records of indexes it had stored
/// before compacts the store afterwards (JSON: "rewritten" per suite,
/// "compacted"); "store_bytes" is what the store takes on disk.
///
/// HTTP mirrors: a dropped connection, a short body, a timed-out connect
/// or read, and a 5xx or 429 answer are retried 3 times with backoff (0.5,
/// 1, 2 s); redirects are followed. A file whose bytes do not match the
/// signed Release is refused without retrying. See --timeout.
///
/// Examples:
///   debfleet sync
///   debfleet --now 2026-11-27 sync --format json
///   debfleet sync --timeout 10
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Options shared by `sync` and `run`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Accept a Release whose Valid-Until has passed (recorded in the generation).
    #[arg(long)]
    pub allow_expired: bool,
    /// Accept a Release whose Date is older than the stored one (recorded).
    #[arg(long)]
    pub allow_downgrade: bool,
    /// If another process is writing the store, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Network timeout for HTTP mirrors, in seconds (decimals allowed):
    /// give up on a request that cannot connect, or receives no data, for
    /// this long, and on any one file transfer after 20 times this long.
    /// Default: 30 (15 to connect; 600 per file).
    #[arg(long, value_name = "SECS", env = "DEBFLEET_HTTP_TIMEOUT", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

/// `--timeout`: positive seconds, decimals allowed, at most a day.
pub(crate) fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds (e.g. 30 or 2.5)"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{text:?}: the timeout must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

struct Bar(Option<ProgressBar>);

impl SyncProgress for Bar {
    fn suite_started(&self, key: &str) {
        if let Some(b) = &self.0 {
            b.set_message(format!("fetching {key}"));
        }
    }
    fn suite_finished(&self, key: &str, _outcome: &SuiteOutcome) {
        if let Some(b) = &self.0 {
            b.inc(1);
            b.set_message(format!("indexed {key}"));
        }
    }
}

/// Runs a sync and compiles the candidate tables; returns the report.
pub fn run_sync(global: &super::GlobalArgs, args: &SyncArgs) -> Result<(Store, SyncReport)> {
    let fleet = context::load_fleet(global)?;
    let now = super::clock::now(global)?;
    let mut targets = sources::sync_targets(&fleet)?;
    if let Some(timeout) = args.timeout {
        let options = HttpOptions::with_timeout(timeout);
        for target in &mut targets {
            target.source.set_http_options(options.clone());
        }
    }
    let mut store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: args.wait })?;
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(targets.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let options = SyncOptions {
        now,
        policy: ReleasePolicy {
            allow_expired: args.allow_expired,
            allow_downgrade: args.allow_downgrade,
        },
        pdiff: PdiffLimits::default(),
        actor: global.actor(),
        tables: sources::table_targets(&fleet),
    };
    let progress = Bar(bar);
    let mut report = debfleet::store::sync::sync(&store, &targets, &options, &progress)?;
    if let Some(b) = &progress.0 {
        b.finish_and_clear();
    }
    after_sync(&mut store, &fleet, &mut report)?;
    Ok((store, report))
}

/// What follows every sync or import: see [`sources::finish_sync`].
pub fn after_sync(
    store: &mut Store,
    fleet: &debfleet::fleet::config::FleetConfig,
    report: &mut SyncReport,
) -> Result<()> {
    sources::finish_sync(store, fleet, report)?;
    Ok(())
}

/// Renders a sync report.
pub fn render(report: &SyncReport, store: &Store, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            let suites: Vec<_> = report
                .suites
                .iter()
                .map(|(key, o)| match o {
                    SuiteOutcome::Unchanged { generation } => {
                        json!({"suite": key, "status": "unchanged", "generation": generation})
                    }
                    SuiteOutcome::Updated(s) => json!({
                        "suite": key, "status": "updated", "generation": s.generation,
                        "packages": s.packages, "added": s.added, "removed": s.removed,
                        "changed": s.changed, "rewritten": s.rewritten,
                        "bytes_read": s.bytes_read,
                        "seconds": s.elapsed.as_secs_f64(), "methods": s.methods,
                        "accepted_expired": s.accepted_expired,
                        "accepted_downgrade": s.accepted_downgrade,
                    }),
                    SuiteOutcome::NotMirrored { error } => {
                        json!({"suite": key, "status": "not-mirrored", "error": error})
                    }
                    SuiteOutcome::Failed { error } => {
                        json!({"suite": key, "status": "failed", "error": error})
                    }
                })
                .collect();
            context::print_json(&json!({
                "suites": suites,
                "store": store.path(),
                "store_bytes": store.disk_bytes(),
                "compacted": report.compacted,
            }))?;
        }
        Format::Table => {
            println!(
                "{:<32} {:>5} {:>9} {:>8} {:>8} {:>8} {:>10} {:>7}",
                "SUITE", "GEN", "PACKAGES", "ADDED", "REMOVED", "CHANGED", "READ", "TIME"
            );
            for (key, o) in &report.suites {
                match o {
                    SuiteOutcome::Unchanged { generation } => {
                        println!("{key:<32} {generation:>5} {:>9}", "unchanged")
                    }
                    SuiteOutcome::Updated(s) => println!(
                        "{key:<32} {:>5} {:>9} {:>8} {:>8} {:>8} {:>10} {:>6.2}s{}",
                        s.generation,
                        s.packages,
                        s.added,
                        s.removed,
                        s.changed,
                        human_bytes(s.bytes_read),
                        s.elapsed.as_secs_f64(),
                        if s.accepted_expired {
                            "  (expired, accepted)"
                        } else {
                            ""
                        }
                    ),
                    SuiteOutcome::NotMirrored { error } => {
                        println!("{key:<32} {:>5} not mirrored: {error}", "-")
                    }
                    SuiteOutcome::Failed { error } => {
                        println!("{key:<32} {:>5} FAILED: {error}", "-")
                    }
                }
            }
            println!(
                "store: {} ({})",
                store.path().display(),
                human_bytes(store.disk_bytes())
            );
        }
    }
    Ok(())
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let (store, report) = run_sync(global, &args.sync)?;
    render(&report, &store, args.format)?;
    Ok(if report.has_failures() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
