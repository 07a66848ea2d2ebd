//! `debfleet lifecycle`: each base's Debian support status and end dates.

use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::fleet::check::image_architecture;
use debfleet::fleet::config::Base;
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::manifest::{Manifest, load_all};
use debfleet::lifecycle::package_support::{SupportLimit, SupportLists};
use debfleet::lifecycle::{self, BaseLifecycle, SupportStatus};
use debfleet::security::packages::PackageIndex;
use debfleet::store::{OpenMode, Store};
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
/// Package-level limits: with --security-support DIR (or fleet.yaml
/// `lifecycle: {security_support: DIR}`), Debian's debian-security-support
/// lists (DIR/security-support-ended.debN, DIR/security-support-limited;
/// on Debian /usr/share/debian-security-support) flag the images that carry
/// a source package whose security support ended, ends within the warning
/// window, or is limited. Binary packages are mapped to their source
/// through the synced indexes.
///
/// Exit status: 0 all bases supported and none ends within the warning
/// window, 2 some base is end-of-life or ends soon, or an image carries a
/// package whose support ended or ends soon, 1 error.
///
/// Examples:
///   debfleet lifecycle
///   debfleet lifecycle --format json --now 2026-07-12
///   debfleet lifecycle --security-support /usr/share/debian-security-support
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The distro-info debian.csv to read.
    #[arg(long, value_name = "PATH")]
    pub distro_info: Option<PathBuf>,
    /// Warn this many days ahead (default: fleet.yaml lifecycle.warn_days, 180).
    #[arg(long, value_name = "DAYS")]
    pub warn_days: Option<u32>,
    /// Directory of the debian-security-support lists (package-level limits).
    #[arg(long, value_name = "DIR")]
    pub security_support: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Lifecycle of every base, with the data it came from.
#[derive(Debug, Serialize)]
pub struct LifecycleReport {
    pub bases: Vec<BaseReport>,
    pub data: DataInfo,
}

/// One base: its release lifecycle and, when the lists were supplied, the
/// package-level support limits of its images.
#[derive(Debug, Serialize)]
pub struct BaseReport {
    #[serde(flatten)]
    pub lifecycle: BaseLifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_support: Option<Vec<PackageSupportFinding>>,
}

/// An image carrying a source package with a support limit.
#[derive(Debug, Serialize)]
pub struct PackageSupportFinding {
    pub image: String,
    /// The installed binary package.
    pub package: String,
    pub source: String,
    /// `ended`, `ends-soon` (within the warning window), `ends-later`, `limited`.
    pub status: &'static str,
    /// `ended` or `limited` (the list the entry comes from).
    pub kind: &'static str,
    pub date: Option<String>,
    pub last_version: Option<String>,
    pub details: Option<String>,
    /// The list entry (`file:line`).
    pub origin: String,
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
    security_support: Option<&Path>,
    with_package_support: bool,
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
    let support_dir = security_support
        .or(fleet.lifecycle.security_support.as_deref())
        .filter(|_| with_package_support);
    let store = match support_dir {
        Some(_) => Some(
            context::open_store(global, Some(fleet), OpenMode::Read)
                .context("package support lists map binaries to sources through the store: run `debfleet sync` first")?,
        ),
        None => None,
    };
    let mut bases = Vec::new();
    for b in fleet.bases.values() {
        let mut imgs = images.get(b.name.as_str()).cloned().unwrap_or_default();
        imgs.sort();
        let lifecycle = lifecycle::evaluate(b, &releases, today, warn, imgs);
        let package_support = match (support_dir, &store) {
            (Some(dir), Some(store)) => {
                let lists = SupportLists::load(dir, &b.release)?;
                let on_base: Vec<&Manifest> =
                    manifests.iter().filter(|m| m.base == b.name).collect();
                Some(package_support(
                    fleet, store, b, &on_base, &lists, today, warn,
                )?)
            }
            _ => None,
        };
        bases.push(BaseReport {
            lifecycle,
            package_support,
        });
    }
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
    let report = evaluate_fleet(
        global,
        &fleet,
        args.distro_info.as_deref(),
        args.warn_days,
        args.security_support.as_deref(),
        true,
    )?;
    if args.format == Format::Json {
        context::print_json(&report)?;
    } else {
        println!(
            "{:<20} {:<16} {:<10} {:<11} {:<11} {:<11} {:>9}  IMAGES",
            "BASE", "RELEASE", "STATUS", "EOL", "EOL-LTS", "EOL-ELTS", "DAYS LEFT"
        );
        let show = |d: Option<jiff::civil::Date>| d.map_or("-".to_string(), |d| d.to_string());
        for r in &report.bases {
            let b = &r.lifecycle;
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
        for r in &report.bases {
            if let Some(w) = &r.lifecycle.warning {
                println!("warning: base {}: {w}", r.lifecycle.base);
            }
        }
        for r in &report.bases {
            for f in r.package_support.iter().flatten() {
                let when = match (&f.date, &f.last_version) {
                    (Some(d), Some(v)) => format!(" on {d} (last supported version {v})"),
                    _ => String::new(),
                };
                println!(
                    "{}: image {}: {} (source {}): support {}{when}{}",
                    r.lifecycle.base,
                    f.image,
                    f.package,
                    f.source,
                    f.status,
                    f.details
                        .as_deref()
                        .map(|d| format!("; {d}"))
                        .unwrap_or_default()
                );
            }
        }
        println!(
            "lifecycle data: {} (modified {}, {} days old)",
            report.data.path,
            report.data.modified.as_deref().unwrap_or("?"),
            report.data.age_days.map_or("?".into(), |d| d.to_string())
        );
    }
    let attention = report.bases.iter().any(|r| {
        r.lifecycle.status == SupportStatus::Eol
            || r.lifecycle.warning.is_some()
            || r.package_support
                .iter()
                .flatten()
                .any(|f| matches!(f.status, "ended" | "ends-soon"))
    });
    Ok(if attention {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The package-level support findings of the images on one base.
fn package_support(
    fleet: &FleetConfig,
    store: &Store,
    base: &Base,
    manifests: &[&Manifest],
    lists: &SupportLists,
    today: jiff::civil::Date,
    warn_days: u32,
) -> Result<Vec<PackageSupportFinding>> {
    let mut out = Vec::new();
    if lists.entries.is_empty() {
        return Ok(out);
    }
    let mut by_arch: BTreeMap<String, PackageIndex<'_>> = BTreeMap::new();
    for m in manifests {
        let arch = image_architecture(fleet, m);
        if !by_arch.contains_key(&arch) {
            by_arch.insert(arch.clone(), PackageIndex::open(store, base, &arch)?);
        }
        let Some(index) = by_arch.get(&arch) else {
            continue;
        };
        for p in &m.packages {
            // The source through the indexes; a package unknown to them
            // (e.g. the base is not mirrored) is matched by its own name.
            let source = index
                .source_of(&p.name, &p.version)?
                .map_or_else(|| p.name.clone(), |(source, _, _)| source);
            for entry in lists.matching(&source) {
                let (status, kind, date, last_version, details) = match &entry.limit {
                    SupportLimit::Ended {
                        last_version,
                        date,
                        details,
                    } => {
                        let days = today.until(*date).map(|s| s.get_days()).unwrap_or(0);
                        let status = if *date < today {
                            "ended"
                        } else if days <= i32::try_from(warn_days).unwrap_or(i32::MAX) {
                            "ends-soon"
                        } else {
                            "ends-later"
                        };
                        (
                            status,
                            "ended",
                            Some(date.to_string()),
                            Some(last_version.clone()),
                            details.clone(),
                        )
                    }
                    SupportLimit::Limited { details } => {
                        ("limited", "limited", None, None, details.clone())
                    }
                };
                out.push(PackageSupportFinding {
                    image: m.image.clone(),
                    package: p.key(),
                    source: source.clone(),
                    status,
                    kind,
                    date,
                    last_version,
                    details,
                    origin: entry.origin.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.image, &a.package).cmp(&(&b.image, &b.package)));
    Ok(out)
}
