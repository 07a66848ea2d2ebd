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
        let txn = store.read()?;
        Self::load_in(store, &txn, config, keys)
    }

    /// [`Tables::load`] from one read snapshot.
    pub fn load_in(
        store: &Store,
        txn: &redb::ReadTransaction,
        config: &FleetConfig,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<Tables, CheckError> {
        let mut tables = BTreeMap::new();
        for (base, arch) in keys {
            let Some(b) = config.bases.get(base) else {
                continue;
            };
            let spec = base_spec(b);
            let t = table::open_or_build_in(store, txn, &spec, arch)?;
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
/// ([`Manifest::effective_architecture`]; `amd64` when the base is unknown,
/// which is reported separately.)
pub fn image_architecture(config: &FleetConfig, m: &Manifest) -> String {
    m.effective_architecture(config)
        .unwrap_or("amd64")
        .to_string()
}

/// The report entry for a manifest that could not be read, parsed or validated.
fn error_report(e: &ManifestError) -> ImageReport {
    ImageReport {
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
    }
}

/// Fails when any suite was last confirmed longer ago than `max`.
fn check_age(data: &[DataAge], max: std::time::Duration) -> Result<(), CheckError> {
    for d in data {
        if d.age_seconds.is_none_or(|a| a > max.as_secs() as i64) {
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
    Ok(())
}

fn data_age(
    store: &Store,
    txn: &redb::ReadTransaction,
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
    let mut out = Vec::new();
    for key in suites {
        let Some(state) = store.suite_in(txn, &key)? else {
            continue;
        };
        let checked = store.suite_checked_in(txn, &key)?;
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

/// How the parsed-manifest cache did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CacheStats {
    pub manifests: usize,
    pub cache_hits: usize,
    pub parsed: usize,
    pub invalid: usize,
}

/// Which manifests to report on.
#[derive(Default)]
pub struct Selection<'a> {
    /// Keep images whose name this accepts.
    pub image: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
    /// Keep images on this base.
    pub base: Option<&'a str>,
}

impl Selection<'_> {
    fn filtering(&self) -> bool {
        self.image.is_some() || self.base.is_some()
    }
    fn accepts(&self, m: &Manifest) -> bool {
        self.image.is_none_or(|f| f(&m.image)) && self.base.is_none_or(|b| b == m.base)
    }
}

enum Loaded {
    Checked {
        report: Box<ImageReport>,
        image: String,
        path: std::path::PathBuf,
        image_line: usize,
        /// The encoded cache entry when freshly parsed.
        entry: Option<Vec<u8>>,
        hit: bool,
    },
    Skipped {
        path: std::path::PathBuf,
        hit: bool,
        entry: Option<Vec<u8>>,
    },
    Invalid(Vec<ManifestError>),
}

/// The whole fleet check, streaming: every manifest is read, taken from
/// the parsed-manifest cache when unchanged (else parsed and validated),
/// checked and dropped, in parallel, so memory holds reports rather than
/// manifests. Writes the cache back when anything changed.
pub fn check_fleet(
    store: &Store,
    config: &FleetConfig,
    selection: &Selection<'_>,
    options: &CheckOptions,
    now: Timestamp,
) -> Result<(CheckReport, CacheStats), CheckError> {
    use super::manifest::{
        ManifestError, parse_manifest_collecting, read_manifest, validate_against,
    };
    use super::manifest_cache::{self, ManifestCache};
    let cache_path = store.cache_dir().join("manifests.cache");
    let cache = ManifestCache::load(&cache_path);
    let paths = match config.manifest_paths() {
        Ok(p) => p,
        Err(e) => {
            let report = CheckReport {
                generated_at: now.to_string(),
                data: Vec::new(),
                images: vec![error_report(&ManifestError::Listing(e))],
            };
            return Ok((report, CacheStats::default()));
        }
    };
    let mut keys = BTreeSet::new();
    for base in config.bases.values() {
        for arch in &base.architectures {
            keys.insert((base.name.clone(), arch.clone()));
        }
    }
    let txn = store.read()?;
    let tables = Tables::load_in(store, &txn, config, &keys)?;
    let data = data_age(store, &txn, config, &keys, now)?;
    if let Some(max) = options.max_age {
        check_age(&data, max)?;
    }
    let loaded: Vec<Loaded> = paths
        .par_iter()
        .map(|path| {
            let bytes = match read_manifest(path) {
                Ok(b) => b,
                Err(e) => return Loaded::Invalid(vec![e]),
            };
            let hash = crate::deb::hash::Sha256Digest::of(&bytes);
            let (m, hit, entry) = match cache.get(path, &hash) {
                Some(m) => (m, true, None),
                None => {
                    let m = match parse_manifest_collecting(path, &bytes) {
                        Ok(m) => m,
                        Err(e) => return Loaded::Invalid(e),
                    };
                    let problems = validate_against(config, &m);
                    if !problems.is_empty() {
                        return Loaded::Invalid(problems);
                    }
                    let entry = manifest_cache::encode(&m);
                    (m, false, Some(entry))
                }
            };
            if !selection.accepts(&m) {
                return Loaded::Skipped {
                    path: m.path,
                    hit,
                    entry,
                };
            }
            let report = Box::new(check_image(config, &tables, &m, options));
            Loaded::Checked {
                report,
                image: m.image,
                path: m.path,
                image_line: m.positions.image.0,
                entry,
                hit,
            }
        })
        .collect();
    // Sort out reports, errors and the cache entries to keep.
    let mut stats = CacheStats {
        manifests: paths.len(),
        ..Default::default()
    };
    let mut cache_entries: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(loaded.len());
    let mut keep_entry =
        |path: &std::path::Path, hit: bool, entry: Option<Vec<u8>>, stats: &mut CacheStats| {
            if hit {
                stats.cache_hits += 1;
                if let Some(raw) = cache.raw_by_path(path) {
                    cache_entries.push(std::borrow::Cow::Borrowed(raw));
                }
            } else {
                stats.parsed += 1;
                if let Some(e) = entry {
                    cache_entries.push(std::borrow::Cow::Owned(e));
                }
            }
        };
    let mut invalid: Vec<ManifestError> = Vec::new();
    let mut checked = Vec::new();
    for l in loaded {
        match l {
            Loaded::Checked {
                report,
                image,
                path,
                image_line,
                entry,
                hit,
            } => {
                keep_entry(&path, hit, entry, &mut stats);
                checked.push((report, image, path, image_line));
            }
            Loaded::Skipped { path, hit, entry } => keep_entry(&path, hit, entry, &mut stats),
            Loaded::Invalid(e) => {
                stats.invalid += 1;
                invalid.extend(e);
            }
        }
    }
    // Duplicate image names: every copy is left out, each later file
    // reported against the first (in path order).
    let mut by_image: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, image, _, _)) in checked.iter().enumerate() {
        by_image.entry(image.as_str()).or_default().push(i);
    }
    let mut duplicate = vec![false; checked.len()];
    for copies in by_image.values().filter(|c| c.len() > 1) {
        let first = copies[0];
        for &i in copies {
            duplicate[i] = true;
            if i != first {
                invalid.push(ManifestError::DuplicateImage {
                    image: checked[first].1.clone(),
                    first: checked[first].2.clone(),
                    first_line: checked[first].3,
                    second: checked[i].2.clone(),
                    second_line: checked[i].3,
                });
            }
        }
    }
    let mut reports: Vec<ImageReport> = checked
        .into_iter()
        .zip(duplicate)
        .filter(|(_, dup)| !dup)
        .map(|((r, ..), _)| *r)
        .collect();
    if stats.parsed > 0 || cache.len() != stats.cache_hits {
        // A cache that cannot be written (read-only store) only costs speed.
        let _ = manifest_cache::save(&cache_path, cache_entries.iter().map(|c| c.as_ref()));
    }
    if selection.filtering() {
        invalid.clear();
    }
    reports.extend(invalid.iter().map(error_report));
    reports.sort_by(|a, b| a.image.cmp(&b.image).then(a.manifest.cmp(&b.manifest)));
    let report = CheckReport {
        generated_at: now.to_string(),
        data,
        images: reports,
    };
    Ok((report, stats))
}
