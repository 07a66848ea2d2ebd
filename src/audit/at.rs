//! `audit at TIME`: what each stage ran at an instant, with package sets.
//!
//! Reads the stage timeline index (`(stage, image, at, seq) -> build`) in
//! key order, keeping per (stage, image) the last row at or before TIME,
//! then resolves those builds (one journal read each, manifests parsed once
//! per distinct content).

use super::AuditError;
use crate::release::build::{BuildBody, BuildReader};
pub use crate::release::package_set::PackageSet;
use crate::release::promote::Promotion;
use crate::release::{STAGE_TIMELINE, dberr, fmt_time, open_ro};
use crate::store::Store;
use crate::store::journal;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;

/// One image in a stage at the instant.
#[derive(Debug, Clone, Serialize)]
pub struct ImageAt {
    /// The image.
    pub image: String,
    /// The build it ran.
    pub build: u64,
    /// Its digest.
    pub digest: Option<String>,
    /// Since when it ran in the stage.
    pub since: String,
    /// The snapshot it was promoted from.
    pub snapshot: String,
    /// The build's manifest hash.
    pub manifest_sha256: String,
    /// Its package set.
    pub packages: PackageSet,
}

/// One stage at the instant.
#[derive(Debug, Clone, Serialize)]
pub struct StageAt {
    /// The stage.
    pub stage: String,
    /// Its images, by name.
    pub images: Vec<ImageAt>,
}

/// The answer of [`at`].
#[derive(Debug, Clone, Serialize)]
pub struct AtReport {
    /// The instant asked about.
    pub at: String,
    /// Stages (only those that ran something then).
    pub stages: Vec<StageAt>,
}

/// What `stage` (or every stage) ran at `when`.
///
/// Cost grows with the number of (stage, image) pairs, not with history:
/// two B-tree seeks per pair find the last timeline row at or before
/// `when`; builds, journal entries and package sets are then each read
/// once, in key order (distinct builds by `(image, number)`, sets by
/// hash), so that shared builds and neighbouring keys cost one page read.
pub fn at(store: &Store, when: Timestamp, stage: Option<&str>) -> Result<AtReport, AuditError> {
    let txn = store.read()?;
    let last = last_rows(&txn, when.as_second(), stage)?;

    let reader = BuildReader::new(&txn)?;
    // Distinct builds, in BUILDS key order.
    let mut bodies: BTreeMap<(&str, u64), Option<BuildBody>> = BTreeMap::new();
    for ((_, image), row) in &last {
        bodies.insert((image.as_str(), row.build), None);
    }
    for ((image, build), body) in bodies.iter_mut() {
        *body = reader.body(image, *build)?;
    }
    // Distinct package sets, in hash order.
    let mut sets: BTreeMap<&str, PackageSet> = BTreeMap::new();
    for body in bodies.values().flatten() {
        sets.insert(body.manifest_sha256.as_str(), PackageSet::default());
    }
    for (sha, set) in sets.iter_mut() {
        *set = reader.package_set(sha)?;
    }

    let mut snapshots: BTreeMap<u64, String> = BTreeMap::new();
    let mut stages: Vec<StageAt> = Vec::new();
    for ((st, image), row) in &last {
        let body = bodies
            .get(&(image.as_str(), row.build))
            .and_then(Option::as_ref);
        let packages = body
            .and_then(|b| sets.get(b.manifest_sha256.as_str()))
            .cloned()
            .unwrap_or_default();
        let snapshot = match snapshots.get(&row.seq) {
            Some(s) => s.clone(),
            None => {
                let name = journal::get(&txn, row.seq)?
                    .map(|e| e.body_as::<Promotion>())
                    .transpose()?
                    .map(|p| p.snapshot)
                    .unwrap_or_default();
                snapshots.insert(row.seq, name.clone());
                name
            }
        };
        let item = ImageAt {
            image: image.clone(),
            build: row.build,
            digest: body.and_then(|b| b.digest.clone()),
            since: fmt_time(row.since),
            snapshot,
            manifest_sha256: body.map(|b| b.manifest_sha256.clone()).unwrap_or_default(),
            packages,
        };
        match stages.last_mut() {
            Some(s) if &s.stage == st => s.images.push(item),
            _ => stages.push(StageAt {
                stage: st.clone(),
                images: vec![item],
            }),
        }
    }
    Ok(AtReport {
        at: when.to_string(),
        stages,
    })
}

/// The timeline row in force for one (stage, image).
struct InForce {
    since: i64,
    /// The promotion's journal sequence number.
    seq: u64,
    build: u64,
}

/// Per (stage, image) of the timeline (of `stage` only, if given), the last
/// row at or before `t`. Per pair: one seek to the pair's first row, one
/// reverse seek from `(stage, image, t)`; pairs whose first row is after
/// `t` are absent.
fn last_rows(
    txn: &redb::ReadTransaction,
    t: i64,
    stage: Option<&str>,
) -> Result<BTreeMap<(String, String), InForce>, AuditError> {
    let mut last = BTreeMap::new();
    let Some(table) = open_ro(txn, STAGE_TIMELINE)? else {
        return Ok(last);
    };
    let mut from: Bound<(String, String, i64, u64)> = match stage {
        Some(s) => Bound::Included((s.to_string(), String::new(), i64::MIN, 0)),
        None => Bound::Unbounded,
    };
    loop {
        let first = {
            let lower = match &from {
                Bound::Included((a, b, c, d)) => Bound::Included((a.as_str(), b.as_str(), *c, *d)),
                Bound::Excluded((a, b, c, d)) => Bound::Excluded((a.as_str(), b.as_str(), *c, *d)),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut rows = table
                .range::<(&str, &str, i64, u64)>((lower, Bound::Unbounded))
                .map_err(dberr)?;
            match rows.next() {
                Some(row) => {
                    let (k, _) = row.map_err(dberr)?;
                    let (st, image, _, _) = k.value();
                    (st.to_string(), image.to_string())
                }
                None => break,
            }
        };
        let (st, image) = first;
        if stage.is_some_and(|s| s != st) {
            break;
        }
        {
            let mut upto = table
                .range(
                    (st.as_str(), image.as_str(), i64::MIN, 0)
                        ..=(st.as_str(), image.as_str(), t, u64::MAX),
                )
                .map_err(dberr)?;
            if let Some(row) = upto.next_back() {
                let (k, v) = row.map_err(dberr)?;
                let (_, _, since, seq) = k.value();
                last.insert(
                    (st.clone(), image.clone()),
                    InForce {
                        since,
                        seq,
                        build: v.value(),
                    },
                );
            }
        }
        from = Bound::Excluded((st, image, i64::MAX, u64::MAX));
    }
    Ok(last)
}
