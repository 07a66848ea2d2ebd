//! Fleet-scale benchmarks: a no-change resync of the bundled mirror and a
//! warm check of a synthetic 10,000-image fleet built from the example
//! fleet's real closures.
//!
//! `cargo bench --bench check`. The 100,000-image figures and the ratios
//! against apt come from `benches/fleet-scale.sh`.

use criterion::{Criterion, criterion_group, criterion_main};
use debfleet::deb::pdiff::PdiffLimits;
use debfleet::fleet::check::{self, CheckOptions, Selection, Tables};
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::{generate, manifest, sources};
use debfleet::mirror::ReleasePolicy;
use debfleet::store::sync::{NoProgress, SyncOptions};
use debfleet::store::{OpenMode, Store};
use std::collections::BTreeSet;
use std::path::Path;

fn now() -> jiff::Timestamp {
    "2026-11-27T12:00:00Z".parse().expect("timestamp")
}

fn synced_store(dir: &Path) -> (FleetConfig, Store) {
    let fleet = FleetConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fleet"))
        .expect("example fleet");
    let store =
        Store::open(&dir.join("state.redb"), OpenMode::Write { wait: false }).expect("store");
    let targets = sources::sync_targets(&fleet).expect("targets");
    let options = SyncOptions {
        now: now(),
        policy: ReleasePolicy::default(),
        pdiff: PdiffLimits::default(),
        actor: "bench".to_string(),
        tables: Vec::new(),
    };
    debfleet::store::sync::sync(&store, &targets, &options, &NoProgress).expect("sync");
    (fleet, store)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fleet, store) = synced_store(dir.path());
    let targets = sources::sync_targets(&fleet).expect("targets");
    let options = SyncOptions {
        now: now(),
        policy: ReleasePolicy::default(),
        pdiff: PdiffLimits::default(),
        actor: "bench".to_string(),
        tables: Vec::new(),
    };
    let mut group = c.benchmark_group("sync");
    group.sample_size(20);
    group.bench_function("no-change resync, 7 suites", |b| {
        b.iter(|| {
            debfleet::store::sync::sync(&store, &targets, &options, &NoProgress).expect("sync")
        })
    });
    group.finish();

    // A synthetic 10k fleet.
    let (templates, _) = manifest::load_all(&fleet);
    let mut keys = BTreeSet::new();
    for b in fleet.bases.values() {
        for a in &b.architectures {
            keys.insert((b.name.clone(), a.clone()));
        }
    }
    let tables = Tables::load(&store, &fleet, &keys).expect("tables");
    let out = dir.path().join("fleet10k");
    generate::generate(&fleet, &templates, &tables, 10_000, 1, &out).expect("generate");
    let big = FleetConfig::load(&out).expect("generated fleet");
    let selection = Selection::default();
    let check_options = CheckOptions::default();
    // Warm the parsed-manifest cache.
    check::check_fleet(&store, &big, &selection, &check_options, now()).expect("check");
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.bench_function("warm check, 10k manifests", |b| {
        b.iter(|| {
            check::check_fleet(&store, &big, &selection, &check_options, now()).expect("check")
        })
    });
    group.finish();
}

criterion_group!(check_benches, benches);
criterion_main!(check_benches);
