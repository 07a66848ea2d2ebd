//! Incremental index updates ("pdiffs"): parsing `Packages.diff/Index`,
//! choosing the patches that bring a local file up to date the way apt does,
//! and applying the ed-script patches the way apt's `rred` method does.
//!
//! # The Index
//!
//! Next to `Packages.xz` the archive publishes `Packages.diff/Index`, one
//! deb822 paragraph (see `testdata/pdiff/`):
//!
//! - `SHA256-Current: <hash> <size>`: the current uncompressed `Packages`.
//! - `SHA256-History:` one line `<hash> <size> <name>` per patch: the hash of
//!   the uncompressed file the patch `<name>` applies **to**.
//! - `SHA256-Patches:` `<hash> <size> <name>`: the uncompressed patch.
//! - `SHA256-Download:` `<hash> <size> <name>.gz`: the file to download.
//! - `X-Patch-Precedence: merged`: the server merges patches. dak then names
//!   them `T-<to>-F-<from>` and every one of them leads from its History
//!   entry straight to the current file. The per-step patches stay listed in
//!   `X-Unmerged-SHA256-History/-Patches/-Download` (apt ignores those).
//! - `X-DAK-Older-Patches:` names dak keeps for its own bookkeeping.
//!
//! SHA1 fields are ignored: only SHA-256 is trusted here.
//!
//! # apt's patch selection (`pkgAcqDiffIndex::ParseDiffIndex`)
//!
//! 1. The Index's `Current` must equal the hash the signed Release lists for
//!    the uncompressed file, otherwise the Index is stale and the full file is
//!    fetched ([`PdiffIndex::check_current`]).
//! 2. If the local file's hash equals `Current`, it is up to date.
//! 3. The starting point is the **last** History entry whose hash equals the
//!    local file's hash; entries before it are dropped. No match: full
//!    download (the local file is older than the history, or was modified).
//! 4. Every remaining entry needs a Patches and a Download (`<name>.gz`)
//!    entry, otherwise: full download.
//! 5. `Acquire::PDiffs::FileLimit` (default 0 = no limit): if it is non-zero
//!    and smaller than the number of remaining entries: full download. apt
//!    counts the remaining History entries even when the server merges
//!    patches (and only one is fetched); this module does the same.
//! 6. `Acquire::PDiffs::SizeLimit` (default 100, percent; 0 disables): the
//!    bytes to download are the sum of the remaining `.gz` sizes, or with
//!    `X-Patch-Precedence: merged` only the first one (apt assumes one merged
//!    patch suffices). If `full_size * percent / 100` (integer arithmetic, as
//!    apt) is smaller than that, fetching the full compressed file is cheaper.
//! 7. With merged patches apt fetches and applies the first patch, then finds
//!    the file equal to the target and stops: one step. Otherwise it applies
//!    the remaining patches in order.
//!
//! The caller verifies every download ([`verify_patch`], [`unpack_patch`])
//! and the final result against the Release entry; any failure means
//! falling back to the full file, as apt does.
//!
//! # Applying patches (apt's `rred`)
//!
//! A patch is the output of `diff --ed OLD NEW`: commands `Na` (append after
//! line N, N may be 0), `N[,M]c` (replace lines N..M), `N[,M]d` (delete), the
//! text of `a`/`c` following on its own lines up to a line holding a single
//! `.`. Commands come in decreasing line order and never overlap, so each
//! one addresses lines of the *original* file and the script is applied in a
//! single forward pass over the base ([`apply_ed`], O(base + patch)). Like
//! rred, text is copied byte for byte (a base without a final newline is not
//! repaired). Unlike rred, which silently pads or ignores out-of-range
//! addresses and unterminated blocks, every malformed input is an error.
//!
//! One addition: a text line consisting of a single `.` cannot be written
//! in ed's text mode, so GNU `diff --ed` writes `..`, ends the block, and
//! emits `s/.//` (strip the first character of that line) and, if more text
//! follows, `a` (continue appending). rred does not understand this (it
//! rejects `s` as an unknown command); it is accepted here in exactly that
//! form, so that any `diff --ed` output applies. Packages files never contain
//! such lines (continuation lines start with a space), so the archive's
//! patches never use it. Other ed commands (`w`, `q`, `s` elsewhere, ...) are
//! rejected, as rred does.

use crate::deb::decompress::{self, Compression, DecompressError};
use crate::deb::hash::Sha256Digest;

/// Why parsing, planning input or patching failed.
#[derive(Debug, thiserror::Error)]
pub enum PdiffError {
    /// The Index is not valid.
    #[error(
        "Packages.diff/Index line {line}: {detail}; the Index is unusable, fetch the full file instead"
    )]
    Index {
        /// 1-based line in the Index.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The Index describes another file than the signed Release.
    #[error(
        "Packages.diff/Index describes {index_hash} ({index_size} bytes) but the Release file lists \
         {release_hash} ({release_size} bytes); the Index is stale or from another mirror state: \
         fetch the full file"
    )]
    StaleIndex {
        /// `SHA256-Current` of the Index.
        index_hash: Sha256Digest,
        /// Size in `SHA256-Current`.
        index_size: u64,
        /// Hash the Release lists.
        release_hash: Sha256Digest,
        /// Size the Release lists.
        release_size: u64,
    },
    /// The ed script is malformed.
    #[error("ed patch line {line}: {detail}; the patch is corrupt, fetch the full file instead")]
    Patch {
        /// 1-based line in the patch.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The ed script addresses lines the base file does not have.
    #[error(
        "ed patch line {line}: command addresses line {address} but the file being patched has only \
         {lines} lines; the patch does not belong to this file, fetch the full file instead"
    )]
    OutOfRange {
        /// 1-based line of the command in the patch.
        line: usize,
        /// Line number addressed.
        address: usize,
        /// Lines in the base file.
        lines: usize,
    },
    /// A downloaded or unpacked patch does not match the Index.
    #[error(
        "pdiff {name}: the {what} is {actual_size} bytes with SHA256 {actual}, but the Index lists \
         {expected_size} bytes with SHA256 {expected}; discard it and fetch the full file"
    )]
    HashMismatch {
        /// Patch name.
        name: String,
        /// "downloaded .gz file" or "uncompressed patch".
        what: &'static str,
        /// Listed hash.
        expected: Sha256Digest,
        /// Listed size.
        expected_size: u64,
        /// Actual hash.
        actual: Sha256Digest,
        /// Actual size.
        actual_size: u64,
    },
    /// Unpacking a patch failed.
    #[error("pdiff {name}: {source}")]
    Decompress {
        /// Patch name.
        name: String,
        /// The decompression error.
        #[source]
        source: DecompressError,
    },
    /// A patch of a chain failed.
    #[error("patch {index} of the chain (counting from 1): {source}")]
    Chain {
        /// 1-based position in the chain.
        index: usize,
        /// What went wrong with it.
        #[source]
        source: Box<PdiffError>,
    },
}

/// One `<hash> <size> <name>` line of the Index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdiffEntry {
    /// SHA-256 of the file described.
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Patch name (History, Patches) or file name (`<name>.gz`, Download).
    pub name: String,
}

/// A parsed `Packages.diff/Index` (SHA-256 fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdiffIndex {
    /// `SHA256-Current`: hash and size of the current uncompressed file.
    pub current: (Sha256Digest, u64),
    /// `SHA256-History`: hash/size of the file each patch applies to.
    pub history: Vec<PdiffEntry>,
    /// `SHA256-Patches`: hash/size of each uncompressed patch.
    pub patches: Vec<PdiffEntry>,
    /// `SHA256-Download`: hash/size of each `<name>.gz`.
    pub downloads: Vec<PdiffEntry>,
    /// `X-Unmerged-SHA256-History` (per-step patches next to merged ones).
    pub unmerged_history: Vec<PdiffEntry>,
    /// `X-Unmerged-SHA256-Patches`.
    pub unmerged_patches: Vec<PdiffEntry>,
    /// `X-Unmerged-SHA256-Download`.
    pub unmerged_downloads: Vec<PdiffEntry>,
    /// `X-Patch-Precedence: merged`.
    pub merged: bool,
    /// `X-DAK-Older-Patches` (informational).
    pub older_patches: Vec<String>,
}

/// apt's `Acquire::PDiffs::FileLimit` and `Acquire::PDiffs::SizeLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdiffLimits {
    /// Most patches to use; 0 means no limit (apt's default).
    pub file_limit: usize,
    /// Most bytes to download in patches, as a percentage of the full
    /// compressed file; 0 disables the check. apt's default is 100.
    pub size_limit_percent: u64,
}

impl Default for PdiffLimits {
    /// apt's defaults: no file limit, size limit 100 %.
    fn default() -> Self {
        PdiffLimits {
            file_limit: 0,
            size_limit_percent: 100,
        }
    }
}

/// One patch to fetch and apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchStep {
    /// Patch name, e.g. `T-2026-10-30-0804.23-F-2026-10-29-2003.52`; it is
    /// fetched as `Packages.diff/<name>.gz`.
    pub name: String,
    /// The History entry: hash/size of the file this patch applies to.
    pub from: PdiffEntry,
    /// The `.gz` to fetch (Download entry, name ends in `.gz`).
    pub download: PdiffEntry,
    /// The uncompressed patch (Patches entry).
    pub result: PdiffEntry,
}

/// What to do to bring a local file up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdiffPlan {
    /// The local file already is the current one.
    UpToDate,
    /// Fetch and apply these patches in order.
    Patches(Vec<PatchStep>),
    /// Patches cannot or should not be used; fetch the full file.
    FullDownload {
        /// Why, for the log.
        reason: String,
    },
}

impl PdiffIndex {
    /// Parses the Index (its first paragraph). Field names are
    /// case-insensitive; unknown fields (SHA1-*, ...) are ignored. Every list
    /// line must be `<64 hex digits> <size> <name>`.
    pub fn parse(data: &[u8]) -> Result<PdiffIndex, PdiffError> {
        let fields = read_fields(data)?;
        let mut current = None;
        let mut index = PdiffIndex {
            current: (Sha256Digest([0; 32]), 0),
            history: Vec::new(),
            patches: Vec::new(),
            downloads: Vec::new(),
            unmerged_history: Vec::new(),
            unmerged_patches: Vec::new(),
            unmerged_downloads: Vec::new(),
            merged: false,
            older_patches: Vec::new(),
        };
        for field in &fields {
            let name = field.name.to_ascii_lowercase();
            let list = match name.as_str() {
                "sha256-current" => {
                    current = Some(parse_current(field)?);
                    continue;
                }
                "x-patch-precedence" => {
                    index.merged = field.single_value().trim() == "merged";
                    continue;
                }
                "x-dak-older-patches" => {
                    index.older_patches = field
                        .lines
                        .iter()
                        .flat_map(|(_, l)| l.split_whitespace())
                        .map(str::to_string)
                        .collect();
                    continue;
                }
                "sha256-history" => &mut index.history,
                "sha256-patches" => &mut index.patches,
                "sha256-download" => &mut index.downloads,
                "x-unmerged-sha256-history" => &mut index.unmerged_history,
                "x-unmerged-sha256-patches" => &mut index.unmerged_patches,
                "x-unmerged-sha256-download" => &mut index.unmerged_downloads,
                _ => continue,
            };
            *list = parse_entries(field)?;
        }
        index.current = current.ok_or_else(|| PdiffError::Index {
            line: 1,
            detail: "there is no SHA256-Current field".to_string(),
        })?;
        Ok(index)
    }

    /// apt's first check: the Index must describe the file the signed
    /// Release lists (hash and size of the uncompressed `Packages`).
    pub fn check_current(
        &self,
        release_sha256: Sha256Digest,
        release_size: u64,
    ) -> Result<(), PdiffError> {
        if self.current == (release_sha256, release_size) {
            Ok(())
        } else {
            Err(PdiffError::StaleIndex {
                index_hash: self.current.0,
                index_size: self.current.1,
                release_hash: release_sha256,
                release_size,
            })
        }
    }
}

/// Decides how to update a local file whose SHA-256 is `have`, following
/// apt's rules (module documentation). `full_size` is the size of the
/// compressed full file that would be fetched instead (the first variant the
/// Release lists in the preferred order), the yardstick of the size limit.
/// Call [`PdiffIndex::check_current`] first.
pub fn plan(
    index: &PdiffIndex,
    have: Sha256Digest,
    full_size: u64,
    limits: PdiffLimits,
) -> PdiffPlan {
    if index.current.0 == have {
        return PdiffPlan::UpToDate;
    }
    let Some(start) = index.history.iter().rposition(|e| e.sha256 == have) else {
        return PdiffPlan::FullDownload {
            reason: format!(
                "the local file (SHA256 {have}) is not in the patch history; it is older than the \
                 {} patches kept, or was modified",
                index.history.len()
            ),
        };
    };
    let remaining = &index.history[start..];

    let mut steps = Vec::with_capacity(remaining.len());
    for from in remaining {
        let result = index.patches.iter().find(|p| p.name == from.name);
        let download = index
            .downloads
            .iter()
            .find(|d| d.name.strip_suffix(".gz") == Some(from.name.as_str()));
        let (Some(result), Some(download)) = (result, download) else {
            return PdiffPlan::FullDownload {
                reason: format!(
                    "the Index lists no SHA256-Patches and SHA256-Download entries for patch {}",
                    from.name
                ),
            };
        };
        steps.push(PatchStep {
            name: from.name.clone(),
            from: from.clone(),
            download: download.clone(),
            result: result.clone(),
        });
    }

    if limits.file_limit != 0 && limits.file_limit < steps.len() {
        return PdiffPlan::FullDownload {
            reason: format!(
                "{} patches are needed but the limit is {}",
                steps.len(),
                limits.file_limit
            ),
        };
    }

    if index.merged {
        // Each merged patch leads to the current file: one is enough.
        steps.truncate(1);
    }
    if limits.size_limit_percent > 0 {
        let download = steps
            .iter()
            .fold(0u64, |sum, s| sum.saturating_add(s.download.size));
        let allowed = u128::from(full_size) * u128::from(limits.size_limit_percent) / 100;
        if download != 0 && allowed < u128::from(download) {
            return PdiffPlan::FullDownload {
                reason: format!(
                    "the patches are {download} compressed bytes, more than {allowed} ({} % of the \
                     {full_size}-byte full file)",
                    limits.size_limit_percent
                ),
            };
        }
    }
    PdiffPlan::Patches(steps)
}

/// Checks an uncompressed patch against the Index (size and SHA-256).
pub fn verify_patch(step: &PatchStep, patch: &[u8]) -> Result<(), PdiffError> {
    verify(&step.name, "uncompressed patch", &step.result, patch)
}

/// Checks a downloaded `.gz` against the Index, unpacks it (bounded by the
/// listed patch size) and checks the result. Returns the patch.
pub fn unpack_patch(step: &PatchStep, gz: &[u8]) -> Result<Vec<u8>, PdiffError> {
    verify(&step.name, "downloaded .gz file", &step.download, gz)?;
    let patch = decompress::decompress(gz, Compression::Gzip, step.result.size).map_err(|e| {
        PdiffError::Decompress {
            name: step.name.clone(),
            source: e,
        }
    })?;
    verify_patch(step, &patch)?;
    Ok(patch)
}

fn verify(
    name: &str,
    what: &'static str,
    expected: &PdiffEntry,
    data: &[u8],
) -> Result<(), PdiffError> {
    let actual = Sha256Digest::of(data);
    if actual == expected.sha256 && data.len() as u64 == expected.size {
        Ok(())
    } else {
        Err(PdiffError::HashMismatch {
            name: name.to_string(),
            what,
            expected: expected.sha256,
            expected_size: expected.size,
            actual,
            actual_size: data.len() as u64,
        })
    }
}

/// Applies patches in order (each to the result of the previous one).
pub fn apply_chain<P: AsRef<[u8]>>(base: &[u8], patches: &[P]) -> Result<Vec<u8>, PdiffError> {
    let mut current: Option<Vec<u8>> = None;
    for (i, patch) in patches.iter().enumerate() {
        let input = current.as_deref().unwrap_or(base);
        let next = apply_ed(input, patch.as_ref()).map_err(|e| PdiffError::Chain {
            index: i + 1,
            source: Box::new(e),
        })?;
        current = Some(next);
    }
    Ok(current.unwrap_or_else(|| base.to_vec()))
}

// ---------------------------------------------------------------- ed scripts

/// One parsed command, in terms of the original file: keep `lo` lines, drop
/// lines `lo+1..=hi`, insert `text`.
struct EdCommand<'a> {
    lo: usize,
    hi: usize,
    text: Vec<&'a [u8]>,
    /// 1-based line of the command in the patch.
    line: usize,
}

/// The line of `data` starting at `pos`: (content without '\n', position
/// after it, whether it ended with '\n').
fn next_line(data: &[u8], pos: usize) -> (&[u8], usize, bool) {
    let rest = data.get(pos..).unwrap_or_default();
    match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], pos + i + 1, true),
        None => (rest, data.len(), false),
    }
}

fn patch_err(line: usize, detail: impl Into<String>) -> PdiffError {
    PdiffError::Patch {
        line,
        detail: detail.into(),
    }
}

fn parse_number(digits: &[u8], line: usize) -> Result<usize, PdiffError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(patch_err(
            line,
            format!(
                "expected a command like `12a`, `3,7c` or `5d`, found `{}`",
                String::from_utf8_lossy(digits)
            ),
        ));
    }
    digits.iter().try_fold(0usize, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(usize::from(d - b'0')))
            .ok_or_else(|| patch_err(line, "line number is too large"))
    })
}

/// Parses `N[,M](a|c|d)`.
fn parse_command(text: &[u8], line: usize) -> Result<(usize, usize, u8), PdiffError> {
    let Some((&op, addr)) = text.split_last() else {
        return Err(patch_err(line, "empty line where a command was expected"));
    };
    if !matches!(op, b'a' | b'c' | b'd') {
        return Err(patch_err(
            line,
            format!(
                "unsupported command `{}` (only a, c and d are allowed)",
                String::from_utf8_lossy(text)
            ),
        ));
    }
    let (first, last) = match memchr::memchr(b',', addr) {
        Some(i) => {
            let (a, b) = (&addr[..i], &addr[i + 1..]);
            (parse_number(a, line)?, Some(parse_number(b, line)?))
        }
        None => (parse_number(addr, line)?, None),
    };
    match (op, last) {
        (b'a', Some(_)) => Err(patch_err(line, "`a` takes a single line number")),
        (b'a', None) => Ok((first, first, op)),
        (_, _) if first == 0 => Err(patch_err(
            line,
            format!("`{}` cannot address line 0", char::from(op)),
        )),
        (_, Some(last)) if last < first => Err(patch_err(
            line,
            format!("range {first},{last} ends before it starts"),
        )),
        (_, last) => Ok((first - 1, last.unwrap_or(first), op)),
    }
}

/// Reads a text block starting at `pos` (after an `a`/`c` command on line
/// `line_no`), including the GNU `s/.//` + `a` continuation. Returns the text
/// pieces, the position after the block and the last line number read.
fn read_text(
    patch: &[u8],
    mut pos: usize,
    mut line_no: usize,
    command_line: usize,
) -> Result<(Vec<&[u8]>, usize, usize), PdiffError> {
    let mut pieces = Vec::with_capacity(1);
    loop {
        let start = pos;
        // Start of the last text line of this block, for `s/.//`.
        let mut last_line_start = None;
        loop {
            if pos >= patch.len() {
                return Err(patch_err(
                    command_line,
                    "the text of this command is not terminated by a line holding `.`",
                ));
            }
            let (content, next, has_newline) = next_line(patch, pos);
            line_no += 1;
            if content == b"." {
                break;
            }
            if !has_newline {
                return Err(patch_err(
                    command_line,
                    "the text of this command is not terminated by a line holding `.`",
                ));
            }
            last_line_start = Some(pos);
            pos = next;
        }
        let end = pos;
        pos = next_line(patch, pos).1;
        // GNU diff: `s/.//` turns the last line `..` into `.`, then `a`
        // continues the text.
        let (content, after_s, _) = next_line(patch, pos);
        if content != b"s/.//" {
            pieces.push(&patch[start..end]);
            return Ok((pieces, pos, line_no));
        }
        line_no += 1;
        let Some(last) = last_line_start.filter(|&l| &patch[l..end] == b"..\n") else {
            return Err(patch_err(
                line_no,
                "`s/.//` may only follow a text line `..` (as written by diff --ed)",
            ));
        };
        pieces.push(&patch[start..last]);
        pieces.push(b".\n");
        pos = after_s;
        let (content, after_a, _) = next_line(patch, pos);
        if content != b"a" || pos >= patch.len() {
            return Ok((pieces, pos, line_no));
        }
        line_no += 1;
        pos = after_a;
    }
}

fn parse_ed(patch: &[u8]) -> Result<Vec<EdCommand<'_>>, PdiffError> {
    let mut commands: Vec<EdCommand<'_>> = Vec::new();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < patch.len() {
        let (content, next, _) = next_line(patch, pos);
        line_no += 1;
        let command_line = line_no;
        let (lo, hi, op) = parse_command(content, command_line)?;
        pos = next;
        let text = if op == b'd' {
            Vec::new()
        } else {
            let (pieces, after, last_line) = read_text(patch, pos, line_no, command_line)?;
            pos = after;
            line_no = last_line;
            pieces
        };
        if let Some(prev) = commands.last()
            && hi > prev.lo
        {
            return Err(patch_err(
                command_line,
                format!(
                    "commands must address decreasing, non-overlapping lines (as diff --ed writes \
                     them), but this one reaches line {hi} after the one on patch line {} started \
                     at line {}",
                    prev.line,
                    prev.lo + 1
                ),
            ));
        }
        commands.push(EdCommand {
            lo,
            hi,
            text,
            line: command_line,
        });
    }
    Ok(commands)
}

/// Number of lines in `data` (a final line without '\n' counts).
fn count_lines(data: &[u8]) -> usize {
    let newlines = memchr::memchr_iter(b'\n', data).count();
    newlines + usize::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// Position after `n` more lines of `base` starting at `pos`, or None when
/// the base has fewer. Long stretches are skipped by counting newlines a
/// block at a time (vectorised), not one line at a time.
fn skip_lines(base: &[u8], mut pos: usize, n: usize) -> Option<usize> {
    const BLOCK: usize = 16 << 10;
    let mut left = n;
    while left > 0 {
        let rest = base.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        let chunk = &rest[..rest.len().min(BLOCK)];
        let newlines = memchr::memchr_iter(b'\n', chunk).count();
        if newlines >= left {
            let i = memchr::memchr_iter(b'\n', chunk).nth(left - 1)?;
            return Some(pos + i + 1);
        }
        if chunk.len() == rest.len() {
            // End of the base: a final line without '\n' is a line too.
            let partial = chunk.last().is_some_and(|&b| b != b'\n');
            return (partial && newlines + 1 == left).then_some(base.len());
        }
        left -= newlines;
        pos += chunk.len();
    }
    Some(pos)
}

/// Applies an ed script as written by `diff --ed` to `base` (rred
/// semantics, see the module documentation). Never panics on bad input.
pub fn apply_ed(base: &[u8], patch: &[u8]) -> Result<Vec<u8>, PdiffError> {
    let commands = parse_ed(patch)?;
    let mut out = Vec::with_capacity(base.len() + patch.len());
    let mut pos = 0;
    let mut line = 0;
    let out_of_range = |cmd: &EdCommand<'_>| PdiffError::OutOfRange {
        line: cmd.line,
        address: cmd.hi,
        lines: count_lines(base),
    };
    for cmd in commands.iter().rev() {
        if cmd.lo > line {
            let end = skip_lines(base, pos, cmd.lo - line).ok_or_else(|| out_of_range(cmd))?;
            out.extend_from_slice(&base[pos..end]);
            pos = end;
            line = cmd.lo;
        }
        if cmd.hi > line {
            pos = skip_lines(base, pos, cmd.hi - line).ok_or_else(|| out_of_range(cmd))?;
            line = cmd.hi;
        }
        for piece in &cmd.text {
            out.extend_from_slice(piece);
        }
    }
    out.extend_from_slice(&base[pos..]);
    Ok(out)
}

// ---------------------------------------------------------------- Index fields

/// One field of the Index paragraph: name, and its value lines (the text
/// after the colon, then the continuation lines), with line numbers.
struct Field<'a> {
    name: &'a str,
    line: usize,
    lines: Vec<(usize, &'a str)>,
}

impl<'a> Field<'a> {
    fn single_value(&self) -> &'a str {
        self.lines.first().map_or("", |(_, v)| v)
    }
}

/// Splits the first paragraph into fields with the shared deb822 scanner
/// (which reports malformed lines and duplicate fields with their line).
fn read_fields(data: &[u8]) -> Result<Vec<Field<'_>>, PdiffError> {
    let utf8 = |line: usize| PdiffError::Index {
        line,
        detail: "the Index is not valid UTF-8".to_string(),
    };
    let Some(paragraph) = super::deb822::paragraphs(data).next() else {
        return Ok(Vec::new());
    };
    let paragraph = paragraph.map_err(|e| PdiffError::Index {
        line: e.line,
        detail: e.kind.to_string(),
    })?;
    let mut fields = Vec::new();
    for field in paragraph.fields() {
        let name = std::str::from_utf8(field.name).map_err(|_| utf8(field.line))?;
        let mut lines = Vec::new();
        // The scanner trims the value, so find the line its first byte is on
        // (the value borrows from `data`); each continuation line follows.
        let offset = (field.value.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        let first = data.get(..offset).map_or(field.line, |before| {
            1 + memchr::memchr_iter(b'\n', before).count()
        });
        for (i, value) in field.value.split(|&b| b == b'\n').enumerate() {
            let value = std::str::from_utf8(value.trim_ascii()).map_err(|_| utf8(first + i))?;
            if !value.is_empty() {
                lines.push((first + i, value));
            }
        }
        fields.push(Field {
            name,
            line: field.line,
            lines,
        });
    }
    Ok(fields)
}

fn parse_hash(token: &str, line: usize, field: &str) -> Result<Sha256Digest, PdiffError> {
    Sha256Digest::from_hex(token).ok_or_else(|| PdiffError::Index {
        line,
        detail: format!("{field}: `{token}` is not a SHA-256 hash (64 hex digits)"),
    })
}

fn parse_size(token: &str, line: usize, field: &str) -> Result<u64, PdiffError> {
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PdiffError::Index {
            line,
            detail: format!("{field}: `{token}` is not a size in bytes"),
        });
    }
    token.parse().map_err(|_| PdiffError::Index {
        line,
        detail: format!("{field}: `{token}` is not a size in bytes"),
    })
}

fn parse_current(field: &Field<'_>) -> Result<(Sha256Digest, u64), PdiffError> {
    let [(line, value)] = field.lines[..] else {
        return Err(PdiffError::Index {
            line: field.line,
            detail: format!("{} must be one line `<sha256> <size>`", field.name),
        });
    };
    let tokens: Vec<&str> = value.split_whitespace().collect();
    let [hash, size] = tokens[..] else {
        return Err(PdiffError::Index {
            line,
            detail: format!("{} must be `<sha256> <size>`, found `{value}`", field.name),
        });
    };
    Ok((
        parse_hash(hash, line, field.name)?,
        parse_size(size, line, field.name)?,
    ))
}

/// Patch names become URL path components: allow only what dak writes.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

fn parse_entries(field: &Field<'_>) -> Result<Vec<PdiffEntry>, PdiffError> {
    let mut entries: Vec<PdiffEntry> = Vec::with_capacity(field.lines.len());
    for &(line, value) in &field.lines {
        let tokens: Vec<&str> = value.split_whitespace().collect();
        let [hash, size, name] = tokens[..] else {
            return Err(PdiffError::Index {
                line,
                detail: format!(
                    "{}: expected `<sha256> <size> <name>`, found `{value}`",
                    field.name
                ),
            });
        };
        if !valid_name(name) {
            return Err(PdiffError::Index {
                line,
                detail: format!("{}: `{name}` is not a valid patch name", field.name),
            });
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(PdiffError::Index {
                line,
                detail: format!("{}: `{name}` is listed twice", field.name),
            });
        }
        entries.push(PdiffEntry {
            sha256: parse_hash(hash, line, field.name)?,
            size: parse_size(size, line, field.name)?,
            name: name.to_string(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn testdata(rel: &str) -> String {
        format!("{}/testdata/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    fn real_index() -> Vec<u8> {
        std::fs::read(testdata("pdiff/forky-main-amd64-Packages.diff-Index")).unwrap()
    }

    /// Real Packages text: bookworm-updates (32 KiB) or bookworm-backports
    /// (about 1.7 MiB).
    fn real_packages(suite: &str) -> Vec<u8> {
        let xz = std::fs::read(testdata(&format!(
            "mirror/debian/dists/{suite}/main/binary-amd64/Packages.xz"
        )))
        .unwrap();
        decompress::decompress(&xz, Compression::Xz, 64 << 20).unwrap()
    }

    /// `diff --ed old new`, through temporary files (the tool the archive
    /// uses to make pdiffs).
    fn diff_ed(old: &[u8], new: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("old"), dir.path().join("new"));
        std::fs::write(&a, old).unwrap();
        std::fs::write(&b, new).unwrap();
        let out = Command::new("diff")
            .arg("--ed")
            .arg(&a)
            .arg(&b)
            .output()
            .unwrap();
        // diff exits 0 (same) or 1 (different); 2 is trouble.
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "diff failed: {out:?}"
        );
        out.stdout
    }

    fn gzip_n9(data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gzip")
            .arg("-9n")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    /// Splits Packages text into paragraphs (each keeps its trailing blank
    /// line).
    fn paragraphs(text: &[u8]) -> Vec<Vec<u8>> {
        let s = std::str::from_utf8(text).unwrap();
        s.split_inclusive("\n\n")
            .map(|p| p.as_bytes().to_vec())
            .collect()
    }

    /// A realistic archive change: drop some paragraphs, bump versions of
    /// others, add new ones.
    fn evolve(text: &[u8], rng: &mut StdRng) -> Vec<u8> {
        let mut paras = paragraphs(text);
        let n = paras.len();
        for _ in 0..rng.random_range(1..=3.min(n)) {
            let i = rng.random_range(0..paras.len());
            paras.remove(i);
        }
        for _ in 0..rng.random_range(1..=4) {
            let i = rng.random_range(0..paras.len());
            let p = String::from_utf8(paras[i].clone()).unwrap();
            let bumped = p.replacen("\nVersion: ", "\nVersion: 99:", 1);
            paras[i] = bumped.into_bytes();
        }
        for k in 0..rng.random_range(1..=3) {
            let i = rng.random_range(0..=paras.len());
            let serial: u32 = rng.random();
            paras.insert(
                i,
                format!(
                    "Package: new-{serial}-{k}\nVersion: 1.0-1\nArchitecture: amd64\n\
                     Description: added package\n .\n more text\n\n"
                )
                .into_bytes(),
            );
        }
        paras.concat()
    }

    #[test]
    fn parses_real_forky_index() {
        let index = PdiffIndex::parse(&real_index()).unwrap();
        assert_eq!(
            index.current,
            (
                Sha256Digest::from_hex(
                    "9fce808c4021bd062afe41d5164f1156e82f1879f7c55964613e4f39b15038d2"
                )
                .unwrap(),
                59_660_780
            )
        );
        assert_eq!(index.history.len(), 56);
        assert_eq!(index.patches.len(), 56);
        assert_eq!(index.downloads.len(), 56);
        assert_eq!(index.unmerged_history.len(), 56);
        assert_eq!(index.unmerged_patches.len(), 56);
        assert_eq!(index.unmerged_downloads.len(), 56);
        assert!(index.merged);
        assert_eq!(
            index.older_patches,
            [
                "2026-10-29-2005.58",
                "2026-10-30-0207.05",
                "2026-10-30-0800.52"
            ]
        );
        let first = &index.history[0];
        assert_eq!(first.name, "T-2026-10-30-0800.52-F-2026-10-16-0204.10");
        assert_eq!(first.size, 59_184_958);
        assert_eq!(
            index.patches[0],
            PdiffEntry {
                sha256: Sha256Digest::from_hex(
                    "2197d9c130212107da6e297310695b2c0d59d326160ca252493a8e583a00385b"
                )
                .unwrap(),
                size: 4_095_765,
                name: "T-2026-10-30-0800.52-F-2026-10-16-0204.10".to_string(),
            }
        );
        assert_eq!(
            index.downloads[0].name,
            "T-2026-10-30-0800.52-F-2026-10-16-0204.10.gz"
        );
        assert_eq!(index.downloads[0].size, 1_085_344);
        assert_eq!(index.unmerged_history[0].name, "2026-10-16-0204.10");
        assert_eq!(index.unmerged_downloads[1].size, 3847);
        // Every merged patch leads to the same target.
        assert!(
            index
                .history
                .iter()
                .all(|e| e.name.starts_with("T-2026-10-30-0800.52-F-"))
        );
        // check_current against the Release entry.
        index.check_current(index.current.0, 59_660_780).unwrap();
        assert!(matches!(
            index.check_current(index.current.0, 1),
            Err(PdiffError::StaleIndex { .. })
        ));
    }

    #[test]
    fn plans_on_the_real_index() {
        let index = PdiffIndex::parse(&real_index()).unwrap();
        // The full compressed Packages.xz of forky is about 9.8 MB.
        let full = 9_800_000;
        assert_eq!(
            plan(&index, index.current.0, full, PdiffLimits::default()),
            PdiffPlan::UpToDate
        );
        // From the state of 2026-10-28-0801.25: merged, so one patch.
        let from = index
            .history
            .iter()
            .find(|e| e.name.ends_with("F-2026-10-28-0801.25"))
            .unwrap();
        let PdiffPlan::Patches(steps) = plan(&index, from.sha256, full, PdiffLimits::default())
        else {
            panic!("expected patches");
        };
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].name, "T-2026-10-30-0800.52-F-2026-10-28-0801.25");
        assert_eq!(steps[0].from, *from);
        assert_eq!(steps[0].download.name, format!("{}.gz", steps[0].name));
        assert_eq!(steps[0].result.name, steps[0].name);
        // apt's FileLimit counts the remaining History entries (here 8:
        // 10-28-0801.25 up to 10-30-0800.52).
        let remaining = index.history.len() - index.history.iter().position(|e| e == from).unwrap();
        assert_eq!(remaining, 8);
        let tight = PdiffLimits {
            file_limit: 7,
            ..PdiffLimits::default()
        };
        assert!(matches!(
            plan(&index, from.sha256, full, tight),
            PdiffPlan::FullDownload { .. }
        ));
        let enough = PdiffLimits {
            file_limit: 8,
            ..PdiffLimits::default()
        };
        assert!(matches!(
            plan(&index, from.sha256, full, enough),
            PdiffPlan::Patches(_)
        ));
        // The oldest merged patch is ~1.09 MB compressed: too big against a
        // 1 MB full file at 100 %, fine at 200 %.
        let oldest = &index.history[0];
        assert!(matches!(
            plan(&index, oldest.sha256, 1_000_000, PdiffLimits::default()),
            PdiffPlan::FullDownload { .. }
        ));
        let generous = PdiffLimits {
            size_limit_percent: 200,
            ..PdiffLimits::default()
        };
        assert!(matches!(
            plan(&index, oldest.sha256, 1_000_000, generous),
            PdiffPlan::Patches(_)
        ));
        // 0 disables the size check.
        let off = PdiffLimits {
            size_limit_percent: 0,
            ..PdiffLimits::default()
        };
        assert!(matches!(
            plan(&index, oldest.sha256, 1, off),
            PdiffPlan::Patches(_)
        ));
        // A hash not in the history: full download.
        let PdiffPlan::FullDownload { reason } =
            plan(&index, Sha256Digest::of(b"x"), full, PdiffLimits::default())
        else {
            panic!("expected full download");
        };
        assert!(reason.contains("not in the patch history"), "{reason}");
    }

    #[test]
    fn index_errors_name_the_line() {
        let bad = b"SHA256-Current: 00 12\n";
        match PdiffIndex::parse(bad) {
            Err(PdiffError::Index { line: 1, detail }) => assert!(detail.contains("SHA-256")),
            other => panic!("{other:?}"),
        }
        let hash = "9fce808c4021bd062afe41d5164f1156e82f1879f7c55964613e4f39b15038d2";
        let missing_name = format!("SHA256-Current: {hash} 5\nSHA256-History:\n {hash} 5\n");
        match PdiffIndex::parse(missing_name.as_bytes()) {
            Err(PdiffError::Index { line: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
        let traversal = format!("SHA256-Current: {hash} 5\nSHA256-History:\n {hash} 5 ../../x\n");
        assert!(matches!(
            PdiffIndex::parse(traversal.as_bytes()),
            Err(PdiffError::Index { line: 3, .. })
        ));
        let dup = format!("SHA256-Current: {hash} 5\nsha256-current: {hash} 5\n");
        assert!(matches!(
            PdiffIndex::parse(dup.as_bytes()),
            Err(PdiffError::Index { line: 2, .. })
        ));
        assert!(matches!(
            PdiffIndex::parse(b"SHA1-Current: abc 5\n"),
            Err(PdiffError::Index { .. })
        ));
        assert!(matches!(
            PdiffIndex::parse(b" continuation first\n"),
            Err(PdiffError::Index { line: 1, .. })
        ));
        assert!(matches!(
            PdiffIndex::parse(b"\xff\xfe"),
            Err(PdiffError::Index { .. })
        ));
        // Minimal valid Index: Current only.
        let ok = PdiffIndex::parse(format!("SHA256-Current: {hash} 5\n").as_bytes()).unwrap();
        assert!(ok.history.is_empty() && !ok.merged);
    }

    #[test]
    fn apply_ed_basic_commands() {
        let base = b"1\n2\n3\n4\n5\n";
        let patch = b"5a\nsix\n.\n3,4c\nthree\n.\n1d\n0a\nzero\n.\n";
        assert_eq!(apply_ed(base, patch).unwrap(), b"zero\n2\nthree\n5\nsix\n");
        // Empty patch: identity.
        assert_eq!(apply_ed(base, b"").unwrap(), base);
        // Empty base with appended text.
        assert_eq!(apply_ed(b"", b"0a\nx\n.\n").unwrap(), b"x\n");
        // Delete everything.
        assert_eq!(apply_ed(base, b"1,5d\n").unwrap(), b"");
        // Two appends at the same line apply like ed: the later command's
        // text ends up first.
        assert_eq!(
            apply_ed(b"a\n", b"1a\nX\n.\n1a\nY\n.\n").unwrap(),
            b"a\nY\nX\n"
        );
        // A final line without newline is a line.
        assert_eq!(apply_ed(b"a\nb", b"2c\nB\n.\n").unwrap(), b"a\nB\n");
        // Terminator at end of file without newline.
        assert_eq!(apply_ed(b"a\n", b"1c\nb\n.").unwrap(), b"b\n");
    }

    #[test]
    fn skip_lines_across_blocks() {
        let base: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let starts: Vec<usize> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', &base).map(|i| i + 1))
            .collect();
        for (from, n) in [
            (0, 0),
            (0, 1),
            (0, 19_999),
            (0, 20_000),
            (5, 3_000),
            (17_000, 3_000),
        ] {
            assert_eq!(
                skip_lines(&base, starts[from], n),
                Some(starts[from + n]),
                "{from}+{n}"
            );
        }
        assert_eq!(skip_lines(&base, 0, 20_001), None);
        assert_eq!(skip_lines(&base, starts[19_999], 2), None);
        // Final line without newline.
        let mut open = base.clone();
        open.extend_from_slice(b"last");
        assert_eq!(skip_lines(&open, 0, 20_001), Some(open.len()));
        assert_eq!(skip_lines(&open, 0, 20_002), None);
        assert_eq!(count_lines(&open), 20_001);
        assert_eq!(count_lines(&base), 20_000);
    }

    #[test]
    fn apply_ed_gnu_dot_lines() {
        // What diff --ed writes when the new file has lines holding a dot.
        let old = b"a\nb\nc\n";
        let new = b"a\nx\n.\ny\nb\n.\n";
        let patch = diff_ed(old, new);
        assert!(
            patch.windows(5).any(|w| w == b"s/.//"),
            "diff wrote: {patch:?}"
        );
        assert_eq!(apply_ed(old, &patch).unwrap(), new);
        // `s/.//` after something else than `..` is rejected.
        assert!(matches!(
            apply_ed(old, b"1a\nx\n.\ns/.//\n"),
            Err(PdiffError::Patch { line: 4, .. })
        ));
    }

    #[test]
    fn apply_ed_rejects_bad_scripts() {
        let base = b"1\n2\n3\n";
        let cases: &[(&[u8], &str)] = &[
            (b"4d\n", "out of range"),
            (b"3,4c\nx\n.\n", "out of range"),
            (b"5a\nx\n.\n", "out of range"),
            (b"2a\nnever terminated\n", "unterminated"),
            (b"2c\n", "unterminated"),
            (b"1d\n2d\n", "increasing order"),
            (b"2,3d\n3d\n", "overlap"),
            (b"2d\n2a\nx\n.\n", "append inside a deleted range"),
            (b"0d\n", "line zero"),
            (b"0,1c\nx\n.\n", "line zero"),
            (b"3,2d\n", "reversed range"),
            (b"1,2a\nx\n.\n", "ranged append"),
            (b"w\n", "write command"),
            (b"1x\n", "unknown command"),
            (b"\n", "blank line"),
            (b"a\n", "missing address"),
            (b"1d trailing\n", "trailing text"),
            (b"99999999999999999999999999d\n", "overflow"),
            (b"-1d\n", "negative"),
        ];
        for (patch, what) in cases {
            let r = apply_ed(base, patch);
            assert!(
                matches!(
                    r,
                    Err(PdiffError::Patch { .. } | PdiffError::OutOfRange { .. })
                ),
                "{what}: {r:?}"
            );
        }
        match apply_ed(base, b"7d\n") {
            Err(PdiffError::OutOfRange {
                line: 1,
                address: 7,
                lines: 3,
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn apply_ed_survives_garbage() {
        // Random bytes and random mutations of a valid script never panic.
        let base = real_packages("bookworm-updates");
        let next = evolve(&base, &mut StdRng::seed_from_u64(7));
        let patch = diff_ed(&base, &next);
        let mut rng = StdRng::seed_from_u64(0xdeb);
        for _ in 0..2000 {
            let mut p = patch.clone();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..p.len());
                p[i] = *b"0123456789acd.,\n x".get(rng.random_range(0..18)).unwrap();
            }
            let _ = apply_ed(&base, &p);
            let junk: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
            let _ = apply_ed(&base, &junk);
        }
    }

    #[test]
    fn real_chain_of_patches_applies() {
        let v0 = real_packages("bookworm-backports");
        let mut rng = StdRng::seed_from_u64(2024);
        let mut versions = vec![v0];
        for _ in 0..4 {
            let next = evolve(versions.last().unwrap(), &mut rng);
            versions.push(next);
        }
        let patches: Vec<Vec<u8>> = versions.windows(2).map(|w| diff_ed(&w[0], &w[1])).collect();
        for (i, p) in patches.iter().enumerate() {
            assert_eq!(
                apply_ed(&versions[i], p).unwrap(),
                versions[i + 1],
                "patch {i}"
            );
        }
        assert_eq!(apply_chain(&versions[0], &patches).unwrap(), versions[4]);
        assert_eq!(
            apply_chain(&versions[1], &patches[1..]).unwrap(),
            versions[4]
        );
        assert_eq!(
            apply_chain::<Vec<u8>>(&versions[2], &[]).unwrap(),
            versions[2]
        );
        // Applying a chain to the wrong base fails or gives a different file;
        // here the first patch does not fit the latest version.
        match apply_chain(&versions[4], &patches) {
            Err(PdiffError::Chain { .. }) => {}
            Ok(out) => assert_ne!(out, versions[4]),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn entry_line(data: &[u8], name: &str) -> String {
        format!(" {} {:>8} {name}\n", Sha256Digest::of(data), data.len())
    }

    /// Writes an Index in dak's format for `versions` (the last is current).
    /// Merged: patches `T-<last>-F-<k>` from every version to the last, plus
    /// the unmerged per-step lists; otherwise per-step patches only.
    fn write_index(versions: &[Vec<u8>], merged: bool) -> (String, Vec<(String, Vec<u8>)>) {
        let last = versions.len() - 1;
        let current = versions.last().unwrap();
        let mut files = Vec::new();
        let (mut hist, mut pat, mut dl) = (String::new(), String::new(), String::new());
        let (mut uhist, mut upat, mut udl) = (String::new(), String::new(), String::new());
        for k in 0..last {
            let step = diff_ed(&versions[k], &versions[k + 1]);
            let step_gz = gzip_n9(&step);
            let step_name = format!("2026-01-0{}-0000.00", k + 1);
            let (h, p, d) = if merged {
                (&mut uhist, &mut upat, &mut udl)
            } else {
                (&mut hist, &mut pat, &mut dl)
            };
            h.push_str(&entry_line(&versions[k], &step_name));
            p.push_str(&entry_line(&step, &step_name));
            d.push_str(&entry_line(&step_gz, &format!("{step_name}.gz")));
            if !merged {
                files.push((step_name, step_gz));
                continue;
            }
            let to = format!("2026-01-0{}-0000.00", last);
            let name = format!("T-{to}-F-{step_name}");
            let patch = diff_ed(&versions[k], current);
            let gz = gzip_n9(&patch);
            hist.push_str(&entry_line(&versions[k], &name));
            pat.push_str(&entry_line(&patch, &name));
            dl.push_str(&entry_line(&gz, &format!("{name}.gz")));
            files.push((name, gz));
        }
        let mut index = format!(
            "SHA256-Current: {} {}\nSHA256-History:\n{hist}SHA256-Patches:\n{pat}\
             SHA256-Download:\n{dl}",
            Sha256Digest::of(current),
            current.len()
        );
        if merged {
            index.push_str(&format!(
                "X-Unmerged-SHA256-History:\n{uhist}X-Unmerged-SHA256-Patches:\n{upat}\
                 X-Unmerged-SHA256-Download:\n{udl}X-Patch-Precedence: merged\n"
            ));
        }
        (index, files)
    }

    /// Plays the client: plan, "download" from `files`, verify, apply.
    fn update(
        index: &PdiffIndex,
        local: &[u8],
        files: &[(String, Vec<u8>)],
        full_size: u64,
    ) -> Result<Option<Vec<u8>>, PdiffError> {
        match plan(
            index,
            Sha256Digest::of(local),
            full_size,
            PdiffLimits::default(),
        ) {
            PdiffPlan::UpToDate => Ok(Some(local.to_vec())),
            PdiffPlan::FullDownload { .. } => Ok(None),
            PdiffPlan::Patches(steps) => {
                let mut patches = Vec::new();
                for step in &steps {
                    let gz = &files.iter().find(|(n, _)| *n == step.name).unwrap().1;
                    patches.push(unpack_patch(step, gz)?);
                }
                apply_chain(local, &patches).map(Some)
            }
        }
    }

    #[test]
    fn merged_and_unmerged_indexes_bring_every_version_up_to_date() {
        let mut rng = StdRng::seed_from_u64(99);
        let mut versions = vec![real_packages("bookworm-updates")];
        for _ in 0..4 {
            let next = evolve(versions.last().unwrap(), &mut rng);
            versions.push(next);
        }
        let current = versions.last().unwrap().clone();
        let full_size = 1 << 20;
        for merged in [true, false] {
            let (text, files) = write_index(&versions, merged);
            let index = PdiffIndex::parse(text.as_bytes()).unwrap();
            assert_eq!(index.merged, merged);
            index
                .check_current(Sha256Digest::of(&current), current.len() as u64)
                .unwrap();
            for (k, v) in versions.iter().enumerate() {
                if let PdiffPlan::Patches(steps) = plan(
                    &index,
                    Sha256Digest::of(v),
                    full_size,
                    PdiffLimits::default(),
                ) {
                    let expected = if merged { 1 } else { versions.len() - 1 - k };
                    assert_eq!(steps.len(), expected, "merged={merged} from v{k}");
                    assert_eq!(steps[0].from.sha256, Sha256Digest::of(v));
                }
                let out = update(&index, v, &files, full_size).unwrap().unwrap();
                assert_eq!(out, current, "merged={merged} from v{k}");
            }
            // An unknown local file: full download.
            assert_eq!(
                update(&index, b"unknown\n", &files, full_size).unwrap(),
                None
            );
            // A tiny full file makes patches not worth it.
            assert_eq!(update(&index, &versions[0], &files, 10).unwrap(), None);
        }
        // Non-merged chain: a file limit below the chain length refuses.
        let (text, _) = write_index(&versions, false);
        let index = PdiffIndex::parse(text.as_bytes()).unwrap();
        let limits = PdiffLimits {
            file_limit: 3,
            size_limit_percent: 100,
        };
        assert!(matches!(
            plan(&index, Sha256Digest::of(&versions[0]), full_size, limits),
            PdiffPlan::FullDownload { .. }
        ));
        assert!(matches!(
            plan(&index, Sha256Digest::of(&versions[1]), full_size, limits),
            PdiffPlan::Patches(ref s) if s.len() == 3
        ));
    }

    #[test]
    fn broken_chains_and_bad_downloads_are_detected() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut versions = vec![real_packages("bookworm-updates")];
        for _ in 0..3 {
            let next = evolve(versions.last().unwrap(), &mut rng);
            versions.push(next);
        }
        let (text, files) = write_index(&versions, false);
        // Remove the Download entry of the middle patch: the chain from v0
        // is broken, from v2 it is not.
        let middle = &files[1].0;
        let broken: String = text
            .lines()
            .filter(|l| !l.ends_with(&format!(" {middle}.gz")))
            .map(|l| format!("{l}\n"))
            .collect();
        let index = PdiffIndex::parse(broken.as_bytes()).unwrap();
        let PdiffPlan::FullDownload { reason } = plan(
            &index,
            Sha256Digest::of(&versions[0]),
            1 << 20,
            PdiffLimits::default(),
        ) else {
            panic!("expected full download");
        };
        assert!(reason.contains(middle.as_str()), "{reason}");
        assert!(matches!(
            plan(
                &index,
                Sha256Digest::of(&versions[2]),
                1 << 20,
                PdiffLimits::default()
            ),
            PdiffPlan::Patches(_)
        ));

        // A download that does not match its hash is refused, as is an
        // unpacked patch that does not.
        let index = PdiffIndex::parse(text.as_bytes()).unwrap();
        let PdiffPlan::Patches(steps) = plan(
            &index,
            Sha256Digest::of(&versions[0]),
            1 << 20,
            PdiffLimits::default(),
        ) else {
            panic!("expected patches");
        };
        let mut tampered = files[0].1.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            unpack_patch(&steps[0], &tampered),
            Err(PdiffError::HashMismatch {
                what: "downloaded .gz file",
                ..
            })
        ));
        let good = unpack_patch(&steps[0], &files[0].1).unwrap();
        verify_patch(&steps[0], &good).unwrap();
        let mut bad = good.clone();
        bad.push(b'\n');
        assert!(matches!(
            verify_patch(&steps[0], &bad),
            Err(PdiffError::HashMismatch {
                what: "uncompressed patch",
                ..
            })
        ));
        // Applying the patches out of order fails.
        let unpacked: Vec<Vec<u8>> = steps
            .iter()
            .map(|s| unpack_patch(s, &files.iter().find(|(n, _)| *n == s.name).unwrap().1).unwrap())
            .collect();
        let reversed: Vec<Vec<u8>> = unpacked.iter().rev().cloned().collect();
        match apply_chain(&versions[0], &reversed) {
            Ok(out) => assert_ne!(out, *versions.last().unwrap()),
            Err(PdiffError::Chain { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }

    /// Random line-level edits, including lines holding a single `.`.
    fn random_edit(text: &[u8], rng: &mut StdRng) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = text
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        for _ in 0..rng.random_range(1..40) {
            let len = lines.len();
            match rng.random_range(0..5) {
                0 if len > 0 => {
                    let i = rng.random_range(0..len);
                    let n = rng.random_range(1..=8.min(len - i));
                    lines.drain(i..i + n);
                }
                1 | 2 => {
                    let i = rng.random_range(0..=len);
                    for k in 0..rng.random_range(1..5) {
                        let line = match rng.random_range(0..6) {
                            0 => b".\n".to_vec(),
                            1 => b"..\n".to_vec(),
                            _ => format!("Inserted-{k}: {}\n", rng.random::<u16>()).into_bytes(),
                        };
                        lines.insert(i, line);
                    }
                }
                3 if len > 0 => {
                    let i = rng.random_range(0..len);
                    lines[i] = format!("Changed: {}\n", rng.random::<u32>()).into_bytes();
                }
                _ if len > 1 => {
                    let (a, b) = (rng.random_range(0..len), rng.random_range(0..len));
                    lines.swap(a, b);
                }
                _ => lines.push(b"Tail: x\n".to_vec()),
            }
        }
        lines.concat()
    }

    #[test]
    fn property_random_edits_round_trip_through_diff_ed() {
        let base = real_packages("bookworm-updates");
        let mut rng = StdRng::seed_from_u64(0x5eed_cafe);
        let mut old = base;
        let mut with_dot_lines = 0;
        for iteration in 0..50 {
            let new = random_edit(&old, &mut rng);
            let patch = diff_ed(&old, &new);
            with_dot_lines += usize::from(patch.windows(6).any(|w| w == b"s/.//\n"));
            let applied = apply_ed(&old, &patch);
            assert!(
                applied.as_ref().is_ok_and(|a| *a == new),
                "iteration {iteration}: {:?}",
                applied.err()
            );
            // Also from scratch / to empty now and then.
            old = if iteration % 17 == 16 {
                Vec::new()
            } else {
                new
            };
        }
        // The GNU `s/.//` form was exercised, not only plain a/c/d.
        assert!(
            with_dot_lines >= 10,
            "only {with_dot_lines} patches had dot lines"
        );
    }
}
