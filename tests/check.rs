//! End-to-end tests of `debfleet check`, `run` and `explain` through the
//! binary, on a small fleet over the bundled signed mirror. (Equality with
//! apt for every image of the example fleet is in tests/check_vs_apt.rs.)

mod common;
use common::*;
use std::path::Path;

/// A small fleet (bookworm-updates + bookworm-security) with three images.
fn fleet_with_images(dir: &Path) {
    small_fleet(dir, &testdata("mirror"), &debian_keyring());
    // tzdata: bookworm-updates carries 2025b-0+deb12u1 and bookworm-security
    // 2026f-0+deb12u1 (both priority 500: the higher version wins).
    std::fs::write(
        dir.join("images/tz.yaml"),
        "image: tz\nbase: small\npackages:\n  tzdata: 2024a-0+deb12u1\n  not-a-package: 1.0-1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("images/held.yaml"),
        "image: held\nbase: small\nhold: [tzdata]\npackages:\n  tzdata: 2024a-0+deb12u1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("images/ahead.yaml"),
        "image: ahead\nbase: small\npackages:\n  tzdata: '9999z-1'\n",
    )
    .unwrap();
}

fn image<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == name)
        .unwrap_or_else(|| panic!("no image {name} in {report}"))
}

#[test]
fn check_reports_updates_missing_ahead_held_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    fleet_with_images(dir.path());
    let out = in_fleet(dir.path(), &["run", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    let tz = image(&report, "tz");
    assert_eq!(tz["status"], "security-updates");
    assert_eq!(tz["updates"][0]["package"], "tzdata");
    assert_eq!(tz["updates"][0]["candidate"], "2026f-0+deb12u1");
    assert_eq!(
        tz["updates"][0]["suite"],
        "debian-security/bookworm-security"
    );
    assert_eq!(tz["updates"][0]["security"], true);
    assert_eq!(tz["missing"][0], "not-a-package");
    let held = image(&report, "held");
    assert_eq!(held["updates"].as_array().unwrap().len(), 0);
    assert_eq!(held["held"][0]["package"], "tzdata");
    assert_eq!(image(&report, "ahead")["ahead"][0]["installed"], "9999z-1");
    assert!(report["data"].as_array().unwrap().len() == 2);

    // --exit-zero, --image filter, table output.
    let out = in_fleet(dir.path(), &["check", "--exit-zero", "--image", "ahe*"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("1 images checked"), "{text}");

    // The candidate explained like apt-cache policy.
    let out = in_fleet(dir.path(), &["explain", "tz", "tzdata"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Installed: 2024a-0+deb12u1"), "{text}");
    assert!(text.contains("500 debian/bookworm-updates"), "{text}");
    assert!(text.contains("Why:"), "{text}");

    // Stale data: synced "now", checked 2 days later with --max-age 12h.
    let fleet = dir.path().to_str().unwrap();
    let out = debfleet(&[
        "--fleet",
        fleet,
        "--now",
        "2026-11-29T12:00:00Z",
        "check",
        "--max-age",
        "12h",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));
}

#[test]
fn a_bad_manifest_is_an_error_but_the_others_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    fleet_with_images(dir.path());
    std::fs::write(
        dir.path().join("images/bad.yaml"),
        "image: bad\nbase: small\npackages:\n  foo: 1.10\n  bar: not a version\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("images/unknown-base.yaml"),
        "image: nobase\nbase: nope\npackages: {}\n",
    )
    .unwrap();
    let out = in_fleet(dir.path(), &["run", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json(&out);
    let errors: Vec<String> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "error")
        .flat_map(|i| i["errors"].as_array().unwrap().clone())
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("bad.yaml:5:") && e.contains("bar")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown-base.yaml:2:") && e.contains("nope")),
        "{errors:?}"
    );
    // The good images are still there.
    assert_eq!(image(&report, "tz")["status"], "security-updates");
    // `foo: 1.10` is a valid version taken verbatim: only `bar` is reported.
    assert!(!errors.iter().any(|e| e.contains("`foo`")), "{errors:?}");
}

#[test]
fn cache_hits_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    fleet_with_images(dir.path());
    assert_eq!(in_fleet(dir.path(), &["sync"]).status.code(), Some(0));
    let first = in_fleet(dir.path(), &["check", "--format", "json"]);
    let second = in_fleet(dir.path(), &["check", "--format", "json"]);
    assert!(
        dir.path()
            .join(".debfleet/state.redb.d/manifests.cache")
            .exists()
    );
    assert_eq!(json(&first)["images"], json(&second)["images"]);
    // Editing a manifest is seen despite the cache.
    std::fs::write(
        dir.path().join("images/ahead.yaml"),
        "image: ahead\nbase: small\npackages:\n  tzdata: '0.1-1'\n",
    )
    .unwrap();
    let third = json(&in_fleet(dir.path(), &["check", "--format", "json"]));
    assert_eq!(image(&third, "ahead")["status"], "security-updates");
}

#[test]
fn security_only_and_base_filters_on_the_example_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let run = |args: &[&str]| {
        let mut all = vec![
            "--fleet",
            testdata("fleet").to_str().unwrap().to_string().leak(),
            "--state",
            state.to_str().unwrap().to_string().leak(),
            "--now",
            NOW,
        ];
        all.extend_from_slice(args);
        debfleet(&all)
    };
    assert!(run(&["sync"]).status.success());
    let all = json(&run(&["check", "--format", "json"]));
    let security = json(&run(&["check", "--security-only", "--format", "json"]));
    let count = |r: &serde_json::Value, only_security: bool| -> usize {
        r["images"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["updates"].as_array().unwrap())
            .filter(|u| !only_security || u["security"] == true)
            .count()
    };
    assert!(
        count(&all, false) > count(&all, true),
        "the example has non-security updates"
    );
    assert_eq!(count(&security, false), count(&all, true));
    let trixie = json(&run(&["check", "--base", "trixie", "--format", "json"]));
    let images = trixie["images"].as_array().unwrap();
    assert!(!images.is_empty());
    assert!(images.iter().all(|i| i["base"] == "trixie"));
    let unknown = run(&["check", "--base", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no such base"),
        "{}",
        stderr(&unknown)
    );
}
