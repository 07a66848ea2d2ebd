//! Shared CLI plumbing: finding the fleet and the store, the clock, output format.

use anyhow::{Context, Result};
use debfleet::fleet::config::FleetConfig;
use debfleet::store::{OpenMode, Store};
use std::path::PathBuf;

/// Machine or human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Loads the fleet configuration from `--fleet`, `$DEBFLEET_FLEET`, or
/// `./fleet.yaml` searched upward.
pub fn load_fleet(global: &super::GlobalArgs) -> Result<FleetConfig> {
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let path = FleetConfig::discover(global.fleet.as_deref(), &cwd)?;
    Ok(FleetConfig::load(&path)?)
}

/// The store path: `--state`, `$DEBFLEET_STATE`, or `<fleet dir>/.debfleet/state.redb`.
pub fn state_path(global: &super::GlobalArgs, fleet: Option<&FleetConfig>) -> Result<PathBuf> {
    if let Some(p) = &global.state {
        return Ok(p.clone());
    }
    match fleet {
        Some(f) => Ok(f.dir.join(".debfleet").join("state.redb")),
        None => anyhow::bail!(
            "no store given: pass --state PATH (or set DEBFLEET_STATE), or run inside a fleet (--fleet)"
        ),
    }
}

/// Opens the store for reading or writing.
pub fn open_store(
    global: &super::GlobalArgs,
    fleet: Option<&FleetConfig>,
    mode: OpenMode,
) -> Result<Store> {
    let path = state_path(global, fleet)?;
    Ok(Store::open(&path, mode)?)
}

/// Prints JSON to stdout.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Human-friendly byte counts.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
