//! `debfleet pool`: fetch the `.deb` files the fleet uses into the
//! content-addressed pool beside the store, export them as a flat apt
//! repository for air-gapped builds, and garbage-collect what nothing uses.

use super::context::{self, Format, human_bytes};
use anyhow::{Context, Result};
use debfleet::fleet::config::{FleetConfig, MirrorLocation};
use debfleet::fleet::manifest::{self, Manifest};
use debfleet::fleet::sources;
use debfleet::mirror::{HttpOptions, MirrorSource};
use debfleet::store::OpenMode;
use debfleet::store::pool::{self, FetchOptions, FetchProgress, FetchRequest, PoolKey};
use debfleet::store::table::BaseSpec;
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keep the .deb files of every package version the fleet uses, so that
/// any recorded build can be repeated offline.
///
/// Files live in <state>.d/pool/sha256/<2 hex>/<sha256>.deb, verified
/// against the Size and SHA256 of the signed index they were resolved
/// through; the store's pool_catalog table remembers each one (with its
/// control stanza) after Debian drops the version.
///
/// Examples:
///   debfleet pool fetch
///   debfleet pool fetch --image 'web-*' --format json
///   debfleet pool fetch --plan plan.json
///   debfleet pool serve-dir /srv/debfleet-pool
///   debfleet pool gc --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: PoolCommand,
}

/// The pool subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PoolCommand {
    Fetch(FetchArgs),
    ServeDir(ServeDirArgs),
    Gc(GcArgs),
    Status(StatusArgs),
}

/// Download (or copy from a directory mirror) the .deb files of every
/// package version the selected manifests, or a plan, use.
///
/// Exit status: 0 everything is in the pool; 2 some versions are in no
/// index of their base and not in the pool (listed per image); 1 a
/// download failed or was refused (size or SHA256 differs from the signed
/// index; nothing is added for it), or a manifest or the store is bad.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FetchArgs {
    /// Only images whose name matches this glob (repeatable). Default: all.
    #[arg(long, value_name = "GLOB")]
    pub image: Vec<String>,
    /// The versions of a plan (JSON from the planner): each image's
    /// manifest with its upgrades and installs applied, its removals left
    /// out.
    #[arg(long, value_name = "FILE", conflicts_with = "image")]
    pub plan: Option<PathBuf>,
    /// Concurrent downloads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// If another process is writing the store, wait for it.
    #[arg(long)]
    pub wait: bool,
    /// Network timeout for HTTP mirrors, in seconds, as for `sync
    /// --timeout`: no connection or no data for this long fails the
    /// request; one file may take 20 times this long.
    #[arg(long, value_name = "SECS", env = "DEBFLEET_HTTP_TIMEOUT", value_parser = super::sync::parse_timeout)]
    pub timeout: Option<std::time::Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Lay the pool out as a flat apt repository in DIR: DIR/pool/*.deb (hard
/// links when on the same filesystem, else copies), DIR/Packages,
/// DIR/Packages.gz and DIR/Release. The Release is not signed: use it as
///   deb [trusted=yes] file:DIR ./
/// or sign it yourself (gpg --clearsign -o DIR/InRelease DIR/Release).
/// Every file is re-hashed before it is exported; .deb files of an
/// earlier export into DIR/pool that this one does not list are removed.
///
/// Exit status: 0 done; 2 some selected versions are not in the pool
/// (run `debfleet pool fetch`); 1 error (a damaged pool file).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ServeDirArgs {
    /// The directory to write (created if needed).
    pub dir: PathBuf,
    /// Only the versions these images' manifests use (repeatable).
    /// Default: everything in the pool.
    #[arg(long, value_name = "GLOB")]
    pub image: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Remove pool files nothing references: kept are the versions the
/// current manifests use and those of recorded builds. Also removes files
/// without a catalog row (left by an interrupted fetch) and temporary
/// files older than an hour.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct GcArgs {
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// If another process is writing the store, wait for it.
    #[arg(long)]
    pub wait: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// How many versions and bytes the pool holds, and since when.
///
/// Exit status: 0 ok; 2 some catalog rows have a missing or truncated
/// file (listed; `debfleet pool fetch` fetches them again).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        PoolCommand::Fetch(a) => run_fetch(global, a),
        PoolCommand::ServeDir(a) => run_serve_dir(global, a),
        PoolCommand::Gc(a) => run_gc(global, a),
        PoolCommand::Status(a) => run_status(global, a),
    }
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).with_context(|| format!("--image {p:?}"))?);
    }
    Ok(Some(b.build()?))
}

/// The fleet's manifests; problems are printed and make the command fail
/// at the end (the other manifests are still served).
fn manifests(fleet: &FleetConfig) -> (Vec<Manifest>, bool) {
    let (manifests, errors) = manifest::load_all(fleet);
    for e in &errors {
        eprintln!("error: {e}");
    }
    (manifests, !errors.is_empty())
}

/// One request per package of a manifest (its architecture qualifier,
/// else the image's architecture).
fn manifest_requests(fleet: &FleetConfig, m: &Manifest) -> Vec<FetchRequest> {
    let arch = m.effective_architecture(fleet).unwrap_or("").to_string();
    m.packages
        .iter()
        .map(|p| FetchRequest {
            base: m.base.clone(),
            package: p.name.clone(),
            version: p.version.clone(),
            arch: p.arch.clone().unwrap_or_else(|| arch.clone()),
            images: vec![m.image.clone()],
        })
        .collect()
}

/// The package set of one plan entry: the manifest's packages, upgraded,
/// plus installs, minus removals.
fn plan_requests(
    fleet: &FleetConfig,
    by_image: &BTreeMap<&str, &Manifest>,
    plan: &serde_json::Value,
    plan_path: &std::path::Path,
) -> Result<Vec<FetchRequest>> {
    let images = plan
        .get("images")
        .and_then(|v| v.as_array())
        .with_context(|| format!("{}: no \"images\" array", plan_path.display()))?;
    let mut out = Vec::new();
    for (i, entry) in images.iter().enumerate() {
        let where_ = || format!("{}: images[{i}]", plan_path.display());
        let image = entry
            .get("image")
            .and_then(|v| v.as_str())
            .with_context(|| format!("{}: no \"image\" string", where_()))?;
        let manifest = by_image.get(image).copied();
        let base = match (entry.get("base").and_then(|v| v.as_str()), manifest) {
            (Some(b), _) => b.to_string(),
            (None, Some(m)) => m.base.clone(),
            (None, None) => anyhow::bail!(
                "{}: image {image:?} has no manifest in the fleet and the plan gives no \"base\"",
                where_()
            ),
        };
        let arch = match manifest {
            Some(m) => m.effective_architecture(fleet).map(str::to_string),
            None => fleet
                .bases
                .get(&base)
                .and_then(|b| b.architectures.first().cloned()),
        }
        .with_context(|| format!("{}: base {base:?} is not defined in the fleet", where_()))?;
        // name -> (arch, version)
        let mut set: BTreeMap<String, (String, String)> = BTreeMap::new();
        if let Some(m) = manifest {
            for p in &m.packages {
                set.insert(
                    p.name.clone(),
                    (
                        p.arch.clone().unwrap_or_else(|| arch.clone()),
                        p.version.clone(),
                    ),
                );
            }
        }
        for field in ["upgrade", "install"] {
            let Some(list) = entry.get(field) else {
                continue;
            };
            let list = list
                .as_array()
                .with_context(|| format!("{}: \"{field}\" is not an array", where_()))?;
            for (j, item) in list.iter().enumerate() {
                let get = |k: &str| item.get(k).and_then(|v| v.as_str());
                let (Some(package), Some(version)) = (get("package"), get("version")) else {
                    anyhow::bail!(
                        "{}.{field}[{j}]: needs \"package\" and \"version\" strings",
                        where_()
                    );
                };
                let (name, qual) = match package.split_once(':') {
                    Some((n, a)) => (n, Some(a.to_string())),
                    None => (package, None),
                };
                let entry_arch = qual
                    .or_else(|| set.get(name).map(|(a, _)| a.clone()))
                    .unwrap_or_else(|| arch.clone());
                set.insert(name.to_string(), (entry_arch, version.to_string()));
            }
        }
        if let Some(list) = entry.get("remove").and_then(|v| v.as_array()) {
            for item in list {
                let name = item
                    .as_str()
                    .or_else(|| item.get("package").and_then(|v| v.as_str()));
                if let Some(name) = name {
                    set.remove(name.split_once(':').map_or(name, |(n, _)| n));
                }
            }
        }
        for (package, (arch, version)) in set {
            out.push(FetchRequest {
                base: base.clone(),
                package,
                version,
                arch,
                images: vec![image.to_string()],
            });
        }
    }
    Ok(out)
}

/// Merges requests for the same (base, package, version, arch).
fn merge(requests: Vec<FetchRequest>) -> Vec<FetchRequest> {
    let mut merged: BTreeMap<(String, String, String, String), FetchRequest> = BTreeMap::new();
    for r in requests {
        let k = (
            r.base.clone(),
            r.package.clone(),
            r.version.clone(),
            r.arch.clone(),
        );
        match merged.get_mut(&k) {
            Some(m) => {
                for i in r.images {
                    if !m.images.contains(&i) {
                        m.images.push(i);
                    }
                }
            }
            None => {
                merged.insert(k, r);
            }
        }
    }
    merged.into_values().collect()
}

/// The fleet's archives as download sources; `timeout` as for `sync
/// --timeout` (default: the built-in timeouts).
fn mirror_sources(
    fleet: &FleetConfig,
    timeout: Option<std::time::Duration>,
) -> BTreeMap<String, MirrorSource> {
    fleet
        .archives
        .iter()
        .map(|(name, a)| {
            let source = match &a.location {
                MirrorLocation::Directory(p) => MirrorSource::Directory(p.clone()),
                MirrorLocation::Http(url) => MirrorSource::Http {
                    base: url.clone(),
                    options: timeout.map(HttpOptions::with_timeout).unwrap_or_default(),
                },
            };
            (name.clone(), source)
        })
        .collect()
}

fn base_specs(fleet: &FleetConfig) -> BTreeMap<String, BaseSpec> {
    fleet
        .bases
        .iter()
        .map(|(n, b)| (n.clone(), sources::base_spec(b)))
        .collect()
}

struct Bar(Option<ProgressBar>);

impl FetchProgress for Bar {
    fn start(&self, count: usize, bytes: u64) {
        if let Some(b) = &self.0 {
            b.set_length(bytes);
            b.set_message(format!("{count} files"));
        }
    }
    fn done(&self, key: &PoolKey, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
            b.set_message(format!("{} {}", key.0, key.1));
        }
    }
}

fn run_fetch(global: &super::GlobalArgs, args: &FetchArgs) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let now = super::clock::now(global)?;
    let (all, mut bad) = manifests(&fleet);
    let requests = match &args.plan {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let plan: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            let by_image: BTreeMap<&str, &Manifest> =
                all.iter().map(|m| (m.image.as_str(), m)).collect();
            plan_requests(&fleet, &by_image, &plan, path)?
        }
        None => {
            let select = globs(&args.image)?;
            let chosen: Vec<&Manifest> = all
                .iter()
                .filter(|m| select.as_ref().is_none_or(|g| g.is_match(&m.image)))
                .collect();
            if chosen.is_empty() && select.is_some() {
                anyhow::bail!("no manifest matches --image {}", args.image.join(", "));
            }
            chosen
                .into_iter()
                .flat_map(|m| manifest_requests(&fleet, m))
                .collect()
        }
    };
    let requests = merge(requests);
    let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: args.wait })?;
    let bar = if std::io::stderr().is_terminal() && args.format == Format::Table {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let progress = Bar(bar);
    let report = pool::fetch(
        &store,
        &base_specs(&fleet),
        &mirror_sources(&fleet, args.timeout),
        &requests,
        &FetchOptions {
            now,
            jobs: usize::from(args.jobs),
        },
        &progress,
    )?;
    if let Some(b) = &progress.0 {
        b.finish_and_clear();
    }
    match args.format {
        Format::Json => context::print_json(&json!({
            "fetched": report.fetched,
            "fetched_bytes": report.fetched_bytes,
            "present": report.present,
            "missing": report.missing,
            "failed": report.failed,
            "pool": pool::pool_dir(&store),
        }))?,
        Format::Table => {
            // Missing versions, grouped per image.
            let mut per_image: BTreeMap<&str, Vec<&pool::Missing>> = BTreeMap::new();
            for m in &report.missing {
                for i in &m.images {
                    per_image.entry(i.as_str()).or_default().push(m);
                }
            }
            for (image, list) in &per_image {
                for m in list {
                    eprintln!(
                        "missing: image {image}: {} {} ({}) on base {}: {}",
                        m.package, m.version, m.arch, m.base, m.reason
                    );
                }
            }
            for f in &report.failed {
                eprintln!(
                    "failed: {} {} ({}) for {}: {}",
                    f.key.0,
                    f.key.1,
                    f.key.2,
                    f.images.join(", "),
                    f.error
                );
            }
            println!(
                "fetched {} ({}), already present {}, missing {}, failed {}",
                report.fetched.len(),
                human_bytes(report.fetched_bytes),
                report.present.len(),
                report.missing.len(),
                report.failed.len()
            );
        }
    }
    bad |= !report.failed.is_empty();
    Ok(if bad {
        ExitCode::from(1)
    } else if !report.missing.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The versions the selected manifests use, as pool keys.
fn manifest_keys(fleet: &FleetConfig, manifests: &[&Manifest]) -> BTreeSet<PoolKey> {
    manifests
        .iter()
        .flat_map(|m| manifest_requests(fleet, m))
        .map(|r| (r.package, r.version, r.arch))
        .collect()
}

fn run_serve_dir(global: &super::GlobalArgs, args: &ServeDirArgs) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let (fleet, select, bad) = if args.image.is_empty() {
        (fleet_for_store(global)?, None, false)
    } else {
        let fleet = context::load_fleet(global)?;
        let (all, bad) = manifests(&fleet);
        let g = globs(&args.image)?;
        let chosen: Vec<&Manifest> = all
            .iter()
            .filter(|m| g.as_ref().is_none_or(|g| g.is_match(&m.image)))
            .collect();
        if chosen.is_empty() {
            anyhow::bail!("no manifest matches --image {}", args.image.join(", "));
        }
        let keys = manifest_keys(&fleet, &chosen);
        (Some(fleet), Some(keys), bad)
    };
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let report = pool::export_flat(&store, select.as_ref(), &args.dir, now)?;
    match args.format {
        Format::Json => context::print_json(&json!({
            "dir": args.dir,
            "packages": report.packages,
            "bytes": report.bytes,
            "linked": report.linked,
            "copied": report.copied,
            "missing": report.missing,
        }))?,
        Format::Table => {
            for (p, v, a) in &report.missing {
                eprintln!("missing: {p} {v} ({a}) is not in the pool; run `debfleet pool fetch`");
            }
            println!(
                "{}: {} packages ({}), {} linked, {} copied; use: deb [trusted=yes] file:{} ./",
                args.dir.display(),
                report.packages,
                human_bytes(report.bytes),
                report.linked,
                report.copied,
                std::path::absolute(&args.dir)
                    .unwrap_or_else(|_| args.dir.clone())
                    .display()
            );
        }
    }
    Ok(if bad {
        ExitCode::from(1)
    } else if !report.missing.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The fleet, when it is needed to find the store (no `--state`).
fn fleet_for_store(global: &super::GlobalArgs) -> Result<Option<FleetConfig>> {
    Ok(match global.state {
        Some(_) => None,
        None => Some(context::load_fleet(global)?),
    })
}

fn run_gc(global: &super::GlobalArgs, args: &GcArgs) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let (all, bad) = manifests(&fleet);
    if bad {
        // A manifest that could not be read may reference pool files.
        anyhow::bail!("not collecting garbage while a manifest cannot be read (see above)");
    }
    let refs: Vec<&Manifest> = all.iter().collect();
    let mut keep = manifest_keys(&fleet, &refs);
    let mode = if args.dry_run {
        OpenMode::Read
    } else {
        OpenMode::Write { wait: args.wait }
    };
    let store = context::open_store(global, Some(&fleet), mode)?;
    // Every recorded build (ok or failed) keeps its files, so any recorded
    // build can be rebuilt offline after Debian dropped its versions.
    keep.extend(
        debfleet::release::build::referenced_packages(&store)
            .context("reading the package sets of recorded builds")?,
    );
    let report = pool::gc(&store, &keep, args.dry_run)?;
    match args.format {
        Format::Json => context::print_json(&report)?,
        Format::Table => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for (p, v, a) in &report.removed {
                println!("{verb} {p} {v} ({a})");
            }
            println!(
                "{verb} {} versions, {} files ({} orphaned, {} temporary), {} freed; kept {}",
                report.removed.len(),
                report.files_removed,
                report.orphans_removed,
                report.temp_removed,
                human_bytes(report.bytes_freed),
                report.kept
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_status(global: &super::GlobalArgs, args: &StatusArgs) -> Result<ExitCode> {
    let fleet = fleet_for_store(global)?;
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let st = pool::status(&store)?;
    match args.format {
        Format::Json => context::print_json(&st)?,
        Format::Table => {
            println!(
                "{} versions, {} files, {}, oldest fetched {}",
                st.versions,
                st.files,
                human_bytes(st.bytes),
                st.oldest.as_deref().unwrap_or("-")
            );
            for (p, v, a) in &st.damaged {
                println!(
                    "damaged: {p} {v} ({a}): file missing or wrong size; run `debfleet pool fetch`"
                );
            }
        }
    }
    Ok(if st.damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
