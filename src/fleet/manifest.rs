//! Image manifests: one YAML file per container image, naming the image,
//! its base (a key of `fleet.yaml` `bases`), its architecture and the exact
//! installed package set.
//!
//! ```yaml
//! image: postgresql-15        # unique in the fleet: [a-z0-9][a-z0-9._-]*
//! base: bookworm              # a key of fleet.yaml `bases`
//! architecture: amd64         # optional, default: the base's first architecture
//! packages:                   # binary package name (optionally `:arch`) -> version
//!   libc6: 2.36-9+deb12u7
//!   postgresql-15: 15.8-0+deb12u1
//! hold: [postgresql-15]       # optional: never proposed for update
//! labels: {team: data}        # optional free map of strings
//! ```
//!
//! This module owns parsing ([`parse_manifest`], pure), checking against the
//! fleet configuration ([`validate_against`]) and loading every manifest of
//! a fleet in parallel ([`load_all`]). Versions are checked with dpkg's
//! syntax rules and taken verbatim from the file: an unquoted `1.10` stays
//! `1.10` (see [`crate::fleet::yaml`]). Every error names the file, the line
//! and column, what is wrong and what to do.

use crate::deb::hash::Sha256Digest;
use crate::fleet::config::{self, ConfigError, FleetConfig};
use crate::fleet::yaml::{self, Fields, Node, Pos, ScalarKind, YamlError};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest manifest file accepted. A manifest of 5,000 packages is about
/// 200 KB; anything near this limit is not a manifest.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// At most this many problems are reported per manifest.
const MAX_PROBLEMS: usize = 50;

/// A parsed image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// The image name, unique in the fleet.
    pub image: String,
    /// The base, a key of [`FleetConfig::bases`].
    pub base: String,
    /// The architecture, if given (default: the base's first).
    pub architecture: Option<String>,
    /// The installed packages, in file order.
    pub packages: Vec<ManifestPackage>,
    /// Packages never proposed for update.
    pub hold: Vec<String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// SHA-256 of the file's bytes.
    pub content_hash: Sha256Digest,
    /// Where the top-level fields are, for messages.
    pub positions: ManifestPositions,
}

/// 1-based `(line, column)` of the top-level values of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManifestPositions {
    /// The `image` value.
    pub image: (usize, usize),
    /// The `base` value.
    pub base: (usize, usize),
    /// The `architecture` value, if present.
    pub architecture: Option<(usize, usize)>,
}

/// One installed package of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPackage {
    /// The binary package name.
    pub name: String,
    /// The architecture qualifier, from a `libc6:amd64` key.
    pub arch: Option<String>,
    /// The installed version, verbatim.
    pub version: String,
    /// 1-based line of the key.
    pub line: usize,
    /// 1-based column of the key.
    pub column: usize,
}

impl ManifestPackage {
    /// The key as written: `name` or `name:arch`.
    pub fn key(&self) -> String {
        match &self.arch {
            Some(arch) => format!("{}:{arch}", self.name),
            None => self.name.clone(),
        }
    }
}

impl Manifest {
    /// The architecture in effect: the manifest's, else the base's first.
    /// `None` only when the base is unknown.
    pub fn effective_architecture<'c>(&'c self, config: &'c FleetConfig) -> Option<&'c str> {
        match &self.architecture {
            Some(arch) => Some(arch),
            None => config
                .bases
                .get(&self.base)
                .and_then(|b| b.architectures.first())
                .map(String::as_str),
        }
    }
}

/// A problem with a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest could not be read.
    #[error("{}: cannot read the manifest: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is far too large to be a manifest.
    #[error(
        "{}: the file is {size} bytes, more than the {limit}-byte limit for a manifest; check that it is an image manifest",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8, a tab in indentation, invalid YAML, or a parsing limit hit.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// Valid YAML that is not a valid manifest: wrong shapes, unknown or
    /// missing keys, invalid names, empty versions.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A package is listed twice.
    #[error(
        "{}:{line}:{column}: package `{key}` is listed twice (first as `{first_key}` at line {first_line}); keep one entry",
        path.display()
    )]
    DuplicatePackage {
        /// The file.
        path: PathBuf,
        /// The package key (`name` or `name:arch`).
        key: String,
        /// The key of the first entry (differs when `name` and
        /// `name:<image architecture>` collide).
        first_key: String,
        /// The line of the first entry.
        first_line: usize,
        /// 1-based line of the second entry.
        line: usize,
        /// 1-based column of the second entry.
        column: usize,
    },
    /// A version breaks dpkg's syntax rules.
    #[error(
        "{}:{line}:{column}: invalid version `{version}` for package `{package}`: {reason}; write the installed version exactly as `dpkg-query -W` prints it",
        path.display()
    )]
    InvalidVersion {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The package key.
        package: String,
        /// The version as written.
        version: String,
        /// What dpkg would reject.
        reason: String,
    },
    /// The base is not defined in `fleet.yaml`.
    #[error(
        "{}:{line}:{column}: unknown base `{base}`; fleet.yaml defines: {known}. Fix the name or add the base to fleet.yaml",
        path.display()
    )]
    UnknownBase {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The base named.
        base: String,
        /// The bases defined, comma-separated.
        known: String,
    },
    /// The architecture is not one of the base's.
    #[error(
        "{}:{line}:{column}: architecture `{architecture}` is not one of base `{base}`'s architectures ({known}); fix it or add it to the base in fleet.yaml",
        path.display()
    )]
    UnknownArchitecture {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The architecture named.
        architecture: String,
        /// The base.
        base: String,
        /// The base's architectures, comma-separated.
        known: String,
    },
    /// Two manifests declare the same image name.
    #[error(
        "image `{image}` is declared twice: {}:{first_line} and {}:{second_line}; image names must be unique in the fleet, rename one",
        first.display(),
        second.display()
    )]
    DuplicateImage {
        /// The image name.
        image: String,
        /// The first manifest (in path order).
        first: PathBuf,
        /// The line of its `image:` value.
        first_line: usize,
        /// The other manifest.
        second: PathBuf,
        /// The line of its `image:` value.
        second_line: usize,
    },
    /// The manifest files could not be listed.
    #[error(transparent)]
    Listing(#[from] ConfigError),
}

impl ManifestError {
    /// The manifest file concerned, if one is.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ManifestError::Read { path, .. }
            | ManifestError::TooLarge { path, .. }
            | ManifestError::Syntax { path, .. }
            | ManifestError::Invalid { path, .. }
            | ManifestError::DuplicatePackage { path, .. }
            | ManifestError::InvalidVersion { path, .. }
            | ManifestError::UnknownBase { path, .. }
            | ManifestError::UnknownArchitecture { path, .. } => Some(path),
            ManifestError::DuplicateImage { second, .. } => Some(second),
            ManifestError::Listing(_) => None,
        }
    }

    /// The 1-based line concerned, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ManifestError::Syntax { line, .. }
            | ManifestError::Invalid { line, .. }
            | ManifestError::DuplicatePackage { line, .. }
            | ManifestError::InvalidVersion { line, .. }
            | ManifestError::UnknownBase { line, .. }
            | ManifestError::UnknownArchitecture { line, .. } => Some(*line),
            ManifestError::DuplicateImage { second_line, .. } => Some(*second_line),
            _ => None,
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "image",
    "base",
    "architecture",
    "packages",
    "hold",
    "labels",
];

/// Parses a manifest; pure (no IO, no configuration). Returns the first
/// problem; see [`parse_manifest_collecting`] for all of them.
pub fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<Manifest, ManifestError> {
    parse_manifest_collecting(path, bytes).map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| unexplained(path))
    })
}

/// Parses a manifest, reporting every problem found (up to 50), in file
/// order. The error vector is never empty.
pub fn parse_manifest_collecting(
    path: &Path,
    bytes: &[u8],
) -> Result<Manifest, Vec<ManifestError>> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_MANIFEST_BYTES {
        return Err(vec![ManifestError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_MANIFEST_BYTES,
        }]);
    }
    let syntax = |e: YamlError| {
        vec![ManifestError::Syntax {
            path: path.to_path_buf(),
            line: e.pos.line as usize,
            column: e.pos.column as usize,
            message: e.message,
        }]
    };
    let text = yaml::decode_utf8(bytes).map_err(syntax)?;
    let root = yaml::parse(text).map_err(syntax)?;
    let mut reader = Reader {
        path,
        errors: Vec::new(),
        problems: Vec::new(),
    };
    let manifest = reader.manifest(&root, bytes);
    let mut errors = reader.errors;
    errors.extend(
        reader
            .problems
            .into_iter()
            .map(|e| invalid(path, e.pos, e.message)),
    );
    match manifest {
        Some(m) if errors.is_empty() => Ok(m),
        _ => {
            if errors.is_empty() {
                errors.push(unexplained(path));
            }
            errors.sort_by_key(|e| e.line());
            Err(truncate(path, errors))
        }
    }
}

/// Checks a manifest against the fleet: the base exists, the architecture
/// is one of the base's, and no package is listed both plainly and
/// qualified with the image's own architecture (`libc6` and `libc6:amd64`).
pub fn validate_against(config: &FleetConfig, m: &Manifest) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let Some(base) = config.bases.get(&m.base) else {
        let (line, column) = m.positions.base;
        errors.push(ManifestError::UnknownBase {
            path: m.path.clone(),
            line,
            column,
            base: m.base.clone(),
            known: config.bases.keys().cloned().collect::<Vec<_>>().join(", "),
        });
        return errors;
    };
    if let Some(arch) = &m.architecture
        && !base.architectures.contains(arch)
    {
        let (line, column) = m.positions.architecture.unwrap_or_default();
        errors.push(ManifestError::UnknownArchitecture {
            path: m.path.clone(),
            line,
            column,
            architecture: arch.clone(),
            base: base.name.clone(),
            known: base.architectures.join(", "),
        });
    }
    if let Some(arch) = m.effective_architecture(config) {
        let plain: HashMap<&str, usize> = m
            .packages
            .iter()
            .filter(|p| p.arch.is_none())
            .map(|p| (p.name.as_str(), p.line))
            .collect();
        for p in &m.packages {
            if p.arch.as_deref() == Some(arch)
                && let Some(&first) = plain.get(p.name.as_str())
            {
                errors.push(ManifestError::DuplicatePackage {
                    path: m.path.clone(),
                    key: p.key(),
                    first_key: p.name.clone(),
                    first_line: first,
                    line: p.line,
                    column: p.column,
                });
            }
        }
    }
    errors
}

/// Reads, parses and checks every manifest of the fleet, in parallel. One
/// bad manifest does not stop the others. Returns the manifests without
/// any problem, sorted by path, and every problem found. Manifests sharing
/// an image name are all left out, and each duplicate is reported naming
/// both files.
pub fn load_all(config: &FleetConfig) -> (Vec<Manifest>, Vec<ManifestError>) {
    let paths = match config.manifest_paths() {
        Ok(paths) => paths,
        Err(e) => return (Vec::new(), vec![ManifestError::Listing(e)]),
    };
    let results: Vec<Result<Manifest, Vec<ManifestError>>> = paths
        .par_iter()
        .map(|path| {
            let bytes = read_manifest(path).map_err(|e| vec![e])?;
            let m = parse_manifest_collecting(path, &bytes)?;
            let errors = validate_against(config, &m);
            if errors.is_empty() {
                Ok(m)
            } else {
                Err(errors)
            }
        })
        .collect();
    let mut manifests = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(m) => manifests.push(m),
            Err(e) => errors.extend(e),
        }
    }
    // Duplicate image names: report each later file against the first.
    let mut by_image: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, m) in manifests.iter().enumerate() {
        by_image.entry(m.image.as_str()).or_default().push(i);
    }
    let mut drop = vec![false; manifests.len()];
    for indices in by_image.values().filter(|v| v.len() > 1) {
        let Some((&first_index, rest)) = indices.split_first() else {
            continue;
        };
        let Some(first) = manifests.get(first_index) else {
            continue;
        };
        for &i in indices {
            if let Some(d) = drop.get_mut(i) {
                *d = true;
            }
        }
        for &i in rest {
            if let Some(other) = manifests.get(i) {
                errors.push(ManifestError::DuplicateImage {
                    image: first.image.clone(),
                    first: first.path.clone(),
                    first_line: first.positions.image.0,
                    second: other.path.clone(),
                    second_line: other.positions.image.0,
                });
            }
        }
    }
    let manifests = manifests
        .into_iter()
        .zip(drop)
        .filter_map(|(m, d)| (!d).then_some(m))
        .collect();
    errors.sort_by(|a, b| (a.path(), a.line()).cmp(&(b.path(), b.line())));
    (manifests, errors)
}

/// Reads a manifest file, refusing files over [`MAX_MANIFEST_BYTES`].
pub fn read_manifest(path: &Path) -> Result<Vec<u8>, ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    std::fs::read(path).map_err(read_error)
}

/// Stands in for a problem that was not described (should not happen).
fn unexplained(path: &Path) -> ManifestError {
    invalid(
        path,
        Pos { line: 1, column: 1 },
        "the manifest is not valid (no details available); check it against the documented format"
            .to_string(),
    )
}

fn invalid(path: &Path, pos: Pos, message: String) -> ManifestError {
    ManifestError::Invalid {
        path: path.to_path_buf(),
        line: pos.line as usize,
        column: pos.column as usize,
        message,
    }
}

/// Keeps the first [`MAX_PROBLEMS`] errors, noting how many were dropped.
fn truncate(path: &Path, mut errors: Vec<ManifestError>) -> Vec<ManifestError> {
    if errors.len() > MAX_PROBLEMS {
        let dropped = errors.len() - MAX_PROBLEMS;
        errors.truncate(MAX_PROBLEMS);
        let last = errors.last().and_then(ManifestError::line).unwrap_or(1);
        errors.push(ManifestError::Invalid {
            path: path.to_path_buf(),
            line: last,
            column: 1,
            message: format!("{dropped} more problems not shown; fix the ones above first"),
        });
    }
    errors
}

/// Image names: `[a-z0-9][a-z0-9._-]*`.
fn is_image_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Binary package names (Debian Policy 5.6.1): `[a-z0-9][a-z0-9+.-]+`.
fn is_package_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() >= 2
        && matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'+' | b'.' | b'-'))
}

const PACKAGE_NAME_RULE: &str = "package names use lowercase letters, digits, `+`, `-` and `.`, start with a letter or digit and are at least two characters long";

/// dpkg's version syntax rules, with its warnings treated as errors
/// ([`crate::deb::version::Version::parse`]). Returns what is wrong, or
/// `None` for a valid version.
fn version_syntax_error(s: &str) -> Option<String> {
    crate::deb::version::Version::parse(s)
        .err()
        .map(|e| e.problem().message().to_string())
}

/// Collects problems while reading the tree.
struct Reader<'p> {
    path: &'p Path,
    /// Problems with their own error variants.
    errors: Vec<ManifestError>,
    /// Problems reported as [`ManifestError::Invalid`].
    problems: Vec<YamlError>,
}

impl Reader<'_> {
    fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(YamlError::new(pos, message));
    }

    fn text<'n>(&mut self, node: &'n Node<'_>, what: &str) -> Option<&'n str> {
        node.expect_text(what)
            .map_err(|e| self.problems.push(e))
            .ok()
    }

    fn manifest(&mut self, root: &Node<'_>, bytes: &[u8]) -> Option<Manifest> {
        let top = Pos { line: 1, column: 1 };
        let what = "the top level of the manifest";
        if root.as_scalar().is_some_and(|s| s.kind == ScalarKind::Null) {
            self.problem(
                top,
                "the manifest is empty; write `image:`, `base:` and `packages:`",
            );
            return None;
        }
        let f = Fields::new(root, what, top, TOP_KEYS, &mut self.problems)?;
        let image = f.required("image", &mut self.problems).and_then(|e| {
            let name = self.text(&e.value, "`image`")?;
            if !is_image_name(name) {
                self.problem(
                    e.value.pos,
                    format!("invalid image name `{name}`; image names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit"),
                );
                return None;
            }
            Some((name.to_string(), e.value.pos))
        });
        let base = f.required("base", &mut self.problems).and_then(|e| {
            let name = self.text(&e.value, "`base`")?;
            Some((name.to_string(), e.value.pos))
        });
        let architecture = match f.get("architecture") {
            None => Some(None),
            Some(e) => self.text(&e.value, "`architecture`").and_then(|arch| {
                if config::is_architecture(arch) {
                    Some(Some((arch.to_string(), e.value.pos)))
                } else {
                    self.problem(
                        e.value.pos,
                        format!("invalid architecture `{arch}`; write a Debian architecture such as amd64 or arm64"),
                    );
                    None
                }
            }),
        };
        let packages = f
            .required("packages", &mut self.problems)
            .and_then(|e| self.packages(&e.value));
        let hold = match f.get("hold") {
            None => Some(Vec::new()),
            Some(e) => self.hold(&e.value, packages.as_deref()),
        };
        let labels = match f.get("labels") {
            None => Some(BTreeMap::new()),
            Some(e) => self.labels(&e.value),
        };
        let ((image, image_pos), (base, base_pos), architecture, packages, hold, labels) =
            (image?, base?, architecture?, packages?, hold?, labels?);
        let at = |p: Pos| (p.line as usize, p.column as usize);
        Some(Manifest {
            path: self.path.to_path_buf(),
            image,
            base,
            positions: ManifestPositions {
                image: at(image_pos),
                base: at(base_pos),
                architecture: architecture.as_ref().map(|(_, p)| at(*p)),
            },
            architecture: architecture.map(|(a, _)| a),
            packages,
            hold,
            labels,
            content_hash: Sha256Digest::of(bytes),
        })
    }

    fn packages(&mut self, node: &Node<'_>) -> Option<Vec<ManifestPackage>> {
        let Some(entries) = node.as_map() else {
            self.problem(
                node.pos,
                format!(
                    "`packages` must be a mapping of `name: version` lines, found {}",
                    node.describe()
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut first_line: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
        let mut ok = true;
        for entry in entries {
            let key = match yaml::key_text(&entry.key) {
                Ok(k) => k,
                Err(e) => {
                    self.problems.push(e);
                    ok = false;
                    continue;
                }
            };
            let line = entry.key.pos.line as usize;
            let column = entry.key.pos.column as usize;
            let (name, arch) = match key.split_once(':') {
                Some((name, arch)) => (name, Some(arch)),
                None => (key, None),
            };
            if !is_package_name(name) {
                self.problem(
                    entry.key.pos,
                    format!("invalid package name `{name}`; {PACKAGE_NAME_RULE}"),
                );
                ok = false;
                continue;
            }
            if let Some(arch) = arch
                && !config::is_architecture(arch)
            {
                self.problem(
                    entry.key.pos,
                    format!("invalid architecture `{arch}` in package key `{key}`; write `name:arch` with a Debian architecture such as amd64 or i386"),
                );
                ok = false;
                continue;
            }
            if let Some(&first) = first_line.get(key) {
                self.errors.push(ManifestError::DuplicatePackage {
                    path: self.path.to_path_buf(),
                    key: key.to_string(),
                    first_key: key.to_string(),
                    first_line: first,
                    line,
                    column,
                });
                ok = false;
                continue;
            }
            first_line.insert(key, line);
            let Some(version) = self.version(&entry.value, key) else {
                ok = false;
                continue;
            };
            out.push(ManifestPackage {
                name: name.to_string(),
                arch: arch.map(str::to_string),
                version,
                line,
                column,
            });
        }
        ok.then_some(out)
    }

    fn version(&mut self, node: &Node<'_>, key: &str) -> Option<String> {
        let Some(scalar) = node.as_scalar() else {
            self.problem(
                node.pos,
                format!(
                    "the version of `{key}` must be a single value such as 2.36-9+deb12u7, found {}",
                    node.describe()
                ),
            );
            return None;
        };
        if scalar.kind == ScalarKind::Null {
            let shown = if scalar.text.is_empty() {
                "nothing".to_string()
            } else {
                format!("`{}` (null)", scalar.text)
            };
            self.problem(
                node.pos,
                format!("package `{key}` has no version ({shown}); write the installed version, quoted if in doubt, e.g. \"2.36-9+deb12u7\""),
            );
            return None;
        }
        // Numbers and booleans are kept verbatim (`1.10` stays `1.10`), so
        // they need no quoting; dpkg's rules decide.
        let version = &*scalar.text;
        if let Some(reason) = version_syntax_error(version) {
            self.errors.push(ManifestError::InvalidVersion {
                path: self.path.to_path_buf(),
                line: node.pos.line as usize,
                column: node.pos.column as usize,
                package: key.to_string(),
                version: version.to_string(),
                reason,
            });
            return None;
        }
        Some(version.to_string())
    }

    fn hold(
        &mut self,
        node: &Node<'_>,
        packages: Option<&[ManifestPackage]>,
    ) -> Option<Vec<String>> {
        let items = node
            .expect_text_list("`hold`")
            .map_err(|e| self.problems.push(e))
            .ok()?;
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        let mut ok = true;
        for (item, pos) in items {
            let name = item.split_once(':').map_or(item, |(n, _)| n);
            if !is_package_name(name) {
                self.problem(
                    pos,
                    format!("invalid package name `{item}` in `hold`; {PACKAGE_NAME_RULE}"),
                );
                ok = false;
            } else if out.iter().any(|o| o == item) {
                self.problem(pos, format!("`{item}` is listed twice in `hold`; keep one"));
                ok = false;
            } else if let Some(packages) = packages
                && !packages.iter().any(|p| p.name == item || p.key() == item)
            {
                self.problem(
                    pos,
                    format!("`hold` names `{item}`, which is not in `packages`; remove it or fix the name"),
                );
                ok = false;
            } else {
                out.push(item.to_string());
            }
        }
        ok.then_some(out)
    }

    fn labels(&mut self, node: &Node<'_>) -> Option<BTreeMap<String, String>> {
        let Some(entries) = node.as_map() else {
            self.problem(
                node.pos,
                format!(
                    "`labels` must be a mapping of `name: text` lines, found {}",
                    node.describe()
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (first, dup) in yaml::duplicate_keys(entries) {
            let key = yaml::key_text(&dup.key).unwrap_or_default();
            self.problem(
                dup.key.pos,
                format!(
                    "label `{key}` is set twice (first at line {}); keep one",
                    first.line
                ),
            );
            ok = false;
        }
        for entry in entries {
            let key = match yaml::key_text(&entry.key) {
                Ok(k) => k,
                Err(e) => {
                    self.problems.push(e);
                    ok = false;
                    continue;
                }
            };
            match self.text(&entry.value, &format!("label `{key}`")) {
                Some(value) => {
                    out.entry(key.to_string())
                        .or_insert_with(|| value.to_string());
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn testdata() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        parse_manifest(Path::new("m.yaml"), text.as_bytes())
    }

    /// All error messages for `text`.
    fn errors(text: &str) -> Vec<String> {
        parse_manifest_collecting(Path::new("m.yaml"), text.as_bytes())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const GOOD: &str = "\
image: postgresql-15
base: bookworm
architecture: amd64
packages:
  libc6: 2.36-9+deb12u7
  libc6:i386: 2.36-9+deb12u7
  postgresql-15: 15.8-0+deb12u1
  tzdata: \"2024a-0+deb12u1\"
hold: [postgresql-15]
labels: {team: data, tier: 1}
";

    #[test]
    fn parses_a_complete_manifest() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.path, Path::new("m.yaml"));
        assert_eq!(m.image, "postgresql-15");
        assert_eq!(m.base, "bookworm");
        assert_eq!(m.architecture.as_deref(), Some("amd64"));
        let got: Vec<(&str, Option<&str>, &str, usize)> = m
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.arch.as_deref(),
                    p.version.as_str(),
                    p.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("libc6", None, "2.36-9+deb12u7", 5),
                ("libc6", Some("i386"), "2.36-9+deb12u7", 6),
                ("postgresql-15", None, "15.8-0+deb12u1", 7),
                ("tzdata", None, "2024a-0+deb12u1", 8),
            ]
        );
        assert_eq!(m.packages[1].key(), "libc6:i386");
        assert_eq!(m.packages[1].column, 3);
        assert_eq!(m.hold, ["postgresql-15"]);
        assert_eq!(m.labels["team"], "data");
        assert_eq!(m.labels["tier"], "1");
        assert_eq!(m.content_hash, Sha256Digest::of(GOOD.as_bytes()));
        assert_eq!(m.positions.image, (1, 8));
        assert_eq!(m.positions.base, (2, 7));
        assert_eq!(m.positions.architecture, Some((3, 15)));
        // Optional fields.
        let m = parse("image: a\nbase: b\npackages: {}\n").unwrap();
        assert_eq!(m.architecture, None);
        assert!(m.packages.is_empty() && m.hold.is_empty() && m.labels.is_empty());
    }

    #[test]
    fn numbers_as_versions_are_taken_verbatim() {
        let text = "image: a\nbase: b\npackages:\n  adduser: 3.134\n  foo: 1.10\n  bar: 2\n  baz: 1.0e3\n  qux: 0.50\n";
        let m = parse(text).unwrap();
        let versions: Vec<&str> = m.packages.iter().map(|p| p.version.as_str()).collect();
        assert_eq!(versions, ["3.134", "1.10", "2", "1.0e3", "0.50"]);
        // Flow style too, with lines.
        let m = parse("image: a\nbase: b\npackages: {foo: 1.10,\n  bar: 2.0}\n").unwrap();
        let got: Vec<(&str, &str, usize)> = m
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.line))
            .collect();
        assert_eq!(got, [("foo", "1.10", 3), ("bar", "2.0", 4)]);
        // An alias to a number keeps the anchored spelling.
        let m = parse("image: a\nbase: b\npackages:\n  foo: &v 1.10\n  bar: *v\n").unwrap();
        assert_eq!(m.packages[1].version, "1.10");
    }

    #[test]
    fn null_and_empty_versions_are_errors() {
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n  foo: ~\n  bar:\n  baz: null\n"),
            [
                "m.yaml:4:8: package `foo` has no version (`~` (null)); write the installed version, quoted if in doubt, e.g. \"2.36-9+deb12u7\"",
                "m.yaml:5:6: package `bar` has no version (nothing); write the installed version, quoted if in doubt, e.g. \"2.36-9+deb12u7\"",
                "m.yaml:6:8: package `baz` has no version (`null` (null)); write the installed version, quoted if in doubt, e.g. \"2.36-9+deb12u7\"",
            ]
        );
        // An empty quoted string is a string, and an invalid version.
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n  foo: \"\"\n"),
            [
                "m.yaml:4:8: invalid version `` for package `foo`: version string is empty; write the installed version exactly as `dpkg-query -W` prints it"
            ]
        );
    }

    #[test]
    fn booleans_as_versions_are_verbatim_then_rejected_by_dpkg_rules() {
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n  foo: yes\n  bar: true\n"),
            [
                "m.yaml:4:8: invalid version `yes` for package `foo`: version number does not start with digit; write the installed version exactly as `dpkg-query -W` prints it",
                "m.yaml:5:8: invalid version `true` for package `bar`: version number does not start with digit; write the installed version exactly as `dpkg-query -W` prints it",
            ]
        );
    }

    #[test]
    fn invalid_versions_name_line_and_reason() {
        let text = "image: a\nbase: b\npackages:\n  a1: 1.0-\n  a2: x:1.0\n  a3: 1.0_1\n  a4: 1.0-1_2\n  a5: \"1.0 1\"\n  a6: :1.0\n  a7: 1:-1\n  a8: 1:a1\n  a9: 99999999999:1\n";
        let reasons: Vec<String> = parse_manifest_collecting(Path::new("m.yaml"), text.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| match e {
                ManifestError::InvalidVersion {
                    line,
                    package,
                    reason,
                    ..
                } => {
                    format!("{line} {package}: {reason}")
                }
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "4 a1: revision number is empty",
                "5 a2: epoch in version is empty",
                "6 a3: invalid character in version number",
                "7 a4: invalid character in revision number",
                "8 a5: version string has embedded spaces",
                "9 a6: epoch in version is empty",
                "10 a7: version number is empty",
                "11 a8: version number does not start with digit",
                "12 a9: epoch in version is too big",
            ]
        );
    }

    #[test]
    fn version_syntax_follows_dpkg() {
        for ok in [
            "1",
            "1.0",
            "1:2.36-9+deb12u7",
            "2.36-9+deb12u7",
            "1.2.3-1-2",
            "0:1.0~rc1-1~bpo12+1",
            "1:1.0:2-1",
            "2024a-0+deb12u1",
            "7.88.1-10+deb12u8",
        ] {
            assert_eq!(version_syntax_error(ok), None, "{ok}");
        }
        assert!(version_syntax_error("1.0:2").is_some());
        assert!(version_syntax_error("1:2.0-1:1").is_some());
        assert!(version_syntax_error("1.0-a-").is_some());
        assert!(version_syntax_error("1.0\t").is_some());
    }

    #[test]
    fn duplicate_package_keys_name_both_lines() {
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n  libc6: 1\n  zlib1g: 1\n  libc6: 2\n"),
            [
                "m.yaml:6:3: package `libc6` is listed twice (first as `libc6` at line 4); keep one entry"
            ]
        );
        match parse("image: a\nbase: b\npackages: {x1: 1, x1: 1}\n").unwrap_err() {
            ManifestError::DuplicatePackage {
                key,
                first_line,
                line,
                column,
                ..
            } => {
                assert_eq!((key.as_str(), first_line, line, column), ("x1", 3, 3, 19));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn shape_errors_are_explained() {
        assert_eq!(
            errors("- image: a\n"),
            [
                "m.yaml:1:1: the top level of the manifest must be a mapping of `key: value` lines, found a list"
            ]
        );
        assert_eq!(
            errors("# nothing yet\n"),
            ["m.yaml:1:1: the manifest is empty; write `image:`, `base:` and `packages:`"]
        );
        assert_eq!(
            errors("image: a\nbase: b\npackages: [libc6]\n"),
            ["m.yaml:3:11: `packages` must be a mapping of `name: version` lines, found a list"]
        );
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n  libc6: {version: 1}\n  zlib1g: [1]\n"),
            [
                "m.yaml:4:10: the version of `libc6` must be a single value such as 2.36-9+deb12u7, found a mapping",
                "m.yaml:5:11: the version of `zlib1g` must be a single value such as 2.36-9+deb12u7, found a list",
            ]
        );
        assert_eq!(
            errors("image: a\nbase: [b]\npackages: {}\nlabels: [x]\nhold: x\n"),
            [
                "m.yaml:2:7: `base` must be a single value (a string), found a list",
                "m.yaml:4:9: `labels` must be a mapping of `name: text` lines, found a list",
                "m.yaml:5:7: `hold` must be a list such as [a, b], found a string",
            ]
        );
    }

    #[test]
    fn unknown_and_missing_keys_are_reported() {
        assert_eq!(
            errors("image: a\nbase: b\npackages: {}\narch: amd64\n"),
            [
                "m.yaml:4:1: unknown key `arch` in the top level of the manifest; expected one of: image, base, architecture, packages, hold, labels"
            ]
        );
        assert_eq!(
            errors("image: a\npackages: {}\n"),
            ["m.yaml:1:1: missing required key `base` in the top level of the manifest"]
        );
        assert_eq!(
            errors("image: a\nbase: b\nbase: c\npackages: {}\n"),
            [
                "m.yaml:3:1: duplicate key `base` in the top level of the manifest (first at line 2); keep one"
            ]
        );
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            errors(
                "image: Postgres\nbase: b\narchitecture: AMD64\npackages:\n  Libc6: 1\n  x: 1\n  libc6:Amd64: 1\n  ok: 1\nhold: [nope, ok, ok]\n"
            ),
            [
                "m.yaml:1:8: invalid image name `Postgres`; image names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                "m.yaml:3:15: invalid architecture `AMD64`; write a Debian architecture such as amd64 or arm64",
                "m.yaml:5:3: invalid package name `Libc6`; package names use lowercase letters, digits, `+`, `-` and `.`, start with a letter or digit and are at least two characters long",
                "m.yaml:6:3: invalid package name `x`; package names use lowercase letters, digits, `+`, `-` and `.`, start with a letter or digit and are at least two characters long",
                "m.yaml:7:3: invalid architecture `Amd64` in package key `libc6:Amd64`; write `name:arch` with a Debian architecture such as amd64 or i386",
                "m.yaml:9:18: `ok` is listed twice in `hold`; keep one",
            ]
        );
        // With valid packages, `hold` must name installed ones; a plain
        // name holds every architecture's instance.
        assert_eq!(
            errors(
                "image: a\nbase: b\npackages: {ok: 1, libc6:i386: 1}\nhold: [nope, ok, libc6:i386, libc6, Bad]\n"
            ),
            [
                "m.yaml:4:8: `hold` names `nope`, which is not in `packages`; remove it or fix the name",
                "m.yaml:4:37: invalid package name `Bad` in `hold`; package names use lowercase letters, digits, `+`, `-` and `.`, start with a letter or digit and are at least two characters long",
            ]
        );
    }

    #[test]
    fn labels_are_strings() {
        assert_eq!(
            errors("image: a\nbase: b\npackages: {}\nlabels:\n  team: ~\n  x: 1\n  x: 2\n"),
            [
                "m.yaml:5:9: label `team` is empty (null); write a value",
                "m.yaml:7:3: label `x` is set twice (first at line 6); keep one",
            ]
        );
    }

    #[test]
    fn encoding_tabs_and_syntax_errors_have_positions() {
        let err = parse_manifest(Path::new("m.yaml"), b"image: a\nbase: b\xff\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml:2:8: the file is not valid UTF-8 (byte 0xff); save it as UTF-8"
        );
        assert_eq!(
            errors("image: a\nbase: b\npackages:\n\tlibc6: 1\n"),
            [
                "m.yaml:4:1: tab character in indentation; YAML indents with spaces only: replace the tab with spaces"
            ]
        );
        let err = parse("image: a\nbase: b\npackages: {libc6: 1\n").unwrap_err();
        assert!(matches!(err, ManifestError::Syntax { .. }), "{err}");
        assert!(err.to_string().starts_with("m.yaml:"), "{err}");
    }

    #[test]
    fn hostile_input_errors_quickly() {
        // Deep nesting.
        let deep = format!(
            "image: a\nbase: b\npackages: {}1{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let err = parse(&deep).unwrap_err();
        assert!(err.to_string().contains("nested more than"), "{err}");
        // Billion laughs.
        let mut bomb =
            String::from("image: a\nbase: b\nlabels: {}\nx0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
        for i in 1..9 {
            let items = vec![format!("*x{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("x{i}: &x{i} [{items}]\n"));
        }
        bomb.push_str("packages: {}\n");
        assert!(parse(&bomb).is_err());
        // Over the size limit: refused before parsing.
        let big = vec![b' '; usize::try_from(MAX_MANIFEST_BYTES).unwrap() + 1];
        assert!(matches!(
            parse_manifest(Path::new("m.yaml"), &big),
            Err(ManifestError::TooLarge { .. })
        ));
    }

    #[test]
    fn many_problems_are_capped() {
        let mut text = String::from("image: a\nbase: b\npackages:\n");
        for i in 0..80 {
            text.push_str(&format!("  p{i}: x\n"));
        }
        let errs = errors(&text);
        assert_eq!(errs.len(), 51);
        assert_eq!(
            errs[50],
            "m.yaml:53:1: 30 more problems not shown; fix the ones above first"
        );
    }

    /// A fleet in a temp dir with the given manifests.
    fn fleet(manifests: &[(&str, &str)]) -> (tempfile::TempDir, FleetConfig) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("fleet.yaml"),
            "archives: {debian: /m}\nbases:\n  bookworm:\n    release: \"12\"\n    architectures: [amd64, arm64]\n    repositories:\n      - {archive: debian, suite: bookworm, components: [main]}\nmanifests: images/**/*.yaml\n",
        )
        .unwrap();
        for (name, text) in manifests {
            let p = dir.path().join("images").join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let config = FleetConfig::load(dir.path()).unwrap();
        (dir, config)
    }

    #[test]
    fn validation_against_the_fleet() {
        let (_dir, config) = fleet(&[]);
        let m = parse("image: a\nbase: bullseye\npackages: {}\n").unwrap();
        let errs: Vec<String> = validate_against(&config, &m)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "m.yaml:2:7: unknown base `bullseye`; fleet.yaml defines: bookworm. Fix the name or add the base to fleet.yaml"
            ]
        );
        let m = parse("image: a\nbase: bookworm\narchitecture: riscv64\npackages: {}\n").unwrap();
        let errs: Vec<String> = validate_against(&config, &m)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "m.yaml:3:15: architecture `riscv64` is not one of base `bookworm`'s architectures (amd64, arm64); fix it or add it to the base in fleet.yaml"
            ]
        );
        // The default architecture is the base's first; `libc6` and
        // `libc6:amd64` are then the same package.
        let m = parse(
            "image: a\nbase: bookworm\npackages:\n  libc6: 1\n  libc6:amd64: 1\n  libc6:arm64: 1\n",
        )
        .unwrap();
        assert_eq!(m.effective_architecture(&config), Some("amd64"));
        let errs: Vec<String> = validate_against(&config, &m)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "m.yaml:5:3: package `libc6:amd64` is listed twice (first as `libc6` at line 4); keep one entry"
            ]
        );
        let m = parse(
            "image: a\nbase: bookworm\narchitecture: arm64\npackages: {libc6: 1, libc6:amd64: 1}\n",
        )
        .unwrap();
        assert!(validate_against(&config, &m).is_empty());
    }

    #[test]
    fn loads_every_manifest_of_the_example_fleet() {
        let config = FleetConfig::load(&testdata().join("fleet")).unwrap();
        let (manifests, errors) = load_all(&config);
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(manifests.len(), config.manifest_paths().unwrap().len());
        assert_eq!(manifests.len(), 40);
        assert!(manifests.iter().filter(|m| m.packages.is_empty()).count() <= 1);
        assert!(manifests.windows(2).all(|w| w[0].path < w[1].path));
        for m in &manifests {
            assert!(config.bases.contains_key(&m.base), "{}", m.path.display());
            assert_eq!(
                m.content_hash,
                Sha256Digest::of(&fs::read(&m.path).unwrap())
            );
            // Lines point at the package keys.
            let text = fs::read_to_string(&m.path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for p in &m.packages {
                let line = lines[p.line - 1].trim_start().replace('"', "");
                assert!(
                    line.starts_with(&format!("{}:", p.key())),
                    "{}:{}: {:?} vs {:?}",
                    m.path.display(),
                    p.line,
                    lines[p.line - 1],
                    p
                );
            }
        }
        // Quoted numeric versions come through as written.
        let distroless = manifests
            .iter()
            .find(|m| m.image == "distroless-static-b2026")
            .unwrap();
        let debconf = distroless
            .packages
            .iter()
            .find(|p| p.name == "debconf")
            .unwrap();
        assert_eq!(debconf.version, "1.5.91");
    }

    #[test]
    fn one_bad_manifest_does_not_stop_the_others() {
        let ok = "image: good\nbase: bookworm\npackages: {libc6: 2.36-9}\n";
        // Parsed on a rayon thread: must fail cleanly, not overflow its stack.
        let deep = format!("image: x\nbase: bookworm\npackages:\n{}", {
            let mut block = String::new();
            for i in 0..5_000 {
                block.push_str(&" ".repeat(i + 2));
                block.push_str("a:\n");
            }
            block
        });
        let (_dir, config) = fleet(&[
            ("a/good.yaml", ok),
            (
                "b/bad-version.yaml",
                "image: bad\nbase: bookworm\npackages:\n  libc6: 2.36-\n",
            ),
            ("c/bad-base.yaml", "image: other\nbase: sid\npackages: {}\n"),
            ("d/not-yaml.yaml", "image: [\n"),
            ("e/deep.yaml", &deep),
            ("notes.txt", "not a manifest"),
        ]);
        let (manifests, errors) = load_all(&config);
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].image, "good");
        let kinds: Vec<(String, usize, &str)> = errors
            .iter()
            .map(|e| {
                let kind = match e {
                    ManifestError::InvalidVersion { .. } => "version",
                    ManifestError::UnknownBase { .. } => "base",
                    ManifestError::Syntax { .. } => "syntax",
                    _ => "other",
                };
                let file = e
                    .path()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (file, e.line().unwrap(), kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("bad-version.yaml".to_string(), 4, "version"),
                ("bad-base.yaml".to_string(), 2, "base"),
                ("not-yaml.yaml".to_string(), 1, "syntax"),
                ("deep.yaml".to_string(), 27, "syntax"),
            ]
        );
    }

    #[test]
    fn duplicate_image_names_across_files_name_both() {
        let text = "image: same\nbase: bookworm\npackages: {}\n";
        let (dir, config) = fleet(&[
            ("x/one.yaml", text),
            ("y/two.yaml", &format!("# second\n{text}")),
            (
                "z/other.yaml",
                "image: other\nbase: bookworm\npackages: {}\n",
            ),
        ]);
        let (manifests, errors) = load_all(&config);
        let images: Vec<&str> = manifests.iter().map(|m| m.image.as_str()).collect();
        assert_eq!(images, ["other"]);
        assert_eq!(errors.len(), 1);
        let root = config.dir.join("images");
        assert_eq!(
            errors[0].to_string(),
            format!(
                "image `same` is declared twice: {}:1 and {}:2; image names must be unique in the fleet, rename one",
                root.join("x/one.yaml").display(),
                root.join("y/two.yaml").display()
            )
        );
        drop(dir);
    }

    #[test]
    fn unreadable_fleet_listing_is_an_error() {
        let (_dir, mut config) = fleet(&[]);
        config.manifests = vec!["images/[".into()];
        let (manifests, errors) = load_all(&config);
        assert!(manifests.is_empty());
        assert!(matches!(
            errors[..],
            [ManifestError::Listing(ConfigError::Glob { .. })]
        ));
    }
}
