//! Promotion of snapshots through the stages of `fleet.yaml` `release:`,
//! and the stage status.
//!
//! Policy, per image of the snapshot (evaluated at the command's clock):
//! - the first stage has no prerequisite;
//! - any later stage requires the image's build to have entered the previous
//!   stage (for `production`: `production.requires_stage`);
//! - `production` also requires `min_soak` elapsed since that build first
//!   entered the previous stage, and every `production.required_suites`
//!   passed for the image in this snapshot (`--expedite`: no soak, and
//!   `expedite.required_suites` instead);
//! - in every stage, any failed test recorded for the image in this
//!   snapshot holds it back (expedite never skips that).
//!
//! All images that satisfy the policy switch in one write transaction;
//! the rest are reported as held with the reasons. Promoting a snapshot
//! older than the one the stage last received is a rollback and needs a
//! reason; expedites and rollbacks journal an `override` entry before the
//! `promotion` entry.

use super::build::BuildBody;
use super::snapshot::{Snapshot, materialize};
use super::testrun::{TestRecord, for_snapshot_in_write};
use super::{
    BUILDS, IMAGE_EVENTS, ReleaseError, SNAPSHOTS, STAGE_CURRENT, STAGE_SNAPSHOT, STAGE_TIMELINE,
    dberr, fmt_time, kinds, list_for_message, open_ro,
};
use crate::fleet::config::{FleetConfig, ReleasePolicy};
use crate::store::Store;
use crate::store::journal;
use jiff::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of a promotion.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// Skip the soak time (never failed tests); needs a reason.
    pub expedite: bool,
    /// Why; required for expedites and rollbacks.
    pub reason: Option<String>,
}

/// An image switched to a new build in the stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotedImage {
    /// The image.
    pub image: String,
    /// The build it now runs in the stage.
    pub build: u64,
    /// The build it ran before, if any.
    pub previous_build: Option<u64>,
}

/// An image the policy held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldImage {
    /// The image.
    pub image: String,
    /// The snapshot's build of it.
    pub build: u64,
    /// Every unmet requirement.
    pub reasons: Vec<String>,
}

/// The journal body of a promotion (also the result of [`promote`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// The snapshot promoted.
    pub snapshot: String,
    /// Its journal seq.
    pub snapshot_seq: u64,
    /// The target stage.
    pub stage: String,
    /// Whether the soak time was skipped.
    pub expedite: bool,
    /// Whether this rolled the stage back to an older snapshot.
    pub rollback: bool,
    /// Why.
    pub reason: Option<String>,
    /// Images switched.
    pub promoted: Vec<PromotedImage>,
    /// Images already running the snapshot's build in the stage.
    pub unchanged: u64,
    /// Images held back.
    pub held: Vec<HeldImage>,
}

/// The journal body of an override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OverrideBody {
    /// `expedite` or `rollback`.
    pub action: String,
    pub snapshot: String,
    pub stage: String,
    pub reason: String,
    pub images: Vec<String>,
}

/// The outcome of [`promote`]: the promotion and its journal seq (`None`
/// when nothing switched, in which case nothing was recorded).
#[derive(Debug, Clone, Serialize)]
pub struct PromoteOutcome {
    /// The journal entry, if recorded.
    pub seq: Option<u64>,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub promotion: Promotion,
}

/// Checks that `stage` is one of the configured stages.
pub fn check_stage(policy: &ReleasePolicy, stage: &str) -> Result<usize, ReleaseError> {
    policy
        .stages
        .iter()
        .position(|s| s == stage)
        .ok_or_else(|| ReleaseError::UnknownStage {
            stage: stage.to_string(),
            known: list_for_message(&policy.stages),
        })
}

/// Promotes snapshot `snapshot` into `stage` in one write transaction.
pub fn promote(
    store: &Store,
    config: &FleetConfig,
    snapshot: &str,
    stage: &str,
    options: PromoteOptions,
    actor: &str,
    at: Timestamp,
) -> Result<PromoteOutcome, ReleaseError> {
    let txn = journal::begin_write(store)?;
    let outcome = promote_in(&txn, config, snapshot, stage, options, actor, at)?;
    txn.commit().map_err(dberr)?;
    Ok(outcome)
}

fn snapshot_name_of_seq(txn: &WriteTransaction, seq: u64) -> Result<String, ReleaseError> {
    Ok(materialize(&|s| journal::get_in_write(txn, s), seq)?.name)
}

/// Promotes inside `txn` (see [`promote`]).
pub fn promote_in(
    txn: &WriteTransaction,
    config: &FleetConfig,
    snapshot: &str,
    stage: &str,
    options: PromoteOptions,
    actor: &str,
    at: Timestamp,
) -> Result<PromoteOutcome, ReleaseError> {
    let policy = &config.release;
    let index = check_stage(policy, stage)?;
    let reason = options.reason.filter(|r| !r.trim().is_empty());
    let snapshot_seq = {
        let t = txn.open_table(SNAPSHOTS).map_err(dberr)?;
        let found = t.get(snapshot).map_err(dberr)?.map(|v| v.value());
        match found {
            Some(s) => s,
            None => {
                let mut known = Vec::new();
                for row in t.iter().map_err(dberr)? {
                    known.push(row.map_err(dberr)?.0.value().to_string());
                }
                return Err(ReleaseError::UnknownSnapshot {
                    name: snapshot.to_string(),
                    known: list_for_message(&known),
                });
            }
        }
    };
    let snap: Snapshot = materialize(&|s| journal::get_in_write(txn, s), snapshot_seq)?;
    let last_promoted = {
        let t = txn.open_table(STAGE_SNAPSHOT).map_err(dberr)?;
        t.get(stage).map_err(dberr)?.map(|v| v.value())
    };
    let rollback = last_promoted.is_some_and(|last| last > snapshot_seq);
    if rollback && reason.is_none() {
        let newer = match last_promoted {
            Some(s) => snapshot_name_of_seq(txn, s)?,
            None => String::new(),
        };
        return Err(ReleaseError::RollbackNeedsReason {
            snapshot: snapshot.to_string(),
            stage: stage.to_string(),
            newer,
        });
    }
    if options.expedite && reason.is_none() {
        return Err(ReleaseError::ExpediteNeedsReason);
    }
    let previous_stage: Option<&str> = if stage == "production" {
        Some(policy.production.requires_stage.as_str())
    } else if index > 0 {
        policy.stages.get(index - 1).map(String::as_str)
    } else {
        None
    };
    let is_production = stage == "production";
    let required: &[String] = if !is_production {
        &[]
    } else if options.expedite {
        &policy.expedite.required_suites
    } else {
        &policy.production.required_suites
    };
    let min_soak = i64::try_from(policy.production.min_soak.as_secs()).unwrap_or(i64::MAX);
    let tests = for_snapshot_in_write(txn, snapshot)?;
    let now = at.as_second();

    let mut promoted = Vec::new();
    let mut held = Vec::new();
    let mut unchanged = 0u64;
    {
        let current = txn.open_table(STAGE_CURRENT).map_err(dberr)?;
        let timeline = txn.open_table(STAGE_TIMELINE).map_err(dberr)?;
        for (image, entry) in &snap.images {
            let now_build = current
                .get((stage, image.as_str()))
                .map_err(dberr)?
                .map(|v| v.value().0);
            if now_build == Some(entry.build) {
                unchanged += 1;
                continue;
            }
            let mut reasons = Vec::new();
            if let Some(prev) = previous_stage {
                let mut entered: Option<i64> = None;
                for row in timeline
                    .range(
                        (prev, image.as_str(), i64::MIN, 0)
                            ..=(prev, image.as_str(), i64::MAX, u64::MAX),
                    )
                    .map_err(dberr)?
                {
                    let (k, v) = row.map_err(dberr)?;
                    if v.value() == entry.build {
                        entered = Some(k.value().2);
                        break;
                    }
                }
                match entered {
                    None => reasons.push(format!(
                        "build #{} has not been promoted to {prev} yet",
                        entry.build
                    )),
                    Some(t) if is_production && !options.expedite => {
                        let soaked = now.saturating_sub(t);
                        if soaked < min_soak {
                            reasons.push(format!(
                                "soak: in {prev} since {} ({} of {} soaked); eligible from {}",
                                fmt_time(t),
                                human_duration(soaked),
                                human_duration(min_soak),
                                fmt_time(t.saturating_add(min_soak))
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
            for suite in required {
                let passed = tests
                    .iter()
                    .any(|t| t.passed && &t.suite == suite && t.applies_to(image));
                if !passed {
                    reasons.push(format!("required test suite {suite:?} has not passed"));
                }
            }
            for t in tests.iter().filter(|t| !t.passed && t.applies_to(image)) {
                reasons.push(failed_reason(t));
            }
            if reasons.is_empty() {
                promoted.push(PromotedImage {
                    image: image.clone(),
                    build: entry.build,
                    previous_build: now_build,
                });
            } else {
                held.push(HeldImage {
                    image: image.clone(),
                    build: entry.build,
                    reasons,
                });
            }
        }
    }
    let promotion = Promotion {
        snapshot: snapshot.to_string(),
        snapshot_seq,
        stage: stage.to_string(),
        expedite: options.expedite,
        rollback,
        reason: reason.clone(),
        promoted,
        unchanged,
        held,
    };
    if promotion.promoted.is_empty() {
        return Ok(PromoteOutcome {
            seq: None,
            at: at.to_string(),
            actor: actor.to_string(),
            promotion,
        });
    }
    let images: Vec<String> = promotion.promoted.iter().map(|p| p.image.clone()).collect();
    for (flag, action) in [(options.expedite, "expedite"), (rollback, "rollback")] {
        if flag {
            journal::append_json(
                txn,
                kinds::OVERRIDE,
                actor,
                at,
                &OverrideBody {
                    action: action.into(),
                    snapshot: snapshot.to_string(),
                    stage: stage.to_string(),
                    reason: reason.clone().unwrap_or_default(),
                    images: images.clone(),
                },
            )?;
        }
    }
    let seq = journal::append_json(txn, kinds::PROMOTION, actor, at, &promotion)?;
    {
        let mut current = txn.open_table(STAGE_CURRENT).map_err(dberr)?;
        let mut timeline = txn.open_table(STAGE_TIMELINE).map_err(dberr)?;
        let mut events = txn.open_table(IMAGE_EVENTS).map_err(dberr)?;
        for p in &promotion.promoted {
            current
                .insert((stage, p.image.as_str()), (p.build, now, seq))
                .map_err(dberr)?;
            timeline
                .insert((stage, p.image.as_str(), now, seq), p.build)
                .map_err(dberr)?;
            events
                .insert((p.image.as_str(), seq), kinds::PROMOTION)
                .map_err(dberr)?;
        }
        let mut last = txn.open_table(STAGE_SNAPSHOT).map_err(dberr)?;
        last.insert(stage, snapshot_seq).map_err(dberr)?;
    }
    Ok(PromoteOutcome {
        seq: Some(seq),
        at: at.to_string(),
        actor: actor.to_string(),
        promotion,
    })
}

fn failed_reason(t: &TestRecord) -> String {
    let scope = if t.image.is_some() {
        ""
    } else {
        " (all images)"
    };
    match &t.note {
        Some(n) => format!(
            "test suite {:?} failed{scope} at {}: {n}",
            t.suite, t.recorded_at
        ),
        None => format!(
            "test suite {:?} failed{scope} at {}",
            t.suite, t.recorded_at
        ),
    }
}

/// `3d 4h`, `45m`, `7d`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// What one stage runs for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageImage {
    /// The stage.
    pub stage: String,
    /// The image.
    pub image: String,
    /// The build it runs.
    pub build: u64,
    /// That build's digest.
    pub digest: Option<String>,
    /// Since when (the promotion time), RFC 3339.
    pub since: String,
    /// The snapshot it came from.
    pub snapshot: String,
    /// The promotion's journal entry.
    pub promotion_seq: u64,
}

/// What every stage (or one) runs now, ordered by stage then image.
pub fn status(store: &Store, stage: Option<&str>) -> Result<Vec<StageImage>, ReleaseError> {
    let txn = store.read()?;
    let Some(current) = open_ro(&txn, STAGE_CURRENT)? else {
        return Ok(Vec::new());
    };
    let builds = open_ro(&txn, BUILDS)?;
    let mut promotions: BTreeMap<u64, String> = BTreeMap::new();
    let mut out = Vec::new();
    for row in current.iter().map_err(dberr)? {
        let (k, v) = row.map_err(dberr)?;
        let (st, image) = k.value();
        if stage.is_some_and(|s| s != st) {
            continue;
        }
        let (build, since, seq) = v.value();
        let digest = match &builds {
            Some(b) => match b.get((image, build)).map_err(dberr)? {
                Some(v) => {
                    let bseq = v.value().0;
                    journal::get(&txn, bseq)?
                        .map(|e| e.body_as::<BuildBody>())
                        .transpose()?
                        .and_then(|b| b.digest)
                }
                None => None,
            },
            None => None,
        };
        let snapshot = match promotions.get(&seq) {
            Some(s) => s.clone(),
            None => {
                let name = journal::get(&txn, seq)?
                    .map(|e| e.body_as::<Promotion>())
                    .transpose()?
                    .map(|p| p.snapshot)
                    .unwrap_or_default();
                promotions.insert(seq, name.clone());
                name
            }
        };
        out.push(StageImage {
            stage: st.to_string(),
            image: image.to_string(),
            build,
            digest,
            since: fmt_time(since),
            snapshot,
            promotion_seq: seq,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0m");
        assert_eq!(human_duration(45 * 60), "45m");
        assert_eq!(human_duration(2 * 3600), "2h");
        assert_eq!(human_duration(2 * 3600 + 60), "2h 1m");
        assert_eq!(human_duration(7 * 86_400), "7d");
        assert_eq!(human_duration(2 * 86_400 + 5 * 3600), "2d 5h");
        assert_eq!(human_duration(-5), "0m");
    }

    #[test]
    fn stages_are_checked_against_the_policy() {
        let policy = ReleasePolicy::default();
        assert_eq!(check_stage(&policy, "production").unwrap(), 1);
        let err = check_stage(&policy, "prod").unwrap_err().to_string();
        assert!(err.contains("testing, production"), "{err}");
    }
}
