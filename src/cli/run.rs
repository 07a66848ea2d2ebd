//! `debfleet run`: `sync` then `check`, the job a timer runs.

use super::check::{self as check_cmd, CheckArgs};
use super::sync::{self as sync_cmd, SyncArgs};
use anyhow::Result;
use std::process::ExitCode;

/// Sync, then check: the job a timer runs every few hours.
///
/// Prints the sync summary (to stderr) and the check
/// report (to stdout). Exit status as for `check`, or 1 when a suite
/// failed to sync.
///
/// Example (the bundled example fleet and mirror):
///   debfleet --fleet testdata/fleet --now 2026-11-27T12:00:00Z run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub sync: SyncArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let (store, sync_report) = sync_cmd::run_sync(global, &args.sync)?;
    if args.check.format != super::context::Format::Json {
        // Keep stdout for the check report; the sync summary goes to stderr.
        for (key, outcome) in &sync_report.suites {
            eprintln!("sync {key}: {}", describe(outcome));
        }
    }
    let fleet = super::context::load_fleet(global)?;
    let report = check_cmd::run_check(global, &fleet, &store, &args.check)?;
    let code = check_cmd::render_and_exit_code(global, &fleet, &store, &report, &args.check)?;
    if sync_report.has_failures() {
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

fn describe(o: &debfleet::store::sync::SuiteOutcome) -> String {
    use debfleet::store::sync::SuiteOutcome::*;
    match o {
        Unchanged { generation } => format!("unchanged (generation {generation})"),
        Updated(s) => format!(
            "generation {}: {} packages, +{} -{} ~{}",
            s.generation, s.packages, s.added, s.removed, s.changed
        ),
        NotMirrored { error } => format!("not mirrored ({error})"),
        Failed { error } => format!("FAILED: {error}"),
    }
}
