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
/// --exec CMD runs `sh -c CMD` once per image with changes (at most --jobs
/// at once) and records each result as a build (`debfleet builds`), with
/// the command's output as the build log. The command gets:
///   IMAGE        the image name
///   MANIFEST     the manifest to build: the rewritten file with --write,
///                else a staged copy of the planned manifest
///                (<state>.d/staged/<image>.yaml)
///   BUILD_ID     IMAGE#N, the number the build is recorded as
///   DIGEST_FILE  write `sha256:<hex>` here to record the image digest
/// Exit status 0 is an ok build, anything else a failed one. Each build is
/// recorded as soon as it finishes, so an interrupted run keeps the
/// finished ones.
///
/// Exit status: 0 nothing to do, 2 some image has a plan or needs attention
/// (broken, base not mirrored), 1 error (or, with --exec, a failed build).
///
/// Examples:
///   debfleet plan
///   debfleet plan --image 'postgresql-*' --format json
///   debfleet plan --security-only --write
///   debfleet plan --scripts build/plans
///   debfleet plan --write --exec 'buildah bud -f Containerfile --build-arg MANIFEST=$MANIFEST'
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
    /// Run CMD (with sh -c) once per image with changes and record each
    /// result as a build; see above for its environment.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// With --exec: how many builds run at once.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "exec")]
    pub jobs: usize,
    /// With --exec: the reason recorded with each build.
    #[arg(long, value_name = "TEXT", requires = "exec")]
    pub reason: Option<String>,
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
        // Leftovers of a write killed mid-way (never read as manifests).
        manifest_edit::remove_stale_temporaries(plan.images.iter().map(|i| i.manifest.as_path()));
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
    let builds = match &args.exec {
        Some(command) => {
            drop(store);
            exec_builds(global, &fleet, &plan, args, command)?
        }
        None => Vec::new(),
    };
    let failed_builds = builds.iter().any(|b| !b.ok);
    if args.format == Format::Json {
        if args.exec.is_some() {
            let mut value = serde_json::to_value(&plan)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("builds".into(), serde_json::to_value(&builds)?);
            }
            context::print_json(&value)?;
        } else {
            context::print_json(&plan)?;
        }
    } else {
        render(&plan);
        for w in &written {
            println!("rewrote {w}");
        }
        if !builds.is_empty() {
            let ok = builds.iter().filter(|b| b.ok).count();
            println!(
                "built {} image(s): {ok} ok, {} failed (debfleet builds lists them)",
                builds.len(),
                builds.len() - ok
            );
        }
    }
    for e in &write_errors {
        eprintln!("error: {e}");
    }
    Ok(
        if !plan.errors.is_empty() || !write_errors.is_empty() || failed_builds {
            ExitCode::from(1)
        } else if plan.needs_attention() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        },
    )
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

/// One build run by `--exec`, as recorded.
#[derive(Debug, serde::Serialize)]
struct ExecutedBuild {
    image: String,
    /// The recorded build number (None when recording failed).
    build: Option<u64>,
    build_id: String,
    ok: bool,
    status: String,
    digest: Option<String>,
    manifest: String,
    /// Recording problems, digest file problems.
    warnings: Vec<String>,
}

/// Runs `command` for every image of `plan` with changes and records each
/// result as a build, one short write transaction per finished build.
fn exec_builds(
    global: &super::GlobalArgs,
    fleet: &debfleet::fleet::config::FleetConfig,
    plan: &FleetPlan,
    args: &Args,
    command: &str,
) -> Result<Vec<ExecutedBuild>> {
    use debfleet::release::build::{self, BuildResult, NewBuild};
    use debfleet::release::exec::{self, BuildJob, BuildRun};
    use debfleet::store::Store;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    let state = context::state_path(global, Some(fleet))?;
    let store = Store::open(&state, OpenMode::Read)?;
    let staged = store.cache_dir().join("staged");
    let mut next_number: BTreeMap<String, u64> = BTreeMap::new();
    for b in build::builds(&store, None)? {
        let n = next_number.entry(b.image.clone()).or_insert(1);
        *n = (*n).max(b.number + 1);
    }
    drop(store);
    let mut jobs = Vec::new();
    for image in plan.images.iter().filter(|i| i.has_changes() && !i.broken) {
        let manifest = if args.write {
            image.manifest.clone()
        } else {
            let text = std::fs::read_to_string(&image.manifest)
                .with_context(|| format!("reading {}", image.manifest.display()))?;
            let edited = manifest_edit::edit_text(&image.manifest, &text, &image.new_packages())?;
            std::fs::create_dir_all(&staged)
                .with_context(|| format!("creating {}", staged.display()))?;
            let path = staged.join(format!("{}.yaml", image.image));
            manifest_edit::write_atomically(&path, edited.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            path
        };
        let number = next_number.get(&image.image).copied().unwrap_or(1);
        jobs.push(BuildJob {
            image: image.image.clone(),
            build_id: format!("{}#{number}", image.image),
            digest_file: staged.join(format!("{}.digest", image.image)),
            manifest,
        });
    }
    std::fs::create_dir_all(&staged).with_context(|| format!("creating {}", staged.display()))?;
    let total = jobs.len();
    if total == 0 {
        eprintln!("--exec: no image has changes; nothing to build");
        return Ok(Vec::new());
    }
    eprintln!(
        "--exec: building {total} image(s), {} at a time",
        args.jobs.max(1)
    );
    let actor = global.actor();
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| "plan --exec".to_string());
    let results: Mutex<Vec<ExecutedBuild>> = Mutex::new(Vec::new());
    let record = |run: BuildRun| {
        let mut warnings = run.warnings.clone();
        let recorded = (|| -> Result<build::BuildRecord> {
            let at = super::clock::now(global)?;
            let mut new = NewBuild::from_manifest_file(fleet, &run.job.image, &run.job.manifest)?;
            new.digest = run.digest.clone();
            new.result = if run.success {
                BuildResult::Ok
            } else {
                BuildResult::Failed
            };
            new.log = Some(run.log.clone());
            new.reason = Some(reason.clone());
            let store = Store::open(&state, OpenMode::Write { wait: true })?;
            Ok(build::record_build(&store, new, &actor, at)?)
        })();
        let number = match recorded {
            Ok(r) => {
                let id = format!("{}#{}", r.image, r.number);
                if id != run.job.build_id {
                    warnings.push(format!(
                        "recorded as {id}, not {} (another build of the image was recorded meanwhile)",
                        run.job.build_id
                    ));
                }
                Some(r.number)
            }
            Err(e) => {
                warnings.push(format!("could not record the build: {e:#}"));
                None
            }
        };
        let mut all = match results.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        eprintln!(
            "[{}/{total}] {} {} ({}){}",
            all.len() + 1,
            run.job.build_id,
            if run.success { "ok" } else { "FAILED" },
            run.status,
            warnings
                .iter()
                .map(|w| format!("\n    warning: {w}"))
                .collect::<String>()
        );
        all.push(ExecutedBuild {
            image: run.job.image.clone(),
            build: number,
            build_id: run.job.build_id.clone(),
            ok: run.success && number.is_some(),
            status: run.status.clone(),
            digest: run.digest.clone(),
            manifest: run.job.manifest.display().to_string(),
            warnings,
        });
    };
    exec::run_builds(command, jobs, args.jobs, &record);
    let mut all = results.into_inner().unwrap_or_else(|p| p.into_inner());
    all.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(all)
}
