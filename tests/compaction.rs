//! When a sync compacts the store (see `fleet::sources::finish_sync`),
//! through the binary on a signed test suite (see `testmirror`):
//! - a first sync only fills new pages, so it does not compact, even when
//!   it writes many records; the file may be longer than what it holds, but
//!   that tail takes no disk blocks and `store_bytes` counts blocks;
//! - a sync that rewrites many records of an index it had stored frees the
//!   old chunks' pages, and compacts.

mod common;
mod testmirror;

use common::*;
use testmirror::SuiteFleet;

const SUITE: &str = "test";
const NOW: &str = "2026-08-01T00:00:00Z";

/// `count` small stanzas, every version ending in `release`.
fn index(count: usize, release: u32) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..count {
        out.push_str(&format!(
            "Package: p{i:05}\nVersion: 1.{release}\nArchitecture: amd64\nDepends: libc6 (>= 2.36)\nFilename: pool/main/p/p{i:05}/p{i:05}_1.{release}_amd64.deb\nSize: {}\n\n",
            1000 + i
        ));
    }
    out.into_bytes()
}

#[test]
fn a_first_sync_does_not_compact_and_a_large_rewrite_does() {
    let world = SuiteFleet::new(SUITE);
    let (fleet, state) = (world.fleet(), world.state());
    let records = 30_000;

    world.publish_on(1, &index(records, 1), None);
    let out = with_state(&fleet, &state, NOW, &["sync", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let suite = &report["suites"][0];
    assert_eq!(suite["status"], "updated", "{report}");
    assert_eq!(suite["added"], records, "{report}");
    assert_eq!(suite["rewritten"], 0, "{report}");
    assert_eq!(report["compacted"], false, "{report}");
    let first_bytes = report["store_bytes"].as_u64().unwrap();
    assert!(first_bytes > 0, "{report}");

    // Every version changes: each record is removed and added again.
    world.publish_on(2, &index(records, 2), None);
    let out = with_state(&fleet, &state, NOW, &["sync", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let suite = &report["suites"][0];
    assert_eq!(suite["status"], "updated", "{report}");
    assert_eq!(
        (&suite["added"], &suite["removed"]),
        (&records.into(), &records.into()),
        "{report}"
    );
    assert_eq!(suite["rewritten"], 2 * records, "{report}");
    assert_eq!(report["compacted"], true, "{report}");

    // The store is whole afterwards.
    let out = with_state(&fleet, &state, NOW, &["mirror", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = with_state(&fleet, &state, NOW, &["sync", "--format", "json"]);
    let report = json(&out);
    assert_eq!(report["suites"][0]["status"], "unchanged", "{report}");
    assert_eq!(report["compacted"], false, "{report}");
}
