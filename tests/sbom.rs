//! End-to-end tests of `debfleet sbom`: CycloneDX 1.6 and SPDX 2.3 output for
//! images of the example fleet, validated field by field against the
//! structure the official schemas require (required keys, types, enums,
//! allowed keys where the schema sets `additionalProperties: false`, ID
//! syntax, reference integrity), with every purl parsed back.
//!
//! The rules are transcribed from the official schemas: SPDX
//! `schemas/spdx-schema-2-3.json` (spdx/spdx-spec @ b536507a3b29973442e979c887f41b07e6330abb)
//! and CycloneDX `schema/bom-1.6.schema.json` (CycloneDX/specification);
//! the schema files themselves are not vendored.

mod common;

use common::{NOW, json, repo, stderr, stdout, testdata};
use debfleet::audit::sbom::Purl;
use debfleet::deb::decompress::{Compression, decompress};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn synced_state() -> &'static Path {
    static STATE: OnceLock<PathBuf> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let state = dir.join("state.redb");
        let out = run(&state, &["sync"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        state
    })
}

fn run(state: &Path, args: &[&str]) -> std::process::Output {
    common::with_state(&testdata("fleet"), state, NOW, args)
}

fn sbom(image: &str, format: &str) -> Value {
    let out = run(synced_state(), &["sbom", image, "--format", format]);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

/// The manifest's packages (name -> version), read independently.
fn manifest_packages(image: &str) -> BTreeMap<String, String> {
    let path = walk(&testdata("fleet/images"))
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.trim() == format!("image: {image}"))
        })
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("packages:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(": ")?;
            Some((
                k.trim_matches('"').to_string(),
                v.trim_matches('"').to_string(),
            ))
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
    out
}

/// SHA256 of `package` `version` in a Packages.xz of the mirror slice.
fn index_sha256(index: &str, package: &str, version: &str) -> Option<String> {
    let data = std::fs::read(testdata(index)).unwrap();
    let text = decompress(&data, Compression::Xz, 1 << 30).unwrap();
    let text = String::from_utf8(text).unwrap();
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        };
        (field("Package") == Some(package) && field("Version") == Some(version))
            .then(|| field("SHA256").unwrap().to_string())
    })
}

/// The `image:` names of the example fleet's 40 manifests.
fn image_names() -> Vec<String> {
    let images: Vec<String> = walk(&testdata("fleet/images"))
        .iter()
        .filter_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("image: ").map(str::to_string))
        })
        .collect();
    assert_eq!(images.len(), 40);
    images
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn obj<'a>(v: &'a Value, at: &str) -> &'a serde_json::Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {v}"))
}

fn string<'a>(v: &'a Value, key: &str, at: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{at}.{key}: required string, found {}", v[key]))
}

/// Only keys the schema defines (the schemas set additionalProperties false).
fn only_keys(v: &Value, allowed: &[&str], at: &str) {
    for k in obj(v, at).keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "{at}: key {k:?} is not in the schema"
        );
    }
}

/// Checks a purl and that it parses back to the component's name, version
/// and qualifiers.
fn check_purl(p: &str, name: &str, version: &str, arch: &str, at: &str) {
    let parsed = Purl::parse(p).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert_eq!(parsed.kind, "deb", "{at}");
    assert_eq!(parsed.namespace.as_deref(), Some("debian"), "{at}");
    assert_eq!(parsed.name, name, "{at}");
    assert_eq!(parsed.version.as_deref(), Some(version), "{at}");
    assert_eq!(
        parsed.qualifiers.get("arch").map(String::as_str),
        Some(arch),
        "{at}"
    );
    assert_eq!(
        parsed.qualifiers.get("distro").map(String::as_str),
        Some("debian-12"),
        "{at}"
    );
    // Encoding: '+' never appears raw in the version part.
    let version_part = p.split('@').nth(1).unwrap().split('?').next().unwrap();
    assert!(!version_part.contains('+'), "{at}: {p}");
}

/// CycloneDX 1.6 (bom-1.6.schema.json): required `bomFormat` ("CycloneDX")
/// and `specVersion`; serialNumber pattern
/// `^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`;
/// version integer >= 1; component requires `type` (enum) and `name`;
/// hash requires `alg` (enum) and `content` (hex); organizationalEntity and
/// organizationalContact keys; dependency requires `ref` and refs must exist.
fn validate_cyclonedx(doc: &Value) {
    only_keys(
        doc,
        &[
            "$schema",
            "bomFormat",
            "specVersion",
            "serialNumber",
            "version",
            "metadata",
            "components",
            "services",
            "externalReferences",
            "dependencies",
            "compositions",
            "properties",
            "vulnerabilities",
            "annotations",
            "formulation",
            "declarations",
            "definitions",
            "signature",
        ],
        "bom",
    );
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.6");
    let serial = string(doc, "serialNumber", "bom");
    let u = serial.strip_prefix("urn:uuid:").unwrap();
    let parts: Vec<&str> = u.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12],
        "{serial}"
    );
    assert!(parts.iter().all(|p| is_hex(p, p.len())), "{serial}");
    assert!(matches!(parts[2].as_bytes()[0], b'1'..=b'5'), "{serial}");
    assert!(
        matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
        "{serial}"
    );
    assert!(doc["version"].as_u64().unwrap() >= 1);
    let meta = &doc["metadata"];
    only_keys(
        meta,
        &[
            "timestamp",
            "lifecycles",
            "tools",
            "authors",
            "component",
            "manufacture",
            "manufacturer",
            "supplier",
            "licenses",
            "properties",
        ],
        "metadata",
    );
    assert_eq!(meta["timestamp"], NOW);
    let tool = &meta["tools"]["components"][0];
    assert_eq!(tool["type"], "application");
    assert_eq!(tool["name"], "debfleet");
    let component_types = [
        "application",
        "framework",
        "library",
        "container",
        "platform",
        "operating-system",
        "device",
        "device-driver",
        "firmware",
        "file",
        "machine-learning-model",
        "data",
        "cryptographic-asset",
    ];
    let hash_algs = [
        "MD5",
        "SHA-1",
        "SHA-256",
        "SHA-384",
        "SHA-512",
        "SHA3-256",
        "SHA3-384",
        "SHA3-512",
        "BLAKE2b-256",
        "BLAKE2b-384",
        "BLAKE2b-512",
        "BLAKE3",
    ];
    let component_keys = [
        "type",
        "mime-type",
        "bom-ref",
        "supplier",
        "manufacturer",
        "authors",
        "author",
        "publisher",
        "group",
        "name",
        "version",
        "description",
        "scope",
        "hashes",
        "licenses",
        "copyright",
        "cpe",
        "purl",
        "omniborId",
        "swhid",
        "swid",
        "modified",
        "pedigree",
        "externalReferences",
        "properties",
        "components",
        "evidence",
        "releaseNotes",
        "modelCard",
        "data",
        "cryptoProperties",
        "signature",
        "tags",
    ];
    let check_component = |c: &Value, at: &str| {
        only_keys(c, &component_keys, at);
        assert!(component_types.contains(&string(c, "type", at)), "{at}");
        string(c, "name", at);
        if let Some(props) = c.get("properties") {
            for p in props.as_array().unwrap() {
                only_keys(p, &["name", "value"], at);
                string(p, "name", at);
            }
        }
    };
    check_component(&meta["component"], "metadata.component");
    let mut refs = BTreeSet::new();
    refs.insert(string(&meta["component"], "bom-ref", "metadata.component").to_string());
    for (i, c) in doc["components"].as_array().unwrap().iter().enumerate() {
        let at = format!("components[{i}]");
        check_component(c, &at);
        assert!(
            refs.insert(string(c, "bom-ref", &at).to_string()),
            "{at}: duplicate bom-ref"
        );
        for h in c
            .get("hashes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            only_keys(h, &["alg", "content"], &at);
            assert!(hash_algs.contains(&string(h, "alg", &at)));
            assert!(is_hex(string(h, "content", &at), 64), "{at}");
        }
        if let Some(s) = c.get("supplier") {
            only_keys(s, &["bom-ref", "name", "address", "url", "contact"], &at);
            for contact in s["contact"].as_array().unwrap() {
                only_keys(contact, &["bom-ref", "name", "email", "phone"], &at);
            }
        }
        for a in c["pedigree"]["ancestors"].as_array().unwrap() {
            check_component(a, &format!("{at}.pedigree.ancestors"));
        }
    }
    for d in doc["dependencies"].as_array().unwrap() {
        only_keys(d, &["ref", "dependsOn", "provides"], "dependencies");
        assert!(refs.contains(string(d, "ref", "dependencies")));
        for r in d["dependsOn"].as_array().unwrap() {
            assert!(refs.contains(r.as_str().unwrap()), "dangling dependsOn {r}");
        }
    }
}

#[test]
fn cyclonedx_for_memcached() {
    let doc = sbom("memcached-b2840", "cyclonedx");
    validate_cyclonedx(&doc);
    assert_eq!(doc["metadata"]["component"]["name"], "memcached-b2840");
    assert_eq!(doc["metadata"]["component"]["type"], "container");
    let manifest = manifest_packages("memcached-b2840");
    let comps = doc["components"].as_array().unwrap();
    assert_eq!(comps.len(), manifest.len());
    let mut seen = BTreeMap::new();
    for c in comps {
        let name = c["name"].as_str().unwrap();
        let version = c["version"].as_str().unwrap();
        assert_eq!(
            manifest.get(name).map(String::as_str),
            Some(version),
            "{name}"
        );
        let purl = c["purl"].as_str().unwrap();
        let arch = Purl::parse(purl).unwrap().qualifiers["arch"].clone();
        assert!(arch == "amd64" || arch == "all", "{purl}");
        check_purl(purl, name, version, &arch, name);
        let anc = &c["pedigree"]["ancestors"][0];
        check_purl(
            anc["purl"].as_str().unwrap(),
            anc["name"].as_str().unwrap(),
            anc["version"].as_str().unwrap(),
            "source",
            name,
        );
        seen.insert(name.to_string(), c.clone());
    }
    // libssl3 is built from openssl; bsdutils from util-linux at a source
    // version without the binary's epoch.
    let libssl = &seen["libssl3"];
    assert_eq!(libssl["pedigree"]["ancestors"][0]["name"], "openssl");
    assert_eq!(
        libssl["pedigree"]["ancestors"][0]["version"],
        "3.0.20-1~deb12u2"
    );
    assert_eq!(
        libssl["supplier"]["name"], "Debian OpenSSL Team",
        "{}",
        libssl["supplier"]
    );
    let bsd = &seen["bsdutils"];
    assert_eq!(
        bsd["purl"],
        "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12"
    );
    assert_eq!(bsd["pedigree"]["ancestors"][0]["name"], "util-linux");
    assert_eq!(
        bsd["pedigree"]["ancestors"][0]["version"],
        "2.38.1-5+deb12u3"
    );
    assert_eq!(
        bsd["pedigree"]["ancestors"][0]["purl"],
        "pkg:deb/debian/util-linux@2.38.1-5%2Bdeb12u3?arch=source&distro=debian-12"
    );
    // Hashes are the index's SHA256 of exactly that .deb.
    let expected = index_sha256(
        "mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz",
        "libssl3",
        "3.0.20-1~deb12u2",
    )
    .unwrap();
    assert_eq!(libssl["hashes"][0]["content"], expected.as_str());
    let expected = index_sha256(
        "mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz",
        "bsdutils",
        "1:2.38.1-5+deb12u3",
    )
    .unwrap();
    assert_eq!(bsd["hashes"][0]["content"], expected.as_str());
    // apt 2.6.1 is in bookworm (the image is behind the security update).
    assert_eq!(seen["apt"]["version"], "2.6.1");
    assert!(seen["apt"]["hashes"].is_array());
}

/// SPDX 2.3 (spdx-schema 2.3): required `SPDXID`, `creationInfo` (with
/// `created` and at least one `creators`), `dataLicense`, `name`,
/// `spdxVersion`, `documentNamespace`; packages require `SPDXID`, `name`,
/// `downloadLocation`; checksum algorithm and externalRef category enums;
/// relationship types from the 2.3 enum; IDs `SPDXRef-[A-Za-z0-9.-]+`.
fn validate_spdx(doc: &Value) -> BTreeMap<String, Value> {
    only_keys(
        doc,
        &[
            "SPDXID",
            "annotations",
            "comment",
            "creationInfo",
            "dataLicense",
            "externalDocumentRefs",
            "hasExtractedLicensingInfos",
            "name",
            "revieweds",
            "spdxVersion",
            "documentNamespace",
            "documentDescribes",
            "packages",
            "files",
            "snippets",
            "relationships",
        ],
        "document",
    );
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    string(doc, "name", "document");
    assert!(string(doc, "documentNamespace", "document").starts_with("https://"));
    let ci = &doc["creationInfo"];
    only_keys(
        ci,
        &["comment", "created", "creators", "licenseListVersion"],
        "creationInfo",
    );
    assert_eq!(ci["created"], NOW);
    let creators = ci["creators"].as_array().unwrap();
    assert!(!creators.is_empty());
    assert!(creators[0].as_str().unwrap().starts_with("Tool: debfleet-"));
    let id_ok = |id: &str| {
        id.strip_prefix("SPDXRef-").is_some_and(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
    };
    let package_keys = [
        "SPDXID",
        "annotations",
        "attributionTexts",
        "builtDate",
        "checksums",
        "comment",
        "copyrightText",
        "description",
        "downloadLocation",
        "externalRefs",
        "filesAnalyzed",
        "hasFiles",
        "homepage",
        "licenseComments",
        "licenseConcluded",
        "licenseDeclared",
        "licenseInfoFromFiles",
        "name",
        "originator",
        "packageFileName",
        "packageVerificationCode",
        "primaryPackagePurpose",
        "releaseDate",
        "sourceInfo",
        "summary",
        "supplier",
        "validUntilDate",
        "versionInfo",
    ];
    let purposes = [
        "OTHER",
        "INSTALL",
        "ARCHIVE",
        "FIRMWARE",
        "APPLICATION",
        "FRAMEWORK",
        "LIBRARY",
        "CONTAINER",
        "SOURCE",
        "DEVICE",
        "OPERATING_SYSTEM",
        "FILE",
    ];
    let mut by_id = BTreeMap::new();
    for (i, p) in doc["packages"].as_array().unwrap().iter().enumerate() {
        let at = format!("packages[{i}]");
        only_keys(p, &package_keys, &at);
        let id = string(p, "SPDXID", &at);
        assert!(id_ok(id), "{at}: SPDXID {id}");
        string(p, "name", &at);
        string(p, "downloadLocation", &at);
        assert!(purposes.contains(&string(p, "primaryPackagePurpose", &at)));
        if let Some(s) = p.get("supplier") {
            let s = s.as_str().unwrap();
            assert!(
                s == "NOASSERTION" || s.starts_with("Person: ") || s.starts_with("Organization: "),
                "{at}: supplier {s}"
            );
        }
        for c in p
            .get("checksums")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            only_keys(c, &["algorithm", "checksumValue"], &at);
            assert_eq!(c["algorithm"], "SHA256");
            assert!(is_hex(string(c, "checksumValue", &at), 64));
        }
        for r in p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            only_keys(
                r,
                &[
                    "comment",
                    "referenceCategory",
                    "referenceLocator",
                    "referenceType",
                ],
                &at,
            );
            assert!(
                ["OTHER", "PERSISTENT-ID", "SECURITY", "PACKAGE-MANAGER"].contains(&string(
                    r,
                    "referenceCategory",
                    &at
                ))
            );
            assert_eq!(r["referenceType"], "purl");
        }
        assert!(
            by_id.insert(id.to_string(), p.clone()).is_none(),
            "{at}: duplicate SPDXID"
        );
    }
    let types = ["DESCRIBES", "CONTAINS", "GENERATED_FROM"];
    for r in doc["relationships"].as_array().unwrap() {
        only_keys(
            r,
            &[
                "comment",
                "relatedSpdxElement",
                "relationshipType",
                "spdxElementId",
            ],
            "relationship",
        );
        assert!(types.contains(&string(r, "relationshipType", "relationship")));
        let from = string(r, "spdxElementId", "relationship");
        assert!(
            from == "SPDXRef-DOCUMENT" || by_id.contains_key(from),
            "{from}"
        );
        assert!(by_id.contains_key(string(r, "relatedSpdxElement", "relationship")));
    }
    for d in doc["documentDescribes"].as_array().unwrap() {
        assert!(by_id.contains_key(d.as_str().unwrap()));
    }
    by_id
}

#[test]
fn spdx_for_memcached() {
    let doc = sbom("memcached-b2840", "spdx");
    let by_id = validate_spdx(&doc);
    let manifest = manifest_packages("memcached-b2840");
    let binaries: Vec<&Value> = by_id
        .values()
        .filter(|p| p["primaryPackagePurpose"] == "LIBRARY")
        .collect();
    assert_eq!(binaries.len(), manifest.len());
    let rels = doc["relationships"].as_array().unwrap();
    let related = |from: &str, kind: &str| -> Vec<String> {
        rels.iter()
            .filter(|r| r["spdxElementId"] == from && r["relationshipType"] == kind)
            .map(|r| r["relatedSpdxElement"].as_str().unwrap().to_string())
            .collect()
    };
    let image = doc["documentDescribes"][0].as_str().unwrap();
    assert_eq!(related(image, "CONTAINS").len(), manifest.len());
    for b in &binaries {
        let name = b["name"].as_str().unwrap();
        let version = b["versionInfo"].as_str().unwrap();
        assert_eq!(manifest.get(name).map(String::as_str), Some(version));
        let purl = b["externalRefs"][0]["referenceLocator"].as_str().unwrap();
        let arch = Purl::parse(purl).unwrap().qualifiers["arch"].clone();
        check_purl(purl, name, version, &arch, name);
        let sources = related(b["SPDXID"].as_str().unwrap(), "GENERATED_FROM");
        assert_eq!(sources.len(), 1, "{name}");
        let src = &by_id[&sources[0]];
        assert_eq!(src["primaryPackagePurpose"], "SOURCE");
        check_purl(
            src["externalRefs"][0]["referenceLocator"].as_str().unwrap(),
            src["name"].as_str().unwrap(),
            src["versionInfo"].as_str().unwrap(),
            "source",
            name,
        );
        if name == "libssl3" || name == "openssl" {
            assert_eq!(src["name"], "openssl");
        }
        if name == "bsdutils" {
            assert_eq!(src["name"], "util-linux");
            assert_eq!(src["versionInfo"], "2.38.1-5+deb12u3");
        }
    }
    // One source package for libssl3 and openssl.
    let openssl_sources = by_id
        .values()
        .filter(|p| p["primaryPackagePurpose"] == "SOURCE" && p["name"] == "openssl")
        .count();
    assert_eq!(openssl_sources, 1);
}

#[test]
fn every_image_validates_and_output_file_matches_stdout() {
    let state = synced_state();
    let images = image_names();
    for image in images.iter().filter(|i| !i.starts_with("legacy")).take(6) {
        validate_cyclonedx(&sbom(image, "cyclonedx"));
        validate_spdx(&sbom(image, "spdx"));
    }
    // The buster image: its base is not mirrored; the SBOM still lists
    // every package (without hashes) and warns.
    let out = run(
        state,
        &["sbom", "legacy-cron-b3760", "--format", "cyclonedx"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no suite of base buster is in the store"));
    let doc = json(&out);
    validate_cyclonedx(&doc);
    assert_eq!(
        doc["components"].as_array().unwrap().len(),
        manifest_packages("legacy-cron-b3760").len()
    );
    assert!(
        doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("hashes").is_none())
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.json");
    let out = run(
        state,
        &[
            "sbom",
            "memcached-b2840",
            "--format",
            "spdx",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let again = run(state, &["sbom", "memcached-b2840", "--format", "spdx"]);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        again.stdout,
        "deterministic for a fixed --now"
    );

    let out = run(state, &["sbom", "no-such-image", "--format", "spdx"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no image \"no-such-image\""),
        "{}",
        stderr(&out)
    );
}

/// Every image's CycloneDX and SPDX documents validate against the official
/// JSON schemas (vendored in testdata/schemas, see testdata/PROVENANCE.md),
/// checked by the reference validator, Python's `jsonschema` (`.ci/run`
/// installs it), through `tests/support/validate_schema.py`.
#[test]
fn every_image_validates_against_the_official_schemas() {
    let state = synced_state();
    let images = image_names();
    let dir = tempfile::tempdir().unwrap();
    for format in ["cyclonedx", "spdx"] {
        let mut files = Vec::new();
        for image in &images {
            let file = dir.path().join(format!("{image}.{format}.json"));
            let out = run(
                state,
                &[
                    "sbom",
                    image,
                    "--format",
                    format,
                    "-o",
                    file.to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{image}: {}", stderr(&out));
            files.push(file);
        }
        let out = std::process::Command::new("python3")
            .arg(repo().join("tests/support/validate_schema.py"))
            .arg(format)
            .arg(testdata("schemas"))
            .args(&files)
            .output()
            .expect("python3 (with the jsonschema package) is needed: see .ci/run");
        assert!(
            out.status.success(),
            "{format} documents do not validate:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains(&format!("validated 40 {format} document(s), 0 error(s)")),
            "{}",
            stdout(&out)
        );
    }
}

/// `--build N` describes a recorded build's package set, not the current
/// manifest.
#[test]
fn sbom_of_a_recorded_build() {
    // A store of its own: recording builds must not disturb other tests.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    std::fs::copy(synced_state(), &state).unwrap();
    let image = "memcached-b2840";
    let manifest = walk(&testdata("fleet/images"))
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains(&format!("image: {image}\n"))
        })
        .unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let old_line = text
        .lines()
        .find(|l| l.starts_with("  \"libssl3\": "))
        .expect("memcached carries libssl3")
        .to_string();
    // Build 1: the manifest as it is; build 2: libssl3 at another version.
    let rec = run(
        &state,
        &[
            "build",
            "record",
            image,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert!(rec.status.success(), "{}", stderr(&rec));
    let edited = dir.path().join("memcached.yaml");
    std::fs::write(
        &edited,
        text.replace(&old_line, "  \"libssl3\": \"3.0.99-1~deb12u1\""),
    )
    .unwrap();
    let rec = run(
        &state,
        &[
            "build",
            "record",
            image,
            "--manifest",
            edited.to_str().unwrap(),
        ],
    );
    assert!(rec.status.success(), "{}", stderr(&rec));

    let current = json(&run(&state, &["sbom", image, "--format", "cyclonedx"]));
    let build1 = json(&run(
        &state,
        &["sbom", image, "--build", "1", "--format", "cyclonedx"],
    ));
    assert_eq!(current["components"], build1["components"]);
    let build2 = run(
        &state,
        &["sbom", image, "--build", "2", "--format", "cyclonedx"],
    );
    assert!(build2.status.success(), "{}", stderr(&build2));
    let build2 = json(&build2);
    validate_cyclonedx(&build2);
    let libssl = build2["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libssl3")
        .unwrap();
    assert_eq!(libssl["version"], "3.0.99-1~deb12u1");
    // A version the mirror never had: no hash can be vouched for.
    assert!(libssl.get("hashes").is_none(), "{libssl}");

    let missing = run(&state, &["sbom", image, "--build", "9", "--format", "spdx"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("has no build 9; its builds are 1, 2"),
        "{}",
        stderr(&missing)
    );
}
