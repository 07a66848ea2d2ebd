//! Snapshots: an immutable, named freeze of, for every selected image, its
//! latest successful build (number, manifest hash, digest), plus the index
//! generations in force.
//!
//! Storage grows with what changed, not with the fleet: a snapshot's
//! journal body holds only the image entries that differ from the previous
//! snapshot (`set`) and the images it no longer has (`removed`), plus a
//! reference to that previous snapshot (`parent`). Unchanged image entries
//! are shared; [`materialize`] replays the chain of deltas from the first
//! snapshot (52 small deltas for a year of weekly snapshots).

use super::build::{BuildBody, BuildReader, BuildResult, PackageChange, package_diff};
use super::{ReleaseError, SNAPSHOTS, dberr, kinds, list_for_message, open_ro};
use crate::fleet::config::FleetConfig;
use crate::store::journal::{self, Entry, JournalError};
use crate::store::{SUITES, Store, SuiteState};
use jiff::Timestamp;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One image as frozen in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotImage {
    /// Its build number.
    pub build: u64,
    /// The build's manifest SHA-256.
    pub manifest_sha256: String,
    /// The build's image digest.
    pub digest: Option<String>,
}

/// The journal body of a snapshot: a delta from `parent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub name: String,
    /// The previous snapshot's journal seq (the delta's base).
    pub parent: Option<u64>,
    /// Image entries new or changed since `parent`.
    pub set: BTreeMap<String, SnapshotImage>,
    /// Images of `parent` not in this snapshot.
    pub removed: Vec<String>,
    /// `archive/suite` -> generation in force.
    pub generations: BTreeMap<String, u64>,
    /// The `--image` glob, or the explicit image list (comma-separated) of
    /// [`create_for_images_in`].
    pub selection: Option<String>,
    /// Free text.
    pub reason: Option<String>,
}

/// A snapshot with all its images resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Its unique name.
    pub name: String,
    /// Its journal entry.
    pub seq: u64,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// Who created it.
    pub actor: String,
    /// Why (free text).
    pub reason: Option<String>,
    /// The `--image` glob used, or the explicit image list (comma-separated).
    pub selection: Option<String>,
    /// `archive/suite` -> generation in force.
    pub generations: BTreeMap<String, u64>,
    /// Every image of the snapshot.
    pub images: BTreeMap<String, SnapshotImage>,
    /// How many image entries this snapshot stored (the rest are shared).
    pub stored_entries: usize,
    /// Size of its journal entry in bytes.
    pub stored_bytes: u64,
}

/// Which images a snapshot takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// A glob over image names (`web-*`); `None`: all images with a build.
    pub image_glob: Option<String>,
}

/// The default snapshot name: the ISO week of `at` (UTC), e.g. `2026-W48`.
pub fn default_name(at: Timestamp) -> String {
    let date = jiff::tz::TimeZone::UTC.to_datetime(at).date();
    let week = date.iso_week_date();
    format!("{:04}-W{:02}", week.year(), week.week())
}

fn decode(entry: &Entry) -> Result<SnapshotBody, ReleaseError> {
    Ok(entry.body_as()?)
}

/// Resolves the snapshot stored at `seq` by replaying its delta chain.
/// `get` reads a journal entry (from a read or a write transaction).
pub(crate) fn materialize(
    get: &dyn Fn(u64) -> Result<Option<Entry>, JournalError>,
    seq: u64,
) -> Result<Snapshot, ReleaseError> {
    let mut chain: Vec<(Entry, SnapshotBody)> = Vec::new();
    let mut next = Some(seq);
    while let Some(s) = next {
        let entry = get(s)?.ok_or_else(|| ReleaseError::Corrupt {
            seq: s,
            kind: kinds::SNAPSHOT.into(),
            message: "snapshot entry is missing from the journal".into(),
        })?;
        if entry.kind != kinds::SNAPSHOT {
            return Err(ReleaseError::Corrupt {
                seq: s,
                kind: entry.kind,
                message: "expected a snapshot entry".into(),
            });
        }
        let body = decode(&entry)?;
        if body.parent.is_some_and(|p| p >= s) {
            return Err(ReleaseError::Corrupt {
                seq: s,
                kind: kinds::SNAPSHOT.into(),
                message: "parent snapshot is not older".into(),
            });
        }
        next = body.parent;
        chain.push((entry, body));
    }
    let mut images = BTreeMap::new();
    let mut last = None;
    for (entry, body) in chain.into_iter().rev() {
        apply(&mut images, &body);
        last = Some((entry, body));
    }
    let (entry, body) = last.ok_or_else(|| ReleaseError::Corrupt {
        seq,
        kind: kinds::SNAPSHOT.into(),
        message: "empty snapshot chain".into(),
    })?;
    Ok(to_snapshot(&entry, body, images))
}

fn apply(images: &mut BTreeMap<String, SnapshotImage>, body: &SnapshotBody) {
    for r in &body.removed {
        images.remove(r);
    }
    for (k, v) in &body.set {
        images.insert(k.clone(), v.clone());
    }
}

fn to_snapshot(
    entry: &Entry,
    body: SnapshotBody,
    images: BTreeMap<String, SnapshotImage>,
) -> Snapshot {
    Snapshot {
        name: body.name,
        seq: entry.seq,
        created_at: entry.timestamp().to_string(),
        actor: entry.actor.clone(),
        reason: body.reason,
        selection: body.selection,
        generations: body.generations,
        stored_entries: body.set.len() + body.removed.len(),
        stored_bytes: entry.encode().map(|b| b.len() as u64).unwrap_or(0),
        images,
    }
}

/// Every snapshot, oldest first, resolved in one pass over the chain.
pub fn list(store: &Store) -> Result<Vec<Snapshot>, ReleaseError> {
    let txn = store.read()?;
    list_in(&txn)
}

pub(crate) fn list_in(txn: &ReadTransaction) -> Result<Vec<Snapshot>, ReleaseError> {
    let mut by_seq: BTreeMap<u64, BTreeMap<String, SnapshotImage>> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in journal::entries_of_kind(txn, kinds::SNAPSHOT)? {
        let body = decode(&entry)?;
        let mut images = match body.parent {
            Some(p) => match by_seq.get(&p) {
                Some(i) => i.clone(),
                None => materialize(&|s| journal::get(txn, s), p)?.images,
            },
            None => BTreeMap::new(),
        };
        apply(&mut images, &body);
        by_seq.insert(entry.seq, images.clone());
        out.push(to_snapshot(&entry, body, images));
    }
    Ok(out)
}

/// For every snapshot, oldest first: (seq, name, the image's build in it
/// or `None`). Follows one image through the deltas without resolving the
/// other images.
pub(crate) fn membership(
    txn: &ReadTransaction,
    image: &str,
) -> Result<Vec<(u64, String, Option<u64>)>, ReleaseError> {
    let mut current: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in journal::entries_of_kind(txn, kinds::SNAPSHOT)? {
        let body = decode(&entry)?;
        let mut build = match body.parent {
            Some(p) => match current.get(&p) {
                Some(b) => *b,
                None => materialize(&|s| journal::get(txn, s), p)?
                    .images
                    .get(image)
                    .map(|e| e.build),
            },
            None => None,
        };
        if body.removed.iter().any(|r| r == image) {
            build = None;
        }
        if let Some(e) = body.set.get(image) {
            build = Some(e.build);
        }
        current.insert(entry.seq, build);
        out.push((entry.seq, body.name, build));
    }
    Ok(out)
}

/// The names of all snapshots (for messages).
pub(crate) fn names(txn: &ReadTransaction) -> Result<Vec<String>, ReleaseError> {
    let Some(t) = open_ro(txn, SNAPSHOTS)? else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    for row in t.iter().map_err(dberr)? {
        v.push(row.map_err(dberr)?.0.value().to_string());
    }
    Ok(v)
}

/// The journal seq of snapshot `name`, or an error listing the snapshots.
pub(crate) fn seq_of(txn: &ReadTransaction, name: &str) -> Result<u64, ReleaseError> {
    let found = match open_ro(txn, SNAPSHOTS)? {
        Some(t) => t.get(name).map_err(dberr)?.map(|v| v.value()),
        None => None,
    };
    found.ok_or_else(|| match names(txn) {
        Ok(known) => ReleaseError::UnknownSnapshot {
            name: name.to_string(),
            known: list_for_message(&known),
        },
        Err(e) => e,
    })
}

/// Snapshot `name`.
pub fn show(store: &Store, name: &str) -> Result<Snapshot, ReleaseError> {
    let txn = store.read()?;
    let seq = seq_of(&txn, name)?;
    materialize(&|s| journal::get(&txn, s), seq)
}

/// Creates a snapshot in its own write transaction.
pub fn create(
    store: &Store,
    config: &FleetConfig,
    name: Option<&str>,
    select: &Selection,
    actor: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<Snapshot, ReleaseError> {
    let txn = journal::begin_write(store)?;
    let snapshot = create_in(&txn, config, name, select, actor, at, reason)?;
    txn.commit().map_err(dberr)?;
    Ok(snapshot)
}

/// Creates a snapshot inside `txn`: freezes the latest successful build of
/// every selected image and the generations of the suites the fleet's bases
/// use. Fails when the name is taken or no image has a successful build.
#[allow(clippy::too_many_arguments)]
pub fn create_in(
    txn: &WriteTransaction,
    config: &FleetConfig,
    name: Option<&str>,
    select: &Selection,
    actor: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<Snapshot, ReleaseError> {
    create_selected(txn, config, name, select, None, actor, at, reason)
}

/// Creates, inside `txn`, a snapshot of exactly the listed images (their
/// latest successful builds), e.g. the emergency snapshot of a CVE
/// fast-track. The snapshot's `selection` records the list. Fails when the
/// name is taken, the list is empty, or a listed image has no successful
/// build.
#[allow(clippy::too_many_arguments)]
pub fn create_for_images_in(
    txn: &WriteTransaction,
    config: &FleetConfig,
    name: &str,
    images: &BTreeSet<String>,
    actor: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<Snapshot, ReleaseError> {
    if images.is_empty() {
        return Err(ReleaseError::EmptySnapshot(format!(
            "snapshot {name:?}: no images were listed"
        )));
    }
    let snapshot = create_selected(
        txn,
        config,
        Some(name),
        &Selection::default(),
        Some(images),
        actor,
        at,
        reason,
    )?;
    if let Some(missing) = images.iter().find(|i| !snapshot.images.contains_key(*i)) {
        return Err(ReleaseError::EmptySnapshot(format!(
            "snapshot {name:?}: image {missing:?} has no successful build; record one first (`debfleet build record`)"
        )));
    }
    Ok(snapshot)
}

#[allow(clippy::too_many_arguments)]
fn create_selected(
    txn: &WriteTransaction,
    config: &FleetConfig,
    name: Option<&str>,
    select: &Selection,
    only: Option<&BTreeSet<String>>,
    actor: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<Snapshot, ReleaseError> {
    let name = name.map(str::to_string).unwrap_or_else(|| default_name(at));
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        return Err(ReleaseError::EmptySnapshot(format!(
            "snapshot name {name:?} must be non-empty and without spaces"
        )));
    }
    {
        let t = txn.open_table(SNAPSHOTS).map_err(dberr)?;
        if t.get(name.as_str()).map_err(dberr)?.is_some() {
            return Err(ReleaseError::SnapshotExists(name));
        }
    }
    let matcher = match &select.image_glob {
        Some(g) => Some(
            globset::Glob::new(g)
                .map_err(|e| ReleaseError::BadGlob {
                    glob: g.clone(),
                    message: e.to_string(),
                })?
                .compile_matcher(),
        ),
        None => None,
    };
    // Latest successful build per image.
    let mut latest: BTreeMap<String, u64> = BTreeMap::new();
    {
        let builds = txn.open_table(super::BUILDS).map_err(dberr)?;
        for row in builds.iter().map_err(dberr)? {
            let (k, v) = row.map_err(dberr)?;
            let (image, _) = k.value();
            let (seq, _, ok) = v.value();
            if ok
                && matcher.as_ref().is_none_or(|m| m.is_match(image))
                && only.is_none_or(|o| o.contains(image))
            {
                latest.insert(image.to_string(), seq);
            }
        }
    }
    if latest.is_empty() {
        return Err(ReleaseError::EmptySnapshot(match &select.image_glob {
            Some(g) => format!(
                "no image matching {g:?} has a successful build; record builds first (`debfleet build record`)"
            ),
            None => {
                "no image has a successful build yet; record builds first (`debfleet build record`)"
                    .into()
            }
        }));
    }
    let mut images = BTreeMap::new();
    for (image, seq) in latest {
        let entry = journal::get_in_write(txn, seq)?.ok_or_else(|| ReleaseError::Corrupt {
            seq,
            kind: kinds::BUILD.into(),
            message: "indexed build entry is missing from the journal".into(),
        })?;
        let body: BuildBody = entry.body_as()?;
        debug_assert_eq!(body.result, BuildResult::Ok);
        images.insert(
            image,
            SnapshotImage {
                build: body.number,
                manifest_sha256: body.manifest_sha256,
                digest: body.digest,
            },
        );
    }
    let wanted: BTreeSet<String> = config
        .bases
        .values()
        .flat_map(|b| {
            b.repositories
                .iter()
                .map(|r| format!("{}/{}", r.archive, r.suite))
        })
        .collect();
    let mut generations = BTreeMap::new();
    {
        let suites = txn.open_table(SUITES).map_err(dberr)?;
        for key in &wanted {
            if let Some(v) = suites.get(key.as_str()).map_err(dberr)? {
                let state: SuiteState = serde_json::from_slice(v.value())
                    .map_err(|e| ReleaseError::Manifest(format!("suite state {key}: {e}")))?;
                generations.insert(key.clone(), state.generation);
            }
        }
    }
    let parent = journal::last_of_kind_in_write(txn, kinds::SNAPSHOT)?;
    let base = match parent {
        Some(p) => materialize(&|s| journal::get_in_write(txn, s), p)?.images,
        None => BTreeMap::new(),
    };
    let set: BTreeMap<String, SnapshotImage> = images
        .iter()
        .filter(|(k, v)| base.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed: Vec<String> = base
        .keys()
        .filter(|k| !images.contains_key(*k))
        .cloned()
        .collect();
    let body = SnapshotBody {
        name: name.clone(),
        parent,
        set,
        removed,
        generations,
        selection: match only {
            Some(list) => Some(list.iter().cloned().collect::<Vec<_>>().join(",")),
            None => select.image_glob.clone(),
        },
        reason: reason.map(str::to_string),
    };
    let seq = journal::append_json(txn, kinds::SNAPSHOT, actor, at, &body)?;
    {
        let mut t = txn.open_table(SNAPSHOTS).map_err(dberr)?;
        t.insert(name.as_str(), seq).map_err(dberr)?;
    }
    let entry = journal::get_in_write(txn, seq)?.ok_or_else(|| ReleaseError::Corrupt {
        seq,
        kind: kinds::SNAPSHOT.into(),
        message: "just-written snapshot is missing".into(),
    })?;
    Ok(to_snapshot(&entry, body, images))
}

/// One image rebuilt between two snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct RebuiltImage {
    /// The image.
    pub image: String,
    /// Build in the first snapshot.
    pub from_build: u64,
    /// Build in the second snapshot.
    pub to_build: u64,
    /// Package version changes.
    pub changes: Vec<PackageChange>,
}

/// The difference between two snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotDiff {
    /// The first snapshot.
    pub from: String,
    /// The second snapshot.
    pub to: String,
    /// Images only in `to` (with their build).
    pub added: BTreeMap<String, u64>,
    /// Images only in `from` (with their build).
    pub removed: BTreeMap<String, u64>,
    /// Images in both with a different build.
    pub rebuilt: Vec<RebuiltImage>,
    /// Suites whose generation changed: (from, to).
    pub generations: BTreeMap<String, (Option<u64>, Option<u64>)>,
}

/// Compares snapshot `a` to snapshot `b`.
pub fn diff(store: &Store, a: &str, b: &str) -> Result<SnapshotDiff, ReleaseError> {
    let txn = store.read()?;
    let sa = materialize(&|s| journal::get(&txn, s), seq_of(&txn, a)?)?;
    let sb = materialize(&|s| journal::get(&txn, s), seq_of(&txn, b)?)?;
    let mut reader = BuildReader::new(&txn)?;
    let mut d = SnapshotDiff {
        from: a.to_string(),
        to: b.to_string(),
        added: BTreeMap::new(),
        removed: BTreeMap::new(),
        rebuilt: Vec::new(),
        generations: BTreeMap::new(),
    };
    for (image, e) in &sb.images {
        match sa.images.get(image) {
            None => {
                d.added.insert(image.clone(), e.build);
            }
            Some(old) if old.build != e.build => {
                let before = reader.packages(&old.manifest_sha256)?;
                let after = reader.packages(&e.manifest_sha256)?;
                d.rebuilt.push(RebuiltImage {
                    image: image.clone(),
                    from_build: old.build,
                    to_build: e.build,
                    changes: package_diff(&before, &after),
                });
            }
            Some(_) => {}
        }
    }
    for (image, e) in &sa.images {
        if !sb.images.contains_key(image) {
            d.removed.insert(image.clone(), e.build);
        }
    }
    let suites: BTreeSet<&String> = sa.generations.keys().chain(sb.generations.keys()).collect();
    for s in suites {
        let (x, y) = (
            sa.generations.get(s).copied(),
            sb.generations.get(s).copied(),
        );
        if x != y {
            d.generations.insert(s.clone(), (x, y));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_iso_weeks() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(default_name(t("2026-11-27T12:00:00Z")), "2026-W48");
        // ISO week-numbering years differ from calendar years at the edges.
        assert_eq!(default_name(t("2027-01-01T00:00:00Z")), "2026-W53");
        assert_eq!(default_name(t("2025-12-29T00:00:00Z")), "2026-W01");
    }

    #[test]
    fn deltas_apply_removals_then_changes() {
        let e = |b| SnapshotImage {
            build: b,
            manifest_sha256: String::new(),
            digest: None,
        };
        let mut images: BTreeMap<String, SnapshotImage> =
            [("a".to_string(), e(1)), ("b".to_string(), e(1))].into();
        let body = SnapshotBody {
            name: "x".into(),
            parent: None,
            set: [("b".to_string(), e(2)), ("c".to_string(), e(1))].into(),
            removed: vec!["a".into()],
            generations: BTreeMap::new(),
            selection: None,
            reason: None,
        };
        apply(&mut images, &body);
        let builds: Vec<(&str, u64)> = images.iter().map(|(k, v)| (k.as_str(), v.build)).collect();
        assert_eq!(builds, vec![("b", 2), ("c", 1)]);
    }
}
