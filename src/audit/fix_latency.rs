//! `audit fix-latency`: time-to-fix per (issue, image, source) of the CVE
//! fast-track, from the records alone.
//!
//! The steps, each the first time it happened:
//! - **fix known**: the first tracker import whose entry for the image's
//!   release lists the planned fixed version (`security_history`);
//! - **fix mirrored**: the first sync generation whose indexes carried
//!   every fixing candidate of the plan (`versions_seen_by_index`, the generation's
//!   fetch time);
//! - **fix available**: the later of the two;
//! - **planned**: the first fast-track plan that listed the image;
//! - **built**: the first successful build after that plan whose package
//!   set carries the fix ([`fasttrack::build_carries_fix`]);
//! - **testing** / **production**: when the stage before production
//!   (`release.production.requires_stage`) and `production` first ran a
//!   build carrying the fix (`release_stage_timeline`).
//!
//! Durations are in seconds between consecutive steps (and `total` from
//! fix available to production); a missing step makes its durations null.

use crate::fleet::config::FleetConfig;
use crate::release::build::{self as rbuild, BuildResult};
use crate::release::{ReleaseError, STAGE_TIMELINE, dberr, fmt_time, open_ro};
use crate::security::fasttrack::{self, FasttrackError, SourceFix};
use crate::security::tracker::{self, HISTORY, ReleaseEntry, TrackerError};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Errors of the fix-latency query.
#[derive(Debug, thiserror::Error)]
pub enum FixLatencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Fasttrack(#[from] FasttrackError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error("{path}: corrupt security history record {what}: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        what: String,
        message: String,
    },
}

/// Seconds between the steps; `None` when a step is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    /// Fix available -> planned.
    pub plan: Option<i64>,
    /// Planned -> built.
    pub build: Option<i64>,
    /// Built -> in testing.
    pub testing: Option<i64>,
    /// In testing -> in production.
    pub production: Option<i64>,
    /// Fix available -> in production.
    pub total: Option<i64>,
}

/// The time-to-fix of one (issue, image, source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixLatency {
    /// The issue.
    pub cve: String,
    /// The image.
    pub image: String,
    /// The affected source.
    pub source: String,
    /// The release codename.
    pub release: String,
    /// The fixed source version planned for.
    pub fixed_version: String,
    /// First tracker import listing the fix, RFC 3339.
    pub fix_known_at: Option<String>,
    /// First sync generation carrying every fixing candidate, RFC 3339.
    pub fix_mirrored_at: Option<String>,
    /// The later of the two.
    pub fix_available_at: Option<String>,
    /// The first fast-track plan listing the image.
    pub planned_at: Option<String>,
    /// The first successful build carrying the fix.
    pub built_at: Option<String>,
    /// That build's number.
    pub build: Option<u64>,
    /// First time the testing stage ran a build carrying the fix.
    pub testing_at: Option<String>,
    /// First time production ran a build carrying the fix.
    pub production_at: Option<String>,
    /// Seconds between the steps.
    pub durations: Durations,
}

/// The answer of [`fix_latency`].
#[derive(Debug, Clone, Serialize)]
pub struct FixLatencyReport {
    /// One row per (issue, image, source), ordered by issue, image, source.
    pub fixes: Vec<FixLatency>,
}

/// Time-to-fix of every fast-tracked issue (or one).
pub fn fix_latency(
    store: &Store,
    config: &FleetConfig,
    cve: Option<&str>,
) -> Result<FixLatencyReport, FixLatencyError> {
    let plans = fasttrack::recorded_plans(store, cve)?;
    let mut by_cve: BTreeMap<String, Vec<fasttrack::RecordedPlan>> = BTreeMap::new();
    for p in plans {
        by_cve.entry(p.body.cve.clone()).or_default().push(p);
    }
    let imports: BTreeMap<u64, i64> = tracker::imports(store)?
        .into_iter()
        .filter_map(|r| {
            Some((
                r.id,
                r.imported_at.parse::<jiff::Timestamp>().ok()?.as_second(),
            ))
        })
        .collect();
    let testing_stage = config.release.production.requires_stage.clone();
    let mut fixes = Vec::new();
    for (cve, plans) in &by_cve {
        for (image, (first, image_fixes)) in fasttrack::planned_images(plans) {
            let builds: Vec<_> = rbuild::builds(store, Some(&image))?
                .into_iter()
                .filter(|b| b.result == BuildResult::Ok && b.seq > first.seq)
                .collect();
            for fix in &image_fixes {
                let known = known_at(store, &imports, cve, fix)?;
                let mirrored = mirrored_at(store, fix)?;
                let available = match (known, mirrored) {
                    (Some(k), Some(m)) => Some(k.max(m)),
                    _ => None,
                };
                let mut carrying = BTreeSet::new();
                let mut built: Option<(u64, i64)> = None;
                for b in &builds {
                    if fasttrack::build_carries_fix(store, config, b, cve, fix)? {
                        carrying.insert(b.number);
                        if built.is_none() {
                            let at = b
                                .recorded_at
                                .parse::<jiff::Timestamp>()
                                .map(|t| t.as_second())
                                .ok();
                            built = at.map(|t| (b.number, t));
                        }
                    }
                }
                let testing = first_in_stage(store, &testing_stage, &image, &carrying)?;
                let production = first_in_stage(store, "production", &image, &carrying)?;
                let planned = Some(first.at);
                let built_at = built.map(|(_, t)| t);
                let diff = |a: Option<i64>, b: Option<i64>| Some(b? - a?);
                fixes.push(FixLatency {
                    cve: cve.clone(),
                    image: image.clone(),
                    source: fix.source.clone(),
                    release: fix.release.clone(),
                    fixed_version: fix.fixed_version.clone(),
                    fix_known_at: known.map(fmt_time),
                    fix_mirrored_at: mirrored.map(fmt_time),
                    fix_available_at: available.map(fmt_time),
                    planned_at: planned.map(fmt_time),
                    built_at: built_at.map(fmt_time),
                    build: built.map(|(n, _)| n),
                    testing_at: testing.map(fmt_time),
                    production_at: production.map(fmt_time),
                    durations: Durations {
                        plan: diff(available, planned),
                        build: diff(planned, built_at),
                        testing: diff(built_at, testing),
                        production: diff(testing, production),
                        total: diff(available, production),
                    },
                });
            }
        }
    }
    fixes.sort_by(|a, b| (&a.cve, &a.image, &a.source).cmp(&(&b.cve, &b.image, &b.source)));
    Ok(FixLatencyReport { fixes })
}

/// The import time of the first tracker import whose entry for (source,
/// issue, release) is resolved with the planned fixed version.
fn known_at(
    store: &Store,
    imports: &BTreeMap<u64, i64>,
    cve: &str,
    fix: &SourceFix,
) -> Result<Option<i64>, FixLatencyError> {
    let txn = store.read()?;
    let table = match txn.open_table(HISTORY) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(ReleaseError::Database(e.to_string()).into()),
    };
    let (s, c, r) = (fix.source.as_str(), cve, fix.release.as_str());
    for row in table
        .range((s, c, r, 0)..=(s, c, r, u64::MAX))
        .map_err(dberr)?
    {
        let (k, v) = row.map_err(dberr)?;
        let id = k.value().3;
        if v.value().is_empty() {
            continue;
        }
        let entry: ReleaseEntry =
            serde_json::from_slice(v.value()).map_err(|e| FixLatencyError::Corrupt {
                path: store.path().to_path_buf(),
                what: format!("{s} {c} {r} import {id}"),
                message: e.to_string(),
            })?;
        if entry.status == "resolved"
            && entry.fixed_version.as_deref() == Some(fix.fixed_version.as_str())
        {
            return Ok(imports.get(&id).copied());
        }
    }
    Ok(None)
}

/// When every fixing candidate of the plan was first in the mirror: per
/// candidate the earliest generation of its suite that listed it, and the
/// latest of those over the candidates.
fn mirrored_at(store: &Store, fix: &SourceFix) -> Result<Option<i64>, FixLatencyError> {
    if fix.fix_candidates.is_empty() {
        return Ok(None);
    }
    let mut latest: Option<i64> = None;
    for c in &fix.fix_candidates {
        let prefix = format!("{}/", c.suite);
        let first = store
            .version_seen(&c.package, &c.version)?
            .into_iter()
            .filter(|(index, _, _)| index.starts_with(&prefix))
            .map(|(_, first, _)| first)
            .min();
        let Some(generation) = first else {
            return Ok(None);
        };
        let Some(at) = store
            .generation(generation)?
            .and_then(|g| g.fetched_at.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second())
        else {
            return Ok(None);
        };
        latest = Some(latest.map_or(at, |l| l.max(at)));
    }
    Ok(latest)
}

/// When `stage` first ran one of `builds` of `image`.
fn first_in_stage(
    store: &Store,
    stage: &str,
    image: &str,
    builds: &BTreeSet<u64>,
) -> Result<Option<i64>, FixLatencyError> {
    if builds.is_empty() {
        return Ok(None);
    }
    let txn = store.read()?;
    let Some(t) = open_ro(&txn, STAGE_TIMELINE)? else {
        return Ok(None);
    };
    for row in t
        .range((stage, image, i64::MIN, 0)..=(stage, image, i64::MAX, u64::MAX))
        .map_err(dberr)?
    {
        let (k, v) = row.map_err(dberr)?;
        if builds.contains(&v.value()) {
            return Ok(Some(k.value().2));
        }
    }
    Ok(None)
}
