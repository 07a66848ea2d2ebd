//! Which images a known issue affects, and whether the fix can be installed
//! from the mirror now.
//!
//! Matching is by **source** package and **per release**: every installed
//! binary is mapped to its source name and source version through the
//! package records of the image's base (`Source: name (version)` included),
//! and the tracker's entry for the base's release codename decides:
//!
//! * `open` / `undetermined` (or `resolved` without a version): affected,
//!   unfixed;
//! * `resolved` with `fixed_version` `"0"`: never affected;
//! * `resolved` with a `fixed_version` newer than the installed source
//!   version: affected. The fix is *available in the mirror* when apt's
//!   candidate of every affected binary of the image is built from a source
//!   version at or above the fix; otherwise it is *not yet mirrored*.
//!
//! Not-affected pairs are not listed. `nodsa`, `nodsa_reason` (`ignored`,
//! `postponed`), `urgency` (including `end-of-life` and the `**` NVD
//! marker) are passed through verbatim.

use super::packages::PackageIndex;
use super::tracker::{ReleaseEntry, Snapshot};
use crate::deb::hash::Sha256Digest;
use crate::deb::version;
use crate::fleet::check::{Tables, image_architecture};
use crate::fleet::config::{Base, FleetConfig};
use crate::fleet::manifest::{Manifest, ManifestPackage, ManifestPositions};
use crate::release::ReleaseError;
use crate::release::build::BuildRecord;
use crate::store::table::{Candidate, CandidateTable, TableError};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Errors while matching.
#[derive(Debug, thiserror::Error)]
pub enum AffectedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Check(#[from] crate::fleet::check::CheckError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(
        "build {image}#{build}, which stage {stage} runs, is missing from the build records (run `debfleet audit verify`)"
    )]
    MissingBuild {
        stage: String,
        image: String,
        build: u64,
    },
}

/// How an image is affected by an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AffectedStatus {
    /// No fixed version in this release yet.
    #[serde(rename = "affected-unfixed")]
    Unfixed,
    /// A candidate in the base's suites carries the fix.
    #[serde(rename = "affected-fix-available-in-mirror")]
    FixAvailableInMirror,
    /// Fixed in the release, but the mirror does not have the fix yet.
    #[serde(rename = "affected-fix-not-yet-mirrored")]
    FixNotYetMirrored,
}

impl AffectedStatus {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AffectedStatus::Unfixed => "affected-unfixed",
            AffectedStatus::FixAvailableInMirror => "affected-fix-available-in-mirror",
            AffectedStatus::FixNotYetMirrored => "affected-fix-not-yet-mirrored",
        }
    }
}

/// A binary update that installs a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FixCandidate {
    pub package: String,
    pub version: String,
    /// `archive/suite` the candidate comes from.
    pub suite: String,
}

/// One (image, issue, source) that is affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CveFinding {
    pub id: String,
    pub source: String,
    /// The lowest source version among the affected binaries.
    pub installed_source_version: String,
    pub status: AffectedStatus,
    pub fixed_version: Option<String>,
    /// True when status is `affected-fix-available-in-mirror`.
    pub fix_installable: bool,
    pub urgency: Option<String>,
    pub nodsa: Option<String>,
    pub nodsa_reason: Option<String>,
    /// The tracker's own status for the release (`open`, `undetermined`, `resolved`).
    pub tracker_status: String,
    /// The installed binaries built from the affected source.
    pub binaries: Vec<String>,
    /// The candidates that carry the fix (when available in the mirror).
    pub fix_candidates: Vec<FixCandidate>,
    /// True when a binary's exact version is not in the store, so its source
    /// version was derived from the binary version (binNMU suffix removed).
    pub source_version_derived: bool,
}

/// The findings for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageFindings {
    pub image: String,
    pub base: String,
    /// The release codename the tracker is consulted for.
    pub release: String,
    pub architecture: String,
    pub cves: Vec<CveFinding>,
    /// Installed binaries that no suite of the base knows (so their source
    /// is unknown and they could not be matched).
    pub unmatched: Vec<String>,
}

/// What to report.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these issue ids (empty: all).
    pub issues: BTreeSet<String>,
    /// Only this urgency (compared without the `**` marker, case-insensitive).
    pub urgency: Option<String>,
}

impl Filter {
    fn keeps(&self, id: &str, entry: &ReleaseEntry) -> bool {
        if !self.issues.is_empty() && !self.issues.contains(id) {
            return false;
        }
        match &self.urgency {
            None => true,
            Some(u) => entry.urgency.as_deref().is_some_and(|e| {
                e.trim_end_matches('*')
                    .trim()
                    .eq_ignore_ascii_case(u.trim())
            }),
        }
    }
}

/// The release codename of a base: its first suite without the
/// `-security`/`-updates`/`-backports`/`/updates` suffix (`bookworm`).
pub fn release_codename(base: &Base) -> String {
    let suite = base
        .repositories
        .first()
        .map(|r| r.suite.as_str())
        .unwrap_or(base.name.as_str());
    codename_of_suite(suite).to_string()
}

/// `bookworm-security` -> `bookworm`, `buster/updates` -> `buster`.
pub fn codename_of_suite(suite: &str) -> &str {
    let s = suite.split('/').next().unwrap_or(suite);
    for suffix in [
        "-security",
        "-updates",
        "-backports-sloppy",
        "-backports",
        "-proposed-updates",
        "-lts",
    ] {
        if let Some(stripped) = s.strip_suffix(suffix) {
            return stripped;
        }
    }
    s
}

/// The release codenames of every base of the fleet.
pub fn fleet_releases(config: &FleetConfig) -> BTreeSet<String> {
    config.bases.values().map(release_codename).collect()
}

/// The manifest a recorded build installed: its image, base, architecture
/// and package set (the build's stored manifest, as a [`Manifest`] without
/// holds or labels). Used to match what a stage runs instead of the
/// current manifests.
pub fn manifest_of_build(build: &BuildRecord) -> Manifest {
    Manifest {
        path: format!("<build {}#{}>", build.image, build.number).into(),
        image: build.image.clone(),
        base: build.base.clone(),
        architecture: Some(build.architecture.clone()),
        packages: build
            .packages
            .iter()
            .map(|(key, version)| {
                let (name, arch) = match key.split_once(':') {
                    Some((n, a)) => (n.to_string(), Some(a.to_string())),
                    None => (key.clone(), None),
                };
                ManifestPackage {
                    name,
                    arch,
                    version: version.clone(),
                    line: 0,
                    column: 0,
                }
            })
            .collect(),
        hold: Vec::new(),
        labels: BTreeMap::new(),
        content_hash: Sha256Digest::from_hex(&build.manifest_sha256)
            .unwrap_or(Sha256Digest([0; 32])),
        positions: ManifestPositions::default(),
    }
}

/// The manifests of the builds `stage` runs now (per the promotion
/// records), ordered by image: what [`affected`] matches for `--stage`.
/// Empty when the stage runs nothing yet.
pub fn stage_manifests(store: &Store, stage: &str) -> Result<Vec<Manifest>, AffectedError> {
    let mut out = Vec::new();
    for running in crate::release::promote::status(store, Some(stage))? {
        let build = crate::release::build::build(store, &running.image, running.build)?
            .ok_or_else(|| AffectedError::MissingBuild {
                stage: stage.to_string(),
                image: running.image.clone(),
                build: running.build,
            })?;
        out.push(manifest_of_build(&build));
    }
    Ok(out)
}

struct Installed {
    binary: String,
    version: String,
    source_version: String,
    derived: bool,
}

/// Matches the images against the tracker snapshot.
pub fn affected(
    store: &Store,
    config: &FleetConfig,
    manifests: &[Manifest],
    snapshot: &Snapshot,
    filter: &Filter,
) -> Result<Vec<ImageFindings>, AffectedError> {
    let keys: BTreeSet<(String, String)> = manifests
        .iter()
        .filter(|m| config.bases.contains_key(&m.base))
        .map(|m| (m.base.clone(), image_architecture(config, m)))
        .collect();
    let tables = Tables::load(store, config, &keys)?;
    let mut out = Vec::new();
    for m in manifests {
        let Some(base) = config.bases.get(&m.base) else {
            continue;
        };
        let arch = image_architecture(config, m);
        let index = PackageIndex::open(store, base, &arch)?;
        let table = tables.get(&m.base, &arch).map(|(t, _)| t);
        out.push(image_findings(
            m, base, &arch, &index, table, snapshot, filter,
        )?);
    }
    Ok(out)
}

/// The findings for one image, given its base's package lookup and
/// candidate table (None when the base is not mirrored).
pub fn image_findings(
    m: &Manifest,
    base: &Base,
    arch: &str,
    index: &PackageIndex<'_>,
    table: Option<&CandidateTable>,
    snapshot: &Snapshot,
    filter: &Filter,
) -> Result<ImageFindings, AffectedError> {
    let release = release_codename(base);
    let mut by_source: BTreeMap<String, Vec<Installed>> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for p in &m.packages {
        if p.arch.as_deref().is_some_and(|a| a != arch && a != "all") {
            // A foreign-architecture package: not in this base's indexes.
            unmatched.push(p.key());
            continue;
        }
        match index.source_of(&p.name, &p.version)? {
            Some((source, source_version, derived)) => {
                by_source.entry(source).or_default().push(Installed {
                    binary: p.name.clone(),
                    version: p.version.clone(),
                    source_version,
                    derived,
                })
            }
            None => unmatched.push(p.key()),
        }
    }
    let mut cves = Vec::new();
    for (source, installed) in &by_source {
        let Some(issues) = snapshot.issues(source, &release) else {
            continue;
        };
        for (id, entry) in issues {
            if !filter.keeps(id, entry) {
                continue;
            }
            if let Some(f) = finding(id, source, entry, installed, index, table)? {
                cves.push(f);
            }
        }
    }
    cves.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.source.cmp(&b.source)));
    Ok(ImageFindings {
        image: m.image.clone(),
        base: m.base.clone(),
        release,
        architecture: arch.to_string(),
        cves,
        unmatched,
    })
}

fn finding(
    id: &str,
    source: &str,
    entry: &ReleaseEntry,
    installed: &[Installed],
    index: &PackageIndex<'_>,
    table: Option<&CandidateTable>,
) -> Result<Option<CveFinding>, AffectedError> {
    let fixed = if entry.status == "resolved" {
        entry.fixed_version.as_deref()
    } else {
        None
    };
    if fixed == Some("0") {
        return Ok(None);
    }
    let affected: Vec<&Installed> = installed
        .iter()
        .filter(|i| fixed.is_none_or(|f| version::compare(&i.source_version, f).is_lt()))
        .collect();
    let Some(lowest) = affected
        .iter()
        .min_by(|a, b| version::compare(&a.source_version, &b.source_version))
    else {
        return Ok(None);
    };
    let mut fix_candidates = Vec::new();
    let status = match fixed {
        None => AffectedStatus::Unfixed,
        Some(f) => {
            let mut all = true;
            for i in &affected {
                match fixing_candidate(i, f, index, table)? {
                    Some(c) => fix_candidates.push(c),
                    None => all = false,
                }
            }
            if all {
                AffectedStatus::FixAvailableInMirror
            } else {
                fix_candidates.clear();
                AffectedStatus::FixNotYetMirrored
            }
        }
    };
    Ok(Some(CveFinding {
        id: id.to_string(),
        source: source.to_string(),
        installed_source_version: lowest.source_version.clone(),
        status,
        fixed_version: entry.fixed_version.clone(),
        fix_installable: status == AffectedStatus::FixAvailableInMirror,
        urgency: entry.urgency.clone(),
        nodsa: entry.nodsa.clone(),
        nodsa_reason: entry.nodsa_reason.clone(),
        tracker_status: entry.status.clone(),
        binaries: affected.iter().map(|i| i.binary.clone()).collect(),
        fix_candidates,
        source_version_derived: affected.iter().any(|i| i.derived),
    }))
}

/// apt's candidate for an installed binary when it is built from a source
/// version at or above `fixed`.
fn fixing_candidate(
    i: &Installed,
    fixed: &str,
    index: &PackageIndex<'_>,
    table: Option<&CandidateTable>,
) -> Result<Option<FixCandidate>, AffectedError> {
    let Some(table) = table else {
        return Ok(None);
    };
    let Candidate::Update(c) = table.candidate(&i.binary, &i.version) else {
        return Ok(None);
    };
    let Some(facts) = index.exact(&i.binary, c.version)? else {
        return Ok(None);
    };
    if version::compare(&facts.source_version, fixed).is_lt() {
        return Ok(None);
    }
    Ok(Some(FixCandidate {
        package: i.binary.clone(),
        version: c.version.to_string(),
        suite: table.suite_name(c.suite).to_string(),
    }))
}

/// Issues an update from `installed` to `candidate` of one binary fixes:
/// those whose fixed source version is above the installed source version
/// and at or below the candidate's. `(source, installed source version,
/// candidate source version)` come from the package records.
pub fn fixed_by_update<'a>(
    issues: &'a BTreeMap<String, ReleaseEntry>,
    installed_source_version: &str,
    candidate_source_version: &str,
) -> Vec<&'a str> {
    issues
        .iter()
        .filter(|(_, e)| e.status == "resolved")
        .filter_map(|(id, e)| {
            let f = e.fixed_version.as_deref()?;
            (f != "0"
                && version::compare(installed_source_version, f).is_lt()
                && version::compare(candidate_source_version, f).is_ge())
            .then_some(id.as_str())
        })
        .collect()
}

/// The known issues an update of one binary (`installed` -> `candidate`)
/// fixes in `release`, compared by source version.
pub fn update_fixes(
    index: &PackageIndex<'_>,
    snapshot: &Snapshot,
    release: &str,
    package: &str,
    installed: &str,
    candidate: &str,
) -> Result<Vec<String>, AffectedError> {
    let Some((source, installed_source_version, _)) = index.source_of(package, installed)? else {
        return Ok(Vec::new());
    };
    let Some(issues) = snapshot.issues(&source, release) else {
        return Ok(Vec::new());
    };
    let candidate_source_version = match index.exact(package, candidate)? {
        Some(f) => f.source_version,
        None => return Ok(Vec::new()),
    };
    Ok(
        fixed_by_update(issues, &installed_source_version, &candidate_source_version)
            .into_iter()
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codenames() {
        assert_eq!(codename_of_suite("bookworm-security"), "bookworm");
        assert_eq!(codename_of_suite("buster/updates"), "buster");
        assert_eq!(codename_of_suite("bookworm-backports"), "bookworm");
        assert_eq!(codename_of_suite("trixie"), "trixie");
    }

    fn entry(status: &str, fixed: Option<&str>, urgency: Option<&str>) -> ReleaseEntry {
        ReleaseEntry {
            status: status.into(),
            fixed_version: fixed.map(Into::into),
            urgency: urgency.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn urgency_filter_ignores_the_nvd_marker() {
        let f = Filter {
            urgency: Some("high".into()),
            ..Default::default()
        };
        assert!(f.keeps("CVE-1", &entry("open", None, Some("high**"))));
        assert!(f.keeps("CVE-1", &entry("open", None, Some("HIGH"))));
        assert!(!f.keeps("CVE-1", &entry("open", None, Some("medium"))));
        assert!(!f.keeps("CVE-1", &entry("open", None, None)));
    }

    #[test]
    fn a_build_becomes_a_manifest_with_its_package_set() {
        let build = BuildRecord {
            image: "web".into(),
            number: 3,
            seq: 9,
            base: "bookworm".into(),
            architecture: "amd64".into(),
            manifest_sha256: "ab".repeat(32),
            generations: BTreeMap::new(),
            digest: None,
            result: crate::release::build::BuildResult::Ok,
            log_sha256: None,
            reason: None,
            recorded_at: "2026-11-27T09:00:00Z".into(),
            actor: "a".into(),
            packages: [
                ("libssl3".to_string(), "3.0.22-1~deb12u2".to_string()),
                ("libc6:i386".to_string(), "2.36-9".to_string()),
            ]
            .into(),
        };
        let m = manifest_of_build(&build);
        assert_eq!((m.image.as_str(), m.base.as_str()), ("web", "bookworm"));
        assert_eq!(m.architecture.as_deref(), Some("amd64"));
        let keys: Vec<(String, &str)> = m
            .packages
            .iter()
            .map(|p| (p.key(), p.version.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("libc6:i386".to_string(), "2.36-9"),
                ("libssl3".to_string(), "3.0.22-1~deb12u2")
            ]
        );
        assert_eq!(m.packages[0].name, "libc6");
        assert_eq!(m.content_hash.to_hex(), "ab".repeat(32));
    }

    #[test]
    fn update_fixes_only_issues_in_its_range() {
        let mut issues = BTreeMap::new();
        issues.insert("A".to_string(), entry("resolved", Some("1.2-1"), None));
        issues.insert("B".to_string(), entry("resolved", Some("1.4-1"), None));
        issues.insert("C".to_string(), entry("resolved", Some("0"), None));
        issues.insert("D".to_string(), entry("open", None, None));
        issues.insert("E".to_string(), entry("resolved", Some("1.0-1"), None));
        assert_eq!(fixed_by_update(&issues, "1.1-1", "1.3-1"), vec!["A"]);
        assert_eq!(fixed_by_update(&issues, "1.1-1", "1.4-1"), vec!["A", "B"]);
    }
}
