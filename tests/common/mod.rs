//! Shared helpers for end-to-end tests: run the real binary, build
//! temporary fleets over the bundled mirror slice.
#![allow(dead_code)]

pub mod apt_root;
pub mod bounded;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The frozen clock used against the bundled mirror slice (inside every
/// Valid-Until window).
pub const NOW: &str = "2026-11-27T12:00:00Z";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(rel: &str) -> PathBuf {
    repo().join("testdata").join(rel)
}

/// Runs debfleet with `args` (no `--now` added).
pub fn debfleet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_debfleet"))
        .args(args)
        .env_remove("DEBFLEET_FLEET")
        .env_remove("DEBFLEET_STATE")
        // Tests talk to loopback servers directly.
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run debfleet")
}

/// Runs debfleet on `fleet` with the store at `state` and the clock at
/// `now`; `args` may start with more global options (e.g. `--actor`).
pub fn with_state(fleet: &Path, state: &Path, now: &str, args: &[&str]) -> Output {
    let fleet = fleet.to_str().expect("utf-8 path");
    let state = state.to_str().expect("utf-8 path");
    let mut all = vec!["--fleet", fleet, "--state", state, "--now", now];
    all.extend_from_slice(args);
    debfleet(&all)
}

/// Runs debfleet in a fleet directory with the frozen clock.
pub fn in_fleet(fleet: &Path, args: &[&str]) -> Output {
    let fleet = fleet.to_str().expect("utf-8 path");
    let mut all = vec!["--fleet", fleet, "--now", NOW];
    all.extend_from_slice(args);
    debfleet(&all)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

/// Recursively copies a directory.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        // A state store left by a local run of the README command is not
        // part of the fixture.
        if entry.file_name() == ".debfleet" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies the listed suites of an archive of the bundled mirror into `dest`.
pub fn copy_suites(archive: &str, suites: &[&str], dest: &Path) {
    for suite in suites {
        copy_dir(
            &testdata(&format!("mirror/{archive}/dists/{suite}")),
            &dest.join(archive).join("dists").join(suite),
        );
    }
}

/// A fleet.yaml in `dir` with one base `small` over bookworm-updates and
/// bookworm-security from `mirror` (a directory holding `debian` and
/// `debian-security`).
pub fn small_fleet(dir: &Path, mirror: &Path, keyring: &Path) {
    let yaml = format!(
        "archives:\n  debian: {}\n  debian-security: {}\nkeyring: {}\nbases:\n  small:\n    release: \"12\"\n    architectures: [amd64]\n    repositories:\n      - {{archive: debian, suite: bookworm-updates, components: [main]}}\n      - {{archive: debian-security, suite: bookworm-security, components: [main]}}\nmanifests: images/*.yaml\n",
        mirror.join("debian").display(),
        mirror.join("debian-security").display(),
        keyring.display()
    );
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}

/// The combined Debian archive keyring in testdata.
pub fn debian_keyring() -> PathBuf {
    testdata("keyrings/debian-archive-keyring.gpg")
}

/// The store state (suites and generations) as JSON, for "unchanged" asserts.
pub fn store_state(fleet: &Path) -> (serde_json::Value, serde_json::Value) {
    let status = in_fleet(fleet, &["mirror", "status", "--format", "json"]);
    let gens = in_fleet(fleet, &["mirror", "generations", "--format", "json"]);
    let mut s = json(&status);
    // last_synced moves with every sync; the data does not.
    if let Some(suites) = s["suites"].as_array_mut() {
        for suite in suites {
            suite["last_synced"] = serde_json::Value::Null;
        }
    }
    (s["suites"].clone(), json(&gens))
}

/// Asserts that `mirror verify --all` re-verifies `generations` generations
/// of the fleet's store with no failure.
pub fn assert_all_generations_verify(fleet: &Path, generations: usize) {
    let verify = in_fleet(fleet, &["mirror", "verify", "--all"]);
    assert!(
        verify.status.success(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    let expected = format!("{generations} generations verified, 0 failed");
    assert!(stdout(&verify).contains(&expected), "{}", stdout(&verify));
}
