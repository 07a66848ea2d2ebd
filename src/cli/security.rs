//! `debfleet security`: import the Debian security tracker export and report
//! which images are affected by known issues.

use super::context::{self, Format};
use anyhow::{Context, Result};
use debfleet::fleet::manifest::load_all;
use debfleet::fleet::manifest_edit;
use debfleet::release;
use debfleet::security::affected::{self, AffectedStatus, Filter, ImageFindings};
use debfleet::security::fasttrack::{self, FasttrackPlan, FasttrackPromotion};
use debfleet::security::tracker::{self, ImportRecord};
use debfleet::store::OpenMode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Security tracker data: import it, and see which images it affects.
///
/// Examples:
///   debfleet security import tracker.json
///   debfleet security affected
///   debfleet security affected CVE-2024-2511 --format json
///   debfleet security affected --urgency high
///   debfleet security report --as-of 2026-11-01
///   debfleet security affected CVE-2024-2511 --stage production
///   debfleet security fasttrack CVE-2024-2511 --write --scripts build/plans
///   debfleet security fasttrack CVE-2024-2511 --promote
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: SecurityCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SecurityCommand {
    Import(ImportArgs),
    Status(StatusArgs),
    Affected(AffectedArgs),
    Report(ReportArgs),
    Fasttrack(FasttrackArgs),
}

/// Fast-track one issue: rebuild only the affected images, then promote.
///
/// Without --promote: plans rebuilds of the images the issue affects whose
/// fix is in the mirror, moving only the affected source's binaries (plus
/// what their new versions need), and records the plan in the journal
/// (nothing new is recorded when the latest plan of the issue says the
/// same). Images whose fix is not yet mirrored, or unfixed, are listed.
/// --write rewrites the planned manifests (minimal edit, as `plan --write`);
/// --scripts DIR writes DIR/<image>.sh install scripts.
///
/// With --promote: takes each planned image's latest successful build
/// recorded after the plan, if it carries the fix; freezes them in an
/// emergency snapshot `fasttrack-<CVE>-<n>` (reused while its builds are
/// still the latest) and promotes it stage by stage, expedited, with
/// reason "fast-track <CVE>: <reason>", stopping where the policy holds
/// images back (e.g. `release.expedite.required_suites` not passed) and
/// saying what to record; run it again to continue.
///
/// Exit status: 0 done (nothing affected / fast-track complete), 2 work
/// remains (plan to build, images waiting, held by policy), 1 error.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FasttrackArgs {
    /// The issue (CVE-… or TEMP-… id).
    pub cve: String,
    /// Promote the fixing builds instead of planning.
    #[arg(long)]
    pub promote: bool,
    /// Why (recorded with the plan, and on the promotions).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Rewrite each planned manifest in place.
    #[arg(long, conflicts_with = "promote")]
    pub write: bool,
    /// Write an install script per planned image to DIR/<image>.sh.
    #[arg(long, value_name = "DIR", conflicts_with = "promote")]
    pub scripts: Option<PathBuf>,
    /// Wait for another writer instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Import a security tracker JSON export (the tracker's `/tracker/data/json` download).
///
/// Incremental: only records that changed are written, and every earlier
/// state stays queryable with `--as-of`. A file that does not parse is
/// rejected and the store is left unchanged.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The JSON export.
    pub file: PathBuf,
    /// When the data was exported/downloaded (RFC 3339 or a date); default:
    /// the file's modification time. Reported as the data's age.
    #[arg(long, value_name = "TIME")]
    pub data_time: Option<String>,
    /// Wait for another writer instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// List the tracker imports and the age of the data.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Images affected by known issues, with whether the fix is in the mirror.
///
/// Exit status: 0 nothing affected, 2 some image is affected, 1 error.
#[derive(Debug, clap::Args)]
pub struct AffectedArgs {
    /// Only these issues (CVE-… or TEMP-… ids).
    pub cves: Vec<String>,
    /// Only issues of this urgency (`high`, `medium`, `low`, `unimportant`,
    /// `end-of-life`, `not yet assigned`; the `**` NVD marker is ignored).
    #[arg(long, value_name = "URGENCY")]
    pub urgency: Option<String>,
    /// Only images whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub image: Option<String>,
    /// Answer with what the store knew at TIME (the newest import made at or before it).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Match the builds STAGE runs now (their recorded package sets)
    /// instead of the current manifests.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 0 even when images are affected.
    #[arg(long)]
    pub exit_zero: bool,
}

/// Per image: open issues, how many are fixable now, by urgency.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Only images whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub image: Option<String>,
    /// Answer with what the store knew at TIME.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Report on the builds STAGE runs now instead of the current manifests.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    match &args.command {
        SecurityCommand::Import(a) => import(global, a),
        SecurityCommand::Status(a) => status(global, a),
        SecurityCommand::Affected(a) => run_affected(global, a),
        SecurityCommand::Report(a) => report(global, a),
        SecurityCommand::Fasttrack(a) => fasttrack(global, a),
    }
}

fn import(global: &super::GlobalArgs, args: &ImportArgs) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let data_time = args
        .data_time
        .as_deref()
        .map(super::clock::parse_time)
        .transpose()
        .context("--data-time: expected RFC 3339 or a date")?;
    let fleet = if global.state.is_some() {
        None
    } else {
        Some(context::load_fleet(global)?)
    };
    let mut store =
        context::open_store(global, fleet.as_ref(), OpenMode::Write { wait: args.wait })?;
    let record = tracker::import(&store, &args.file, now, data_time)?;
    if record.added + record.changed + record.removed > 0 {
        // Large imports leave free pages behind; give them back.
        store.compact()?;
    }
    if args.format == Format::Json {
        context::print_json(&record)?;
    } else {
        println!(
            "import {}: {} sources, {} issues, {} release entries; {} added, {} changed, {} removed",
            record.id,
            record.sources,
            record.issues,
            record.releases,
            record.added,
            record.changed,
            record.removed
        );
        println!("data from {} (sha256 {})", record.data_time, record.sha256);
        for w in &record.warnings {
            println!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(global: &super::GlobalArgs, args: &StatusArgs) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let fleet = if global.state.is_some() {
        None
    } else {
        Some(context::load_fleet(global)?)
    };
    let store = context::open_store(global, fleet.as_ref(), OpenMode::Read)?;
    let imports = tracker::imports(&store)?;
    if args.format == Format::Json {
        #[derive(Serialize)]
        struct Out<'a> {
            imports: &'a [ImportRecord],
            data_age_days: Option<i64>,
        }
        return context::print_json(&Out {
            imports: &imports,
            data_age_days: imports.last().and_then(|r| age_days(&r.data_time, now)),
        })
        .map(|()| ExitCode::SUCCESS);
    }
    if imports.is_empty() {
        println!("no security tracker data imported: run `debfleet security import FILE`");
    }
    for r in &imports {
        println!(
            "import {:<4} {}  data {}  +{} ~{} -{}  {}",
            r.id, r.imported_at, r.data_time, r.added, r.changed, r.removed, r.file
        );
    }
    if let Some(line) = imports.last().map(|r| data_line(r, now)) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn age_days(data_time: &str, now: jiff::Timestamp) -> Option<i64> {
    let t: jiff::Timestamp = data_time.parse().ok()?;
    Some(now.duration_since(t).as_secs() / 86_400)
}

fn data_line(r: &ImportRecord, now: jiff::Timestamp) -> String {
    format!(
        "tracker data from {} ({} days old), import {} at {}",
        r.data_time,
        age_days(&r.data_time, now).map_or("?".into(), |d| d.to_string()),
        r.id,
        r.imported_at
    )
}

/// The tracker data a report used.
#[derive(Debug, Serialize)]
struct DataInfo {
    import: Option<u64>,
    imported_at: Option<String>,
    data_time: Option<String>,
    data_age_days: Option<i64>,
    sha256: Option<String>,
}

struct Matched {
    images: Vec<ImageFindings>,
    data: DataInfo,
}

fn match_fleet(
    global: &super::GlobalArgs,
    image_glob: Option<&str>,
    as_of: Option<&str>,
    stage: Option<&str>,
    filter: &Filter,
) -> Result<Matched> {
    let now = super::clock::now(global)?;
    let as_of = as_of
        .map(super::clock::parse_time)
        .transpose()
        .context("--as-of: expected RFC 3339 or a date")?;
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
    let mut manifests = match stage {
        Some(stage) => {
            release::promote::check_stage(&fleet.release, stage)?;
            let m = affected::stage_manifests(&store, stage)?;
            if m.is_empty() {
                eprintln!("note: stage {stage} runs no builds yet");
            }
            m
        }
        None => {
            let (manifests, errors) = load_all(&fleet);
            for e in &errors {
                eprintln!("warning: {e}");
            }
            manifests
        }
    };
    if let Some(glob) = image_glob {
        let m = globset::Glob::new(glob)?.compile_matcher();
        manifests.retain(|x| m.is_match(&x.image));
    }
    let releases = affected::fleet_releases(&fleet);
    let snapshot = tracker::snapshot(&store, &releases, as_of)?;
    let Some(import) = &snapshot.import else {
        match as_of {
            Some(t) => anyhow::bail!("no security tracker data had been imported at {t}"),
            None => anyhow::bail!(
                "no security tracker data in {}: run `debfleet security import FILE` first",
                store.path().display()
            ),
        }
    };
    let data = DataInfo {
        import: Some(import.id),
        imported_at: Some(import.imported_at.clone()),
        data_time: Some(import.data_time.clone()),
        data_age_days: age_days(&import.data_time, now),
        sha256: Some(import.sha256.clone()),
    };
    let images = affected::affected(&store, &fleet, &manifests, &snapshot, filter)?;
    Ok(Matched { images, data })
}

#[derive(Serialize)]
struct AffectedOut<'a> {
    images: Vec<&'a ImageFindings>,
    data: &'a DataInfo,
}

fn run_affected(global: &super::GlobalArgs, args: &AffectedArgs) -> Result<ExitCode> {
    let filter = Filter {
        issues: args.cves.iter().map(|c| c.trim().to_string()).collect(),
        urgency: args.urgency.clone(),
    };
    let matched = match_fleet(
        global,
        args.image.as_deref(),
        args.as_of.as_deref(),
        args.stage.as_deref(),
        &filter,
    )?;
    let listed: Vec<&ImageFindings> = matched
        .images
        .iter()
        .filter(|i| !i.cves.is_empty())
        .collect();
    let any = !listed.is_empty();
    if args.format == Format::Json {
        context::print_json(&AffectedOut {
            images: listed,
            data: &matched.data,
        })?;
    } else {
        println!(
            "{:<36} {:<16} {:<18} {:<24} {:<33} {:<24} URGENCY/NOTE",
            "IMAGE", "CVE", "SOURCE", "INSTALLED", "STATUS", "FIXED"
        );
        for image in &listed {
            for c in &image.cves {
                println!(
                    "{:<36} {:<16} {:<18} {:<24} {:<33} {:<24} {}",
                    image.image,
                    c.id,
                    c.source,
                    c.installed_source_version,
                    c.status.as_str(),
                    c.fixed_version.as_deref().unwrap_or("-"),
                    note(c)
                );
            }
        }
        let total: usize = listed.iter().map(|i| i.cves.len()).sum();
        println!(
            "{} of {} images affected, {total} findings; {}",
            listed.len(),
            matched.images.len(),
            data_summary(&matched.data)
        );
    }
    Ok(if any && !args.exit_zero {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn note(c: &affected::CveFinding) -> String {
    let mut parts = vec![c.urgency.clone().unwrap_or_else(|| "-".into())];
    match c.nodsa_reason.as_deref() {
        Some("") => parts.push("no-dsa".into()),
        Some(r) => parts.push(r.to_string()),
        None if c.nodsa.is_some() => parts.push("no-dsa".into()),
        None => {}
    }
    if let Some(n) = &c.nodsa
        && !n.is_empty()
    {
        parts.push(format!("({n})"));
    }
    parts.join(" ")
}

fn data_summary(d: &DataInfo) -> String {
    format!(
        "tracker data from {} ({} days old)",
        d.data_time.as_deref().unwrap_or("?"),
        d.data_age_days.map_or("?".into(), |a| a.to_string())
    )
}

#[derive(Serialize)]
struct ReportImage {
    image: String,
    base: String,
    release: String,
    open: usize,
    fixable_now: usize,
    not_yet_mirrored: usize,
    unfixed: usize,
    by_urgency: BTreeMap<String, usize>,
    unmatched_packages: usize,
}

fn report(global: &super::GlobalArgs, args: &ReportArgs) -> Result<ExitCode> {
    let matched = match_fleet(
        global,
        args.image.as_deref(),
        args.as_of.as_deref(),
        args.stage.as_deref(),
        &Filter::default(),
    )?;
    let rows: Vec<ReportImage> = matched
        .images
        .iter()
        .map(|i| {
            let count = |s: AffectedStatus| i.cves.iter().filter(|c| c.status == s).count();
            let mut by_urgency = BTreeMap::new();
            for c in &i.cves {
                *by_urgency
                    .entry(c.urgency.clone().unwrap_or_else(|| "unknown".into()))
                    .or_insert(0) += 1;
            }
            ReportImage {
                image: i.image.clone(),
                base: i.base.clone(),
                release: i.release.clone(),
                open: i.cves.len(),
                fixable_now: count(AffectedStatus::FixAvailableInMirror),
                not_yet_mirrored: count(AffectedStatus::FixNotYetMirrored),
                unfixed: count(AffectedStatus::Unfixed),
                by_urgency,
                unmatched_packages: i.unmatched.len(),
            }
        })
        .collect();
    if args.format == Format::Json {
        #[derive(Serialize)]
        struct Out<'a> {
            images: &'a [ReportImage],
            data: &'a DataInfo,
        }
        context::print_json(&Out {
            images: &rows,
            data: &matched.data,
        })?;
    } else {
        println!(
            "{:<36} {:<18} {:>5} {:>8} {:>8} {:>8}  BY URGENCY",
            "IMAGE", "BASE", "OPEN", "FIXABLE", "UNMIRR.", "UNFIXED"
        );
        for r in &rows {
            let urg: Vec<String> = r
                .by_urgency
                .iter()
                .map(|(u, n)| format!("{u}:{n}"))
                .collect();
            let unmatched = if r.unmatched_packages > 0 {
                format!(" ({} packages unknown to the mirror)", r.unmatched_packages)
            } else {
                String::new()
            };
            println!(
                "{:<36} {:<18} {:>5} {:>8} {:>8} {:>8}  {}{unmatched}",
                r.image,
                r.base,
                r.open,
                r.fixable_now,
                r.not_yet_mirrored,
                r.unfixed,
                urg.join(" ")
            );
        }
        println!("{}", data_summary(&matched.data));
    }
    Ok(ExitCode::SUCCESS)
}

fn fasttrack(global: &super::GlobalArgs, args: &FasttrackArgs) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let actor = global.actor();
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Write { wait: args.wait })?;
    let cve = args.cve.trim();
    if args.promote {
        let out = fasttrack::promote(&store, &fleet, cve, args.reason.as_deref(), &actor, now)?;
        if args.format == Format::Json {
            context::print_json(&out)?;
        } else {
            render_promotion(&out);
        }
        return Ok(if out.complete {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let plan = fasttrack::plan(&store, &fleet, cve, args.reason.as_deref(), &actor, now)?;
    let mut written = Vec::new();
    let mut write_errors = Vec::new();
    if args.write {
        manifest_edit::remove_stale_temporaries(plan.plans.iter().map(|p| p.manifest.as_path()));
        for p in &plan.plans {
            match manifest_edit::write_manifest(&p.manifest, &p.new_packages()) {
                Ok(true) => written.push(p.manifest.display().to_string()),
                Ok(false) => {}
                Err(e) => write_errors.push(e.to_string()),
            }
        }
    }
    if let Some(dir) = &args.scripts {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the scripts directory {}", dir.display()))?;
        for p in &plan.plans {
            let path = dir.join(format!("{}.sh", p.image));
            manifest_edit::write_atomically(&path, p.install_script().as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if args.format == Format::Json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            plan: &'a FasttrackPlan,
            written: &'a [String],
        }
        context::print_json(&Out {
            plan: &plan,
            written: &written,
        })?;
    } else {
        render_plan(&plan);
        for w in &written {
            println!("rewrote {w}");
        }
    }
    for e in &write_errors {
        eprintln!("error: {e}");
    }
    Ok(if !write_errors.is_empty() {
        ExitCode::from(1)
    } else if plan.images.is_empty() && plan.waiting.is_empty() && plan.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn render_plan(plan: &FasttrackPlan) {
    if plan.images.is_empty() && plan.waiting.is_empty() {
        println!("{}: no image is affected with an installable fix", plan.cve);
    }
    for i in &plan.images {
        let fixes: Vec<String> = i
            .fixes
            .iter()
            .map(|f| format!("{} >= {}", f.source, f.fixed_version))
            .collect();
        println!("{:<40} {:<18} fix {}", i.image, i.base, fixes.join(", "));
        for c in &i.changes {
            match (&c.from, &c.to) {
                (Some(f), Some(t)) => println!("    upgrade {} {f} -> {t}", c.package),
                (None, Some(t)) => println!("    install {} {t}", c.package),
                (_, None) => println!("    remove  {}", c.package),
            }
        }
    }
    for w in &plan.waiting {
        println!(
            "{:<40} waiting: {} {} (fixed {})",
            w.image,
            w.source,
            w.status.as_str(),
            w.fixed_version.as_deref().unwrap_or("-")
        );
    }
    for p in &plan.problems {
        println!("problem: {p}");
    }
    match (plan.seq, plan.unchanged) {
        (Some(seq), _) => println!(
            "fast-track plan of {} recorded (journal entry {seq}): {} images to rebuild",
            plan.cve,
            plan.images.len()
        ),
        (None, true) => println!(
            "unchanged since the last fast-track plan of {}: nothing new recorded",
            plan.cve
        ),
        (None, false) => println!("nothing to plan for {}: nothing recorded", plan.cve),
    }
}

fn render_promotion(out: &FasttrackPromotion) {
    for r in &out.ready {
        println!("{:<40} fixing build #{}", r.image, r.build);
    }
    for w in &out.waiting {
        println!("{:<40} waiting: {}", w.image, w.reason);
    }
    match &out.snapshot {
        Some(name) if out.snapshot_created => println!("created emergency snapshot {name}"),
        Some(name) => println!("reusing emergency snapshot {name}"),
        None => println!("no fixing build yet: nothing to promote"),
    }
    for s in &out.stages {
        println!(
            "{}: {} promoted, {} already there, {} held",
            s.stage,
            s.promoted.len(),
            s.unchanged,
            s.held.len()
        );
        for p in &s.promoted {
            println!("    {:<36} #{} [expedited]", p.image, p.build);
        }
        for h in &s.held {
            println!(
                "    {:<36} #{} HELD: {}",
                h.image,
                h.build,
                h.reasons.join("; ")
            );
        }
    }
    if let Some(stage) = &out.stopped_at {
        println!("stopped at {stage}; next:");
        for n in &out.next {
            println!("  {n}");
        }
    }
    if out.complete {
        println!("fast-track of {} complete ({})", out.cve, out.reason);
    }
}
