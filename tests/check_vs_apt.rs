//! Acceptance test of `debfleet check` against apt itself, on the example
//! fleet (`testdata/fleet`) over the bundled signed mirror slice.
//!
//! debfleet syncs the mirror into a temporary store and checks every image.
//! Independently, the apt reference harness (`tests/support/apt.rs`) builds
//! one private apt root per mirrored base and asks `apt list --upgradable`
//! for every image on that base. For EVERY image, debfleet's `updates` must
//! equal apt's upgradable set exactly (package and candidate version).
//!
//! Besides updates, apt is the truth for the other per-image lists:
//! - `missing`: installed packages of which apt knows no version in the
//!   base's indexes (`apt-cache madison` lists none; `apt-cache policy` has
//!   no candidate other than the installed version);
//! - `ahead`: installed versions that are in no index, newer than every
//!   index version (apt's candidate is the installed version), with
//!   debfleet's `newest` the highest index version;
//! - `not_checkable`: packages of an architecture the base does not mirror.
//!
//! And the traps apt's policy sets for a naive "highest version" checker are
//! asserted by name: a security suite carrying an *older* version than the
//! point release, backports versions that are newer than main but not
//! proposed to packages installed from main, and newer backports versions
//! that are proposed to packages installed from backports.
//!
//! The debfleet run (sync, then check) and the apt queries run concurrently;
//! the apt queries of all images run in parallel. Timings are printed; run
//! with `--nocapture` to see them.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::Value;
use support::apt::{AptWorld, FleetBase, Manifest, fleet_manifests, load_fleet_bases};

/// The mirrored bases of the example fleet; every image on one of them is
/// compared with apt.
const MIRRORED_BASES: [&str; 3] = ["bookworm", "bookworm-backports", "trixie"];

fn keyring() -> PathBuf {
    support::testdata().join("keyrings/debian-archive-keyring.gpg")
}

/// What debfleet reported, and how long it took.
struct DebfleetRun {
    report: Value,
    check_exit: Option<i32>,
    sync_time: Duration,
    check_time: Duration,
}

/// `debfleet sync` then `debfleet check --format json` on the example fleet,
/// with the store (a redb file) at `state`.
fn run_debfleet(state: &Path) -> DebfleetRun {
    let fleet = support::testdata().join("fleet");
    let fleet = fleet.to_str().expect("utf-8 path");
    let state = state.to_str().expect("utf-8 path");
    let t = Instant::now();
    let sync = common::debfleet(&[
        "--fleet",
        fleet,
        "--state",
        state,
        "--now",
        common::NOW,
        "sync",
    ]);
    let sync_time = t.elapsed();
    // buster is not mirrored: the sync reports it and must still succeed for
    // the mirrored suites.
    assert!(
        sync.status.success(),
        "debfleet sync failed ({}):\n{}{}",
        sync.status,
        common::stdout(&sync),
        common::stderr(&sync)
    );
    let t = Instant::now();
    let check = common::debfleet(&[
        "--fleet",
        fleet,
        "--state",
        state,
        "--now",
        common::NOW,
        "check",
        "--format",
        "json",
    ]);
    let check_time = t.elapsed();
    DebfleetRun {
        report: common::json(&check),
        check_exit: check.status.code(),
        sync_time,
        check_time,
    }
}

/// One image as apt sees it.
struct AptImage {
    /// `apt list --upgradable`: package -> candidate.
    upgradable: BTreeMap<String, String>,
    query_time: Duration,
}

/// One base's apt world plus what apt knows about the base's indexes.
struct AptBase {
    world: AptWorld,
    /// `apt-cache madison` for every native package name installed in an
    /// image of this base: name -> the versions in the base's indexes and
    /// their suites (no entry: apt knows no version).
    index_versions: IndexVersions,
    setup_time: Duration,
}

/// Runs `apt-cache` in `world`'s private root with its configuration and
/// its (empty) default dpkg status, so only index versions are listed.
fn apt_cache(world: &AptWorld, args: &[String]) -> String {
    // The harness points APT_CONFIG at `<root>/apt.conf`; every setting,
    // including the status file, comes from there.
    let conf = world.root().join("apt.conf");
    assert!(
        conf.is_file(),
        "the apt world has no configuration at {}",
        conf.display()
    );
    let out = Command::new("apt-cache")
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("APT_CONFIG", &conf)
        .env("LC_ALL", "C")
        .args(args)
        .output()
        .expect("run apt-cache");
    assert!(
        out.status.success(),
        "apt-cache {} failed ({}): {}",
        args.first().map_or("", String::as_str),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("apt-cache prints UTF-8")
}

/// Index versions of packages: name -> version -> the suites that carry it.
type IndexVersions = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The index versions of `names` for `world`'s native architecture, from
/// `apt-cache madison` (lines `name | version | <uri> <suite>/<component>
/// <arch> Packages`).
fn madison(world: &AptWorld, names: &BTreeSet<String>) -> IndexVersions {
    let mut args = vec!["madison".to_string()];
    args.extend(names.iter().cloned());
    let out = apt_cache(world, &args);
    let index_arch = format!(" {} Packages", world.native_arch());
    let mut versions = IndexVersions::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, version, origin] = fields[..] else {
            panic!("unexpected `apt-cache madison` line: {line:?}");
        };
        let Some(location) = origin.strip_suffix(&index_arch) else {
            continue;
        };
        let suite = location
            .rsplit(' ')
            .next()
            .and_then(|dist| dist.split('/').next())
            .unwrap_or_else(|| panic!("no suite in `apt-cache madison` line {line:?}"));
        if names.contains(name) {
            versions
                .entry(name.to_string())
                .or_default()
                .entry(version.to_string())
                .or_default()
                .insert(suite.to_string());
        }
    }
    versions
}

/// Asserts that `index` has `package` at `version` in `suite`.
fn assert_in_index(index: &IndexVersions, package: &str, version: &str, suite: &str) {
    let suites = index
        .get(package)
        .and_then(|v| v.get(version))
        .unwrap_or_else(|| panic!("apt knows no {package} {version}: {:?}", index.get(package)));
    assert!(
        suites.contains(suite),
        "{package} {version} is in {suites:?}, not {suite}"
    );
}

/// `dpkg --compare-versions a gt b`.
fn dpkg_gt(a: &str, b: &str) -> bool {
    let st = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .expect("run dpkg --compare-versions");
    match st.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("dpkg --compare-versions {a} gt {b}: {st}"),
    }
}

/// The highest of `versions` by dpkg's ordering.
fn dpkg_max<'a>(versions: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
    versions
        .into_iter()
        .reduce(|best, v| if dpkg_gt(v, best) { v } else { best })
}

/// Splits a manifest key into (name, architecture), `native` when unqualified
/// or qualified with the native architecture or `all`.
fn split_arch<'a>(key: &'a str, native: &'a str) -> (&'a str, &'a str) {
    match key.split_once(':') {
        Some((n, a)) if a == native || a == "all" => (n, native),
        Some((n, a)) => (n, a),
        None => (key, native),
    }
}

/// The key under which apt (and debfleet) report a manifest entry: the bare
/// name for native packages, `name:arch` for foreign ones.
fn report_key(key: &str, native: &str) -> String {
    match split_arch(key, native) {
        (n, a) if a == native => n.to_string(),
        (n, a) => format!("{n}:{a}"),
    }
}

/// Builds the apt world for `base` (one `apt-get update`), adds the foreign
/// architectures its images use (so queries later run without
/// reconfiguring), and lists the index versions of their packages.
fn apt_base(base: &FleetBase, images: &[&Manifest]) -> AptBase {
    let t = Instant::now();
    let arch = base
        .architectures
        .first()
        .expect("base has an architecture");
    let world = AptWorld::new(&base.sources, arch, &keyring())
        .unwrap_or_else(|e| panic!("apt world for base {}: {e}", base.name));
    for m in images {
        world
            .status_for(&m.packages)
            .unwrap_or_else(|e| panic!("{}: {e}", m.image));
    }
    let names: BTreeSet<String> = images
        .iter()
        .flat_map(|m| &m.packages)
        .filter_map(|(key, _)| match split_arch(key, arch) {
            (n, a) if a == arch => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let index_versions = madison(&world, &names);
    AptBase {
        world,
        index_versions,
        setup_time: t.elapsed(),
    }
}

/// One difference between debfleet and apt.
#[derive(Debug)]
struct Mismatch {
    image: String,
    list: &'static str,
    package: String,
    installed: String,
    debfleet: Option<String>,
    apt: Option<String>,
}

/// Compares two `package -> value` maps of one image's `list`.
fn diff_maps(
    image: &Manifest,
    list: &'static str,
    debfleet: &BTreeMap<String, String>,
    apt: &BTreeMap<String, String>,
    out: &mut Vec<Mismatch>,
) {
    let native = image.architecture.as_str();
    let installed: BTreeMap<String, &str> = image
        .packages
        .iter()
        .map(|(k, v)| (report_key(k, native), v.as_str()))
        .collect();
    let keys: BTreeSet<&String> = debfleet.keys().chain(apt.keys()).collect();
    for key in keys {
        let (d, a) = (debfleet.get(key), apt.get(key));
        if d != a {
            out.push(Mismatch {
                image: image.image.clone(),
                list,
                package: key.clone(),
                installed: installed
                    .get(key)
                    .map_or("(not installed)".into(), |v| v.to_string()),
                debfleet: d.cloned(),
                apt: a.cloned(),
            });
        }
    }
}

fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

fn array<'a>(image: &'a Value, list: &str) -> &'a [Value] {
    image[list]
        .as_array()
        .unwrap_or_else(|| panic!("no array `{list}` in {image}"))
}

/// debfleet's `list` of `image` as a map from `package` to `field`.
fn report_map(image: &Value, list: &str, field: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for entry in array(image, list) {
        let package = str_field(entry, "package").to_string();
        let value = str_field(entry, field).to_string();
        if let Some(old) = map.insert(package.clone(), value) {
            panic!(
                "{}: {package} listed twice in `{list}` (also with {old})",
                str_field(image, "image")
            );
        }
    }
    map
}

/// debfleet's `missing` of `image` (package names).
fn report_missing(image: &Value) -> BTreeSet<String> {
    array(image, "missing")
        .iter()
        .map(|p| p.as_str().expect("missing entries are names").to_string())
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn check_equals_apt_for_every_image_of_the_example_fleet() {
    let t_total = Instant::now();
    let td = support::testdata();
    let bases = load_fleet_bases(&td.join("fleet/fleet.yaml"), &td.join("mirror")).unwrap();
    let manifests = fleet_manifests(&td.join("fleet/images")).unwrap();
    assert_eq!(
        bases.keys().map(String::as_str).collect::<Vec<_>>(),
        ["bookworm", "bookworm-backports", "buster", "trixie"]
    );
    for name in MIRRORED_BASES {
        assert!(
            bases[name].sources.iter().all(|s| s.is_mirrored()),
            "base {name} should be fully mirrored"
        );
    }
    assert!(bases["buster"].sources.iter().all(|s| !s.is_mirrored()));

    // debfleet: sync + check, in a thread, while apt does its part.
    let state = tempfile::tempdir().unwrap();
    let state_path = state.path().join("state.redb");
    let debfleet = thread::spawn(move || run_debfleet(&state_path));

    // apt: one world per mirrored base, built concurrently.
    let apt_bases: BTreeMap<&str, AptBase> = thread::scope(|s| {
        let handles: Vec<_> = MIRRORED_BASES
            .iter()
            .map(|&name| {
                let images: Vec<&Manifest> = manifests.iter().filter(|m| m.base == name).collect();
                let base = &bases[name];
                (name, s.spawn(move || apt_base(base, &images)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().expect("apt world thread")))
            .collect()
    });
    for (name, b) in &apt_bases {
        println!(
            "[{name}] apt world ready in {:.0} ms (apt-get update {:.0} ms, {} index stanzas, arches {:?})",
            ms(b.setup_time),
            ms(b.world.update_duration().unwrap()),
            b.world.index_stanzas().unwrap(),
            b.world.architectures().unwrap()
        );
    }

    // apt: `apt list --upgradable` for every image, in parallel.
    let t_apt = Instant::now();
    let compared: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| apt_bases.contains_key(m.base.as_str()))
        .collect();
    let apt_images: BTreeMap<&str, AptImage> = compared
        .par_iter()
        .map(|m| {
            let world = &apt_bases[m.base.as_str()].world;
            let t = Instant::now();
            let upgradable = world
                .upgradable(&m.packages)
                .unwrap_or_else(|e| panic!("{}: apt list --upgradable: {e}", m.image));
            (
                m.image.as_str(),
                AptImage {
                    upgradable,
                    query_time: t.elapsed(),
                },
            )
        })
        .collect();
    let apt_wall = t_apt.elapsed();
    let apt_cpu: Duration = apt_images.values().map(|a| a.query_time).sum();
    println!(
        "apt list --upgradable for {} images: {:.0} ms wall, {:.0} ms summed per query",
        apt_images.len(),
        ms(apt_wall),
        ms(apt_cpu)
    );

    let run = debfleet
        .join()
        .expect("the debfleet run failed (its panic is printed above)");
    println!(
        "debfleet sync {:.0} ms, check {:.0} ms",
        ms(run.sync_time),
        ms(run.check_time)
    );
    let report = &run.report;
    assert_eq!(
        run.check_exit,
        Some(2),
        "check exits 2 when updates exist:\n{report:#}"
    );
    let images: BTreeMap<&str, &Value> = report["images"]
        .as_array()
        .expect("images array")
        .iter()
        .map(|i| (str_field(i, "image"), i))
        .collect();
    assert_eq!(
        images.keys().copied().collect::<BTreeSet<_>>(),
        manifests
            .iter()
            .map(|m| m.image.as_str())
            .collect::<BTreeSet<_>>(),
        "debfleet checked exactly the fleet's images"
    );
    assert_eq!(images.len(), manifests.len(), "image names are unique");

    // The core: updates == apt's upgradable, and missing / ahead /
    // not_checkable as apt's indexes say, for EVERY image.
    let mut mismatches = Vec::new();
    let mut packages_compared = 0usize;
    let mut updates_compared = 0usize;
    // Packages debfleet must report missing / ahead / foreign, per image,
    // derived from apt; cross-checked with `apt-cache policy` below.
    let mut apt_missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut apt_ahead: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut apt_foreign: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for m in &compared {
        let image = images[m.image.as_str()];
        let apt_base = &apt_bases[m.base.as_str()];
        let native = apt_base.world.native_arch();
        assert_eq!(str_field(image, "base"), m.base, "{}", m.image);
        assert_eq!(str_field(image, "architecture"), native, "{}", m.image);
        assert!(
            array(image, "errors").is_empty(),
            "{}: unexpected errors {}",
            m.image,
            image["errors"]
        );
        assert!(
            array(image, "held").is_empty(),
            "{}: no image of the example fleet holds packages",
            m.image
        );
        let up = &apt_images[m.image.as_str()].upgradable;
        packages_compared += m.packages.len();
        updates_compared += up.len();
        diff_maps(
            m,
            "updates",
            &report_map(image, "updates", "candidate"),
            up,
            &mut mismatches,
        );
        // Installed versions of every update as in the manifest.
        for u in array(image, "updates") {
            let key = str_field(u, "package");
            let listed = m
                .packages
                .iter()
                .find(|(k, _)| report_key(k, native) == key)
                .map(|(_, v)| v.as_str());
            assert_eq!(
                listed,
                Some(str_field(u, "installed")),
                "{}: update of {key}",
                m.image
            );
        }

        let mut missing = BTreeSet::new();
        let mut ahead = BTreeMap::new();
        let mut foreign = BTreeMap::new();
        for (key, installed) in &m.packages {
            let (name, arch) = split_arch(key, native);
            if arch != native {
                // No base of the example fleet mirrors a second architecture,
                // so debfleet cannot check these; apt has no index for them
                // either (their candidate is the installed version, below).
                assert!(
                    !bases[&m.base].architectures.iter().any(|a| a == arch),
                    "{}: {key} is of a mirrored architecture; extend this test",
                    m.image
                );
                foreign.insert(format!("{name}:{arch}"), installed.clone());
                continue;
            }
            match apt_base.index_versions.get(name) {
                None => {
                    missing.insert(name.to_string());
                }
                // In no index and not upgradable: newer than every index
                // version (every source of these bases has priority >= 100,
                // the installed-only version's priority).
                Some(versions) if !versions.contains_key(installed) && !up.contains_key(name) => {
                    let newest = dpkg_max(versions.keys()).expect("non-empty");
                    assert!(
                        dpkg_gt(installed, newest),
                        "{}: {name} {installed} is in no index, below {newest}, yet apt does not upgrade it",
                        m.image
                    );
                    ahead.insert(name.to_string(), newest.clone());
                }
                Some(_) => {}
            }
        }
        let d_missing = report_missing(image);
        diff_maps(
            m,
            "missing",
            &d_missing
                .iter()
                .map(|p| (p.clone(), String::new()))
                .collect(),
            &missing.iter().map(|p| (p.clone(), String::new())).collect(),
            &mut mismatches,
        );
        diff_maps(
            m,
            "ahead (newest)",
            &report_map(image, "ahead", "newest"),
            &ahead,
            &mut mismatches,
        );
        diff_maps(
            m,
            "not_checkable",
            &report_map(image, "not_checkable", "installed"),
            &foreign,
            &mut mismatches,
        );
        if !missing.is_empty() {
            apt_missing.insert(m.image.as_str(), missing);
        }
        if !ahead.is_empty() {
            apt_ahead.insert(m.image.as_str(), ahead);
        }
        if !foreign.is_empty() {
            apt_foreign.insert(m.image.as_str(), foreign);
        }
    }
    println!(
        "compared {} images ({} packages, {} apt upgrades): {} mismatches",
        compared.len(),
        packages_compared,
        updates_compared,
        mismatches.len()
    );
    if !mismatches.is_empty() {
        let mut msg = format!(
            "{} mismatches between debfleet check and apt:\n{:<32} {:<16} {:<28} {:<28} {:<28} {}\n",
            mismatches.len(),
            "image",
            "list",
            "package",
            "installed",
            "debfleet",
            "apt"
        );
        for x in &mismatches {
            let _ = writeln!(
                msg,
                "{:<32} {:<16} {:<28} {:<28} {:<28} {}",
                x.image,
                x.list,
                x.package,
                x.installed,
                x.debfleet.as_deref().unwrap_or("-"),
                x.apt.as_deref().unwrap_or("-"),
            );
        }
        panic!("{msg}");
    }
    assert_eq!(compared.len(), 39, "every image but buster's is compared");
    assert!(
        updates_compared > 500,
        "the example fleet has hundreds of updates; only {updates_compared}"
    );

    // The buster image: its base is not mirrored, apt cannot build a world
    // for it either.
    let legacy = images["legacy-cron-b3760"];
    assert_eq!(legacy["status"], "base-not-mirrored", "{legacy:#}");
    assert_eq!(legacy["base"], "buster");
    assert!(array(legacy, "updates").is_empty(), "{legacy:#}");
    assert!(
        AptWorld::new(&bases["buster"].sources, "amd64", &keyring()).is_err(),
        "apt has no indexes for buster"
    );

    // The images with missing, ahead and foreign-architecture packages, by
    // name; each entry cross-checked with `apt-cache policy`.
    let expect_missing: BTreeMap<&str, BTreeSet<String>> = [
        (
            "golang-1.23-bpo-b3593",
            &["golang-1.23-go", "golang-1.23-src"][..],
        ),
        (
            "python3.11-django-b1056",
            &["gcc-10-base", "libffi7", "libidn11", "libpython3.9-minimal"][..],
        ),
        (
            "ruby3.1-b3782",
            &["acme-base-config", "acme-healthcheck"][..],
        ),
    ]
    .into_iter()
    .map(|(i, p)| (i, p.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(apt_missing, expect_missing);
    let expect_ahead: BTreeMap<&str, BTreeMap<String, String>> = [
        (
            "php8.4-fpm-media-b1094",
            &[("libavif16", "1.2.1-1.2"), ("sensible-utils", "0.0.25")][..],
        ),
        (
            "postgresql-15-backup-b1496",
            &[
                ("jq", "1.6-2.1+deb12u3"),
                ("libjq1", "1.6-2.1+deb12u3"),
                ("libonig5", "6.9.8-1"),
            ][..],
        ),
    ]
    .into_iter()
    .map(|(i, p)| {
        (
            i,
            p.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    })
    .collect();
    assert_eq!(apt_ahead, expect_ahead);
    let expect_foreign: BTreeMap<&str, BTreeMap<String, String>> = [(
        "php8.2-fpm-cms-b2397",
        [
            ("gcc-12-base:i386", "12.2.0-14+deb12u1"),
            ("libc6:i386", "2.36-9+deb12u14"),
            ("libcrypt1:i386", "1:4.4.33-2"),
            ("libgcc-s1:i386", "12.2.0-14+deb12u1"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect(),
    )]
    .into_iter()
    .collect();
    assert_eq!(apt_foreign, expect_foreign);
    for (image, status) in [
        ("golang-1.23-bpo-b3593", "missing-packages"),
        ("php8.2-fpm-cms-b2397", "up-to-date"),
        ("postgresql-15-backup-b1496", "up-to-date"),
    ] {
        assert_eq!(images[image]["status"], status, "{image}");
    }
    for (image, status) in [
        ("python3.11-django-b1056", "security-updates"),
        ("ruby3.1-b3782", "security-updates"),
        ("php8.4-fpm-media-b1094", "security-updates"),
    ] {
        assert_eq!(images[image]["status"], status, "{image}");
    }
    // apt-cache policy: a missing package's candidate is at most the
    // installed version (apt knows it only from the status file), an ahead
    // one's and a foreign one's is the installed version.
    let policy_images: BTreeSet<&str> = apt_missing
        .keys()
        .chain(apt_ahead.keys())
        .chain(apt_foreign.keys())
        .copied()
        .collect();
    policy_images.par_iter().for_each(|&name| {
        let m = compared.iter().find(|m| m.image == name).expect("manifest");
        let world = &apt_bases[m.base.as_str()].world;
        let native = world.native_arch();
        let cand = world
            .candidates(&m.packages)
            .unwrap_or_else(|e| panic!("{name}: apt-cache policy: {e}"));
        let installed: BTreeMap<String, &str> = m
            .packages
            .iter()
            .map(|(k, v)| (report_key(k, native), v.as_str()))
            .collect();
        let special = apt_missing
            .get(name)
            .into_iter()
            .flatten()
            .chain(apt_ahead.get(name).into_iter().flat_map(|a| a.keys()))
            .chain(apt_foreign.get(name).into_iter().flat_map(|f| f.keys()));
        for key in special {
            let c = cand[key].as_deref();
            assert!(
                c.is_none() || c == Some(installed[key]),
                "{name}: apt's candidate for {key} is {c:?}, installed {}",
                installed[key]
            );
        }
    });

    // Trap: bookworm-security carries an OLDER systemd than the point release
    // (252.38-1~deb12u1 vs 252.39-1~deb12u2). The candidate is the newer
    // point-release version, from debian/bookworm, not a security update.
    let bookworm = &apt_bases["bookworm"];
    for package in ["libsystemd0", "libudev1", "systemd"] {
        assert_in_index(
            &bookworm.index_versions,
            package,
            "252.38-1~deb12u1",
            "bookworm-security",
        );
        assert_in_index(
            &bookworm.index_versions,
            package,
            "252.39-1~deb12u2",
            "bookworm",
        );
        assert_eq!(
            dpkg_max(bookworm.index_versions[package].keys()).map(String::as_str),
            Some("252.39-1~deb12u2"),
            "{package}"
        );
    }
    assert!(dpkg_gt("252.39-1~deb12u2", "252.38-1~deb12u1"));
    for (image, package, installed) in [
        ("search-solr-like-b3317", "libsystemd0", "252.36-1~deb12u1"),
        ("search-solr-like-b3317", "libudev1", "252.36-1~deb12u1"),
        ("php8.2-fpm-media-b1566", "systemd", "252.29-1~deb12u1"),
    ] {
        let update = update_of(images[image], package);
        assert_eq!(update["installed"], installed, "{image} {package}");
        assert_eq!(update["candidate"], "252.39-1~deb12u2", "{image} {package}");
        assert_eq!(update["suite"], "debian/bookworm", "{image} {package}");
        assert_eq!(update["security"], false, "{image} {package}");
        assert_eq!(
            apt_images[image].upgradable[package], "252.39-1~deb12u2",
            "{image} {package}"
        );
    }

    // Traps on bookworm-backports (NotAutomatic + ButAutomaticUpgrades).
    let bpo = &apt_bases["bookworm-backports"];
    for (package, main, backports) in [
        ("e2fsprogs", "1.47.0-2+b2", "1.47.2-3~bpo12+1"),
        ("libsystemd0", "252.39-1~deb12u2", "254.26-1~bpo12+1"),
        ("valkey-server", "", "8.0.1+dfsg1-1~bpo12+1"),
    ] {
        assert_in_index(
            &bpo.index_versions,
            package,
            backports,
            "bookworm-backports",
        );
        if !main.is_empty() {
            assert_in_index(&bpo.index_versions, package, main, "bookworm");
            assert!(dpkg_gt(backports, main));
        }
    }
    assert!(
        bpo.index_versions["valkey-server"]
            .values()
            .all(|suites| suites.iter().all(|s| s == "bookworm-backports")),
        "valkey is only in backports"
    );
    // Installed from main, newer in backports: not proposed (up to date
    // with main) ...
    for image in ["valkey-8-bpo-b1096", "valkey-8-bpo-b3058"] {
        assert!(
            array(images[image], "updates")
                .iter()
                .all(|u| str_field(u, "package") != "e2fsprogs"),
            "{image}: e2fsprogs 1.47.0-2+b2 from main is not upgraded to backports"
        );
        assert!(!apt_images[image].upgradable.contains_key("e2fsprogs"));
    }
    // ... or proposed its newer main version, not the newer backports one.
    let libsystemd = update_of(images["valkey-8-bpo-b3058"], "libsystemd0");
    assert_eq!(libsystemd["installed"], "252.38-1~deb12u1");
    assert_eq!(libsystemd["candidate"], "252.39-1~deb12u2");
    assert_eq!(libsystemd["suite"], "debian/bookworm");
    // Installed from backports: follows backports.
    let valkey = update_of(images["valkey-8-bpo-b3058"], "valkey-server");
    assert_eq!(valkey["installed"], "8.0.0+dfsg1-1~bpo12+1");
    assert_eq!(valkey["candidate"], "8.0.1+dfsg1-1~bpo12+1");
    assert_eq!(valkey["suite"], "debian/bookworm-backports");
    assert_eq!(
        apt_images["valkey-8-bpo-b3058"].upgradable["valkey-server"],
        "8.0.1+dfsg1-1~bpo12+1"
    );
    assert_eq!(images["valkey-8-bpo-b1096"]["status"], "up-to-date");

    println!(
        "total wall time {:.1} s (debfleet sync {:.1} s, apt queries {:.1} s wall)",
        t_total.elapsed().as_secs_f64(),
        run.sync_time.as_secs_f64(),
        apt_wall.as_secs_f64()
    );
}

/// The update debfleet reports for `package` in `image`.
fn update_of<'a>(image: &'a Value, package: &str) -> &'a Value {
    array(image, "updates")
        .iter()
        .find(|u| str_field(u, "package") == package)
        .unwrap_or_else(|| panic!("no update of {package} in {image:#}"))
}
