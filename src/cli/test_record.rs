//! `debfleet test record`: attach test evidence to a snapshot.

use super::clock;
use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::release::testrun::{self, NewTest};
use debfleet::store::OpenMode;
use std::path::PathBuf;
use std::process::ExitCode;

/// Record test results against snapshots.
///
/// Examples:
///   debfleet test record 2026-W48 --suite smoke --pass
///   debfleet test record 2026-W48 --image nginx --suite full --fail --note "TLS test" --log full.log
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: TestCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TestCommand {
    /// Record one suite's result for a snapshot (one image, or all).
    Record(RecordArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The snapshot tested.
    pub snapshot: String,
    /// The image tested (default: the result applies to all images).
    #[arg(long)]
    pub image: Option<String>,
    /// The test suite.
    #[arg(long)]
    pub suite: String,
    /// The suite passed.
    #[arg(long, conflicts_with = "fail", required_unless_present = "fail")]
    pub pass: bool,
    /// The suite failed.
    #[arg(long)]
    pub fail: bool,
    /// Free text.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The test log, stored with the record.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let TestCommand::Record(args) = &args.command;
    let now = clock::now(global)?;
    let log = match &args.log {
        Some(p) => {
            Some(std::fs::read(p).with_context(|| format!("reading --log {}", p.display()))?)
        }
        None => None,
    };
    let fleet = context::load_fleet(global).ok();
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Write { wait: false })?;
    let record = testrun::record(
        &store,
        NewTest {
            snapshot: args.snapshot.clone(),
            image: args.image.clone(),
            suite: args.suite.clone(),
            passed: args.pass,
            note: args.note.clone(),
            log,
        },
        &global.actor(),
        now,
    )?;
    match args.format {
        Format::Json => context::print_json(&record)?,
        Format::Table => println!(
            "recorded {} {} for snapshot {} ({})",
            record.suite,
            if record.passed { "pass" } else { "FAIL" },
            record.snapshot,
            record.image.as_deref().unwrap_or("all images")
        ),
    }
    Ok(ExitCode::SUCCESS)
}
