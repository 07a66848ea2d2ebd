//! `debfleet plan`: the new package set of each image with updates, the
//! manifest rewrite (`--write`) and the build hand-off (`--scripts`).

use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::fleet::manifest_edit;
use debfleet::fleet::plan::{self, FleetPlan, PlanOptions};
use debfleet::store::OpenMode;
use globset::Glob;
use std::path::PathBuf;
use std::process::ExitCode;

/// Plan the rebuild of every image with updates: its new package set.
///
/// Every installed package moves to its candidate (apt's policy, as in
/// `check`); the new packages the new versions' Depends/Pre-Depends need
/// are added (alternatives and virtual packages chosen the way apt's
/// dist-upgrade chooses); packages their Breaks/Conflicts force out are
/// removed; upgrades apt would keep back are kept back, with the reason.
/// An image whose set cannot be made consistent is reported broken, with
/// the reasons, and nothing is planned for it. Unlike apt on a host, the
/// plan never adds Essential or Priority: required packages an image lacks,
/// and never installs Recommends. Installed versions in no index are listed
/// as unverified (their own dependencies are unknown).
///
/// --write rewrites each planned manifest in place as a minimal edit (only
/// changed version lines change; new packages are inserted in sorted
/// position; removed ones deleted; comments and formatting kept).
///
/// --scripts DIR writes DIR/<image>.sh for each image with changes: a
/// POSIX sh script running `apt-get install -y --no-install-recommends
/// pkg=version ...` (sorted by package name), then `apt-get remove -y` of
/// removed packages, for a Containerfile `RUN`.
///
/// Exit status: 0 nothing to do, 2 some image has a plan or needs attention
/// (broken, base not mirrored), 1 error.
///
/// Examples:
///   debfleet plan
///   debfleet plan --image 'postgresql-*' --format json
///   debfleet plan --security-only --write
///   debfleet plan --scripts build/plans
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only images whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub image: Option<String>,
    /// Only move packages whose candidate comes from a security suite.
    #[arg(long)]
    pub security_only: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Rewrite each planned manifest in place with the new package set.
    #[arg(long)]
    pub write: bool,
    /// Write an install script per image with changes to DIR/<image>.sh.
    #[arg(long, value_name = "DIR")]
    pub scripts: Option<PathBuf>,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
    let matcher = match &args.image {
        Some(glob) => Some(
            Glob::new(glob)
                .with_context(|| format!("--image {glob:?}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    let filter = |name: &str| matcher.as_ref().is_none_or(|m| m.is_match(name));
    let options = PlanOptions {
        image: args
            .image
            .as_ref()
            .map(|_| &filter as &(dyn Fn(&str) -> bool + Sync)),
        security_only: args.security_only,
        only: None,
    };
    let plan = plan::plan_fleet(&fleet, &store, &options)?;
    let mut written = Vec::new();
    let mut write_errors = Vec::new();
    if args.write {
        // One manifest that cannot be edited does not stop the others.
        for image in plan.images.iter().filter(|i| i.has_changes() && !i.broken) {
            match manifest_edit::write_manifest(&image.manifest, &image.new_packages()) {
                Ok(true) => written.push(image.manifest.display().to_string()),
                Ok(false) => {}
                Err(e) => write_errors.push(e.to_string()),
            }
        }
    }
    if let Some(dir) = &args.scripts {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the scripts directory {}", dir.display()))?;
        for image in plan.images.iter().filter(|i| i.has_changes() && !i.broken) {
            let path = dir.join(format!("{}.sh", image.image));
            manifest_edit::write_atomically(&path, image.install_script().as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if args.format == Format::Json {
        context::print_json(&plan)?;
    } else {
        render(&plan);
        for w in &written {
            println!("rewrote {w}");
        }
    }
    for e in &write_errors {
        eprintln!("error: {e}");
    }
    Ok(if !plan.errors.is_empty() || !write_errors.is_empty() {
        ExitCode::from(1)
    } else if plan.needs_attention() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(plan: &FleetPlan) {
    let mut attention = 0;
    for image in &plan.images {
        if !image.needs_attention() {
            continue;
        }
        attention += 1;
        let summary = if image.broken {
            "BROKEN: cannot be made consistent".to_string()
        } else if image.has_changes() {
            format!(
                "{} upgrade, {} new, {} remove, {} held",
                image.upgrade.len(),
                image.install.len(),
                image.remove.len(),
                image.held.len()
            )
        } else {
            "not planned".to_string()
        };
        println!("{:<40} {:<18} {summary}", image.image, image.base);
        for u in &image.upgrade {
            println!("    upgrade {} {} -> {}", u.package, u.from, u.version);
        }
        for i in &image.install {
            println!("    install {} {} ({})", i.package, i.version, i.reason);
        }
        for r in &image.remove {
            println!("    remove  {} ({})", r.package, r.reason);
        }
        for h in &image.held {
            println!("    held    {}: {}", h.package, h.reason);
        }
        for p in &image.problems {
            println!("    problem {p}");
        }
        for u in &image.unverified {
            println!("    unverified {}: {}", u.package, u.reason);
        }
    }
    for e in &plan.errors {
        println!("error: {}", e.error);
    }
    println!(
        "{} images planned, {attention} need attention",
        plan.images.len()
    );
}
