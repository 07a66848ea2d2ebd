//! Compiled candidate tables: for one (base, architecture), every package
//! name with every version the base's suites offer, each with apt's pin
//! priority, sorted so that apt's candidate choice is a short scan.
//!
//! A table is a cache derived from redb: written beside the store
//! (`<state>.d/tables/<base>_<arch>.dft`) by write-to-temp + fsync + rename,
//! never modified in place, memory-mapped by `check`, checksummed, and
//! rebuilt when missing, corrupt or stale (its header carries a key derived
//! from the suite generations it was built from). The byte layout is in
//! `docs/design.md` ("Compiled candidate tables").

use super::packages::{PackageRecords, Record};
use super::{IndexState, Store, StoreError, SuiteState};
use crate::deb::hash::{Sha256Digest, Sha256Hasher};
use crate::deb::version;
use memmap2::Mmap;
use redb::ReadTransaction;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"DFTBL\0\0\x01";
const HEADER_LEN: usize = 64;
const SUITE_LEN: usize = 12;
const PACKAGE_LEN: usize = 16;
const VERSION_LEN: usize = 16;
const TRAILER_LEN: usize = 32;
/// At most this many suites per base (the suite mask is 32 bits).
pub const MAX_SUITES: usize = 32;

/// A base as the store sees it: its name, architectures and suites.
#[derive(Debug, Clone)]
pub struct BaseSpec {
    pub name: String,
    pub architectures: Vec<String>,
    /// (archive, suite, components), in fleet.yaml order.
    pub repositories: Vec<(String, String, Vec<String>)>,
}

/// Errors of compiled tables.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: corrupt candidate table: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("base {base}: more than {MAX_SUITES} suites")]
    TooManySuites { base: String },
}

/// One suite of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSuite {
    /// `archive/suite`, or `archive/suite/component` when components differ.
    pub name: String,
    pub priority: i16,
    pub security: bool,
}

/// What the sources of one (base, arch) are, as of the store's state.
#[derive(Debug, Clone)]
pub struct TableSources {
    pub key: Sha256Digest,
    pub suites: Vec<TableSuite>,
    /// (index id, suite position) for each index feeding the table.
    pub indexes: Vec<(u32, usize)>,
    /// Suites of the base that are not in the store (never synced or unmirrored).
    pub missing: Vec<String>,
}

/// Computes the sources (and staleness key) of a (base, arch) table.
pub fn sources(
    store: &Store,
    txn: &ReadTransaction,
    base: &BaseSpec,
    arch: &str,
) -> Result<TableSources, TableError> {
    sources_with(
        base,
        arch,
        &mut |key| store.suite_in(txn, key),
        &mut |key| store.index_in(txn, key),
    )
}

/// [`sources`] with suite and index states looked up by the caller (for
/// example in a write transaction that is about to commit).
pub fn sources_with(
    base: &BaseSpec,
    arch: &str,
    suite_in: &mut dyn FnMut(&str) -> Result<Option<SuiteState>, StoreError>,
    index_in: &mut dyn FnMut(&str) -> Result<Option<IndexState>, StoreError>,
) -> Result<TableSources, TableError> {
    let mut hasher = Sha256Hasher::new();
    hasher.update(MAGIC);
    hasher.update(base.name.as_bytes());
    hasher.update(b"\0");
    hasher.update(arch.as_bytes());
    let mut suites = Vec::new();
    let mut indexes = Vec::new();
    let mut missing = Vec::new();
    for (archive, suite, components) in &base.repositories {
        let key = format!("{archive}/{suite}");
        let Some(state) = suite_in(&key)? else {
            missing.push(key);
            continue;
        };
        let position = suites.len();
        suites.push(TableSuite {
            name: key.clone(),
            priority: state.priority(),
            security: state.is_security(),
        });
        hasher.update(b"\0suite\0");
        hasher.update(key.as_bytes());
        hasher.update(&state.priority().to_le_bytes());
        for component in components {
            for index_arch in [arch, "all"] {
                let index_key = format!("{key}/{component}/{index_arch}");
                if !state.indexes.contains(&index_key) {
                    continue;
                }
                if let Some(index) = index_in(&index_key)? {
                    hasher.update(index_key.as_bytes());
                    hasher.update(index.sha256.as_bytes());
                    indexes.push((index.id, position));
                }
            }
        }
    }
    if suites.len() > MAX_SUITES {
        return Err(TableError::TooManySuites {
            base: base.name.clone(),
        });
    }
    Ok(TableSources {
        key: hasher.finish(),
        suites,
        indexes,
        missing,
    })
}

/// The file a (base, arch) table lives in.
pub fn table_path(store: &Store, base: &str, arch: &str) -> PathBuf {
    store
        .cache_dir()
        .join("tables")
        .join(format!("{base}_{arch}.dft"))
}

struct VersionEntry<'a> {
    version: &'a str,
    mask: u32,
    priority: i16,
    best_suite: u16,
    /// When this version first appeared (fleet.yaml suite order, then key
    /// order): orders versions that compare equal.
    appeared: usize,
}

/// One package of the table: its name and its run of versions (highest
/// first) in the flat version list.
struct PackageEntry<'a> {
    name: &'a str,
    first: usize,
    count: usize,
}

/// Where a table build reads the keys of an index's package records from:
/// a table needs each record's (package, version, architecture) only.
pub trait RecordKeys {
    /// Calls `f` on the (package, version, architecture) of every record of
    /// index `id`, in key order.
    fn for_each_key(
        &self,
        id: u32,
        f: &mut dyn FnMut(&str, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

impl<T> RecordKeys for PackageRecords<'_, T>
where
    T: redb::ReadableTable<(u32, &'static str, &'static str, &'static str), &'static [u8]>,
{
    fn for_each_key(
        &self,
        id: u32,
        f: &mut dyn FnMut(&str, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.for_each_in_index(id, &mut |record: Record<'_>| {
            f(record.name, record.version, record.arch)
        })
    }
}

/// Builds the table bytes for `sources` from the store.
pub fn build(
    store: &Store,
    txn: &ReadTransaction,
    sources: &TableSources,
    arch: &str,
) -> Result<Vec<u8>, TableError> {
    build_from(&PackageRecords::open(store, txn)?, sources, arch)
}

/// Builds the table bytes for `sources` from `records`.
///
/// Every (package, version) of the base's indexes for `arch` is copied once
/// into one string arena, sorted, and merged per (package, version): the
/// mask of suites carrying it, and the highest suite priority with the
/// first suite (in fleet.yaml order) that has it.
pub fn build_from(
    records: &dyn RecordKeys,
    sources: &TableSources,
    arch: &str,
) -> Result<Vec<u8>, TableError> {
    struct Seen {
        name: (usize, usize),
        version: (usize, usize),
        position: usize,
        /// Order of appearance (fleet.yaml suite order, then key order).
        seq: usize,
    }
    let mut arena = String::new();
    let mut seen: Vec<Seen> = Vec::new();
    let push = |arena: &mut String, s: &str| {
        let start = arena.len();
        arena.push_str(s);
        (start, arena.len())
    };
    for &(id, position) in &sources.indexes {
        records.for_each_key(id, &mut |name, version, record_arch| {
            if record_arch != arch && record_arch != "all" {
                return Ok(());
            }
            // The same name is usually the previous record's (several
            // versions, or arch and all): store it once.
            let name = match seen.last() {
                Some(last) if &arena[last.name.0..last.name.1] == name => last.name,
                _ => push(&mut arena, name),
            };
            let version = push(&mut arena, version);
            seen.push(Seen {
                name,
                version,
                position,
                seq: seen.len(),
            });
            Ok(())
        })?;
    }
    let text = |span: (usize, usize)| &arena[span.0..span.1];
    // Each index's records arrive in key order, so `seen` is a few sorted
    // runs: the stable sort finds them and only merges (n log(runs)
    // comparisons instead of n log n).
    seen.sort_by(|a, b| {
        (text(a.name), text(a.version), a.position).cmp(&(
            text(b.name),
            text(b.version),
            b.position,
        ))
    });
    let mut packages: Vec<PackageEntry<'_>> = Vec::new();
    let mut versions: Vec<VersionEntry<'_>> = Vec::with_capacity(seen.len());
    let mut i = 0;
    while i < seen.len() {
        let name = text(seen[i].name);
        let first = versions.len();
        while i < seen.len() && text(seen[i].name) == name {
            let version = text(seen[i].version);
            let mut entry = VersionEntry {
                version,
                mask: 0,
                priority: i16::MIN,
                best_suite: 0,
                appeared: usize::MAX,
            };
            while i < seen.len() && text(seen[i].name) == name && text(seen[i].version) == version {
                let p = seen[i].position;
                entry.appeared = entry.appeared.min(seen[i].seq);
                let suite = &sources.suites[p];
                entry.mask |= 1u32 << p;
                // Positions ascend within the group: the first suite with
                // the highest priority wins.
                if suite.priority > entry.priority {
                    entry.priority = suite.priority;
                    entry.best_suite = p as u16;
                }
                i += 1;
            }
            versions.push(entry);
        }
        // Highest first; equal versions in order of first appearance.
        versions[first..].sort_by(|a, b| {
            version::compare(b.version, a.version).then(a.appeared.cmp(&b.appeared))
        });
        packages.push(PackageEntry {
            name,
            first,
            count: versions.len() - first,
        });
    }
    Ok(encode(&sources.key, &sources.suites, &packages, &versions))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn encode(
    key: &Sha256Digest,
    suites: &[TableSuite],
    packages: &[PackageEntry<'_>],
    versions: &[VersionEntry<'_>],
) -> Vec<u8> {
    let mut pool: Vec<u8> = Vec::new();
    let mut intern = |s: &str| -> (u32, u32) {
        let off = pool.len() as u32;
        pool.extend_from_slice(s.as_bytes());
        (off, s.len() as u32)
    };
    let suite_recs: Vec<(u32, u32, i16, bool)> = suites
        .iter()
        .map(|s| {
            let (o, l) = intern(&s.name);
            (o, l, s.priority, s.security)
        })
        .collect();
    let mut pkg_recs = Vec::with_capacity(packages.len());
    let mut ver_recs = Vec::new();
    for package in packages {
        let (o, l) = intern(package.name);
        pkg_recs.push((o, l, ver_recs.len() as u32, package.count as u32));
        for v in &versions[package.first..package.first + package.count] {
            let (vo, vl) = intern(v.version);
            ver_recs.push((vo, vl, v.mask, v.priority, v.best_suite));
        }
    }
    let slots = (packages.len() * 2).next_power_of_two().max(8);
    let mut hash = vec![0u32; slots];
    for (i, package) in packages.iter().enumerate() {
        let mut s = (fnv1a(package.name.as_bytes()) as usize) & (slots - 1);
        while hash[s] != 0 {
            s = (s + 1) & (slots - 1);
        }
        hash[s] = i as u32 + 1;
    }
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + suite_recs.len() * SUITE_LEN
            + pkg_recs.len() * PACKAGE_LEN
            + ver_recs.len() * VERSION_LEN
            + slots * 4
            + pool.len()
            + TRAILER_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.0);
    for n in [
        pkg_recs.len() as u32,
        ver_recs.len() as u32,
        suite_recs.len() as u32,
        slots as u32,
        pool.len() as u32,
        0,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    debug_assert_eq!(out.len(), HEADER_LEN);
    for (o, l, p, sec) in suite_recs {
        out.extend_from_slice(&o.to_le_bytes());
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(&p.to_le_bytes());
        out.push(u8::from(sec));
        out.push(0);
    }
    for (o, l, first, count) in pkg_recs {
        for n in [o, l, first, count] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    for (o, l, mask, prio, best) in ver_recs {
        for n in [o, l, mask] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&prio.to_le_bytes());
        out.extend_from_slice(&best.to_le_bytes());
    }
    for s in hash {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(&pool);
    let sum = Sha256Digest::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

/// Writes table bytes atomically: a temporary file, renamed over the table.
///
/// Not fsynced, on purpose. A table is a cache that `check` verifies in
/// full (checksum) and against the store's current sources before using
/// it, so a table lost, torn or left behind by a power cut is rebuilt, never
/// trusted. An fsync here queued behind the store's own commit flush and
/// made every sync wait for it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TableError> {
    let io = |e: std::io::Error| TableError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let dir = path.parent().ok_or_else(|| TableError::Io {
        path: path.to_path_buf(),
        message: "no parent directory".into(),
    })?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// A memory-mapped (or owned) candidate table.
pub struct CandidateTable {
    data: TableBytes,
    packages: usize,
    versions: usize,
    suites: usize,
    slots: usize,
    suites_off: usize,
    packages_off: usize,
    versions_off: usize,
    hash_off: usize,
    pool_off: usize,
    pool_len: usize,
}

enum TableBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for TableBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            TableBytes::Mapped(m) => m,
            TableBytes::Owned(v) => v,
        }
    }
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn le_i16(b: &[u8], off: usize) -> i16 {
    b.get(off..off + 2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

/// One version of a package in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableVersion<'a> {
    pub version: &'a str,
    /// Bit i set: offered by suite i.
    pub suite_mask: u32,
    /// Highest priority of the suites offering it.
    pub priority: i16,
    /// The suite giving that priority (first in fleet.yaml order).
    pub suite: u16,
}

/// apt's candidate for an installed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate<'a> {
    /// The package is in no suite of the base.
    Missing,
    /// The installed version stays (it is the candidate).
    Current,
    /// The installed version is newer than everything offered.
    Ahead,
    /// A newer version is the candidate.
    Update(TableVersion<'a>),
}

impl CandidateTable {
    /// Opens and verifies a table file. Returns None when absent.
    pub fn open(path: &Path) -> Result<Option<CandidateTable>, TableError> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(TableError::Io {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        // SAFETY: table files are never modified in place: writers create a
        // new file and rename it over the old one, so this mapping keeps
        // seeing the old, complete file for as long as it lives.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| TableError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_bytes(TableBytes::Mapped(map))
            .map(Some)
            .map_err(|message| TableError::Corrupt {
                path: path.to_path_buf(),
                message,
            })
    }

    /// Parses table bytes held in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Result<CandidateTable, String> {
        Self::from_bytes(TableBytes::Owned(bytes))
    }

    fn from_bytes(data: TableBytes) -> Result<CandidateTable, String> {
        let b: &[u8] = &data;
        if b.len() < HEADER_LEN + TRAILER_LEN || &b[..8] != MAGIC {
            return Err("bad magic or too short".into());
        }
        let body = &b[..b.len() - TRAILER_LEN];
        if Sha256Digest::of(body).0 != b[b.len() - TRAILER_LEN..] {
            return Err("checksum mismatch".into());
        }
        let packages = le_u32(b, 40) as usize;
        let versions = le_u32(b, 44) as usize;
        let suites = le_u32(b, 48) as usize;
        let slots = le_u32(b, 52) as usize;
        let pool_len = le_u32(b, 56) as usize;
        let suites_off = HEADER_LEN;
        let packages_off = suites_off + suites * SUITE_LEN;
        let versions_off = packages_off + packages * PACKAGE_LEN;
        let hash_off = versions_off + versions * VERSION_LEN;
        let pool_off = hash_off + slots * 4;
        if pool_off + pool_len != body.len() || !slots.is_power_of_two() {
            return Err("section sizes do not add up".into());
        }
        if std::str::from_utf8(&b[pool_off..pool_off + pool_len]).is_err() {
            return Err("string pool is not UTF-8".into());
        }
        let table = CandidateTable {
            data,
            packages,
            versions,
            suites,
            slots,
            suites_off,
            packages_off,
            versions_off,
            hash_off,
            pool_off,
            pool_len,
        };
        // Validate every string reference once, so lookups cannot go out of bounds.
        for i in 0..suites {
            table.str_at(table.suites_off + i * SUITE_LEN)?;
        }
        for i in 0..packages {
            let off = table.packages_off + i * PACKAGE_LEN;
            table.str_at(off)?;
            let first = le_u32(&table.data, off + 8) as usize;
            let count = le_u32(&table.data, off + 12) as usize;
            if first + count > versions {
                return Err(format!("package {i}: version range out of bounds"));
            }
        }
        for i in 0..versions {
            let off = table.versions_off + i * VERSION_LEN;
            table.str_at(off)?;
            if usize::from(le_i16(&table.data, off + 14) as u16) >= suites.max(1) {
                return Err(format!("version {i}: suite out of range"));
            }
        }
        Ok(table)
    }

    /// Checks a string reference: in bounds, on UTF-8 character boundaries
    /// of the pool (which `from_bytes` checked is UTF-8 as a whole).
    fn str_at(&self, off: usize) -> Result<&str, String> {
        let s = le_u32(&self.data, off) as usize;
        let l = le_u32(&self.data, off + 4) as usize;
        let pool = self.pool()?;
        if s + l > pool.len() || !pool.is_char_boundary(s) || !pool.is_char_boundary(s + l) {
            return Err("string out of bounds".into());
        }
        Ok(&pool[s..s + l])
    }

    fn pool(&self) -> Result<&str, String> {
        let bytes = self
            .data
            .get(self.pool_off..self.pool_off + self.pool_len)
            .ok_or("string pool out of bounds")?;
        // SAFETY: `from_bytes` validated the whole pool as UTF-8 before any
        // string is read, and the bytes never change afterwards.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    /// The raw bytes of a string reference (bounds were validated at open).
    fn bytes_at(&self, off: usize) -> &[u8] {
        let s = le_u32(&self.data, off) as usize;
        let l = le_u32(&self.data, off + 4) as usize;
        self.data
            .get(self.pool_off + s..self.pool_off + s + l)
            .unwrap_or(&[])
    }

    /// A string reference, without re-checking UTF-8.
    fn str_unchecked(&self, off: usize) -> &str {
        let bytes = self.bytes_at(off);
        // SAFETY: `from_bytes` checked, at open, that every string
        // reference of the table is in bounds and valid UTF-8, and the
        // bytes never change afterwards (owned, or a mapping of a file that
        // is only ever replaced by rename).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The staleness key the table was built for.
    pub fn key(&self) -> Sha256Digest {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.data[8..40]);
        Sha256Digest(k)
    }

    /// Number of package names.
    pub fn package_count(&self) -> usize {
        self.packages
    }

    /// Number of (package, version) entries.
    pub fn version_count(&self) -> usize {
        self.versions
    }

    /// The suites, in position order.
    pub fn suites(&self) -> Vec<TableSuite> {
        (0..self.suites)
            .map(|i| {
                let off = self.suites_off + i * SUITE_LEN;
                TableSuite {
                    name: self.str_unchecked(off).to_string(),
                    priority: le_i16(&self.data, off + 8),
                    security: self.data.get(off + 10) == Some(&1),
                }
            })
            .collect()
    }

    /// Name of suite `i`.
    pub fn suite_name(&self, i: u16) -> &str {
        if usize::from(i) >= self.suites {
            return "";
        }
        self.str_unchecked(self.suites_off + usize::from(i) * SUITE_LEN)
    }

    /// Whether suite `i` is a security suite.
    pub fn suite_is_security(&self, i: u16) -> bool {
        usize::from(i) < self.suites
            && self
                .data
                .get(self.suites_off + usize::from(i) * SUITE_LEN + 10)
                == Some(&1)
    }

    /// The versions of `name`, highest first; empty when unknown.
    pub fn versions(&self, name: &str) -> Vec<TableVersion<'_>> {
        let Some(i) = self.find(name) else {
            return Vec::new();
        };
        let off = self.packages_off + i * PACKAGE_LEN;
        let first = le_u32(&self.data, off + 8) as usize;
        let count = le_u32(&self.data, off + 12) as usize;
        (first..first + count).map(|v| self.version_at(v)).collect()
    }

    fn version_at(&self, v: usize) -> TableVersion<'_> {
        let off = self.versions_off + v * VERSION_LEN;
        TableVersion {
            version: self.str_unchecked(off),
            suite_mask: le_u32(&self.data, off + 8),
            priority: le_i16(&self.data, off + 12),
            suite: le_i16(&self.data, off + 14) as u16,
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        let mask = self.slots - 1;
        let mut s = (fnv1a(name.as_bytes()) as usize) & mask;
        for _ in 0..self.slots {
            let slot = le_u32(&self.data, self.hash_off + s * 4) as usize;
            if slot == 0 {
                return None;
            }
            let i = slot - 1;
            if i < self.packages
                && self.bytes_at(self.packages_off + i * PACKAGE_LEN) == name.as_bytes()
            {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// apt's candidate for `name` with `installed` installed.
    ///
    /// The installed version has priority 100, or its suites' priority when
    /// that is higher. Versions below the installed one are never chosen
    /// (no priority here reaches 1000). Among the rest, the highest
    /// priority wins, then the highest version.
    pub fn candidate(&self, name: &str, installed: &str) -> Candidate<'_> {
        let Some(i) = self.find(name) else {
            return Candidate::Missing;
        };
        let off = self.packages_off + i * PACKAGE_LEN;
        let first = le_u32(&self.data, off + 8) as usize;
        let count = le_u32(&self.data, off + 12) as usize;
        if count == 0 {
            return Candidate::Missing;
        }
        let mut installed_priority: i16 = 100;
        let mut best: Option<TableVersion<'_>> = None;
        for v in first..first + count {
            let entry = self.version_at(v);
            let ord = if entry.version == installed {
                Ordering::Equal
            } else {
                version::compare(entry.version, installed)
            };
            match ord {
                Ordering::Greater => {
                    if best.is_none_or(|b| entry.priority > b.priority) {
                        best = Some(entry);
                    }
                }
                Ordering::Equal => {
                    installed_priority = installed_priority.max(entry.priority);
                }
                // Sorted highest first: everything from here is a downgrade.
                Ordering::Less => break,
            }
        }
        match best {
            Some(b) if b.priority >= installed_priority => Candidate::Update(b),
            Some(_) => Candidate::Current,
            None => {
                let highest = self.version_at(first);
                if version::compare(highest.version, installed) == Ordering::Less {
                    Candidate::Ahead
                } else {
                    Candidate::Current
                }
            }
        }
    }
}

/// Makes sure the (base, arch) table on disk is current, reading only its
/// header when it is (a full checksum verification happens when `check`
/// opens it). Returns true when it had to be rebuilt.
pub fn ensure_current(store: &Store, base: &BaseSpec, arch: &str) -> Result<bool, TableError> {
    let txn = store.read()?;
    let sources = sources(store, &txn, base, arch)?;
    let path = table_path(store, &base.name, arch);
    if is_current(&path, &sources.key) {
        return Ok(false);
    }
    let bytes = build(store, &txn, &sources, arch)?;
    write_atomically(&path, &bytes)?;
    Ok(true)
}

/// Whether the table file at `path` says it was built for `key` (its
/// header only; a full checksum verification happens when `check` opens it).
pub fn is_current(path: &Path, key: &Sha256Digest) -> bool {
    let mut header = [0u8; 40];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok()
        && &header[..8] == MAGIC
        && header[8..40] == key.0
}

/// Opens the (base, arch) table, rebuilding it when missing, corrupt or stale.
pub fn open_or_build(
    store: &Store,
    base: &BaseSpec,
    arch: &str,
) -> Result<(CandidateTable, TableSources), TableError> {
    let txn = store.read()?;
    open_or_build_in(store, &txn, base, arch)
}

/// [`open_or_build`] within a given read transaction, so that several
/// tables (and anything else read from it) come from one snapshot.
pub fn open_or_build_in(
    store: &Store,
    txn: &ReadTransaction,
    base: &BaseSpec,
    arch: &str,
) -> Result<(CandidateTable, TableSources), TableError> {
    let sources = sources(store, txn, base, arch)?;
    let path = table_path(store, &base.name, arch);
    if let Ok(Some(table)) = CandidateTable::open(&path)
        && table.key() == sources.key
    {
        return Ok((table, sources));
    }
    let bytes = build(store, txn, &sources, arch)?;
    // A read-only user may not be able to write the cache; use it in memory.
    let _ = write_atomically(&path, &bytes);
    let table = CandidateTable::from_vec(bytes).map_err(|message| TableError::Corrupt {
        path: path.clone(),
        message,
    })?;
    Ok((table, sources))
}
