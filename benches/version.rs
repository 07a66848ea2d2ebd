//! Benchmarks of Debian version comparison and parsing over real version
//! strings from the testdata mirror (every `Packages.xz`, read with
//! `xz -dc`).
//!
//! The corpus: every pair of differing versions of one package across the
//! suites (what apt's candidate policy compares), plus as many random pairs
//! of distinct versions, in shuffled order.
//!
//! Besides criterion's groups, `cargo bench --bench version` first prints
//! plain `ns/compare` and `ns/version` (parse) lines, timed the same way
//! `benches/apt_vercmp.cpp` times apt's comparator (see [`report`]).
//! Environment:
//! `DEBFLEET_VERSION_PAIRS_OUT=FILE` also writes the pairs there as
//! `A<TAB>B` lines (for the apt program), `DEBFLEET_VERSION_PAIRS_IN=FILE`
//! reads the pairs from such a file instead of the mirror, and
//! `DEBFLEET_VERSION_REPORT_ONLY=1` stops after those lines (see
//! `benches/apt-vercmp.sh`).

use criterion::{Criterion, Throughput};
use debfleet::deb::version::{self, Version};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The pairs live in one buffer, `A\tB\n` after another in benchmark
/// order, so that the benchmark measures comparison rather than cache
/// misses on scattered heap strings (apt's program uses the same layout).
struct Corpus {
    text: String,
    unique: Vec<String>,
}

impl Corpus {
    fn pairs(&self) -> Vec<(&str, &str)> {
        self.text
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect()
    }
}

fn packages_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            packages_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "Packages.xz") {
            out.push(path);
        }
    }
}

fn load_corpus() -> Corpus {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mirror");
    let mut files = Vec::new();
    packages_files(&root, &mut files);
    assert!(!files.is_empty(), "no Packages.xz under {}", root.display());
    // package -> its distinct versions across all suites
    let mut by_package: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unique = BTreeSet::new();
    for file in &files {
        let output = Command::new("xz")
            .arg("-dc")
            .arg(file)
            .output()
            .expect("run xz -dc");
        assert!(output.status.success(), "xz -dc {}", file.display());
        let text = String::from_utf8_lossy(&output.stdout);
        let mut package = "";
        for line in text.lines() {
            if let Some(p) = line.strip_prefix("Package: ") {
                package = p.trim();
            } else if let Some(v) = line.strip_prefix("Version: ") {
                let v = v.trim().to_owned();
                by_package
                    .entry(package.to_owned())
                    .or_default()
                    .insert(v.clone());
                unique.insert(v);
            }
        }
    }
    let unique: Vec<String> = unique.into_iter().collect();
    let mut rng = StdRng::seed_from_u64(20_251_127);
    let mut pairs = Vec::new();
    for versions in by_package.values() {
        let versions: Vec<&String> = versions.iter().collect();
        for (i, a) in versions.iter().enumerate() {
            for b in versions.iter().skip(i + 1) {
                if rng.random_bool(0.5) {
                    pairs.push(((*a).clone(), (*b).clone()));
                } else {
                    pairs.push(((*b).clone(), (*a).clone()));
                }
            }
        }
    }
    let same_package = pairs.len();
    while pairs.len() < 2 * same_package {
        let a = &unique[rng.random_range(0..unique.len())];
        let b = &unique[rng.random_range(0..unique.len())];
        if a != b {
            pairs.push((a.clone(), b.clone()));
        }
    }
    pairs.shuffle(&mut rng);
    let mut text = String::new();
    for (a, b) in &pairs {
        text.push_str(a);
        text.push('\t');
        text.push_str(b);
        text.push('\n');
    }
    eprintln!(
        "corpus: {} pairs ({same_package} same-package across suites, rest random), \
         {} distinct versions from {} Packages files",
        pairs.len(),
        unique.len(),
        files.len()
    );
    Corpus { text, unique }
}

/// Time per comparison, robust to a busy machine: the pairs are cut into
/// chunks of [`CHUNK`], each chunk is timed [`REPEATS`] times in a row and
/// its fastest run counts (`benches/apt_vercmp.cpp` does exactly the same).
/// Also prints the lt/eq/gt counts, to check against apt's on the same pairs.
fn report(corpus: &Corpus) {
    let pairs = &corpus.pairs();
    let mut counts = [0u64; 3];
    for (a, b) in pairs {
        counts[(version::compare(a, b) as i8 + 1) as usize] += 1;
    }
    let mut total = Duration::ZERO;
    let mut sink = 0i64;
    for chunk in pairs.chunks(CHUNK) {
        let mut best = Duration::MAX;
        for _ in 0..REPEATS {
            let start = Instant::now();
            for &(a, b) in chunk {
                sink += version::compare(black_box(a), black_box(b)) as i64;
            }
            best = best.min(start.elapsed());
        }
        total += best;
    }
    black_box(sink);
    println!(
        "debfleet compare: {:.2} ns/compare (sum of per-chunk minimums, {CHUNK}-pair chunks x {REPEATS}, \
         {} pairs; lt={} eq={} gt={})",
        total.as_nanos() as f64 / pairs.len() as f64,
        pairs.len(),
        counts[0],
        counts[1],
        counts[2]
    );
}

/// [`report`]'s method for `Version::parse` over the distinct versions.
fn report_parse(corpus: &Corpus) {
    let versions = &corpus.unique;
    let mut total = Duration::ZERO;
    let mut ok = 0usize;
    for chunk in versions.chunks(CHUNK) {
        let mut best = Duration::MAX;
        for _ in 0..REPEATS {
            let start = Instant::now();
            for v in chunk {
                ok += usize::from(Version::parse(black_box(v)).is_ok());
            }
            best = best.min(start.elapsed());
        }
        total += best;
    }
    black_box(ok);
    println!(
        "debfleet Version::parse: {:.2} ns/version (same method, {} distinct versions)",
        total.as_nanos() as f64 / versions.len() as f64,
        versions.len()
    );
}

/// Pairs per timed chunk in [`report`].
const CHUNK: usize = 2048;
/// Timed runs per chunk in [`report`].
const REPEATS: usize = 25;

fn benches(c: &mut Criterion, corpus: &Corpus) {
    let pairs = &corpus.pairs();
    let mut group = c.benchmark_group("version");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(30);
    group.bench_function("compare_from_strings", |bench| {
        bench.iter(|| {
            let mut sink = 0i64;
            for &(a, b) in pairs {
                sink += version::compare(black_box(a), black_box(b)) as i64;
            }
            sink
        })
    });
    let parsed: Vec<(Version, Version)> = pairs
        .iter()
        .map(|(a, b)| {
            (
                Version::parse(a).expect("archive version parses"),
                Version::parse(b).expect("archive version parses"),
            )
        })
        .collect();
    group.bench_function("cmp_parsed", |bench| {
        bench.iter(|| {
            let mut sink = 0i64;
            for (a, b) in &parsed {
                sink += black_box(a).cmp(black_box(b)) as i64;
            }
            sink
        })
    });
    group.throughput(Throughput::Elements(corpus.unique.len() as u64));
    group.bench_function("parse", |bench| {
        bench.iter(|| {
            let mut ok = 0usize;
            for v in &corpus.unique {
                ok += usize::from(Version::parse(black_box(v)).is_ok());
            }
            ok
        })
    });
    group.bench_function("validate", |bench| {
        bench.iter(|| {
            let mut ok = 0usize;
            for v in &corpus.unique {
                ok += usize::from(version::validate(black_box(v)).is_ok());
            }
            ok
        })
    });
    group.bench_function("sort_parsed", |bench| {
        let versions: Vec<Version> = parsed.iter().take(20_000).map(|(a, _)| a.clone()).collect();
        bench.iter_batched_ref(
            || versions.clone(),
            |v| v.sort_unstable(),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// A corpus from a file of `A<TAB>B` lines (e.g. one written through
/// `DEBFLEET_VERSION_PAIRS_OUT`), for repeatable runs under profilers.
fn corpus_from_file(path: &std::ffi::OsStr) -> Corpus {
    let text = std::fs::read_to_string(path).expect("read DEBFLEET_VERSION_PAIRS_IN");
    let unique: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .flat_map(|(a, b)| [a.to_owned(), b.to_owned()])
        .collect();
    Corpus {
        text,
        unique: unique.into_iter().collect(),
    }
}

fn main() {
    let corpus = match std::env::var_os("DEBFLEET_VERSION_PAIRS_IN") {
        Some(path) => corpus_from_file(&path),
        None => load_corpus(),
    };
    // The same pairs, ordered with dpkg's rules, must be a sane corpus.
    assert!(
        corpus
            .pairs()
            .iter()
            .any(|(a, b)| version::compare(a, b) == Ordering::Less)
    );
    if let Some(path) = std::env::var_os("DEBFLEET_VERSION_PAIRS_OUT") {
        std::fs::write(&path, &corpus.text).expect("write pairs file");
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not (then
    // criterion just runs each benchmark once as a smoke test).
    if std::env::args().any(|a| a == "--bench") {
        report(&corpus);
        report_parse(&corpus);
    }
    if std::env::var_os("DEBFLEET_VERSION_REPORT_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &corpus);
    c.final_summary();
}
