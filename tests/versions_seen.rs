//! First-seen / gone bookkeeping through the binary, across real deltas:
//! `mirror seen` answers for versions present since an index's first sync
//! (which have no `versions_seen_by_index` row: they are implicit), for
//! versions removed, added and added back later, and the first sync of an
//! index writes no rows at all.
//!
//! The mirror is a signed test suite (see `testmirror`) made of real
//! bookworm-security stanzas.

mod common;
mod testmirror;

use common::*;
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
use serde_json::Value;
use std::path::{Path, PathBuf};
use testmirror::{SuiteFleet, bump_version, field, join_stanzas, stanzas};

const SUITE: &str = "test";
const NOW: &str = "2026-08-01T00:00:00Z";
const SEEN: TableDefinition<(u32, &str, &str), (u64, u64)> =
    TableDefinition::new("versions_seen_by_index");

/// The signed test suite and its fleet, plus what these tests ask of them.
struct World(SuiteFleet);

impl World {
    fn new() -> World {
        World(SuiteFleet::new(SUITE))
    }

    fn fleet(&self) -> PathBuf {
        self.0.fleet()
    }

    fn state(&self) -> PathBuf {
        self.0.state()
    }

    /// Publishes `stanzas` dated `day` days after 2026-07-01, syncs, and
    /// returns the new generation.
    fn publish_and_sync(&self, day: u32, stanzas: &[String]) -> u64 {
        let packages = join_stanzas(stanzas);
        self.0.publish_on(day, &packages, None);
        let out = with_state(
            &self.fleet(),
            &self.state(),
            NOW,
            &["sync", "--format", "json"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let report = json(&out);
        let suite = &report["suites"][0];
        assert_eq!(suite["status"], "updated", "{report}");
        suite["generation"].as_u64().unwrap()
    }

    /// `mirror seen` of (package, version): (first, gone) of the one index.
    fn seen(&self, package: &str, version: &str) -> Option<(u64, Option<u64>)> {
        let out = with_state(
            &self.fleet(),
            &self.state(),
            NOW,
            &["mirror", "seen", package, version, "--format", "json"],
        );
        let rows: Value = json(&out)["seen"].clone();
        let rows = rows.as_array().unwrap();
        assert!(rows.len() <= 1, "{rows:?}");
        rows.first().map(|r| {
            (
                r["first_generation"].as_u64().unwrap(),
                r["gone_generation"].as_u64(),
            )
        })
    }
}

fn rows(state: &Path) -> u64 {
    let db = redb::Database::open(state).unwrap();
    let txn = db.begin_read().unwrap();
    txn.open_table(SEEN).unwrap().len().unwrap()
}

fn name_version(stanza: &str) -> (String, String) {
    (
        field(stanza, "Package").unwrap().to_string(),
        field(stanza, "Version").unwrap().to_string(),
    )
}

#[test]
fn first_seen_and_gone_across_deltas() {
    let world = World::new();
    let real = stanzas(&testmirror::real_security_packages());
    // Distinct package names, so that each stanza is its package's only version.
    let mut picked: Vec<String> = Vec::new();
    for s in &real {
        let name = field(s, "Package").unwrap();
        if picked.iter().all(|p| field(p, "Package") != Some(name)) {
            picked.push(s.clone());
        }
        if picked.len() == 40 {
            break;
        }
    }
    let kept = name_version(&picked[0]);
    let removed = name_version(&picked[1]);
    let (upgraded_name, upgraded_old) = name_version(&picked[2]);

    let g1 = world.publish_and_sync(1, &picked);
    assert_eq!(rows(&world.state()), 0, "a first sync writes no rows");
    assert_eq!(world.seen(&kept.0, &kept.1), Some((g1, None)));
    assert_eq!(world.seen(&kept.0, "0:0-never"), None);

    // Day 2: one package removed, one upgraded (old version gone, new one added).
    let mut day2 = picked.clone();
    let upgraded = bump_version(&day2[2]);
    let upgraded_new = field(&upgraded, "Version").unwrap().to_string();
    day2[2] = upgraded;
    day2.remove(1);
    let g2 = world.publish_and_sync(2, &day2);
    assert!(g2 > g1);
    assert_eq!(world.seen(&kept.0, &kept.1), Some((g1, None)));
    assert_eq!(world.seen(&removed.0, &removed.1), Some((g1, Some(g2))));
    assert_eq!(
        world.seen(&upgraded_name, &upgraded_old),
        Some((g1, Some(g2)))
    );
    assert_eq!(world.seen(&upgraded_name, &upgraded_new), Some((g2, None)));
    assert_eq!(rows(&world.state()), 3, "rows only for what changed");

    // Day 3: the removed package comes back; it was first seen in g1.
    let mut day3 = day2.clone();
    day3.push(picked[1].clone());
    let g3 = world.publish_and_sync(3, &day3);
    assert_eq!(world.seen(&removed.0, &removed.1), Some((g1, None)));
    assert_eq!(world.seen(&upgraded_name, &upgraded_new), Some((g2, None)));
    assert_eq!(
        world.seen(&upgraded_name, &upgraded_old),
        Some((g1, Some(g2)))
    );
    assert!(g3 > g2);
}
