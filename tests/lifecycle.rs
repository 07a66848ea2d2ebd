//! End-to-end tests of `debfleet lifecycle` and of the lifecycle status in
//! `check`, with the real distro-info `debian.csv` in testdata and `--now`
//! on both sides of every boundary date.

mod common;

use common::{debfleet, json, stderr, stdout, testdata};
use serde_json::Value;

fn lifecycle_at(now: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let fleet = testdata("fleet");
    let csv = testdata("distro-info/debian.csv");
    let mut args = vec![
        "--fleet",
        fleet.to_str().unwrap(),
        "--now",
        now,
        "lifecycle",
        "--distro-info",
        csv.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = debfleet(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    (out.status.code(), json(&out))
}

fn base<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["bases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["base"] == name)
        .unwrap_or_else(|| panic!("no base {name}: {report}"))
}

#[test]
fn bookworm_boundaries() {
    // debian.csv: 12,Bookworm,bookworm,2021-08-14,2023-06-10,2026-07-11,2028-06-30,2033-06-30
    let cases = [
        ("2023-06-09", "supported", false, Some(1128)),
        ("2023-06-10", "supported", true, Some(1127)),
        ("2026-07-11", "supported", true, Some(0)),
        ("2026-07-12", "lts", true, Some(719)),
        ("2028-06-30", "lts", true, Some(0)),
        ("2028-07-01", "elts", true, Some(1825)),
        ("2033-06-30", "elts", true, Some(0)),
        ("2033-07-01", "eol", true, None),
    ];
    for (now, status, released, days) in cases {
        let (_, r) = lifecycle_at(now, &[]);
        for name in ["bookworm", "bookworm-backports"] {
            let b = base(&r, name);
            assert_eq!(b["status"], status, "{name} on {now}");
            assert_eq!(b["released"], released, "{name} on {now}");
            assert_eq!(
                b["days_left"],
                days.map_or(Value::Null, Value::from),
                "{now}"
            );
            assert_eq!(b["release"], "12 (bookworm)");
            assert_eq!(b["ends"]["eol"], "2026-07-11");
            assert_eq!(b["ends"]["eol_lts"], "2028-06-30");
            assert_eq!(b["ends"]["eol_elts"], "2033-06-30");
        }
    }
}

#[test]
fn example_fleet_on_the_mirror_date() {
    let (code, r) = lifecycle_at("2026-11-27T12:00:00Z", &[]);
    assert_eq!(base(&r, "bookworm")["status"], "lts");
    assert_eq!(base(&r, "trixie")["status"], "supported");
    assert_eq!(base(&r, "trixie")["release"], "13 (trixie)");
    // buster: eol-lts 2024-06-30, eol-elts 2029-06-30.
    assert_eq!(base(&r, "buster")["status"], "elts");
    assert_eq!(
        base(&r, "buster")["images"],
        serde_json::json!(["legacy-cron-b3760"])
    );
    assert_eq!(base(&r, "trixie")["images"].as_array().unwrap().len(), 13);
    assert_eq!(base(&r, "bookworm")["images"].as_array().unwrap().len(), 24);
    assert_eq!(code, Some(0), "no base ends within 180 days: {r}");
    assert!(r["data"]["path"].as_str().unwrap().ends_with("debian.csv"));
    assert!(r["data"]["age_days"].is_number());
    // Buster past ELTS.
    let (code, r) = lifecycle_at("2029-07-01", &[]);
    assert_eq!(base(&r, "buster")["status"], "eol");
    assert!(
        base(&r, "buster")["warning"]
            .as_str()
            .unwrap()
            .contains("past the end of all support")
    );
    assert_eq!(code, Some(2));
    // Trixie on both sides of its release and regular eol dates.
    let (_, r) = lifecycle_at("2025-08-08", &[]);
    assert_eq!(base(&r, "trixie")["released"], false);
    let (_, r) = lifecycle_at("2025-08-09", &[]);
    assert_eq!(base(&r, "trixie")["released"], true);
    let (_, r) = lifecycle_at("2028-08-09", &[]);
    assert_eq!(base(&r, "trixie")["status"], "supported");
    let (_, r) = lifecycle_at("2028-08-10", &[]);
    assert_eq!(base(&r, "trixie")["status"], "lts");
}

#[test]
fn warns_ahead_of_time() {
    // 2026-07-11 minus 180 days is 2026-01-12.
    let (code, r) = lifecycle_at("2026-01-11", &[]);
    assert_eq!(base(&r, "bookworm")["days_left"], 181);
    assert_eq!(base(&r, "bookworm")["warning"], Value::Null);
    assert_eq!(code, Some(0));
    let (code, r) = lifecycle_at("2026-01-12", &[]);
    assert_eq!(
        base(&r, "bookworm")["warning"],
        "regular security support of 12 (bookworm) ends in 180 days (2026-07-11)"
    );
    assert_eq!(code, Some(2));
    let (_, r) = lifecycle_at("2026-01-12", &["--warn-days", "10"]);
    assert_eq!(base(&r, "bookworm")["warning"], Value::Null);
}

#[test]
fn fleet_yaml_path_and_table_output() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&testdata("fleet"), &dir.path().join("fleet"));
    let yaml = dir.path().join("fleet/fleet.yaml");
    let text = std::fs::read_to_string(&yaml)
        .unwrap()
        .replace("../mirror", testdata("mirror").to_str().unwrap())
        .replace("../keyrings", testdata("keyrings").to_str().unwrap())
        .lines()
        .filter(|l| !l.starts_with("lifecycle:"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let csv = dir.path().join("my-debian.csv");
    std::fs::copy(testdata("distro-info/debian.csv"), &csv).unwrap();
    std::fs::write(
        &yaml,
        format!(
            "{text}lifecycle: {{distro_info: {}, warn_days: 400}}\n",
            csv.display()
        ),
    )
    .unwrap();
    let fleet = dir.path().join("fleet");
    // warn_days 400 from fleet.yaml: the nearest end is bookworm's LTS in
    // 581 days, so nothing needs attention.
    let out = common::in_fleet(&fleet, &["lifecycle"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("my-debian.csv"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("bookworm ") && l.contains("lts") && l.contains("2028-06-30")),
        "{text}"
    );
    assert!(!text.contains("warning:"), "{text}");
    // ... and with 600 days, bookworm (581) warns but trixie (621) does not.
    let out = common::in_fleet(&fleet, &["lifecycle", "--warn-days", "600"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains(
            "warning: base bookworm: LTS support of 12 (bookworm) ends in 581 days (2028-06-30)"
        ),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("warning: base trixie"));

    // A missing file is a clear error.
    let out = common::in_fleet(&fleet, &["lifecycle", "--distro-info", "/nonexistent.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent.csv"),
        "{}",
        stderr(&out)
    );

    // check carries the lifecycle of every image's base, including the
    // buster image whose repositories are not mirrored at all.
    let out = common::in_fleet(&fleet, &["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = common::in_fleet(&fleet, &["check", "--format", "json"]);
    assert!(matches!(out.status.code(), Some(0 | 2)), "{}", stderr(&out));
    let report = json(&out);
    let images = report["images"].as_array().unwrap();
    let legacy = images
        .iter()
        .find(|i| i["image"] == "legacy-cron-b3760")
        .unwrap();
    assert_eq!(legacy["status"], "base-not-mirrored");
    assert_eq!(legacy["lifecycle"]["status"], "elts");
    assert!(images.iter().all(|i| i["lifecycle"]["status"].is_string()));
    let out = common::debfleet(&[
        "--fleet",
        fleet.to_str().unwrap(),
        "--now",
        "2029-07-01",
        "check",
        "--image",
        "legacy-*",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).contains("base eol"), "{}", stdout(&out));
}

/// Package-level limits from the real debian-security-support lists: an
/// image carrying pdns-recursor (support ended 2025-10-01 for bookworm) is
/// flagged ends-later / ends-soon / ended on the right days; binutils
/// (limited support) is flagged limited; the status reaches the exit code.
#[test]
fn package_support_lists_flag_the_images_that_carry_them() {
    let dir = tempfile::tempdir().unwrap();
    common::small_fleet(dir.path(), &testdata("mirror"), &common::debian_keyring());
    let yaml = dir.path().join("fleet.yaml");
    let mut text = std::fs::read_to_string(&yaml).unwrap();
    text.push_str(&format!(
        "lifecycle: {{distro_info: {}, security_support: {}}}\n",
        testdata("distro-info/debian.csv").display(),
        testdata("security-support").display()
    ));
    std::fs::write(&yaml, text).unwrap();
    std::fs::write(
        dir.path().join("images/dns.yaml"),
        "image: dns\nbase: small\npackages:\n  pdns-recursor: 4.8.8-1+deb12u1\n  binutils: 2.40-2\n  bash: 5.2.15-2+b7\n",
    )
    .unwrap();
    let sync = common::in_fleet(dir.path(), &["sync"]);
    assert!(sync.status.success(), "{}", stderr(&sync));

    let at = |now: &str| {
        let out = debfleet(&[
            "--fleet",
            dir.path().to_str().unwrap(),
            "--now",
            now,
            "lifecycle",
            "--format",
            "json",
        ]);
        assert_ne!(out.status.code(), Some(1), "{}", stderr(&out));
        let report = json(&out);
        let findings = report["bases"][0]["package_support"]
            .as_array()
            .unwrap()
            .clone();
        let status = |pkg: &str| {
            findings
                .iter()
                .find(|f| f["package"] == pkg)
                .map(|f| f["status"].as_str().unwrap().to_string())
        };
        (
            out.status.code(),
            status("pdns-recursor"),
            status("binutils"),
            findings,
        )
    };
    // 2025-01-01: the end (2025-10-01) is 273 days away, beyond the
    // 180-day window; bookworm itself is supported for 525 more days.
    let (code, pdns, binutils, findings) = at("2025-01-01");
    assert_eq!(pdns.as_deref(), Some("ends-later"));
    assert_eq!(binutils.as_deref(), Some("limited"));
    assert_eq!(code, Some(0));
    assert_eq!(findings.len(), 2, "bash has no limit: {findings:?}");
    let pdns_entry = findings
        .iter()
        .find(|f| f["package"] == "pdns-recursor")
        .unwrap();
    assert_eq!(pdns_entry["source"], "pdns-recursor");
    assert_eq!(pdns_entry["date"], "2025-10-01");
    assert_eq!(pdns_entry["last_version"], "4.8.8-1+deb12u1");
    assert!(
        pdns_entry["origin"]
            .as_str()
            .unwrap()
            .ends_with("security-support-ended.deb12:20"),
        "{pdns_entry}"
    );
    // Inside the warning window, on the day itself, and the day after.
    assert_eq!(at("2025-04-04").1.as_deref(), Some("ends-soon"));
    assert_eq!(at("2025-04-04").0, Some(2));
    assert_eq!(at("2025-10-01").1.as_deref(), Some("ends-soon"));
    assert_eq!(at("2025-10-02").1.as_deref(), Some("ended"));
    assert_eq!(at("2025-10-02").0, Some(2));

    // The day before the window opens (181 days ahead).
    assert_eq!(at("2025-04-03").1.as_deref(), Some("ends-later"));
}
