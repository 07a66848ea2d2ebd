//! `debfleet compare-versions`: `dpkg --compare-versions` (same operators,
//! messages and exit statuses) plus a fast `--batch` mode that orders
//! many pairs read from standard input.

use anyhow::{Context, Result};
use debfleet::deb::version::{self, CompareOp, VersionError, VersionWarning};
use std::cmp::Ordering;
use std::ffi::OsString;
use std::io::{BufRead, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Exit status: 0 if the relation holds, 1 if it does not, 2 if a version is
invalid or the relation is unknown (as dpkg). dpkg's warnings (e.g. a version
not starting with a digit) are printed and the versions are still compared.

Relations: lt le eq ne ge gt, also spelt << <= = >= >> (and the obsolete < and
>, meaning <= and >=). The -nl forms lt-nl le-nl ge-nl gt-nl treat a missing
version ('' or '<unknown>') as later than every version; the plain forms treat
it as earlier than every version.

Examples:
  debfleet compare-versions 1.0~rc1 lt 1.0 && echo older     # ~ sorts first
  debfleet compare-versions 1:0.9 gt 2.0                      # epoch wins: true
  debfleet compare-versions 1.0 eq 1.0-0                      # true
  debfleet compare-versions 2.36-9+deb12u4 lt 2.36-9+deb12u10 # numeric: true
  debfleet compare-versions '' lt-nl 1.0                      # false: '' is newest
  debfleet compare-versions -- -1 eq 1                        # exit 2 (bad syntax)

Batch mode reads lines 'A<TAB>B' and prints lt, eq, gt or 'error: MESSAGE' per
line, in order; warnings go to stderr as 'debfleet: warning: line N: ...'. An
empty field or '<unknown>' is a missing version (earlier than all). The exit
status is 0 unless reading or writing fails; bad lines are reported in place:
  printf '1.0\\t1.0-1\\n2:1\\t10\\n' | debfleet compare-versions --batch
  lt
  gt";

/// Compare two Debian versions exactly as `dpkg --compare-versions A OP B`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Read 'A<TAB>B' lines from standard input; print lt, eq, gt or
    /// 'error: MESSAGE' for each.
    #[arg(long, conflicts_with_all = ["a", "op", "b"])]
    pub batch: bool,
    /// First version ('' or '<unknown>' means no version).
    #[arg(
        value_name = "A",
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    pub a: Option<OsString>,
    /// Relation: lt le eq ne ge gt lt-nl le-nl ge-nl gt-nl << <= = >= >>.
    #[arg(
        value_name = "OP",
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    pub op: Option<String>,
    /// Second version ('' or '<unknown>' means no version).
    #[arg(
        value_name = "B",
        required_unless_present = "batch",
        allow_hyphen_values = true
    )]
    pub b: Option<OsString>,
}

/// Runs the command: exit 0 (holds), 1 (does not hold) or 2 (bad input).
pub fn run(_global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    if args.batch {
        return run_batch();
    }
    let (Some(a), Some(op), Some(b)) = (&args.a, &args.op, &args.b) else {
        eprintln!("debfleet: error: compare-versions takes three arguments: A OP B (or --batch)");
        return Ok(ExitCode::from(2));
    };
    // dpkg checks the relation before the versions.
    let op_parsed: CompareOp = match op.parse() {
        Ok(op) => op,
        Err(err) => {
            eprintln!("debfleet: error: {err}");
            return Ok(ExitCode::from(2));
        }
    };
    if CompareOp::is_obsolete_spelling(op) {
        eprintln!(
            "debfleet: warning: compare-versions used with obsolete relation operator '{op}'"
        );
    }
    let a = a.as_bytes();
    let b = b.as_bytes();
    let checked = check_versions([a, b], |message| {
        eprintln!("debfleet: warning: {message}");
        Ok(())
    })?;
    if let Err(err) = checked {
        eprintln!("debfleet: error: {err}");
        return Ok(ExitCode::from(2));
    }
    let ord = order(a, b, op_parsed.missing_is_later());
    Ok(ExitCode::from(if op_parsed.holds_for(ord) { 0 } else { 1 }))
}

/// dpkg treats an empty argument and `<unknown>` as "no version".
fn is_missing(v: &[u8]) -> bool {
    v.is_empty() || v == b"<unknown>"
}

/// The ordering dpkg's relations see: a missing version is earlier than
/// every version, or later with `missing_is_later` (the `-nl` operators);
/// two missing versions are equal.
fn order(a: &[u8], b: &[u8], missing_is_later: bool) -> Ordering {
    match (is_missing(a), is_missing(b)) {
        (false, false) => version::compare_bytes(a, b),
        (true, true) => Ordering::Equal,
        (true, false) if missing_is_later => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, true) if missing_is_later => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// Validates the present versions as dpkg would, in order, handing each
/// warning message to `warn`; the first error ends the check (dpkg stops
/// there too). The outer `Result` is `warn`'s own failure (output errors).
fn check_versions(
    versions: [&[u8]; 2],
    mut warn: impl FnMut(String) -> std::io::Result<()>,
) -> std::io::Result<Result<(), VersionError>> {
    for v in versions {
        if is_missing(v) {
            continue;
        }
        match version::parse_like_dpkg_bytes(v) {
            Ok(None) => {}
            Ok(Some(warning)) => warn(warning_message(v, warning))?,
            Err(err) => return Ok(Err(err)),
        }
    }
    Ok(Ok(()))
}

fn warning_message(v: &[u8], warning: VersionWarning) -> String {
    format!(
        "version '{}' has bad syntax: {warning}",
        String::from_utf8_lossy(v)
    )
}

/// `--batch`: one result line per input line, in order.
fn run_batch() -> Result<ExitCode> {
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = std::io::stderr();
    let mut warn = BufWriter::new(stderr.lock());
    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let Some(tab) = memchr::memchr(b'\t', text) else {
            writeln!(
                out,
                "error: line {number}: expected two versions separated by a tab, found {:?}",
                String::from_utf8_lossy(text)
            )?;
            continue;
        };
        let a = text.get(..tab).unwrap_or_default();
        let b = text.get(tab + 1..).unwrap_or_default();
        let checked = check_versions([a, b], |message| {
            writeln!(warn, "debfleet: warning: line {number}: {message}")
        })?;
        match checked {
            Ok(()) => {
                let word = match order(a, b, false) {
                    Ordering::Less => "lt",
                    Ordering::Equal => "eq",
                    Ordering::Greater => "gt",
                };
                out.write_all(word.as_bytes())?;
                out.write_all(b"\n")?;
            }
            Err(err) => writeln!(out, "error: {err}")?,
        }
    }
    out.flush().context("cannot write standard output")?;
    warn.flush()?;
    Ok(ExitCode::SUCCESS)
}
