//! Release and InRelease files: splitting an InRelease into its signed text
//! and its signature (the RFC 4880 / RFC 9580 cleartext signature
//! framework, strictly: no text outside the signed part), and parsing the
//! Release header and its SHA256 index list.
//!
//! Signature *verification* lives in [`crate::deb::openpgp`]; this module
//! only deals with the framing and the content. Line numbers in errors are
//! 1-based: for [`split_clearsigned`] they count lines of the InRelease file,
//! for [`Release::parse`] lines of the signed text (which, for an InRelease,
//! starts after the `Hash:` header and the blank line that ends it).

use crate::deb::hash::Sha256Digest;
use jiff::Timestamp;
use std::borrow::Cow;
use std::collections::HashMap;

const BEGIN_SIGNED: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &[u8] = b"-----END PGP SIGNATURE-----";

/// Errors from splitting an InRelease or parsing a Release.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The data does not contain a cleartext-signed message at all.
    #[error(
        "not a cleartext-signed message: no \"-----BEGIN PGP SIGNED MESSAGE-----\" line \
         (a plain Release file must be verified with its detached Release.gpg signature)"
    )]
    NotClearSigned,
    /// Non-whitespace text before the BEGIN line or after the END line.
    #[error(
        "line {line}: text {place} the signed part of the cleartext-signed message; \
         refusing the file because unsigned text could be mistaken for signed data"
    )]
    OutsideText {
        /// Line of the first offending text.
        line: usize,
        /// "before" or "after".
        place: &'static str,
    },
    /// A second `-----BEGIN PGP SIGNED MESSAGE-----`.
    #[error(
        "line {line}: a second signed message starts here; an InRelease file must contain \
         exactly one"
    )]
    MultipleMessages {
        /// Line of the second BEGIN.
        line: usize,
    },
    /// The cleartext framing is broken (bad armor header, unescaped dash line...).
    #[error("line {line}: malformed cleartext-signed message: {reason}")]
    Framing {
        /// Offending line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The data ends before a required part.
    #[error("cleartext-signed message is truncated: it ends before {missing}")]
    Truncated {
        /// The part that is missing.
        missing: &'static str,
    },
    /// A line of the Release text that is neither a field nor a continuation.
    #[error("Release line {line}: {reason}")]
    Syntax {
        /// Offending line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A field whose value is invalid.
    #[error("Release line {line}: field {field}: {reason}")]
    Field {
        /// Line of the field.
        line: usize,
        /// Field name as written.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed line in a checksum section (SHA256, MD5Sum, ...).
    #[error("Release line {line}: {section} entry {entry:?}: {reason}")]
    Entry {
        /// Line of the entry.
        line: usize,
        /// Section name (e.g. "SHA256").
        section: String,
        /// The entry line, trimmed.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A date that is not an RFC 2822 date in UTC or with a numeric offset.
    #[error(
        "invalid date {text:?}: {reason} (expected e.g. \"Sat, 11 Jul 2026 10:16:37 UTC\" or \
         \"... +0000\")"
    )]
    InvalidDate {
        /// The date text.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// `Valid-Until` is not after the reference time.
    #[error(
        "Release expired: Valid-Until {valid_until} is not after now ({now}); the mirror is \
         stale or an old Release is being replayed"
    )]
    Expired {
        /// The Release's Valid-Until.
        valid_until: Timestamp,
        /// The reference time.
        now: Timestamp,
    },
    /// `Date` is after the reference time.
    #[error(
        "Release is not valid yet: its Date {date} is after now ({now}); check the clock \
         (or --now)"
    )]
    NotYetValid {
        /// The Release's Date.
        date: Timestamp,
        /// The reference time.
        now: Timestamp,
    },
}

/// The two parts of a cleartext-signed message (an InRelease file).
#[derive(Debug, Clone)]
pub struct ClearSigned<'a> {
    /// The signed text with dash-escaping removed, exactly as it appears
    /// between the armor header and the signature, including the line break
    /// that precedes `-----BEGIN PGP SIGNATURE-----` (so that it reads like
    /// the corresponding Release file). Borrowed when no line was
    /// dash-escaped.
    ///
    /// The bytes a signature covers are derived from this by
    /// [`ClearSigned::signed_text`].
    pub text: Cow<'a, [u8]>,
    /// The armored signature block, from `-----BEGIN PGP SIGNATURE-----`
    /// through `-----END PGP SIGNATURE-----` (inclusive).
    pub signature_armored: &'a [u8],
    /// The values of the `Hash:` armor headers (e.g. `["SHA256"]`), in
    /// order; empty when the message has none.
    pub hash_algorithms: Vec<String>,
}

impl ClearSigned<'_> {
    /// The lines the signature covers: split at `\n`, each without its line
    /// break (`\n` or `\r\n`) and without trailing spaces and tabs (RFC 4880
    /// section 7.1 excludes those from the signature).
    fn covered_lines(&self) -> impl Iterator<Item = &[u8]> {
        let text: &[u8] = &self.text;
        // `text` ends with the line break before the signature (unless it is
        // empty); that break belongs to the framing, not to the last line.
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        split_newlines(body)
            .filter(move |_| !text.is_empty())
            .map(|line| trim_blanks_end(line.strip_suffix(b"\r").unwrap_or(line)))
    }

    /// The text as the cleartext signature framework signs it (RFC 4880
    /// section 7.1): trailing spaces and tabs removed from every line, line
    /// breaks as `<CR><LF>`, and no line break after the last line.
    pub fn signed_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + self.text.len() / 32);
        for (i, line) in self.covered_lines().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        out
    }

    /// The text reduced to what the signature covers, in Release-file form:
    /// like [`ClearSigned::signed_text`] but with `\n` line breaks and a
    /// final `\n`. Identical to [`ClearSigned::text`] unless a line had
    /// trailing blanks or `\r\n` line breaks, which an attacker could add
    /// without breaking the signature; parse this, not `text`.
    pub fn covered_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len());
        for line in self.covered_lines() {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out
    }
}

/// Like `slice.split(|&b| b == b'\n')`, but with memchr.
fn split_newlines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b'\n', current) {
            Some(i) => {
                rest = current.get(i + 1..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn trim_blanks_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

fn trim_ws_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// Lines of `data`: (1-based number, offset of the line, line without its
/// `\n`, offset just past the line's `\n` or the end of data).
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8], usize)> {
    let mut pos = 0usize;
    let mut number = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let rest = data.get(pos..)?;
        let start = pos;
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (rest.get(..i)?, pos + i + 1),
            None => (rest, data.len()),
        };
        pos = next;
        number += 1;
        Some((number, start, line, next))
    })
}

/// Splits an InRelease (a cleartext-signed message) into its signed text
/// and armored signature.
///
/// Strict about everything an attacker could use to make the text a parser
/// sees differ from the text the signature covers: only whitespace may
/// precede `-----BEGIN PGP SIGNED MESSAGE-----` or follow
/// `-----END PGP SIGNATURE-----`; only `Hash:` armor headers are allowed;
/// every text line starting with `-` must be dash-escaped (`- `), so a
/// second `BEGIN PGP SIGNED MESSAGE` is detected; the signature block must
/// be complete.
pub fn split_clearsigned(data: &[u8]) -> Result<ClearSigned<'_>, ReleaseError> {
    let mut it = lines(data);

    // 1. Leading whitespace, then the BEGIN line.
    loop {
        let Some((number, _, line, _)) = it.next() else {
            return Err(ReleaseError::NotClearSigned);
        };
        let trimmed = trim_ws_end(line);
        if trimmed.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if trimmed == BEGIN_SIGNED {
            break;
        }
        if memchr::memmem::find(data, BEGIN_SIGNED).is_some() {
            return Err(ReleaseError::OutsideText {
                line: number,
                place: "before",
            });
        }
        return Err(ReleaseError::NotClearSigned);
    }

    // 2. Armor headers up to the blank line.
    let mut hash_algorithms = Vec::new();
    loop {
        let Some((number, _, line, _)) = it.next() else {
            return Err(ReleaseError::Truncated {
                missing: "the blank line that ends the armor headers",
            });
        };
        let line = trim_ws_end(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((key, value)) = text.split_once(": ") else {
            return Err(ReleaseError::Framing {
                line: number,
                reason: format!(
                    "expected an armor header \"Hash: ALGORITHM\" or a blank line, found {text:?}"
                ),
            });
        };
        if key != "Hash" {
            return Err(ReleaseError::Framing {
                line: number,
                reason: format!("unexpected armor header {key:?} (only \"Hash\" is allowed)"),
            });
        }
        for algo in value.split(',') {
            let algo = algo.trim();
            if algo.is_empty() {
                return Err(ReleaseError::Framing {
                    line: number,
                    reason: "empty algorithm name in Hash: header".to_string(),
                });
            }
            hash_algorithms.push(algo.to_string());
        }
    }

    // 3. The dash-escaped text.
    let mut text_start: Option<usize> = None;
    let mut text_end = 0usize;
    let mut owned: Option<Vec<u8>> = None;
    let signature_start;
    loop {
        let Some((number, start, line, next)) = it.next() else {
            return Err(ReleaseError::Truncated {
                missing: "-----BEGIN PGP SIGNATURE-----",
            });
        };
        let start_of_text = *text_start.get_or_insert(start);
        if let Some(rest) = line.strip_prefix(b"- ") {
            let buf = owned
                .get_or_insert_with(|| data.get(start_of_text..start).unwrap_or_default().to_vec());
            buf.extend_from_slice(rest);
            if next > start + line.len() {
                buf.push(b'\n');
            }
        } else if line.first() == Some(&b'-') {
            let trimmed = trim_ws_end(line);
            if trimmed == BEGIN_SIGNATURE {
                signature_start = start;
                break;
            }
            if trimmed == BEGIN_SIGNED {
                return Err(ReleaseError::MultipleMessages { line: number });
            }
            return Err(ReleaseError::Framing {
                line: number,
                reason: "text line starts with '-' but is not dash-escaped (\"- \")".to_string(),
            });
        } else if let Some(buf) = owned.as_mut() {
            buf.extend_from_slice(data.get(start..next).unwrap_or_default());
        }
        text_end = next;
    }
    let text = match owned {
        Some(buf) => Cow::Owned(buf),
        None => {
            let from = text_start.unwrap_or(signature_start);
            Cow::Borrowed(data.get(from..text_end.max(from)).unwrap_or_default())
        }
    };

    // 4. The signature block.
    let signature_end;
    loop {
        let Some((number, start, line, _)) = it.next() else {
            return Err(ReleaseError::Truncated {
                missing: "-----END PGP SIGNATURE-----",
            });
        };
        let trimmed = trim_ws_end(line);
        if trimmed == END_SIGNATURE {
            signature_end = start + trimmed.len();
            break;
        }
        if trimmed.starts_with(b"-----") {
            return Err(ReleaseError::Framing {
                line: number,
                reason: format!(
                    "unexpected armor line {:?} inside the signature block",
                    String::from_utf8_lossy(trimmed)
                ),
            });
        }
    }
    let signature_armored = data.get(signature_start..signature_end).unwrap_or_default();

    // 5. Nothing but whitespace after the END line.
    for (number, _, line, _) in it {
        let trimmed = trim_ws_end(line);
        if trimmed.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if trimmed == BEGIN_SIGNED {
            return Err(ReleaseError::MultipleMessages { line: number });
        }
        return Err(ReleaseError::OutsideText {
            line: number,
            place: "after",
        });
    }

    Ok(ClearSigned {
        text,
        signature_armored,
        hash_algorithms,
    })
}

/// One index file listed in the SHA256 section of a Release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFileEntry {
    /// Path relative to the Release's directory (`main/binary-amd64/Packages.xz`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: Sha256Digest,
}

/// A parsed Release header (the content of Release, or of the signed part
/// of InRelease).
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// `Origin`.
    pub origin: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `Suite` (e.g. `oldstable`).
    pub suite: Option<String>,
    /// `Codename` (e.g. `bookworm`).
    pub codename: Option<String>,
    /// `Version` (e.g. `12.15`).
    pub version: Option<String>,
    /// `Date`.
    pub date: Option<Timestamp>,
    /// `Valid-Until`.
    pub valid_until: Option<Timestamp>,
    /// `Architectures`, split on whitespace.
    pub architectures: Vec<String>,
    /// `Components`, split on whitespace.
    pub components: Vec<String>,
    /// `Description` (continuation lines joined with `\n`).
    pub description: Option<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `NotAutomatic: yes` (apt pin priority 1, or 100 with the next flag).
    pub not_automatic: bool,
    /// `ButAutomaticUpgrades: yes`.
    pub but_automatic_upgrades: bool,
    /// `No-Support-for-Architecture-all` (e.g. `Packages`).
    pub no_support_for_architecture_all: Option<String>,
    /// The SHA256 section, in file order. Empty when the Release has none;
    /// callers that need index files must treat that as an error.
    pub files: Vec<IndexFileEntry>,
    /// Every single-line header field, in file order, as written.
    pub fields: Vec<(String, String)>,
}

/// One raw field: name, line, first-line value, continuation lines.
struct RawField<'a> {
    name: &'a str,
    line: usize,
    value: &'a str,
    continuation: Vec<(usize, &'a str)>,
}

impl Release {
    /// Parses a Release text (one deb822 paragraph).
    ///
    /// Field names are matched case-insensitively, duplicates are errors,
    /// `Date`/`Valid-Until` must be RFC 2822 dates in UTC (`UTC`, `GMT`,
    /// `UT`, `Z`) or with a numeric offset, boolean fields take apt's
    /// spellings (`yes`/`no`, ...), and every checksum-section line must be
    /// `HEX SIZE PATH` with a safe relative path (see [`validate_index_path`]).
    /// MD5Sum, SHA1 and SHA512 lines are checked but not kept.
    pub fn parse(payload: &[u8]) -> Result<Release, ReleaseError> {
        let raw = raw_fields(payload)?;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut release = Release::default();
        for field in &raw {
            let lower = field.name.to_ascii_lowercase();
            if let Some(first) = seen.insert(lower.clone(), field.line) {
                return Err(field_error(
                    field,
                    format!(
                        "appears twice (first at line {first}); a Release field must be unique"
                    ),
                ));
            }
            if field.continuation.is_empty() {
                release
                    .fields
                    .push((field.name.to_string(), field.value.to_string()));
            }
            match lower.as_str() {
                "origin" => release.origin = single(field)?,
                "label" => release.label = single(field)?,
                "suite" => release.suite = single(field)?,
                "codename" => release.codename = single(field)?,
                "version" => release.version = single(field)?,
                "description" => {
                    let mut text = field.value.to_string();
                    for (_, line) in &field.continuation {
                        text.push('\n');
                        text.push_str(line.trim());
                    }
                    release.description = (!text.is_empty()).then_some(text);
                }
                "date" => release.date = single_date(field)?,
                "valid-until" => release.valid_until = single_date(field)?,
                "architectures" => release.architectures = words(field)?,
                "components" => release.components = words(field)?,
                "acquire-by-hash" => release.acquire_by_hash = boolean(field)?,
                "notautomatic" => release.not_automatic = boolean(field)?,
                "butautomaticupgrades" => release.but_automatic_upgrades = boolean(field)?,
                "no-support-for-architecture-all" => {
                    release.no_support_for_architecture_all = single(field)?
                }
                "sha256" => release.files = checksum_section(field, "SHA256", 64)?,
                "md5sum" => {
                    checksum_section(field, "MD5Sum", 32)?;
                }
                "sha1" => {
                    checksum_section(field, "SHA1", 40)?;
                }
                "sha512" => {
                    checksum_section(field, "SHA512", 128)?;
                }
                _ => {}
            }
        }
        Ok(release)
    }

    /// The SHA256 entry for `path` (relative to the Release's directory).
    pub fn file(&self, path: &str) -> Option<&IndexFileEntry> {
        self.files.iter().find(|entry| entry.path == path)
    }

    /// Fails with [`ReleaseError::Expired`] when `Valid-Until` is at or
    /// before `now`. A Release without Valid-Until never expires.
    pub fn check_valid_until(&self, now: Timestamp) -> Result<(), ReleaseError> {
        match self.valid_until {
            Some(valid_until) if valid_until <= now => {
                Err(ReleaseError::Expired { valid_until, now })
            }
            _ => Ok(()),
        }
    }

    /// Fails with [`ReleaseError::NotYetValid`] when `Date` is after `now`
    /// (by more than `tolerance`, for clock skew).
    pub fn check_date(
        &self,
        now: Timestamp,
        tolerance: jiff::SignedDuration,
    ) -> Result<(), ReleaseError> {
        match self.date {
            Some(date) if date.duration_since(now) > tolerance => {
                Err(ReleaseError::NotYetValid { date, now })
            }
            _ => Ok(()),
        }
    }
}

fn raw_fields(payload: &[u8]) -> Result<Vec<RawField<'_>>, ReleaseError> {
    let mut fields: Vec<RawField<'_>> = Vec::new();
    let mut ended_at: Option<usize> = None;
    for (number, _, line, _) in lines(payload) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| ReleaseError::Syntax {
            line: number,
            reason: "not valid UTF-8".to_string(),
        })?;
        if line.trim().is_empty() {
            if !fields.is_empty() {
                ended_at.get_or_insert(number);
            }
            continue;
        }
        if let Some(blank) = ended_at {
            return Err(ReleaseError::Syntax {
                line: number,
                reason: format!(
                    "text after the blank line at line {blank}; a Release has a single paragraph"
                ),
            });
        }
        if line.starts_with([' ', '\t']) {
            let Some(field) = fields.last_mut() else {
                return Err(ReleaseError::Syntax {
                    line: number,
                    reason: "continuation line (starting with whitespace) before any field"
                        .to_string(),
                });
            };
            field.continuation.push((number, line));
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReleaseError::Syntax {
                line: number,
                reason: format!("expected \"Field: value\", found {line:?}"),
            });
        };
        let valid_name = !name.is_empty()
            && !name.starts_with(['#', '-'])
            && name.bytes().all(|b| matches!(b, b'!'..=b'9' | b';'..=b'~'));
        if !valid_name {
            return Err(ReleaseError::Syntax {
                line: number,
                reason: format!("invalid field name {name:?}"),
            });
        }
        fields.push(RawField {
            name,
            line: number,
            value: value.trim_matches([' ', '\t']),
            continuation: Vec::new(),
        });
    }
    Ok(fields)
}

fn field_error(field: &RawField<'_>, reason: impl Into<String>) -> ReleaseError {
    ReleaseError::Field {
        line: field.line,
        field: field.name.to_string(),
        reason: reason.into(),
    }
}

fn single(field: &RawField<'_>) -> Result<Option<String>, ReleaseError> {
    if !field.continuation.is_empty() {
        return Err(field_error(field, "must be a single line"));
    }
    Ok((!field.value.is_empty()).then(|| field.value.to_string()))
}

fn words(field: &RawField<'_>) -> Result<Vec<String>, ReleaseError> {
    if !field.continuation.is_empty() {
        return Err(field_error(field, "must be a single line"));
    }
    Ok(field
        .value
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect())
}

fn boolean(field: &RawField<'_>) -> Result<bool, ReleaseError> {
    if !field.continuation.is_empty() {
        return Err(field_error(field, "must be a single line"));
    }
    match field.value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "with" | "on" | "enable" | "1" => Ok(true),
        "no" | "false" | "without" | "off" | "disable" | "0" => Ok(false),
        _ => Err(field_error(
            field,
            format!("expected yes or no, found {:?}", field.value),
        )),
    }
}

fn single_date(field: &RawField<'_>) -> Result<Option<Timestamp>, ReleaseError> {
    match single(field)? {
        None => Ok(None),
        Some(text) => parse_date(&text)
            .map(Some)
            .map_err(|err| field_error(field, err.to_string())),
    }
}

/// Parses a Release date: RFC 2822 (`Sat, 11 Jul 2026 10:16:37 UTC`) with
/// the zone `UTC`, `GMT`, `UT`, `Z` or a numeric offset (`+0000`). The
/// weekday, if present, is not checked against the date (apt does not
/// either).
pub fn parse_date(text: &str) -> Result<Timestamp, ReleaseError> {
    let invalid = |reason: String| ReleaseError::InvalidDate {
        text: text.to_string(),
        reason,
    };
    let zone = text
        .split_ascii_whitespace()
        .next_back()
        .unwrap_or_default();
    let numeric = matches!(zone.as_bytes(), [b'+' | b'-', rest @ ..]
        if rest.len() == 4 && rest.iter().all(u8::is_ascii_digit));
    if !numeric && !matches!(zone, "UTC" | "GMT" | "UT" | "Z") {
        return Err(invalid(format!(
            "unsupported time zone {zone:?} (use UTC, GMT or a numeric offset)"
        )));
    }
    jiff::fmt::rfc2822::DateTimeParser::new()
        .relaxed_weekday(true)
        .parse_timestamp(text)
        .map_err(|err| invalid(err.to_string()))
}

/// Checks that a path from a Release checksum section is a safe relative
/// path: not empty, not absolute, no empty, `.` or `..` components, no
/// backslashes and no control characters. Returns what is wrong.
pub fn validate_index_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path (must be relative to the Release's directory)");
    }
    for component in path.as_bytes().split(|&b| b == b'/') {
        match component {
            b"" => return Err("empty path component (\"//\" or trailing \"/\")"),
            b"." => return Err("\".\" path component"),
            b".." => return Err("\"..\" path component (would escape the archive)"),
            _ => {
                for &b in component {
                    if b == b'\\' {
                        return Err("backslash in path");
                    }
                    if b < 0x20 || b == 0x7f {
                        return Err("control character in path");
                    }
                }
            }
        }
    }
    // C1 control characters (U+0080..U+009F) are multi-byte in UTF-8.
    if !path.is_ascii() && path.chars().any(char::is_control) {
        return Err("control character in path");
    }
    Ok(())
}

/// Splits `"  TOKEN  rest"` into (`TOKEN`, `rest` without leading blanks).
fn next_token(text: &str) -> (&str, &str) {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(bytes.len());
    let len = bytes
        .get(start..)
        .and_then(|rest| rest.iter().position(is_blank))
        .unwrap_or(bytes.len() - start);
    let rest_start = bytes
        .get(start + len..)
        .and_then(|rest| rest.iter().position(|b| !is_blank(b)))
        .map_or(bytes.len(), |i| start + len + i);
    // Blanks are ASCII, so every boundary is a char boundary.
    (
        text.get(start..start + len).unwrap_or_default(),
        text.get(rest_start..).unwrap_or_default(),
    )
}

fn checksum_section(
    field: &RawField<'_>,
    section: &str,
    hex_len: usize,
) -> Result<Vec<IndexFileEntry>, ReleaseError> {
    if !field.value.is_empty() {
        return Err(field_error(
            field,
            "a checksum section must have an empty first line, entries on continuation lines",
        ));
    }
    let keep = hex_len == 64;
    let mut entries = Vec::with_capacity(if keep { field.continuation.len() } else { 0 });
    let mut paths: HashMap<&str, usize> =
        HashMap::with_capacity(if keep { field.continuation.len() } else { 0 });
    for &(line, text) in &field.continuation {
        let entry_error = |reason: String| ReleaseError::Entry {
            line,
            section: section.to_string(),
            entry: text.trim().to_string(),
            reason,
        };
        let (hex, rest) = next_token(text);
        let (size, rest) = next_token(rest);
        let (path, rest) = next_token(rest);
        if hex.is_empty() || size.is_empty() || path.is_empty() || !rest.is_empty() {
            return Err(entry_error(
                "expected \"CHECKSUM SIZE PATH\" (three fields)".to_string(),
            ));
        }
        let hex_error = || entry_error(format!("checksum must be {hex_len} hexadecimal digits"));
        let sha256 = if keep {
            Some(Sha256Digest::from_hex(hex).ok_or_else(hex_error)?)
        } else {
            if hex.len() != hex_len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(hex_error());
            }
            None
        };
        if !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(entry_error(format!("size {size:?} is not a number")));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| entry_error(format!("size {size:?} is out of range")))?;
        validate_index_path(path).map_err(|reason| entry_error(reason.to_string()))?;
        if let Some(sha256) = sha256 {
            if let Some(first) = paths.insert(path, line) {
                return Err(entry_error(format!(
                    "path listed twice (first at line {first})"
                )));
            }
            entries.push(IndexFileEntry {
                path: path.to_string(),
                size,
                sha256,
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    const SIG: &str = "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n=AAAA\n-----END PGP SIGNATURE-----\n";

    fn clearsigned(body: &str) -> String {
        format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{body}{SIG}")
    }

    #[test]
    fn split_plain_text_is_borrowed() {
        let data = clearsigned("Origin: Debian\nSuite: stable\n");
        let cs = split_clearsigned(data.as_bytes()).unwrap();
        assert!(matches!(cs.text, Cow::Borrowed(_)));
        assert_eq!(&*cs.text, b"Origin: Debian\nSuite: stable\n");
        assert_eq!(cs.hash_algorithms, vec!["SHA256"]);
        assert!(cs.signature_armored.starts_with(BEGIN_SIGNATURE));
        assert!(cs.signature_armored.ends_with(END_SIGNATURE));
        assert_eq!(cs.signed_text(), b"Origin: Debian\r\nSuite: stable");
    }

    #[test]
    fn dash_escaping_round_trip() {
        // Escape every line that starts with '-' like gpg does, split, and
        // get the original back.
        let original = "a\n-b\n--\n-----BEGIN PGP SIGNED MESSAGE-----\n- x\nlast\n";
        let escaped: String = original
            .lines()
            .map(|l| {
                if l.starts_with('-') {
                    format!("- {l}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let data = clearsigned(&escaped);
        let cs = split_clearsigned(data.as_bytes()).unwrap();
        assert!(matches!(cs.text, Cow::Owned(_)));
        assert_eq!(std::str::from_utf8(&cs.text).unwrap(), original);
    }

    #[test]
    fn dash_escaped_gpg_fixture_matches_original_text() {
        let signed = testdata("openpgp/dash-escaped.InRelease");
        let original = testdata("openpgp/dash-escaped.txt");
        let cs = split_clearsigned(&signed).unwrap();
        assert_eq!(&*cs.text, &original[..]);
        // Trailing blanks are outside the signed text.
        let signed_text = String::from_utf8(cs.signed_text()).unwrap();
        assert!(signed_text.contains("trailing blanks\r\ntrailing tab\r\n--\r\n"));
        assert!(signed_text.ends_with("last line"));
        let covered = String::from_utf8(cs.covered_text()).unwrap();
        let expected = String::from_utf8(original)
            .unwrap()
            .replace("blanks   \n", "blanks\n")
            .replace("tab\t\n", "tab\n");
        assert_eq!(covered, expected);
    }

    #[test]
    fn signed_text_keeps_crlf_and_trims_blanks() {
        let data = clearsigned("a  \r\nb\t\r\n\r\nc\r\n");
        let cs = split_clearsigned(data.as_bytes()).unwrap();
        assert_eq!(cs.signed_text(), b"a\r\nb\r\n\r\nc");
        assert_eq!(cs.covered_text(), b"a\nb\n\nc\n");
    }

    #[test]
    fn empty_text() {
        let data = clearsigned("");
        let cs = split_clearsigned(data.as_bytes()).unwrap();
        assert!(cs.text.is_empty());
        assert!(cs.signed_text().is_empty());
        assert!(cs.covered_text().is_empty());
        // One empty line is an empty line, not nothing.
        let data = clearsigned("\n");
        let cs = split_clearsigned(data.as_bytes()).unwrap();
        assert_eq!(&*cs.text, b"\n");
        assert!(cs.signed_text().is_empty());
        assert_eq!(cs.covered_text(), b"\n");
    }

    #[test]
    fn leading_and_trailing_whitespace_is_allowed() {
        let data = format!("\n  \n{}\n\t\n", clearsigned("x: y\n"));
        split_clearsigned(data.as_bytes()).unwrap();
    }

    #[test]
    fn text_before_begin_is_rejected() {
        let data = format!("Origin: Evil\n{}", clearsigned("x: y\n"));
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ReleaseError::OutsideText {
                    line: 1,
                    place: "before"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn text_after_end_is_rejected() {
        let data = format!("{}Suite: evil\n", clearsigned("x: y\n"));
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ReleaseError::OutsideText {
                    line: 10,
                    place: "after"
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 10"));
    }

    #[test]
    fn two_messages_are_rejected() {
        let data = format!("{}{}", clearsigned("x: y\n"), clearsigned("x: z\n"));
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::MultipleMessages { line: 10 }),
            "{err}"
        );
        // An unescaped BEGIN inside the text is a nested message.
        let data = clearsigned("x: y\n-----BEGIN PGP SIGNED MESSAGE-----\n");
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::MultipleMessages { line: 5 }),
            "{err}"
        );
    }

    #[test]
    fn unescaped_dash_line_is_rejected() {
        let data = clearsigned("x: y\n-oops\n");
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::Framing { line: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn plain_release_is_not_clearsigned() {
        let err = split_clearsigned(b"Origin: Debian\n").unwrap_err();
        assert!(matches!(err, ReleaseError::NotClearSigned), "{err}");
        let err = split_clearsigned(b"").unwrap_err();
        assert!(matches!(err, ReleaseError::NotClearSigned), "{err}");
    }

    #[test]
    fn missing_parts_are_rejected() {
        let full = clearsigned("x: y\n");
        for (cut, expect) in [
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n",
                "blank line",
            ),
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx: y\n",
                "BEGIN PGP SIGNATURE",
            ),
            (&full[..full.len() - 28], "END PGP SIGNATURE"),
        ] {
            let err = split_clearsigned(cut.as_bytes()).unwrap_err();
            assert!(matches!(err, ReleaseError::Truncated { .. }), "{err}");
            assert!(err.to_string().contains(expect), "{err}");
        }
    }

    #[test]
    fn bad_armor_headers_are_rejected() {
        let data = format!("-----BEGIN PGP SIGNED MESSAGE-----\nComment: hi\n\nx: y\n{SIG}");
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::Framing { line: 2, .. }),
            "{err}"
        );
        let data = format!("-----BEGIN PGP SIGNED MESSAGE-----\nx: y\nHash\n\nx: y\n{SIG}");
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::Framing { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn armor_line_inside_signature_is_rejected() {
        let data = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx: y\n\
                    -----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----BEGIN PGP SIGNATURE-----\n\
                    -----END PGP SIGNATURE-----\n";
        let err = split_clearsigned(data.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ReleaseError::Framing { line: 8, .. }),
            "{err}"
        );
    }

    #[test]
    fn real_inrelease_splits() {
        let data = testdata("mirror/debian/dists/bookworm/InRelease");
        let cs = split_clearsigned(&data).unwrap();
        assert!(cs.text.starts_with(b"Origin: Debian\n"));
        assert!(cs.text.ends_with(b"\n"));
        let release = Release::parse(&cs.text).unwrap();
        assert_eq!(release.codename.as_deref(), Some("bookworm"));
        assert!(release.files.len() > 100);
        let entry = release.file("main/binary-amd64/Packages.xz").unwrap();
        assert_eq!(entry.size, 8790396);
        assert_eq!(
            entry.sha256.to_hex(),
            "9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5"
        );
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn parses_all_fields() {
        let release = Release::parse(&testdata("openpgp/Release")).unwrap();
        assert_eq!(release.origin.as_deref(), Some("Debfleet Test"));
        assert_eq!(release.label.as_deref(), Some("Debfleet Test Label"));
        assert_eq!(release.suite.as_deref(), Some("stable"));
        assert_eq!(release.codename.as_deref(), Some("testing-fixture"));
        assert_eq!(release.version.as_deref(), Some("1.2"));
        assert_eq!(release.date, Some(ts("2025-06-01T12:00:00Z")));
        assert_eq!(release.valid_until, Some(ts("2027-06-01T12:00:00Z")));
        assert_eq!(release.architectures, ["all", "amd64", "arm64"]);
        assert_eq!(release.components, ["main", "contrib"]);
        assert_eq!(
            release.description.as_deref(),
            Some("debfleet OpenPGP test fixture")
        );
        assert!(release.acquire_by_hash);
        assert!(release.not_automatic);
        assert!(release.but_automatic_upgrades);
        assert_eq!(
            release.no_support_for_architecture_all.as_deref(),
            Some("Packages")
        );
        assert_eq!(release.files.len(), 3);
        let empty = release.file("main/binary-amd64/Packages").unwrap();
        assert_eq!(empty.size, 0);
        assert_eq!(empty.sha256, Sha256Digest::of(b""));
        assert_eq!(
            release
                .file("contrib/binary-arm64/Packages.xz")
                .unwrap()
                .size,
            1234
        );
        assert!(release.file("main/binary-i386/Packages").is_none());
        // Single-line fields in order; checksum sections are not among them.
        let names: Vec<&str> = release.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.first(), Some(&"Origin"));
        assert_eq!(names.last(), Some(&"Description"));
        assert_eq!(names.len(), 14);
        assert!(!names.contains(&"SHA256"));
    }

    #[test]
    fn defaults_when_fields_are_absent() {
        let release = Release::parse(b"Origin: X\n").unwrap();
        assert!(!release.acquire_by_hash && !release.not_automatic);
        assert!(release.files.is_empty() && release.date.is_none());
        assert_eq!(
            release.fields,
            vec![("Origin".to_string(), "X".to_string())]
        );
    }

    #[test]
    fn field_names_are_case_insensitive_and_unique() {
        let release = Release::parse(b"codename: x\nNOTAUTOMATIC: Yes\n").unwrap();
        assert_eq!(release.codename.as_deref(), Some("x"));
        assert!(release.not_automatic);
        let err = Release::parse(b"Suite: a\nOrigin: b\nsuite: c\n").unwrap_err();
        assert!(matches!(err, ReleaseError::Field { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("first at line 1"), "{err}");
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("Sat, 11 Jul 2026 10:16:37 UTC").unwrap(),
            ts("2026-07-11T10:16:37Z")
        );
        assert_eq!(
            parse_date("Sat, 11 Jul 2026 10:16:37 +0000").unwrap(),
            ts("2026-07-11T10:16:37Z")
        );
        assert_eq!(
            parse_date("Sat, 11 Jul 2026 12:16:37 +0200").unwrap(),
            ts("2026-07-11T10:16:37Z")
        );
        assert_eq!(
            parse_date("Fri, 11 Jul 2026 10:16:37 GMT").unwrap(),
            ts("2026-07-11T10:16:37Z")
        );
        assert!(parse_date("Sat, 11 Jul 2026 10:16:37 PST").is_err());
        assert!(parse_date("2026-07-11T10:16:37Z").is_err());
        assert!(parse_date("Sat, 32 Jul 2026 10:16:37 UTC").is_err());
        let err = Release::parse(b"Origin: x\nDate: yesterday UTC\n").unwrap_err();
        assert!(matches!(err, ReleaseError::Field { line: 2, .. }), "{err}");
    }

    #[test]
    fn path_validation() {
        assert!(validate_index_path("main/binary-amd64/Packages.xz").is_ok());
        assert!(validate_index_path("main/i18n/Translation-en.bz2").is_ok());
        for bad in [
            "../../etc/passwd",
            "main/../../x",
            "/etc/passwd",
            "main//Packages",
            "main/",
            "./Packages",
            "main\\Packages",
            "main/Pack\x01ages",
            "main/Pack\x7fages",
            "",
        ] {
            assert!(validate_index_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_entries_name_the_line() {
        let zero = "0".repeat(64);
        for (entry, reason) in [
            (format!(" {zero} 12 ../../etc/passwd"), "\"..\""),
            (format!(" {zero} 12 /etc/passwd"), "absolute"),
            (format!(" {zero} 12 main/\x1bx"), "control"),
            (format!(" {zero} 12"), "three fields"),
            (format!(" {zero} 12 a b"), "three fields"),
            (format!(" {zero} -12 a"), "not a number"),
            (format!(" {zero} 99999999999999999999 a"), "out of range"),
            (" abcd 12 a".to_string(), "64 hexadecimal"),
            (format!(" {} 12 a", "g".repeat(64)), "64 hexadecimal"),
        ] {
            let text = format!("Origin: x\nSHA256:\n {zero} 1 ok\n{entry}\n");
            let err = Release::parse(text.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ReleaseError::Entry { line: 4, section, .. } if section == "SHA256"),
                "{entry:?}: {err}"
            );
            assert!(err.to_string().contains(reason), "{entry:?}: {err}");
        }
        let text = format!("SHA256:\n {zero} 1 a\n {zero} 2 a\n");
        let err = Release::parse(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        // MD5Sum lines are checked too (but not kept).
        let err = Release::parse(b"MD5Sum:\n abc 1 a\n").unwrap_err();
        assert!(matches!(err, ReleaseError::Entry { line: 2, .. }), "{err}");
    }

    #[test]
    fn syntax_errors() {
        for (text, line) in [
            ("Origin: x\nno colon here\n", 2),
            (" continuation first\n", 1),
            ("Origin: x\n\nSuite: y\n", 3),
            ("Origin: x\n#comment: y\n", 2),
            ("Origin: x\nAcquire-By-Hash: maybe\n", 2),
            ("Origin: x\nSuite: a\n b\n", 2),
            ("SHA256: value\n", 1),
        ] {
            let err = Release::parse(text.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains(&format!("line {line}:")),
                "{text:?}: {err}"
            );
        }
        let err = Release::parse(b"Origin: \xff\n").unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn valid_until_and_date_checks() {
        let release = Release::parse(
            b"Date: Wed, 25 Nov 2026 02:10:59 UTC\nValid-Until: Wed, 02 Dec 2026 02:10:59 UTC\n",
        )
        .unwrap();
        release
            .check_valid_until(ts("2026-11-27T12:00:00Z"))
            .unwrap();
        let err = release
            .check_valid_until(ts("2026-12-02T02:10:59Z"))
            .unwrap_err();
        assert!(matches!(err, ReleaseError::Expired { .. }), "{err}");
        let tolerance = jiff::SignedDuration::from_mins(5);
        release
            .check_date(ts("2026-11-25T02:08:00Z"), tolerance)
            .unwrap();
        let err = release
            .check_date(ts("2026-11-24T00:00:00Z"), tolerance)
            .unwrap_err();
        assert!(matches!(err, ReleaseError::NotYetValid { .. }), "{err}");
        Release::default()
            .check_valid_until(ts("2100-01-01T00:00:00Z"))
            .unwrap();
    }
}
