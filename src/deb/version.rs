//! Debian version numbers (`[epoch:]upstream[-revision]`): parsing,
//! validation and ordering exactly as dpkg 1.21 does it.
//!
//! Three entry points, from cheapest to strictest:
//!
//! - [`compare`] / [`compare_bytes`] order two *unvalidated* strings the way
//!   dpkg orders them once parsed (`parseversion` split, then `verrevcmp` on
//!   the upstream part and the revision). No allocation, no panics; on
//!   strings dpkg rejects the result is still a consistent total order, just
//!   not one dpkg defines.
//! - [`parse_like_dpkg`] reproduces dpkg's verdict on a string: error (dpkg
//!   refuses it), warning (dpkg complains but uses it) or fine. The CLI uses
//!   it to behave like `dpkg --compare-versions`.
//! - [`Version::parse`] is strict: it refuses everything dpkg refuses *and*
//!   everything dpkg merely warns about, plus surrounding whitespace and a
//!   signed or space-prefixed epoch (which dpkg's `strtol` tolerates). Real
//!   archive versions never have any of these.
//!
//! Ordering facts worth knowing (all from dpkg): `~` sorts before
//! everything, even the end of the string (`1.0~rc1 < 1.0`); letters sort
//! before other punctuation (`1.0a < 1.0+`); digit runs compare as numbers of
//! any length (`1.010 == 1.10`); a missing revision equals `0`
//! (`1.0 == 1.0-0`) and a missing epoch equals `0:`. Hence [`Version`]'s
//! `Eq` is order-equality, and its `Hash` is written to agree with it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a version string is not acceptable. `Display` gives dpkg's wording
/// (for the dpkg reasons) so messages read exactly like dpkg's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionProblem {
    /// Empty, or only spaces and tabs (dpkg error).
    Empty,
    /// A space or tab inside the version (dpkg error).
    EmbeddedSpaces,
    /// A colon with no digits before it (dpkg error).
    EpochEmpty,
    /// Something other than digits before the first colon (dpkg error).
    EpochNotNumber,
    /// A negative epoch (dpkg error).
    EpochNegative,
    /// An epoch above 2147483647 (dpkg error).
    EpochTooBig,
    /// Nothing follows the epoch's colon (dpkg error).
    NothingAfterColon,
    /// The upstream part is empty, e.g. `-1` or `1:-1` (dpkg error).
    UpstreamEmpty,
    /// The version ends with `-` (dpkg error).
    RevisionEmpty,
    /// The upstream part does not start with a digit (dpkg warning).
    UpstreamNotStartingWithDigit,
    /// The upstream part has a character outside `[A-Za-z0-9.+~:-]` (dpkg warning).
    InvalidCharInUpstream,
    /// The revision has a character outside `[A-Za-z0-9.+~]` (dpkg warning).
    InvalidCharInRevision,
    /// Leading or trailing space or tab. dpkg silently strips it; the strict
    /// parser refuses it so that a [`Version`]'s text is always canonical.
    SurroundingWhitespace,
    /// The epoch has a sign or leading whitespace (`+1:2.0`), which dpkg's
    /// `strtol` accepts silently; the strict parser wants plain digits.
    EpochNotPlainDigits,
}

impl VersionProblem {
    /// The reason text (dpkg's own wording for the problems dpkg reports).
    pub fn message(self) -> &'static str {
        match self {
            VersionProblem::Empty => "version string is empty",
            VersionProblem::EmbeddedSpaces => "version string has embedded spaces",
            VersionProblem::EpochEmpty => "epoch in version is empty",
            VersionProblem::EpochNotNumber => "epoch in version is not number",
            VersionProblem::EpochNegative => "epoch in version is negative",
            VersionProblem::EpochTooBig => "epoch in version is too big",
            VersionProblem::NothingAfterColon => "nothing after colon in version number",
            VersionProblem::UpstreamEmpty => "version number is empty",
            VersionProblem::RevisionEmpty => "revision number is empty",
            VersionProblem::UpstreamNotStartingWithDigit => {
                "version number does not start with digit"
            }
            VersionProblem::InvalidCharInUpstream => "invalid character in version number",
            VersionProblem::InvalidCharInRevision => "invalid character in revision number",
            VersionProblem::SurroundingWhitespace => {
                "version string has leading or trailing whitespace (remove it)"
            }
            VersionProblem::EpochNotPlainDigits => {
                "epoch in version is not plain digits (remove the sign or whitespace)"
            }
        }
    }

    /// The matching dpkg warning, if dpkg only warns about this problem.
    pub fn as_dpkg_warning(self) -> Option<VersionWarning> {
        match self {
            VersionProblem::UpstreamNotStartingWithDigit => {
                Some(VersionWarning::UpstreamNotStartingWithDigit)
            }
            VersionProblem::InvalidCharInUpstream => Some(VersionWarning::InvalidCharInUpstream),
            VersionProblem::InvalidCharInRevision => Some(VersionWarning::InvalidCharInRevision),
            _ => None,
        }
    }
}

impl fmt::Display for VersionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Something dpkg warns about but still accepts (and compares). dpkg
/// reports only the first one it finds, and so does [`parse_like_dpkg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionWarning {
    /// The upstream part does not start with a digit.
    UpstreamNotStartingWithDigit,
    /// The upstream part has a character outside `[A-Za-z0-9.+~:-]`.
    InvalidCharInUpstream,
    /// The revision has a character outside `[A-Za-z0-9.+~]`.
    InvalidCharInRevision,
}

impl VersionWarning {
    /// The same thing as a [`VersionProblem`] (what the strict parser reports).
    pub fn problem(self) -> VersionProblem {
        match self {
            VersionWarning::UpstreamNotStartingWithDigit => {
                VersionProblem::UpstreamNotStartingWithDigit
            }
            VersionWarning::InvalidCharInUpstream => VersionProblem::InvalidCharInUpstream,
            VersionWarning::InvalidCharInRevision => VersionProblem::InvalidCharInRevision,
        }
    }
}

impl fmt::Display for VersionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.problem().message())
    }
}

/// A version string that cannot be used. The message has dpkg's form,
/// `version 'X' has bad syntax: REASON`; callers add where it came from
/// (file, stanza, field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version '{version}' has bad syntax: {problem}")]
pub struct VersionError {
    version: String,
    problem: VersionProblem,
}

impl VersionError {
    fn new(version: &[u8], problem: VersionProblem) -> Self {
        VersionError {
            version: String::from_utf8_lossy(version).into_owned(),
            problem,
        }
    }

    /// The offending string (invalid UTF-8 replaced by U+FFFD).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What is wrong with it.
    pub fn problem(&self) -> VersionProblem {
        self.problem
    }
}

/// A parsed, strictly valid Debian version. Owns its text.
///
/// `Eq`, `Ord` and `Hash` follow dpkg's ordering, so `1.0`, `1.0-0`,
/// `0:1.0` and `1.00` are all equal (and hash alike) although their texts
/// differ; compare [`Version::as_str`] when the spelling matters.
#[derive(Debug, Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte range of the upstream part within `text`.
    upstream: (usize, usize),
    /// Byte offset where the revision starts (`text.len()` when absent).
    revision: usize,
}

impl Version {
    /// Parses `s` strictly: refuses whatever dpkg refuses, whatever dpkg
    /// warns about, surrounding whitespace, and a signed or space-prefixed
    /// epoch.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let parts = strict_parts(s.as_bytes())?;
        Ok(Version {
            text: s.into(),
            epoch: parts.epoch,
            upstream: parts.upstream,
            revision: parts.revision.0,
        })
    }

    /// The original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part: after the epoch's colon, before the last hyphen.
    pub fn upstream(&self) -> &str {
        self.text
            .get(self.upstream.0..self.upstream.1)
            .unwrap_or_default()
    }

    /// The Debian revision: after the last hyphen; `""` when absent.
    pub fn revision(&self) -> &str {
        self.text.get(self.revision..).unwrap_or_default()
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl Hash for Version {
    /// Hashes the canonical form dpkg's order implies (leading zeros of
    /// digit runs and trailing zero runs do not matter, a missing revision
    /// equals `0`), so that equal versions hash equally.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.epoch);
        hash_verrev(self.upstream().as_bytes(), state);
        hash_verrev(self.revision().as_bytes(), state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

/// Checks `s` with [`Version::parse`]'s strict rules without building a
/// [`Version`].
pub fn validate(s: &str) -> Result<(), VersionError> {
    strict_parts(s.as_bytes()).map(|_| ())
}

/// dpkg's verdict on `s`: `Err` where dpkg refuses it, `Ok(Some(warning))`
/// where dpkg warns but goes on using it, `Ok(None)` where dpkg is silent.
/// Surrounding spaces and tabs are ignored, as dpkg ignores them.
pub fn parse_like_dpkg(s: &str) -> Result<Option<VersionWarning>, VersionError> {
    parse_like_dpkg_bytes(s.as_bytes())
}

/// [`parse_like_dpkg`] on raw bytes (dpkg works on bytes; non-ASCII bytes
/// are invalid characters, i.e. warnings). A NUL byte, which cannot reach
/// dpkg at all, counts as an invalid character.
pub fn parse_like_dpkg_bytes(s: &[u8]) -> Result<Option<VersionWarning>, VersionError> {
    dpkg_parts(s)
        .map(|(_, warning)| warning)
        .map_err(|problem| VersionError::new(s, problem))
}

/// Orders two version strings as dpkg orders them, without validating them
/// and without allocating. Agrees with dpkg for every string dpkg accepts
/// (including the ones it warns about); for strings dpkg refuses it still
/// returns a consistent total order (safe for sorting).
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes())
}

/// [`compare`] on raw bytes. Bytes above 0x7f order as dpkg on amd64 orders
/// them (its `char` is signed there): after letters, before other
/// punctuation.
pub fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a = FastSplit::of(a);
    let b = FastSplit::of(b);
    // An absent epoch is the empty string, which verrevcmp equates with 0;
    // valid epochs are plain digit runs, which verrevcmp orders numerically.
    verrevcmp(a.epoch, b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// A comparison operator of `dpkg --compare-versions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `lt` (also `<<`): strictly earlier.
    Lt,
    /// `le` (also `<=` and the obsolete `<`): earlier or equal.
    Le,
    /// `eq` (also `=`): equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `ge` (also `>=` and the obsolete `>`): later or equal.
    Ge,
    /// `gt` (also `>>`): strictly later.
    Gt,
    /// `lt-nl`: like `lt`, but a missing version counts as later than all.
    LtNl,
    /// `le-nl`: like `le`, but a missing version counts as later than all.
    LeNl,
    /// `ge-nl`: like `ge`, but a missing version counts as later than all.
    GeNl,
    /// `gt-nl`: like `gt`, but a missing version counts as later than all.
    GtNl,
}

/// Every spelling `dpkg --compare-versions` accepts, with its meaning.
const OP_NAMES: [(&str, CompareOp); 17] = [
    ("lt", CompareOp::Lt),
    ("le", CompareOp::Le),
    ("eq", CompareOp::Eq),
    ("ne", CompareOp::Ne),
    ("ge", CompareOp::Ge),
    ("gt", CompareOp::Gt),
    ("lt-nl", CompareOp::LtNl),
    ("le-nl", CompareOp::LeNl),
    ("ge-nl", CompareOp::GeNl),
    ("gt-nl", CompareOp::GtNl),
    ("<", CompareOp::Le),
    ("<=", CompareOp::Le),
    ("<<", CompareOp::Lt),
    ("=", CompareOp::Eq),
    (">=", CompareOp::Ge),
    (">>", CompareOp::Gt),
    (">", CompareOp::Ge),
];

impl CompareOp {
    /// dpkg's canonical name (`lt`, `le-nl`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Ge => "ge",
            CompareOp::Gt => "gt",
            CompareOp::LtNl => "lt-nl",
            CompareOp::LeNl => "le-nl",
            CompareOp::GeNl => "ge-nl",
            CompareOp::GtNl => "gt-nl",
        }
    }

    /// True for the spellings dpkg accepts but warns are obsolete: `<`
    /// (meaning `<=`) and `>` (meaning `>=`).
    pub fn is_obsolete_spelling(s: &str) -> bool {
        s == "<" || s == ">"
    }

    /// Whether the relation holds for versions that compare as `ord`.
    pub fn holds_for(self, ord: Ordering) -> bool {
        match self {
            CompareOp::Lt | CompareOp::LtNl => ord == Ordering::Less,
            CompareOp::Le | CompareOp::LeNl => ord != Ordering::Greater,
            CompareOp::Eq => ord == Ordering::Equal,
            CompareOp::Ne => ord != Ordering::Equal,
            CompareOp::Ge | CompareOp::GeNl => ord != Ordering::Less,
            CompareOp::Gt | CompareOp::GtNl => ord == Ordering::Greater,
        }
    }

    /// Whether `a OP b` holds, as `dpkg --compare-versions` decides it.
    /// `None` is a missing version (dpkg: an empty argument or
    /// `<unknown>`): the plain operators treat it as earlier than every
    /// version, the `-nl` ones as later; two missing versions are equal.
    /// Present versions are compared with [`compare`] (validate them first
    /// if you need dpkg's errors).
    pub fn holds(self, a: Option<&str>, b: Option<&str>) -> bool {
        let missing_is_later = matches!(
            self,
            CompareOp::LtNl | CompareOp::LeNl | CompareOp::GeNl | CompareOp::GtNl
        );
        let ord = match (a, b) {
            (Some(a), Some(b)) => compare(a, b),
            (None, None) => Ordering::Equal,
            (None, Some(_)) if missing_is_later => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) if missing_is_later => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        };
        self.holds_for(ord)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operator name `dpkg --compare-versions` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad relation '{0}': use one of lt le eq ne ge gt lt-nl le-nl ge-nl gt-nl \
     (or << <= = >= >>)"
)]
pub struct UnknownCompareOp(pub String);

impl FromStr for CompareOp {
    type Err = UnknownCompareOp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OP_NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|&(_, op)| op)
            .ok_or_else(|| UnknownCompareOp(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------
// Splitting.

/// Byte positions of a version's parts, as dpkg's `parseversion` splits it.
#[derive(Debug, Clone, Copy)]
struct Parts {
    epoch: u32,
    /// Upstream byte range.
    upstream: (usize, usize),
    /// Revision byte range (empty at the end of the upstream part when
    /// there is no revision).
    revision: (usize, usize),
    /// Whether the epoch text was something other than plain ASCII digits
    /// (a sign or leading whitespace that `strtol` skipped).
    epoch_unusual: bool,
    /// Whether dpkg stripped spaces or tabs around the version.
    trimmed: bool,
}

/// dpkg's `c_isblank`: the only characters dpkg trims and calls spaces.
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// C's `isspace` in the C locale: what `strtol` skips.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The result of C's `strtol(s, &end, 10)` as far as dpkg looks at it.
struct Strtol {
    /// Bytes consumed (0 when there were no digits, as `end == s` in C).
    end: usize,
    negative: bool,
    /// The magnitude, or `None` past `u64::MAX` (C reports ERANGE
    /// already past `LONG_MAX`; both are far above `INT_MAX`).
    magnitude: Option<u64>,
    /// Whether anything but digits was consumed (whitespace or a sign).
    unusual: bool,
}

fn strtol(s: &[u8]) -> Strtol {
    let mut i = s.iter().take_while(|&&c| is_c_space(c)).count();
    let mut negative = false;
    match s.get(i) {
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    let unusual = i > 0;
    let digits_start = i;
    let mut magnitude = Some(0u64);
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        magnitude = magnitude
            .and_then(|m| m.checked_mul(10))
            .and_then(|m| m.checked_add(u64::from(c - b'0')));
        i += 1;
    }
    if i == digits_start {
        return Strtol {
            end: 0,
            negative: false,
            magnitude: Some(0),
            unusual,
        };
    }
    Strtol {
        end: i,
        negative,
        magnitude,
        unusual,
    }
}

/// dpkg's `parseversion`: the split, or the first problem dpkg reports,
/// checked in dpkg's order. Warnings do not stop the split.
fn dpkg_parts(s: &[u8]) -> Result<(Parts, Option<VersionWarning>), VersionProblem> {
    let start = s.iter().take_while(|&&c| is_blank(c)).count();
    let rest = s.get(start..).unwrap_or_default();
    if rest.is_empty() {
        return Err(VersionProblem::Empty);
    }
    let token_len = rest.iter().take_while(|&&c| !is_blank(c)).count();
    if rest
        .get(token_len..)
        .unwrap_or_default()
        .iter()
        .any(|&c| !is_blank(c))
    {
        return Err(VersionProblem::EmbeddedSpaces);
    }
    let end = start + token_len;

    let mut epoch = 0u32;
    let mut epoch_unusual = false;
    let mut upstream_start = start;
    if let Some(colon) = memchr::memchr(b':', rest) {
        let parsed = strtol(rest);
        if parsed.end == 0 {
            return Err(VersionProblem::EpochEmpty);
        }
        if parsed.end != colon {
            return Err(VersionProblem::EpochNotNumber);
        }
        if parsed.negative && parsed.magnitude != Some(0) {
            return Err(VersionProblem::EpochNegative);
        }
        epoch = parsed
            .magnitude
            .and_then(|m| u32::try_from(m).ok())
            .filter(|&m| m <= i32::MAX as u32)
            .ok_or(VersionProblem::EpochTooBig)?;
        // dpkg looks at the untrimmed string here: "1: " passes this test
        // and fails the empty-upstream test below instead.
        if colon + 1 >= rest.len() {
            return Err(VersionProblem::NothingAfterColon);
        }
        epoch_unusual = parsed.unusual;
        upstream_start = start + colon + 1;
    }

    let version = s.get(upstream_start..end).unwrap_or_default();
    let (upstream_end, revision_start) = match memchr::memrchr(b'-', version) {
        Some(h) => {
            if h + 1 == version.len() {
                return Err(VersionProblem::RevisionEmpty);
            }
            (upstream_start + h, upstream_start + h + 1)
        }
        None => (end, end),
    };
    let upstream = s.get(upstream_start..upstream_end).unwrap_or_default();
    let revision = s.get(revision_start..end).unwrap_or_default();
    let Some(&first) = upstream.first() else {
        return Err(VersionProblem::UpstreamEmpty);
    };
    let warning = if !first.is_ascii_digit() {
        Some(VersionWarning::UpstreamNotStartingWithDigit)
    } else if !upstream
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'~' | b':'))
    {
        Some(VersionWarning::InvalidCharInUpstream)
    } else if !revision
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'~'))
    {
        Some(VersionWarning::InvalidCharInRevision)
    } else {
        None
    };
    let parts = Parts {
        epoch,
        upstream: (upstream_start, upstream_end),
        revision: (revision_start, end),
        epoch_unusual,
        trimmed: start > 0 || end < s.len(),
    };
    Ok((parts, warning))
}

/// [`dpkg_parts`] plus the strict rules of [`Version::parse`].
fn strict_parts(s: &[u8]) -> Result<Parts, VersionError> {
    let fail = |problem| VersionError::new(s, problem);
    let (parts, warning) = dpkg_parts(s).map_err(fail)?;
    if let Some(warning) = warning {
        return Err(fail(warning.problem()));
    }
    if parts.trimmed {
        return Err(fail(VersionProblem::SurroundingWhitespace));
    }
    if parts.epoch_unusual {
        return Err(fail(VersionProblem::EpochNotPlainDigits));
    }
    Ok(parts)
}

/// The split [`compare_bytes`] uses: dpkg's split without the checks. For
/// strings dpkg accepts it yields the same upstream and revision, and an
/// epoch text that is a plain digit run after `strtol`'s skippable prefix
/// is removed.
struct FastSplit<'a> {
    epoch: &'a [u8],
    upstream: &'a [u8],
    revision: &'a [u8],
}

impl<'a> FastSplit<'a> {
    #[inline]
    fn of(s: &'a [u8]) -> Self {
        let mut s = s;
        // Trim spaces and tabs like dpkg; real versions have none, so test
        // the ends before looping.
        if s.first().is_some_and(|&c| is_blank(c)) || s.last().is_some_and(|&c| is_blank(c)) {
            while let [first, rest @ ..] = s
                && is_blank(*first)
            {
                s = rest;
            }
            while let [rest @ .., last] = s
                && is_blank(*last)
            {
                s = rest;
            }
            let inner = s.iter().position(|&c| is_blank(c)).unwrap_or(s.len());
            s = s.get(..inner).unwrap_or_default();
        }
        let (mut epoch, version): (&[u8], &[u8]) = match memchr::memchr(b':', s) {
            Some(colon) => (
                s.get(..colon).unwrap_or_default(),
                s.get(colon + 1..).unwrap_or_default(),
            ),
            None => (&[], s),
        };
        if let Some(&c) = epoch.first()
            && !c.is_ascii_digit()
        {
            // strtol's optional whitespace and sign ("-0" is a valid epoch).
            let skip = epoch.iter().take_while(|&&c| is_c_space(c)).count();
            epoch = epoch.get(skip..).unwrap_or_default();
            if let Some((b'+' | b'-', digits)) = epoch.split_first() {
                epoch = digits;
            }
        }
        let (upstream, revision) = match memchr::memrchr(b'-', version) {
            Some(h) => (
                version.get(..h).unwrap_or_default(),
                version.get(h + 1..).unwrap_or_default(),
            ),
            None => (version, &[][..]),
        };
        FastSplit {
            epoch,
            upstream,
            revision,
        }
    }
}

// ---------------------------------------------------------------------------
// Comparison.

/// dpkg's `order()` for every byte: digits 0, letters their code, `~` -1,
/// anything else its (signed, as on amd64) code plus 256. The end of the
/// string is also 0. NUL, which dpkg never sees inside a string, gets 256
/// like other punctuation, so every non-digit byte has a non-zero order.
static ORDER: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut c = 0usize;
    while c < 256 {
        let byte = c as u8;
        table[c] = if byte.is_ascii_digit() {
            0
        } else if byte.is_ascii_alphabetic() {
            byte as i16
        } else if byte == b'~' {
            -1
        } else {
            (byte as i8) as i16 + 256
        };
        c += 1;
    }
    table
};

#[inline(always)]
fn order_at(s: &[u8], i: usize) -> i16 {
    match s.get(i) {
        Some(&c) => ORDER[usize::from(c)],
        None => 0,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit runs (compared byte by byte
/// by [`ORDER`], the end counting as 0) and digit runs (compared as
/// numbers of any length).
#[inline]
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    // Skip the common prefix, backing up to the start of a digit run that
    // straddles its end: up to there dpkg walks both strings in lockstep
    // and finds nothing, so starting later changes nothing.
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if common == a.len() && common == b.len() {
        return Ordering::Equal;
    }
    let prefix = a.get(..common).unwrap_or_default();
    let digits_before = prefix
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let mut i = common - digits_before;
    let mut j = i;
    loop {
        loop {
            let oa = order_at(a, i);
            let ob = order_at(b, j);
            if oa == 0 && ob == 0 {
                break;
            }
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let da = i;
        while a.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let db = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let run_a = a.get(da..i).unwrap_or_default();
        let run_b = b.get(db..j).unwrap_or_default();
        let ord = run_a.len().cmp(&run_b.len()).then_with(|| run_a.cmp(run_b));
        if ord != Ordering::Equal {
            return ord;
        }
        if i >= a.len() && j >= b.len() {
            return Ordering::Equal;
        }
    }
}

/// Feeds `state` a canonical form of `s` under [`verrevcmp`]: the sequence
/// of (non-digit run, digit run without leading zeros) pairs. Two strings
/// are verrevcmp-equal exactly when these sequences are equal (`""` and
/// `"0"` both give one pair of empty runs; `"a"` and `"a00"` agree too).
fn hash_verrev<H: Hasher>(s: &[u8], state: &mut H) {
    let mut rest = s;
    loop {
        let letters = rest.iter().take_while(|c| !c.is_ascii_digit()).count();
        let (run, after) = rest.split_at(letters);
        let zeros = after.iter().take_while(|&&c| c == b'0').count();
        let after = after.get(zeros..).unwrap_or_default();
        let digits = after.iter().take_while(|c| c.is_ascii_digit()).count();
        let (number, after) = after.split_at(digits);
        state.write_usize(run.len());
        state.write(run);
        state.write_usize(number.len());
        state.write(number);
        if after.is_empty() {
            break;
        }
        rest = after;
    }
    state.write_u8(0xff);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn hash_of(s: &str) -> u64 {
        let mut h = DefaultHasher::new();
        v(s).hash(&mut h);
        h.finish()
    }

    /// Checks `a < b` through every path: fast compare (both ways), parsed
    /// `Ord`, and the operators.
    fn assert_lt(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
        assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        assert!(v(a) < v(b), "parsed {a} < {b}");
        assert!(CompareOp::Lt.holds(Some(a), Some(b)));
        assert!(!CompareOp::Ge.holds(Some(a), Some(b)));
    }

    fn assert_same(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ordering::Equal, "{a} == {b}");
        assert_eq!(compare(b, a), Ordering::Equal, "{b} == {a}");
        assert_eq!(v(a), v(b));
        assert_eq!(hash_of(a), hash_of(b), "hash {a} vs {b}");
    }

    #[test]
    fn parts() {
        let x = v("1:2.30-4+deb12u1");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (1, "2.30", "4+deb12u1")
        );
        let x = v("2.30");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (0, "2.30", ""));
        // Upstream may hold hyphens and (with an epoch) colons; the revision
        // starts after the last hyphen.
        let x = v("3:1.2-rc1:x-7-1");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (3, "1.2-rc1:x-7", "1")
        );
        assert_eq!(x.as_str(), "3:1.2-rc1:x-7-1");
        assert_eq!(x.to_string(), "3:1.2-rc1:x-7-1");
        assert_eq!("1.0".parse::<Version>().unwrap().upstream(), "1.0");
        assert_eq!(v("2147483647:1").epoch(), 2_147_483_647);
        assert_eq!(v("007:1").epoch(), 7);
    }

    #[test]
    fn tildes() {
        assert_lt("1.0~rc1", "1.0");
        assert_lt("1.0~~", "1.0~");
        assert_lt("1.0~~a", "1.0~");
        assert_lt("1.0~", "1.0");
        assert_lt("1.0~rc1", "1.0~rc2");
        assert_lt("1.0~rc1-1", "1.0-1");
        assert_lt("1.0-1~bpo12+1", "1.0-1");
        assert_lt("1.0", "1.0+b1");
        assert_lt("2.36-9+deb12u3", "2.36-9+deb12u10");
        assert_lt("1.0-1~", "1.0-1");
        assert_lt("1~", "1");
    }

    #[test]
    fn epochs() {
        assert_lt("9.9", "1:0.1");
        assert_lt("1:9", "2:0");
        assert_same("0:1.0", "1.0");
        assert_same("00:1.0", "1.0");
        assert_same("01:1.0", "1:1.0");
        assert_lt("2:1", "10:1");
        assert_lt("2147483646:1", "2147483647:1");
    }

    #[test]
    fn leading_zeros_and_long_digit_runs() {
        assert_same("1.010", "1.10");
        assert_same("1.0010-01", "1.10-1");
        assert_lt("1.9", "1.10");
        assert_lt("1.09", "1.10");
        let thirty = "123456789012345678901234567890";
        let thirty_plus = "123456789012345678901234567891";
        assert_lt(thirty, thirty_plus);
        assert_lt(&format!("1.{thirty}"), &format!("1.{thirty_plus}"));
        assert_lt(&format!("1.{thirty}"), &format!("1.1{thirty}"));
        assert_same(&format!("1.{thirty}"), &format!("1.0000{thirty}"));
        assert_lt(
            &format!("1.{}", "9".repeat(40)),
            &format!("1.1{}", "0".repeat(40)),
        );
        assert_lt(&format!("1:{}", "9".repeat(40)), "2:0");
    }

    #[test]
    fn revisions() {
        assert_same("1.0", "1.0-0");
        assert_same("1.0-0", "1.0-00");
        assert_lt("1.0", "1.0-1");
        assert_lt("1.0-1", "1.0-1.1");
        assert_lt("1.0-1", "1.0-1+b1");
        assert_lt("1.0-1+b1", "1.0-1.1");
        assert_lt("1.0-9", "1.0-10");
        assert_lt("1.0-a", "1.0-b");
        assert_lt("1.0-0", "1.0-a");
        assert_lt("1.0-1", "1.0-a");
        assert_lt("1.0-1-1", "1.0-1-2");
        // The hyphen split is on the last hyphen: "1.0-1" + "2" vs "1.0" + "1-3".
        assert_lt("1.0-1-2", "1.0-2-1");
    }

    #[test]
    fn letters_and_punctuation() {
        assert_lt("1.0", "1.0+");
        assert_same("1.0+", "1.0+0");
        assert_lt("1.0+", "1.0+1");
        assert_lt("1.0", "1.0a");
        assert_lt("1.0a", "1.0+");
        assert_lt("1.0a", "1.0b");
        assert_lt("1.0Z", "1.0a");
        assert_lt("1.0+", "1.0.");
        assert_lt("1.0", "1.0.0");
        assert_same("1.0a", "1.0a0");
        assert_same("1.", "1.0");
        assert_lt("1a", "1a1");
        assert_lt("1.0a1", "1.0b");
        assert_lt("1:2", "1:2:0");
    }

    #[test]
    fn high_bytes_order_like_dpkg_on_amd64() {
        // dpkg (signed char): letters < bytes >= 0x80 < other punctuation.
        // Verified with dpkg 1.21.22: "1.0\xc3" gt "1.0z" and lt "1.0+".
        assert_eq!(compare_bytes(b"1.0\xc3", b"1.0z"), Ordering::Greater);
        assert_eq!(compare_bytes(b"1.0\xc3", b"1.0+"), Ordering::Less);
        assert_eq!(compare_bytes(b"1.0\x80", b"1.0\xff"), Ordering::Less);
        assert_eq!(compare_bytes(b"1.0\x00", b"1.0"), Ordering::Greater);
    }

    #[test]
    fn whitespace_is_trimmed_by_the_dpkg_paths() {
        assert_eq!(compare(" 1.0\t", "1.0"), Ordering::Equal);
        assert_eq!(compare("\t1.1", "1.0  "), Ordering::Greater);
        assert_eq!(parse_like_dpkg(" 1.0 "), Ok(None));
        assert_eq!(
            Version::parse(" 1.0").unwrap_err().problem(),
            VersionProblem::SurroundingWhitespace
        );
        // "\r" is not blank for dpkg: it is an invalid character.
        assert_eq!(
            parse_like_dpkg("1.0\r"),
            Ok(Some(VersionWarning::InvalidCharInUpstream))
        );
        assert_eq!(compare("1.0\r", "1.0"), Ordering::Greater);
    }

    #[test]
    fn dpkg_errors() {
        let cases = [
            ("", VersionProblem::Empty),
            (" \t", VersionProblem::Empty),
            ("1 0", VersionProblem::EmbeddedSpaces),
            ("1.0 -1", VersionProblem::EmbeddedSpaces),
            (":1", VersionProblem::EpochEmpty),
            ("a:1", VersionProblem::EpochEmpty),
            ("+:1", VersionProblem::EpochEmpty),
            ("1a:1", VersionProblem::EpochNotNumber),
            ("1-2:3", VersionProblem::EpochNotNumber),
            ("1.0-1:2", VersionProblem::EpochNotNumber),
            ("-1:1", VersionProblem::EpochNegative),
            ("-99999999999999999999999:1", VersionProblem::EpochNegative),
            ("2147483648:1", VersionProblem::EpochTooBig),
            ("99999999999999999999999:1", VersionProblem::EpochTooBig),
            ("1:", VersionProblem::NothingAfterColon),
            ("1: ", VersionProblem::UpstreamEmpty),
            ("-1", VersionProblem::UpstreamEmpty),
            ("1:-1", VersionProblem::UpstreamEmpty),
            ("1.0-", VersionProblem::RevisionEmpty),
            ("1.0-1-", VersionProblem::RevisionEmpty),
        ];
        for (s, problem) in cases {
            let err = parse_like_dpkg(s).unwrap_err();
            assert_eq!(err.problem(), problem, "{s:?}");
            assert_eq!(err.version(), s);
            assert!(err.problem().as_dpkg_warning().is_none());
            assert_eq!(Version::parse(s).unwrap_err().problem(), problem, "{s:?}");
            assert!(validate(s).is_err());
        }
        assert_eq!(
            parse_like_dpkg("1:").unwrap_err().to_string(),
            "version '1:' has bad syntax: nothing after colon in version number"
        );
    }

    #[test]
    fn dpkg_warnings_are_strict_errors() {
        let cases = [
            ("a1", VersionWarning::UpstreamNotStartingWithDigit),
            ("~1", VersionWarning::UpstreamNotStartingWithDigit),
            ("1:a1", VersionWarning::UpstreamNotStartingWithDigit),
            ("1_0", VersionWarning::InvalidCharInUpstream),
            ("1.0\u{e9}", VersionWarning::InvalidCharInUpstream),
            ("1.0-a_b", VersionWarning::InvalidCharInRevision),
            ("1:1.0-1:2", VersionWarning::InvalidCharInRevision),
            // The first problem wins, in dpkg's order.
            ("a_1-b_1", VersionWarning::UpstreamNotStartingWithDigit),
        ];
        for (s, warning) in cases {
            assert_eq!(parse_like_dpkg(s), Ok(Some(warning)), "{s:?}");
            let err = Version::parse(s).unwrap_err();
            assert_eq!(err.problem(), warning.problem(), "{s:?}");
            assert_eq!(err.problem().as_dpkg_warning(), Some(warning));
        }
    }

    #[test]
    fn dpkg_accepts_odd_epochs_that_strict_refuses() {
        for s in ["+1:0", "-0:1", "\n1:0", " +2:1"] {
            assert_eq!(parse_like_dpkg(s), Ok(None), "{s:?}");
            assert!(Version::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(compare("+1:0", "1:0"), Ordering::Equal);
        assert_eq!(compare("-0:1", "1"), Ordering::Equal);
        assert_eq!(compare("\n2:0", "1:9"), Ordering::Greater);
        // Colons after the epoch are fine in the upstream part.
        assert_eq!(parse_like_dpkg("1:2:3"), Ok(None));
        assert_eq!(v("1:2:3").upstream(), "2:3");
    }

    #[test]
    fn hash_agrees_with_eq() {
        let groups: [&[&str]; 4] = [
            &["1.0", "1.0-0", "0:1.0", "1.00", "01.0-00", "1.0-"],
            &["1.0a", "1.0a0", "1.0a00-0"],
            &["2:1.2-3", "02:1.02-03"],
            &["1.", "1.0"],
        ];
        for group in groups {
            let valid: Vec<&str> = group
                .iter()
                .copied()
                .filter(|s| validate(s).is_ok())
                .collect();
            for pair in valid.windows(2) {
                assert_same(pair[0], pair[1]);
            }
        }
        assert_ne!(v("1"), v("1.0.0"));
        assert_ne!(hash_of("1.0"), hash_of("1.0.1"));
    }

    #[test]
    fn operators() {
        use CompareOp::*;
        for (name, op) in OP_NAMES {
            assert_eq!(name.parse::<CompareOp>(), Ok(op));
        }
        assert_eq!("<".parse::<CompareOp>(), Ok(Le));
        assert_eq!(">".parse::<CompareOp>(), Ok(Ge));
        assert!(CompareOp::is_obsolete_spelling("<"));
        assert!(!CompareOp::is_obsolete_spelling("<<"));
        assert!("lte".parse::<CompareOp>().is_err());
        assert_eq!(LeNl.to_string(), "le-nl");
        let ops = [Lt, Le, Eq, Ne, Ge, Gt, LtNl, LeNl, GeNl, GtNl];
        // (a < b, a == b, a > b)
        let expect = [
            (true, false, false),
            (true, true, false),
            (false, true, false),
            (true, false, true),
            (false, true, true),
            (false, false, true),
            (true, false, false),
            (true, true, false),
            (false, true, true),
            (false, false, true),
        ];
        for (op, (lt, eq, gt)) in ops.into_iter().zip(expect) {
            assert_eq!(op.holds(Some("1"), Some("2")), lt, "{op} lt");
            assert_eq!(op.holds(Some("1.0"), Some("1.0-0")), eq, "{op} eq");
            assert_eq!(op.holds(Some("2"), Some("1")), gt, "{op} gt");
        }
        // Missing versions: earlier than all for plain operators, later than
        // all for -nl ones (dpkg's table, checked against dpkg in the CLI test).
        assert!(Lt.holds(None, Some("0")));
        assert!(!LtNl.holds(None, Some("0")));
        assert!(LtNl.holds(Some("0"), None));
        assert!(Gt.holds(Some("0"), None));
        assert!(GtNl.holds(None, Some("9")));
        assert!(Eq.holds(None, None));
        assert!(LeNl.holds(None, None) && GeNl.holds(None, None));
        assert!(!LtNl.holds(None, None) && !Ne.holds(None, None));
    }

    #[test]
    fn sorting_is_consistent_on_garbage() {
        // compare must be a total order even on strings dpkg refuses.
        let strs = [
            "",
            "1",
            "1:",
            ":",
            "a:b",
            "-",
            "--",
            "1-",
            "1.0-1",
            "~",
            "~~",
            "1 2",
            " ",
            "0",
            "00",
            "1:1",
            "+1:1",
            "-0:1",
            "x",
            "1.0\u{e9}",
            "\0",
            "9:9-9",
            "a-b:c",
        ];
        for a in strs {
            assert_eq!(compare(a, a), Ordering::Equal, "{a:?}");
            for b in strs {
                assert_eq!(compare(a, b), compare(b, a).reverse(), "{a:?} {b:?}");
                for c in strs {
                    if compare(a, b) != Ordering::Greater && compare(b, c) != Ordering::Greater {
                        assert_ne!(compare(a, c), Ordering::Greater, "{a:?} {b:?} {c:?}");
                    }
                }
            }
        }
        let mut sorted = strs.to_vec();
        sorted.sort_by(|a, b| compare(a, b));
    }

    #[test]
    fn prefix_skip_matches_plain_walk() {
        // The common-prefix shortcut must not change any result; compare it
        // with a shortcut-free walk on pairs sharing long prefixes.
        fn plain(a: &[u8], b: &[u8]) -> Ordering {
            let (mut i, mut j) = (0, 0);
            loop {
                while order_at(a, i) != 0 || order_at(b, j) != 0 {
                    let (x, y) = (order_at(a, i), order_at(b, j));
                    if x != y {
                        return x.cmp(&y);
                    }
                    i += 1;
                    j += 1;
                }
                while a.get(i) == Some(&b'0') {
                    i += 1;
                }
                while b.get(j) == Some(&b'0') {
                    j += 1;
                }
                let mut first_diff = Ordering::Equal;
                while a.get(i).is_some_and(u8::is_ascii_digit)
                    && b.get(j).is_some_and(u8::is_ascii_digit)
                {
                    if first_diff == Ordering::Equal {
                        first_diff = a[i].cmp(&b[j]);
                    }
                    i += 1;
                    j += 1;
                }
                if a.get(i).is_some_and(u8::is_ascii_digit) {
                    return Ordering::Greater;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    return Ordering::Less;
                }
                if first_diff != Ordering::Equal {
                    return first_diff;
                }
                if i >= a.len() && j >= b.len() {
                    return Ordering::Equal;
                }
            }
        }
        let parts = [
            "", "0", "00", "1", "10", "9", "a", "~", ".", "+", "b1", "~a",
        ];
        let mut strings = Vec::new();
        for x in parts {
            for y in parts {
                for z in parts {
                    strings.push(format!("1.0{x}{y}{z}"));
                }
            }
        }
        for a in &strings {
            for b in strings.iter().step_by(7) {
                assert_eq!(
                    verrevcmp(a.as_bytes(), b.as_bytes()),
                    plain(a.as_bytes(), b.as_bytes()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
}
