//! Reference harness: asks the real apt installed on this machine what it would
//! do for a container image, so debfleet's candidate selection and rebuild
//! plans can be asserted against apt exactly.
//!
//! It uses no debfleet code. An [`AptWorld`] is a private apt root (a
//! temporary directory) configured with one base's sources and architecture,
//! with `apt-get update` run once against the local mirror slice. Each query
//! then writes a dpkg status file describing one image (its installed
//! packages) and runs one apt command against it:
//!
//! - [`AptWorld::upgradable`]: `apt list --upgradable`,
//! - [`AptWorld::candidates`]: `apt-cache policy` (the candidate per package),
//! - [`AptWorld::dist_upgrade`]: `apt-get -s dist-upgrade`, parsed into an
//!   [`AptPlan`].
//!
//! The status file copies, for each installed package, the dependency and
//! identity fields of the index stanza of *that exact version* (apt hashes
//! `Installed-Size`, `Depends`, `Pre-Depends`, `Conflicts`, `Breaks` and
//! `Replaces` to decide whether an installed version is the one in an index;
//! if they differ it reports a same-version "upgrade"). The stanzas come from
//! the sources' `Packages` indexes, read here with `xz -dc` and a small stanza
//! scanner, not from apt. A version in no index gets a stanza without hard
//! relations, with only the identity fields and soft relations
//! (`Multi-Arch`, `Provides`, `Recommends`, ...) of another version of the
//! package, if any. A foreign-arch entry (`libc6:i386`) whose version the
//! mirror has only for the native architecture takes the native stanza with
//! its own `Architecture`.
//!
//! What the status cannot say, apt assumes: there is no `extended_states`, so
//! every installed package counts as manually installed; and apt's defaults
//! apply (e.g. `APT::Install-Recommends` is on, so a `dist-upgrade` installs
//! Recommends that are new in a candidate, and missing `Essential: yes`
//! packages).
//!
//! Nothing from the host's `/etc/apt` is read: `APT_CONFIG` points at the
//! world's own configuration file, which sets `Dir` and every `Dir::Etc::*`
//! to (empty) locations inside the world root.
//!
//! The module also holds tiny readers for `testdata/fleet`: image manifests
//! ([`load_manifest`], [`load_manifest_packages`], [`fleet_manifests`]) and
//! the bases of `fleet.yaml` ([`load_fleet_bases`]), good enough for the
//! files in this repository (not a general YAML parser).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// One apt source of a base: `deb file:<mirror_root> <suite> <components...>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Root of the archive in the mirror, e.g. `testdata/mirror/debian`
    /// (the directory that holds `dists/`).
    pub mirror_root: PathBuf,
    /// Suite as it appears under `dists/`, e.g. `bookworm-security`.
    pub suite: String,
    /// Components, e.g. `["main"]`.
    pub components: Vec<String>,
}

impl Source {
    /// A source for `mirror_root`, `suite` and `components`.
    pub fn new(mirror_root: impl Into<PathBuf>, suite: &str, components: &[&str]) -> Source {
        Source {
            mirror_root: mirror_root.into(),
            suite: suite.to_string(),
            components: components.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Whether the mirror holds this suite at all (its `InRelease` exists).
    pub fn is_mirrored(&self) -> bool {
        self.suite_dir().join("InRelease").is_file()
    }

    fn suite_dir(&self) -> PathBuf {
        self.mirror_root.join("dists").join(&self.suite)
    }

    /// The `Packages` index of `component` for `arch`, in whichever
    /// compression the mirror stores it, if present.
    fn packages_index(&self, component: &str, arch: &str) -> Option<PathBuf> {
        let dir = self
            .suite_dir()
            .join(component)
            .join(format!("binary-{arch}"));
        ["Packages.xz", "Packages.gz", "Packages"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
    }
}

/// What a simulated `apt-get dist-upgrade` would do, parsed from its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptPlan {
    /// Installed packages apt would upgrade: package -> (from, to).
    pub upgrade: BTreeMap<String, (String, String)>,
    /// Packages apt would newly install: package -> version.
    pub install: BTreeMap<String, String>,
    /// Packages apt would remove.
    pub remove: BTreeSet<String>,
    /// Packages listed under "The following packages have been kept back:".
    pub kept_back: BTreeSet<String>,
    /// Packages listed under "The following packages have unmet dependencies:".
    pub broken: BTreeSet<String>,
    /// apt's `E:` lines (without the `E: ` prefix).
    pub errors: Vec<String>,
    /// Whether apt-get exited with status 0.
    pub success: bool,
    /// The complete output (stdout, then stderr).
    pub raw: String,
}

/// An image manifest of `testdata/fleet/images/**.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// `image:`.
    pub image: String,
    /// `base:` (a key of `bases:` in fleet.yaml).
    pub base: String,
    /// `architecture:`.
    pub architecture: String,
    /// `packages:` in file order: (name, possibly `name:arch`; version).
    pub packages: Vec<(String, String)>,
}

/// A base of `fleet.yaml`, with its repositories mapped onto a local mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBase {
    /// Key under `bases:`.
    pub name: String,
    /// `release:`.
    pub release: String,
    /// `architectures:`.
    pub architectures: Vec<String>,
    /// `repositories:`, archive `X` mapped to `<mirror_dir>/X`.
    pub sources: Vec<Source>,
}

/// Fields copied from the index stanza of an installed version into the dpkg
/// status file. Besides what apt's same-version check hashes, this keeps what
/// a real dpkg status holds and what influences apt's resolver (Recommends of
/// the installed version decide whether a candidate's Recommends are "new").
const STATUS_FIELDS: &[&str] = &[
    "Priority",
    "Section",
    "Installed-Size",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Essential",
    "Protected",
];

/// Fields taken from another version's stanza when the installed version is
/// in no index (superseded, or never mirrored). What identifies the package:
/// without `Multi-Arch`, apt would see e.g. an outdated `nodejs` that is not
/// `Multi-Arch: allowed` and call every `nodejs:any` dependency broken. And
/// the soft relations: apt's dist-upgrade installs the Recommends of a
/// candidate that the *installed* version did not recommend, so without them
/// every Recommends would look new. The hard relations (`Depends`,
/// `Pre-Depends`, `Breaks`, `Conflicts`, `Replaces`) and `Installed-Size` are
/// version specific and are not borrowed; `Source` is not either (it may
/// carry the other version in parentheses).
const BORROWED_FIELDS: &[&str] = &[
    "Priority",
    "Section",
    "Multi-Arch",
    "Provides",
    "Recommends",
    "Suggests",
    "Enhances",
    "Essential",
    "Protected",
];

/// A private apt root for one base (sources) and native architecture.
///
/// `AptWorld` is `Sync`: queries may run concurrently from several threads
/// (each writes its own status file; apt runs with its binary cache built
/// in memory, so nothing shared is written).
pub struct AptWorld {
    _dir: tempfile::TempDir,
    root: PathBuf,
    native: String,
    sources: Vec<Source>,
    keyring: PathBuf,
    state: RwLock<WorldState>,
    next_query: AtomicU64,
}

/// The part of a world that changes when a foreign architecture is added.
struct WorldState {
    foreign: BTreeSet<String>,
    /// sources.list as last written and updated (`None` before the first).
    sources_list: Option<String>,
    index: StanzaIndex,
    update_time: Duration,
    index_time: Duration,
}

/// One installed package of a query, normalised.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    arch: String,
    version: String,
}

/// A running query: holds the world's read lock and the status file.
struct Query<'a> {
    _state: RwLockReadGuard<'a, WorldState>,
    status: PathBuf,
    keys: Vec<String>,
}

impl Drop for Query<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.status);
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn is_arch_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_package_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

fn is_plain_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl AptWorld {
    /// Creates a private apt root for `sources` and native architecture
    /// `arch`, trusting `keyring` (a binary OpenPGP keyring, used as
    /// `signed-by`), and runs `apt-get update` once.
    ///
    /// The root lives under Cargo's `CARGO_TARGET_TMPDIR` (falling back to
    /// the system temporary directory) and is removed on drop; roots left by
    /// test processes that no longer run are removed here.
    pub fn new(sources: &[Source], arch: &str, keyring: &Path) -> io::Result<AptWorld> {
        if !is_arch_name(arch) {
            return Err(invalid_input(format!(
                "architecture {arch:?} is not a Debian architecture name"
            )));
        }
        if sources.is_empty() {
            return Err(invalid_input(
                "an AptWorld needs at least one source".into(),
            ));
        }
        let keyring = fs::canonicalize(keyring)
            .map_err(|e| io::Error::new(e.kind(), format!("keyring {}: {e}", keyring.display())))?;
        let mut abs_sources = Vec::with_capacity(sources.len());
        for s in sources {
            let mirror_root = fs::canonicalize(&s.mirror_root).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("mirror root {}: {e}", s.mirror_root.display()),
                )
            })?;
            if mirror_root.to_str().is_none_or(|p| !is_plain_token(p)) {
                return Err(invalid_input(format!(
                    "mirror root {} must be a UTF-8 path without whitespace (it goes into sources.list)",
                    mirror_root.display()
                )));
            }
            if !is_plain_token(&s.suite) || s.components.is_empty() {
                return Err(invalid_input(format!(
                    "source {}: suite {:?} with components {:?} is not usable",
                    mirror_root.display(),
                    s.suite,
                    s.components
                )));
            }
            if let Some(c) = s.components.iter().find(|c| !is_plain_token(c)) {
                return Err(invalid_input(format!("component {c:?} is not usable")));
            }
            abs_sources.push(Source {
                mirror_root,
                ..s.clone()
            });
        }
        if keyring.to_str().is_none_or(|p| !is_plain_token(p)) {
            return Err(invalid_input(format!(
                "keyring path {} must be UTF-8 without whitespace",
                keyring.display()
            )));
        }

        let base = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        fs::create_dir_all(&base)?;
        remove_stale_worlds(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("aptworld-{}-", std::process::id()))
            .tempdir_in(&base)?;
        let root = dir.path().to_path_buf();
        if root.to_str().is_none_or(|p| !is_plain_token(p)) {
            return Err(invalid_input(format!(
                "apt root {} must be a UTF-8 path without whitespace",
                root.display()
            )));
        }
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
            "queries",
        ] {
            fs::create_dir_all(root.join(sub))?;
        }
        fs::write(root.join("var/lib/dpkg/status"), "")?;

        let world = AptWorld {
            _dir: dir,
            root,
            native: arch.to_string(),
            sources: abs_sources,
            keyring,
            state: RwLock::new(WorldState {
                foreign: BTreeSet::new(),
                sources_list: None,
                index: StanzaIndex::default(),
                update_time: Duration::ZERO,
                index_time: Duration::ZERO,
            }),
            next_query: AtomicU64::new(0),
        };
        {
            let mut st = world.write_state()?;
            world.configure(&mut st)?;
        }
        Ok(world)
    }

    /// The world's root directory (the apt `Dir`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The native architecture (`APT::Architecture`).
    pub fn native_arch(&self) -> &str {
        &self.native
    }

    /// The sources, with absolute mirror roots.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// `APT::Architectures`: the native one first, then the foreign ones
    /// seen so far in queries.
    pub fn architectures(&self) -> io::Result<Vec<String>> {
        let st = self.read_state()?;
        Ok(self.arch_list(&st))
    }

    /// Wall time of the last `apt-get update` (the one in `new`, or the one
    /// after a foreign architecture with indexes was added), or of the cache
    /// rebuild after a foreign architecture without indexes was added.
    pub fn update_duration(&self) -> io::Result<Duration> {
        Ok(self.read_state()?.update_time)
    }

    /// Wall time of the last read of the `Packages` indexes (`xz -dc` plus
    /// the stanza scan; runs concurrently with `apt-get update`).
    pub fn index_duration(&self) -> io::Result<Duration> {
        Ok(self.read_state()?.index_time)
    }

    /// Number of stanzas in the world's `Packages` indexes.
    pub fn index_stanzas(&self) -> io::Result<usize> {
        Ok(self.read_state()?.index.len())
    }

    /// A directory setting as this world's apt resolves it
    /// (`apt-config shell V <key>/d`), e.g. `Dir::Etc::parts`.
    pub fn resolved_dir(&self, key: &str) -> io::Result<PathBuf> {
        self.resolved(key, "d")
    }

    /// A file setting as this world's apt resolves it
    /// (`apt-config shell V <key>/f`), e.g. `Dir::Etc::sourcelist`.
    pub fn resolved_file(&self, key: &str) -> io::Result<PathBuf> {
        self.resolved(key, "f")
    }

    fn resolved(&self, key: &str, kind: &str) -> io::Result<PathBuf> {
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-')
        {
            return Err(invalid_input(format!("{key:?} is not an apt config key")));
        }
        let _st = self.read_state()?;
        let out = self
            .apt_command("apt-config")
            .args(["shell", "V", &format!("{key}/{kind}")])
            .output()?;
        let stdout = require_success(&out, "apt-config shell")?;
        let value = stdout
            .trim()
            .strip_prefix("V='")
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(|| {
                invalid_data(format!("apt-config shell printed {stdout:?} for {key}"))
            })?;
        Ok(PathBuf::from(value))
    }

    /// The dpkg status file a query for `installed` would use.
    pub fn status_for(&self, installed: &[(String, String)]) -> io::Result<String> {
        let entries = self.normalize(installed)?;
        self.ensure_arches(&entries)?;
        let st = self.read_state()?;
        Ok(self.status_text(&st, &entries))
    }

    /// What `apt list --upgradable` reports for an image with `installed`
    /// (name or `name:arch`, version): package -> candidate version. Keys are
    /// bare names for native (and `all`) packages, `name:arch` otherwise.
    pub fn upgradable(
        &self,
        installed: &[(String, String)],
    ) -> io::Result<BTreeMap<String, String>> {
        let q = self.query(installed)?;
        let out = self.run(&q, "apt", &["list", "--upgradable"])?;
        let stdout = require_success(&out, "apt list --upgradable")?;
        parse_upgradable(&stdout, &self.native)
    }

    /// apt's candidate (`apt-cache policy`) for every installed package;
    /// `None` when apt has no candidate. Keys as in [`AptWorld::upgradable`].
    ///
    /// Fails if apt's `Installed:` version differs from the one given, which
    /// would mean the status file was not read as intended.
    pub fn candidates(
        &self,
        installed: &[(String, String)],
    ) -> io::Result<BTreeMap<String, Option<String>>> {
        if installed.is_empty() {
            return Ok(BTreeMap::new());
        }
        let q = self.query(installed)?;
        let mut args = vec!["policy".to_string()];
        args.extend(q.keys.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&q, "apt-cache", &args)?;
        let stdout = require_success(&out, "apt-cache policy")?;
        let policy = parse_policy(&stdout)?;
        let entries = self.normalize(installed)?;
        let mut result = BTreeMap::new();
        for (key, e) in q.keys.iter().zip(&entries) {
            let entry = policy.get(key).ok_or_else(|| {
                invalid_data(format!(
                    "apt-cache policy printed nothing for {key}:\n{stdout}"
                ))
            })?;
            if entry.installed.as_deref() != Some(e.version.as_str()) {
                return Err(invalid_data(format!(
                    "apt-cache policy says {key} is installed at {:?}, the status file says {}",
                    entry.installed, e.version
                )));
            }
            result.insert(key.clone(), entry.candidate.clone());
        }
        Ok(result)
    }

    /// `apt-get -s -o Debug::NoLocking=1 dist-upgrade` for an image with
    /// `installed`, parsed. apt refusing (exit 100 with `E:` lines) is a
    /// result, reported in [`AptPlan::errors`]; failing to run apt is an error.
    pub fn dist_upgrade(&self, installed: &[(String, String)]) -> io::Result<AptPlan> {
        let q = self.query(installed)?;
        let out = self.run(
            &q,
            "apt-get",
            &["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"],
        )?;
        let mut raw = String::from_utf8_lossy(&out.stdout).into_owned();
        raw.push_str(&String::from_utf8_lossy(&out.stderr));
        let mut plan = parse_dist_upgrade(&raw, &self.native)?;
        plan.success = out.status.success();
        if !plan.success && (out.status.code() != Some(100) || plan.errors.is_empty()) {
            return Err(io::Error::other(format!(
                "apt-get -s dist-upgrade failed ({}) without an apt error:\n{raw}",
                out.status
            )));
        }
        Ok(plan)
    }

    fn read_state(&self) -> io::Result<RwLockReadGuard<'_, WorldState>> {
        self.state
            .read()
            .map_err(|_| io::Error::other("AptWorld state lock poisoned by a panic"))
    }

    fn write_state(&self) -> io::Result<RwLockWriteGuard<'_, WorldState>> {
        self.state
            .write()
            .map_err(|_| io::Error::other("AptWorld state lock poisoned by a panic"))
    }

    fn arch_list(&self, st: &WorldState) -> Vec<String> {
        std::iter::once(self.native.clone())
            .chain(st.foreign.iter().cloned())
            .collect()
    }

    /// Normalises `name[:arch]` entries; rejects malformed or duplicate ones.
    fn normalize(&self, installed: &[(String, String)]) -> io::Result<Vec<Entry>> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::with_capacity(installed.len());
        for (qualified, version) in installed {
            let (name, arch) = match qualified.split_once(':') {
                Some((n, a)) if a == "all" || a == self.native => (n, self.native.as_str()),
                Some((n, a)) => (n, a),
                None => (qualified.as_str(), self.native.as_str()),
            };
            if !is_package_name(name) || !is_arch_name(arch) {
                return Err(invalid_input(format!(
                    "installed package {qualified:?} is not `name` or `name:arch`"
                )));
            }
            if !is_plain_token(version) {
                return Err(invalid_input(format!(
                    "installed package {qualified}: version {version:?} is empty or has whitespace"
                )));
            }
            if !seen.insert((name.to_string(), arch.to_string())) {
                return Err(invalid_input(format!(
                    "installed package {qualified} is listed twice"
                )));
            }
            entries.push(Entry {
                name: name.to_string(),
                arch: arch.to_string(),
                version: version.clone(),
            });
        }
        Ok(entries)
    }

    fn key(&self, e: &Entry) -> String {
        if e.arch == self.native {
            e.name.clone()
        } else {
            format!("{}:{}", e.name, e.arch)
        }
    }

    /// Adds foreign architectures used by `entries` to the configuration
    /// (rewrites it, re-runs `apt-get update` and re-reads the indexes).
    fn ensure_arches(&self, entries: &[Entry]) -> io::Result<()> {
        let needed: BTreeSet<&str> = entries
            .iter()
            .map(|e| e.arch.as_str())
            .filter(|a| *a != self.native)
            .collect();
        {
            let st = self.read_state()?;
            if needed.iter().all(|a| st.foreign.contains(*a)) {
                return Ok(());
            }
        }
        let mut st = self.write_state()?;
        if needed.iter().all(|a| st.foreign.contains(*a)) {
            return Ok(());
        }
        st.foreign.extend(needed.iter().map(|a| a.to_string()));
        self.configure(&mut st)
    }

    fn query(&self, installed: &[(String, String)]) -> io::Result<Query<'_>> {
        let entries = self.normalize(installed)?;
        self.ensure_arches(&entries)?;
        let st = self.read_state()?;
        let text = self.status_text(&st, &entries);
        let n = self.next_query.fetch_add(1, Ordering::Relaxed);
        let status = self.root.join("queries").join(format!("status-{n}"));
        fs::write(&status, text)?;
        let keys = entries.iter().map(|e| self.key(e)).collect();
        Ok(Query {
            _state: st,
            status,
            keys,
        })
    }

    /// The dpkg status text for `entries` (see the module doc).
    fn status_text(&self, st: &WorldState, entries: &[Entry]) -> String {
        let mut out = String::with_capacity(entries.len() * 512);
        for e in entries {
            let foreign = e.arch != self.native;
            // Exact (name, version, arch) first; arch:all packages are listed
            // once, under `Architecture: all`. A foreign-arch package whose
            // version the mirror only has for the native arch (the slice
            // mirrors amd64 only) takes the native build's fields: a real
            // image's status would have them (notably `Multi-Arch: same`).
            let exact = st
                .index
                .get(&e.name, &e.version, &e.arch)
                .or_else(|| st.index.get(&e.name, &e.version, "all"))
                .or_else(|| {
                    foreign
                        .then(|| st.index.get(&e.name, &e.version, &self.native))
                        .flatten()
                });
            // A version in no index (superseded, or never mirrored): the
            // identity fields and soft relations of another version of the
            // package, no hard relations (see BORROWED_FIELDS).
            let other = match exact {
                Some(_) => None,
                None => st
                    .index
                    .get_any_version(&e.name, &e.arch)
                    .or_else(|| st.index.get_any_version(&e.name, "all"))
                    .or_else(|| {
                        foreign
                            .then(|| st.index.get_any_version(&e.name, &self.native))
                            .flatten()
                    }),
            };
            let (stanza, fields) = match (exact, other) {
                (Some(s), _) => (Some(s), STATUS_FIELDS),
                (None, Some(s)) => (Some(s), BORROWED_FIELDS),
                (None, None) => (None, BORROWED_FIELDS),
            };
            let _ = writeln!(out, "Package: {}", e.name);
            out.push_str("Status: install ok installed\n");
            let mut arch = e.arch.as_str();
            for (field, value) in stanza.into_iter().flat_map(stanza_fields) {
                if field == "Architecture" {
                    // `all` stays `all`; a borrowed native stanza gets the
                    // entry's foreign architecture.
                    if value.trim() == "all" && !foreign {
                        arch = "all";
                    }
                } else if fields.contains(&field) {
                    let _ = writeln!(out, "{field}:{value}");
                }
            }
            let _ = writeln!(out, "Architecture: {arch}");
            let _ = writeln!(out, "Version: {}", e.version);
            out.push_str(
                "Description: installed package (written by the apt reference harness)\n\n",
            );
        }
        out
    }

    fn apt_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            )
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, q: &Query<'_>, program: &str, args: &[&str]) -> io::Result<Output> {
        let status = q
            .status
            .to_str()
            .ok_or_else(|| invalid_input("status path is not UTF-8".into()))?;
        self.apt_command(program)
            .arg("-o")
            .arg(format!("Dir::State::status={status}"))
            .args(args)
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running {program}: {e}")))
    }

    /// Writes apt.conf and sources.list for the current architectures, runs
    /// `apt-get update` and (concurrently) reads the Packages indexes.
    fn configure(&self, st: &mut WorldState) -> io::Result<()> {
        let arches = self.arch_list(st);
        let root = path_str(&self.root)?;
        let mut conf = String::new();
        let _ = writeln!(conf, "Dir \"{root}/\";");
        for (key, value) in [
            ("Dir::State", "var/lib/apt/"),
            ("Dir::Cache", "var/cache/apt/"),
            ("Dir::Etc", "etc/apt/"),
            ("Dir::Log", "var/log/apt/"),
        ] {
            let _ = writeln!(conf, "{key} \"{root}/{value}\";");
        }
        for (key, value) in [
            ("Dir::State::status", "var/lib/dpkg/status"),
            ("Dir::Etc::main", "etc/apt/apt.conf"),
            ("Dir::Etc::parts", "etc/apt/apt.conf.d/"),
            ("Dir::Etc::sourcelist", "etc/apt/sources.list"),
            ("Dir::Etc::sourceparts", "etc/apt/sources.list.d/"),
            ("Dir::Etc::preferences", "etc/apt/preferences"),
            ("Dir::Etc::preferencesparts", "etc/apt/preferences.d/"),
            ("Dir::Etc::trusted", "etc/apt/trusted.gpg"),
            ("Dir::Etc::trustedparts", "etc/apt/trusted.gpg.d/"),
            ("Dir::Etc::netrc", "etc/apt/auth.conf"),
            ("Dir::Etc::netrcparts", "etc/apt/auth.conf.d/"),
        ] {
            let _ = writeln!(conf, "{key} \"{root}/{value}\";");
        }
        let _ = writeln!(conf, "APT::Architecture \"{}\";", self.native);
        conf.push_str("APT::Architectures {");
        for a in &arches {
            let _ = write!(conf, " \"{a}\";");
        }
        conf.push_str(" };\n");
        conf.push_str(concat!(
            // Built in memory per query: nothing shared is written by queries.
            "Dir::Cache::pkgcache \"\";\n",
            "Acquire::Check-Valid-Until \"false\";\n",
            "Acquire::Check-Date \"false\";\n",
            "Acquire::By-Hash \"no\";\n",
            "Acquire::PDiffs \"false\";\n",
            "Acquire::Languages \"none\";\n",
            "APT::Sandbox::User \"root\";\n",
            "APT::Color \"false\";\n",
            "Debug::pkgProblemResolver \"false\";\n",
            "Debug::pkgDepCache::AutoInstall \"false\";\n",
            "Debug::pkgDepCache::Marker \"false\";\n",
            "Debug::pkgPolicy \"false\";\n",
            "Debug::Acquire::file \"false\";\n",
        ));
        fs::write(self.root.join("apt.conf"), conf)?;

        let keyring = path_str(&self.keyring)?;
        let mut list = String::new();
        let mut index_files = Vec::new();
        for s in &self.sources {
            if !s.is_mirrored() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{}: no InRelease; suite {} is not in the mirror",
                        s.suite_dir().display(),
                        s.suite
                    ),
                ));
            }
            // Only architectures the mirror has an index for (the slice
            // mirrors amd64 only): apt then simply has no candidate for
            // installed packages of the others.
            let mut source_arches = Vec::new();
            for a in &arches {
                let files: Vec<PathBuf> = s
                    .components
                    .iter()
                    .filter_map(|c| s.packages_index(c, a))
                    .collect();
                if a == &self.native && files.len() != s.components.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "{}: a component of {:?} has no binary-{a}/Packages index",
                            s.suite_dir().display(),
                            s.components
                        ),
                    ));
                }
                if !files.is_empty() {
                    source_arches.push(a.as_str());
                    index_files.extend(files);
                }
            }
            let _ = writeln!(
                list,
                "deb [signed-by={keyring} arch={}] file:{} {} {}",
                source_arches.join(","),
                path_str(&s.mirror_root)?,
                s.suite,
                s.components.join(" ")
            );
        }
        if st.sources_list.as_deref() == Some(list.as_str()) {
            // Same sources and indexes (a foreign architecture without
            // indexes was added): the lists are current, only apt's source
            // cache depends on APT::Architectures. Rebuild it now, under the
            // write lock, rather than racing queries.
            let _ = fs::remove_file(self.root.join("var/cache/apt/srcpkgcache.bin"));
            let t = Instant::now();
            let out = self.apt_command("apt-cache").arg("gencaches").output()?;
            require_success(&out, "apt-cache gencaches")?;
            st.update_time = t.elapsed();
            return Ok(());
        }
        fs::write(self.root.join("etc/apt/sources.list"), &list)?;

        let (update, index) = std::thread::scope(|scope| {
            let index = scope.spawn(|| {
                let t = Instant::now();
                StanzaIndex::load(&index_files).map(|i| (i, t.elapsed()))
            });
            let t = Instant::now();
            let update = self.apt_get_update().map(|()| t.elapsed());
            let index = index
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("index reader thread panicked")));
            (update, index)
        });
        st.update_time = update?;
        let (index, index_time) = index?;
        st.index = index;
        st.index_time = index_time;
        st.sources_list = Some(list);
        Ok(())
    }

    fn apt_get_update(&self) -> io::Result<()> {
        let out = self
            .apt_command("apt-get")
            .args(["-q", "update"])
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let complaint = stdout
            .lines()
            .chain(stderr.lines())
            .any(|l| l.starts_with("E:") || l.starts_with("W:") || l.starts_with("Err:"));
        if !out.status.success() || complaint {
            return Err(io::Error::other(format!(
                "apt-get update in {} failed ({}):\n{stdout}{stderr}",
                self.root.display(),
                out.status
            )));
        }
        if !self.root.join("var/cache/apt/srcpkgcache.bin").is_file() {
            let out = self.apt_command("apt-cache").arg("gencaches").output()?;
            require_success(&out, "apt-cache gencaches")?;
        }
        Ok(())
    }
}

fn path_str(p: &Path) -> io::Result<&str> {
    p.to_str()
        .ok_or_else(|| invalid_input(format!("path {} is not UTF-8", p.display())))
}

/// stdout of a successful command, or an error with its stderr.
fn require_success(out: &Output, what: &str) -> io::Result<String> {
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout.clone())
        .map_err(|e| invalid_data(format!("{what} printed non-UTF-8 output: {e}")))
}

/// Removes `aptworld-<pid>-*` roots under `base` whose process is gone.
fn remove_stale_worlds(base: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(dir) = fs::read_dir(base) else { return };
    let me = std::process::id();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("aptworld-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != me && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A stanza's location: (text number, byte range).
type StanzaRef = (usize, usize, usize);

/// The `Packages` stanzas of a world, by (package, version, architecture)
/// and by (package, architecture).
#[derive(Default)]
struct StanzaIndex {
    texts: Vec<String>,
    exact: HashMap<(String, String, String), StanzaRef>,
    any_version: HashMap<(String, String), StanzaRef>,
}

/// (Package, Version, Architecture, start, end) of each stanza of one text.
type Scanned = Vec<(String, String, String, usize, usize)>;

impl StanzaIndex {
    /// Decompresses (`xz -dc` / `gzip -dc`) and scans `files`, in parallel.
    /// The first stanza seen (in `files` order) for a key wins.
    fn load(files: &[PathBuf]) -> io::Result<StanzaIndex> {
        let results: Vec<io::Result<(String, Scanned)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = files
                .iter()
                .map(|f| {
                    scope.spawn(move || {
                        let text = read_index(f)?;
                        let scanned = scan_stanzas(&text, f)?;
                        Ok((text, scanned))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("index reader panicked")))
                })
                .collect()
        });
        let mut index = StanzaIndex::default();
        for result in results {
            let (text, scanned) = result?;
            let t = index.texts.len();
            for (p, v, a, start, end) in scanned {
                index
                    .any_version
                    .entry((p.clone(), a.clone()))
                    .or_insert((t, start, end));
                index.exact.entry((p, v, a)).or_insert((t, start, end));
            }
            index.texts.push(text);
        }
        Ok(index)
    }

    fn len(&self) -> usize {
        self.exact.len()
    }

    fn text(&self, &(t, start, end): &StanzaRef) -> Option<&str> {
        self.texts.get(t)?.get(start..end)
    }

    /// The stanza of exactly `name` `version` for `arch`.
    fn get(&self, name: &str, version: &str, arch: &str) -> Option<&str> {
        let key = (name.to_string(), version.to_string(), arch.to_string());
        self.text(self.exact.get(&key)?)
    }

    /// Some stanza of `name` for `arch`, whatever its version.
    fn get_any_version(&self, name: &str, arch: &str) -> Option<&str> {
        self.text(
            self.any_version
                .get(&(name.to_string(), arch.to_string()))?,
        )
    }
}

/// Finds the stanzas of a `Packages` text and their Package, Version and
/// Architecture, line by line (fields other than these are not parsed).
fn scan_stanzas(text: &str, file: &Path) -> io::Result<Scanned> {
    let mut out = Vec::new();
    let (mut p, mut v, mut a) = (None, None, None);
    let mut start = 0;
    let mut pos = 0;
    let len = text.len();
    let mut finish = |start: usize,
                      end: usize,
                      p: &mut Option<&str>,
                      v: &mut Option<&str>,
                      a: &mut Option<&str>|
     -> io::Result<()> {
        match (p.take(), v.take(), a.take()) {
            (Some(p), Some(v), Some(a)) => {
                out.push((p.to_string(), v.to_string(), a.to_string(), start, end));
                Ok(())
            }
            (None, None, None) => Ok(()),
            _ => Err(invalid_data(format!(
                "{}: stanza at byte {start} lacks Package, Version or Architecture",
                file.display()
            ))),
        }
    };
    while pos < len {
        let nl = text[pos..].find('\n').map_or(len, |k| pos + k);
        let line = text[pos..nl].trim_end_matches('\r');
        if line.is_empty() {
            finish(start, pos, &mut p, &mut v, &mut a)?;
            start = nl + 1;
        } else if let Some(x) = line.strip_prefix("Package:") {
            p = Some(x.trim());
        } else if let Some(x) = line.strip_prefix("Version:") {
            v = Some(x.trim());
        } else if let Some(x) = line.strip_prefix("Architecture:") {
            a = Some(x.trim());
        }
        pos = nl + 1;
    }
    finish(start, len.max(start), &mut p, &mut v, &mut a)?;
    Ok(out)
}

fn read_index(path: &Path) -> io::Result<String> {
    let tool = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => Some("xz"),
        Some("gz") => Some("gzip"),
        _ => None,
    };
    let bytes = match tool {
        Some(tool) => {
            let out = Command::new(tool)
                .arg("-dc")
                .arg(path)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| io::Error::new(e.kind(), format!("running {tool}: {e}")))?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "{tool} -dc {} failed ({}): {}",
                    path.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            out.stdout
        }
        None => fs::read(path)?,
    };
    String::from_utf8(bytes)
        .map_err(|e| invalid_data(format!("{} is not UTF-8: {e}", path.display())))
}

/// The fields of one stanza: (name, value as written after the colon,
/// continuation lines included, without the final newline).
fn stanza_fields(stanza: &str) -> impl Iterator<Item = (&str, &str)> + '_ {
    let mut rest = stanza;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            // The field runs to the first newline not followed by a
            // continuation line (space or tab).
            let mut end = 0;
            let bytes = rest.as_bytes();
            loop {
                match rest[end..].find('\n') {
                    Some(i) => {
                        end += i + 1;
                        if !matches!(bytes.get(end), Some(b' ' | b'\t')) {
                            break;
                        }
                    }
                    None => {
                        end = rest.len();
                        break;
                    }
                }
            }
            let field = &rest[..end];
            rest = &rest[end..];
            if field.starts_with('#') {
                continue;
            }
            if let Some((name, value)) = field.split_once(':') {
                return Some((name, value.trim_end_matches(['\n', '\r'])));
            }
        }
    })
}

/// Parses `apt list --upgradable` output (`name/suites version arch
/// [upgradable from: old]`) into package -> candidate version. Keys are bare
/// names for `native` and `all` packages, `name:arch` otherwise.
pub fn parse_upgradable(out: &str, native: &str) -> io::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for line in out.lines() {
        let line = line.trim_end();
        if line.is_empty() || line == "Listing..." || line.starts_with("N: ") {
            continue;
        }
        let mut tokens = line.split_whitespace();
        let parsed = (|| {
            let name = tokens.next()?.split_once('/')?.0;
            let version = tokens.next()?;
            let arch = tokens.next()?;
            let rest: Vec<&str> = tokens.collect();
            if rest.first() != Some(&"[upgradable") || rest.get(1) != Some(&"from:") {
                return None;
            }
            Some((name, version, arch))
        })();
        let Some((name, version, arch)) = parsed else {
            return Err(invalid_data(format!(
                "unexpected line in `apt list --upgradable` output: {line:?}"
            )));
        };
        let key = if arch == native || arch == "all" {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        };
        map.insert(key, version.to_string());
    }
    Ok(map)
}

/// One package of `apt-cache policy` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEntry {
    /// `Installed:`, `None` for `(none)`.
    pub installed: Option<String>,
    /// `Candidate:`, `None` for `(none)`.
    pub candidate: Option<String>,
}

/// Parses `apt-cache policy PKG...` output into package (as apt prints it:
/// `name`, or `name:arch` for a foreign architecture) -> [`PolicyEntry`].
pub fn parse_policy(out: &str) -> io::Result<BTreeMap<String, PolicyEntry>> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, PolicyEntry)> = None;
    let version = |v: &str| (v != "(none)").then(|| v.to_string());
    for line in out.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            let Some(name) = line.strip_suffix(':') else {
                return Err(invalid_data(format!(
                    "unexpected line in `apt-cache policy` output: {line:?}"
                )));
            };
            if let Some((n, e)) = current.take() {
                map.insert(n, e);
            }
            current = Some((name.to_string(), PolicyEntry::default()));
        } else if let Some((_, entry)) = current.as_mut() {
            let t = line.trim();
            if let Some(v) = t.strip_prefix("Installed: ") {
                entry.installed = version(v.trim());
            } else if let Some(v) = t.strip_prefix("Candidate: ") {
                entry.candidate = version(v.trim());
            }
        }
    }
    if let Some((n, e)) = current.take() {
        map.insert(n, e);
    }
    Ok(map)
}

/// Parses `apt-get -s dist-upgrade` output (stdout and stderr concatenated).
/// [`AptPlan::success`] is left `false`; the caller sets it from the exit
/// status.
pub fn parse_dist_upgrade(raw: &str, native: &str) -> io::Result<AptPlan> {
    #[derive(PartialEq)]
    enum Section {
        None,
        KeptBack,
        Unmet,
        Other,
    }
    let strip_native = |name: &str| -> String {
        match name.split_once(':') {
            Some((n, a)) if a == native => n.to_string(),
            _ => name.to_string(),
        }
    };
    let mut plan = AptPlan {
        raw: raw.to_string(),
        ..AptPlan::default()
    };
    let mut section = Section::None;
    for line in raw.lines() {
        if line.starts_with("The following ") {
            section = if line.contains("have been kept back") {
                Section::KeptBack
            } else if line.contains("unmet dependencies") {
                Section::Unmet
            } else {
                Section::Other
            };
            continue;
        }
        if line.starts_with(' ') {
            match section {
                Section::KeptBack => {
                    plan.kept_back
                        .extend(line.split_whitespace().map(strip_native));
                }
                Section::Unmet => {
                    if let Some((name, _)) = line.trim_start().split_once(" : ") {
                        if !name.contains(' ') {
                            plan.broken.insert(strip_native(name));
                        }
                    }
                }
                Section::None | Section::Other => {}
            }
            continue;
        }
        section = Section::None;
        if let Some(rest) = line.strip_prefix("Inst ") {
            let bad = || invalid_data(format!("unexpected Inst line: {line:?}"));
            let (name, rest) = rest.split_once(' ').ok_or_else(bad)?;
            let rest = rest.trim_start();
            let (from, rest) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (old, r) = r.split_once(']').ok_or_else(bad)?;
                    (Some(old.to_string()), r.trim_start())
                }
                None => (None, rest),
            };
            let to = rest
                .strip_prefix('(')
                .and_then(|r| r.split_whitespace().next())
                .map(|v| v.trim_end_matches(')'))
                .ok_or_else(bad)?;
            let name = strip_native(name);
            match from {
                Some(from) => {
                    plan.upgrade.insert(name, (from, to.to_string()));
                }
                None => {
                    plan.install.insert(name, to.to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("Remv ") {
            let name = rest
                .split_whitespace()
                .next()
                .ok_or_else(|| invalid_data(format!("unexpected Remv line: {line:?}")))?;
            plan.remove.insert(strip_native(name));
        } else if let Some(msg) = line.strip_prefix("E: ") {
            plan.errors.push(msg.to_string());
        }
    }
    Ok(plan)
}

// ---------------------------------------------------------------------------
// testdata/fleet readers (tiny YAML subset)
// ---------------------------------------------------------------------------

/// Removes a `#` comment (at line start or after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Strips one pair of surrounding quotes.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Splits `key: value` at the first colon outside quotes that is followed by
/// a space or ends the text.
fn split_key_value(s: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ':') if matches!(bytes.get(i + 1), None | Some(b' ' | b'\t')) => {
                return Some((s[..i].trim(), s[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// Splits a flow collection body (without its brackets) at top-level commas.
fn split_flow(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote = None;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(body[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(body[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Parses `{k: v, ...}` into (key, value) pairs (values kept raw).
fn parse_flow_map(s: &str) -> Option<Vec<(&str, &str)>> {
    let body = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    split_flow(body)
        .into_iter()
        .map(|part| split_key_value(part).map(|(k, v)| (unquote(k), v)))
        .collect()
}

/// Parses `[a, b]` into its (unquoted) items.
fn parse_flow_seq(s: &str) -> Option<Vec<String>> {
    let body = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        split_flow(body)
            .into_iter()
            .map(|p| unquote(p).to_string())
            .collect(),
    )
}

fn yaml_error(path: &Path, lineno: usize, msg: &str, line: &str) -> io::Error {
    invalid_data(format!("{}:{lineno}: {msg}: {line:?}", path.display()))
}

/// Reads an image manifest (`image:`, `base:`, `architecture:` and a
/// `packages:` block of `name: version` lines or a flow map).
pub fn load_manifest(path: &Path) -> io::Result<Manifest> {
    let text = fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut m = Manifest {
        path: path.to_path_buf(),
        image: String::new(),
        base: String::new(),
        architecture: String::new(),
        packages: Vec::new(),
    };
    let mut in_packages = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = strip_comment(raw).trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let (key, value) = split_key_value(line.trim())
            .ok_or_else(|| yaml_error(path, lineno, "expected `key: value`", raw))?;
        if !indented {
            in_packages = false;
            match unquote(key) {
                "image" => m.image = unquote(value).to_string(),
                "base" => m.base = unquote(value).to_string(),
                "architecture" => m.architecture = unquote(value).to_string(),
                "packages" if value.is_empty() => in_packages = true,
                "packages" => {
                    let pairs = parse_flow_map(value)
                        .ok_or_else(|| yaml_error(path, lineno, "bad flow map", raw))?;
                    m.packages.extend(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), unquote(v).to_string())),
                    );
                }
                _ => {}
            }
        } else if in_packages {
            let (name, version) = (unquote(key), unquote(value));
            if name.is_empty() || version.is_empty() {
                return Err(yaml_error(path, lineno, "expected `name: version`", raw));
            }
            m.packages.push((name.to_string(), version.to_string()));
        }
    }
    if m.image.is_empty() || m.base.is_empty() || m.architecture.is_empty() {
        return Err(invalid_data(format!(
            "{}: image, base and architecture are all required",
            path.display()
        )));
    }
    Ok(m)
}

/// The `packages:` of an image manifest: (name or `name:arch`, version).
pub fn load_manifest_packages(path: &Path) -> io::Result<Vec<(String, String)>> {
    Ok(load_manifest(path)?.packages)
}

/// Every `*.yaml` manifest under `images_dir` (recursively), sorted by path.
pub fn fleet_manifests(images_dir: &Path) -> io::Result<Vec<Manifest>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(images_dir, &mut paths)?;
    paths.sort();
    paths.iter().map(|p| load_manifest(p)).collect()
}

/// The `bases:` of a `fleet.yaml`, each repository's archive `X` mapped to
/// `<mirror_dir>/X` (the `archives:` paths of the file are ignored).
/// Repositories must be flow maps: `- {archive: A, suite: S, components: [C]}`.
pub fn load_fleet_bases(
    fleet_yaml: &Path,
    mirror_dir: &Path,
) -> io::Result<BTreeMap<String, FleetBase>> {
    let path = fleet_yaml;
    let text = fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut bases: BTreeMap<String, FleetBase> = BTreeMap::new();
    let mut in_bases = false;
    let mut current: Option<String> = None;
    let mut in_repos = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = strip_comment(raw).trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        if indent == 0 {
            in_bases = body.trim_end() == "bases:";
            current = None;
            in_repos = false;
            continue;
        }
        if !in_bases {
            continue;
        }
        if indent == 2 {
            let (key, _) = split_key_value(body)
                .filter(|(_, v)| v.is_empty())
                .ok_or_else(|| yaml_error(path, lineno, "expected `name:` of a base", raw))?;
            let name = unquote(key).to_string();
            bases.insert(
                name.clone(),
                FleetBase {
                    name: name.clone(),
                    release: String::new(),
                    architectures: Vec::new(),
                    sources: Vec::new(),
                },
            );
            current = Some(name);
            in_repos = false;
            continue;
        }
        let Some(base) = current.as_ref().and_then(|c| bases.get_mut(c)) else {
            return Err(yaml_error(
                path,
                lineno,
                "indented line outside a base",
                raw,
            ));
        };
        if let Some(item) = body.strip_prefix("- ") {
            if !in_repos {
                return Err(yaml_error(
                    path,
                    lineno,
                    "list item outside repositories",
                    raw,
                ));
            }
            let pairs = parse_flow_map(item).ok_or_else(|| {
                yaml_error(
                    path,
                    lineno,
                    "expected `- {archive: .., suite: .., components: [..]}`",
                    raw,
                )
            })?;
            let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            let (Some(archive), Some(suite), Some(components)) =
                (get("archive"), get("suite"), get("components"))
            else {
                return Err(yaml_error(
                    path,
                    lineno,
                    "repository needs archive, suite and components",
                    raw,
                ));
            };
            let components = parse_flow_seq(components)
                .ok_or_else(|| yaml_error(path, lineno, "components must be `[..]`", raw))?;
            base.sources.push(Source {
                mirror_root: mirror_dir.join(unquote(archive)),
                suite: unquote(suite).to_string(),
                components,
            });
            continue;
        }
        let (key, value) = split_key_value(body)
            .ok_or_else(|| yaml_error(path, lineno, "expected `key: value`", raw))?;
        in_repos = false;
        match unquote(key) {
            "release" => base.release = unquote(value).to_string(),
            "architectures" => {
                base.architectures = parse_flow_seq(value)
                    .ok_or_else(|| yaml_error(path, lineno, "architectures must be `[..]`", raw))?;
            }
            "repositories" if value.is_empty() => in_repos = true,
            "repositories" => {
                return Err(yaml_error(
                    path,
                    lineno,
                    "repositories must be a block list",
                    raw,
                ));
            }
            _ => {}
        }
    }
    Ok(bases)
}

impl AptWorld {
    /// [`AptWorld::dist_upgrade`] with extra apt options (`-o` values such as
    /// `APT::Install-Recommends=false`), for plans that must match a build
    /// run with `apt-get install --no-install-recommends`.
    pub fn dist_upgrade_with(
        &self,
        installed: &[(String, String)],
        options: &[&str],
    ) -> io::Result<AptPlan> {
        let q = self.query(installed)?;
        let mut args: Vec<&str> = vec!["-s", "-o", "Debug::NoLocking=1"];
        for o in options {
            args.push("-o");
            args.push(o);
        }
        args.push("dist-upgrade");
        let out = self.run(&q, "apt-get", &args)?;
        let mut raw = String::from_utf8_lossy(&out.stdout).into_owned();
        raw.push_str(&String::from_utf8_lossy(&out.stderr));
        let mut plan = parse_dist_upgrade(&raw, &self.native)?;
        plan.success = out.status.success();
        if !plan.success && (out.status.code() != Some(100) || plan.errors.is_empty()) {
            return Err(io::Error::other(format!(
                "apt-get -s dist-upgrade failed ({}) without an apt error:\n{raw}",
                out.status
            )));
        }
        Ok(plan)
    }
}

impl AptWorld {
    /// Whether the world's indexes have exactly `name` `version` for the
    /// native architecture or `all`.
    pub fn has_version(&self, name: &str, version: &str) -> io::Result<bool> {
        let st = self.read_state()?;
        Ok(st.index.get(name, version, &self.native).is_some()
            || st.index.get(name, version, "all").is_some())
    }

    /// Names of the packages with `Essential: yes` in any stanza of the
    /// world's indexes (native architecture or `all`).
    pub fn essential_names(&self) -> io::Result<BTreeSet<String>> {
        let st = self.read_state()?;
        let mut out = BTreeSet::new();
        for ((name, _, arch), r) in &st.index.exact {
            if arch != &self.native && arch != "all" {
                continue;
            }
            let Some(stanza) = st.index.text(r) else {
                continue;
            };
            if stanza_fields(stanza)
                .any(|(f, v)| f.eq_ignore_ascii_case("Essential") && v.trim() == "yes")
            {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }
}

impl AptWorld {
    /// `apt-get -s <options> <command...>` for an image with `installed`,
    /// parsed like [`AptWorld::dist_upgrade`] (e.g. `install pkg=version`
    /// to derive a consistent installed set with apt itself).
    pub fn simulate(
        &self,
        installed: &[(String, String)],
        options: &[&str],
        command: &[&str],
    ) -> io::Result<AptPlan> {
        let q = self.query(installed)?;
        let mut args: Vec<&str> = vec!["-s", "-o", "Debug::NoLocking=1"];
        for o in options {
            args.push("-o");
            args.push(o);
        }
        args.extend_from_slice(command);
        let out = self.run(&q, "apt-get", &args)?;
        let mut raw = String::from_utf8_lossy(&out.stdout).into_owned();
        raw.push_str(&String::from_utf8_lossy(&out.stderr));
        let mut plan = parse_dist_upgrade(&raw, &self.native)?;
        plan.success = out.status.success();
        Ok(plan)
    }
}
