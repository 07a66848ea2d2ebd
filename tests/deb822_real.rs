//! The deb822 scanner, binary package parser and relationship parser on the
//! real Debian indexes in `testdata/mirror`, cross-checked against counts and
//! values extracted independently with `xz`, `grep` and `awk`.

use debfleet::deb::deb822::{paragraphs, split_paragraph_chunks};
use debfleet::deb::package::{
    BinaryPackage, MultiArch, packages, packages_from, parse_binary_package,
};
use debfleet::deb::relation::{parse_provides, parse_relations};
use std::collections::HashMap;
use std::process::Command;

const BOOKWORM: &str = "testdata/mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz";

const ALL_SUITES: &[&str] = &[
    BOOKWORM,
    "testdata/mirror/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz",
    "testdata/mirror/debian/dists/bookworm-backports/main/binary-amd64/Packages.xz",
    "testdata/mirror/debian/dists/trixie/main/binary-amd64/Packages.xz",
    "testdata/mirror/debian/dists/trixie-updates/main/binary-amd64/Packages.xz",
    "testdata/mirror/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz",
    "testdata/mirror/debian-security/dists/trixie-security/main/binary-amd64/Packages.xz",
];

fn path(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn xz_dc(rel: &str) -> Vec<u8> {
    let out = Command::new("xz")
        .arg("-dc")
        .arg(path(rel))
        .output()
        .expect("run xz");
    assert!(out.status.success(), "xz -dc {rel} failed");
    out.stdout
}

/// A decompressed index in a temporary file, for shell tools to read.
struct Plain {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    data: Vec<u8>,
}

impl Plain {
    fn new(rel: &str) -> Plain {
        let data = xz_dc(rel);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Packages");
        std::fs::write(&file, &data).unwrap();
        Plain {
            _dir: dir,
            file,
            data,
        }
    }

    /// Runs `<pipeline>` with the file on stdin and returns its stdout.
    fn shell(&self, pipeline: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{{ {pipeline}; }} < \"$1\""))
            .arg("sh")
            .arg(&self.file)
            .output()
            .expect("run sh");
        assert!(out.status.success(), "pipeline {pipeline:?} failed");
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    fn count(&self, pipeline: &str) -> usize {
        self.shell(pipeline).trim().parse().expect("a count")
    }
}

const DEPENDS_LIKE: &[&str] = &[
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Enhances",
    "Breaks",
    "Conflicts",
    "Replaces",
];

#[test]
fn every_suite_parses_without_errors() {
    for rel in ALL_SUITES {
        let plain = Plain::new(rel);
        let data = &plain.data;
        let mut n = 0usize;
        for p in packages(data) {
            let p = p.unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(!p.package.is_empty());
            n += 1;
        }
        for p in paragraphs(data) {
            let p = p.unwrap();
            for f in p.fields() {
                let name = std::str::from_utf8(f.name).unwrap();
                let Ok(value) = std::str::from_utf8(f.value) else {
                    continue;
                };
                if DEPENDS_LIKE.iter().any(|d| f.is(d)) || f.is("Built-Using") {
                    parse_relations(value)
                        .unwrap_or_else(|e| panic!("{rel}:{} {name}: {e}", f.line));
                } else if f.is("Provides") {
                    parse_provides(value)
                        .unwrap_or_else(|e| panic!("{rel}:{} {name}: {e}", f.line));
                }
            }
        }
        let grep = plain.count("grep -c '^Package:' || true");
        assert_eq!(n, grep, "{rel}: paragraph count vs grep -c '^Package:'");
    }
}

#[test]
fn bookworm_counts_match_grep() {
    let plain = Plain::new(BOOKWORM);
    let data = &plain.data;
    let mut paragraphs_n = 0usize;
    let mut fields_n = 0usize;
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut last_line = 0usize;
    for p in paragraphs(data) {
        let p = p.unwrap();
        assert!(p.line() > last_line);
        last_line = p.line();
        paragraphs_n += 1;
        for f in p.fields() {
            fields_n += 1;
            *by_name
                .entry(String::from_utf8(f.name.to_vec()).unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(paragraphs_n, 63440);
    assert_eq!(paragraphs_n, plain.count("grep -c '^Package:'"));
    assert_eq!(
        fields_n,
        plain.count("grep -c '^[^[:space:]#]'"),
        "field count vs lines starting a field"
    );
    for name in [
        "Depends",
        "Provides",
        "Multi-Arch",
        "Source",
        "SHA256",
        "Tag",
    ] {
        assert_eq!(
            by_name.get(name).copied().unwrap_or(0),
            plain.count(&format!("grep -c '^{name}:'")),
            "{name}"
        );
    }
    // The last paragraph starts where grep says the last Package line is.
    let last_grep = plain.count("grep -n '^Package:' | tail -n 1 | cut -d: -f1");
    assert_eq!(last_line, last_grep);
}

#[test]
fn bookworm_relation_counts_match_grep() {
    let plain = Plain::new(BOOKWORM);
    const FIELDS: [&str; 5] = ["Depends", "Pre-Depends", "Breaks", "Recommends", "Provides"];
    // Per field: lines, relations, version constraints, arch qualifiers.
    let mut counts = [[0usize; 4]; 5];
    for p in packages(&plain.data) {
        let p = p.unwrap();
        let raws = [p.depends, p.pre_depends, p.breaks, p.recommends, p.provides];
        for (i, raw) in raws.into_iter().enumerate() {
            let Some(raw) = raw else { continue };
            let parsed = if FIELDS[i] == "Provides" {
                parse_provides(raw)
            } else {
                parse_relations(raw)
            }
            .unwrap();
            let c = &mut counts[i];
            c[0] += 1;
            for rel in parsed.iter().flatten() {
                c[1] += 1;
                c[2] += usize::from(rel.constraint.is_some());
                c[3] += usize::from(rel.arch_qualifier.is_some());
            }
        }
    }
    for (field, [lines, relations, versioned, qualified]) in FIELDS.into_iter().zip(counts) {
        let grep_lines = plain.count(&format!("grep -c '^{field}:'"));
        let separators = plain.count(&format!("grep '^{field}:' | tr -cd ',|' | wc -c"));
        let parens = plain.count(&format!("grep '^{field}:' | tr -cd '(' | wc -c"));
        // A colon right after a name character and before a letter is an
        // architecture qualifier (`python3:any`, `g++:amd64`); epochs are
        // followed by digits.
        let colons = plain.count(&format!(
            "grep '^{field}:' | cut -d: -f2- | grep -o '[^ ,|(]:[a-z]' | wc -l"
        ));
        assert!(lines > 0, "{field}");
        assert_eq!(lines, grep_lines, "{field} lines");
        assert_eq!(relations, grep_lines + separators, "{field} relations");
        assert_eq!(versioned, parens, "{field} version constraints");
        assert_eq!(qualified, colons, "{field} arch qualifiers");
    }
}

/// The paragraph of `package`, extracted with awk in paragraph mode, as
/// single-line fields.
fn awk_fields(plain: &Plain, package: &str) -> HashMap<String, String> {
    let text = plain.shell(&format!(
        "awk -v RS= 'index($0, \"Package: {package}\\n\") == 1 {{ print; exit }}'"
    ));
    assert!(!text.is_empty(), "awk found no paragraph for {package}");
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn check_against_awk(plain: &Plain, p: &BinaryPackage<'_>) {
    let f = awk_fields(plain, p.package);
    let get = |k: &str| f.get(k).map(String::as_str);
    assert_eq!(Some(p.package), get("Package"));
    assert_eq!(Some(p.version), get("Version"));
    assert_eq!(Some(p.architecture), get("Architecture"));
    let (source, source_version) = match get("Source") {
        None => (None, None),
        Some(s) => match s.split_once(" (") {
            None => (Some(s), None),
            Some((n, v)) => (Some(n), Some(v.trim_end_matches(')'))),
        },
    };
    assert_eq!(p.source, source);
    assert_eq!(p.source_version, source_version);
    assert_eq!(p.priority, get("Priority"));
    assert_eq!(p.essential, get("Essential") == Some("yes"));
    assert_eq!(
        p.multi_arch.as_str(),
        get("Multi-Arch").unwrap_or("no"),
        "{}",
        p.package
    );
    assert_eq!(p.depends, get("Depends"));
    assert_eq!(p.pre_depends, get("Pre-Depends"));
    assert_eq!(p.breaks, get("Breaks"));
    assert_eq!(p.conflicts, get("Conflicts"));
    assert_eq!(p.provides, get("Provides"));
    assert_eq!(p.replaces, get("Replaces"));
    assert_eq!(p.recommends, get("Recommends"));
    assert_eq!(
        p.installed_size.map(|n| n.to_string()).as_deref(),
        get("Installed-Size")
    );
    assert_eq!(p.filename, get("Filename"));
    assert_eq!(p.size.map(|n| n.to_string()).as_deref(), get("Size"));
    assert_eq!(p.sha256.map(|d| d.to_hex()).as_deref(), get("SHA256"));
}

#[test]
fn known_packages_match_awk_extraction() {
    let plain = Plain::new(BOOKWORM);
    let wanted = [
        "bash",
        "libc6",
        "dpkg",
        "coreutils",
        "bsdutils",
        "python3",
        "libstdc++6",
        "node-acorn",
    ];
    let mut found = Vec::new();
    for p in packages(&plain.data) {
        let p = p.unwrap();
        if wanted.contains(&p.package) {
            check_against_awk(&plain, &p);
            found.push(p);
        }
    }
    assert_eq!(found.len(), wanted.len());
    let by_name: HashMap<&str, &BinaryPackage<'_>> = found.iter().map(|p| (p.package, p)).collect();
    let bash = by_name["bash"];
    assert!(bash.essential);
    assert_eq!(bash.source_name(), "bash");
    assert_eq!(bash.source_version(), "5.2.15-2");
    assert_eq!(bash.version, "5.2.15-2+b13");
    assert_eq!(by_name["libc6"].multi_arch, MultiArch::Same);
    assert_eq!(by_name["libc6"].source_name(), "glibc");
    assert_eq!(by_name["bsdutils"].source_name(), "util-linux");
    assert_eq!(by_name["bsdutils"].source_version(), "2.38.1-5+deb12u3");
    assert_eq!(by_name["dpkg"].multi_arch, MultiArch::Foreign);
    let acorn = parse_provides(by_name["node-acorn"].provides.unwrap()).unwrap();
    assert!(acorn.len() > 10);
    assert!(
        acorn
            .iter()
            .all(|a| a.len() == 1 && a[0].constraint.is_some())
    );
    // The raw paragraph is exactly awk's record plus its newline.
    let raw = std::str::from_utf8(bash.raw).unwrap();
    let awk = plain.shell("awk -v RS= 'index($0, \"Package: bash\\n\") == 1 { print; exit }'");
    assert_eq!(raw, awk);
}

#[test]
fn parallel_chunks_agree_with_sequential_scan() {
    let data = xz_dc(BOOKWORM);
    // The single-pass iterator and the per-paragraph parse agree exactly.
    let seq: Vec<BinaryPackage<'_>> = packages(&data).map(Result::unwrap).collect();
    let per_paragraph: Vec<BinaryPackage<'_>> = paragraphs(&data)
        .map(|p| parse_binary_package(&p.unwrap()).unwrap())
        .collect();
    assert!(seq == per_paragraph);
    let chunks = split_paragraph_chunks(&data, 7);
    assert_eq!(chunks.len(), 7);
    let par: Vec<BinaryPackage<'_>> = chunks
        .iter()
        .flat_map(|c| packages_from(c.paragraphs()))
        .map(Result::unwrap)
        .collect();
    assert!(par == seq, "chunked parse differs");
}
