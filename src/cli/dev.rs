//! `debfleet dev ...`: tools for benchmarking and load testing.

use super::context;
use anyhow::Result;
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
    }
}
