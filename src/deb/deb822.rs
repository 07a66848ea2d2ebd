//! deb822 control-data scanning: splitting `Packages`, `Release`, `Sources`
//! and similar files into paragraphs and fields.
//!
//! The scanner works on a borrowed byte buffer and never allocates per field:
//! lines are found with `memchr`, and every paragraph, field name and value
//! handed out is a slice of the input. It owns the *syntax* only (paragraph
//! separation, continuation lines, comments, field names, duplicate fields);
//! the meaning of individual fields belongs to [`crate::deb::package`],
//! [`crate::deb::relation`] and the Release parser.
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
            rest: self.raw,
            line: self.line,
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
    rest: &'a [u8],
    line: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        loop {
            let rest = self.rest;
            let first = *rest.first()?;
            let first_len = memchr(b'\n', rest).unwrap_or(rest.len());
            let field_line = self.line;
            self.line += 1;
            let mut off = (first_len + 1).min(rest.len());
            // The paragraph was validated by the scanner, so every line is a
            // field, a continuation of one, or a comment. Comments (and, if
            // the invariant were ever broken, stray lines) are skipped.
            let colon = match first {
                b'#' | b' ' | b'\t' => None,
                _ => memchr(b':', &rest[..first_len]),
            };
            let Some(colon) = colon else {
                self.rest = &rest[off..];
                continue;
            };
            let mut value_start = colon + 1;
            let mut value_end = first_len;
            let mut first_empty = rest[value_start..first_len].trim_ascii().is_empty();
            // Absorb continuation lines; comment lines are skipped but neither
            // start nor extend the value.
            while let Some(&b) = rest.get(off) {
                if b != b' ' && b != b'\t' && b != b'#' {
                    break;
                }
                let tail = &rest[off..];
                let len = memchr(b'\n', tail).unwrap_or(tail.len());
                if b != b'#' {
                    if first_empty {
                        value_start = off;
                        first_empty = false;
                    }
                    value_end = off + len;
                }
                off = (off + len + 1).min(rest.len());
                self.line += 1;
            }
            self.rest = &rest[off..];
            let name = rest[..colon].trim_ascii_end();
            let value = rest.get(value_start..value_end).unwrap_or_default();
            return Some(Field {
                name,
                value: value.trim_ascii(),
                line: field_line,
            });
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

/// Validates a field line (first byte is not blank, `#` or whitespace) and
/// returns the length of its name and the case-folded hash of the name.
#[inline]
fn check_field_line(line: &[u8]) -> Result<(usize, u32), Deb822ErrorKind> {
    let Some(colon) = memchr(b':', line) else {
        return Err(Deb822ErrorKind::MissingColon(quote(line)));
    };
    let name = line[..colon].trim_ascii_end();
    if name.is_empty() {
        return Err(Deb822ErrorKind::EmptyFieldName(quote(line)));
    }
    let mut hash: u32 = 0;
    let mut bad = false;
    for &b in name {
        bad |= b <= b' ' || b == 0x7f;
        hash = hash.wrapping_mul(31) ^ u32::from(b | 0x20);
    }
    if bad {
        return Err(Deb822ErrorKind::InvalidFieldName(quote(name)));
    }
    Ok((name.len(), hash))
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        // Skip blank lines and comments before the paragraph.
        loop {
            let rest = data.get(self.pos..).unwrap_or_default();
            let &first = rest.first()?;
            let len = memchr(b'\n', rest).unwrap_or(rest.len());
            let blank = match first {
                b'\n' => true,
                b' ' | b'\t' | b'\r' => is_blank(&rest[..len]),
                b'#' => true,
                _ => false,
            };
            if !blank {
                break;
            }
            self.pos += len + 1;
            self.line += 1;
        }
        let start = self.pos;
        let start_line = self.line;
        let mut end = start;
        let mut error: Option<Deb822Error> = None;
        let mut have_field = false;
        let mut bloom: u64 = 0;
        self.seen.clear();
        while let Some(rest) = data.get(self.pos..) {
            let Some(&first) = rest.first() else { break };
            let len = memchr(b'\n', rest).unwrap_or(rest.len());
            let line = &rest[..len];
            let line_no = self.line;
            let next = self.pos + len + 1;
            match first {
                b'\n' => {
                    self.pos = next;
                    self.line += 1;
                    break;
                }
                b' ' | b'\t' | b'\r' if is_blank(line) => {
                    self.pos = next;
                    self.line += 1;
                    break;
                }
                b' ' | b'\t' => {
                    if !have_field && error.is_none() {
                        error = Some(Deb822Error {
                            line: line_no,
                            kind: Deb822ErrorKind::ContinuationBeforeField(quote(line)),
                        });
                    }
                }
                b'#' => {
                    self.pos = next;
                    self.line += 1;
                    continue;
                }
                _ if error.is_some() => {}
                _ => match check_field_line(line) {
                    Err(kind) => {
                        error = Some(Deb822Error {
                            line: line_no,
                            kind,
                        })
                    }
                    Ok((name_len, hash)) => {
                        have_field = true;
                        let name = &line[..name_len];
                        let bit = 1u64 << (hash & 63);
                        if bloom & bit != 0 {
                            let dup = self.seen.iter().find(|s| {
                                s.hash == hash
                                    && data
                                        .get(s.start..s.end)
                                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                            });
                            if let Some(dup) = dup {
                                error = Some(Deb822Error {
                                    line: line_no,
                                    kind: Deb822ErrorKind::DuplicateField {
                                        name: quote(name),
                                        first_line: dup.line,
                                    },
                                });
                            }
                        }
                        bloom |= bit;
                        self.seen.push(SeenName {
                            hash,
                            start: self.pos,
                            end: self.pos + name_len,
                            line: line_no,
                        });
                    }
                },
            }
            self.pos = next;
            self.line += 1;
            end = next.min(data.len());
        }
        Some(match error {
            Some(e) => Err(e),
            None => Ok(Paragraph {
                raw: data.get(start..end).unwrap_or_default(),
                line: start_line,
            }),
        })
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
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0deb_822);
        for _ in 0..3000 {
            let n = rng.random_range(0..60);
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
