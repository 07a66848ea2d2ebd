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
        // The text is valid, so the fast string comparison is dpkg's order
        // (and faster than comparing the stored parts one by one).
        compare_bytes(self.text.as_bytes(), other.text.as_bytes())
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
    let common = common_prefix(a, b);
    if common == a.len() && common == b.len() {
        return Ordering::Equal;
    }
    if !is_quick(a) || !is_quick(b) {
        return compare_split(a, b);
    }
    // Both start with a digit run. An epoch is that run followed by ':'
    // (see `quick_version_start`).
    let run_a = leading_digits(a);
    if common > run_a {
        // Same leading run and same next byte: the same epoch text (or
        // none) on both sides.
        let start = if a.get(run_a) == Some(&b':') {
            run_a + 1
        } else {
            0
        };
        return compare_versions_from(
            a.get(start..).unwrap_or_default(),
            b.get(start..).unwrap_or_default(),
            common - start,
        );
    }
    let run_b = leading_digits(b);
    let colon_a = a.get(run_a) == Some(&b':');
    let colon_b = b.get(run_b) == Some(&b':');
    if colon_a || colon_b {
        let epoch_a = if colon_a { a.get(..run_a) } else { None };
        let epoch_b = if colon_b { b.get(..run_b) } else { None };
        let ord = verrevcmp(epoch_a.unwrap_or_default(), epoch_b.unwrap_or_default());
        if ord != Ordering::Equal {
            return ord;
        }
        let va = if colon_a { a.get(run_a + 1..) } else { Some(a) };
        let vb = if colon_b { b.get(run_b + 1..) } else { Some(b) };
        let (va, vb) = (va.unwrap_or_default(), vb.unwrap_or_default());
        return compare_versions_from(va, vb, common_prefix(va, vb));
    }
    // No epochs, and the leading runs differ or one string ends there.
    // Without leading zeros the longer run is the larger number, and equal
    // lengths are decided by the first differing digit (at `common`).
    if a.first() != Some(&b'0') && b.first() != Some(&b'0') {
        if run_a != run_b {
            return run_a.cmp(&run_b);
        }
        if common < run_a {
            return a.get(common).cmp(&b.get(common));
        }
        // Equal leading runs; the walk goes on right after them.
        return walk_upstreams(a, b, run_a);
    }
    walk_upstreams(a, b, 0)
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

    /// Whether this operator treats a missing version as later than every
    /// version (the `-nl` ones) rather than earlier.
    pub fn missing_is_later(self) -> bool {
        matches!(
            self,
            CompareOp::LtNl | CompareOp::LeNl | CompareOp::GeNl | CompareOp::GtNl
        )
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
        let missing_is_later = self.missing_is_later();
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

/// Byte classes for [`dpkg_parts`]' scans.
const BLANK: u8 = 1;
const COLON: u8 = 2;
/// Allowed in the upstream part: `[A-Za-z0-9.+~:-]`.
const UPSTREAM_OK: u8 = 4;
/// Allowed in the revision: `[A-Za-z0-9.+~]`.
const REVISION_OK: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let byte = c as u8;
        let mut class = 0;
        if byte == b' ' || byte == b'\t' {
            class |= BLANK;
        }
        if byte == b':' {
            class |= COLON;
        }
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'+' | b'~') {
            class |= UPSTREAM_OK | REVISION_OK;
        }
        if matches!(byte, b':' | b'-') {
            class |= UPSTREAM_OK;
        }
        table[c] = class;
        c += 1;
    }
    table
};

/// The class bits of `c` (see [`CLASS`]).
#[inline(always)]
fn class(c: u8) -> u8 {
    CLASS[usize::from(c)]
}

/// dpkg's `parseversion`: the split, or the first problem dpkg reports,
/// checked in dpkg's order. Warnings do not stop the split.
fn dpkg_parts(s: &[u8]) -> Result<(Parts, Option<VersionWarning>), VersionProblem> {
    // One pass for blanks and the first colon; real versions have no
    // blanks, so trimming is the exception.
    let first_blank = s.iter().position(|&c| class(c) & BLANK != 0);
    let (start, end) = match first_blank {
        None => (0, s.len()),
        Some(_) => {
            let start = s.iter().take_while(|&&c| is_blank(c)).count();
            let rest = s.get(start..).unwrap_or_default();
            let token_len = rest.iter().take_while(|&&c| !is_blank(c)).count();
            if rest
                .get(token_len..)
                .unwrap_or_default()
                .iter()
                .any(|&c| !is_blank(c))
            {
                return Err(VersionProblem::EmbeddedSpaces);
            }
            (start, start + token_len)
        }
    };
    // Everything after `start`, trailing blanks included (as dpkg sees it).
    let rest = s.get(start..).unwrap_or_default();
    if start == end {
        return Err(VersionProblem::Empty);
    }

    let mut epoch = 0u32;
    let mut epoch_unusual = false;
    let mut upstream_start = start;
    if let Some(colon) = rest.iter().position(|&c| class(c) & COLON != 0) {
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
    let (upstream_end, revision_start) = match last_hyphen(version) {
        Some(h) => {
            if h + 1 == version.len() {
                return Err(VersionProblem::RevisionEmpty);
            }
            (upstream_start + h, upstream_start + h + 1)
        }
        None => (end, end),
    };
    let upstream_len = upstream_end - upstream_start;
    let Some(&first) = version.first().filter(|_| upstream_len > 0) else {
        return Err(VersionProblem::UpstreamEmpty);
    };
    // One pass over the version part: the first byte not allowed in an
    // upstream part, and the last one not allowed in a revision (the
    // revision is clean exactly when that is the separating hyphen, or
    // there is no revision).
    let mut first_bad_upstream = usize::MAX;
    let mut last_bad_revision = None;
    for (i, &c) in version.iter().enumerate() {
        let class = class(c);
        if class & UPSTREAM_OK == 0 && first_bad_upstream == usize::MAX {
            first_bad_upstream = i;
        }
        if class & REVISION_OK == 0 {
            last_bad_revision = Some(i);
        }
    }
    let warning = if !first.is_ascii_digit() {
        Some(VersionWarning::UpstreamNotStartingWithDigit)
    } else if first_bad_upstream < upstream_len {
        Some(VersionWarning::InvalidCharInUpstream)
    } else if revision_start < end
        && last_bad_revision.is_some_and(|i| upstream_start + i >= revision_start)
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

// ---------------------------------------------------------------------------
// Fast comparison: the machinery behind `compare_bytes`.

/// Whether [`compare_bytes`] may split `s` quickly (see
/// [`quick_version_start`]).
#[inline(always)]
fn is_quick(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_digit) && !s.last().is_some_and(|&c| is_blank(c))
}

/// Where the version part (after the epoch's colon) starts, for the strings
/// [`compare_bytes`] splits quickly: those starting with a digit and not
/// ending with a blank. A string dpkg accepts that starts with a digit has
/// its colon, if any, right after the leading digits (else `strtol` stops
/// early and dpkg refuses it), so no scan for a colon is needed. `None`
/// sends the string down dpkg's general path ([`compare_split`]).
#[inline(always)]
fn quick_version_start(s: &[u8]) -> Option<usize> {
    if !is_quick(s) {
        return None;
    }
    let digits = leading_digits(s);
    Some(if s.get(digits) == Some(&b':') {
        digits + 1
    } else {
        0
    })
}

/// The number of ASCII digits `s` starts with.
#[inline(always)]
fn leading_digits(s: &[u8]) -> usize {
    s.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// [`compare_bytes`] for strings outside the quick path: dpkg's general
/// split of both, then the three parts in turn.
#[cold]
#[inline(never)]
fn compare_split(a: &[u8], b: &[u8]) -> Ordering {
    fn part(s: &[u8], (start, end): (usize, usize)) -> &[u8] {
        s.get(start..end).unwrap_or_default()
    }
    let sa = FastSplit::of(a);
    let sb = FastSplit::of(b);
    verrevcmp(part(a, sa.epoch), part(b, sb.epoch))
        .then_with(|| verrevcmp(part(a, sa.upstream), part(b, sb.upstream)))
        .then_with(|| verrevcmp(part(a, sa.revision), part(b, sb.revision)))
}

/// Compares two version parts (`upstream[-revision]`, epoch removed) whose
/// first `known` bytes are equal, finding each upstream's end (the last
/// hyphen) only when the comparison gets there.
#[inline(always)]
fn compare_versions_from(va: &[u8], vb: &[u8], known: usize) -> Ordering {
    if known == va.len() && known == vb.len() {
        return Ordering::Equal;
    }
    let mut p = known;
    while p > 0 && va.get(p - 1).is_some_and(u8::is_ascii_digit) {
        p -= 1;
    }
    let prefix = va.get(..p).unwrap_or_default();
    if let Some(hp) = last_hyphen(prefix) {
        // The shared prefix holds a hyphen (same package, same upstream,
        // typically): find both upstream ends now; the rests are short.
        let end_of = |v: &[u8]| last_hyphen(v.get(p..).unwrap_or_default()).map_or(hp, |h| p + h);
        let (ha, hb) = (end_of(va), end_of(vb));
        let upstream_a = va.get(..ha).unwrap_or_default();
        let upstream_b = vb.get(..hb).unwrap_or_default();
        let ord = verrevcmp_known(upstream_a, upstream_b, Some(known.min(ha).min(hb)));
        if ord != Ordering::Equal {
            return ord;
        }
        let revision_a = va.get(ha + 1..).unwrap_or_default();
        let revision_b = vb.get(hb + 1..).unwrap_or_default();
        let known_revision = (ha == hb).then(|| known.saturating_sub(ha + 1));
        return verrevcmp_known(revision_a, revision_b, known_revision);
    }
    walk_upstreams(va, vb, p)
}

/// Whether the hyphen at `i` is the last one of `s`.
#[inline(always)]
fn is_last_hyphen(s: &[u8], i: usize) -> bool {
    s.get(i + 1..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c != b'-')
}

/// verrevcmp of the upstream parts of `va` and `vb`, then of their
/// revisions, starting at `start` (the start of a run; everything before is
/// equal and holds no hyphen). Each upstream ends at its last hyphen, which
/// is recognised when the walk reaches a hyphen; until then the upstreams
/// are taken to run to the end, which is right because no hyphen lies
/// between the walk and that end.
#[inline(always)]
fn walk_upstreams(va: &[u8], vb: &[u8], start: usize) -> Ordering {
    let (mut ua, mut ub) = (va, vb);
    let (mut i, mut j) = (start, start);
    const HYPHEN: usize = b'-' as usize;
    loop {
        loop {
            let mut ca = at(ua, i);
            let mut cb = at(ub, j);
            if ca == HYPHEN && is_last_hyphen(va, i) {
                ua = va.get(..i).unwrap_or_default();
                ca = END;
            }
            if cb == HYPHEN && is_last_hyphen(vb, j) {
                ub = vb.get(..j).unwrap_or_default();
                cb = END;
            }
            let oa = ORDER[ca];
            let ob = ORDER[cb];
            if oa != ob {
                return oa.cmp(&ob);
            }
            if oa == 0 {
                break;
            }
            i += 1;
            j += 1;
        }
        while ua.get(i) == Some(&b'0') {
            i += 1;
        }
        while ub.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        loop {
            let ca = at(ua, i);
            let cb = at(ub, j);
            match (is_digit_at(ca), is_digit_at(cb)) {
                (true, true) => {
                    if first_diff == Ordering::Equal {
                        first_diff = ca.cmp(&cb);
                    }
                    i += 1;
                    j += 1;
                }
                (true, false) => return Ordering::Greater,
                (false, true) => return Ordering::Less,
                (false, false) => break,
            }
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
        if i >= ua.len() && j >= ub.len() {
            break;
        }
    }
    // Equal upstreams: the revisions decide (empty when there is no hyphen).
    verrevcmp(
        va.get(ua.len() + 1..).unwrap_or_default(),
        vb.get(ub.len() + 1..).unwrap_or_default(),
    )
}

/// The split [`compare_bytes`] uses, as byte ranges of the original
/// string. For every string dpkg accepts it is dpkg's split (the epoch
/// range then holds the digits `strtol` read). Other strings get some
/// fixed split, which keeps the order consistent.
///
/// Strings starting with a digit and not ending with a blank take the
/// quick rule of [`quick_version_start`]; the rest (a sign, whitespace:
/// rare, but possibly valid) take dpkg's general path.
struct FastSplit {
    epoch: (usize, usize),
    upstream: (usize, usize),
    revision: (usize, usize),
}

impl FastSplit {
    fn of(s: &[u8]) -> Self {
        match quick_version_start(s) {
            Some(start) => {
                let epoch = (0, start.saturating_sub(1));
                Self::with_version(s, epoch, start, s.len())
            }
            None => Self::slow(s),
        }
    }

    /// Upstream and revision of `s[start..end]`, split at its last hyphen.
    fn with_version(s: &[u8], epoch: (usize, usize), start: usize, end: usize) -> Self {
        let version = s.get(start..end).unwrap_or_default();
        match last_hyphen(version) {
            Some(h) => FastSplit {
                epoch,
                upstream: (start, start + h),
                revision: (start + h + 1, end),
            },
            None => FastSplit {
                epoch,
                upstream: (start, end),
                revision: (end, end),
            },
        }
    }

    /// dpkg's own order of work: trim blanks (cutting at an embedded one,
    /// which dpkg refuses), first colon, `strtol`'s whitespace and sign.
    fn slow(s: &[u8]) -> Self {
        let start = s.iter().take_while(|&&c| is_blank(c)).count();
        let rest = s.get(start..).unwrap_or_default();
        let end = start + rest.iter().take_while(|&&c| !is_blank(c)).count();
        let token = s.get(start..end).unwrap_or_default();
        match token.iter().position(|&c| c == b':') {
            Some(colon) => {
                let epoch_text = token.get(..colon).unwrap_or_default();
                let mut skip = epoch_text.iter().take_while(|&&c| is_c_space(c)).count();
                if matches!(epoch_text.get(skip), Some(b'+' | b'-')) {
                    skip += 1;
                }
                let epoch = ((start + skip).min(start + colon), start + colon);
                Self::with_version(s, epoch, start + colon + 1, end)
            }
            None => Self::with_version(s, (start, start), start, end),
        }
    }
}

/// The position of the last `-` in `s`, eight bytes at a time from the end
/// (revisions are short, so this usually reads one word).
#[inline(always)]
fn last_hyphen(s: &[u8]) -> Option<usize> {
    let mut end = s.len();
    while end >= 8 {
        let word = s
            .get(..end)
            .and_then(|t| t.last_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w));
        let m = byte_mask(word, b'-');
        if m != 0 {
            return Some(end - 8 + 7 - (m.leading_zeros() / 8) as usize);
        }
        end -= 8;
    }
    s.get(..end)
        .unwrap_or_default()
        .iter()
        .rposition(|&c| c == b'-')
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of `word` that equals `byte` (exact: no
/// carries cross byte boundaries).
#[inline(always)]
fn byte_mask(word: u64, byte: u8) -> u64 {
    let v = word ^ (ONES * u64::from(byte));
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let word = |s: &[u8], i: usize| {
        s.get(i..)
            .and_then(|t| t.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w))
    };
    if n < 8 {
        return a.iter().zip(b).take_while(|(x, y)| x == y).count();
    }
    let mut i = 0;
    while i + 8 <= n {
        let diff = word(a, i) ^ word(b, i);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i == n {
        return n;
    }
    // The last 8 bytes of the shorter length, overlapping checked ones
    // (equal, so the first difference is still the right one).
    let diff = word(a, n - 8) ^ word(b, n - 8);
    if diff != 0 {
        n - 8 + (diff.trailing_zeros() / 8) as usize
    } else {
        n
    }
}

// ---------------------------------------------------------------------------
// dpkg's verrevcmp, and the hash that agrees with it.

/// Stands for the end of a string in [`ORDER`] lookups.
const END: usize = 256;

/// dpkg's `order()` for every byte, plus [`END`]: digits 0, letters their
/// code, `~` -1, anything else its (signed, as on amd64) code plus 256; the
/// end of the string also 0. NUL, which dpkg never sees inside a string,
/// gets 256 like other punctuation, so every non-digit byte has a non-zero
/// order, and distinct non-digit bytes have distinct orders.
static ORDER: [i16; 257] = {
    let mut table = [0i16; 257];
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

/// The byte at `i`, or [`END`] past the end: always a valid [`ORDER`] index.
#[inline(always)]
fn at(s: &[u8], i: usize) -> usize {
    s.get(i).map_or(END, |&c| usize::from(c))
}

/// Whether an [`at`] value is an ASCII digit ([`END`] is not).
#[inline(always)]
fn is_digit_at(c: usize) -> bool {
    c.wrapping_sub(usize::from(b'0')) < 10
}

/// dpkg's `verrevcmp`: alternating non-digit runs (compared byte by byte
/// by [`ORDER`], the end counting as 0) and digit runs (compared as
/// numbers of any length: leading zeros skipped, then the longer run wins,
/// then the first differing digit).
#[inline]
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    verrevcmp_known(a, b, None)
}

/// [`verrevcmp`] given a lower bound of the length of the common prefix of
/// `a` and `b`, if the caller knows one (`None`: compute it).
#[inline(always)]
fn verrevcmp_known(a: &[u8], b: &[u8], common: Option<usize>) -> Ordering {
    // Skip the common prefix, backing up to the start of a digit run that
    // straddles its end: up to there dpkg walks both strings in lockstep
    // and finds nothing, so starting later changes nothing.
    let common = common.unwrap_or_else(|| common_prefix(a, b));
    if common == a.len() && common == b.len() {
        return Ordering::Equal;
    }
    let mut i = common;
    while i > 0 && a.get(i - 1).is_some_and(u8::is_ascii_digit) {
        i -= 1;
    }
    let mut j = i;
    loop {
        // Non-digit run: both orders are 0 only when both sides are at a
        // digit or at the end.
        loop {
            let oa = ORDER[at(a, i)];
            let ob = ORDER[at(b, j)];
            if oa != ob {
                return oa.cmp(&ob);
            }
            if oa == 0 {
                break;
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
        // Digit run: the first difference decides unless one run is longer.
        let mut first_diff = Ordering::Equal;
        loop {
            let ca = at(a, i);
            let cb = at(b, j);
            match (is_digit_at(ca), is_digit_at(cb)) {
                (true, true) => {
                    if first_diff == Ordering::Equal {
                        first_diff = ca.cmp(&cb);
                    }
                    i += 1;
                    j += 1;
                }
                (true, false) => return Ordering::Greater,
                (false, true) => return Ordering::Less,
                (false, false) => break,
            }
        }
        if first_diff != Ordering::Equal {
            return first_diff;
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
        let (run, after) = rest.split_at_checked(letters).unwrap_or((rest, &[]));
        let zeros = after.iter().take_while(|&&c| c == b'0').count();
        let after = after.get(zeros..).unwrap_or_default();
        let digits = after.iter().take_while(|c| c.is_ascii_digit()).count();
        let (number, after) = after.split_at_checked(digits).unwrap_or((after, &[]));
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

    /// dpkg's verrevcmp written as plainly as possible (no prefix skip, no
    /// tables), as the reference for the fast paths.
    fn plain_verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
        fn order(c: Option<u8>) -> i32 {
            match c {
                None => 0,
                Some(c) if c.is_ascii_digit() => 0,
                Some(c) if c.is_ascii_alphabetic() => i32::from(c),
                Some(b'~') => -1,
                Some(c) => i32::from(c as i8) + 256,
            }
        }
        let (mut i, mut j) = (0, 0);
        loop {
            while a.get(i).is_some_and(|c| !c.is_ascii_digit())
                || b.get(j).is_some_and(|c| !c.is_ascii_digit())
            {
                let (x, y) = (order(a.get(i).copied()), order(b.get(j).copied()));
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

    /// The reference for `compare_bytes`: the documented split, then the
    /// plain verrevcmp on each part.
    fn reference_compare(a: &[u8], b: &[u8]) -> Ordering {
        let (sa, sb) = (FastSplit::of(a), FastSplit::of(b));
        let part = |s: &[u8], (x, y): (usize, usize)| s[x..y].to_vec();
        plain_verrevcmp(&part(a, sa.epoch), &part(b, sb.epoch))
            .then_with(|| plain_verrevcmp(&part(a, sa.upstream), &part(b, sb.upstream)))
            .then_with(|| plain_verrevcmp(&part(a, sa.revision), &part(b, sb.revision)))
    }

    fn random_version(rng: &mut impl rand::Rng) -> Vec<u8> {
        const ALPHABET: &[u8] = b"0000111223456789999....---::~~++abzZ \t\xc3";
        let len = rng.random_range(0..24);
        (0..len)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect()
    }

    #[test]
    fn fast_paths_match_plain_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..120_000 {
            let a = random_version(&mut rng);
            // Half the pairs share a prefix, to exercise the prefix paths.
            let b = if round % 2 == 0 {
                random_version(&mut rng)
            } else {
                let keep = rng.random_range(0..=a.len());
                let mut b = a[..keep].to_vec();
                b.extend(random_version(&mut rng).iter().take(rng.random_range(0..6)));
                b
            };
            assert_eq!(
                compare_bytes(&a, &b),
                reference_compare(&a, &b),
                "{:?} vs {:?}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
            assert_eq!(
                verrevcmp(&a, &b),
                plain_verrevcmp(&a, &b),
                "verrevcmp {:?} vs {:?}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
            let naive_common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            assert_eq!(common_prefix(&a, &b), naive_common);
            assert_eq!(last_hyphen(&a), a.iter().rposition(|&c| c == b'-'));
        }
    }

    #[test]
    fn fast_paths_on_archive_like_versions() {
        // Realistic shapes with shared prefixes, hyphens in upstream, epochs.
        let versions = [
            "2.36-9+deb12u4",
            "2.36-9+deb12u10",
            "2.36-9",
            "2.36-10",
            "2.36",
            "1:2.36-9",
            "1:2.36-9+b1",
            "2:1.0",
            "1.2.3-1",
            "1.2.4-1",
            "1.2.3-1-1",
            "1.2.3-1~bpo12+1",
            "1.2.3-rc1-1",
            "1.2.3-rc1-2",
            "1.2.3-rc1",
            "10.0.0~git20240101-1",
            "10.0.0~git20240101-1+b2",
            "0.0~git20240101.abcdef-1",
            "1.0+dfsg-1",
            "1.0+dfsg1-1",
            "1.0+dfsg-1.1",
            "1.0+dfsg-1+deb12u1",
            "3.0.11-1~deb12u2",
            "3.0.11-1~deb12u2+b1",
            "3.0.15-1~deb12u1",
            "6.1.0-28",
            "6.1.0-28-amd64",
            "6.12.6-1",
        ];
        for a in versions {
            for b in versions {
                assert_eq!(
                    compare(a, b),
                    reference_compare(a.as_bytes(), b.as_bytes()),
                    "{a} vs {b}"
                );
                assert_eq!(compare(a, b), v(a).cmp(&v(b)), "{a} vs {b} parsed");
            }
        }
    }
}
