//! The CVE fast-track: plan rebuilds of only the images one issue affects
//! (moving only the affected source's binaries, plus what their new
//! versions need), record the plan in the journal, and once fixing builds
//! are recorded, freeze them in an emergency snapshot and promote it stage
//! by stage as an expedited promotion with the CVE as reason.
//!
//! Everything goes through the normal records: the plan is a journal entry
//! of kind [`kinds::FASTTRACK_PLAN`] (body [`PlanBody`]); the snapshot,
//! overrides and promotions are the release layer's own entries, so
//! `audit history` and `audit verify` see them like any other.
//!
//! Whether a build carries the fix is decided by the same matching as
//! `security affected` ([`affected::image_findings`]) over the build's
//! recorded package set.

use super::affected::{self, AffectedError, AffectedStatus, Filter, FixCandidate};
use super::packages::PackageIndex;
use super::tracker::{self, ReleaseEntry, Snapshot, TrackerError};
use crate::fleet::config::{FleetConfig, ReleasePolicy};
use crate::fleet::manifest::load_all;
use crate::fleet::plan::{self, ImagePlan, PlanError, PlanOptions};
use crate::release::build::{self as rbuild, BuildRecord, BuildResult};
use crate::release::promote::{self as rpromote, HeldImage, PromoteOptions, PromotedImage};
use crate::release::{ReleaseError, kinds, snapshot};
use crate::store::Store;
use crate::store::journal::{self, JournalError};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Errors of the fast-track.
#[derive(Debug, thiserror::Error)]
pub enum FasttrackError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Affected(#[from] AffectedError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "no security tracker data in the store: run `debfleet security import FILE` before `security fasttrack`"
    )]
    NoTrackerData,
    #[error("{0:?} is not an issue id (expected e.g. CVE-2026-1234 or TEMP-0000000-ABCDEF)")]
    BadIssueId(String),
    #[error(
        "no fast-track plan is recorded for {0}: run `debfleet security fasttrack {0}` (and build the planned images) first"
    )]
    NoPlan(String),
    #[error("fleet.yaml defines no release stages (`release.stages`), so nothing can be promoted")]
    NoStages,
}

/// One source fix planned for an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFix {
    /// The affected source package.
    pub source: String,
    /// The release codename the tracker was consulted for.
    pub release: String,
    /// The first fixed source version.
    pub fixed_version: String,
    /// The image's installed binaries of that source.
    pub binaries: Vec<String>,
    /// The candidates that carry the fix.
    pub fix_candidates: Vec<FixCandidate>,
}

/// One package change of a fast-track plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMove {
    /// `name` (or `name:arch` for a foreign architecture).
    pub package: String,
    /// The installed version (`None`: newly installed).
    pub from: Option<String>,
    /// The new version (`None`: removed).
    pub to: Option<String>,
}

/// An image the fast-track plans to rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedImage {
    /// The image.
    pub image: String,
    /// Its base.
    pub base: String,
    /// Its architecture.
    pub architecture: String,
    /// The fixes (one per affected source).
    pub fixes: Vec<SourceFix>,
    /// The package changes of the plan.
    pub changes: Vec<PackageMove>,
}

/// An affected image the fast-track cannot plan (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingFix {
    /// The image.
    pub image: String,
    /// The affected source.
    pub source: String,
    /// Why it is not planned (`affected-unfixed`, `affected-fix-not-yet-mirrored`).
    pub status: AffectedStatus,
    /// The tracker's fixed version, if any.
    pub fixed_version: Option<String>,
}

/// The journal body of a fast-track plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanBody {
    /// The issue.
    pub cve: String,
    /// The planned images.
    pub images: Vec<PlannedImage>,
    /// Free text given with `--reason`.
    pub reason: Option<String>,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, Serialize)]
pub struct FasttrackPlan {
    /// The issue.
    pub cve: String,
    /// Images planned (fix available in the mirror).
    pub images: Vec<PlannedImage>,
    /// Affected images whose fix is not installable now.
    pub waiting: Vec<WaitingFix>,
    /// Images whose plan failed (broken package set, base not mirrored).
    pub problems: Vec<String>,
    /// The journal entry recorded, `None` when nothing new was recorded.
    pub seq: Option<u64>,
    /// True when the latest recorded plan of the issue already says the same.
    pub unchanged: bool,
    /// The full per-image plans (for `--write` and `--scripts`).
    #[serde(skip)]
    pub plans: Vec<ImagePlan>,
}

/// A recorded fast-track plan.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedPlan {
    /// Its journal entry.
    pub seq: u64,
    /// When it was recorded (unix seconds).
    pub at: i64,
    /// Who recorded it.
    pub actor: String,
    /// What it planned.
    pub body: PlanBody,
}

fn check_id(cve: &str) -> Result<(), FasttrackError> {
    let ok = !cve.is_empty()
        && cve.len() <= 64
        && cve
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(FasttrackError::BadIssueId(cve.to_string()))
    }
}

/// Every recorded fast-track plan (or those of one issue), oldest first.
pub fn recorded_plans(
    store: &Store,
    cve: Option<&str>,
) -> Result<Vec<RecordedPlan>, FasttrackError> {
    let txn = store.read().map_err(ReleaseError::from)?;
    let mut out = Vec::new();
    for entry in journal::entries_of_kind(&txn, kinds::FASTTRACK_PLAN)? {
        let body: PlanBody = entry.body_as()?;
        if cve.is_some_and(|c| c != body.cve) {
            continue;
        }
        out.push(RecordedPlan {
            seq: entry.seq,
            at: entry.at,
            actor: entry.actor.clone(),
            body,
        });
    }
    Ok(out)
}

/// Plans the fast-track of `cve` over the current manifests and records
/// the plan as a journal entry, unless the latest recorded plan of the
/// issue already has the same images and changes (or nothing is
/// plannable), in which case nothing is recorded.
pub fn plan(
    store: &Store,
    config: &FleetConfig,
    cve: &str,
    reason: Option<&str>,
    actor: &str,
    at: Timestamp,
) -> Result<FasttrackPlan, FasttrackError> {
    check_id(cve)?;
    let releases = affected::fleet_releases(config);
    let snap = tracker::snapshot(store, &releases, None)?;
    if snap.import.is_none() {
        return Err(FasttrackError::NoTrackerData);
    }
    let (manifests, _errors) = load_all(config);
    let filter = Filter {
        issues: [cve.to_string()].into(),
        urgency: None,
    };
    let findings = affected::affected(store, config, &manifests, &snap, &filter)?;
    let mut fixes: BTreeMap<String, Vec<SourceFix>> = BTreeMap::new();
    let mut waiting = Vec::new();
    for image in &findings {
        for c in image.cves.iter().filter(|c| c.id == cve) {
            match (&c.status, &c.fixed_version) {
                (AffectedStatus::FixAvailableInMirror, Some(fixed)) => fixes
                    .entry(image.image.clone())
                    .or_default()
                    .push(SourceFix {
                        source: c.source.clone(),
                        release: image.release.clone(),
                        fixed_version: fixed.clone(),
                        binaries: c.binaries.clone(),
                        fix_candidates: c.fix_candidates.clone(),
                    }),
                _ => waiting.push(WaitingFix {
                    image: image.image.clone(),
                    source: c.source.clone(),
                    status: c.status,
                    fixed_version: c.fixed_version.clone(),
                }),
            }
        }
    }
    let only: BTreeMap<String, BTreeSet<String>> = fixes
        .iter()
        .map(|(image, f)| {
            (
                image.clone(),
                f.iter().flat_map(|f| f.binaries.iter().cloned()).collect(),
            )
        })
        .collect();
    let mut images = Vec::new();
    let mut problems = Vec::new();
    let mut plans = Vec::new();
    if !only.is_empty() {
        let fleet_plan = plan::plan_fleet(
            config,
            store,
            &PlanOptions {
                image: None,
                security_only: false,
                only: Some(&only),
            },
        )?;
        for p in fleet_plan.images {
            if p.broken || !p.has_changes() {
                let why = if p.problems.is_empty() {
                    "the plan moves nothing".to_string()
                } else {
                    p.problems.join("; ")
                };
                problems.push(format!("{}: not planned: {why}", p.image));
                continue;
            }
            let mut changes: Vec<PackageMove> = p
                .upgrade
                .iter()
                .map(|u| PackageMove {
                    package: u.package.clone(),
                    from: Some(u.from.clone()),
                    to: Some(u.version.clone()),
                })
                .chain(p.install.iter().map(|i| PackageMove {
                    package: i.package.clone(),
                    from: None,
                    to: Some(i.version.clone()),
                }))
                .chain(p.remove.iter().map(|r| PackageMove {
                    package: r.package.clone(),
                    from: p.installed.get(&r.package).cloned(),
                    to: None,
                }))
                .collect();
            changes.sort_by(|a, b| a.package.cmp(&b.package));
            images.push(PlannedImage {
                image: p.image.clone(),
                base: p.base.clone(),
                architecture: p.architecture.clone(),
                fixes: fixes.get(&p.image).cloned().unwrap_or_default(),
                changes,
            });
            plans.push(p);
        }
        for e in &fleet_plan.errors {
            problems.push(e.error.clone());
        }
    }
    let latest = recorded_plans(store, Some(cve))?.pop();
    let unchanged = latest.as_ref().is_some_and(|l| l.body.images == images);
    let mut seq = None;
    if !unchanged && !images.is_empty() {
        let txn = journal::begin_write(store)?;
        let body = PlanBody {
            cve: cve.to_string(),
            images: images.clone(),
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        };
        seq = Some(journal::append_json(
            &txn,
            kinds::FASTTRACK_PLAN,
            actor,
            at,
            &body,
        )?);
        txn.commit().map_err(crate::release::dberr)?;
    }
    Ok(FasttrackPlan {
        cve: cve.to_string(),
        images,
        waiting,
        problems,
        seq,
        unchanged,
        plans,
    })
}

/// Whether `build`'s recorded package set carries `fix` of `cve`: the
/// matching of `security affected` over that package set no longer reports
/// the issue for the source. A build on a base the fleet no longer
/// defines is not considered fixed.
pub fn build_carries_fix(
    store: &Store,
    config: &FleetConfig,
    build: &BuildRecord,
    cve: &str,
    fix: &SourceFix,
) -> Result<bool, FasttrackError> {
    let Some(base) = config.bases.get(&build.base) else {
        return Ok(false);
    };
    let index =
        PackageIndex::open(store, base, &build.architecture).map_err(AffectedError::from)?;
    let release = affected::release_codename(base);
    let mut snap = Snapshot::default();
    snap.entries
        .entry(fix.source.clone())
        .or_default()
        .entry(release)
        .or_default()
        .insert(
            cve.to_string(),
            ReleaseEntry {
                status: "resolved".into(),
                fixed_version: Some(fix.fixed_version.clone()),
                ..Default::default()
            },
        );
    let m = affected::manifest_of_build(build);
    let filter = Filter {
        issues: [cve.to_string()].into(),
        urgency: None,
    };
    let found =
        affected::image_findings(&m, base, &build.architecture, &index, None, &snap, &filter)?;
    Ok(!found
        .cves
        .iter()
        .any(|c| c.id == cve && c.source == fix.source))
}

/// Per image of an issue's fast-track: the first plan that listed it and
/// the fixes of the latest plan that listed it.
pub fn planned_images(plans: &[RecordedPlan]) -> BTreeMap<String, (RecordedPlan, Vec<SourceFix>)> {
    let mut out: BTreeMap<String, (RecordedPlan, Vec<SourceFix>)> = BTreeMap::new();
    for p in plans {
        for i in &p.body.images {
            out.entry(i.image.clone())
                .and_modify(|(_, f)| f.clone_from(&i.fixes))
                .or_insert_with(|| (p.clone(), i.fixes.clone()));
        }
    }
    out
}

/// An image whose fixing build is ready for the emergency snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyImage {
    /// The image.
    pub image: String,
    /// Its fixing build.
    pub build: u64,
}

/// A planned image without a fixing build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingImage {
    /// The image.
    pub image: String,
    /// What is missing.
    pub reason: String,
}

/// One stage of the expedited promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageStep {
    /// The stage.
    pub stage: String,
    /// The promotion's journal entry (`None`: nothing switched).
    pub seq: Option<u64>,
    /// Images switched.
    pub promoted: Vec<PromotedImage>,
    /// Images already running the fixing build there.
    pub unchanged: u64,
    /// Images the policy held back, with the reasons.
    pub held: Vec<HeldImage>,
}

/// The outcome of [`promote`].
#[derive(Debug, Clone, Serialize)]
pub struct FasttrackPromotion {
    /// The issue.
    pub cve: String,
    /// The reason recorded on the promotions.
    pub reason: String,
    /// The emergency snapshot (`None`: no image has a fixing build yet).
    pub snapshot: Option<String>,
    /// Whether this run created it (false: an existing one was reused).
    pub snapshot_created: bool,
    /// Images with a fixing build.
    pub ready: Vec<ReadyImage>,
    /// Planned images still without one.
    pub waiting: Vec<WaitingImage>,
    /// The stages promoted, in order, up to the first that held images.
    pub stages: Vec<StageStep>,
    /// The stage where the policy stopped the fast-track, if any.
    pub stopped_at: Option<String>,
    /// Commands that would let a re-run go further.
    pub next: Vec<String>,
    /// True when every planned image runs its fixing build in every stage.
    pub complete: bool,
}

/// The emergency snapshot name prefix of an issue.
pub fn snapshot_prefix(cve: &str) -> String {
    format!("fasttrack-{cve}-")
}

/// Freezes the fixing builds of the issue's fast-tracked images in an
/// emergency snapshot (reusing the latest one of the issue when it holds
/// exactly those builds) and promotes it through every configured stage in
/// order as an expedited promotion with reason `fast-track CVE: reason`,
/// stopping at the first stage where the policy holds images back. All
/// records are written in one transaction.
pub fn promote(
    store: &Store,
    config: &FleetConfig,
    cve: &str,
    reason: Option<&str>,
    actor: &str,
    at: Timestamp,
) -> Result<FasttrackPromotion, FasttrackError> {
    check_id(cve)?;
    if config.release.stages.is_empty() {
        return Err(FasttrackError::NoStages);
    }
    let plans = recorded_plans(store, Some(cve))?;
    if plans.is_empty() {
        return Err(FasttrackError::NoPlan(cve.to_string()));
    }
    let full_reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("fast-track {cve}: {r}"),
        None => match plans.iter().rev().find_map(|p| p.body.reason.clone()) {
            Some(r) => format!("fast-track {cve}: {r}"),
            None => format!("fast-track {cve}"),
        },
    };
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for (image, (first, fixes)) in planned_images(&plans) {
        let latest = rbuild::builds(store, Some(&image))?
            .into_iter()
            .filter(|b| b.result == BuildResult::Ok)
            .max_by_key(|b| b.number);
        let Some(build) = latest.filter(|b| b.seq > first.seq) else {
            waiting.push(WaitingImage {
                reason: format!(
                    "no successful build recorded since the fast-track plan of {}; build it from the planned manifest and run `debfleet build record {image} --manifest PATH`",
                    crate::release::fmt_time(first.at)
                ),
                image,
            });
            continue;
        };
        let mut missing = Vec::new();
        for f in &fixes {
            if !build_carries_fix(store, config, &build, cve, f)? {
                missing.push(format!("{} >= {}", f.source, f.fixed_version));
            }
        }
        if missing.is_empty() {
            ready.push(ReadyImage {
                image,
                build: build.number,
            });
        } else {
            waiting.push(WaitingImage {
                reason: format!(
                    "its latest build #{} does not carry the fix ({} needed); rebuild from the planned manifest",
                    build.number,
                    missing.join(", ")
                ),
                image,
            });
        }
    }
    let mut out = FasttrackPromotion {
        cve: cve.to_string(),
        reason: full_reason.clone(),
        snapshot: None,
        snapshot_created: false,
        ready: ready.clone(),
        waiting,
        stages: Vec::new(),
        stopped_at: None,
        next: Vec::new(),
        complete: false,
    };
    if ready.is_empty() {
        return Ok(out);
    }
    let wanted: BTreeMap<String, u64> = ready.iter().map(|r| (r.image.clone(), r.build)).collect();
    let prefix = snapshot_prefix(cve);
    let mut last: Option<(u64, snapshot::Snapshot)> = None;
    for s in snapshot::list(store)? {
        if let Some(n) = s
            .name
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<u64>().ok())
            && last.as_ref().is_none_or(|(m, _)| n > *m)
        {
            last = Some((n, s));
        }
    }
    let reuse = last.as_ref().is_some_and(|(_, s)| {
        s.images.len() == wanted.len()
            && s.images
                .iter()
                .all(|(i, e)| wanted.get(i) == Some(&e.build))
    });
    let name = match (&last, reuse) {
        (Some((_, s)), true) => s.name.clone(),
        (Some((n, _)), false) => format!("{prefix}{}", n + 1),
        (None, _) => format!("{prefix}1"),
    };
    let txn = journal::begin_write(store)?;
    if !reuse {
        let images: BTreeSet<String> = wanted.keys().cloned().collect();
        snapshot::create_for_images_in(
            &txn,
            config,
            &name,
            &images,
            actor,
            at,
            Some(&full_reason),
        )?;
        out.snapshot_created = true;
    }
    out.snapshot = Some(name.clone());
    for stage in &config.release.stages {
        let outcome = rpromote::promote_in(
            &txn,
            config,
            &name,
            stage,
            PromoteOptions {
                expedite: true,
                reason: Some(full_reason.clone()),
            },
            actor,
            at,
        )?;
        let held = outcome.promotion.held.clone();
        out.stages.push(StageStep {
            stage: stage.clone(),
            seq: outcome.seq,
            promoted: outcome.promotion.promoted,
            unchanged: outcome.promotion.unchanged,
            held: outcome.promotion.held,
        });
        if !held.is_empty() {
            out.stopped_at = Some(stage.clone());
            out.next = next_steps(&config.release, cve, &name, &held);
            break;
        }
    }
    txn.commit().map_err(crate::release::dberr)?;
    out.complete = out.stopped_at.is_none() && out.waiting.is_empty();
    Ok(out)
}

/// What to do about held images: record the missing required suites, or
/// fix what failed.
fn next_steps(
    policy: &ReleasePolicy,
    cve: &str,
    snapshot: &str,
    held: &[HeldImage],
) -> Vec<String> {
    let mut out = BTreeSet::new();
    for h in held {
        for r in &h.reasons {
            let suite = policy
                .expedite
                .required_suites
                .iter()
                .chain(policy.production.required_suites.iter())
                .find(|s| r.contains(&format!("required test suite {s:?}")));
            if let Some(s) = suite {
                out.insert(format!(
                    "run the {s} tests on snapshot {snapshot}, then `debfleet test record {snapshot} --suite {s} --pass` and re-run `debfleet security fasttrack {cve} --promote`"
                ));
            } else {
                out.insert(format!("{}: {r}", h.image));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_ids_are_checked() {
        assert!(check_id("CVE-2026-1234").is_ok());
        assert!(check_id("TEMP-0000000-ABCDEF").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("CVE 1").is_err());
        assert!(check_id("../x").is_err());
    }

    fn plan_at(seq: u64, images: &[(&str, &str)]) -> RecordedPlan {
        RecordedPlan {
            seq,
            at: seq as i64 * 100,
            actor: "a".into(),
            body: PlanBody {
                cve: "CVE-1".into(),
                reason: None,
                images: images
                    .iter()
                    .map(|(i, fixed)| PlannedImage {
                        image: i.to_string(),
                        base: "b".into(),
                        architecture: "amd64".into(),
                        fixes: vec![SourceFix {
                            source: "openssl".into(),
                            release: "bookworm".into(),
                            fixed_version: fixed.to_string(),
                            binaries: vec!["libssl3".into()],
                            fix_candidates: Vec::new(),
                        }],
                        changes: Vec::new(),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn planned_images_keep_the_first_plan_and_the_latest_fixes() {
        let plans = vec![
            plan_at(3, &[("a", "1.1")]),
            plan_at(7, &[("a", "1.2"), ("b", "1.2")]),
        ];
        let p = planned_images(&plans);
        assert_eq!(p.len(), 2);
        assert_eq!(p["a"].0.seq, 3);
        assert_eq!(p["a"].1[0].fixed_version, "1.2");
        assert_eq!(p["b"].0.seq, 7);
    }

    #[test]
    fn held_images_get_a_test_record_hint() {
        let policy = ReleasePolicy::default();
        let held = vec![HeldImage {
            image: "web".into(),
            build: 2,
            reasons: vec!["required test suite \"smoke\" has not passed".into()],
        }];
        let next = next_steps(&policy, "CVE-1", "fasttrack-CVE-1-1", &held);
        assert_eq!(next.len(), 1);
        assert!(
            next[0].contains("debfleet test record fasttrack-CVE-1-1 --suite smoke --pass")
                && next[0].contains("debfleet security fasttrack CVE-1 --promote"),
            "{next:?}"
        );
    }
}
