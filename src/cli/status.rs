//! `debfleet status`: what each stage runs now.

use super::context::{self, Format};
use anyhow::Result;
use debfleet::release::promote;
use debfleet::store::OpenMode;
use std::process::ExitCode;

/// Show what each stage runs now: image, build, digest, since when.
///
/// Examples:
///   debfleet status
///   debfleet status --stage production --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only this stage.
    #[arg(long)]
    pub stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global).ok();
    if let (Some(f), Some(stage)) = (&fleet, &args.stage) {
        promote::check_stage(&f.release, stage)?;
    }
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let mut rows = promote::status(&store, args.stage.as_deref())?;
    if let Some(f) = &fleet {
        let order = |s: &str| {
            f.release
                .stages
                .iter()
                .position(|x| x == s)
                .unwrap_or(usize::MAX)
        };
        rows.sort_by(|a, b| (order(&a.stage), &a.image).cmp(&(order(&b.stage), &b.image)));
    }
    match args.format {
        Format::Json => context::print_json(&rows)?,
        Format::Table => {
            if rows.is_empty() {
                println!("no stage runs anything yet (promote a snapshot)");
            }
            let mut last = "";
            for r in &rows {
                if r.stage != last {
                    println!("{}:", r.stage);
                    last = &r.stage;
                }
                println!(
                    "  {:<40} #{:<4} {:<20} since {}  ({})",
                    r.image,
                    r.build,
                    r.digest
                        .as_deref()
                        .map(|d| d.get(..19).unwrap_or(d))
                        .unwrap_or("-"),
                    r.since,
                    r.snapshot
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
