//! Binary package entries of a `Packages` index: the typed, borrowed view of
//! the fields the rest of debfleet needs (identity, source, priority,
//! multi-arch, relationship fields as raw text, size and checksum).
//!
//! One paragraph is parsed in a single pass over its fields. Values are
//! borrowed from the input; relationship fields stay raw text and are parsed
//! on demand with [`crate::deb::relation`]. Version strings are only checked
//! to be non-empty and free of whitespace; their syntax belongs to
//! [`crate::deb::version`].

use crate::deb::deb822::{Deb822Error, Field, Paragraph, Paragraphs, paragraphs};
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
    const fn name(self) -> &'static str {
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
    /// debfleet does not use. Picks the one candidate by length and first
    /// letters, then compares the case-folded first and last eight bytes as
    /// two integers.
    ///
    /// Folding with `| 0x20` is exact here because the scanner only hands
    /// out names without whitespace or control characters: the only other
    /// bytes folding onto a letter, digit or `-` are control characters.
    #[inline]
    fn of(name: &[u8]) -> Option<Key> {
        let words = folded_words(name);
        // The length and first letter leave at most one candidate.
        let key = match (name.len(), words.0 as u8) {
            (4, b's') => Key::Size,
            (6, b's') if words.0 & 0xff00 == u64::from(b'o') << 8 => Key::Source,
            (6, b's') => Key::Sha256,
            (6, b'b') => Key::Breaks,
            (7, b'p') => Key::Package,
            (7, b'v') => Key::Version,
            (7, b'd') => Key::Depends,
            (8, b'p') if words.0 & 0xff_0000 == u64::from(b'o') << 16 => Key::Provides,
            (8, b'p') => Key::Priority,
            (8, b'f') => Key::Filename,
            (8, b'r') => Key::Replaces,
            (9, b'e') => Key::Essential,
            (9, b'c') => Key::Conflicts,
            (10, b'm') => Key::MultiArch,
            (10, b'r') => Key::Recommends,
            (11, b'p') => Key::PreDepends,
            (12, b'a') => Key::Architecture,
            (14, b'i') => Key::InstalledSize,
            _ => return None,
        };
        (KEY_WORDS.get(key as usize) == Some(&words)).then_some(key)
    }
}

/// Every [`Key`], in declaration order.
const ALL_KEYS: [Key; 18] = [
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
];

/// [`folded_words`] of each key's name, indexed by `Key as usize`.
const KEY_WORDS: [(u64, u64); 18] = {
    let mut out = [(0, 0); 18];
    let mut i = 0;
    while i < ALL_KEYS.len() {
        out[i] = const_folded_words(ALL_KEYS[i].name().as_bytes());
        i += 1;
    }
    out
};

/// Compile-time twin of [`folded_words`].
const fn const_folded_words(name: &[u8]) -> (u64, u64) {
    let len = name.len();
    let (mut head, mut tail) = (0u64, 0u64);
    let mut i = 0;
    while i < len && i < 8 {
        head |= ((name[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    if len > 8 {
        let mut i = 0;
        while i < 8 {
            tail |= ((name[len - 8 + i] | 0x20) as u64) << (8 * i);
            i += 1;
        }
    }
    (head, tail)
}

/// The first eight bytes (zero-padded) and, for names longer than eight
/// bytes, the last eight bytes of `name`, each byte OR-ed with `0x20`, as
/// little-endian integers.
#[inline]
fn folded_words(name: &[u8]) -> (u64, u64) {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    match (name.first_chunk::<8>(), name.last_chunk::<8>()) {
        (Some(head), Some(tail)) => {
            let head = u64::from_le_bytes(*head) | FOLD;
            let tail = if name.len() > 8 {
                u64::from_le_bytes(*tail) | FOLD
            } else {
                0
            };
            (head, tail)
        }
        _ => {
            let mut buf = [0u8; 8];
            for (d, s) in buf.iter_mut().zip(name) {
                *d = s | 0x20;
            }
            (u64::from_le_bytes(buf), 0)
        }
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

/// Turns field values into `&str`. Validating a whole buffer once and
/// slicing it is cheaper than validating each of the ~15 fields of every
/// paragraph separately; if the buffer is not valid UTF-8 as a whole (some
/// unused field holds Latin-1, say), each value is validated on its own.
#[derive(Debug, Clone, Copy)]
struct Utf8Source<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Utf8Source<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Utf8Source {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// `value` (a sub-slice of the source, or any other slice) as text.
    #[inline]
    fn str(&self, value: &'a [u8], line: usize, key: Key) -> Result<&'a str, PackageError> {
        if let Some(text) = self.text {
            let offset = (value.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
            if let Some(s) = offset
                .checked_add(value.len())
                .filter(|&end| end <= self.bytes.len())
                .and_then(|end| text.get(offset..end))
            {
                return Ok(s);
            }
        }
        std::str::from_utf8(value).map_err(|_| PackageError::NonUtf8 {
            line,
            field: key.name(),
        })
    }

    /// A single token: non-empty, no whitespace.
    #[inline]
    fn token(&self, value: &'a [u8], line: usize, key: Key) -> Result<&'a str, PackageError> {
        // ASCII whitespace and control characters are all <= b' '; the
        // fold (instead of `any`) has no early exit, so it vectorises.
        if value.is_empty() || value.iter().fold(false, |ws, &b| ws | (b <= b' ')) {
            return Err(invalid(
                line,
                key,
                value,
                "expected a single non-empty word without whitespace or control characters",
            ));
        }
        self.str(value, line, key)
    }
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
fn source_field<'a>(
    src: &Utf8Source<'a>,
    value: &'a [u8],
    line: usize,
) -> Result<(&'a str, Option<&'a str>), PackageError> {
    let bad = |reason| invalid(line, Key::Source, value, reason);
    let name_end = value
        .iter()
        .position(|&b| b == b'(' || b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (name, rest) = value.split_at(name_end);
    if name.is_empty() {
        return Err(bad("expected `name` or `name (version)`"));
    }
    let name = src.str(name, line, Key::Source)?;
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
    Ok((name, Some(src.str(inner, line, Key::Source)?)))
}

/// Collects the fields of one paragraph into a [`BinaryPackage`]; shared by
/// [`parse_binary_package`] and the single-pass [`Packages`] iterator.
struct Builder<'a> {
    src: Utf8Source<'a>,
    package: Option<&'a str>,
    version: Option<&'a str>,
    architecture: Option<&'a str>,
    pkg: BinaryPackage<'a>,
    error: Option<PackageError>,
}

impl<'a> Builder<'a> {
    fn new(src: Utf8Source<'a>) -> Self {
        Builder {
            src,
            package: None,
            version: None,
            architecture: None,
            pkg: BinaryPackage {
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
                line: 0,
                raw: &[],
            },
            error: None,
        }
    }

    /// Takes one field; the first error is kept for [`Builder::finish`].
    #[inline]
    fn field(&mut self, field: Field<'a>) {
        if self.error.is_some() {
            return;
        }
        if let Some(key) = Key::of(field.name) {
            if let Err(e) = self.apply(key, field.value, field.line) {
                self.error = Some(e);
            }
        }
    }

    fn apply(&mut self, key: Key, v: &'a [u8], line: usize) -> Result<(), PackageError> {
        let pkg = &mut self.pkg;
        let src = &self.src;
        match key {
            Key::Package => self.package = Some(src.token(v, line, key)?),
            Key::Version => self.version = Some(src.token(v, line, key)?),
            Key::Architecture => self.architecture = Some(src.token(v, line, key)?),
            Key::Source => {
                let (name, ver) = source_field(src, v, line)?;
                pkg.source = Some(name);
                pkg.source_version = ver;
            }
            Key::Priority => pkg.priority = Some(src.str(v, line, key)?),
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
            Key::Depends => pkg.depends = Some(src.str(v, line, key)?),
            Key::PreDepends => pkg.pre_depends = Some(src.str(v, line, key)?),
            Key::Breaks => pkg.breaks = Some(src.str(v, line, key)?),
            Key::Conflicts => pkg.conflicts = Some(src.str(v, line, key)?),
            Key::Provides => pkg.provides = Some(src.str(v, line, key)?),
            Key::Replaces => pkg.replaces = Some(src.str(v, line, key)?),
            Key::Recommends => pkg.recommends = Some(src.str(v, line, key)?),
            Key::InstalledSize => pkg.installed_size = Some(number(v, line, key)?),
            Key::Filename => pkg.filename = Some(src.token(v, line, key)?),
            Key::Size => pkg.size = Some(number(v, line, key)?),
            Key::Sha256 => {
                let digest = Sha256Digest::from_hex_bytes(v)
                    .ok_or_else(|| invalid(line, key, v, "expected 64 hexadecimal digits"))?;
                pkg.sha256 = Some(digest);
            }
        }
        Ok(())
    }

    fn finish(self, p: &Paragraph<'a>) -> Result<BinaryPackage<'a>, PackageError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let missing = |field| PackageError::MissingField {
            line: p.line(),
            field,
        };
        let mut pkg = self.pkg;
        pkg.package = self.package.ok_or_else(|| missing("Package"))?;
        pkg.version = self.version.ok_or_else(|| missing("Version"))?;
        pkg.architecture = self.architecture.ok_or_else(|| missing("Architecture"))?;
        pkg.line = p.line();
        pkg.raw = p.raw();
        Ok(pkg)
    }
}

/// Parses the binary package fields of one `Packages` paragraph.
///
/// Errors: missing `Package`/`Version`/`Architecture`, non-UTF-8 in a used
/// field, an invalid `Size`, `Installed-Size`, `SHA256`, `Source`,
/// `Essential` or `Multi-Arch` value, or whitespace inside the package name,
/// version, architecture or filename. An empty relationship field is kept as
/// `Some("")` (it has no relations).
pub fn parse_binary_package<'a>(p: &Paragraph<'a>) -> Result<BinaryPackage<'a>, PackageError> {
    let mut builder = Builder::new(Utf8Source::new(p.raw()));
    for field in p.fields() {
        builder.field(field);
    }
    builder.finish(p)
}

/// Parses every paragraph of a `Packages` index, in a single pass over the
/// bytes (see [`Paragraphs::next_with_fields`]), after checking once whether
/// the whole buffer is UTF-8. Yields the same results as
/// [`parse_binary_package`] applied to each of [`paragraphs`]; after an
/// error it continues with the next paragraph.
pub fn packages(data: &[u8]) -> Packages<'_> {
    packages_from(paragraphs(data))
}

/// Like [`packages`], for a scanner set up by the caller (for example one
/// chunk of [`crate::deb::deb822::split_paragraph_chunks`]).
pub fn packages_from(paragraphs: Paragraphs<'_>) -> Packages<'_> {
    Packages {
        src: Utf8Source::new(paragraphs.data()),
        paragraphs,
    }
}

/// Iterator returned by [`packages`].
#[derive(Debug, Clone)]
pub struct Packages<'a> {
    paragraphs: Paragraphs<'a>,
    src: Utf8Source<'a>,
}

impl<'a> Iterator for Packages<'a> {
    type Item = Result<BinaryPackage<'a>, PackageError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_observed(|_| {})
    }
}

impl<'a> Packages<'a> {
    /// [`Iterator::next`], also handing `observe` each field of the
    /// paragraph as it is scanned (see [`Paragraphs::next_with_fields`]).
    pub fn next_observed(
        &mut self,
        mut observe: impl FnMut(&Field<'a>),
    ) -> Option<Result<BinaryPackage<'a>, PackageError>> {
        let mut builder = Builder::new(self.src);
        let paragraph = self.paragraphs.next_with_fields(|f| {
            observe(&f);
            builder.field(f)
        })?;
        Some(
            paragraph
                .map_err(PackageError::from)
                .and_then(|p| builder.finish(&p)),
        )
    }

    /// The buffer the packages are scanned from (field spans are offsets
    /// into it).
    pub fn data(&self) -> &'a [u8] {
        self.paragraphs.data()
    }
}

impl std::iter::FusedIterator for Packages<'_> {}

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
    fn single_pass_iterator_agrees_with_per_paragraph_parse() {
        let mut data = Vec::new();
        data.extend_from_slice(LIBC6);
        data.extend_from_slice(b"\nPackage: b\nVersion: 1\nArchitecture: all\nSize: x\n");
        data.extend_from_slice(b"\nPackage: c\nVersion: 1\n");
        data.extend_from_slice(b"\nPackage: d\nVersion: 1\nversion: 2\nArchitecture: all\n");
        data.extend_from_slice(
            b"\nPackage: e\nDepends: x,\n y (>= 1)\nVersion: 2\nArchitecture: all",
        );
        let single: Vec<_> = packages(&data).collect();
        let per_paragraph: Vec<_> = paragraphs(&data)
            .map(|p| parse_binary_package(&p?))
            .collect();
        assert_eq!(single.len(), 5);
        assert_eq!(single, per_paragraph);
        assert!(single[0].is_ok() && single[4].is_ok());
        assert!(matches!(
            single[1],
            Err(PackageError::InvalidValue { line: 30, .. })
        ));
        assert!(matches!(
            single[2],
            Err(PackageError::MissingField { line: 32, .. })
        ));
        assert!(matches!(single[3], Err(PackageError::Syntax(_))));
        assert_eq!(single[4].as_ref().unwrap().depends, Some("x,\n y (>= 1)"));
    }

    #[test]
    fn latin1_elsewhere_in_the_buffer_does_not_matter() {
        let data = b"Package: a\nVersion: 1\nArchitecture: all\nMaintainer: Jos\xe9\n\n\
                     Package: b\nVersion: 2\nArchitecture: all\nDepends: a (>= 1)\n";
        let r: Vec<_> = packages(data).map(|p| p.unwrap()).collect();
        assert_eq!(r[1].depends, Some("a (>= 1)"));
        assert_eq!(r[1].package, "b");
        let utf8 = "Package: a\nVersion: 1\nArchitecture: all\nMaintainer: José\n";
        assert_eq!(
            packages(utf8.as_bytes()).next().unwrap().unwrap().package,
            "a"
        );
    }

    #[test]
    fn key_dispatch_matches_every_name_case_insensitively() {
        for (i, key) in ALL_KEYS.into_iter().enumerate() {
            assert_eq!(key as usize, i);
            assert_eq!(KEY_WORDS[i], folded_words(key.name().as_bytes()));
            assert_eq!(Key::of(key.name().as_bytes()), Some(key));
            assert_eq!(
                Key::of(key.name().to_ascii_lowercase().as_bytes()),
                Some(key)
            );
            let upper = key.name().to_ascii_uppercase();
            assert_eq!(Key::of(upper.as_bytes()), Some(key));
        }
        for other in [
            &b"Suggests"[..],
            b"MD5sum",
            b"",
            b"Size2",
            b"Packages",
            b"Packag",
            b"Installed-Sizf",
            b"Architecturf",
            b"Xrchitecture",
            b"Maintainer",
            b"Description-md5",
        ] {
            assert_eq!(Key::of(other), None, "{other:?}");
        }
    }
}
