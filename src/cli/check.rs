//! `debfleet check` and `debfleet run`.

use super::context::{self, Format};
use anyhow::Result;
use debfleet::fleet::check::{self, CheckOptions, CheckReport};
use debfleet::fleet::config::{FleetConfig, parse_duration};
use debfleet::lifecycle::{BaseLifecycle, SupportStatus};
use debfleet::security::affected;
use debfleet::security::packages::PackageIndex;
use debfleet::security::tracker;
use debfleet::store::OpenMode;
use globset::Glob;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Check every image against the indexes: which need a rebuild and why.
///
/// The candidate of each package is what apt would choose with the image's
/// base repositories as sources and the manifest as the installed set
/// (priorities 500 / 100 backports / 1 NotAutomatic; installed at 100;
/// never a downgrade). Reads only the store and compiled tables: no network.
///
/// Exit status: 0 nothing to do, 2 updates available, 1 error (a bad
/// manifest, stale data with --max-age, a store problem). --exit-zero
/// returns 0 whenever the report was produced.
///
/// Examples:
///   debfleet check
///   debfleet check --image 'postgresql-*' -v
///   debfleet check --security-only --format json
///   debfleet check --max-age 12h
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Options shared by `check` and `run`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only images whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub image: Option<String>,
    /// Only images on this base.
    #[arg(long, value_name = "NAME")]
    pub base: Option<String>,
    /// Only report updates that come from a security suite.
    #[arg(long)]
    pub security_only: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Show every update, missing and ahead package (table format).
    #[arg(short, long)]
    pub verbose: bool,
    /// Fail when a suite was last synced longer ago than this (e.g. 12h, 2d).
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Exit 0 even when updates are available (errors still exit 1).
    #[arg(long)]
    pub exit_zero: bool,
    /// distro-info debian.csv: adds each image's base lifecycle status
    /// (default: fleet.yaml `lifecycle: {distro_info: PATH}`; without
    /// either, no lifecycle status is reported).
    #[arg(long, value_name = "PATH")]
    pub distro_info: Option<std::path::PathBuf>,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
    let report = run_check(global, &fleet, &store, &args.check)?;
    render_and_exit_code(global, &fleet, &store, &report, &args.check)
}

/// Joins the lifecycle and security extras, renders the report and returns
/// the exit status (2 also when an image is on an end-of-life base). Shared
/// by `check` and `run`.
pub fn render_and_exit_code(
    global: &super::GlobalArgs,
    fleet: &debfleet::fleet::config::FleetConfig,
    store: &debfleet::store::Store,
    report: &CheckReport,
    args: &CheckArgs,
) -> Result<ExitCode> {
    let extras = extras(global, fleet, store, report, args)?;
    render_with(report, args, &extras)?;
    let code = exit_code(report, args);
    if code == ExitCode::SUCCESS && extras.eol_images() && !args.exit_zero {
        return Ok(ExitCode::from(2));
    }
    Ok(code)
}

/// What `check` adds from the security and lifecycle layers (joined here,
/// so that `fleet` does not depend on them).
#[derive(Default)]
pub struct CheckExtras {
    /// Base -> its lifecycle, when lifecycle data was configured.
    lifecycle: BTreeMap<String, BaseLifecycle>,
    /// (image, package) -> issues the update fixes; None without tracker data.
    fixes: Option<BTreeMap<(String, String), Vec<String>>>,
}

impl CheckExtras {
    fn eol_images(&self) -> bool {
        self.lifecycle
            .values()
            .any(|l| l.status == SupportStatus::Eol && !l.images.is_empty())
    }

    fn fixes_of(&self, image: &str, package: &str) -> Option<&[String]> {
        self.fixes.as_ref().map(|f| {
            f.get(&(image.to_string(), package.to_string()))
                .map_or(&[][..], Vec::as_slice)
        })
    }
}

/// Lifecycle per base and "fixes CVE" marks per update.
pub fn extras(
    global: &super::GlobalArgs,
    fleet: &FleetConfig,
    store: &debfleet::store::Store,
    report: &CheckReport,
    args: &CheckArgs,
) -> Result<CheckExtras> {
    let mut out = CheckExtras::default();
    if args.distro_info.is_some() || fleet.lifecycle.distro_info.is_some() {
        let l = super::lifecycle::evaluate_fleet(
            global,
            fleet,
            args.distro_info.as_deref(),
            None,
            None,
            false,
        )?;
        for mut b in l.bases.into_iter().map(|r| r.lifecycle) {
            b.images
                .retain(|i| report.images.iter().any(|r| &r.image == i));
            out.lifecycle.insert(b.base.clone(), b);
        }
    }
    if !tracker::has_data(store)? {
        return Ok(out);
    }
    let snapshot = tracker::snapshot(store, &affected::fleet_releases(fleet), None)?;
    let mut fixes = BTreeMap::new();
    for image in &report.images {
        if image.updates.is_empty() {
            continue;
        }
        let Some(base) = fleet.bases.get(&image.base) else {
            continue;
        };
        let release = affected::release_codename(base);
        let index = PackageIndex::open(store, base, &image.architecture)?;
        for u in &image.updates {
            let ids = affected::update_fixes(
                &index,
                &snapshot,
                &release,
                &u.package,
                &u.installed,
                &u.candidate,
            )?;
            fixes.insert((image.image.clone(), u.package.clone()), ids);
        }
    }
    out.fixes = Some(fixes);
    Ok(out)
}

/// Loads manifests, applies filters and checks them.
pub fn run_check(
    global: &super::GlobalArgs,
    fleet: &FleetConfig,
    store: &debfleet::store::Store,
    args: &CheckArgs,
) -> Result<CheckReport> {
    let now = super::clock::now(global)?;
    let matcher = match &args.image {
        Some(glob) => Some(Glob::new(glob)?.compile_matcher()),
        None => None,
    };
    let image_filter = |name: &str| matcher.as_ref().is_none_or(|m| m.is_match(name));
    if let Some(base) = &args.base
        && !fleet.bases.contains_key(base)
    {
        anyhow::bail!(
            "--base {base}: no such base in {} (bases: {})",
            fleet.path.display(),
            fleet.bases.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let selection = check::Selection {
        image: args
            .image
            .as_ref()
            .map(|_| &image_filter as &(dyn Fn(&str) -> bool + Sync)),
        base: args.base.as_deref(),
    };
    let options = CheckOptions {
        security_only: args.security_only,
        max_age: args
            .max_age
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--max-age: {e}"))?,
    };
    let (report, _stats) = check::check_fleet(store, fleet, &selection, &options, now)?;
    Ok(report)
}

pub fn exit_code(report: &CheckReport, args: &CheckArgs) -> ExitCode {
    if report.has_errors() {
        ExitCode::from(1)
    } else if report.has_updates() && !args.exit_zero {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Renders the check report (table or JSON) with lifecycle status and CVE marks. JSON gains only new keys:
/// `images[].lifecycle` and `images[].updates[].fixes_cves`.
pub fn render_with(report: &CheckReport, args: &CheckArgs, extras: &CheckExtras) -> Result<()> {
    if args.format == Format::Json {
        let mut value = serde_json::to_value(report)?;
        if let Some(images) = value.get_mut("images").and_then(|v| v.as_array_mut()) {
            for image in images {
                let name = image["image"].as_str().unwrap_or_default().to_string();
                let base = image["base"].as_str().unwrap_or_default().to_string();
                if let Some(l) = extras.lifecycle.get(&base) {
                    image["lifecycle"] = serde_json::json!({
                        "status": l.status,
                        "release": l.release,
                        "ends": l.ends,
                        "days_left": l.days_left,
                        "warning": l.warning,
                    });
                }
                if let Some(updates) = image.get_mut("updates").and_then(|v| v.as_array_mut()) {
                    for u in updates {
                        let package = u["package"].as_str().unwrap_or_default().to_string();
                        if let Some(ids) = extras.fixes_of(&name, &package) {
                            u["fixes_cves"] = serde_json::json!(ids);
                        }
                    }
                }
            }
        }
        return context::print_json(&value);
    }
    let mut work = 0;
    let mut updates = 0;
    let mut security = 0;
    for image in &report.images {
        updates += image.updates.len();
        security += image.updates.iter().filter(|u| u.security).count();
        let eol_base = extras
            .lifecycle
            .get(&image.base)
            .is_some_and(|l| l.status == SupportStatus::Eol);
        if !image.status.needs_work() && !args.verbose && !eol_base {
            continue;
        }
        if image.status.needs_work() {
            work += 1;
        }
        let name = if image.image.is_empty() {
            image.manifest.as_str()
        } else {
            image.image.as_str()
        };
        let sec = image.updates.iter().filter(|u| u.security).count();
        let mut parts = Vec::new();
        if !image.updates.is_empty() {
            parts.push(format!("{} updates ({sec} security)", image.updates.len()));
        }
        if !image.missing.is_empty() {
            parts.push(format!("{} missing", image.missing.len()));
        }
        if !image.ahead.is_empty() {
            parts.push(format!("{} ahead", image.ahead.len()));
        }
        if !image.not_checkable.is_empty() {
            parts.push(format!("{} not checkable", image.not_checkable.len()));
        }
        if !image.errors.is_empty() && image.status == check::ImageStatus::Error {
            parts.push(image.errors.join("; "));
        } else if image.status == check::ImageStatus::BaseNotMirrored {
            parts.push("base not mirrored".into());
        }
        if let Some(l) = extras.lifecycle.get(&image.base)
            && (l.status != SupportStatus::Supported || l.warning.is_some())
        {
            parts.push(format!("base {}", l.status.as_str()));
        }
        let fixing = image
            .updates
            .iter()
            .filter(|u| {
                extras
                    .fixes_of(name, &u.package)
                    .is_some_and(|f| !f.is_empty())
            })
            .count();
        if fixing > 0 {
            parts.push(format!("{fixing} updates fix known CVEs"));
        }
        println!(
            "{:<40} {:<18} {:<20} {}",
            name,
            image.base,
            image.status.as_str(),
            parts.join(", ")
        );
        if args.verbose {
            for u in &image.updates {
                let cves = extras
                    .fixes_of(name, &u.package)
                    .filter(|f| !f.is_empty())
                    .map(|f| format!(", fixes {}", f.join(" ")))
                    .unwrap_or_default();
                println!(
                    "    update  {} {} -> {} ({}{}{cves})",
                    u.package,
                    u.installed,
                    u.candidate,
                    u.suite,
                    if u.security { ", security" } else { "" }
                );
            }
            for p in &image.missing {
                println!("    missing {p}: in no suite of the base");
            }
            for a in &image.ahead {
                println!(
                    "    ahead   {} {} (newest offered {})",
                    a.package, a.installed, a.newest
                );
            }
            for h in &image.held {
                println!(
                    "    held    {} {} (candidate {})",
                    h.package, h.installed, h.candidate
                );
            }
            for n in &image.not_checkable {
                println!("    unchecked {} {}: {}", n.package, n.installed, n.reason);
            }
            if let Some(w) = extras
                .lifecycle
                .get(&image.base)
                .and_then(|l| l.warning.as_ref())
            {
                println!("    lifecycle {w}");
            }
            for e in &image.errors {
                if image.status != check::ImageStatus::Error {
                    println!("    note    {e}");
                }
            }
        }
    }
    let oldest = report.data.iter().filter_map(|d| d.age_seconds).max();
    println!(
        "{} images checked, {work} need attention, {updates} updates ({security} security){}",
        report.images.len(),
        oldest.map_or(String::new(), |a| format!(
            "; index data synced {} ago",
            format_age(a)
        ))
    );
    Ok(())
}

fn format_age(seconds: i64) -> String {
    if seconds < 120 {
        format!("{seconds}s")
    } else if seconds < 7200 {
        format!("{}m", seconds / 60)
    } else if seconds < 172_800 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}d", seconds / 86400)
    }
}
