//! End-to-end tests of incremental index updates in `debfleet sync`: pdiff
//! patch chains (dak's merged patches and per-step ones), every fallback to
//! the full file, by-hash fetching, and Release rollback protection.
//!
//! Each test builds a signed mirror in a temporary directory (see
//! `testmirror`): a throwaway ed25519 key, `Packages` states derived from the
//! real bookworm-security `Packages` of the bundled slice (v0) by real-looking
//! archive runs (packages removed, versions bumped, packages added), patches
//! made with `diff --ed | gzip -9n`, and the real binary syncing it.

mod common;
mod testmirror;

use common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use testmirror::*;

const SUITE: &str = "test";
/// The Release of v0 is dated this; later states one day apart.
const DATE0: &str = "2026-06-01T08:00:00Z";
/// `--now`: after every Release Date used here.
const NOW_T: &str = "2026-08-01T00:00:00Z";

/// One test's world: a key, a mirror, a fleet over it.
struct World {
    signer: Signer,
    _dir: tempfile::TempDir,
    mirror: TestMirror,
    fleet: PathBuf,
}

impl World {
    fn new() -> World {
        let signer = Signer::new();
        let dir = tempfile::tempdir().unwrap();
        let mirror = TestMirror::new(&dir.path().join("mirror"));
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        std::fs::write(
            fleet.join("fleet.yaml"),
            format!(
                "archives:\n  test: {}\nkeyring: {}\nbases:\n  t:\n    release: \"12\"\n    \
                 architectures: [amd64]\n    repositories:\n      \
                 - {{archive: test, suite: {SUITE}, components: [main]}}\nmanifests: images/*.yaml\n",
                mirror.root.display(),
                signer.keyring.display()
            ),
        )
        .unwrap();
        World {
            signer,
            _dir: dir,
            mirror,
            fleet,
        }
    }

    fn publish(&self, p: Publication<'_>) -> Vec<u8> {
        self.mirror.publish(&self.signer, &p)
    }

    fn full_xz(&self) -> PathBuf {
        self.mirror.binary(SUITE, "Packages.xz")
    }

    /// Runs debfleet on the fleet at `NOW_T`.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--fleet", self.fleet.to_str().unwrap(), "--now", NOW_T];
        all.extend_from_slice(args);
        debfleet(&all)
    }

    /// `sync --format json`, expected to succeed; returns the suite's report.
    fn sync_ok(&self, extra: &[&str]) -> Value {
        let mut args = vec!["sync", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "sync failed:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let report = json(&out);
        let s = report["suites"][0].clone();
        assert_eq!(s["status"], "updated", "{report}");
        s
    }

    /// `sync --format json`, expected to fail the suite; returns its error.
    fn sync_fails(&self, extra: &[&str]) -> String {
        let mut args = vec!["sync", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let report = json(&out);
        let s = &report["suites"][0];
        assert_eq!(s["status"], "failed", "{report}");
        s["error"].as_str().unwrap().to_string()
    }

    fn generations(&self) -> Vec<Value> {
        let out = self.run(&["mirror", "generations", "--format", "json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        json(&out)["generations"].as_array().unwrap().clone()
    }

    /// The index record of the newest generation.
    fn last_index(&self) -> Value {
        let gens = self.generations();
        gens.last().expect("a generation")["indexes"][0].clone()
    }

    /// Packages in force for the suite, from `mirror status`.
    fn status_packages(&self) -> u64 {
        let out = self.run(&["mirror", "status", "--format", "json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        json(&out)["suites"][0]["packages"].as_u64().unwrap()
    }

    fn verify_all(&self) -> String {
        let out = self.run(&["mirror", "verify", "--all"]);
        assert!(
            out.status.success(),
            "verify --all failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn state(&self) -> (Value, Value) {
        let fleet = self.fleet.to_str().unwrap();
        let status = debfleet(&["--fleet", fleet, "mirror", "status", "--format", "json"]);
        let gens = debfleet(&[
            "--fleet",
            fleet,
            "mirror",
            "generations",
            "--format",
            "json",
        ]);
        assert!(status.status.success() && gens.status.success());
        (json(&status)["suites"].clone(), json(&gens))
    }

    /// Asserts that the suite in force is exactly `packages`: the index's
    /// SHA-256, its record count, and offline re-verification of every
    /// generation.
    fn assert_in_force(&self, packages: &[u8], generations: usize) {
        let index = self.last_index();
        assert_eq!(index["sha256"], sum(packages).0, "{index}");
        assert_eq!(index["packages"].as_u64(), Some(count_records(packages)));
        assert_eq!(self.status_packages(), count_records(packages));
        let verified = self.verify_all();
        assert!(
            verified.contains(&format!("{generations} generations verified, 0 failed")),
            "{verified}"
        );
    }
}

fn date(days: i64) -> Timestamp {
    DATE0.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(24 * days)
}

/// Patch names dak would give: `<date>` per step, `T-<to>-F-<from>` merged.
fn stamp(days: i64) -> String {
    date(days).strftime("%Y-%m-%d-%H%M.%S").to_string()
}

/// v0 (the real file) and three archive runs after it.
fn versions() -> Vec<Vec<u8>> {
    let v0 = real_security_packages();
    let v1 = evolve(&v0, 1, 97, 61, 3);
    let v2 = evolve(&v1, 2, 89, 53, 2);
    let v3 = evolve(&v2, 3, 83, 47, 4);
    vec![v0, v1, v2, v3]
}

/// Per-step patches `<date i+1>` from `v[i]` to `v[i+1]`, for i in `range`.
fn steps(v: &[Vec<u8>], range: std::ops::Range<usize>) -> Vec<Patch> {
    range
        .map(|i| Patch::make(&stamp(i as i64 + 1), &v[i], &v[i + 1]))
        .collect()
}

/// dak's merged patches `T-<to>-F-<from>` from each of `from` to `v[to]`.
fn merged(v: &[Vec<u8>], from: &[usize], to: usize) -> Vec<Patch> {
    from.iter()
        .map(|&i| {
            Patch::make(
                &format!("T-{}-F-{}", stamp(to as i64), stamp(i as i64)),
                &v[i],
                &v[to],
            )
        })
        .collect()
}

/// v0 published with its full file and synced: generation 1, `full:xz`.
fn start_at_v0(w: &World, v: &[Vec<u8>]) {
    w.publish(Publication {
        suite: SUITE,
        date: date(0),
        packages: &v[0],
        packages_xz: None,
        pdiff: None,
        by_hash: false,
    });
    let s = w.sync_ok(&[]);
    assert_eq!(s["methods"][0], "full:xz", "{s}");
    assert_eq!(s["packages"].as_u64(), Some(count_records(&v[0])));
    assert_eq!(w.last_index()["method"], "full:xz");
}

fn publish_with_pdiff(w: &World, packages: &[u8], day: i64, index: Vec<u8>, patches: Vec<Patch>) {
    w.publish(Publication {
        suite: SUITE,
        date: date(day),
        packages,
        packages_xz: None,
        pdiff: Some((index, patches)),
        by_hash: false,
    });
}

#[test]
fn merged_pdiff_alone_brings_the_store_to_the_new_state() {
    let w = World::new();
    let v = versions();
    start_at_v0(&w, &v);
    let xz_v0 = std::fs::metadata(w.full_xz()).unwrap().len();

    // v3 with dak's merged patches from v0, v1 and v2, the per-step ones
    // listed as X-Unmerged; the full Packages.xz is listed but gone.
    let m = merged(&v, &[0, 1, 2], 3);
    let s = steps(&v, 0..3);
    let index = diff_index(&v[3], &m, &s);
    let mut files = m.clone();
    files.extend(s);
    publish_with_pdiff(&w, &v[3], 3, index, files);
    std::fs::remove_file(w.full_xz()).unwrap();

    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "pdiff:1", "{report}");
    let index = w.last_index();
    assert_eq!(index["method"], "pdiff:1");
    assert_eq!(index["blob_path"], format!("{BINARY}/Packages"));
    // Only the Index and one small patch were read.
    let read = index["bytes_read"].as_u64().unwrap();
    assert!(read < xz_v0 / 10, "read {read} bytes for a pdiff update");
    assert!(read >= m[0].gz.len() as u64);
    // The records are v3's: removed, bumped and added packages all landed.
    let added = count_records(&v[3]) as i64 - count_records(&v[0]) as i64;
    assert_eq!(
        report["added"].as_i64().unwrap() - report["removed"].as_i64().unwrap(),
        added,
        "{report}"
    );
    assert!(report["removed"].as_u64().unwrap() > 0, "{report}");
    w.assert_in_force(&v[3], 2);
}

#[test]
fn per_step_pdiff_chain_is_applied_from_where_the_store_is() {
    let w = World::new();
    let v = versions();
    start_at_v0(&w, &v);

    // v1 by one patch.
    publish_with_pdiff(
        &w,
        &v[1],
        1,
        diff_index(&v[1], &[], &steps(&v, 0..1)),
        steps(&v, 0..1),
    );
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "pdiff:1", "{report}");
    w.assert_in_force(&v[1], 2);

    // v3, whose Index lists the whole chain from v0; the store is at v1, so
    // the last two patches apply, without the full file.
    let chain = steps(&v, 0..3);
    publish_with_pdiff(&w, &v[3], 3, diff_index(&v[3], &[], &chain), chain);
    std::fs::remove_file(w.full_xz()).unwrap();
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "pdiff:2", "{report}");
    w.assert_in_force(&v[3], 3);
}

#[test]
fn broken_chain_falls_back_to_the_full_file() {
    let w = World::new();
    let v = versions();
    start_at_v0(&w, &v);
    // The history starts at v1: our v0 is older than the patches kept.
    let m = merged(&v, &[1, 2], 3);
    publish_with_pdiff(&w, &v[3], 3, diff_index(&v[3], &m, &[]), m);
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "full:xz", "{report}");
    w.assert_in_force(&v[3], 2);

    // Same Index with the full file gone: the suite fails, saying why
    // patching was not possible, and the store keeps v3.
    let before = w.state();
    let v4 = evolve(&v[3], 4, 79, 43, 2);
    let m = merged(&[v[1].clone(), v[3].clone(), v4.clone()], &[0], 2);
    publish_with_pdiff(&w, &v4, 4, diff_index(&v4, &m, &[]), m);
    std::fs::remove_file(w.full_xz()).unwrap();
    let err = w.sync_fails(&[]);
    assert!(
        err.contains("not in the patch history") && err.contains("full file could not be fetched"),
        "{err}"
    );
    assert_eq!(w.state(), before);
}

#[test]
fn patch_not_matching_the_index_fails_without_full_file_and_falls_back_with_it() {
    let w = World::new();
    let v = versions();
    start_at_v0(&w, &v);
    let before = w.state();

    // The served T-v3-F-v0.gz is another (valid) patch: its .gz does not
    // match the Download entry of the Index.
    let m = merged(&v, &[0, 1, 2], 3);
    let index = diff_index(&v[3], &m, &[]);
    let mut served = m.clone();
    let wrong = Patch::make(&m[0].name, &v[0], &v[2]);
    served[0].gz = wrong.gz.clone();
    publish_with_pdiff(&w, &v[3], 3, index.clone(), served);
    std::fs::remove_file(w.full_xz()).unwrap();
    let err = w.sync_fails(&[]);
    assert!(
        err.contains(&format!("{}.gz", m[0].name))
            && err.contains(&sum(&wrong.gz).0)
            && err.contains(&sum(&m[0].gz).0),
        "{err}"
    );
    assert_eq!(
        w.state(),
        before,
        "a failed suite must not change the store"
    );

    // The .gz matches its Download entry but the patch inside is not the
    // one the Index lists (Patches entry).
    let mut swapped = m.clone();
    swapped[0].gz = wrong.gz.clone();
    publish_with_pdiff(&w, &v[3], 3, diff_index(&v[3], &swapped, &[]), swapped);
    std::fs::remove_file(w.full_xz()).unwrap();
    let err = w.sync_fails(&[]);
    assert!(
        err.contains(&m[0].name) && err.contains("uncompressed patch"),
        "{err}"
    );
    assert_eq!(w.state(), before);

    // With the full file present the bad patch is discarded for it.
    publish_with_pdiff(&w, &v[3], 3, index, {
        let mut s = m.clone();
        s[0].gz = wrong.gz;
        s
    });
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "full:xz", "{report}");
    w.assert_in_force(&v[3], 2);
}

#[test]
fn chain_longer_than_the_limits_means_a_full_download() {
    let w = World::new();
    let v0 = real_security_packages();
    start_at_v0(&w, std::slice::from_ref(&v0));

    // 20 archive runs of 150 new packages each: every patch is small, but
    // together they are larger than the full Packages.xz, which apt's
    // SizeLimit (100 % of the full file; FileLimit is unlimited by default)
    // turns into a full download.
    let runs = 20;
    let pool = stanzas(&v0);
    let mut states = vec![v0];
    for i in 0..runs + 2 {
        let next = append_packages(states.last().unwrap(), &pool, 10 + i, 150);
        states.push(next);
    }
    let all = steps(&states, 0..runs + 2);
    let chain = all[..runs].to_vec();
    let target = &states[runs];
    let target_xz = xz(target);
    let xz_size = target_xz.len() as u64;
    let patch_bytes: u64 = chain.iter().map(|p| p.gz.len() as u64).sum();
    let biggest = chain.iter().map(|p| p.gz.len()).max().unwrap() as u64;
    let numbers = format!(
        "{runs} patches, {patch_bytes} bytes in all (largest {biggest}), full Packages.xz {xz_size} bytes"
    );
    eprintln!("{numbers}");
    assert!(patch_bytes > xz_size && biggest * 10 < xz_size, "{numbers}");
    w.publish(Publication {
        suite: SUITE,
        date: date(30),
        packages: target,
        packages_xz: Some(&target_xz),
        pdiff: Some((diff_index(target, &[], &chain), chain)),
        by_hash: false,
    });
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "full:xz", "{report}");
    w.assert_in_force(target, 2);

    // The same chain two runs further: from where the store now is, two
    // patches are well under the limit and are used.
    let target = &states[runs + 2];
    publish_with_pdiff(&w, target, 32, diff_index(target, &[], &all), all);
    std::fs::remove_file(w.full_xz()).unwrap();
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "pdiff:2", "{report}");
    w.assert_in_force(target, 3);
}

#[test]
fn by_hash_name_is_used_when_the_canonical_file_is_gone() {
    let w = World::new();
    let v0 = real_security_packages();
    let v0_xz = xz(&v0);
    w.publish(Publication {
        suite: SUITE,
        date: date(0),
        packages: &v0,
        packages_xz: Some(&v0_xz),
        pdiff: None,
        by_hash: true,
    });
    let by_hash: &Path = &w.mirror.binary(SUITE, "by-hash/SHA256");
    assert!(by_hash.join(sum(&v0_xz).0).exists());
    std::fs::remove_file(w.full_xz()).unwrap();
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "full:xz:by-hash", "{report}");
    let index = w.last_index();
    assert_eq!(index["method"], "full:xz:by-hash");
    assert_eq!(index["blob_path"], format!("{BINARY}/Packages.xz"));
    w.assert_in_force(&v0, 1);

    // The by-hash copy is checked like any other: a wrong one is refused.
    let v1 = evolve(&v0, 1, 97, 61, 3);
    let v1_xz = xz(&v1);
    w.publish(Publication {
        suite: SUITE,
        date: date(1),
        packages: &v1,
        packages_xz: Some(&v1_xz),
        pdiff: None,
        by_hash: true,
    });
    let before = w.state();
    std::fs::remove_file(w.full_xz()).unwrap();
    let bad_copy = by_hash.join(sum(&v1_xz).0);
    std::fs::write(&bad_copy, &v0_xz).unwrap();
    let err = w.sync_fails(&[]);
    assert!(
        err.contains(&format!("by-hash/SHA256/{}", sum(&v1_xz).0)),
        "{err}"
    );
    assert_eq!(w.state(), before);

    // With the canonical file back, it is used instead of the bad copy.
    std::fs::write(w.full_xz(), &v1_xz).unwrap();
    let report = w.sync_ok(&[]);
    assert_eq!(report["methods"][0], "full:xz", "{report}");
    w.assert_in_force(&v1, 2);
}

#[test]
fn older_release_is_refused_unless_the_downgrade_is_allowed_and_recorded() {
    let w = World::new();
    let v0 = real_security_packages();
    let v0_xz = xz(&v0);
    let publish = |day| {
        w.publish(Publication {
            suite: SUITE,
            date: date(day),
            packages: &v0,
            packages_xz: Some(&v0_xz),
            pdiff: None,
            by_hash: false,
        })
    };
    publish(5);
    w.sync_ok(&[]);
    let before = w.state();

    // The same Release re-signed with an earlier Date (a replayed or
    // rolled-back mirror).
    publish(2);
    let err = w.sync_fails(&[]);
    assert!(
        err.contains("Date") && err.contains("rollback") && err.contains("--allow-downgrade"),
        "{err}"
    );
    assert_eq!(w.state(), before);

    let report = w.sync_ok(&["--allow-downgrade"]);
    assert_eq!(report["accepted_downgrade"], true, "{report}");
    let gens = w.generations();
    assert_eq!(gens.len(), 2);
    assert_eq!(gens[0]["accepted_downgrade"], false);
    assert_eq!(gens[1]["accepted_downgrade"], true);
    assert_eq!(gens[1]["date"], date(2).to_string());
    assert_eq!(gens[1]["indexes"][0]["method"], "unchanged");
    w.verify_all();
}
