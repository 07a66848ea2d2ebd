//! End-to-end tests of `debfleet security` against the example fleet and the
//! bundled mirror slice, with the constructed tracker file
//! `testdata/security/constructed-fleet.json` (see testdata/PROVENANCE.md
//! for what each entry exercises) and the real tracker samples.

mod common;

use common::{NOW, json, stderr, stdout, testdata};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One synced store of the example fleet, shared (read-only) by all tests;
/// each test copies it before writing.
fn synced_state() -> &'static Path {
    static STATE: OnceLock<PathBuf> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let state = dir.join("state.redb");
        let out = run(&state, &["sync"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        state
    })
}

/// A private copy of the synced store.
fn fresh_state() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    std::fs::copy(synced_state(), &state).unwrap();
    (dir, state)
}

fn run(state: &Path, args: &[&str]) -> std::process::Output {
    run_at(state, NOW, args)
}

fn run_at(state: &Path, now: &str, args: &[&str]) -> std::process::Output {
    common::with_state(&testdata("fleet"), state, now, args)
}

fn import(state: &Path, file: &Path) -> Value {
    let out = run(
        state,
        &[
            "security",
            "import",
            file.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    json(&out)
}

fn constructed() -> PathBuf {
    testdata("security/constructed-fleet.json")
}

/// The findings of one image, keyed by CVE id.
fn findings(out: &Value, image: &str) -> std::collections::BTreeMap<String, Value> {
    out["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["image"] == image)
        .flat_map(|i| i["cves"].as_array().unwrap().clone())
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect()
}

fn affected_json(state: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["security", "affected", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(state, &args);
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    json(&out)
}

#[test]
fn real_samples_import_without_error() {
    let (_dir, state) = fresh_state();
    let samples = [
        ("vunnel-debian.json", 1usize),
        ("vuln-list-update-debian.json", 0),
        ("osv-dev-debian_security_tracker_mock.json", 0),
    ];
    for (name, warnings) in samples {
        let rec = import(&state, &testdata(&format!("security/{name}")));
        assert!(rec["sources"].as_u64().unwrap() > 0, "{name}: {rec}");
        assert!(rec["releases"].as_u64().unwrap() > 0, "{name}: {rec}");
        assert_eq!(
            rec["warnings"].as_array().unwrap().len(),
            warnings,
            "{name}: {rec}"
        );
        let sha = rec["sha256"].as_str().unwrap();
        let bytes = std::fs::read(testdata(&format!("security/{name}"))).unwrap();
        assert_eq!(
            sha,
            debfleet::deb::hash::Sha256Digest::of(&bytes).to_hex(),
            "{name}"
        );
    }
    // vunnel's sample carries the malformed `"releases": []` entry.
    let rec = import(&state, &testdata("security/vunnel-debian.json"));
    assert!(
        rec["warnings"][0]
            .as_str()
            .unwrap()
            .contains(r#"."chromium-browser"."CVE-2022-0358".releases"#),
        "{rec}"
    );
}

#[test]
fn hand_checked_cases_on_memcached() {
    let (_dir, state) = fresh_state();
    import(&state, &constructed());
    let out = affected_json(&state, &["--image", "memcached-b2840"]);
    let f = findings(&out, "memcached-b2840");
    let image = &out["images"][0];
    assert_eq!(image["base"], "bookworm");

    // openssl: libssl3 (Source: openssl) and openssl 3.0.20-1~deb12u2; the
    // fix 3.0.22-1~deb12u2 is in bookworm-security.
    let c = &f["CVE-2099-1001"];
    assert_eq!(c["source"], "openssl");
    assert_eq!(c["installed_source_version"], "3.0.20-1~deb12u2");
    assert_eq!(c["status"], "affected-fix-available-in-mirror");
    assert_eq!(c["fix_installable"], true);
    assert_eq!(c["fixed_version"], "3.0.22-1~deb12u2");
    assert_eq!(c["urgency"], "high");
    assert_eq!(c["binaries"], serde_json::json!(["libssl3", "openssl"]));
    assert_eq!(
        c["fix_candidates"][0],
        serde_json::json!({"package": "libssl3", "version": "3.0.22-1~deb12u2", "suite": "debian-security/bookworm-security"})
    );

    // Fixed in a version newer than anything mirrored.
    let c = &f["CVE-2099-1002"];
    assert_eq!(c["status"], "affected-fix-not-yet-mirrored");
    assert_eq!(c["fix_installable"], false);
    assert_eq!(c["urgency"], "medium**");

    // bsdutils 1:2.38.1-5+deb12u3 has `Source: util-linux (2.38.1-5+deb12u3)`:
    // the source version (no epoch) is what is compared and reported.
    let c = &f["CVE-2099-1003"];
    assert_eq!(c["source"], "util-linux");
    assert_eq!(c["installed_source_version"], "2.38.1-5+deb12u3");
    assert_eq!(c["status"], "affected-fix-not-yet-mirrored");
    assert!(
        c["binaries"]
            .as_array()
            .unwrap()
            .contains(&"bsdutils".into())
    );
    // Fixed exactly at the installed source version: not affected.
    assert!(!f.contains_key("CVE-2099-1004"));

    // Open, unimportant.
    let c = &f["CVE-2099-1005"];
    assert_eq!(c["source"], "glibc");
    assert_eq!(c["status"], "affected-unfixed");
    assert_eq!(c["fixed_version"], Value::Null);
    assert_eq!(c["urgency"], "unimportant");
    // Fixed in an older point release: not affected.
    assert!(!f.contains_key("CVE-2099-1006"));
    // fixed_version "0": never affected.
    assert!(!f.contains_key("CVE-2099-1007"));

    // no-dsa, undetermined, postponed, ignored, end-of-life stay distinct.
    let c = &f["CVE-2099-1008"];
    assert_eq!(c["status"], "affected-unfixed");
    assert_eq!(c["nodsa"], "Minor issue");
    assert_eq!(c["nodsa_reason"], "");
    let c = &f["CVE-2099-1009"];
    assert_eq!(c["tracker_status"], "undetermined");
    assert_eq!(c["urgency"], "not yet assigned");
    assert_eq!(c["nodsa"], Value::Null);
    let c = &f["CVE-2099-1010"];
    assert_eq!(c["source"], "tar");
    assert_eq!(c["nodsa_reason"], "postponed");
    assert_eq!(c["nodsa"], "Revisit when fixed upstream");
    let c = &f["CVE-2099-1011"];
    assert_eq!(c["source"], "zlib");
    assert_eq!(c["installed_source_version"], "1:1.2.13.dfsg-1");
    assert_eq!(c["nodsa_reason"], "ignored");
    let c = &f["CVE-2099-1012"];
    assert_eq!(c["source"], "perl");
    assert_eq!(c["urgency"], "end-of-life");
    assert_eq!(c["nodsa_reason"], Value::Null);

    // Only trixie has an entry: a bookworm image is not listed.
    assert!(!f.contains_key("CVE-2099-1013"));
    assert_eq!(f.len(), 9, "{:?}", f.keys().collect::<Vec<_>>());

    // Every listed status is one of the documented three.
    for c in f.values() {
        assert!(
            [
                "affected-unfixed",
                "affected-fix-available-in-mirror",
                "affected-fix-not-yet-mirrored"
            ]
            .contains(&c["status"].as_str().unwrap())
        );
    }

    // The table output says the same, and the exit status is 2.
    let out = run(
        &state,
        &["security", "affected", "--image", "memcached-b2840"],
    );
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.contains("CVE-2099-1010")
            && l.contains("postponed")
            && l.contains("Revisit when fixed upstream")),
        "{text}"
    );
    assert!(
        text.contains("1 of 1 images affected, 9 findings"),
        "{text}"
    );
}

#[test]
fn matching_is_per_release() {
    let (_dir, state) = fresh_state();
    import(&state, &constructed());
    let out = affected_json(&state, &["CVE-2099-1002", "CVE-2099-1001"]);
    // trixie: CVE-2099-1001 resolved at 3.5.5-1~deb13u1 < installed 3.5.9-1~deb13u1
    // (libssl3t64, Source: openssl); CVE-2099-1002 open.
    let f = findings(&out, "nodejs-20-b2142");
    assert!(!f.contains_key("CVE-2099-1001"));
    assert_eq!(f["CVE-2099-1002"]["status"], "affected-unfixed");
    assert_eq!(
        f["CVE-2099-1002"]["installed_source_version"],
        "3.5.9-1~deb13u1"
    );
    assert!(
        f["CVE-2099-1002"]["binaries"]
            .as_array()
            .unwrap()
            .contains(&"libssl3t64".into())
    );
    // An image already on the security version is not affected by 1001.
    let f = findings(&out, "python3.11-build-b2834");
    assert!(!f.contains_key("CVE-2099-1001"));
    assert_eq!(
        f["CVE-2099-1002"]["installed_source_version"],
        "3.0.22-1~deb12u2"
    );
    // The buster image's base is not mirrored: nothing can be matched, no crash.
    let out = affected_json(&state, &["--image", "legacy-cron-b3760"]);
    assert!(out["images"].as_array().unwrap().is_empty(), "{out}");
    let report = run(
        &state,
        &[
            "security",
            "report",
            "--image",
            "legacy-cron-b3760",
            "--format",
            "json",
        ],
    );
    assert!(report.status.success(), "{}", stderr(&report));
    let r = json(&report);
    assert_eq!(r["images"][0]["open"], 0);
    assert!(r["images"][0]["unmatched_packages"].as_u64().unwrap() > 0);
    // Only trixie has CVE-2099-1013 (memcached); no bookworm image lists it.
    let out = affected_json(&state, &["CVE-2099-1013"]);
    assert!(out["images"].as_array().unwrap().is_empty(), "{out}");
}

#[test]
fn urgency_filter_and_report() {
    let (_dir, state) = fresh_state();
    import(&state, &constructed());
    let out = affected_json(
        &state,
        &["--image", "memcached-b2840", "--urgency", "medium"],
    );
    let f = findings(&out, "memcached-b2840");
    // `medium**` (NVD-derived) and `medium` both match.
    assert_eq!(
        f.keys().cloned().collect::<Vec<_>>(),
        vec!["CVE-2099-1002".to_string(), "CVE-2099-1010".to_string()]
    );
    let out = run(
        &state,
        &[
            "security",
            "report",
            "--image",
            "memcached-b2840",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    let m = &r["images"][0];
    assert_eq!(m["open"], 9);
    assert_eq!(m["fixable_now"], 1);
    assert_eq!(m["not_yet_mirrored"], 2);
    assert_eq!(m["unfixed"], 6);
    assert_eq!(m["by_urgency"]["low"], 3);
    assert_eq!(m["by_urgency"]["end-of-life"], 1);
    assert!(r["data"]["sha256"].is_string());
}

#[test]
fn history_answers_what_was_known_when() {
    let (dir, state) = fresh_state();
    let t1 = "2026-11-20T00:00:00Z";
    let t2 = "2026-11-25T00:00:00Z";
    let out = run_at(
        &state,
        t1,
        &[
            "security",
            "import",
            constructed().to_str().unwrap(),
            "--data-time",
            "2026-11-19",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The next export: CVE-2099-1002 now fixed by the mirrored version,
    // CVE-2099-1005 gone.
    let mut data: Value = serde_json::from_slice(&std::fs::read(constructed()).unwrap()).unwrap();
    data["openssl"]["CVE-2099-1002"]["releases"]["bookworm"]["fixed_version"] =
        "3.0.22-1~deb12u2".into();
    data["glibc"]
        .as_object_mut()
        .unwrap()
        .remove("CVE-2099-1005");
    let second = dir.path().join("second.json");
    std::fs::write(&second, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    let out = run_at(
        &state,
        t2,
        &[
            "security",
            "import",
            second.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec["added"], 0);
    assert_eq!(rec["changed"], 1);
    // The issue-level record and the bookworm record of CVE-2099-1005.
    assert_eq!(rec["removed"], 2);

    let now = affected_json(&state, &["--image", "memcached-b2840"]);
    let f = findings(&now, "memcached-b2840");
    assert_eq!(
        f["CVE-2099-1002"]["status"],
        "affected-fix-available-in-mirror"
    );
    assert!(!f.contains_key("CVE-2099-1005"));
    for as_of in ["2026-11-21", "2026-11-20T00:00:00Z"] {
        let then = affected_json(&state, &["--image", "memcached-b2840", "--as-of", as_of]);
        let f = findings(&then, "memcached-b2840");
        assert_eq!(
            f["CVE-2099-1002"]["status"], "affected-fix-not-yet-mirrored",
            "{as_of}"
        );
        assert_eq!(f["CVE-2099-1005"]["status"], "affected-unfixed");
        assert_eq!(then["data"]["import"], 1);
        assert_eq!(then["data"]["data_time"], "2026-11-19T00:00:00Z");
    }
    let before = run(&state, &["security", "affected", "--as-of", "2026-11-01"]);
    assert_eq!(before.status.code(), Some(1));
    assert!(stderr(&before).contains("no security tracker data had been imported"));

    // Re-importing the same file changes nothing.
    let rec = import(&state, &second);
    assert_eq!(
        (&rec["added"], &rec["changed"], &rec["removed"]),
        (&0.into(), &0.into(), &0.into())
    );
    let status = json(&run(&state, &["security", "status", "--format", "json"]));
    assert_eq!(status["imports"].as_array().unwrap().len(), 3);
    // Data age: --data-time 2026-11-19 is 8 days before NOW for import 1;
    // the latest import used the file's mtime (today).
    assert_eq!(status["data_age_days"], 0);
}

#[test]
fn bad_files_are_rejected_and_the_store_is_unchanged() {
    let (dir, state) = fresh_state();
    import(&state, &constructed());
    let before_status = stdout(&run(&state, &["security", "status", "--format", "json"]));
    let before = stdout(&run(&state, &["security", "affected", "--format", "json"]));
    let text = std::fs::read_to_string(constructed()).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated",
            text[..text.len() / 2].to_string(),
            "EOF while parsing",
        ),
        (
            "wrong type",
            text.replacen("\"status\": \"open\"", "\"status\": 7", 1),
            r#".openssl."CVE-2099-1002".releases.trixie.status: expected a string, found a number"#,
        ),
        (
            "missing releases",
            r#"{"zlib": {"CVE-2099-1": {"description": "x"}}}"#.to_string(),
            r#"missing field \"releases\""#,
        ),
        (
            "not an object",
            "[]".to_string(),
            "an object keyed by source package name",
        ),
        (
            "bad fixed version",
            text.replacen(
                "\"3.0.22-1~deb12u2\",\n          \"urgency\"",
                "\"3.0 22\",\n          \"urgency\"",
                1,
            ),
            "fixed_version",
        ),
    ];
    for (name, content, expect) in cases {
        let path = dir.path().join(format!("{}.json", name.replace(' ', "-")));
        std::fs::write(&path, &content).unwrap();
        let out = run(&state, &["security", "import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        let err = stderr(&out);
        let expect = expect.replace("\\\"", "\"");
        assert!(err.contains(&expect), "{name}: {err}");
        assert!(err.contains("store was not changed"), "{name}: {err}");
        assert_eq!(
            stdout(&run(&state, &["security", "status", "--format", "json"])),
            before_status,
            "{name}"
        );
        assert_eq!(
            stdout(&run(&state, &["security", "affected", "--format", "json"])),
            before,
            "{name}"
        );
    }
    // Syntax errors carry a line number.
    let path = dir.path().join("syntax.json");
    std::fs::write(&path, "{\n \"zlib\": {\n  \"CVE-1\": {,}\n }\n}\n").unwrap();
    let out = run(&state, &["security", "import", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
}

#[test]
fn check_marks_updates_that_fix_a_known_cve() {
    let (_dir, state) = fresh_state();
    // Before any import, check carries no CVE marks.
    let out = run(
        &state,
        &["check", "--image", "memcached-b2840", "--format", "json"],
    );
    let report = json(&out);
    let updates = report["images"][0]["updates"].as_array().unwrap();
    assert!(updates.iter().all(|u| u.get("fixes_cves").is_none()));
    import(&state, &constructed());
    let out = run(
        &state,
        &["check", "--image", "memcached-b2840", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    let updates = report["images"][0]["updates"].as_array().unwrap();
    let by_name = |n: &str| updates.iter().find(|u| u["package"] == n).unwrap();
    assert_eq!(
        by_name("libssl3")["fixes_cves"],
        serde_json::json!(["CVE-2099-1001"])
    );
    assert_eq!(
        by_name("openssl")["fixes_cves"],
        serde_json::json!(["CVE-2099-1001"])
    );
    assert_eq!(by_name("tzdata")["fixes_cves"], serde_json::json!([]));
    let out = run(&state, &["check", "--image", "memcached-b2840", "-v"]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.contains("libssl3") && l.contains("fixes CVE-2099-1001")),
        "{}",
        stdout(&out)
    );
}
