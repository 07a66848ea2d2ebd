//! Minimal text edits of an image manifest (`plan --write`): only the lines
//! of packages whose version changes are rewritten, new packages are
//! inserted at their sorted position, removed packages' lines are deleted;
//! comments, key order, quoting style and line endings stay, so `git diff`
//! shows exactly the updates.
//!
//! Versions are written in the style of the existing lines: quoted when
//! every existing value is quoted, otherwise plain unless YAML would read
//! the plain text as something else than a string (`3.134` is a float), in
//! which case they are quoted with the quote character the file already
//! uses. The edited text is re-parsed with [`crate::fleet::manifest`] and
//! must give exactly the requested package set before anything is written;
//! the file is then replaced crash-safely (temporary file, fsync, rename,
//! fsync of the directory).

use super::manifest::{ManifestError, parse_manifest};
use super::yaml::{self, ScalarKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a manifest could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The manifest does not parse.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The `packages` mapping is not in block style, one entry per line.
    #[error(
        "{}:{line}: cannot edit this manifest minimally: {reason}. Write `packages:` as a block mapping, one `name: version` per line",
        path.display()
    )]
    Layout {
        /// The file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// What is in the way.
        reason: String,
    },
    /// The edited text did not re-parse to the requested set (a bug).
    #[error(
        "{}: the edited manifest would not read back as the planned package set ({detail}); the file was left unchanged. Please report this",
        path.display()
    )]
    Verify {
        /// The file.
        path: PathBuf,
        /// The first difference.
        detail: String,
    },
    /// Writing failed.
    #[error("{}: cannot write the manifest: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One line of the file, split from its ending.
struct Line<'a> {
    body: &'a str,
    ending: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, tail) = match rest.find('\n') {
            Some(i) => rest.split_at(i + 1),
            None => (rest, ""),
        };
        let (body, ending) = if let Some(b) = line.strip_suffix("\r\n") {
            (b, "\r\n")
        } else if let Some(b) = line.strip_suffix('\n') {
            (b, "\n")
        } else {
            (line, "")
        };
        out.push(Line { body, ending });
        rest = tail;
    }
    out
}

/// Where the parts of a `  key: value  # comment` line are.
struct EntryLine {
    indent: usize,
    /// The key's quote character, if quoted.
    key_quote: Option<char>,
    /// Byte range of the value token (quotes included).
    value: (usize, usize),
    /// The value's quote character, if quoted.
    value_quote: Option<char>,
}

/// End (exclusive) of a quoted token starting at `start` (the quote).
fn quoted_end(s: &str, start: usize, q: char) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        let c = b[i] as char;
        if q == '"' && c == '\\' {
            i += 2;
            continue;
        }
        if c == q {
            if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn parse_entry_line(body: &str) -> Option<EntryLine> {
    let indent = body.len() - body.trim_start_matches(' ').len();
    let first = body[indent..].chars().next()?;
    let (key_quote, colon) = if first == '"' || first == '\'' {
        let end = quoted_end(body, indent, first)?;
        if !body[end..].starts_with(':') {
            return None;
        }
        (Some(first), end)
    } else {
        let rel = body[indent..]
            .match_indices(':')
            .map(|(i, _)| i + indent)
            .find(|&i| body[i + 1..].is_empty() || body[i + 1..].starts_with(' '))?;
        (None, rel)
    };
    let after = colon + 1;
    let start = after + (body.len() - after - body[after..].trim_start_matches(' ').len());
    let rest = &body[start..];
    let (end, value_quote) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => (quoted_end(body, start, q)?, Some(q)),
        Some(_) => {
            let stop = rest.find(" #").unwrap_or(rest.len());
            (start + rest[..stop].trim_end().len(), None)
        }
        None => return None,
    };
    Some(EntryLine {
        indent,
        key_quote,
        value: (start, end),
        value_quote,
    })
}

/// Whether YAML reads `text` as a plain scalar string, unchanged.
fn plain_is_string(text: &str) -> bool {
    if text.is_empty() || text.contains(": ") || text.contains(" #") {
        return false;
    }
    let doc = format!("k: {text}\n");
    match yaml::parse(&doc) {
        Ok(root) => root.as_map().is_some_and(|entries| {
            entries.len() == 1
                && entries
                    .first()
                    .and_then(|e| e.value.as_scalar())
                    .is_some_and(|s| s.kind == ScalarKind::Str && s.text == text)
        }),
        Err(_) => false,
    }
}

fn quote(text: &str, q: char) -> String {
    if q == '\'' {
        format!("'{}'", text.replace('\'', "''"))
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The file's style for new values: always quote, and with which quote.
struct Style {
    always_quote: bool,
    quote: char,
    key_quote: Option<char>,
    indent: usize,
}

impl Style {
    fn value(&self, v: &str, line_quote: Option<char>) -> String {
        match line_quote {
            Some(q) => quote(v, q),
            None if !self.always_quote && plain_is_string(v) => v.to_string(),
            None => quote(v, self.quote),
        }
    }

    fn key(&self, k: &str) -> String {
        match self.key_quote {
            Some(q) => quote(k, q),
            None if plain_is_string(k) => k.to_string(),
            None => quote(k, '"'),
        }
    }
}

/// The edited text of a manifest so that its packages are exactly `new`
/// (keys `name` or `name:arch`, as [`crate::fleet::manifest::ManifestPackage::key`]).
/// Returns the text unchanged when nothing differs.
pub fn edit_text(
    path: &Path,
    text: &str,
    new: &BTreeMap<String, String>,
) -> Result<String, EditError> {
    let m = parse_manifest(path, text.as_bytes())?;
    let lines = split_lines(text);
    let layout = |line: usize, reason: String| EditError::Layout {
        path: path.to_path_buf(),
        line,
        reason,
    };
    // Each package line, parsed.
    let mut entries: Vec<(String, usize, EntryLine)> = Vec::new();
    for p in &m.packages {
        let body = p
            .line
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .map(|l| l.body)
            .unwrap_or_default();
        let e = parse_entry_line(body)
            .filter(|e| e.indent + 1 == p.column)
            .ok_or_else(|| {
                layout(
                    p.line,
                    format!("package {} is not on a line of its own", p.key()),
                )
            })?;
        if entries.iter().any(|(_, l, _)| *l == p.line) {
            return Err(layout(
                p.line,
                "several packages share a line (flow style)".into(),
            ));
        }
        entries.push((p.key(), p.line, e));
    }
    let style = Style {
        always_quote: !entries.is_empty()
            && entries.iter().all(|(_, _, e)| e.value_quote.is_some()),
        quote: entries
            .iter()
            .find_map(|(_, _, e)| e.value_quote)
            .unwrap_or('"'),
        key_quote: entries.first().and_then(|(_, _, e)| e.key_quote),
        indent: entries.first().map_or(2, |(_, _, e)| e.indent),
    };
    let old: BTreeMap<String, &str> = m
        .packages
        .iter()
        .map(|p| (p.key(), p.version.as_str()))
        .collect();
    let ending = lines
        .first()
        .map_or("\n", |l| if l.ending.is_empty() { "\n" } else { l.ending });
    // Line index -> replacement body (None: delete).
    let mut replace: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for (key, line, e) in &entries {
        let idx = line.saturating_sub(1);
        let body = lines.get(idx).map(|l| l.body).unwrap_or_default();
        match new.get(key) {
            None => {
                replace.insert(idx, None);
            }
            Some(v) if old.get(key) != Some(&v.as_str()) => {
                let mut s = String::with_capacity(body.len() + 8);
                s.push_str(&body[..e.value.0]);
                s.push_str(&style.value(v, e.value_quote));
                s.push_str(&body[e.value.1..]);
                replace.insert(idx, Some(s));
            }
            Some(_) => {}
        }
    }
    // New packages: before the first existing entry with a greater key
    // (existing entries in file order), else after the last entry.
    let mut inserts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut append: Vec<String> = Vec::new();
    for (key, v) in new {
        if old.contains_key(key) {
            continue;
        }
        let text = format!(
            "{}{}: {}",
            " ".repeat(style.indent),
            style.key(key),
            style.value(v, None)
        );
        match entries.iter().find(|(k, _, _)| k > key) {
            Some((_, line, _)) => inserts
                .entry(line.saturating_sub(1))
                .or_default()
                .push(text),
            None => append.push(text),
        }
    }
    if !append.is_empty() {
        match entries.last() {
            Some((_, line, _)) => inserts.entry(*line).or_default().extend(append),
            None => {
                // An empty `packages: {}` (or `packages:`) line becomes a block.
                let idx = lines
                    .iter()
                    .position(|l| {
                        let b = l.body.trim_end();
                        b == "packages: {}" || b == "packages:" || b.starts_with("packages: {} ")
                    })
                    .ok_or_else(|| layout(0, "no `packages:` line to add packages under".into()))?;
                replace.insert(idx, Some("packages:".to_string()));
                inserts.entry(idx + 1).or_default().extend(append);
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 64 * inserts.len());
    for i in 0..=lines.len() {
        if let Some(new_lines) = inserts.get(&i) {
            for l in new_lines {
                out.push_str(l);
                out.push_str(ending);
            }
        }
        let Some(line) = lines.get(i) else { break };
        match replace.get(&i) {
            Some(None) => {}
            Some(Some(body)) => {
                out.push_str(body);
                out.push_str(
                    if line.ending.is_empty() && inserts.contains_key(&(i + 1)) {
                        ending
                    } else {
                        line.ending
                    },
                );
            }
            None => {
                out.push_str(line.body);
                out.push_str(
                    if line.ending.is_empty() && inserts.contains_key(&(i + 1)) {
                        ending
                    } else {
                        line.ending
                    },
                );
            }
        }
    }
    verify(path, &out, new)?;
    Ok(out)
}

/// Re-parses `text` and checks that its packages are exactly `new`.
fn verify(path: &Path, text: &str, new: &BTreeMap<String, String>) -> Result<(), EditError> {
    let m = parse_manifest(path, text.as_bytes()).map_err(|e| EditError::Verify {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let got: BTreeMap<String, String> = m
        .packages
        .iter()
        .map(|p| (p.key(), p.version.clone()))
        .collect();
    if &got != new {
        let detail = new
            .iter()
            .find(|(k, v)| got.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} should be {v}, reads as {:?}", got.get(k)))
            .or_else(|| {
                got.keys()
                    .find(|k| !new.contains_key(*k))
                    .map(|k| format!("{k} should be gone"))
            })
            .unwrap_or_default();
        return Err(EditError::Verify {
            path: path.to_path_buf(),
            detail,
        });
    }
    Ok(())
}

/// Rewrites the manifest at `path` so its packages are exactly `new`, as a
/// minimal edit (see the module doc), crash-safely. Returns false when the
/// file already matched (it is then not touched).
pub fn write_manifest(path: &Path, new: &BTreeMap<String, String>) -> Result<bool, EditError> {
    let io = |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| EditError::Layout {
        path: path.to_path_buf(),
        line: 0,
        reason: "the file is not UTF-8".into(),
    })?;
    let edited = edit_text(path, text, new)?;
    if edited == text {
        return Ok(false);
    }
    write_atomically(path, edited.as_bytes()).map_err(io)?;
    Ok(true)
}

/// The marker in the names of [`write_atomically`]'s temporary files:
/// `.<name>.debfleet-tmp.<pid>`.
const TEMP_MARKER: &str = ".debfleet-tmp.";

/// Removes temporary files that a killed [`write_atomically`] left in the
/// directories of `paths` (one listing per distinct directory): files named
/// `.<name>.debfleet-tmp.<pid>` whose process no longer runs. Where process
/// liveness cannot be told (no `/proc`), nothing is removed. Returns the
/// removed files.
pub fn remove_stale_temporaries<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    let proc = Path::new("/proc/self");
    if !proc.exists() {
        return Vec::new();
    }
    let dirs: std::collections::BTreeSet<&Path> = paths
        .into_iter()
        .map(|p| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        })
        .collect();
    let mut removed = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(pid) = name
                .strip_prefix('.')
                .and_then(|n| n.rsplit_once(TEMP_MARKER))
                .and_then(|(_, pid)| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            if !alive && std::fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

/// Replaces `path` with `bytes`: temporary file in the same directory,
/// fsync, rename over the original, fsync of the directory. Keeps the
/// original's permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}{TEMP_MARKER}{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("a.yaml");
        std::fs::write(&manifest, "x").unwrap();
        // No process has pid u32::MAX - 1 (pid_max is at most 2^22).
        let dead = dir
            .path()
            .join(format!(".a.yaml{TEMP_MARKER}{}", u32::MAX - 1));
        let live = dir
            .path()
            .join(format!(".b.yaml{TEMP_MARKER}{}", std::process::id()));
        let unrelated = dir.path().join(".a.yaml.debfleet-tmp.notapid");
        for p in [&dead, &live, &unrelated] {
            std::fs::write(p, "partial").unwrap();
        }
        let removed = remove_stale_temporaries([manifest.as_path()]);
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, vec![dead.clone()]);
            assert!(!dead.exists());
        }
        assert!(live.exists() && unrelated.exists() && manifest.exists());
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn edit(text: &str, new: &[(&str, &str)]) -> String {
        edit_text(Path::new("m.yaml"), text, &set(new)).unwrap()
    }

    /// Lines of `a` not in `b` and of `b` not in `a`, in order (a tiny diff).
    fn changed_lines<'a>(a: &'a str, b: &'a str) -> (Vec<&'a str>, Vec<&'a str>) {
        let al: Vec<&str> = a.lines().collect();
        let bl: Vec<&str> = b.lines().collect();
        (
            al.iter().filter(|l| !bl.contains(l)).copied().collect(),
            bl.iter().filter(|l| !al.contains(l)).copied().collect(),
        )
    }

    const PLAIN: &str = "# built by ci 42\nimage: web\nbase: bookworm\npackages:\n  adduser: \"3.134\"\n  bash: 5.2.15-2+b2   # pinned by hand\n  libc6: 2.36-9+deb12u7\n  zlib1g: 1:1.2.13.dfsg-1\nlabels: {team: web}\n";

    #[test]
    fn only_changed_version_lines_change() {
        let out = edit(
            PLAIN,
            &[
                ("adduser", "3.134"),
                ("bash", "5.2.15-2+b7"),
                ("libc6", "2.36-9+deb12u10"),
                ("zlib1g", "1:1.2.13.dfsg-1"),
            ],
        );
        let (gone, added) = changed_lines(PLAIN, &out);
        assert_eq!(
            gone,
            [
                "  bash: 5.2.15-2+b2   # pinned by hand",
                "  libc6: 2.36-9+deb12u7"
            ]
        );
        assert_eq!(
            added,
            [
                "  bash: 5.2.15-2+b7   # pinned by hand",
                "  libc6: 2.36-9+deb12u10"
            ]
        );
        assert_eq!(out.lines().count(), PLAIN.lines().count());
        assert!(out.starts_with("# built by ci 42\n"));
    }

    #[test]
    fn nothing_to_do_gives_the_same_text() {
        let same = set(&[
            ("adduser", "3.134"),
            ("bash", "5.2.15-2+b2"),
            ("libc6", "2.36-9+deb12u7"),
            ("zlib1g", "1:1.2.13.dfsg-1"),
        ]);
        assert_eq!(edit_text(Path::new("m"), PLAIN, &same).unwrap(), PLAIN);
    }

    #[test]
    fn versions_yaml_would_misread_are_quoted() {
        let out = edit(
            PLAIN,
            &[
                ("adduser", "3.135"),
                ("bash", "5.3"),
                ("libc6", "2.36-9+deb12u7"),
                ("newpkg", "2023"),
                ("zlib1g", "1:1.2.13.dfsg-1"),
            ],
        );
        assert!(out.contains("  adduser: \"3.135\"\n"), "{out}");
        assert!(
            out.contains("  bash: \"5.3\"   # pinned by hand\n"),
            "{out}"
        );
        assert!(out.contains("  newpkg: \"2023\"\n"), "{out}");
    }

    #[test]
    fn new_packages_go_in_sorted_position_and_removed_lines_go() {
        let out = edit(
            PLAIN,
            &[
                ("adduser", "3.134"),
                ("base-files", "12.4+deb12u15"),
                ("libc6", "2.36-9+deb12u7"),
                ("libzz", "1.0-1"),
                ("zlib1g", "1:1.2.13.dfsg-1"),
                ("zzz", "1-1"),
            ],
        );
        assert_eq!(
            out,
            "# built by ci 42\nimage: web\nbase: bookworm\npackages:\n  adduser: \"3.134\"\n  base-files: 12.4+deb12u15\n  libc6: 2.36-9+deb12u7\n  libzz: 1.0-1\n  zlib1g: 1:1.2.13.dfsg-1\n  zzz: 1-1\nlabels: {team: web}\n"
        );
    }

    #[test]
    fn quoted_style_is_followed() {
        let text = "image: x\r\nbase: b\r\npackages:\r\n  \"apt\": \"2.6.1\"\r\n  \"gcc-12-base:i386\": \"12.2.0-14\"\r\n  \"zlib1g\": \"1:1.2.13\"\r\n";
        let out = edit(
            text,
            &[
                ("apt", "2.6.2"),
                ("gcc-12-base:i386", "12.2.0-14"),
                ("libnew", "1-1"),
                ("zlib1g", "1:1.2.13"),
            ],
        );
        assert_eq!(
            out,
            "image: x\r\nbase: b\r\npackages:\r\n  \"apt\": \"2.6.2\"\r\n  \"gcc-12-base:i386\": \"12.2.0-14\"\r\n  \"libnew\": \"1-1\"\r\n  \"zlib1g\": \"1:1.2.13\"\r\n"
        );
    }

    #[test]
    fn empty_flow_packages_becomes_a_block() {
        let text = "image: s\nbase: b\npackages: {}\n";
        let out = edit(text, &[("base-files", "12.4"), ("libc6", "2.36-9")]);
        assert_eq!(
            out,
            "image: s\nbase: b\npackages:\n  base-files: \"12.4\"\n  libc6: 2.36-9\n"
        );
    }

    #[test]
    fn flow_style_packages_are_refused_not_mangled() {
        let text = "image: s\nbase: b\npackages: {aa: 1-1, bb: 2-1}\n";
        let err = edit_text(
            Path::new("m.yaml"),
            text,
            &set(&[("aa", "1-2"), ("bb", "2-1")]),
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Layout { .. }), "{err}");
        assert!(err.to_string().contains("m.yaml:3"), "{err}");
    }

    #[test]
    fn no_final_newline_is_kept() {
        let text = "image: s\nbase: b\npackages:\n  aa: 1-1";
        assert_eq!(
            edit(text, &[("aa", "1-2")]),
            "image: s\nbase: b\npackages:\n  aa: 1-2"
        );
        assert_eq!(
            edit(text, &[("aa", "1-1"), ("bb", "2-1")]),
            "image: s\nbase: b\npackages:\n  aa: 1-1\n  bb: 2-1\n"
        );
    }

    #[test]
    fn write_is_atomic_and_reparses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, PLAIN).unwrap();
        let new = set(&[
            ("adduser", "3.134"),
            ("bash", "5.2.15-2+b7"),
            ("libc6", "2.36-9+deb12u10"),
        ]);
        assert!(write_manifest(&path, &new).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let m = parse_manifest(&path, text.as_bytes()).unwrap();
        let got: BTreeMap<String, String> = m
            .packages
            .iter()
            .map(|p| (p.key(), p.version.clone()))
            .collect();
        assert_eq!(got, new);
        assert!(!text.contains("zlib1g"));
        // Only the manifest is left in the directory (no temporary file).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(
            !write_manifest(&path, &new).unwrap(),
            "second write is a no-op"
        );
    }
}
