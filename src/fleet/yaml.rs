//! The one YAML front end of the crate: the only module that uses the YAML
//! library (serde-saphyr), so that it can be swapped without touching the
//! fleet code.
//!
//! # Approach
//!
//! A document is parsed into a small, source-positioned tree ([`Node`]):
//! scalars, sequences and mappings, every node carrying the 1-based line and
//! column where it appears, and mappings keeping their entries **in file
//! order with duplicates** (duplicate keys are reported by the callers, who
//! can name both lines). The fleet modules then validate that tree by hand,
//! which lets every error carry `file:line:column` and say what to do.
//!
//! serde-saphyr gives positions for every node, keys included, through its
//! `Spanned` wrapper, so no separate line scan of the text is needed; block
//! and flow style (`{a: 1}`) are handled alike.
//!
//! Scalars are kept **verbatim**. A YAML library infers types for unquoted
//! scalars (`1.10` is the float `1.1`, `0755` an integer, `yes` maybe a
//! boolean); for anything that was not read as a string, the text is taken
//! from the source bytes the parser's span points at, so `adduser: 3.134`
//! yields `3.134` and `foo: 1.10` yields `1.10`, never `1.1`. [`ScalarKind`]
//! still says how YAML would have read it, so callers can reject nulls.
//!
//! Cost: building the positioned tree takes about 27% more instructions
//! than deserializing the same 300-package manifest into a plain typed
//! struct (5.6 M vs 4.4 M instructions per parse, measured with callgrind on
//! a release build); the verbatim pass only touches non-string scalars.
//!
//! # Limits
//!
//! Input is untrusted. Parsing is bounded: at most [`MAX_DEPTH`] levels of
//! nesting (each level costs stack in the recursive deserializer, so this
//! also protects the stack of small rayon threads), [`MAX_NODES`] nodes,
//! a cap on alias expansion (billion-laughs documents fail fast), one
//! document per file and [`MAX_INPUT_BYTES`] of input. A document that
//! exceeds a limit is an error, never a hang or a crash. The tree borrows
//! plain scalars from the input, so its memory is a small multiple of the
//! number of nodes (about 48 bytes each), bounded by [`MAX_NODES`].
//!
//! Tabs in indentation are rejected up front with a clear message (YAML
//! forbids them and parsers word that obscurely).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 24;
/// Most nodes (scalars, sequences, mappings) accepted in one document: a
/// manifest of 100,000 packages. Real images have a few thousand at most.
pub const MAX_NODES: usize = 200_000;
/// Largest input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;
/// Most alias (`*name`) events replayed in one document.
const MAX_REPLAYED_EVENTS: usize = 20_000;

/// A 1-based position in a YAML source (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML syntax error, a limit breached, or (from the helpers below) a value
/// of the wrong shape; `message` says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong, and what to do about it.
    pub message: String,
}

impl YamlError {
    /// A problem at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        YamlError {
            pos,
            message: message.into(),
        }
    }
}

/// How YAML would have typed a scalar had it been read without a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// A string: quoted, or plain text that is not a number, boolean or null.
    Str,
    /// An integer such as `2` or `0x1F` (text kept verbatim).
    Int,
    /// A float such as `1.10` or `1e5` (text kept verbatim).
    Float,
    /// A boolean such as `true` (text kept verbatim).
    Bool,
    /// Null: `~`, `null` or nothing at all (text kept verbatim, maybe empty).
    Null,
}

/// A scalar: its text (decoded for strings, verbatim source otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar<'a> {
    /// The text. For [`ScalarKind::Str`] the decoded string (quotes and
    /// escapes resolved); for every other kind the exact source spelling.
    pub text: Cow<'a, str>,
    /// How YAML typed it.
    pub kind: ScalarKind,
}

/// One mapping entry, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The key node.
    pub key: Node<'a>,
    /// The value node.
    pub value: Node<'a>,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A scalar.
    Scalar(Scalar<'a>),
    /// A sequence (list).
    Seq(Vec<Node<'a>>),
    /// A mapping, entries in file order, duplicates kept.
    Map(Vec<Entry<'a>>),
}

/// A positioned YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// Where the node appears (for an alias: where the alias is used).
    pub pos: Pos,
    /// Its content.
    pub value: Value<'a>,
    /// Byte range of the node's definition in the source, used to recover
    /// the verbatim text of non-string scalars. `u32::MAX` when unknown.
    start: u32,
    len: u32,
}

impl<'a> Node<'a> {
    /// The mapping entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[Entry<'a>]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node<'a>]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar<'a>> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a non-null scalar (verbatim for numbers and booleans).
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) if s.kind != ScalarKind::Null => Some(&s.text),
            _ => None,
        }
    }

    /// What the node is, for messages: "a mapping", "a list", "a string", ...
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a list",
            Value::Scalar(s) => match s.kind {
                ScalarKind::Str => "a string",
                ScalarKind::Int | ScalarKind::Float => "a number",
                ScalarKind::Bool => "a boolean",
                ScalarKind::Null => "an empty value (null)",
            },
        }
    }

    /// Requires a non-null scalar and returns its text; `what` names the
    /// value in the error ("`base`", "the version of `libc6`").
    pub fn expect_text(&self, what: &str) -> Result<&str, YamlError> {
        match &self.value {
            Value::Scalar(s) if s.kind != ScalarKind::Null => Ok(&s.text),
            Value::Scalar(_) => Err(YamlError::new(
                self.pos,
                format!("{what} is empty (null); write a value"),
            )),
            _ => Err(YamlError::new(
                self.pos,
                format!(
                    "{what} must be a single value (a string), found {}",
                    self.describe()
                ),
            )),
        }
    }

    /// Requires a sequence of non-null scalars and returns their texts with
    /// positions. A single scalar is not accepted: lists are written `[a, b]`.
    pub fn expect_text_list(&self, what: &str) -> Result<Vec<(&str, Pos)>, YamlError> {
        let items = self.as_seq().ok_or_else(|| {
            YamlError::new(
                self.pos,
                format!(
                    "{what} must be a list such as [a, b], found {}",
                    self.describe()
                ),
            )
        })?;
        items
            .iter()
            .map(|item| Ok((item.expect_text(&format!("an item of {what}"))?, item.pos)))
            .collect()
    }
}

/// Decodes UTF-8, reporting the line and column of the first invalid byte.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, YamlError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        // The prefix is valid UTF-8, so it can be counted in characters.
        let prefix = std::str::from_utf8(good).unwrap_or_default();
        let pos = pos_at(prefix, prefix.len());
        let bad = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
        YamlError::new(
            pos,
            format!("the file is not valid UTF-8 (byte 0x{bad:02x}); save it as UTF-8"),
        )
    })
}

/// The position of byte offset `at` in `src` (which must be a char boundary).
fn pos_at(src: &str, at: usize) -> Pos {
    let before = src.get(..at).unwrap_or(src);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// Rejects tab characters used for indentation: a tab before the first
/// non-blank character of a line that has content (blank and comment-only
/// lines may contain tabs).
fn check_tabs(src: &str) -> Result<(), YamlError> {
    let bytes = src.as_bytes();
    for tab in memchr::memchr_iter(b'\t', bytes) {
        let line_start =
            memchr::memrchr(b'\n', bytes.get(..tab).unwrap_or_default()).map_or(0, |i| i + 1);
        let indent = bytes.get(line_start..tab).unwrap_or_default();
        let content = bytes
            .get(tab..)
            .unwrap_or_default()
            .iter()
            .find(|&&b| b != b' ' && b != b'\t');
        let has_content = !matches!(content, None | Some(b'\n' | b'\r' | b'#'));
        if has_content && indent.iter().all(|&b| b == b' ' || b == b'\t') {
            return Err(YamlError::new(
                pos_at(src, tab),
                "tab character in indentation; YAML indents with spaces only: replace the tab with spaces",
            ));
        }
    }
    Ok(())
}

/// Parses one YAML document into a positioned tree.
///
/// An empty document (nothing but comments or whitespace) yields a null
/// scalar at 1:1. Errors carry the position the parser reported.
pub fn parse(src: &str) -> Result<Node<'_>, YamlError> {
    parse_with_limits(src, MAX_NODES)
}

/// [`parse`] with a chosen node limit (tests use a small one).
fn parse_with_limits(src: &str, max_nodes: usize) -> Result<Node<'_>, YamlError> {
    if src.len() > MAX_INPUT_BYTES {
        return Err(YamlError::new(
            Pos { line: 1, column: 1 },
            format!(
                "the document is {} bytes, more than the limit of {MAX_INPUT_BYTES} bytes",
                src.len()
            ),
        ));
    }
    check_tabs(src)?;
    let options = serde_saphyr::options! {
        // Duplicates are reported by the callers, naming both lines.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // Only `true`/`false` are booleans; `yes`/`y`/`on` stay strings.
        strict_booleans: true,
        // `.nan`/`.inf` are passed through; the verbatim text is used anyway.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: max_nodes,
            max_events: 3 * max_nodes,
            max_documents: 1,
            max_aliases: 1_000,
            max_anchors: 1_000,
        },
    };
    let mut root: Node<'_> = serde_saphyr::from_str_with_options(src, options)
        .map_err(|e| convert_error(&e, max_nodes))?;
    restore_verbatim(&mut root, src)?;
    Ok(root)
}

/// Turns a serde-saphyr error into a positioned message in our words.
fn convert_error(err: &serde_saphyr::Error, max_nodes: usize) -> YamlError {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let pos = err
        .location()
        .map(|l| Pos {
            line: u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
            column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
        })
        .unwrap_or(Pos { line: 1, column: 1 });
    let mut inner = err.without_snippet();
    while let E::AliasError { error, .. } = inner {
        inner = error.without_snippet();
    }
    let message = match inner {
        E::Budget { breach, .. } => match breach {
            B::Depth { .. } => format!(
                "nested more than {MAX_DEPTH} levels deep; this file's structure is only a few levels deep, check the indentation and brackets"
            ),
            B::Nodes { .. } | B::Events { .. } => format!(
                "the document has more than {max_nodes} values, more than any real image or fleet needs; split it or check that it is the right file"
            ),
            B::Aliases { .. } | B::Anchors { .. } => {
                "too many anchors or aliases (&name / *name); write the values out".to_string()
            }
            B::Documents { .. } => {
                "more than one YAML document (`---`) in the file; keep one document per file"
                    .to_string()
            }
            other => format!("the document exceeds a parsing limit ({other:?})"),
        },
        E::MultipleDocuments { .. } => {
            "more than one YAML document (`---`) in the file; keep one document per file"
                .to_string()
        }
        other => {
            let text = serde_saphyr::DefaultMessageFormatter.format_message(other);
            if text.contains("recursion limit") {
                format!("nested more than {MAX_DEPTH} levels deep; check the brackets")
            } else if text.contains("alias") || text.contains("replay") {
                format!(
                    "invalid YAML: {text}; aliases (*name) may expand to at most {MAX_REPLAYED_EVENTS} values"
                )
            } else {
                format!("invalid YAML: {text}")
            }
        }
    };
    YamlError::new(pos, message)
}

/// Replaces the text of every non-string scalar with its source spelling.
fn restore_verbatim<'a>(node: &mut Node<'a>, src: &'a str) -> Result<(), YamlError> {
    match &mut node.value {
        Value::Scalar(s) => {
            if s.kind != ScalarKind::Str {
                let start = node.start as usize;
                let end = start.saturating_add(node.len as usize);
                let text = src.get(start..end).ok_or_else(|| {
                    YamlError::new(
                        node.pos,
                        "cannot recover the text of this value from the source; quote it",
                    )
                })?;
                s.text = Cow::Borrowed(strip_properties(text));
            }
            Ok(())
        }
        Value::Seq(items) => items.iter_mut().try_for_each(|n| restore_verbatim(n, src)),
        Value::Map(entries) => entries.iter_mut().try_for_each(|e| {
            restore_verbatim(&mut e.key, src)?;
            restore_verbatim(&mut e.value, src)
        }),
    }
}

/// Drops a leading tag or anchor (`!!float 1.5`, `&a 1.5`) from a scalar's
/// source text, should the parser's span include it.
fn strip_properties(mut text: &str) -> &str {
    while text.starts_with(['!', '&']) {
        match text.find([' ', '\n']) {
            Some(i) => text = text.get(i..).unwrap_or("").trim_start(),
            None => return text,
        }
    }
    text
}

// ---------------------------------------------------------------------------
// Deserialization into the tree (the only serde-saphyr specific part).

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned: Spanned<Value<'de>> = Spanned::deserialize(deserializer)?;
        let span = spanned.defined.span();
        let (start, len) = match (span.byte_offset(), span.byte_len()) {
            (Some(o), Some(l)) => (
                u32::try_from(o).unwrap_or(u32::MAX),
                u32::try_from(l).unwrap_or(0),
            ),
            _ => (u32::MAX, 0),
        };
        let loc = spanned.referenced;
        Ok(Node {
            pos: Pos {
                line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            },
            value: spanned.value,
            start,
            len,
        })
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl ValueVisitor {
    /// A non-string scalar; its text is filled in by [`restore_verbatim`].
    fn typed<'de>(kind: ScalarKind) -> Value<'de> {
        Value::Scalar(Scalar {
            text: Cow::Borrowed(""),
            kind,
        })
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Scalar(Scalar {
            text: Cow::Borrowed(v),
            kind: ScalarKind::Str,
        }))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'de>, E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Scalar(Scalar {
            text: Cow::Owned(v),
            kind: ScalarKind::Str,
        }))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Value<'de>, E> {
        Err(E::custom(
            "binary (!!binary) values are not supported; write plain text",
        ))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Int))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Int))
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Int))
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Float))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Value<'de>, E> {
        self.visit_string(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Self::typed(ScalarKind::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(node) = seq.next_element::<Node<'de>>()? {
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Node<'de>>()? {
            let value = map.next_value::<Node<'de>>()?;
            entries.push(Entry { key, value });
        }
        Ok(Value::Map(entries))
    }
}

// ---------------------------------------------------------------------------
// Reading helpers shared by the fleet modules (independent of the library).

/// The text of a mapping key. Keys must be non-null scalars.
pub fn key_text<'n>(key: &'n Node<'_>) -> Result<&'n str, YamlError> {
    match &key.value {
        Value::Scalar(s) if s.kind != ScalarKind::Null && !s.text.is_empty() => Ok(&s.text),
        Value::Scalar(_) => Err(YamlError::new(
            key.pos,
            "empty mapping key; write a name before the `:`",
        )),
        _ => Err(YamlError::new(
            key.pos,
            format!("mapping keys must be plain names, found {}", key.describe()),
        )),
    }
}

/// Later entries of `entries` whose key repeats an earlier one, with the
/// position of the first occurrence: `(first, duplicate entry)`. Keys that
/// are not texts are skipped (see [`key_text`]).
pub fn duplicate_keys<'n, 'a>(entries: &'n [Entry<'a>]) -> Vec<(Pos, &'n Entry<'a>)> {
    let mut seen: HashMap<&str, Pos> = HashMap::with_capacity(entries.len());
    let mut dups = Vec::new();
    for entry in entries {
        if let Ok(k) = key_text(&entry.key) {
            match seen.get(k) {
                Some(first) => dups.push((*first, entry)),
                None => {
                    seen.insert(k, entry.key.pos);
                }
            }
        }
    }
    dups
}

/// A mapping with a fixed set of allowed keys, checked once: unknown,
/// duplicate and non-text keys are reported, and known keys can then be
/// looked up.
pub struct Fields<'n, 'a> {
    keys: &'static [&'static str],
    found: Vec<Option<&'n Entry<'a>>>,
    /// Where to report missing keys.
    at: Pos,
    what: String,
}

impl<'n, 'a> Fields<'n, 'a> {
    /// Checks that `node` is a mapping whose keys are all in `keys`,
    /// pushing a problem for each unknown or duplicated key. `what` names the
    /// mapping in messages ("the top level", "base `bookworm`"); `at` is
    /// where a missing key is reported (usually the mapping's own key).
    /// Returns `None` (after pushing a problem) if `node` is not a mapping.
    pub fn new(
        node: &'n Node<'a>,
        what: &str,
        at: Pos,
        keys: &'static [&'static str],
        problems: &mut Vec<YamlError>,
    ) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            problems.push(YamlError::new(
                node.pos,
                format!(
                    "{what} must be a mapping of `key: value` lines, found {}",
                    node.describe()
                ),
            ));
            return None;
        };
        let mut found = vec![None; keys.len()];
        for entry in entries {
            let key = match key_text(&entry.key) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            match keys.iter().position(|k| *k == key) {
                Some(i) => match found.get_mut(i) {
                    Some(slot @ None) => *slot = Some(entry),
                    Some(Some(first)) => problems.push(YamlError::new(
                        entry.key.pos,
                        format!(
                            "duplicate key `{key}` in {what} (first at line {}); keep one",
                            first.key.pos.line
                        ),
                    )),
                    None => {}
                },
                None => problems.push(YamlError::new(
                    entry.key.pos,
                    format!(
                        "unknown key `{key}` in {what}; expected one of: {}",
                        keys.join(", ")
                    ),
                )),
            }
        }
        Some(Fields {
            keys,
            found,
            at,
            what: what.to_string(),
        })
    }

    /// The entry for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Entry<'a>> {
        let i = self.keys.iter().position(|k| *k == key)?;
        self.found.get(i).copied().flatten()
    }

    /// The entry for `key`, or a "missing key" problem.
    pub fn required(&self, key: &str, problems: &mut Vec<YamlError>) -> Option<&'n Entry<'a>> {
        let entry = self.get(key);
        if entry.is_none() {
            problems.push(YamlError::new(
                self.at,
                format!("missing required key `{key}` in {}", self.what),
            ));
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'n, 'a>(n: &'n Node<'a>) -> &'n [Entry<'a>] {
        n.as_map().expect("a mapping")
    }

    fn p(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn numbers_booleans_and_nulls_are_kept_verbatim() {
        let src = "a: 1.10 # c\nb: 2\nc: yes\nd: ~\ne:\nf: \"1.5\"\ng: 1e5\nh: 0755\ni: 1_000\n\
                   j: 123456789012345678901234567890\nk: true\nl: .inf\nm: 0x1F\nn: NULL\no: 2.50  \n";
        let root = parse(src).unwrap();
        let got: Vec<(&str, &str, ScalarKind)> = map(&root)
            .iter()
            .map(|e| {
                let s = e.value.as_scalar().unwrap();
                (key_text(&e.key).unwrap(), &*s.text, s.kind)
            })
            .collect();
        use ScalarKind::*;
        assert_eq!(
            got,
            vec![
                ("a", "1.10", Float),
                ("b", "2", Int),
                ("c", "yes", Str),
                ("d", "~", Null),
                ("e", "", Null),
                ("f", "1.5", Str),
                ("g", "1e5", Float),
                ("h", "0755", Float),
                ("i", "1_000", Int),
                ("j", "123456789012345678901234567890", Float),
                ("k", "true", Bool),
                ("l", ".inf", Float),
                ("m", "0x1F", Int),
                ("n", "NULL", Null),
                ("o", "2.50", Float),
            ]
        );
    }

    #[test]
    fn nodes_stay_small() {
        // The memory bound documented above.
        assert!(std::mem::size_of::<Node<'_>>() <= 48);
    }

    #[test]
    fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
        let root = parse("\u{feff}a: 1.10\r\nb: 2\r\n").unwrap();
        let e = map(&root);
        assert_eq!(key_text(&e[0].key).unwrap(), "a");
        assert_eq!(e[0].value.as_text(), Some("1.10"));
        assert_eq!(e[1].value.as_text(), Some("2"));
        assert_eq!(e[1].key.pos, p(2, 1));
    }

    #[test]
    fn positions_of_keys_and_values_block_and_flow() {
        let src = "top:\n  x: 1\n  \"y\": [a, 2.0]\nflow: {k: 3.10, n: v}\n";
        let root = parse(src).unwrap();
        let e = map(&root);
        assert_eq!(e[0].key.pos, p(1, 1));
        let inner = map(&e[0].value);
        assert_eq!(inner[0].key.pos, p(2, 3));
        assert_eq!(inner[0].value.pos, p(2, 6));
        assert_eq!(inner[1].key.pos, p(3, 3));
        let items = inner[1].value.as_seq().unwrap();
        assert_eq!(items[1].pos, p(3, 12));
        assert_eq!(items[1].as_text(), Some("2.0"));
        let flow = map(&e[1].value);
        assert_eq!(key_text(&flow[0].key).unwrap(), "k");
        assert_eq!(flow[0].key.pos, p(4, 8));
        assert_eq!(flow[0].value.as_text(), Some("3.10"));
        // `n` would be a YAML 1.1 boolean; it stays the text "n".
        assert_eq!(key_text(&flow[1].key).unwrap(), "n");
        assert_eq!(flow[1].key.pos, p(4, 17));
    }

    #[test]
    fn aliases_keep_the_anchored_text_and_the_use_position() {
        let src = "a: &v 3.10\nb: *v\n";
        let root = parse(src).unwrap();
        let e = map(&root);
        assert_eq!(e[1].value.as_text(), Some("3.10"));
        assert_eq!(e[1].value.pos, p(2, 4));
        assert_eq!(strip_properties("&a !!float 1.5"), "1.5");
        assert_eq!(strip_properties("1.5"), "1.5");
        assert_eq!(strip_properties("!!null"), "!!null");
        let src = "a: !!float 1.50\n";
        let root = parse(src).unwrap();
        assert_eq!(map(&root)[0].value.as_text(), Some("1.50"));
    }

    #[test]
    fn duplicates_are_kept_for_the_caller() {
        let root = parse("a: 1\nb: 2\na: 3\n").unwrap();
        let dups = duplicate_keys(map(&root));
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].0, p(1, 1));
        assert_eq!(dups[0].1.key.pos, p(3, 1));
    }

    #[test]
    fn empty_documents_are_null() {
        for src in ["", "# only a comment\n", "\n\n"] {
            let root = parse(src).unwrap();
            assert_eq!(root.as_scalar().map(|s| s.kind), Some(ScalarKind::Null));
        }
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1,\nb: 2\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{err}");
        assert!(err.pos.line >= 1);
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("more than one YAML document"), "{err}");
    }

    #[test]
    fn tabs_in_indentation_are_rejected_with_their_line() {
        let err = parse("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(err.pos, p(2, 1));
        assert!(err.message.contains("tab character"), "{err}");
        let err = parse("a:\n  \tb: 1\n").unwrap_err();
        assert_eq!(err.pos, p(2, 3));
        // Tabs on blank or comment-only lines are harmless.
        parse("a: 1\n\t\n\t# note\nb: 2 \t\n").unwrap();
        // A tab inside a quoted value is fine.
        let root = parse("a: \"x\ty\"\n").unwrap();
        assert_eq!(map(&root)[0].value.as_text(), Some("x\ty"));
    }

    #[test]
    fn non_utf8_reports_line_and_column() {
        let err = decode_utf8(b"a: 1\nb: x\xff\n").unwrap_err();
        assert_eq!(err.pos, p(2, 5));
        assert!(err.message.contains("not valid UTF-8"), "{err}");
        assert_eq!(decode_utf8(b"a: 1\n").unwrap(), "a: 1\n");
    }

    #[test]
    fn deep_nesting_errors_instead_of_overflowing() {
        let n = 10_000;
        let flow = format!("x: {}1{}\n", "[".repeat(n), "]".repeat(n));
        let err = parse(&flow).unwrap_err();
        assert!(err.message.contains("nested more than"), "{err}");
        let mut block = String::new();
        for i in 0..n {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let err = parse(&block).unwrap_err();
        assert!(err.message.contains("nested more than"), "{err}");
        // Flow mappings too.
        let flow = format!("x: {}1{}\n", "{a: ".repeat(n), "}".repeat(n));
        assert!(parse(&flow).is_err());
        // MAX_DEPTH levels themselves are fine.
        let ok = format!("{}1{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        parse(&ok).unwrap();
    }

    #[test]
    fn alias_bombs_error_quickly() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            src.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        // 10^10 values if expanded; must fail, not hang (generous bound for
        // a loaded machine running a debug build).
        let started = std::time::Instant::now();
        let err = parse(&src).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        assert!(err.message.contains("alias"), "{err}");
        // A modest use of aliases is fine.
        let root = parse(
            "base: &b {x: 1}
one: *b
two: *b
",
        )
        .unwrap();
        assert_eq!(map(&root)[2].value.as_map().map(<[_]>::len), Some(1));
    }

    #[test]
    fn too_many_nodes_error_before_building_everything() {
        let mut src = String::new();
        for i in 0..1_000 {
            src.push_str(&format!("p{i}: 1\n"));
        }
        parse_with_limits(&src, 2_001).unwrap();
        let err = parse_with_limits(&src, 1_000).unwrap_err();
        assert!(err.message.contains("more than 1000 values"), "{err}");
        assert!(err.pos.line <= 501, "{err}");
    }

    #[test]
    fn fields_report_unknown_duplicate_and_missing_keys() {
        let root = parse("name: x\nbogus: 1\nname: y\n").unwrap();
        let mut problems = Vec::new();
        let f = Fields::new(
            &root,
            "the top level",
            p(1, 1),
            &["name", "need"],
            &mut problems,
        )
        .unwrap();
        assert!(f.get("name").is_some());
        assert!(f.required("need", &mut problems).is_none());
        let msgs: Vec<String> = problems.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "2:1: unknown key `bogus` in the top level; expected one of: name, need",
                "3:1: duplicate key `name` in the top level (first at line 1); keep one",
                "1:1: missing required key `need` in the top level",
            ]
        );
        let root = parse("- a\n").unwrap();
        let mut problems = Vec::new();
        assert!(Fields::new(&root, "the top level", p(1, 1), &["a"], &mut problems).is_none());
        assert_eq!(
            problems[0].to_string(),
            "1:1: the top level must be a mapping of `key: value` lines, found a list"
        );
    }

    #[test]
    fn text_helpers_explain_the_shape() {
        let root = parse("a: [x, 2]\nb: {c: d}\nc:\n").unwrap();
        let e = map(&root);
        assert_eq!(
            e[0].value.expect_text_list("`a`").unwrap(),
            vec![("x", p(1, 5)), ("2", p(1, 8))]
        );
        assert_eq!(
            e[1].value.expect_text("`b`").unwrap_err().to_string(),
            "2:4: `b` must be a single value (a string), found a mapping"
        );
        assert_eq!(
            e[2].value.expect_text("`c`").unwrap_err().message,
            "`c` is empty (null); write a value"
        );
        assert!(e[1].value.expect_text_list("`b`").is_err());
    }
}
