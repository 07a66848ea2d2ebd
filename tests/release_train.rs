//! The release train end to end, through the binary, over two weeks of
//! simulated time (`--now`): syncs of the bundled trixie suites, builds of
//! two images (one failed), weekly snapshots, tests that pass and fail,
//! promotion to testing, a production promotion held for soak, one after
//! the soak, an expedited promotion, a rollback. Then every audit query's
//! answer is asserted, and `audit verify` must catch records altered
//! directly in the redb file (a journal entry, an index row).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

struct World {
    _dir: tempfile::TempDir,
    fleet: PathBuf,
    state: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        let w = World {
            state: dir.path().join("state.redb"),
            fleet,
            _dir: dir,
        };
        w.write_fleet(false);
        w
    }

    /// The fleet: base `trixie` over trixie-updates, plus trixie-security
    /// once `security` is set (so a later sync adds a generation).
    fn write_fleet(&self, security: bool) {
        let mut yaml = format!(
            "archives:\n  debian: {}\n  debian-security: {}\nkeyring: {}\nbases:\n  trixie:\n    release: \"13\"\n    architectures: [amd64]\n    repositories:\n      - {{archive: debian, suite: trixie-updates, components: [main]}}\n",
            testdata("mirror/debian").display(),
            testdata("mirror/debian-security").display(),
            debian_keyring().display()
        );
        if security {
            yaml.push_str(
                "      - {archive: debian-security, suite: trixie-security, components: [main]}\n",
            );
        }
        yaml.push_str("manifests: images/*.yaml\n");
        std::fs::write(self.fleet.join("fleet.yaml"), yaml).unwrap();
    }

    fn manifest(&self, image: &str, packages: &[(&str, &str)]) -> PathBuf {
        let mut text = format!("image: {image}\nbase: trixie\narchitecture: amd64\npackages:\n");
        for (p, v) in packages {
            text.push_str(&format!("  {p}: \"{v}\"\n"));
        }
        let path = self.fleet.join("images").join(format!("{image}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, now: &str, args: &[&str]) -> Output {
        let mut all = vec!["--actor", "release-bot"];
        all.extend_from_slice(args);
        common::with_state(&self.fleet, &self.state, now, &all)
    }

    fn ok(&self, now: &str, args: &[&str]) -> Output {
        let o = self.run(now, args);
        assert!(
            o.status.success(),
            "{args:?} failed:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    fn json(&self, now: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--format", "json"]);
        json(&self.run(now, &a))
    }
}

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const DIGEST_C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const DIGEST_D: &str = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
const DIGEST_E: &str = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn images_of(stage: &Value) -> Vec<(String, u64)> {
    stage["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["build"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn stage<'a>(at: &'a Value, name: &str) -> Option<&'a Value> {
    at["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
}

/// Runs the two weeks; returns the world for the audit assertions.
fn two_weeks() -> World {
    let w = World::new();
    // Day 0 (Wed 25 Nov): first sync, first builds.
    w.ok("2026-11-25T06:00:00Z", &["sync"]);
    let web1 = w.manifest(
        "web",
        &[
            ("libc6", "2.41-1"),
            ("openssl", "3.0.1-1"),
            ("nginx", "1.26-1"),
        ],
    );
    let db1 = w.manifest("db", &[("libc6", "2.41-1"), ("postgresql-17", "17.1-1")]);
    let b = w.json(
        "2026-11-25T07:00:00Z",
        &[
            "build",
            "record",
            "web",
            "--manifest",
            web1.to_str().unwrap(),
            "--digest",
            DIGEST_A,
        ],
    );
    assert_eq!(b["number"], 1);
    assert_eq!(b["actor"], "release-bot");
    let gens = b["generations"].as_object().unwrap();
    assert_eq!(gens.len(), 1, "{b}");
    let updates_gen = gens["debian/trixie-updates"].as_u64().unwrap();
    w.ok(
        "2026-11-25T07:05:00Z",
        &[
            "build",
            "record",
            "db",
            "--manifest",
            db1.to_str().unwrap(),
            "--digest",
            DIGEST_B,
        ],
    );

    // Day 1: the base gains trixie-security; sync adds its generation.
    w.write_fleet(true);
    w.ok("2026-11-26T06:00:00Z", &["sync"]);
    let web2 = w.manifest(
        "web",
        &[
            ("libc6", "2.41-1"),
            ("openssl", "3.0.2-1"),
            ("nginx", "1.26-1"),
        ],
    );
    let log = w.fleet.join("web2.log");
    std::fs::write(&log, "built web with openssl 3.0.2\n").unwrap();
    let b = w.json(
        "2026-11-26T07:00:00Z",
        &[
            "build",
            "record",
            "web",
            "--manifest",
            web2.to_str().unwrap(),
            "--digest",
            DIGEST_C,
            "--log",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(b["number"], 2);
    let gens = b["generations"].as_object().unwrap();
    assert_eq!(gens.len(), 2, "{b}");
    assert_eq!(gens["debian/trixie-updates"].as_u64().unwrap(), updates_gen);
    assert!(gens["debian-security/trixie-security"].as_u64().unwrap() > updates_gen);
    // db#2 fails (same manifest content: stored once).
    w.ok(
        "2026-11-26T07:10:00Z",
        &[
            "build",
            "record",
            "db",
            "--manifest",
            db1.to_str().unwrap(),
            "--result",
            "failed",
        ],
    );

    // Day 2 (Fri 27 Nov, ISO week 48): weekly snapshot, into testing.
    let s = w.json("2026-11-27T06:00:00Z", &["snapshot", "create"]);
    assert_eq!(s["name"], "2026-W48");
    assert_eq!(s["images"]["web"]["build"], 2);
    assert_eq!(
        s["images"]["db"]["build"], 1,
        "failed db#2 is not snapshotted: {s}"
    );
    let p = w.json(
        "2026-11-27T08:00:00Z",
        &["promote", "2026-W48", "--to", "testing"],
    );
    assert_eq!(p["promoted"].as_array().unwrap().len(), 2, "{p}");
    w.ok(
        "2026-11-27T09:00:00Z",
        &["test", "record", "2026-W48", "--suite", "smoke", "--pass"],
    );
    w.ok(
        "2026-11-27T10:00:00Z",
        &[
            "test", "record", "2026-W48", "--image", "web", "--suite", "full", "--pass",
        ],
    );
    w.ok(
        "2026-11-27T10:30:00Z",
        &[
            "test",
            "record",
            "2026-W48",
            "--image",
            "db",
            "--suite",
            "full",
            "--fail",
            "--note",
            "replication test timed out",
        ],
    );

    // Day 3: production is held (soak), nothing switches, nothing recorded.
    let held = w.run(
        "2026-11-28T08:00:00Z",
        &["promote", "2026-W48", "--to", "production"],
    );
    assert_eq!(code(&held), 2, "{}{}", stdout(&held), stderr(&held));
    let text = stdout(&held);
    assert!(text.contains("nothing promoted"), "{text}");
    assert!(
        text.contains("soak: in testing since 2026-11-27T08:00:00Z"),
        "{text}"
    );
    assert!(text.contains("replication test timed out"), "{text}");

    // Day 10 (Sat 5 Dec): after the soak web goes; db stays held (failed test).
    let p = w.json(
        "2026-12-05T08:00:00Z",
        &["promote", "2026-W48", "--to", "production"],
    );
    assert_eq!(p["promoted"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["promoted"][0]["image"], "web");
    assert_eq!(p["held"][0]["image"], "db");
    let reasons = p["held"][0]["reasons"].to_string();
    assert!(reasons.contains("\\\"full\\\" failed"), "{reasons}");
    assert!(!reasons.contains("soak"), "{reasons}");

    // Security rebuilds, week 49 snapshot, expedited to production.
    let web3 = w.manifest(
        "web",
        &[
            ("libc6", "2.41-1"),
            ("openssl", "3.0.3-1"),
            ("nginx", "1.26-1"),
        ],
    );
    let db3 = w.manifest("db", &[("libc6", "2.41-2"), ("postgresql-17", "17.1-1")]);
    w.ok(
        "2026-12-05T08:30:00Z",
        &[
            "build",
            "record",
            "web",
            "--manifest",
            web3.to_str().unwrap(),
            "--digest",
            DIGEST_D,
            "--reason",
            "CVE-2026-1234 fast-track",
        ],
    );
    w.ok(
        "2026-12-05T08:35:00Z",
        &[
            "build",
            "record",
            "db",
            "--manifest",
            db3.to_str().unwrap(),
            "--digest",
            DIGEST_E,
        ],
    );
    let s = w.json("2026-12-05T08:40:00Z", &["snapshot", "create"]);
    assert_eq!(s["name"], "2026-W49");
    assert_eq!(s["stored_entries"], 2, "both images changed: {s}");
    w.ok(
        "2026-12-05T09:00:00Z",
        &["promote", "2026-W49", "--to", "testing"],
    );
    w.ok(
        "2026-12-05T09:10:00Z",
        &["test", "record", "2026-W49", "--suite", "smoke", "--pass"],
    );
    let no_reason = w.run(
        "2026-12-05T10:00:00Z",
        &["promote", "2026-W49", "--to", "production", "--expedite"],
    );
    assert_eq!(code(&no_reason), 1);
    assert!(
        stderr(&no_reason).contains("--reason"),
        "{}",
        stderr(&no_reason)
    );
    let normal = w.run(
        "2026-12-05T10:00:00Z",
        &["promote", "2026-W49", "--to", "production"],
    );
    assert_eq!(code(&normal), 2, "without --expedite the soak holds");
    let p = w.json(
        "2026-12-05T10:00:00Z",
        &[
            "promote",
            "2026-W49",
            "--to",
            "production",
            "--expedite",
            "--reason",
            "CVE-2026-1234",
        ],
    );
    assert_eq!(p["expedite"], true);
    assert_eq!(p["promoted"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["held"].as_array().unwrap().len(), 0, "{p}");

    // Day 12: rollback of production to week 48 (needs a reason).
    let refused = w.run(
        "2026-12-07T12:00:00Z",
        &["promote", "2026-W48", "--to", "production"],
    );
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains("rollback"),
        "{}",
        stderr(&refused)
    );
    let p = w.json(
        "2026-12-07T12:00:00Z",
        &[
            "promote",
            "2026-W48",
            "--to",
            "production",
            "--reason",
            "openssl 3.0.3 breaks TLS clients",
        ],
    );
    assert_eq!(p["rollback"], true);
    assert_eq!(p["promoted"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["promoted"][0]["image"], "web");
    assert_eq!(p["promoted"][0]["build"], 2);
    assert_eq!(p["promoted"][0]["previous_build"], 3);
    w
}

#[test]
fn two_weeks_of_release_train_and_audit() {
    let w = two_weeks();
    let late = "2026-12-09T12:00:00Z";

    // status: what each stage runs now.
    let status = w.json(late, &["status"]);
    let rows: Vec<(String, String, u64, String)> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["stage"].as_str().unwrap().to_string(),
                r["image"].as_str().unwrap().to_string(),
                r["build"].as_u64().unwrap(),
                r["since"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "testing".into(),
                "db".into(),
                3,
                "2026-12-05T09:00:00Z".into()
            ),
            (
                "testing".into(),
                "web".into(),
                3,
                "2026-12-05T09:00:00Z".into()
            ),
            (
                "production".into(),
                "db".into(),
                3,
                "2026-12-05T10:00:00Z".into()
            ),
            (
                "production".into(),
                "web".into(),
                2,
                "2026-12-07T12:00:00Z".into()
            ),
        ]
    );
    assert_eq!(status[3]["digest"], DIGEST_C);

    // builds and build show (package diff from the previous build).
    let builds = w.json(late, &["builds", "web"]);
    assert_eq!(builds.as_array().unwrap().len(), 3);
    let show = w.json(late, &["build", "show", "web#2"]);
    assert_eq!(show["previous"], 1);
    assert_eq!(
        show["changes"],
        serde_json::json!([{"package": "openssl", "from": "3.0.1-1", "to": "3.0.2-1"}])
    );
    assert_eq!(show["log_sha256"].as_str().unwrap().len(), 64);
    let unknown = w.run(late, &["build", "show", "web#9"]);
    assert_eq!(code(&unknown), 1);
    assert!(
        stderr(&unknown).contains("#1, #2, #3"),
        "{}",
        stderr(&unknown)
    );

    // snapshots
    let list = w.json(late, &["snapshot", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let diff = w.json(late, &["snapshot", "diff", "2026-W48", "2026-W49"]);
    let rebuilt = diff["rebuilt"].as_array().unwrap();
    assert_eq!(rebuilt.len(), 2);
    let db = rebuilt.iter().find(|r| r["image"] == "db").unwrap();
    assert_eq!(
        (db["from_build"].as_u64(), db["to_build"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        db["changes"],
        serde_json::json!([{"package": "libc6", "from": "2.41-1", "to": "2.41-2"}])
    );
    let missing = w.run(late, &["snapshot", "show", "2026-W50"]);
    assert!(
        stderr(&missing).contains("2026-W48, 2026-W49"),
        "{}",
        stderr(&missing)
    );

    // audit at: production over time.
    let at = w.json(
        late,
        &[
            "audit",
            "at",
            "2026-11-28T00:00:00Z",
            "--stage",
            "production",
        ],
    );
    assert!(at["stages"].as_array().unwrap().is_empty(), "{at}");
    let at = w.json(
        late,
        &[
            "audit",
            "at",
            "2026-12-05T09:30:00Z",
            "--stage",
            "production",
        ],
    );
    let prod = stage(&at, "production").unwrap();
    assert_eq!(images_of(prod), vec![("web".to_string(), 2)]);
    assert_eq!(prod["images"][0]["packages"]["openssl"], "3.0.2-1");
    assert_eq!(prod["images"][0]["digest"], DIGEST_C);
    assert_eq!(prod["images"][0]["snapshot"], "2026-W48");
    let at = w.json(late, &["audit", "at", "2026-12-06T00:00:00Z"]);
    assert_eq!(
        images_of(stage(&at, "production").unwrap()),
        vec![("db".to_string(), 3), ("web".to_string(), 3)]
    );
    assert_eq!(
        images_of(stage(&at, "testing").unwrap()),
        vec![("db".to_string(), 3), ("web".to_string(), 3)]
    );
    let at = w.json(
        late,
        &["audit", "at", "2026-12-08", "--stage", "production"],
    );
    let prod = stage(&at, "production").unwrap();
    assert_eq!(
        images_of(prod),
        vec![("db".to_string(), 3), ("web".to_string(), 2)]
    );
    assert_eq!(prod["images"][0]["packages"]["libc6"], "2.41-2");

    // audit history of web.
    let history = w.json(late, &["audit", "history", "web"]);
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("build"), 3, "{kinds:?}");
    assert_eq!(count("snapshot"), 2, "{kinds:?}");
    assert_eq!(
        count("test"),
        3,
        "smoke x2 (all images) + full on web: {kinds:?}"
    );
    assert_eq!(count("promotion"), 5, "{kinds:?}");
    let seqs: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "ordered: {seqs:?}");
    let last = history.as_array().unwrap().last().unwrap();
    assert!(
        last["summary"].as_str().unwrap().contains("[rollback]"),
        "{last}"
    );
    assert_eq!(last["actor"], "release-bot");
    assert!(w.run(late, &["audit", "history", "nope"]).status.code() == Some(1));

    // who-had openssl in production, with versions and durations.
    let who = w.json(
        late,
        &["audit", "who-had", "openssl", "--stage", "production"],
    );
    let web = &who["images"][0];
    assert_eq!(who["images"].as_array().unwrap().len(), 1);
    assert_eq!(web["image"], "web");
    let versions = web["versions"].as_array().unwrap();
    assert_eq!(versions[0]["version"], "3.0.2-1");
    assert_eq!(
        versions[0]["intervals"],
        serde_json::json!([
            {"from": "2026-12-05T08:00:00Z", "to": "2026-12-05T10:00:00Z", "builds": [2]},
            {"from": "2026-12-07T12:00:00Z", "to": null, "builds": [2]}
        ])
    );
    // 2h + (9 Dec 12:00 - 7 Dec 12:00 = 48h)
    assert_eq!(versions[0]["seconds"], 50 * 3600);
    assert_eq!(versions[1]["version"], "3.0.3-1");
    assert_eq!(versions[1]["seconds"], 2 * 86400 + 2 * 3600);
    let who = w.json(
        late,
        &[
            "audit",
            "who-had",
            "openssl",
            "--stage",
            "production",
            "--version",
            ">= 3.0.3",
        ],
    );
    let v = &who["images"][0]["versions"];
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["version"], "3.0.3-1");
    // Without a stage: by build; db's failed build #2 does not count.
    let who = w.json(
        late,
        &[
            "audit",
            "who-had",
            "libc6",
            "--version",
            "<< 2.41-2",
            "--between",
            "2026-11-25",
            "2026-12-01",
        ],
    );
    let images: Vec<&str> = who["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, vec!["db", "web"]);
    assert_eq!(
        who["images"][0]["versions"][0]["intervals"],
        serde_json::json!([{"from": "2026-11-25T07:05:00Z", "to": null, "builds": [1]}])
    );
    assert_eq!(
        who["images"][0]["versions"][0]["seconds"],
        6 * 86400 - 7 * 3600 - 300
    );
    let none = w.json(late, &["audit", "who-had", "zlib1g"]);
    assert!(none["images"].as_array().unwrap().is_empty());
    assert_eq!(
        code(&w.run(late, &["audit", "who-had", "libc6", "--version", ">= "])),
        1
    );

    // verify: intact. Entries: 2 sync generations, 5 manifest versions,
    // 6 builds, 2 snapshots, 4 tests, 5 promotions, 2 overrides.
    let v = w.json(late, &["audit", "verify"]);
    assert_eq!(v["broken"], Value::Null, "{v}");
    assert_eq!(v["entries"], 26, "{v}");
    assert_eq!(v["generations_checked"], 2);
    assert_eq!(v["indexes_checked"], true);

    tamper_journal(&w.state);
    let after = w.run(late, &["audit", "verify"]);
    assert_eq!(code(&after), 2, "{}", stdout(&after));
    assert!(
        stdout(&after).contains("BROKEN at entry"),
        "{}",
        stdout(&after)
    );
    assert!(
        stdout(&after).contains("release_stage_current"),
        "{}",
        stdout(&after)
    );
}

/// The journal entry of build web#2, as the test's own redb reader sees it.
fn find_entry(db: &redb::Database, needle: &str) -> (u64, Vec<u8>) {
    use redb::{ReadableDatabase, ReadableTable};
    let txn = db.begin_read().unwrap();
    let t = txn.open_table(JOURNAL).unwrap();
    for row in t.iter().unwrap() {
        let (k, v) = row.unwrap();
        let bytes = v.value().to_vec();
        if String::from_utf8_lossy(&bytes).contains(needle) {
            return (k.value(), bytes);
        }
    }
    panic!("no journal entry contains {needle}");
}

const JOURNAL: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("journal");

/// Rewrites, in a copy of the store, the digest inside build web#2's entry
/// (same length, so the entry still decodes): verify must name the next
/// entry. Then, in the real store, points an index row elsewhere.
fn tamper_journal(state: &Path) {
    let copy = state.with_extension("copy.redb");
    std::fs::copy(state, &copy).unwrap();
    {
        let db = redb::Database::create(&copy).unwrap();
        let (seq, bytes) = find_entry(&db, DIGEST_C);
        let at = bytes
            .windows(DIGEST_C.len())
            .position(|w| w == DIGEST_C.as_bytes())
            .unwrap();
        let mut altered = bytes.clone();
        altered[at..at + DIGEST_A.len()].copy_from_slice(DIGEST_A.as_bytes());
        let txn = db.begin_write().unwrap();
        txn.open_table(JOURNAL)
            .unwrap()
            .insert(seq, altered.as_slice())
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let o = debfleet(&[
            "--state",
            copy.to_str().unwrap(),
            "audit",
            "verify",
            "--format",
            "json",
        ]);
        assert_eq!(code(&o), 2);
        let report = json(&o);
        assert_eq!(report["broken"]["seq"], seq + 1, "{report}");
        assert!(
            report["broken"]["problem"]
                .as_str()
                .unwrap()
                .contains(&format!("entry {seq} was altered")),
            "{report}"
        );
    }
    // An index row moved: production now "runs" web#3 per the index only.
    use redb::ReadableTable;
    let db = redb::Database::create(state).unwrap();
    let def: redb::TableDefinition<(&str, &str), (u64, i64, u64)> =
        redb::TableDefinition::new("release_stage_current");
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(def).unwrap();
        let (_, since, seq) = t.get(("production", "web")).unwrap().unwrap().value();
        t.insert(("production", "web"), (3, since, seq)).unwrap();
    }
    txn.commit().unwrap();
}
