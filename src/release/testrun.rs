//! Test evidence: the result of a test suite run against a snapshot, for
//! one image of it or for all of its images (journal kind `test`).
//!
//! Promotion reads these: a required suite must have passed, and any
//! recorded failure for an image of the snapshot holds that image back (a
//! later pass does not erase a failure; cut a new snapshot instead).

use super::snapshot::{self, materialize};
use super::{
    IMAGE_EVENTS, LOGS, ReleaseError, SNAPSHOT_TESTS, SNAPSHOTS, dberr, kinds, list_for_message,
    open_ro,
};
use crate::deb::hash::Sha256Digest;
use crate::store::Store;
use crate::store::journal;
use jiff::Timestamp;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// A test result to record.
#[derive(Debug, Clone)]
pub struct NewTest {
    /// The snapshot tested.
    pub snapshot: String,
    /// The image tested; `None`: the result applies to every image.
    pub image: Option<String>,
    /// The suite name (`smoke`, `full`, ...).
    pub suite: String,
    /// Passed or failed.
    pub passed: bool,
    /// Free text.
    pub note: Option<String>,
    /// The test log, stored by SHA-256.
    pub log: Option<Vec<u8>>,
}

/// The journal body of a test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TestBody {
    pub snapshot: String,
    pub snapshot_seq: u64,
    pub image: Option<String>,
    pub suite: String,
    pub passed: bool,
    pub note: Option<String>,
    pub log_sha256: Option<String>,
}

/// A recorded test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRecord {
    /// Its journal entry.
    pub seq: u64,
    /// The snapshot.
    pub snapshot: String,
    /// The image, or `None` for all images.
    pub image: Option<String>,
    /// The suite.
    pub suite: String,
    /// Passed or failed.
    pub passed: bool,
    /// Free text.
    pub note: Option<String>,
    /// SHA-256 of the stored log.
    pub log_sha256: Option<String>,
    /// When, RFC 3339.
    pub recorded_at: String,
    /// Who.
    pub actor: String,
}

impl TestRecord {
    /// Whether this result concerns `image`.
    pub fn applies_to(&self, image: &str) -> bool {
        self.image.as_deref().is_none_or(|i| i == image)
    }
}

pub(crate) fn from_entry(entry: &journal::Entry) -> Result<TestRecord, ReleaseError> {
    let b: TestBody = entry.body_as()?;
    Ok(TestRecord {
        seq: entry.seq,
        snapshot: b.snapshot,
        image: b.image,
        suite: b.suite,
        passed: b.passed,
        note: b.note,
        log_sha256: b.log_sha256,
        recorded_at: entry.timestamp().to_string(),
        actor: entry.actor.clone(),
    })
}

/// Records a test result in its own write transaction.
pub fn record(
    store: &Store,
    test: NewTest,
    actor: &str,
    at: Timestamp,
) -> Result<TestRecord, ReleaseError> {
    let txn = journal::begin_write(store)?;
    let r = record_in(&txn, test, actor, at)?;
    txn.commit().map_err(dberr)?;
    Ok(r)
}

/// Records a test result inside `txn`; the snapshot must exist and, when
/// given, the image must be part of it.
pub fn record_in(
    txn: &WriteTransaction,
    test: NewTest,
    actor: &str,
    at: Timestamp,
) -> Result<TestRecord, ReleaseError> {
    if test.suite.trim().is_empty() {
        return Err(ReleaseError::Manifest("--suite must not be empty".into()));
    }
    let snapshot_seq = {
        let t = txn.open_table(SNAPSHOTS).map_err(dberr)?;
        let found = t
            .get(test.snapshot.as_str())
            .map_err(dberr)?
            .map(|v| v.value());
        match found {
            Some(s) => s,
            None => {
                let mut known = Vec::new();
                for row in t.iter().map_err(dberr)? {
                    known.push(row.map_err(dberr)?.0.value().to_string());
                }
                return Err(ReleaseError::UnknownSnapshot {
                    name: test.snapshot,
                    known: list_for_message(&known),
                });
            }
        }
    };
    if let Some(image) = &test.image {
        let snap = materialize(&|s| journal::get_in_write(txn, s), snapshot_seq)?;
        if !snap.images.contains_key(image) {
            return Err(ReleaseError::ImageNotInSnapshot {
                image: image.clone(),
                snapshot: test.snapshot,
                known: list_for_message(&snap.images.keys().collect::<Vec<_>>()),
            });
        }
    }
    let log_sha256 = match &test.log {
        Some(log) => {
            let d = Sha256Digest::of(log);
            let mut logs = txn.open_table(LOGS).map_err(dberr)?;
            logs.insert(d.0.as_slice(), log.as_slice()).map_err(dberr)?;
            Some(d.to_hex())
        }
        None => None,
    };
    let body = TestBody {
        snapshot: test.snapshot.clone(),
        snapshot_seq,
        image: test.image.clone(),
        suite: test.suite.clone(),
        passed: test.passed,
        note: test.note.clone(),
        log_sha256: log_sha256.clone(),
    };
    let seq = journal::append_json(txn, kinds::TEST, actor, at, &body)?;
    {
        let mut t = txn.open_table(SNAPSHOT_TESTS).map_err(dberr)?;
        t.insert(
            (test.snapshot.as_str(), seq),
            test.image.as_deref().unwrap_or(""),
        )
        .map_err(dberr)?;
        if let Some(image) = &test.image {
            let mut ev = txn.open_table(IMAGE_EVENTS).map_err(dberr)?;
            ev.insert((image.as_str(), seq), kinds::TEST)
                .map_err(dberr)?;
        }
    }
    Ok(TestRecord {
        seq,
        snapshot: test.snapshot,
        image: test.image,
        suite: test.suite,
        passed: test.passed,
        note: test.note,
        log_sha256,
        recorded_at: at.to_string(),
        actor: actor.to_string(),
    })
}

/// Every test result recorded for snapshot `name`, oldest first.
pub fn for_snapshot(store: &Store, name: &str) -> Result<Vec<TestRecord>, ReleaseError> {
    let txn = store.read()?;
    snapshot::seq_of(&txn, name)?;
    for_snapshot_in(&txn, name)
}

pub(crate) fn for_snapshot_in(
    txn: &ReadTransaction,
    name: &str,
) -> Result<Vec<TestRecord>, ReleaseError> {
    let Some(t) = open_ro(txn, SNAPSHOT_TESTS)? else {
        return Ok(Vec::new());
    };
    tests_indexed(&t, name, |seq| journal::get(txn, seq))
}

/// Test results of a snapshot inside a write transaction.
pub(crate) fn for_snapshot_in_write(
    txn: &WriteTransaction,
    name: &str,
) -> Result<Vec<TestRecord>, ReleaseError> {
    let t = txn.open_table(SNAPSHOT_TESTS).map_err(dberr)?;
    tests_indexed(&t, name, |seq| journal::get_in_write(txn, seq))
}

/// The test results that `index` (the snapshot-tests table, read or write)
/// lists for snapshot `name`, each read from the journal by `get`.
fn tests_indexed(
    index: &impl ReadableTable<(&'static str, u64), &'static str>,
    name: &str,
    get: impl Fn(u64) -> Result<Option<journal::Entry>, journal::JournalError>,
) -> Result<Vec<TestRecord>, ReleaseError> {
    let mut out = Vec::new();
    for row in index.range((name, 0)..=(name, u64::MAX)).map_err(dberr)? {
        let (k, _) = row.map_err(dberr)?;
        let seq = k.value().1;
        let entry = get(seq)?.ok_or_else(|| ReleaseError::Corrupt {
            seq,
            kind: kinds::TEST.into(),
            message: "indexed test entry is missing from the journal".into(),
        })?;
        out.push(from_entry(&entry)?);
    }
    Ok(out)
}
