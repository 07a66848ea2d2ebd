//! `audit at TIME`: what each stage ran at an instant, with package sets.
//!
//! Reads the stage timeline index (`(stage, image, at, seq) -> build`) in
//! key order, keeping per (stage, image) the last row at or before TIME,
//! then resolves those builds (one journal read each, manifests parsed once
//! per distinct content).

use super::AuditError;
use crate::release::build::BuildReader;
use crate::release::promote::Promotion;
use crate::release::{STAGE_TIMELINE, dberr, fmt_time, open_ro};
use crate::store::Store;
use crate::store::journal;
use jiff::Timestamp;
use redb::ReadableTable;
use serde::Serialize;
use std::collections::BTreeMap;

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
    pub packages: BTreeMap<String, String>,
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
pub fn at(store: &Store, when: Timestamp, stage: Option<&str>) -> Result<AtReport, AuditError> {
    let txn = store.read()?;
    let t = when.as_second();
    // (stage, image) -> (since, promotion seq, build)
    let mut last: BTreeMap<(String, String), (i64, u64, u64)> = BTreeMap::new();
    if let Some(table) = open_ro(&txn, STAGE_TIMELINE)? {
        let rows = match stage {
            Some(s) => table.range((s, "", i64::MIN, 0)..).map_err(dberr)?,
            None => table.iter().map_err(dberr)?,
        };
        for row in rows {
            let (k, v) = row.map_err(dberr)?;
            let (st, image, row_at, seq) = k.value();
            if stage.is_some_and(|s| s != st) {
                break;
            }
            if row_at <= t {
                last.insert(
                    (st.to_string(), image.to_string()),
                    (row_at, seq, v.value()),
                );
            }
        }
    }
    let reader = BuildReader::new(&txn)?;
    let mut snapshots: BTreeMap<u64, String> = BTreeMap::new();
    let mut stages: Vec<StageAt> = Vec::new();
    for ((st, image), (since, seq, build)) in last {
        let body = reader.body(&image, build)?;
        let packages = match &body {
            Some(b) => reader.packages_uncached(&b.manifest_sha256)?,
            None => BTreeMap::new(),
        };
        let snapshot = match snapshots.get(&seq) {
            Some(s) => s.clone(),
            None => {
                let name = journal::get(&txn, seq)?
                    .map(|e| e.body_as::<Promotion>())
                    .transpose()?
                    .map(|p| p.snapshot)
                    .unwrap_or_default();
                snapshots.insert(seq, name.clone());
                name
            }
        };
        let item = ImageAt {
            image,
            build,
            digest: body.as_ref().and_then(|b| b.digest.clone()),
            since: fmt_time(since),
            snapshot,
            manifest_sha256: body.map(|b| b.manifest_sha256).unwrap_or_default(),
            packages,
        };
        match stages.last_mut() {
            Some(s) if s.stage == st => s.images.push(item),
            _ => stages.push(StageAt {
                stage: st,
                images: vec![item],
            }),
        }
    }
    Ok(AtReport {
        at: when.to_string(),
        stages,
    })
}
