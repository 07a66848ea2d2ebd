//! `debfleet explain IMAGE PACKAGE`.

use super::context::{self, Format};
use anyhow::{Result, bail};
use debfleet::fleet::check::{Tables, image_architecture};
use debfleet::fleet::{explain, manifest};
use debfleet::store::OpenMode;
use std::collections::BTreeSet;
use std::process::ExitCode;

/// Explain a package's candidate for an image (like apt-cache policy).
///
/// Shows every version the image's base offers, from which suites, at which
/// priority, and which rule picked the candidate.
///
/// Example:
///   debfleet explain postgresql-15 libc6
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Image name (the manifest's `image:`).
    pub image: String,
    /// Binary package name.
    pub package: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
    let (manifests, _) = manifest::load_all(&fleet);
    let Some(m) = manifests.iter().find(|m| m.image == args.image) else {
        bail!(
            "no image named {:?} in the fleet's manifests ({} images)",
            args.image,
            manifests.len()
        );
    };
    let arch = image_architecture(&fleet, m);
    let keys = BTreeSet::from([(m.base.clone(), arch)]);
    let tables = Tables::load(&store, &fleet, &keys)?;
    let Some(e) = explain::explain(&fleet, &tables, m, &args.package) else {
        bail!(
            "base {} of image {} has no candidate table",
            m.base,
            m.image
        );
    };
    if args.format == Format::Json {
        context::print_json(&serde_json::to_value(&e)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} (image {}, base {}, {}):",
        e.package, e.image, e.base, e.architecture
    );
    println!(
        "  Installed: {}",
        e.installed.as_deref().unwrap_or("(none)")
    );
    println!(
        "  Candidate: {}",
        e.candidate.as_deref().unwrap_or("(none)")
    );
    println!("  Version table:");
    for v in &e.versions {
        println!(
            " {} {} {}{}",
            if v.installed { "***" } else { "   " },
            v.version,
            v.priority,
            if v.candidate { "  <- candidate" } else { "" }
        );
        for (suite, prio) in &v.sources {
            println!("        {prio} {suite}");
        }
    }
    println!("  Why: {}", e.reason);
    Ok(ExitCode::SUCCESS)
}
