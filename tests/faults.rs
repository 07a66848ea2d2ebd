//! Fault injection through the real binary.
//!
//! `kill -9` at seeded random points of the four write operations (`sync`,
//! `plan --write`, `build record`, and the promotion flow `snapshot create`
//! / `promote` / `test record`), each followed by a reopen of the store and
//! its invariants: `audit verify` intact, `mirror verify` for syncs, no
//! record a finished command committed is lost, a killed command's effect
//! is wholly there or wholly absent, and the next run of the command
//! succeeds. Then a full disk during `sync`, on a small tmpfs.
//!
//! Concurrent writers and `check` during a sync are covered by `sync.rs`
//! and `sync_crash.rs`.
//!
//! The fleet is small (four bookworm images, bookworm-updates and
//! bookworm-security), so each command takes a fraction of a second; the
//! kill points are seeded fractions of each command's duration, measured
//! on unkilled runs and followed as the machine's load changes (like
//! `sync_crash.rs`). The seed is printed; `DEBFLEET_FAULTS_SEED=N` replays
//! another one.

mod common;
mod testmirror;

use common::bounded::{RUN_LIMIT, Run};
use common::*;
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use testmirror::*;

/// The fleet's images (from `testdata/fleet/images`), all on bookworm.
const IMAGES: [&str; 4] = [
    "cache/memcached-b2840.yaml",
    "web/php8.2-fpm-cms-b2397.yaml",
    "teams/data/cache/redis-7-jemalloc-b1978.yaml",
    "databases/postgresql-15-b2271.yaml",
];

/// The Debian keyrings whose keys signed bookworm-updates and
/// bookworm-security (the test key is added beside them).
const DEBIAN_KEYRINGS: [&str; 2] = [
    "debian-archive-bookworm-automatic.gpg",
    "debian-archive-bookworm-security-automatic.gpg",
];

/// Kill points in total, spread evenly over the four operations.
const KILLS: usize = 100;
const DEFAULT_SEED: u64 = 0xfa17_5eed_0008;

/// The clock of the first round; every round moves it by a minute.
const START: &str = "2026-11-27T12:00:00Z";

/// How often a spawned command is polled while waiting for its kill point.
const POLL: Duration = Duration::from_millis(1);

/// A command started and killed at its kill point (unless it exited first).
struct Killed {
    /// The process was still running at the kill point and got SIGKILL.
    killed: bool,
    /// How the process ended on its own, and after how long.
    exited: Option<(ExitStatus, Duration)>,
    stderr: String,
}

/// Waits for `child` within [`RUN_LIMIT`] of `started`.
fn wait_bounded(child: &mut Child, started: Instant, what: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A test world: a copy of two bookworm suites, the test signing key, a
/// fleet of four images and its store.
struct World {
    dir: tempfile::TempDir,
    signer: Signer,
    /// bookworm-security: Debian's, then alternating with a variant under
    /// a newer Date, re-signed with the test key.
    security: AlternatingSuite,
    /// Manifest file name -> its original text.
    originals: BTreeMap<String, String>,
    /// Manifest file name -> image name.
    images: BTreeMap<String, String>,
}

impl World {
    fn new() -> World {
        let signer = Signer::new();
        let dir = tempfile::tempdir().unwrap();
        copy_suites("debian", &["bookworm-updates"], &dir.path().join("mirror"));
        copy_suites(
            "debian-security",
            &["bookworm-security"],
            &dir.path().join("mirror"),
        );
        let mut keyring = Vec::new();
        for k in DEBIAN_KEYRINGS {
            keyring.extend(std::fs::read(testdata(&format!("keyrings/{k}"))).unwrap());
        }
        keyring.extend(std::fs::read(&signer.keyring).unwrap());
        std::fs::write(dir.path().join("keyring.gpg"), keyring).unwrap();
        let mut originals = BTreeMap::new();
        let mut images = BTreeMap::new();
        for image in IMAGES {
            let text = std::fs::read_to_string(testdata(&format!("fleet/images/{image}"))).unwrap();
            let name = Path::new(image)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let image = text
                .lines()
                .find_map(|l| l.strip_prefix("image: "))
                .unwrap()
                .trim()
                .to_string();
            images.insert(name.clone(), image);
            originals.insert(name, text);
        }
        let w = World {
            dir,
            signer,
            security: AlternatingSuite::load("debian-security", "bookworm-security"),
            originals,
            images,
        };
        w.write_fleet(&w.fleet());
        w
    }

    fn fleet(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.redb")
    }

    fn manifest(&self, file: &str) -> PathBuf {
        self.fleet().join("images").join(file)
    }

    /// Writes a fleet (fleet.yaml and the original manifests) into `at`.
    fn write_fleet(&self, at: &Path) {
        std::fs::create_dir_all(at.join("images")).unwrap();
        let mirror = self.dir.path().join("mirror");
        std::fs::write(
            at.join("fleet.yaml"),
            format!(
                "archives:\n  debian: {m}/debian\n  debian-security: {m}/debian-security\n\
                 keyring: {k}\nbases:\n  bookworm:\n    release: \"12\"\n    \
                 architectures: [amd64]\n    repositories:\n      \
                 - {{archive: debian, suite: bookworm-updates, components: [main]}}\n      \
                 - {{archive: debian-security, suite: bookworm-security, components: [main]}}\n\
                 manifests: images/*.yaml\n",
                m = mirror.display(),
                k = self.dir.path().join("keyring.gpg").display()
            ),
        )
        .unwrap();
        self.restore_manifests(at);
    }

    /// Puts the original manifests back into the fleet at `at`.
    fn restore_manifests(&self, at: &Path) {
        for (file, text) in &self.originals {
            std::fs::write(at.join("images").join(file), text).unwrap();
        }
    }

    fn publish(&self, state: usize) -> String {
        let inrelease = self
            .security
            .publish(&self.dir.path().join("mirror"), &self.signer, state);
        sum(&inrelease).0
    }

    fn command(&self, fleet: &Path, now: &str, rest: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_debfleet"));
        cmd.arg("--fleet")
            .arg(fleet)
            .arg("--state")
            .arg(self.state())
            .args(["--now", now, "--actor", "faults"])
            .args(rest)
            .env_remove("DEBFLEET_FLEET")
            .env_remove("DEBFLEET_STATE")
            .env_remove("DEBFLEET_ACTOR")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs debfleet on `fleet` to completion, output into files (no pipe
    /// can fill up).
    fn run_in(&self, fleet: &Path, now: &str, rest: &[&str]) -> Run {
        let out = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let err = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let started = Instant::now();
        let mut child = self
            .command(fleet, now, rest)
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let status = wait_bounded(&mut child, started, &format!("{rest:?}"));
        Run {
            status,
            elapsed: started.elapsed(),
            stdout: std::fs::read_to_string(out.path()).unwrap(),
            stderr: std::fs::read_to_string(err.path()).unwrap(),
        }
    }

    fn run(&self, now: &str, rest: &[&str]) -> Run {
        self.run_in(&self.fleet(), now, rest)
    }

    /// Runs `rest` with `--format json`; it must succeed (exit 0).
    fn json(&self, now: &str, rest: &[&str]) -> Value {
        let mut all = rest.to_vec();
        all.extend_from_slice(&["--format", "json"]);
        self.run(now, &all).ok(&format!("{rest:?}")).json()
    }

    /// Starts `rest` and kills it with SIGKILL `delay` after the start,
    /// unless it exits first.
    fn run_killed(&self, now: &str, rest: &[&str], delay: Duration) -> Killed {
        let err = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let mut child = self
            .command(&self.fleet(), now, rest)
            .stdout(Stdio::null())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        let mut exited = None;
        while spawned.elapsed() < delay {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some((status, spawned.elapsed()));
                break;
            }
            std::thread::sleep(delay.saturating_sub(spawned.elapsed()).min(POLL));
        }
        if exited.is_none() {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some((status, spawned.elapsed()));
            }
        }
        let killed = exited.is_none();
        if killed {
            // SIGKILL, like kill -9.
            child.kill().unwrap();
        }
        wait_bounded(&mut child, spawned, &format!("{rest:?}"));
        Killed {
            killed,
            exited,
            stderr: std::fs::read_to_string(err.path()).unwrap(),
        }
    }
}

/// What the test knows the store must hold: everything every finished
/// command (and every killed one whose effect landed) committed.
#[derive(Default)]
struct Model {
    /// Image -> the digests of its builds #1, #2, ...
    builds: BTreeMap<String, Vec<String>>,
    /// Snapshot name -> image -> build.
    snapshots: BTreeMap<String, BTreeMap<String, u64>>,
    /// Snapshot name -> how many test results it has.
    tests: BTreeMap<String, usize>,
    /// Image -> the build the testing stage runs.
    testing: BTreeMap<String, u64>,
    /// Ids of the sync generations.
    generations: BTreeSet<u64>,
    /// Image -> journal seqs of records about it, as finished commands
    /// reported them.
    seqs: BTreeMap<String, BTreeSet<u64>>,
    /// Image -> its `audit history` as last seen.
    history: BTreeMap<String, Vec<Value>>,
    /// Journal entries at the last `audit verify`.
    entries: u64,
    /// The SHA-256 of bookworm-security's InRelease in force.
    security_inrelease: String,
}

impl Model {
    fn add_seq_all(&mut self, seq: u64) {
        for s in self.seqs.values_mut() {
            s.insert(seq);
        }
    }

    /// The latest ok build of every image (what a snapshot freezes).
    fn latest(&self) -> BTreeMap<String, u64> {
        self.builds
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(i, b)| (i.clone(), b.len() as u64))
            .collect()
    }
}

/// The store as the commands show it.
struct Observed {
    builds: BTreeMap<String, Vec<String>>,
    snapshots: BTreeSet<String>,
    testing: BTreeMap<String, u64>,
    generations: BTreeSet<u64>,
}

/// Reopens the store and checks the invariants every state must keep:
/// the journal verifies, and every record of `model` is there. Returns what
/// the store shows, for the operation's own all-or-nothing checks.
fn check_store(w: &World, m: &mut Model, now: &str, ctx: &str, history_of: &[String]) -> Observed {
    let verify = w.run(now, &["audit", "verify", "--format", "json"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{ctx}: audit verify:\n{}\n{}",
        verify.stdout,
        verify.stderr
    );
    let v = verify.json();
    assert_eq!(v["broken"], Value::Null, "{ctx}: {v}");
    assert_eq!(v["indexes_checked"], true, "{ctx}: {v}");
    let entries = v["entries"].as_u64().unwrap();
    assert!(
        entries >= m.entries,
        "{ctx}: the journal lost entries ({} before, {entries} now)",
        m.entries
    );
    m.entries = entries;

    let mut builds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows: Vec<(String, u64, String)> = w
        .json(now, &["builds"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["image"].as_str().unwrap().to_string(),
                b["number"].as_u64().unwrap(),
                b["digest"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rows.sort();
    for (image, number, digest) in rows {
        let list = builds.entry(image.clone()).or_default();
        assert_eq!(
            number,
            list.len() as u64 + 1,
            "{ctx}: builds of {image} are not numbered 1, 2, ... without gaps"
        );
        list.push(digest);
    }
    for (image, digests) in &m.builds {
        let have = builds.get(image).map(Vec::as_slice).unwrap_or_default();
        assert!(
            have.len() >= digests.len() && have[..digests.len()] == digests[..],
            "{ctx}: committed builds of {image} lost or changed: expected {digests:?}, store has {have:?}"
        );
    }

    let snapshots: BTreeSet<String> = w
        .json(now, &["snapshot", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    for name in m.snapshots.keys() {
        assert!(snapshots.contains(name), "{ctx}: snapshot {name} lost");
    }

    let mut testing = BTreeMap::new();
    for row in w.json(now, &["status"]).as_array().unwrap() {
        if row["stage"] == "testing" {
            testing.insert(
                row["image"].as_str().unwrap().to_string(),
                row["build"].as_u64().unwrap(),
            );
        }
    }

    let generations: BTreeSet<u64> = w.json(now, &["mirror", "generations"])["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_u64().unwrap())
        .collect();
    assert!(
        generations.is_superset(&m.generations),
        "{ctx}: generations lost: had {:?}, store has {generations:?}",
        m.generations
    );

    for image in history_of {
        let history = w.json(now, &["audit", "history", image.as_str()]);
        let history = history.as_array().unwrap().clone();
        let before = m.history.get(image).cloned().unwrap_or_default();
        assert!(
            history.len() >= before.len() && history[..before.len()] == before[..],
            "{ctx}: the history of {image} changed or lost entries:\nbefore {before:?}\nnow {history:?}"
        );
        let seqs: BTreeSet<u64> = history.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let missing: Vec<&u64> = m.seqs[image].difference(&seqs).collect();
        assert!(
            missing.is_empty(),
            "{ctx}: records {missing:?} of {image} are missing from its history"
        );
        m.history.insert(image.clone(), history);
    }
    Observed {
        builds,
        snapshots,
        testing,
        generations,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Op {
    Sync,
    PlanWrite,
    BuildRecord,
    Promote,
}

/// Per operation: how the kills landed.
#[derive(Default)]
struct Tally {
    points: usize,
    killed: usize,
    exited_first: usize,
    /// Killed with nothing committed.
    before_commit: usize,
    /// Killed after its effect was committed (wholly).
    after_commit: usize,
    /// plan --write: killed with some manifests rewritten, others not.
    partial: usize,
    /// What was killed (promotion rounds): step -> count.
    steps: BTreeMap<&'static str, usize>,
}

/// Kill delays: a seeded fraction (0 to 105%) of the command's duration,
/// the median of its unkilled runs so far (neither one slow run on a loaded
/// machine nor one unusually quick run skews every later kill point).
struct Clock {
    durations: HashMap<&'static str, Vec<Duration>>,
}

impl Clock {
    fn note(&mut self, what: &'static str, run: &Run) {
        let runs = self.durations.entry(what).or_default();
        let at = runs.partition_point(|d| *d < run.elapsed);
        runs.insert(at, run.elapsed);
    }

    fn delay(&self, what: &'static str, permille: u32) -> Duration {
        let runs = &self.durations[what];
        runs[runs.len() / 2] * permille / 1000
    }
}

fn now_at(round: usize) -> String {
    let start: Timestamp = START.parse().unwrap();
    (start + SignedDuration::from_mins(round as i64)).to_string()
}

/// The SHA-256 of bookworm-security's in-force InRelease and its record count.
fn security_in_force(w: &World, now: &str) -> (String, u64) {
    let status = w.json(now, &["mirror", "status"]);
    let suite = status["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["suite"] == "debian-security/bookworm-security")
        .unwrap()
        .clone();
    let gens = w.json(now, &["mirror", "generations"]);
    let generation = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == suite["generation"])
        .unwrap()
        .clone();
    (
        generation["inrelease_sha256"].as_str().unwrap().to_string(),
        suite["packages"].as_u64().unwrap(),
    )
}

fn mirror_verify(w: &World, now: &str, args: &[&str], ctx: &str) {
    let mut all = vec!["mirror", "verify"];
    all.extend_from_slice(args);
    let run = w.run(now, &all);
    assert!(
        run.status.success() && run.stdout.contains(" 0 failed"),
        "{ctx}: mirror verify {args:?} failed ({}):\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
}

/// A killed command that exited 0 on its own before the kill point must
/// have committed: `landed` says whether its effect is in the store.
fn assert_finished_landed(k: &Killed, landed: bool, ctx: &str) {
    if let Some((status, _)) = k.exited {
        if status.success() {
            assert!(
                landed,
                "{ctx}: the command exited 0 but its record is missing"
            );
        } else {
            panic!(
                "{ctx}: the command failed on its own ({status}):\n{}",
                k.stderr
            );
        }
    }
}

fn tally_kill(t: &mut Tally, k: &Killed, landed: bool) {
    t.points += 1;
    if k.killed {
        t.killed += 1;
        if landed {
            t.after_commit += 1;
        } else {
            t.before_commit += 1;
        }
    } else {
        t.exited_first += 1;
    }
}

#[test]
fn kill_9_at_random_points_of_every_write_operation_loses_nothing() {
    let seed = std::env::var("DEBFLEET_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("faults: seed {seed} (replay with DEBFLEET_FAULTS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let w = World::new();
    let scratch = w.dir.path().join("scratch-fleet");
    w.write_fleet(&scratch);
    let mut m = Model::default();
    let mut clock = Clock {
        durations: HashMap::new(),
    };
    let image_names: Vec<String> = w.images.values().cloned().collect();
    for image in &image_names {
        m.seqs.insert(image.clone(), BTreeSet::new());
        m.builds.insert(image.clone(), Vec::new());
    }
    let mut digests = 0u64;
    let mut next_digest = || {
        digests += 1;
        format!("sha256:{digests:064x}")
    };

    // Setup, unkilled: the first sync, a build of every image, a snapshot
    // (r000) promoted to testing and tested. Each run calibrates its
    // command.
    let now = now_at(0);
    m.security_inrelease = w.publish(0);
    let mut sync_state = 0;
    let run = w.run(&now, &["sync"]).ok("first sync");
    clock.note("sync", &run);
    for (file, image) in &w.images {
        let digest = next_digest();
        let manifest = w.manifest(file);
        let run = w
            .run(
                &now,
                &[
                    "build",
                    "record",
                    image.as_str(),
                    "--manifest",
                    manifest.to_str().unwrap(),
                    "--digest",
                    &digest,
                    "--format",
                    "json",
                ],
            )
            .ok("build record");
        clock.note("build", &run);
        m.seqs
            .get_mut(image)
            .unwrap()
            .insert(run.json()["seq"].as_u64().unwrap());
        m.builds.get_mut(image).unwrap().push(digest);
    }
    let latest = m.latest();
    for (step, args) in [
        (
            "snapshot",
            ["snapshot", "create", "--name", "r000"].as_slice(),
        ),
        ("promote", &["promote", "r000", "--to", "testing"]),
        (
            "test",
            &["test", "record", "r000", "--suite", "smoke", "--pass"],
        ),
    ] {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--format", "json"]);
        let run = w.run(&now, &a).ok(step);
        clock.note(step, &run);
        record_step(&mut m, step, "r000", &run.json(), &latest);
    }
    let obs = check_store(&w, &mut m, &now, "setup", &image_names);
    m.generations = obs.generations;

    // The new manifests `plan --write` makes from the originals, per mirror
    // state, computed on a scratch copy of the fleet.
    let mut planned: HashMap<usize, BTreeMap<String, String>> = HashMap::new();
    let mut plan_for = |w: &World, state: usize, now: &str, clock: &mut Clock| {
        planned
            .entry(state)
            .or_insert_with(|| {
                w.restore_manifests(&scratch);
                let run = w.run_in(&scratch, now, &["plan", "--write"]);
                assert!(
                    matches!(run.status.code(), Some(0 | 2)),
                    "plan --write on the scratch fleet: {}\n{}",
                    run.stdout,
                    run.stderr
                );
                clock.note("plan", &run);
                w.originals
                    .keys()
                    .map(|f| {
                        let text = std::fs::read_to_string(scratch.join("images").join(f));
                        (f.clone(), text.unwrap())
                    })
                    .collect()
            })
            .clone()
    };
    let first_plan = plan_for(&w, 0, &now, &mut clock);
    assert!(
        first_plan.iter().any(|(f, t)| w.originals[f] != *t),
        "plan --write must have manifests to rewrite"
    );

    let mut ops: Vec<Op> = [Op::Sync, Op::PlanWrite, Op::BuildRecord, Op::Promote]
        .iter()
        .flat_map(|op| std::iter::repeat_n(*op, KILLS / 4))
        .collect();
    ops.shuffle(&mut rng);
    let mut tallies: BTreeMap<Op, Tally> = BTreeMap::new();
    let mut interrupted_plan_writes = 0;
    let mut build_rounds = 0;
    for (round, op) in ops.iter().enumerate() {
        let now = now_at(round + 1);
        let permille: u32 = rng.random_range(0..1050);
        let history_of = [image_names[round % image_names.len()].clone()];
        let tally = tallies.entry(*op).or_default();
        match op {
            Op::Sync => {
                sync_state += 1;
                let old = m.security_inrelease.clone();
                let new = w.publish(sync_state);
                let ctx =
                    format!("round {round} (sync to state {sync_state}, kill at {permille}‰)");
                let k = w.run_killed(&now, &["sync"], clock.delay("sync", permille));
                let obs = check_store(&w, &mut m, &now, &ctx, &history_of);
                mirror_verify(&w, &now, &[], &ctx);
                let (in_force, records) = security_in_force(&w, &now);
                let landed = in_force == new;
                assert!(
                    landed || in_force == old,
                    "{ctx}: bookworm-security is neither the old nor the new InRelease"
                );
                let expected = count_records(w.security.packages(if landed {
                    sync_state
                } else {
                    sync_state - 1
                }));
                assert_eq!(records, expected, "{ctx}: a partial import is in force");
                let new_gens = obs.generations.difference(&m.generations).count();
                assert_eq!(
                    new_gens,
                    usize::from(landed),
                    "{ctx}: generations committed beside the one in force"
                );
                assert_finished_landed(&k, landed, &ctx);
                tally_kill(tally, &k, landed);
                // The next sync completes the work.
                let run = w.run(&now, &["sync"]).ok(&format!("{ctx}: the next sync"));
                if !landed {
                    clock.note("sync", &run);
                }
                let (in_force, records) = security_in_force(&w, &now);
                assert_eq!(
                    in_force, new,
                    "{ctx}: the next sync did not bring the new state"
                );
                assert_eq!(
                    records,
                    count_records(w.security.packages(sync_state)),
                    "{ctx}"
                );
                m.security_inrelease = new;
                let obs = check_store(&w, &mut m, &now, &ctx, &[]);
                m.generations = obs.generations;
            }
            Op::PlanWrite => {
                let new = plan_for(&w, sync_state, &now, &mut clock);
                w.restore_manifests(&w.fleet());
                let ctx = format!("round {round} (plan --write, kill at {permille}‰)");
                let k = w.run_killed(&now, &["plan", "--write"], clock.delay("plan", permille));
                check_store(&w, &mut m, &now, &ctx, &history_of);
                let (mut rewritten, mut to_rewrite) = (0, 0);
                for (file, original) in &w.originals {
                    let text = std::fs::read_to_string(w.manifest(file)).unwrap();
                    assert!(
                        text == *original || text == new[file],
                        "{ctx}: {file} is neither the old nor the new manifest:\n{text}"
                    );
                    if new[file] != *original {
                        to_rewrite += 1;
                        if text == new[file] {
                            rewritten += 1;
                        }
                    }
                }
                if let Some((status, _)) = k.exited {
                    assert!(
                        matches!(status.code(), Some(0 | 2)),
                        "{ctx}: plan --write failed on its own ({status}):\n{}",
                        k.stderr
                    );
                    assert_eq!(
                        rewritten, to_rewrite,
                        "{ctx}: plan --write finished but did not rewrite every manifest"
                    );
                }
                tally_kill(tally, &k, rewritten == to_rewrite);
                if k.killed && rewritten > 0 && rewritten < to_rewrite {
                    // Each manifest is replaced on its own: some were.
                    tally.before_commit -= 1;
                    tally.partial += 1;
                }
                // The next run rewrites the rest, and sees exactly the
                // fleet's manifests (no temporary file counted as one).
                let run = w.run(&now, &["plan", "--write", "--format", "json"]);
                assert!(
                    matches!(run.status.code(), Some(0 | 2)),
                    "{ctx}: the next plan --write failed:\n{}\n{}",
                    run.stdout,
                    run.stderr
                );
                if rewritten == 0 {
                    clock.note("plan", &run);
                }
                let listed: BTreeSet<String> = run.json()["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["image"].as_str().unwrap().to_string())
                    .collect();
                let expected: BTreeSet<String> = image_names.iter().cloned().collect();
                assert_eq!(listed, expected, "{ctx}: plan saw other manifests");
                for file in w.originals.keys() {
                    let text = std::fs::read_to_string(w.manifest(file)).unwrap();
                    assert_eq!(text, new[file], "{ctx}: {file} after the next plan --write");
                }
                // A kill between writing a temporary file and renaming it
                // leaves the temporary file (never read as a manifest); the
                // next `plan --write` removes it (its process is gone).
                for entry in std::fs::read_dir(w.fleet().join("images")).unwrap() {
                    let name = entry.unwrap().file_name();
                    let name = name.to_string_lossy();
                    assert!(
                        !name.contains(".debfleet-tmp."),
                        "{ctx}: the next plan --write left the temporary file {name}"
                    );
                }
                if k.killed && rewritten < to_rewrite {
                    interrupted_plan_writes += 1;
                }
            }
            Op::BuildRecord => {
                let (file, image) = w.images.iter().nth(build_rounds % w.images.len()).unwrap();
                build_rounds += 1;
                let manifest = w.manifest(file);
                let digest = next_digest();
                let n = m.builds[image].len();
                let ctx = format!("round {round} (build record {image}, kill at {permille}‰)");
                let args = |digest: &str| {
                    vec![
                        "build".to_string(),
                        "record".into(),
                        image.clone(),
                        "--manifest".into(),
                        manifest.to_str().unwrap().into(),
                        "--digest".into(),
                        digest.to_string(),
                        "--format".into(),
                        "json".into(),
                    ]
                };
                let a = args(&digest);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                let k = w.run_killed(&now, &a, clock.delay("build", permille));
                let obs = check_store(&w, &mut m, &now, &ctx, &history_of);
                let have = &obs.builds[image];
                assert!(
                    have.len() == n || have.len() == n + 1,
                    "{ctx}: {} builds of {image}, expected {n} or {}",
                    have.len(),
                    n + 1
                );
                let landed = have.len() == n + 1;
                if landed {
                    assert_eq!(
                        have[n],
                        digest,
                        "{ctx}: build #{} is not the killed one",
                        n + 1
                    );
                    m.builds.get_mut(image).unwrap().push(digest.clone());
                }
                for (other, list) in &obs.builds {
                    if other != image {
                        assert_eq!(
                            list.len(),
                            m.builds[other].len(),
                            "{ctx}: builds of {other}"
                        );
                    }
                }
                assert_finished_landed(&k, landed, &ctx);
                tally_kill(tally, &k, landed);
                // The next run records the build (again, if it landed).
                let digest = if landed { next_digest() } else { digest };
                let a = args(&digest);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                let run = w.run(&now, &a).ok(&format!("{ctx}: the next build record"));
                if !landed {
                    clock.note("build", &run);
                }
                let b = run.json();
                assert_eq!(
                    b["number"].as_u64(),
                    Some(m.builds[image].len() as u64 + 1),
                    "{ctx}"
                );
                m.seqs
                    .get_mut(image)
                    .unwrap()
                    .insert(b["seq"].as_u64().unwrap());
                m.builds.get_mut(image).unwrap().push(digest);
            }
            Op::Promote => {
                // New builds of every image, a snapshot of them, promoted to
                // testing, tested: one of the three steps is killed.
                for (file, image) in &w.images {
                    let digest = next_digest();
                    let manifest = w.manifest(file);
                    let b = w.json(
                        &now,
                        &[
                            "build",
                            "record",
                            image.as_str(),
                            "--manifest",
                            manifest.to_str().unwrap(),
                            "--digest",
                            &digest,
                        ],
                    );
                    m.seqs
                        .get_mut(image)
                        .unwrap()
                        .insert(b["seq"].as_u64().unwrap());
                    m.builds.get_mut(image).unwrap().push(digest);
                }
                let name = format!("r{:03}", round + 1);
                let target = match rng.random_range(0..4) {
                    0 => "snapshot",
                    3 => "test",
                    _ => "promote",
                };
                *tally.steps.entry(target).or_default() += 1;
                let ctx = format!("round {round} ({target} {name}, kill at {permille}‰)");
                let latest = m.latest();
                for step in ["snapshot", "promote", "test"] {
                    let mut a: Vec<&str> = match step {
                        "snapshot" => vec!["snapshot", "create", "--name", &name],
                        "promote" => vec!["promote", &name, "--to", "testing"],
                        _ => vec!["test", "record", &name, "--suite", "smoke", "--pass"],
                    };
                    if step != target {
                        a.extend_from_slice(&["--format", "json"]);
                        let run = w.run(&now, &a).ok(&format!("{ctx}: {step}"));
                        clock.note(step, &run);
                        record_step(&mut m, step, &name, &run.json(), &latest);
                        continue;
                    }
                    let k = w.run_killed(&now, &a, clock.delay(step, permille));
                    let obs = check_store(&w, &mut m, &now, &ctx, &history_of);
                    let landed = match step {
                        "snapshot" => {
                            let there = obs.snapshots.contains(&name);
                            if there {
                                let show = w.json(&now, &["snapshot", "show", &name]);
                                let images: BTreeMap<String, u64> = show["images"]
                                    .as_object()
                                    .unwrap()
                                    .iter()
                                    .map(|(i, v)| (i.clone(), v["build"].as_u64().unwrap()))
                                    .collect();
                                assert_eq!(images, latest, "{ctx}: the killed snapshot is partial");
                                m.snapshots.insert(name.clone(), images);
                                m.tests.insert(name.clone(), 0);
                            }
                            there
                        }
                        "promote" => {
                            let old = m.testing.clone();
                            let new = &m.snapshots[&name];
                            let switched = obs.testing == *new;
                            assert!(
                                switched || obs.testing == old,
                                "{ctx}: the killed promotion switched some images only: \
                                 testing runs {:?}, before {old:?}, snapshot {new:?}",
                                obs.testing
                            );
                            if switched {
                                m.testing = new.clone();
                            }
                            switched
                        }
                        _ => {
                            let show = w.json(&now, &["snapshot", "show", &name]);
                            let tests = show["tests"].as_array().unwrap().len();
                            let before = m.tests[&name];
                            assert!(
                                tests == before || tests == before + 1,
                                "{ctx}: {tests} test results, expected {before} or {}",
                                before + 1
                            );
                            if tests == before + 1 {
                                m.tests.insert(name.clone(), tests);
                                let seq = show["tests"][before]["seq"].as_u64().unwrap();
                                m.add_seq_all(seq);
                                true
                            } else {
                                false
                            }
                        }
                    };
                    assert_finished_landed(&k, landed, &ctx);
                    tally_kill(tally, &k, landed);
                    // The next run: a snapshot that landed is there (a new
                    // one would need another name); promote and test again.
                    if step == "snapshot" && landed {
                        continue;
                    }
                    a.extend_from_slice(&["--format", "json"]);
                    let run = w.run(&now, &a).ok(&format!("{ctx}: the next {step}"));
                    if !landed {
                        clock.note(step, &run);
                    }
                    let json = run.json();
                    if step == "promote" {
                        let promoted = json["promoted"].as_array().unwrap().len();
                        assert_eq!(
                            promoted,
                            if landed { 0 } else { w.images.len() },
                            "{ctx}: the next promote: {json}"
                        );
                    }
                    record_step(&mut m, step, &name, &json, &latest);
                }
                let obs = check_store(&w, &mut m, &now, &ctx, &[]);
                assert_eq!(
                    obs.testing, m.snapshots[&name],
                    "{ctx}: testing after the round"
                );
            }
        }
    }

    // Everything once more: every image's history, every generation.
    let now = now_at(KILLS + 1);
    check_store(&w, &mut m, &now, "the end", &image_names);
    mirror_verify(&w, &now, &["--all"], "the end");
    let mut summary = Vec::new();
    let mut killed = 0;
    for (op, t) in &tallies {
        killed += t.killed;
        let steps = if t.steps.is_empty() {
            String::new()
        } else {
            format!(
                " [killed step: {}]",
                t.steps
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let partial = if *op == Op::PlanWrite {
            format!(", {} with some manifests rewritten", t.partial)
        } else {
            String::new()
        };
        summary.push(format!(
            "{op:?}: {} points, {} killed ({} before commit, {} after commit{partial}), {} exited first{steps}",
            t.points, t.killed, t.before_commit, t.after_commit, t.exited_first
        ));
    }
    eprintln!(
        "faults: seed {seed}: {KILLS} kill points in {:.1?}: {}; {} journal entries, {} \
         generations; plan --write kills before every manifest was rewritten: {interrupted_plan_writes} (stale temporary files swept by the next run); \
         inconsistencies: 0",
        started.elapsed(),
        summary.join("; "),
        m.entries,
        m.generations.len()
    );
    assert!(
        killed >= KILLS / 2,
        "most commands must actually be killed ({killed} of {KILLS})"
    );
}

/// Records in `m` what a finished promotion-round step committed.
fn record_step(
    m: &mut Model,
    step: &str,
    name: &str,
    json: &Value,
    latest: &BTreeMap<String, u64>,
) {
    match step {
        "snapshot" => {
            let images: BTreeMap<String, u64> = json["images"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(i, v)| (i.clone(), v["build"].as_u64().unwrap()))
                .collect();
            assert_eq!(images, *latest, "snapshot {name}: {json}");
            m.snapshots.insert(name.to_string(), images);
            m.tests.insert(name.to_string(), 0);
            m.add_seq_all(json["seq"].as_u64().unwrap());
        }
        "promote" => {
            if let Some(seq) = json["seq"].as_u64() {
                m.add_seq_all(seq);
            }
            m.testing = m.snapshots[name].clone();
        }
        _ => {
            *m.tests.get_mut(name).unwrap() += 1;
            m.add_seq_all(json["seq"].as_u64().unwrap());
        }
    }
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on `dir`; the error says why not.
    fn mount(dir: &Path, kib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Grows (or shrinks) the mounted tmpfs, keeping its files.
    fn resize(&self, kib: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process left behind by a failed assertion):
            // detach it, so the temporary directory can go.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// A fleet over the bundled mirror slice: base bookworm over
/// bookworm-updates, plus bookworm-security with `security`.
fn disk_fleet(path: &Path, security: bool) {
    let mut yaml = format!(
        "archives:\n  debian: {}\n  debian-security: {}\nkeyring: {}\nbases:\n  bookworm:\n    \
         release: \"12\"\n    architectures: [amd64]\n    repositories:\n      \
         - {{archive: debian, suite: bookworm-updates, components: [main]}}\n",
        testdata("mirror/debian").display(),
        testdata("mirror/debian-security").display(),
        debian_keyring().display()
    );
    if security {
        yaml.push_str(
            "      - {archive: debian-security, suite: bookworm-security, components: [main]}\n",
        );
    }
    yaml.push_str("manifests: images/*.yaml\n");
    std::fs::create_dir_all(path.parent().unwrap().join("images")).unwrap();
    std::fs::write(path, yaml).unwrap();
}

fn run_on(fleet: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    with_state(fleet, state, NOW, args)
}

/// The suites in force (last_synced aside) and the generations.
fn disk_state(fleet: &Path, state: &Path) -> (Value, Value) {
    let status = run_on(fleet, state, &["mirror", "status", "--format", "json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let mut s = json(&status);
    for suite in s["suites"].as_array_mut().unwrap() {
        suite["last_synced"] = Value::Null;
    }
    let gens = run_on(fleet, state, &["mirror", "generations", "--format", "json"]);
    assert!(gens.status.success(), "{}", stderr(&gens));
    (s["suites"].clone(), json(&gens))
}

fn assert_store_verifies(fleet: &Path, state: &Path, ctx: &str) -> Value {
    let verify = run_on(fleet, state, &["mirror", "verify", "--all"]);
    assert!(
        verify.status.success() && stdout(&verify).contains(" 0 failed"),
        "{ctx}: mirror verify: {}{}",
        stdout(&verify),
        stderr(&verify)
    );
    let audit = run_on(fleet, state, &["audit", "verify", "--format", "json"]);
    assert_eq!(audit.status.code(), Some(0), "{ctx}: {}", stderr(&audit));
    let audit = json(&audit);
    assert_eq!(audit["broken"], Value::Null, "{ctx}: {audit}");
    audit
}

/// The failed sync's error names the cause and the store.
fn assert_no_space_error(o: &std::process::Output, state: &Path, ctx: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{ctx}: {}{}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(
        err.contains("No space left on device") && err.contains(&state.display().to_string()),
        "{ctx}: the error must say the disk is full and where: {err}"
    );
}

#[test]
fn sync_on_a_full_disk_fails_cleanly_and_keeps_the_previous_generation() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("fleet/small.yaml");
    let full = dir.path().join("fleet/fleet.yaml");
    disk_fleet(&small, false);
    disk_fleet(&full, true);
    let mnt = dir.path().join("mnt");
    // Both suites take about 2 MiB in the store (a 2.9 MB file, 1.9 MiB
    // of it allocated); bookworm-updates alone about 200 KiB.
    let probe = match Tmpfs::mount(&mnt, 1024) {
        Ok(t) => t,
        Err(why) => {
            eprintln!(
                "SKIP sync_on_a_full_disk_fails_cleanly_and_keeps_the_previous_generation: \
                 cannot mount a tmpfs to fill ({why}); this test needs root (or CAP_SYS_ADMIN)"
            );
            return;
        }
    };

    // 1. The very first sync runs out of space during the import: nothing
    // is committed. While the disk is full the unclean store cannot be
    // repaired, and says so; with room it opens, empty, and syncs.
    {
        let fs = probe;
        let state = mnt.join("state.redb");
        let o = run_on(&full, &state, &["sync"]);
        assert_no_space_error(&o, &state, "first sync on 1 MiB");
        let status = run_on(&full, &state, &["mirror", "status", "--format", "json"]);
        eprintln!(
            "full disk: after the failed first sync the store {} while the disk is full",
            if status.status.success() {
                "opens"
            } else {
                "cannot be repaired"
            }
        );
        if !status.status.success() {
            let err = stderr(&status);
            assert!(
                err.contains("could not be repaired")
                    && err.contains("No space left on device")
                    && err.contains("make room"),
                "a store that cannot be repaired must say why: {err}"
            );
        }
        fs.resize(16 * 1024);
        let (suites, _) = disk_state(&full, &state);
        for suite in suites.as_array().unwrap() {
            // Whatever was committed is whole (verified below).
            assert!(suite["packages"].as_u64().unwrap() > 0, "{suite}");
        }
        assert_store_verifies(&full, &state, "after the failed first sync");
        let o = run_on(&full, &state, &["sync"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (suites, _) = disk_state(&full, &state);
        assert_eq!(suites.as_array().unwrap().len(), 2, "{suites}");
        assert_store_verifies(&full, &state, "after the sync with room");
    }

    // 2. A first small sync fits; the next one, with a large suite more,
    // runs out of space. The store keeps the first generation, verifies,
    // and the sync completes with room: on the grown tmpfs, or on a copy
    // of the store on disk.
    for (kib, grow) in [(512, false), (1024, true)] {
        let fs = Tmpfs::mount(&mnt, kib).unwrap();
        let state = mnt.join("state.redb");
        let ctx = format!("{kib} KiB");
        let o = run_on(&small, &state, &["sync"]);
        assert!(o.status.success(), "{ctx}: first sync: {}", stderr(&o));
        let before = disk_state(&small, &state);
        let entries = assert_store_verifies(&small, &state, &ctx)["entries"].clone();
        let o = run_on(&full, &state, &["sync"]);
        assert_no_space_error(&o, &state, &ctx);
        assert_eq!(
            disk_state(&full, &state),
            before,
            "{ctx}: the failed sync changed the store"
        );
        let audit = assert_store_verifies(&full, &state, &format!("{ctx}, after the failed sync"));
        assert_eq!(audit["entries"], entries, "{ctx}: journal entries");
        let target = if grow {
            fs.resize(16 * 1024);
            state.clone()
        } else {
            let disk = dir.path().join("disk");
            std::fs::create_dir_all(&disk).unwrap();
            std::fs::copy(&state, disk.join("state.redb")).unwrap();
            disk.join("state.redb")
        };
        // The copy is on its own: the full tmpfs goes.
        let _mounted = if grow {
            Some(fs)
        } else {
            drop(fs);
            None
        };
        let o = run_on(&full, &target, &["sync"]);
        assert!(o.status.success(), "{ctx}: sync with room: {}", stderr(&o));
        let (suites, _) = disk_state(&full, &target);
        assert_eq!(suites.as_array().unwrap().len(), 2, "{ctx}: {suites}");
        assert_eq!(suites[1]["generation"], before.0[0]["generation"], "{ctx}");
        assert_store_verifies(&full, &target, &format!("{ctx}, after the sync with room"));
    }
}
