//! `debfleet mirror ...`: offline verification of what the store holds, and
//! air-gap bundles (export the verified data, import it elsewhere).

use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::deb::openpgp::Keyring;
use debfleet::deb::pdiff::PdiffLimits;
use debfleet::fleet::sources;
use debfleet::mirror::ReleasePolicy;
use debfleet::store::sync::{NoProgress, SyncOptions};
use debfleet::store::{OpenMode, bundle, reverify};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Inspect and re-verify the mirrored data in the store; move it across an
/// air gap (export / import).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: MirrorCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MirrorCommand {
    /// Re-verify stored generations offline: InRelease signatures and the
    /// SHA256 of every stored index file, from the store alone.
    ///
    /// By default checks the generation in force for every suite; with
    /// --generation N one generation, with --all every generation.
    Verify(VerifyArgs),
    /// Show the suites in the store: generation in force, Release date,
    /// Valid-Until, packages, last sync, and the store's size.
    Status(StatusArgs),
    /// List every generation of every suite (or one suite's), oldest first.
    Generations(GenerationsArgs),
    /// When did a package version first appear on (and leave) our mirror?
    Seen(SeenArgs),
    // Export and Import take their help (short and long) from the doc
    // comments of their argument structs; a doc comment here would replace
    // the long help with this line.
    Export(ExportArgs),
    Import(ImportArgs),
}

/// Write the verified data of every suite into one bundle file for an offline host
///
/// The bundle holds the generation in force of every suite in the store
/// (the exact InRelease and index files that were verified, from the
/// store's blobs) in one self-checking file. Carry it into the air gap and
/// run `debfleet mirror import FILE` there.
///
/// Examples:
///   debfleet mirror export --out /media/usb/debfleet-2026-11-27.bundle
///   debfleet --state /srv/debfleet/state.redb mirror export --out x.bundle --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// The bundle file to write (replaced atomically when complete).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Import a bundle from `mirror export`, re-verifying it with this fleet's keyrings
///
/// The file is checked first (header, manifest checksum, safe paths, the
/// size and SHA256 of every entry); anything malformed is refused and the
/// store is not touched. The entries are then synced exactly as from a
/// mirror: InRelease signatures with this fleet's keyrings, every index
/// file against the signed Release, Valid-Until against --now, Date against
/// the stored generation. Unchanged suites cost nothing; changed indexes
/// write only the package records that changed. Fleet suites the bundle
/// does not carry are reported `not in bundle` (not a failure); the fleet's
/// mirror locations are never read. The bundle is extracted under $TMPDIR.
///
/// Examples:
///   debfleet mirror import /media/usb/debfleet-2026-11-27.bundle
///   debfleet mirror import old.bundle --allow-expired --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// The bundle file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub sync: super::sync::SyncArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct GenerationsArgs {
    /// Only this suite (`archive/suite`).
    #[arg(long)]
    pub suite: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct SeenArgs {
    /// Binary package name.
    pub package: String,
    /// Exact version.
    #[arg(value_name = "VERSION")]
    pub package_version: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this generation.
    #[arg(long)]
    pub generation: Option<u64>,
    /// Every generation ever recorded.
    #[arg(long, conflicts_with = "generation")]
    pub all: bool,
    /// Verify with this keyring instead of the fleet's keyrings.
    #[arg(long)]
    pub keyring: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        MirrorCommand::Verify(v) => verify(global, v),
        MirrorCommand::Status(a) => status(global, a),
        MirrorCommand::Generations(a) => generations(global, a),
        MirrorCommand::Seen(a) => seen(global, a),
        MirrorCommand::Export(a) => export(global, a),
        MirrorCommand::Import(a) => import(global, a),
    }
}

fn verify(global: &super::GlobalArgs, args: &VerifyArgs) -> Result<ExitCode> {
    let fleet = if args.keyring.is_some() && global.state.is_some() {
        None
    } else {
        Some(context::load_fleet(global)?)
    };
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let all = store.generations()?;
    let selected: Vec<_> = if let Some(n) = args.generation {
        let g = all
            .into_iter()
            .find(|g| g.id == n)
            .with_context(|| format!("no generation {n} in the store"))?;
        vec![g]
    } else if args.all {
        all
    } else {
        let current: Vec<u64> = store.suites()?.iter().map(|s| s.generation).collect();
        all.into_iter()
            .filter(|g| current.contains(&g.id))
            .collect()
    };
    let mut verdicts = Vec::new();
    let mut keyrings: std::collections::HashMap<PathBuf, Keyring> = Default::default();
    for g in &selected {
        let keyring_path = match (&args.keyring, &fleet) {
            (Some(k), _) => k.clone(),
            (None, Some(f)) => f
                .keyring_for(&g.archive)
                .map(PathBuf::from)
                .with_context(|| format!("no keyring configured for archive {}", g.archive))?,
            (None, None) => anyhow::bail!("pass --keyring"),
        };
        if !keyrings.contains_key(&keyring_path) {
            let keyring = Keyring::from_file(&keyring_path)
                .with_context(|| format!("loading keyring {}", keyring_path.display()))?;
            keyrings.insert(keyring_path.clone(), keyring);
        }
        let keyring = &keyrings[&keyring_path];
        verdicts.push(reverify::verify_generation(&store, g, keyring)?);
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    if args.format == Format::Json {
        context::print_json(&serde_json::json!({"generations": verdicts, "failed": failed}))?;
    } else {
        for v in &verdicts {
            println!(
                "generation {:>5} {:<32} {} ({} indexes; signed by {})",
                v.generation,
                v.suite,
                if v.ok { "OK" } else { "FAILED" },
                v.indexes_checked,
                if v.signers.is_empty() {
                    "-".to_string()
                } else {
                    v.signers.join(", ")
                }
            );
            for p in &v.problems {
                println!("    {p}");
            }
        }
        println!("{} generations verified, {failed} failed", verdicts.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn open_read(global: &super::GlobalArgs) -> Result<debfleet::store::Store> {
    let fleet = if global.state.is_some() {
        None
    } else {
        Some(context::load_fleet(global)?)
    };
    context::open_store(global, fleet.as_ref(), OpenMode::Read)
}

fn status(global: &super::GlobalArgs, args: &StatusArgs) -> Result<ExitCode> {
    let store = open_read(global)?;
    let txn = store.read()?;
    let suites = store.suites_in(&txn)?;
    let mut rows = Vec::new();
    for s in &suites {
        let checked = store.suite_checked_in(&txn, &s.key())?;
        let generation = store.generation(s.generation)?;
        let packages: u64 = generation
            .as_ref()
            .map_or(0, |g| g.indexes.iter().map(|i| i.packages).sum());
        rows.push(serde_json::json!({
            "suite": s.key(),
            "generation": s.generation,
            "date": s.date,
            "valid_until": s.valid_until,
            "priority": s.priority(),
            "security": s.is_security(),
            "packages": packages,
            "last_synced": checked.map(|c| c.to_string()),
            "indexes": s.indexes,
        }));
    }
    if args.format == Format::Json {
        context::print_json(&serde_json::json!({
            "store": store.path(),
            "store_bytes": store.disk_bytes(),
            "suites": rows,
        }))?;
    } else {
        println!(
            "{:<32} {:>5} {:>9} {:>4}  {:<22} {:<22}",
            "SUITE", "GEN", "PACKAGES", "PRIO", "DATE", "LAST SYNC"
        );
        for r in &rows {
            println!(
                "{:<32} {:>5} {:>9} {:>4}  {:<22} {:<22}",
                r["suite"].as_str().unwrap_or(""),
                r["generation"],
                r["packages"],
                r["priority"],
                r["date"].as_str().unwrap_or("-"),
                r["last_synced"].as_str().unwrap_or("-"),
            );
        }
        println!(
            "store: {} ({})",
            store.path().display(),
            context::human_bytes(store.disk_bytes())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn generations(global: &super::GlobalArgs, args: &GenerationsArgs) -> Result<ExitCode> {
    let store = open_read(global)?;
    let gens: Vec<_> = store
        .generations()?
        .into_iter()
        .filter(|g| {
            args.suite
                .as_deref()
                .is_none_or(|s| s == format!("{}/{}", g.archive, g.suite))
        })
        .collect();
    if args.format == Format::Json {
        context::print_json(&serde_json::json!({ "generations": gens }))?;
    } else {
        for g in &gens {
            let (added, removed, changed) = g.indexes.iter().fold((0, 0, 0), |a, i| {
                (a.0 + i.added, a.1 + i.removed, a.2 + i.changed)
            });
            println!(
                "{:>5} {:<32} fetched {} date {} +{added} -{removed} ~{changed} [{}]{}{}",
                g.id,
                format!("{}/{}", g.archive, g.suite),
                g.fetched_at,
                g.date.as_deref().unwrap_or("-"),
                g.indexes
                    .iter()
                    .map(|i| i.method.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                if g.accepted_expired {
                    " EXPIRED-ACCEPTED"
                } else {
                    ""
                },
                if g.accepted_downgrade {
                    " DOWNGRADE-ACCEPTED"
                } else {
                    ""
                },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn seen(global: &super::GlobalArgs, args: &SeenArgs) -> Result<ExitCode> {
    let store = open_read(global)?;
    let seen = store.version_seen(&args.package, &args.package_version)?;
    let mut rows = Vec::new();
    for (index, first, gone) in &seen {
        let first_at = store.generation(*first)?.map(|g| g.fetched_at);
        let gone_at = match gone {
            Some(g) => store.generation(*g)?.map(|g| g.fetched_at),
            None => None,
        };
        rows.push(serde_json::json!({
            "index": index, "first_generation": first, "first_seen": first_at,
            "gone_generation": gone, "gone_seen": gone_at,
        }));
    }
    if args.format == Format::Json {
        context::print_json(&serde_json::json!({
            "package": args.package, "version": args.package_version, "seen": rows,
        }))?;
    } else if rows.is_empty() {
        println!(
            "{} {} was never seen on this mirror",
            args.package, args.package_version
        );
    } else {
        for r in &rows {
            println!(
                "{:<40} first seen generation {} ({}){}",
                r["index"].as_str().unwrap_or(""),
                r["first_generation"],
                r["first_seen"].as_str().unwrap_or("?"),
                match r["gone_generation"].as_u64() {
                    Some(g) => format!(
                        ", gone in generation {g} ({})",
                        r["gone_seen"].as_str().unwrap_or("?")
                    ),
                    None => ", still present".to_string(),
                }
            );
        }
    }
    Ok(if seen.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn export(global: &super::GlobalArgs, args: &ExportArgs) -> Result<ExitCode> {
    let store = open_read(global)?;
    let now = super::clock::now(global)?;
    if store.suites()?.is_empty() {
        anyhow::bail!(
            "{}: the store holds no suites; run `debfleet sync` first",
            store.path().display()
        );
    }
    let partial = partial_path(&args.out)?;
    let written = (|| -> Result<bundle::Manifest> {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let manifest = bundle::export(&store, &mut out, now)?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &args.out)
            .with_context(|| format!("renaming {} to {}", partial.display(), args.out.display()))?;
        Ok(manifest)
    })();
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("exporting to {}", args.out.display())));
        }
    };
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    // Per suite: generation, files, bytes.
    let mut suites: Vec<(String, u64, usize, u64)> = Vec::new();
    for e in &manifest.entries {
        let key = e.suite_key();
        match suites.last_mut() {
            Some(last) if last.0 == key => {
                last.2 += 1;
                last.3 += e.size;
            }
            _ => suites.push((key, e.generation, 1, e.size)),
        }
    }
    if args.format == Format::Json {
        let rows: Vec<_> = suites
            .iter()
            .map(|(suite, generation, files, size)| {
                json!({"suite": suite, "generation": generation, "files": files, "bytes": size})
            })
            .collect();
        context::print_json(&json!({
            "bundle": args.out,
            "exported_at": manifest.exported_at,
            "bytes": bytes,
            "suites": rows,
        }))?;
    } else {
        println!("{:<32} {:>5} {:>5} {:>10}", "SUITE", "GEN", "FILES", "SIZE");
        for (suite, generation, files, size) in &suites {
            println!(
                "{suite:<32} {generation:>5} {files:>5} {:>10}",
                context::human_bytes(*size)
            );
        }
        println!(
            "wrote {} ({}, {} suites, exported at {})",
            args.out.display(),
            context::human_bytes(bytes),
            suites.len(),
            manifest.exported_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A sibling of `out` to write into before renaming it into place.
fn partial_path(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a file name", out.display()))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(out.with_file_name(partial))
}

fn import(global: &super::GlobalArgs, args: &ImportArgs) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let now = super::clock::now(global)?;
    let targets = sources::sync_targets(&fleet)?;
    let refused = || {
        format!(
            "{}: refusing the bundle; the store was not changed",
            args.file.display()
        )
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening the bundle {}", args.file.display()))?;
    // Validate and extract before the store is even opened.
    let extracted = bundle::extract(file, &std::env::temp_dir()).with_context(refused)?;
    let manifest = extracted.manifest();
    let mut store = context::open_store(
        global,
        Some(&fleet),
        OpenMode::Write {
            wait: args.sync.wait,
        },
    )?;
    let options = SyncOptions {
        now,
        policy: ReleasePolicy {
            allow_expired: args.sync.allow_expired,
            allow_downgrade: args.sync.allow_downgrade,
        },
        pdiff: PdiffLimits::default(),
        actor: global.actor(),
        tables: debfleet::fleet::sources::table_targets(&fleet),
    };
    let mut report = bundle::import(&store, &extracted, &targets, &options, &NoProgress)?;
    for key in &report.not_in_fleet {
        eprintln!("note: the bundle carries {key}, which no base of this fleet uses: ignored");
    }
    super::sync::after_sync(&mut store, &fleet, &mut report.sync)?;
    if args.format == Format::Table {
        println!(
            "bundle {}: exported at {} by {}, {} suites, {}",
            args.file.display(),
            manifest.exported_at,
            manifest.tool,
            manifest.suites().len(),
            context::human_bytes(manifest.data_bytes())
        );
    }
    super::sync::render(&report.sync, &store, args.format)?;
    std::io::stdout().flush()?;
    Ok(if report.sync.has_failures() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
