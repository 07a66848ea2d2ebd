//! `debfleet sbom`: a CycloneDX or SPDX bill of materials for an image.

use super::context;
use anyhow::{Context, Result};
use debfleet::audit::sbom::{self, Subject};
use debfleet::fleet::check::image_architecture;
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::manifest::load_all;
use debfleet::security::packages::PackageIndex;
use debfleet::store::{OpenMode, Store};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

/// Write a bill of materials for an image: its current manifest, or a
/// recorded build (--build N).
///
/// Every installed binary package with its source package, package URL
/// (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-N), supplier (the
/// Debian Maintainer) and the .deb's SHA-256 when the store has that exact
/// version. Reads the store (run `debfleet sync` first); no network.
///
/// Examples:
///   debfleet sbom memcached-b2840 --format cyclonedx
///   debfleet sbom memcached-b2840 --format spdx -o memcached.spdx.json
///   debfleet sbom memcached-b2840 --build 3 --format cyclonedx
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The image name.
    pub image: String,
    /// A recorded build (see `debfleet builds IMAGE`) instead of the
    /// current manifest: the package set that build was made from.
    #[arg(long, value_name = "N")]
    pub build: Option<u64>,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: SbomFormat,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let timestamp = jiff::Timestamp::from_second(now.as_second())?.to_string();
    let fleet = context::load_fleet(global)?;
    let store = context::open_store(global, Some(&fleet), OpenMode::Read)?;
    let subject = match args.build {
        Some(number) => build_subject(&fleet, &store, &args.image, number)?,
        None => manifest_subject(&fleet, &args.image)?,
    };
    let Some(base) = fleet.bases.get(&subject.base) else {
        anyhow::bail!(
            "image {}: base {:?} is not defined in {}",
            subject.image,
            subject.base,
            fleet.path.display()
        );
    };
    let index = PackageIndex::open(&store, base, &subject.architecture)?;
    if index.is_empty() {
        eprintln!(
            "warning: no suite of base {} is in the store: sources, suppliers and hashes are unknown",
            base.name
        );
    }
    let components = sbom::components(&subject, &index)?;
    let doc = match args.format {
        SbomFormat::Cyclonedx => sbom::cyclonedx(&subject, &components, &timestamp),
        SbomFormat::Spdx => sbom::spdx(&subject, &components, &timestamp),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The subject of an image's current manifest.
fn manifest_subject(fleet: &FleetConfig, image: &str) -> Result<Subject> {
    let (manifests, _errors) = load_all(fleet);
    let Some(manifest) = manifests.iter().find(|m| m.image == image) else {
        anyhow::bail!(
            "no image {image:?} in the manifests of {} (debfleet check lists them)",
            fleet.path.display()
        );
    };
    let Some(base) = fleet.bases.get(&manifest.base) else {
        anyhow::bail!(
            "{}: base {:?} is not defined in {}",
            manifest.path.display(),
            manifest.base,
            fleet.path.display()
        );
    };
    let arch = image_architecture(fleet, manifest);
    Ok(Subject::from_manifest(manifest, &base.release, &arch))
}

/// The subject of recorded build `image#number`.
fn build_subject(fleet: &FleetConfig, store: &Store, image: &str, number: u64) -> Result<Subject> {
    let Some(build) = debfleet::release::build::build(store, image, number)? else {
        let known: Vec<String> = debfleet::release::build::builds(store, Some(image))?
            .iter()
            .map(|b| b.number.to_string())
            .collect();
        if known.is_empty() {
            anyhow::bail!("no recorded build of image {image:?} (debfleet builds lists them)");
        }
        anyhow::bail!(
            "image {image:?} has no build {number}; its builds are {}",
            known.join(", ")
        );
    };
    let release = fleet
        .bases
        .get(&build.base)
        .map(|b| b.release.clone())
        .with_context(|| {
            format!(
                "build {image}#{number}: its base {:?} is no longer defined in {}",
                build.base,
                fleet.path.display()
            )
        })?;
    Ok(Subject {
        image: build.image,
        base: build.base,
        release,
        architecture: build.architecture,
        packages: build.packages,
    })
}
