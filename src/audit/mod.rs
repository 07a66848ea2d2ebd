//! The audit trail: verification of the journal's hash chain and of the
//! indexes derived from it, and offline queries over the recorded history.
//!
//! - [`verify`]: recompute the chain and the release indexes, report the
//!   first broken link;
//! - [`at::at`]: which image builds (with which package sets) a stage ran
//!   at an instant;
//! - [`history::history`]: builds, snapshots, tests and promotions of an
//!   image over time;
//! - [`fix_latency::fix_latency`]: time-to-fix per fast-tracked CVE and image;
//! - [`who_had::who_had`]: which images carried a package, in which
//!   versions, for how long;
//! - [`generate`]: a synthetic year of history for benchmarks;
//! - [`sbom`]: CycloneDX and SPDX documents of an image or a recorded build.
//!
//! Every query reads one redb snapshot through the index tables of
//! [`crate::release`], never scanning the whole journal.

pub mod at;
pub mod fix_latency;
pub mod generate;
pub mod history;
pub mod sbom;
pub mod who_had;

use crate::release::ReleaseError;
use crate::release::replay;
use crate::store::journal::{self, BrokenLink, JournalError, VerifyReport};
use crate::store::{Store, StoreError};
use serde::Serialize;

/// Errors of audit queries.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(
        "version constraint {0:?} is not OP VERSION with OP one of << <= = >= >> (e.g. '>= 2.36-9')"
    )]
    BadConstraint(String),
    #[error("no recorded build of image {image:?} (images with builds: {known})")]
    UnknownImage { image: String, known: String },
    #[error("--between: {from} is after {to}")]
    BadRange { from: String, to: String },
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The chain check.
    #[serde(flatten)]
    pub journal: VerifyReport,
    /// Whether the release indexes were re-derived and compared (only when
    /// the chain itself is intact).
    pub indexes_checked: bool,
}

impl AuditReport {
    /// The first broken link, if any.
    pub fn broken(&self) -> Option<&BrokenLink> {
        self.journal.broken.as_ref()
    }
}

/// Verifies the journal's hash chain (modified, deleted, reordered or
/// truncated entries; the kind index; sync generations against the
/// `generations` table), then re-derives every release index from the
/// journal and compares it with the stored tables.
pub fn verify(store: &Store) -> Result<AuditReport, AuditError> {
    let mut report = journal::verify(store)?;
    let mut indexes_checked = false;
    if report.broken.is_none() {
        report.broken = replay::check_indexes(store)?;
        indexes_checked = true;
    }
    Ok(AuditReport {
        journal: report,
        indexes_checked,
    })
}
