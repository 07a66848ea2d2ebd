//! `debfleet mirror ...`: offline verification of what the store holds.

use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::deb::openpgp::Keyring;
use debfleet::store::OpenMode;
use debfleet::store::reverify;
use std::path::PathBuf;
use std::process::ExitCode;

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
            "store_bytes": store.file_size(),
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
            context::human_bytes(store.file_size())
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
