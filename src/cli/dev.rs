//! `debfleet dev ...`: tools for benchmarking and load testing.

use super::context;
use anyhow::{Context, Result};
use debfleet::fleet::check::Tables;
use debfleet::fleet::{generate, manifest};
use debfleet::store::OpenMode;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Write a synthetic fleet of COUNT manifests built from this fleet's
    /// manifests (real closures) with versions varied among those the
    /// store's suites offer. Needs a synced store.
    ///
    /// Example: debfleet --fleet testdata/fleet dev generate-fleet --count 10000 --out /tmp/fleet10k
    GenerateFleet(GenerateArgs),
    /// Add a synthetic year of release history to the store (sync
    /// generations over the fleet's suites, image builds spread over every
    /// base and architecture, weekly snapshots, tests, promotions; see
    /// `debfleet::audit::generate`), then compact the store. Works on an
    /// empty store or on one that holds a sync of this fleet.
    ///
    /// Example: debfleet --fleet F --state S dev generate-history --images 500 --start 2026-11-30
    GenerateHistory(HistoryArgs),
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Images in the history.
    #[arg(long, default_value_t = 500)]
    pub images: usize,
    /// Weeks (one snapshot each).
    #[arg(long, default_value_t = 52)]
    pub weeks: usize,
    /// Sync generations over the whole period.
    #[arg(long, default_value_t = 2000)]
    pub generations: usize,
    /// Monday 00:00 UTC of the first week (RFC 3339 or a date); default:
    /// the generator's 2026-01-05.
    #[arg(long)]
    pub start: Option<String>,
    /// Random seed (the same seed gives the same history).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of manifests.
    #[arg(long)]
    pub count: usize,
    /// Output directory (gets fleet.yaml and images/).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed (the same seed gives the same fleet).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        DevCommand::GenerateFleet(a) => {
            let fleet = context::load_fleet(global)?;
            let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
            let (templates, _) = manifest::load_all(&fleet);
            let mut keys = BTreeSet::new();
            for b in fleet.bases.values() {
                for arch in &b.architectures {
                    keys.insert((b.name.clone(), arch.clone()));
                }
            }
            let tables = Tables::load(&store, &fleet, &keys)?;
            let n = generate::generate(&fleet, &templates, &tables, a.count, a.seed, &a.out)?;
            eprintln!("wrote {n} manifests and fleet.yaml to {}", a.out.display());
            Ok(ExitCode::SUCCESS)
        }
        DevCommand::GenerateHistory(a) => generate_history(global, a),
    }
}

fn generate_history(global: &super::GlobalArgs, a: &HistoryArgs) -> Result<ExitCode> {
    use debfleet::audit::generate::{YearParams, generate_year};
    let fleet = context::load_fleet(global)?;
    let mut params = YearParams {
        images: a.images,
        weeks: a.weeks,
        generations: a.generations,
        seed: a.seed,
        ..YearParams::default()
    };
    if let Some(start) = &a.start {
        params.start = super::clock::parse_time(start)
            .with_context(|| format!("--start {start:?}: expected RFC 3339 or a date"))?;
    }
    let started = std::time::Instant::now();
    let stats = {
        let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: true })?;
        generate_year(&store, &fleet, &params)?
    };
    let generated = started.elapsed().as_secs_f64();
    let mut store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: true })?;
    store.compact()?;
    eprintln!(
        "generated in {generated:.1}s (+{:.1}s compaction): {} builds, {} snapshots, {} tests, {} promotions, {} sync generations",
        started.elapsed().as_secs_f64() - generated,
        stats.builds,
        stats.snapshots,
        stats.tests,
        stats.promotions,
        stats.generations
    );
    Ok(ExitCode::SUCCESS)
}
