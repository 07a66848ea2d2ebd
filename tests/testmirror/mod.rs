//! A signed test mirror for end-to-end sync tests, made with the tools the
//! Debian archive uses: a throwaway OpenPGP key (gpg), a `Release` with a
//! SHA256 list clearsigned into `InRelease`, `xz`-compressed indexes, pdiff
//! patches `diff --ed OLD NEW | gzip -9n` and a `Packages.diff/Index` in
//! dak's format (see `testdata/pdiff/`).
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The signing key's creation time (gpg's clock is faked so keys and
/// signatures do not depend on the wall clock).
pub const KEY_CREATED: &str = "2026-01-01T00:00:00Z";

/// A throwaway ed25519 signing key in its own `GNUPGHOME`.
pub struct Signer {
    home: tempfile::TempDir,
    /// The exported public key (binary keyring), for `keyring:` in fleet.yaml.
    pub keyring: PathBuf,
    pub fingerprint: String,
}

impl Signer {
    /// Generates the key (`gpg --quick-gen-key ... ed25519 sign never`) and
    /// exports the public key next to the key store.
    pub fn new() -> Signer {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let mut signer = Signer {
            keyring: home.path().join("test-archive-keyring.gpg"),
            home,
            fingerprint: String::new(),
        };
        signer.gpg(
            &[
                "--faked-system-time",
                &faked_time(KEY_CREATED.parse().unwrap()),
                "--quick-gen-key",
                "debfleet test <test@example.invalid>",
                "ed25519",
                "sign",
                "never",
            ],
            None,
        );
        signer.gpg(
            &[
                "--export",
                "--output",
                signer.keyring.to_str().unwrap(),
                "test@example.invalid",
            ],
            None,
        );
        let listing = signer.gpg(
            &["--with-colons", "--list-keys", "test@example.invalid"],
            None,
        );
        signer.fingerprint = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("gpg lists the fingerprint");
        signer
    }

    fn gpg(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut all = vec!["--batch", "--pinentry-mode", "loopback", "--passphrase", ""];
        all.extend_from_slice(args);
        let out = pipe(
            Command::new("gpg")
                .env("GNUPGHOME", self.home.path())
                .args(&all),
            stdin.unwrap_or_default(),
        );
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `gpg --clearsign`: the InRelease for a Release text, signed at `at`.
    pub fn clearsign(&self, release: &[u8], at: Timestamp) -> Vec<u8> {
        self.gpg(
            &[
                "--faked-system-time",
                &faked_time(at),
                "--local-user",
                &self.fingerprint,
                "--digest-algo",
                "SHA256",
                "--clearsign",
            ],
            Some(release),
        )
        .stdout
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        // The agent gpg started for this key store; it would otherwise
        // linger until it notices its socket is gone.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// gpg's `--faked-system-time` value freezing the clock at `t`.
fn faked_time(t: Timestamp) -> String {
    format!("{}!", t.strftime("%Y%m%dT%H%M%S"))
}

/// An RFC 2822 date as the archive writes it in Release files.
pub fn release_date(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Runs `cmd` with `input` on stdin (written from a thread, so large
/// inputs do not deadlock) and returns its output.
pub fn pipe(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn filter(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = pipe(Command::new(program).args(args), input);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `xz` (single-threaded, so the output does not depend on the machine; a
/// fast preset, but with the 8 MiB dictionary of the default one so that
/// repeated text compresses as in the archive's files).
pub fn xz(data: &[u8]) -> Vec<u8> {
    filter("xz", &["-c", "-T1", "--lzma2=preset=1,dict=8MiB"], data)
}

/// `xz -d`.
pub fn unxz(data: &[u8]) -> Vec<u8> {
    filter("xz", &["-dc"], data)
}

/// `gzip -9n`, as dak compresses patches.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    filter("gzip", &["-9n", "-c"], data)
}

/// `diff --ed OLD NEW`: the patch that turns `old` into `new`.
pub fn ed_diff(old: &[u8], new: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::write(&a, old).unwrap();
    std::fs::write(&b, new).unwrap();
    let out = Command::new("diff")
        .arg("--ed")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    // 0: same, 1: different, 2: trouble.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "diff --ed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `<sha256> <size>` of some bytes, computed by `sha256sum` (an
/// implementation independent of debfleet's).
pub fn sum(data: &[u8]) -> (String, u64) {
    let out = filter("sha256sum", &["-b", "-"], data);
    let hex = String::from_utf8(out).unwrap();
    let hex = hex.split_whitespace().next().unwrap().to_string();
    assert_eq!(hex.len(), 64);
    (hex, data.len() as u64)
}

/// One patch of a `Packages.diff/Index`.
#[derive(Clone)]
pub struct Patch {
    /// Patch name; the file is `<name>.gz`.
    pub name: String,
    /// SHA-256 and size of the file the patch applies to (History).
    pub from: (String, u64),
    /// The uncompressed ed script (Patches).
    pub ed: Vec<u8>,
    /// `gzip -9n` of it, the file served (Download).
    pub gz: Vec<u8>,
}

impl Patch {
    /// The patch from `old` to `new`, as the archive makes it.
    pub fn make(name: &str, old: &[u8], new: &[u8]) -> Patch {
        let ed = ed_diff(old, new);
        let gz = gzip(&ed);
        Patch {
            name: name.to_string(),
            from: sum(old),
            ed,
            gz,
        }
    }
}

/// One `<hash> <size> <name>` line of a `Packages.diff/Index` list.
struct IndexLine {
    hash: String,
    size: u64,
    name: String,
}

/// Writes the three `<hash> <size> <name>` lists of a set of patches, sizes
/// right-aligned as dak does.
fn patch_lists(prefix: &str, patches: &[Patch], out: &mut String) {
    let line = |(hash, size): (String, u64), name: String| IndexLine { hash, size, name };
    let lists = [
        (
            "History",
            patches
                .iter()
                .map(|p| line(p.from.clone(), p.name.clone()))
                .collect::<Vec<_>>(),
        ),
        (
            "Patches",
            patches
                .iter()
                .map(|p| line(sum(&p.ed), p.name.clone()))
                .collect(),
        ),
        (
            "Download",
            patches
                .iter()
                .map(|p| line(sum(&p.gz), format!("{}.gz", p.name)))
                .collect(),
        ),
    ];
    for (field, entries) in lists {
        let width = entries
            .iter()
            .map(|l| l.size.to_string().len())
            .max()
            .unwrap_or(1);
        out.push_str(&format!("{prefix}SHA256-{field}:\n"));
        for IndexLine { hash, size, name } in entries {
            out.push_str(&format!(" {hash} {size:>width$} {name}\n"));
        }
    }
}

/// A `Packages.diff/Index` for `current`. With `merged` patches (dak's
/// `T-<to>-F-<from>`, each leading straight to `current`) the per-step ones
/// go into the `X-Unmerged-*` lists and `X-Patch-Precedence: merged` is set;
/// without, the per-step patches are the main lists (the older format).
pub fn diff_index(current: &[u8], merged: &[Patch], unmerged: &[Patch]) -> Vec<u8> {
    let (hash, size) = sum(current);
    let mut out = format!("SHA256-Current: {hash} {size}\n");
    if merged.is_empty() {
        patch_lists("", unmerged, &mut out);
    } else {
        patch_lists("", merged, &mut out);
        if !unmerged.is_empty() {
            patch_lists("X-Unmerged-", unmerged, &mut out);
        }
        out.push_str("X-Patch-Precedence: merged\n");
        let older: Vec<&str> = unmerged.iter().map(|p| p.name.as_str()).collect();
        if !older.is_empty() {
            out.push_str(&format!("X-DAK-Older-Patches: {}\n", older.join(" ")));
        }
    }
    out.into_bytes()
}

/// What one `Release` of a test suite publishes.
pub struct Publication<'a> {
    pub suite: &'a str,
    pub date: Timestamp,
    /// The uncompressed `main/binary-amd64/Packages`.
    pub packages: &'a [u8],
    /// Its xz (computed when `None`; pass it to avoid compressing twice).
    pub packages_xz: Option<&'a [u8]>,
    /// A `Packages.diff/Index` and the patches it lists.
    pub pdiff: Option<(Vec<u8>, Vec<Patch>)>,
    /// `Acquire-By-Hash: yes`, with `by-hash/SHA256/<hex>` copies of the
    /// listed files written.
    pub by_hash: bool,
}

/// One signed test suite and a fleet over it, in a temporary directory:
/// `<dir>/mirror` (see [`TestMirror::write_fleet`]), `<dir>/fleet` and its
/// store `<dir>/fleet/.debfleet/state.redb`.
pub struct SuiteFleet {
    pub dir: tempfile::TempDir,
    pub signer: Signer,
    pub mirror: TestMirror,
    pub suite: &'static str,
}

impl SuiteFleet {
    pub fn new(suite: &'static str) -> SuiteFleet {
        let dir = tempfile::tempdir().unwrap();
        let world = SuiteFleet {
            signer: Signer::new(),
            mirror: TestMirror::new(&dir.path().join("mirror")),
            dir,
            suite,
        };
        world
            .mirror
            .write_fleet(&world.fleet(), &world.signer, suite);
        world
    }

    pub fn fleet(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    pub fn state(&self) -> PathBuf {
        self.fleet().join(".debfleet/state.redb")
    }

    /// Publishes `packages` (and `packages_xz`, its xz, when given) in a
    /// Release dated 2026-07-`day`, neither pdiffs nor by-hash.
    pub fn publish_on(&self, day: u32, packages: &[u8], packages_xz: Option<&[u8]>) {
        self.mirror.publish(
            &self.signer,
            &Publication {
                suite: self.suite,
                date: format!("2026-07-{day:02}T00:00:00Z").parse().unwrap(),
                packages,
                packages_xz,
                pdiff: None,
                by_hash: false,
            },
        );
    }
}

/// A mirror root holding `dists/<suite>` trees.
pub struct TestMirror {
    pub root: PathBuf,
}

/// The index directory of a suite, relative to the mirror root.
pub const BINARY: &str = "main/binary-amd64";

impl TestMirror {
    /// Writes `<fleet>/fleet.yaml` with one base `tb` (release 12, amd64)
    /// over `suite` of this mirror as archive `test`, trusting `signer`,
    /// and an empty `images/` for its manifests.
    pub fn write_fleet(&self, fleet: &Path, signer: &Signer, suite: &str) {
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        std::fs::write(
            fleet.join("fleet.yaml"),
            format!(
                "archives:\n  test: {}\nkeyring: {}\nbases:\n  tb:\n    release: \"12\"\n    architectures: [amd64]\n    repositories:\n      - {{archive: test, suite: {suite}, components: [main]}}\nmanifests: images/*.yaml\n",
                self.root.display(),
                signer.keyring.display()
            ),
        )
        .unwrap();
    }

    pub fn new(root: &Path) -> TestMirror {
        TestMirror {
            root: root.to_path_buf(),
        }
    }

    pub fn suite_dir(&self, suite: &str) -> PathBuf {
        self.root.join("dists").join(suite)
    }

    /// `dists/<suite>/main/binary-amd64/<name>`.
    pub fn binary(&self, suite: &str, name: &str) -> PathBuf {
        self.suite_dir(suite).join(BINARY).join(name)
    }

    /// Writes the index files, the Release and its InRelease (signed at
    /// the Release's Date). Returns the InRelease bytes.
    pub fn publish(&self, signer: &Signer, p: &Publication<'_>) -> Vec<u8> {
        let bin = self.suite_dir(p.suite).join(BINARY);
        std::fs::create_dir_all(&bin).unwrap();
        let computed;
        let packages_xz = match p.packages_xz {
            Some(x) => x,
            None => {
                computed = xz(p.packages);
                &computed
            }
        };
        std::fs::write(bin.join("Packages.xz"), packages_xz).unwrap();
        let mut listed: Vec<(String, Vec<u8>)> = vec![
            (format!("{BINARY}/Packages"), p.packages.to_vec()),
            (format!("{BINARY}/Packages.xz"), packages_xz.to_vec()),
        ];
        let diff_dir = bin.join("Packages.diff");
        let _ = std::fs::remove_dir_all(&diff_dir);
        if let Some((index, patches)) = &p.pdiff {
            std::fs::create_dir_all(&diff_dir).unwrap();
            std::fs::write(diff_dir.join("Index"), index).unwrap();
            for patch in patches {
                std::fs::write(diff_dir.join(format!("{}.gz", patch.name)), &patch.gz).unwrap();
            }
            listed.push((format!("{BINARY}/Packages.diff/Index"), index.clone()));
        }
        let by_hash_dir = bin.join("by-hash/SHA256");
        let _ = std::fs::remove_dir_all(bin.join("by-hash"));
        if p.by_hash {
            // Like the archive: a by-hash copy of every file it serves (the
            // uncompressed Packages is listed, not served).
            std::fs::create_dir_all(&by_hash_dir).unwrap();
            for (path, data) in &listed {
                if !path.ends_with("/Packages") {
                    std::fs::write(by_hash_dir.join(sum(data).0), data).unwrap();
                }
            }
        }
        let mut release = format!(
            "Origin: Debfleet Test\nLabel: Debfleet Test\nSuite: {suite}\nCodename: {suite}\n\
             Date: {date}\nArchitectures: amd64\nComponents: main\n\
             Description: debfleet test archive\n\
             No-Support-for-Architecture-all: Packages\n",
            suite = p.suite,
            date = release_date(p.date),
        );
        if p.by_hash {
            release.push_str("Acquire-By-Hash: yes\n");
        }
        release.push_str("SHA256:\n");
        for (path, data) in &listed {
            let (hash, size) = sum(data);
            release.push_str(&format!(" {hash} {size:>8} {path}\n"));
        }
        let dir = self.suite_dir(p.suite);
        std::fs::write(dir.join("Release"), &release).unwrap();
        let inrelease = signer.clearsign(release.as_bytes(), p.date);
        std::fs::write(dir.join("InRelease"), &inrelease).unwrap();
        inrelease
    }
}

/// The real, Debian-published bookworm-security `Packages` of the bundled
/// mirror slice, uncompressed.
pub fn real_security_packages() -> Vec<u8> {
    let xz_bytes = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "testdata/mirror/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz",
    ))
    .unwrap();
    unxz(&xz_bytes)
}

/// Number of distinct package records (Package, Version, Architecture) of
/// a Packages file: what the store must hold for it. (A security archive
/// lists some packages in several versions, and an archive run may publish
/// a version twice.)
pub fn count_records(packages: &[u8]) -> u64 {
    let text = std::str::from_utf8(packages).unwrap();
    let mut keys = std::collections::HashSet::new();
    let mut current: [Option<&str>; 3] = [None; 3];
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if let [Some(p), Some(v), Some(a)] = current {
                keys.insert((p, v, a));
            }
            current = [None; 3];
        } else if let Some(v) = line.strip_prefix("Package: ") {
            current[0] = Some(v);
        } else if let Some(v) = line.strip_prefix("Version: ") {
            current[1] = Some(v);
        } else if let Some(v) = line.strip_prefix("Architecture: ") {
            current[2] = Some(v);
        }
    }
    keys.len() as u64
}

/// The stanzas of a Packages file.
pub fn stanzas(packages: &[u8]) -> Vec<String> {
    String::from_utf8(packages.to_vec())
        .unwrap()
        .split("\n\n")
        .map(|s| s.trim_matches('\n').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Joins stanzas back into a Packages file (blank-line separated, final newline).
pub fn join_stanzas(stanzas: &[String]) -> Vec<u8> {
    let mut out = stanzas.join("\n\n");
    out.push('\n');
    out.into_bytes()
}

/// The value of a stanza's field.
pub fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// A point release of a stanza: the version's last number goes up by one
/// (or `+b1` is appended), in Version and Filename alike.
pub fn bump_version(stanza: &str) -> String {
    let old = field(stanza, "Version").expect("stanza has a Version");
    let digits = old.len() - old.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let new = if digits > 0 {
        let (head, num) = old.split_at(old.len() - digits);
        format!("{head}{}", num.parse::<u64>().unwrap() + 1)
    } else {
        format!("{old}+b1")
    };
    let file_version = |v: &str| v.split_once(':').map_or(v, |(_, r)| r).to_string();
    stanza
        .lines()
        .map(|l| {
            if l.starts_with("Version: ") {
                format!("Version: {new}")
            } else if l.starts_with("Filename: ") {
                l.replace(&file_version(old), &file_version(&new))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A new package made from an existing stanza: renamed `<name><suffix>`
/// (like a library transition) in Package and Filename.
pub fn renamed(stanza: &str, suffix: &str) -> String {
    let name = field(stanza, "Package").expect("stanza has a Package");
    stanza
        .lines()
        .map(|l| {
            if l.starts_with("Package: ") {
                format!("Package: {name}{suffix}")
            } else if l.starts_with("Filename: ") {
                l.replace(&format!("/{name}_"), &format!("/{name}{suffix}_"))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `prev` with `count` new packages appended, renamed copies of stanzas of
/// `pool` (picked from `seed`).
pub fn append_packages(prev: &[u8], pool: &[String], seed: usize, count: usize) -> Vec<u8> {
    let mut out = prev.to_vec();
    for j in 0..count {
        let base = &pool[(seed * 7919 + j * 104_729) % pool.len()];
        out.push(b'\n');
        out.extend_from_slice(renamed(base, &format!("a{seed}x{j}")).as_bytes());
        out.push(b'\n');
    }
    out
}

/// The next state of a Packages file, as one archive run would make it:
/// every `remove_every`-th stanza (from `seed`) removed, every
/// `bump_every`-th one given a new version, and `add` new packages.
pub fn evolve(
    prev: &[u8],
    seed: usize,
    remove_every: usize,
    bump_every: usize,
    add: usize,
) -> Vec<u8> {
    let old = stanzas(prev);
    let mut out = Vec::with_capacity(old.len() + add);
    for (i, s) in old.iter().enumerate() {
        let k = i + seed;
        if remove_every > 0 && k.is_multiple_of(remove_every) {
            continue;
        }
        if bump_every > 0 && k % bump_every == 1 {
            out.push(bump_version(s));
        } else {
            out.push(s.clone());
        }
    }
    for j in 0..add {
        let base = &old[(seed * 7919 + j * 104_729) % old.len()];
        out.push(renamed(base, &format!("t{seed}x{j}")));
    }
    join_stanzas(&out)
}

/// One suite of the bundled mirror (`testdata/mirror`) whose published
/// state alternates between Debian's real Packages and a variant made by a
/// real-looking archive run (`evolve`), for crash and fault tests.
pub struct AlternatingSuite {
    pub archive: &'static str,
    pub suite: &'static str,
    pub real_inrelease: Vec<u8>,
    pub real_release: String,
    pub real: Vec<u8>,
    pub real_xz: Vec<u8>,
    pub variant: Vec<u8>,
    pub variant_xz: Vec<u8>,
}

impl AlternatingSuite {
    /// Reads the suite from the bundled mirror and makes its variant.
    pub fn load(archive: &'static str, suite: &'static str) -> AlternatingSuite {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/mirror")
            .join(archive)
            .join("dists")
            .join(suite);
        let real_inrelease = std::fs::read(dir.join("InRelease")).unwrap();
        let real_xz = std::fs::read(dir.join("main/binary-amd64/Packages.xz")).unwrap();
        let real = unxz(&real_xz);
        // A security archive run: some advisories superseded (stanzas
        // removed), many packages rebuilt with a new version, new ones added.
        let variant = evolve(&real, 5, 37, 3, 12);
        let variant_xz = xz(&variant);
        AlternatingSuite {
            archive,
            suite,
            real_release: signed_text(&real_inrelease),
            real_inrelease,
            real,
            real_xz,
            variant,
            variant_xz,
        }
    }

    /// The Date of Debian's Release.
    pub fn date(&self) -> Timestamp {
        let line = self
            .real_release
            .lines()
            .find_map(|l| l.strip_prefix("Date: "))
            .unwrap();
        jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(line)
            .unwrap()
    }

    /// The Packages content of mirror state `state` (0 is Debian's).
    pub fn packages(&self, state: usize) -> &[u8] {
        if state % 2 == 1 {
            &self.variant
        } else {
            &self.real
        }
    }

    /// Publishes state `state` into `mirror`: state 0 is the bundled,
    /// Debian-signed suite; later states alternate variant and real content
    /// under a Release whose Date is `state` × 10 minutes later, re-signed
    /// with the test key. Returns the InRelease.
    pub fn publish(&self, mirror: &Path, signer: &Signer, state: usize) -> Vec<u8> {
        let dir = mirror.join(self.archive).join("dists").join(self.suite);
        let xz_path = dir.join("main/binary-amd64/Packages.xz");
        if state == 0 {
            std::fs::write(&xz_path, &self.real_xz).unwrap();
            std::fs::write(dir.join("InRelease"), &self.real_inrelease).unwrap();
            return self.real_inrelease.clone();
        }
        let (packages, packages_xz) = if state % 2 == 1 {
            (&self.variant, &self.variant_xz)
        } else {
            (&self.real, &self.real_xz)
        };
        let date = self.date() + SignedDuration::from_mins(10 * state as i64);
        let release = rewrite_release(&self.real_release, date, packages, packages_xz);
        let inrelease = signer.clearsign(release.as_bytes(), date);
        // The index first, then the InRelease that lists it (as mirrors do).
        std::fs::write(&xz_path, packages_xz).unwrap();
        std::fs::write(dir.join("InRelease"), &inrelease).unwrap();
        inrelease
    }
}

/// The signed text of a cleartext-signed InRelease (Release files have no
/// dash-escaped lines).
pub fn signed_text(inrelease: &[u8]) -> String {
    let text = String::from_utf8(inrelease.to_vec()).unwrap();
    let start = text.find("\n\n").unwrap() + 2;
    let end = text.find("\n-----BEGIN PGP SIGNATURE-----").unwrap();
    format!("{}\n", &text[start..end])
}

/// A Release like `real` with another Date and the amd64 Packages entries
/// for other content.
pub fn rewrite_release(real: &str, date: Timestamp, packages: &[u8], xz: &[u8]) -> String {
    let mut out = String::new();
    for line in real.lines() {
        let entry = |data: &[u8], path: &str| {
            let (hash, size) = sum(data);
            format!(" {hash} {size:>8} {path}")
        };
        if line.starts_with("Date: ") {
            out.push_str(&format!("Date: {}", release_date(date)));
        } else if line.starts_with(' ') && line.ends_with(" main/binary-amd64/Packages") {
            out.push_str(&entry(packages, "main/binary-amd64/Packages"));
        } else if line.starts_with(' ') && line.ends_with(" main/binary-amd64/Packages.xz") {
            out.push_str(&entry(xz, "main/binary-amd64/Packages.xz"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
