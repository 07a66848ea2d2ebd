//! End-to-end tests of `debfleet verify-release` through the real binary,
//! on the real Debian InRelease files of the test mirror (cross-checked
//! against `gpgv` and testdata/mirror/PROVENANCE.md) and on the small
//! gpg-generated fixtures of testdata/openpgp/.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference time: after every signature in testdata, before the
/// Valid-Until of the real InRelease files (2 Dec 2026).
const NOW: &str = "2026-11-27T12:00:00Z";

const SUITES: [(&str, &str); 7] = [
    ("debian", "bookworm"),
    ("debian", "bookworm-updates"),
    ("debian", "bookworm-backports"),
    ("debian", "trixie"),
    ("debian", "trixie-updates"),
    ("debian-security", "bookworm-security"),
    ("debian-security", "trixie-security"),
];

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

fn inrelease(archive: &str, suite: &str) -> PathBuf {
    data(&format!("mirror/{archive}/dists/{suite}/InRelease"))
}

fn debian_keyring() -> PathBuf {
    data("keyrings/debian-archive-keyring.gpg")
}

fn debfleet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_debfleet"))
        .args(args)
        .env_remove("DEBFLEET_FLEET")
        .env_remove("DEBFLEET_STATE")
        .output()
        .unwrap()
}

/// Runs `verify-release --format json`; returns (exit code, JSON, stderr).
fn verify_json(file: &Path, keyring: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "--now",
        NOW,
        "verify-release",
        "--format",
        "json",
        "--keyring",
        keyring.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = debfleet(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {stdout}"));
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn assert_rejected(file: &Path, keyring: &Path, extra: &[&str], kind: &str, message: &str) {
    let (code, json, stderr) = verify_json(file, keyring, extra);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["valid"], false, "{json}");
    assert_eq!(json["error_kind"], kind, "{json}");
    let error = json["error"].as_str().unwrap();
    assert!(error.contains(message), "{error:?} lacks {message:?}");
    assert!(stderr.contains(message), "{stderr}");
}

fn fixture_fpr(name: &str) -> String {
    let text = std::fs::read_to_string(data("openpgp/fingerprints.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap()
        .to_string()
}

/// `gpgv --status-fd 1`'s VALIDSIG lines as (primary, signing key) pairs.
fn gpgv_validsigs(keyring: &Path, file: &Path) -> Vec<(String, String)> {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .args(["--status-fd", "1", "--keyring"])
        .arg(keyring)
        .arg(file)
        .output()
        .expect("gpgv is needed as the test oracle (apt-get install gpgv)");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("[GNUPG:] VALIDSIG "))
        .map(|rest| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            (fields.last().unwrap().to_string(), fields[0].to_string())
        })
        .collect()
}

/// Good-signature counts per suite from the PROVENANCE table.
fn provenance_signer_count(suite: &str) -> usize {
    let text = std::fs::read_to_string(data("mirror/PROVENANCE.md")).unwrap();
    let section = text.split("## Signature verification").nth(1).unwrap();
    section
        .lines()
        .find_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() > 4 && cells[2] == suite).then(|| cells[4].split(';').count())
        })
        .unwrap_or_else(|| panic!("{suite} not in PROVENANCE.md"))
}

#[test]
fn real_inreleases_verify_like_gpgv() {
    for (archive, suite) in SUITES {
        let file = inrelease(archive, suite);
        let (code, json, stderr) = verify_json(&file, &debian_keyring(), &[]);
        assert_eq!(code, 0, "{suite}: {stderr}");
        assert_eq!(json["valid"], true);
        let ours: Vec<(String, String)> = json["signers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["fingerprint"].as_str().unwrap().to_string(),
                    s["signing_key"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let oracle = gpgv_validsigs(&debian_keyring(), &file);
        assert_eq!(ours, oracle, "{suite}: signers differ from gpgv");
        assert_eq!(ours.len(), provenance_signer_count(suite), "{suite}");
        assert!(json["ignored"].as_array().unwrap().is_empty());
        for signer in json["signers"].as_array().unwrap() {
            assert!(signer["user_id"].as_str().unwrap().starts_with("Debian"));
        }
        let release = &json["release"];
        assert_eq!(release["codename"], suite);
        assert!(release["sha256_entries"].as_u64().unwrap() > 50, "{suite}");
        assert!(release["date"].as_str().unwrap().starts_with("2026-"));
    }
}

#[test]
fn text_output_shows_signers_and_header() {
    let file = inrelease("debian", "bookworm-backports");
    let keyring = debian_keyring();
    let out = debfleet(&[
        "--now",
        NOW,
        "verify-release",
        "--keyring",
        keyring.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Good signature from B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8 Debian Archive Automatic \
         Signing Key (12/bookworm) <ftpmaster@debian.org>",
        "signing key 4CB50190207B4758A3F73A796ED0E7B82643E131",
        "Origin: Debian Backports\n",
        "Suite: oldstable-backports\n",
        "Codename: bookworm-backports\n",
        "Version: -\n",
        "Date: 2026-11-25T02:10:59Z\n",
        "Valid-Until: 2026-12-02T02:10:59Z\n",
        "Components: main contrib non-free-firmware non-free\n",
        "Acquire-By-Hash: yes\n",
        "NotAutomatic: yes\n",
        "ButAutomaticUpgrades: yes\n",
        "No-Support-for-Architecture-all: Packages\n",
        "valid (2 good signature(s))",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    let entries = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SHA256 entries: "))
        .unwrap();
    let real = std::fs::read_to_string(&file).unwrap();
    let sha256_section = real.split("\nSHA256:\n").nth(1).unwrap();
    let expected = sha256_section
        .lines()
        .take_while(|l| l.starts_with(' '))
        .count();
    assert_eq!(entries, expected.to_string());
}

#[test]
fn one_changed_byte_is_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(inrelease("debian-security", "bookworm-security")).unwrap();
    let pos = bytes.windows(11).position(|w| w == b"Codename: b").unwrap();
    bytes[pos + 10] = b'c';
    let file = dir.path().join("InRelease");
    std::fs::write(&file, &bytes).unwrap();
    assert!(gpgv_validsigs(&debian_keyring(), &file).is_empty());
    assert_rejected(
        &file,
        &debian_keyring(),
        &[],
        "bad-signature",
        "BAD signature",
    );
}

#[test]
fn wrong_keyring_is_unknown_key() {
    // The debian archive is not signed by any security key.
    let keyring = data("keyrings/debian-archive-trixie-security-automatic.gpg");
    assert_rejected(
        &inrelease("debian", "bookworm"),
        &keyring,
        &[],
        "unknown-key",
        "not in keyring",
    );
}

#[test]
fn unsigned_payload_is_not_signed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(inrelease("debian", "trixie-updates")).unwrap();
    let payload = text
        .split_once("\n\n")
        .unwrap()
        .1
        .split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap();
    let file = dir.path().join("Release");
    std::fs::write(&file, payload).unwrap();
    assert_rejected(&file, &debian_keyring(), &[], "not-signed", "not signed");
}

#[test]
fn text_outside_the_signed_part_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(inrelease("debian", "trixie-updates")).unwrap();
    let after = dir.path().join("after");
    let mut bytes = original.clone();
    bytes.extend_from_slice(b"Valid-Until: Sat, 01 Jan 2050 00:00:00 UTC\n");
    std::fs::write(&after, &bytes).unwrap();
    assert_rejected(&after, &debian_keyring(), &[], "malformed", "text after");
    let before = dir.path().join("before");
    let mut bytes = b"Suite: evil\n".to_vec();
    bytes.extend_from_slice(&original);
    std::fs::write(&before, &bytes).unwrap();
    assert_rejected(&before, &debian_keyring(), &[], "malformed", "text before");
}

#[test]
fn valid_until_is_enforced_unless_ignored() {
    let file = inrelease("debian", "trixie-updates");
    let keyring = debian_keyring();
    let late = [
        "--now",
        "2026-12-03T00:00:00Z",
        "verify-release",
        "--keyring",
        keyring.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let out = debfleet(&late);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("Release expired"), "{stderr}");
    assert!(stderr.contains("--ignore-valid-until"), "{stderr}");
    let mut ignoring = late.to_vec();
    ignoring.push("--ignore-valid-until");
    let out = debfleet(&ignoring);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A suite without Valid-Until does not expire.
    let (code, _, stderr) = verify_json(&inrelease("debian", "bookworm"), &keyring, &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn expired_and_revoked_keys_are_distinct_errors() {
    let keyring = data("openpgp/all.gpg");
    assert_rejected(
        &data("openpgp/expired-key.InRelease"),
        &keyring,
        &[],
        "key-expired",
        &format!(
            "{}: the key expired at 2025-01-01T12:00:00Z",
            fixture_fpr("expired")
        ),
    );
    assert_rejected(
        &data("openpgp/revoked-key.InRelease"),
        &keyring,
        &[],
        "key-revoked",
        &format!("{}: the key is revoked", fixture_fpr("revoked")),
    );
}

#[test]
fn two_signatures_one_bad_is_rejected() {
    let keyring = data("openpgp/all.gpg");
    assert_rejected(
        &data("openpgp/one-bad.InRelease"),
        &keyring,
        &[],
        "bad-signature",
        "BAD signature",
    );
    // gpgv's view of the same file: one good, one bad signature.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .args(["--status-fd", "1", "--keyring"])
        .arg(&keyring)
        .arg(data("openpgp/one-bad.InRelease"))
        .output()
        .unwrap();
    let status = String::from_utf8(out.stdout).unwrap();
    assert_eq!(status.matches("[GNUPG:] GOODSIG").count(), 1, "{status}");
    assert_eq!(status.matches("[GNUPG:] BADSIG").count(), 1, "{status}");
}

#[test]
fn sha1_and_future_signatures_are_rejected() {
    let keyring = data("openpgp/all.gpg");
    assert_rejected(
        &data("openpgp/sha1.InRelease"),
        &keyring,
        &[],
        "rejected-by-policy",
        "SHA1",
    );
    assert_rejected(
        &data("openpgp/future.InRelease"),
        &keyring,
        &[],
        "signature-in-future",
        "was made at 2030-01-01T00:00:00Z",
    );
}

#[test]
fn armored_keyring_and_subkey_signer() {
    let (code, json, stderr) = verify_json(
        &data("openpgp/two-signers.InRelease"),
        &data("openpgp/good-second.asc"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let signers = json["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 2);
    assert_eq!(signers[0]["fingerprint"], fixture_fpr("good"));
    assert_eq!(signers[1]["fingerprint"], fixture_fpr("second"));
    assert_ne!(signers[1]["signing_key"], signers[1]["fingerprint"]);
    assert_eq!(signers[1]["created"], "2025-06-01T12:00:00Z");
    let release = &json["release"];
    assert_eq!(release["origin"], "Debfleet Test");
    assert_eq!(release["valid_until"], "2027-06-01T12:00:00Z");
    assert_eq!(
        release["architectures"],
        serde_json::json!(["all", "amd64", "arm64"])
    );
    assert_eq!(release["sha256_entries"], 3);
}

#[test]
fn several_keyrings_combine() {
    let good = data("openpgp/good.gpg");
    let second = data("openpgp/second.gpg");
    let file = data("openpgp/two-signers.InRelease");
    let out = debfleet(&[
        "--now",
        NOW,
        "verify-release",
        "--keyring",
        good.to_str().unwrap(),
        "--keyring",
        second.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("valid (2 good signature(s))"), "{stdout}");
    // With one keyring, the other signature is ignored, not fatal.
    let (code, json, _) = verify_json(&file, &good, &[]);
    assert_eq!(code, 0);
    assert_eq!(json["signers"].as_array().unwrap().len(), 1);
    let ignored = json["ignored"][0].as_str().unwrap();
    assert!(ignored.contains("not in keyring"), "{ignored}");
}

#[test]
fn detached_signature_good_and_tampered() {
    let keyring = data("openpgp/good.gpg");
    let sig = data("openpgp/Release.gpg");
    let sig_arg = sig.to_str().unwrap();
    let (code, json, stderr) =
        verify_json(&data("openpgp/Release"), &keyring, &["--detached", sig_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["signers"][0]["fingerprint"], fixture_fpr("good"));
    assert_eq!(json["release"]["codename"], "testing-fixture");

    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("Release");
    let text = std::fs::read_to_string(data("openpgp/Release")).unwrap();
    std::fs::write(&tampered, text.replace("Version: 1.2", "Version: 1.3")).unwrap();
    assert_rejected(
        &tampered,
        &keyring,
        &["--detached", sig_arg],
        "bad-signature",
        "BAD signature",
    );
    // An InRelease is not a detached signature.
    assert_rejected(
        &data("openpgp/Release"),
        &keyring,
        &["--detached", data("openpgp/InRelease").to_str().unwrap()],
        "malformed",
        "not a \"-----BEGIN PGP SIGNATURE-----\" block",
    );
}

#[test]
fn missing_files_are_clear_errors() {
    let out = debfleet(&[
        "verify-release",
        "--keyring",
        "/nonexistent/keyring.gpg",
        data("openpgp/InRelease").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot read keyring /nonexistent/keyring.gpg"),
        "{stderr}"
    );
    let keyring = data("openpgp/good.gpg");
    let out = debfleet(&[
        "verify-release",
        "--keyring",
        keyring.to_str().unwrap(),
        "/nonexistent/InRelease",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot read /nonexistent/InRelease"),
        "{stderr}"
    );
}
