//! The metadata records the store keeps as JSON values: suite states,
//! generations and index states. Package stanzas and blobs are stored raw.

use serde::{Deserialize, Serialize};

/// The current state of one mirrored suite (`archive/suite`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SuiteState {
    pub archive: String,
    pub suite: String,
    /// The generation in force.
    pub generation: u64,
    pub inrelease_sha256: String,
    /// Release `Date`, RFC 3339.
    pub date: Option<String>,
    pub valid_until: Option<String>,
    pub codename: Option<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
    /// Index keys (`archive/suite/component/arch`) of this generation.
    pub indexes: Vec<String>,
}

impl SuiteState {
    /// `archive/suite`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.archive, self.suite)
    }

    /// apt's default pin priority for this suite: 500, or 1 for
    /// `NotAutomatic: yes`, or 100 with `ButAutomaticUpgrades: yes` too.
    pub fn priority(&self) -> i16 {
        match (self.not_automatic, self.but_automatic_upgrades) {
            (true, true) => 100,
            (true, false) => 1,
            _ => 500,
        }
    }

    /// Whether this is a security suite (updates here are security updates).
    pub fn is_security(&self) -> bool {
        self.suite.ends_with("-security")
            || self.suite.ends_with("/updates")
            || self
                .label
                .as_deref()
                .is_some_and(|l| l.to_ascii_lowercase().contains("security"))
    }
}

/// One verified sync of one suite. Generations are numbered globally and
/// never change once written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Generation {
    pub id: u64,
    pub archive: String,
    pub suite: String,
    /// The generation this one replaced, if any.
    pub previous: Option<u64>,
    /// When debfleet fetched it (the clock used, RFC 3339).
    pub fetched_at: String,
    /// SHA-256 of the InRelease bytes, which are kept as a blob.
    pub inrelease_sha256: String,
    pub signers: Vec<SignerRecord>,
    pub date: Option<String>,
    pub valid_until: Option<String>,
    /// Accepted although Valid-Until had passed (`--allow-expired`).
    pub accepted_expired: bool,
    /// Accepted although Date went backwards (`--allow-downgrade`).
    pub accepted_downgrade: bool,
    pub indexes: Vec<GenerationIndex>,
}

/// A key that made a good signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignerRecord {
    pub fingerprint: String,
    pub signing_key: String,
    pub user_id: Option<String>,
}

/// One index file as used by a generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GenerationIndex {
    /// `archive/suite/component/arch`.
    pub key: String,
    /// Release path of the uncompressed index (`main/binary-amd64/Packages`).
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Blob holding the verified bytes, and the Release path those bytes
    /// verify against (the original `.xz`, or the uncompressed path when the
    /// blob is zstd of the content, e.g. after pdiff).
    pub blob: String,
    pub blob_path: String,
    /// `unchanged`, `full:xz`, `full:xz:by-hash`, `pdiff:N`.
    pub method: String,
    pub packages: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub bytes_read: u64,
}

/// The current state of one index (`archive/suite/component/arch`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexState {
    /// Small integer used in `packages` keys.
    pub id: u32,
    pub sha256: String,
    pub size: u64,
    pub generation: u64,
    pub packages: u64,
    pub blob: String,
    pub blob_path: String,
    /// The generation that first synced this index, when the index's
    /// first-seen rows are implicit (schema 3): a version present in its
    /// package chunks without a `versions_seen_by_index` row was first seen
    /// in this generation and is still present. `None` for an index synced
    /// before schema 3, where every version seen has a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_generation: Option<u64>,
}
