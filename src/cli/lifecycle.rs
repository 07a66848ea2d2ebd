//! `debfleet lifecycle`: each base's Debian support status and end dates.

use super::context::{self, Format};
use anyhow::Result;
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::manifest::load_all;
use debfleet::lifecycle::{self, BaseLifecycle, SupportStatus};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Each base's release, support end dates (regular, LTS, ELTS), status today
/// and the images on it.
///
/// Data: distro-info's debian.csv from --distro-info, fleet.yaml
/// `lifecycle: {distro_info: PATH}`, or /usr/share/distro-info/debian.csv.
/// Status follows distro-info: a release is supported on its eol date.
///
/// Exit status: 0 all bases supported and none ends within the warning
/// window, 2 some base is end-of-life or ends soon, 1 error.
///
/// Examples:
///   debfleet lifecycle
///   debfleet lifecycle --format json --now 2026-07-12
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The distro-info debian.csv to read.
    #[arg(long, value_name = "PATH")]
    pub distro_info: Option<PathBuf>,
    /// Warn this many days ahead (default: fleet.yaml lifecycle.warn_days, 180).
    #[arg(long, value_name = "DAYS")]
    pub warn_days: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Lifecycle of every base, with the data it came from.
#[derive(Debug, Serialize)]
pub struct LifecycleReport {
    pub bases: Vec<BaseLifecycle>,
    pub data: DataInfo,
}

/// Where the lifecycle data came from and how old it is.
#[derive(Debug, Serialize)]
pub struct DataInfo {
    pub path: String,
    pub modified: Option<String>,
    pub age_days: Option<i64>,
    pub today: String,
}

/// Evaluates every base of the fleet on the command's day.
pub fn evaluate_fleet(
    global: &super::GlobalArgs,
    fleet: &FleetConfig,
    distro_info: Option<&Path>,
    warn_days: Option<u32>,
) -> Result<LifecycleReport> {
    let now = super::clock::now(global)?;
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    let path = lifecycle::distro_info_path(distro_info, fleet);
    let (releases, modified) = lifecycle::load(&path)?;
    let (manifests, _errors) = load_all(fleet);
    let mut images: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in &manifests {
        images
            .entry(m.base.as_str())
            .or_default()
            .push(m.image.clone());
    }
    let warn = warn_days.unwrap_or(fleet.lifecycle.warn_days);
    let bases = fleet
        .bases
        .values()
        .map(|b| {
            let mut imgs = images.get(b.name.as_str()).cloned().unwrap_or_default();
            imgs.sort();
            lifecycle::evaluate(b, &releases, today, warn, imgs)
        })
        .collect();
    Ok(LifecycleReport {
        bases,
        data: DataInfo {
            path: path.display().to_string(),
            modified: modified.map(|m| m.to_string()),
            age_days: modified.map(|m| now.duration_since(m).as_secs() / 86_400),
            today: today.to_string(),
        },
    })
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let report = evaluate_fleet(global, &fleet, args.distro_info.as_deref(), args.warn_days)?;
    if args.format == Format::Json {
        context::print_json(&report)?;
    } else {
        println!(
            "{:<20} {:<16} {:<10} {:<11} {:<11} {:<11} {:>9}  IMAGES",
            "BASE", "RELEASE", "STATUS", "EOL", "EOL-LTS", "EOL-ELTS", "DAYS LEFT"
        );
        let show = |d: Option<jiff::civil::Date>| d.map_or("-".to_string(), |d| d.to_string());
        for b in &report.bases {
            println!(
                "{:<20} {:<16} {:<10} {:<11} {:<11} {:<11} {:>9}  {}",
                b.base,
                b.release.as_deref().unwrap_or("unknown"),
                b.status.as_str(),
                show(b.ends.eol),
                show(b.ends.eol_lts),
                show(b.ends.eol_elts),
                b.days_left.map_or("-".to_string(), |d| d.to_string()),
                b.images.len()
            );
        }
        for b in &report.bases {
            if let Some(w) = &b.warning {
                println!("warning: base {}: {w}", b.base);
            }
        }
        println!(
            "lifecycle data: {} (modified {}, {} days old)",
            report.data.path,
            report.data.modified.as_deref().unwrap_or("?"),
            report.data.age_days.map_or("?".into(), |d| d.to_string())
        );
    }
    let attention = report
        .bases
        .iter()
        .any(|b| b.status == SupportStatus::Eol || b.warning.is_some());
    Ok(if attention {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
