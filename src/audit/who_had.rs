//! `audit who-had PACKAGE`: which images carried a package, in which
//! versions, and for how long.
//!
//! "Carried" means: without a stage, the image's latest successful build
//! contained it (from that build's record time to the next successful
//! build's); with `--stage`, the build the stage ran contained it (from its
//! promotion to the next promotion of that image into the stage).
//!
//! The package-change index (`(package, image, build) -> version`, a row
//! only where a build changed the package) gives every image's version
//! change points with two range scans (`PACKAGE` and `PACKAGE:arch`); the
//! build index or the stage timeline gives the intervals.

use super::AuditError;
use crate::deb::relation::RelOp;
use crate::deb::version;
use crate::release::build::build_index;
use crate::release::{PKG_CHANGES, STAGE_TIMELINE, dberr, fmt_time, open_ro};
use crate::store::Store;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// A version constraint, `>= 2.36-9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The operator.
    pub op: RelOp,
    /// The version.
    pub version: String,
}

impl Constraint {
    /// Parses `OP VERSION` (`<<`, `<=`, `=`, `>=`, `>>`, obsolete `<`/`>`
    /// as `<=`/`>=`), optionally in parentheses; a bare version means `=`.
    pub fn parse(text: &str) -> Result<Constraint, AuditError> {
        let bad = || AuditError::BadConstraint(text.to_string());
        let t = text.trim();
        let t = t
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(t)
            .trim();
        let ops = [
            ("<<", RelOp::Lt),
            ("<=", RelOp::Le),
            (">=", RelOp::Ge),
            (">>", RelOp::Gt),
            ("=", RelOp::Eq),
            ("<", RelOp::Le),
            (">", RelOp::Ge),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(p, op)| t.strip_prefix(p).map(|r| (*op, r)))
            .unwrap_or((RelOp::Eq, t));
        let v = rest.trim();
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(bad());
        }
        version::validate(v).map_err(|_| bad())?;
        Ok(Constraint {
            op,
            version: v.to_string(),
        })
    }

    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &str) -> bool {
        self.op.matches(version::compare(v, &self.version))
    }
}

/// A query.
#[derive(Debug, Clone)]
pub struct WhoHadQuery {
    /// The package name (also matches `name:arch` manifest keys).
    pub package: String,
    /// Only versions satisfying this.
    pub constraint: Option<Constraint>,
    /// Carried in this stage (default: by the latest successful build).
    pub stage: Option<String>,
    /// Only time within this range (default: all time up to now).
    pub between: Option<(Timestamp, Timestamp)>,
    /// The clock (`--now`): open intervals end here.
    pub now: Timestamp,
}

/// One interval during which an image carried a version.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Interval {
    /// Start (clipped to the range), RFC 3339.
    pub from: String,
    /// End (clipped), RFC 3339; `None`: still carried at the range's end.
    pub to: Option<String>,
    /// The builds concerned, in order.
    pub builds: Vec<u64>,
}

/// One version an image carried.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionSpan {
    /// The version.
    pub version: String,
    /// When.
    pub intervals: Vec<Interval>,
    /// Total seconds carried (open intervals counted up to the range end).
    pub seconds: i64,
}

/// One image that carried the package.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageCarry {
    /// The image.
    pub image: String,
    /// The manifest key (`name` or `name:arch`).
    pub package: String,
    /// The versions, in order of first appearance.
    pub versions: Vec<VersionSpan>,
}

/// The answer of [`who_had`].
#[derive(Debug, Clone, Serialize)]
pub struct WhoHad {
    /// The package.
    pub package: String,
    /// The constraint, as `OP VERSION`.
    pub constraint: Option<String>,
    /// The stage, if any.
    pub stage: Option<String>,
    /// The range start (`None`: the beginning).
    pub from: Option<String>,
    /// The range end.
    pub to: String,
    /// The images, by name.
    pub images: Vec<ImageCarry>,
}

/// Answers a who-had query.
pub fn who_had(store: &Store, q: &WhoHadQuery) -> Result<WhoHad, AuditError> {
    let (lo, hi) = match q.between {
        Some((a, b)) => {
            if a > b {
                return Err(AuditError::BadRange {
                    from: a.to_string(),
                    to: b.to_string(),
                });
            }
            (a.as_second(), b.as_second().min(q.now.as_second()))
        }
        None => (i64::MIN, q.now.as_second()),
    };
    let txn = store.read()?;
    // (image, key) -> [(build, version)] change points.
    let mut points: BTreeMap<(String, String), Vec<(u64, String)>> = BTreeMap::new();
    if let Some(t) = open_ro(&txn, PKG_CHANGES)? {
        let qualified = format!("{}:", q.package);
        for start in [q.package.as_str(), qualified.as_str()] {
            for row in t.range((start, "", 0)..).map_err(dberr)? {
                let (k, v) = row.map_err(dberr)?;
                let (key, image, build) = k.value();
                let same = if start == q.package {
                    key == q.package
                } else {
                    key.starts_with(start)
                };
                if !same {
                    break;
                }
                points
                    .entry((image.to_string(), key.to_string()))
                    .or_default()
                    .push((build, v.value().to_string()));
            }
        }
    }
    let timeline = match &q.stage {
        Some(_) => open_ro(&txn, STAGE_TIMELINE)?,
        None => None,
    };
    let mut images = Vec::new();
    for ((image, key), changes) in points {
        // Occupancy: (start, build) in time order.
        let mut occupancy: Vec<(i64, u64)> = Vec::new();
        match &q.stage {
            Some(stage) => {
                if let Some(t) = &timeline {
                    for row in t
                        .range(
                            (stage.as_str(), image.as_str(), i64::MIN, 0)
                                ..=(stage.as_str(), image.as_str(), i64::MAX, u64::MAX),
                        )
                        .map_err(dberr)?
                    {
                        let (k, v) = row.map_err(dberr)?;
                        occupancy.push((k.value().2, v.value()));
                    }
                }
            }
            None => {
                for row in build_index(&txn, Some(&image))? {
                    if row.ok {
                        occupancy.push((row.at, row.number));
                    }
                }
            }
        }
        let mut versions: Vec<VersionSpan> = Vec::new();
        for (i, (start, build)) in occupancy.iter().enumerate() {
            let end = occupancy.get(i + 1).map(|(s, _)| *s);
            let Some(version) = version_at(&changes, *build) else {
                continue;
            };
            if q.constraint.as_ref().is_some_and(|c| !c.matches(version)) {
                continue;
            }
            let from = (*start).max(lo);
            let to = end.map(|e| e.min(hi));
            if from > hi || to.is_some_and(|t| t <= from) {
                continue;
            }
            let closed_to = match end {
                Some(e) if e <= hi => Some(e),
                _ => None,
            };
            let span = match versions.iter_mut().find(|v| v.version == version) {
                Some(s) => s,
                None => {
                    versions.push(VersionSpan {
                        version: version.to_string(),
                        intervals: Vec::new(),
                        seconds: 0,
                    });
                    match versions.last_mut() {
                        Some(s) => s,
                        None => continue,
                    }
                }
            };
            span.seconds += to.unwrap_or(hi).saturating_sub(from).max(0);
            let from_s = fmt_time(from);
            // Consecutive builds with the same version extend one interval.
            match span.intervals.last_mut() {
                Some(last) if last.to.as_deref() == Some(from_s.as_str()) => {
                    last.to = closed_to.map(fmt_time);
                    last.builds.push(*build);
                }
                _ => span.intervals.push(Interval {
                    from: from_s,
                    to: closed_to.map(fmt_time),
                    builds: vec![*build],
                }),
            }
        }
        if !versions.is_empty() {
            images.push(ImageCarry {
                image,
                package: key,
                versions,
            });
        }
    }
    Ok(WhoHad {
        package: q.package.clone(),
        constraint: q
            .constraint
            .as_ref()
            .map(|c| format!("{} {}", c.op.as_str(), c.version)),
        stage: q.stage.clone(),
        from: (lo != i64::MIN).then(|| fmt_time(lo)),
        to: fmt_time(hi),
        images,
    })
}

/// The version at `build` given sorted change points (`""` = absent).
fn version_at(changes: &[(u64, String)], build: u64) -> Option<&str> {
    let idx = changes.partition_point(|(b, _)| *b <= build);
    let (_, v) = changes.get(idx.checked_sub(1)?)?;
    (!v.is_empty()).then_some(v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_match() {
        let c = Constraint::parse(">= 2.36-9").unwrap();
        assert_eq!(c.op, RelOp::Ge);
        assert!(c.matches("2.36-9"));
        assert!(c.matches("2.36-10"));
        assert!(!c.matches("2.36-8"));
        assert_eq!(Constraint::parse("(<< 1:1.0)").unwrap().op, RelOp::Lt);
        assert_eq!(Constraint::parse("1.0").unwrap().op, RelOp::Eq);
        assert!(Constraint::parse(">=").is_err());
        assert!(Constraint::parse(">= 1 2").is_err());
    }

    #[test]
    fn version_at_uses_the_last_change_point() {
        let c = vec![
            (1, "1.0".to_string()),
            (3, "".to_string()),
            (5, "2.0".to_string()),
        ];
        assert_eq!(version_at(&c, 1), Some("1.0"));
        assert_eq!(version_at(&c, 2), Some("1.0"));
        assert_eq!(version_at(&c, 3), None);
        assert_eq!(version_at(&c, 4), None);
        assert_eq!(version_at(&c, 9), Some("2.0"));
        assert_eq!(version_at(&[(2, "x".to_string())], 1), None);
    }
}
