//! Binary package entries of a `Packages` index: the typed, borrowed view of
//! the fields the rest of debfleet needs (identity, source, priority,
//! multi-arch, relationship fields as raw text, size and checksum).
//!
//! One paragraph is parsed in a single pass over its fields. Values are
//! borrowed from the input; relationship fields stay raw text and are parsed
//! on demand with [`crate::deb::relation`]. Version strings are only checked
//! to be non-empty and free of whitespace; their syntax belongs to
//! [`crate::deb::version`].

use crate::deb::deb822::{Deb822Error, Paragraph, paragraphs};
use crate::deb::hash::Sha256Digest;

/// An error in a binary package paragraph, located by line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// The paragraph itself is malformed.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// A mandatory field is absent.
    #[error(
        "line {line}: package paragraph has no {field} field; every entry of a Packages index \
         needs Package, Version and Architecture"
    )]
    MissingField {
        /// Line of the paragraph's first field.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A field used by debfleet is not valid UTF-8.
    #[error("line {line}: the {field} field is not valid UTF-8")]
    NonUtf8 {
        /// Line of the field.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// A field has a value debfleet cannot interpret.
    #[error("line {line}: invalid {field} value {value:?}: {reason}")]
    InvalidValue {
        /// Line of the field.
        line: usize,
        /// The field.
        field: &'static str,
        /// The offending value (lossy, possibly truncated).
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
}

/// The `Multi-Arch` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    /// Field absent or `no`.
    #[default]
    No,
    /// `same`: co-installable with itself for other architectures.
    Same,
    /// `foreign`: satisfies dependencies of packages of any architecture.
    Foreign,
    /// `allowed`: dependencies may choose with `:any`.
    Allowed,
}

impl MultiArch {
    /// The field value as written in a Packages file.
    pub fn as_str(self) -> &'static str {
        match self {
            MultiArch::No => "no",
            MultiArch::Same => "same",
            MultiArch::Foreign => "foreign",
            MultiArch::Allowed => "allowed",
        }
    }
}

/// A binary package entry, borrowing from the index data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryPackage<'a> {
    /// `Package`.
    pub package: &'a str,
    /// `Version` (non-empty, no whitespace; not otherwise validated here).
    pub version: &'a str,
    /// `Architecture`.
    pub architecture: &'a str,
    /// Source package name from `Source`, if the field is present.
    pub source: Option<&'a str>,
    /// Source version from `Source: name (version)`, if given.
    pub source_version: Option<&'a str>,
    /// `Priority`.
    pub priority: Option<&'a str>,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// Raw `Depends`.
    pub depends: Option<&'a str>,
    /// Raw `Pre-Depends`.
    pub pre_depends: Option<&'a str>,
    /// Raw `Breaks`.
    pub breaks: Option<&'a str>,
    /// Raw `Conflicts`.
    pub conflicts: Option<&'a str>,
    /// Raw `Provides`.
    pub provides: Option<&'a str>,
    /// Raw `Replaces`.
    pub replaces: Option<&'a str>,
    /// Raw `Recommends`.
    pub recommends: Option<&'a str>,
    /// `Installed-Size` in KiB.
    pub installed_size: Option<u64>,
    /// `Filename`: path of the .deb relative to the archive root.
    pub filename: Option<&'a str>,
    /// `Size` of the .deb in bytes.
    pub size: Option<u64>,
    /// `SHA256` of the .deb.
    pub sha256: Option<Sha256Digest>,
    /// Line of the paragraph's first field.
    pub line: usize,
    /// The whole paragraph.
    pub raw: &'a [u8],
}

impl<'a> BinaryPackage<'a> {
    /// The source package name: `Source` if given, else the package name.
    pub fn source_name(&self) -> &'a str {
        self.source.unwrap_or(self.package)
    }

    /// The source version: the one in `Source: name (version)` if given,
    /// else the binary version.
    pub fn source_version(&self) -> &'a str {
        self.source_version.unwrap_or(self.version)
    }
}

/// The fields [`parse_binary_package`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Package,
    Version,
    Architecture,
    Source,
    Priority,
    Essential,
    MultiArch,
    Depends,
    PreDepends,
    Breaks,
    Conflicts,
    Provides,
    Replaces,
    Recommends,
    InstalledSize,
    Filename,
    Size,
    Sha256,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Package => "Package",
            Key::Version => "Version",
            Key::Architecture => "Architecture",
            Key::Source => "Source",
            Key::Priority => "Priority",
            Key::Essential => "Essential",
            Key::MultiArch => "Multi-Arch",
            Key::Depends => "Depends",
            Key::PreDepends => "Pre-Depends",
            Key::Breaks => "Breaks",
            Key::Conflicts => "Conflicts",
            Key::Provides => "Provides",
            Key::Replaces => "Replaces",
            Key::Recommends => "Recommends",
            Key::InstalledSize => "Installed-Size",
            Key::Filename => "Filename",
            Key::Size => "Size",
            Key::Sha256 => "SHA256",
        }
    }

    /// Classifies a field name (ASCII case-insensitive); `None` for fields
    /// debfleet does not use. Dispatches on length first so most names are
    /// rejected or matched with one comparison.
    #[inline]
    fn of(name: &[u8]) -> Option<Key> {
        let candidates: &[Key] = match name.len() {
            4 => &[Key::Size],
            6 => &[Key::Source, Key::Sha256, Key::Breaks],
            7 => &[Key::Package, Key::Version, Key::Depends],
            8 => &[Key::Priority, Key::Filename, Key::Provides, Key::Replaces],
            9 => &[Key::Essential, Key::Conflicts],
            10 => &[Key::MultiArch, Key::Recommends],
            11 => &[Key::PreDepends],
            12 => &[Key::Architecture],
            14 => &[Key::InstalledSize],
            _ => return None,
        };
        candidates
            .iter()
            .copied()
            .find(|k| name.eq_ignore_ascii_case(k.name().as_bytes()))
    }
}

/// How many bytes of an offending value are quoted in an error.
const ERROR_QUOTE_LEN: usize = 80;

fn invalid(line: usize, key: Key, value: &[u8], reason: &'static str) -> PackageError {
    let cut = value.get(..ERROR_QUOTE_LEN).unwrap_or(value);
    let mut value_text = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < value.len() {
        value_text.push_str("...");
    }
    PackageError::InvalidValue {
        line,
        field: key.name(),
        value: value_text,
        reason,
    }
}

fn utf8(value: &[u8], line: usize, key: Key) -> Result<&str, PackageError> {
    std::str::from_utf8(value).map_err(|_| PackageError::NonUtf8 {
        line,
        field: key.name(),
    })
}

/// A single token: non-empty, no whitespace.
fn token(value: &[u8], line: usize, key: Key) -> Result<&str, PackageError> {
    if value.is_empty() || value.iter().any(u8::is_ascii_whitespace) {
        return Err(invalid(
            line,
            key,
            value,
            "expected a single non-empty word without whitespace",
        ));
    }
    utf8(value, line, key)
}

/// A decimal unsigned integer without sign or blanks.
fn number(value: &[u8], line: usize, key: Key) -> Result<u64, PackageError> {
    let bad = || {
        invalid(
            line,
            key,
            value,
            "expected a decimal number of bytes or KiB",
        )
    };
    if value.is_empty() {
        return Err(bad());
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or_else(bad)
        } else {
            Err(bad())
        }
    })
}

/// Splits `Source: name` or `Source: name (version)`.
fn source_field(value: &[u8], line: usize) -> Result<(&str, Option<&str>), PackageError> {
    let bad = |reason| invalid(line, Key::Source, value, reason);
    let name_end = value
        .iter()
        .position(|&b| b == b'(' || b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (name, rest) = value.split_at(name_end);
    if name.is_empty() {
        return Err(bad("expected `name` or `name (version)`"));
    }
    let name = utf8(name, line, Key::Source)?;
    let rest = rest.trim_ascii();
    if rest.is_empty() {
        return Ok((name, None));
    }
    let inner = rest
        .strip_prefix(b"(")
        .and_then(|r| r.strip_suffix(b")"))
        .ok_or_else(|| bad("expected `name (version)` with the version in parentheses"))?
        .trim_ascii();
    if inner.is_empty()
        || inner
            .iter()
            .any(|&b| b.is_ascii_whitespace() || b == b'(' || b == b')')
    {
        return Err(bad(
            "the source version in parentheses must be one non-empty word",
        ));
    }
    Ok((name, Some(utf8(inner, line, Key::Source)?)))
}

/// Parses the binary package fields of one `Packages` paragraph.
///
/// Errors: missing `Package`/`Version`/`Architecture`, non-UTF-8 in a used
/// field, an invalid `Size`, `Installed-Size`, `SHA256`, `Source`,
/// `Essential` or `Multi-Arch` value, or whitespace inside the package name,
/// version or architecture. An empty relationship field is kept as
/// `Some("")` (it has no relations).
pub fn parse_binary_package<'a>(p: &Paragraph<'a>) -> Result<BinaryPackage<'a>, PackageError> {
    let mut package = None;
    let mut version = None;
    let mut architecture = None;
    let mut pkg = BinaryPackage {
        package: "",
        version: "",
        architecture: "",
        source: None,
        source_version: None,
        priority: None,
        essential: false,
        multi_arch: MultiArch::No,
        depends: None,
        pre_depends: None,
        breaks: None,
        conflicts: None,
        provides: None,
        replaces: None,
        recommends: None,
        installed_size: None,
        filename: None,
        size: None,
        sha256: None,
        line: p.line(),
        raw: p.raw(),
    };
    for field in p.fields() {
        let Some(key) = Key::of(field.name) else {
            continue;
        };
        let (v, line) = (field.value, field.line);
        match key {
            Key::Package => package = Some(token(v, line, key)?),
            Key::Version => version = Some(token(v, line, key)?),
            Key::Architecture => architecture = Some(token(v, line, key)?),
            Key::Source => {
                let (name, ver) = source_field(v, line)?;
                pkg.source = Some(name);
                pkg.source_version = ver;
            }
            Key::Priority => pkg.priority = Some(utf8(v, line, key)?),
            Key::Essential => {
                pkg.essential = if v.eq_ignore_ascii_case(b"yes") {
                    true
                } else if v.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err(invalid(line, key, v, "expected `yes` or `no`"));
                }
            }
            Key::MultiArch => {
                pkg.multi_arch = [
                    MultiArch::No,
                    MultiArch::Same,
                    MultiArch::Foreign,
                    MultiArch::Allowed,
                ]
                .into_iter()
                .find(|m| v.eq_ignore_ascii_case(m.as_str().as_bytes()))
                .ok_or_else(|| {
                    invalid(
                        line,
                        key,
                        v,
                        "expected `no`, `same`, `foreign` or `allowed`",
                    )
                })?;
            }
            Key::Depends => pkg.depends = Some(utf8(v, line, key)?),
            Key::PreDepends => pkg.pre_depends = Some(utf8(v, line, key)?),
            Key::Breaks => pkg.breaks = Some(utf8(v, line, key)?),
            Key::Conflicts => pkg.conflicts = Some(utf8(v, line, key)?),
            Key::Provides => pkg.provides = Some(utf8(v, line, key)?),
            Key::Replaces => pkg.replaces = Some(utf8(v, line, key)?),
            Key::Recommends => pkg.recommends = Some(utf8(v, line, key)?),
            Key::InstalledSize => pkg.installed_size = Some(number(v, line, key)?),
            Key::Filename => pkg.filename = Some(token(v, line, key)?),
            Key::Size => pkg.size = Some(number(v, line, key)?),
            Key::Sha256 => {
                let digest = std::str::from_utf8(v)
                    .ok()
                    .and_then(Sha256Digest::from_hex)
                    .ok_or_else(|| invalid(line, key, v, "expected 64 hexadecimal digits"))?;
                pkg.sha256 = Some(digest);
            }
        }
    }
    let missing = |field| PackageError::MissingField {
        line: p.line(),
        field,
    };
    pkg.package = package.ok_or_else(|| missing("Package"))?;
    pkg.version = version.ok_or_else(|| missing("Version"))?;
    pkg.architecture = architecture.ok_or_else(|| missing("Architecture"))?;
    Ok(pkg)
}

/// Parses every paragraph of a `Packages` index.
pub fn packages(data: &[u8]) -> impl Iterator<Item = Result<BinaryPackage<'_>, PackageError>> {
    paragraphs(data).map(|p| parse_binary_package(&p?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBC6: &[u8] = b"Package: libc6
Source: glibc
Version: 2.36-9+deb12u10
Installed-Size: 12993
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales (>= 2.36), libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6),
 hurd (<< 1:0.9.git20220301-2)
Conflicts: libc6-amd64
Description: GNU C Library: Shared libraries
Multi-Arch-Extra: ignored
Homepage: https://www.gnu.org/software/libc/libc.html
Description-md5: fc3001b0b90a1c8e6690b283a619d57f
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb
Size: 2757936
MD5sum: 2d6f5e8a0b0b6d7e5c3d4c4ae9a7bba5
SHA256: 8d5c5d2cd8b4d4ab1d9cfd5c8d6a6b2c4f2d0a4e9ef8b9c7f3ac2a1b6e5d4c3b
";

    fn parse(data: &[u8]) -> Result<BinaryPackage<'_>, PackageError> {
        packages(data).next().unwrap()
    }

    #[test]
    fn parses_all_used_fields() {
        let p = parse(LIBC6).unwrap();
        assert_eq!(p.package, "libc6");
        assert_eq!(p.version, "2.36-9+deb12u10");
        assert_eq!(p.architecture, "amd64");
        assert_eq!(p.source, Some("glibc"));
        assert_eq!(p.source_version, None);
        assert_eq!(p.source_name(), "glibc");
        assert_eq!(p.source_version(), "2.36-9+deb12u10");
        assert_eq!(p.priority, Some("optional"));
        assert!(!p.essential);
        assert_eq!(p.multi_arch, MultiArch::Same);
        assert_eq!(p.depends, Some("libgcc-s1"));
        assert_eq!(p.pre_depends, None);
        assert_eq!(
            p.breaks,
            Some("aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6),\n hurd (<< 1:0.9.git20220301-2)")
        );
        assert_eq!(p.conflicts, Some("libc6-amd64"));
        assert_eq!(p.replaces, Some("libc6-amd64"));
        assert_eq!(p.recommends, Some("libidn2-0 (>= 2.0.5~)"));
        assert_eq!(p.provides, None);
        assert_eq!(p.installed_size, Some(12993));
        assert_eq!(
            p.filename,
            Some("pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb")
        );
        assert_eq!(p.size, Some(2757936));
        assert_eq!(
            p.sha256.unwrap().to_hex(),
            "8d5c5d2cd8b4d4ab1d9cfd5c8d6a6b2c4f2d0a4e9ef8b9c7f3ac2a1b6e5d4c3b"
        );
        assert_eq!(p.line, 1);
        assert_eq!(p.raw, LIBC6);
    }

    #[test]
    fn source_with_version_and_defaults() {
        let data = b"package: bash-static\nSOURCE: bash (5.2.15-2)\nversion: 5.2.15-2+b7\n\
                     architecture: amd64\nEssential: yes\nMulti-Arch: Foreign\n";
        let p = parse(data).unwrap();
        assert_eq!(p.source, Some("bash"));
        assert_eq!(p.source_version, Some("5.2.15-2"));
        assert_eq!(p.source_version(), "5.2.15-2");
        assert!(p.essential);
        assert_eq!(p.multi_arch, MultiArch::Foreign);
        assert_eq!(p.size, None);
        assert_eq!(p.sha256, None);

        let p = parse(b"Package: a\nVersion: 1\nArchitecture: all\n").unwrap();
        assert_eq!(p.source_name(), "a");
        assert_eq!(p.source_version(), "1");
        assert_eq!(p.multi_arch, MultiArch::No);

        let p = parse(b"Package: a\nVersion: 1\nArchitecture: all\nSource: s ( 2 )\n").unwrap();
        assert_eq!(p.source_version, Some("2"));
        let p = parse(b"Package: a\nVersion: 1\nArchitecture: all\nSource: s(2)\n").unwrap();
        assert_eq!((p.source, p.source_version), (Some("s"), Some("2")));
    }

    #[test]
    fn missing_mandatory_fields_name_the_line() {
        let data = b"Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nArchitecture: all\n";
        let r: Vec<_> = packages(data).collect();
        assert!(r[0].is_ok());
        assert_eq!(
            r[1],
            Err(PackageError::MissingField {
                line: 5,
                field: "Version"
            })
        );
        assert_eq!(
            r[1].as_ref().unwrap_err().to_string(),
            "line 5: package paragraph has no Version field; every entry of a Packages index \
             needs Package, Version and Architecture"
        );
        let e = parse(b"Version: 1\nArchitecture: all\n").unwrap_err();
        assert_eq!(
            e,
            PackageError::MissingField {
                line: 1,
                field: "Package"
            }
        );
        let e = parse(b"Package: a\nVersion: 1\n").unwrap_err();
        assert_eq!(
            e,
            PackageError::MissingField {
                line: 1,
                field: "Architecture"
            }
        );
    }

    #[test]
    fn syntax_errors_pass_through() {
        let e = parse(b"Package: a\nPackage: b\n").unwrap_err();
        let PackageError::Syntax(e) = e else {
            panic!("expected a syntax error")
        };
        assert_eq!(e.line, 2);
    }

    #[test]
    fn non_utf8_is_an_error_not_a_panic() {
        let e =
            parse(b"Package: a\nVersion: 1\nArchitecture: all\nDepends: caf\xe9\n").unwrap_err();
        assert_eq!(
            e,
            PackageError::NonUtf8 {
                line: 4,
                field: "Depends"
            }
        );
        let e = parse(b"Package: \xff\nVersion: 1\nArchitecture: all\n").unwrap_err();
        assert_eq!(
            e,
            PackageError::NonUtf8 {
                line: 1,
                field: "Package"
            }
        );
        // Unused fields may hold anything.
        assert!(parse(b"Package: a\nVersion: 1\nArchitecture: all\nMaintainer: \xff\n").is_ok());
    }

    fn invalid_field(data: &[u8]) -> (usize, &'static str) {
        match parse(data).unwrap_err() {
            PackageError::InvalidValue { line, field, .. } => (line, field),
            e => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn invalid_values_are_errors() {
        let base = "Package: a\nVersion: 1\nArchitecture: all\n";
        for (extra, field) in [
            ("Size: 12a\n", "Size"),
            ("Size: -1\n", "Size"),
            ("Size: +1\n", "Size"),
            ("Size:\n", "Size"),
            ("Size: 99999999999999999999999\n", "Size"),
            ("Installed-Size: 1.5\n", "Installed-Size"),
            ("SHA256: abc\n", "SHA256"),
            (
                "SHA256: zz5c5d2cd8b4d4ab1d9cfd5c8d6a6b2c4f2d0a4e9ef8b9c7f3ac2a1b6e5d4c3b\n",
                "SHA256",
            ),
            ("Essential: maybe\n", "Essential"),
            ("Multi-Arch: sometimes\n", "Multi-Arch"),
            ("Source: (1.0)\n", "Source"),
            ("Source: s (1.0\n", "Source"),
            ("Source: s 1.0\n", "Source"),
            ("Source: s ()\n", "Source"),
            ("Source: s (1 2)\n", "Source"),
            ("Filename: a b\n", "Filename"),
        ] {
            let data = format!("{base}{extra}");
            assert_eq!(invalid_field(data.as_bytes()), (4, field), "{extra:?}");
        }
        assert_eq!(
            invalid_field(b"Package: a b\nVersion: 1\nArchitecture: all\n"),
            (1, "Package")
        );
        assert_eq!(
            invalid_field(b"Package: a\nVersion: 1 2\nArchitecture: all\n"),
            (2, "Version")
        );
        assert_eq!(
            invalid_field(b"Package: a\nVersion:\nArchitecture: all\n"),
            (2, "Version")
        );
        assert_eq!(
            invalid_field(b"Package: a\nVersion: 1\nArchitecture: amd64\n i386\n"),
            (3, "Architecture")
        );
        let e = parse(b"Package: a\nVersion: 1\nArchitecture: all\nSize: x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4: invalid Size value \"x\": expected a decimal number of bytes or KiB"
        );
    }

    #[test]
    fn key_dispatch_matches_every_name_case_insensitively() {
        for key in [
            Key::Package,
            Key::Version,
            Key::Architecture,
            Key::Source,
            Key::Priority,
            Key::Essential,
            Key::MultiArch,
            Key::Depends,
            Key::PreDepends,
            Key::Breaks,
            Key::Conflicts,
            Key::Provides,
            Key::Replaces,
            Key::Recommends,
            Key::InstalledSize,
            Key::Filename,
            Key::Size,
            Key::Sha256,
        ] {
            assert_eq!(Key::of(key.name().as_bytes()), Some(key));
            assert_eq!(
                Key::of(key.name().to_ascii_lowercase().as_bytes()),
                Some(key)
            );
        }
        assert_eq!(Key::of(b"Suggests"), None);
        assert_eq!(Key::of(b"MD5sum"), None);
        assert_eq!(Key::of(b""), None);
    }
}
