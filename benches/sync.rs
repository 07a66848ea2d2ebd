//! Full sync of the bundled mirror slice (7 suites, amd64) into a fresh
//! store, against `apt-get update` on the same directory in a fresh private
//! apt root, in one criterion run so that the ratio is measured under the
//! same machine conditions.
//!
//! `cargo bench --bench sync`. The apt side needs `apt-get` (Debian's apt);
//! without it only the debfleet side runs. Each iteration starts from an
//! empty store (or an empty apt root); creating them is not timed.
//! `benches/fleet-scale.sh` measures the same pair as whole processes.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use debfleet::deb::pdiff::PdiffLimits;
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::sources;
use debfleet::mirror::ReleasePolicy;
use debfleet::store::sync::{NoProgress, SyncOptions};
use debfleet::store::{OpenMode, Store};
use std::path::{Path, PathBuf};
use std::process::Command;

// The allocator the debfleet binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/apt_root.rs"]
mod apt_root;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// debfleet's whole sync: fetch, verify, index, compact, candidate tables.
fn full_sync(fleet: &FleetConfig, dir: &Path) {
    let mut store =
        Store::open(&dir.join("state.redb"), OpenMode::Write { wait: false }).expect("store");
    let targets = sources::sync_targets(fleet).expect("targets");
    let options = SyncOptions {
        now: "2026-11-27T12:00:00Z".parse().expect("timestamp"),
        policy: ReleasePolicy::default(),
        pdiff: PdiffLimits::default(),
        actor: "bench".to_string(),
        tables: sources::table_targets(fleet),
    };
    let mut report =
        debfleet::store::sync::sync(&store, &targets, &options, &NoProgress).expect("sync");
    assert!(!report.has_failures(), "sync failed: {:?}", report.suites);
    sources::finish_sync(&mut store, fleet, &mut report).expect("finish");
}

/// A private apt root reading the same mirror directory through `file:`.
fn apt_root(dir: &Path) -> PathBuf {
    let mirror = root().join("testdata/mirror");
    let keyring = root().join("testdata/keyrings/debian-archive-keyring.gpg");
    apt_root::create(dir).expect("apt root");
    let mut sources = String::new();
    for (archive, suites) in [
        (
            "debian",
            &[
                "bookworm",
                "bookworm-updates",
                "bookworm-backports",
                "trixie",
                "trixie-updates",
            ][..],
        ),
        (
            "debian-security",
            &["bookworm-security", "trixie-security"][..],
        ),
    ] {
        for suite in suites {
            sources.push_str(&format!(
                "deb [signed-by={}] file:{}/{archive} {suite} main\n",
                keyring.display(),
                mirror.display()
            ));
        }
    }
    std::fs::write(dir.join("etc/apt/sources.list"), sources).expect("sources.list");
    let d = dir.display();
    let conf = format!(
        "Dir \"{d}/\";\nDir::State \"var/lib/apt/\";\nDir::Cache \"var/cache/apt/\";\nDir::Etc \"etc/apt/\";\nDir::State::status \"{d}/var/lib/dpkg/status\";\nAPT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\nAcquire::Check-Valid-Until \"false\";\nAcquire::By-Hash \"no\";\nAcquire::Languages \"none\";\nAPT::Sandbox::User \"root\";\n"
    );
    let path = dir.join("apt.conf");
    std::fs::write(&path, conf).expect("apt.conf");
    path
}

fn apt_update(conf: &Path) {
    let out = Command::new("apt-get")
        .args(["-q", "update"])
        .env("APT_CONFIG", conf)
        .output()
        .expect("apt-get");
    assert!(out.status.success(), "apt-get update failed: {out:?}");
}

fn benches(c: &mut Criterion) {
    let fleet = FleetConfig::load(&root().join("testdata/fleet")).expect("example fleet");
    let mut group = c.benchmark_group("full sync");
    group.sample_size(10);
    group.bench_function("debfleet sync, 7 suites", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            // The directory is returned so that removing it is not timed.
            |dir| {
                full_sync(&fleet, dir.path());
                dir
            },
            BatchSize::PerIteration,
        )
    });
    let apt_available = Command::new("apt-get").arg("--version").output().is_ok();
    if apt_available {
        group.bench_function("apt-get update, same 7 suites", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let conf = apt_root(dir.path());
                    (dir, conf)
                },
                |(dir, conf)| {
                    apt_update(&conf);
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(sync_benches, benches);
criterion_main!(sync_benches);
