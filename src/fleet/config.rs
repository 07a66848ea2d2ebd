//! The fleet configuration, `fleet.yaml`: where the Debian archives are
//! mirrored and with which keyrings they are verified, the bases (Debian
//! releases as an ordered set of archive suites) images are built on, where
//! the image manifests live, and the release and lifecycle policies.
//!
//! This module owns finding `fleet.yaml` ([`FleetConfig::discover`]),
//! loading and validating it ([`FleetConfig::load`]) and listing the
//! manifest files its globs select ([`FleetConfig::manifest_paths`]).
//! Every problem is reported as `file:line:column: what is wrong` with what
//! to do, all problems of a file at once. Relative paths are resolved against
//! the directory of `fleet.yaml` and cleaned lexically (`.` dropped, `..`
//! folded, as cargo does), so paths that do not exist yet resolve too.
//! `archives`, `bases` and `manifests` are required; `keyring`, `release`
//! and `lifecycle` are optional.
//!
//! ```yaml
//! archives:                 # name -> mirror root: a path, file:// or http(s)://
//!   debian: ../mirror/debian
//!   debian-security: {url: ../mirror/debian-security, keyring: keyrings/security.gpg}
//! keyring: keyrings/debian-archive-keyring.gpg   # default keyring
//! bases:
//!   bookworm:
//!     release: "12"
//!     architectures: [amd64]
//!     repositories:
//!       - {archive: debian, suite: bookworm, components: [main]}
//! manifests: images/**/*.yaml            # a glob or a list of globs
//! release:                               # optional, defaults shown
//!   stages: [testing, production]
//!   production: {requires_stage: testing, min_soak: 7d, required_suites: [smoke, full]}
//!   expedite: {required_suites: [smoke]}
//! lifecycle: {distro_info: PATH, warn_days: 180, security_support: DIR}   # optional
//! ```

use crate::fleet::yaml::{self, Entry, Fields, Node, Pos, YamlError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The name of the fleet configuration file.
pub const FLEET_FILE: &str = "fleet.yaml";

/// Largest fleet file accepted, in bytes (real ones are a few KiB); a larger
/// file is refused before it is read into memory.
pub const MAX_FLEET_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A loaded and validated `fleet.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The `fleet.yaml` file (absolute).
    pub path: PathBuf,
    /// Its directory (absolute); relative paths are resolved against it.
    pub dir: PathBuf,
    /// The archives, by name.
    pub archives: BTreeMap<String, Archive>,
    /// The default keyring (resolved), for archives without their own.
    pub keyring: Option<PathBuf>,
    /// The bases, by name.
    pub bases: BTreeMap<String, Base>,
    /// Globs selecting the manifest files, relative to [`Self::dir`].
    pub manifests: Vec<String>,
    /// Promotion policy.
    pub release: ReleasePolicy,
    /// Release end-of-life warnings.
    pub lifecycle: LifecycleConfig,
}

/// A mirrored Debian archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Its name in `fleet.yaml`.
    pub name: String,
    /// Where its mirror root is.
    pub location: MirrorLocation,
    /// Its own keyring (apt's Signed-By), overriding the default.
    pub keyring: Option<PathBuf>,
}

/// Where a mirror root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorLocation {
    /// A local directory (absolute, resolved against the fleet directory);
    /// `file://` URLs become directories too.
    Directory(PathBuf),
    /// An `http://` or `https://` base URL, without trailing slash.
    Http(String),
}

impl fmt::Display for MirrorLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MirrorLocation::Directory(p) => write!(f, "{}", p.display()),
            MirrorLocation::Http(url) => f.write_str(url),
        }
    }
}

/// A base: a Debian release as the suites apt would use for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Its name in `fleet.yaml`.
    pub name: String,
    /// The Debian release number, as written (`"12"`; `12` is read as text).
    pub release: String,
    /// The architectures images may use; the first is the default.
    pub architectures: Vec<String>,
    /// The suites, in the order of apt's sources.
    pub repositories: Vec<Repository>,
}

/// One suite of an archive, as in a `deb` line of apt's sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The archive's name (a key of [`FleetConfig::archives`]).
    pub archive: String,
    /// The suite or codename, e.g. `bookworm-security`.
    pub suite: String,
    /// The components, e.g. `main`.
    pub components: Vec<String>,
}

/// How updates are promoted through stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePolicy {
    /// The stages, in promotion order.
    pub stages: Vec<String>,
    /// What promotion to production requires.
    pub production: ProductionPolicy,
    /// What an expedited (security) promotion requires.
    pub expedite: ExpeditePolicy,
}

/// Requirements for promotion to production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionPolicy {
    /// The stage an update must have passed through.
    pub requires_stage: String,
    /// How long it must have soaked there.
    pub min_soak: Duration,
    /// The test suites that must have passed.
    pub required_suites: Vec<String>,
}

/// Requirements for an expedited promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpeditePolicy {
    /// The test suites that must have passed.
    pub required_suites: Vec<String>,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        ReleasePolicy {
            stages: vec!["testing".into(), "production".into()],
            production: ProductionPolicy::default(),
            expedite: ExpeditePolicy::default(),
        }
    }
}

impl Default for ProductionPolicy {
    fn default() -> Self {
        ProductionPolicy {
            requires_stage: "testing".into(),
            min_soak: Duration::from_secs(7 * 86_400),
            required_suites: vec!["smoke".into(), "full".into()],
        }
    }
}

impl Default for ExpeditePolicy {
    fn default() -> Self {
        ExpeditePolicy {
            required_suites: vec!["smoke".into()],
        }
    }
}

/// Release end-of-life settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// A distro-info `debian.csv` (resolved); `None`: the consumer's default.
    pub distro_info: Option<PathBuf>,
    /// Warn this many days before a release's end of life.
    pub warn_days: u32,
    /// A directory with Debian's debian-security-support lists
    /// (`security-support-ended.debN`, `security-support-limited`), when
    /// supplied: package-level support limits.
    pub security_support: Option<PathBuf>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            distro_info: None,
            warn_days: 180,
            security_support: None,
        }
    }
}

/// One problem in `fleet.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong and what to do.
    pub message: String,
}

/// Why the fleet configuration could not be found, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `fleet.yaml` in the start directory or any parent.
    #[error(
        "no {FLEET_FILE} found in {} or any parent directory; create one, or pass --fleet PATH (or set DEBFLEET_FLEET)",
        start.display()
    )]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// An explicitly named fleet file or directory does not exist.
    #[error(
        "{}: no such file; pass a {FLEET_FILE} file or the directory that contains it",
        path.display()
    )]
    Missing {
        /// The path looked for.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FLEET_FILE_BYTES`].
    #[error(
        "{}: the file is larger than the {limit}-byte limit for a fleet file; check that it is the fleet's {FLEET_FILE}",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The file is not valid: one line per problem, `file:line:column: message`.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The problems, in file order.
        problems: Vec<ConfigProblem>,
    },
    /// A manifest glob could not be compiled.
    #[error("{}: invalid manifest glob `{glob}`: {message}", path.display())]
    Glob {
        /// The fleet file.
        path: PathBuf,
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
    /// Listing the manifest directories failed.
    #[error("{}: cannot list manifests: {source}", path.display())]
    Walk {
        /// The directory or file that could not be read.
        path: PathBuf,
        /// The cause.
        source: walkdir::Error,
    },
}

fn render_problems(path: &Path, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.column, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{input}`: {reason}; write a whole number and a unit (s, m, h, d, w), e.g. 30m, 12h, 7d, 2w or 1d12h"
)]
pub struct DurationError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a duration such as `7d`, `12h`, `2w`, `30m`, `45s` or `1d12h`:
/// one or more whole numbers each followed by a unit (`s`econds, `m`inutes,
/// `h`ours, `d`ays of 24 hours, `w`eeks).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(fail("it is empty".into()));
    }
    let mut total: u64 = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            return Err(fail(format!("expected a number at `{rest}`")));
        }
        let mut chars = after.chars();
        let unit = chars
            .next()
            .ok_or_else(|| fail(format!("`{number}` has no unit")))?;
        let seconds: u64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            other => return Err(fail(format!("unknown unit `{other}`"))),
        };
        let value: u64 = number
            .parse()
            .map_err(|_| fail(format!("`{number}` is too large")))?;
        total = value
            .checked_mul(seconds)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| fail("it is too long".into()))?;
        rest = chars.as_str();
    }
    Ok(Duration::from_secs(total))
}

impl FleetConfig {
    /// Finds the fleet file. `explicit` (a `fleet.yaml` file or a directory
    /// containing one; relative to `cwd`) wins; otherwise `fleet.yaml` is
    /// searched in `cwd` and then each parent directory, like cargo does.
    pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
        if let Some(explicit) = explicit {
            let path = cwd.join(explicit);
            if path.is_dir() {
                let file = path.join(FLEET_FILE);
                return if file.is_file() {
                    Ok(file)
                } else {
                    Err(ConfigError::Missing { path: file })
                };
            }
            return if path.is_file() {
                Ok(path)
            } else {
                Err(ConfigError::Missing { path })
            };
        }
        cwd.ancestors()
            .map(|dir| dir.join(FLEET_FILE))
            .find(|file| file.is_file())
            .ok_or_else(|| ConfigError::NotFound {
                start: cwd.to_path_buf(),
            })
    }

    /// Loads and validates a fleet file; `path` is the file or the directory
    /// containing `fleet.yaml`.
    pub fn load(path: &Path) -> Result<FleetConfig, ConfigError> {
        let path = if path.is_dir() {
            path.join(FLEET_FILE)
        } else {
            path.to_path_buf()
        };
        let path = std::path::absolute(&path)
            .map(|p| normalize(&p))
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
        let read_error = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::NotFound => ConfigError::Missing { path: path.clone() },
            _ => ConfigError::Read {
                path: path.clone(),
                source,
            },
        };
        // Read at most one byte past the limit, so that neither a huge file
        // nor an endless one (a FIFO, /dev/zero) is taken into memory.
        let file = std::fs::File::open(&path).map_err(read_error)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_FLEET_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(read_error)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FLEET_FILE_BYTES {
            return Err(ConfigError::TooLarge {
                path,
                limit: MAX_FLEET_FILE_BYTES,
            });
        }
        Self::from_bytes(&path, &bytes)
    }

    /// Validates the contents of a fleet file located at `path` (absolute;
    /// its directory resolves relative paths). Does no IO.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<FleetConfig, ConfigError> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let invalid = |problems: Vec<YamlError>| {
            let mut problems: Vec<ConfigProblem> = problems
                .into_iter()
                .map(|e| ConfigProblem {
                    line: e.pos.line,
                    column: e.pos.column,
                    message: e.message,
                })
                .collect();
            problems.sort_by_key(|p| (p.line, p.column));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }
        };
        let text = yaml::decode_utf8(bytes).map_err(|e| invalid(vec![e]))?;
        let root = yaml::parse(text).map_err(|e| invalid(vec![e]))?;
        let mut reader = Reader {
            dir: &dir,
            problems: Vec::new(),
        };
        let config = reader.fleet(&root, path);
        match config {
            Some(config) if reader.problems.is_empty() => Ok(config),
            _ => Err(invalid(reader.problems)),
        }
    }

    /// The keyring that verifies `archive`: its own, else the default.
    /// `None` for an unknown archive or when no keyring is configured.
    pub fn keyring_for(&self, archive: &str) -> Option<&Path> {
        let archive = self.archives.get(archive)?;
        archive.keyring.as_deref().or(self.keyring.as_deref())
    }

    /// The manifest files the `manifests` globs select: files ending in
    /// `.yaml` or `.yml`, sorted, without duplicates. `*` does not cross
    /// `/`, `**` does; names starting with `.` are skipped while walking
    /// (editor and tool droppings), and `fleet.yaml` itself never counts.
    /// A glob whose directory does not exist selects nothing.
    pub fn manifest_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut found = BTreeSet::new();
        for glob in &self.manifests {
            let (prefix, pattern) = split_glob(glob);
            let root = normalize(&self.dir.join(prefix));
            let Some(pattern) = pattern else {
                // A plain path: one file.
                if root.is_file() && is_yaml_name(&root) {
                    found.insert(root);
                }
                continue;
            };
            let matcher = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ConfigError::Glob {
                    path: self.path.clone(),
                    glob: glob.clone(),
                    message: e.kind().to_string(),
                })?
                .compile_matcher();
            if !root.is_dir() {
                continue;
            }
            let walk = walkdir::WalkDir::new(&root)
                .follow_links(true)
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                });
            for entry in walk {
                let entry = entry.map_err(|source| ConfigError::Walk {
                    path: source.path().unwrap_or(&root).to_path_buf(),
                    source,
                })?;
                if !entry.file_type().is_file() || !is_yaml_name(entry.path()) {
                    continue;
                }
                let Ok(relative) = entry.path().strip_prefix(&root) else {
                    continue;
                };
                if matcher.is_match(relative) && entry.path() != self.path {
                    found.insert(entry.path().to_path_buf());
                }
            }
        }
        Ok(found.into_iter().collect())
    }
}

/// Whether a file name ends in `.yaml` or `.yml`.
fn is_yaml_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Splits a glob into its literal directory prefix and the pattern for the
/// rest (`None` when the whole glob is literal).
fn split_glob(glob: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = glob.split('/').collect();
    let literal = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[', '{', '\\']))
        .count();
    if literal == parts.len() {
        return (glob.to_string(), None);
    }
    let prefix = parts.get(..literal).unwrap_or_default().join("/");
    // A leading `/` makes an empty first part: keep the root.
    let prefix = if prefix.is_empty() && glob.starts_with('/') {
        "/".to_string()
    } else {
        prefix
    };
    let rest = parts.get(literal..).unwrap_or_default().join("/");
    (prefix, Some(rest))
}

/// Removes `.` and resolves `..` lexically (without touching the disk, so
/// paths that do not exist yet resolve too).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Names of archives, bases, stages and suites: `[a-z0-9][a-z0-9._-]*`.
fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Debian architecture names: `[a-z0-9][a-z0-9-]*`.
pub(crate) fn is_architecture(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// Suite and component names as found in archives: `[A-Za-z0-9][A-Za-z0-9._/-]*`
/// (`buster/updates`, `non-free-firmware`).
fn is_suite(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
}

/// Collects problems while reading the tree.
struct Reader<'d> {
    dir: &'d Path,
    problems: Vec<YamlError>,
}

const TOP_KEYS: &[&str] = &[
    "archives",
    "keyring",
    "bases",
    "manifests",
    "release",
    "lifecycle",
];
const ARCHIVE_KEYS: &[&str] = &["url", "keyring"];
const BASE_KEYS: &[&str] = &["release", "architectures", "repositories"];
const REPOSITORY_KEYS: &[&str] = &["archive", "suite", "components"];
const RELEASE_KEYS: &[&str] = &["stages", "production", "expedite"];
const PRODUCTION_KEYS: &[&str] = &["requires_stage", "min_soak", "required_suites"];
const EXPEDITE_KEYS: &[&str] = &["required_suites"];
const LIFECYCLE_KEYS: &[&str] = &["distro_info", "warn_days", "security_support"];

impl Reader<'_> {
    fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(YamlError::new(pos, message));
    }

    fn fields<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        what: &str,
        at: Pos,
        keys: &'static [&'static str],
    ) -> Option<Fields<'n, 'a>> {
        Fields::new(node, what, at, keys, &mut self.problems)
    }

    /// The text of a scalar, or a problem.
    fn text<'n>(&mut self, node: &'n Node<'_>, what: &str) -> Option<&'n str> {
        node.expect_text(what)
            .map_err(|e| self.problems.push(e))
            .ok()
    }

    /// A list of texts, or a problem.
    fn text_list<'n>(&mut self, node: &'n Node<'_>, what: &str) -> Option<Vec<(&'n str, Pos)>> {
        node.expect_text_list(what)
            .map_err(|e| self.problems.push(e))
            .ok()
    }

    /// A list of names checked with `valid`, without duplicates.
    fn name_list(
        &mut self,
        node: &Node<'_>,
        what: &str,
        valid: fn(&str) -> bool,
        rule: &str,
    ) -> Option<Vec<String>> {
        let items = self.text_list(node, what)?;
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        let mut ok = true;
        for (item, pos) in items {
            if !valid(item) {
                self.problem(pos, format!("invalid name `{item}` in {what}; {rule}"));
                ok = false;
            } else if out.iter().any(|o| o == item) {
                self.problem(pos, format!("`{item}` is listed twice in {what}; keep one"));
                ok = false;
            } else {
                out.push(item.to_string());
            }
        }
        ok.then_some(out)
    }

    /// The entries of a mapping keyed by names, duplicate keys reported.
    fn named_entries<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        what: &str,
    ) -> Vec<(&'n str, &'n Entry<'a>)> {
        let Some(entries) = node.as_map() else {
            self.problem(
                node.pos,
                format!(
                    "{what} must be a mapping of `name: ...` lines, found {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        for (first, dup) in yaml::duplicate_keys(entries) {
            let name = yaml::key_text(&dup.key).unwrap_or_default();
            self.problem(
                dup.key.pos,
                format!(
                    "`{name}` is defined twice in {what} (first at line {}); keep one",
                    first.line
                ),
            );
        }
        let mut out = Vec::with_capacity(entries.len());
        let mut seen = BTreeSet::new();
        for entry in entries {
            match yaml::key_text(&entry.key) {
                Ok(name) => {
                    if !is_name(name) {
                        self.problem(
                            entry.key.pos,
                            format!(
                                "invalid name `{name}` in {what}; names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit"
                            ),
                        );
                    } else if seen.insert(name) {
                        out.push((name, entry));
                    }
                }
                Err(e) => self.problems.push(e),
            }
        }
        out
    }

    /// Resolves a path relative to the fleet directory.
    fn path(&mut self, node: &Node<'_>, what: &str) -> Option<PathBuf> {
        let text = self.text(node, what)?;
        if text.is_empty() {
            self.problem(node.pos, format!("{what} is empty; write a path"));
            return None;
        }
        Some(normalize(&self.dir.join(text)))
    }

    fn fleet(&mut self, root: &Node<'_>, path: &Path) -> Option<FleetConfig> {
        let top = Pos { line: 1, column: 1 };
        let fields = self.fields(root, "the top level of fleet.yaml", top, TOP_KEYS)?;
        let archives = fields
            .required("archives", &mut self.problems)
            .map(|e| self.archives(e))
            .unwrap_or_default();
        let keyring = fields
            .get("keyring")
            .and_then(|e| self.path(&e.value, "`keyring`"));
        let bases = fields
            .required("bases", &mut self.problems)
            .map(|e| self.bases(e, &archives))
            .unwrap_or_default();
        let manifests = fields
            .required("manifests", &mut self.problems)
            .map(|e| self.manifests(&e.value))
            .unwrap_or_default();
        let release = fields
            .get("release")
            .map(|e| self.release(e))
            .unwrap_or_default();
        let lifecycle = fields
            .get("lifecycle")
            .map(|e| self.lifecycle(e))
            .unwrap_or_default();
        Some(FleetConfig {
            path: path.to_path_buf(),
            dir: self.dir.to_path_buf(),
            archives,
            keyring,
            bases,
            manifests,
            release,
            lifecycle,
        })
    }

    fn archives(&mut self, entry: &Entry<'_>) -> BTreeMap<String, Archive> {
        let mut out = BTreeMap::new();
        let named = self.named_entries(&entry.value, "`archives`");
        if entry.value.as_map().is_some_and(<[_]>::is_empty) {
            self.problem(
                entry.key.pos,
                "`archives` is empty; name at least one mirror, e.g. `debian: ../mirror/debian`",
            );
        }
        for (name, archive) in named {
            let what = format!("archive `{name}`");
            let (url, keyring) = match archive.value.as_map() {
                Some(_) => {
                    let Some(f) = self.fields(&archive.value, &what, archive.key.pos, ARCHIVE_KEYS)
                    else {
                        continue;
                    };
                    let keyring = f
                        .get("keyring")
                        .and_then(|k| self.path(&k.value, &format!("the keyring of {what}")));
                    (
                        f.required("url", &mut self.problems).map(|u| &u.value),
                        keyring,
                    )
                }
                None => (Some(&archive.value), None),
            };
            let Some(url) = url else { continue };
            let Some(location) = self.location(url, &what) else {
                continue;
            };
            out.insert(
                name.to_string(),
                Archive {
                    name: name.to_string(),
                    location,
                    keyring,
                },
            );
        }
        out
    }

    fn location(&mut self, node: &Node<'_>, what: &str) -> Option<MirrorLocation> {
        let text = self.text(node, &format!("the location of {what}"))?;
        let bad = |msg: &str| format!("{what}: {msg}");
        if let Some(rest) = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
        {
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() || text.contains(char::is_whitespace) {
                self.problem(
                    node.pos,
                    bad(&format!(
                        "`{text}` is not a valid URL; write e.g. http://mirror.example/debian"
                    )),
                );
                return None;
            }
            return Some(MirrorLocation::Http(text.trim_end_matches('/').to_string()));
        }
        if let Some(rest) = text.strip_prefix("file://") {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                self.problem(
                    node.pos,
                    bad(&format!("`{text}`: file URLs must be absolute (file:///srv/mirror); write a plain path for a directory relative to fleet.yaml")),
                );
                return None;
            }
            let Some(decoded) = percent_decode(path) else {
                self.problem(node.pos, bad(&format!("`{text}` has an invalid %-escape")));
                return None;
            };
            return Some(MirrorLocation::Directory(normalize(Path::new(&decoded))));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            self.problem(
                node.pos,
                bad(&format!("unsupported URL scheme `{scheme}://`; use a directory, file://, http:// or https://")),
            );
            return None;
        }
        if text.is_empty() {
            self.problem(
                node.pos,
                bad("the location is empty; write a directory or URL"),
            );
            return None;
        }
        Some(MirrorLocation::Directory(normalize(&self.dir.join(text))))
    }

    fn bases(
        &mut self,
        entry: &Entry<'_>,
        archives: &BTreeMap<String, Archive>,
    ) -> BTreeMap<String, Base> {
        let mut out = BTreeMap::new();
        let named = self.named_entries(&entry.value, "`bases`");
        if entry.value.as_map().is_some_and(<[_]>::is_empty) {
            self.problem(entry.key.pos, "`bases` is empty; define at least one base");
        }
        for (name, base) in named {
            let what = format!("base `{name}`");
            let Some(f) = self.fields(&base.value, &what, base.key.pos, BASE_KEYS) else {
                continue;
            };
            let release = f.required("release", &mut self.problems).and_then(|r| {
                let text = self.text(&r.value, &format!("the release of {what}"))?;
                if !is_release(text) {
                    self.problem(
                        r.value.pos,
                        format!("invalid release `{text}` in {what}; write the Debian release number, e.g. \"12\""),
                    );
                    return None;
                }
                Some(text.to_string())
            });
            let architectures = f
                .required("architectures", &mut self.problems)
                .and_then(|a| {
                    let list = self.name_list(
                        &a.value,
                        &format!("the architectures of {what}"),
                        is_architecture,
                        "architectures are Debian names such as amd64 or arm64",
                    )?;
                    if list.is_empty() {
                        self.problem(
                            a.value.pos,
                            format!("{what} has no architectures; list at least one, e.g. [amd64]"),
                        );
                        return None;
                    }
                    Some(list)
                });
            let repositories = f
                .required("repositories", &mut self.problems)
                .and_then(|r| self.repositories(&r.value, &what, archives));
            if let (Some(release), Some(architectures), Some(repositories)) =
                (release, architectures, repositories)
            {
                out.insert(
                    name.to_string(),
                    Base {
                        name: name.to_string(),
                        release,
                        architectures,
                        repositories,
                    },
                );
            }
        }
        out
    }

    fn repositories(
        &mut self,
        node: &Node<'_>,
        base: &str,
        archives: &BTreeMap<String, Archive>,
    ) -> Option<Vec<Repository>> {
        let Some(items) = node.as_seq() else {
            self.problem(
                node.pos,
                format!(
                    "the repositories of {base} must be a list of {{archive, suite, components}}, found {}",
                    node.describe()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.problem(
                node.pos,
                format!("{base} has no repositories; list at least one"),
            );
            return None;
        }
        let mut out: Vec<Repository> = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let what = format!("a repository of {base}");
            let Some(f) = self.fields(item, &what, item.pos, REPOSITORY_KEYS) else {
                ok = false;
                continue;
            };
            let archive = f.required("archive", &mut self.problems).and_then(|a| {
                let name = self.text(&a.value, &format!("the archive of {what}"))?;
                if !archives.contains_key(name) {
                    let known: Vec<&str> = archives.keys().map(String::as_str).collect();
                    self.problem(
                        a.value.pos,
                        format!(
                            "{what} names unknown archive `{name}`; define it under `archives` or use one of: {}",
                            if known.is_empty() { "(none defined)".to_string() } else { known.join(", ") }
                        ),
                    );
                    return None;
                }
                Some(name.to_string())
            });
            let suite = f.required("suite", &mut self.problems).and_then(|s| {
                let suite = self.text(&s.value, &format!("the suite of {what}"))?;
                if !is_suite(suite) {
                    self.problem(
                        s.value.pos,
                        format!("invalid suite `{suite}` in {what}; write the suite or codename as in the archive, e.g. bookworm-security"),
                    );
                    return None;
                }
                Some(suite.to_string())
            });
            let components = f.required("components", &mut self.problems).and_then(|c| {
                let list = self.name_list(
                    &c.value,
                    &format!("the components of {what}"),
                    is_suite,
                    "components are archive names such as main or non-free-firmware",
                )?;
                if list.is_empty() {
                    self.problem(
                        c.value.pos,
                        format!("{what} has no components; list at least one, e.g. [main]"),
                    );
                    return None;
                }
                Some(list)
            });
            match (archive, suite, components) {
                (Some(archive), Some(suite), Some(components)) => {
                    if let Some(first) = out
                        .iter()
                        .find(|r| r.archive == archive && r.suite == suite)
                    {
                        self.problem(
                            item.pos,
                            format!(
                                "suite `{}` of archive `{}` is listed twice in {base}; merge the components into one entry",
                                first.suite, first.archive
                            ),
                        );
                        ok = false;
                    } else {
                        out.push(Repository {
                            archive,
                            suite,
                            components,
                        });
                    }
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn manifests(&mut self, node: &Node<'_>) -> Vec<String> {
        let globs: Vec<(String, Pos)> = match node.as_seq() {
            Some(_) => match self.text_list(node, "`manifests`") {
                Some(list) => list.into_iter().map(|(g, p)| (g.to_string(), p)).collect(),
                None => return Vec::new(),
            },
            None => match self.text(node, "`manifests`") {
                Some(glob) => vec![(glob.to_string(), node.pos)],
                None => return Vec::new(),
            },
        };
        if globs.is_empty() {
            self.problem(
                node.pos,
                "`manifests` is empty; write a glob such as images/**/*.yaml",
            );
        }
        for (glob, pos) in &globs {
            if glob.is_empty() {
                self.problem(
                    *pos,
                    "empty manifest glob; write a glob such as images/**/*.yaml",
                );
            } else if let Err(e) = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
            {
                self.problem(
                    *pos,
                    format!("invalid manifest glob `{glob}`: {}", e.kind()),
                );
            }
        }
        globs.into_iter().map(|(g, _)| g).collect()
    }

    fn release(&mut self, entry: &Entry<'_>) -> ReleasePolicy {
        let mut policy = ReleasePolicy::default();
        let Some(f) = self.fields(&entry.value, "`release`", entry.key.pos, RELEASE_KEYS) else {
            return policy;
        };
        let name_rule = "names use lowercase letters, digits, `.`, `_` and `-`";
        let mut stages_pos = entry.key.pos;
        if let Some(s) = f.get("stages") {
            stages_pos = s.value.pos;
            if let Some(stages) = self.name_list(&s.value, "`release.stages`", is_name, name_rule) {
                if stages.is_empty() {
                    self.problem(s.value.pos, "`release.stages` is empty; list the stages in promotion order, e.g. [testing, production]");
                }
                policy.stages = stages;
            }
        }
        if let Some(p) = f.get("production")
            && let Some(pf) =
                self.fields(&p.value, "`release.production`", p.key.pos, PRODUCTION_KEYS)
        {
            if let Some(r) = pf.get("requires_stage")
                && let Some(stage) = self.text(&r.value, "`release.production.requires_stage`")
            {
                policy.production.requires_stage = stage.to_string();
                stages_pos = r.value.pos;
            }
            if let Some(m) = pf.get("min_soak")
                && let Some(text) = self.text(&m.value, "`release.production.min_soak`")
            {
                match parse_duration(text) {
                    Ok(d) => policy.production.min_soak = d,
                    Err(e) => self.problem(m.value.pos, e.to_string()),
                }
            }
            if let Some(s) = pf.get("required_suites")
                && let Some(list) = self.name_list(
                    &s.value,
                    "`release.production.required_suites`",
                    is_name,
                    name_rule,
                )
            {
                policy.production.required_suites = list;
            }
        }
        if let Some(x) = f.get("expedite")
            && let Some(xf) = self.fields(&x.value, "`release.expedite`", x.key.pos, EXPEDITE_KEYS)
            && let Some(s) = xf.get("required_suites")
            && let Some(list) = self.name_list(
                &s.value,
                "`release.expedite.required_suites`",
                is_name,
                name_rule,
            )
        {
            policy.expedite.required_suites = list;
        }
        if !policy.stages.is_empty() && !policy.stages.contains(&policy.production.requires_stage) {
            self.problem(
                stages_pos,
                format!(
                    "`release.production.requires_stage` is `{}`, which is not one of the stages ({}); name one of them",
                    policy.production.requires_stage,
                    policy.stages.join(", ")
                ),
            );
        }
        policy
    }

    fn lifecycle(&mut self, entry: &Entry<'_>) -> LifecycleConfig {
        let mut config = LifecycleConfig::default();
        let Some(f) = self.fields(&entry.value, "`lifecycle`", entry.key.pos, LIFECYCLE_KEYS)
        else {
            return config;
        };
        if let Some(d) = f.get("distro_info") {
            config.distro_info = self.path(&d.value, "`lifecycle.distro_info`");
        }
        if let Some(d) = f.get("security_support") {
            config.security_support = self.path(&d.value, "`lifecycle.security_support`");
        }
        if let Some(w) = f.get("warn_days")
            && let Some(text) = self.text(&w.value, "`lifecycle.warn_days`")
        {
            match text.parse::<u32>() {
                Ok(days) => config.warn_days = days,
                Err(_) => self.problem(
                    w.value.pos,
                    format!(
                        "`lifecycle.warn_days` is `{text}`; write a whole number of days, e.g. 180"
                    ),
                ),
            }
        }
        config
    }
}

/// Debian release numbers as written in fleet.yaml: `12`, `12.5`, `13`.
fn is_release(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'-'))
}

/// Decodes `%XX` escapes of a file URL path; `None` if malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn testdata() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
    }

    /// Writes `text` as `fleet.yaml` in a fresh directory.
    fn fleet_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FLEET_FILE);
        fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Loads `text` and returns the error's lines, the path shortened to `F`.
    fn problems(text: &str) -> Vec<String> {
        let (_dir, path) = fleet_file(text);
        let err = FleetConfig::load(&path).unwrap_err();
        let path = std::path::absolute(&path).unwrap();
        err.to_string()
            .replace(&path.display().to_string(), "F")
            .lines()
            .map(str::to_string)
            .collect()
    }

    const MINIMAL: &str = "\
archives:
  debian: ../mirror/debian
bases:
  bookworm:
    release: \"12\"
    architectures: [amd64]
    repositories:
      - {archive: debian, suite: bookworm, components: [main]}
manifests: images/**/*.yaml
";

    #[test]
    fn loads_the_example_fleet() {
        let path = testdata().join("fleet/fleet.yaml");
        let config = FleetConfig::load(&path).unwrap();
        let dir = testdata().join("fleet");
        assert_eq!(config.path, dir.join("fleet.yaml"));
        assert_eq!(config.dir, dir);
        assert_eq!(
            config.archives["debian"].location,
            MirrorLocation::Directory(testdata().join("mirror/debian"))
        );
        let keyring = testdata().join("keyrings/debian-archive-keyring.gpg");
        assert_eq!(config.keyring.as_deref(), Some(keyring.as_path()));
        assert_eq!(
            config.keyring_for("debian-security"),
            Some(keyring.as_path())
        );
        let names: Vec<&str> = config.bases.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["bookworm", "bookworm-backports", "buster", "trixie"]
        );
        let buster = &config.bases["buster"];
        assert_eq!(buster.release, "10");
        assert_eq!(buster.repositories[2].suite, "buster/updates");
        assert_eq!(buster.repositories[2].archive, "debian-security");
        let bpo = &config.bases["bookworm-backports"];
        assert_eq!(bpo.architectures, ["amd64"]);
        assert_eq!(bpo.repositories.len(), 4);
        assert_eq!(bpo.repositories[3].suite, "bookworm-backports");
        assert_eq!(bpo.repositories[3].components, ["main"]);
        assert_eq!(config.manifests, ["images/**/*.yaml"]);
        assert_eq!(config.release, ReleasePolicy::default());
        assert_eq!(
            config.release.production.min_soak,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            config.lifecycle,
            LifecycleConfig {
                distro_info: Some(testdata().join("distro-info/debian.csv")),
                ..LifecycleConfig::default()
            }
        );
        // Loading the directory gives the same result.
        assert_eq!(FleetConfig::load(&dir).unwrap(), config);
    }

    /// Counts `*.yaml` files below `dir`, like `find dir -name '*.yaml'`.
    fn count_yaml(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                if p.is_dir() {
                    count_yaml(&p)
                } else {
                    usize::from(p.extension().is_some_and(|e| e == "yaml"))
                }
            })
            .sum()
    }

    #[test]
    fn lists_all_manifests_of_the_example_fleet() {
        let config = FleetConfig::load(&testdata().join("fleet")).unwrap();
        let paths = config.manifest_paths().unwrap();
        let images = testdata().join("fleet/images");
        assert_eq!(paths.len(), count_yaml(&images));
        assert_eq!(paths.len(), 40);
        assert!(paths.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        assert!(paths.iter().all(|p| p.starts_with(&images)));
        assert!(!paths.iter().any(|p| p.ends_with("README.md")));
    }

    #[test]
    fn numbers_as_release_are_taken_verbatim() {
        let (_d, path) = fleet_file(&MINIMAL.replace("release: \"12\"", "release: 12"));
        assert_eq!(
            FleetConfig::load(&path).unwrap().bases["bookworm"].release,
            "12"
        );
        let (_d, path) = fleet_file(&MINIMAL.replace("release: \"12\"", "release: 12.10"));
        assert_eq!(
            FleetConfig::load(&path).unwrap().bases["bookworm"].release,
            "12.10"
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_their_line() {
        assert_eq!(
            problems(&format!("{MINIMAL}bogus: 1\n")),
            [
                "F:10:1: unknown key `bogus` in the top level of fleet.yaml; expected one of: archives, keyring, bases, manifests, release, lifecycle"
            ]
        );
        // Inside a flow mapping, with the column.
        assert_eq!(
            problems(&MINIMAL.replace("components: [main]}", "components: [main], comp: x}")),
            [
                "F:8:64: unknown key `comp` in a repository of base `bookworm`; expected one of: archive, suite, components"
            ]
        );
        assert_eq!(
            problems(&MINIMAL.replace(
                "    release: \"12\"\n",
                "    release: \"12\"\n    arch: [amd64]\n"
            )),
            [
                "F:6:5: unknown key `arch` in base `bookworm`; expected one of: release, architectures, repositories"
            ]
        );
    }

    #[test]
    fn missing_required_keys_are_reported() {
        assert_eq!(
            problems(&MINIMAL.replace("manifests: images/**/*.yaml\n", "")),
            ["F:1:1: missing required key `manifests` in the top level of fleet.yaml"]
        );
        assert_eq!(
            problems(&MINIMAL.replace("    release: \"12\"\n", "")),
            ["F:4:3: missing required key `release` in base `bookworm`"]
        );
        assert_eq!(
            problems(&MINIMAL.replace("suite: bookworm, ", "")),
            ["F:8:9: missing required key `suite` in a repository of base `bookworm`"]
        );
    }

    #[test]
    fn a_repository_naming_an_unknown_archive_is_reported() {
        assert_eq!(
            problems(&MINIMAL.replace("{archive: debian,", "{archive: debain,")),
            [
                "F:8:19: a repository of base `bookworm` names unknown archive `debain`; define it under `archives` or use one of: debian"
            ]
        );
    }

    #[test]
    fn empty_architectures_and_repositories_are_reported() {
        assert_eq!(
            problems(&MINIMAL.replace("[amd64]", "[]")),
            ["F:6:20: base `bookworm` has no architectures; list at least one, e.g. [amd64]"]
        );
        assert_eq!(
            problems(&MINIMAL.replace("[amd64]", "amd64")),
            [
                "F:6:20: the architectures of base `bookworm` must be a list such as [a, b], found a string"
            ]
        );
        assert_eq!(
            problems(&MINIMAL.replace("[amd64]", "[amd64, AMD64]")),
            [
                "F:6:28: invalid name `AMD64` in the architectures of base `bookworm`; architectures are Debian names such as amd64 or arm64"
            ]
        );
        let text = "archives: {debian: /m}\nbases:\n  b:\n    release: 1\n    architectures: [amd64]\n    repositories: []\nmanifests: x/*.yaml\n";
        assert_eq!(
            problems(text),
            ["F:6:19: base `b` has no repositories; list at least one"]
        );
    }

    #[test]
    fn invalid_names_are_reported() {
        assert_eq!(
            problems(
                &MINIMAL
                    .replace("  debian: ../mirror", "  Debian Main: ../mirror")
                    .replace("archive: debian", "archive: x")
            ),
            [
                "F:2:3: invalid name `Debian Main` in `archives`; names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                "F:8:19: a repository of base `bookworm` names unknown archive `x`; define it under `archives` or use one of: (none defined)",
            ]
        );
        assert_eq!(
            problems(&MINIMAL.replace("  bookworm:\n", "  -bookworm:\n")),
            [
                "F:4:3: invalid name `-bookworm` in `bases`; names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit"
            ]
        );
        assert_eq!(
            problems(&MINIMAL.replace("suite: bookworm,", "suite: \"book worm\",")),
            [
                "F:8:34: invalid suite `book worm` in a repository of base `bookworm`; write the suite or codename as in the archive, e.g. bookworm-security"
            ]
        );
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        assert_eq!(
            problems(&MINIMAL.replace(
                "  debian: ../mirror/debian\n",
                "  debian: ../mirror/debian\n  debian: /other\n"
            )),
            ["F:3:3: `debian` is defined twice in `archives` (first at line 2); keep one"]
        );
        assert_eq!(
            problems(&format!("{MINIMAL}manifests: x/*.yaml\n")),
            [
                "F:10:1: duplicate key `manifests` in the top level of fleet.yaml (first at line 9); keep one"
            ]
        );
        let twice = MINIMAL.replace(
            "components: [main]}\n",
            "components: [main]}\n      - {archive: debian, suite: bookworm, components: [contrib]}\n",
        );
        assert_eq!(
            problems(&twice),
            [
                "F:9:9: suite `bookworm` of archive `debian` is listed twice in base `bookworm`; merge the components into one entry"
            ]
        );
    }

    #[test]
    fn all_problems_are_reported_at_once_in_file_order() {
        let text = "archives:\n  debian: ftp://x\nbases: {}\nmanifests: \"[\"\nextra: 1\n";
        assert_eq!(
            problems(text),
            [
                "F:2:11: archive `debian`: unsupported URL scheme `ftp://`; use a directory, file://, http:// or https://",
                "F:3:1: `bases` is empty; define at least one base",
                "F:4:12: invalid manifest glob `[`: unclosed character class; missing ']'",
                "F:5:1: unknown key `extra` in the top level of fleet.yaml; expected one of: archives, keyring, bases, manifests, release, lifecycle",
            ]
        );
    }

    #[test]
    fn archive_locations_and_keyrings() {
        let text = "\
archives:
  debian: ../mirror/./debian/
  security: {url: ../mirror/debian-security, keyring: keyrings/security.gpg}
  remote: http://mirror.example/debian///
  local: file:///srv/mirror%20one/debian
  host: file://localhost/srv/m
keyring: keyrings/debian-archive-keyring.gpg
bases:
  bookworm:
    release: \"12\"
    architectures: [amd64, arm64]
    repositories:
      - {archive: debian, suite: bookworm, components: [main, non-free-firmware]}
      - {archive: security, suite: bookworm-security, components: [main]}
manifests: [images/*.yaml, more/**/*.yml]
";
        let (dir, path) = fleet_file(text);
        let config = FleetConfig::load(&path).unwrap();
        let root = std::path::absolute(dir.path()).unwrap();
        let parent = root.parent().unwrap();
        assert_eq!(
            config.archives["debian"].location,
            MirrorLocation::Directory(parent.join("mirror/debian"))
        );
        assert_eq!(
            config.archives["security"].location,
            MirrorLocation::Directory(parent.join("mirror/debian-security"))
        );
        assert_eq!(
            config.archives["remote"].location,
            MirrorLocation::Http("http://mirror.example/debian".into())
        );
        assert_eq!(
            config.archives["local"].location,
            MirrorLocation::Directory("/srv/mirror one/debian".into())
        );
        assert_eq!(
            config.archives["host"].location,
            MirrorLocation::Directory("/srv/m".into())
        );
        let default = root.join("keyrings/debian-archive-keyring.gpg");
        assert_eq!(config.keyring.as_deref(), Some(default.as_path()));
        assert_eq!(
            config.keyring_for("security"),
            Some(root.join("keyrings/security.gpg").as_path())
        );
        assert_eq!(
            config.archives["security"].keyring,
            Some(root.join("keyrings/security.gpg"))
        );
        assert_eq!(config.keyring_for("debian"), Some(default.as_path()));
        assert_eq!(config.keyring_for("nonexistent"), None);
        assert_eq!(config.manifests, ["images/*.yaml", "more/**/*.yml"]);
        assert_eq!(config.bases["bookworm"].architectures, ["amd64", "arm64"]);
        assert_eq!(
            config.bases["bookworm"].repositories[0].components,
            ["main", "non-free-firmware"]
        );

        let bad = "archives:\n  a: {keyring: k.gpg}\n  b: file://host/x\n  c: \"\"\n  d: {url: /x, key: y}\nbases: {}\nmanifests: x\n";
        assert_eq!(
            problems(bad),
            [
                "F:2:3: missing required key `url` in archive `a`",
                "F:3:6: archive `b`: `file://host/x`: file URLs must be absolute (file:///srv/mirror); write a plain path for a directory relative to fleet.yaml",
                "F:4:6: archive `c`: the location is empty; write a directory or URL",
                "F:5:16: unknown key `key` in archive `d`; expected one of: url, keyring",
                "F:6:1: `bases` is empty; define at least one base",
            ]
        );
    }

    #[test]
    fn release_policy_and_lifecycle() {
        let text = format!(
            "{MINIMAL}release:\n  stages: [canary, testing, production]\n  production: {{requires_stage: canary, min_soak: 1d12h, required_suites: [smoke]}}\n  expedite: {{required_suites: []}}\nlifecycle: {{distro_info: ../distro-info/debian.csv, warn_days: 90}}\n"
        );
        let (dir, path) = fleet_file(&text);
        let config = FleetConfig::load(&path).unwrap();
        assert_eq!(config.release.stages, ["canary", "testing", "production"]);
        assert_eq!(config.release.production.requires_stage, "canary");
        assert_eq!(
            config.release.production.min_soak,
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(config.release.production.required_suites, ["smoke"]);
        assert!(config.release.expedite.required_suites.is_empty());
        let parent = std::path::absolute(dir.path()).unwrap();
        assert_eq!(
            config.lifecycle.distro_info,
            Some(parent.parent().unwrap().join("distro-info/debian.csv"))
        );
        assert_eq!(config.lifecycle.warn_days, 90);

        let bad = format!(
            "{MINIMAL}release:\n  stages: [qa, qa]\n  production: {{requires_stage: staging, min_soak: 7x}}\nlifecycle: {{warn_days: -3}}\n"
        );
        assert_eq!(
            problems(&bad),
            [
                "F:11:16: `qa` is listed twice in `release.stages`; keep one",
                "F:12:32: `release.production.requires_stage` is `staging`, which is not one of the stages (testing, production); name one of them",
                "F:12:51: invalid duration `7x`: unknown unit `x`; write a whole number and a unit (s, m, h, d, w), e.g. 30m, 12h, 7d, 2w or 1d12h",
                "F:13:24: `lifecycle.warn_days` is `-3`; write a whole number of days, e.g. 180",
            ]
        );
    }

    #[test]
    fn anchors_and_merge_keys_can_share_settings() {
        let text = "\
archives: {debian: /m}
bases:
  bookworm: &bookworm
    release: 12
    architectures: [amd64]
    repositories: &repos
      - {archive: debian, suite: bookworm, components: [main]}
  bookworm-arm:
    <<: *bookworm
    architectures: [arm64]
  also:
    release: 12
    architectures: [amd64]
    repositories: *repos
manifests: x/*.yaml
";
        let (_d, path) = fleet_file(text);
        let config = FleetConfig::load(&path).unwrap();
        let arm = &config.bases["bookworm-arm"];
        assert_eq!(arm.release, "12");
        assert_eq!(arm.architectures, ["arm64"]);
        assert_eq!(arm.repositories, config.bases["bookworm"].repositories);
        assert_eq!(config.bases["also"].repositories[0].suite, "bookworm");
        // A merged mapping with a bad key reports where the key is written.
        let bad = text.replace(
            "    release: 12\n    architectures: [amd64]\n    repositories: &repos",
            "    release: 12\n    arches: [amd64]\n    repositories: &repos",
        );
        let lines = problems(&bad);
        assert!(lines.contains(&"F:5:5: unknown key `arches` in base `bookworm`; expected one of: release, architectures, repositories".to_string()), "{lines:?}");
    }

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("7d"), Ok(7 * 86_400));
        assert_eq!(secs("12h"), Ok(12 * 3_600));
        assert_eq!(secs("2w"), Ok(14 * 86_400));
        assert_eq!(secs("30m"), Ok(1_800));
        assert_eq!(secs("45s"), Ok(45));
        assert_eq!(secs("0d"), Ok(0));
        assert_eq!(secs("1d12h30m"), Ok(86_400 + 12 * 3_600 + 1_800));
        let reason = |s: &str| parse_duration(s).unwrap_err().reason;
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("7"), "`7` has no unit");
        assert_eq!(reason("7y"), "unknown unit `y`");
        assert_eq!(reason("d"), "expected a number at `d`");
        assert_eq!(reason("7 d"), "unknown unit ` `");
        assert_eq!(reason("-1d"), "expected a number at `-1d`");
        assert_eq!(
            reason("99999999999999999999d"),
            "`99999999999999999999` is too large"
        );
        assert_eq!(reason("99999999999999w"), "it is too long");
        assert_eq!(
            parse_duration("7").unwrap_err().to_string(),
            "invalid duration `7`: `7` has no unit; write a whole number and a unit (s, m, h, d, w), e.g. 30m, 12h, 7d, 2w or 1d12h"
        );
    }

    #[test]
    fn syntax_errors_tabs_and_encoding_have_positions() {
        assert_eq!(
            problems("archives:\n\tdebian: /m\n"),
            [
                "F:2:1: tab character in indentation; YAML indents with spaces only: replace the tab with spaces"
            ]
        );
        let (_d, path) = fleet_file("");
        fs::write(&path, b"archives:\n  debian: /m\xe9\n").unwrap();
        let err = FleetConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "fleet.yaml:2:13: the file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
            ),
            "{err}"
        );
        let lines = problems("archives: [a,\n");
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("F:") && lines[0].contains("invalid YAML"),
            "{lines:?}"
        );
        assert_eq!(
            problems("- a\n- b\n"),
            [
                "F:1:1: the top level of fleet.yaml must be a mapping of `key: value` lines, found a list"
            ]
        );
    }

    #[test]
    fn discovery_searches_upward_like_cargo() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(FLEET_FILE), MINIMAL).unwrap();
        let nested = root.join("images/teams/data");
        fs::create_dir_all(&nested).unwrap();
        assert_eq!(
            FleetConfig::discover(None, &nested).unwrap(),
            root.join(FLEET_FILE)
        );
        assert_eq!(
            FleetConfig::discover(None, root).unwrap(),
            root.join(FLEET_FILE)
        );
        // A nearer fleet.yaml wins.
        fs::write(nested.join(FLEET_FILE), MINIMAL).unwrap();
        assert_eq!(
            FleetConfig::discover(None, &nested).unwrap(),
            nested.join(FLEET_FILE)
        );
        // Explicit: a directory, a file, relative to cwd.
        assert_eq!(
            FleetConfig::discover(Some(Path::new("../../..")), &nested).unwrap(),
            nested.join("../../..").join(FLEET_FILE)
        );
        let other = root.join("other.yaml");
        fs::write(&other, MINIMAL).unwrap();
        assert_eq!(FleetConfig::discover(Some(&other), &nested).unwrap(), other);
        let missing = FleetConfig::discover(Some(Path::new("nope.yaml")), root).unwrap_err();
        assert!(matches!(missing, ConfigError::Missing { .. }), "{missing}");
        let empty = FleetConfig::discover(Some(Path::new("images")), root).unwrap_err();
        assert!(
            empty
                .to_string()
                .contains("images/fleet.yaml: no such file"),
            "{empty}"
        );
        // Nothing anywhere above an empty directory tree.
        let lonely = tempfile::tempdir().unwrap();
        match FleetConfig::discover(None, lonely.path()) {
            Err(ConfigError::NotFound { start }) => assert_eq!(start, lonely.path()),
            // Only if some ancestor of the temp dir has a fleet.yaml.
            Ok(found) => assert!(!found.starts_with(lonely.path())),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn load_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = FleetConfig::load(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }), "{err}");
    }

    #[test]
    fn manifest_globs_select_yaml_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text = MINIMAL.replace(
            "manifests: images/**/*.yaml",
            "manifests: [images/**/*.yaml, extra/*.yml, single.yaml, images/a.yaml, missing/**/*.yaml, \"**/*.yaml\"]",
        );
        fs::write(root.join(FLEET_FILE), text).unwrap();
        for f in [
            "images/a.yaml",
            "images/b.txt",
            "images/x/y/z.yaml",
            "images/.hidden/h.yaml",
            "images/.h.yaml",
            "extra/e.yml",
            "extra/sub/deep.yml",
            "single.yaml",
            "other/o.yaml",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "image: x\n").unwrap();
        }
        let config = FleetConfig::load(root).unwrap();
        let paths = config.manifest_paths().unwrap();
        let rel: Vec<String> = paths
            .iter()
            .map(|p| p.strip_prefix(&config.dir).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "extra/e.yml",
                "images/a.yaml",
                "images/x/y/z.yaml",
                "other/o.yaml",
                "single.yaml"
            ]
        );
        // `*` does not cross directories.
        let config = FleetConfig {
            manifests: vec!["images/*.yaml".into()],
            ..config
        };
        assert_eq!(
            config.manifest_paths().unwrap(),
            [config.dir.join("images/a.yaml")]
        );
    }

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
        assert_eq!(normalize(Path::new("a/../../b")), Path::new("../b"));
        assert_eq!(
            split_glob("images/**/*.yaml"),
            ("images".into(), Some("**/*.yaml".into()))
        );
        assert_eq!(
            split_glob("/srv/*.yaml"),
            ("/srv".into(), Some("*.yaml".into()))
        );
        assert_eq!(split_glob("/*.yaml"), ("/".into(), Some("*.yaml".into())));
        assert_eq!(split_glob("*.yaml"), ("".into(), Some("*.yaml".into())));
        assert_eq!(split_glob("a/b.yaml"), ("a/b.yaml".into(), None));
    }
}
