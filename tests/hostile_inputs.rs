//! End-to-end tests of hostile inputs through the real binary (issue 8).
//!
//! One test per input. Each asserts that debfleet exits non-zero with an
//! error naming the file (and the line or field where that applies) and
//! what is wrong, that it does not panic, and, where a store is involved,
//! that the store is unchanged: `mirror status` and `mirror generations`
//! (or `security status`) before and after, or the store file's bytes when
//! nothing may be written at all.
//!
//! Mirrors are built here with gpg, `xz` and `gzip` (see `testmirror`):
//! keys made at a faked time, a `Release` written by hand so that it can say
//! anything, clearsigned into `InRelease`. The first sync of a world lands a
//! good generation; the hostile publication comes second and must change
//! nothing.
//!
//! Signature cases already covered elsewhere are not repeated: Valid-Until
//! in the past (`sync.rs`, `verify_release.rs`), a Release older than the
//! stored one (`sync_pdiff.rs`), a flipped byte in the InRelease (`sync.rs`).
//! Wrong types and missing fields of tracker JSON have cases in
//! `security.rs`; the ones here are other shapes.

mod common;
mod testmirror;

use common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use testmirror::{gzip, pipe, release_date, stanzas, sum, xz};

const SUITE: &str = "test";
/// The Release of the good state is dated this; hostile ones a day later.
const DATE0: &str = "2026-06-01T08:00:00Z";
/// `--now` for the test mirrors.
const NOW_T: &str = "2026-08-01T00:00:00Z";
/// The directory of the one index of a test suite.
const BINARY: &str = "main/binary-amd64";

fn date(days: i64) -> Timestamp {
    let d0: Timestamp = DATE0.parse().unwrap();
    d0.checked_add(SignedDuration::from_hours(24 * days))
        .unwrap()
}

/// Asserts the run failed (exit 1) without a panic, and returns
/// stdout + stderr for the message checks.
fn assert_failed_cleanly(out: &Output, what: &str) -> String {
    let text = format!("{}{}", stdout(out), stderr(out));
    assert!(!text.contains("panicked"), "{what}: panicked:\n{text}");
    assert_eq!(out.status.code(), Some(1), "{what}: exit code:\n{text}");
    text
}

fn sha256_file(path: &Path) -> String {
    sum(&std::fs::read(path).unwrap()).0
}

// ---------------------------------------------------------------------------
// Keys (several, with expiry) in one throwaway GNUPGHOME.

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg { home }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let mut all = vec![
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ];
        all.extend_from_slice(args);
        let out = pipe(
            Command::new("gpg")
                .env("GNUPGHOME", self.home.path())
                .args(&all),
            stdin,
        );
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// An ed25519 signing key for `name`, created at `created`, expiring
    /// at `expires` (`"never"` or a date). Returns its fingerprint.
    fn key(&self, name: &str, created: Timestamp, expires: &str) -> String {
        let uid = format!("{name} <{name}@example.invalid>");
        self.run(
            &[
                "--faked-system-time",
                &faked(created),
                "--quick-gen-key",
                &uid,
                "ed25519",
                "sign",
                expires,
            ],
            b"",
        );
        let listing = self.run(
            &[
                "--with-colons",
                "--list-keys",
                &format!("{name}@example.invalid"),
            ],
            b"",
        );
        String::from_utf8(listing)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("gpg lists the fingerprint")
    }

    /// A binary keyring holding the given keys.
    fn export(&self, fprs: &[&str], to: &Path) {
        let mut args = vec!["--export"];
        args.extend_from_slice(fprs);
        let bytes = self.run(&args, b"");
        assert!(!bytes.is_empty());
        std::fs::write(to, bytes).unwrap();
    }

    /// `gpg --clearsign` of `text` by `fpr` at `at`.
    fn clearsign(&self, fpr: &str, text: &[u8], at: Timestamp) -> Vec<u8> {
        self.run(
            &[
                "--faked-system-time",
                &faked(at),
                "--local-user",
                fpr,
                "--digest-algo",
                "SHA256",
                "--clearsign",
            ],
            text,
        )
    }

    /// The binary signature packets of a clearsigned message.
    fn signature_packets(&self, clearsigned: &[u8]) -> Vec<u8> {
        let text = String::from_utf8(clearsigned.to_vec()).unwrap();
        let start = text.find("-----BEGIN PGP SIGNATURE-----").unwrap();
        self.run(&["--dearmor"], &text.as_bytes()[start..])
    }

    /// `text` clearsigned with the given binary signature packets.
    fn splice(&self, clearsigned_text_of: &[u8], packets: &[u8]) -> Vec<u8> {
        let armored = String::from_utf8(self.run(&["--enarmor"], packets)).unwrap();
        let armored: String = armored
            .replace("PGP ARMORED FILE", "PGP SIGNATURE")
            .lines()
            .filter(|l| !l.starts_with("Comment:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = String::from_utf8(clearsigned_text_of.to_vec()).unwrap();
        let start = text.find("-----BEGIN PGP SIGNATURE-----").unwrap();
        format!("{}{armored}", &text[..start]).into_bytes()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn faked(t: Timestamp) -> String {
    format!("{}!", t.strftime("%Y%m%dT%H%M%S"))
}

// ---------------------------------------------------------------------------
// A signed test mirror with one suite and a fleet over it.

/// One `<sha256> <size> <path>` line of a Release's SHA256 list.
struct Listed {
    hash: String,
    size: u64,
    path: String,
}

fn listed(data: &[u8], path: &str) -> Listed {
    let (hash, size) = sum(data);
    Listed {
        hash,
        size,
        path: path.to_string(),
    }
}

/// A Release text dated `at` listing `entries`.
fn release_text(at: Timestamp, entries: &[Listed]) -> String {
    let mut release = format!(
        "Origin: Debfleet Test\nLabel: Debfleet Test\nSuite: {SUITE}\nCodename: {SUITE}\n\
         Date: {}\nArchitectures: amd64\nComponents: main\n\
         Description: debfleet hostile-input test archive\n\
         No-Support-for-Architecture-all: Packages\nSHA256:\n",
        release_date(at)
    );
    for e in entries {
        release.push_str(&format!(" {} {:>8} {}\n", e.hash, e.size, e.path));
    }
    release
}

/// The first 40 stanzas of the real bookworm-security Packages: a small,
/// real index.
fn small_packages() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let all = testmirror::real_security_packages();
        let some: Vec<String> = stanzas(&all).into_iter().take(40).collect();
        testmirror::join_stanzas(&some)
    })
}

/// `small_packages()`, plus for `day > 0` one more package, so that each
/// day's index differs from the stored one (an index whose signed SHA-256
/// equals the stored one is not fetched at all).
fn day_packages(day: i64) -> Vec<u8> {
    let mut packages = small_packages().to_vec();
    if day > 0 {
        let first = stanzas(small_packages()).remove(0);
        packages.extend_from_slice(b"\n");
        packages.extend_from_slice(testmirror::renamed(&first, &format!("d{day}")).as_bytes());
        packages.extend_from_slice(b"\n");
    }
    packages
}

struct World {
    gpg: Gpg,
    /// The key in the fleet's keyring that signs the good publications.
    good: String,
    dir: tempfile::TempDir,
    mirror: PathBuf,
    fleet: PathBuf,
}

impl World {
    fn new() -> World {
        let gpg = Gpg::new();
        let good = gpg.key("good", date(-200), "never");
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("mirror");
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        let keyring = dir.path().join("keyring.gpg");
        gpg.export(&[&good], &keyring);
        std::fs::write(
            fleet.join("fleet.yaml"),
            format!(
                "archives:\n  test: {}\nkeyring: {}\nbases:\n  t:\n    release: \"12\"\n    \
                 architectures: [amd64]\n    repositories:\n      \
                 - {{archive: test, suite: {SUITE}, components: [main]}}\nmanifests: images/*.yaml\n",
                mirror.display(),
                keyring.display()
            ),
        )
        .unwrap();
        World {
            gpg,
            good,
            dir,
            mirror,
            fleet,
        }
    }

    /// A world whose store holds one good generation (day 0).
    fn synced() -> World {
        let w = World::new();
        w.publish_good(0);
        let out = w.run(&["sync", "--format", "json"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert_eq!(json(&out)["suites"][0]["status"], "updated");
        w
    }

    fn suite_dir(&self) -> PathBuf {
        self.mirror.join("dists").join(SUITE)
    }

    /// Writes `dists/test/main/binary-amd64/<name>`.
    /// Writes the small Packages index as Packages.xz and returns a
    /// Release text dated `at` that lists it correctly (both forms).
    fn publish_small_index(&self, at: Timestamp) -> String {
        let packages = small_packages();
        let compressed = xz(packages);
        self.write_index("Packages.xz", &compressed);
        release_text(
            at,
            &[
                listed(packages, &format!("{BINARY}/Packages")),
                listed(&compressed, &format!("{BINARY}/Packages.xz")),
            ],
        )
    }

    fn write_index(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.suite_dir().join(BINARY).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        path
    }

    /// Writes `release` as Release and InRelease (the given bytes).
    fn write_release(&self, release: &str, inrelease: &[u8]) {
        std::fs::create_dir_all(self.suite_dir()).unwrap();
        std::fs::write(self.suite_dir().join("Release"), release).unwrap();
        std::fs::write(self.suite_dir().join("InRelease"), inrelease).unwrap();
    }

    /// Signs `release` with the good key at its date and publishes it.
    fn sign_and_publish(&self, release: &str, at: Timestamp) -> Vec<u8> {
        let inrelease = self.gpg.clearsign(&self.good, release.as_bytes(), at);
        self.write_release(release, &inrelease);
        inrelease
    }

    /// A correct publication of `day_packages(day)` dated `day`.
    fn publish_good(&self, day: i64) -> String {
        let packages = day_packages(day);
        let compressed = xz(&packages);
        self.write_index("Packages.xz", &compressed);
        let release = release_text(
            date(day),
            &[
                listed(&packages, &format!("{BINARY}/Packages")),
                listed(&compressed, &format!("{BINARY}/Packages.xz")),
            ],
        );
        self.sign_and_publish(&release, date(day));
        release
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--fleet", self.fleet.to_str().unwrap(), "--now", NOW_T];
        all.extend_from_slice(args);
        all
    }

    fn run(&self, args: &[&str]) -> Output {
        debfleet(&self.args(args))
    }

    /// Suites and generations, for "unchanged" asserts.
    fn state(&self) -> (Value, Value) {
        store_state(&self.fleet)
    }

    /// Runs `sync --format json`, asserts that it fails cleanly and that
    /// the store did not change; returns the suite's error.
    fn sync_refused(&self, what: &str) -> String {
        let before = self.state();
        let out = self.run(&["sync", "--format", "json"]);
        assert_failed_cleanly(&out, what);
        let report = json(&out);
        let suite = &report["suites"][0];
        assert_eq!(suite["status"], "failed", "{what}: {report}");
        assert_eq!(self.state(), before, "{what}: the store changed");
        suite["error"].as_str().unwrap().to_string()
    }

    fn inrelease_path(&self) -> String {
        self.suite_dir().join("InRelease").display().to_string()
    }
}

/// Asserts that `text` contains every one of `needles`.
fn assert_mentions(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{n:?} missing from:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Release entries naming paths out of the archive.

/// Publishes a good index plus a Release that also lists `entry` (at a
/// known line), syncs, and checks the refusal names the InRelease, the
/// Release line, the entry and `reason`.
fn hostile_release_entry(entry_path: &str, reason: &str) {
    let w = World::synced();
    let packages = small_packages();
    let compressed = xz(packages);
    w.write_index("Packages.xz", &compressed);
    let release = release_text(
        date(1),
        &[
            listed(packages, &format!("{BINARY}/Packages")),
            listed(&compressed, &format!("{BINARY}/Packages.xz")),
            listed(b"root:x:0:0\n", entry_path),
        ],
    );
    let line = release.lines().count();
    w.sign_and_publish(&release, date(1));
    let err = w.sync_refused(entry_path);
    assert_mentions(
        &err,
        &[
            &w.inrelease_path(),
            &format!("Release line {line}: SHA256 entry"),
            reason,
        ],
    );
    // The entry is quoted with its control characters escaped.
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn release_listing_dot_dot_path_is_refused() {
    hostile_release_entry("../../etc/passwd", "\"..\" path component");
}

#[test]
fn release_listing_absolute_path_is_refused() {
    hostile_release_entry("/etc/passwd", "absolute path");
}

#[test]
fn release_listing_path_with_control_characters_is_refused() {
    hostile_release_entry("main/binary-amd64/Pack\u{1b}[2Jages", "control character");
}

// ---------------------------------------------------------------------------
// Compressed indexes that lie about their size, are cut, or are bombs.

/// Writes a child's stdin (from its own thread).
type Feed = Box<dyn FnOnce(&mut dyn Write) + Send>;

/// Runs debfleet with `args`, feeding `stdin` (if any) from a writer
/// thread, and returns its output and peak resident memory in KiB
/// (`/usr/bin/time -f %M` when installed, else the last `VmHWM` seen while
/// polling `/proc/<pid>/status`).
fn run_measured(args: &[&str], stdin: Option<Feed>) -> (Output, u64) {
    let scratch = tempfile::tempdir().unwrap();
    let time_out = scratch.path().join("time");
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&time_out);
        c.arg(env!("CARGO_BIN_EXE_debfleet"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_debfleet"))
    };
    cmd.args(args)
        .env_remove("DEBFLEET_FLEET")
        .env_remove("DEBFLEET_STATE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let writer = stdin.map(|feed| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || feed(&mut pipe))
    });
    // Drain the outputs from threads so the child never blocks on them.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let mut polled = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !gnu_time
            && let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            polled = polled.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    if let Some(w) = writer {
        w.join().unwrap();
    }
    let out = Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    let peak = if gnu_time {
        let text = std::fs::read_to_string(&time_out).unwrap();
        // The last line is the number; GNU time may print a "Command exited
        // with non-zero status" line first.
        text.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no max RSS in {text:?}"))
    } else {
        polled
    };
    (out, peak)
}

/// A sync run with its peak memory measured; asserts the store did not
/// change and returns (suite error, peak KiB).
fn sync_refused_measured(w: &World, what: &str) -> (String, u64) {
    let before = w.state();
    let args = w.args(&["sync", "--format", "json"]);
    let (out, peak) = run_measured(&args, None);
    eprintln!("{what}: peak RSS {} MiB", peak / 1024);
    assert_failed_cleanly(&out, what);
    let report = json(&out);
    assert_eq!(report["suites"][0]["status"], "failed", "{what}: {report}");
    assert_eq!(w.state(), before, "{what}: the store changed");
    (
        report["suites"][0]["error"].as_str().unwrap().to_string(),
        peak,
    )
}

const MIB: usize = 1 << 20;

/// 32 MiB of zeros, xz-compressed (a few KiB).
fn xz_bomb() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| xz(&vec![0u8; 32 * MIB]))
}

#[test]
fn compressed_index_larger_than_its_signed_size_is_refused() {
    // The Release lists Packages.xz with its true SHA-256 but a small Size:
    // the file on the mirror is larger than what was signed.
    let w = World::synced();
    let bomb = xz_bomb();
    let xz_path = w.write_index("Packages.xz", bomb);
    let declared = 1000u64;
    assert!(bomb.len() as u64 > declared);
    let mut entry = listed(bomb, &format!("{BINARY}/Packages.xz"));
    entry.size = declared;
    let release = release_text(
        date(1),
        &[
            listed(&day_packages(1), &format!("{BINARY}/Packages")),
            entry,
        ],
    );
    w.sign_and_publish(&release, date(1));
    let (err, peak) = sync_refused_measured(&w, "xz larger than signed");
    assert_mentions(
        &err,
        &[
            &xz_path.display().to_string(),
            &format!("larger than the expected {declared} bytes"),
        ],
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn xz_expanding_beyond_the_signed_uncompressed_size_is_refused() {
    // Packages.xz is listed correctly (hash and size of the compressed
    // file), but it expands to 32 MiB while the signed Packages is 1000 bytes.
    let w = World::synced();
    let bomb = xz_bomb();
    let xz_path = w.write_index("Packages.xz", bomb);
    let release = release_text(
        date(1),
        &[
            Listed {
                hash: sum(&day_packages(1)).0,
                size: 1000,
                path: format!("{BINARY}/Packages"),
            },
            listed(bomb, &format!("{BINARY}/Packages.xz")),
        ],
    );
    w.sign_and_publish(&release, date(1));
    let (err, peak) = sync_refused_measured(&w, "xz bomb");
    assert_mentions(
        &err,
        &[
            &xz_path.display().to_string(),
            "decompressed data is larger than the 1000 bytes the signed Release file declares",
        ],
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn truncated_xz_is_refused() {
    // The signed hash is that of the cut file (a mirror that signed what it
    // had), so only decoding can tell.
    let w = World::synced();
    let packages = day_packages(1);
    let whole = xz(&packages);
    let cut = &whole[..whole.len() / 2];
    let xz_path = w.write_index("Packages.xz", cut);
    let release = release_text(
        date(1),
        &[
            listed(&packages, &format!("{BINARY}/Packages")),
            listed(cut, &format!("{BINARY}/Packages.xz")),
        ],
    );
    w.sign_and_publish(&release, date(1));
    let err = w.sync_refused("truncated xz");
    assert_mentions(
        &err,
        &[
            &xz_path.display().to_string(),
            "xz data is truncated",
            "fetch the file again",
        ],
    );
}

/// `count` gzip members of 1 MiB of zeros each, concatenated (legal gzip:
/// `gzip -d` expands it all), about 1 KiB per member.
fn gzip_member_bomb(count: usize) -> Vec<u8> {
    let member = gzip(&vec![0u8; MIB]);
    let bomb = member.repeat(count);
    assert!(bomb.len() < count * 2048, "{}", bomb.len());
    bomb
}

#[test]
fn gzip_member_bomb_is_refused_at_the_signed_size() {
    let w = World::synced();
    let bomb = gzip_member_bomb(64);
    let gz_path = w.write_index("Packages.gz", &bomb);
    std::fs::remove_file(w.suite_dir().join(BINARY).join("Packages.xz")).unwrap();
    let release = release_text(
        date(1),
        &[
            listed(&day_packages(1), &format!("{BINARY}/Packages")),
            listed(&bomb, &format!("{BINARY}/Packages.gz")),
        ],
    );
    w.sign_and_publish(&release, date(1));
    let (err, peak) = sync_refused_measured(&w, "gzip member bomb");
    let declared = day_packages(1).len();
    assert_mentions(
        &err,
        &[
            &gz_path.display().to_string(),
            &format!("larger than the {declared} bytes the signed Release file declares"),
        ],
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn gzip_member_bomb_without_a_signed_uncompressed_size_is_bounded() {
    // Only Packages.gz is listed (apt-ftparchive does that for a directory
    // without the plain file), so no signed size bounds the expansion: a
    // fixed cap does (mirror::MAX_UNDECLARED_INDEX_BYTES, 256 MiB), and 320
    // MiB of members exceed it.
    let w = World::synced();
    let bomb = gzip_member_bomb(320);
    let gz_path = w.write_index("Packages.gz", &bomb);
    std::fs::remove_file(w.suite_dir().join(BINARY).join("Packages.xz")).unwrap();
    let release = release_text(date(1), &[listed(&bomb, &format!("{BINARY}/Packages.gz"))]);
    w.sign_and_publish(&release, date(1));
    let (err, peak) = sync_refused_measured(&w, "undeclared gzip member bomb");
    assert_mentions(
        &err,
        &[
            &gz_path.display().to_string(),
            &format!("decompresses to more than {} bytes", 256 * MIB),
            "does not list the uncompressed main/binary-amd64/Packages",
        ],
    );
    // The cap plus the program: well under the 320 MiB the bomb expands to.
    assert!(peak < 310 * 1024, "peak RSS {peak} KiB");
}

// ---------------------------------------------------------------------------
// Signatures, through sync, with a good generation in the store.

#[test]
fn sync_refuses_a_release_signed_by_a_key_not_in_the_keyring() {
    let w = World::synced();
    let stranger = w.gpg.key("stranger", date(-100), "never");
    let release = w.publish_small_index(date(1));
    let inrelease = w.gpg.clearsign(&stranger, release.as_bytes(), date(1));
    w.write_release(&release, &inrelease);
    let err = w.sync_refused("unknown key");
    assert_mentions(
        &err,
        &[
            &w.inrelease_path(),
            "signature check failed",
            "not in keyring",
        ],
    );
}

#[test]
fn sync_refuses_a_valid_signature_over_different_content() {
    // The good key's genuine signature of yesterday's Release, attached to
    // a new Release text.
    let w = World::synced();
    let signed_before = std::fs::read(w.suite_dir().join("InRelease")).unwrap();
    let release = w.publish_small_index(date(1));
    // The new text, clearsigned by a throwaway key, then given the old
    // signature instead.
    let throwaway = w.gpg.key("throwaway", date(-100), "never");
    let framed = w.gpg.clearsign(&throwaway, release.as_bytes(), date(1));
    let old_packets = w.gpg.signature_packets(&signed_before);
    let forged = w.gpg.splice(&framed, &old_packets);
    w.write_release(&release, &forged);
    let err = w.sync_refused("signature over other content");
    assert_mentions(&err, &[&w.inrelease_path(), "BAD signature"]);
}

#[test]
fn sync_refuses_two_signatures_of_which_one_is_bad() {
    // A good signature by the good key, and one by a second key that is in
    // the keyring too but signed a different text.
    let w = World::synced();
    let second = w.gpg.key("second", date(-100), "never");
    let keyring = w.dir.path().join("keyring.gpg");
    w.gpg.export(&[&w.good, &second], &keyring);
    let release = w.publish_small_index(date(1));
    let good = w.gpg.clearsign(&w.good, release.as_bytes(), date(1));
    let other_text = format!("{release}Tampered: yes\n");
    let other = w.gpg.clearsign(&second, other_text.as_bytes(), date(1));
    let mut packets = w.gpg.signature_packets(&good);
    packets.extend_from_slice(&w.gpg.signature_packets(&other));
    let both = w.gpg.splice(&good, &packets);
    w.write_release(&release, &both);
    let err = w.sync_refused("one bad of two");
    assert_mentions(&err, &[&w.inrelease_path(), "BAD signature"]);
    // The good signature alone is accepted: the refusal is the bad one's.
    w.write_release(&release, &good);
    let out = w.run(&["sync"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn sync_refuses_a_release_signed_by_an_expired_key() {
    // The key was valid when it signed (day 1) but expired on day 10
    // (2026-06-11); the sync runs on day 61.
    let w = World::synced();
    let created = date(-10);
    let expiring = w.gpg.key("expiring", created, "2026-06-11");
    let keyring = w.dir.path().join("keyring.gpg");
    w.gpg.export(&[&w.good, &expiring], &keyring);
    let release = w.publish_small_index(date(1));
    let inrelease = w.gpg.clearsign(&expiring, release.as_bytes(), date(1));
    w.write_release(&release, &inrelease);
    let err = w.sync_refused("expired key");
    assert_mentions(
        &err,
        &[
            &w.inrelease_path(),
            &expiring,
            "the key expired at 2026-06-11",
        ],
    );
}

#[test]
fn sync_refuses_text_outside_the_signed_part() {
    let w = World::synced();
    let release = w.publish_small_index(date(1));
    let mut inrelease = w.gpg.clearsign(&w.good, release.as_bytes(), date(1));
    let lines = String::from_utf8_lossy(&inrelease).lines().count();
    inrelease.extend_from_slice(b"Valid-Until: Sat, 01 Jan 2050 00:00:00 UTC\n");
    w.write_release(&release, &inrelease);
    let err = w.sync_refused("text after END");
    assert_mentions(
        &err,
        &[
            &w.inrelease_path(),
            &format!("line {}: text after the signed part", lines + 1),
        ],
    );
}

// ---------------------------------------------------------------------------
// Mirror directories with symlinks out of the mirror root.

#[test]
fn inrelease_symlinked_out_of_the_mirror_is_refused() {
    let w = World::synced();
    w.publish_good(1);
    // A correctly signed InRelease, but served through a link to a file
    // outside the mirror root.
    let outside = w.dir.path().join("outside-InRelease");
    let link = w.suite_dir().join("InRelease");
    std::fs::rename(&link, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = w.sync_refused("InRelease symlink");
    assert_mentions(
        &err,
        &[
            &w.inrelease_path(),
            "refusing path that leaves the mirror root",
        ],
    );
}

#[test]
fn packages_symlinked_out_of_the_mirror_is_refused() {
    let w = World::synced();
    w.publish_good(1);
    let link = w.suite_dir().join(BINARY).join("Packages.xz");
    let outside = w.dir.path().join("outside-Packages.xz");
    std::fs::rename(&link, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = w.sync_refused("Packages.xz symlink");
    assert_mentions(
        &err,
        &[
            &link.display().to_string(),
            "refusing path that leaves the mirror root",
        ],
    );
    // A link that stays inside the mirror is fine.
    let inside = w.mirror.join("pool-Packages.xz");
    std::fs::rename(&outside, &inside).unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&inside, &link).unwrap();
    let out = w.run(&["sync"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

// ---------------------------------------------------------------------------
// YAML: manifests and fleet.yaml.

/// One synced store of the small fleet over the bundled mirror, shared;
/// each test copies it.
fn synced_small_state() -> &'static Path {
    static STATE: OnceLock<PathBuf> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        small_fleet(&dir.join("fleet"), &testdata("mirror"), &debian_keyring());
        let state = dir.join("state.redb");
        let out = with_state(&dir.join("fleet"), &state, NOW, &["sync"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        state
    })
}

/// A fleet with a good image `tz` and a copy of the synced store.
struct YamlWorld {
    /// Holds the fleet and the store copy.
    _dir: tempfile::TempDir,
    /// The good fleet.yaml, put back after each hostile one.
    fleet_yaml: Vec<u8>,
    fleet: PathBuf,
    state: PathBuf,
}

impl YamlWorld {
    fn new() -> YamlWorld {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("fleet");
        small_fleet(&fleet, &testdata("mirror"), &debian_keyring());
        std::fs::write(
            fleet.join("images/tz.yaml"),
            "image: tz\nbase: small\npackages:\n  tzdata: 2024a-0+deb12u1\n",
        )
        .unwrap();
        let state = dir.path().join("state.redb");
        std::fs::copy(synced_small_state(), &state).unwrap();
        let fleet_yaml = std::fs::read(fleet.join("fleet.yaml")).unwrap();
        YamlWorld {
            _dir: dir,
            fleet_yaml,
            fleet,
            state,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        with_state(&self.fleet, &self.state, NOW, args)
    }

    /// Writes a hostile manifest, runs `check` and `plan`, and asserts that
    /// both fail on it with `expect` (after `<path>:<line>:`) while the good
    /// image is still checked, and that the store file is byte-identical.
    fn manifest_refused(&self, name: &str, bytes: &[u8], line: usize, expect: &str) {
        let path = self.fleet.join("images").join(name);
        std::fs::write(&path, bytes).unwrap();
        self.manifest_file_refused(&path, &format!("{}:{line}:", path.display()), expect);
    }

    fn manifest_file_refused(&self, path: &Path, prefix: &str, expect: &str) {
        let hash = sha256_file(&self.state);
        let out = self.run(&["check", "--format", "json"]);
        assert_failed_cleanly(&out, "check");
        let report = json(&out);
        let images = report["images"].as_array().unwrap();
        let bad: Vec<&Value> = images.iter().filter(|i| i["status"] == "error").collect();
        assert_eq!(bad.len(), 1, "{report}");
        let errors: Vec<&str> = bad[0]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(prefix) && e.contains(expect)),
            "check: no error starting {prefix:?} containing {expect:?}: {errors:?}"
        );
        let tz = images.iter().find(|i| i["image"] == "tz").expect("tz");
        assert_eq!(tz["status"], "security-updates", "{report}");

        let out = self.run(&["plan", "--format", "json"]);
        assert_failed_cleanly(&out, "plan");
        let plan = json(&out);
        assert!(
            plan["errors"].as_array().unwrap().iter().any(|e| {
                e["manifest"] == path.display().to_string()
                    && e["error"].as_str().unwrap().starts_with(prefix)
                    && e["error"].as_str().unwrap().contains(expect)
            }),
            "plan: no error starting {prefix:?} containing {expect:?}: {plan}"
        );
        assert!(
            plan["images"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["image"] == "tz"),
            "plan: the good image is still planned: {plan}"
        );
        assert_eq!(sha256_file(&self.state), hash, "the store changed");
    }

    /// Replaces fleet.yaml with `bytes`; `check` must fail naming
    /// fleet.yaml (and `line` when given) with `expect`, store untouched.
    fn fleet_refused(&self, bytes: &[u8], line: Option<usize>, expect: &str) {
        let path = self.fleet.join("fleet.yaml");
        std::fs::write(&path, bytes).unwrap();
        let hash = sha256_file(&self.state);
        for cmd in ["check", "plan"] {
            let (out, peak) = run_measured(
                &[
                    "--fleet",
                    self.fleet.to_str().unwrap(),
                    "--state",
                    self.state.to_str().unwrap(),
                    "--now",
                    NOW,
                    cmd,
                ],
                None,
            );
            let text = assert_failed_cleanly(&out, cmd);
            let prefix = match line {
                Some(l) => format!("{}:{l}:", path.display()),
                None => format!("{}:", path.display()),
            };
            assert!(
                text.contains(&prefix) && text.contains(expect),
                "{cmd}: wanted {prefix:?} and {expect:?} in:\n{text}"
            );
            assert!(peak < 200 * 1024, "{cmd}: peak RSS {peak} KiB");
        }
        assert_eq!(sha256_file(&self.state), hash, "the store changed");
        std::fs::write(&path, &self.fleet_yaml).unwrap();
    }

    /// A valid fleet.yaml with `extra` appended (top level).
    fn fleet_text(&self, extra: &str) -> String {
        format!("{}{extra}", String::from_utf8_lossy(&self.fleet_yaml))
    }
}

/// A billion-laughs document: nine levels of ten aliases each.
fn alias_bomb(indent: &str) -> String {
    let mut s = format!("{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "{indent}l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    s
}

#[test]
fn yaml_alias_bomb_is_refused() {
    let w = YamlWorld::new();
    let manifest = format!(
        "image: bomb\nbase: small\npackages:\n  tzdata: 2024a-0+deb12u1\nx:\n{}",
        alias_bomb("  ")
    );
    // Reported where the expansion passes the limit (the alias on `l4`).
    w.manifest_refused(
        "bomb.yaml",
        manifest.as_bytes(),
        10,
        "aliases (*name) may expand to at most 20000 values",
    );
    let fleet = w.fleet_text(&format!("x:\n{}", alias_bomb("  ")));
    w.fleet_refused(
        fleet.as_bytes(),
        None,
        "aliases (*name) may expand to at most 20000 values",
    );
}

#[test]
fn yaml_nested_ten_thousand_deep_is_refused() {
    let w = YamlWorld::new();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let manifest = format!("image: deep\nbase: small\npackages:\n  tzdata: {deep}\n");
    w.manifest_refused(
        "deep.yaml",
        manifest.as_bytes(),
        4,
        "nested more than 24 levels",
    );
    let fleet = w.fleet_text(&format!("x: {deep}\n"));
    w.fleet_refused(fleet.as_bytes(), None, "nested more than 24 levels");
    // Block style, one level per line.
    // Block style, one level per line and one more space each (5,000
    // levels: 12.5 MB, under the manifest size limit).
    let mut block = String::from("image: deep\nbase: small\npackages:\n");
    for depth in 0..5_000usize {
        block.push_str(&" ".repeat(depth + 1));
        block.push_str(&format!("k{depth}:\n"));
    }
    w.manifest_refused(
        "deep.yaml",
        block.as_bytes(),
        27,
        "nested more than 24 levels",
    );
}

#[test]
fn yaml_hundred_megabyte_files_are_refused_by_size() {
    let w = YamlWorld::new();
    // A syntactically fine manifest of ~100 MB (5.5 million packages).
    let mut big = Vec::with_capacity(100 * MIB + 64);
    big.extend_from_slice(b"image: big\nbase: small\npackages:\n");
    let mut i = 0u64;
    while big.len() < 100 * MIB {
        writeln!(big, "  p{i:09}: 1.0-1").unwrap();
        i += 1;
    }
    let path = w.fleet.join("images/big.yaml");
    std::fs::write(&path, &big).unwrap();
    let size = big.len();
    drop(big);
    // check and plan, with their peak memory.
    let hash = sha256_file(&w.state);
    let (out, peak) = run_measured(
        &[
            "--fleet",
            w.fleet.to_str().unwrap(),
            "--state",
            w.state.to_str().unwrap(),
            "--now",
            NOW,
            "check",
            "--format",
            "json",
        ],
        None,
    );
    assert_failed_cleanly(&out, "check");
    let report = json(&out);
    let errors = report.to_string();
    assert_mentions(
        &errors,
        &[
            &format!("{}: the file is {size} bytes", path.display()),
            "more than the 16777216-byte limit for a manifest",
        ],
    );
    assert!(peak < 200 * 1024, "check: peak RSS {peak} KiB");
    assert!(
        report["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["image"] == "tz" && i["status"] == "security-updates"),
        "{report}"
    );
    assert_eq!(sha256_file(&w.state), hash);
    std::fs::remove_file(&path).unwrap();

    // The same size as fleet.yaml.
    let mut fleet = w.fleet_text("# padding\n").into_bytes();
    while fleet.len() < 100 * MIB {
        fleet.extend_from_slice(b"# this line is a comment, repeated to 100 MB\n");
    }
    w.fleet_refused(
        &fleet,
        None,
        "larger than the 16777216-byte limit for a fleet file",
    );
}

#[test]
fn yaml_non_utf8_is_refused() {
    let w = YamlWorld::new();
    w.manifest_refused(
        "latin1.yaml",
        b"image: latin1\nbase: small\npackages:\n  caf\xe9: 1.0-1\n",
        4,
        "UTF-8",
    );
    let mut fleet = w.fleet_text("").into_bytes();
    let line = fleet.iter().filter(|&&b| b == b'\n').count() + 1;
    fleet.extend_from_slice(b"# caf\xe9\n");
    w.fleet_refused(&fleet, Some(line), "UTF-8");
}

#[test]
fn yaml_nul_byte_is_refused() {
    let w = YamlWorld::new();
    w.manifest_refused(
        "nul.yaml",
        b"image: nul\nbase: small\npackages:\n  tzdata\0: 1.0-1\n",
        4,
        "invalid YAML: unexpected character: `\\u{0}'",
    );
    let mut fleet = w.fleet_text("").into_bytes();
    let line = fleet.iter().filter(|&&b| b == b'\n').count() + 1;
    fleet.extend_from_slice(b"x: a\0b\n");
    w.fleet_refused(
        &fleet,
        Some(line),
        "invalid YAML: unexpected character: `\\u{0}'",
    );
}

#[test]
fn yaml_duplicate_keys_are_refused() {
    let w = YamlWorld::new();
    w.manifest_refused(
        "dup.yaml",
        b"image: dup\nbase: small\npackages:\n  tzdata: 2024a-0+deb12u1\n  tzdata: 2025b-0+deb12u1\n",
        5,
        "package `tzdata` is listed twice (first as `tzdata` at line 4)",
    );
    let fleet = w.fleet_text("keyring: /elsewhere.gpg\n");
    let line = fleet.lines().count();
    w.fleet_refused(fleet.as_bytes(), Some(line), "duplicate key `keyring`");
}

#[test]
fn yaml_tab_indentation_is_refused() {
    let w = YamlWorld::new();
    w.manifest_refused(
        "tabs.yaml",
        b"image: tabs\nbase: small\npackages:\n\ttzdata: 2024a-0+deb12u1\n",
        4,
        "tab character in indentation",
    );
    let fleet = w.fleet_text("").replacen("\n  debian:", "\n\tdebian:", 1);
    w.fleet_refused(fleet.as_bytes(), Some(2), "tab character in indentation");
}

#[test]
fn yaml_top_level_list_is_refused() {
    let w = YamlWorld::new();
    w.manifest_refused(
        "list.yaml",
        b"- image: list\n- base: small\n- packages: {}\n",
        1,
        "mapping",
    );
    w.fleet_refused(b"- archives: {}\n- bases: {}\n", Some(1), "mapping");
}

// ---------------------------------------------------------------------------
// Tracker JSON for `security import`.

/// A store with one import of the constructed tracker file.
fn tracker_world() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let file = testdata("security/constructed-fleet.json");
    let out = debfleet(&[
        "--state",
        state.to_str().unwrap(),
        "--now",
        NOW,
        "security",
        "import",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    (dir, state)
}

fn security_status(state: &Path) -> String {
    let out = debfleet(&[
        "--state",
        state.to_str().unwrap(),
        "--now",
        NOW,
        "security",
        "status",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn tracker_json_of_wrong_shapes_is_refused_and_the_store_is_unchanged() {
    let (dir, state) = tracker_world();
    let before = security_status(&state);
    let cases: &[(&str, &str, &str)] = &[
        (
            "releases-string",
            r#"{"zlib": {"CVE-2099-1": {"releases": "bookworm"}}}"#,
            r#"at .zlib."CVE-2099-1".releases: expected an object keyed by release codename, found a string"#,
        ),
        (
            "source-is-list",
            r#"{"zlib": [1, 2, 3]}"#,
            "at .zlib: expected an object keyed by issue id, found an array",
        ),
        (
            "fixed-version-number",
            r#"{"zlib": {"CVE-2099-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": 1.5, "urgency": "low"}}}}}"#,
            r#"at .zlib."CVE-2099-1".releases.bookworm.fixed_version: expected a string, found a number"#,
        ),
        (
            "missing-status",
            r#"{"zlib": {"CVE-2099-1": {"releases": {"bookworm": {"urgency": "low"}}}}}"#,
            r#"at .zlib."CVE-2099-1".releases.bookworm: missing field "status""#,
        ),
        (
            "top-level-string",
            r#""zlib""#,
            "expected an object keyed by source package name at line 1 column 6",
        ),
    ];
    for (name, content, expect) in cases {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, content).unwrap();
        let out = debfleet(&[
            "--state",
            state.to_str().unwrap(),
            "--now",
            NOW,
            "security",
            "import",
            path.to_str().unwrap(),
        ]);
        let text = assert_failed_cleanly(&out, name);
        assert_mentions(
            &text,
            &[&path.display().to_string(), expect, "store was not changed"],
        );
        assert_eq!(security_status(&state), before, "{name}");
    }
}

#[test]
fn tracker_json_of_one_gigabyte_of_whitespace_is_streamed() {
    // 1 GiB of spaces piped through /dev/stdin (no disk used): the import
    // must end with a clear error in bounded memory.
    let (_dir, state) = tracker_world();
    let before = security_status(&state);
    const GIB: usize = 1 << 30;
    let feed = Box::new(|pipe: &mut dyn Write| {
        let chunk = vec![b' '; MIB];
        for _ in 0..GIB / MIB {
            if pipe.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let started = std::time::Instant::now();
    let (out, peak) = run_measured(
        &[
            "--state",
            state.to_str().unwrap(),
            "--now",
            NOW,
            "security",
            "import",
            "/dev/stdin",
        ],
        Some(feed),
    );
    let text = assert_failed_cleanly(&out, "1 GiB of whitespace");
    assert_mentions(
        &text,
        &["/dev/stdin", "EOF while parsing", "store was not changed"],
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
    assert_eq!(security_status(&state), before);
    eprintln!(
        "1 GiB of whitespace: {:.1} s, peak RSS {} MiB",
        started.elapsed().as_secs_f64(),
        peak / 1024
    );
}
