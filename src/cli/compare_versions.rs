//! `debfleet compare-versions`.

use anyhow::Result;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_global: &super::GlobalArgs, _args: &Args) -> Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
