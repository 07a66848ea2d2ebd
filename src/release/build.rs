//! Build records (issue 5): an immutable, numbered record per image build
//! with the manifest it produced, the index generations the plan used, the
//! image digest and the result.
//!
//! A build is journal entry kind `build`; its manifest content is stored
//! once per distinct SHA-256 in `release_manifests` and journalled as a
//! `manifest-version` entry the first time it is seen. Build numbers are
//! per image, from 1, and never reused. Nothing here rewrites a record.

use super::package_set::PackageSet;
use super::{
    BUILDS, LOGS, MANIFESTS, PACKAGE_SETS, PKG_CHANGES, ReleaseError, dberr, kinds,
    list_for_message, open_ro,
};
use crate::deb::hash::Sha256Digest;
use crate::fleet::config::FleetConfig;
use crate::fleet::manifest;
use crate::store::journal::{self, Entry};
use crate::store::{SUITES, Store, SuiteState};
use jiff::Timestamp;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Whether a build succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildResult {
    /// The image was built (and may be snapshotted).
    Ok,
    /// The build failed; it is recorded but never snapshotted.
    Failed,
}

impl BuildResult {
    /// `ok` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildResult::Ok => "ok",
            BuildResult::Failed => "failed",
        }
    }
}

/// What a caller supplies to record a build.
#[derive(Debug, Clone)]
pub struct NewBuild {
    /// The image name; must match the manifest's `image`.
    pub image: String,
    /// Where the manifest came from (for messages only).
    pub manifest_path: String,
    /// The manifest bytes as built.
    pub manifest: Vec<u8>,
    /// The image's base (a key of `fleet.yaml` `bases`).
    pub base: String,
    /// The base's suites, `archive/suite`, whose generations are recorded.
    pub base_suites: Vec<String>,
    /// The architecture when the manifest gives none (the base's first).
    pub default_architecture: Option<String>,
    /// The image digest, `sha256:<hex>`.
    pub digest: Option<String>,
    /// The result.
    pub result: BuildResult,
    /// The build log, stored by SHA-256.
    pub log: Option<Vec<u8>>,
    /// Free text, e.g. "CVE-2026-1234 fast-track".
    pub reason: Option<String>,
}

impl NewBuild {
    /// Reads a manifest file and resolves its base against the fleet.
    pub fn from_manifest_file(
        config: &FleetConfig,
        image: &str,
        path: &Path,
    ) -> Result<NewBuild, ReleaseError> {
        let bytes =
            manifest::read_manifest(path).map_err(|e| ReleaseError::Manifest(e.to_string()))?;
        let parsed = manifest::parse_manifest(path, &bytes)
            .map_err(|e| ReleaseError::Manifest(e.to_string()))?;
        let base = config
            .bases
            .get(&parsed.base)
            .ok_or_else(|| ReleaseError::UnknownBase {
                base: parsed.base.clone(),
                known: list_for_message(&config.bases.keys().collect::<Vec<_>>()),
            })?;
        Ok(NewBuild {
            image: image.to_string(),
            manifest_path: path.display().to_string(),
            manifest: bytes,
            base: parsed.base.clone(),
            base_suites: base
                .repositories
                .iter()
                .map(|r| format!("{}/{}", r.archive, r.suite))
                .collect(),
            default_architecture: base.architectures.first().cloned(),
            digest: None,
            result: BuildResult::Ok,
            log: None,
            reason: None,
        })
    }
}

/// The journal body of a build (what the hash chain covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BuildBody {
    pub image: String,
    pub number: u64,
    pub base: String,
    pub architecture: String,
    pub manifest_sha256: String,
    pub generations: BTreeMap<String, u64>,
    pub digest: Option<String>,
    pub result: BuildResult,
    pub log_sha256: Option<String>,
    pub reason: Option<String>,
}

/// The journal body of a first-seen manifest content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestVersionBody {
    pub sha256: String,
    pub image: String,
    pub size: u64,
}

/// A recorded build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRecord {
    /// The image.
    pub image: String,
    /// Build number, per image, from 1.
    pub number: u64,
    /// The journal entry.
    pub seq: u64,
    /// The base.
    pub base: String,
    /// The architecture.
    pub architecture: String,
    /// SHA-256 of the manifest content, hex.
    pub manifest_sha256: String,
    /// `archive/suite` -> generation in force when the build was recorded.
    pub generations: BTreeMap<String, u64>,
    /// The image digest.
    pub digest: Option<String>,
    /// The result.
    pub result: BuildResult,
    /// SHA-256 of the stored log, hex.
    pub log_sha256: Option<String>,
    /// Why (free text).
    pub reason: Option<String>,
    /// When it was recorded, RFC 3339.
    pub recorded_at: String,
    /// Who recorded it.
    pub actor: String,
    /// The installed packages (`name` or `name:arch` -> version).
    pub packages: BTreeMap<String, String>,
}

/// One package difference between two builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    /// `name` or `name:arch`.
    pub package: String,
    /// The version before (`None`: added).
    pub from: Option<String>,
    /// The version after (`None`: removed).
    pub to: Option<String>,
}

/// Differences from `before` to `after`, by package.
pub fn package_diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<PackageChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (before.get(name), after.get(name));
            (a != b).then(|| PackageChange {
                package: name.clone(),
                from: a.cloned(),
                to: b.cloned(),
            })
        })
        .collect()
}

/// Validates an image digest: `sha256:` and 64 lowercase hex digits.
pub fn validate_digest(digest: &str) -> Result<(), ReleaseError> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(ReleaseError::BadDigest(digest.to_string()))
    }
}

/// Parses a stored manifest's package set.
pub(crate) fn parse_packages(
    sha: &str,
    bytes: &[u8],
) -> Result<(manifest::Manifest, BTreeMap<String, String>), ReleaseError> {
    let path = format!("<stored manifest {sha}>");
    let m = manifest::parse_manifest(Path::new(&path), bytes)
        .map_err(|e| ReleaseError::Manifest(e.to_string()))?;
    let packages = m
        .packages
        .iter()
        .map(|p| (p.key(), p.version.clone()))
        .collect();
    Ok((m, packages))
}

/// Encodes a package set as `key NUL version NUL` pairs in key order:
/// decoding it is a split, much cheaper than parsing the manifest again.
pub(crate) fn encode_package_set(packages: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in packages {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Decodes [`encode_package_set`]; `None` when malformed.
pub(crate) fn decode_package_set(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut parts = bytes.split(|b| *b == 0);
    loop {
        let k = parts.next()?;
        if k.is_empty() {
            // The final empty piece after the last NUL (or an empty set).
            return parts.next().is_none().then_some(out);
        }
        let v = parts.next()?;
        out.insert(
            std::str::from_utf8(k).ok()?.to_string(),
            std::str::from_utf8(v).ok()?.to_string(),
        );
    }
}

fn sha_key(hex: &str) -> Result<[u8; 32], ReleaseError> {
    Sha256Digest::from_hex(hex)
        .map(|d| d.0)
        .ok_or_else(|| ReleaseError::Manifest(format!("bad manifest hash {hex:?}")))
}

/// Records a build in its own write transaction (see [`record_build_in`]).
pub fn record_build(
    store: &Store,
    new: NewBuild,
    actor: &str,
    at: Timestamp,
) -> Result<BuildRecord, ReleaseError> {
    let txn = journal::begin_write(store)?;
    let record = record_build_in(&txn, new, actor, at)?;
    txn.commit().map_err(dberr)?;
    Ok(record)
}

/// Records a build inside `txn`: stores the manifest (once per content),
/// journals `manifest-version` (first sighting) and `build`, and updates
/// the build and package-change indexes.
pub fn record_build_in(
    txn: &WriteTransaction,
    new: NewBuild,
    actor: &str,
    at: Timestamp,
) -> Result<BuildRecord, ReleaseError> {
    let (parsed, packages) = {
        let m = manifest::parse_manifest(Path::new(&new.manifest_path), &new.manifest)
            .map_err(|e| ReleaseError::Manifest(e.to_string()))?;
        let p: BTreeMap<String, String> = m
            .packages
            .iter()
            .map(|p| (p.key(), p.version.clone()))
            .collect();
        (m, p)
    };
    if parsed.image != new.image {
        return Err(ReleaseError::ManifestImageMismatch {
            path: new.manifest_path,
            expected: new.image,
            found: parsed.image,
        });
    }
    if parsed.base != new.base {
        return Err(ReleaseError::Manifest(format!(
            "{}: manifest base {:?} differs from the build's base {:?}",
            new.manifest_path, parsed.base, new.base
        )));
    }
    if let Some(d) = &new.digest {
        validate_digest(d)?;
    }
    let architecture = parsed
        .architecture
        .clone()
        .or(new.default_architecture.clone())
        .unwrap_or_else(|| "amd64".into());
    let mut generations = BTreeMap::new();
    {
        let suites = txn.open_table(SUITES).map_err(dberr)?;
        for key in &new.base_suites {
            let state = suites.get(key.as_str()).map_err(dberr)?;
            let Some(state) = state else {
                return Err(ReleaseError::NotSynced {
                    base: new.base.clone(),
                    suite: key.clone(),
                });
            };
            let state: SuiteState = serde_json::from_slice(state.value())
                .map_err(|e| ReleaseError::Manifest(format!("suite state {key}: {e}")))?;
            generations.insert(key.clone(), state.generation);
        }
    }
    let digest = Sha256Digest::of(&new.manifest);
    let sha_hex = digest.to_hex();
    let first_sighting = {
        let mut manifests = txn.open_table(MANIFESTS).map_err(dberr)?;
        let seen = manifests.get(digest.0.as_slice()).map_err(dberr)?.is_some();
        if !seen {
            manifests
                .insert(digest.0.as_slice(), new.manifest.as_slice())
                .map_err(dberr)?;
            let mut sets = txn.open_table(PACKAGE_SETS).map_err(dberr)?;
            sets.insert(
                digest.0.as_slice(),
                encode_package_set(&packages).as_slice(),
            )
            .map_err(dberr)?;
        }
        !seen
    };
    if first_sighting {
        journal::append_json(
            txn,
            kinds::MANIFEST_VERSION,
            actor,
            at,
            &ManifestVersionBody {
                sha256: sha_hex.clone(),
                image: new.image.clone(),
                size: new.manifest.len() as u64,
            },
        )?;
    }
    let log_sha256 = match &new.log {
        Some(log) => {
            let d = Sha256Digest::of(log);
            let mut logs = txn.open_table(LOGS).map_err(dberr)?;
            logs.insert(d.0.as_slice(), log.as_slice()).map_err(dberr)?;
            Some(d.to_hex())
        }
        None => None,
    };
    let (number, previous_manifest) = {
        let builds = txn.open_table(BUILDS).map_err(dberr)?;
        let last = builds
            .range((new.image.as_str(), 0)..=(new.image.as_str(), u64::MAX))
            .map_err(dberr)?
            .next_back()
            .transpose()
            .map_err(dberr)?
            .map(|(k, v)| (k.value().1, v.value().0));
        match last {
            None => (1, None),
            Some((n, seq)) => {
                let entry =
                    journal::get_in_write(txn, seq)?.ok_or_else(|| ReleaseError::Corrupt {
                        seq,
                        kind: kinds::BUILD.into(),
                        message: "indexed build entry is missing from the journal".into(),
                    })?;
                let body: BuildBody = entry.body_as()?;
                (n + 1, Some(body.manifest_sha256))
            }
        }
    };
    let previous_packages = match previous_manifest {
        None => BTreeMap::new(),
        Some(sha) if sha == sha_hex => packages.clone(),
        Some(sha) => {
            let sets = txn.open_table(PACKAGE_SETS).map_err(dberr)?;
            let bytes = sets
                .get(sha_key(&sha)?.as_slice())
                .map_err(dberr)?
                .map(|v| v.value().to_vec())
                .ok_or_else(|| {
                    ReleaseError::Manifest(format!("stored manifest {sha} is missing"))
                })?;
            decode_package_set(&bytes).ok_or_else(|| {
                ReleaseError::Manifest(format!("package set of manifest {sha} is malformed"))
            })?
        }
    };
    let body = BuildBody {
        image: new.image.clone(),
        number,
        base: new.base.clone(),
        architecture: architecture.clone(),
        manifest_sha256: sha_hex.clone(),
        generations: generations.clone(),
        digest: new.digest.clone(),
        result: new.result,
        log_sha256: log_sha256.clone(),
        reason: new.reason.clone(),
    };
    let seq = journal::append_json(txn, kinds::BUILD, actor, at, &body)?;
    {
        let mut builds = txn.open_table(BUILDS).map_err(dberr)?;
        builds
            .insert(
                (new.image.as_str(), number),
                (seq, at.as_second(), new.result == BuildResult::Ok),
            )
            .map_err(dberr)?;
        let mut changes = txn.open_table(PKG_CHANGES).map_err(dberr)?;
        for c in package_diff(&previous_packages, &packages) {
            changes
                .insert(
                    (c.package.as_str(), new.image.as_str(), number),
                    c.to.as_deref().unwrap_or(""),
                )
                .map_err(dberr)?;
        }
    }
    Ok(BuildRecord {
        image: new.image,
        number,
        seq,
        base: new.base,
        architecture,
        manifest_sha256: sha_hex,
        generations,
        digest: new.digest,
        result: new.result,
        log_sha256,
        reason: new.reason,
        recorded_at: at.to_string(),
        actor: actor.to_string(),
        packages,
    })
}

/// The opened `release_builds` table.
type BuildsTable = redb::ReadOnlyTable<(&'static str, u64), (u64, i64, bool)>;

/// Reads builds with a per-call cache of package sets; the tables are
/// opened once per reader.
pub(crate) struct BuildReader {
    builds: Option<BuildsTable>,
    sets: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
    journal: Option<redb::ReadOnlyTable<u64, &'static [u8]>>,
    packages: HashMap<String, BTreeMap<String, String>>,
}

impl BuildReader {
    pub(crate) fn new(txn: &ReadTransaction) -> Result<Self, ReleaseError> {
        Ok(BuildReader {
            builds: open_ro(txn, BUILDS)?,
            sets: open_ro(txn, PACKAGE_SETS)?,
            journal: open_ro(txn, journal::JOURNAL)?,
            packages: HashMap::new(),
        })
    }

    /// The package set of a stored manifest.
    pub(crate) fn packages(&mut self, sha: &str) -> Result<BTreeMap<String, String>, ReleaseError> {
        if let Some(p) = self.packages.get(sha) {
            return Ok(p.clone());
        }
        let packages = self.packages_uncached(sha)?;
        self.packages.insert(sha.to_string(), packages.clone());
        Ok(packages)
    }

    /// The package set of a stored manifest, without caching it.
    fn packages_uncached(&self, sha: &str) -> Result<BTreeMap<String, String>, ReleaseError> {
        self.stored_set(sha, decode_package_set)
    }

    /// The package set of a stored manifest in its packed, shared form.
    pub(crate) fn package_set(&self, sha: &str) -> Result<PackageSet, ReleaseError> {
        self.stored_set(sha, PackageSet::decode)
    }

    /// Reads the stored package set of manifest `sha` and decodes it with
    /// `decode` (`None`: malformed).
    fn stored_set<T>(
        &self,
        sha: &str,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, ReleaseError> {
        let missing = || ReleaseError::Manifest(format!("stored manifest {sha} is missing"));
        let table = self.sets.as_ref().ok_or_else(missing)?;
        let value = table.get(sha_key(sha)?.as_slice()).map_err(dberr)?;
        value
            .map(|v| decode(v.value()))
            .ok_or_else(missing)?
            .ok_or_else(|| {
                ReleaseError::Manifest(format!("package set of manifest {sha} is malformed"))
            })
    }

    fn seq_of(&self, image: &str, number: u64) -> Result<Option<u64>, ReleaseError> {
        let Some(table) = &self.builds else {
            return Ok(None);
        };
        Ok(table
            .get((image, number))
            .map_err(dberr)?
            .map(|v| v.value().0))
    }

    fn entry(&self, seq: u64) -> Result<Entry, ReleaseError> {
        let missing = || ReleaseError::Corrupt {
            seq,
            kind: kinds::BUILD.into(),
            message: "indexed build entry is missing from the journal".into(),
        };
        let table = self.journal.as_ref().ok_or_else(missing)?;
        let value = table.get(seq).map_err(dberr)?.ok_or_else(missing)?;
        Ok(Entry::decode(seq, value.value())?)
    }

    /// The journal body of build `image#number` (no package set).
    pub(crate) fn body(&self, image: &str, number: u64) -> Result<Option<BuildBody>, ReleaseError> {
        match self.seq_of(image, number)? {
            Some(seq) => Ok(Some(self.entry(seq)?.body_as()?)),
            None => Ok(None),
        }
    }

    /// The build stored as journal entry `seq`.
    pub(crate) fn by_seq(&mut self, seq: u64) -> Result<BuildRecord, ReleaseError> {
        let entry = self.entry(seq)?;
        self.record_of(&entry)
    }

    fn record_of(&mut self, entry: &Entry) -> Result<BuildRecord, ReleaseError> {
        let body: BuildBody = entry.body_as()?;
        let packages = self.packages(&body.manifest_sha256)?;
        Ok(BuildRecord {
            image: body.image,
            number: body.number,
            seq: entry.seq,
            base: body.base,
            architecture: body.architecture,
            manifest_sha256: body.manifest_sha256,
            generations: body.generations,
            digest: body.digest,
            result: body.result,
            log_sha256: body.log_sha256,
            reason: body.reason,
            recorded_at: entry.timestamp().to_string(),
            actor: entry.actor.clone(),
            packages,
        })
    }

    /// Build `image#number`.
    pub(crate) fn build(
        &mut self,
        image: &str,
        number: u64,
    ) -> Result<Option<BuildRecord>, ReleaseError> {
        match self.seq_of(image, number)? {
            Some(seq) => self.by_seq(seq).map(Some),
            None => Ok(None),
        }
    }
}

/// One row of the build index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildRow {
    pub image: String,
    pub number: u64,
    pub seq: u64,
    pub at: i64,
    pub ok: bool,
}

/// Every build (or one image's), ordered by image then number.
pub(crate) fn build_index(
    txn: &ReadTransaction,
    image: Option<&str>,
) -> Result<Vec<BuildRow>, ReleaseError> {
    let Some(table) = open_ro(txn, BUILDS)? else {
        return Ok(Vec::new());
    };
    let rows = match image {
        Some(img) => table.range((img, 0)..=(img, u64::MAX)).map_err(dberr)?,
        None => table.iter().map_err(dberr)?,
    };
    let mut out = Vec::new();
    for row in rows {
        let (k, v) = row.map_err(dberr)?;
        let (img, number) = k.value();
        let (seq, at, ok) = v.value();
        out.push(BuildRow {
            image: img.to_string(),
            number,
            seq,
            at,
            ok,
        });
    }
    Ok(out)
}

/// All builds, or those of one image, ordered by image then build number.
pub fn builds(store: &Store, image: Option<&str>) -> Result<Vec<BuildRecord>, ReleaseError> {
    let txn = store.read()?;
    let mut reader = BuildReader::new(&txn)?;
    build_index(&txn, image)?
        .into_iter()
        .map(|row| reader.by_seq(row.seq))
        .collect()
}

/// Build `image#number`, if recorded.
pub fn build(store: &Store, image: &str, number: u64) -> Result<Option<BuildRecord>, ReleaseError> {
    let txn = store.read()?;
    BuildReader::new(&txn)?.build(image, number)
}

/// A build with its package changes from the previous build of the image.
#[derive(Debug, Clone, Serialize)]
pub struct BuildDetail {
    /// The build.
    #[serde(flatten)]
    pub build: BuildRecord,
    /// The previous build's number, if any.
    pub previous: Option<u64>,
    /// Package changes since the previous build (all packages added for the first).
    pub changes: Vec<PackageChange>,
}

/// Build `image#number` with its diff from build `number - 1`; an unknown
/// build is an error listing the image's builds.
pub fn show(store: &Store, image: &str, number: u64) -> Result<BuildDetail, ReleaseError> {
    let txn = store.read()?;
    let mut reader = BuildReader::new(&txn)?;
    let Some(build) = reader.build(image, number)? else {
        let known: Vec<String> = build_index(&txn, Some(image))?
            .iter()
            .map(|row| format!("#{}", row.number))
            .collect();
        return Err(ReleaseError::UnknownBuild {
            image: image.to_string(),
            number,
            known: list_for_message(&known),
        });
    };
    let previous = if number > 1 {
        reader.build(image, number - 1)?
    } else {
        None
    };
    let changes = package_diff(
        &previous
            .as_ref()
            .map(|p| p.packages.clone())
            .unwrap_or_default(),
        &build.packages,
    );
    Ok(BuildDetail {
        build,
        previous: previous.map(|p| p.number),
        changes,
    })
}

/// Parses `IMAGE#N`.
pub fn parse_build_ref(text: &str) -> Result<(String, u64), ReleaseError> {
    let (image, n) = text
        .rsplit_once('#')
        .ok_or_else(|| ReleaseError::BadBuildRef(text.to_string()))?;
    let n: u64 = n
        .parse()
        .map_err(|_| ReleaseError::BadBuildRef(text.to_string()))?;
    if image.is_empty() || n == 0 {
        return Err(ReleaseError::BadBuildRef(text.to_string()));
    }
    Ok((image.to_string(), n))
}

/// Every (package, version, architecture) installed by any recorded build
/// (failed builds included). The architecture is the manifest's
/// `name:arch` qualifier, else the build's architecture (so `Architecture:
/// all` packages appear under the image's architecture).
pub fn referenced_packages(
    store: &Store,
) -> Result<BTreeSet<(String, String, String)>, ReleaseError> {
    let txn = store.read()?;
    let mut reader = BuildReader::new(&txn)?;
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for BuildRow { seq, .. } in build_index(&txn, None)? {
        let entry = journal::get(&txn, seq)?.ok_or_else(|| ReleaseError::Corrupt {
            seq,
            kind: kinds::BUILD.into(),
            message: "indexed build entry is missing from the journal".into(),
        })?;
        let body: BuildBody = entry.body_as()?;
        pairs.insert((body.manifest_sha256, body.architecture));
    }
    let mut out = BTreeSet::new();
    for (sha, arch) in pairs {
        for (key, version) in reader.packages(&sha)? {
            let (name, a) = match key.split_once(':') {
                Some((n, a)) => (n.to_string(), a.to_string()),
                None => (key, arch.clone()),
            };
            out.insert((name, version, a));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn package_diff_reports_changes_additions_and_removals() {
        let a = map(&[("libc6", "2.41-1"), ("openssl", "3.0.1"), ("gone", "1")]);
        let b = map(&[("libc6", "2.41-1"), ("openssl", "3.0.2"), ("new", "2")]);
        let d = package_diff(&a, &b);
        assert_eq!(
            d,
            vec![
                PackageChange {
                    package: "gone".into(),
                    from: Some("1".into()),
                    to: None
                },
                PackageChange {
                    package: "new".into(),
                    from: None,
                    to: Some("2".into())
                },
                PackageChange {
                    package: "openssl".into(),
                    from: Some("3.0.1".into()),
                    to: Some("3.0.2".into())
                },
            ]
        );
        assert!(package_diff(&a, &a).is_empty());
    }

    #[test]
    fn package_sets_round_trip_and_reject_garbage() {
        let m = map(&[("libc6:amd64", "2.41-1"), ("zlib1g", "1:1.3")]);
        assert_eq!(decode_package_set(&encode_package_set(&m)), Some(m));
        assert_eq!(
            decode_package_set(&encode_package_set(&BTreeMap::new())),
            Some(BTreeMap::new())
        );
        assert_eq!(decode_package_set(b"libc6\0"), None);
        assert_eq!(decode_package_set(b"libc6\x002.41\0extra"), None);
    }

    #[test]
    fn digests_and_build_refs_are_validated() {
        assert!(validate_digest(&format!("sha256:{}", "ab".repeat(32))).is_ok());
        assert!(validate_digest(&format!("sha256:{}", "AB".repeat(32))).is_err());
        assert!(validate_digest("sha256:abc").is_err());
        assert!(validate_digest(&"a".repeat(64)).is_err());
        assert_eq!(parse_build_ref("nginx#12").unwrap(), ("nginx".into(), 12));
        assert_eq!(parse_build_ref("a#b#3").unwrap(), ("a#b".into(), 3));
        assert!(parse_build_ref("nginx").is_err());
        assert!(parse_build_ref("nginx#0").is_err());
        assert!(parse_build_ref("#3").is_err());
        assert!(parse_build_ref("nginx#x").is_err());
    }
}
