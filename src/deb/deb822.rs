//! deb822 control-data scanning: splitting `Packages`, `Release`, `Sources`
//! and similar files into paragraphs and fields.
//!
//! It owns the *syntax* only (paragraph separation, continuation lines,
//! comments, field names, duplicate fields); the meaning of individual
//! fields belongs to [`crate::deb::package`], [`crate::deb::relation`] and
//! the Release parser.
//!
//! The scanner works on a borrowed byte buffer and never allocates per field:
//! newlines are found by one running `memchr` iterator, field names are
//! checked eight bytes at a time, and every paragraph, field name and value
//! handed out is a slice of the input. [`Paragraphs::next_with_fields`]
//! validates a paragraph and delivers its fields in the same pass, for
//! consumers of large files like `Packages`; [`split_paragraph_chunks`] cuts a
//! buffer for parallel scanning.
//!
//! Syntax accepted (deb822(5), leniently, the way apt reads it):
//!
//! * A field is `Name: value`; the name is matched case-insensitively.
//! * Lines starting with a space or tab continue the previous field's value;
//!   a continuation line consisting of `.` stands for an empty line.
//! * Paragraphs are separated by one or more blank lines; a line holding only
//!   spaces, tabs or `\r` counts as blank.
//! * Lines starting with `#` are comments and are ignored everywhere.
//! * CRLF line endings and a missing final newline are tolerated.
//!
//! Structural problems (a line without `:`, a continuation line before any
//! field, an empty or malformed field name, a field given twice) are reported
//! by [`paragraphs`] as a [`Deb822Error`] carrying the 1-based line number. A
//! [`Paragraph`] that was handed out is therefore well formed, which is why
//! [`Paragraph::fields`] and [`Paragraph::get`] cannot fail. After an error
//! the iterator resumes with the next paragraph, so callers may choose to
//! skip bad paragraphs.

use memchr::memchr;

/// How many bytes of an offending line are quoted in an error message.
const ERROR_QUOTE_LEN: usize = 60;

/// A structural error in deb822 data, located by its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct Deb822Error {
    /// 1-based line number of the offending line in the scanned buffer (plus
    /// the line offset given to [`paragraphs_at`], if any).
    pub line: usize,
    /// What is wrong with the line.
    pub kind: Deb822ErrorKind,
}

/// The kinds of structural error the scanner reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deb822ErrorKind {
    /// A line that is neither blank, a comment, a continuation line (leading
    /// space or tab) nor a `Name: value` field.
    #[error(
        "line {0:?} has no ':' after a field name; expected `Name: value`, a continuation line \
         starting with a space, or a blank line between paragraphs"
    )]
    MissingColon(String),
    /// A continuation line (leading whitespace) that does not follow a field.
    #[error(
        "continuation line {0:?} (starting with whitespace) appears before any field of its \
         paragraph; remove the leading whitespace or the line"
    )]
    ContinuationBeforeField(String),
    /// A line starting with `:`.
    #[error("line {0:?} has an empty field name before ':'")]
    EmptyFieldName(String),
    /// A field name containing whitespace or control characters.
    #[error(
        "invalid field name {0:?}: field names may not contain whitespace or control characters"
    )]
    InvalidFieldName(String),
    /// The same field (compared case-insensitively) twice in one paragraph.
    #[error(
        "field {name:?} appears twice in one paragraph (first on line {first_line}); each field \
         may be given only once"
    )]
    DuplicateField {
        /// The field name as written at the second occurrence.
        name: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
}

/// One field of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name as written (without the colon or trailing blanks).
    pub name: &'a [u8],
    /// The value with leading and trailing whitespace removed. A multi-line
    /// value is returned raw: it contains the newlines and the leading
    /// whitespace of its continuation lines (and any `#` comment lines
    /// between them); use [`value_lines`] to iterate its lines.
    pub value: &'a [u8],
    /// 1-based line number of the line holding the field name.
    pub line: usize,
    /// Where the field's lines are in the scanned buffer
    /// ([`Paragraphs::data`], or the paragraph for [`Paragraph::fields`]):
    /// from the first byte of its name to the end of its last line, without
    /// that line's newline. Lets a caller copy fields as written without
    /// scanning them again.
    pub span: (usize, usize),
}

impl Field<'_> {
    /// Whether this field is called `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// A well-formed paragraph: a run of field lines between blank lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paragraph<'a> {
    raw: &'a [u8],
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// 1-based line number of the paragraph's first field.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The paragraph's bytes, from the start of its first field line to the
    /// end (including the newline, if any) of its last field or continuation
    /// line.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The fields, in file order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            data: self.raw,
            pos: 0,
            line: self.line,
            newlines: NewlineFinder::new(self.raw),
        }
    }

    /// The value of field `name` (ASCII case-insensitive), trimmed as in
    /// [`Field::value`], or `None` if the paragraph has no such field.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.fields().find(|f| f.is(name)).map(|f| f.value)
    }
}

/// Iterator over the fields of a [`Paragraph`]; see [`Paragraph::fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
    line: usize,
    newlines: NewlineFinder<'a>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let data = self.data;
        loop {
            let start = self.pos;
            let &first = data.get(start)?;
            let end = self.newlines.line_end(start);
            let field_line = self.line;
            self.line += 1;
            self.pos = end + 1;
            // The paragraph was validated by the scanner, so every line is a
            // field, a continuation of one, or a comment. Comments (and, if
            // the invariant were ever broken, stray lines) are skipped.
            let colon = match first {
                b'#' | b' ' | b'\t' => None,
                _ => find_colon(data, start, end),
            };
            let Some(colon) = colon else { continue };
            let mut value = ValueSpan::new(data, colon, end);
            // Absorb continuation lines; comment lines are skipped but neither
            // start nor extend the value.
            while let Some(&b) = data.get(self.pos) {
                if !matches!(b, b' ' | b'\t' | b'#') {
                    break;
                }
                let line_end = self.newlines.line_end(self.pos);
                if b != b'#' {
                    value.extend(self.pos, line_end);
                }
                self.pos = line_end + 1;
                self.line += 1;
            }
            return Some(Field {
                name: data.get(start..colon).unwrap_or_default().trim_ascii_end(),
                value: value.get(data),
                line: field_line,
                span: (start, value.end),
            });
        }
    }
}

/// The byte span of a field value while its continuation lines are read.
#[derive(Debug, Clone, Copy)]
struct ValueSpan {
    start: usize,
    end: usize,
    /// The text after the colon on the field's own line is blank, so the
    /// value starts with the first continuation line.
    first_empty: bool,
}

impl ValueSpan {
    /// The value of a field whose colon is at `colon` on a line ending at
    /// `line_end`.
    #[inline]
    fn new(data: &[u8], colon: usize, line_end: usize) -> Self {
        let start = colon + 1;
        ValueSpan {
            start,
            end: line_end,
            first_empty: data
                .get(start..line_end)
                .is_none_or(|v| v.iter().all(u8::is_ascii_whitespace)),
        }
    }

    /// Adds the continuation line `[start, end)`.
    #[inline]
    fn extend(&mut self, start: usize, end: usize) {
        if self.first_empty {
            self.start = start;
            self.first_empty = false;
        }
        self.end = end;
    }

    #[inline]
    fn get<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.start..self.end)
            .unwrap_or_default()
            .trim_ascii()
    }
}

/// Position of the first `:` in `data[start..end]`.
#[inline]
fn find_colon(data: &[u8], start: usize, end: usize) -> Option<usize> {
    let line = data.get(start..end)?;
    scan_field_name(line).map(|(colon, _)| start + colon)
}

// SWAR ("SIMD within a register") helpers: eight bytes are tested at once
// in a `u64`. Each helper is exact per byte (no carry or borrow crosses a
// byte boundary); the randomised tests cross-check them with byte loops.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// High bit set in each byte of `x` that is zero.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !((x & LOW7).wrapping_add(LOW7) | x) & HIGH
}

/// High bit set in each byte of `w` equal to `b`.
#[inline]
fn eq_bytes(w: u64, b: u8) -> u64 {
    zero_bytes(w ^ (ONES * u64::from(b)))
}

/// High bit set in each byte of `w` that may not appear in a field name:
/// ASCII space and control characters (`< 0x21`) and DEL.
#[inline]
fn non_name_bytes(w: u64) -> u64 {
    // `(byte | 0x80) - 0x21` keeps its high bit iff `byte & 0x7f >= 0x21`,
    // and cannot borrow from the next byte.
    let at_least_0x21 = (w | HIGH).wrapping_sub(ONES * 0x21) & HIGH;
    (!at_least_0x21 & !w & HIGH) | eq_bytes(w, 0x7f)
}

/// Gathers the high bit of each byte into one bit per byte (byte `i` of the
/// little-endian word gives bit `i`).
#[inline]
fn gather(high_bits: u64) -> u64 {
    (high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Finds the colon of a field line, and whether every byte before it is a
/// plain field-name byte (no whitespace or control characters). Names are
/// short, so the first 16 bytes are examined with SWAR, falling back to a
/// byte loop for long names or short lines.
#[inline]
fn scan_field_name(line: &[u8]) -> Option<(usize, bool)> {
    if let Some((lo, hi)) = line
        .first_chunk::<16>()
        .and_then(|h| Some((h.first_chunk::<8>()?, h.last_chunk::<8>()?)))
    {
        let (lo, hi) = (u64::from_le_bytes(*lo), u64::from_le_bytes(*hi));
        let colons = gather(eq_bytes(lo, b':')) | gather(eq_bytes(hi, b':')) << 8;
        if colons != 0 {
            let colon = colons.trailing_zeros() as usize;
            let bad = gather(non_name_bytes(lo)) | gather(non_name_bytes(hi)) << 8;
            return Some((colon, bad & ((1u64 << colon) - 1) == 0));
        }
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let clean = line
        .get(..colon)
        .is_some_and(|n| n.iter().all(|&b| b > b' ' && b != 0x7f));
    Some((colon, clean))
}

/// Finds the newlines of a buffer in increasing order with one running
/// `memchr` iterator (much cheaper per line than a `memchr` call per line).
#[derive(Debug, Clone)]
struct NewlineFinder<'a> {
    len: usize,
    iter: memchr::Memchr<'a>,
    /// The last newline found (or `len` when there are no more).
    last: Option<usize>,
}

impl<'a> NewlineFinder<'a> {
    fn new(data: &'a [u8]) -> Self {
        NewlineFinder {
            len: data.len(),
            iter: memchr::memchr_iter(b'\n', data),
            last: None,
        }
    }

    /// Position of the `\n` ending the line that contains `pos`, or the
    /// buffer length if that line has no newline. Calls must not go back.
    #[inline]
    fn line_end(&mut self, pos: usize) -> usize {
        if let Some(last) = self.last {
            if last >= pos {
                return last;
            }
        }
        loop {
            let next = self.iter.next().unwrap_or(self.len);
            self.last = Some(next);
            if next >= pos {
                return next;
            }
        }
    }
}

/// Iterates the lines of a (possibly multi-line) field value: the first line
/// of the value followed by its continuation lines, each trimmed, with a line
/// consisting of `.` yielded as an empty line and `#` comment lines skipped.
///
/// Because [`Field::value`] is trimmed, a field whose first line is empty
/// (like `SHA256:` in a Release file) starts directly with its first
/// continuation line. An empty value yields no lines.
pub fn value_lines(value: &[u8]) -> ValueLines<'_> {
    ValueLines {
        rest: value,
        first: true,
    }
}

/// Iterator returned by [`value_lines`].
#[derive(Debug, Clone)]
pub struct ValueLines<'a> {
    rest: &'a [u8],
    first: bool,
}

impl<'a> Iterator for ValueLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (line, rest) = match memchr(b'\n', self.rest) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &self.rest[self.rest.len()..]),
            };
            self.rest = rest;
            let first = std::mem::replace(&mut self.first, false);
            if !first && line.first() == Some(&b'#') {
                continue;
            }
            let line = line.trim_ascii();
            return Some(if line == b"." { &line[..0] } else { line });
        }
    }
}

/// Scans `data` into paragraphs; line numbers start at 1.
pub fn paragraphs(data: &[u8]) -> Paragraphs<'_> {
    paragraphs_at(data, 1)
}

/// Scans `data` into paragraphs, numbering its first line `first_line` (used
/// for chunks of a larger buffer, see [`split_paragraph_chunks`]).
pub fn paragraphs_at(data: &[u8], first_line: usize) -> Paragraphs<'_> {
    Paragraphs {
        data,
        pos: 0,
        line: first_line,
        seen: Vec::new(),
        newlines: NewlineFinder::new(data),
    }
}

/// A field name already seen in the current paragraph (for duplicate
/// detection): a case-folded hash, its byte span in the buffer and its line.
#[derive(Debug, Clone, Copy)]
struct SeenName {
    hash: u32,
    start: usize,
    end: usize,
    line: usize,
}

/// Iterator over the paragraphs of a buffer; see [`paragraphs`].
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    data: &'a [u8],
    pos: usize,
    line: usize,
    seen: Vec<SeenName>,
    newlines: NewlineFinder<'a>,
}

/// Whether a line (without its `\n`) is blank: only spaces, tabs and `\r`.
#[inline]
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// A lossy, length-limited copy of an offending line for error messages.
fn quote(line: &[u8]) -> String {
    let line = line.trim_ascii_end();
    let cut = line.get(..ERROR_QUOTE_LEN).unwrap_or(line);
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < line.len() {
        s.push_str("...");
    }
    s
}

/// A case-insensitive hash of a (non-empty) field name, from its length and
/// first and last bytes: cheap, and distinct for the field names of
/// Packages and Release files. Only used to skip exact comparisons.
#[inline]
fn name_hash(name: &[u8]) -> u32 {
    let first = name.first().map_or(0, |&b| u32::from(b | 0x20));
    let last = name.last().map_or(0, |&b| u32::from(b | 0x20));
    ((name.len() as u32) << 16 ^ first << 8 ^ last).wrapping_mul(0x9e37_79b1)
}

/// A field that is still collecting continuation lines during a scan.
#[derive(Debug, Clone, Copy)]
struct PendingField {
    start: usize,
    colon: usize,
    line: usize,
    value: ValueSpan,
}

impl PendingField {
    #[inline]
    fn field<'a>(&self, data: &'a [u8]) -> Field<'a> {
        Field {
            name: data
                .get(self.start..self.colon)
                .unwrap_or_default()
                .trim_ascii_end(),
            value: self.value.get(data),
            line: self.line,
            span: (self.start, self.value.end),
        }
    }
}

impl<'a> Paragraphs<'a> {
    /// The whole buffer being scanned.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Scans the next paragraph like [`Iterator::next`], and in the same
    /// pass hands each of its fields to `sink`, in order (the same fields
    /// [`Paragraph::fields`] would yield). Use this to process large files
    /// in a single pass over the bytes. If the paragraph turns out to be
    /// malformed, `sink` may have seen some of its fields before the error
    /// is returned.
    pub fn next_with_fields(
        &mut self,
        mut sink: impl FnMut(Field<'a>),
    ) -> Option<Result<Paragraph<'a>, Deb822Error>> {
        let data = self.data;
        // Skip blank lines and comments before the paragraph.
        loop {
            let &first = data.get(self.pos)?;
            let end = self.newlines.line_end(self.pos);
            let skip = match first {
                b'\n' | b'#' => true,
                b' ' | b'\t' | b'\r' => is_blank(data.get(self.pos..end).unwrap_or_default()),
                _ => false,
            };
            if !skip {
                break;
            }
            self.pos = end + 1;
            self.line += 1;
        }
        let start = self.pos;
        let start_line = self.line;
        let mut end = start;
        let mut error: Option<Deb822Error> = None;
        let mut pending: Option<PendingField> = None;
        let mut bloom: u64 = 0;
        self.seen.clear();
        while let Some(&first) = data.get(self.pos) {
            let line_start = self.pos;
            let line_end = self.newlines.line_end(line_start);
            let line_no = self.line;
            self.pos = line_end + 1;
            self.line += 1;
            let line = || data.get(line_start..line_end).unwrap_or_default();
            match first {
                b'\n' => break,
                b' ' | b'\t' | b'\r' if is_blank(line()) => break,
                b'#' => continue,
                b' ' | b'\t' => match &mut pending {
                    Some(p) => p.value.extend(line_start, line_end),
                    None if error.is_none() => {
                        error = Some(Deb822Error {
                            line: line_no,
                            kind: Deb822ErrorKind::ContinuationBeforeField(quote(line())),
                        });
                    }
                    None => {}
                },
                _ if error.is_some() => {}
                _ => {
                    if let Some(p) = pending.take() {
                        sink(p.field(data));
                    }
                    match self.check_field(line_start, line_end, line_no, &mut bloom) {
                        Ok(colon) => {
                            pending = Some(PendingField {
                                start: line_start,
                                colon,
                                line: line_no,
                                value: ValueSpan::new(data, colon, line_end),
                            });
                        }
                        Err(kind) => {
                            error = Some(Deb822Error {
                                line: line_no,
                                kind,
                            })
                        }
                    }
                }
            }
            end = self.pos.min(data.len());
        }
        if let Some(e) = error {
            return Some(Err(e));
        }
        if let Some(p) = pending {
            sink(p.field(data));
        }
        Some(Ok(Paragraph {
            raw: data.get(start..end).unwrap_or_default(),
            line: start_line,
        }))
    }

    /// Validates the field line `[start, end)` (its first byte is not
    /// whitespace or `#`) and records its name; returns the colon position.
    #[inline]
    fn check_field(
        &mut self,
        start: usize,
        end: usize,
        line_no: usize,
        bloom: &mut u64,
    ) -> Result<usize, Deb822ErrorKind> {
        let data = self.data;
        let line = data.get(start..end).unwrap_or_default();
        let Some((colon, clean)) = scan_field_name(line) else {
            return Err(Deb822ErrorKind::MissingColon(quote(line)));
        };
        let mut name = line.get(..colon).unwrap_or_default();
        if !clean {
            // Blanks may separate the name from the colon; anything else
            // that is not a name byte makes the line invalid.
            name = name.trim_ascii_end();
            if name.iter().any(|&b| b <= b' ' || b == 0x7f) {
                return Err(Deb822ErrorKind::InvalidFieldName(quote(name)));
            }
        }
        if name.is_empty() {
            return Err(Deb822ErrorKind::EmptyFieldName(quote(line)));
        }
        let hash = name_hash(name);
        let bit = 1u64 << (hash >> 26);
        if *bloom & bit != 0 {
            let dup = self.seen.iter().find(|s| {
                s.hash == hash
                    && data
                        .get(s.start..s.end)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            if let Some(dup) = dup {
                return Err(Deb822ErrorKind::DuplicateField {
                    name: quote(name),
                    first_line: dup.line,
                });
            }
        }
        *bloom |= bit;
        self.seen.push(SeenName {
            hash,
            start,
            end: start + name.len(),
            line: line_no,
        });
        Ok(start + colon)
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_fields(|_| {})
    }
}

impl std::iter::FusedIterator for Paragraphs<'_> {}
impl std::iter::FusedIterator for Fields<'_> {}
impl std::iter::FusedIterator for ValueLines<'_> {}

/// A piece of a larger buffer that starts and ends on paragraph boundaries,
/// with the line number of its first line in the whole buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The chunk's bytes.
    pub data: &'a [u8],
    /// 1-based line number, in the whole buffer, of the chunk's first line.
    pub first_line: usize,
}

impl<'a> Chunk<'a> {
    /// Scans the chunk, reporting line numbers of the whole buffer.
    pub fn paragraphs(&self) -> Paragraphs<'a> {
        paragraphs_at(self.data, self.first_line)
    }
}

/// Splits `data` into at most `n` chunks of roughly equal size, each cut just
/// after an empty line (so no paragraph spans two chunks), for scanning in
/// parallel. Scanning the chunks in order yields exactly the paragraphs,
/// errors and line numbers of scanning `data` whole. Cutting costs one pass
/// counting newlines.
pub fn split_paragraph_chunks(data: &[u8], n: usize) -> Vec<Chunk<'_>> {
    let n = n.max(1);
    let target = data.len() / n;
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    let mut first_line = 1;
    for i in 1..n {
        let want = (i * target).max(start);
        let Some(cut) = next_empty_line_end(data, want) else {
            break;
        };
        let piece = data.get(start..cut).unwrap_or_default();
        chunks.push(Chunk {
            data: piece,
            first_line,
        });
        first_line += count_newlines(piece);
        start = cut;
    }
    chunks.push(Chunk {
        data: data.get(start..).unwrap_or_default(),
        first_line,
    });
    chunks
}

/// The offset just past the first empty line (`\n` or `\r\n`) that starts
/// after `from`, or `None` if there is none.
fn next_empty_line_end(data: &[u8], from: usize) -> Option<usize> {
    let mut p = from;
    loop {
        let nl = p + memchr(b'\n', data.get(p..)?)?;
        match data.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => p = nl + 1,
        }
    }
}

/// Number of `\n` bytes in `data`.
fn count_newlines(data: &[u8]) -> usize {
    data.chunks(u8::MAX as usize)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn ok_paragraphs(data: &[u8]) -> Vec<Paragraph<'_>> {
        paragraphs(data).map(|p| p.unwrap()).collect()
    }

    fn fields_of<'a>(p: &Paragraph<'a>) -> Vec<(&'a str, &'a str, usize)> {
        p.fields()
            .map(|f| {
                (
                    std::str::from_utf8(f.name).unwrap(),
                    std::str::from_utf8(f.value).unwrap(),
                    f.line,
                )
            })
            .collect()
    }

    #[test]
    fn two_paragraphs_fields_and_lines() {
        let data = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\nDepends: c\n";
        let ps = ok_paragraphs(data);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].line(), 1);
        assert_eq!(ps[1].line(), 4);
        assert_eq!(ps[0].raw(), b"Package: a\nVersion: 1\n");
        assert_eq!(
            fields_of(&ps[1]),
            vec![
                ("Package", "b", 4),
                ("Version", "2", 5),
                ("Depends", "c", 6)
            ]
        );
        assert_eq!(ps[1].get("depends"), Some(&b"c"[..]));
        assert_eq!(ps[1].get("DEPENDS"), Some(&b"c"[..]));
        assert_eq!(ps[1].get("Pre-Depends"), None);
    }

    #[test]
    fn continuation_lines_and_dot_lines() {
        let data = b"Package: a\nDescription: short\n long line one\n .\n\tline two  \nSize: 3\n";
        let ps = ok_paragraphs(data);
        let p = ps[0];
        let d = p.get("description").unwrap();
        assert_eq!(d, b"short\n long line one\n .\n\tline two");
        let lines: Vec<&[u8]> = value_lines(d).collect();
        assert_eq!(
            lines,
            vec![&b"short"[..], b"long line one", b"", b"line two"]
        );
        assert_eq!(
            fields_of(&p),
            vec![
                ("Package", "a", 1),
                ("Description", "short\n long line one\n .\n\tline two", 2),
                ("Size", "3", 6)
            ]
        );
    }

    #[test]
    fn multiline_value_with_empty_first_line() {
        let data = b"Origin: Debian\nSHA256:\n aaa 1 main/x\n bbb 2 main/y\n";
        let ps = ok_paragraphs(data);
        let v = ps[0].get("sha256").unwrap();
        assert_eq!(v, b"aaa 1 main/x\n bbb 2 main/y");
        let lines: Vec<&[u8]> = value_lines(v).collect();
        assert_eq!(lines, vec![&b"aaa 1 main/x"[..], b"bbb 2 main/y"]);
        assert_eq!(value_lines(b"").count(), 0);
    }

    #[test]
    fn crlf_line_endings() {
        let data = b"Package: a\r\nDescription: x\r\n y\r\n .\r\n\r\nPackage: b\r\n";
        let ps = ok_paragraphs(data);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some(&b"a"[..]));
        let d = ps[0].get("description").unwrap();
        let lines: Vec<&[u8]> = value_lines(d).collect();
        assert_eq!(lines, vec![&b"x"[..], b"y", b""]);
        assert_eq!(ps[1].line(), 6);
        assert_eq!(ps[1].get("Package"), Some(&b"b"[..]));
        // A whitespace-only CRLF line also separates paragraphs.
        let data = b"A: 1\r\n \r\nB: 2\r\n";
        assert_eq!(ok_paragraphs(data).len(), 2);
    }

    #[test]
    fn missing_final_newline() {
        let data = b"Package: a\n\nPackage: b\nDescription: x\n more";
        let ps = ok_paragraphs(data);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].raw(), b"Package: b\nDescription: x\n more");
        assert_eq!(ps[1].get("description"), Some(&b"x\n more"[..]));
        let data = b"Package: a";
        let ps = ok_paragraphs(data);
        assert_eq!(fields_of(&ps[0]), vec![("Package", "a", 1)]);
    }

    #[test]
    fn blank_line_runs_and_whitespace_only_lines() {
        let data = b"\n\n  \nA: 1\n\n\n\t \nB: 2\n \nC: 3\n\n\n";
        let ps = ok_paragraphs(data);
        assert_eq!(ps.len(), 3);
        assert_eq!(
            ps.iter().map(|p| p.line()).collect::<Vec<_>>(),
            vec![4, 8, 10]
        );
        assert_eq!(ps[0].raw(), b"A: 1\n");
        assert!(ok_paragraphs(b"").is_empty());
        assert!(ok_paragraphs(b"\n \n\t\n").is_empty());
    }

    #[test]
    fn comments_are_skipped() {
        let data =
            b"# header\nA: 1\n# inside\nB: x\n# between continuation lines\n y\n\n# trailing\n";
        let ps = ok_paragraphs(data);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].line(), 2);
        assert_eq!(
            fields_of(&ps[0]),
            vec![
                ("A", "1", 2),
                ("B", "x\n# between continuation lines\n y", 4)
            ]
        );
        let lines: Vec<&[u8]> = value_lines(ps[0].get("b").unwrap()).collect();
        assert_eq!(lines, vec![&b"x"[..], b"y"]);
        assert!(ok_paragraphs(b"# only a comment\n").is_empty());
    }

    #[test]
    fn field_name_and_value_trimming() {
        let data = b"Name :   spaced value \t\nEmpty:\nX:y:z\n";
        let ps = ok_paragraphs(data);
        assert_eq!(
            fields_of(&ps[0]),
            vec![
                ("Name", "spaced value", 1),
                ("Empty", "", 2),
                ("X", "y:z", 3)
            ]
        );
    }

    #[test]
    fn duplicate_field_is_an_error_with_both_lines() {
        let data = b"A: 1\n\nPackage: a\nVersion: 1\nversion: 2\n\nB: 2\n";
        let r: Vec<_> = paragraphs(data).collect();
        assert_eq!(r.len(), 3);
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.line, 5);
        assert_eq!(
            e.kind,
            Deb822ErrorKind::DuplicateField {
                name: "version".into(),
                first_line: 4
            }
        );
        assert!(
            e.to_string()
                .starts_with("line 5: field \"version\" appears twice")
        );
        // The scanner resumes with the next paragraph.
        assert_eq!(r[2].as_ref().unwrap().get("B"), Some(&b"2"[..]));
    }

    #[test]
    fn duplicates_among_many_fields_are_found() {
        // Enough distinct fields to make hash-filter collisions likely.
        let mut data = Vec::new();
        for i in 0..200 {
            data.extend_from_slice(format!("Field-{i}: v\n").as_bytes());
        }
        assert!(paragraphs(&data).next().unwrap().is_ok());
        data.extend_from_slice(b"FIELD-137: again\n");
        let e = paragraphs(&data).next().unwrap().unwrap_err();
        assert_eq!(e.line, 201);
        assert_eq!(
            e.kind,
            Deb822ErrorKind::DuplicateField {
                name: "FIELD-137".into(),
                first_line: 138
            }
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let e = paragraphs(b"A: 1\nno colon here\n")
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.kind,
            Deb822ErrorKind::MissingColon("no colon here".into())
        );
        assert_eq!(
            e.to_string(),
            "line 2: line \"no colon here\" has no ':' after a field name; expected `Name: value`, \
             a continuation line starting with a space, or a blank line between paragraphs"
        );

        let r: Vec<_> = paragraphs(b"A: 1\n\n continued\nB: 2\n\nC: 3\n").collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].as_ref().unwrap().line(), 1);
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.kind,
            Deb822ErrorKind::ContinuationBeforeField(" continued".into())
        );
        assert_eq!(r[2].as_ref().unwrap().line(), 6);

        let e = paragraphs(b"A: 1\n: value\n").next().unwrap().unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, Deb822ErrorKind::EmptyFieldName(": value".into()));

        let e = paragraphs(b"A: 1\nBad Name: value\n")
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, Deb822ErrorKind::InvalidFieldName("Bad Name".into()));

        // The first error of a paragraph wins.
        let e = paragraphs(b"A: 1\nbad\nA: 2\n")
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 2);

        // Long lines are quoted truncated.
        let long = [b'x'; 200];
        let e = paragraphs(&long).next().unwrap().unwrap_err();
        let Deb822ErrorKind::MissingColon(q) = e.kind else {
            panic!("wrong kind")
        };
        assert_eq!(q.len(), ERROR_QUOTE_LEN + 3);
    }

    #[test]
    fn non_utf8_is_carried_as_bytes() {
        let data = b"A: caf\xe9\n";
        let ps = ok_paragraphs(data);
        assert_eq!(ps[0].get("a"), Some(&b"caf\xe9"[..]));
    }

    #[test]
    fn line_offset_applies_to_everything() {
        let data = b"A: 1\n\nB: 2\nB: 3\n";
        let r: Vec<_> = paragraphs_at(data, 100).collect();
        assert_eq!(r[0].as_ref().unwrap().line(), 100);
        assert_eq!(r[1].as_ref().unwrap_err().line, 103);
    }

    /// Straightforward reference implementation of the same syntax, used to
    /// cross-check the fast scanner on random inputs.
    #[derive(Debug, PartialEq)]
    enum RefParagraph {
        Ok(usize, Vec<(Vec<u8>, Vec<u8>, usize)>),
        Err(usize),
    }

    fn reference(data: &[u8]) -> Vec<RefParagraph> {
        let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        if data.last() == Some(&b'\n') || data.is_empty() {
            lines.pop();
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let blank = |l: &[u8]| l.iter().all(|b| b" \t\r".contains(b));
            if blank(lines[i]) || lines[i].starts_with(b"#") {
                i += 1;
                continue;
            }
            let start_line = i + 1;
            let mut fields: Vec<(Vec<u8>, Vec<u8>, usize)> = Vec::new();
            let mut err = None;
            while i < lines.len() && !blank(lines[i]) {
                let l = lines[i];
                let line_no = i + 1;
                i += 1;
                if l.starts_with(b"#") {
                    continue;
                }
                if l[0] == b' ' || l[0] == b'\t' {
                    match fields.last_mut() {
                        Some(f) => {
                            f.1.push(b'\n');
                            f.1.extend_from_slice(l);
                        }
                        None => {
                            err.get_or_insert(line_no);
                        }
                    }
                    continue;
                }
                let Some(c) = l.iter().position(|&b| b == b':') else {
                    err.get_or_insert(line_no);
                    continue;
                };
                let name = l[..c].trim_ascii_end().to_vec();
                if name.is_empty()
                    || name.iter().any(|&b| b <= b' ' || b == 0x7f)
                    || fields.iter().any(|f| f.0.eq_ignore_ascii_case(&name))
                {
                    err.get_or_insert(line_no);
                }
                fields.push((name, l[c + 1..].to_vec(), line_no));
            }
            out.push(match err {
                Some(l) => RefParagraph::Err(l),
                None => RefParagraph::Ok(
                    start_line,
                    fields
                        .into_iter()
                        .map(|(n, v, l)| {
                            // Comments inside values are kept raw by the
                            // scanner; the reference has dropped them, so
                            // compare the value lines instead.
                            (n, v.trim_ascii().to_vec(), l)
                        })
                        .collect(),
                ),
            });
        }
        out
    }

    fn scanned(data: &[u8], first_line: usize) -> Vec<RefParagraph> {
        paragraphs_at(data, first_line)
            .map(|r| match r {
                Ok(p) => RefParagraph::Ok(
                    p.line(),
                    p.fields()
                        .map(|f| {
                            let lines: Vec<&[u8]> = f.value.split(|&b| b == b'\n').collect();
                            let mut v = Vec::new();
                            for (k, l) in lines.iter().enumerate() {
                                if k > 0 && l.starts_with(b"#") {
                                    continue;
                                }
                                if k > 0 {
                                    v.push(b'\n');
                                }
                                v.extend_from_slice(l);
                            }
                            (f.name.to_vec(), v.trim_ascii().to_vec(), f.line)
                        })
                        .collect(),
                ),
                Err(e) => RefParagraph::Err(e.line),
            })
            .collect()
    }

    #[test]
    fn random_inputs_match_reference_and_chunking() {
        let pieces: &[&[u8]] = &[
            b"A", b"b", b"Field", b":", b" ", b"\t", b"\n", b"\n", b"\n", b"\r\n", b"#", b".",
            b"x", b"\xff", b"Ab", b"aB",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x00de_b822);
        for round in 0..4000 {
            let n = rng.random_range(0..if round % 4 == 0 { 400 } else { 60 });
            let mut data = Vec::new();
            for _ in 0..n {
                data.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            let expected = reference(&data);
            assert_eq!(
                scanned(&data, 1),
                expected,
                "input {:?}",
                data.escape_ascii().to_string()
            );
            // The single-pass sink sees exactly the fields `fields()` yields.
            let mut scan = paragraphs(&data);
            loop {
                let mut sunk = Vec::new();
                match scan.next_with_fields(|f| sunk.push(f)) {
                    None => break,
                    Some(Ok(p)) => {
                        // Spans are offsets into the buffer scanned: `data`
                        // for the sink, the paragraph for `fields()`.
                        let base = p.raw.as_ptr() as usize - data.as_ptr() as usize;
                        let fields: Vec<Field<'_>> = p
                            .fields()
                            .map(|f| Field {
                                span: (f.span.0 + base, f.span.1 + base),
                                ..f
                            })
                            .collect();
                        assert_eq!(sunk, fields);
                        for f in &sunk {
                            // A span holds the field as written: its name
                            // first, its value within.
                            let written = &data[f.span.0..f.span.1];
                            assert!(written.starts_with(f.name), "{f:?}");
                            let value_at = f.value.as_ptr() as usize - data.as_ptr() as usize;
                            assert!(
                                f.value.is_empty()
                                    || (value_at >= f.span.0
                                        && value_at + f.value.len() <= f.span.1),
                                "{f:?}"
                            );
                        }
                    }
                    Some(Err(_)) => {}
                }
            }
            for v in paragraphs(&data).flatten().flat_map(|p| p.fields()) {
                let _ = value_lines(v.value).count();
            }
            for k in 1..5 {
                let chunks = split_paragraph_chunks(&data, k);
                let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
                assert_eq!(joined, data);
                let got: Vec<RefParagraph> = chunks
                    .iter()
                    .flat_map(|c| scanned(c.data, c.first_line))
                    .collect();
                assert_eq!(
                    got,
                    expected,
                    "chunks {k} of {:?}",
                    data.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn swar_helpers_are_exact() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let interesting = [
            0u8, b'\n', b':', b' ', b'\t', 0x20, 0x21, 0x7f, 0x80, 0xff, 0x0a,
        ];
        for round in 0..20000 {
            let bytes: [u8; 8] = std::array::from_fn(|_| {
                if round % 2 == 0 {
                    interesting[rng.random_range(0..interesting.len())]
                } else {
                    rng.random()
                }
            });
            let w = u64::from_le_bytes(bytes);
            let expect = |f: &dyn Fn(u8) -> bool| {
                bytes
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &b)| m | (u64::from(f(b)) << i))
            };
            assert_eq!(
                gather(eq_bytes(w, b'\n')),
                expect(&|b| b == b'\n'),
                "{bytes:?}"
            );
            assert_eq!(
                gather(eq_bytes(w, b':')),
                expect(&|b| b == b':'),
                "{bytes:?}"
            );
            assert_eq!(
                gather(non_name_bytes(w)),
                expect(&|b| b <= b' ' || b == 0x7f),
                "{bytes:?}"
            );
        }
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b; 8]);
            assert_eq!(gather(zero_bytes(w)), if b == 0 { 0xff } else { 0 });
        }
    }

    #[test]
    fn field_name_scan_matches_byte_loop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let alphabet = b"Ab-: \t\x7f\x01\xc3";
        for _ in 0..20000 {
            let len = rng.random_range(0..40);
            let line: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let expect = line
                .iter()
                .position(|&b| b == b':')
                .map(|c| (c, line[..c].iter().all(|&b| b > b' ' && b != 0x7f)));
            assert_eq!(scan_field_name(&line), expect, "{line:?}");
        }
    }

    #[test]
    fn chunks_split_on_paragraph_boundaries() {
        let mut data = Vec::new();
        for i in 0..1000 {
            data.extend_from_slice(format!("Package: p{i}\nVersion: 1\n").as_bytes());
            data.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n\n" });
        }
        let whole: Vec<(usize, Vec<u8>)> = paragraphs(&data)
            .map(|p| {
                let p = p.unwrap();
                (p.line(), p.get("package").unwrap().to_vec())
            })
            .collect();
        for n in [1, 2, 3, 7, 64, 5000] {
            let chunks = split_paragraph_chunks(&data, n);
            assert!(chunks.len() <= n);
            if n <= 64 {
                assert_eq!(chunks.len(), n);
            }
            let got: Vec<(usize, Vec<u8>)> = chunks
                .iter()
                .flat_map(|c| c.paragraphs())
                .map(|p| {
                    let p = p.unwrap();
                    (p.line(), p.get("package").unwrap().to_vec())
                })
                .collect();
            assert_eq!(got, whole, "n = {n}");
        }
        assert_eq!(
            split_paragraph_chunks(b"", 4),
            vec![Chunk {
                data: b"",
                first_line: 1
            }]
        );
        assert_eq!(count_newlines(&[b'\n'; 1000]), 1000);
    }
}
