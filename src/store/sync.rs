//! `sync`: bring the indexes a fleet uses into the store, verified and
//! incrementally.
//!
//! Per suite: fetch InRelease; if its hash equals the stored one and every
//! wanted index is present, stop (one read, one hash). Otherwise verify it,
//! and for each wanted index whose signed SHA-256 differs from the stored
//! one, fetch it (pdiff or whole), verify it, parse it, and write only the
//! added, removed and changed package records. All suites of a run are
//! written in one write transaction (one durable commit); only the raw
//! files of large indexes are committed ahead of it, in transactions of
//! their own while the indexes are parsed, and listed in `pending_blobs`
//! until the run's transaction settles them (see [`sync`]). A suite that fails
//! leaves its previous generation untouched; other suites go on. Fetching,
//! decompression and parsing run in parallel across suites; writes are
//! serial (one redb writer), in target order. While the commit is written,
//! the candidate tables asked for in [`SyncOptions::tables`] are built from
//! the record keys kept in memory.

use super::packages::{self, Change, ChunkRecord, EncodedIndex, OwnedRecord, PackageRecords};
use super::records::{Generation, GenerationIndex, IndexState, SignerRecord, SuiteState};
use super::table::{self, BaseSpec, RecordKeys, TableSources};
use super::{
    BLOB_PARTS, BLOBS, GENERATIONS, INDEXES, META, PENDING_BLOBS, SUITE_CHECKED, SUITES, Store,
    StoreError, VERSIONS_SEEN, blob,
};
use crate::deb::hash::Sha256Digest;
use crate::deb::openpgp::Keyring;
use crate::deb::pdiff::PdiffLimits;
use crate::deb::{deb822, package};
use crate::mirror::{
    self, FetchMethod, FetchedIndex, MirrorError, MirrorSource, PreviousIndex, ReleasePolicy,
    VerifiedRelease,
};
use jiff::Timestamp;
use rayon::prelude::*;
use redb::{ReadableTable, WriteTransaction};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One suite to sync, with where it comes from and which indexes are wanted.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    pub archive: String,
    pub source: MirrorSource,
    pub keyring: PathBuf,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
}

impl SyncTarget {
    /// `archive/suite`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.archive, self.suite)
    }
}

/// Options for a sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub now: Timestamp,
    pub policy: ReleasePolicy,
    pub pdiff: PdiffLimits,
    /// Who runs the sync, recorded with each new generation's journal entry.
    pub actor: String,
    /// Candidate tables ((base, architecture)) to rebuild from this run's
    /// records while the commit is written, when a suite changed. Best
    /// effort: a table that could not be built here is rebuilt when it is
    /// next needed ([`table::ensure_current`]).
    pub tables: Vec<(BaseSpec, String)>,
}

/// What happened to one suite.
#[derive(Debug, Clone)]
pub enum SuiteOutcome {
    /// InRelease and indexes unchanged; nothing written.
    Unchanged { generation: u64 },
    /// A new generation was written.
    Updated(SuiteSummary),
    /// The mirror has no InRelease for a suite never synced before (e.g.
    /// an end-of-life release removed from the mirror). Not a failure:
    /// images on such a base are reported by `check`.
    NotMirrored { error: String },
    /// Aborted; the previous generation (if any) stays in force.
    Failed { error: String },
}

/// Counts for a new generation.
#[derive(Debug, Clone, Default)]
pub struct SuiteSummary {
    pub generation: u64,
    pub packages: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Of `added + removed + changed`, those in indexes stored before this
    /// run. Writing them rewrote chunks and left the old pages free; the
    /// records of a new index only fill new pages.
    pub rewritten: u64,
    pub bytes_read: u64,
    pub elapsed: Duration,
    pub methods: Vec<String>,
    pub accepted_expired: bool,
    pub accepted_downgrade: bool,
}

/// The result of a sync run, one entry per target in input order.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub suites: Vec<(String, SuiteOutcome)>,
    /// Whether the store was compacted after the run (set by the step
    /// that follows a sync, `fleet::sources::finish_sync`).
    pub compacted: bool,
}

impl SyncReport {
    /// True when any suite failed.
    pub fn has_failures(&self) -> bool {
        self.suites
            .iter()
            .any(|(_, o)| matches!(o, SuiteOutcome::Failed { .. }))
    }
}

/// Progress notifications, for a progress bar.
pub trait SyncProgress: Sync {
    fn suite_started(&self, _key: &str) {}
    fn suite_finished(&self, _key: &str, _outcome: &SuiteOutcome) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl SyncProgress for NoProgress {}

/// A wanted index of a suite.
#[derive(Debug, Clone)]
struct WantedIndex {
    key: String,
    path: String,
    arch: String,
}

/// Everything fetched and parsed for one suite, ready to be written.
struct PreparedSuite {
    release: VerifiedRelease,
    indexes: Vec<PreparedIndex>,
    started: Instant,
}

struct PreparedIndex {
    wanted: WantedIndex,
    /// None = the stored index is current.
    fetched: Option<ParsedIndex>,
}

/// Stripped package records, sorted and deduplicated (see
/// [`with_parsed_records`]).
type Records = Vec<OwnedRecord>;

struct ParsedIndex {
    fetched: FetchedIndex,
    /// The blob that keeps the verified file, prepared off the writer.
    /// (`fetched.original` is moved into it and `fetched.content` freed.)
    blob: PendingBlob,
    records: ParsedRecords,
    /// The records' keys, for the candidate tables.
    keys: IndexKeys,
}

/// The (package, version, architecture) of every record of an index, in
/// key order, in one string: what the candidate tables need of an index
/// written in this run ([`build_tables`]), which then neither keeps its
/// records nor decodes its chunks again.
#[derive(Debug, Default, PartialEq, Eq)]
struct IndexKeys {
    text: String,
    /// Where each record's name, version and architecture end in `text`.
    ends: Vec<[usize; 3]>,
}

impl IndexKeys {
    fn of<'a>(keys: impl ExactSizeIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        let mut out = IndexKeys {
            text: String::new(),
            ends: Vec::with_capacity(keys.len()),
        };
        for (name, version, arch) in keys {
            let mut end = [0; 3];
            for (part, end) in [name, version, arch].into_iter().zip(&mut end) {
                out.text.push_str(part);
                *end = out.text.len();
            }
            out.ends.push(end);
        }
        out
    }

    fn for_each(
        &self,
        f: &mut dyn FnMut(&str, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut start = 0;
        for &[name_end, version_end, arch_end] in &self.ends {
            // The offsets were taken at `push_str` boundaries of `text`.
            let part = |from: usize, to: usize| self.text.get(from..to).unwrap_or_default();
            f(
                part(start, name_end),
                part(name_end, version_end),
                part(version_end, arch_end),
            )?;
            start = arch_end;
        }
        Ok(())
    }
}

/// The records of a fetched index, in the form the writer needs them.
enum ParsedRecords {
    /// An index never synced before: the chunks it will be stored in,
    /// encoded in parallel off the writer thread.
    New(EncodedIndex),
    /// A changed index: its records, which the writer compares with the
    /// stored chunks to write a record-level delta.
    Changed(Records),
}

impl ParsedRecords {
    fn len(&self) -> usize {
        match self {
            ParsedRecords::New(encoded) => encoded.len(),
            ParsedRecords::Changed(records) => records.len(),
        }
    }
}

/// A blob to store: the original compressed file as verified, or zstd of
/// the content when there is none (e.g. after pdiff), with its Release path.
struct PendingBlob {
    key: Sha256Digest,
    /// `None` once sent to the writer ahead of its suite ([`EARLY_BLOB_BYTES`]).
    stored: Option<StoredBlob>,
    path: String,
}

/// Blobs at least this large (the raw `.xz` of a large index) are sent to
/// the writer as soon as they are verified, and stored in a transaction of
/// their own while the indexes are still parsed, so that the run's final
/// commit has that much less to write and flush (see [`sync`]).
const EARLY_BLOB_BYTES: usize = blob::PART_BYTES;

/// What the preparing threads send the writer.
enum Message {
    /// A large verified index file, stored ahead of its suite.
    Blob(Sha256Digest, StoredBlob),
    /// Suite `i` is prepared (or failed).
    Suite(usize, Result<Prepared, String>),
}

enum StoredBlob {
    /// The bytes as verified (stored with the raw tag, see [`blob`]).
    Raw(Vec<u8>),
    /// Already encoded by [`blob::encode`].
    Encoded(Vec<u8>),
}

enum Prepared {
    NotMirrored(String),
    Unchanged(u64),
    Changed(Box<PreparedSuite>),
}

/// Syncs `targets` into `store`.
pub fn sync(
    store: &Store,
    targets: &[SyncTarget],
    options: &SyncOptions,
    progress: &dyn SyncProgress,
) -> Result<SyncReport, StoreError> {
    store.writer()?;
    // Load each keyring once.
    let mut keyrings: HashMap<PathBuf, Result<Keyring, String>> = HashMap::new();
    for t in targets {
        keyrings.entry(t.keyring.clone()).or_insert_with(|| {
            Keyring::from_file(&t.keyring)
                .map_err(|e| format!("keyring {}: {e}", t.keyring.display()))
        });
    }
    // Suites are fetched, verified and parsed in parallel, and written in
    // input order as soon as each is ready, so that the writes of the first
    // suites overlap the decoding of the later ones.
    // Every new generation of this run, and the last-checked times, are
    // written in ONE transaction: one durable commit, and a crash leaves the
    // store exactly as it was before the run or with the whole run applied.
    // Before it, the raw files of large indexes are stored in transactions
    // of their own as soon as they are verified ([`EarlyBlobs`]): their
    // bytes reach the disk while the indexes are parsed, instead of in the
    // final commit. Until then, they are listed in `pending_blobs`; the
    // run's transaction removes those no generation refers to.
    let db = store.writer()?;
    let mut early = EarlyBlobs { db, txn: None };
    let mut run_txn: Option<WriteTransaction> = None;
    let mut report = SyncReport {
        suites: Vec::new(),
        compacted: false,
    };
    // The record keys of the indexes written, kept for the tables when asked.
    let mut kept: HashMap<u32, IndexKeys> = HashMap::new();
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    let (sender, receiver) = std::sync::mpsc::channel::<Message>();
    let written: Result<(), StoreError> = std::thread::scope(|scope| {
        let cancelled = &cancelled;
        let keyrings = &keyrings;
        scope.spawn(move || {
            targets
                .par_iter()
                .enumerate()
                .for_each_with(sender, |sender, (i, t)| {
                    if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    progress.suite_started(&t.key());
                    // The receiver is gone only when writing failed; then
                    // nothing more is wanted.
                    let send_early = |key, stored| {
                        let _ = sender.send(Message::Blob(key, stored));
                    };
                    let prepared = keyrings
                        .get(&t.keyring)
                        .ok_or_else(|| "keyring not loaded".to_string())
                        .and_then(|k| k.as_ref().map_err(Clone::clone))
                        .and_then(|keyring| {
                            prepare_suite(store, t, keyring, options, &send_early)
                                .map_err(|e| e.to_string())
                        });
                    let _ = sender.send(Message::Suite(i, prepared));
                });
        });
        let mut ready: BTreeMap<usize, Result<Prepared, String>> = BTreeMap::new();
        let mut next = 0;
        // On any error, the preparers stop taking new suites.
        let cancel = |e: StoreError| {
            cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
            e
        };
        while next < targets.len() {
            let message = match receiver.try_recv() {
                Ok(message) => Some(message),
                // Nothing waiting: make the early blobs durable before
                // waiting (their flush overlaps the parsing).
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    early.commit(store).map_err(cancel)?;
                    receiver.recv().ok()
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
            };
            let Some(message) = message else {
                return Err(store.err(format!(
                    "preparing {} ended without a result",
                    targets[next].key()
                )));
            };
            match message {
                Message::Blob(key, stored) => match &run_txn {
                    // Late (the run's transaction is open): store it there.
                    Some(txn) => {
                        put_blob(txn, store, &key, &stored).map_err(cancel)?;
                    }
                    None => early.put(store, &key, &stored).map_err(cancel)?,
                },
                Message::Suite(i, prepared) => {
                    ready.insert(i, prepared);
                }
            }
            while let Some(prepared) = ready.remove(&next) {
                let target = &targets[next];
                next += 1;
                let outcome = match prepared {
                    Err(error) => SuiteOutcome::Failed { error },
                    Ok(Prepared::Unchanged(generation)) => SuiteOutcome::Unchanged { generation },
                    Ok(Prepared::NotMirrored(error)) => SuiteOutcome::NotMirrored { error },
                    // A store error aborts the transaction: nothing of this run lands.
                    Ok(Prepared::Changed(p)) => {
                        let txn = match &mut run_txn {
                            Some(txn) => txn,
                            None => {
                                early.commit(store).map_err(cancel)?;
                                let txn = db.begin_write().map_err(|e| cancel(store.err(e)))?;
                                run_txn.insert(txn)
                            }
                        };
                        let summary = write_suite(txn, store, target, *p, options, &mut kept)
                            .map_err(cancel)?;
                        SuiteOutcome::Updated(summary)
                    }
                };
                progress.suite_finished(&target.key(), &outcome);
                report.suites.push((target.key(), outcome));
            }
        }
        Ok(())
    });
    written?;
    early.commit(store)?;
    let txn = match run_txn {
        Some(txn) => txn,
        None => db.begin_write().map_err(|e| store.err(e))?,
    };
    settle_pending_blobs(&txn, store)?;
    record_checked(&txn, store, &report, options.now)?;
    let tables = if kept.is_empty() {
        Vec::new()
    } else {
        new_table_sources(&txn, store, &options.tables)
    };
    let committed = std::thread::scope(|scope| {
        let kept = &kept;
        let tables = &tables;
        scope.spawn(move || build_tables(store, tables, kept));
        txn.commit().map_err(|e| store.err(e))
    });
    // Freeing the kept records takes tens of milliseconds: in the background.
    rayon::spawn(move || drop(kept));
    committed?;
    Ok(report)
}

/// The sources of the asked-for tables as of the run's write transaction
/// (the new state). A table whose sources cannot be computed is left out.
fn new_table_sources(
    txn: &WriteTransaction,
    store: &Store,
    tables: &[(BaseSpec, String)],
) -> Vec<(String, String, TableSources)> {
    let (Ok(suites), Ok(indexes)) = (txn.open_table(SUITES), txn.open_table(INDEXES)) else {
        return Vec::new();
    };
    tables
        .iter()
        .filter_map(|(base, arch)| {
            table::sources_with(
                base,
                arch,
                &mut |key| json_row(store, &suites, key),
                &mut |key| json_row(store, &indexes, key),
            )
            .ok()
            .map(|sources| (base.name.clone(), arch.clone(), sources))
        })
        .collect()
}

fn json_row<T: serde::de::DeserializeOwned>(
    store: &Store,
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(|e| store.err(e))? {
        None => Ok(None),
        Some(v) => Ok(Some(
            serde_json::from_slice(v.value()).map_err(|e| store.corrupt(key, e))?,
        )),
    }
}

/// Record keys of the indexes written in this run (in memory), over the
/// store's records for the others.
struct RunRecords<'a, T> {
    written: &'a HashMap<u32, IndexKeys>,
    stored: PackageRecords<'a, T>,
}

impl<T> RecordKeys for RunRecords<'_, T>
where
    T: ReadableTable<(u32, &'static str, &'static str, &'static str), &'static [u8]>,
{
    fn for_each_key(
        &self,
        id: u32,
        f: &mut dyn FnMut(&str, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.written.get(&id) {
            Some(keys) => keys.for_each(f),
            None => self.stored.for_each_key(id, f),
        }
    }
}

/// Builds and writes the tables that are not current, in parallel. Runs
/// while the commit is written: an index not written in this run reads the
/// same from the last committed state as from the new one, and a table file
/// is keyed by the content it was built from, so a table written for a
/// commit that then fails is only stale, never wrong.
fn build_tables(
    store: &Store,
    tables: &[(String, String, TableSources)],
    written: &HashMap<u32, IndexKeys>,
) {
    tables.par_iter().for_each(|(base, arch, sources)| {
        let path = table::table_path(store, base, arch);
        if table::is_current(&path, &sources.key) {
            return;
        }
        let built = store.read().and_then(|txn| {
            let stored = PackageRecords::open(store, &txn)?;
            Ok(table::build_from(
                &RunRecords { written, stored },
                sources,
                arch,
            ))
        });
        if let Ok(Ok(bytes)) = built {
            // Best effort (see `SyncOptions::tables`).
            let _ = table::write_atomically(&path, &bytes);
        }
    });
}

/// Records when each suite was last confirmed, for data-age reporting.
fn record_checked(
    txn: &WriteTransaction,
    store: &Store,
    report: &SyncReport,
    now: Timestamp,
) -> Result<(), StoreError> {
    {
        let mut table = txn.open_table(SUITE_CHECKED).map_err(|e| store.err(e))?;
        for (key, outcome) in &report.suites {
            if matches!(
                outcome,
                SuiteOutcome::Unchanged { .. } | SuiteOutcome::Updated(_)
            ) {
                table
                    .insert(key.as_str(), now.as_second())
                    .map_err(|e| store.err(e))?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

fn wanted_indexes(target: &SyncTarget, release: Option<&VerifiedRelease>) -> Vec<WantedIndex> {
    let mut out = Vec::new();
    for component in &target.components {
        for arch in &target.architectures {
            out.push(WantedIndex {
                key: format!("{}/{}/{component}/{arch}", target.archive, target.suite),
                path: format!("{component}/binary-{arch}/Packages"),
                arch: arch.clone(),
            });
        }
        // Architecture: all lives in binary-all only when the Release does
        // not say the arch-specific indexes already carry it (apt's rule).
        if let Some(r) = release {
            let r = &r.release;
            let all_separate = r.architectures.iter().any(|a| a == "all")
                && r.no_support_for_architecture_all.as_deref() != Some("Packages");
            if all_separate {
                out.push(WantedIndex {
                    key: format!("{}/{}/{component}/all", target.archive, target.suite),
                    path: format!("{component}/binary-all/Packages"),
                    arch: "all".into(),
                });
            }
        }
    }
    out
}

fn prepare_suite(
    store: &Store,
    target: &SyncTarget,
    keyring: &Keyring,
    options: &SyncOptions,
    send_early: &dyn Fn(Sha256Digest, StoredBlob),
) -> Result<Prepared, PrepareError> {
    let started = Instant::now();
    let txn = store.read()?;
    let stored = store.suite_in(&txn, &target.key())?;
    let inrelease = match mirror::fetch_inrelease(&target.source, &target.suite) {
        Err(MirrorError::Source(e @ crate::mirror::SourceError::NotFound { .. }))
            if stored.is_none() =>
        {
            return Ok(Prepared::NotMirrored(e.to_string()));
        }
        other => other?,
    };
    if let Some(stored) = &stored {
        let sha = Sha256Digest::of(&inrelease).to_hex();
        let wanted = wanted_indexes(target, None);
        if stored.inrelease_sha256 == sha && wanted.iter().all(|w| stored.indexes.contains(&w.key))
        {
            // Unchanged bytes were verified when stored; only time moved.
            let valid_until = stored
                .valid_until
                .as_deref()
                .and_then(|v| v.parse::<Timestamp>().ok());
            if let Some(valid_until) = valid_until
                && valid_until < options.now
                && !options.policy.allow_expired
            {
                return Err(MirrorError::Expired {
                    location: target
                        .source
                        .describe(&format!("{}/InRelease", mirror::suite_dir(&target.suite))),
                    valid_until,
                    now: options.now,
                }
                .into());
            }
            return Ok(Prepared::Unchanged(stored.generation));
        }
    }
    let previous_date = stored
        .as_ref()
        .and_then(|s| s.date.as_deref())
        .and_then(|d| d.parse::<Timestamp>().ok());
    let location = target
        .source
        .describe(&format!("{}/InRelease", mirror::suite_dir(&target.suite)));
    let release = mirror::verify_release(
        &location,
        inrelease,
        keyring,
        options.now,
        previous_date,
        options.policy,
    )?;
    let mut indexes = Vec::new();
    for wanted in wanted_indexes(target, Some(&release)) {
        let current = store.index_in(&txn, &wanted.key)?;
        let signed = release.release.file(&wanted.path).cloned();
        if let (Some(current), Some(signed)) = (&current, &signed)
            && current.sha256 == signed.sha256.to_hex()
        {
            indexes.push(PreparedIndex {
                wanted,
                fetched: None,
            });
            continue;
        }
        // Previous content for pdiff, only when the Release offers pdiffs.
        let previous_content = match &current {
            Some(cur)
                if release
                    .release
                    .file(&format!("{}.diff/Index", wanted.path))
                    .is_some() =>
            {
                load_index_content(store, cur).ok()
            }
            _ => None,
        };
        let previous = match (&current, &previous_content) {
            (Some(cur), Some(content)) => {
                Sha256Digest::from_hex(&cur.sha256).map(|sha256| PreviousIndex {
                    sha256,
                    content: content.as_slice(),
                })
            }
            _ => None,
        };
        let mut fetched = mirror::fetch_index(
            &target.source,
            &target.suite,
            &release,
            &wanted.path,
            previous,
            options.pdiff,
        )?;
        let blob = match fetched.original.take() {
            // Its signed SHA-256, which the mirror checked the bytes against.
            // A large one goes to the writer now, before it is parsed.
            Some(original) if original.bytes.len() >= EARLY_BLOB_BYTES => {
                send_early(original.sha256, StoredBlob::Raw(original.bytes));
                PendingBlob {
                    key: original.sha256,
                    stored: None,
                    path: original.path,
                }
            }
            Some(original) => PendingBlob {
                key: original.sha256,
                stored: Some(StoredBlob::Raw(original.bytes)),
                path: original.path,
            },
            None => PendingBlob {
                key: Sha256Digest::of(&fetched.content),
                stored: Some(StoredBlob::Encoded(blob::encode(&fetched.content, true))),
                path: wanted.path.clone(),
            },
        };
        let (records, keys) = if current.is_none() {
            parse_new_index(&fetched.content, &wanted.arch)
                .map(|(encoded, keys)| (ParsedRecords::New(encoded), keys))
        } else {
            parse_records(&fetched.content, &wanted.arch).map(|records| {
                let keys = IndexKeys::of(records.iter().map(|r| (&*r.name, &*r.version, &*r.arch)));
                (ParsedRecords::Changed(records), keys)
            })
        }
        .map_err(|e| {
            PrepareError::Other(format!(
                "{}: {e}",
                target.source.describe(&format!(
                    "{}/{}",
                    mirror::suite_dir(&target.suite),
                    wanted.path
                ))
            ))
        })?;
        // The records and the blob are copies: free the decoded content now
        // so that the memory is reused while the next indexes are prepared.
        fetched.content = Vec::new();
        indexes.push(PreparedIndex {
            wanted,
            fetched: Some(ParsedIndex {
                fetched,
                blob,
                records,
                keys,
            }),
        });
    }
    Ok(Prepared::Changed(Box::new(PreparedSuite {
        release,
        indexes,
        started,
    })))
}

/// Decodes the stored content of an index (for pdiff).
pub(crate) fn load_index_content(store: &Store, index: &IndexState) -> Result<Vec<u8>, StoreError> {
    let key = Sha256Digest::from_hex(&index.blob)
        .ok_or_else(|| store.corrupt("index blob", "bad hash"))?;
    let stored = store
        .blob(&key)?
        .ok_or_else(|| store.corrupt(format!("blob {}", index.blob), "missing"))?;
    let raw = blob::decode(&stored, &key, u64::MAX / 2).map_err(|e| store.corrupt("blob", e))?;
    if index.blob_path.ends_with("/Packages") {
        return Ok(raw);
    }
    let compression = crate::deb::decompress::Compression::from_path(&index.blob_path);
    crate::deb::decompress::decompress(&raw, compression, index.size)
        .map_err(|e| store.corrupt("blob", e))
}

/// Parses a Packages file into stripped records keyed by (name, version,
/// arch), sorted, of duplicate keys the last (see [`with_parsed_records`]).
fn parse_records(content: &[u8], index_arch: &str) -> Result<Records, package::PackageError> {
    with_parsed_records(content, index_arch, PIECE_BYTES, |records| {
        records
            .iter()
            .map(StrippedRecord::to_owned_record)
            .collect()
    })
}

/// Bytes of an index file parsed as one piece (see [`with_parsed_records`]).
const PIECE_BYTES: usize = 4 << 20;

/// A record of an index file, borrowed from it: its key and the kept lines
/// of its stanza ([`join_kept_fields`]), as chunks are encoded from it.
struct StrippedRecord<'a, 'r> {
    /// The first 16 bytes of the name, zero-padded, big-endian: orders
    /// records as their names do, and most comparisons of a sort end here.
    name_prefix: u128,
    name: &'a str,
    version: &'a str,
    arch: &'a str,
    runs: &'r [&'a [u8]],
    /// The stanza's bytes: the runs and one newline.
    len: usize,
    /// Its position in the file: of records with the same key, the last
    /// one wins.
    seq: usize,
}

impl StrippedRecord<'_, '_> {
    fn prefix_of(name: &str) -> u128 {
        let mut bytes = [0u8; 16];
        let n = name.len().min(16);
        bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
        u128::from_be_bytes(bytes)
    }

    /// The record with its stanza copied out.
    fn to_owned_record(&self) -> OwnedRecord {
        let mut stanza = Vec::with_capacity(self.len);
        for run in self.runs {
            stanza.extend_from_slice(run);
        }
        stanza.push(b'\n');
        OwnedRecord {
            name: self.name.to_string(),
            version: self.version.to_string(),
            arch: self.arch.to_string(),
            stanza,
        }
    }

    /// Key order ([`ChunkRecord::key`]), comparing the name prefixes first.
    fn cmp_key(&self, other: &Self) -> std::cmp::Ordering {
        self.name_prefix
            .cmp(&other.name_prefix)
            .then_with(|| self.key().cmp(&other.key()))
    }
}

impl ChunkRecord for StrippedRecord<'_, '_> {
    fn key(&self) -> (&str, &str, &str) {
        (self.name, self.version, self.arch)
    }
    fn stanza_pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.runs.iter().copied()
    }
    fn stanza_newline(&self) -> bool {
        true
    }
    fn stanza_len(&self) -> usize {
        self.len
    }
}

/// Parses the Packages file of an index never synced before straight into
/// the chunks it will be stored in. The records stay borrowed from
/// `content` (their key, and the kept lines of their stanza) while they are
/// sorted and until their chunk is encoded: no record is copied out of the
/// file on its own.
fn parse_new_index(
    content: &[u8],
    index_arch: &str,
) -> Result<(EncodedIndex, IndexKeys), package::PackageError> {
    parse_new_index_in(content, index_arch, PIECE_BYTES)
}

/// [`parse_new_index`], parsing in pieces of about `piece_bytes`.
fn parse_new_index_in(
    content: &[u8],
    index_arch: &str,
    piece_bytes: usize,
) -> Result<(EncodedIndex, IndexKeys), package::PackageError> {
    with_parsed_records(content, index_arch, piece_bytes, |records| {
        let keys = IndexKeys::of(records.iter().map(|r| (r.name, r.version, r.arch)));
        (packages::encode_new_index(records), keys)
    })
}

/// Parses a Packages file and hands its records to `use_records`: those of
/// `index_arch` and `all`, stripped ([`join_kept_fields`]), sorted by key, and of
/// duplicate keys the last one given (as a later stanza of the same
/// package, version and architecture did in a map). They are borrowed from
/// `content`.
///
/// The file is cut into pieces of about `piece_bytes` at paragraph
/// boundaries and the pieces are parsed in parallel (rayon); an error is
/// the first in file order, with the line numbers of the whole file, as a
/// serial parse would report it.
fn with_parsed_records<R>(
    content: &[u8],
    index_arch: &str,
    piece_bytes: usize,
    use_records: impl FnOnce(&[StrippedRecord<'_, '_>]) -> R,
) -> Result<R, package::PackageError> {
    type Key<'a> = (&'a str, &'a str, &'a str);
    /// A piece's records (key, and where their runs are in `runs`) and the
    /// runs of all of them.
    type Piece<'a> = (Vec<(Key<'a>, std::ops::Range<usize>)>, Vec<&'a [u8]>);
    let pieces = deb822::split_paragraph_chunks(content, content.len().div_ceil(piece_bytes));
    let parsed: Vec<Result<Piece<'_>, package::PackageError>> = pieces
        .par_iter()
        .map(|piece| {
            let mut keys = Vec::new();
            let mut runs: Vec<&[u8]> = Vec::new();
            let mut packages = package::packages_from(piece.paragraphs());
            let data = packages.data();
            // Where the kept fields of the current stanza are in `data`.
            let mut kept: Vec<(usize, usize)> = Vec::new();
            loop {
                kept.clear();
                let observe = |field: &deb822::Field<'_>| {
                    if is_kept_field(field.name) {
                        kept.push(field.span);
                    }
                };
                let Some(pkg) = packages.next_observed(observe) else {
                    break;
                };
                let pkg = pkg?;
                // binary-amd64 carries amd64 and all; anything else is not for us.
                if pkg.architecture != index_arch && pkg.architecture != "all" {
                    continue;
                }
                let start = runs.len();
                join_kept_fields(data, &kept, &mut runs);
                keys.push((
                    (pkg.package, pkg.version, pkg.architecture),
                    start..runs.len(),
                ));
            }
            Ok((keys, runs))
        })
        .collect();
    // In file order, so that an error is the first in the file.
    let mut pieces = Vec::with_capacity(parsed.len());
    for piece in parsed {
        pieces.push(piece?);
    }
    let mut records: Vec<StrippedRecord<'_, '_>> =
        Vec::with_capacity(pieces.iter().map(|(keys, _)| keys.len()).sum());
    for (keys, runs) in &pieces {
        let base = records.len();
        records.extend(
            keys.iter()
                .enumerate()
                .map(|(i, &((name, version, arch), ref at))| {
                    let runs = &runs[at.clone()];
                    StrippedRecord {
                        name_prefix: StrippedRecord::prefix_of(name),
                        name,
                        version,
                        arch,
                        runs,
                        len: runs.iter().map(|r| r.len()).sum::<usize>() + 1,
                        seq: base + i,
                    }
                }),
        );
    }
    // Debian's indexes are in source package order, not binary: sort. Of
    // duplicate keys the last one wins.
    // In place: an unstable sort (no buffer the size of the records) with
    // the file position as the last key, then of each run of equal keys the
    // last record moved into the run's first slot.
    if !records.is_sorted_by(|a, b| a.cmp_key(b).is_lt()) {
        records.par_sort_unstable_by(|a, b| a.cmp_key(b).then(a.seq.cmp(&b.seq)));
        records.dedup_by(|later, kept| {
            let same = later.key() == kept.key();
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
    }
    Ok(use_records(&records))
}

/// The fields a stored package record keeps: what check, plan, pool,
/// security matching and SBOMs use. Descriptions, tags, MD5 sums and
/// homepages are dropped (they are in the generation's verified blob).
///
/// This list is the definition; the sync looks fields up with
/// [`is_kept_field`], which the tests check against it.
#[cfg(test)]
const KEPT_FIELDS: &[&[u8]] = &[
    b"Package",
    b"Source",
    b"Version",
    b"Architecture",
    b"Maintainer",
    b"Installed-Size",
    b"Pre-Depends",
    b"Depends",
    b"Recommends",
    b"Breaks",
    b"Conflicts",
    b"Replaces",
    b"Provides",
    b"Essential",
    b"Protected",
    b"Multi-Arch",
    b"Priority",
    b"Section",
    b"Filename",
    b"Size",
    b"SHA256",
    b"Built-Using",
];

/// Whether a field is one of `KEPT_FIELDS` (ASCII case-insensitive).
///
/// This runs for every field of every index (3.4 million times in a first
/// sync of the bundled slice), so the name's length and first letter pick
/// the one or two candidates it can be before any bytes are compared; a
/// scan of the whole list was 2.4% of a first sync's CPU. The tests check
/// this against `KEPT_FIELDS`.
fn is_kept_field(name: &[u8]) -> bool {
    let Some(first) = name.first() else {
        return false;
    };
    let candidates: &[&[u8]] = match (name.len(), first.to_ascii_lowercase()) {
        (4, b's') => &[b"Size"],
        (6, b'b') => &[b"Breaks"],
        (6, b's') => &[b"Source", b"SHA256"],
        (7, b'd') => &[b"Depends"],
        (7, b'p') => &[b"Package"],
        (7, b's') => &[b"Section"],
        (7, b'v') => &[b"Version"],
        (8, b'f') => &[b"Filename"],
        (8, b'p') => &[b"Provides", b"Priority"],
        (8, b'r') => &[b"Replaces"],
        (9, b'c') => &[b"Conflicts"],
        (9, b'e') => &[b"Essential"],
        (9, b'p') => &[b"Protected"],
        (10, b'm') => &[b"Maintainer", b"Multi-Arch"],
        (10, b'r') => &[b"Recommends"],
        (11, b'b') => &[b"Built-Using"],
        (11, b'p') => &[b"Pre-Depends"],
        (12, b'a') => &[b"Architecture"],
        (14, b'i') => &[b"Installed-Size"],
        _ => return false,
    };
    candidates.iter().any(|k| name.eq_ignore_ascii_case(k))
}

/// Appends the kept fields of a stanza to `out` as runs of consecutive
/// lines: `spans` are the fields' places in `data` (see
/// [`deb822::Field::span`]), in order, and fields one newline apart share a
/// run. Every run but the last ends with its newline, the last without: the
/// stanza is the runs and one newline. The parser found the fields already,
/// so the stanza is not scanned again; the tests compare this with a
/// line-by-line definition (`strip_stanza` in the tests).
fn join_kept_fields<'a>(data: &'a [u8], spans: &[(usize, usize)], out: &mut Vec<&'a [u8]>) {
    let mut run: Option<(usize, usize)> = None;
    for &(start, end) in spans {
        match &mut run {
            Some(r) if r.1 + 1 == start => r.1 = end,
            _ => {
                if let Some((s, e)) = run {
                    // With the newline that ends its last line.
                    out.push(data.get(s..(e + 1).min(data.len())).unwrap_or_default());
                }
                run = Some((start, end));
            }
        }
    }
    if let Some((s, e)) = run {
        out.push(data.get(s..e).unwrap_or_default());
    }
}

fn next_counter(txn: &WriteTransaction, store: &Store, name: &str) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META).map_err(|e| store.err(e))?;
    let current = meta
        .get(name)
        .map_err(|e| store.err(e))?
        .map(|v| super::decode_u64(v.value()))
        .unwrap_or(0);
    let next = current + 1;
    meta.insert(name, next.to_le_bytes().as_slice())
        .map_err(|e| store.err(e))?;
    Ok(next)
}

/// Stores a prepared blob, unless the store has it; returns whether it was
/// added. A raw blob is written straight into the page redb reserves for it
/// (no intermediate copy of a multi-megabyte file).
fn put_blob(
    txn: &WriteTransaction,
    store: &Store,
    key: &Sha256Digest,
    stored: &StoredBlob,
) -> Result<bool, StoreError> {
    let mut blobs = txn.open_table(BLOBS).map_err(|e| store.err(e))?;
    let key = key.0.as_slice();
    if blobs.get(key).map_err(|e| store.err(e))?.is_some() {
        return Ok(false);
    }
    match stored {
        StoredBlob::Raw(bytes) if bytes.len() > blob::PART_BYTES => {
            blobs
                .insert(key, blob::parts_header(bytes).as_slice())
                .map_err(|e| store.err(e))?;
            let mut parts = txn.open_table(BLOB_PARTS).map_err(|e| store.err(e))?;
            for (i, part) in (0u32..).zip(bytes.chunks(blob::PART_BYTES)) {
                parts.insert((key, i), part).map_err(|e| store.err(e))?;
            }
        }
        StoredBlob::Raw(bytes) => {
            let mut reserved = blobs
                .insert_reserve(key, blob::raw_len(bytes))
                .map_err(|e| store.err(e))?;
            blob::encode_raw_into(reserved.as_mut(), bytes);
        }
        StoredBlob::Encoded(encoded) => {
            blobs
                .insert(key, encoded.as_slice())
                .map_err(|e| store.err(e))?;
        }
    }
    Ok(true)
}

/// The transaction that stores large verified index files ahead of the
/// run's own (see [`sync`]). Each blob it adds is listed in
/// `pending_blobs` in the same transaction.
struct EarlyBlobs<'db> {
    db: &'db redb::Database,
    txn: Option<WriteTransaction>,
}

impl EarlyBlobs<'_> {
    fn put(
        &mut self,
        store: &Store,
        key: &Sha256Digest,
        stored: &StoredBlob,
    ) -> Result<(), StoreError> {
        let txn = match &mut self.txn {
            Some(txn) => txn,
            None => self
                .txn
                .insert(self.db.begin_write().map_err(|e| store.err(e))?),
        };
        if put_blob(txn, store, key, stored)? {
            let mut pending = txn.open_table(PENDING_BLOBS).map_err(|e| store.err(e))?;
            pending
                .insert(key.0.as_slice(), ())
                .map_err(|e| store.err(e))?;
        }
        Ok(())
    }

    /// Commits (durably) what was stored, if anything.
    fn commit(&mut self, store: &Store) -> Result<(), StoreError> {
        match self.txn.take() {
            Some(txn) => txn.commit().map_err(|e| store.err(e)),
            None => Ok(()),
        }
    }
}

/// Empties `pending_blobs`, removing the blobs listed there that no index
/// or generation refers to: those of a suite that failed after its file was
/// stored ahead, or of a run whose process died before its commit. Returns
/// how many were removed.
fn settle_pending_blobs(txn: &WriteTransaction, store: &Store) -> Result<u64, StoreError> {
    let mut pending = txn.open_table(PENDING_BLOBS).map_err(|e| store.err(e))?;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for item in pending.iter().map_err(|e| store.err(e))? {
        let (k, _) = item.map_err(|e| store.err(e))?;
        keys.push(k.value().to_vec());
    }
    if keys.is_empty() {
        return Ok(0);
    }
    for key in &keys {
        pending.remove(key.as_slice()).map_err(|e| store.err(e))?;
    }
    // The current indexes refer to what a successful run stored; only for
    // the rest are the older generations looked at.
    let mut referenced: std::collections::HashSet<[u8; 32]> = std::collections::HashSet::new();
    let raw = |hex: &str| Sha256Digest::from_hex(hex).map(|d| d.0);
    {
        let indexes = txn.open_table(INDEXES).map_err(|e| store.err(e))?;
        for item in indexes.iter().map_err(|e| store.err(e))? {
            let (k, v) = item.map_err(|e| store.err(e))?;
            let state: IndexState = serde_json::from_slice(v.value())
                .map_err(|e| store.corrupt(k.value().to_string(), e))?;
            referenced.extend(raw(&state.blob));
        }
    }
    keys.retain(|k| <[u8; 32]>::try_from(k.as_slice()).map_or(true, |k| !referenced.contains(&k)));
    if !keys.is_empty() {
        let generations = txn.open_table(GENERATIONS).map_err(|e| store.err(e))?;
        for item in generations.iter().map_err(|e| store.err(e))? {
            let (k, v) = item.map_err(|e| store.err(e))?;
            let generation: Generation = serde_json::from_slice(v.value())
                .map_err(|e| store.corrupt(format!("generation {}", k.value()), e))?;
            referenced.extend(generation.indexes.iter().filter_map(|i| raw(&i.blob)));
        }
        keys.retain(|k| {
            <[u8; 32]>::try_from(k.as_slice()).map_or(true, |k| !referenced.contains(&k))
        });
    }
    let mut blobs = txn.open_table(BLOBS).map_err(|e| store.err(e))?;
    let mut parts = txn.open_table(BLOB_PARTS).map_err(|e| store.err(e))?;
    for key in &keys {
        let removed = blobs.remove(key.as_slice()).map_err(|e| store.err(e))?;
        let count = match removed {
            Some(value) => blob::parts_of(value.value())
                .map_err(|e| store.corrupt("pending blob", e))?
                .map_or(0, |(_, count)| count),
            None => 0,
        };
        for i in 0..count {
            parts
                .remove((key.as_slice(), i))
                .map_err(|e| store.err(e))?;
        }
    }
    Ok(keys.len() as u64)
}

fn method_name(m: &FetchMethod) -> String {
    match m {
        FetchMethod::Full {
            compression,
            by_hash,
        } => format!(
            "full:{}{}",
            compression.extension().trim_start_matches('.'),
            if *by_hash { ":by-hash" } else { "" }
        ),
        FetchMethod::Pdiff { patches } => format!("pdiff:{patches}"),
    }
}

fn write_suite(
    txn: &WriteTransaction,
    store: &Store,
    target: &SyncTarget,
    prepared: PreparedSuite,
    options: &SyncOptions,
    kept: &mut HashMap<u32, IndexKeys>,
) -> Result<SuiteSummary, StoreError> {
    let generation = next_counter(txn, store, "next_generation")?;
    let previous = {
        let suites = txn.open_table(SUITES).map_err(|e| store.err(e))?;
        let prev = suites
            .get(target.key().as_str())
            .map_err(|e| store.err(e))?
            .map(|v| serde_json::from_slice::<SuiteState>(v.value()));
        match prev {
            Some(Ok(s)) => Some(s.generation),
            Some(Err(e)) => return Err(store.corrupt(target.key(), e)),
            None => None,
        }
    };
    let inrelease_key = Sha256Digest::of(&prepared.release.inrelease);
    put_blob(
        txn,
        store,
        &inrelease_key,
        &StoredBlob::Raw(prepared.release.inrelease),
    )?;
    let mut summary = SuiteSummary {
        generation,
        accepted_expired: prepared.release.accepted_expired,
        accepted_downgrade: prepared.release.accepted_downgrade,
        ..Default::default()
    };
    let mut gen_indexes = Vec::new();
    for index in prepared.indexes {
        let existing: Option<IndexState> = {
            let table = txn.open_table(INDEXES).map_err(|e| store.err(e))?;
            let v = table
                .get(index.wanted.key.as_str())
                .map_err(|e| store.err(e))?
                .map(|v| serde_json::from_slice::<IndexState>(v.value()));
            match v {
                Some(Ok(s)) => Some(s),
                Some(Err(e)) => return Err(store.corrupt(&index.wanted.key, e)),
                None => None,
            }
        };
        let Some(mut parsed) = index.fetched else {
            // Unchanged index: carried over as is.
            let Some(state) = existing else {
                return Err(store.corrupt(&index.wanted.key, "index marked current but missing"));
            };
            summary.packages += state.packages;
            summary.methods.push("unchanged".into());
            gen_indexes.push(GenerationIndex {
                key: index.wanted.key.clone(),
                path: index.wanted.path.clone(),
                sha256: state.sha256.clone(),
                size: state.size,
                blob: state.blob.clone(),
                blob_path: state.blob_path.clone(),
                method: "unchanged".into(),
                packages: state.packages,
                added: 0,
                removed: 0,
                changed: 0,
                bytes_read: 0,
            });
            continue;
        };
        let id = match &existing {
            Some(s) => s.id,
            None => u32::try_from(next_counter(txn, store, "next_index_id")?)
                .map_err(|_| store.corrupt("next_index_id", "overflow"))?,
        };
        // (Stored already when it was sent ahead, see [`EarlyBlobs`].)
        if let Some(stored) = &parsed.blob.stored {
            put_blob(txn, store, &parsed.blob.key, stored)?;
        }
        let (blob_key, blob_path) = (parsed.blob.key, parsed.blob.path.clone());
        // A new index's versions get no first-seen rows: they are implicit
        // (first seen in this generation, see `IndexState::first_generation`).
        let first_generation = match &existing {
            Some(s) => s.first_generation,
            None => Some(generation),
        };
        let (added, removed, changed) = write_records(
            txn,
            store,
            id,
            generation,
            &parsed.records,
            existing.as_ref(),
        )?;
        let total = parsed.records.len() as u64;
        let method = method_name(&parsed.fetched.method);
        summary.packages += total;
        summary.added += added;
        summary.removed += removed;
        summary.changed += changed;
        if existing.is_some() {
            summary.rewritten += added + removed + changed;
        }
        summary.bytes_read += parsed.fetched.bytes_read;
        summary.methods.push(method.clone());
        let state = IndexState {
            id,
            sha256: parsed.fetched.sha256.to_hex(),
            size: parsed.fetched.size,
            generation,
            packages: total,
            blob: blob_key.to_hex(),
            blob_path: blob_path.clone(),
            first_generation,
        };
        {
            let mut table = txn.open_table(INDEXES).map_err(|e| store.err(e))?;
            let json = serde_json::to_vec(&state).map_err(|e| store.err(e))?;
            table
                .insert(index.wanted.key.as_str(), json.as_slice())
                .map_err(|e| store.err(e))?;
        }
        gen_indexes.push(GenerationIndex {
            key: index.wanted.key.clone(),
            path: index.wanted.path.clone(),
            sha256: state.sha256,
            size: state.size,
            blob: state.blob,
            blob_path,
            method,
            packages: total,
            added,
            removed,
            changed,
            bytes_read: parsed.fetched.bytes_read,
        });
        if !options.tables.is_empty() {
            kept.insert(id, std::mem::take(&mut parsed.keys));
        }
        // Freeing a big index's records and buffers takes tens of
        // milliseconds: not on the writer thread.
        rayon::spawn(move || drop(parsed));
    }
    let r = &prepared.release.release;
    let fmt_ts = |t: Option<Timestamp>| t.map(|t| t.to_string());
    let gen_record = Generation {
        id: generation,
        archive: target.archive.clone(),
        suite: target.suite.clone(),
        previous,
        fetched_at: options.now.to_string(),
        inrelease_sha256: inrelease_key.to_hex(),
        signers: prepared
            .release
            .signers
            .iter()
            .map(|s| SignerRecord {
                fingerprint: s.fingerprint.clone(),
                signing_key: s.signing_key.clone(),
                user_id: s.user_id.clone(),
            })
            .collect(),
        date: fmt_ts(r.date),
        valid_until: fmt_ts(r.valid_until),
        accepted_expired: prepared.release.accepted_expired,
        accepted_downgrade: prepared.release.accepted_downgrade,
        indexes: gen_indexes,
    };
    let suite_state = SuiteState {
        archive: target.archive.clone(),
        suite: target.suite.clone(),
        generation,
        inrelease_sha256: inrelease_key.to_hex(),
        date: fmt_ts(r.date),
        valid_until: fmt_ts(r.valid_until),
        codename: r.codename.clone(),
        origin: r.origin.clone(),
        label: r.label.clone(),
        not_automatic: r.not_automatic,
        but_automatic_upgrades: r.but_automatic_upgrades,
        indexes: gen_record.indexes.iter().map(|i| i.key.clone()).collect(),
    };
    {
        let mut gens = txn.open_table(GENERATIONS).map_err(|e| store.err(e))?;
        let json = serde_json::to_vec(&gen_record).map_err(|e| store.err(e))?;
        gens.insert(generation, json.as_slice())
            .map_err(|e| store.err(e))?;
        let mut suites = txn.open_table(SUITES).map_err(|e| store.err(e))?;
        let json = serde_json::to_vec(&suite_state).map_err(|e| store.err(e))?;
        suites
            .insert(target.key().as_str(), json.as_slice())
            .map_err(|e| store.err(e))?;
    }
    // The new generation joins the audit hash chain in this same transaction.
    super::journal::append_sync_generation(
        txn,
        &options.actor,
        options.now,
        &super::journal::SyncGenerationBody {
            generation,
            archive: target.archive.clone(),
            suite: target.suite.clone(),
            date: gen_record.date.clone(),
            inrelease_sha256: gen_record.inrelease_sha256.clone(),
        },
    )
    .map_err(|e| store.err(e))?;
    summary.elapsed = prepared.started.elapsed();
    Ok(summary)
}

/// Writes the record-level delta of one index (rewriting only the chunks
/// that changed) and the first-seen / gone bookkeeping of its versions.
/// Returns (added, removed, changed).
///
/// `existing`: the index's stored state, `None` when it has never been
/// synced (then `records` are its new chunks, and its versions get no
/// rows: they are implicit). A removed version without a row was first
/// seen in the index's [`IndexState::first_generation`].
fn write_records(
    txn: &WriteTransaction,
    store: &Store,
    id: u32,
    generation: u64,
    records: &ParsedRecords,
    existing: Option<&IndexState>,
) -> Result<(u64, u64, u64), StoreError> {
    let mut table = txn
        .open_table(packages::PACKAGE_CHUNKS)
        .map_err(|e| store.err(e))?;
    let (records, existing) = match (records, existing) {
        (ParsedRecords::New(encoded), None) => {
            let added = packages::insert_new_index(&mut table, store, id, encoded)?;
            return Ok((added, 0, 0));
        }
        (ParsedRecords::Changed(records), Some(existing)) => (records, existing),
        _ => {
            return Err(store.corrupt(
                format!("index {id}"),
                "its stored state changed while this sync prepared it",
            ));
        }
    };
    let mut seen = txn.open_table(VERSIONS_SEEN).map_err(|e| store.err(e))?;
    let delta = packages::replace_index(&mut table, store, id, records, &mut |change| {
        let (name, version, gone) = match change {
            Change::Added(name, version) => (name, version, 0),
            Change::Removed(name, version) => (name, version, generation),
        };
        let row = seen
            .get((id, name, version))
            .map_err(|e| store.err(e))?
            .map(|v| v.value().0);
        let first = match (row, gone) {
            (Some(first), _) => first,
            // An added version without a row is new to this index.
            (None, 0) => generation,
            // A removed version without a row had been there since the
            // index's first sync.
            (None, _) => existing.first_generation.unwrap_or(generation),
        };
        seen.insert((id, name, version), (first, gone))
            .map_err(|e| store.err(e))?;
        Ok(())
    })?;
    Ok((delta.added, delta.removed, delta.changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stanza the sync stores for the first paragraph of `raw`: the
    /// scanner's field spans joined by [`join_kept_fields`], then one
    /// newline.
    fn stripped(raw: &[u8]) -> Vec<u8> {
        let mut spans = Vec::new();
        deb822::paragraphs(raw)
            .next_with_fields(|f| {
                if is_kept_field(f.name) {
                    spans.push(f.span);
                }
            })
            .unwrap()
            .unwrap();
        let mut runs = Vec::new();
        join_kept_fields(raw, &spans, &mut runs);
        let mut out = runs.concat();
        out.push(b'\n');
        out
    }

    #[test]
    fn strip_drops_descriptions_and_tags() {
        let raw = b"Package: a\nVersion: 1\nDescription: short\n long\n .\n more\nTag: x,\n y\nDepends: b\nMD5sum: 00\n";
        for strip in [stripped, strip_stanza] {
            assert_eq!(strip(raw), b"Package: a\nVersion: 1\nDepends: b\n");
            assert_eq!(strip(b"Tag: x\n"), b"\n");
            assert_eq!(
                strip(b"Depends: a,\n b\nTag: x\nSize: 1"),
                b"Depends: a,\n b\nSize: 1\n"
            );
        }
    }

    /// Keeps only [`KEPT_FIELDS`] of a stanza, line by line: every line of
    /// a kept field (its name line and continuation lines) in order,
    /// trailing newlines replaced by exactly one. The definition the sync's
    /// [`join_kept_fields`] is checked against.
    fn strip_stanza(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut keeping = false;
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if !matches!(line.first(), Some(b' ' | b'\t')) {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                let name = if name.len() == line.len() {
                    &[][..]
                } else {
                    name
                };
                keeping = KEPT_FIELDS.iter().any(|k| name.eq_ignore_ascii_case(k));
            }
            if keeping {
                out.extend_from_slice(line);
            }
        }
        while out.last() == Some(&b'\n') {
            out.pop();
        }
        out.push(b'\n');
        out
    }

    #[test]
    fn parallel_parse_matches_a_serial_one_and_reports_the_first_error() {
        let mut content = Vec::new();
        for i in 0..120_000 {
            content.extend_from_slice(
                format!(
                    "Package: p{i:06}\nVersion: 1.{i}\nArchitecture: amd64\nDescription: d\n long text {i}\n\n"
                )
                .as_bytes(),
            );
        }
        assert!(content.len() > 2 * (4 << 20), "several pieces");
        let records = parse_records(&content, "amd64").unwrap();
        assert_eq!(records.len(), 120_000);
        assert!(records.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(
            records[12_345].stanza,
            b"Package: p012345\nVersion: 1.12345\nArchitecture: amd64\n"
        );
        // Two bad stanzas in different pieces: the earlier one is reported,
        // with its line in the whole file, as a serial parse reports it.
        let mut bad = content.clone();
        for at in [bad.len() / 3, bad.len() * 2 / 3] {
            let start = at + memchr::memmem::find(&bad[at..], b"\n\nPackage: ").unwrap() + 2;
            bad[start..start + 7].copy_from_slice(b"Pa ckag");
        }
        let serial = package::packages(&bad)
            .find_map(Result::err)
            .unwrap()
            .to_string();
        let parallel = parse_records(&bad, "amd64").err().unwrap().to_string();
        assert!(serial.contains("line"), "{serial}");
        assert_eq!(parallel, serial);
    }

    /// The records of an encoded index, as (name, version, arch, stanza).
    fn decoded(encoded: &EncodedIndex) -> Vec<(String, String, String, Vec<u8>)> {
        let mut out = Vec::new();
        encoded
            .for_each_record(
                &mut |r| {
                    out.push((
                        r.name.to_string(),
                        r.version.to_string(),
                        r.arch.to_string(),
                        r.stanza.to_vec(),
                    ));
                    Ok(())
                },
                &|e| panic!("{e}"),
            )
            .unwrap();
        out
    }

    /// What [`IndexKeys::for_each`] gives.
    fn key_list(keys: &IndexKeys) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        keys.for_each(&mut |name, version, arch| {
            out.push((name.to_string(), version.to_string(), arch.to_string()));
            Ok(())
        })
        .unwrap();
        out
    }

    fn key_list_of(records: &[(String, String, String, Vec<u8>)]) -> Vec<(String, String, String)> {
        records
            .iter()
            .map(|(name, version, arch, _)| (name.clone(), version.clone(), arch.clone()))
            .collect()
    }

    fn owned(records: &[OwnedRecord]) -> Vec<(String, String, String, Vec<u8>)> {
        records
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.version.clone(),
                    r.arch.clone(),
                    r.stanza.clone(),
                )
            })
            .collect()
    }

    /// The records of `content` as a serial parse, [`strip_stanza`] and
    /// [`packages::sort_records`] give them: the reference for the parallel
    /// parsers.
    fn serial_reference(content: &[u8]) -> Vec<(String, String, String, Vec<u8>)> {
        let mut records: Vec<OwnedRecord> = package::packages(content)
            .map(|p| p.unwrap())
            .filter(|p| p.architecture == "amd64" || p.architecture == "all")
            .map(|p| OwnedRecord {
                name: p.package.to_string(),
                version: p.version.to_string(),
                arch: p.architecture.to_string(),
                stanza: strip_stanza(p.raw),
            })
            .collect();
        packages::sort_records(&mut records);
        owned(&records)
    }

    fn real_index(path: &str) -> Vec<u8> {
        let xz = std::fs::read(format!(
            "{}/testdata/mirror/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        crate::deb::decompress::decompress(&xz, crate::deb::decompress::Compression::Xz, 1 << 30)
            .unwrap()
    }

    #[test]
    fn a_new_index_parsed_into_chunks_holds_the_records_of_the_sorted_parse() {
        let content = real_index("debian/dists/bookworm-backports/main/binary-amd64/Packages.xz");
        let reference = serial_reference(&content);
        assert!(reference.len() > 2000);
        assert_eq!(owned(&parse_records(&content, "amd64").unwrap()), reference);
        // Small pieces: many of them, each cut into its own chunks.
        for piece_bytes in [1, 64 << 10, 300 << 10, PIECE_BYTES] {
            let (encoded, keys) = parse_new_index_in(&content, "amd64", piece_bytes).unwrap();
            assert_eq!(decoded(&encoded), reference, "pieces of {piece_bytes}");
            assert_eq!(
                key_list(&keys),
                key_list_of(&reference),
                "pieces of {piece_bytes}"
            );
            for chunk in &encoded.chunks {
                let payload = packages::chunk_payload(&chunk.stored).unwrap();
                let first = packages::decode_chunk(&payload).unwrap()[0];
                assert_eq!(
                    (first.name, first.version, first.arch),
                    (
                        chunk.first.0.as_str(),
                        chunk.first.1.as_str(),
                        chunk.first.2.as_str()
                    )
                );
            }
        }
    }

    #[test]
    fn a_new_index_out_of_order_or_with_duplicates_is_sorted_first() {
        let content = real_index("debian/dists/bookworm-backports/main/binary-amd64/Packages.xz");
        let reference = serial_reference(&content);
        let stanzas: Vec<&[u8]> = package::packages(&content)
            .map(|p| p.unwrap().raw)
            .collect();
        let join = |stanzas: &[&[u8]]| {
            let mut out = Vec::new();
            for s in stanzas {
                out.extend_from_slice(s);
                if !s.ends_with(b"\n") {
                    out.push(b'\n');
                }
                out.push(b'\n');
            }
            out
        };
        // Reversed: out of order within every piece.
        let mut reversed = stanzas.clone();
        reversed.reverse();
        // Halves swapped: each piece in order, but not one after the other.
        let half = stanzas.len() / 2;
        let swapped: Vec<&[u8]> = stanzas[half..]
            .iter()
            .chain(&stanzas[..half])
            .copied()
            .collect();
        // The first stanza again at the end, changed: a duplicate key, of
        // which the last one wins.
        let first = String::from_utf8(stanzas[0].to_vec()).unwrap();
        let changed = first.replacen("\nSection: ", "\nSection: changed-", 1);
        assert_ne!(changed, first);
        let mut duplicated = stanzas.clone();
        duplicated.push(changed.as_bytes());
        let mut expected_dup = reference.clone();
        expected_dup[0].3 = strip_stanza(changed.as_bytes());
        for (what, content, expected) in [
            ("reversed", join(&reversed), &reference),
            ("swapped", join(&swapped), &reference),
            ("duplicated", join(&duplicated), &expected_dup),
        ] {
            // Pieces of one stanza each (every order check is between
            // pieces), and pieces of many.
            for piece_bytes in [1, 64 << 10] {
                let (encoded, keys) = parse_new_index_in(&content, "amd64", piece_bytes).unwrap();
                assert_eq!(
                    &decoded(&encoded),
                    expected,
                    "{what}, pieces of {piece_bytes}"
                );
                assert_eq!(key_list(&keys), key_list_of(expected), "{what}");
            }
            assert_eq!(
                &owned(&parse_records(&content, "amd64").unwrap()),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn a_new_index_reports_the_first_error_in_the_file() {
        let mut content = Vec::new();
        for i in 0..30_000 {
            content.extend_from_slice(
                format!("Package: p{i:06}\nVersion: 1.{i}\nArchitecture: amd64\n\n").as_bytes(),
            );
        }
        let break_at = |content: &mut Vec<u8>, at: usize| {
            let start = at + memchr::memmem::find(&content[at..], b"\n\nPackage: ").unwrap() + 2;
            content[start..start + 7].copy_from_slice(b"Pa ckag");
        };
        let mut bad = content.clone();
        let len = bad.len();
        break_at(&mut bad, len / 3);
        break_at(&mut bad, len * 2 / 3);
        let serial = package::packages(&bad)
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(serial.contains("line"), "{serial}");
        let got = parse_new_index_in(&bad, "amd64", 64 << 10)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(got, serial);
        // The same when a piece before the error is out of order.
        let (a, b) = (b"Package: p000010\n", b"Package: p000011\n");
        let i = memchr::memmem::find(&bad, a).unwrap();
        let j = memchr::memmem::find(&bad, b).unwrap();
        bad[i..i + a.len()].copy_from_slice(b);
        bad[j..j + b.len()].copy_from_slice(a);
        let got = parse_new_index_in(&bad, "amd64", 64 << 10)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(got, serial);
    }

    #[test]
    fn blobs_stored_ahead_that_nothing_refers_to_are_removed_by_the_next_run() {
        use crate::store::OpenMode;
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        let db = store.writer().unwrap();
        let current: Vec<u8> = (0..blob::PART_BYTES + 10)
            .map(|i| (i % 251) as u8)
            .collect();
        let historic: Vec<u8> = (0..blob::PART_BYTES + 20)
            .map(|i| (i % 241) as u8)
            .collect();
        let orphan: Vec<u8> = (0..blob::PART_BYTES * 2 + 5)
            .map(|i| (i % 239) as u8)
            .collect();
        let small_orphan = b"a small one".to_vec();
        let already = b"stored by an earlier run".to_vec();
        let key = |b: &[u8]| Sha256Digest::of(b);
        {
            let txn = db.begin_write().unwrap();
            assert!(
                put_blob(
                    &txn,
                    &store,
                    &key(&already),
                    &StoredBlob::Raw(already.clone())
                )
                .unwrap()
            );
            txn.commit().unwrap();
        }
        // A run that stored blobs ahead, then died before its own commit.
        let mut early = EarlyBlobs { db, txn: None };
        for b in [&current, &historic, &orphan, &small_orphan, &already] {
            early
                .put(&store, &key(b), &StoredBlob::Raw(b.clone()))
                .unwrap();
        }
        early.commit(&store).unwrap();
        let pending = || -> usize {
            let txn = store.read().unwrap();
            txn.open_table(PENDING_BLOBS)
                .unwrap()
                .iter()
                .unwrap()
                .count()
        };
        assert_eq!(pending(), 4, "the blob stored before is not pending");
        // The next run: a current index refers to one, an old generation
        // (written since, e.g. by an import) to another.
        let txn = db.begin_write().unwrap();
        {
            let state = IndexState {
                id: 1,
                sha256: "00".repeat(32),
                size: 1,
                generation: 2,
                packages: 0,
                blob: key(&current).to_hex(),
                blob_path: "main/binary-amd64/Packages.xz".into(),
                first_generation: Some(2),
            };
            let mut indexes = txn.open_table(INDEXES).unwrap();
            indexes
                .insert(
                    "a/s/main/amd64",
                    serde_json::to_vec(&state).unwrap().as_slice(),
                )
                .unwrap();
            let generation = Generation {
                id: 1,
                archive: "a".into(),
                suite: "s".into(),
                previous: None,
                fetched_at: "2026-01-01T00:00:00Z".into(),
                inrelease_sha256: "00".repeat(32),
                signers: Vec::new(),
                date: None,
                valid_until: None,
                accepted_expired: false,
                accepted_downgrade: false,
                indexes: vec![GenerationIndex {
                    key: "a/s/main/amd64".into(),
                    path: "main/binary-amd64/Packages".into(),
                    sha256: "00".repeat(32),
                    size: 1,
                    blob: key(&historic).to_hex(),
                    blob_path: "main/binary-amd64/Packages.xz".into(),
                    method: "full:xz".into(),
                    packages: 0,
                    added: 0,
                    removed: 0,
                    changed: 0,
                    bytes_read: 1,
                }],
            };
            let mut generations = txn.open_table(GENERATIONS).unwrap();
            generations
                .insert(1, serde_json::to_vec(&generation).unwrap().as_slice())
                .unwrap();
        }
        assert_eq!(settle_pending_blobs(&txn, &store).unwrap(), 2);
        txn.commit().unwrap();
        assert_eq!(pending(), 0);
        for (b, kept) in [
            (&current, true),
            (&historic, true),
            (&already, true),
            (&orphan, false),
            (&small_orphan, false),
        ] {
            let stored = store.blob(&key(b)).unwrap();
            match kept {
                true => assert_eq!(
                    blob::decode(&stored.unwrap(), &key(b), u64::MAX).unwrap(),
                    *b
                ),
                false => assert!(stored.is_none()),
            }
        }
        // The orphan's parts went with it: only the two kept large blobs'.
        let txn = store.read().unwrap();
        let parts = txn.open_table(BLOB_PARTS).unwrap().iter().unwrap().count();
        assert_eq!(parts, 4);
    }

    #[test]
    fn a_large_blob_is_kept_in_parts_and_read_back_whole() {
        use crate::store::OpenMode;
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        let big: Vec<u8> = (0..blob::PART_BYTES * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        let small = b"small blob".to_vec();
        let db = store.writer().unwrap();
        let txn = db.begin_write().unwrap();
        for b in [&big, &small] {
            let (key, stored) = (Sha256Digest::of(b), StoredBlob::Raw(b.clone()));
            assert!(put_blob(&txn, &store, &key, &stored).unwrap());
            // Storing it again is a no-op.
            assert!(!put_blob(&txn, &store, &key, &stored).unwrap());
        }
        txn.commit().unwrap();
        for b in [&big, &small] {
            let key = Sha256Digest::of(b);
            let stored = store.blob(&key).unwrap().unwrap();
            assert_eq!(blob::decode(&stored, &key, u64::MAX / 2).unwrap(), *b);
        }
        {
            let txn = store.read().unwrap();
            let parts = txn.open_table(BLOB_PARTS).unwrap();
            assert_eq!(redb::ReadableTableMetadata::len(&parts).unwrap(), 3);
        }
        // A missing or a short part is a corrupt store, not a panic.
        let key = Sha256Digest::of(&big);
        let txn = db.begin_write().unwrap();
        txn.open_table(BLOB_PARTS)
            .unwrap()
            .insert((key.0.as_slice(), 1u32), &b"short"[..])
            .unwrap();
        txn.commit().unwrap();
        let err = store.blob(&key).unwrap_err().to_string();
        assert!(err.contains("part 1 is 5 bytes"), "{err}");
        let txn = db.begin_write().unwrap();
        {
            let mut parts = txn.open_table(BLOB_PARTS).unwrap();
            let part1 = &big[blob::PART_BYTES..2 * blob::PART_BYTES];
            parts.insert((key.0.as_slice(), 1u32), part1).unwrap();
            parts.remove((key.0.as_slice(), 2u32)).unwrap();
        }
        txn.commit().unwrap();
        let err = store.blob(&key).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn strip_matches_the_reference_on_a_real_index() {
        let content =
            real_index("debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz");
        let mut n = 0;
        for pkg in package::packages(&content) {
            let raw = pkg.unwrap().raw;
            assert_eq!(stripped(raw), strip_stanza(raw));
            n += 1;
        }
        assert!(n > 1000, "{n} stanzas");
    }

    #[test]
    fn kept_field_lookup_matches_the_list() {
        let listed = |name: &[u8]| KEPT_FIELDS.iter().any(|k| name.eq_ignore_ascii_case(k));
        let mut names: Vec<Vec<u8>> = Vec::new();
        for k in KEPT_FIELDS {
            names.push(k.to_vec());
            names.push(k.to_ascii_lowercase());
            names.push(k.to_ascii_uppercase());
            // Near misses: one byte changed, one byte more or less.
            for i in 0..k.len() {
                let mut m = k.to_vec();
                m[i] ^= 0x01;
                names.push(m);
            }
            names.push(k[1..].to_vec());
            names.push([*k, b"s"].concat());
        }
        names.extend(
            [
                &b""[..],
                b"S",
                b"Description",
                b"MD5sum",
                b"Tag",
                b"Homepage",
                b"Suggests",
            ]
            .map(<[u8]>::to_vec),
        );
        // Every field name of a real index.
        let content =
            real_index("debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz");
        let mut paragraphs = deb822::paragraphs(&content);
        while let Some(p) = paragraphs.next_with_fields(|f| names.push(f.name.to_vec())) {
            p.unwrap();
        }
        let kept = names.iter().filter(|n| is_kept_field(n)).count();
        assert!(kept > 10_000, "{kept} kept of {}", names.len());
        for name in &names {
            assert_eq!(
                is_kept_field(name),
                listed(name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
