//! Stores written by earlier debfleets, through the binary:
//! - schema 1 (one `packages` row per record, `versions_seen` keyed by
//!   index key) is refused by read-only commands and upgraded in place by
//!   `sync`, with nothing lost;
//! - schema 2 (chunks, but a first-seen row for every version and every
//!   blob in one value) is read as is, and `sync` only bumps its number;
//! - schema 3 (chunks cut for 8 KiB pages) likewise.
//!
//! The old stores are made from a synced store by rewriting its tables
//! into the old layouts with redb directly (they are simple;
//! `store::packages` and `store` document them).

mod common;
use common::*;
use debfleet::store::packages::{chunk_payload, decode_chunk};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("indexes");
const CHUNKS: TableDefinition<(u32, &str, &str, &str), &[u8]> =
    TableDefinition::new("package_chunks");
const SEEN: TableDefinition<(u32, &str, &str), (u64, u64)> =
    TableDefinition::new("versions_seen_by_index");
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
const BLOB_PARTS: TableDefinition<(&[u8], u32), &[u8]> = TableDefinition::new("blob_parts");
const OLD_ROWS: TableDefinition<(u32, &str, &str, &str), &[u8]> = TableDefinition::new("packages");
const OLD_SEEN: TableDefinition<(&str, &str, &str), (u64, u64)> =
    TableDefinition::new("versions_seen");

/// Rewrites a schema-3 store into the schema-2 layout: every implicit
/// first-seen row (a version present since its index's first sync) is
/// written out, and the indexes lose `first_generation`. Returns the
/// number of rows written.
fn materialize_first_seen(txn: &redb::WriteTransaction) -> usize {
    let mut written = 0;
    let mut indexes = txn.open_table(INDEXES).unwrap();
    let mut states = Vec::new();
    for item in indexes.iter().unwrap() {
        let (k, v) = item.unwrap();
        let state: serde_json::Value = serde_json::from_slice(v.value()).unwrap();
        states.push((k.value().to_string(), state));
    }
    let chunks = txn.open_table(CHUNKS).unwrap();
    let mut seen = txn.open_table(SEEN).unwrap();
    for (key, mut state) in states {
        let Some(first) = state
            .as_object_mut()
            .unwrap()
            .remove("first_generation")
            .and_then(|g| g.as_u64())
        else {
            continue;
        };
        let id = state["id"].as_u64().unwrap() as u32;
        for item in chunks
            .range((id, "", "", "")..(id + 1, "", "", ""))
            .unwrap()
        {
            let (_, v) = item.unwrap();
            let payload = chunk_payload(v.value()).unwrap();
            for r in decode_chunk(&payload).unwrap() {
                if seen.get((id, r.name, r.version)).unwrap().is_none() {
                    seen.insert((id, r.name, r.version), (first, 0)).unwrap();
                    written += 1;
                }
            }
        }
        indexes
            .insert(key.as_str(), serde_json::to_vec(&state).unwrap().as_slice())
            .unwrap();
    }
    written
}

/// Rewrites every blob kept in parts (schema 3: tag 2 in `blobs`, the
/// parts in `blob_parts`) as one raw value (tag 0), and drops the parts.
/// Returns the number of blobs joined.
fn join_blob_parts(txn: &redb::WriteTransaction) -> usize {
    let mut joined = Vec::new();
    {
        let blobs = txn.open_table(BLOBS).unwrap();
        let parts = txn.open_table(BLOB_PARTS).unwrap();
        for item in blobs.iter().unwrap() {
            let (k, v) = item.unwrap();
            if v.value().first() != Some(&2) {
                continue;
            }
            let key = k.value().to_vec();
            let mut raw = vec![0u8];
            for part in parts
                .range((key.as_slice(), 0u32)..=(key.as_slice(), u32::MAX))
                .unwrap()
            {
                raw.extend_from_slice(part.unwrap().1.value());
            }
            joined.push((key, raw));
        }
    }
    let mut blobs = txn.open_table(BLOBS).unwrap();
    for (key, raw) in &joined {
        blobs.insert(key.as_slice(), raw.as_slice()).unwrap();
    }
    drop(blobs);
    txn.delete_table(BLOB_PARTS).unwrap();
    joined.len()
}

/// Rewrites a schema-3 store into the schema-2 layout.
fn downgrade_to_schema_2(path: &Path) -> usize {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    assert_eq!(
        join_blob_parts(&txn),
        1,
        "bookworm's 9 MB index is in parts"
    );
    let written = materialize_first_seen(&txn);
    txn.open_table(META)
        .unwrap()
        .insert("schema", 2u64.to_le_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
    written
}

/// Rewrites a schema-4 store into the schema-3 layout: every index's
/// records cut again into chunks of at most `payload` bytes of payload
/// (LZ4, as `store::packages` documents the stored form), and the number 3.
/// Returns the chunks written.
fn downgrade_to_schema_3(path: &Path, payload: usize) -> usize {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    let mut chunks = 0;
    {
        let mut table = txn.open_table(CHUNKS).unwrap();
        type Owned = (String, String, String, Vec<u8>);
        let mut by_index: std::collections::BTreeMap<u32, Vec<Owned>> = Default::default();
        for item in table.iter().unwrap() {
            let (k, v) = item.unwrap();
            let payload = chunk_payload(v.value()).unwrap();
            for r in decode_chunk(&payload).unwrap() {
                by_index.entry(k.value().0).or_default().push((
                    r.name.to_string(),
                    r.version.to_string(),
                    r.arch.to_string(),
                    r.stanza.to_vec(),
                ));
            }
        }
        table.retain(|_, _| false).unwrap();
        let field = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        for (id, records) in &by_index {
            let mut rest = &records[..];
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 4;
                for (name, version, arch, stanza) in rest {
                    let len = 16 + name.len() + version.len() + arch.len() + stanza.len();
                    if n > 0 && bytes + len > payload {
                        break;
                    }
                    bytes += len;
                    n += 1;
                }
                let mut plain = (n as u32).to_le_bytes().to_vec();
                for (name, version, arch, stanza) in &rest[..n] {
                    for part in [name.as_bytes(), version.as_bytes(), arch.as_bytes(), stanza] {
                        field(&mut plain, part);
                    }
                }
                let mut stored = vec![1u8];
                stored.extend_from_slice(&(plain.len() as u32).to_le_bytes());
                stored.extend_from_slice(&lz4_flex::block::compress(&plain));
                let (name, version, arch, _) = &rest[0];
                table
                    .insert(
                        (*id, name.as_str(), version.as_str(), arch.as_str()),
                        stored.as_slice(),
                    )
                    .unwrap();
                chunks += 1;
                rest = &rest[n..];
            }
        }
    }
    txn.open_table(META)
        .unwrap()
        .insert("schema", 3u64.to_le_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
    chunks
}

fn chunk_count(path: &Path) -> u64 {
    use redb::ReadableTableMetadata;
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    txn.open_table(CHUNKS).unwrap().len().unwrap()
}

fn schema(path: &Path) -> u64 {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let v = meta.get("schema").unwrap().unwrap();
    u64::from_le_bytes(v.value().try_into().unwrap())
}

/// Rewrites a schema-3 store into the schema-1 layout.
fn downgrade_to_schema_1(path: &Path) -> usize {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    join_blob_parts(&txn);
    materialize_first_seen(&txn);
    let mut rows = 0;
    {
        let mut names = std::collections::HashMap::new();
        for item in txn.open_table(INDEXES).unwrap().iter().unwrap() {
            let (k, v) = item.unwrap();
            let state: serde_json::Value = serde_json::from_slice(v.value()).unwrap();
            names.insert(state["id"].as_u64().unwrap() as u32, k.value().to_string());
        }
        let chunks = txn.open_table(CHUNKS).unwrap();
        let mut old_rows = txn.open_table(OLD_ROWS).unwrap();
        for item in chunks.iter().unwrap() {
            let (k, v) = item.unwrap();
            let id = k.value().0;
            let payload = chunk_payload(v.value()).unwrap();
            for r in decode_chunk(&payload).unwrap() {
                old_rows
                    .insert((id, r.name, r.version, r.arch), r.stanza)
                    .unwrap();
                rows += 1;
            }
        }
        let seen = txn.open_table(SEEN).unwrap();
        let mut old_seen = txn.open_table(OLD_SEEN).unwrap();
        for item in seen.iter().unwrap() {
            let (k, v) = item.unwrap();
            let (id, name, version) = k.value();
            old_seen
                .insert((name, version, names[&id].as_str()), v.value())
                .unwrap();
        }
        txn.open_table(META)
            .unwrap()
            .insert("schema", 1u64.to_le_bytes().as_slice())
            .unwrap();
    }
    txn.delete_table(CHUNKS).unwrap();
    txn.delete_table(SEEN).unwrap();
    txn.commit().unwrap();
    rows
}

fn table_names(path: &Path) -> Vec<String> {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    txn.list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect()
}

/// A fleet synced from the bundled slice, and the answers of queries that
/// read package records and first-seen rows (volatile fields removed).
struct Synced {
    dir: tempfile::TempDir,
    queries: [&'static [&'static str]; 5],
}

impl Synced {
    fn new() -> Synced {
        let dir = tempfile::tempdir().unwrap();
        small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
        // With bookworm itself, whose 9 MB Packages.xz is a blob in parts.
        let yaml = std::fs::read_to_string(dir.path().join("fleet.yaml")).unwrap();
        let yaml = yaml.replace(
            "    repositories:\n",
            "    repositories:\n      - {archive: debian, suite: bookworm, components: [main]}\n",
        );
        std::fs::write(dir.path().join("fleet.yaml"), yaml).unwrap();
        // One image with packages behind the security suite, so that check and
        // plan read the records.
        std::fs::write(
            dir.path().join("images/web.yaml"),
            "image: web\nbase: small\narchitecture: amd64\npackages:\n  \"curl\": \"7.88.1-10+deb12u4\"\n  \"libcurl4\": \"7.88.1-10+deb12u4\"\n  \"libssl3\": \"3.0.20-1~deb12u1\"\n  \"openssh-client\": \"1:9.2p1-2+deb12u7\"\n",
        )
        .unwrap();
        let sync = in_fleet(dir.path(), &["sync"]);
        assert!(sync.status.success(), "{}", stderr(&sync));
        Synced {
            dir,
            queries: [
                &["check", "--format", "json", "--exit-zero"],
                &["plan", "--format", "json"],
                &[
                    "mirror",
                    "seen",
                    "libssl3",
                    "3.0.22-1~deb12u2",
                    "--format",
                    "json",
                ],
                &[
                    "mirror",
                    "seen",
                    "ca-certificates",
                    "20230311+deb12u1",
                    "--format",
                    "json",
                ],
                &["mirror", "status", "--format", "json"],
            ],
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join(".debfleet/state.redb")
    }

    fn answer(&self, args: &[&str]) -> serde_json::Value {
        let o = in_fleet(self.dir.path(), args);
        // 2: updates available (plan).
        assert!(
            matches!(o.status.code(), Some(0 | 2)),
            "{args:?}: {}",
            stderr(&o)
        );
        let mut v = json(&o);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("store_bytes");
            for suite in obj
                .get_mut("suites")
                .and_then(|s| s.as_array_mut())
                .into_iter()
                .flatten()
            {
                suite["last_synced"] = serde_json::Value::Null;
            }
        }
        v
    }

    fn answers(&self) -> Vec<serde_json::Value> {
        self.queries.iter().map(|q| self.answer(q)).collect()
    }
}

#[test]
fn a_schema_2_store_is_read_as_is_and_bumped_by_sync() {
    let synced = Synced::new();
    let before = synced.answers();
    let state = synced.state();
    let written = downgrade_to_schema_2(&state);
    assert!(written > 3000, "{written} implicit rows written out");
    std::fs::remove_dir_all(synced.dir.path().join(".debfleet/state.redb.d/tables")).unwrap();
    assert_eq!(before, synced.answers(), "a schema-2 store reads the same");
    let verify = in_fleet(synced.dir.path(), &["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert_eq!(schema(&state), 2, "readers do not write");
    let sync = in_fleet(synced.dir.path(), &["sync", "--format", "json"]);
    assert!(sync.status.success(), "{}", stderr(&sync));
    assert_eq!(schema(&state), 4);
    assert_eq!(before, synced.answers());
    let verify = in_fleet(synced.dir.path(), &["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn a_schema_3_store_with_smaller_chunks_is_read_as_is_and_bumped_by_sync() {
    let synced = Synced::new();
    let before = synced.answers();
    let state = synced.state();
    let now = chunk_count(&state);
    // About what the previous release cut for 8 KiB pages.
    let written = downgrade_to_schema_3(&state, 20 * 1024);
    assert!(written as u64 > 3 * now, "{written} chunks, {now} before");
    std::fs::remove_dir_all(synced.dir.path().join(".debfleet/state.redb.d/tables")).unwrap();
    assert_eq!(before, synced.answers(), "a schema-3 store reads the same");
    let verify = in_fleet(synced.dir.path(), &["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert_eq!(schema(&state), 3, "readers do not write");
    let sync = in_fleet(synced.dir.path(), &["sync", "--format", "json"]);
    assert!(sync.status.success(), "{}", stderr(&sync));
    assert_eq!(schema(&state), 4);
    assert_eq!(chunk_count(&state), written as u64, "nothing rewritten");
    assert_eq!(before, synced.answers());
}

#[test]
fn a_schema_1_store_is_refused_by_readers_and_upgraded_by_sync() {
    let synced = Synced::new();
    let dir = &synced.dir;
    let before = synced.answers();
    assert!(
        before[0].to_string().contains("libssl3") && before[2].to_string().contains("first"),
        "the queries must see records: {before:?}"
    );
    let state = dir.path().join(".debfleet/state.redb");
    let rows = downgrade_to_schema_1(&state);
    assert!(rows > 3000, "{rows} records moved to the old layout");

    let refused = in_fleet(dir.path(), &["mirror", "status"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("schema version 1") && err.contains("debfleet sync"),
        "the refusal must say how to upgrade: {err}"
    );

    let upgrade = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert!(upgrade.status.success(), "{}", stderr(&upgrade));
    for suite in json(&upgrade)["suites"].as_array().unwrap() {
        assert!(
            suite["status"] == "unchanged" || suite["status"] == "not-mirrored",
            "the upgrade is not a resync: {suite}"
        );
    }
    let names = table_names(&state);
    assert!(
        names.iter().any(|n| n == "package_chunks")
            && !names
                .iter()
                .any(|n| n == "packages" || n == "versions_seen"),
        "{names:?}"
    );
    // The candidate tables are rebuilt from the upgraded records.
    std::fs::remove_dir_all(dir.path().join(".debfleet/state.redb.d/tables")).unwrap();
    let after = synced.answers();
    assert_eq!(before, after, "the upgrade lost or changed something");
    assert_eq!(schema(&state), 4);
    let verify = in_fleet(dir.path(), &["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}
