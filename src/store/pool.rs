//! The `.deb` pool: a content-addressed store of the package files that the
//! fleet's manifests and plans use, kept beside the state store so that any
//! recorded build can be repeated offline after Debian has dropped the
//! versions it used.
//!
//! This module owns:
//! - the on-disk layout `<state>.d/pool/sha256/<2 hex>/<64 hex>.deb` (one file
//!   per distinct content; identical `.deb` files are stored once) and the
//!   scratch directory `<state>.d/pool/tmp/`;
//! - the redb table `pool_catalog`: `(package, version, architecture)` ->
//!   [`PoolRecord`] (JSON), which remembers what the pool holds, where it came
//!   from and its control stanza, even after the index no longer lists it;
//! - [`fetch`]: resolving `(package, version, arch)` through a base's suites
//!   (the `packages` records of the signed indexes), downloading through the
//!   archive's [`MirrorSource`], verifying Size and SHA256 against the index,
//!   and moving the file into place by temp file + fsync + rename;
//! - [`gc`]: removing unreferenced catalog rows, orphan files and stale
//!   temporary files;
//! - [`export_flat`]: a flat apt repository (`Packages`, `Packages.gz`,
//!   `Release`, `pool/`) for air-gapped builds.
//!
//! Invariants: a file under `sha256/` is only ever created by renaming a
//! complete temporary file whose SHA256 was checked; a catalog row is only
//! written (in one write transaction at the end of a fetch) for a file that
//! was verified in this run or re-hashed. A crash therefore leaves at most
//! temporary files and verified files without rows; neither is trusted by a
//! later run (a file without a row is re-hashed before it is recorded), and
//! [`gc`] removes both.

use super::packages::PackageRecords;
use super::table::BaseSpec;
use super::{Store, StoreError};
use crate::deb::deb822;
use crate::deb::hash::{Sha256Digest, Sha256Hasher};
use crate::mirror::MirrorSource;
use redb::{ReadTransaction, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// `(package, version, architecture)` -> [`PoolRecord`] as JSON.
const POOL_CATALOG: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("pool_catalog");

/// Temporary files older than this are removed by [`gc`].
pub const TEMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// Largest `.deb` the pool accepts (the index Size is checked first).
pub const MAX_DEB_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// A package version in the pool: `(package, version, architecture)`.
/// The architecture is the record's `Architecture` (`all` for
/// architecture-independent packages).
pub type PoolKey = (String, String, String);

/// What the pool knows about one file it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PoolRecord {
    /// Binary package name.
    pub package: String,
    /// Version, verbatim (with epoch).
    pub version: String,
    /// The record's `Architecture` (`all` for architecture-independent).
    pub architecture: String,
    /// Lower-case hex SHA-256 of the `.deb`, as in the signed index.
    pub sha256: String,
    /// Size in bytes, as in the signed index.
    pub size: u64,
    /// The `Filename` in the archive it was fetched from.
    pub filename: String,
    /// The index it was resolved through: `archive/suite/component/arch`.
    pub source: String,
    /// When it was fetched (the clock used, RFC 3339).
    pub fetched_at: String,
    /// The package's stanza from that index.
    pub control: String,
}

impl PoolRecord {
    /// The record's key.
    pub fn key(&self) -> PoolKey {
        (
            self.package.clone(),
            self.version.clone(),
            self.architecture.clone(),
        )
    }
}

/// Errors of the pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{location}: {what} does not match the signed index ({index}): expected {expected}, got {found}. The file on the mirror is not the one the index describes; it was not added to the pool"
    )]
    Mismatch {
        location: String,
        index: String,
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Fetch(#[from] crate::mirror::SourceError),
    #[error("index {index}: record {package} {version} ({arch}): {message}")]
    BadRecord {
        index: String,
        package: String,
        version: String,
        arch: String,
        message: String,
    },
    #[error(
        "index {index}: archive {archive:?} has no mirror location (it is not under `archives:` in fleet.yaml)"
    )]
    NoSource { index: String, archive: String },
    #[error(
        "{path}: pool file does not match its catalog row {key}: {message}. Run `debfleet pool fetch` to fetch it again"
    )]
    Damaged {
        path: PathBuf,
        key: String,
        message: String,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> PoolError + '_ {
    move |e| PoolError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The pool directory of a store: `<state>.d/pool`.
pub fn pool_dir(store: &Store) -> PathBuf {
    store.cache_dir().join("pool")
}

/// Where a file with this SHA-256 lives: `<pool>/sha256/<2 hex>/<64 hex>.deb`.
pub fn pool_path(pool: &Path, sha256: &Sha256Digest) -> PathBuf {
    let hex = sha256.to_hex();
    let prefix = hex.get(..2).unwrap_or("00").to_string();
    pool.join("sha256").join(prefix).join(format!("{hex}.deb"))
}

/// Whether a catalog row `(package, version, arch)` is covered by `keep`:
/// exactly, or, for an `all` record, by a request for any architecture
/// (a manifest asks for `pkg` on amd64; the index record is `all`).
pub fn is_kept(keep: &BTreeSet<PoolKey>, key: &PoolKey) -> bool {
    if keep.contains(key) {
        return true;
    }
    let (package, version, arch) = key;
    arch == "all"
        && keep
            .range((package.clone(), version.clone(), String::new())..)
            .next()
            .is_some_and(|(p, v, _)| p == package && v == version)
}

/// Every catalog row, by key.
pub fn catalog(store: &Store) -> Result<BTreeMap<PoolKey, PoolRecord>, PoolError> {
    let txn = store.read()?;
    catalog_in(store, &txn)
}

fn catalog_in(
    store: &Store,
    txn: &ReadTransaction,
) -> Result<BTreeMap<PoolKey, PoolRecord>, PoolError> {
    let table = match txn.open_table(POOL_CATALOG) {
        Ok(t) => t,
        // A store that never had a pool.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
        Err(e) => return Err(store.err(e).into()),
    };
    let mut out = BTreeMap::new();
    for item in table.iter().map_err(|e| store.err(e))? {
        let (k, v) = item.map_err(|e| store.err(e))?;
        let (p, ver, a) = k.value();
        let record: PoolRecord = serde_json::from_slice(v.value())
            .map_err(|e| store.corrupt(format!("pool_catalog {p} {ver} {a}"), e))?;
        out.insert((p.to_string(), ver.to_string(), a.to_string()), record);
    }
    Ok(out)
}

/// Writes catalog rows and removes others in one write transaction.
fn write_catalog(
    store: &Store,
    insert: &[PoolRecord],
    remove: &[PoolKey],
) -> Result<(), PoolError> {
    let db = store.writer()?;
    let txn = db.begin_write().map_err(|e| store.err(e))?;
    {
        let mut table = txn.open_table(POOL_CATALOG).map_err(|e| store.err(e))?;
        for (p, v, a) in remove {
            table
                .remove((p.as_str(), v.as_str(), a.as_str()))
                .map_err(|e| store.err(e))?;
        }
        for r in insert {
            let json = serde_json::to_vec(r).map_err(|e| store.err(e))?;
            table
                .insert(
                    (
                        r.package.as_str(),
                        r.version.as_str(),
                        r.architecture.as_str(),
                    ),
                    json.as_slice(),
                )
                .map_err(|e| store.err(e))?;
        }
    }
    txn.commit().map_err(|e| store.err(e))?;
    Ok(())
}

/// One package version wanted in the pool, and who wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The base whose suites it is resolved through.
    pub base: String,
    /// Binary package name.
    pub package: String,
    /// Version, verbatim.
    pub version: String,
    /// The image's (or the manifest entry's) architecture.
    pub arch: String,
    /// The images that want it (for messages).
    pub images: Vec<String>,
}

/// Options of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Recorded as `fetched_at`.
    pub now: jiff::Timestamp,
    /// Concurrent downloads (at least 1).
    pub jobs: usize,
}

/// Progress callbacks of [`fetch`] (called from worker threads).
pub trait FetchProgress: Sync {
    /// `count` files (`bytes` in all) are about to be downloaded.
    fn start(&self, _count: usize, _bytes: u64) {}
    /// One download ended (verified or failed).
    fn done(&self, _key: &PoolKey, _bytes: u64) {}
}

/// No progress reporting.
pub struct NoProgress;
impl FetchProgress for NoProgress {}

/// A requested version that no index of its base lists and the pool does
/// not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The base it was looked up in.
    pub base: String,
    /// Binary package name.
    pub package: String,
    /// Version, verbatim.
    pub version: String,
    /// The requested architecture.
    pub arch: String,
    /// The images that want it.
    pub images: Vec<String>,
    /// Why it could not be provided.
    pub reason: String,
}

/// A download that failed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The resolved record.
    pub key: PoolKey,
    /// The images that want it.
    pub images: Vec<String>,
    /// What went wrong (nothing was added for it).
    pub error: String,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchReport {
    /// Downloaded and verified in this run.
    pub fetched: Vec<PoolKey>,
    /// Bytes downloaded and verified.
    pub fetched_bytes: u64,
    /// Already in the pool (file present, row written before or re-hashed now).
    pub present: Vec<PoolKey>,
    /// Versions no index lists and the pool does not hold.
    pub missing: Vec<Missing>,
    /// Downloads that failed or were refused.
    pub failed: Vec<Failed>,
}

/// A record resolved through an index.
#[derive(Debug, Clone)]
struct Resolved {
    archive: String,
    index_key: String,
    key: PoolKey,
    filename: String,
    sha256: Sha256Digest,
    size: u64,
    control: String,
}

/// Finds `package version` for `arch` (or `all`) in the base's suites, in
/// the order of the base's repositories (the first index listing it wins).
fn resolve(
    store: &Store,
    txn: &ReadTransaction,
    base: &BaseSpec,
    package: &str,
    version: &str,
    arch: &str,
) -> Result<Option<Resolved>, PoolError> {
    let packages = PackageRecords::open(store, txn)?;
    for (archive, suite, components) in &base.repositories {
        let suite_key = format!("{archive}/{suite}");
        let Some(state) = store.suite_in(txn, &suite_key)? else {
            continue;
        };
        for component in components {
            for index_arch in [arch, "all"] {
                let index_key = format!("{suite_key}/{component}/{index_arch}");
                if !state.indexes.contains(&index_key) {
                    continue;
                }
                let Some(index) = store.index_in(txn, &index_key)? else {
                    continue;
                };
                for record_arch in [arch, "all"] {
                    let Some(stanza) = packages.get(index.id, package, version, record_arch)?
                    else {
                        continue;
                    };
                    let bad = |message: String| PoolError::BadRecord {
                        index: index_key.clone(),
                        package: package.to_string(),
                        version: version.to_string(),
                        arch: record_arch.to_string(),
                        message,
                    };
                    let (filename, sha256, size) = file_fields(&stanza).map_err(bad)?;
                    let control =
                        String::from_utf8(stanza).map_err(|_| bad("stanza is not UTF-8".into()))?;
                    return Ok(Some(Resolved {
                        archive: archive.clone(),
                        index_key,
                        key: (
                            package.to_string(),
                            version.to_string(),
                            record_arch.to_string(),
                        ),
                        filename,
                        sha256,
                        size,
                        control,
                    }));
                }
            }
        }
    }
    Ok(None)
}

/// `Filename`, `SHA256` and `Size` of a package stanza.
fn file_fields(stanza: &[u8]) -> Result<(String, Sha256Digest, u64), String> {
    let paragraph = deb822::paragraphs(stanza)
        .next()
        .ok_or("empty stanza")?
        .map_err(|e| e.to_string())?;
    let text = |name: &str| -> Result<&str, String> {
        let v = paragraph
            .get(name)
            .ok_or_else(|| format!("no {name} field"))?;
        std::str::from_utf8(v)
            .map(str::trim)
            .map_err(|_| format!("{name} is not UTF-8"))
    };
    let filename = text("Filename")?.to_string();
    let sha = text("SHA256")?;
    let sha256 = Sha256Digest::from_hex(sha)
        .ok_or_else(|| format!("SHA256 {sha:?} is not 64 hex digits"))?;
    let size_text = text("Size")?;
    let size: u64 = size_text
        .parse()
        .map_err(|_| format!("Size {size_text:?} is not a number"))?;
    if size > MAX_DEB_BYTES {
        return Err(format!(
            "Size {size} is larger than the pool accepts ({MAX_DEB_BYTES})"
        ));
    }
    Ok((filename, sha256, size))
}

/// Hashes a file; returns its digest and length.
pub fn hash_file(path: &Path) -> Result<(Sha256Digest, u64), PoolError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        len += n as u64;
    }
    Ok((hasher.finish(), len))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary path in `<pool>/tmp`.
fn temp_path(pool: &Path, hint: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    pool.join("tmp")
        .join(format!("{hint}.{}.{n}.part", std::process::id()))
}

/// Writes `bytes` (already verified to hash to `sha256`) into the pool:
/// a temporary file, fsync, rename to the content address, fsync of the
/// directory. Concurrent writers of the same content are harmless: each
/// renames its own complete copy of identical bytes.
fn install(pool: &Path, sha256: &Sha256Digest, bytes: &[u8]) -> Result<PathBuf, PoolError> {
    let target = pool_path(pool, sha256);
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp_dir = pool.join("tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
    let tmp = temp_path(pool, &sha256.to_hex());
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &target).map_err(io_err(&target))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(target.clone())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Downloads and verifies one resolved record; returns its bytes count.
fn download(pool: &Path, source: &MirrorSource, r: &Resolved) -> Result<u64, PoolError> {
    let location = source.describe(&r.filename);
    // The index Size bounds the read: a larger file is refused unread.
    let bytes = source.fetch(&r.filename, r.size)?;
    if bytes.len() as u64 != r.size {
        return Err(PoolError::Mismatch {
            location,
            index: r.index_key.clone(),
            what: "Size",
            expected: r.size.to_string(),
            found: bytes.len().to_string(),
        });
    }
    let found = Sha256Digest::of(&bytes);
    if found != r.sha256 {
        return Err(PoolError::Mismatch {
            location,
            index: r.index_key.clone(),
            what: "SHA256",
            expected: r.sha256.to_hex(),
            found: found.to_hex(),
        });
    }
    install(pool, &r.sha256, &bytes)?;
    Ok(r.size)
}

/// What to do with one resolved key.
enum Plan {
    Present,
    /// The file exists without a (matching) row: re-hashed now.
    Adopt(Resolved),
    Download(Resolved),
}

/// Fetches every requested version into the pool.
///
/// `bases` maps base names to their suites; `sources` maps archive names to
/// their mirrors. Versions no index of the base lists are reported as
/// missing unless the pool already holds them. Downloads run `jobs` at a
/// time; every file is verified against the index before it becomes
/// visible, and the catalog rows of all verified files are written in one
/// transaction at the end (the store must be open for writing).
pub fn fetch(
    store: &Store,
    bases: &BTreeMap<String, BaseSpec>,
    sources: &BTreeMap<String, MirrorSource>,
    requests: &[FetchRequest],
    options: &FetchOptions,
    progress: &dyn FetchProgress,
) -> Result<FetchReport, PoolError> {
    store.writer()?;
    let pool = pool_dir(store);
    let fetched_at = options.now.to_string();
    let mut report = FetchReport::default();
    let txn = store.read()?;
    let existing = catalog_in(store, &txn)?;
    // Resolved key -> (plan, images wanting it).
    let mut plans: BTreeMap<PoolKey, (Plan, BTreeSet<String>)> = BTreeMap::new();
    for req in requests {
        let Some(base) = bases.get(&req.base) else {
            report.missing.push(Missing {
                base: req.base.clone(),
                package: req.package.clone(),
                version: req.version.clone(),
                arch: req.arch.clone(),
                images: req.images.clone(),
                reason: format!("base {:?} is not defined in the fleet", req.base),
            });
            continue;
        };
        let resolved = resolve(store, &txn, base, &req.package, &req.version, &req.arch)?;
        let Some(r) = resolved else {
            // Not in any index any more: fine if the pool holds it.
            let held = [req.arch.as_str(), "all"].into_iter().find_map(|a| {
                existing.get(&(req.package.clone(), req.version.clone(), a.to_string()))
            });
            match held {
                Some(rec) if file_ok(&pool, rec) => {
                    let entry = plans
                        .entry(rec.key())
                        .or_insert_with(|| (Plan::Present, BTreeSet::new()));
                    entry.1.extend(req.images.iter().cloned());
                }
                _ => report.missing.push(Missing {
                    base: req.base.clone(),
                    package: req.package.clone(),
                    version: req.version.clone(),
                    arch: req.arch.clone(),
                    images: req.images.clone(),
                    reason: if held.is_some() {
                        "no index of the base lists it, and its pool file is gone or damaged".into()
                    } else {
                        "no index of the base lists it and the pool does not hold it".into()
                    },
                }),
            }
            continue;
        };
        if let Some(entry) = plans.get_mut(&r.key) {
            entry.1.extend(req.images.iter().cloned());
            continue;
        }
        let plan = match existing.get(&r.key) {
            Some(rec) if rec.sha256 == r.sha256.to_hex() && file_ok(&pool, rec) => Plan::Present,
            _ if pool_path(&pool, &r.sha256).is_file() => Plan::Adopt(r.clone()),
            _ => Plan::Download(r.clone()),
        };
        plans.insert(r.key.clone(), (plan, req.images.iter().cloned().collect()));
    }
    drop(txn);

    // Re-hash files found without a row (left by an interrupted run, or
    // shared with another key); a damaged one is downloaded again.
    let mut rows = Vec::new();
    let mut downloads: Vec<(Resolved, Vec<String>)> = Vec::new();
    for (key, (plan, images)) in plans {
        match plan {
            Plan::Present => report.present.push(key),
            Plan::Adopt(r) => {
                let path = pool_path(&pool, &r.sha256);
                match hash_file(&path) {
                    Ok((digest, len)) if digest == r.sha256 && len == r.size => {
                        rows.push(record(&r, &fetched_at));
                        report.present.push(key);
                    }
                    _ => {
                        let _ = std::fs::remove_file(&path);
                        downloads.push((r, images.into_iter().collect()));
                    }
                }
            }
            Plan::Download(r) => downloads.push((r, images.into_iter().collect())),
        }
    }

    progress.start(downloads.len(), downloads.iter().map(|(r, _)| r.size).sum());
    let results: Vec<(usize, Result<u64, PoolError>)> = {
        let pool_threads = rayon::ThreadPoolBuilder::new()
            .num_threads(options.jobs.max(1))
            .build()
            .map_err(|e| PoolError::Io {
                path: pool.clone(),
                message: format!("starting download threads: {e}"),
            })?;
        use rayon::prelude::*;
        pool_threads.install(|| {
            downloads
                .par_iter()
                .enumerate()
                .map(|(i, (r, _))| {
                    let result = match sources.get(&r.archive) {
                        Some(source) => download(&pool, source, r),
                        None => Err(PoolError::NoSource {
                            index: r.index_key.clone(),
                            archive: r.archive.clone(),
                        }),
                    };
                    progress.done(&r.key, r.size);
                    (i, result)
                })
                .collect()
        })
    };
    for (i, result) in results {
        let Some((r, images)) = downloads.get(i) else {
            continue;
        };
        match result {
            Ok(bytes) => {
                rows.push(record(r, &fetched_at));
                report.fetched.push(r.key.clone());
                report.fetched_bytes += bytes;
            }
            Err(e) => report.failed.push(Failed {
                key: r.key.clone(),
                images: images.clone(),
                error: e.to_string(),
            }),
        }
    }
    if !rows.is_empty() {
        write_catalog(store, &rows, &[])?;
    }
    Ok(report)
}

/// Whether a row's file exists with the recorded size (a cheap check; the
/// hash is checked again on export).
fn file_ok(pool: &Path, rec: &PoolRecord) -> bool {
    Sha256Digest::from_hex(&rec.sha256).is_some_and(|sha| {
        std::fs::metadata(pool_path(pool, &sha)).is_ok_and(|m| m.is_file() && m.len() == rec.size)
    })
}

fn record(r: &Resolved, fetched_at: &str) -> PoolRecord {
    PoolRecord {
        package: r.key.0.clone(),
        version: r.key.1.clone(),
        architecture: r.key.2.clone(),
        sha256: r.sha256.to_hex(),
        size: r.size,
        filename: r.filename.clone(),
        source: r.index_key.clone(),
        fetched_at: fetched_at.to_string(),
        control: r.control.clone(),
    }
}

/// What a [`gc`] removed (or, with `dry_run`, would remove).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Catalog rows no longer referenced.
    pub removed: Vec<PoolKey>,
    /// Catalog rows kept.
    pub kept: usize,
    /// Pool files deleted (unreferenced, orphaned or temporary).
    pub files_removed: usize,
    /// Of those, files without any catalog row (left by interrupted runs).
    pub orphans_removed: usize,
    /// Of those, temporary files older than [`TEMP_MAX_AGE`].
    pub temp_removed: usize,
    /// Bytes of the removed files.
    pub bytes_freed: u64,
    /// Whether nothing was actually removed.
    pub dry_run: bool,
}

/// Removes every catalog row not covered by `keep` (see [`is_kept`]), then
/// every pool file no remaining row refers to, and temporary files older
/// than [`TEMP_MAX_AGE`]. Rows are removed (committed) before files, so an
/// interruption leaves only orphan files, which the next gc removes. With
/// `dry_run`, nothing is changed and the report says what would go.
pub fn gc(store: &Store, keep: &BTreeSet<PoolKey>, dry_run: bool) -> Result<GcReport, PoolError> {
    if !dry_run {
        store.writer()?;
    }
    let pool = pool_dir(store);
    let rows = catalog(store)?;
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let mut live: BTreeSet<String> = BTreeSet::new();
    for (key, rec) in &rows {
        if is_kept(keep, key) {
            live.insert(rec.sha256.clone());
            report.kept += 1;
        } else {
            report.removed.push(key.clone());
        }
    }
    if !dry_run && !report.removed.is_empty() {
        write_catalog(store, &[], &report.removed)?;
    }
    let row_shas: BTreeSet<&str> = rows.values().map(|r| r.sha256.as_str()).collect();
    let sha_dir = pool.join("sha256");
    if sha_dir.is_dir() {
        for entry in walkdir::WalkDir::new(&sha_dir).min_depth(2).max_depth(2) {
            let entry = entry.map_err(|e| PoolError::Io {
                path: sha_dir.clone(),
                message: e.to_string(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            let hex = name.strip_suffix(".deb").unwrap_or(&name);
            if live.contains(hex) {
                continue;
            }
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                std::fs::remove_file(entry.path()).map_err(io_err(entry.path()))?;
            }
            report.files_removed += 1;
            if !row_shas.contains(hex) {
                report.orphans_removed += 1;
            }
            report.bytes_freed += len;
        }
    }
    let tmp = pool.join("tmp");
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > TEMP_MAX_AGE);
            if meta.is_file() && old {
                if !dry_run {
                    std::fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                }
                report.files_removed += 1;
                report.temp_removed += 1;
                report.bytes_freed += meta.len();
            }
        }
    }
    Ok(report)
}

/// Size of the pool.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolStatus {
    /// Catalog rows.
    pub versions: usize,
    /// Distinct files the rows refer to.
    pub files: usize,
    /// Bytes of those files (from the catalog).
    pub bytes: u64,
    /// The earliest `fetched_at`.
    pub oldest: Option<String>,
    /// Rows whose file is missing or has the wrong size.
    pub damaged: Vec<PoolKey>,
}

/// Counts what the pool holds.
pub fn status(store: &Store) -> Result<PoolStatus, PoolError> {
    let pool = pool_dir(store);
    let rows = catalog(store)?;
    let mut shas = BTreeMap::new();
    let mut out = PoolStatus {
        versions: rows.len(),
        ..PoolStatus::default()
    };
    for (key, rec) in &rows {
        shas.insert(rec.sha256.as_str(), rec.size);
        if out.oldest.as_ref().is_none_or(|o| rec.fetched_at < *o) {
            out.oldest = Some(rec.fetched_at.clone());
        }
        if !file_ok(&pool, rec) {
            out.damaged.push(key.clone());
        }
    }
    out.files = shas.len();
    out.bytes = shas.values().sum();
    Ok(out)
}

/// What [`export_flat`] wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    /// Package versions listed in `Packages`.
    pub packages: usize,
    /// Bytes of the listed files.
    pub bytes: u64,
    /// Files hard-linked from the pool.
    pub linked: usize,
    /// Files copied (the directory is on another filesystem).
    pub copied: usize,
    /// Selected versions the pool does not hold.
    pub missing: Vec<PoolKey>,
}

/// The flat-repository file name of a record:
/// `<package>_<version without epoch>_<arch>.deb`, `:` written `%3a`.
pub fn flat_name(key: &PoolKey) -> String {
    let (package, version, arch) = key;
    let version = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
    let clean = |s: &str| {
        s.chars()
            .map(|c| match c {
                ':' => "%3a".to_string(),
                c if c.is_ascii_alphanumeric() || "+-.~_".contains(c) => c.to_string(),
                c => format!("%{:02x}", u32::from(c)),
            })
            .collect::<String>()
    };
    format!("{}_{}_{}.deb", clean(package), clean(version), clean(arch))
}

/// A stanza with its `Filename` replaced (added when absent), ending in
/// exactly one newline.
pub fn rewrite_filename(control: &str, filename: &str) -> String {
    let mut out = String::with_capacity(control.len() + filename.len());
    let mut replaced = false;
    for line in control.trim_end_matches('\n').lines() {
        if line
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("Filename:"))
        {
            out.push_str("Filename: ");
            out.push_str(filename);
            replaced = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !replaced {
        out.push_str("Filename: ");
        out.push_str(filename);
        out.push('\n');
    }
    out
}

/// Writes a flat apt repository into `dir` for the pool's rows covered by
/// `select` (every row when `None`): `dir/pool/<name>.deb` (hard links
/// when on the pool's filesystem, else copies), `dir/Packages`,
/// `dir/Packages.gz` and `dir/Release` (Date, SHA256 of both indexes).
/// Every file is re-hashed against its row first; `.deb` files of an
/// earlier export into `dir/pool` that this one does not list are
/// removed. Use it with
/// `deb [trusted=yes] file:DIR ./` (the Release is not signed).
pub fn export_flat(
    store: &Store,
    select: Option<&BTreeSet<PoolKey>>,
    dir: &Path,
    now: jiff::Timestamp,
) -> Result<ExportReport, PoolError> {
    let pool = pool_dir(store);
    let rows = catalog(store)?;
    let mut report = ExportReport::default();
    if let Some(select) = select {
        for key in select {
            let (p, v, _) = key;
            let held = rows.contains_key(key)
                || rows.contains_key(&(p.clone(), v.clone(), "all".to_string()));
            if !held {
                report.missing.push(key.clone());
            }
        }
    }
    let out_pool = dir.join("pool");
    std::fs::create_dir_all(&out_pool).map_err(io_err(&out_pool))?;
    let mut packages = String::new();
    let mut archs = BTreeSet::new();
    let mut exported = BTreeSet::new();
    for (key, rec) in &rows {
        if select.is_some_and(|s| !is_kept(s, key)) {
            continue;
        }
        let describe = || format!("{} {} {}", key.0, key.1, key.2);
        let sha = Sha256Digest::from_hex(&rec.sha256).ok_or_else(|| PoolError::Damaged {
            path: pool.clone(),
            key: describe(),
            message: format!("catalog SHA256 {:?} is not 64 hex digits", rec.sha256),
        })?;
        let src = pool_path(&pool, &sha);
        let (digest, len) = hash_file(&src).map_err(|e| PoolError::Damaged {
            path: src.clone(),
            key: describe(),
            message: e.to_string(),
        })?;
        if digest != sha || len != rec.size {
            return Err(PoolError::Damaged {
                path: src,
                key: describe(),
                message: format!(
                    "expected SHA256 {} ({} bytes), found {} ({len} bytes)",
                    rec.sha256,
                    rec.size,
                    digest.to_hex()
                ),
            });
        }
        let name = flat_name(key);
        let target = out_pool.join(&name);
        exported.insert(name.clone());
        if place(&src, &target)? {
            report.linked += 1;
        } else {
            report.copied += 1;
        }
        if !packages.is_empty() {
            packages.push('\n');
        }
        packages.push_str(&rewrite_filename(&rec.control, &format!("pool/{name}")));
        archs.insert(key.2.clone());
        report.packages += 1;
        report.bytes += rec.size;
    }
    // Files of an earlier export that this one does not list.
    if let Ok(entries) = std::fs::read_dir(&out_pool) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".deb") && !exported.contains(&name) {
                std::fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
            }
        }
    }
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(packages.as_bytes())
            .and_then(|()| enc.finish())
            .map_err(io_err(dir))?
    };
    write_file(&dir.join("Packages"), packages.as_bytes())?;
    write_file(&dir.join("Packages.gz"), &gz)?;
    let archs: Vec<String> = archs.into_iter().filter(|a| a != "all").collect();
    let mut release = format!(
        "Origin: debfleet\nLabel: debfleet pool\nDate: {}\n",
        now.strftime("%a, %d %b %Y %H:%M:%S UTC")
    );
    if !archs.is_empty() {
        release.push_str(&format!("Architectures: {}\n", archs.join(" ")));
    }
    release.push_str("Description: debfleet pool export\nSHA256:\n");
    for (name, data) in [("Packages", packages.as_bytes()), ("Packages.gz", &gz)] {
        release.push_str(&format!(
            " {} {:>10} {name}\n",
            Sha256Digest::of(data).to_hex(),
            data.len()
        ));
    }
    write_file(&dir.join("Release"), release.as_bytes())?;
    Ok(report)
}

/// Hard-links `src` to `target` (replacing it), falling back to a copy
/// through a temporary file. Returns whether it linked.
fn place(src: &Path, target: &Path) -> Result<bool, PoolError> {
    let tmp = target.with_extension(format!("deb.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let linked = std::fs::hard_link(src, &tmp).is_ok();
    if !linked {
        std::fs::copy(src, &tmp).map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, target).map_err(io_err(target))?;
    Ok(linked)
}

/// Writes a file by temp + fsync + rename.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PoolError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    fn key(p: &str, v: &str, a: &str) -> PoolKey {
        (p.into(), v.into(), a.into())
    }

    #[test]
    fn pool_path_layout() {
        let sha = Sha256Digest::of(b"hello");
        let hex = sha.to_hex();
        let p = pool_path(Path::new("/s.redb.d/pool"), &sha);
        assert_eq!(
            p,
            PathBuf::from(format!("/s.redb.d/pool/sha256/{}/{hex}.deb", &hex[..2]))
        );
        assert_eq!(&hex[..2], "2c");
    }

    #[test]
    fn flat_names_drop_epoch_and_escape() {
        assert_eq!(
            flat_name(&key("bsdutils", "1:2.38.1-5+deb12u3", "amd64")),
            "bsdutils_2.38.1-5+deb12u3_amd64.deb"
        );
        assert_eq!(flat_name(&key("x", "1:2:3-1", "all")), "x_2%3a3-1_all.deb");
        assert_eq!(flat_name(&key("a/b", "1", "all")), "a%2fb_1_all.deb");
    }

    #[test]
    fn filename_is_rewritten_or_added() {
        let s = "Package: a\nVersion: 1\nFilename: pool/main/a/a_1_all.deb\nSize: 3\n";
        assert_eq!(
            rewrite_filename(s, "pool/a_1_all.deb"),
            "Package: a\nVersion: 1\nFilename: pool/a_1_all.deb\nSize: 3\n"
        );
        assert_eq!(
            rewrite_filename("Package: a\n\n", "pool/x.deb"),
            "Package: a\nFilename: pool/x.deb\n"
        );
    }

    #[test]
    fn all_records_are_kept_by_any_arch_request() {
        let keep: BTreeSet<PoolKey> = [key("tzdata", "2025b", "amd64")].into();
        assert!(is_kept(&keep, &key("tzdata", "2025b", "all")));
        assert!(is_kept(&keep, &key("tzdata", "2025b", "amd64")));
        assert!(!is_kept(&keep, &key("tzdata", "2025b", "arm64")));
        assert!(!is_kept(&keep, &key("tzdata", "2025a", "all")));
        assert!(!is_kept(&keep, &key("tzdat", "2025b", "all")));
    }

    #[test]
    fn file_fields_are_validated() {
        let sha = Sha256Digest::of(b"x").to_hex();
        let good = format!("Package: a\nFilename: pool/a.deb\nSize: 1\nSHA256: {sha}\n");
        let (f, s, n) = file_fields(good.as_bytes()).unwrap();
        assert_eq!((f.as_str(), s.to_hex(), n), ("pool/a.deb", sha.clone(), 1));
        let bad_size = format!("Package: a\nFilename: pool/a.deb\nSize: x\nSHA256: {sha}\n");
        assert!(
            file_fields(bad_size.as_bytes())
                .unwrap_err()
                .contains("Size")
        );
        let no_sha = "Package: a\nFilename: pool/a.deb\nSize: 1\n";
        assert!(
            file_fields(no_sha.as_bytes())
                .unwrap_err()
                .contains("SHA256")
        );
    }

    #[test]
    fn catalog_round_trip_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        assert!(catalog(&store).unwrap().is_empty());
        let pool = pool_dir(&store);
        let mut rows = Vec::new();
        for (p, content) in [("a", &b"aaaa"[..]), ("b", &b"bb"[..])] {
            let sha = Sha256Digest::of(content);
            install(&pool, &sha, content).unwrap();
            rows.push(PoolRecord {
                package: p.into(),
                version: "1:1.0-1".into(),
                architecture: "all".into(),
                sha256: sha.to_hex(),
                size: content.len() as u64,
                filename: format!("pool/main/{p}/{p}_1.0-1_all.deb"),
                source: "debian/bookworm/main/amd64".into(),
                fetched_at: "2026-11-27T12:00:00Z".into(),
                control: format!("Package: {p}\nVersion: 1:1.0-1\n"),
            });
        }
        write_catalog(&store, &rows, &[]).unwrap();
        let back = catalog(&store).unwrap();
        assert_eq!(back.values().cloned().collect::<Vec<_>>(), rows);
        let st = status(&store).unwrap();
        assert_eq!((st.versions, st.files, st.bytes), (2, 2, 6));
        assert!(st.damaged.is_empty());
        // An orphan and a fresh temp file.
        let orphan = Sha256Digest::of(b"orphan");
        install(&pool, &orphan, b"orphan").unwrap();
        std::fs::write(pool.join("tmp/fresh.part"), b"partial").unwrap();
        let keep: BTreeSet<PoolKey> = [key("a", "1:1.0-1", "amd64")].into();
        let dry = gc(&store, &keep, true).unwrap();
        assert_eq!(dry.removed, vec![key("b", "1:1.0-1", "all")]);
        assert_eq!((dry.files_removed, dry.orphans_removed), (2, 1));
        assert_eq!(catalog(&store).unwrap().len(), 2);
        assert!(pool_path(&pool, &orphan).exists());
        let done = gc(&store, &keep, false).unwrap();
        assert_eq!(done.bytes_freed, 2 + 6);
        assert_eq!(catalog(&store).unwrap().len(), 1);
        assert!(!pool_path(&pool, &orphan).exists());
        assert!(pool_path(&pool, &Sha256Digest::of(b"aaaa")).exists());
        assert!(!pool_path(&pool, &Sha256Digest::of(b"bb")).exists());
        // The fresh temp file stays (a fetch may be writing it).
        assert!(pool.join("tmp/fresh.part").exists());
    }
}
