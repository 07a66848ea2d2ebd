//! Index verification: re-derives every release-layer index table from the
//! journal alone and compares it row by row with what is stored, so an
//! index row that points to a different entry than the journal says (or a
//! row added or removed behind the journal's back) is reported. Also
//! checks that stored manifests and logs hash to their keys.

use super::build::{
    BuildBody, BuildResult, ManifestVersionBody, encode_package_set, package_diff, parse_packages,
};
use super::promote::Promotion;
use super::snapshot::SnapshotBody;
use super::testrun::TestBody;
use super::{
    BUILDS, IMAGE_EVENTS, LOGS, MANIFESTS, PACKAGE_SETS, PKG_CHANGES, ReleaseError, SNAPSHOT_TESTS,
    SNAPSHOTS, STAGE_CURRENT, STAGE_SNAPSHOT, STAGE_TIMELINE, dberr, kinds, open_ro,
};
use crate::deb::hash::Sha256Digest;
use crate::store::Store;
use crate::store::journal::{self, BrokenLink, Entry};
use redb::{ReadTransaction, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

#[derive(Default)]
struct Expected {
    builds: BTreeMap<(String, u64), (u64, i64, bool)>,
    pkg_changes: BTreeMap<(String, String, u64), String>,
    snapshots: BTreeMap<String, u64>,
    snapshot_tests: BTreeMap<(String, u64), String>,
    image_events: BTreeMap<(String, u64), String>,
    timeline: BTreeMap<(String, String, i64, u64), u64>,
    current: BTreeMap<(String, String), (u64, i64, u64)>,
    stage_snapshot: BTreeMap<String, u64>,
}

fn broken(seq: u64, problem: String) -> BrokenLink {
    BrokenLink { seq, problem }
}

/// Re-derives the release indexes from the journal and compares them with
/// the stored tables. Returns the first disagreement.
pub fn check_indexes(store: &Store) -> Result<Option<BrokenLink>, ReleaseError> {
    let txn = store.read()?;
    let manifests = read_blobs(&txn, MANIFESTS)?;
    let logs = read_blobs(&txn, LOGS)?;
    for (table, blobs) in [("release_manifests", &manifests), ("release_logs", &logs)] {
        for (key, bytes) in blobs {
            if Sha256Digest::of(bytes).0.as_slice() != key.as_slice() {
                return Ok(Some(broken(
                    0,
                    format!(
                        "{table}: content stored under {} does not hash to its key (altered)",
                        hex(key)
                    ),
                )));
            }
        }
    }
    // Every stored manifest, parsed; its pre-parsed package set must match.
    let sets = read_blobs(&txn, PACKAGE_SETS)?;
    let mut parsed: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for (key, bytes) in &manifests {
        let sha = hex(key);
        let packages = match parse_packages(&sha, bytes) {
            Ok((_, p)) => p,
            Err(e) => {
                return Ok(Some(broken(
                    0,
                    format!("release_manifests: manifest {sha} does not parse: {e}"),
                )));
            }
        };
        if sets.get(key) != Some(&encode_package_set(&packages)) {
            return Ok(Some(broken(
                0,
                format!(
                    "index release_package_sets: the package set of manifest {sha} is missing or differs from the manifest"
                ),
            )));
        }
        parsed.insert(sha, packages);
    }
    if let Some(extra) = sets.keys().find(|k| !manifests.contains_key(*k)) {
        return Ok(Some(broken(
            0,
            format!(
                "index release_package_sets: row {} has no stored manifest",
                hex(extra)
            ),
        )));
    }
    let mut exp = Expected::default();
    let mut last_packages: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut failure: Option<BrokenLink> = None;
    journal::for_each(&txn, |seq, bytes| {
        if failure.is_some() {
            return Ok(());
        }
        let entry = Entry::decode(seq, bytes)?;
        if let Err(problem) =
            replay_entry(&entry, &manifests, &mut exp, &mut last_packages, &parsed)
        {
            failure = Some(broken(seq, problem));
        }
        Ok(())
    })?;
    if failure.is_some() {
        return Ok(failure);
    }
    macro_rules! cmp {
        ($name:literal, $def:expr, $exp:expr, $conv:expr, $seq:expr) => {{
            let actual = read_table(&txn, $def, $conv)?;
            if let Some(b) = compare($name, &$exp, &actual, $seq) {
                return Ok(Some(b));
            }
        }};
    }
    cmp!(
        "release_builds",
        BUILDS,
        exp.builds,
        |k: (&str, u64), v: (u64, i64, bool)| ((k.0.to_string(), k.1), v),
        |_k: &(String, u64), v: &(u64, i64, bool)| v.0
    );
    cmp!(
        "release_pkg_changes",
        PKG_CHANGES,
        exp.pkg_changes,
        |k: (&str, &str, u64), v: &str| ((k.0.to_string(), k.1.to_string(), k.2), v.to_string()),
        |_k: &(String, String, u64), _v: &String| 0
    );
    cmp!(
        "release_snapshots",
        SNAPSHOTS,
        exp.snapshots,
        |k: &str, v: u64| (k.to_string(), v),
        |_k: &String, v: &u64| *v
    );
    cmp!(
        "release_snapshot_tests",
        SNAPSHOT_TESTS,
        exp.snapshot_tests,
        |k: (&str, u64), v: &str| ((k.0.to_string(), k.1), v.to_string()),
        |k: &(String, u64), _v: &String| k.1
    );
    cmp!(
        "release_image_events",
        IMAGE_EVENTS,
        exp.image_events,
        |k: (&str, u64), v: &str| ((k.0.to_string(), k.1), v.to_string()),
        |k: &(String, u64), _v: &String| k.1
    );
    cmp!(
        "release_stage_timeline",
        STAGE_TIMELINE,
        exp.timeline,
        |k: (&str, &str, i64, u64), v: u64| ((k.0.to_string(), k.1.to_string(), k.2, k.3), v),
        |k: &(String, String, i64, u64), _v: &u64| k.3
    );
    cmp!(
        "release_stage_current",
        STAGE_CURRENT,
        exp.current,
        |k: (&str, &str), v: (u64, i64, u64)| ((k.0.to_string(), k.1.to_string()), v),
        |_k: &(String, String), v: &(u64, i64, u64)| v.2
    );
    cmp!(
        "release_stage_snapshot",
        STAGE_SNAPSHOT,
        exp.stage_snapshot,
        |k: &str, v: u64| (k.to_string(), v),
        |_k: &String, v: &u64| *v
    );
    Ok(None)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_blobs(
    txn: &ReadTransaction,
    def: TableDefinition<&'static [u8], &'static [u8]>,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, ReleaseError> {
    let mut out = BTreeMap::new();
    if let Some(t) = open_ro(txn, def)? {
        for row in t.iter().map_err(dberr)? {
            let (k, v) = row.map_err(dberr)?;
            out.insert(k.value().to_vec(), v.value().to_vec());
        }
    }
    Ok(out)
}

fn read_table<K, V, KO: Ord, VO>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    conv: impl Fn(K::SelfType<'_>, V::SelfType<'_>) -> (KO, VO),
) -> Result<BTreeMap<KO, VO>, ReleaseError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let mut out = BTreeMap::new();
    if let Some(t) = open_ro(txn, def)? {
        for row in t.iter().map_err(dberr)? {
            let (k, v) = row.map_err(dberr)?;
            let (ko, vo) = conv(k.value(), v.value());
            out.insert(ko, vo);
        }
    }
    Ok(out)
}

fn compare<K: Ord + Debug, V: PartialEq + Debug>(
    name: &str,
    expected: &BTreeMap<K, V>,
    actual: &BTreeMap<K, V>,
    seq: impl Fn(&K, &V) -> u64,
) -> Option<BrokenLink> {
    for (k, v) in expected {
        match actual.get(k) {
            None => {
                return Some(broken(
                    seq(k, v),
                    format!("index {name}: row {k:?} -> {v:?} derived from the journal is missing"),
                ));
            }
            Some(a) if a != v => {
                return Some(broken(
                    seq(k, v),
                    format!(
                        "index {name}: row {k:?} is {a:?} but the journal says {v:?} (the index points to a different entry)"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            return Some(broken(
                seq(k, a),
                format!("index {name}: row {k:?} -> {a:?} has no journal entry behind it"),
            ));
        }
    }
    None
}

fn replay_entry(
    entry: &Entry,
    manifests: &BTreeMap<Vec<u8>, Vec<u8>>,
    exp: &mut Expected,
    last_packages: &mut HashMap<String, BTreeMap<String, String>>,
    parsed: &HashMap<String, BTreeMap<String, String>>,
) -> Result<(), String> {
    let seq = entry.seq;
    let manifest_bytes = |sha: &str| -> Result<&Vec<u8>, String> {
        let key =
            Sha256Digest::from_hex(sha).ok_or_else(|| format!("bad manifest hash {sha:?}"))?;
        manifests
            .get(key.0.as_slice())
            .ok_or_else(|| format!("manifest {sha} is not in release_manifests"))
    };
    match entry.kind.as_str() {
        kinds::MANIFEST_VERSION => {
            let b: ManifestVersionBody = entry.body_as().map_err(|e| e.to_string())?;
            manifest_bytes(&b.sha256)?;
        }
        kinds::BUILD => {
            let b: BuildBody = entry.body_as().map_err(|e| e.to_string())?;
            manifest_bytes(&b.manifest_sha256)?;
            let packages = parsed
                .get(&b.manifest_sha256)
                .cloned()
                .ok_or_else(|| format!("manifest {} was not parsed", b.manifest_sha256))?;
            let previous = last_packages.remove(&b.image).unwrap_or_default();
            for c in package_diff(&previous, &packages) {
                exp.pkg_changes.insert(
                    (c.package, b.image.clone(), b.number),
                    c.to.unwrap_or_default(),
                );
            }
            last_packages.insert(b.image.clone(), packages);
            exp.builds.insert(
                (b.image, b.number),
                (seq, entry.at, b.result == BuildResult::Ok),
            );
        }
        kinds::SNAPSHOT => {
            let b: SnapshotBody = entry.body_as().map_err(|e| e.to_string())?;
            exp.snapshots.insert(b.name, seq);
        }
        kinds::TEST => {
            let b: TestBody = entry.body_as().map_err(|e| e.to_string())?;
            exp.snapshot_tests
                .insert((b.snapshot, seq), b.image.clone().unwrap_or_default());
            if let Some(image) = b.image {
                exp.image_events.insert((image, seq), kinds::TEST.into());
            }
        }
        kinds::PROMOTION => {
            let p: Promotion = entry.body_as().map_err(|e| e.to_string())?;
            for img in &p.promoted {
                exp.timeline.insert(
                    (p.stage.clone(), img.image.clone(), entry.at, seq),
                    img.build,
                );
                exp.current.insert(
                    (p.stage.clone(), img.image.clone()),
                    (img.build, entry.at, seq),
                );
                exp.image_events
                    .insert((img.image.clone(), seq), kinds::PROMOTION.into());
            }
            exp.stage_snapshot.insert(p.stage, p.snapshot_seq);
        }
        _ => {}
    }
    Ok(())
}
