//! End-to-end tests of air-gap bundles: `mirror export` on a synced host,
//! `mirror import` on a host whose mirror does not exist.

mod common;
use common::*;
use debfleet::deb::hash::Sha256Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs debfleet in a fleet with the frozen clock (or `now`) and `TMPDIR`
/// pointing at `tmp`, so tests can see what extraction leaves behind.
fn run_in(fleet: &Path, tmp: &Path, now: &str, args: &[&str]) -> Output {
    std::fs::create_dir_all(tmp).unwrap();
    Command::new(env!("CARGO_BIN_EXE_debfleet"))
        .args(["--fleet", fleet.to_str().unwrap(), "--now", now])
        .args(args)
        .env_remove("DEBFLEET_FLEET")
        .env_remove("DEBFLEET_STATE")
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

fn suite<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["suite"] == key)
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

/// A synced source fleet (the small fleet over the bundled mirror) and a
/// bundle exported from it.
struct Source {
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

fn synced_source() -> Source {
    let dir = tempfile::tempdir().unwrap();
    small_fleet(dir.path(), &testdata("mirror"), &debian_keyring());
    let out = in_fleet(dir.path(), &["sync"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let bundle = dir.path().join("out.bundle");
    export(dir.path(), &bundle);
    Source { dir, bundle }
}

fn export(fleet: &Path, bundle: &Path) -> serde_json::Value {
    let out = in_fleet(
        fleet,
        &[
            "mirror",
            "export",
            "--out",
            bundle.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    json(&out)
}

/// A fresh fleet over the same suites whose mirror directory does not exist.
fn air_gapped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("no-such-mirror");
    small_fleet(dir.path(), &mirror, &debian_keyring());
    assert!(!mirror.exists());
    dir
}

fn state_file(fleet: &Path) -> PathBuf {
    fleet.join(".debfleet/state.redb")
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).unwrap().next().is_none()
}

/// The fields of each generation that must survive the trip.
fn generation_digest(gens: &serde_json::Value) -> Vec<serde_json::Value> {
    gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            serde_json::json!({
                "id": g["id"], "archive": g["archive"], "suite": g["suite"],
                "inrelease_sha256": g["inrelease_sha256"], "date": g["date"],
                "valid_until": g["valid_until"], "signers": g["signers"],
                "indexes": g["indexes"].as_array().unwrap().iter().map(|i| serde_json::json!({
                    "key": i["key"], "sha256": i["sha256"], "size": i["size"],
                    "blob": i["blob"], "blob_path": i["blob_path"], "packages": i["packages"],
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Splits a bundle into (manifest JSON, data after the manifest).
fn split_bundle(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let eol = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..eol]).unwrap();
    let words: Vec<&str> = header.split(' ').collect();
    assert_eq!(&words[..2], ["debfleet-bundle", "1"], "{header}");
    let len: usize = words[2].parse().unwrap();
    let manifest = &bytes[eol + 1..eol + 1 + len];
    assert_eq!(Sha256Digest::of(manifest).to_hex(), words[3]);
    assert_eq!(bytes[eol + 1 + len], b'\n');
    (
        serde_json::from_slice(manifest).unwrap(),
        bytes[eol + 2 + len..].to_vec(),
    )
}

/// Reassembles a bundle with a correct header for `manifest`.
fn join_bundle(manifest: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(manifest).unwrap();
    let mut out = format!(
        "debfleet-bundle 1 {} {}\n",
        json.len(),
        Sha256Digest::of(&json).to_hex()
    )
    .into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

#[test]
fn export_then_air_gapped_import_reproduces_the_store() {
    let source = synced_source();
    let exported = export(source.dir.path(), &source.bundle);
    assert_eq!(exported["exported_at"], NOW);
    assert_eq!(
        exported["suites"].as_array().unwrap().len(),
        2,
        "{exported}"
    );
    // The container layout is what docs/design.md says.
    let (manifest, data) = split_bundle(&std::fs::read(&source.bundle).unwrap());
    let entries = manifest["entries"].as_array().unwrap();
    let total: u64 = entries.iter().map(|e| e["size"].as_u64().unwrap()).sum();
    assert_eq!(total, data.len() as u64);
    let paths: Vec<String> = entries
        .iter()
        .map(|e| format!("{}/{}/{}", e["archive"], e["suite"], e["path"]).replace('"', ""))
        .collect();
    assert!(
        paths.contains(&"debian/bookworm-updates/main/binary-amd64/Packages.xz".to_string()),
        "{paths:?}"
    );
    // Each entry is byte-identical to the mirror file it came from.
    let mut offset = 0usize;
    for e in entries {
        let size = e["size"].as_u64().unwrap() as usize;
        let original = std::fs::read(testdata(&format!(
            "mirror/{}/dists/{}/{}",
            e["archive"].as_str().unwrap(),
            e["suite"].as_str().unwrap(),
            e["path"].as_str().unwrap()
        )))
        .unwrap();
        assert_eq!(&data[offset..offset + size], original.as_slice(), "{e}");
        offset += size;
    }

    let target = air_gapped();
    let tmp = target.path().join("tmp");
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &[
            "mirror",
            "import",
            source.bundle.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    for key in [
        "debian/bookworm-updates",
        "debian-security/bookworm-security",
    ] {
        assert_eq!(suite(&report, key)["status"], "updated", "{report}");
    }
    assert!(is_empty_dir(&tmp), "extraction directory left behind");

    let (src_status, src_gens) = store_state(source.dir.path());
    let (dst_status, dst_gens) = store_state(target.path());
    assert_eq!(dst_status, src_status);
    assert_eq!(generation_digest(&dst_gens), generation_digest(&src_gens));
    assert_eq!(generation_digest(&dst_gens).len(), 2);

    assert_all_generations_verify(target.path(), 2);

    // Importing the same bundle again changes nothing.
    let before = store_state(target.path());
    let again = run_in(
        target.path(),
        &tmp,
        NOW,
        &[
            "mirror",
            "import",
            source.bundle.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    for s in json(&again)["suites"].as_array().unwrap() {
        assert_eq!(s["status"], "unchanged", "{s}");
    }
    assert_eq!(store_state(target.path()), before);
    assert!(is_empty_dir(&tmp));
}

#[test]
fn a_flipped_byte_anywhere_is_refused_with_the_store_unchanged() {
    let source = synced_source();
    let good = std::fs::read(&source.bundle).unwrap();
    let target = air_gapped();
    let tmp = target.path().join("tmp");
    let bad_bundle = target.path().join("bad.bundle");

    // On a fresh host nothing is created, not even the store.
    let mut bytes = good.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&bad_bundle, &bytes).unwrap();
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &["mirror", "import", bad_bundle.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("refusing the bundle; the store was not changed")
            && err.contains("SHA256")
            && err.contains("main/binary-amd64/Packages.xz"),
        "{err}"
    );
    assert!(!state_file(target.path()).exists());
    assert!(is_empty_dir(&tmp));

    // On a host with data, the store stays as it was.
    let ok = run_in(
        target.path(),
        &tmp,
        NOW,
        &["mirror", "import", source.bundle.to_str().unwrap()],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = store_state(target.path());
    let (manifest, _) = split_bundle(&good);
    let head_len = good.len()
        - manifest["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["size"].as_u64().unwrap() as usize)
            .sum::<usize>();
    // Header, manifest, the first InRelease, an index, the last byte.
    for at in [
        0,
        16,
        40,
        head_len / 2,
        head_len - 1,
        head_len + 10,
        head_len + 20_000,
        good.len() / 2,
        good.len() - 1,
    ] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&bad_bundle, &bytes).unwrap();
        let out = run_in(
            target.path(),
            &tmp,
            NOW,
            &["mirror", "import", bad_bundle.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "flip at {at}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("refusing the bundle"),
            "flip at {at}: {}",
            stderr(&out)
        );
        assert_eq!(store_state(target.path()), before, "flip at {at}");
        assert!(is_empty_dir(&tmp), "flip at {at}: leftovers");
    }
    // A truncated bundle, too.
    std::fs::write(&bad_bundle, &good[..good.len() - 100]).unwrap();
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &["mirror", "import", bad_bundle.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
    assert_eq!(store_state(target.path()), before);
}

#[test]
fn an_entry_escaping_the_bundle_is_refused_before_anything_is_written() {
    let source = synced_source();
    let (mut manifest, data) = split_bundle(&std::fs::read(&source.bundle).unwrap());
    let entries = manifest["entries"].as_array_mut().unwrap();
    let index = entries
        .iter()
        .position(|e| e["path"] != "InRelease")
        .unwrap();
    entries[index]["path"] = serde_json::json!("../../../../../escaped");
    let target = air_gapped();
    let tmp = target.path().join("tmp");
    let bad_bundle = target.path().join("escape.bundle");
    std::fs::write(&bad_bundle, join_bundle(&manifest, &data)).unwrap();
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &["mirror", "import", bad_bundle.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing the bundle")
            && err.contains(&format!("entry {index}"))
            && err.contains("\"..\" not allowed"),
        "{err}"
    );
    assert!(!state_file(target.path()).exists());
    assert!(is_empty_dir(&tmp));
    let escaped = walkdir::WalkDir::new(target.path())
        .into_iter()
        .filter_map(Result::ok)
        .any(|e| e.file_name() == "escaped");
    assert!(!escaped && !Path::new("/escaped").exists());
}

#[test]
fn an_expired_bundle_needs_allow_expired_which_is_recorded() {
    let source = synced_source();
    let target = air_gapped();
    let tmp = target.path().join("tmp");
    // bookworm-security's Valid-Until is 2026-12-02; bookworm-updates has none.
    let late = "2026-12-10T00:00:00Z";
    let bundle = source.bundle.to_str().unwrap();
    let out = run_in(
        target.path(),
        &tmp,
        late,
        &["mirror", "import", bundle, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let sec = suite(&report, "debian-security/bookworm-security");
    assert_eq!(sec["status"], "failed");
    assert!(
        sec["error"].as_str().unwrap().contains("Valid-Until"),
        "{sec}"
    );
    assert_eq!(
        suite(&report, "debian/bookworm-updates")["status"],
        "updated"
    );

    let out = run_in(
        target.path(),
        &tmp,
        late,
        &[
            "mirror",
            "import",
            bundle,
            "--allow-expired",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let sec = suite(&report, "debian-security/bookworm-security");
    assert_eq!(sec["status"], "updated");
    assert_eq!(sec["accepted_expired"], true);
    assert_eq!(
        suite(&report, "debian/bookworm-updates")["status"],
        "unchanged"
    );
    let gens = json(&in_fleet(
        target.path(),
        &["mirror", "generations", "--format", "json"],
    ));
    let sec_gen = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["suite"] == "bookworm-security")
        .unwrap();
    assert_eq!(sec_gen["accepted_expired"], true);
    assert_eq!(sec_gen["fetched_at"], late);
}

#[test]
fn suites_missing_from_the_bundle_are_reported_and_later_bundles_add_only_what_changed() {
    let source = synced_source();
    // The air-gapped fleet also uses trixie-updates, which the first bundle lacks.
    let target = air_gapped();
    let tmp = target.path().join("tmp");
    let add_trixie = |fleet: &Path| {
        let yaml = std::fs::read_to_string(fleet.join("fleet.yaml")).unwrap();
        let extra = "      - {archive: debian, suite: trixie-updates, components: [main]}\n";
        let yaml = yaml.replace("manifests:", &format!("{extra}manifests:"));
        std::fs::write(fleet.join("fleet.yaml"), yaml).unwrap();
    };
    add_trixie(target.path());
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &[
            "mirror",
            "import",
            source.bundle.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    let trixie = suite(&report, "debian/trixie-updates");
    assert_eq!(trixie["status"], "not-mirrored");
    assert_eq!(trixie["error"], "not in bundle");
    let table = run_in(
        target.path(),
        &tmp,
        NOW,
        &["mirror", "import", source.bundle.to_str().unwrap()],
    );
    assert!(
        stdout(&table).contains("not in bundle"),
        "{}",
        stdout(&table)
    );

    // The connected host starts using trixie-updates too; the next bundle
    // brings only that suite in, the others are unchanged.
    add_trixie(source.dir.path());
    let sync = in_fleet(source.dir.path(), &["sync"]);
    assert!(sync.status.success(), "{}", stderr(&sync));
    let second = source.dir.path().join("second.bundle");
    export(source.dir.path(), &second);
    let out = run_in(
        target.path(),
        &tmp,
        NOW,
        &[
            "mirror",
            "import",
            second.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(suite(&report, "debian/trixie-updates")["status"], "updated");
    for key in [
        "debian/bookworm-updates",
        "debian-security/bookworm-security",
    ] {
        assert_eq!(suite(&report, key)["status"], "unchanged", "{report}");
    }
    let (src_status, _) = store_state(source.dir.path());
    let (dst_status, _) = store_state(target.path());
    assert_eq!(dst_status, src_status);

    // A host whose fleet does not use a carried suite ignores it, and says so.
    let narrow = air_gapped();
    let out = run_in(
        narrow.path(),
        &narrow.path().join("tmp"),
        NOW,
        &["mirror", "import", second.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("debian/trixie-updates, which no base of this fleet uses"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_of_an_empty_store_is_an_error() {
    let dir = air_gapped();
    let bundle = dir.path().join("x.bundle");
    // No store at all.
    let out = in_fleet(
        dir.path(),
        &["mirror", "export", "--out", bundle.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("debfleet sync"), "{}", stderr(&out));
    assert!(!bundle.exists());
}
