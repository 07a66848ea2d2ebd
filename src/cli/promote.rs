//! `debfleet promote`: move a snapshot's images into a stage.

use super::clock;
use super::context::{self, Format};
use anyhow::Result;
use debfleet::release::promote::{self, PromoteOptions};
use debfleet::store::OpenMode;
use std::process::ExitCode;

/// Promote every image of a snapshot that satisfies the release policy
/// (fleet.yaml `release:`) into STAGE, atomically, and print what was held
/// back and why.
///
/// Policy: a later stage requires the build to have entered the previous
/// stage; production also requires the soak time (min_soak, from the
/// promotion into the previous stage) and the required test suites passed;
/// a failed test always holds an image back. --expedite --reason skips the
/// soak (expedite.required_suites apply instead). Promoting a snapshot
/// older than the one the stage last received is a rollback: --reason is
/// required. Expedites and rollbacks are recorded as overrides.
///
/// Exit status: 0 all eligible images promoted, 2 some images held back,
/// 1 error.
///
/// Examples:
///   debfleet promote 2026-W48 --to testing
///   debfleet promote 2026-W48 --to production
///   debfleet promote 2026-W49-sec --to production --expedite --reason "CVE-2026-1234"
///   debfleet promote 2026-W47 --to production --reason "W48 breaks TLS clients"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The snapshot.
    pub snapshot: String,
    /// The target stage.
    #[arg(long, value_name = "STAGE")]
    pub to: String,
    /// Skip the soak time (needs --reason; failed tests still block).
    #[arg(long)]
    pub expedite: bool,
    /// Why (required for --expedite and rollbacks).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let now = clock::now(global)?;
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: false })?;
    let outcome = promote::promote(
        &store,
        &fleet,
        &args.snapshot,
        &args.to,
        PromoteOptions {
            expedite: args.expedite,
            reason: args.reason.clone(),
        },
        &global.actor(),
        now,
    )?;
    let p = &outcome.promotion;
    match args.format {
        Format::Json => context::print_json(&outcome)?,
        Format::Table => {
            let mut flags = Vec::new();
            if p.expedite {
                flags.push("expedited");
            }
            if p.rollback {
                flags.push("rollback");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join(", "))
            };
            if p.promoted.is_empty() {
                println!(
                    "nothing promoted from {} to {}{flags} ({} already there, {} held)",
                    p.snapshot,
                    p.stage,
                    p.unchanged,
                    p.held.len()
                );
            } else {
                println!(
                    "promoted {} image(s) from {} to {}{flags} ({} already there)",
                    p.promoted.len(),
                    p.snapshot,
                    p.stage,
                    p.unchanged
                );
            }
            for i in &p.promoted {
                match i.previous_build {
                    Some(prev) => println!("  {:<40} #{prev} -> #{}", i.image, i.build),
                    None => println!("  {:<40} #{} (new in {})", i.image, i.build, p.stage),
                }
            }
            if !p.held.is_empty() {
                println!("held back:");
                for h in &p.held {
                    println!("  {} #{}", h.image, h.build);
                    for r in &h.reasons {
                        println!("      {r}");
                    }
                }
            }
        }
    }
    Ok(if p.held.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
