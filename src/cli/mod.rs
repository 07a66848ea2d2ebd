//! The command-line interface: argument parsing, dispatch and rendering.
//! Every command lives in its own module with an `Args` struct and a `run`
//! function; the library does the work.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod audit;
mod build;
mod check;
mod clock;
mod compare_versions;
mod context;
mod dev;
mod explain;
mod lifecycle;
mod mirror;
mod plan;
mod pool;
mod promote;
mod run;
mod sbom;
mod security;
mod snapshot;
mod status;
mod sync;
mod test_record;
mod verify_release;

/// Keep a fleet of Debian-based container images up to date, tested and
/// auditable, entirely offline.
#[derive(Debug, Parser)]
#[command(name = "debfleet", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// The fleet: a fleet.yaml file or its directory. Default: $DEBFLEET_FLEET,
    /// else ./fleet.yaml searched upward from the working directory.
    #[arg(long, global = true, env = "DEBFLEET_FLEET", value_name = "PATH")]
    pub fleet: Option<PathBuf>,
    /// The state store (redb). Default: <fleet dir>/.debfleet/state.redb.
    #[arg(long, global = true, env = "DEBFLEET_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Pretend the current time is TIME (RFC 3339, e.g. 2026-11-27T12:00:00Z,
    /// or a date 2026-11-27). Used for Valid-Until, key expiry and every
    /// time-dependent decision, so that old data and audits replay exactly.
    #[arg(long, global = true, value_name = "TIME")]
    pub now: Option<String>,
    /// Who is acting, recorded with every journal entry. Default:
    /// $DEBFLEET_ACTOR, else the OS user ($USER, $LOGNAME), else "unknown".
    #[arg(long, global = true, env = "DEBFLEET_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
}

impl GlobalArgs {
    /// The actor recorded in the journal (see `--actor`).
    pub fn actor(&self) -> String {
        match self.actor.as_deref().map(str::trim) {
            Some(a) if !a.is_empty() => a.to_string(),
            _ => debfleet::store::journal::default_actor(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Sync(sync::Args),
    Check(check::Args),
    Run(run::Args),
    Plan(plan::Args),
    /// The .deb pool: fetch, export as a flat repository, gc, status.
    Pool(pool::Args),
    Build(build::Args),
    Builds(build::BuildsArgs),
    Snapshot(snapshot::Args),
    Test(test_record::Args),
    Promote(promote::Args),
    Status(status::Args),
    Audit(audit::Args),
    Security(security::Args),
    Lifecycle(lifecycle::Args),
    Sbom(sbom::Args),
    Mirror(mirror::Args),
    Explain(explain::Args),
    CompareVersions(compare_versions::Args),
    /// Verify a Release/InRelease signature and print the signer(s) and header.
    VerifyRelease(verify_release::Args),
    /// Benchmark and load-test tools (synthetic fleets).
    #[command(hide = true)]
    Dev(dev::Args),
}

/// Parses arguments, runs the command, and maps errors to exit statuses.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::CompareVersions(args) => compare_versions::run(&cli.global, args),
        Command::VerifyRelease(args) => verify_release::run(&cli.global, args),
        Command::Sync(args) => sync::run(&cli.global, args),
        Command::Check(args) => check::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Explain(args) => explain::run(&cli.global, args),
        Command::Mirror(args) => mirror::run(&cli.global, args),
        Command::Pool(args) => pool::run(&cli.global, args),
        Command::Security(args) => security::run(&cli.global, args),
        Command::Lifecycle(args) => lifecycle::run(&cli.global, args),
        Command::Sbom(args) => sbom::run(&cli.global, args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Build(args) => build::run(&cli.global, args),
        Command::Builds(args) => build::run_builds(&cli.global, args),
        Command::Snapshot(args) => snapshot::run(&cli.global, args),
        Command::Test(args) => test_record::run(&cli.global, args),
        Command::Promote(args) => promote::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Audit(args) => audit::run(&cli.global, args),
        Command::Dev(args) => dev::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
