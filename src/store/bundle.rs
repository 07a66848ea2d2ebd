//! Air-gap bundles: carrying verified mirror data into a network-less host.
//!
//! `export` writes, from the store's blobs, the InRelease and the index files
//! of the generation in force of every suite into one self-describing file.
//! `extract` reads such a file back, validates the container (header,
//! manifest checksum, entry paths, sizes and SHA-256 of every entry) and lays
//! the entries out as a directory mirror (`<root>/<archive>/dists/<suite>/...`).
//! `import` then runs the normal [`sync`](super::sync::sync) against that
//! directory, so signatures (with the importing fleet's keyrings), hashes
//! against the signed Release, Valid-Until, Date rollbacks and the
//! incremental write path are exactly those of a network sync: there is no
//! second ingestion path.
//!
//! The file format (see `docs/design.md`, "Air-gap bundles"):
//!
//! ```text
//! debfleet-bundle 1 <manifest length> <manifest sha256>\n
//! <manifest: compact JSON, exactly <manifest length> bytes>\n
//! <entry 0 bytes><entry 1 bytes>...            (in manifest order, nothing after)
//! ```
//!
//! The manifest is a [`Manifest`]: when and by what it was exported, and one
//! [`BundleEntry`] per file (archive, suite, path below `dists/<suite>/`,
//! size, SHA-256, and the exporting store's generation).

use super::records::Generation;
use super::sync::{self, SuiteOutcome, SyncOptions, SyncProgress, SyncReport, SyncTarget};
use super::{GENERATIONS, Store, StoreError, blob};
use crate::deb::hash::{Sha256Digest, Sha256Hasher};
use crate::mirror::{MAX_INRELEASE_BYTES, MirrorSource};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The first word of every bundle.
pub const MAGIC: &str = "debfleet-bundle";
/// The container format version this debfleet writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A manifest larger than this is refused (a real fleet's is a few KB).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// The header line is short; anything longer is not a bundle.
const MAX_HEADER_BYTES: u64 = 256;
/// The entry path of a suite's InRelease.
pub const INRELEASE: &str = "InRelease";
/// The error text of a fleet suite the bundle does not carry.
pub const NOT_IN_BUNDLE: &str = "not in bundle";

/// Errors exporting, reading or importing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "suite {suite}: {what}: {message}. The store is damaged: run `debfleet mirror verify` and sync the suite again"
    )]
    Blob {
        suite: String,
        what: String,
        message: String,
    },
    #[error("writing the bundle: {0}")]
    Write(String),
    #[error("reading the bundle: {0}")]
    Read(String),
    #[error(
        "not a debfleet bundle: the file starts with {found:?}, expected \"{MAGIC} {FORMAT_VERSION} <manifest length> <manifest sha256>\""
    )]
    NotBundle { found: String },
    #[error(
        "bundle format version {found:?} is not supported (this debfleet reads version {FORMAT_VERSION}); export the bundle with a matching debfleet"
    )]
    Version { found: String },
    #[error("bundle header: {0}")]
    Header(String),
    #[error(
        "bundle manifest: SHA256 {actual} does not match the header's {expected}; the file is corrupt or was modified"
    )]
    ManifestHash { expected: String, actual: String },
    #[error("bundle manifest: {0}")]
    Manifest(String),
    #[error("bundle entry {index} ({path}): {message}")]
    Entry {
        index: usize,
        path: String,
        message: String,
    },
    #[error(
        "bundle entry {index} ({path}): the file ends after {got} of {expected} bytes; the bundle is truncated"
    )]
    Truncated {
        index: usize,
        path: String,
        expected: u64,
        got: u64,
    },
    #[error(
        "bundle entry {index} ({path}): SHA256 {actual} does not match the manifest's {expected}; the bundle is corrupt or was modified"
    )]
    EntryHash {
        index: usize,
        path: String,
        expected: String,
        actual: String,
    },
    #[error(
        "bundle: unexpected data after the last entry; the file is corrupt or two bundles were concatenated"
    )]
    TrailingData,
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// What a bundle holds: the header's checksum covers it, and it lists every
/// file with its size and SHA-256, in the order the bytes follow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// When it was exported (the exporting clock, `--now` if given; RFC 3339).
    pub exported_at: String,
    /// `debfleet <version>` of the exporter.
    pub tool: String,
    pub entries: Vec<BundleEntry>,
}

/// One file of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    /// The archive name as in the fleet (`debian`, `debian-security`).
    pub archive: String,
    /// The suite (`bookworm-updates`).
    pub suite: String,
    /// Path below `dists/<suite>/`: `InRelease` or the Release path of an
    /// index file (`main/binary-amd64/Packages.xz`).
    pub path: String,
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// The exporting store's generation this file belongs to.
    pub generation: u64,
}

impl BundleEntry {
    /// Where the entry lands in an extracted bundle:
    /// `<archive>/dists/<suite>/<path>`.
    pub fn relative_path(&self) -> String {
        format!("{}/dists/{}/{}", self.archive, self.suite, self.path)
    }

    /// `archive/suite`.
    pub fn suite_key(&self) -> String {
        format!("{}/{}", self.archive, self.suite)
    }
}

impl Manifest {
    /// The suites the bundle carries (those with an InRelease), as
    /// (archive, suite), sorted.
    pub fn suites(&self) -> BTreeSet<(String, String)> {
        self.entries
            .iter()
            .filter(|e| e.path == INRELEASE)
            .map(|e| (e.archive.clone(), e.suite.clone()))
            .collect()
    }

    /// Total bytes of all entries.
    pub fn data_bytes(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |a, e| a.saturating_add(e.size))
    }
}

/// A file to export: its entry and the blob it comes from.
struct Planned {
    entry: BundleEntry,
    blob: Sha256Digest,
    /// Bound for decoding the blob (zstd blobs hold uncompressed content).
    limit: u64,
}

/// Writes a bundle of the generation in force of every suite in `store` to
/// `out`, from one consistent snapshot. Every blob is decoded and checked
/// against its key before anything is written. Returns the manifest written.
pub fn export<W: Write>(
    store: &Store,
    out: &mut W,
    exported_at: Timestamp,
) -> Result<Manifest, BundleError> {
    let txn = store.read()?;
    let suites = store.suites_in(&txn)?;
    let generations = txn.open_table(GENERATIONS).map_err(|e| store.err(e))?;
    let load = |suite: &str, what: &str, key: &Sha256Digest, limit: u64| {
        let bad = |message: String| BundleError::Blob {
            suite: suite.to_string(),
            what: what.to_string(),
            message,
        };
        let stored = store
            .blob_in(&txn, key)?
            .ok_or_else(|| bad(format!("blob {key} is missing from the store")))?;
        blob::decode(&stored, key, limit).map_err(|e| bad(format!("blob {key}: {e}")))
    };

    // Pass 1: plan every entry, decoding each blob once to learn its exact
    // size and to check it against its key.
    let mut planned: Vec<Planned> = Vec::new();
    for suite in &suites {
        let key = suite.key();
        let generation: Generation = {
            let value = generations
                .get(suite.generation)
                .map_err(|e| store.err(e))?
                .ok_or_else(|| BundleError::Blob {
                    suite: key.clone(),
                    what: format!("generation {}", suite.generation),
                    message: "missing from the store".into(),
                })?;
            serde_json::from_slice(value.value())
                .map_err(|e| store.corrupt(format!("generation {}", suite.generation), e))?
        };
        let hex = |what: &str, h: &str| {
            Sha256Digest::from_hex(h).ok_or_else(|| BundleError::Blob {
                suite: key.clone(),
                what: what.to_string(),
                message: format!("stored hash {h:?} is not a SHA-256"),
            })
        };
        let mut files = vec![(
            INRELEASE.to_string(),
            hex(INRELEASE, &generation.inrelease_sha256)?,
            MAX_INRELEASE_BYTES,
        )];
        for index in &generation.indexes {
            files.push((
                index.blob_path.clone(),
                hex(&index.key, &index.blob)?,
                index.size,
            ));
        }
        for (path, blob_key, limit) in files {
            let bytes = load(&key, &path, &blob_key, limit)?;
            planned.push(Planned {
                entry: BundleEntry {
                    archive: suite.archive.clone(),
                    suite: suite.suite.clone(),
                    path,
                    size: bytes.len() as u64,
                    sha256: blob_key.to_hex(),
                    generation: generation.id,
                },
                blob: blob_key,
                limit,
            });
        }
    }
    let manifest = Manifest {
        exported_at: exported_at.to_string(),
        tool: format!("debfleet {}", env!("CARGO_PKG_VERSION")),
        entries: planned.iter().map(|p| p.entry.clone()).collect(),
    };
    // Never write what import would refuse.
    validate_manifest(&manifest)?;
    let write_err = |e: std::io::Error| BundleError::Write(e.to_string());
    out.write_all(&encode_head(&manifest)?).map_err(write_err)?;

    // Pass 2: the bytes, from the same snapshot.
    for p in &planned {
        let bytes = load(&p.entry.suite_key(), &p.entry.path, &p.blob, p.limit)?;
        if bytes.len() as u64 != p.entry.size {
            return Err(BundleError::Blob {
                suite: p.entry.suite_key(),
                what: p.entry.path.clone(),
                message: "blob changed size while exporting".into(),
            });
        }
        out.write_all(&bytes).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(manifest)
}

/// The header line, the manifest and its newline.
fn encode_head(manifest: &Manifest) -> Result<Vec<u8>, BundleError> {
    let json = serde_json::to_vec(manifest).map_err(|e| BundleError::Write(e.to_string()))?;
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION} {} {}\n",
        json.len(),
        Sha256Digest::of(&json).to_hex()
    )
    .into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    Ok(out)
}

/// Reads and checks the header and the manifest, leaving `reader` at the
/// first entry's bytes.
pub fn read_manifest<R: BufRead>(reader: &mut R) -> Result<Manifest, BundleError> {
    let read_err = |e: std::io::Error| BundleError::Read(e.to_string());
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_HEADER_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(read_err)?;
    let shown = || {
        String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line))
            .chars()
            .take(60)
            .collect::<String>()
    };
    let text = std::str::from_utf8(&line).unwrap_or("");
    let mut words = text.split_ascii_whitespace();
    if words.next() != Some(MAGIC) {
        return Err(BundleError::NotBundle { found: shown() });
    }
    if line.last() != Some(&b'\n') {
        return Err(BundleError::Header(format!(
            "the first line is longer than {MAX_HEADER_BYTES} bytes or has no newline"
        )));
    }
    let version = words.next().unwrap_or("");
    if version != FORMAT_VERSION.to_string() {
        return Err(BundleError::Version {
            found: version.to_string(),
        });
    }
    let length: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(|| {
        BundleError::Header("the manifest length is missing or not a number".into())
    })?;
    if length > MAX_MANIFEST_BYTES {
        return Err(BundleError::Header(format!(
            "manifest length {length} exceeds the limit of {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    let expected = words
        .next()
        .and_then(Sha256Digest::from_hex)
        .ok_or_else(|| BundleError::Header("the manifest SHA256 is missing or not hex".into()))?;
    if words.next().is_some() {
        return Err(BundleError::Header(format!(
            "unexpected words after the manifest SHA256 in {:?}",
            shown()
        )));
    }
    let mut json = Vec::new();
    reader
        .by_ref()
        .take(length)
        .read_to_end(&mut json)
        .map_err(read_err)?;
    if (json.len() as u64) < length {
        return Err(BundleError::Header(format!(
            "the file ends inside the manifest ({} of {length} bytes); the bundle is truncated",
            json.len()
        )));
    }
    let actual = Sha256Digest::of(&json);
    if actual != expected {
        return Err(BundleError::ManifestHash {
            expected: expected.to_hex(),
            actual: actual.to_hex(),
        });
    }
    let mut newline = Vec::new();
    reader
        .by_ref()
        .take(1)
        .read_to_end(&mut newline)
        .map_err(read_err)?;
    if newline != b"\n" {
        return Err(BundleError::Header(
            "the manifest is not followed by a newline".into(),
        ));
    }
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| BundleError::Manifest(e.to_string()))?;
    validate_manifest(&manifest)?;
    Ok(manifest)
}

/// Checks a path of `/`-separated segments: not empty, relative, no empty,
/// `.` or `..` segment, no control characters or backslashes.
fn check_segments(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("empty path".into());
    }
    if let Some(c) = text.chars().find(|c| c.is_control() || *c == '\\') {
        return Err(format!("control character or backslash {c:?} in path"));
    }
    if text.starts_with('/') {
        return Err("absolute path".into());
    }
    for segment in text.split('/') {
        match segment {
            "" => return Err("empty path segment (`//` or a trailing `/`)".into()),
            "." | ".." => return Err(format!("path segment {segment:?} not allowed")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a manifest's structure: safe paths, valid hashes, no duplicate
/// or overlapping files, one InRelease and one generation per suite.
pub fn validate_manifest(manifest: &Manifest) -> Result<(), BundleError> {
    manifest.exported_at.parse::<Timestamp>().map_err(|e| {
        BundleError::Manifest(format!(
            "exported_at {:?} is not an RFC 3339 time: {e}",
            manifest.exported_at
        ))
    })?;
    let mut files: HashSet<String> = HashSet::new();
    // archive/suite -> (generation, has InRelease)
    let mut suites: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    let mut total: u64 = 0;
    for (index, entry) in manifest.entries.iter().enumerate() {
        let shown = format!(
            "{:?}",
            format!("{}/dists/{}/{}", entry.archive, entry.suite, entry.path)
        );
        let bad = |message: String| BundleError::Entry {
            index,
            path: shown.clone(),
            message,
        };
        check_segments(&entry.archive).map_err(|m| bad(format!("archive: {m}")))?;
        if entry.archive.contains('/') {
            return Err(bad("archive: a name, not a path".into()));
        }
        check_segments(&entry.suite).map_err(|m| bad(format!("suite: {m}")))?;
        check_segments(&entry.path).map_err(|m| bad(format!("path: {m}")))?;
        if Sha256Digest::from_hex(&entry.sha256).is_none() {
            return Err(bad(format!(
                "sha256 {:?} is not 64 hex digits",
                entry.sha256
            )));
        }
        total = total
            .checked_add(entry.size)
            .ok_or_else(|| bad("sizes add up to more than 2^64 bytes".into()))?;
        if !files.insert(entry.relative_path()) {
            return Err(bad("listed twice".into()));
        }
        let state = suites
            .entry(entry.suite_key())
            .or_insert((entry.generation, false));
        if state.0 != entry.generation {
            return Err(bad(format!(
                "generation {} differs from generation {} of the suite's other files",
                entry.generation, state.0
            )));
        }
        if entry.path == INRELEASE {
            state.1 = true;
        }
    }
    // A file must not also be a directory of another file.
    for (index, entry) in manifest.entries.iter().enumerate() {
        let path = entry.relative_path();
        let mut cut = path.as_str();
        while let Some((parent, _)) = cut.rsplit_once('/') {
            if files.contains(parent) {
                return Err(BundleError::Entry {
                    index,
                    path: format!("{path:?}"),
                    message: format!("{parent:?} is listed as a file too"),
                });
            }
            cut = parent;
        }
    }
    if let Some((key, _)) = suites.iter().find(|(_, (_, has))| !has) {
        return Err(BundleError::Manifest(format!(
            "suite {key} has index files but no {INRELEASE}; nothing could verify them"
        )));
    }
    Ok(())
}

/// A bundle extracted into a private directory laid out as a directory
/// mirror per archive. The directory is removed when this is dropped.
#[derive(Debug)]
pub struct ExtractedBundle {
    root: PathBuf,
    manifest: Manifest,
}

impl ExtractedBundle {
    /// The extraction directory (holding one directory per archive).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// A mirror source reading `archive` from the extracted files.
    pub fn source(&self, archive: &str) -> MirrorSource {
        MirrorSource::Directory(self.root.join(archive))
    }
}

impl Drop for ExtractedBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Reads a bundle from `reader` and extracts it into a new private
/// directory under `parent`. The header, the manifest's checksum and
/// structure, and the size and SHA-256 of every entry are checked; any
/// problem is an error and the partial extraction is removed. Nothing
/// outside the new directory is written.
pub fn extract(reader: impl Read, parent: &Path) -> Result<ExtractedBundle, BundleError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let manifest = read_manifest(&mut reader)?;
    let root = private_dir(parent)?;
    // From here on, dropping `bundle` (on any error) removes the directory.
    let bundle = ExtractedBundle { root, manifest };
    let mut buf = vec![0u8; 1 << 16];
    for (index, entry) in bundle.manifest.entries.iter().enumerate() {
        extract_entry(&mut reader, &bundle.root, index, entry, &mut buf)?;
    }
    let mut rest = Vec::new();
    reader
        .take(1)
        .read_to_end(&mut rest)
        .map_err(|e| BundleError::Read(e.to_string()))?;
    if !rest.is_empty() {
        return Err(BundleError::TrailingData);
    }
    Ok(bundle)
}

/// Creates a new directory under `parent` only this process uses.
fn private_dir(parent: &Path) -> Result<PathBuf, BundleError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut last = None;
    for attempt in 0..100u32 {
        let dir = parent.join(format!(
            "debfleet-import-{}-{stamp}-{attempt}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(BundleError::Io {
                    path: dir,
                    message: format!("creating the extraction directory: {e}"),
                });
            }
        }
    }
    Err(BundleError::Io {
        path: parent.to_path_buf(),
        message: format!(
            "could not create a fresh extraction directory: {}",
            last.map_or_else(String::new, |e| e.to_string())
        ),
    })
}

fn extract_entry(
    reader: &mut impl Read,
    root: &Path,
    index: usize,
    entry: &BundleEntry,
    buf: &mut [u8],
) -> Result<(), BundleError> {
    let rel = entry.relative_path();
    let dest = root.join(&rel);
    let io = |path: &Path, e: std::io::Error| BundleError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&dest)
        .map_err(|e| io(&dest, e))?;
    let mut out = std::io::BufWriter::new(file);
    let mut hasher = Sha256Hasher::new();
    let mut got: u64 = 0;
    let mut limited = reader.take(entry.size);
    loop {
        let n = match limited.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BundleError::Read(e.to_string())),
        };
        let chunk = buf
            .get(..n)
            .ok_or_else(|| BundleError::Read("reader returned more bytes than asked".into()))?;
        hasher.update(chunk);
        out.write_all(chunk).map_err(|e| io(&dest, e))?;
        got += n as u64;
    }
    out.flush().map_err(|e| io(&dest, e))?;
    if got < entry.size {
        return Err(BundleError::Truncated {
            index,
            path: rel,
            expected: entry.size,
            got,
        });
    }
    let actual = hasher.finish().to_hex();
    if actual != entry.sha256.to_ascii_lowercase() {
        return Err(BundleError::EntryHash {
            index,
            path: rel,
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// One entry per fleet target, in target order: the sync outcome, or
    /// `NotMirrored { error: "not in bundle" }` for suites the bundle lacks.
    pub sync: SyncReport,
    /// Fleet suites (`archive/suite`) the bundle does not carry.
    pub not_in_bundle: Vec<String>,
    /// Bundle suites no fleet target uses (ignored).
    pub not_in_fleet: Vec<String>,
}

/// Imports an extracted bundle: syncs every target whose suite the bundle
/// carries from the extracted files, with the target's keyring and wanted
/// indexes, through the normal sync path (full verification, incremental
/// writes). Targets' own mirror locations are never read.
pub fn import(
    store: &Store,
    bundle: &ExtractedBundle,
    targets: &[SyncTarget],
    options: &SyncOptions,
    progress: &dyn SyncProgress,
) -> Result<ImportReport, BundleError> {
    let carried = bundle.manifest.suites();
    let mapped: Vec<SyncTarget> = targets
        .iter()
        .filter(|t| carried.contains(&(t.archive.clone(), t.suite.clone())))
        .map(|t| SyncTarget {
            source: bundle.source(&t.archive),
            ..t.clone()
        })
        .collect();
    let synced = sync::sync(store, &mapped, options, progress)?;
    let outcomes: HashMap<String, SuiteOutcome> = synced.suites.into_iter().collect();
    let mut suites = Vec::new();
    let mut not_in_bundle = Vec::new();
    for target in targets {
        let key = target.key();
        match outcomes.get(&key) {
            Some(outcome) => suites.push((key, outcome.clone())),
            None => {
                not_in_bundle.push(key.clone());
                suites.push((
                    key,
                    SuiteOutcome::NotMirrored {
                        error: NOT_IN_BUNDLE.to_string(),
                    },
                ));
            }
        }
    }
    let wanted: HashSet<(&str, &str)> = targets
        .iter()
        .map(|t| (t.archive.as_str(), t.suite.as_str()))
        .collect();
    let not_in_fleet = carried
        .iter()
        .filter(|(a, s)| !wanted.contains(&(a.as_str(), s.as_str())))
        .map(|(a, s)| format!("{a}/{s}"))
        .collect();
    Ok(ImportReport {
        sync: SyncReport {
            suites,
            compacted: false,
        },
        not_in_bundle,
        not_in_fleet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{GenerationIndex, SuiteState};
    use crate::store::{BLOBS, OpenMode, SUITES};

    fn entry(archive: &str, suite: &str, path: &str, data: &[u8]) -> BundleEntry {
        BundleEntry {
            archive: archive.into(),
            suite: suite.into(),
            path: path.into(),
            size: data.len() as u64,
            sha256: Sha256Digest::of(data).to_hex(),
            generation: 1,
        }
    }

    fn assemble(entries: Vec<BundleEntry>, data: &[&[u8]]) -> Vec<u8> {
        let manifest = Manifest {
            exported_at: "2026-11-27T12:00:00Z".into(),
            tool: "test".into(),
            entries,
        };
        let mut out = encode_head(&manifest).unwrap();
        for d in data {
            out.extend_from_slice(d);
        }
        out
    }

    fn small_bundle() -> Vec<u8> {
        let a: &[u8] = b"signed release text\n";
        let b: &[u8] = b"Package: x\nVersion: 1\n";
        assemble(
            vec![
                entry("debian", "bookworm", "InRelease", a),
                entry("debian", "bookworm", "main/binary-amd64/Packages", b),
            ],
            &[a, b],
        )
    }

    fn is_empty_dir(p: &Path) -> bool {
        std::fs::read_dir(p).unwrap().next().is_none()
    }

    #[test]
    fn extracts_a_valid_bundle_as_a_mirror_tree() {
        let parent = tempfile::tempdir().unwrap();
        let bundle = extract(small_bundle().as_slice(), parent.path()).unwrap();
        let root = bundle.root().to_path_buf();
        assert_eq!(
            std::fs::read(root.join("debian/dists/bookworm/InRelease")).unwrap(),
            b"signed release text\n"
        );
        assert_eq!(
            std::fs::read(root.join("debian/dists/bookworm/main/binary-amd64/Packages")).unwrap(),
            b"Package: x\nVersion: 1\n"
        );
        assert_eq!(
            bundle.manifest().suites().into_iter().collect::<Vec<_>>(),
            [("debian".to_string(), "bookworm".to_string())]
        );
        drop(bundle);
        assert!(!root.exists(), "extraction directory removed on drop");
    }

    #[test]
    fn every_single_flipped_byte_is_refused_and_nothing_is_left() {
        let good = small_bundle();
        let parent = tempfile::tempdir().unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(
                extract(bad.as_slice(), parent.path()).is_err(),
                "flip at byte {i} accepted"
            );
            assert!(is_empty_dir(parent.path()), "leftovers after flip at {i}");
        }
    }

    #[test]
    fn every_truncation_and_trailing_data_are_refused() {
        let good = small_bundle();
        let parent = tempfile::tempdir().unwrap();
        for len in 0..good.len() {
            assert!(
                extract(&good[..len], parent.path()).is_err(),
                "truncated to {len}"
            );
        }
        let mut longer = good.clone();
        longer.push(b'x');
        assert!(matches!(
            extract(longer.as_slice(), parent.path()),
            Err(BundleError::TrailingData)
        ));
        assert!(is_empty_dir(parent.path()));
    }

    #[test]
    fn header_problems_are_named() {
        let parent = tempfile::tempdir().unwrap();
        assert!(matches!(
            extract(&b"PK\x03\x04 zip file"[..], parent.path()),
            Err(BundleError::NotBundle { .. })
        ));
        let v2 = String::from_utf8(small_bundle()).unwrap().replacen(
            "debfleet-bundle 1 ",
            "debfleet-bundle 2 ",
            1,
        );
        assert!(matches!(
            extract(v2.as_bytes(), parent.path()),
            Err(BundleError::Version { .. })
        ));
    }

    #[test]
    fn unsafe_or_inconsistent_manifests_are_refused_before_writing() {
        let d: &[u8] = b"data";
        let cases: Vec<(&str, Vec<BundleEntry>)> = vec![
            (
                "dotdot",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "../../../escape", d),
                ],
            ),
            (
                "absolute",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "/etc/passwd", d),
                ],
            ),
            (
                "control",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "main/\u{1b}x", d),
                ],
            ),
            (
                "double slash",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "main//Packages", d),
                ],
            ),
            (
                "archive path",
                vec![entry("debian/../..", "bookworm", "InRelease", d)],
            ),
            (
                "archive with slash",
                vec![entry("a/b", "bookworm", "InRelease", d)],
            ),
            (
                "suite dotdot",
                vec![entry("debian", "../x", "InRelease", d)],
            ),
            (
                "duplicate",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "InRelease", d),
                ],
            ),
            (
                "file is a directory of another",
                vec![
                    entry("debian", "bookworm", "InRelease", d),
                    entry("debian", "bookworm", "InRelease/x", d),
                ],
            ),
            (
                "no InRelease",
                vec![entry("debian", "bookworm", "main/Packages", d)],
            ),
        ];
        let parent = tempfile::tempdir().unwrap();
        for (name, entries) in cases {
            let data: Vec<&[u8]> = entries.iter().map(|_| d).collect();
            let bytes = assemble(entries, &data);
            let err = extract(bytes.as_slice(), parent.path()).expect_err(name);
            assert!(
                matches!(err, BundleError::Entry { .. } | BundleError::Manifest(_)),
                "{name}: {err}"
            );
            assert!(is_empty_dir(parent.path()), "{name}: something was written");
        }
        // A bad hash and mixed generations.
        let mut e = entry("debian", "bookworm", "InRelease", d);
        e.sha256 = "zz".into();
        let bytes = assemble(vec![e], &[d]);
        assert!(extract(bytes.as_slice(), parent.path()).is_err());
        let mut other = entry("debian", "bookworm", "main/Packages", d);
        other.generation = 2;
        let bytes = assemble(
            vec![entry("debian", "bookworm", "InRelease", d), other],
            &[d, d],
        );
        let err = extract(bytes.as_slice(), parent.path()).unwrap_err();
        assert!(err.to_string().contains("generation"), "{err}");
    }

    #[test]
    fn a_wrong_entry_hash_names_the_entry() {
        let d: &[u8] = b"data";
        let mut e = entry("debian", "bookworm", "InRelease", d);
        e.sha256 = Sha256Digest::of(b"other").to_hex();
        let bytes = assemble(vec![e], &[d]);
        let parent = tempfile::tempdir().unwrap();
        let err = extract(bytes.as_slice(), parent.path()).unwrap_err();
        assert!(
            matches!(err, BundleError::EntryHash { index: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("debian/dists/bookworm/InRelease"));
    }

    /// Puts a generation with the given blobs straight into a store.
    fn seed(store: &Store, inrelease: &[u8], indexes: &[(&str, &[u8], bool, u64)]) {
        let db = store.writer().unwrap();
        let txn = db.begin_write().unwrap();
        let mut gen_indexes = Vec::new();
        {
            let mut blobs = txn.open_table(BLOBS).unwrap();
            let key = Sha256Digest::of(inrelease);
            blobs
                .insert(key.0.as_slice(), blob::encode(inrelease, false).as_slice())
                .unwrap();
            for (path, data, compress, size) in indexes {
                let key = Sha256Digest::of(data);
                blobs
                    .insert(key.0.as_slice(), blob::encode(data, *compress).as_slice())
                    .unwrap();
                gen_indexes.push(GenerationIndex {
                    key: format!("debian/bookworm/main/{path}"),
                    path: "main/binary-amd64/Packages".into(),
                    sha256: String::new(),
                    size: *size,
                    blob: key.to_hex(),
                    blob_path: path.to_string(),
                    method: "full:xz".into(),
                    packages: 0,
                    added: 0,
                    removed: 0,
                    changed: 0,
                    bytes_read: 0,
                });
            }
        }
        let generation = Generation {
            id: 7,
            archive: "debian".into(),
            suite: "bookworm".into(),
            previous: None,
            fetched_at: "2026-11-27T12:00:00Z".into(),
            inrelease_sha256: Sha256Digest::of(inrelease).to_hex(),
            signers: Vec::new(),
            date: None,
            valid_until: None,
            accepted_expired: false,
            accepted_downgrade: false,
            indexes: gen_indexes,
        };
        let state = SuiteState {
            archive: "debian".into(),
            suite: "bookworm".into(),
            generation: 7,
            inrelease_sha256: generation.inrelease_sha256.clone(),
            date: None,
            valid_until: None,
            codename: None,
            origin: None,
            label: None,
            not_automatic: false,
            but_automatic_upgrades: false,
            indexes: Vec::new(),
        };
        {
            let mut gens = txn.open_table(GENERATIONS).unwrap();
            gens.insert(7, serde_json::to_vec(&generation).unwrap().as_slice())
                .unwrap();
            let mut suites = txn.open_table(SUITES).unwrap();
            suites
                .insert(
                    "debian/bookworm",
                    serde_json::to_vec(&state).unwrap().as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn export_writes_decoded_blobs_at_their_release_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        let xz: &[u8] = b"\xfd7zXZ\0 pretend xz bytes";
        let pdiff_built = b"Package: a\nVersion: 2\n".repeat(50);
        seed(
            &store,
            b"inrelease bytes",
            &[
                ("main/binary-amd64/Packages.xz", xz, false, 999),
                (
                    "main/binary-all/Packages",
                    &pdiff_built,
                    true,
                    pdiff_built.len() as u64,
                ),
            ],
        );
        let mut out = Vec::new();
        let at: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let manifest = export(&store, &mut out, at).unwrap();
        assert_eq!(manifest.exported_at, "2026-11-28T00:00:00Z");
        let paths: Vec<_> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "InRelease",
                "main/binary-amd64/Packages.xz",
                "main/binary-all/Packages"
            ]
        );
        assert!(manifest.entries.iter().all(|e| e.generation == 7));
        let parent = tempfile::tempdir().unwrap();
        let bundle = extract(out.as_slice(), parent.path()).unwrap();
        let suite = bundle.root().join("debian/dists/bookworm");
        assert_eq!(
            std::fs::read(suite.join("InRelease")).unwrap(),
            b"inrelease bytes"
        );
        assert_eq!(
            std::fs::read(suite.join("main/binary-amd64/Packages.xz")).unwrap(),
            xz
        );
        // The zstd blob is exported as the content it encodes.
        assert_eq!(
            std::fs::read(suite.join("main/binary-all/Packages")).unwrap(),
            pdiff_built
        );
    }

    #[test]
    fn export_of_a_damaged_store_fails_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        seed(
            &store,
            b"inrelease",
            &[("main/binary-amd64/Packages.xz", b"xz", false, 2)],
        );
        // Damage the index blob: its bytes no longer match its key.
        {
            let db = store.writer().unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut blobs = txn.open_table(BLOBS).unwrap();
                let key = Sha256Digest::of(b"xz");
                blobs
                    .insert(key.0.as_slice(), blob::encode(b"xy", false).as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let mut out = Vec::new();
        let err = export(&store, &mut out, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(matches!(err, BundleError::Blob { .. }), "{err}");
        assert!(err.to_string().contains("debian/bookworm"), "{err}");
        assert!(out.is_empty());
    }
}
