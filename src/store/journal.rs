//! The journal: debfleet's generic append-only, hash-chained record log.
//!
//! Every record of the release and audit trail (manifest versions, sync
//! generations, builds, snapshots, test results, promotions, overrides) is
//! one journal entry. Entries are numbered `1, 2, 3, ...` without gaps and
//! each carries the SHA-256 of the previous entry, so rewriting, removing or
//! reordering any entry breaks the chain at a point [`verify`] reports.
//!
//! # Encoding (version 1)
//!
//! An entry is stored in table `journal` (`seq u64 -> bytes`) as exactly the
//! bytes its hash is computed over:
//!
//! ```text
//! "DFJ1"                       4 bytes magic
//! seq                          u64 big-endian
//! at                           i64 big-endian, unix seconds (UTC)
//! prev_hash                    32 bytes (all zero for entry 1)
//! kind    len u32 BE + UTF-8 bytes
//! actor   len u32 BE + UTF-8 bytes
//! body    len u32 BE + bytes (compact JSON, see below)
//! ```
//!
//! `hash(entry) = SHA-256(encoded bytes)`. Bodies are compact JSON written by
//! serde from structs (fields in declaration order) and `BTreeMap`s (keys
//! sorted), so the same record always yields the same bytes; the hash covers
//! the stored bytes, never a re-serialisation.
//!
//! Two small tables go with it, written in the same transaction:
//! `journal_kinds` (`(kind, seq) -> ()`, iteration by kind) and
//! `journal_head` (`"head" -> seq ++ hash` of the last entry, so that
//! removing the newest entries is detected too).
//!
//! What the chain does not cover: someone who rewrites an entry *and*
//! recomputes every later hash and the head can produce a consistent chain.
//! [`VerifyReport::head_hash`] is printed by `audit verify` so it can be
//! anchored outside the store (a ticket, a signed tag) and compared later.

use super::{GENERATIONS, Store, StoreError};
use crate::deb::hash::Sha256Digest;
use jiff::Timestamp;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

/// `seq -> encoded entry`.
pub(crate) const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");
/// `(kind, seq) -> ()`: entries by kind.
pub(crate) const JOURNAL_KINDS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("journal_kinds");
/// `"head" -> seq (u64 BE) ++ hash (32 bytes)` of the newest entry.
pub(crate) const JOURNAL_HEAD: TableDefinition<&str, &[u8]> = TableDefinition::new("journal_head");

const MAGIC: &[u8; 4] = b"DFJ1";

/// The entry kind of a sync generation (written by `store::sync`).
pub const KIND_SYNC_GENERATION: &str = "sync-generation";

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("journal database error: {0}")]
    Database(String),
    #[error("journal entry {seq}: {message}")]
    Malformed { seq: u64, message: String },
    #[error("journal entry kind/actor/body too large ({0} bytes)")]
    TooLarge(usize),
}

fn db(e: impl std::fmt::Display) -> JournalError {
    JournalError::Database(e.to_string())
}

/// One decoded journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// What kind of record (`build`, `snapshot`, ...).
    pub kind: String,
    /// When it was recorded (the command's clock, `--now`), unix seconds.
    pub at: i64,
    /// Who recorded it.
    pub actor: String,
    /// SHA-256 of the previous entry's encoding (zeros for entry 1).
    pub prev_hash: [u8; 32],
    /// The record itself, compact JSON.
    pub body: Vec<u8>,
}

impl Entry {
    /// The canonical encoding (see the module documentation).
    pub fn encode(&self) -> Result<Vec<u8>, JournalError> {
        let mut out = Vec::with_capacity(64 + self.kind.len() + self.actor.len() + self.body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(&self.prev_hash);
        for field in [self.kind.as_bytes(), self.actor.as_bytes(), &self.body] {
            let len =
                u32::try_from(field.len()).map_err(|_| JournalError::TooLarge(field.len()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field);
        }
        Ok(out)
    }

    /// Decodes an entry stored under `key` (used in error messages only).
    pub fn decode(key: u64, bytes: &[u8]) -> Result<Entry, JournalError> {
        let bad = |message: &str| JournalError::Malformed {
            seq: key,
            message: message.to_string(),
        };
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4).ok_or_else(|| bad("truncated"))? != MAGIC {
            return Err(bad("bad magic (not a version 1 journal entry)"));
        }
        let seq = u64::from_be_bytes(r.array().ok_or_else(|| bad("truncated seq"))?);
        let at = i64::from_be_bytes(r.array().ok_or_else(|| bad("truncated time"))?);
        let prev_hash: [u8; 32] = r.array().ok_or_else(|| bad("truncated previous hash"))?;
        let kind = r.field().ok_or_else(|| bad("truncated kind"))?;
        let actor = r.field().ok_or_else(|| bad("truncated actor"))?;
        let body = r.field().ok_or_else(|| bad("truncated body"))?;
        if r.pos != bytes.len() {
            return Err(bad("trailing bytes after the body"));
        }
        Ok(Entry {
            seq,
            kind: String::from_utf8(kind.to_vec()).map_err(|_| bad("kind is not UTF-8"))?,
            at,
            actor: String::from_utf8(actor.to_vec()).map_err(|_| bad("actor is not UTF-8"))?,
            prev_hash,
            body: body.to_vec(),
        })
    }

    /// The entry's hash: SHA-256 of its encoding.
    pub fn hash(&self) -> Result<[u8; 32], JournalError> {
        Ok(Sha256Digest::of(&self.encode()?).0)
    }

    /// The record time as a timestamp.
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_second(self.at).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Parses the body as `T`.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JournalError> {
        serde_json::from_slice(&self.body).map_err(|e| JournalError::Malformed {
            seq: self.seq,
            message: format!("{} body: {e}", self.kind),
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn field(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.array()?);
        self.take(usize::try_from(len).ok()?)
    }
}

/// The actor of this process when no `--actor` is given:
/// `$DEBFLEET_ACTOR`, else `$USER`, else `$LOGNAME`, else `unknown`.
pub fn default_actor() -> String {
    ["DEBFLEET_ACTOR", "USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Begins a write transaction on a store opened for writing (for callers
/// outside the crate, e.g. generators that batch many records).
pub fn begin_write(store: &Store) -> Result<WriteTransaction, JournalError> {
    store.writer()?.begin_write().map_err(db)
}

fn read_head(txn: &WriteTransaction) -> Result<(u64, [u8; 32]), JournalError> {
    let head = txn.open_table(JOURNAL_HEAD).map_err(db)?;
    let value = head.get("head").map_err(db)?;
    match value {
        None => Ok((0, [0; 32])),
        Some(v) => decode_head(v.value()),
    }
}

fn decode_head(bytes: &[u8]) -> Result<(u64, [u8; 32]), JournalError> {
    let mut r = Reader { bytes, pos: 0 };
    let bad = || JournalError::Malformed {
        seq: 0,
        message: "journal head record is malformed".into(),
    };
    let seq = u64::from_be_bytes(r.array().ok_or_else(bad)?);
    let hash: [u8; 32] = r.array().ok_or_else(bad)?;
    Ok((seq, hash))
}

/// Appends one entry inside `txn` and returns its sequence number. The
/// entry becomes durable (or vanishes) with the transaction.
pub fn append(
    txn: &WriteTransaction,
    kind: &str,
    actor: &str,
    at: Timestamp,
    body: &[u8],
) -> Result<u64, JournalError> {
    let (last, prev_hash) = read_head(txn)?;
    let entry = Entry {
        seq: last + 1,
        kind: kind.to_string(),
        at: at.as_second(),
        actor: actor.to_string(),
        prev_hash,
        body: body.to_vec(),
    };
    let bytes = entry.encode()?;
    let hash = Sha256Digest::of(&bytes).0;
    {
        let mut journal = txn.open_table(JOURNAL).map_err(db)?;
        journal.insert(entry.seq, bytes.as_slice()).map_err(db)?;
        let mut kinds = txn.open_table(JOURNAL_KINDS).map_err(db)?;
        kinds.insert((kind, entry.seq), ()).map_err(db)?;
        let mut head = txn.open_table(JOURNAL_HEAD).map_err(db)?;
        let mut h = entry.seq.to_be_bytes().to_vec();
        h.extend_from_slice(&hash);
        head.insert("head", h.as_slice()).map_err(db)?;
    }
    Ok(entry.seq)
}

/// Serialises `body` as compact JSON and appends it (see [`append`]).
pub fn append_json<T: serde::Serialize>(
    txn: &WriteTransaction,
    kind: &str,
    actor: &str,
    at: Timestamp,
    body: &T,
) -> Result<u64, JournalError> {
    let bytes = serde_json::to_vec(body).map_err(|e| JournalError::Malformed {
        seq: 0,
        message: format!("serialising a {kind} record: {e}"),
    })?;
    append(txn, kind, actor, at, &bytes)
}

/// Reads entry `seq` in a read transaction.
pub fn get(txn: &ReadTransaction, seq: u64) -> Result<Option<Entry>, JournalError> {
    let table = match txn.open_table(JOURNAL) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db(e)),
    };
    let value = table.get(seq).map_err(db)?;
    value.map(|v| Entry::decode(seq, v.value())).transpose()
}

/// Reads entry `seq` inside a write transaction.
pub fn get_in_write(txn: &WriteTransaction, seq: u64) -> Result<Option<Entry>, JournalError> {
    let table = txn.open_table(JOURNAL).map_err(db)?;
    let value = table.get(seq).map_err(db)?;
    value.map(|v| Entry::decode(seq, v.value())).transpose()
}

/// The sequence numbers of all entries of `kind`, oldest first.
pub fn seqs_of_kind(txn: &ReadTransaction, kind: &str) -> Result<Vec<u64>, JournalError> {
    let table = match txn.open_table(JOURNAL_KINDS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(db(e)),
    };
    let mut out = Vec::new();
    for row in table.range((kind, 0)..=(kind, u64::MAX)).map_err(db)? {
        let (k, _) = row.map_err(db)?;
        out.push(k.value().1);
    }
    Ok(out)
}

/// The newest entry of `kind` inside a write transaction.
pub fn last_of_kind_in_write(
    txn: &WriteTransaction,
    kind: &str,
) -> Result<Option<u64>, JournalError> {
    let table = txn.open_table(JOURNAL_KINDS).map_err(db)?;
    let last = table
        .range((kind, 0)..=(kind, u64::MAX))
        .map_err(db)?
        .next_back()
        .transpose()
        .map_err(db)?
        .map(|(k, _)| k.value().1);
    Ok(last)
}

/// All entries of `kind`, oldest first.
pub fn entries_of_kind(txn: &ReadTransaction, kind: &str) -> Result<Vec<Entry>, JournalError> {
    let mut out = Vec::new();
    for seq in seqs_of_kind(txn, kind)? {
        if let Some(e) = get(txn, seq)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Calls `f` for every entry in chain order (decoding errors are returned).
pub fn for_each(
    txn: &ReadTransaction,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let table = match txn.open_table(JOURNAL) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(db(e)),
    };
    for row in table.iter().map_err(db)? {
        let (k, v) = row.map_err(db)?;
        f(k.value(), v.value())?;
    }
    Ok(())
}

/// The first broken link found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    /// The entry (or index row's entry) where the chain breaks.
    pub seq: u64,
    /// What is wrong, e.g. "previous hash does not match entry 41".
    pub problem: String,
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The newest entry's sequence number (0: empty journal).
    pub head_seq: u64,
    /// The newest entry's hash, hex (empty for an empty journal).
    pub head_hash: String,
    /// Sync-generation entries checked against the `generations` table.
    pub generations_checked: u64,
    /// The first problem, if any.
    pub broken: Option<BrokenLink>,
}

/// Recomputes the whole chain: every entry decodes, its `seq` equals its
/// key, keys have no gaps, each `prev_hash` equals the previous entry's
/// hash, the head record names the last entry and its hash, the kind index
/// has exactly one row per entry, and every `sync-generation` entry agrees
/// with the stored generation record. Stops at the first broken link.
pub fn verify(store: &Store) -> Result<VerifyReport, JournalError> {
    let txn = store.read()?;
    let mut report = VerifyReport {
        entries: 0,
        head_seq: 0,
        head_hash: String::new(),
        generations_checked: 0,
        broken: None,
    };
    let mut expected_prev = [0u8; 32];
    let mut expected_seq = 1u64;
    let mut kinds: Vec<(String, u64)> = Vec::new();
    let mut gens: Vec<(u64, SyncGenerationBody)> = Vec::new();
    let mut broken: Option<BrokenLink> = None;
    for_each(&txn, |key, bytes| {
        if broken.is_some() {
            return Ok(());
        }
        let fail = |seq: u64, problem: String| Some(BrokenLink { seq, problem });
        if key != expected_seq {
            broken = fail(
                expected_seq,
                if key > expected_seq {
                    format!(
                        "entry {expected_seq} is missing (next stored entry is {key}): entries were deleted"
                    )
                } else {
                    format!("unexpected entry key {key}")
                },
            );
            return Ok(());
        }
        let entry = match Entry::decode(key, bytes) {
            Ok(e) => e,
            Err(e) => {
                broken = fail(key, format!("cannot decode: {e}"));
                return Ok(());
            }
        };
        if entry.seq != key {
            broken = fail(
                key,
                format!(
                    "entry stored under {key} says it is entry {}: entries were reordered or moved",
                    entry.seq
                ),
            );
            return Ok(());
        }
        if entry.prev_hash != expected_prev {
            broken = fail(
                key,
                if key == 1 {
                    "the first entry's previous hash is not zero".to_string()
                } else {
                    format!(
                        "previous hash does not match entry {}: entry {} was altered, or entries were reordered",
                        key - 1,
                        key - 1
                    )
                },
            );
            return Ok(());
        }
        if serde_json::from_slice::<serde_json::Value>(&entry.body).is_err() {
            broken = fail(key, "body is not valid JSON".into());
            return Ok(());
        }
        if entry.kind == KIND_SYNC_GENERATION {
            match entry.body_as::<SyncGenerationBody>() {
                Ok(b) => gens.push((key, b)),
                Err(e) => {
                    broken = fail(key, e.to_string());
                    return Ok(());
                }
            }
        }
        expected_prev = Sha256Digest::of(bytes).0;
        kinds.push((entry.kind, key));
        expected_seq = key + 1;
        report.entries += 1;
        Ok(())
    })?;
    let last = expected_seq - 1;
    if broken.is_none() {
        let head = match txn.open_table(JOURNAL_HEAD) {
            Ok(t) => t.get("head").map_err(db)?.map(|v| decode_head(v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(db(e)),
        };
        let head = head.transpose()?.unwrap_or((0, [0; 32]));
        if head.0 != last {
            broken = Some(BrokenLink {
                seq: last + 1,
                problem: format!(
                    "the journal head names entry {} but the last stored entry is {last}: the newest entries were deleted",
                    head.0
                ),
            });
        } else if last > 0 && head.1 != expected_prev {
            broken = Some(BrokenLink {
                seq: last,
                problem: format!(
                    "entry {last} (the newest) was altered: its hash does not match the journal head"
                ),
            });
        }
    }
    if broken.is_none() {
        broken = check_kind_index(&txn, &kinds)?;
    }
    if broken.is_none() {
        let table = match txn.open_table(GENERATIONS) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(db(e)),
        };
        for (seq, body) in &gens {
            report.generations_checked += 1;
            let stored = match &table {
                Some(t) => t
                    .get(body.generation)
                    .map_err(db)?
                    .map(|v| v.value().to_vec()),
                None => None,
            };
            let ok = stored
                .and_then(|b| serde_json::from_slice::<super::Generation>(&b).ok())
                .is_some_and(|g| {
                    g.inrelease_sha256 == body.inrelease_sha256
                        && g.suite == body.suite
                        && g.archive == body.archive
                        && g.date == body.date
                });
            if !ok {
                broken = Some(BrokenLink {
                    seq: *seq,
                    problem: format!(
                        "generation {} of {}/{} in table generations does not match its journal entry",
                        body.generation, body.archive, body.suite
                    ),
                });
                break;
            }
        }
    }
    report.head_seq = last;
    report.head_hash = if last > 0 {
        Sha256Digest(expected_prev).to_hex()
    } else {
        String::new()
    };
    report.broken = broken;
    Ok(report)
}

fn check_kind_index(
    txn: &ReadTransaction,
    kinds: &[(String, u64)],
) -> Result<Option<BrokenLink>, JournalError> {
    let table = match txn.open_table(JOURNAL_KINDS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Ok(kinds.first().map(|(_, seq)| BrokenLink {
                seq: *seq,
                problem: "table journal_kinds is missing".into(),
            }));
        }
        Err(e) => return Err(db(e)),
    };
    let expected: std::collections::BTreeSet<(u64, &str)> =
        kinds.iter().map(|(k, s)| (*s, k.as_str())).collect();
    let mut stored = std::collections::BTreeSet::new();
    for row in table.iter().map_err(db)? {
        let (k, _) = row.map_err(db)?;
        let (kind, seq) = k.value();
        stored.insert((seq, kind.to_string()));
    }
    let stored_ref: std::collections::BTreeSet<(u64, &str)> =
        stored.iter().map(|(s, k)| (*s, k.as_str())).collect();
    // The lowest entry whose kind rows disagree.
    let missing = expected.difference(&stored_ref).next();
    let extra = stored_ref.difference(&expected).next();
    let first = match (missing, extra) {
        (Some(m), Some(e)) => Some(m.min(e)),
        (m, e) => m.or(e),
    };
    if let Some(&(seq, kind)) = first {
        let what = if expected.contains(&(seq, kind)) {
            format!("the row ({kind}, {seq}) is missing")
        } else {
            format!("the row ({kind}, {seq}) does not match the journal")
        };
        return Ok(Some(BrokenLink {
            seq,
            problem: format!("index journal_kinds disagrees with the journal: {what}"),
        }));
    }
    Ok(None)
}

/// The body of a `sync-generation` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncGenerationBody {
    /// The generation id (table `generations`).
    pub generation: u64,
    /// The archive name.
    pub archive: String,
    /// The suite.
    pub suite: String,
    /// The Release `Date`, RFC 3339.
    pub date: Option<String>,
    /// SHA-256 of the InRelease file, hex.
    pub inrelease_sha256: String,
}

/// Journals a new sync generation inside the sync's write transaction.
pub fn append_sync_generation(
    txn: &WriteTransaction,
    actor: &str,
    at: Timestamp,
    body: &SyncGenerationBody,
) -> Result<u64, JournalError> {
    append_json(txn, KIND_SYNC_GENERATION, actor, at, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn store_with(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        let txn = begin_write(&store).unwrap();
        for i in 0..n {
            append(
                &txn,
                if i % 2 == 0 { "a" } else { "b" },
                "tester",
                ts(i as i64),
                format!("{{\"i\":{i}}}").as_bytes(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
        (dir, store)
    }

    fn rewrite(store: &Store, f: impl FnOnce(&WriteTransaction)) {
        let txn = begin_write(store).unwrap();
        f(&txn);
        txn.commit().unwrap();
    }

    #[test]
    fn encode_decode_round_trip() {
        let e = Entry {
            seq: 7,
            kind: "build".into(),
            at: -5,
            actor: "ana".into(),
            prev_hash: [9; 32],
            body: b"{}".to_vec(),
        };
        let bytes = e.encode().unwrap();
        assert_eq!(Entry::decode(7, &bytes).unwrap(), e);
        assert!(Entry::decode(7, &bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Entry::decode(7, &extra).is_err());
    }

    #[test]
    fn intact_chain_verifies_and_kinds_iterate() {
        let (_d, store) = store_with(5);
        let r = verify(&store).unwrap();
        assert_eq!(r.entries, 5);
        assert_eq!(r.head_seq, 5);
        assert!(r.broken.is_none(), "{r:?}");
        let txn = store.read().unwrap();
        assert_eq!(seqs_of_kind(&txn, "a").unwrap(), vec![1, 3, 5]);
        assert_eq!(entries_of_kind(&txn, "b").unwrap().len(), 2);
    }

    #[test]
    fn modified_body_is_detected_at_the_next_link() {
        let (_d, store) = store_with(5);
        rewrite(&store, |txn| {
            let mut e = get_in_write(txn, 2).unwrap().unwrap();
            e.body = b"{\"i\":99}".to_vec();
            let mut t = txn.open_table(JOURNAL).unwrap();
            t.insert(2, e.encode().unwrap().as_slice()).unwrap();
        });
        let r = verify(&store).unwrap();
        assert_eq!(r.broken.unwrap().seq, 3);
    }

    #[test]
    fn modified_newest_entry_is_detected_by_the_head() {
        let (_d, store) = store_with(3);
        rewrite(&store, |txn| {
            let mut e = get_in_write(txn, 3).unwrap().unwrap();
            e.actor = "mallory".into();
            let mut t = txn.open_table(JOURNAL).unwrap();
            t.insert(3, e.encode().unwrap().as_slice()).unwrap();
        });
        let b = verify(&store).unwrap().broken.unwrap();
        assert_eq!(b.seq, 3);
        assert!(b.problem.contains("newest"), "{b:?}");
    }

    #[test]
    fn deleted_and_reordered_entries_are_detected() {
        let (_d, store) = store_with(5);
        rewrite(&store, |txn| {
            txn.open_table(JOURNAL).unwrap().remove(3).unwrap();
        });
        let b = verify(&store).unwrap().broken.unwrap();
        assert_eq!(b.seq, 3);
        assert!(b.problem.contains("missing"), "{b:?}");

        let (_d2, store) = store_with(5);
        rewrite(&store, |txn| {
            let e2 = get_in_write(txn, 2).unwrap().unwrap();
            let e3 = get_in_write(txn, 3).unwrap().unwrap();
            let mut t = txn.open_table(JOURNAL).unwrap();
            t.insert(2, e3.encode().unwrap().as_slice()).unwrap();
            t.insert(3, e2.encode().unwrap().as_slice()).unwrap();
        });
        let b = verify(&store).unwrap().broken.unwrap();
        assert_eq!(b.seq, 2);
        assert!(b.problem.contains("reordered"), "{b:?}");

        let (_d3, store) = store_with(5);
        rewrite(&store, |txn| {
            txn.open_table(JOURNAL).unwrap().remove(5).unwrap();
        });
        let b = verify(&store).unwrap().broken.unwrap();
        assert!(b.problem.contains("deleted"), "{b:?}");
    }

    #[test]
    fn kind_index_tampering_is_detected() {
        let (_d, store) = store_with(3);
        rewrite(&store, |txn| {
            let mut t = txn.open_table(JOURNAL_KINDS).unwrap();
            t.remove(("a", 3)).unwrap();
            t.insert(("b", 3), ()).unwrap();
        });
        assert_eq!(verify(&store).unwrap().broken.unwrap().seq, 3);
    }

    #[test]
    fn default_actor_is_never_empty() {
        assert!(!default_actor().is_empty());
    }
}
