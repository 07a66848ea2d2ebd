//! The package records of every index, stored in sorted chunks.
//!
//! One row per package record made a first import cost three B-tree
//! operations per record (140,000 of them for the bundled slice) and left
//! half-full pages behind. Instead, the records of an index, sorted by
//! (package, version, architecture), are cut into runs whose stored form
//! (compressed, see below) fits one 32 KiB redb leaf page together with
//! its key ([`LEAF_PAGE`]), and each run is one row of `package_chunks`, keyed
//! by (index id, package, version, architecture) of its *first* record. A
//! record lives in the chunk with the greatest key not above its own.
//!
//! Why the page: redb gives a leaf that outgrows 4 KiB the next power of
//! two. Runs cut at a fixed 16 KiB of payload compressed to 5-6 KiB and
//! each took an 8 KiB page, so a third of every first sync's package pages
//! was padding, written and fsynced all the same. Why 32 KiB (schema 4;
//! 8 KiB before): a first sync of the bundled slice inserts about 1,000
//! chunks instead of 4,000 and writes them with a quarter of the `pwrite`
//! calls, LZ4 compresses the larger runs a little better (the store: 50.3
//! MiB on disk against 53.3 MiB), and the whole sync took 87 ms less (median
//! of 24 alternated pairs, 1.23 s against 1.31 s). A point lookup decodes
//! one chunk of about 80 KiB of stanzas (tens of microseconds), and a
//! record-level delta rewrites a 32 KiB page per changed chunk.
//!
//! A record-level delta rewrites only the chunks whose records changed: a
//! security update of ten packages rewrites at most ten chunks. Readers see
//! records through [`PackageRecords`]: point lookups, all versions of a
//! package, and whole-index scans.
//!
//! Chunk payload (all integers little-endian u32):
//!
//! ```text
//! count, then count x (name_len, name, version_len, version,
//!                      arch_len, arch, stanza_len, stanza)
//! ```
//!
//! A stored chunk is one tag byte and the payload: `0` the payload as is,
//! `1` payload length (u32 LE) and an LZ4 block of it (about 2.4x smaller
//! on Debian stanzas, and decoded at more than 1 GB/s). Only payloads up
//! to [`MAX_COMPRESSED_PAYLOAD`] are compressed, so decoding never
//! allocates more than that for a compressed chunk.
//!
//! Records are in strictly increasing key order. A chunk that does not
//! decode, or is out of order, is reported as a corrupt store.

use super::{Store, StoreError};
use redb::{ReadableTable, TableDefinition};

/// (index id, package, version, arch) of a chunk's first record -> chunk.
pub(crate) const PACKAGE_CHUNKS: TableDefinition<(u32, &str, &str, &str), &[u8]> =
    TableDefinition::new("package_chunks");

/// The redb page a stored chunk, its key and the leaf's framing should fit
/// (a record too large for it is a chunk on its own).
pub const LEAF_PAGE: usize = 32 * 1024;

/// The leaf's framing around one entry: its 4-byte header, the key's and
/// the value's end offsets, the key's index id and length varints, with
/// room to spare for alignment.
const LEAF_FRAMING: usize = 48;

/// The compression ratio assumed for the first chunk of an index; later
/// chunks assume the ratio of the chunk before them.
const FIRST_RATIO: f64 = 2.5;

/// Largest payload stored compressed; larger ones (a chunk holding one
/// huge record) are stored as is.
pub const MAX_COMPRESSED_PAYLOAD: usize = 256 * 1024;

const RAW: u8 = 0;
const LZ4: u8 = 1;

/// A package record owned by the writer: key plus stripped stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub stanza: Vec<u8>,
}

impl OwnedRecord {
    fn key(&self) -> (&str, &str, &str) {
        (&self.name, &self.version, &self.arch)
    }
}

/// A record as chunks are cut and encoded from it: its key and its stanza,
/// which may be kept in several pieces (the kept lines of a stanza still
/// in the index file, see `store::sync`). The stanza is the pieces in
/// order, then one newline when [`ChunkRecord::stanza_newline`] says so.
pub trait ChunkRecord {
    fn key(&self) -> (&str, &str, &str);
    /// The stanza's pieces, in order.
    fn stanza_pieces(&self) -> impl Iterator<Item = &[u8]>;
    /// Whether a newline follows the pieces.
    fn stanza_newline(&self) -> bool;
    /// Bytes of the stanza.
    fn stanza_len(&self) -> usize;

    /// Bytes of the record in a chunk payload.
    fn encoded_len(&self) -> usize {
        let (name, version, arch) = self.key();
        16 + name.len() + version.len() + arch.len() + self.stanza_len()
    }
}

impl ChunkRecord for OwnedRecord {
    fn key(&self) -> (&str, &str, &str) {
        OwnedRecord::key(self)
    }
    fn stanza_pieces(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.stanza.as_slice())
    }
    fn stanza_newline(&self) -> bool {
        false
    }
    fn stanza_len(&self) -> usize {
        self.stanza.len()
    }
}

/// A package record borrowed from a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub stanza: &'a [u8],
}

impl<'a> Record<'a> {
    fn key(&self) -> (&'a str, &'a str, &'a str) {
        (self.name, self.version, self.arch)
    }
}

/// Sorts records by key; of duplicate keys the last one given wins (as a
/// later stanza of the same package, version and architecture did in a map).
/// The sync sorts borrowed records itself (`store::sync`); this is the
/// reference its tests compare with.
#[cfg(test)]
pub(crate) fn sort_records(records: &mut Vec<OwnedRecord>) {
    // Records already in key order cost one pass. (Debian's own indexes
    // are not: they are in source-package order.)
    if records.is_sorted_by(|a, b| a.key() < b.key()) {
        return;
    }
    // Stable: equal keys stay in input order, and the last of each run of
    // equal keys is kept.
    records.sort_by(|a, b| a.key().cmp(&b.key()));
    let mut kept: Vec<OwnedRecord> = Vec::with_capacity(records.len());
    for record in records.drain(..) {
        match kept.last_mut() {
            Some(last) if last.key() == record.key() => *last = record,
            _ => kept.push(record),
        }
    }
    *records = kept;
}

/// Encodes `records` (sorted) as a stored chunk: tag, then the payload
/// as is or LZ4-compressed.
fn stored_chunk<R: ChunkRecord>(records: &[R]) -> Vec<u8> {
    let payload = encode_chunk(records);
    if payload.len() <= MAX_COMPRESSED_PAYLOAD {
        let packed = lz4_flex::block::compress(&payload);
        if packed.len() + 5 < payload.len() {
            let mut out = Vec::with_capacity(packed.len() + 5);
            out.push(LZ4);
            push_len(&mut out, payload.len());
            out.extend_from_slice(&packed);
            return out;
        }
    }
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.push(RAW);
    out.extend_from_slice(&payload);
    out
}

/// The payload of a stored chunk.
pub fn chunk_payload(stored: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ChunkError> {
    let (&tag, rest) = stored.split_first().ok_or(ChunkError::Truncated(0))?;
    match tag {
        RAW => Ok(std::borrow::Cow::Borrowed(rest)),
        LZ4 => {
            let mut pos = 0;
            let len = take_len(rest, &mut pos)?;
            if len > MAX_COMPRESSED_PAYLOAD {
                return Err(ChunkError::Decompress(format!(
                    "declares {len} bytes, more than the {MAX_COMPRESSED_PAYLOAD} a compressed chunk may hold"
                )));
            }
            let mut out = vec![0u8; len];
            let written = lz4_flex::block::decompress_into(&rest[pos..], &mut out)
                .map_err(|e| ChunkError::Decompress(e.to_string()))?;
            if written != len {
                return Err(ChunkError::Decompress(format!(
                    "decodes to {written} bytes, not the {len} it declares"
                )));
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(ChunkError::Encoding(other)),
    }
}

/// Encodes `records` (sorted) as one chunk payload.
fn encode_chunk<R: ChunkRecord>(records: &[R]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + records.iter().map(|r| r.encoded_len()).sum::<usize>());
    push_len(&mut out, records.len());
    for r in records {
        let (name, version, arch) = r.key();
        for field in [name, version, arch] {
            push_len(&mut out, field.len());
            out.extend_from_slice(field.as_bytes());
        }
        push_len(&mut out, r.stanza_len());
        for piece in r.stanza_pieces() {
            out.extend_from_slice(piece);
        }
        if r.stanza_newline() {
            out.push(b'\n');
        }
    }
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Lengths come from records the writer parsed out of a size-capped
    // index, far below 4 GiB; saturate rather than wrap all the same.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// Why a chunk does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("record {0} is not UTF-8")]
    NotUtf8(usize),
    #[error("record {0} is out of order")]
    OutOfOrder(usize),
    #[error("{0} bytes after the last record")]
    Trailing(usize),
    #[error("unknown chunk encoding {0}")]
    Encoding(u8),
    #[error("compressed chunk does not decode: {0}")]
    Decompress(String),
}

/// Decodes a chunk into borrowed records, checking order.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<Record<'_>>, ChunkError> {
    let mut pos = 0usize;
    let count = take_len(bytes, &mut pos)?;
    // Each record takes at least 16 bytes: a count beyond that is corrupt.
    if count > bytes.len() / 16 {
        return Err(ChunkError::Truncated(bytes.len()));
    }
    let mut out: Vec<Record<'_>> = Vec::with_capacity(count);
    for i in 0..count {
        let name = take_str(bytes, &mut pos, i)?;
        let version = take_str(bytes, &mut pos, i)?;
        let arch = take_str(bytes, &mut pos, i)?;
        let stanza = take_field(bytes, &mut pos)?;
        let record = Record {
            name,
            version,
            arch,
            stanza,
        };
        if out.last().is_some_and(|prev| prev.key() >= record.key()) {
            return Err(ChunkError::OutOfOrder(i));
        }
        out.push(record);
    }
    if pos != bytes.len() {
        return Err(ChunkError::Trailing(bytes.len() - pos));
    }
    Ok(out)
}

fn take_len(bytes: &[u8], pos: &mut usize) -> Result<usize, ChunkError> {
    let end = pos.checked_add(4).ok_or(ChunkError::Truncated(*pos))?;
    let raw = bytes.get(*pos..end).ok_or(ChunkError::Truncated(*pos))?;
    let mut buf = [0u8; 4];
    buf.copy_from_slice(raw);
    *pos = end;
    usize::try_from(u32::from_le_bytes(buf)).map_err(|_| ChunkError::Truncated(*pos))
}

fn take_field<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a [u8], ChunkError> {
    let len = take_len(bytes, pos)?;
    let end = pos.checked_add(len).ok_or(ChunkError::Truncated(*pos))?;
    let field = bytes.get(*pos..end).ok_or(ChunkError::Truncated(*pos))?;
    *pos = end;
    Ok(field)
}

fn take_str<'a>(bytes: &'a [u8], pos: &mut usize, record: usize) -> Result<&'a str, ChunkError> {
    std::str::from_utf8(take_field(bytes, pos)?).map_err(|_| ChunkError::NotUtf8(record))
}

/// Most bytes the stored form of a chunk starting with `first` may take
/// so that it and its key fit one [`LEAF_PAGE`].
fn stored_budget<R: ChunkRecord>(first: &R) -> usize {
    let (name, version, arch) = first.key();
    LEAF_PAGE.saturating_sub(LEAF_FRAMING + name.len() + version.len() + arch.len())
}

/// How many of `records` (at least one) fit `payload_bytes` of chunk
/// payload.
fn take_payload<R: ChunkRecord>(records: &[R], payload_bytes: usize) -> usize {
    let mut bytes = 4;
    let mut n = 0;
    for r in records {
        if n > 0 && bytes + r.encoded_len() > payload_bytes {
            break;
        }
        bytes += r.encoded_len();
        n += 1;
    }
    n
}

/// One stored chunk of an index: the key of its first record (its row
/// key), how many records it holds, and its stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    pub first: (String, String, String),
    pub records: usize,
    pub stored: Vec<u8>,
}

/// Cuts sorted records into chunks whose stored form fits its
/// [`stored_budget`], in order.
///
/// The payload to aim for is the budget times the compression ratio of the
/// chunk before; a chunk that comes out too large is cut shorter in
/// proportion and compressed again (about one chunk in five). A single
/// record that does not fit is a chunk on its own.
pub fn cut_chunks<R: ChunkRecord>(records: &[R]) -> Vec<EncodedChunk> {
    let mut out = Vec::new();
    let mut rest = records;
    let mut ratio = FIRST_RATIO;
    while let Some(first) = rest.first() {
        let budget = stored_budget(first);
        // A little under the estimate: compressing again costs more than a
        // slightly emptier page.
        let mut target = ((budget as f64 * ratio * 0.94) as usize).min(MAX_COMPRESSED_PAYLOAD);
        loop {
            let n = take_payload(rest, target);
            let run = &rest[..n];
            let stored = stored_chunk(run);
            let payload: usize = 4 + run.iter().map(ChunkRecord::encoded_len).sum::<usize>();
            if stored.len() <= budget || n == 1 {
                ratio = (payload as f64 / stored.len().max(1) as f64).clamp(1.0, 8.0);
                let (name, version, arch) = first.key();
                out.push(EncodedChunk {
                    first: (name.to_string(), version.to_string(), arch.to_string()),
                    records: n,
                    stored,
                });
                rest = &rest[n..];
                break;
            }
            // Too large: shrink in proportion, and always below what was
            // just tried so that the run gets shorter.
            let scaled = (payload as f64 * budget as f64 / stored.len() as f64 * 0.97) as usize;
            target = scaled.min(payload.saturating_sub(1));
        }
    }
    out
}

/// Record-level counts of a rewrite of one index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

/// What [`replace_index`] reports for each added or removed record, so the
/// caller can keep first-seen / gone bookkeeping.
pub enum Change<'a> {
    Added(&'a str, &'a str),
    Removed(&'a str, &'a str),
}

type ChunkKey = (String, String, String);

/// The records of an index never synced before, as the chunks it will be
/// stored in, encoded off the writer thread (see [`insert_new_index`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedIndex {
    pub chunks: Vec<EncodedChunk>,
}

impl EncodedIndex {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.records).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Calls `f` on every record, in key order (decoding each chunk).
    #[cfg(test)]
    pub fn for_each_record(
        &self,
        f: &mut dyn FnMut(Record<'_>) -> Result<(), StoreError>,
        corrupt: &dyn Fn(ChunkError) -> StoreError,
    ) -> Result<(), StoreError> {
        for chunk in &self.chunks {
            let payload = chunk_payload(&chunk.stored).map_err(corrupt)?;
            for record in decode_chunk(&payload).map_err(corrupt)? {
                f(record)?;
            }
        }
        Ok(())
    }
}

/// [`cut_chunks`] of `records` (sorted), in parallel for a large index:
/// in segments of about [`SEGMENT_PAYLOAD`] bytes (each segment's last
/// chunk may be short).
pub fn encode_new_index<R: ChunkRecord + Sync>(records: &[R]) -> EncodedIndex {
    use rayon::prelude::*;
    let mut segments: Vec<&[R]> = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let n = take_payload(rest, SEGMENT_PAYLOAD);
        segments.push(&rest[..n]);
        rest = &rest[n..];
    }
    EncodedIndex {
        chunks: segments.into_par_iter().flat_map_iter(cut_chunks).collect(),
    }
}

/// Payload bytes per segment of [`encode_new_index`]: a few hundred
/// chunks, so that one short chunk per segment costs well under 1%.
pub const SEGMENT_PAYLOAD: usize = 2 << 20;

/// Stores the chunks of index `id`, which has none yet (a new index id).
/// Returns how many records were added.
pub fn insert_new_index(
    table: &mut redb::Table<(u32, &str, &str, &str), &[u8]>,
    store: &Store,
    id: u32,
    encoded: &EncodedIndex,
) -> Result<u64, StoreError> {
    let mut existing = table
        .range((id, "", "", "")..(id.saturating_add(1), "", "", ""))
        .map_err(|e| store.err(e))?;
    if existing.next().is_some() {
        return Err(store.corrupt(
            format!("package chunks of index {id}"),
            "present for an index never synced",
        ));
    }
    drop(existing);
    insert_chunks(table, store, id, &encoded.chunks)?;
    Ok(encoded.len() as u64)
}

/// Replaces the records of index `id` with `records` (sorted by key,
/// without duplicates), rewriting only the chunks whose records changed.
/// `on_change` sees every added and removed (package, version).
pub fn replace_index(
    table: &mut redb::Table<(u32, &str, &str, &str), &[u8]>,
    store: &Store,
    id: u32,
    records: &[OwnedRecord],
    on_change: &mut dyn FnMut(Change<'_>) -> Result<(), StoreError>,
) -> Result<Delta, StoreError> {
    // The old chunks of this index, in key order.
    let mut old: Vec<(ChunkKey, Vec<u8>)> = Vec::new();
    for item in table
        .range((id, "", "", "")..(id.saturating_add(1), "", "", ""))
        .map_err(|e| store.err(e))?
    {
        let (k, v) = item.map_err(|e| store.err(e))?;
        let (_, name, version, arch) = k.value();
        let payload = chunk_payload(v.value()).map_err(|e| {
            store.corrupt(
                format!("package chunk ({id}, {name}, {version}, {arch})"),
                e,
            )
        })?;
        old.push((
            (name.to_string(), version.to_string(), arch.to_string()),
            payload.into_owned(),
        ));
    }
    let mut delta = Delta::default();
    if old.is_empty() {
        for record in records {
            delta.added += 1;
            on_change(Change::Added(&record.name, &record.version))?;
        }
        insert_chunks(table, store, id, &cut_chunks(records))?;
        return Ok(delta);
    }
    // The new records falling in each old chunk's key range (the first
    // chunk also takes every key below its own).
    let mut start = 0;
    for (i, (chunk_key, bytes)) in old.iter().enumerate() {
        let end = match old.get(i + 1) {
            Some((next, _)) => {
                let next = (next.0.as_str(), next.1.as_str(), next.2.as_str());
                start + records[start..].partition_point(|r| r.key() < next)
            }
            None => records.len(),
        };
        let new = &records[start..end];
        start = end;
        let old_records = decode_chunk(bytes).map_err(|e| {
            store.corrupt(
                format!(
                    "package chunk ({id}, {}, {}, {})",
                    chunk_key.0, chunk_key.1, chunk_key.2
                ),
                e,
            )
        })?;
        let chunk_delta = compare(&old_records, new, on_change)?;
        if chunk_delta == Delta::default() {
            continue;
        }
        delta.added += chunk_delta.added;
        delta.removed += chunk_delta.removed;
        delta.changed += chunk_delta.changed;
        table
            .remove((
                id,
                chunk_key.0.as_str(),
                chunk_key.1.as_str(),
                chunk_key.2.as_str(),
            ))
            .map_err(|e| store.err(e))?;
        insert_chunks(table, store, id, &cut_chunks(new))?;
    }
    Ok(delta)
}

/// Inserts chunks, each under the key of its first record.
fn insert_chunks(
    table: &mut redb::Table<(u32, &str, &str, &str), &[u8]>,
    store: &Store,
    id: u32,
    chunks: &[EncodedChunk],
) -> Result<(), StoreError> {
    for chunk in chunks {
        let (name, version, arch) = &chunk.first;
        table
            .insert(
                (id, name.as_str(), version.as_str(), arch.as_str()),
                chunk.stored.as_slice(),
            )
            .map_err(|e| store.err(e))?;
    }
    Ok(())
}

/// Merge-joins the old records of a chunk with the new ones of its range.
fn compare(
    old: &[Record<'_>],
    new: &[OwnedRecord],
    on_change: &mut dyn FnMut(Change<'_>) -> Result<(), StoreError>,
) -> Result<Delta, StoreError> {
    let mut delta = Delta::default();
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (None, None) => break,
            (Some(o), Some(n)) if o.key() == n.key() => {
                if o.stanza != n.stanza.as_slice() {
                    delta.changed += 1;
                }
                i += 1;
                j += 1;
            }
            (Some(o), n) if n.is_none_or(|n| o.key() < n.key()) => {
                delta.removed += 1;
                on_change(Change::Removed(o.name, o.version))?;
                i += 1;
            }
            (_, Some(n)) => {
                delta.added += 1;
                on_change(Change::Added(&n.name, &n.version))?;
                j += 1;
            }
            (Some(_), None) => unreachable!("handled by the arm above"),
        }
    }
    Ok(delta)
}

/// Read access to the package records of the store.
pub struct PackageRecords<'s, T> {
    store: &'s Store,
    table: T,
}

impl<'s>
    PackageRecords<
        's,
        redb::ReadOnlyTable<(u32, &'static str, &'static str, &'static str), &'static [u8]>,
    >
{
    /// Opens the records in a read transaction.
    pub fn open(store: &'s Store, txn: &redb::ReadTransaction) -> Result<Self, StoreError> {
        let table = txn.open_table(PACKAGE_CHUNKS).map_err(|e| store.err(e))?;
        Ok(PackageRecords { store, table })
    }
}

impl<T> PackageRecords<'_, T>
where
    T: ReadableTable<(u32, &'static str, &'static str, &'static str), &'static [u8]>,
{
    fn payload<'b>(
        &self,
        id: u32,
        stored: &'b [u8],
    ) -> Result<std::borrow::Cow<'b, [u8]>, StoreError> {
        chunk_payload(stored).map_err(|e| {
            self.store
                .corrupt(format!("package chunk of index {id}"), e)
        })
    }

    fn decode<'b>(&self, id: u32, payload: &'b [u8]) -> Result<Vec<Record<'b>>, StoreError> {
        decode_chunk(payload).map_err(|e| {
            self.store
                .corrupt(format!("package chunk of index {id}"), e)
        })
    }

    /// Calls `f` on every record of index `id`, in key order.
    pub fn for_each_in_index(
        &self,
        id: u32,
        f: &mut dyn FnMut(Record<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self
            .table
            .range((id, "", "", "")..(id.saturating_add(1), "", "", ""))
            .map_err(|e| self.store.err(e))?
        {
            let (_, v) = item.map_err(|e| self.store.err(e))?;
            let payload = self.payload(id, v.value())?;
            for record in self.decode(id, &payload)? {
                f(record)?;
            }
        }
        Ok(())
    }

    /// The stanza of exactly (`name`, `version`, `arch`) in index `id`.
    pub fn get(
        &self,
        id: u32,
        name: &str,
        version: &str,
        arch: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut range = self
            .table
            .range((id, "", "", "")..=(id, name, version, arch))
            .map_err(|e| self.store.err(e))?;
        let Some(item) = range.next_back() else {
            return Ok(None);
        };
        let (_, v) = item.map_err(|e| self.store.err(e))?;
        let payload = self.payload(id, v.value())?;
        let records = self.decode(id, &payload)?;
        Ok(records
            .binary_search_by(|r| r.key().cmp(&(name, version, arch)))
            .ok()
            .map(|i| records[i].stanza.to_vec()))
    }

    /// Every record of `name` in index `id`: (version, arch, stanza).
    pub fn versions(
        &self,
        id: u32,
        name: &str,
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        // The chunk holding the first record of `name` starts at or below
        // (name, "", ""), or exactly at one of name's own records.
        let start = {
            let mut below = self
                .table
                .range((id, "", "", "")..=(id, name, "", ""))
                .map_err(|e| self.store.err(e))?;
            match below.next_back() {
                Some(item) => {
                    let (k, _) = item.map_err(|e| self.store.err(e))?;
                    let (_, n, v, a) = k.value();
                    (n.to_string(), v.to_string(), a.to_string())
                }
                None => (name.to_string(), String::new(), String::new()),
            }
        };
        let mut out = Vec::new();
        for item in self
            .table
            .range(
                (id, start.0.as_str(), start.1.as_str(), start.2.as_str())
                    ..(id.saturating_add(1), "", "", ""),
            )
            .map_err(|e| self.store.err(e))?
        {
            let (k, v) = item.map_err(|e| self.store.err(e))?;
            if k.value().1 > name {
                break;
            }
            let payload = self.payload(id, v.value())?;
            for record in self.decode(id, &payload)? {
                if record.name == name {
                    out.push((
                        record.version.to_string(),
                        record.arch.to_string(),
                        record.stanza.to_vec(),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Moves the records of a schema-1 store (one row per record in
/// `packages`) into chunks, and drops the old table.
pub(crate) fn migrate_from_rows(
    txn: &redb::WriteTransaction,
    store: &Store,
) -> Result<u64, StoreError> {
    const ROWS: TableDefinition<(u32, &str, &str, &str), &[u8]> = TableDefinition::new("packages");
    let mut moved = 0;
    {
        let rows = txn.open_table(ROWS).map_err(|e| store.err(e))?;
        let mut chunks = txn.open_table(PACKAGE_CHUNKS).map_err(|e| store.err(e))?;
        let mut current: Option<u32> = None;
        let mut batch: Vec<OwnedRecord> = Vec::new();
        let mut flush = |id: Option<u32>, batch: &mut Vec<OwnedRecord>| {
            if let Some(id) = id {
                insert_chunks(&mut chunks, store, id, &cut_chunks(batch))?;
            }
            batch.clear();
            Ok::<(), StoreError>(())
        };
        for item in rows.iter().map_err(|e| store.err(e))? {
            let (k, v) = item.map_err(|e| store.err(e))?;
            let (id, name, version, arch) = k.value();
            if current != Some(id) {
                flush(current, &mut batch)?;
                current = Some(id);
            }
            batch.push(OwnedRecord {
                name: name.to_string(),
                version: version.to_string(),
                arch: arch.to_string(),
                stanza: v.value().to_vec(),
            });
            moved += 1;
        }
        flush(current, &mut batch)?;
    }
    txn.delete_table(ROWS).map_err(|e| store.err(e))?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` pseudo-random hex digits (LZ4 barely compresses them).
    fn noise(seed: u64, len: usize) -> String {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b"0123456789abcdef"[(x >> 60) as usize])
            })
            .collect()
    }

    fn rec(name: &str, version: &str, stanza: &str) -> OwnedRecord {
        OwnedRecord {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            stanza: stanza.as_bytes().to_vec(),
        }
    }

    #[test]
    fn chunk_round_trips() {
        let records = vec![
            rec("a", "1", "x\n"),
            rec("a", "2", "y\n"),
            rec("b", "1", ""),
        ];
        let bytes = encode_chunk(&records);
        let decoded = decode_chunk(&bytes).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[1].version, "2");
        assert_eq!(decoded[1].stanza, b"y\n");
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        let bytes = encode_chunk(&[rec("a", "1", "x\n"), rec("b", "1", "y\n")]);
        for cut in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_chunk(&trailing), Err(ChunkError::Trailing(1)));
        let swapped = encode_chunk(&[rec("b", "1", ""), rec("a", "1", "")]);
        assert_eq!(decode_chunk(&swapped), Err(ChunkError::OutOfOrder(1)));
        let huge_count = u32::MAX.to_le_bytes();
        assert!(decode_chunk(&huge_count).is_err());
    }

    #[test]
    fn stored_chunks_round_trip_compressed_or_raw() {
        let records: Vec<_> = (0..20)
            .map(|i| rec(&format!("p{i:02}"), "1", "Depends: libc6 (>= 2.36)\n"))
            .collect();
        let stored = stored_chunk(&records);
        assert_eq!(stored[0], LZ4, "repetitive stanzas compress");
        assert!(stored.len() < encode_chunk(&records).len());
        assert_eq!(
            chunk_payload(&stored).unwrap().as_ref(),
            encode_chunk(&records)
        );
        // A payload over the compression limit is stored as is.
        let huge = vec![rec("big", "1", &"q".repeat(MAX_COMPRESSED_PAYLOAD))];
        let stored = stored_chunk(&huge);
        assert_eq!(stored[0], RAW);
        assert_eq!(
            decode_chunk(&chunk_payload(&stored).unwrap()).unwrap()[0].name,
            "big"
        );
    }

    #[test]
    fn corrupt_stored_chunks_are_errors_not_panics() {
        let records: Vec<_> = (0..20)
            .map(|i| rec(&format!("p{i:02}"), "1", "Depends: libc6 (>= 2.36)\n"))
            .collect();
        let stored = stored_chunk(&records);
        for cut in 0..stored.len() {
            let _ = chunk_payload(&stored[..cut]).map(|p| decode_chunk(&p).map(|r| r.len()));
        }
        for i in 1..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 0x5a;
            let _ = chunk_payload(&bad).map(|p| decode_chunk(&p).map(|r| r.len()));
        }
        assert!(chunk_payload(&[]).is_err());
        assert_eq!(chunk_payload(&[9]), Err(ChunkError::Encoding(9)));
        let mut lying = vec![LZ4];
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            chunk_payload(&lying),
            Err(ChunkError::Decompress(_))
        ));
    }

    #[test]
    fn chunks_fit_a_leaf_page_and_keep_every_record_in_order() {
        // Real stanzas: the bookworm-updates index of the bundled mirror,
        // repeated under other names to make a few hundred records.
        let xz = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/mirror/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz"
        ))
        .unwrap();
        let text = crate::deb::decompress::decompress(
            &xz,
            crate::deb::decompress::Compression::Xz,
            1 << 30,
        )
        .unwrap();
        let stanzas: Vec<Vec<u8>> = crate::deb::package::packages(&text)
            .map(|p| p.unwrap().raw.to_vec())
            .collect();
        let mut records: Vec<OwnedRecord> = (0..600)
            .map(|i| {
                // Each with its own hash, as in a real index.
                let stanza = String::from_utf8(stanzas[i % stanzas.len()].clone()).unwrap();
                let stanza = format!("{stanza}SHA256: {}\n", noise(i as u64, 64));
                rec(&format!("pkg{i:04}"), "1.0-1", &stanza)
            })
            .collect();
        // One record larger than any page, even compressed: a chunk on its
        // own.
        records.push(rec("zzz-huge", "1", &noise(1, 3 * LEAF_PAGE)));
        let chunks = cut_chunks(&records);
        assert!(chunks.len() > 3);
        assert_eq!(
            chunks.iter().map(|c| c.records).sum::<usize>(),
            records.len()
        );
        let mut decoded = Vec::new();
        let mut start = 0;
        for chunk in &chunks {
            let first = &records[start];
            assert_eq!(
                chunk.first,
                (
                    first.name.clone(),
                    first.version.clone(),
                    first.arch.clone()
                )
            );
            if chunk.records > 1 {
                assert!(
                    chunk.stored.len() <= stored_budget(first),
                    "{} bytes",
                    chunk.stored.len()
                );
            }
            let payload = chunk_payload(&chunk.stored).unwrap();
            let got: Vec<String> = decode_chunk(&payload)
                .unwrap()
                .iter()
                .map(|r| r.name.to_string())
                .collect();
            assert_eq!(got.len(), chunk.records);
            decoded.extend(got);
            start += chunk.records;
        }
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        assert_eq!(decoded, names);
        assert_eq!(
            chunks.last().unwrap().records,
            1,
            "the huge record is alone"
        );
        // Pages are well used: all but the last chunk of the small records
        // fill at least half of their budget.
        let small = &chunks[..chunks.len() - 2];
        assert!(
            small
                .iter()
                .all(|c| c.stored.len() * 2 > stored_budget(&records[0]))
        );
        // Cut in parallel segments, the same records come back.
        assert_eq!(encode_new_index(&records).len(), records.len());
    }

    #[test]
    fn sort_keeps_the_last_duplicate() {
        let mut records = vec![
            rec("b", "1", "first"),
            rec("a", "1", ""),
            rec("b", "1", "last"),
        ];
        sort_records(&mut records);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].stanza, b"last");
    }

    use crate::store::{INDEXES, IndexState, META, OpenMode};

    fn open_store(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap()
    }

    /// Writes `records` as index `id` in one transaction; returns the delta
    /// and the changes reported.
    fn replace(store: &Store, id: u32, records: &[OwnedRecord]) -> (Delta, Vec<String>) {
        let txn = store.writer().unwrap().begin_write().unwrap();
        let mut changes = Vec::new();
        let delta = {
            let mut table = txn.open_table(PACKAGE_CHUNKS).unwrap();
            replace_index(&mut table, store, id, records, &mut |c| {
                changes.push(match c {
                    Change::Added(n, v) => format!("+{n}={v}"),
                    Change::Removed(n, v) => format!("-{n}={v}"),
                });
                Ok(())
            })
            .unwrap()
        };
        txn.commit().unwrap();
        (delta, changes)
    }

    fn chunk_count(store: &Store) -> u64 {
        use redb::ReadableTableMetadata;
        let txn = store.read().unwrap();
        txn.open_table(PACKAGE_CHUNKS).unwrap().len().unwrap()
    }

    /// 600 records of ~1 KiB that do not compress: many chunks.
    fn many(version: &str) -> Vec<OwnedRecord> {
        let mut records: Vec<_> = (0..600)
            .map(|i| {
                rec(
                    &format!("pkg{i:04}"),
                    version,
                    &format!("{}\n", noise(i, 1000)),
                )
            })
            .collect();
        sort_records(&mut records);
        records
    }

    #[test]
    fn deltas_rewrite_only_changed_chunks_and_lookups_see_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir);
        let first = many("1");
        let (delta, changes) = replace(&store, 7, &first);
        assert_eq!((delta.added, delta.removed, delta.changed), (600, 0, 0));
        assert_eq!(changes.len(), 600);
        let chunks = chunk_count(&store);
        assert!(chunks > 10, "{chunks} chunks");
        // Unchanged: nothing reported, nothing rewritten.
        assert_eq!(replace(&store, 7, &first).0, Delta::default());
        // One changed stanza, one new version, one package gone, one added
        // below every existing key.
        let mut next = first.clone();
        next[100].stanza = b"changed\n".to_vec();
        next.push(rec("pkg0200", "2", "new version\n"));
        next.retain(|r| r.name != "pkg0300");
        next.push(rec("aaa", "1", "before all\n"));
        sort_records(&mut next);
        let (delta, mut changes) = replace(&store, 7, &next);
        changes.sort();
        assert_eq!((delta.added, delta.removed, delta.changed), (2, 1, 1));
        assert_eq!(changes, ["+aaa=1", "+pkg0200=2", "-pkg0300=1"]);
        let txn = store.read().unwrap();
        let records = PackageRecords::open(&store, &txn).unwrap();
        let mut all = Vec::new();
        records
            .for_each_in_index(7, &mut |r| {
                all.push((r.name.to_string(), r.version.to_string(), r.stanza.to_vec()));
                Ok(())
            })
            .unwrap();
        let expected: Vec<_> = next
            .iter()
            .map(|r| (r.name.clone(), r.version.clone(), r.stanza.clone()))
            .collect();
        assert_eq!(all, expected);
        for r in &next {
            assert_eq!(
                records.get(7, &r.name, &r.version, &r.arch).unwrap(),
                Some(r.stanza.clone()),
                "{}",
                r.name
            );
        }
        assert_eq!(records.get(7, "pkg0300", "1", "amd64").unwrap(), None);
        assert_eq!(records.get(7, "pkg0001", "1", "all").unwrap(), None);
        assert_eq!(records.get(8, "pkg0001", "1", "amd64").unwrap(), None);
        let versions: Vec<_> = records
            .versions(7, "pkg0200")
            .unwrap()
            .into_iter()
            .map(|(v, _, _)| v)
            .collect();
        assert_eq!(versions, ["1", "2"]);
        assert!(records.versions(7, "zzz").unwrap().is_empty());
        assert!(records.versions(7, "pkg0300").unwrap().is_empty());
        assert_eq!(records.versions(7, "aaa").unwrap().len(), 1);
    }

    #[test]
    fn a_new_index_encoded_off_the_writer_is_stored_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir);
        let records = many("1");
        replace(&store, 1, &records);
        let encoded = encode_new_index(&records);
        assert_eq!(encoded.len(), 600);
        {
            let txn = store.writer().unwrap().begin_write().unwrap();
            {
                let mut table = txn.open_table(PACKAGE_CHUNKS).unwrap();
                assert_eq!(
                    insert_new_index(&mut table, &store, 2, &encoded).unwrap(),
                    600
                );
                // A second time: the index has chunks, refused.
                assert!(insert_new_index(&mut table, &store, 2, &encoded).is_err());
            }
            txn.commit().unwrap();
        }
        let txn = store.read().unwrap();
        let table = txn.open_table(PACKAGE_CHUNKS).unwrap();
        let rows = |id: u32| -> Vec<(String, Vec<u8>)> {
            table
                .range((id, "", "", "")..(id + 1, "", "", ""))
                .unwrap()
                .map(|item| {
                    let (k, v) = item.unwrap();
                    (k.value().1.to_string(), v.value().to_vec())
                })
                .collect()
        };
        assert_eq!(rows(1), rows(2));
        assert!(rows(1).iter().all(|(_, bytes)| bytes[0] == LZ4));
        // In memory, the same records in the same order.
        let mut seen = Vec::new();
        encoded
            .for_each_record(
                &mut |r| {
                    seen.push(r.name.to_string());
                    Ok(())
                },
                &|e| store.corrupt("chunk", e),
            )
            .unwrap();
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        assert_eq!(seen, names);
    }

    #[test]
    fn a_schema_1_store_is_upgraded_in_place() {
        const ROWS: TableDefinition<(u32, &str, &str, &str), &[u8]> =
            TableDefinition::new("packages");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let records = many("1");
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("schema", 1u64.to_le_bytes().as_slice())
                    .unwrap();
                const OLD_SEEN: TableDefinition<(&str, &str, &str), (u64, u64)> =
                    TableDefinition::new("versions_seen");
                let mut indexes = txn.open_table(INDEXES).unwrap();
                let mut seen = txn.open_table(OLD_SEEN).unwrap();
                for (id, key) in [(3u32, "d/s/main/amd64"), (4, "d/t/main/amd64")] {
                    let state = IndexState {
                        id,
                        sha256: String::new(),
                        size: 0,
                        generation: 1,
                        packages: 600,
                        blob: String::new(),
                        blob_path: String::new(),
                        first_generation: None,
                    };
                    let json = serde_json::to_vec(&state).unwrap();
                    indexes.insert(key, json.as_slice()).unwrap();
                    seen.insert(("pkg0001", "1", key), (u64::from(id), 0))
                        .unwrap();
                }
                seen.insert(("gone", "0.1", "d/t/main/amd64"), (1, 2))
                    .unwrap();
                let mut rows = txn.open_table(ROWS).unwrap();
                for (id, r) in [3u32, 4]
                    .iter()
                    .flat_map(|id| records.iter().map(move |r| (*id, r)))
                {
                    rows.insert(
                        (id, r.name.as_str(), r.version.as_str(), r.arch.as_str()),
                        r.stanza.as_slice(),
                    )
                    .unwrap();
                }
            }
            txn.commit().unwrap();
        }
        // Readers refuse it and say how to upgrade it.
        let refused = Store::open(&path, OpenMode::Read)
            .err()
            .unwrap()
            .to_string();
        assert!(
            refused.contains("schema version 1") && refused.contains("debfleet sync"),
            "{refused}"
        );
        let store = Store::open(&path, OpenMode::Write { wait: false }).unwrap();
        drop(store);
        let store = Store::open(&path, OpenMode::Read).unwrap();
        let txn = store.read().unwrap();
        let chunks = PackageRecords::open(&store, &txn).unwrap();
        for id in [3, 4] {
            let mut n = 0;
            chunks
                .for_each_in_index(id, &mut |r| {
                    assert_eq!(r.stanza, records[n].stanza.as_slice());
                    n += 1;
                    Ok(())
                })
                .unwrap();
            assert_eq!(n, records.len());
        }
        assert!(txn.open_table(ROWS).is_err(), "the old table is dropped");
        assert_eq!(
            store.version_seen("pkg0001", "1").unwrap(),
            [
                ("d/s/main/amd64".to_string(), 3, None),
                ("d/t/main/amd64".to_string(), 4, None)
            ]
        );
        assert_eq!(
            store.version_seen("gone", "0.1").unwrap(),
            [("d/t/main/amd64".to_string(), 1, Some(2))]
        );
    }
}
