//! The CVE fast-track end to end, through the binary, with `--now`: a
//! bookworm fleet of two real example images affected by the constructed
//! CVE-2099-1001 (openssl, fix in bookworm-security), baseline builds in
//! testing, then `security fasttrack` (plan, manifest rewrite, scripts),
//! fixing builds, `--promote` held at production for the expedite suite,
//! the smoke test recorded, `--promote` again to production. Asserts the
//! audit trail (`audit verify`, `audit history`), the exact durations of
//! `audit fix-latency`, and `security affected --stage` before and after.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

struct World {
    _dir: tempfile::TempDir,
    fleet: PathBuf,
    state: PathBuf,
}

const IMAGES: [&str; 2] = ["memcached-b2840", "php8.2-fpm-media-b1566"];
/// A bookworm image without packages: never affected, never fast-tracked.
const UNAFFECTED: &str = "scratch-marker-b2829";
const CVE: &str = "CVE-2099-1001";
const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST2: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        let yaml = format!(
            "archives:\n  debian: {}\n  debian-security: {}\nkeyring: {}\nbases:\n  bookworm:\n    release: \"12\"\n    architectures: [amd64]\n    repositories:\n      - {{archive: debian, suite: bookworm, components: [main]}}\n      - {{archive: debian, suite: bookworm-updates, components: [main]}}\n      - {{archive: debian-security, suite: bookworm-security, components: [main]}}\nmanifests: images/*.yaml\n",
            testdata("mirror/debian").display(),
            testdata("mirror/debian-security").display(),
            debian_keyring().display()
        );
        std::fs::write(fleet.join("fleet.yaml"), yaml).unwrap();
        for (dir, image) in [
            ("cache", IMAGES[0]),
            ("web", IMAGES[1]),
            ("misc", UNAFFECTED),
        ] {
            std::fs::copy(
                testdata(&format!("fleet/images/{dir}/{image}.yaml")),
                fleet.join("images").join(format!("{image}.yaml")),
            )
            .unwrap();
        }
        World {
            state: dir.path().join("state.redb"),
            fleet,
            _dir: dir,
        }
    }

    fn manifest(&self, image: &str) -> PathBuf {
        self.fleet.join("images").join(format!("{image}.yaml"))
    }

    fn run(&self, now: &str, args: &[&str]) -> Output {
        let mut all = vec!["--actor", "sec-bot"];
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

    /// Runs with `--format json`; asserts the exit code.
    fn json(&self, now: &str, args: &[&str], code: i32) -> Value {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--format", "json"]);
        let o = self.run(now, &a);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        json(&o)
    }

    fn build(&self, now: &str, image: &str, digest: &str, reason: &str) {
        self.ok(
            now,
            &[
                "build",
                "record",
                image,
                "--manifest",
                self.manifest(image).to_str().unwrap(),
                "--digest",
                digest,
                "--reason",
                reason,
            ],
        );
    }
}

fn affected_images(v: &Value) -> Vec<String> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fasttrack_to_production_with_the_audit_trail_and_fix_latency() {
    let w = World::new();
    w.ok("2026-11-27T06:00:00Z", &["sync"]);
    // Before any tracker data, the fast-track refuses with a hint.
    let o = w.run("2026-11-27T06:30:00Z", &["security", "fasttrack", CVE]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("security import"), "{}", stderr(&o));
    w.ok(
        "2026-11-27T07:00:00Z",
        &[
            "security",
            "import",
            testdata("security/constructed-fleet.json")
                .to_str()
                .unwrap(),
            "--data-time",
            "2026-11-27T05:00:00Z",
        ],
    );
    // Baseline: the current (vulnerable) manifests built and in testing.
    for image in IMAGES.into_iter().chain([UNAFFECTED]) {
        w.build("2026-11-27T07:10:00Z", image, DIGEST, "weekly");
    }
    w.ok(
        "2026-11-27T07:15:00Z",
        &["snapshot", "create", "--name", "baseline"],
    );
    w.ok(
        "2026-11-27T07:20:00Z",
        &["promote", "baseline", "--to", "testing"],
    );
    let in_testing = w.json(
        "2026-11-27T07:30:00Z",
        &["security", "affected", CVE, "--stage", "testing"],
        2,
    );
    assert_eq!(affected_images(&in_testing), IMAGES);
    let in_production = w.json(
        "2026-11-27T07:30:00Z",
        &["security", "affected", CVE, "--stage", "production"],
        0,
    );
    assert!(affected_images(&in_production).is_empty());
    let o = w.run(
        "2026-11-27T07:30:00Z",
        &["security", "affected", "--stage", "staging"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("testing, production"), "{}", stderr(&o));

    // Promote before any plan: an error naming the next step.
    let o = w.run(
        "2026-11-27T07:40:00Z",
        &["security", "fasttrack", CVE, "--promote"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("debfleet security fasttrack {CVE}")),
        "{}",
        stderr(&o)
    );

    // A fix that is not mirrored yet is listed as waiting, not planned.
    let waiting = w.json(
        "2026-11-27T07:50:00Z",
        &["security", "fasttrack", "CVE-2099-1002"],
        2,
    );
    assert!(waiting["images"].as_array().unwrap().is_empty());
    assert_eq!(waiting["seq"], Value::Null);
    let statuses: Vec<&str> = waiting["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["affected-fix-not-yet-mirrored"; 2]);

    // The plan: only libssl3 and openssl move, in both images.
    let scripts = w.fleet.join("plans");
    let plan = w.json(
        "2026-11-27T08:00:00Z",
        &[
            "security",
            "fasttrack",
            CVE,
            "--reason",
            "remote code execution",
        ],
        2,
    );
    assert!(plan["seq"].is_u64(), "{plan}");
    let planned = plan["images"].as_array().unwrap();
    assert_eq!(planned.len(), 2);
    for p in planned {
        let moved: Vec<(&str, &str)> = p["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["package"].as_str().unwrap(), c["to"].as_str().unwrap()))
            .collect();
        assert_eq!(
            moved,
            [
                ("libssl3", "3.0.22-1~deb12u2"),
                ("openssl", "3.0.22-1~deb12u2")
            ],
            "{p}"
        );
        assert_eq!(p["fixes"][0]["source"], "openssl");
        assert_eq!(p["fixes"][0]["fixed_version"], "3.0.22-1~deb12u2");
    }
    // Same again: nothing new recorded; --write and --scripts still apply.
    let again = w.json(
        "2026-11-27T08:05:00Z",
        &[
            "security",
            "fasttrack",
            CVE,
            "--write",
            "--scripts",
            scripts.to_str().unwrap(),
        ],
        2,
    );
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["seq"], Value::Null);
    assert_eq!(again["written"].as_array().unwrap().len(), 2);
    let before =
        std::fs::read_to_string(testdata("fleet/images/cache/memcached-b2840.yaml")).unwrap();
    let after = std::fs::read_to_string(w.manifest(IMAGES[0])).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [
            (
                "  \"libssl3\": \"3.0.20-1~deb12u2\"",
                "  \"libssl3\": \"3.0.22-1~deb12u2\""
            ),
            (
                "  \"openssl\": \"3.0.20-1~deb12u2\"",
                "  \"openssl\": \"3.0.22-1~deb12u2\""
            ),
        ]
    );
    let script = std::fs::read_to_string(scripts.join(format!("{}.sh", IMAGES[0]))).unwrap();
    assert!(script.contains("libssl3=3.0.22-1~deb12u2"), "{script}");
    // After the rewrite nothing is affected any more: nothing recorded.
    let done = w.json("2026-11-27T08:10:00Z", &["security", "fasttrack", CVE], 0);
    assert!(done["images"].as_array().unwrap().is_empty());
    assert_eq!(done["seq"], Value::Null);

    // No fixing build yet: everything waits, nothing is snapshotted.
    let p = w.json(
        "2026-11-27T08:30:00Z",
        &["security", "fasttrack", CVE, "--promote"],
        2,
    );
    assert_eq!(p["snapshot"], Value::Null);
    assert_eq!(p["waiting"].as_array().unwrap().len(), 2);

    // The fixing builds; one first a failed build (not snapshotted).
    w.ok(
        "2026-11-27T08:50:00Z",
        &[
            "build",
            "record",
            IMAGES[1],
            "--manifest",
            w.manifest(IMAGES[1]).to_str().unwrap(),
            "--result",
            "failed",
        ],
    );
    for image in IMAGES {
        w.build(
            "2026-11-27T09:00:00Z",
            image,
            DIGEST2,
            "CVE-2099-1001 fast-track",
        );
    }
    let p = w.json(
        "2026-11-27T10:00:00Z",
        &["security", "fasttrack", CVE, "--promote"],
        2,
    );
    assert_eq!(p["snapshot"], "fasttrack-CVE-2099-1001-1");
    assert_eq!(p["snapshot_created"], true);
    assert_eq!(
        p["reason"],
        "fast-track CVE-2099-1001: remote code execution"
    );
    let ready: Vec<(&str, u64)> = p["ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["image"].as_str().unwrap(), r["build"].as_u64().unwrap()))
        .collect();
    assert_eq!(ready, [(IMAGES[0], 2), (IMAGES[1], 3)]);
    assert_eq!(p["stages"][0]["stage"], "testing");
    assert_eq!(p["stages"][0]["promoted"].as_array().unwrap().len(), 2);
    assert_eq!(p["stages"][1]["stage"], "production");
    assert_eq!(p["stages"][1]["held"].as_array().unwrap().len(), 2);
    assert_eq!(p["stopped_at"], "production");
    let next = p["next"].as_array().unwrap();
    assert!(
        next[0]
            .as_str()
            .unwrap()
            .contains("debfleet test record fasttrack-CVE-2099-1001-1 --suite smoke --pass"),
        "{p}"
    );
    // Testing now runs the fix; production ran nothing yet.
    let in_testing = w.json(
        "2026-11-27T10:10:00Z",
        &["security", "affected", CVE, "--stage", "testing"],
        0,
    );
    assert!(affected_images(&in_testing).is_empty());

    w.ok(
        "2026-11-27T10:30:00Z",
        &[
            "test",
            "record",
            "fasttrack-CVE-2099-1001-1",
            "--suite",
            "smoke",
            "--pass",
        ],
    );
    let p = w.json(
        "2026-11-27T11:00:00Z",
        &["security", "fasttrack", CVE, "--promote"],
        0,
    );
    assert_eq!(p["snapshot"], "fasttrack-CVE-2099-1001-1");
    assert_eq!(p["snapshot_created"], false, "the snapshot is reused");
    assert_eq!(p["stages"][0]["unchanged"], 2);
    assert_eq!(p["stages"][1]["promoted"].as_array().unwrap().len(), 2);
    assert_eq!(p["complete"], true);
    // Re-running changes nothing (no duplicate snapshot, no new promotion).
    let p = w.json(
        "2026-11-27T11:05:00Z",
        &["security", "fasttrack", CVE, "--promote"],
        0,
    );
    assert_eq!(p["snapshot_created"], false);
    assert!(
        p["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["seq"].is_null())
    );
    let snapshots = w.json("2026-11-27T11:06:00Z", &["snapshot", "list"], 0);
    let names: Vec<String> = snapshots
        .as_array()
        .or_else(|| snapshots["snapshots"].as_array())
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["baseline", "fasttrack-CVE-2099-1001-1"]);
    // The emergency snapshot holds only the fast-tracked images.
    let emergency = w.json(
        "2026-11-27T11:06:00Z",
        &["snapshot", "show", "fasttrack-CVE-2099-1001-1"],
        0,
    );
    let frozen: Vec<(&String, u64)> = emergency["images"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k, v["build"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        frozen,
        [(&IMAGES[0].to_string(), 2), (&IMAGES[1].to_string(), 3)]
    );
    assert_eq!(
        emergency["reason"],
        "fast-track CVE-2099-1001: remote code execution"
    );
    let status = w.json("2026-11-27T11:06:00Z", &["status", "--stage", "testing"], 0);
    let running: Vec<(String, u64)> = status
        .as_array()
        .or_else(|| status["images"].as_array())
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["build"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        running,
        [
            (IMAGES[0].to_string(), 2),
            (IMAGES[1].to_string(), 3),
            (UNAFFECTED.to_string(), 1)
        ],
        "the unaffected image keeps its baseline build in testing"
    );

    // The audit trail.
    let verify = w.ok("2026-11-27T12:00:00Z", &["audit", "verify"]);
    assert!(
        stdout(&verify).contains("journal intact"),
        "{}",
        stdout(&verify)
    );
    let history = w.json("2026-11-27T12:00:00Z", &["audit", "history", IMAGES[0]], 0);
    let summaries: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    let has = |needle: &str| summaries.iter().any(|s| s.contains(needle));
    assert!(has("build #2 ok"), "{summaries:#?}");
    assert!(has("(CVE-2099-1001 fast-track)"), "{summaries:#?}");
    assert!(has("in snapshot fasttrack-CVE-2099-1001-1 with build #2"));
    for stage in ["testing", "production"] {
        assert!(
            has(&format!(
                "promoted #2 to {stage} from snapshot fasttrack-CVE-2099-1001-1 (was #1) [expedited]: fast-track CVE-2099-1001: remote code execution"
            )) || has(&format!(
                "promoted #2 to {stage} from snapshot fasttrack-CVE-2099-1001-1 [expedited]: fast-track CVE-2099-1001: remote code execution"
            )),
            "{stage}: {summaries:#?}"
        );
    }

    // Time to fix, from the --now times above.
    let latency = w.json("2026-11-27T12:00:00Z", &["audit", "fix-latency", CVE], 0);
    let fixes = latency["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 2);
    for (f, build) in fixes.iter().zip([2, 3]) {
        assert_eq!(f["cve"], CVE);
        assert_eq!(f["source"], "openssl");
        assert_eq!(f["fixed_version"], "3.0.22-1~deb12u2");
        assert_eq!(f["fix_mirrored_at"], "2026-11-27T06:00:00Z");
        assert_eq!(f["fix_known_at"], "2026-11-27T07:00:00Z");
        assert_eq!(f["fix_available_at"], "2026-11-27T07:00:00Z");
        assert_eq!(f["planned_at"], "2026-11-27T08:00:00Z");
        assert_eq!(f["built_at"], "2026-11-27T09:00:00Z");
        assert_eq!(f["build"], build);
        assert_eq!(f["testing_at"], "2026-11-27T10:00:00Z");
        assert_eq!(f["production_at"], "2026-11-27T11:00:00Z");
        assert_eq!(
            f["durations"],
            serde_json::json!({
                "plan": 3600, "build": 3600, "testing": 3600,
                "production": 3600, "total": 4 * 3600
            })
        );
    }
    assert_eq!(fixes[0]["image"], IMAGES[0]);
    let table = w.ok("2026-11-27T12:00:00Z", &["audit", "fix-latency"]);
    assert!(
        stdout(&table).contains("total          4h"),
        "{}",
        stdout(&table)
    );
    // Another issue that was never fast-tracked has no rows.
    let none = w.json(
        "2026-11-27T12:00:00Z",
        &["audit", "fix-latency", "CVE-2099-1002"],
        0,
    );
    assert!(none["fixes"].as_array().unwrap().is_empty());
}
