//! `debfleet build record|show` and `debfleet builds`: build records.

use super::clock;
use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::release::build::{self, BuildRecord, BuildResult, NewBuild};
use debfleet::store::OpenMode;
use std::path::PathBuf;
use std::process::ExitCode;

/// Record and inspect image builds.
///
/// Examples:
///   debfleet build record nginx --manifest images/nginx.yaml --digest sha256:... --result ok
///   debfleet build show nginx#3 --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: BuildCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BuildCommand {
    /// Store an immutable build record: the manifest built, the index
    /// generations in force for the image's base, the digest and result.
    Record(RecordArgs),
    /// Show build IMAGE#N with the package changes from the previous build.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The image (must match the manifest's `image`).
    pub image: String,
    /// The manifest of the built image.
    #[arg(long, value_name = "PATH")]
    pub manifest: PathBuf,
    /// The image digest, sha256:<hex>.
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// The build result.
    #[arg(long, value_enum, default_value_t = ResultArg::Ok)]
    pub result: ResultArg,
    /// The build log, stored with the record.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Why this build was made (free text, e.g. "CVE-2026-1234 fast-track").
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultArg {
    Ok,
    Failed,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// IMAGE#N, e.g. nginx#3.
    pub build: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// List recorded builds (all images, or one).
///
/// Examples:
///   debfleet builds
///   debfleet builds nginx --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BuildsArgs {
    /// Only this image.
    pub image: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        BuildCommand::Record(a) => record(global, a),
        BuildCommand::Show(a) => show(global, a),
    }
}

fn record(global: &super::GlobalArgs, args: &RecordArgs) -> Result<ExitCode> {
    let now = clock::now(global)?;
    let fleet = context::load_fleet(global)?;
    let mut new = NewBuild::from_manifest_file(&fleet, &args.image, &args.manifest)?;
    new.digest = args.digest.clone();
    new.result = match args.result {
        ResultArg::Ok => BuildResult::Ok,
        ResultArg::Failed => BuildResult::Failed,
    };
    new.reason = args.reason.clone();
    if let Some(log) = &args.log {
        new.log =
            Some(std::fs::read(log).with_context(|| format!("reading --log {}", log.display()))?);
    }
    let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: false })?;
    let record = build::record_build(&store, new, &global.actor(), now)?;
    match args.format {
        Format::Json => context::print_json(&record)?,
        Format::Table => println!(
            "recorded {}#{} ({}, {} packages, manifest {})",
            record.image,
            record.number,
            record.result.as_str(),
            record.packages.len(),
            short(&record.manifest_sha256)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn show(global: &super::GlobalArgs, args: &ShowArgs) -> Result<ExitCode> {
    let (image, number) = build::parse_build_ref(&args.build)?;
    let fleet = context::load_fleet(global).ok();
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let detail = build::show(&store, &image, number)?;
    match args.format {
        Format::Json => context::print_json(&detail)?,
        Format::Table => {
            let b = &detail.build;
            print_build(b);
            match detail.previous {
                Some(p) => println!("changes since #{p}: {}", detail.changes.len()),
                None => println!("changes: first build ({} packages)", detail.changes.len()),
            }
            for c in &detail.changes {
                println!(
                    "  {:<40} {} -> {}",
                    c.package,
                    c.from.as_deref().unwrap_or("(none)"),
                    c.to.as_deref().unwrap_or("(removed)")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_build(b: &BuildRecord) {
    println!("build      {}#{}", b.image, b.number);
    println!("result     {}", b.result.as_str());
    println!("recorded   {} by {}", b.recorded_at, b.actor);
    println!("base       {} ({})", b.base, b.architecture);
    println!("digest     {}", b.digest.as_deref().unwrap_or("-"));
    println!("manifest   {}", b.manifest_sha256);
    if let Some(r) = &b.reason {
        println!("reason     {r}");
    }
    if let Some(l) = &b.log_sha256 {
        println!("log        {l}");
    }
    let gens: Vec<String> = b
        .generations
        .iter()
        .map(|(k, v)| format!("{k}@{v}"))
        .collect();
    println!("generations {}", gens.join(" "));
    println!("packages   {}", b.packages.len());
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

pub fn run_builds(global: &super::GlobalArgs, args: &BuildsArgs) -> Result<ExitCode> {
    let fleet = context::load_fleet(global).ok();
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let builds = build::builds(&store, args.image.as_deref())?;
    match args.format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                image: &'a str,
                number: u64,
                result: &'a str,
                digest: Option<&'a str>,
                manifest_sha256: &'a str,
                packages: usize,
                recorded_at: &'a str,
                actor: &'a str,
                reason: Option<&'a str>,
            }
            let rows: Vec<Row> = builds
                .iter()
                .map(|b| Row {
                    image: &b.image,
                    number: b.number,
                    result: b.result.as_str(),
                    digest: b.digest.as_deref(),
                    manifest_sha256: &b.manifest_sha256,
                    packages: b.packages.len(),
                    recorded_at: &b.recorded_at,
                    actor: &b.actor,
                    reason: b.reason.as_deref(),
                })
                .collect();
            context::print_json(&rows)?;
        }
        Format::Table => {
            if builds.is_empty() {
                println!("no builds recorded");
            }
            for b in &builds {
                println!(
                    "{:<40} #{:<4} {:<6} {:<20} {:>4} pkgs  {}  {}",
                    b.image,
                    b.number,
                    b.result.as_str(),
                    b.recorded_at,
                    b.packages.len(),
                    b.digest.as_deref().map(short_digest).unwrap_or("-"),
                    b.actor
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}
