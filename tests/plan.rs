//! End-to-end tests of `debfleet plan` through the binary, on a copy of the
//! example fleet (`testdata/fleet`) synced from the bundled mirror slice:
//! the JSON shape, exit codes, filters, `--write` (a minimal edit that
//! reads back as the plan) and `--scripts`.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A synced copy of the example fleet in `dir`; returns the fleet dir.
fn synced_fleet(dir: &Path) -> PathBuf {
    let fleet = dir.join("fleet");
    common::copy_dir(&common::testdata("fleet"), &fleet);
    let yaml = std::fs::read_to_string(fleet.join("fleet.yaml")).unwrap();
    let td = common::testdata("");
    let yaml = yaml
        .replace("../mirror", &td.join("mirror").display().to_string())
        .replace("../keyrings", &td.join("keyrings").display().to_string())
        .replace(
            "../distro-info",
            &td.join("distro-info").display().to_string(),
        );
    std::fs::write(fleet.join("fleet.yaml"), yaml).unwrap();
    let sync = common::in_fleet(&fleet, &["sync"]);
    assert!(sync.status.success(), "{}", common::stderr(&sync));
    fleet
}

fn images(report: &Value) -> BTreeMap<String, Value> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["image"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "yaml") {
            out.push(e.path().to_path_buf());
        }
    }
    out.sort();
    out
}

#[test]
fn plan_json_write_and_scripts_on_the_example_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = synced_fleet(tmp.path());
    let before: BTreeMap<PathBuf, String> = files(&fleet.join("images"))
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();

    let out = common::in_fleet(&fleet, &["plan", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let report = common::json(&out);
    let plans = images(&report);
    assert_eq!(plans.len(), 40);
    for (name, p) in &plans {
        for key in [
            "image",
            "base",
            "manifest",
            "upgrade",
            "install",
            "remove",
            "held",
            "broken",
            "unverified",
        ] {
            assert!(!p[key].is_null(), "{name}: no {key}");
        }
    }
    // The unmirrored base is reported per image, never dropped.
    let legacy = &plans["legacy-cron-b3760"];
    assert!(
        legacy["problems"][0]
            .as_str()
            .unwrap()
            .contains("not mirrored")
    );
    // An image with installed versions in no index is planned and says so.
    let rocks = &plans["mariadb-10.11-rocksdb-b3371"];
    assert!(!rocks["upgrade"].as_array().unwrap().is_empty());
    assert!(
        rocks["unverified"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["package"] == "libc6"),
        "{rocks}"
    );
    // The distroless image does not get the Essential set added.
    let distroless = &plans["distroless-static-b2026"];
    assert!(
        distroless["install"].as_array().unwrap().is_empty(),
        "{distroless}"
    );

    // --security-only plans a subset of the upgrades.
    let sec = common::json(&common::in_fleet(
        &fleet,
        &["plan", "--security-only", "--format", "json"],
    ));
    let sec = images(&sec);
    let mut fewer = false;
    for (name, p) in &plans {
        let all: Vec<&Value> = p["upgrade"].as_array().unwrap().iter().collect();
        let s = sec[name]["upgrade"].as_array().unwrap();
        assert!(s.iter().all(|u| all.contains(&u)), "{name}");
        fewer |= s.len() < all.len();
    }
    assert!(fewer, "--security-only left out some non-security update");

    // --image filters; an up-to-date image alone exits 0.
    let one = common::in_fleet(&fleet, &["plan", "--image", "python3.11-build-*"]);
    assert_eq!(one.status.code(), Some(0), "{}", common::stdout(&one));
    assert!(common::stdout(&one).contains("1 images planned, 0 need attention"));

    // --write and --scripts.
    let scripts = tmp.path().join("scripts");
    let w = common::in_fleet(
        &fleet,
        &["plan", "--write", "--scripts", scripts.to_str().unwrap()],
    );
    assert_eq!(w.status.code(), Some(2), "{}", common::stderr(&w));
    let mut rewritten = 0;
    for (name, p) in &plans {
        let changed = !p["upgrade"].as_array().unwrap().is_empty()
            || !p["install"].as_array().unwrap().is_empty()
            || !p["remove"].as_array().unwrap().is_empty();
        let manifest = PathBuf::from(p["manifest"].as_str().unwrap());
        let old = &before[&manifest];
        let new = std::fs::read_to_string(&manifest).unwrap();
        let script = scripts.join(format!("{name}.sh"));
        if !changed || p["broken"] == true {
            assert_eq!(old, &new, "{name} has no plan but was rewritten");
            assert!(!script.exists(), "{name}");
            continue;
        }
        rewritten += 1;
        // Minimal: same number of lines (the fleet's plans only upgrade),
        // and exactly the upgraded packages' lines differ, each only in
        // its version.
        assert!(
            p["install"].as_array().unwrap().is_empty()
                && p["remove"].as_array().unwrap().is_empty()
        );
        let upgrades: BTreeMap<&str, (&str, &str)> = p["upgrade"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["package"].as_str().unwrap(),
                    (u["from"].as_str().unwrap(), u["version"].as_str().unwrap()),
                )
            })
            .collect();
        let (ol, nl): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
        assert_eq!(ol.len(), nl.len(), "{name}");
        let mut differing = 0;
        for (a, b) in ol.iter().zip(&nl) {
            if a == b {
                continue;
            }
            differing += 1;
            let key = a.trim_start().split(": ").next().unwrap().trim_matches('"');
            let key = key.split(':').next().unwrap();
            let (from, to) = upgrades
                .get(key)
                .unwrap_or_else(|| panic!("{name}: line {a:?} changed but {key} is not upgraded"));
            assert!(a.contains(from) && b.contains(to), "{name}: {a:?} -> {b:?}");
            assert_eq!(
                a.replacen(from, to, 1),
                **b,
                "{name}: only the version changes"
            );
        }
        assert_eq!(differing, upgrades.len(), "{name}");
        // The hand-off script pins every upgrade, sorted, and is valid sh.
        let s = std::fs::read_to_string(&script).unwrap();
        assert!(
            s.contains("apt-get install -y --no-install-recommends"),
            "{s}"
        );
        let pins: Vec<&str> = s
            .lines()
            .filter_map(|l| l.trim().strip_suffix(" \\").or(Some(l.trim())))
            .filter(|l| l.contains('=') && !l.contains(' '))
            .collect();
        let mut sorted = pins.clone();
        sorted.sort();
        assert_eq!(pins, sorted, "{name}");
        assert_eq!(pins.len(), upgrades.len(), "{name}: {s}");
        let syntax = std::process::Command::new("sh")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(syntax.success(), "{name}: {s}");
    }
    assert!(rewritten >= 20, "only {rewritten} manifests rewritten");
    // Comments survived.
    for (path, old) in &before {
        if let Some(first) = old.lines().next().filter(|l| l.starts_with('#')) {
            assert!(std::fs::read_to_string(path).unwrap().starts_with(first));
        }
    }

    // The rewritten manifests read back as the planned sets: planning again
    // finds nothing to do for any of them.
    let again = common::json(&common::in_fleet(&fleet, &["plan", "--format", "json"]));
    for (name, p) in images(&again) {
        if p["broken"] == true {
            continue;
        }
        assert!(
            p["upgrade"].as_array().unwrap().is_empty()
                && p["install"].as_array().unwrap().is_empty()
                && p["remove"].as_array().unwrap().is_empty(),
            "{name} still has a plan after --write: {p}"
        );
    }
    let check = common::json(&common::in_fleet(&fleet, &["check", "--format", "json"]));
    for i in check["images"].as_array().unwrap() {
        assert!(i["updates"].as_array().unwrap().is_empty(), "{i}");
    }
}

#[test]
fn plan_without_a_store_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = tmp.path().join("fleet");
    common::copy_dir(&common::testdata("fleet"), &fleet);
    let out = common::in_fleet(&fleet, &["plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stdout(&out));
    assert!(common::stderr(&out).starts_with("error: "));
}

/// `plan --exec` runs the command once per planned image with the
/// documented environment and records each result as a build: the staged
/// manifest is the planned package set, the output is the log, the digest
/// comes from DIGEST_FILE, a failing command is a failed build.
#[test]
fn exec_builds_and_records_each_planned_image() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = synced_fleet(tmp.path());
    let glob = "memcached-*";
    let plan = common::json(&common::in_fleet(
        &fleet,
        &["plan", "--image", glob, "--format", "json"],
    ));
    let planned: BTreeMap<String, Value> = images(&plan)
        .into_iter()
        .filter(|(_, p)| p["upgrade"].as_array().is_some_and(|u| !u.is_empty()))
        .collect();
    assert!(!planned.is_empty());
    let original: Vec<(PathBuf, String)> = files(&fleet.join("images"))
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();

    let log_dir = tmp.path().join("logs");
    std::fs::create_dir(&log_dir).unwrap();
    let command = format!(
        "echo \"building $BUILD_ID\"; cp \"$MANIFEST\" {logs}/$IMAGE.yaml; \
         printf 'sha256:%064d' 42 > \"$DIGEST_FILE\"",
        logs = log_dir.display()
    );
    let out = common::in_fleet(
        &fleet,
        &[
            "plan", "--image", glob, "--exec", &command, "--jobs", "2", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let report = common::json(&out);
    let builds = report["builds"].as_array().unwrap();
    assert_eq!(builds.len(), planned.len());
    for b in builds {
        let image = b["image"].as_str().unwrap();
        assert_eq!(b["ok"], true, "{b}");
        assert_eq!(b["build"], 1);
        assert_eq!(b["build_id"], format!("{image}#1"));
        // The staged manifest is the planned package set.
        let staged = std::fs::read_to_string(log_dir.join(format!("{image}.yaml"))).unwrap();
        for u in planned[image]["upgrade"].as_array().unwrap() {
            let (p, v) = (
                u["package"].as_str().unwrap(),
                u["version"].as_str().unwrap(),
            );
            assert!(
                staged.lines().any(|l| l.contains(p) && l.contains(v)),
                "{image}: {p} {v} not in the staged manifest"
            );
        }
        // Recorded: digest, result, reason, the package set built.
        let show = common::json(&common::in_fleet(
            &fleet,
            &["build", "show", &format!("{image}#1"), "--format", "json"],
        ));
        assert_eq!(show["digest"], format!("sha256:{:064}", 42));
        assert_eq!(show["result"], "ok");
        assert_eq!(show["reason"], "plan --exec");
        for u in planned[image]["upgrade"].as_array().unwrap() {
            assert_eq!(
                show["packages"][u["package"].as_str().unwrap()],
                u["version"]
            );
        }
    }
    // Without --write the manifests in the repository are untouched.
    for (p, t) in &original {
        assert_eq!(&std::fs::read_to_string(p).unwrap(), t, "{}", p.display());
    }

    // A failing command: recorded as failed, exit 1, numbered #2.
    let out = common::in_fleet(
        &fleet,
        &[
            "plan",
            "--image",
            glob,
            "--exec",
            "echo boom >&2; exit 7",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report = common::json(&out);
    for b in report["builds"].as_array().unwrap() {
        assert_eq!(b["ok"], false);
        assert_eq!(b["status"], "exit status 7");
        assert_eq!(b["build"], 2);
    }
    let listed = common::json(&common::in_fleet(&fleet, &["builds", "--format", "json"]));
    let text = listed.to_string();
    assert!(text.contains("\"failed\""), "{text}");

    // With --write, MANIFEST is the rewritten manifest itself.
    let out = common::in_fleet(
        &fleet,
        &[
            "plan",
            "--image",
            glob,
            "--write",
            "--exec",
            "echo \"$MANIFEST\"",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let again = common::in_fleet(&fleet, &["plan", "--image", glob, "--format", "json"]);
    assert_eq!(again.status.code(), Some(0), "{}", common::stderr(&again));
}
