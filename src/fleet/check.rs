//! `check`: every manifest against the compiled candidate tables, in
//! parallel, with apt's candidate policy. No network, no redb scans in the
//! hot path: one memory-mapped table per (base, architecture).

use super::config::FleetConfig;
use super::manifest::{Manifest, ManifestError};
use super::sources::base_spec;
use crate::store::table::{self, Candidate, CandidateTable, TableError, TableSources};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Errors that stop a check as a whole (per-image problems are reported per image).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "index data is stale: {suite} was last synced {age} ago (at {checked}), more than --max-age {max_age}. Run `debfleet sync`"
    )]
    Stale {
        suite: String,
        age: String,
        checked: String,
        max_age: String,
    },
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Report only updates that come from a security suite.
    pub security_only: bool,
    /// Data older than this (since the last successful sync) is an error.
    pub max_age: Option<std::time::Duration>,
}

/// An update a rebuild would apply.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Update {
    pub package: String,
    pub installed: String,
    pub candidate: String,
    /// The suite the candidate comes from (`archive/suite`).
    pub suite: String,
    /// True when that suite is a security suite.
    pub security: bool,
}

/// An installed version newer than anything the base offers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ahead {
    pub package: String,
    pub installed: String,
    pub newest: String,
}

/// A package that could not be checked (e.g. a foreign architecture that is
/// not mirrored).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotCheckable {
    pub package: String,
    pub installed: String,
    pub reason: String,
}

/// A held package with an update available.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Held {
    pub package: String,
    pub installed: String,
    pub candidate: String,
}

/// The verdict for one image.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ImageStatus {
    UpToDate,
    Updates,
    SecurityUpdates,
    MissingPackages,
    BaseNotMirrored,
    Error,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::UpToDate => "up-to-date",
            ImageStatus::Updates => "updates",
            ImageStatus::SecurityUpdates => "security-updates",
            ImageStatus::MissingPackages => "missing-packages",
            ImageStatus::BaseNotMirrored => "base-not-mirrored",
            ImageStatus::Error => "error",
        }
    }

    /// Whether the image needs a rebuild or attention.
    pub fn needs_work(self) -> bool {
        self != ImageStatus::UpToDate
    }
}

/// One image's report.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub image: String,
    pub manifest: String,
    pub base: String,
    pub architecture: String,
    pub status: ImageStatus,
    pub updates: Vec<Update>,
    pub missing: Vec<String>,
    pub ahead: Vec<Ahead>,
    pub held: Vec<Held>,
    pub not_checkable: Vec<NotCheckable>,
    pub errors: Vec<String>,
}

/// Age of the data a check used.
#[derive(Debug, Clone, Serialize)]
pub struct DataAge {
    pub suite: String,
    pub generation: u64,
    /// Release `Date`.
    pub release_date: Option<String>,
    /// Last successful sync that confirmed this generation.
    pub checked_at: Option<String>,
    pub age_seconds: Option<i64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub generated_at: String,
    pub data: Vec<DataAge>,
    pub images: Vec<ImageReport>,
}

impl CheckReport {
    /// True when any image reported an error.
    pub fn has_errors(&self) -> bool {
        self.images.iter().any(|i| i.status == ImageStatus::Error)
    }
    /// True when any image has updates.
    pub fn has_updates(&self) -> bool {
        self.images.iter().any(|i| !i.updates.is_empty())
    }
}

/// Tables for every (base, arch) the manifests need.
pub struct Tables {
    tables: BTreeMap<(String, String), (CandidateTable, TableSources)>,
}

impl Tables {
    /// Opens (building when stale) the tables for `keys`.
    pub fn load(
        store: &Store,
        config: &FleetConfig,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<Tables, CheckError> {
        let mut tables = BTreeMap::new();
        for (base, arch) in keys {
            let Some(b) = config.bases.get(base) else {
                continue;
            };
            let spec = base_spec(b);
            let t = table::open_or_build(store, &spec, arch)?;
            tables.insert((base.clone(), arch.clone()), t);
        }
        Ok(Tables { tables })
    }

    /// The table for (base, arch).
    pub fn get(&self, base: &str, arch: &str) -> Option<&(CandidateTable, TableSources)> {
        self.tables.get(&(base.to_string(), arch.to_string()))
    }
}

/// The architecture an image is checked for.
pub fn image_architecture(config: &FleetConfig, m: &Manifest) -> String {
    m.architecture.clone().unwrap_or_else(|| {
        config
            .bases
            .get(&m.base)
            .and_then(|b| b.architectures.first().cloned())
            .unwrap_or_else(|| "amd64".to_string())
    })
}

/// Checks `manifests` (already parsed and validated) against the store.
/// `invalid` are manifests that failed to parse: each becomes an error entry.
pub fn check(
    store: &Store,
    config: &FleetConfig,
    manifests: &[Manifest],
    invalid: &[ManifestError],
    options: &CheckOptions,
    now: Timestamp,
) -> Result<CheckReport, CheckError> {
    let mut keys = BTreeSet::new();
    for m in manifests {
        let Some(base) = config.bases.get(&m.base) else {
            continue;
        };
        keys.insert((m.base.clone(), image_architecture(config, m)));
        for p in &m.packages {
            if let Some(a) = &p.arch
                && base.architectures.contains(a)
            {
                keys.insert((m.base.clone(), a.clone()));
            }
        }
    }
    let tables = Tables::load(store, config, &keys)?;
    let data = data_age(store, config, &keys, now)?;
    if let Some(max) = options.max_age {
        for d in &data {
            let too_old = d.age_seconds.is_none_or(|a| a > max.as_secs() as i64);
            if too_old {
                return Err(CheckError::Stale {
                    suite: d.suite.clone(),
                    age: d.age_seconds.map_or("an unknown time".into(), |a| {
                        format!("{}h{}m", a / 3600, a % 3600 / 60)
                    }),
                    checked: d.checked_at.clone().unwrap_or_else(|| "never".into()),
                    max_age: format!("{}s", max.as_secs()),
                });
            }
        }
    }
    let mut images: Vec<ImageReport> = manifests
        .par_iter()
        .map(|m| check_image(config, &tables, m, options))
        .collect();
    for e in invalid {
        images.push(ImageReport {
            image: String::new(),
            manifest: e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            base: String::new(),
            architecture: String::new(),
            status: ImageStatus::Error,
            updates: Vec::new(),
            missing: Vec::new(),
            ahead: Vec::new(),
            held: Vec::new(),
            not_checkable: Vec::new(),
            errors: vec![e.to_string()],
        });
    }
    images.sort_by(|a, b| a.image.cmp(&b.image).then(a.manifest.cmp(&b.manifest)));
    Ok(CheckReport {
        generated_at: now.to_string(),
        data,
        images,
    })
}

fn data_age(
    store: &Store,
    config: &FleetConfig,
    keys: &BTreeSet<(String, String)>,
    now: Timestamp,
) -> Result<Vec<DataAge>, CheckError> {
    let mut suites = BTreeSet::new();
    for (base, _) in keys {
        if let Some(b) = config.bases.get(base) {
            for r in &b.repositories {
                suites.insert(format!("{}/{}", r.archive, r.suite));
            }
        }
    }
    let txn = store.read()?;
    let mut out = Vec::new();
    for key in suites {
        let Some(state) = store.suite_in(&txn, &key)? else {
            continue;
        };
        let checked = store.suite_checked_in(&txn, &key)?;
        out.push(DataAge {
            suite: key,
            generation: state.generation,
            release_date: state.date.clone(),
            age_seconds: checked.map(|c| now.as_second() - c.as_second()),
            checked_at: checked.map(|c| c.to_string()),
        });
    }
    Ok(out)
}

/// Checks one image.
pub fn check_image(
    config: &FleetConfig,
    tables: &Tables,
    m: &Manifest,
    options: &CheckOptions,
) -> ImageReport {
    let arch = image_architecture(config, m);
    let mut report = ImageReport {
        image: m.image.clone(),
        manifest: m.path.display().to_string(),
        base: m.base.clone(),
        architecture: arch.clone(),
        status: ImageStatus::UpToDate,
        updates: Vec::new(),
        missing: Vec::new(),
        ahead: Vec::new(),
        held: Vec::new(),
        not_checkable: Vec::new(),
        errors: Vec::new(),
    };
    let Some(base) = config.bases.get(&m.base) else {
        report.status = ImageStatus::Error;
        report.errors.push(format!(
            "unknown base {:?} (not in fleet.yaml `bases`)",
            m.base
        ));
        return report;
    };
    let Some((table, sources)) = tables.get(&m.base, &arch) else {
        report.status = ImageStatus::Error;
        report.errors.push(format!(
            "architecture {arch} is not one of base {}'s architectures",
            m.base
        ));
        return report;
    };
    if sources.suites.is_empty() {
        report.status = ImageStatus::BaseNotMirrored;
        report.errors.push(format!(
            "none of base {}'s suites ({}) is in the store: not mirrored or never synced",
            m.base,
            sources.missing.join(", ")
        ));
        return report;
    }
    for p in &m.packages {
        let table = match &p.arch {
            Some(a) if a != &arch && a != "all" => {
                match base
                    .architectures
                    .contains(a)
                    .then(|| tables.get(&m.base, a))
                    .flatten()
                {
                    Some((t, _)) => t,
                    None => {
                        report.not_checkable.push(NotCheckable {
                            package: format!("{}:{a}", p.name),
                            installed: p.version.clone(),
                            reason: format!("architecture {a} is not mirrored for base {}", m.base),
                        });
                        continue;
                    }
                }
            }
            _ => table,
        };
        let display_name = match &p.arch {
            Some(a) if a != &arch && a != "all" => format!("{}:{a}", p.name),
            _ => p.name.clone(),
        };
        match table.candidate(&p.name, &p.version) {
            Candidate::Missing => report.missing.push(display_name),
            Candidate::Current => {}
            Candidate::Ahead => {
                let newest = table
                    .versions(&p.name)
                    .first()
                    .map(|v| v.version.to_string())
                    .unwrap_or_default();
                report.ahead.push(Ahead {
                    package: display_name,
                    installed: p.version.clone(),
                    newest,
                });
            }
            Candidate::Update(v) => {
                if m.hold.iter().any(|h| h == &p.name || h == &display_name) {
                    report.held.push(Held {
                        package: display_name,
                        installed: p.version.clone(),
                        candidate: v.version.to_string(),
                    });
                    continue;
                }
                let security = table.suite_is_security(v.suite);
                if options.security_only && !security {
                    continue;
                }
                report.updates.push(Update {
                    package: display_name,
                    installed: p.version.clone(),
                    candidate: v.version.to_string(),
                    suite: table.suite_name(v.suite).to_string(),
                    security,
                });
            }
        }
    }
    if !sources.missing.is_empty() {
        report.errors.push(format!(
            "suites not in the store (not mirrored or never synced): {}",
            sources.missing.join(", ")
        ));
    }
    report.status = if report.updates.iter().any(|u| u.security) {
        ImageStatus::SecurityUpdates
    } else if !report.updates.is_empty() {
        ImageStatus::Updates
    } else if !report.missing.is_empty() {
        ImageStatus::MissingPackages
    } else {
        ImageStatus::UpToDate
    };
    report
}
