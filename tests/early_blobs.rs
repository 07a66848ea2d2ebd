//! The raw file of a large index is stored in a transaction of its own as
//! soon as it is verified, ahead of the run's commit (see `store::sync`).
//! Through the binary: when its suite then fails, neither the blob nor its
//! `pending_blobs` entry stays behind; when it succeeds, the blob is kept,
//! the list is empty and `mirror verify` passes.
//!
//! The mirror is a signed test suite (see `testmirror`) whose index is
//! padded with random descriptions so that its `.xz` is over 1 MiB.

mod common;
mod testmirror;

use common::*;
use rand::{Rng, SeedableRng};
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
use testmirror::{SuiteFleet, sum, xz};

const SUITE: &str = "test";
const NOW: &str = "2026-08-01T00:00:00Z";
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
const PENDING: TableDefinition<&[u8], ()> = TableDefinition::new("pending_blobs");

/// 3,000 stanzas with 800 random hex digits of description each (about
/// 1.3 MB of xz), the last one without a Version when `broken`.
fn large_index(seed: u64, broken: bool) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = String::new();
    for i in 0..3000 {
        let text: String = (0..800)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect();
        let version = if broken && i == 2999 {
            String::new()
        } else {
            format!("Version: 1.{seed}-{i}\n")
        };
        out.push_str(&format!(
            "Package: pad{i:04}\n{version}Architecture: amd64\nDescription: padding\n {text}\n\n"
        ));
    }
    out.into_bytes()
}

/// (blob rows whose key is `key`, rows of `pending_blobs`).
fn stored(state: &std::path::Path, key: &[u8]) -> (bool, u64) {
    let db = redb::Database::open(state).unwrap();
    let txn = db.begin_read().unwrap();
    let blob = txn.open_table(BLOBS).unwrap().get(key).unwrap().is_some();
    let pending = txn.open_table(PENDING).unwrap().len().unwrap();
    (blob, pending)
}

fn publish(world: &SuiteFleet, day: u32, packages: &[u8]) -> Vec<u8> {
    let packages_xz = xz(packages);
    assert!(
        packages_xz.len() > 1 << 20,
        "{} bytes of xz",
        packages_xz.len()
    );
    world.publish_on(day, packages, Some(&packages_xz));
    packages_xz
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_large_index_stored_ahead_is_removed_when_its_suite_fails_and_kept_when_it_succeeds() {
    let world = SuiteFleet::new(SUITE);
    let (fleet, state) = (world.fleet(), world.state());

    // Verified (its hashes are signed), then refused by the parser.
    let broken_xz = publish(&world, 1, &large_index(1, true));
    let out = with_state(&fleet, &state, NOW, &["sync", "--format", "json"]);
    assert!(!out.status.success());
    let report = json(&out);
    assert_eq!(report["suites"][0]["status"], "failed", "{report}");
    let error = report["suites"][0]["error"].as_str().unwrap();
    assert!(error.contains("Version"), "{error}");
    let broken_key = hex_to_bytes(&sum(&broken_xz).0);
    assert_eq!(stored(&state, &broken_key), (false, 0));

    // A good one: stored, nothing pending, and the store verifies.
    let good_xz = publish(&world, 2, &large_index(2, false));
    let out = with_state(&fleet, &state, NOW, &["sync", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["suites"][0]["status"], "updated");
    let good_key = hex_to_bytes(&sum(&good_xz).0);
    assert_eq!(stored(&state, &good_key), (true, 0));
    assert_eq!(stored(&state, &broken_key), (false, 0));
    let out = with_state(&fleet, &state, NOW, &["mirror", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
