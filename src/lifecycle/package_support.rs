//! Package-level support limits inside a supported release, from Debian's
//! `debian-security-support` lists (`/usr/share/debian-security-support/`):
//!
//! - `security-support-ended.deb<N>`: source packages whose security
//!   support ends (or ended) before release N does. Columns, separated by
//!   spaces or tabs: source name, last supported version (`0`: none), the
//!   date support ends (`YYYY-MM-DD`), optional details.
//! - `security-support-limited`: source packages with limited support.
//!   Columns: source name, optional details.
//!
//! `#` starts a comment line. A source name may be a pattern (`golang.*`,
//! `php-horde.*`): `.` matches any character and `x*` any number of `x`,
//! anchored at both ends, as `check-support-status` treats them.

use jiff::civil::Date;
use std::path::{Path, PathBuf};

/// Errors reading support lists.
#[derive(Debug, thiserror::Error)]
pub enum SupportListError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What a list says about a source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupportLimit {
    /// Support ends (or ended) on `date`; `last_version` is the last
    /// version with support (`0`: none).
    Ended {
        last_version: String,
        date: Date,
        details: Option<String>,
    },
    /// Support is limited (e.g. only for trusted content).
    Limited { details: Option<String> },
}

/// One list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportEntry {
    /// The source package name or pattern, as written.
    pub source: String,
    /// The limit.
    pub limit: SupportLimit,
    /// Where it was read (`file:line`).
    pub origin: String,
}

/// The lists for one Debian release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupportLists {
    pub entries: Vec<SupportEntry>,
}

impl SupportLists {
    /// Reads `security-support-ended.deb<release>` and
    /// `security-support-limited` from `dir`. A missing file is an empty
    /// list (not every release has one); a missing directory is an error.
    pub fn load(dir: &Path, release: &str) -> Result<SupportLists, SupportListError> {
        if !dir.is_dir() {
            return Err(SupportListError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a directory (want the debian-security-support lists, e.g. /usr/share/debian-security-support)",
                ),
            });
        }
        let mut lists = SupportLists::default();
        let ended = dir.join(format!("security-support-ended.deb{release}"));
        if let Some(text) = read_optional(&ended)? {
            lists.entries.extend(parse_ended(&ended, &text)?);
        }
        let limited = dir.join("security-support-limited");
        if let Some(text) = read_optional(&limited)? {
            lists.entries.extend(parse_limited(&limited, &text)?);
        }
        Ok(lists)
    }

    /// The entries that apply to source package `source`.
    pub fn matching(&self, source: &str) -> Vec<&SupportEntry> {
        self.entries
            .iter()
            .filter(|e| pattern_matches(&e.source, source))
            .collect()
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, SupportListError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SupportListError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Data lines as (1-based line number, fields, the rest after `n` fields).
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Splits off the first whitespace-separated field.
fn split_field(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

fn details(rest: &str) -> Option<String> {
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Parses a `security-support-ended.debN` list.
pub fn parse_ended(path: &Path, text: &str) -> Result<Vec<SupportEntry>, SupportListError> {
    let mut out = Vec::new();
    for (line, l) in data_lines(text) {
        let syntax = |message: String| SupportListError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        };
        let (source, rest) = split_field(l);
        let (version, rest) = split_field(rest);
        let (date, rest) = split_field(rest);
        if version.is_empty() || date.is_empty() {
            return Err(syntax(
                "want: source-package last-supported-version YYYY-MM-DD [details]".into(),
            ));
        }
        let date: Date = date
            .parse()
            .map_err(|e| syntax(format!("{date:?} is not a date YYYY-MM-DD ({e})")))?;
        out.push(SupportEntry {
            source: source.to_string(),
            limit: SupportLimit::Ended {
                last_version: version.to_string(),
                date,
                details: details(rest),
            },
            origin: format!("{}:{line}", path.display()),
        });
    }
    Ok(out)
}

/// Parses a `security-support-limited` list.
pub fn parse_limited(path: &Path, text: &str) -> Result<Vec<SupportEntry>, SupportListError> {
    Ok(data_lines(text)
        .map(|(line, l)| {
            let (source, rest) = split_field(l);
            SupportEntry {
                source: source.to_string(),
                limit: SupportLimit::Limited {
                    details: details(rest),
                },
                origin: format!("{}:{line}", path.display()),
            }
        })
        .collect())
}

/// Whether `pattern` (literal characters, `.` = any character, `x*` = any
/// number of `x`) matches all of `name`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic DP over (pattern position, name position); both are short.
    let mut reach = vec![vec![false; n.len() + 1]; p.len() + 1];
    reach[0][0] = true;
    for i in 0..p.len() {
        let starred = p.get(i + 1) == Some(&'*');
        if p[i] == '*' {
            continue;
        }
        let next = if starred { i + 2 } else { i + 1 };
        for j in 0..=n.len() {
            if !reach[i][j] {
                continue;
            }
            if starred {
                reach[next][j] = true;
                let mut k = j;
                while k < n.len() && (p[i] == '.' || p[i] == n[k]) {
                    k += 1;
                    reach[next][k] = true;
                }
            } else if j < n.len() && (p[i] == '.' || p[i] == n[j]) {
                reach[next][j + 1] = true;
            }
        }
    }
    reach[p.len()][n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches("binutils", "binutils"));
        assert!(!pattern_matches("binutils", "binutils-common"));
        assert!(pattern_matches("golang.*", "golang-1.19"));
        assert!(pattern_matches("golang.*", "golang"));
        assert!(!pattern_matches("golang.*", "go"));
        assert!(pattern_matches("php-horde.*", "php-horde-imp"));
        assert!(pattern_matches("libsoup2.4", "libsoup2.4"));
        assert!(!pattern_matches("node-.*", "nodejs"));
        assert!(pattern_matches("a*b", "aaab"));
        assert!(pattern_matches("a*b", "b"));
    }

    #[test]
    fn parses_the_real_lists() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/security-support");
        let lists = SupportLists::load(&dir, "12").unwrap();
        let pdns = lists.matching("pdns-recursor");
        assert_eq!(pdns.len(), 1);
        assert_eq!(
            pdns[0].limit,
            SupportLimit::Ended {
                last_version: "4.8.8-1+deb12u1".into(),
                date: "2025-10-01".parse().unwrap(),
                details: Some(
                    "No security support upstream and backports not feasible, only for use on private and trusted network".into()
                ),
            }
        );
        let golang = lists.matching("golang-1.19");
        assert!(matches!(golang[0].limit, SupportLimit::Limited { .. }));
        assert!(lists.matching("bash").is_empty());
        // A release without an ended list still has the limited one.
        let none = SupportLists::load(&dir, "99").unwrap();
        assert!(!none.matching("binutils").is_empty());
    }

    #[test]
    fn bad_lines_are_errors_with_file_and_line() {
        let err = parse_ended(Path::new("x"), "# c\n\nfoo 1.0 tomorrow\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x:3: \"tomorrow\" is not a date"),
            "{err}"
        );
        let err = parse_ended(Path::new("x"), "foo\n").unwrap_err();
        assert!(err.to_string().contains("x:1: want:"), "{err}");
        let missing = SupportLists::load(Path::new("/nonexistent/dss"), "12").unwrap_err();
        assert!(missing.to_string().contains("not a directory"));
    }
}
