//! `plan`: for each image with updates, the new package set a rebuild
//! would install, computed the way apt's `dist-upgrade` would (see
//! [`resolve`]) but for an image, not a host: nothing is added merely
//! because it is Essential or Priority: required, and Recommends are not
//! installed. Also the hand-off to builds: the JSON plan and an install
//! script per image ([`ImagePlan::install_script`]).
//!
//! Data: candidates come from the compiled candidate tables (apt's policy,
//! [`crate::store::table`]); relations from the package stanzas in the
//! store, loaded once per (base, architecture) into a [`Universe`].

pub mod resolve;
pub mod universe;

use super::check::{CheckError, Tables, image_architecture};
use super::config::FleetConfig;
use super::manifest::{self, Manifest, ManifestError};
use crate::deb::package;
use crate::store::packages::PackageRecords;
use crate::store::table::{Candidate, CandidateTable};
use crate::store::{Store, StoreError};
use rayon::prelude::*;
use resolve::{InstalledPackage, Offer, Policy, ResolveOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
pub use universe::Universe;

/// Errors that stop a plan as a whole (per-image problems are reported
/// per image).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The store or a candidate table could not be read.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading package stanzas from the store failed.
    #[error(
        "{store}: reading the package stanzas of base {base} failed: {message}. Run `debfleet sync` again; if it persists the store is damaged"
    )]
    Packages {
        /// The store file.
        store: PathBuf,
        /// The base.
        base: String,
        /// What failed.
        message: String,
    },
}

/// What to plan.
#[derive(Default)]
pub struct PlanOptions<'a> {
    /// Plan only images whose name this accepts.
    pub image: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
    /// Move only packages whose candidate comes from a security suite.
    pub security_only: bool,
    /// When set: image -> the installed packages that may move (plus what
    /// their new versions need); images not in the map are not planned.
    /// Used by the CVE fast-track.
    pub only: Option<&'a BTreeMap<String, BTreeSet<String>>>,
}

/// An installed package moved to its candidate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedUpgrade {
    /// Package name (`name:arch` for a foreign architecture).
    pub package: String,
    /// The installed version.
    pub from: String,
    /// The new version.
    pub version: String,
}

/// A package the new versions need that the image does not have.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedInstall {
    /// Package name.
    pub package: String,
    /// Its candidate version.
    pub version: String,
    /// Which package needs it, through which dependency.
    pub reason: String,
}

/// An installed package the new versions force out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedRemoval {
    /// Package name.
    pub package: String,
    /// Which Breaks/Conflicts forces it out.
    pub reason: String,
}

/// An update that is not done.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HeldPackage {
    /// Package name.
    pub package: String,
    /// Why (held in the manifest, or kept back like apt would).
    pub reason: String,
}

/// An installed package whose own dependencies could not be checked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unverified {
    /// Package name (`name:arch` for a foreign architecture).
    pub package: String,
    /// Why.
    pub reason: String,
}

/// The plan for one image.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImagePlan {
    /// The image name.
    pub image: String,
    /// Its base.
    pub base: String,
    /// Its architecture.
    pub architecture: String,
    /// The manifest file.
    pub manifest: PathBuf,
    /// Installed packages moved to their candidate.
    pub upgrade: Vec<PlannedUpgrade>,
    /// New packages.
    pub install: Vec<PlannedInstall>,
    /// Packages removed.
    pub remove: Vec<PlannedRemoval>,
    /// Updates not done, with the reason.
    pub held: Vec<HeldPackage>,
    /// True when the package set cannot be made consistent; then nothing
    /// is planned and `problems` says why.
    pub broken: bool,
    /// Why the image is broken, or why it could not be planned.
    pub problems: Vec<String>,
    /// Installed packages that could not be verified (version in no index,
    /// or an architecture that is not mirrored).
    pub unverified: Vec<Unverified>,
    /// The installed set before the plan: key (`name` or `name:arch`) ->
    /// version.
    #[serde(skip)]
    pub installed: BTreeMap<String, String>,
    /// Bare package name -> its key in the manifest, for native packages
    /// written `name:arch` (`gcc-14-base:amd64`).
    #[serde(skip)]
    pub keys: BTreeMap<String, String>,
}

impl ImagePlan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !(self.upgrade.is_empty() && self.install.is_empty() && self.remove.is_empty())
    }

    /// Whether the image needs attention: changes, broken, or not planned.
    pub fn needs_attention(&self) -> bool {
        self.has_changes() || self.broken || !self.problems.is_empty()
    }

    /// The package set after the plan: key -> version.
    pub fn new_packages(&self) -> BTreeMap<String, String> {
        let key = |name: &String| self.keys.get(name).unwrap_or(name).clone();
        let mut set = self.installed.clone();
        for u in &self.upgrade {
            set.insert(key(&u.package), u.version.clone());
        }
        for i in &self.install {
            set.insert(key(&i.package), i.version.clone());
        }
        for r in &self.remove {
            set.remove(&key(&r.package));
        }
        set
    }

    /// A POSIX shell script that applies the plan in a Containerfile:
    /// one `apt-get install --no-install-recommends` of every upgraded and
    /// new package pinned to its version (sorted by name), then one
    /// `apt-get remove` of the removed packages. Empty when nothing changes.
    pub fn install_script(&self) -> String {
        if !self.has_changes() || self.broken {
            return String::new();
        }
        let mut pins: Vec<String> = self
            .upgrade
            .iter()
            .map(|u| format!("{}={}", u.package, u.version))
            .chain(
                self.install
                    .iter()
                    .map(|i| format!("{}={}", i.package, i.version)),
            )
            .collect();
        pins.sort();
        let mut s = String::from("#!/bin/sh\n");
        s.push_str(&format!(
            "# debfleet plan for image {} (base {}): {} upgrades, {} new, {} removed\n",
            self.image,
            self.base,
            self.upgrade.len(),
            self.install.len(),
            self.remove.len()
        ));
        s.push_str("set -eu\nexport DEBIAN_FRONTEND=noninteractive\n");
        if !pins.is_empty() {
            s.push_str("apt-get install -y --no-install-recommends");
            for p in &pins {
                s.push_str(" \\\n    ");
                s.push_str(&shell_word(p));
            }
            s.push('\n');
        }
        if !self.remove.is_empty() {
            s.push_str("apt-get remove -y");
            for r in &self.remove {
                s.push_str(" \\\n    ");
                s.push_str(&shell_word(&r.package));
            }
            s.push('\n');
        }
        s
    }
}

/// Quotes a word for sh unless it only has safe characters.
fn shell_word(w: &str) -> String {
    if w.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:=_~/".contains(&b))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// A manifest that could not be planned at all.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ManifestProblem {
    /// The file.
    pub manifest: PathBuf,
    /// What is wrong.
    pub error: String,
}

/// The plan for the fleet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetPlan {
    /// One entry per selected image, sorted by image name.
    pub images: Vec<ImagePlan>,
    /// Manifests that could not be read or validated.
    pub errors: Vec<ManifestProblem>,
}

impl FleetPlan {
    /// Whether any image needs attention.
    pub fn needs_attention(&self) -> bool {
        self.images.iter().any(ImagePlan::needs_attention)
    }
}

/// [`Policy`] over a compiled candidate table.
pub struct TablePolicy<'a>(pub &'a CandidateTable);

impl Policy for TablePolicy<'_> {
    fn for_installed(&self, name: &str, installed: &str) -> Offer {
        match self.0.candidate(name, installed) {
            Candidate::Missing => Offer::Missing,
            Candidate::Current => Offer::Current,
            Candidate::Ahead => Offer::Ahead,
            Candidate::Update(v) => Offer::Update {
                version: v.version.to_string(),
                security: self.0.suite_is_security(v.suite),
            },
        }
    }

    /// apt's candidate for a package that is not installed: the version of
    /// highest pin priority, the highest version among equals; none when
    /// every priority is below 1.
    fn for_new(&self, name: &str) -> Option<String> {
        let mut best: Option<(i16, &str)> = None;
        for v in self.0.versions(name) {
            if v.priority > 0 && best.is_none_or(|(p, _)| v.priority > p) {
                best = Some((v.priority, v.version));
            }
        }
        best.map(|(_, v)| v.to_string())
    }
}

/// Loads the universe of one (base, architecture) from the store: every
/// stanza of the indexes feeding its candidate table.
pub fn load_universe(
    store: &Store,
    txn: &redb::ReadTransaction,
    base: &str,
    arch: &str,
    indexes: &[(u32, usize)],
) -> Result<Universe, PlanError> {
    let fail = |message: String| PlanError::Packages {
        store: store.path().to_path_buf(),
        base: base.to_string(),
        message,
    };
    let records = PackageRecords::open(store, txn).map_err(|e| fail(e.to_string()))?;
    let mut u = Universe::new(arch);
    let ids: BTreeSet<u32> = indexes.iter().map(|(id, _)| *id).collect();
    for id in ids {
        records
            .for_each_in_index(id, &mut |record| {
                // A stanza that does not parse is skipped: the candidate
                // table was built from the same data and skipped it too.
                if let Some(Ok(p)) = package::packages(record.stanza).next() {
                    u.add(&p);
                }
                Ok(())
            })
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(u)
}

/// Plans one image against its base's universe and candidate table.
pub fn plan_image(
    m: &Manifest,
    arch: &str,
    universe: &Universe,
    policy: &dyn Policy,
    security_only: bool,
) -> ImagePlan {
    plan_image_only(m, arch, universe, policy, security_only, None)
}

/// [`plan_image`] moving only the installed packages in `only` (when set).
pub fn plan_image_only(
    m: &Manifest,
    arch: &str,
    universe: &Universe,
    policy: &dyn Policy,
    security_only: bool,
    only: Option<&BTreeSet<String>>,
) -> ImagePlan {
    let packages: Vec<InstalledPackage> = m
        .packages
        .iter()
        .map(|p| InstalledPackage {
            name: p.name.clone(),
            arch: p.arch.clone(),
            version: p.version.clone(),
        })
        .collect();
    let options = ResolveOptions {
        hold: m.hold.clone(),
        security_only,
        only: only.cloned(),
    };
    let r = resolve::resolve(universe, policy, &packages, &options);
    let mut plan = empty_plan(m, arch);
    plan.upgrade = r
        .upgrade
        .into_iter()
        .map(|(package, from, version)| PlannedUpgrade {
            package,
            from,
            version,
        })
        .collect();
    plan.install = r
        .install
        .into_iter()
        .map(|(package, version, reason)| PlannedInstall {
            package,
            version,
            reason,
        })
        .collect();
    plan.remove = r
        .remove
        .into_iter()
        .map(|(package, reason)| PlannedRemoval { package, reason })
        .collect();
    plan.held = r
        .held
        .into_iter()
        .map(|(package, reason)| HeldPackage { package, reason })
        .collect();
    plan.broken = r.broken;
    plan.problems = r.problems;
    plan.unverified = r
        .unverified
        .into_iter()
        .map(|(package, reason)| Unverified { package, reason })
        .collect();
    plan
}

fn empty_plan(m: &Manifest, arch: &str) -> ImagePlan {
    ImagePlan {
        image: m.image.clone(),
        base: m.base.clone(),
        architecture: arch.to_string(),
        manifest: m.path.clone(),
        upgrade: Vec::new(),
        install: Vec::new(),
        remove: Vec::new(),
        held: Vec::new(),
        broken: false,
        problems: Vec::new(),
        unverified: Vec::new(),
        installed: m
            .packages
            .iter()
            .map(|p| (p.key(), p.version.clone()))
            .collect(),
        keys: m
            .packages
            .iter()
            .filter(|p| p.arch.as_deref().is_some_and(|a| a == arch || a == "all"))
            .map(|p| (p.name.clone(), p.key()))
            .collect(),
    }
}

/// Plans every selected image of the fleet: loads each (base,
/// architecture) universe once, then resolves the images in parallel.
pub fn plan_fleet(
    config: &FleetConfig,
    store: &Store,
    options: &PlanOptions<'_>,
) -> Result<FleetPlan, PlanError> {
    let (manifests, errors) = manifest::load_all(config);
    let errors = errors
        .iter()
        .map(|e: &ManifestError| ManifestProblem {
            manifest: e.path().map(PathBuf::from).unwrap_or_default(),
            error: e.to_string(),
        })
        .collect();
    let selected: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| options.image.is_none_or(|f| f(&m.image)))
        .filter(|m| options.only.is_none_or(|o| o.contains_key(&m.image)))
        .collect();
    let keys: BTreeSet<(String, String)> = selected
        .iter()
        .filter(|m| config.bases.contains_key(&m.base))
        .map(|m| (m.base.clone(), image_architecture(config, m)))
        .collect();
    let txn = store.read()?;
    let tables = Tables::load_in(store, &txn, config, &keys)?;
    // One (base, architecture) at a time: its universe is loaded once,
    // its images resolved in parallel, then it is dropped.
    let mut images: Vec<ImagePlan> = Vec::with_capacity(selected.len());
    for (base, arch) in &keys {
        let on_key: Vec<&&Manifest> = selected
            .iter()
            .filter(|m| &m.base == base && &image_architecture(config, m) == arch)
            .collect();
        match tables.get(base, arch) {
            Some((table, sources)) if !sources.suites.is_empty() => {
                let u = load_universe(store, &txn, base, arch, &sources.indexes)?;
                let policy = TablePolicy(table);
                images.par_extend(on_key.par_iter().map(|m| {
                    let only = options.only.and_then(|o| o.get(&m.image));
                    let mut plan =
                        plan_image_only(m, arch, &u, &policy, options.security_only, only);
                    if !sources.missing.is_empty() {
                        plan.problems.push(format!(
                            "suites not in the store (not mirrored or never synced): {}",
                            sources.missing.join(", ")
                        ));
                    }
                    plan
                }));
            }
            Some((_, sources)) => {
                images.extend(on_key.iter().map(|m| {
                    let mut plan = empty_plan(m, arch);
                    plan.problems.push(format!(
                        "base {base} is not mirrored: none of its suites ({}) is in the store; nothing can be planned",
                        sources.missing.join(", ")
                    ));
                    plan
                }));
            }
            None => {
                images.extend(on_key.iter().map(|m| {
                    let mut plan = empty_plan(m, arch);
                    plan.problems.push(format!(
                        "architecture {arch} is not one of base {base}'s architectures"
                    ));
                    plan
                }));
            }
        }
    }
    // Images on a base fleet.yaml does not define (validated manifests
    // never have one, but the library does not rely on it).
    for m in selected
        .iter()
        .filter(|m| !config.bases.contains_key(&m.base))
    {
        let arch = image_architecture(config, m);
        let mut plan = empty_plan(m, &arch);
        plan.problems.push(format!(
            "unknown base {:?} (not in fleet.yaml `bases`)",
            m.base
        ));
        images.push(plan);
    }
    images.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(FleetPlan { images, errors })
}
