//! Replays the fuzz corpora through the library: the hand-picked seeds
//! (`fuzz/corpus/<target>/seed-*`) and every input a fuzz run found to
//! crash, hang or exhaust memory (`fuzz/regressions/<target>/*`, kept after
//! the fix). Each input goes through the same entry points and invariants as
//! the fuzz target of that name (`fuzz/fuzz_targets/<target>.rs`), so a fixed
//! bug that comes back fails here, in the ordinary test run, without
//! cargo-fuzz.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use debfleet::deb::pdiff::{self, PdiffIndex, PdiffLimits, PdiffPlan};
use debfleet::deb::relation::{Alternatives, parse_provides, parse_relations};
use debfleet::deb::release::{self, Release, split_clearsigned};
use debfleet::deb::version::{self, Version};
use debfleet::deb::{deb822, package};
use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::manifest::{parse_manifest, parse_manifest_collecting};
use debfleet::fleet::yaml;
use debfleet::security::tracker;

/// The inputs of one target, sorted by path: (path, bytes, is a seed).
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>, bool)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for (dir, seeds_only) in [("corpus", true), ("regressions", false)] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if seeds_only && !name.starts_with("seed-") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            out.push((path, data, seeds_only));
        }
    }
    out.sort();
    out
}

/// Runs `check(bytes, is_seed)` on every input of `target`; there must be
/// seeds. Seeds are real, valid data; regression inputs are usually not.
fn replay(target: &str, check: impl Fn(&[u8], bool)) {
    let inputs = inputs(target);
    assert!(
        inputs.iter().any(|(_, _, seed)| *seed),
        "no seeds for fuzz target {target}"
    );
    for (path, data, seed) in &inputs {
        eprintln!("{target}: {}", path.display());
        check(data, *seed);
    }
}

#[test]
fn version_inputs() {
    replay("version", |data, _| {
        let mut parts = data.splitn(3, |&c| c == b'\n');
        let a = parts.next().unwrap_or_default();
        let b = parts.next().unwrap_or_default();
        let c = parts.next().unwrap_or_default();
        for s in [a, b, c] {
            let _ = version::parse_like_dpkg_bytes(s);
            assert_eq!(version::compare_bytes(s, s), Ordering::Equal);
        }
        let ab = version::compare_bytes(a, b);
        assert_eq!(ab, version::compare_bytes(b, a).reverse());
        if ab != Ordering::Greater && version::compare_bytes(b, c) != Ordering::Greater {
            assert_ne!(version::compare_bytes(a, c), Ordering::Greater);
        }
        if let (Ok(sa), Ok(sb)) = (std::str::from_utf8(a), std::str::from_utf8(b))
            && let (Ok(va), Ok(vb)) = (Version::parse(sa), Version::parse(sb))
        {
            assert_eq!(va.cmp(&vb), ab);
        }
    });
}

#[test]
fn deb822_inputs() {
    replay("deb822", |data, _| {
        let describe = |p: Result<deb822::Paragraph<'_>, deb822::Deb822Error>| match p {
            Ok(p) => format!("Ok({}, {:?})", p.line(), p.raw()),
            Err(e) => format!("Err({e})"),
        };
        let whole: Vec<String> = deb822::paragraphs(data).map(describe).collect();
        let by_paragraph: Vec<String> = deb822::paragraphs(data)
            .map(|p| match p {
                Ok(p) => format!("{:?}", package::parse_binary_package(&p)),
                Err(e) => format!("{:?}", Err::<(), _>(package::PackageError::from(e))),
            })
            .collect();
        let single_pass: Vec<String> = package::packages(data).map(|r| format!("{r:?}")).collect();
        assert_eq!(by_paragraph, single_pass);
        for n in [2, 3, 7] {
            let chunked: Vec<String> = deb822::split_paragraph_chunks(data, n)
                .iter()
                .flat_map(|c| c.paragraphs().map(describe).collect::<Vec<_>>())
                .collect();
            assert_eq!(whole, chunked, "{n} chunks");
        }
    });
}

#[test]
fn release_inputs() {
    replay("release", |data, seed| {
        let rel = match Release::parse(data) {
            Ok(rel) => rel,
            Err(e) => return assert!(!seed, "a seed fails: {e}"),
        };
        for entry in &rel.files {
            assert!(release::validate_index_path(&entry.path).is_ok());
            assert!(rel.file(&entry.path).is_some());
        }
    });
}

#[test]
fn clearsigned_inputs() {
    replay("clearsigned", |data, seed| {
        let cs = match split_clearsigned(data) {
            Ok(cs) => cs,
            Err(e) => return assert!(!seed, "a seed fails: {e}"),
        };
        assert!(
            cs.signature_armored
                .starts_with(b"-----BEGIN PGP SIGNATURE-----")
        );
        assert!(cs.text.len() <= data.len());
        let _ = cs.signed_text();
        let _ = cs.covered_text();
        let _ = Release::parse(&cs.text);
    });
}

fn canonical(entries: &[Alternatives<'_>]) -> String {
    entries
        .iter()
        .map(|alts| {
            alts.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn relation_inputs() {
    replay("relation", |data, seed| {
        let Ok(text) = std::str::from_utf8(data) else {
            return assert!(!seed, "a seed is not UTF-8");
        };
        match parse_relations(text) {
            Ok(entries) => {
                let again = canonical(&entries);
                assert_eq!(parse_relations(&again).unwrap(), entries, "via {again:?}");
            }
            Err(e) => assert!(!seed, "a seed fails: {e}"),
        }
        if let Ok(entries) = parse_provides(text) {
            let again = canonical(&entries);
            assert_eq!(parse_provides(&again).unwrap(), entries, "via {again:?}");
        }
    });
}

#[test]
fn pdiff_inputs() {
    const BASE: &[u8] = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n\n\
Package: c\nVersion: 3\nDepends: a\n\nPackage: d\nVersion: 4\n";
    replay("pdiff", |data, _| {
        if let Ok(index) = PdiffIndex::parse(data) {
            let limits = PdiffLimits {
                file_limit: 3,
                size_limit_percent: 100,
            };
            for have in index.history.iter().map(|e| e.sha256) {
                if let PdiffPlan::Patches(steps) = pdiff::plan(&index, have, 1_000, limits) {
                    assert!(!steps.is_empty() && steps.len() <= 3);
                }
            }
        }
        if let Ok(out) = pdiff::apply_ed(BASE, data) {
            assert!(out.len() <= BASE.len() + data.len());
        }
        if let Some(nul) = data.iter().position(|&c| c == 0) {
            let (base, script) = (&data[..nul], &data[nul + 1..]);
            if let Ok(out) = pdiff::apply_ed(base, script) {
                assert!(out.len() <= base.len() + script.len());
            }
            let _ = pdiff::apply_chain(base, &[script, script]);
        }
    });
}

#[test]
fn manifest_inputs() {
    replay("manifest", |data, _| {
        let path = Path::new("/fleet/images/fuzz.yaml");
        match (
            parse_manifest(path, data),
            parse_manifest_collecting(path, data),
        ) {
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            (Err(a), Err(all)) => {
                assert!(!all.is_empty() && all.len() <= 51);
                assert_eq!(a.to_string(), all[0].to_string());
            }
            (a, b) => panic!("parsers disagree: {a:?} vs {b:?}"),
        }
    });
}

#[test]
fn fleet_config_inputs() {
    replay("fleet_config", |data, _| {
        if let Ok(text) = yaml::decode_utf8(data) {
            let _ = yaml::parse(text);
        }
        if let Ok(config) = FleetConfig::from_bytes(Path::new("/fleet/fleet.yaml"), data) {
            for base in config.bases.values() {
                for repo in &base.repositories {
                    assert!(config.archives.contains_key(&repo.archive));
                }
            }
        }
    });
}

#[test]
fn tracker_inputs() {
    replay("tracker", |data, _| {
        let mut warnings = Vec::new();
        let mut on_source = |_: &str, issues: tracker::ParsedSource| {
            assert!(issues.keys().all(|id| !id.is_empty()));
            Ok(())
        };
        let _ = tracker::parse_stream(Path::new("fuzz.json"), data, &mut on_source, &mut warnings);
    });
}
