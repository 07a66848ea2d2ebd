//! Acceptance test of `debfleet plan` against apt itself, on the example
//! fleet (`testdata/fleet`) over the bundled signed mirror slice.
//!
//! debfleet syncs the mirror into a temporary store and plans every image
//! (`plan --format json`). Independently, the apt reference harness
//! (`tests/support/apt.rs`) builds one private apt root per mirrored base
//! and runs `apt-get -s dist-upgrade` for every image, with
//! `APT::Install-Recommends=false` (images are built with
//! `--no-install-recommends`, and the plan never installs Recommends).
//!
//! Compared are the images apt's answer is meant for: every installed
//! version is in the base's indexes (else apt would see a package without
//! dependencies) and the image has every `Essential: yes` package (else
//! apt, treating the image as a host, installs the missing ones; the plan
//! deliberately does not). Every other image is skipped with the reason
//! printed. For each compared image the plan must equal apt's exactly:
//! upgrades (from and to), new installs (with version), removals and
//! kept-back packages; an image apt refuses (unmet dependencies) must be
//! planned as broken, with nothing planned.
//!
//! The fleet's plans are upgrades only, so images that need new packages
//! are derived with apt itself (see [`DERIVED`]) and compared the same way.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::Value;
use support::apt::{AptPlan, AptWorld, Manifest, fleet_manifests, load_fleet_bases};

const MIRRORED_BASES: [&str; 3] = ["bookworm", "bookworm-backports", "trixie"];

/// What debfleet planned for one image, in apt's terms.
#[derive(Debug, Default, PartialEq, Eq)]
struct Planned {
    upgrade: BTreeMap<String, (String, String)>,
    install: BTreeMap<String, String>,
    remove: BTreeSet<String>,
    held: BTreeSet<String>,
    broken: bool,
}

/// debfleet's plan, apt's, and apt's raw output; or why the image is skipped.
type Outcome = Result<(Planned, Planned, String), String>;

fn planned(image: &Value) -> Planned {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let list = |k: &str| image[k].as_array().cloned().unwrap_or_default();
    Planned {
        upgrade: list("upgrade")
            .iter()
            .map(|u| (s(u, "package"), (s(u, "from"), s(u, "version"))))
            .collect(),
        install: list("install")
            .iter()
            .map(|i| (s(i, "package"), s(i, "version")))
            .collect(),
        remove: list("remove").iter().map(|r| s(r, "package")).collect(),
        held: list("held").iter().map(|h| s(h, "package")).collect(),
        broken: image["broken"].as_bool().unwrap_or(false),
    }
}

fn from_apt(plan: &AptPlan) -> Planned {
    Planned {
        upgrade: plan.upgrade.clone(),
        install: plan.install.clone(),
        remove: plan.remove.clone(),
        held: plan.kept_back.clone(),
        broken: !plan.success,
    }
}

/// Why apt's answer does not apply to `m` (None: compare it).
fn skip_reason(world: &AptWorld, m: &Manifest) -> Option<String> {
    // `name:amd64` and `name:all` are the native package.
    let native = |n: &str| -> String {
        match n.split_once(':') {
            Some((name, arch)) if arch == world.native_arch() || arch == "all" => name.to_string(),
            _ => n.to_string(),
        }
    };
    let installed: BTreeSet<String> = m.packages.iter().map(|(n, _)| native(n)).collect();
    let absent: Vec<String> = m
        .packages
        .iter()
        .filter(|(n, v)| !world.has_version(&native(n), v).unwrap())
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    if !absent.is_empty() {
        return Some(format!(
            "{} installed versions are in no index (e.g. {})",
            absent.len(),
            absent[0]
        ));
    }
    let essential = world.essential_names().unwrap();
    let missing: Vec<&String> = essential
        .iter()
        .filter(|e| !installed.contains(*e))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "lacks {} Essential packages (e.g. {}): apt would add them to a host",
            missing.len(),
            missing[0]
        ));
    }
    None
}

#[test]
fn plan_matches_apt_dist_upgrade() {
    let td = support::testdata();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.redb");
    let fleet = td.join("fleet");
    let (f, s) = (fleet.to_str().unwrap(), state.to_str().unwrap());
    let sync = common::debfleet(&["--fleet", f, "--state", s, "--now", common::NOW, "sync"]);
    assert!(
        sync.status.success(),
        "sync failed: {}",
        common::stderr(&sync)
    );
    let out = common::debfleet(&[
        "--fleet",
        f,
        "--state",
        s,
        "--now",
        common::NOW,
        "plan",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let report = common::json(&out);
    let plans: BTreeMap<String, Value> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["image"].as_str().unwrap().to_string(), i.clone()))
        .collect();

    let bases = load_fleet_bases(&fleet.join("fleet.yaml"), &td.join("mirror")).unwrap();
    let keyring: PathBuf = td.join("keyrings/debian-archive-keyring.gpg");
    let manifests = fleet_manifests(&fleet.join("images")).unwrap();
    assert_eq!(manifests.len(), 40);
    assert_eq!(plans.len(), 40, "every image is in the plan");
    // The unmirrored base is reported, not dropped.
    for m in manifests.iter().filter(|m| m.base == "buster") {
        let p = &plans[&m.image];
        assert!(
            p["problems"][0].as_str().unwrap().contains("not mirrored"),
            "{p}"
        );
    }

    let worlds: BTreeMap<&str, AptWorld> = MIRRORED_BASES
        .iter()
        .map(|b| {
            let w = AptWorld::new(&bases[*b].sources, "amd64", &keyring).unwrap();
            (*b, w)
        })
        .collect();
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for base in MIRRORED_BASES {
        let world = &worlds[base];
        let on_base: Vec<&Manifest> = manifests.iter().filter(|m| m.base == base).collect();
        let results: Vec<(String, Outcome)> = on_base
            .par_iter()
            .map(|m| {
                if let Some(why) = skip_reason(world, m) {
                    return (m.image.clone(), Err(why));
                }
                let apt = world
                    .dist_upgrade_with(&m.packages, &["APT::Install-Recommends=false"])
                    .unwrap();
                let ours = planned(&plans[&m.image]);
                (m.image.clone(), Ok((ours, from_apt(&apt), apt.raw)))
            })
            .collect();
        for (image, r) in results {
            match r {
                Err(why) => println!("skip    {image:<40} {base:<18} {why}"),
                Ok((ours, apt, raw)) => {
                    compared += 1;
                    let same = if apt.broken {
                        ours.broken
                            && ours.upgrade.is_empty()
                            && ours.install.is_empty()
                            && ours.remove.is_empty()
                    } else {
                        ours == apt
                    };
                    println!(
                        "{}  {image:<40} {base:<18} apt: {} upgrades, {} new, {} removed, {} kept back{}",
                        if same { "match  " } else { "DIFFER " },
                        apt.upgrade.len(),
                        apt.install.len(),
                        apt.remove.len(),
                        apt.held.len(),
                        if apt.broken {
                            ", unmet dependencies"
                        } else {
                            ""
                        }
                    );
                    if !same {
                        mismatches.push(format!(
                            "{image}:\n  debfleet: {ours:?}\n  apt:      {apt:?}\n  plan: {}\n  apt output:\n{raw}",
                            plans[&image]
                        ));
                    }
                }
            }
        }
    }
    println!("{compared} images compared with apt");
    let derived = compare_derived(&worlds, &fleet, &state, tmp.path(), &mut mismatches);
    println!("{derived} derived images compared with apt");
    compared += derived;
    assert!(
        mismatches.is_empty(),
        "{} of {compared} images differ from apt:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 20, "only {compared} images could be compared");
    assert!(
        derived >= 5,
        "only {derived} derived images could be compared"
    );
}

/// Packages whose candidate (a security update) has Depends (or Breaks)
/// the base version lacks, with the base version: (base, fleet image to start from,
/// package, old version).
const DERIVED: &[(&str, &str, &str, &str)] = &[
    (
        "bookworm",
        "memcached-b2840",
        "linux-image-amd64",
        "6.1.176-1",
    ),
    (
        "trixie",
        "haproxy-3.0-b2293",
        "python3-botan",
        "3.7.1+dfsg-2",
    ),
    (
        "trixie",
        "haproxy-3.0-b2293",
        "libbotan-3-dev",
        "3.7.1+dfsg-2",
    ),
    (
        "trixie",
        "haproxy-3.0-b2293",
        "pdns-recursor",
        "5.2.13-0+deb13u1",
    ),
    (
        "trixie",
        "haproxy-3.0-b2293",
        "linux-headers-amd64",
        "6.12.117-1",
    ),
    // A new version with Breaks on the old versions of its siblings.
    (
        "bookworm",
        "memcached-b2840",
        "mariadb-client",
        "1:10.11.18-0+deb12u1",
    ),
];

/// Images whose dist-upgrade needs new packages, derived with apt itself:
/// a compared fleet image plus `apt-get install pkg=<base version>` (so the
/// installed set is consistent by construction). Each is written as a
/// manifest of a second fleet over the same store, planned by debfleet and
/// compared with apt's dist-upgrade like the fleet images. Returns how many
/// were compared.
fn compare_derived(
    worlds: &BTreeMap<&str, AptWorld>,
    fleet: &std::path::Path,
    state: &std::path::Path,
    tmp: &std::path::Path,
    mismatches: &mut Vec<String>,
) -> usize {
    let td = support::testdata();
    let derived = tmp.join("derived");
    std::fs::create_dir_all(derived.join("images")).unwrap();
    let yaml = std::fs::read_to_string(fleet.join("fleet.yaml"))
        .unwrap()
        .replace("../mirror", &td.join("mirror").display().to_string())
        .replace("../keyrings", &td.join("keyrings").display().to_string())
        .replace(
            "../distro-info",
            &td.join("distro-info").display().to_string(),
        );
    std::fs::write(derived.join("fleet.yaml"), yaml).unwrap();
    let manifests = fleet_manifests(&fleet.join("images")).unwrap();
    let no_recommends = ["APT::Install-Recommends=false"];
    let mut sets: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
    for (base, image, package, old) in DERIVED {
        let m = manifests.iter().find(|m| &m.image == image).unwrap();
        let world = &worlds[base];
        let pin = format!("{package}={old}");
        let r = world
            .simulate(&m.packages, &no_recommends, &["install", &pin])
            .unwrap();
        assert!(r.success, "apt cannot install {pin} on {image}:\n{}", r.raw);
        let mut set: BTreeMap<String, String> = m.packages.iter().cloned().collect();
        for (name, (_, to)) in &r.upgrade {
            set.insert(name.clone(), to.clone());
        }
        set.extend(r.install.clone());
        for name in &r.remove {
            set.remove(name);
        }
        let name = format!("derived-{package}");
        let mut text = format!("image: {name}\nbase: {base}\narchitecture: amd64\npackages:\n");
        for (k, v) in &set {
            text.push_str(&format!("  \"{k}\": \"{v}\"\n"));
        }
        std::fs::write(derived.join("images").join(format!("{name}.yaml")), text).unwrap();
        sets.insert(name, (base.to_string(), set.into_iter().collect()));
    }
    let out = common::debfleet(&[
        "--fleet",
        derived.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--now",
        common::NOW,
        "plan",
        "--format",
        "json",
    ]);
    let report = common::json(&out);
    let plans: BTreeMap<String, Value> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["image"].as_str().unwrap().to_string(), i.clone()))
        .collect();
    let mut compared = 0;
    for (name, (base, packages)) in &sets {
        let world = &worlds[base.as_str()];
        let apt = from_apt(&world.dist_upgrade_with(packages, &no_recommends).unwrap());
        let ours = planned(&plans[name]);
        compared += 1;
        let same = ours == apt;
        println!(
            "{}  {name:<40} {base:<18} apt: {} upgrades, {} new, {} removed, {} kept back",
            if same { "match  " } else { "DIFFER " },
            apt.upgrade.len(),
            apt.install.len(),
            apt.remove.len(),
            apt.held.len(),
        );
        if !same {
            mismatches.push(format!(
                "{name}:\n  debfleet: {ours:?}\n  apt:      {apt:?}\n  plan: {}",
                plans[name]
            ));
        }
    }
    compared
}
