//! Software bills of materials for an image: CycloneDX 1.6 JSON and SPDX 2.3
//! JSON, one component per installed binary package with its source package,
//! package URL, supplier (the Debian `Maintainer`) and the `.deb`'s SHA-256
//! when the store holds the exact version.
//!
//! The subject is a [`Subject`] (image, base, architecture, package map), so
//! a current manifest and a recorded build produce SBOMs the same way.
//!
//! Package URLs follow the purl spec's `deb` type:
//! `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12`, the version
//! percent-encoded (`+` becomes `%2B`; `:` and `~` stay). Source packages
//! get `arch=source`.

use crate::deb::hash::Sha256Digest;
use crate::fleet::manifest::Manifest;
use crate::security::packages::{PackageIndex, strip_binnmu};
use crate::store::StoreError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Errors while building an SBOM or parsing a purl.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("purl {purl:?}: {message}")]
    Purl { purl: String, message: String },
}

/// What an SBOM describes: an image's installed packages on a base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub image: String,
    pub base: String,
    /// The Debian release number of the base (`12`), for `distro=debian-12`.
    pub release: String,
    pub architecture: String,
    /// `name` or `name:arch` -> installed version (a manifest's packages or
    /// a build record's).
    pub packages: BTreeMap<String, String>,
}

impl Subject {
    /// The subject of a current manifest.
    pub fn from_manifest(m: &Manifest, release: &str, architecture: &str) -> Subject {
        Subject {
            image: m.image.clone(),
            base: m.base.clone(),
            release: release.to_string(),
            architecture: architecture.to_string(),
            packages: m
                .packages
                .iter()
                .map(|p| (p.key(), p.version.clone()))
                .collect(),
        }
    }
}

/// One binary package of the SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub source: String,
    pub source_version: String,
    /// False when the exact version is not in the store: the source then
    /// comes from another version of the package (or is the binary name).
    pub exact: bool,
    pub maintainer: Option<String>,
    pub sha256: Option<String>,
}

/// Looks every package of `subject` up in the base's package records.
pub fn components(
    subject: &Subject,
    index: &PackageIndex<'_>,
) -> Result<Vec<Component>, SbomError> {
    let mut out = Vec::new();
    for (key, version) in &subject.packages {
        let (name, arch) = match key.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (key.as_str(), None),
        };
        let exact = if arch.is_none_or(|a| a == subject.architecture || a == "all") {
            index.exact(name, version)?
        } else {
            None
        };
        let c = match exact {
            Some(f) => Component {
                name: name.to_string(),
                version: version.clone(),
                architecture: f.architecture,
                source: f.source,
                source_version: f.source_version,
                exact: true,
                maintainer: f.maintainer,
                sha256: f.sha256,
            },
            None => {
                let other = index.any_version(name)?;
                let (source, source_version, maintainer, architecture) = match other {
                    Some(f) => {
                        let sv = index
                            .source_of(name, version)?
                            .map(|(_, v, _)| v)
                            .unwrap_or_else(|| strip_binnmu(version).to_string());
                        (f.source, sv, f.maintainer, f.architecture)
                    }
                    None => (
                        name.to_string(),
                        strip_binnmu(version).to_string(),
                        None,
                        arch.unwrap_or(&subject.architecture).to_string(),
                    ),
                };
                Component {
                    name: name.to_string(),
                    version: version.clone(),
                    architecture: arch.map(str::to_string).unwrap_or(architecture),
                    source,
                    source_version,
                    exact: false,
                    maintainer,
                    sha256: None,
                }
            }
        };
        out.push(c);
    }
    Ok(out)
}

/// Characters a purl component may carry unencoded (RFC 3986 unreserved,
/// plus `:` which the purl spec leaves as is in versions).
fn keep(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':')
}

/// Percent-encodes a purl component.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The purl of a Debian package.
pub fn purl(name: &str, version: &str, arch: &str, release: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}&distro=debian-{}",
        percent_encode(name),
        percent_encode(version),
        percent_encode(arch),
        percent_encode(release)
    )
}

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: BTreeMap<String, String>,
}

impl Purl {
    /// Parses `pkg:type/namespace/name@version?k=v&k=v#subpath`.
    pub fn parse(s: &str) -> Result<Purl, SbomError> {
        let err = |message: &str| SbomError::Purl {
            purl: s.to_string(),
            message: message.to_string(),
        };
        let rest = s
            .strip_prefix("pkg:")
            .ok_or_else(|| err("does not start with pkg:"))?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (path, version) = match path.rsplit_once('@') {
            Some((p, v)) => (p, Some(percent_decode(v).map_err(|e| err(&e))?)),
            None => (path, None),
        };
        let mut parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if parts.len() < 2 {
            return Err(err("expected type/name"));
        }
        let kind = parts.remove(0).to_ascii_lowercase();
        let name = percent_decode(parts.pop().unwrap_or_default()).map_err(|e| err(&e))?;
        if name.is_empty() {
            return Err(err("empty name"));
        }
        let namespace = if parts.is_empty() {
            None
        } else {
            Some(
                parts
                    .iter()
                    .map(|p| percent_decode(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| err(&e))?
                    .join("/"),
            )
        };
        let mut qualifiers = BTreeMap::new();
        if let Some(q) = query {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| err("qualifier without '='"))?;
                qualifiers.insert(
                    k.to_ascii_lowercase(),
                    percent_decode(v).map_err(|e| err(&e))?,
                );
            }
        }
        Ok(Purl {
            kind,
            namespace,
            name,
            version,
            qualifiers,
        })
    }
}

/// Splits `Name <email>` into its parts.
fn split_maintainer(m: &str) -> (String, Option<String>) {
    match (m.find('<'), m.rfind('>')) {
        (Some(a), Some(b)) if a < b => (
            m[..a].trim().to_string(),
            Some(m[a + 1..b].trim().to_string()),
        ),
        _ => (m.trim().to_string(), None),
    }
}

/// A name-based UUID (SHA-256 of `seed`, version nibble 5, RFC 4122 variant).
fn uuid_from(seed: &[u8]) -> String {
    let d = Sha256Digest::of(seed).0;
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn seed(subject: &Subject, timestamp: &str) -> Vec<u8> {
    let mut s = format!(
        "{}\0{}\0{}\0{timestamp}\0",
        subject.image, subject.base, subject.architecture
    );
    for (k, v) in &subject.packages {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\0');
    }
    s.into_bytes()
}

/// A CycloneDX 1.6 JSON document.
pub fn cyclonedx(subject: &Subject, components: &[Component], timestamp: &str) -> Value {
    let image_ref = format!("image:{}", subject.image);
    let comps: Vec<Value> = components
        .iter()
        .map(|c| {
            let p = purl(&c.name, &c.version, &c.architecture, &subject.release);
            let mut comp = json!({
                "type": "library",
                "bom-ref": p,
                "name": c.name,
                "version": c.version,
                "purl": p,
                "pedigree": {
                    "ancestors": [{
                        "type": "library",
                        "name": c.source,
                        "version": c.source_version,
                        "purl": purl(&c.source, &c.source_version, "source", &subject.release),
                    }]
                },
                "properties": [
                    {"name": "debfleet:source", "value": c.source},
                    {"name": "debfleet:source-version", "value": c.source_version},
                    {"name": "debfleet:in-store", "value": if c.exact { "true" } else { "false" }},
                ],
            });
            if let Some(m) = &c.maintainer {
                let (name, email) = split_maintainer(m);
                let mut contact = json!({"name": name});
                if let Some(e) = email {
                    contact["email"] = json!(e);
                }
                comp["supplier"] = json!({"name": name, "contact": [contact]});
            }
            if let Some(h) = &c.sha256 {
                comp["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
            }
            comp
        })
        .collect();
    let refs: Vec<Value> = comps.iter().map(|c| c["bom-ref"].clone()).collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&seed(subject, timestamp))),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{
                "type": "application",
                "name": "debfleet",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": subject.image,
                "properties": [
                    {"name": "debfleet:base", "value": subject.base},
                    {"name": "debfleet:architecture", "value": subject.architecture},
                ],
            },
        },
        "components": comps,
        "dependencies": [{"ref": image_ref, "dependsOn": refs}],
    })
}

/// An SPDX ID fragment: letters, digits, `.` and `-` only.
fn spdx_id(prefix: &str, n: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{prefix}-{n}-{clean}")
}

fn spdx_supplier(m: &str) -> String {
    let (name, email) = split_maintainer(m);
    let team = [
        "Team",
        "Maintainers",
        "Developers",
        "Group",
        "Project",
        "Debian",
    ]
    .iter()
    .any(|w| name.contains(w));
    let kind = if team { "Organization" } else { "Person" };
    match email {
        Some(e) => format!("{kind}: {name} ({e})"),
        None => format!("{kind}: {name}"),
    }
}

/// An SPDX 2.3 JSON document. Binary packages are related to their source
/// packages by `GENERATED_FROM`; the image `CONTAINS` every binary.
pub fn spdx(subject: &Subject, components: &[Component], timestamp: &str) -> Value {
    let image_id = spdx_id("Image", 0, &subject.image);
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": subject.image,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "comment": format!("base {} ({}), architecture {}", subject.base, subject.release, subject.architecture),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut sources: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, c) in components.iter().enumerate() {
        let id = spdx_id("Package", i + 1, &c.name);
        let p = purl(&c.name, &c.version, &c.architecture, &subject.release);
        let mut pkg = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p,
            }],
            "sourceInfo": format!("built from Debian source package {} {}", c.source, c.source_version),
        });
        pkg["supplier"] = match &c.maintainer {
            Some(m) => json!(spdx_supplier(m)),
            None => json!("NOASSERTION"),
        };
        if let Some(h) = &c.sha256 {
            pkg["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
        let n = sources.len();
        let source_id = sources
            .entry((c.source.clone(), c.source_version.clone()))
            .or_insert_with(|| spdx_id("Source", n + 1, &c.source))
            .clone();
        relationships.push(json!({
            "spdxElementId": id,
            "relationshipType": "GENERATED_FROM",
            "relatedSpdxElement": source_id,
        }));
    }
    for ((name, version), id) in &sources {
        packages.push(json!({
            "SPDXID": id,
            "name": name,
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "SOURCE",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(name, version, "source", &subject.release),
            }],
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} SBOM", subject.image),
        "documentNamespace": format!(
            "https://debfleet.invalid/spdx/{}/{}",
            percent_encode(&subject.image),
            uuid_from(&seed(subject, timestamp))
        ),
        "creationInfo": {
            "created": timestamp,
            "creators": [format!("Tool: debfleet-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": [image_id],
        "packages": packages,
        "relationships": relationships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_and_round_trip() {
        let p = purl("libcap2", "1:2.66-4+deb12u3+b1", "amd64", "12");
        assert_eq!(
            p,
            "pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u3%2Bb1?arch=amd64&distro=debian-12"
        );
        let back = Purl::parse(&p).unwrap();
        assert_eq!(back.kind, "deb");
        assert_eq!(back.namespace.as_deref(), Some("debian"));
        assert_eq!(back.name, "libcap2");
        assert_eq!(back.version.as_deref(), Some("1:2.66-4+deb12u3+b1"));
        assert_eq!(back.qualifiers["distro"], "debian-12");
        // The purl spec's own example.
        let spec = Purl::parse("pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64").unwrap();
        assert_eq!(spec.version.as_deref(), Some("1:2.4.47-2+b1"));
        assert_eq!(
            purl("attr", "1:2.4.47-2+b1", "amd64", "9")
                .split('?')
                .next(),
            Some("pkg:deb/debian/attr@1:2.4.47-2%2Bb1")
        );
        assert!(Purl::parse("deb/debian/x@1").is_err());
        assert!(Purl::parse("pkg:deb/debian/x@1%G1").is_err());
        assert_eq!(
            percent_decode(&percent_encode("a b+c~d:é")).unwrap(),
            "a b+c~d:é"
        );
    }

    #[test]
    fn uuids_are_well_formed() {
        let u = uuid_from(b"x");
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'5');
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn maintainers_split() {
        assert_eq!(
            split_maintainer("Debian OpenSSL Team <pkg-openssl-devel@lists.alioth.debian.org>"),
            (
                "Debian OpenSSL Team".to_string(),
                Some("pkg-openssl-devel@lists.alioth.debian.org".to_string())
            )
        );
        assert_eq!(
            spdx_supplier("Jane Doe <j@example.org>"),
            "Person: Jane Doe (j@example.org)"
        );
        assert_eq!(
            spdx_id("Package", 3, "libstdc++6"),
            "SPDXRef-Package-3-libstdc--6"
        );
    }
}
