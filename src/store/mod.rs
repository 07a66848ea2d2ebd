//! The store: one redb file that is debfleet's single source of truth, plus
//! the compiled candidate tables derived from it.
//!
//! See `docs/design.md` ("The store") for the table layout. In short:
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | schema version, counters |
//! | `suites` | `archive/suite` | [`SuiteState`] (JSON) |
//! | `generations` | generation id | [`Generation`] (JSON) |
//! | `indexes` | `archive/suite/component/arch` | [`IndexState`] (JSON) |
//! | `blobs` | SHA-256 of the stored bytes | content-addressed raw files, see [`blob`] |
//! | `blob_parts` | (blob key, part number) | the parts of a blob over 1 MiB |
//! | `pending_blobs` | blob key | `()`: blobs a sync stored ahead of its generations, until that sync commits (see [`sync`]) |
//! | `package_chunks` | (index id, package, version, arch) of a chunk's first record | a sorted run of package records, see [`packages`] |
//! | `versions_seen_by_index` | (index id, package, version) | (first generation, gone generation); only versions added or removed after the index's first sync (the others are implicit, see [`IndexState::first_generation`]) |
//! | `suite_checked` | `archive/suite` | unix time of the last sync that confirmed it |
//! | `pool_catalog` | (package, version, arch) | [`pool::PoolRecord`] (JSON), see [`pool`] |
//!
//! Writers open the database in redb's `SingleWriter` mode, so any number of
//! readers (check, audit) keep working during a sync; a second writer gets a
//! clear error naming the holder.

pub mod blob;
pub mod bundle;
pub mod journal;
pub mod packages;
pub mod pool;
pub mod records;
pub mod reverify;
pub mod sync;
pub mod table;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use records::{Generation, GenerationIndex, IndexState, SuiteState};

/// Schema version written into `meta`; bumped on incompatible changes.
/// Version 1 kept one `packages` row per record; version 2 keeps sorted
/// chunks in `package_chunks` (a writer upgrades a version-1 store in
/// place, in one transaction); version 3 leaves out the first-seen rows of
/// the versions an index had when it was first synced
/// ([`IndexState::first_generation`]) and keeps blobs over 1 MiB in parts
/// (`blob_parts`); version 4 cuts chunks for 32 KiB pages, so an LZ4 chunk
/// may declare up to 256 KiB of payload (64 KiB before). A version-2 or
/// version-3 store is a valid version-4 store: it is read as is, and a
/// writer only bumps the number, so that an older debfleet refuses a
/// store whose rows or chunks it would misread.
pub const SCHEMA_VERSION: u64 = 4;

/// Schemas this debfleet reads without upgrading.
const READABLE_SCHEMAS: [u64; 3] = [2, 3, SCHEMA_VERSION];

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SUITES: TableDefinition<&str, &[u8]> = TableDefinition::new("suites");
pub(crate) const GENERATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("generations");
pub(crate) const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("indexes");
pub(crate) const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
/// (blob key, part number) -> part of a blob kept in parts (see [`blob`]).
pub(crate) const BLOB_PARTS: TableDefinition<(&[u8], u32), &[u8]> =
    TableDefinition::new("blob_parts");

/// Blobs a sync stored, in a transaction of their own, ahead of the
/// generations that refer to them; emptied by that sync's own commit, or
/// by the next sync when the process died in between (see [`sync`]).
pub(crate) const PENDING_BLOBS: TableDefinition<&[u8], ()> = TableDefinition::new("pending_blobs");
/// (index id, package, version) -> (first generation, generation that
/// removed it or 0). Keyed by index first so that a sync's inserts append.
pub(crate) const VERSIONS_SEEN: TableDefinition<(u32, &str, &str), (u64, u64)> =
    TableDefinition::new("versions_seen_by_index");
/// `archive/suite` -> unix time of the last sync that confirmed it.
pub(crate) const SUITE_CHECKED: TableDefinition<&str, i64> = TableDefinition::new("suite_checked");

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path}: no state store yet. Run `debfleet sync` first (or pass --state to point at an existing one)"
    )]
    Missing { path: PathBuf },
    #[error(
        "{path}: another debfleet process is writing to the store ({holder}). Wait for it, or pass --wait"
    )]
    Busy { path: PathBuf, holder: String },
    #[error("{path}: {message}")]
    Database { path: PathBuf, message: String },
    #[error(
        "{path}: store schema version {found} is not supported by this debfleet (expects {expected}). A store older than this debfleet is upgraded in place by any command that writes to it, such as `debfleet sync`; a newer one needs a newer debfleet"
    )]
    Schema {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("{path}: corrupt record {what}: {message}")]
    Corrupt {
        path: PathBuf,
        what: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// How to open the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; many readers may run alongside one writer.
    Read,
    /// The single writer. With `wait`, blocks until the current writer is done.
    Write { wait: bool },
}

/// An open store.
pub struct Store {
    path: PathBuf,
    db: Db,
    _holder: Option<HolderFile>,
}

enum Db {
    Write(redb::Database),
    Read(redb::ReadOnlyDatabase),
}

/// Records who holds the write lock, so a second writer can be told.
struct HolderFile(PathBuf);

impl Drop for HolderFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn holder_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".writer");
    PathBuf::from(p)
}

impl Store {
    /// Opens (and for writers, creates) the store at `path`.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let db_err = |e: &dyn std::fmt::Display| StoreError::Database {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut builder = redb::Builder::new();
        builder.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
        match mode {
            OpenMode::Read => {
                if !path.exists() {
                    return Err(StoreError::Missing {
                        path: path.to_path_buf(),
                    });
                }
                let db = match builder.open_read_only(path) {
                    Ok(db) => db,
                    // A writer died (a killed sync) and left the file unclean;
                    // readers cannot repair it. Repair it by opening it for
                    // writing once (redb recovers the last committed state).
                    Err(redb::DatabaseError::RepairAborted) => {
                        let unrepaired = |e: &dyn std::fmt::Display| StoreError::Database {
                            path: path.to_path_buf(),
                            message: format!(
                                "the store was not closed cleanly (an interrupted sync?) and could not be repaired: {e}. Repairing writes to the store: make room on its filesystem if it is full, and run `debfleet sync` as a user who can write it"
                            ),
                        };
                        match builder.create(path) {
                            // The repair is only on disk once the repaired
                            // database is closed: a close that fails (a full
                            // disk) leaves the file unrepaired, so say why.
                            Ok(db) => db.close().map_err(|e| unrepaired(&e))?,
                            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {}
                            Err(e) => return Err(unrepaired(&e)),
                        }
                        builder.open_read_only(path).map_err(|e| db_err(&e))?
                    }
                    Err(e) => return Err(db_err(&e)),
                };
                let store = Store {
                    path: path.to_path_buf(),
                    db: Db::Read(db),
                    _holder: None,
                };
                store.check_schema()?;
                Ok(store)
            }
            OpenMode::Write { wait } => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| StoreError::Io {
                        path: parent.to_path_buf(),
                        message: e.to_string(),
                    })?;
                }
                let db = loop {
                    match builder.create(path) {
                        Ok(db) => break db,
                        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                            if !wait {
                                let holder = std::fs::read_to_string(holder_path(path))
                                    .map(|s| s.trim().to_string())
                                    .ok()
                                    .filter(|s| !s.is_empty())
                                    .unwrap_or_else(|| "holder unknown: it is starting".into());
                                return Err(StoreError::Busy {
                                    path: path.to_path_buf(),
                                    holder,
                                });
                            }
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Err(e) => return Err(db_err(&e)),
                    }
                };
                // Written to a temporary name and renamed, so a second writer
                // never reads a half-written holder description.
                let holder = holder_path(path);
                let tmp = holder.with_extension(format!("writer.{}", std::process::id()));
                let description = format!(
                    "pid {} ({}), since {}",
                    std::process::id(),
                    std::env::args().collect::<Vec<_>>().join(" "),
                    jiff::Timestamp::now()
                );
                if std::fs::write(&tmp, description).is_ok() {
                    let _ = std::fs::rename(&tmp, &holder);
                }
                let mut store = Store {
                    path: path.to_path_buf(),
                    db: Db::Write(db),
                    _holder: Some(HolderFile(holder)),
                };
                if store.init_schema()? {
                    // An upgrade rewrote every package record: release the
                    // old pages.
                    store.compact()?;
                }
                Ok(store)
            }
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory beside the store that holds derived caches.
    pub fn cache_dir(&self) -> PathBuf {
        let mut dir = self.path.as_os_str().to_owned();
        dir.push(".d");
        PathBuf::from(dir)
    }

    pub(crate) fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    pub(crate) fn corrupt(&self, what: impl Into<String>, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
            message: e.to_string(),
        }
    }

    /// Begins a read transaction (a consistent snapshot).
    pub fn read(&self) -> Result<ReadTransaction, StoreError> {
        match &self.db {
            Db::Write(db) => db.begin_read(),
            Db::Read(db) => db.begin_read(),
        }
        .map_err(|e| self.err(e))
    }

    pub(crate) fn writer(&self) -> Result<&redb::Database, StoreError> {
        match &self.db {
            Db::Write(db) => Ok(db),
            Db::Read(_) => Err(self.err("store opened read-only")),
        }
    }

    /// Creates the tables, or upgrades an older schema in place; returns
    /// whether it upgraded.
    fn init_schema(&self) -> Result<bool, StoreError> {
        let db = self.writer()?;
        let txn = db.begin_write().map_err(|e| self.err(e))?;
        let mut upgraded = false;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            let found = meta
                .get("schema")
                .map_err(|e| self.err(e))?
                .map(|v| decode_u64(v.value()));
            match found {
                None => {
                    meta.insert("schema", SCHEMA_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(2 | 3) => {
                    meta.insert("schema", SCHEMA_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                }
                Some(1) => {
                    packages::migrate_from_rows(&txn, self)?;
                    migrate_versions_seen(&txn, self)?;
                    upgraded = true;
                    meta.insert("schema", SCHEMA_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                }
                Some(v) => {
                    return Err(StoreError::Schema {
                        path: self.path.clone(),
                        found: v,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
            txn.open_table(SUITES).map_err(|e| self.err(e))?;
            txn.open_table(GENERATIONS).map_err(|e| self.err(e))?;
            txn.open_table(INDEXES).map_err(|e| self.err(e))?;
            txn.open_table(BLOBS).map_err(|e| self.err(e))?;
            txn.open_table(BLOB_PARTS).map_err(|e| self.err(e))?;
            txn.open_table(PENDING_BLOBS).map_err(|e| self.err(e))?;
            txn.open_table(packages::PACKAGE_CHUNKS)
                .map_err(|e| self.err(e))?;
            txn.open_table(VERSIONS_SEEN).map_err(|e| self.err(e))?;
            txn.open_table(SUITE_CHECKED).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(upgraded)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let txn = self.read()?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let found = meta
            .get("schema")
            .map_err(|e| self.err(e))?
            .map(|v| decode_u64(v.value()))
            .unwrap_or(0);
        if !READABLE_SCHEMAS.contains(&found) {
            return Err(StoreError::Schema {
                path: self.path.clone(),
                found,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// All suite states, keyed `archive/suite`.
    pub fn suites(&self) -> Result<Vec<SuiteState>, StoreError> {
        let txn = self.read()?;
        self.suites_in(&txn)
    }

    pub fn suites_in(&self, txn: &ReadTransaction) -> Result<Vec<SuiteState>, StoreError> {
        let table = txn.open_table(SUITES).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.corrupt(k.value(), e))?);
        }
        Ok(out)
    }

    /// One suite's state.
    pub fn suite(&self, key: &str) -> Result<Option<SuiteState>, StoreError> {
        let txn = self.read()?;
        self.suite_in(&txn, key)
    }

    pub fn suite_in(
        &self,
        txn: &ReadTransaction,
        key: &str,
    ) -> Result<Option<SuiteState>, StoreError> {
        let table = txn.open_table(SUITES).map_err(|e| self.err(e))?;
        match table.get(key).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => Ok(Some(
                serde_json::from_slice(v.value()).map_err(|e| self.corrupt(key, e))?,
            )),
        }
    }

    /// When a sync last confirmed suite `key` (fetched and verified it, or
    /// found it unchanged).
    pub fn suite_checked_in(
        &self,
        txn: &ReadTransaction,
        key: &str,
    ) -> Result<Option<jiff::Timestamp>, StoreError> {
        let table = txn.open_table(SUITE_CHECKED).map_err(|e| self.err(e))?;
        Ok(table
            .get(key)
            .map_err(|e| self.err(e))?
            .and_then(|v| jiff::Timestamp::from_second(v.value()).ok()))
    }

    /// One index's state.
    pub(crate) fn index_in(
        &self,
        txn: &ReadTransaction,
        key: &str,
    ) -> Result<Option<IndexState>, StoreError> {
        let table = txn.open_table(INDEXES).map_err(|e| self.err(e))?;
        match table.get(key).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => Ok(Some(
                serde_json::from_slice(v.value()).map_err(|e| self.corrupt(key, e))?,
            )),
        }
    }

    /// All generations, oldest first.
    pub fn generations(&self) -> Result<Vec<Generation>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(GENERATIONS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(
                serde_json::from_slice(v.value())
                    .map_err(|e| self.corrupt(format!("generation {}", k.value()), e))?,
            );
        }
        Ok(out)
    }

    /// One generation.
    pub fn generation(&self, id: u64) -> Result<Option<Generation>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(GENERATIONS).map_err(|e| self.err(e))?;
        match table.get(id).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => {
                Ok(Some(serde_json::from_slice(v.value()).map_err(|e| {
                    self.corrupt(format!("generation {id}"), e)
                })?))
            }
        }
    }

    /// Reads a blob by its hash.
    pub fn blob(
        &self,
        sha256: &crate::deb::hash::Sha256Digest,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        self.blob_in(&txn, sha256)
    }

    /// [`Store::blob`] in a given read transaction. A blob kept in parts is
    /// returned joined, in the raw form (`blob::decode` reads both alike).
    pub(crate) fn blob_in(
        &self,
        txn: &ReadTransaction,
        sha256: &crate::deb::hash::Sha256Digest,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let table = txn.open_table(BLOBS).map_err(|e| self.err(e))?;
        let Some(stored) = table.get(sha256.0.as_slice()).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let stored = stored.value();
        let what = || format!("blob {sha256}");
        let Some((total, count)) = blob::parts_of(stored).map_err(|e| self.corrupt(what(), e))?
        else {
            return Ok(Some(stored.to_vec()));
        };
        let parts = txn.open_table(BLOB_PARTS).map_err(|e| self.err(e))?;
        let total = usize::try_from(total).map_err(|e| self.corrupt(what(), e))?;
        let mut out = Vec::with_capacity(total.saturating_add(1));
        out.extend_from_slice(&blob::encode(b"", false));
        for i in 0..count {
            let part = parts
                .get((sha256.0.as_slice(), i))
                .map_err(|e| self.err(e))?
                .ok_or_else(|| self.corrupt(what(), format!("part {i} of {count} is missing")))?;
            let expected = (total - (i as usize) * blob::PART_BYTES).min(blob::PART_BYTES);
            if part.value().len() != expected {
                return Err(self.corrupt(
                    what(),
                    format!(
                        "part {i} is {} bytes, expected {expected}",
                        part.value().len()
                    ),
                ));
            }
            out.extend_from_slice(part.value());
        }
        Ok(Some(out))
    }

    /// First and last generation in which `package` `version` was present in
    /// an index: (first seen, generation that removed it; None = still present).
    pub fn version_seen(
        &self,
        package: &str,
        version: &str,
    ) -> Result<Vec<(String, u64, Option<u64>)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(VERSIONS_SEEN).map_err(|e| self.err(e))?;
        let indexes = txn.open_table(INDEXES).map_err(|e| self.err(e))?;
        let records = packages::PackageRecords::open(self, &txn)?;
        let mut out = Vec::new();
        for item in indexes.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let index: IndexState =
                serde_json::from_slice(v.value()).map_err(|e| self.corrupt(k.value(), e))?;
            if let Some(seen) = table
                .get((index.id, package, version))
                .map_err(|e| self.err(e))?
            {
                let (first, gone) = seen.value();
                out.push((k.value().to_string(), first, (gone != 0).then_some(gone)));
            } else if let Some(first) = index.first_generation
                && records
                    .versions(index.id, package)?
                    .iter()
                    .any(|(v, _, _)| v == version)
            {
                // Present since the index's first sync: no row (implicit).
                out.push((k.value().to_string(), first, None));
            }
        }
        Ok(out)
    }

    /// Rewrites the file to release free pages (after large imports).
    /// Needs the write handle and no open transactions.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        let path = self.path.clone();
        match &mut self.db {
            Db::Write(db) => db.compact().map_err(|e| StoreError::Database {
                path,
                message: e.to_string(),
            }),
            Db::Read(_) => Ok(false),
        }
    }

    /// Bytes the store file takes on disk. redb grows the file ahead of
    /// what it writes, and that reserved tail takes no disk blocks until it
    /// is written (a first sync of the bundled slice: 66 MiB long, 53 MiB on
    /// disk), so this counts the file's blocks where the platform reports
    /// them (a filesystem that reports none gets the length), and its
    /// length elsewhere.
    pub fn disk_bytes(&self) -> u64 {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return 0;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match meta.blocks() {
                0 => meta.len(),
                blocks => blocks.saturating_mul(512),
            }
        }
        #[cfg(not(unix))]
        {
            meta.len()
        }
    }
}

/// Moves a schema-1 `versions_seen` (keyed by index key) to
/// [`VERSIONS_SEEN`] (keyed by index id), and drops the old table.
fn migrate_versions_seen(txn: &redb::WriteTransaction, store: &Store) -> Result<(), StoreError> {
    const OLD: TableDefinition<(&str, &str, &str), (u64, u64)> =
        TableDefinition::new("versions_seen");
    {
        let old = txn.open_table(OLD).map_err(|e| store.err(e))?;
        let indexes = txn.open_table(INDEXES).map_err(|e| store.err(e))?;
        let mut ids = std::collections::HashMap::new();
        for item in indexes.iter().map_err(|e| store.err(e))? {
            let (k, v) = item.map_err(|e| store.err(e))?;
            let index: IndexState =
                serde_json::from_slice(v.value()).map_err(|e| store.corrupt(k.value(), e))?;
            ids.insert(k.value().to_string(), index.id);
        }
        let mut new = txn.open_table(VERSIONS_SEEN).map_err(|e| store.err(e))?;
        for item in old.iter().map_err(|e| store.err(e))? {
            let (k, v) = item.map_err(|e| store.err(e))?;
            let (package, version, index_key) = k.value();
            let id = ids.get(index_key).ok_or_else(|| {
                store.corrupt(
                    format!("versions_seen ({package}, {version}, {index_key})"),
                    "names an index the store does not have",
                )
            })?;
            new.insert((*id, package, version), v.value())
                .map_err(|e| store.err(e))?;
        }
    }
    txn.delete_table(OLD).map_err(|e| store.err(e))?;
    Ok(())
}

fn decode_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}
