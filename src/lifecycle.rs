//! Release lifecycle: distro-info's `debian.csv` (release, end of regular
//! security support, LTS and ELTS ends) and the support status of each base
//! on a given day.
//!
//! Dates follow distro-info's own rule: a release is supported *on* its
//! `eol` date, in LTS on its `eol-lts` date, and so on; the status changes
//! the day after.

pub mod package_support;

use crate::fleet::config::{Base, FleetConfig};
use jiff::civil::Date;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where distro-info puts the file on Debian systems.
pub const DEFAULT_DISTRO_INFO: &str = "/usr/share/distro-info/debian.csv";

/// Errors of lifecycle data.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "{path}: {message}. Install distro-info-data, or point fleet.yaml `lifecycle: {{distro_info: PATH}}` or --distro-info at a debian.csv"
    )]
    Io { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One row of `debian.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianRelease {
    /// `12`; empty for sid/experimental.
    pub version: String,
    /// Display name, `Bookworm`.
    pub codename: String,
    /// The codename as used in suites, `bookworm`.
    pub series: String,
    pub created: Option<Date>,
    pub release: Option<Date>,
    pub eol: Option<Date>,
    pub eol_lts: Option<Date>,
    pub eol_elts: Option<Date>,
}

/// Support status on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SupportStatus {
    /// Regular security support (also used for not-yet-released releases).
    Supported,
    /// Long Term Support.
    Lts,
    /// Extended LTS only (commercial).
    Elts,
    /// No support at all.
    Eol,
}

impl SupportStatus {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Supported => "supported",
            SupportStatus::Lts => "lts",
            SupportStatus::Elts => "elts",
            SupportStatus::Eol => "eol",
        }
    }
}

/// Parses `debian.csv`.
pub fn parse_csv(path: &Path, text: &str) -> Result<Vec<DebianRelease>, LifecycleError> {
    let mut lines = text.lines().enumerate();
    let perr = |line: usize, message: String| LifecycleError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let Some((_, header)) = lines.next() else {
        return Err(perr(
            1,
            "empty file: expected a distro-info CSV header".into(),
        ));
    };
    let columns: Vec<&str> = header.trim().split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(version), Some(codename), Some(series), Some(release), Some(eol)) = (
        col("version"),
        col("codename"),
        col("series"),
        col("release"),
        col("eol"),
    ) else {
        return Err(perr(
            1,
            format!("header {header:?} lacks version, codename, series, release or eol"),
        ));
    };
    let created = col("created");
    let eol_lts = col("eol-lts");
    let eol_elts = col("eol-elts");
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() > columns.len() {
            return Err(perr(
                n,
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
        }
        let text_at = |c: usize| fields.get(c).copied().unwrap_or("");
        let date_at = |c: Option<usize>, name: &str| -> Result<Option<Date>, LifecycleError> {
            let Some(c) = c else { return Ok(None) };
            let t = text_at(c);
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<Date>()
                .map(Some)
                .map_err(|e| perr(n, format!("{name} {t:?} is not a YYYY-MM-DD date: {e}")))
        };
        let series_name = text_at(series);
        if series_name.is_empty() {
            return Err(perr(n, "empty series".into()));
        }
        out.push(DebianRelease {
            version: text_at(version).to_string(),
            codename: text_at(codename).to_string(),
            series: series_name.to_string(),
            created: date_at(created, "created")?,
            release: date_at(Some(release), "release")?,
            eol: date_at(Some(eol), "eol")?,
            eol_lts: date_at(eol_lts, "eol-lts")?,
            eol_elts: date_at(eol_elts, "eol-elts")?,
        });
    }
    Ok(out)
}

/// Reads and parses a `debian.csv`; also returns the file's modification time.
pub fn load(path: &Path) -> Result<(Vec<DebianRelease>, Option<jiff::Timestamp>), LifecycleError> {
    let io = |e: std::io::Error| LifecycleError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    let text = String::from_utf8(bytes).map_err(|e| LifecycleError::Parse {
        path: path.to_path_buf(),
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    Ok((parse_csv(path, &text)?, mtime))
}

/// The distro-info file to use: the explicit one, else fleet.yaml's, else
/// the system's.
pub fn distro_info_path(explicit: Option<&Path>, config: &FleetConfig) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| config.lifecycle.distro_info.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DISTRO_INFO))
}

impl DebianRelease {
    /// The status on `day`.
    pub fn status_on(&self, day: Date) -> SupportStatus {
        if self.eol.is_none_or(|e| day <= e) {
            SupportStatus::Supported
        } else if self.eol_lts.is_some_and(|e| day <= e) {
            SupportStatus::Lts
        } else if self.eol_elts.is_some_and(|e| day <= e) {
            SupportStatus::Elts
        } else {
            SupportStatus::Eol
        }
    }

    /// The last day of the current status (None: open-ended or eol).
    pub fn current_end(&self, day: Date) -> Option<Date> {
        match self.status_on(day) {
            SupportStatus::Supported => self.eol,
            SupportStatus::Lts => self.eol_lts,
            SupportStatus::Elts => self.eol_elts,
            SupportStatus::Eol => None,
        }
    }

    /// The last day of any support (the latest end date known).
    pub fn final_end(&self) -> Option<Date> {
        self.eol_elts.or(self.eol_lts).or(self.eol)
    }
}

/// The release a base is on: by its release number, else by its name as series.
pub fn release_of<'r>(base: &Base, releases: &'r [DebianRelease]) -> Option<&'r DebianRelease> {
    releases
        .iter()
        .find(|r| !r.version.is_empty() && r.version == base.release)
        .or_else(|| releases.iter().find(|r| r.series == base.name))
}

/// A base's lifecycle on a day.
#[derive(Debug, Clone, Serialize)]
pub struct BaseLifecycle {
    pub base: String,
    /// `12 (bookworm)`; None when distro-info does not know the release.
    pub release: Option<String>,
    pub status: SupportStatus,
    /// False before the release date (a testing release; reported as `supported`).
    pub released: bool,
    /// The release date.
    #[serde(serialize_with = "opt_date")]
    pub release_date: Option<Date>,
    pub ends: Ends,
    /// Days until the current status ends (negative never; None when open-ended or eol).
    pub days_left: Option<i64>,
    /// A warning when the current status ends within the warning window,
    /// or the base is past all support.
    pub warning: Option<String>,
    pub images: Vec<String>,
}

/// The end dates of a release.
#[derive(Debug, Clone, Serialize)]
pub struct Ends {
    #[serde(serialize_with = "opt_date")]
    pub eol: Option<Date>,
    #[serde(serialize_with = "opt_date")]
    pub eol_lts: Option<Date>,
    #[serde(serialize_with = "opt_date")]
    pub eol_elts: Option<Date>,
}

/// Dates as `YYYY-MM-DD` (jiff is built without its serde feature).
fn opt_date<S: serde::Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}

/// Evaluates one base. Unknown releases are reported as `eol` with a
/// warning: nothing says they are supported.
pub fn evaluate(
    base: &Base,
    releases: &[DebianRelease],
    day: Date,
    warn_days: u32,
    images: Vec<String>,
) -> BaseLifecycle {
    let Some(r) = release_of(base, releases) else {
        return BaseLifecycle {
            base: base.name.clone(),
            release: None,
            status: SupportStatus::Eol,
            released: false,
            release_date: None,
            ends: Ends {
                eol: None,
                eol_lts: None,
                eol_elts: None,
            },
            days_left: None,
            warning: Some(format!(
                "release {:?} is not in distro-info: support status unknown",
                base.release
            )),
            images,
        };
    };
    let status = r.status_on(day);
    let end = r.current_end(day);
    let days_left = end
        .and_then(|e| day.until(e).ok())
        .map(|span| span.get_days() as i64);
    let warning = match (status, days_left) {
        (SupportStatus::Eol, _) => Some(format!(
            "{} ({}) is past the end of all support{}",
            r.version,
            r.series,
            r.final_end().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        (s, Some(d)) if d <= i64::from(warn_days) => Some(format!(
            "{} support of {} ({}) ends in {d} days ({})",
            match s {
                SupportStatus::Supported => "regular security",
                SupportStatus::Lts => "LTS",
                _ => "ELTS",
            },
            r.version,
            r.series,
            end.map(|e| e.to_string()).unwrap_or_default()
        )),
        _ => None,
    };
    BaseLifecycle {
        base: base.name.clone(),
        release: Some(format!("{} ({})", r.version, r.series)),
        status,
        released: r.release.is_some_and(|d| d <= day),
        release_date: r.release,
        ends: Ends {
            eol: r.eol,
            eol_lts: r.eol_lts,
            eol_elts: r.eol_elts,
        },
        days_left,
        warning,
        images,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "version,codename,series,created,release,eol,eol-lts,eol-elts\n12,Bookworm,bookworm,2021-08-14,2023-06-10,2026-07-11,2028-06-30,2033-06-30\n14,Forky,forky,2025-08-09\n,Sid,sid,1993-08-16\n";

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn parses_rows_with_missing_columns() {
        let r = parse_csv(Path::new("debian.csv"), CSV).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].eol_lts, Some(d("2028-06-30")));
        assert_eq!(r[1].release, None);
        assert_eq!(r[2].version, "");
    }

    #[test]
    fn statuses_change_the_day_after_each_end() {
        let r = &parse_csv(Path::new("x"), CSV).unwrap()[0];
        assert_eq!(r.status_on(d("2026-07-11")), SupportStatus::Supported);
        assert_eq!(r.status_on(d("2026-07-12")), SupportStatus::Lts);
        assert_eq!(r.status_on(d("2028-06-30")), SupportStatus::Lts);
        assert_eq!(r.status_on(d("2028-07-01")), SupportStatus::Elts);
        assert_eq!(r.status_on(d("2033-06-30")), SupportStatus::Elts);
        assert_eq!(r.status_on(d("2033-07-01")), SupportStatus::Eol);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_csv(
            Path::new("x.csv"),
            "version,codename,series,created,release,eol\n12,B,b,2021-08-14,2023-13-10,\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x.csv:2: release \"2023-13-10\""), "{err}");
        assert!(parse_csv(Path::new("x"), "a,b\n").is_err());
        assert!(parse_csv(Path::new("x"), "").is_err());
    }
}
