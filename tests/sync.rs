//! End-to-end tests of `debfleet sync` on the real, signed mirror slice.

mod common;
use common::*;

fn suite<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["suite"] == key)
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

#[test]
fn first_sync_then_resync_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
    let first = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let report = json(&first);
    let updates = suite(&report, "debian/bookworm-updates");
    assert_eq!(updates["status"], "updated");
    // Independent truth: count the stanzas with xz + grep.
    let expected =
        count_packages("mirror/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz");
    assert_eq!(updates["packages"].as_u64().unwrap(), expected);
    assert_eq!(updates["added"].as_u64().unwrap(), expected);
    let security = suite(&report, "debian-security/bookworm-security");
    assert_eq!(security["status"], "updated");
    assert_eq!(
        security["packages"].as_u64().unwrap(),
        count_packages(
            "mirror/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
        )
    );
    let before = store_state(dir.path());

    let second = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let report = json(&second);
    for s in report["suites"].as_array().unwrap() {
        assert_eq!(s["status"], "unchanged", "{s}");
    }
    assert_eq!(store_state(dir.path()), before);

    // Offline re-verification from the store alone.
    assert_all_generations_verify(dir.path(), 2);

    // First-seen queries.
    let seen = in_fleet(
        dir.path(),
        &[
            "mirror",
            "seen",
            "tzdata",
            &first_version(
                "mirror/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz",
                "tzdata",
            ),
            "--format",
            "json",
        ],
    );
    assert!(seen.status.success(), "{}", stderr(&seen));
    assert!(json(&seen)["seen"][0]["first_generation"].as_u64().unwrap() > 0);
}

fn count_packages(rel: &str) -> u64 {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc '{}' | grep -c '^Package: '",
            testdata(rel).display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn first_version(rel: &str, package: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc '{}' | awk '/^Package: /{{p=$2}} /^Version: /{{if (p==\"{package}\") {{print $2; exit}}}}'",
            testdata(rel).display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A copy of the small mirror that a test may tamper with.
fn tamperable_mirror() -> tempfile::TempDir {
    let mirror = tempfile::tempdir().unwrap();
    copy_suites("debian", &["bookworm-updates"], mirror.path());
    copy_suites("debian-security", &["bookworm-security"], mirror.path());
    mirror
}

fn flip_byte(path: &std::path::Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn tampered_index_is_refused_and_the_store_is_unchanged() {
    let mirror = tamperable_mirror();
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), mirror.path(), &debian_keyring());
    // Tampered before the first sync: that suite fails, the other lands.
    let packages = mirror
        .path()
        .join("debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz");
    let original = std::fs::read(&packages).unwrap();
    flip_byte(&packages, 1000);
    let out = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json(&out);
    let sec = suite(&report, "debian-security/bookworm-security");
    assert_eq!(sec["status"], "failed");
    let err = sec["error"].as_str().unwrap();
    assert!(
        err.contains("Packages.xz") && err.contains("SHA256"),
        "{err}"
    );
    assert_eq!(
        suite(&report, "debian/bookworm-updates")["status"],
        "updated"
    );

    // Repair, sync, then tamper again: the good generation stays in force.
    std::fs::write(&packages, &original).unwrap();
    let ok = in_fleet(dir.path(), &["sync"]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    let before = store_state(dir.path());
    flip_byte(
        &mirror
            .path()
            .join("debian-security/dists/bookworm-security/InRelease"),
        2000,
    );
    let out = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let err = suite(&report, "debian-security/bookworm-security")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("InRelease") && err.to_lowercase().contains("signature"),
        "{err}"
    );
    assert_eq!(store_state(dir.path()), before);
}

#[test]
fn wrong_keyring_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    small_fleet(
        dir.path(),
        &testdata("mirror"),
        &testdata("keyrings/debian-archive-bullseye-stable.gpg"),
    );
    let out = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    for key in [
        "debian/bookworm-updates",
        "debian-security/bookworm-security",
    ] {
        let s = suite(&report, key);
        assert_eq!(s["status"], "failed");
        assert!(
            s["error"].as_str().unwrap().contains("keyring"),
            "{}",
            s["error"]
        );
    }
}

#[test]
fn expired_release_is_refused_unless_allowed_and_then_recorded() {
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
    let fleet = dir.path().to_str().unwrap();
    // bookworm-security's Valid-Until is 2026-12-02.
    let late = "2026-12-10T00:00:00Z";
    let out = debfleet(&["--fleet", fleet, "--now", late, "sync", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let s = suite(&report, "debian-security/bookworm-security");
    assert_eq!(s["status"], "failed");
    assert!(
        s["error"].as_str().unwrap().contains("Valid-Until"),
        "{}",
        s["error"]
    );
    // bookworm-updates has no Valid-Until and lands; the security suite does not.
    let gens = json(&debfleet(&[
        "--fleet",
        fleet,
        "mirror",
        "generations",
        "--format",
        "json",
    ]));
    let suites: Vec<&str> = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["suite"].as_str().unwrap())
        .collect();
    assert_eq!(suites, ["bookworm-updates"]);

    let out = debfleet(&[
        "--fleet",
        fleet,
        "--now",
        late,
        "sync",
        "--allow-expired",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        suite(&report, "debian-security/bookworm-security")["accepted_expired"],
        true
    );
    let gens = json(&debfleet(&[
        "--fleet",
        fleet,
        "mirror",
        "generations",
        "--format",
        "json",
    ]));
    assert!(
        gens["generations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["accepted_expired"] == true)
    );
}

#[test]
fn whole_example_fleet_syncs_and_reports_the_unmirrored_base() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let out = debfleet(&[
        "--fleet",
        testdata("fleet").to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--now",
        NOW,
        "sync",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let report = json(&out);
    let suites = report["suites"].as_array().unwrap();
    let updated = suites.iter().filter(|s| s["status"] == "updated").count();
    let not_mirrored = suites
        .iter()
        .filter(|s| s["status"] == "not-mirrored")
        .count();
    assert_eq!(updated, 7, "{report}");
    assert_eq!(not_mirrored, 3, "{report}");
    // bookworm's arch-all packages come from binary-amd64 (No-Support-for-Architecture-all).
    let bookworm = suite(&report, "debian/bookworm");
    assert_eq!(
        bookworm["packages"].as_u64().unwrap(),
        count_packages("mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz")
    );
}

#[test]
fn second_writer_is_told_who_holds_the_store_or_waits() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
    // Hold the write lock with the sync of a big suite (trixie).
    let yaml = std::fs::read_to_string(dir.path().join("fleet.yaml")).unwrap();
    std::fs::write(
        dir.path().join("fleet.yaml"),
        yaml.replace("bookworm-updates", "trixie"),
    )
    .unwrap();
    let spawn_holder = || {
        Command::new(env!("CARGO_BIN_EXE_debfleet"))
            .args([
                "--fleet",
                dir.path().to_str().unwrap(),
                "--now",
                NOW,
                "sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let writer_file = dir.path().join(".debfleet/state.redb.writer");
    let wait_for_lock = || {
        let start = std::time::Instant::now();
        while !writer_file.exists() && start.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    };
    let mut holder = spawn_holder();
    wait_for_lock();
    let second = in_fleet(dir.path(), &["sync"]);
    let holder_done = holder.wait().unwrap();
    assert!(holder_done.success());
    // Unless the holder finished before the second writer tried:
    if !second.status.success() {
        let err = stderr(&second);
        assert!(
            err.contains("another debfleet process") && err.contains("pid"),
            "{err}"
        );
    }
    // With --wait the second writer waits for the lock and succeeds. The
    // store changed in between (the holder's sync), so force new work:
    std::fs::remove_file(dir.path().join(".debfleet/state.redb")).unwrap();
    let mut holder = spawn_holder();
    wait_for_lock();
    let waited = in_fleet(dir.path(), &["sync", "--wait"]);
    assert!(holder.wait().unwrap().success());
    assert!(waited.status.success(), "{}", stderr(&waited));
}

/// Each new generation is appended to the audit journal with the actor
/// given by --actor; an unchanged resync appends nothing.
#[test]
fn sync_generations_are_journalled_with_the_actor() {
    use debfleet::store::journal::{KIND_SYNC_GENERATION, entries_of_kind};
    use debfleet::store::{OpenMode, Store};
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
    let out = in_fleet(dir.path(), &["--actor", "build-host-7", "sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = in_fleet(dir.path(), &["--actor", "someone-else", "sync"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let store = Store::open(&dir.path().join(".debfleet/state.redb"), OpenMode::Read).unwrap();
    let txn = store.read().unwrap();
    let entries = entries_of_kind(&txn, KIND_SYNC_GENERATION).unwrap();
    assert_eq!(entries.len(), 2, "one entry per suite of the small fleet");
    assert!(entries.iter().all(|e| e.actor == "build-host-7"));
    let verify = in_fleet(dir.path(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

/// The candidate tables a sync builds from its records in memory (while
/// its commit is written) are byte for byte the tables built from the
/// store: after a first sync (every index from memory) and after a sync
/// that adds one suite to bases whose other suites are unchanged (the
/// trixie table then mixes records in memory and records read back).
#[test]
fn tables_built_during_the_commit_equal_tables_built_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["fleet", "mirror", "keyrings", "distro-info"] {
        copy_dir(&testdata(sub), &dir.path().join(sub));
    }
    let fleet = dir.path().join("fleet");
    let held_back = dir.path().join("trixie-security");
    std::fs::rename(
        dir.path()
            .join("mirror/debian-security/dists/trixie-security"),
        &held_back,
    )
    .unwrap();
    let tables = fleet.join(".debfleet/state.redb.d/tables");
    // (file name, size, SHA-256 of the bytes): byte-for-byte equality with
    // a readable failure message.
    let read_tables = || {
        let mut files: Vec<(String, usize, String)> = std::fs::read_dir(&tables)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let bytes = std::fs::read(e.path()).unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    bytes.len(),
                    debfleet::deb::hash::Sha256Digest::of(&bytes).to_hex(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let sync = || {
        let out = with_state(
            &fleet,
            &fleet.join(".debfleet/state.redb"),
            NOW,
            &["sync", "--format", "json"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        json(&out)
    };
    let compare_with_rebuilt = |what: &str| {
        let during_commit = read_tables();
        assert_eq!(during_commit.len(), 4, "{what}: one table per base");
        std::fs::remove_dir_all(&tables).unwrap();
        // Nothing changed upstream: this sync only rebuilds the tables, from the store.
        let report = sync();
        assert!(
            report["suites"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["status"] != "updated"),
            "{what}: {report}"
        );
        assert_eq!(during_commit, read_tables(), "{what}");
    };
    sync();
    compare_with_rebuilt("first sync");
    std::fs::rename(
        &held_back,
        dir.path()
            .join("mirror/debian-security/dists/trixie-security"),
    )
    .unwrap();
    let report = sync();
    assert_eq!(
        suite(&report, "debian-security/trixie-security")["status"],
        "updated"
    );
    assert_eq!(suite(&report, "debian/trixie")["status"], "unchanged");
    compare_with_rebuilt("one suite added");
}
