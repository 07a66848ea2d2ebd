//! The release train: build records, snapshots, test evidence, promotion
//! through stages, and the stage timeline.
//!
//! Every record is a journal entry ([`crate::store::journal`]), which is the
//! source of truth and the hash chain. The tables below are indexes derived
//! from the journal, written in the same write transaction as the entry
//! they index (so a crash leaves all or nothing) and re-derived by
//! [`replay::check_indexes`] during `audit verify`:
//!
//! | table | key | value |
//! |---|---|---|
//! | `release_manifests` | manifest SHA-256 (32 bytes) | manifest bytes (each distinct content once) |
//! | `release_package_sets` | manifest SHA-256 | its package set, pre-parsed (`key NUL version NUL`...) |
//! | `release_logs` | log SHA-256 (32 bytes) | build or test log bytes |
//! | `release_builds` | (image, build number) | (journal seq, recorded at, result ok) |
//! | `release_pkg_changes` | (package key, image, build number) | version, `""` when removed |
//! | `release_snapshots` | snapshot name | journal seq |
//! | `release_snapshot_tests` | (snapshot name, seq) | image (`""`: all images) |
//! | `release_image_events` | (image, seq) | entry kind (tests and promotions) |
//! | `release_stage_timeline` | (stage, image, at, seq) | build number |
//! | `release_stage_current` | (stage, image) | (build, since, seq) |
//! | `release_stage_snapshot` | stage | seq of the snapshot last promoted |
//!
//! Submodules: [`build`] (issue 5), [`snapshot`], [`testrun`], [`promote`]
//! (stages, policy, status), [`replay`] (index verification).

pub mod build;
pub mod exec;
pub mod package_set;
pub mod promote;
pub mod replay;
pub mod snapshot;
pub mod testrun;

use crate::store::StoreError;
use crate::store::journal::JournalError;
use redb::TableDefinition;

pub(crate) const MANIFESTS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("release_manifests");
/// Manifest SHA-256 -> its package set, pre-parsed (see [`build::encode_package_set`]).
pub(crate) const PACKAGE_SETS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("release_package_sets");
pub(crate) const LOGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("release_logs");
pub(crate) const BUILDS: TableDefinition<(&str, u64), (u64, i64, bool)> =
    TableDefinition::new("release_builds");
pub(crate) const PKG_CHANGES: TableDefinition<(&str, &str, u64), &str> =
    TableDefinition::new("release_pkg_changes");
pub(crate) const SNAPSHOTS: TableDefinition<&str, u64> = TableDefinition::new("release_snapshots");
pub(crate) const SNAPSHOT_TESTS: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("release_snapshot_tests");
pub(crate) const IMAGE_EVENTS: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("release_image_events");
pub(crate) const STAGE_TIMELINE: TableDefinition<(&str, &str, i64, u64), u64> =
    TableDefinition::new("release_stage_timeline");
pub(crate) const STAGE_CURRENT: TableDefinition<(&str, &str), (u64, i64, u64)> =
    TableDefinition::new("release_stage_current");
pub(crate) const STAGE_SNAPSHOT: TableDefinition<&str, u64> =
    TableDefinition::new("release_stage_snapshot");

/// Journal entry kinds written by the release layer.
pub mod kinds {
    /// First sighting of a manifest content.
    pub const MANIFEST_VERSION: &str = "manifest-version";
    /// A build record.
    pub const BUILD: &str = "build";
    /// A snapshot.
    pub const SNAPSHOT: &str = "snapshot";
    /// A test result.
    pub const TEST: &str = "test";
    /// A promotion into a stage.
    pub const PROMOTION: &str = "promotion";
    /// A policy override (expedite, rollback), recorded before its promotion.
    pub const OVERRIDE: &str = "override";
    /// A CVE fast-track plan (written by `crate::security::fasttrack`; the
    /// release layer only reserves the name).
    pub const FASTTRACK_PLAN: &str = "fasttrack-plan";
}

/// Errors of the release layer.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("release database error: {0}")]
    Database(String),
    #[error(
        "no image {image:?} in the fleet's manifests; builds are recorded for images the fleet defines"
    )]
    UnknownImage { image: String },
    #[error("{path}: the manifest is for image {found:?}, not {expected:?}")]
    ManifestImageMismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{0}")]
    Manifest(String),
    #[error(
        "base {base:?}: suite {suite} has not been synced, so the build's index generations are unknown. Run `debfleet sync` first"
    )]
    NotSynced { base: String, suite: String },
    #[error("base {base:?} is not defined in fleet.yaml (bases: {known})")]
    UnknownBase { base: String, known: String },
    #[error(
        "digest {0:?} is not of the form sha256:<64 lowercase hex digits> (as `docker inspect` prints it)"
    )]
    BadDigest(String),
    #[error("no build {image}#{number} (builds of {image}: {known})")]
    UnknownBuild {
        image: String,
        number: u64,
        known: String,
    },
    #[error("{0:?} is not IMAGE#NUMBER (e.g. nginx#12)")]
    BadBuildRef(String),
    #[error("no snapshot named {name:?} (snapshots: {known})")]
    UnknownSnapshot { name: String, known: String },
    #[error("a snapshot named {0:?} already exists; pass --name to choose another name")]
    SnapshotExists(String),
    #[error("{0}")]
    EmptySnapshot(String),
    #[error("bad image glob {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
    #[error("image {image:?} is not part of snapshot {snapshot:?} (its images: {known})")]
    ImageNotInSnapshot {
        image: String,
        snapshot: String,
        known: String,
    },
    #[error("unknown stage {stage:?}; fleet.yaml defines the stages {known}")]
    UnknownStage { stage: String, known: String },
    #[error(
        "promoting snapshot {snapshot:?} to {stage} is a rollback ({stage} already runs the newer snapshot {newer:?}); pass --reason TEXT to record why"
    )]
    RollbackNeedsReason {
        snapshot: String,
        stage: String,
        newer: String,
    },
    #[error("--expedite needs --reason TEXT (e.g. \"CVE-2026-1234 fast-track\")")]
    ExpediteNeedsReason,
    #[error("record {seq} ({kind}) is malformed: {message}")]
    Corrupt {
        seq: u64,
        kind: String,
        message: String,
    },
}

pub(crate) fn dberr(e: impl std::fmt::Display) -> ReleaseError {
    ReleaseError::Database(e.to_string())
}

/// Opens a table for reading, treating a missing table as empty (`None`).
pub(crate) fn open_ro<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, ReleaseError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(dberr(e)),
    }
}

/// Joins names for messages, `(none)` when empty, at most 20 shown.
pub(crate) fn list_for_message<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "(none)".into();
    }
    let mut out: Vec<&str> = names.iter().take(20).map(AsRef::as_ref).collect();
    let more = names.len().saturating_sub(20);
    let mut s = out.join(", ");
    if more > 0 {
        out.clear();
        s.push_str(&format!(", ... ({more} more)"));
    }
    s
}

/// Formats unix seconds as RFC 3339 UTC.
pub fn fmt_time(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}
