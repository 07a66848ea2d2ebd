//! End-to-end tests of `debfleet compare-versions` against the real
//! `dpkg --compare-versions`: a differential run over tens of thousands of
//! version pairs built from the testdata mirror, and exit statuses for every
//! operator spelling.

use debfleet::deb::version;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_debfleet");

fn have_dpkg() -> bool {
    Command::new("dpkg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn find_packages_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            find_packages_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "Packages.xz") {
            out.push(path);
        }
    }
}

/// (file index, package, version) for every stanza of every Packages.xz.
fn mirror_versions() -> Vec<(usize, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mirror");
    let mut files = Vec::new();
    find_packages_files(&root, &mut files);
    assert!(
        files.len() >= 5,
        "expected Packages.xz files under {root:?}"
    );
    // Decompress in parallel, one `xz | grep` per file (grep keeps the
    // Rust side small: the test binary is unoptimised).
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            Command::new("sh")
                .arg("-c")
                .arg(r#"xz -dc -- "$1" | grep -E '^(Package|Version): '"#)
                .arg("sh")
                .arg(f)
                .stdout(Stdio::piped())
                .spawn()
                .expect("run xz")
        })
        .collect();
    let mut out = Vec::new();
    for (index, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "xz -dc {:?} | grep", files[index]);
        let text = String::from_utf8(output.stdout).unwrap();
        let mut package = String::new();
        for line in text.lines() {
            if let Some(p) = line.strip_prefix("Package: ") {
                package = p.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("Version: ") {
                out.push((index, package.clone(), v.trim().to_owned()));
            }
        }
    }
    out
}

/// Hand-made strings: tildes, epochs, leading zeros, 30-digit runs, empty
/// and odd revisions, and strings dpkg warns about or refuses.
fn constructed() -> Vec<String> {
    let thirty = "123456789012345678901234567890";
    let mut v: Vec<String> = [
        "1.0",
        "1.0~",
        "1.0~~",
        "1.0~rc1",
        "1.0~rc1~",
        "1.0-1~",
        "~",
        "~~a",
        "1.0+",
        "1.0+0",
        "1.0+~",
        "1.0.",
        "1.0a",
        "1.0a0",
        "1.0A",
        "1.00",
        "01.0",
        "1.0-0",
        "1.0-00",
        "1.0-",
        "1.0--1",
        "1.0-a-",
        "1.0-1-1",
        "0:1.0",
        "1:1.0",
        "01:1.0",
        "2147483647:1",
        "2147483648:1",
        "1:",
        ":1",
        "a:1",
        "1a:1",
        "+1:1.0",
        "-0:1.0",
        "-1:1.0",
        "1:2:3",
        "1:2:3-4",
        "1-2:3",
        "1:-1",
        "-1",
        "1: ",
        " 1.0",
        "1.0 ",
        "1 0",
        " ",
        "",
        "<unknown>",
        "a1",
        "~1",
        "1_0",
        "1.0-a_b",
        "1.0-1:2",
        "1:1.0-1:2",
        "0",
        "00",
        "0-0",
        "9",
        "10",
        "1.0-1+b1",
        "1.0-1.1",
        "1.0-1~bpo12+1",
        "1.0-1+deb12u1",
        "1.0-1+deb12u10",
        "1.0-1+deb12u1~",
        "1.2.3.4.5.6.7",
        "1.2.3.4.5.6.8",
        "1.0.0",
        "1.0-0.0",
        "1.0-a",
        "1.0-Z",
        "1.0-z",
        "1.0-.",
        "1.0-+",
        "1.0-~",
        "1.0:1",
        "1:1.0:1",
        "1.0!",
        "1.0/2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("1.{thirty}"));
    v.push(format!("1.{thirty}1"));
    v.push(format!("1.000{thirty}"));
    v.push(format!("1.{}", "9".repeat(30)));
    v.push(format!("1.1{}", "0".repeat(30)));
    v.push(format!("1.0-{thirty}"));
    v.push(format!("1.0-0{thirty}"));
    v.push(format!("{thirty}:1"));
    v
}

/// Mutations of a real version, each paired with the original.
fn mutations(v: &str) -> Vec<String> {
    let mut out = vec![
        format!("{v}+b1"),
        format!("{v}~1"),
        format!("1:{v}"),
        format!("{v}-0"),
        format!("{v}~bpo12+1"),
        format!("{v}+deb12u1"),
    ];
    if let Some((upstream, _)) = v.rsplit_once('-') {
        out.push(upstream.to_owned());
    }
    // ±1 on the last digit run.
    let bytes = v.as_bytes();
    if let Some(end) = bytes.iter().rposition(u8::is_ascii_digit) {
        let start = bytes[..end]
            .iter()
            .rposition(|c| !c.is_ascii_digit())
            .map_or(0, |p| p + 1);
        if let Ok(n) = v[start..=end].parse::<u128>() {
            out.push(format!("{}{}{}", &v[..start], n + 1, &v[end + 1..]));
            if n > 0 {
                out.push(format!("{}{}{}", &v[..start], n - 1, &v[end + 1..]));
            }
        }
    }
    out
}

fn build_pairs() -> Vec<(String, String)> {
    let records = mirror_versions();
    let mut rng = StdRng::seed_from_u64(0x5eed_d9c4);
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    let mut push = |pairs: &mut Vec<(String, String)>, a: &str, b: &str| {
        if a != b && !a.contains(['\t', '\n']) && !b.contains(['\t', '\n']) {
            let pair = (a.to_owned(), b.to_owned());
            if seen.insert(pair.clone()) {
                pairs.push(pair);
            }
        }
    };

    // Same package across suites (and within a suite, where it has several).
    let mut by_package: BTreeMap<&str, BTreeSet<(usize, &str)>> = BTreeMap::new();
    for (file, package, v) in &records {
        by_package.entry(package).or_default().insert((*file, v));
    }
    let mut same: Vec<(&str, &str)> = Vec::new();
    for entries in by_package.values() {
        let versions: Vec<&str> = entries.iter().map(|(_, v)| *v).collect();
        for w in versions.windows(2) {
            if w[0] != w[1] {
                same.push((w[0], w[1]));
            }
        }
    }
    while pairs.len() < 4000 && !same.is_empty() {
        let (a, b) = same.swap_remove(rng.random_range(0..same.len()));
        if rng.random_bool(0.5) {
            push(&mut pairs, a, b);
        } else {
            push(&mut pairs, b, a);
        }
    }
    let after_same = pairs.len();

    let unique: Vec<&str> = records
        .iter()
        .map(|(_, _, v)| v.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        unique.len() > 10_000,
        "only {} distinct versions",
        unique.len()
    );

    // Random pairs.
    for _ in 0..2000 {
        let a = unique[rng.random_range(0..unique.len())];
        let b = unique[rng.random_range(0..unique.len())];
        push(&mut pairs, a, b);
    }
    // Neighbours in text order (long shared prefixes) and in version order
    // (the hardest pairs for an ordering).
    let start = rng.random_range(0..unique.len() - 2500);
    for w in unique[start..start + 2500].windows(2) {
        push(&mut pairs, w[1], w[0]);
    }
    let mut sample: Vec<&str> = (0..3000)
        .map(|_| unique[rng.random_range(0..unique.len())])
        .collect();
    sample.sort_by(|a, b| version::compare(a, b));
    for w in sample.windows(2) {
        push(&mut pairs, w[0], w[1]);
    }
    // Mutations of real versions.
    for _ in 0..400 {
        let v = unique[rng.random_range(0..unique.len())];
        for m in mutations(v) {
            if rng.random_bool(0.5) {
                push(&mut pairs, v, &m);
            } else {
                push(&mut pairs, &m, v);
            }
        }
    }
    // Constructed edge cases, all against all.
    let edge = constructed();
    for a in &edge {
        for b in &edge {
            push(&mut pairs, a, b);
        }
    }
    // And against a few real versions.
    for a in &edge {
        let b = unique[rng.random_range(0..unique.len())];
        push(&mut pairs, a, b);
        push(&mut pairs, b, a);
    }
    eprintln!("pairs: {} total ({after_same} same-package)", pairs.len());
    pairs
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A verdict on one pair: `lt`/`eq`/`gt`/`error` and the messages
/// (`warning: ...` / `error: ...`, without the program-name prefix).
#[derive(Debug, Default, Clone, PartialEq)]
struct Verdict {
    result: String,
    messages: Vec<String>,
}

/// dpkg's answer to one `dpkg --compare-versions -- A OP B`: exit status
/// and messages (without `dpkg: `).
#[derive(Debug, Default, Clone)]
struct DpkgAnswer {
    op: &'static str,
    status: i32,
    messages: Vec<String>,
}

/// Asks dpkg one question per pair, as shell scripts run in two parallel
/// chunks: `A OP B` for every (pair, OP) given. Each answer has the exit
/// status and what dpkg printed.
fn ask_dpkg(questions: &[(&str, &str, &'static str)], dir: &Path) -> Vec<DpkgAnswer> {
    if questions.is_empty() {
        return Vec::new();
    }
    let chunk = questions.len().div_ceil(2);
    let mut children = Vec::new();
    for (c, part) in questions.chunks(chunk).enumerate() {
        let mut script = String::from("exec 2>&1\n");
        for (i, (a, b, op)) in part.iter().enumerate() {
            let (a, b) = (sh_quote(a), sh_quote(b));
            script.push_str(&format!(
                "echo @{i}; dpkg --compare-versions -- {a} {op} {b}; echo =$?\n"
            ));
        }
        let path = dir.join(format!("dpkg-{c}.sh"));
        std::fs::write(&path, script).unwrap();
        let child = Command::new("sh")
            .arg(&path)
            .env("LC_ALL", "C")
            .stdout(Stdio::piped())
            .spawn()
            .expect("run sh");
        children.push((part, child));
    }
    let mut answers = Vec::with_capacity(questions.len());
    for (part, child) in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "dpkg script failed");
        let text = String::from_utf8(output.stdout).unwrap();
        let mut got: Vec<DpkgAnswer> = Vec::with_capacity(part.len());
        for line in text.lines() {
            if let Some(index) = line.strip_prefix('@') {
                let index = index.parse::<usize>().unwrap();
                assert_eq!(index, got.len(), "dpkg output order");
                got.push(DpkgAnswer {
                    op: part[index].2,
                    status: -1,
                    messages: Vec::new(),
                });
            } else if let Some(status) = line.strip_prefix('=') {
                got.last_mut().unwrap().status = status.parse().unwrap();
            } else if let Some(message) = line.strip_prefix("dpkg: ") {
                got.last_mut().unwrap().messages.push(message.to_owned());
            } else {
                panic!("unexpected dpkg output line {line:?}");
            }
        }
        assert_eq!(got.len(), part.len(), "dpkg answered every question");
        assert!(
            got.iter().all(|a| a.status >= 0),
            "dpkg exit status missing"
        );
        answers.extend(got);
    }
    answers
}

/// dpkg's full verdict on pairs our answer did not settle: `lt`, then
/// `eq` (the first call's messages are the verdict's messages).
fn dpkg_full_verdicts(pairs: &[&(String, String)], dir: &Path) -> Vec<Verdict> {
    let lt: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str(), "lt"))
        .collect();
    let eq: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str(), "eq"))
        .collect();
    let lt = ask_dpkg(&lt, dir);
    let eq = ask_dpkg(&eq, dir);
    lt.into_iter()
        .zip(eq)
        .map(|(lt, eq)| Verdict {
            result: match (lt.status, eq.status) {
                (0, _) => "lt",
                (2, _) => "error",
                (_, 0) => "eq",
                _ => "gt",
            }
            .to_owned(),
            messages: lt.messages,
        })
        .collect()
}

/// Runs ONE `debfleet compare-versions --batch` over all pairs.
fn debfleet_verdicts(pairs: &[(String, String)]) -> Vec<Verdict> {
    let mut input = String::new();
    for (a, b) in pairs {
        input.push_str(a);
        input.push('\t');
        input.push_str(b);
        input.push('\n');
    }
    let output = run_with_stdin(&["compare-versions", "--batch"], input.as_bytes());
    assert!(output.status.success(), "batch run failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let mut verdicts: Vec<Verdict> = stdout
        .lines()
        .map(|line| match line.strip_prefix("error: ") {
            Some(message) => Verdict {
                result: "error".to_owned(),
                messages: vec![format!("error: {message}")],
            },
            None => Verdict {
                result: line.to_owned(),
                messages: Vec::new(),
            },
        })
        .collect();
    assert_eq!(verdicts.len(), pairs.len(), "one output line per pair");
    for line in stderr.lines() {
        let rest = line
            .strip_prefix("debfleet: warning: line ")
            .unwrap_or_else(|| panic!("unexpected stderr line {line:?}"));
        let (number, message) = rest.split_once(": ").unwrap();
        let index = number.parse::<usize>().unwrap() - 1;
        let verdict = &mut verdicts[index];
        // Warnings come before the error they may precede, as with dpkg.
        let at = verdict.messages.len() - usize::from(verdict.result == "error");
        verdict.messages.insert(at, format!("warning: {message}"));
    }
    verdicts
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// The differential test. debfleet answers every pair in ONE `--batch`
/// run; dpkg is then asked, once per pair, whether debfleet's answer holds
/// (`A lt B` when we said lt, `eq` for eq, `gt` for gt, and `eq` when we
/// said error, which must then fail with status 2 and the same message).
/// Because lt, eq and gt are exclusive, status 0 proves dpkg's three-way
/// answer equals ours, so this checks exactly as much as asking dpkg `lt`
/// then `eq`, with one dpkg run per pair instead of about 1.5. Warnings and
/// errors must match dpkg's text too. Any disagreement is re-asked in full
/// for the report.
#[test]
fn differential_against_dpkg() {
    if !have_dpkg() {
        panic!("dpkg is required for this test (Debian/Ubuntu host)");
    }
    let started = std::time::Instant::now();
    let pairs = build_pairs();
    assert!(pairs.len() >= 20_000, "only {} pairs", pairs.len());
    let ours = debfleet_verdicts(&pairs);
    let ours_time = started.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let questions: Vec<_> = pairs
        .iter()
        .zip(&ours)
        .map(|((a, b), v)| {
            let op = match v.result.as_str() {
                "lt" => "lt",
                "gt" => "gt",
                "eq" | "error" => "eq",
                other => panic!("debfleet printed {other:?} for {a:?} {b:?}"),
            };
            (a.as_str(), b.as_str(), op)
        })
        .collect();
    let answers = ask_dpkg(&questions, dir.path());

    let mut disagree = Vec::new();
    let (mut errors, mut warned) = (0, 0);
    for (i, (ours, answer)) in ours.iter().zip(&answers).enumerate() {
        if answer.status == 2 {
            errors += 1;
        }
        if answer.messages.iter().any(|m| m.starts_with("warning: ")) {
            warned += 1;
        }
        let expected_status = if ours.result == "error" { 2 } else { 0 };
        if answer.status != expected_status || answer.messages != ours.messages {
            disagree.push(i);
        }
    }
    let mut report = Vec::new();
    if !disagree.is_empty() {
        let bad: Vec<_> = disagree.iter().take(30).map(|&i| &pairs[i]).collect();
        let full = dpkg_full_verdicts(&bad, dir.path());
        for ((&i, pair), theirs) in disagree.iter().zip(&bad).zip(full) {
            report.push(format!(
                "{pair:?}: debfleet {:?}, dpkg {theirs:?} (asked {}: {:?})",
                ours[i], answers[i].op, answers[i]
            ));
        }
    }
    eprintln!(
        "compared {} pairs with dpkg ({errors} dpkg errors, {warned} with dpkg warnings): \
         {} mismatches; pairs + batch {:.1?}, total {:.1?}",
        pairs.len(),
        disagree.len(),
        ours_time,
        started.elapsed()
    );
    assert!(
        errors > 100 && warned > 100,
        "edge cases reached dpkg's checks"
    );
    assert!(
        disagree.is_empty(),
        "{} mismatches, first ones:\n{}",
        disagree.len(),
        report.join("\n")
    );
}

/// Exit status and stderr of one command-line run.
fn status_and_stderr(program: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn exit_statuses_match_dpkg_for_every_operator() {
    let ops = [
        "lt", "le", "eq", "ne", "ge", "gt", "lt-nl", "le-nl", "ge-nl", "gt-nl", "<", "<=", "<<",
        "=", ">=", ">>", ">",
    ];
    let pairs = [
        ("1.0", "1.1"),
        ("1.1", "1.0"),
        ("1.0", "1.0-0"),
        ("1:0.1", "9.9"),
        ("1.0~rc1", "1.0"),
        ("", "1.0"),
        ("1.0", ""),
        ("", ""),
        ("<unknown>", "1.0"),
        ("1.0", "<unknown>"),
        ("<unknown>", ""),
        ("a1", "1"),
        ("1", "1.0-a_b"),
        ("1:", "1"),
        ("1", "2147483648:1"),
        ("a1", "1-"),
        (" 1.0", "1.0\t"),
    ];
    let mut checked = 0;
    for op in ops {
        for (a, b) in pairs {
            let args = ["--", a, op, b];
            let (dpkg_code, dpkg_err) =
                status_and_stderr("dpkg", &[&["--compare-versions"][..], &args].concat());
            let (our_code, our_err) =
                status_and_stderr(BIN, &[&["compare-versions"][..], &args].concat());
            assert_eq!(our_code, dpkg_code, "{a:?} {op} {b:?}: stderr {our_err}");
            // Same version diagnostics, in the same order.
            let pick = |text: &str, prefix: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(prefix))
                    .filter(|l| l.contains("has bad syntax"))
                    .map(str::to_owned)
                    .collect()
            };
            assert_eq!(
                pick(&our_err, "debfleet: "),
                pick(&dpkg_err, "dpkg: "),
                "{a:?} {op} {b:?}"
            );
            let obsolete = |text: &str| text.contains("obsolete relation operator");
            assert_eq!(obsolete(&our_err), obsolete(&dpkg_err), "{op}");
            checked += 1;
        }
    }
    assert_eq!(checked, ops.len() * pairs.len());
}

#[test]
fn bad_usage_exits_2_like_dpkg() {
    for args in [
        &["1", "lte", "2"][..],
        &["1", "lt"][..],
        &["1", "lt", "2", "3"][..],
        &["1.0", "LT", "2"][..],
    ] {
        let (dpkg_code, _) =
            status_and_stderr("dpkg", &[&["--compare-versions"][..], args].concat());
        let (our_code, our_err) =
            status_and_stderr(BIN, &[&["compare-versions"][..], args].concat());
        assert_eq!((our_code, dpkg_code), (2, 2), "{args:?}: {our_err}");
    }
    let (code, err) = status_and_stderr(BIN, &["compare-versions", "1", "lte", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad relation 'lte'"), "{err}");
}

#[test]
fn batch_handles_odd_lines() {
    let input = b"1.0\t1.1\nno tab here\n\n2:1\t10\n\t\n1:\t1\na1\t1\n1.0\t1.0-0";
    let output = run_with_stdin(&["compare-versions", "--batch"], input);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{stdout}");
    assert_eq!(lines[0], "lt");
    assert!(lines[1].starts_with("error: line 2: expected two versions separated by a tab"));
    assert!(lines[2].starts_with("error: line 3: "));
    assert_eq!(lines[3], "gt");
    assert_eq!(lines[4], "eq");
    assert_eq!(
        lines[5],
        "error: version '1:' has bad syntax: nothing after colon in version number"
    );
    assert_eq!(lines[6], "gt");
    assert_eq!(lines[7], "eq");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "debfleet: warning: line 7: version 'a1' has bad syntax: \
         version number does not start with digit\n"
    );
    // Empty input: empty output, success.
    let output = run_with_stdin(&["compare-versions", "--batch"], b"");
    assert!(output.status.success() && output.stdout.is_empty());
}

#[test]
fn help_teaches_with_examples() {
    let output = Command::new(BIN)
        .args(["compare-versions", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in ["Examples:", "lt-nl", "--batch", "Exit status"] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}
