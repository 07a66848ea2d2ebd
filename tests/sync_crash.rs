//! Crash safety of `debfleet sync`, by killing real processes: a sync killed
//! with SIGKILL at any point must leave a store that opens, re-verifies
//! offline, and is brought up to date by the next sync; and `check` run
//! while a sync writes must always see one consistent set of generations.
//!
//! The mirror is a copy of the bundled slice: bookworm-updates,
//! bookworm-security and trixie-security with their real Debian signatures
//! (about 5,600 packages: a real import, yet short enough for many killed
//! runs of a debug build; bookworm's 63,000 packages take half a minute per
//! sync there). To give every sync something to write, bookworm-security
//! then alternates between its real `Packages` and a variant made by a
//! real-looking archive run (about a third of the packages rebuilt, some
//! removed, some added), each state published with a newer Date and
//! re-signed with a throwaway key (see `testmirror`) that the fleet's
//! keyring holds next to Debian's.
//!
//! Timing: the kill points are seeded fractions of the duration of a sync,
//! measured first and then followed as the machine's load changes; the
//! fractions are reproducible, the exact instruction a kill lands on is not.

mod common;
mod testmirror;

use common::bounded::{RUN_LIMIT, Run};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testmirror::*;

/// The suites that alternate, with their archive.
const ALTERNATING: [(&str, &str); 1] = [("debian-security", "bookworm-security")];
/// Suites that stay as published by Debian (imported by the first sync).
const CONSTANT: [(&str, &str); 2] = [
    ("debian", "bookworm-updates"),
    ("debian-security", "trixie-security"),
];
/// The Debian keyrings whose keys signed the suites above (the combined
/// archive keyring would do too, but costs more to load).
const DEBIAN_KEYRINGS: [&str; 2] = [
    "debian-archive-bookworm-automatic.gpg",
    "debian-archive-bookworm-security-automatic.gpg",
];

/// How often a spawned sync is polled while waiting for its kill point.
const POLL: Duration = Duration::from_millis(2);

/// A test world: key, mirror copy, combined keyring, fleet.
struct World {
    signer: Signer,
    dir: tempfile::TempDir,
    suites: Vec<AlternatingSuite>,
}

impl World {
    fn new(images: &[&str]) -> World {
        let signer = Signer::new();
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("mirror");
        for (archive, suite) in CONSTANT.iter().chain(&ALTERNATING) {
            copy_suites(archive, &[suite], &mirror);
        }
        // Debian's keys and the test key in one keyring file.
        let mut keyring = Vec::new();
        for k in DEBIAN_KEYRINGS {
            keyring.extend(std::fs::read(testdata(&format!("keyrings/{k}"))).unwrap());
        }
        keyring.extend(std::fs::read(&signer.keyring).unwrap());
        std::fs::write(dir.path().join("keyring.gpg"), keyring).unwrap();
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        std::fs::write(
            fleet.join("fleet.yaml"),
            format!(
                "archives:\n  debian: {m}/debian\n  debian-security: {m}/debian-security\n\
                 keyring: {k}\nbases:\n  bookworm:\n    release: \"12\"\n    \
                 architectures: [amd64]\n    repositories:\n      \
                 - {{archive: debian, suite: bookworm-updates, components: [main]}}\n      \
                 - {{archive: debian-security, suite: bookworm-security, components: [main]}}\n  \
                 trixie:\n    release: \"13\"\n    architectures: [amd64]\n    repositories:\n      \
                 - {{archive: debian-security, suite: trixie-security, components: [main]}}\n\
                 manifests: images/*.yaml\n",
                m = mirror.display(),
                k = dir.path().join("keyring.gpg").display()
            ),
        )
        .unwrap();
        for image in images {
            let from = testdata(&format!("fleet/images/{image}"));
            let name = Path::new(image).file_name().unwrap();
            std::fs::copy(from, fleet.join("images").join(name)).unwrap();
        }
        let suites = ALTERNATING
            .iter()
            .map(|(a, s)| AlternatingSuite::load(a, s))
            .collect();
        World {
            signer,
            dir,
            suites,
        }
    }

    fn fleet(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    fn mirror(&self) -> PathBuf {
        self.dir.path().join("mirror")
    }

    /// Publishes `state` for every alternating suite; returns their InReleases.
    fn publish(&self, state: usize) -> Vec<Vec<u8>> {
        self.suites
            .iter()
            .map(|s| s.publish(&self.mirror(), &self.signer, state))
            .collect()
    }

    /// Arguments for a debfleet run on the fleet (optionally another store).
    fn args(&self, state: Option<&str>, rest: &[&str]) -> Vec<String> {
        let mut all = vec![
            "--fleet".to_string(),
            self.fleet().display().to_string(),
            "--now".to_string(),
            NOW.to_string(),
        ];
        if let Some(s) = state {
            all.extend(["--state".to_string(), s.to_string()]);
        }
        all.extend(rest.iter().map(|s| s.to_string()));
        all
    }

    /// Starts debfleet without waiting; its stderr goes to the returned file.
    fn spawn(&self, rest: &[&str]) -> (Child, tempfile::NamedTempFile) {
        let stderr = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_debfleet"))
            .args(self.args(None, rest))
            .env_remove("DEBFLEET_FLEET")
            .env_remove("DEBFLEET_STATE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        (child, stderr)
    }

    /// Runs debfleet to completion within [`RUN_LIMIT`].
    fn run(&self, state: Option<&str>, rest: &[&str]) -> Run {
        run_bounded(
            Command::new(env!("CARGO_BIN_EXE_debfleet"))
                .args(self.args(state, rest))
                .env_remove("DEBFLEET_FLEET")
                .env_remove("DEBFLEET_STATE"),
            self.dir.path(),
        )
    }
}

/// Runs `cmd` with output to files (no pipe can fill up), killing it and
/// failing the test if it outlives [`RUN_LIMIT`].
fn run_bounded(cmd: &mut Command, scratch: &Path) -> Run {
    let out = tempfile::NamedTempFile::new_in(scratch).unwrap();
    let err = tempfile::NamedTempFile::new_in(scratch).unwrap();
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: std::fs::read_to_string(out.path()).unwrap(),
        stderr: std::fs::read_to_string(err.path()).unwrap(),
        elapsed: started.elapsed(),
    }
}

/// Asserts that the store holds every suite of the fleet, the alternating
/// ones at mirror state `state` (their in-force generation carries exactly
/// the published InRelease and as many records as its Packages has stanzas).
fn assert_in_force(w: &World, inreleases: &[Vec<u8>], state: usize, context: &str) {
    let status = w
        .run(None, &["mirror", "status", "--format", "json"])
        .ok("status");
    let gens = w
        .run(None, &["mirror", "generations", "--format", "json"])
        .ok("generations")
        .json();
    let gens = gens["generations"].as_array().unwrap();
    let status = status.json();
    let suites = status["suites"].as_array().unwrap();
    let in_force = |key: &str| -> (&Value, &Value) {
        let s = suites
            .iter()
            .find(|s| s["suite"] == key)
            .unwrap_or_else(|| panic!("{context}: {key} missing from the store: {status}"));
        let g = gens
            .iter()
            .find(|g| g["id"] == s["generation"])
            .unwrap_or_else(|| panic!("{context}: {key}'s generation is not recorded"));
        (s, g)
    };
    for (archive, suite) in CONSTANT {
        in_force(&format!("{archive}/{suite}"));
    }
    for (data, inrelease) in w.suites.iter().zip(inreleases) {
        let key = format!("{}/{}", data.archive, data.suite);
        let (s, g) = in_force(&key);
        assert_eq!(
            g["inrelease_sha256"],
            sum(inrelease).0,
            "{context}: {key} is not at mirror state {state}"
        );
        let expected = count_records(data.packages(state));
        assert_eq!(s["packages"].as_u64(), Some(expected), "{context}: {key}");
        assert_eq!(g["indexes"][0]["packages"].as_u64(), Some(expected));
    }
}

/// Fails with the report when `verify` does not pass.
fn verify(w: &World, args: &[&str], context: &str) -> Run {
    let mut all = vec!["mirror", "verify"];
    all.extend_from_slice(args);
    let run = w.run(None, &all);
    assert!(
        run.status.success() && run.stdout.contains(" 0 failed"),
        "{context}: mirror verify {args:?} failed ({}):\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn sync_killed_at_random_points_never_leaves_an_inconsistent_store() {
    // 5 rounds of 3: each round starts from an empty store (a full import
    // of three suites), then publishes 2 new states of bookworm-security.
    // (Short rounds keep `verify --all` cheap and give the large import
    // transactions as many kills as the updates.)
    const ROUNDS: usize = 5;
    const ROUND: usize = 3;
    const SEED: u64 = 0x5eed_debf_1ee7;
    let w = World::new(&[]);
    let store = w.fleet().join(".debfleet/state.redb");

    // Measure a sync from an empty store (on a scratch store, so the real
    // one starts empty). An update of one suite costs about as much (the
    // estimates follow the syncs that finish, below).
    let scratch = w.dir.path().join("scratch.redb");
    w.publish(0);
    let calibration = w
        .run(Some(scratch.to_str().unwrap()), &["sync"])
        .ok("calibration sync")
        .elapsed;
    let (mut full, mut update) = (calibration, calibration);

    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut killed, mut finished_first) = (0, 0);
    // Per kill: how many of the generations the sync had to write it
    // committed (0 = killed before its first commit).
    let mut committed_at_kill = Vec::new();
    let mut generations_before = 0;
    let mut kill_points = Vec::new();
    let (mut verifying, mut syncing) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    for i in 0..ROUNDS * ROUND {
        let state = i % ROUND;
        if state == 0 {
            generations_before = 0;
            for leftover in ["", ".d", ".writer"] {
                let p = PathBuf::from(format!("{}{leftover}", store.display()));
                let _ = std::fs::remove_file(&p);
                let _ = std::fs::remove_dir_all(&p);
            }
        }
        let inreleases = w.publish(state);
        // The kill point: a seeded fraction of the sync's duration (a
        // little past its end, so that "just finished" is covered too).
        let permille: u32 = rng.random_range(0..1050);
        let span = if state == 0 { full } else { update };
        let delay = span * permille / 1000;
        let (mut child, _stderr) = w.spawn(&["sync"]);
        let spawned = Instant::now();
        let mut exited = None;
        while exited.is_none() && spawned.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                exited = Some(spawned.elapsed());
            } else {
                std::thread::sleep((delay.saturating_sub(spawned.elapsed())).min(POLL));
            }
        }
        let was_killed = exited.is_none() && child.try_wait().unwrap().is_none();
        if was_killed {
            child.kill().unwrap();
            killed += 1;
        } else {
            finished_first += 1;
        }
        child.wait().unwrap();
        // A sync that finished measures how long one takes now (the load of
        // the machine changes, and other tests run beside this one).
        if let Some(took) = exited {
            if state == 0 {
                full = took;
            } else {
                update = took;
            }
        }
        kill_points.push(format!(
            "{}.{}%{}",
            permille / 10,
            permille % 10,
            if was_killed { "" } else { " (done)" }
        ));
        // Any failed assertion below is an inconsistent store: the test
        // stops there, with the iteration and kill point in the message.
        let context = format!("iteration {i} (state {state}, kill at {permille}‰ = {delay:.2?})");

        // The store as the crash left it: readable, and everything it
        // records re-verifies offline. (A kill before the store was created
        // leaves nothing to open.)
        if store.exists() {
            let status = w.run(None, &["mirror", "status", "--format", "json"]);
            assert!(
                status.status.success(),
                "{context}: status after the crash failed:\n{}",
                status.stderr
            );
            status.json();
            verifying += verify(&w, &["--all"], &context).elapsed;
            if was_killed {
                let gens = w.run(None, &["mirror", "generations", "--format", "json"]);
                let count = gens.ok("generations").json()["generations"]
                    .as_array()
                    .unwrap()
                    .len();
                committed_at_kill.push(format!(
                    "{}/{}",
                    count - generations_before,
                    if state == 0 { 3 } else { 1 }
                ));
            }
        } else {
            committed_at_kill.push(format!("no store/{}", if state == 0 { 3 } else { 1 }));
        }

        // The next sync completes the work and leaves every suite at the
        // published state.
        let sync = w.run(None, &["sync", "--format", "json"]);
        assert!(
            sync.status.success(),
            "{context}: the sync after the crash failed:\n{}\n{}",
            sync.stdout,
            sync.stderr
        );
        syncing += sync.elapsed;
        assert_in_force(&w, &inreleases, state, &context);
        generations_before += if state == 0 { 3 } else { 1 };
        if state == ROUND - 1 {
            // The round's store is dropped next: verify what is in force now.
            verifying += verify(&w, &[], &context).elapsed;
        }

        // A completing sync that had all the work to do measures a sync too.
        let report = sync.json();
        let updated = report["suites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "updated")
            .count();
        if state == 0 && updated == 3 {
            full = sync.elapsed;
        } else if state > 0 && updated == 1 {
            update = sync.elapsed;
        }
    }
    verify(&w, &["--all"], "after the last iteration");
    eprintln!(
        "{} iterations in {:.1?} ({verifying:.1?} verifying, {syncing:.1?} completing syncs): \
         {killed} killed, {finished_first} finished before the kill point, every store \
         consistent; full sync measured {calibration:.2?}; kill points: {}; \
         generations committed when killed: {}",
        ROUNDS * ROUND,
        started.elapsed(),
        kill_points.join(", "),
        committed_at_kill.join(", ")
    );
    assert!(
        killed >= ROUNDS * ROUND * 2 / 3,
        "most syncs must actually be killed ({killed} of {})",
        ROUNDS * ROUND
    );
}

#[test]
fn check_during_a_sync_sees_one_consistent_generation_set() {
    let w = World::new(&[
        "databases/postgresql-15-b2271.yaml",
        "cache/memcached-b2840.yaml",
        "web/php8.2-fpm-cms-b2397.yaml",
        "teams/data/cache/redis-7-jemalloc-b1978.yaml",
    ]);
    w.publish(0);
    w.run(None, &["sync"]).ok("first sync");
    let check = |what: &str| -> Value {
        let run = w.run(None, &["check", "--format", "json"]);
        assert!(
            matches!(run.status.code(), Some(0 | 2)),
            "{what}: check exited {}:\n{}\n{}",
            run.status,
            run.stdout,
            run.stderr
        );
        run.json()
    };
    let before = check("before the sync");

    // The sync to state 1 of bookworm-security (the only alternating suite:
    // one write transaction) runs while check runs again and again.
    w.publish(1);
    let (mut sync, sync_stderr) = w.spawn(&["sync"]);
    let mut during = Vec::new();
    let started = Instant::now();
    loop {
        let sync_running = sync.try_wait().unwrap().is_none();
        if !sync_running {
            break;
        }
        assert!(started.elapsed() < RUN_LIMIT, "the sync does not finish");
        during.push(check("during the sync"));
    }
    let status = sync.wait().unwrap();
    assert!(
        status.success(),
        "the concurrent sync failed ({status}): {}",
        std::fs::read_to_string(sync_stderr.path()).unwrap()
    );
    let after = check("after the sync");
    let generations = |v: &Value| -> Vec<(String, u64)> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["suite"].as_str().unwrap().to_string(),
                    d["generation"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_ne!(
        generations(&before),
        generations(&after),
        "the sync must change the generations in force"
    );
    assert_ne!(
        before["images"], after["images"],
        "the sync must change results"
    );
    assert!(!during.is_empty(), "no check ran during the sync");
    let (mut saw_before, mut saw_after) = (0, 0);
    for (n, report) in during.iter().enumerate() {
        // Each report is wholly the store before or after the sync: its
        // generation set and the results computed from it.
        if *report == before {
            saw_before += 1;
        } else if *report == after {
            saw_after += 1;
        } else {
            panic!(
                "check #{n} during the sync is neither the state before nor after it:\n\
                 generations {:?} (before {:?}, after {:?}); its data section equals \
                 before's: {}, after's: {}; its results equal before's: {}, after's: {}",
                generations(report),
                generations(&before),
                generations(&after),
                report["data"] == before["data"],
                report["data"] == after["data"],
                report["images"] == before["images"],
                report["images"] == after["images"],
            );
        }
    }
    eprintln!(
        "{} checks during a {:?} sync: {saw_before} saw the old generations, {saw_after} the new",
        during.len(),
        started.elapsed()
    );
}
