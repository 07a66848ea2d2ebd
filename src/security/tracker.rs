//! The Debian security tracker's JSON export: a streaming parser and an
//! incremental, history-keeping import into the store.
//!
//! The export is `{source: {issue: {description, scope, debianbug,
//! releases: {codename: {status, fixed_version, urgency, nodsa,
//! nodsa_reason, repositories, next_point_update}}}}}`. The top level is
//! read one source package at a time, so memory stays bounded by the
//! largest single source entry (the live export is 60-100 MB).
//!
//! Tables (see `docs/design.md`, "Security tracker data"):
//!
//! | table | key | value |
//! |---|---|---|
//! | `security_imports` | import id | [`ImportRecord`] (JSON) |
//! | `security_current` | (source, issue, release) | canonical JSON of the current record |
//! | `security_history` | (source, issue, release, import id) | the record as of that import; empty = removed |
//!
//! Release `""` holds the issue-level fields ([`IssueInfo`]). An import
//! writes a history row only for records that changed, appeared or
//! disappeared, so "what did we know at time T" is answered by taking, per
//! key, the newest history row of an import made at or before T.
//! Everything happens in one write transaction: a file that does not parse
//! leaves the store exactly as it was.

use crate::deb::hash::{Sha256Digest, Sha256Hasher};
use crate::store::{Store, StoreError};
use redb::{ReadableTable, TableDefinition};
use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Import id -> [`ImportRecord`] JSON.
pub(crate) const IMPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("security_imports");
/// (source, issue, release) -> canonical JSON of the current record.
pub(crate) const CURRENT: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("security_current");
/// (source, issue, release, import id) -> record as of that import (empty: removed).
pub(crate) const HISTORY: TableDefinition<(&str, &str, &str, u64), &[u8]> =
    TableDefinition::new("security_history");

/// The release key under which issue-level fields are stored.
pub const ISSUE_KEY: &str = "";

/// Errors of tracker parsing, import and queries.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{path}: not a valid security tracker JSON export: {}{message}. The store was not changed; fix or re-download the file (the security tracker's /tracker/data/json export)",
        at.as_ref().map(|a| format!("at {a}: ")).unwrap_or_default()
    )]
    Parse {
        path: PathBuf,
        /// The JSON path being read, e.g. `.openssl."CVE-2024-1".releases.bookworm.status`.
        at: Option<String>,
        /// What is wrong, with line and column for syntax errors.
        message: String,
    },
    #[error("{path}: security data store: {message}")]
    Database { path: PathBuf, message: String },
    #[error("{path}: corrupt security record {what}: {message}")]
    Corrupt {
        path: PathBuf,
        what: String,
        message: String,
    },
}

/// Issue-level fields of a tracker entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debianbug: Option<u64>,
}

/// The tracker's view of one issue in one release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEntry {
    /// `resolved`, `open` or `undetermined` (kept verbatim).
    pub status: String,
    /// The first fixed source version; `"0"`: never affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// `unimportant`, `low`, `medium`, `high`, `not yet assigned`,
    /// `end-of-life`; a trailing `**` marks an NVD-derived urgency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    /// The comment of a `<no-dsa>`/`<ignored>`/`<postponed>` note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodsa: Option<String>,
    /// `""` (plain no-dsa), `ignored` or `postponed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodsa_reason: Option<String>,
    /// Suite -> source version the tracker saw there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub repositories: BTreeMap<String, String>,
    /// The fix is queued for the next point release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_point_update: Option<bool>,
}

/// One import, as recorded in `security_imports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    pub id: u64,
    /// When the import ran (the command's clock, RFC 3339).
    pub imported_at: String,
    /// How old the data is: when it was exported/downloaded (given, or the
    /// file's modification time), RFC 3339.
    pub data_time: String,
    pub file: String,
    pub sha256: String,
    /// Source packages in the file.
    pub sources: u64,
    /// (source, issue) pairs in the file.
    pub issues: u64,
    /// (source, issue, release) records in the file.
    pub releases: u64,
    /// Records new in this import.
    pub added: u64,
    /// Records whose content changed.
    pub changed: u64,
    /// Records that disappeared.
    pub removed: u64,
    /// Tolerated oddities (e.g. `"releases": []`).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Streams a tracker export, calling `on_source` for every source package
/// with its issues (issue id -> (info, release -> entry)).
///
/// Errors carry the JSON path and, for syntax errors, line and column.
pub fn parse_stream<R: Read>(
    path: &Path,
    reader: R,
    on_source: &mut dyn FnMut(&str, ParsedSource) -> Result<(), TrackerError>,
    warnings: &mut Vec<String>,
) -> Result<(), TrackerError> {
    let mut state = StreamState {
        path,
        at: None,
        failure: None,
        on_source,
        warnings,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = TopLevel(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(err) = state.failure.take() {
        return Err(err);
    }
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(TrackerError::Parse {
            path: path.to_path_buf(),
            at: state.at.clone(),
            message: e.to_string(),
        }),
    }
}

/// One source package's issues: issue id -> (info, release -> entry).
pub type ParsedSource = BTreeMap<String, (IssueInfo, BTreeMap<String, ReleaseEntry>)>;

struct StreamState<'a, 'b> {
    path: &'a Path,
    at: Option<String>,
    failure: Option<TrackerError>,
    on_source: &'b mut dyn FnMut(&str, ParsedSource) -> Result<(), TrackerError>,
    warnings: &'b mut Vec<String>,
}

struct TopLevel<'s, 'a, 'b>(&'s mut StreamState<'a, 'b>);

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object keyed by source package name")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(source) = map.next_key::<String>()? {
            state.at = Some(format!(".{}", json_key(&source)));
            let value: Value = map.next_value()?;
            let parsed = match convert_source(&source, value, state.warnings) {
                Ok(p) => p,
                Err((at, message)) => {
                    state.failure = Some(TrackerError::Parse {
                        path: state.path.to_path_buf(),
                        at: Some(at),
                        message,
                    });
                    return Err(A::Error::custom("invalid entry"));
                }
            };
            if let Err(e) = (state.on_source)(&source, parsed) {
                state.failure = Some(e);
                return Err(A::Error::custom("import failed"));
            }
        }
        state.at = None;
        Ok(())
    }
}

/// A key as written in a JSON path: bare when simple, quoted otherwise.
fn json_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+' || b == b'.')
    {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_else(|_| k.to_string())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

type ConvError = (String, String);

fn expected(at: &str, what: &str, got: &Value) -> ConvError {
    (
        at.to_string(),
        format!("expected {what}, found {}", type_name(got)),
    )
}

fn opt_string(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, ConvError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(expected(&format!("{at}.{key}"), "a string", other)),
    }
}

fn convert_source(
    source: &str,
    value: Value,
    warnings: &mut Vec<String>,
) -> Result<ParsedSource, ConvError> {
    let at = format!(".{}", json_key(source));
    let Value::Object(issues) = value else {
        return Err(expected(&at, "an object keyed by issue id", &value));
    };
    let mut out = BTreeMap::new();
    for (issue, v) in issues {
        let at = format!("{at}.{}", json_key(&issue));
        if issue.is_empty() {
            return Err((at, "empty issue id".into()));
        }
        let Value::Object(obj) = v else {
            return Err(expected(&at, "an object", &v));
        };
        let debianbug = match obj.get("debianbug") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(b) => Some(b),
                None => {
                    return Err((
                        format!("{at}.debianbug"),
                        format!("expected a bug number, found {n}"),
                    ));
                }
            },
            Some(other) => return Err(expected(&format!("{at}.debianbug"), "a bug number", other)),
        };
        let info = IssueInfo {
            description: opt_string(&obj, "description", &at)?,
            scope: opt_string(&obj, "scope", &at)?,
            debianbug,
        };
        let mut releases = BTreeMap::new();
        match obj.get("releases") {
            None => return Err((at, "missing field \"releases\"".into())),
            Some(Value::Object(rels)) => {
                for (codename, r) in rels {
                    let at = format!("{at}.releases.{}", json_key(codename));
                    releases.insert(codename.clone(), convert_release(r, &at)?);
                }
            }
            // Seen in real data: an empty list where an empty object is meant.
            Some(Value::Array(a)) if a.is_empty() => {
                warnings.push(format!(
                    "{at}.releases is an empty list; read as no releases"
                ));
            }
            Some(other) => {
                return Err(expected(
                    &format!("{at}.releases"),
                    "an object keyed by release codename",
                    other,
                ));
            }
        }
        out.insert(issue, (info, releases));
    }
    Ok(out)
}

fn convert_release(v: &Value, at: &str) -> Result<ReleaseEntry, ConvError> {
    let Value::Object(obj) = v else {
        return Err(expected(at, "an object", v));
    };
    let status = match obj.get("status") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err((format!("{at}.status"), "empty status".into())),
        None | Some(Value::Null) => {
            return Err((at.to_string(), "missing field \"status\"".into()));
        }
        Some(other) => return Err(expected(&format!("{at}.status"), "a string", other)),
    };
    let fixed_version = opt_string(obj, "fixed_version", at)?;
    if let Some(fv) = &fixed_version
        && fv != "0"
        && let Err(e) = crate::deb::version::validate(fv)
    {
        return Err((
            format!("{at}.fixed_version"),
            format!("{fv:?} is not a Debian version: {e}"),
        ));
    }
    let mut repositories = BTreeMap::new();
    match obj.get("repositories") {
        None | Some(Value::Null) => {}
        Some(Value::Object(repos)) => {
            for (suite, version) in repos {
                match version {
                    Value::String(s) => {
                        repositories.insert(suite.clone(), s.clone());
                    }
                    other => {
                        return Err(expected(
                            &format!("{at}.repositories.{}", json_key(suite)),
                            "a version string",
                            other,
                        ));
                    }
                }
            }
        }
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(other) => return Err(expected(&format!("{at}.repositories"), "an object", other)),
    }
    let next_point_update = match obj.get("next_point_update") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(expected(
                &format!("{at}.next_point_update"),
                "a boolean",
                other,
            ));
        }
    };
    Ok(ReleaseEntry {
        status,
        fixed_version,
        urgency: opt_string(obj, "urgency", at)?,
        nodsa: opt_string(obj, "nodsa", at)?,
        nodsa_reason: opt_string(obj, "nodsa_reason", at)?,
        repositories,
        next_point_update,
    })
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(chunk) = buf.get(..n) {
            self.hasher.update(chunk);
        }
        Ok(n)
    }
}

fn db_err(store: &Store, e: impl std::fmt::Display) -> TrackerError {
    TrackerError::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
}

/// Imports a tracker export into the store (opened for writing).
///
/// `imported_at` is the command's clock; `data_time` how old the data is
/// (default: the file's modification time). All or nothing: on any error the
/// store is unchanged.
pub fn import(
    store: &Store,
    file: &Path,
    imported_at: jiff::Timestamp,
    data_time: Option<jiff::Timestamp>,
) -> Result<ImportRecord, TrackerError> {
    let io_err = |e: std::io::Error| TrackerError::Io {
        path: file.to_path_buf(),
        message: e.to_string(),
    };
    let f = std::fs::File::open(file).map_err(io_err)?;
    let data_time = match data_time {
        Some(t) => t,
        None => f
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| jiff::Timestamp::try_from(m).ok())
            .unwrap_or(imported_at),
    };
    let mut reader = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, f),
        hasher: Sha256Hasher::new(),
    };
    let db = store.writer()?;
    let txn = db.begin_write().map_err(|e| db_err(store, e))?;
    let mut warnings = Vec::new();
    let record;
    {
        let mut imports = txn.open_table(IMPORTS).map_err(|e| db_err(store, e))?;
        let mut current = txn.open_table(CURRENT).map_err(|e| db_err(store, e))?;
        let mut history = txn.open_table(HISTORY).map_err(|e| db_err(store, e))?;
        let id = imports
            .last()
            .map_err(|e| db_err(store, e))?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(1);
        let mut counts = [0u64; 6]; // sources, issues, releases, added, changed, removed
        let mut seen_sources: HashSet<String> = HashSet::new();
        let mut on_source = |source: &str, parsed: ParsedSource| -> Result<(), TrackerError> {
            seen_sources.insert(source.to_string());
            counts[0] += 1;
            let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
            for (issue, (info, releases)) in &parsed {
                counts[1] += 1;
                let mut records = vec![(ISSUE_KEY.to_string(), to_json(&info))];
                for (codename, entry) in releases {
                    counts[2] += 1;
                    records.push((codename.clone(), to_json(entry)));
                }
                for (release, bytes) in records {
                    let key = (source, issue.as_str(), release.as_str());
                    let old = current
                        .get(key)
                        .map_err(|e| db_err(store, e))?
                        .map(|v| v.value().to_vec());
                    match old {
                        Some(o) if o == bytes => {}
                        other => {
                            if other.is_some() {
                                counts[4] += 1;
                            } else {
                                counts[3] += 1;
                            }
                            current
                                .insert(key, bytes.as_slice())
                                .map_err(|e| db_err(store, e))?;
                            history
                                .insert(
                                    (source, issue.as_str(), release.as_str(), id),
                                    bytes.as_slice(),
                                )
                                .map_err(|e| db_err(store, e))?;
                        }
                    }
                    keys.insert((issue.clone(), release));
                }
            }
            // Records of this source that the file no longer has.
            let mut gone = Vec::new();
            for item in current
                .range((source, "", "")..(source, "\u{10ffff}", ""))
                .map_err(|e| db_err(store, e))?
            {
                let (k, _) = item.map_err(|e| db_err(store, e))?;
                let (_, issue, release) = k.value();
                if !keys.contains(&(issue.to_string(), release.to_string())) {
                    gone.push((issue.to_string(), release.to_string()));
                }
            }
            for (issue, release) in gone {
                counts[5] += 1;
                current
                    .remove((source, issue.as_str(), release.as_str()))
                    .map_err(|e| db_err(store, e))?;
                history
                    .insert(
                        (source, issue.as_str(), release.as_str(), id),
                        [].as_slice(),
                    )
                    .map_err(|e| db_err(store, e))?;
            }
            Ok(())
        };
        parse_stream(file, &mut reader, &mut on_source, &mut warnings)?;
        // Sources that disappeared entirely.
        let mut gone = Vec::new();
        for item in current.iter().map_err(|e| db_err(store, e))? {
            let (k, _) = item.map_err(|e| db_err(store, e))?;
            let (source, issue, release) = k.value();
            if !seen_sources.contains(source) {
                gone.push((source.to_string(), issue.to_string(), release.to_string()));
            }
        }
        for (source, issue, release) in gone {
            counts[5] += 1;
            current
                .remove((source.as_str(), issue.as_str(), release.as_str()))
                .map_err(|e| db_err(store, e))?;
            history
                .insert(
                    (source.as_str(), issue.as_str(), release.as_str(), id),
                    [].as_slice(),
                )
                .map_err(|e| db_err(store, e))?;
        }
        let sha256: Sha256Digest =
            std::mem::replace(&mut reader.hasher, Sha256Hasher::new()).finish();
        record = ImportRecord {
            id,
            imported_at: imported_at.to_string(),
            data_time: data_time.to_string(),
            file: file.display().to_string(),
            sha256: sha256.to_hex(),
            sources: counts[0],
            issues: counts[1],
            releases: counts[2],
            added: counts[3],
            changed: counts[4],
            removed: counts[5],
            warnings,
        };
        imports
            .insert(id, to_json(&record).as_slice())
            .map_err(|e| db_err(store, e))?;
    }
    txn.commit().map_err(|e| db_err(store, e))?;
    Ok(record)
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// All imports, oldest first. Empty when nothing was ever imported.
pub fn imports(store: &Store) -> Result<Vec<ImportRecord>, TrackerError> {
    let txn = store.read()?;
    let table = match txn.open_table(IMPORTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(db_err(store, e)),
    };
    let mut out = Vec::new();
    for item in table.iter().map_err(|e| db_err(store, e))? {
        let (k, v) = item.map_err(|e| db_err(store, e))?;
        out.push(
            serde_json::from_slice(v.value()).map_err(|e| TrackerError::Corrupt {
                path: store.path().to_path_buf(),
                what: format!("import {}", k.value()),
                message: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// The tracker's knowledge for some releases, as of one import.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The import this reflects (None: nothing imported yet, or nothing
    /// imported at or before the requested time).
    pub import: Option<ImportRecord>,
    /// source -> release -> issue -> entry (only the requested releases).
    pub entries: BTreeMap<String, BTreeMap<String, BTreeMap<String, ReleaseEntry>>>,
}

impl Snapshot {
    /// The entries of `source` in `release`.
    pub fn issues(&self, source: &str, release: &str) -> Option<&BTreeMap<String, ReleaseEntry>> {
        self.entries.get(source).and_then(|r| r.get(release))
    }
}

/// Loads what the store knows about `releases` (codenames): the latest
/// import, or with `as_of` the newest import made at or before that time.
pub fn snapshot(
    store: &Store,
    releases: &BTreeSet<String>,
    as_of: Option<jiff::Timestamp>,
) -> Result<Snapshot, TrackerError> {
    let all = imports(store)?;
    let chosen = match as_of {
        None => all.last().cloned(),
        Some(t) => all
            .iter()
            .rfind(|r| {
                r.imported_at
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|i| i <= t)
            })
            .cloned(),
    };
    let Some(import) = chosen else {
        return Ok(Snapshot::default());
    };
    let corrupt = |what: String, e: serde_json::Error| TrackerError::Corrupt {
        path: store.path().to_path_buf(),
        what,
        message: e.to_string(),
    };
    let txn = store.read()?;
    let mut entries: BTreeMap<String, BTreeMap<String, BTreeMap<String, ReleaseEntry>>> =
        BTreeMap::new();
    let latest = all.last().map(|r| r.id) == Some(import.id);
    if latest {
        let table = txn.open_table(CURRENT).map_err(|e| db_err(store, e))?;
        for item in table.iter().map_err(|e| db_err(store, e))? {
            let (k, v) = item.map_err(|e| db_err(store, e))?;
            let (source, issue, release) = k.value();
            if !releases.contains(release) {
                continue;
            }
            let entry: ReleaseEntry = serde_json::from_slice(v.value())
                .map_err(|e| corrupt(format!("{source} {issue} {release}"), e))?;
            entries
                .entry(source.to_string())
                .or_default()
                .entry(release.to_string())
                .or_default()
                .insert(issue.to_string(), entry);
        }
    } else {
        let table = txn.open_table(HISTORY).map_err(|e| db_err(store, e))?;
        // Rows are sorted by key then import id: the last row with id <=
        // the chosen import wins for each key.
        let mut last: Option<((String, String, String), Vec<u8>)> = None;
        let mut flush =
            |last: Option<((String, String, String), Vec<u8>)>| -> Result<(), TrackerError> {
                if let Some(((source, issue, release), bytes)) = last
                    && !bytes.is_empty()
                {
                    let entry: ReleaseEntry = serde_json::from_slice(&bytes)
                        .map_err(|e| corrupt(format!("{source} {issue} {release}"), e))?;
                    entries
                        .entry(source)
                        .or_default()
                        .entry(release)
                        .or_default()
                        .insert(issue, entry);
                }
                Ok(())
            };
        for item in table.iter().map_err(|e| db_err(store, e))? {
            let (k, v) = item.map_err(|e| db_err(store, e))?;
            let (source, issue, release, id) = k.value();
            if !releases.contains(release) || id > import.id {
                continue;
            }
            let same = last
                .as_ref()
                .is_some_and(|((s, i, r), _)| s == source && i == issue && r == release);
            if !same {
                flush(last.take())?;
            }
            last = Some((
                (source.to_string(), issue.to_string(), release.to_string()),
                v.value().to_vec(),
            ));
        }
        flush(last.take())?;
    }
    Ok(Snapshot {
        import: Some(import),
        entries,
    })
}

/// Whether any tracker export was ever imported into the store.
pub fn has_data(store: &Store) -> Result<bool, TrackerError> {
    Ok(!imports(store)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (Vec<(String, ParsedSource)>, Vec<String>);

    fn parse(text: &str) -> Result<Parsed, TrackerError> {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        parse_stream(
            Path::new("t.json"),
            text.as_bytes(),
            &mut |s, p| {
                out.push((s.to_string(), p));
                Ok(())
            },
            &mut warnings,
        )?;
        Ok((out, warnings))
    }

    #[test]
    fn parses_all_fields() {
        let (out, w) = parse(
            r#"{"openssl": {"CVE-2024-1": {"description": "d", "scope": "remote", "debianbug": 12,
               "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.1-1",
               "urgency": "high**", "nodsa": "Minor issue", "nodsa_reason": "postponed",
               "repositories": {"bookworm": "3.0.0-1"}, "next_point_update": true}}}}}"#,
        )
        .unwrap();
        assert!(w.is_empty());
        let (info, rels) = &out[0].1["CVE-2024-1"];
        assert_eq!(info.debianbug, Some(12));
        let e = &rels["bookworm"];
        assert_eq!(e.fixed_version.as_deref(), Some("3.0.1-1"));
        assert_eq!(e.nodsa_reason.as_deref(), Some("postponed"));
        assert_eq!(e.next_point_update, Some(true));
        assert_eq!(e.repositories["bookworm"], "3.0.0-1");
    }

    #[test]
    fn type_errors_name_the_path() {
        let err = parse(r#"{"curl": {"CVE-1": {"releases": {"bookworm": {"status": 3}}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#".curl."CVE-1".releases.bookworm.status"#),
            "{err}"
        );
        assert!(err.contains("expected a string, found a number"), "{err}");
        let err = parse(r#"{"curl": {"CVE-1": {"scope": "x"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field \"releases\""), "{err}");
        let err = parse(r#"{"curl": {"CVE-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "a b"}}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fixed_version"), "{err}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("{\"curl\": {\"CVE-1\": {\"releases\": {}}},\n \"zlib\": {")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains(".zlib"), "{err}");
        let err = parse("[1]").unwrap_err().to_string();
        assert!(
            err.contains("an object keyed by source package name"),
            "{err}"
        );
        let err = parse("{} trailing").unwrap_err().to_string();
        assert!(err.contains("trailing"), "{err}");
    }

    #[test]
    fn empty_release_list_is_a_warning() {
        let (out, w) = parse(r#"{"chromium": {"CVE-1": {"releases": []}}}"#).unwrap();
        assert!(out[0].1["CVE-1"].1.is_empty());
        assert_eq!(w.len(), 1);
        assert!(parse(r#"{"chromium": {"CVE-1": {"releases": [1]}}}"#).is_err());
    }
}
