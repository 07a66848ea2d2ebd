//! `audit history IMAGE`: every build, snapshot membership, test result and
//! promotion of one image, in journal order.
//!
//! Builds come from `release_builds`, tests and promotions from
//! `release_image_events` (both ranges over the image), snapshot
//! membership from one pass over the snapshot deltas, and all-image tests
//! from `release_snapshot_tests` of the snapshots that contain the image.

use super::AuditError;
use crate::release::build::{BuildBody, build_index};
use crate::release::promote::Promotion;
use crate::release::testrun::{TestRecord, from_entry};
use crate::release::{
    IMAGE_EVENTS, SNAPSHOT_TESTS, dberr, kinds, list_for_message, open_ro, snapshot,
};
use crate::store::Store;
use crate::store::journal::{self, Entry};
use serde::Serialize;
use std::collections::BTreeSet;

/// One event in an image's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEvent {
    /// The journal entry.
    pub seq: u64,
    /// When, RFC 3339.
    pub at: String,
    /// `build`, `snapshot`, `test` or `promotion`.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// One line for humans.
    pub summary: String,
    /// The build concerned, when there is one.
    pub build: Option<u64>,
}

/// The history of `image`, oldest first.
pub fn history(store: &Store, image: &str) -> Result<Vec<HistoryEvent>, AuditError> {
    let txn = store.read()?;
    let builds = build_index(&txn, Some(image))?;
    if builds.is_empty() {
        let mut known: Vec<String> = build_index(&txn, None)?
            .into_iter()
            .map(|row| row.image)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        known.sort();
        return Err(AuditError::UnknownImage {
            image: image.to_string(),
            known: list_for_message(&known),
        });
    }
    let get = |seq: u64| -> Result<Entry, AuditError> {
        journal::get(&txn, seq)?.ok_or_else(|| {
            AuditError::Journal(journal::JournalError::Malformed {
                seq,
                message: "indexed entry is missing from the journal".into(),
            })
        })
    };
    let mut out = Vec::new();
    let event = |e: &Entry, summary: String, build: Option<u64>| HistoryEvent {
        seq: e.seq,
        at: e.timestamp().to_string(),
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        summary,
        build,
    };
    for row in &builds {
        let number = row.number;
        let e = get(row.seq)?;
        let b: BuildBody = e.body_as()?;
        let mut s = format!("build #{number} {}", b.result.as_str());
        if let Some(d) = &b.digest {
            s.push_str(&format!(" {d}"));
        }
        s.push_str(&format!(" manifest {}", short(&b.manifest_sha256)));
        if let Some(r) = &b.reason {
            s.push_str(&format!(" ({r})"));
        }
        out.push(event(&e, s, Some(number)));
    }
    if let Some(t) = open_ro(&txn, IMAGE_EVENTS)? {
        for row in t.range((image, 0)..=(image, u64::MAX)).map_err(dberr)? {
            let (k, _) = row.map_err(dberr)?;
            let e = get(k.value().1)?;
            match e.kind.as_str() {
                kinds::TEST => {
                    let r = from_entry(&e)?;
                    out.push(event(&e, test_summary(&r), None));
                }
                kinds::PROMOTION => {
                    let p: Promotion = e.body_as()?;
                    let Some(img) = p.promoted.iter().find(|i| i.image == image) else {
                        continue;
                    };
                    let mut s = format!(
                        "promoted #{} to {} from snapshot {}",
                        img.build, p.stage, p.snapshot
                    );
                    if let Some(prev) = img.previous_build {
                        s.push_str(&format!(" (was #{prev})"));
                    }
                    if p.expedite {
                        s.push_str(" [expedited]");
                    }
                    if p.rollback {
                        s.push_str(" [rollback]");
                    }
                    if let Some(r) = &p.reason {
                        s.push_str(&format!(": {r}"));
                    }
                    out.push(event(&e, s, Some(img.build)));
                }
                _ => {}
            }
        }
    }
    let tests = open_ro(&txn, SNAPSHOT_TESTS)?;
    for (seq, name, build) in snapshot::membership(&txn, image)? {
        let Some(build) = build else {
            continue;
        };
        let e = get(seq)?;
        out.push(event(
            &e,
            format!("in snapshot {name} with build #{build}"),
            Some(build),
        ));
        if let Some(t) = &tests {
            for row in t
                .range((name.as_str(), 0)..=(name.as_str(), u64::MAX))
                .map_err(dberr)?
            {
                let (k, v) = row.map_err(dberr)?;
                if v.value().is_empty() {
                    let e = get(k.value().1)?;
                    let r = from_entry(&e)?;
                    out.push(event(&e, test_summary(&r), Some(build)));
                }
            }
        }
    }
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn test_summary(r: &TestRecord) -> String {
    let mut s = format!(
        "test {} {} on snapshot {}{}",
        r.suite,
        if r.passed { "passed" } else { "FAILED" },
        r.snapshot,
        if r.image.is_none() {
            " (all images)"
        } else {
            ""
        }
    );
    if let Some(n) = &r.note {
        s.push_str(&format!(": {n}"));
    }
    s
}
