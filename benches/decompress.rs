//! Decompression and pdiff application throughput on real Debian data.
//!
//! - `xz_decode/*`: bookworm main/amd64 `Packages.xz` (8.4 MiB -> 47.7 MiB,
//!   two xz blocks) through `decompress` (liblzma, threaded), through
//!   liblzma's single-threaded reader for comparison, and through the `xz`
//!   command (`xz -dc FILE > /dev/null`, also with `-T2`), timed in the same
//!   run so the ratio is measured on the same machine state.
//! - `xz_single_block/*`: bookworm-backports `Packages.xz` (one block): the
//!   threaded decoder against the single-threaded one when there is nothing
//!   to parallelise.
//! - `other_formats/*`: the same file as gzip -9 and zstd -9 (made once with
//!   the command-line tools, skipped when a tool is missing), to back the
//!   order chosen in `Compression::preference_order`.
//! - `apply_ed/*`: a realistic pdiff (paragraphs removed, versions bumped,
//!   packages added, made with `diff --ed`) applied to the 47.7 MiB file.
//!
//! Throughput is reported in bytes of decompressed / patched output.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use debfleet::deb::decompress::{Compression, decompress};
use debfleet::deb::pdiff::apply_ed;

fn packages_xz() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz")
}

/// Size of the uncompressed file as the InRelease lists it.
fn declared_size() -> u64 {
    let inrelease = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/mirror/debian/dists/bookworm/InRelease"),
    )
    .expect("InRelease");
    let sha = inrelease.split("SHA256:").nth(1).expect("SHA256 section");
    let line = sha
        .lines()
        .find(|l| l.ends_with(" main/binary-amd64/Packages"))
        .expect("Packages entry");
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("size")
}

fn pipe_through(cmd: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout)
}

fn bench_xz(c: &mut Criterion) {
    let path = packages_xz();
    let xz = std::fs::read(&path).expect("Packages.xz");
    let size = declared_size();
    let mut group = c.benchmark_group("xz_decode");
    group.throughput(Throughput::Bytes(size));

    group.bench_function("debfleet_decompress", |b| {
        b.iter(|| {
            let out = decompress(black_box(&xz), Compression::Xz, size).expect("decode");
            assert_eq!(out.len() as u64, size);
            out
        })
    });
    // What sync does with an index: decode, then parse every package.
    group.bench_function("debfleet_decode_and_parse_packages", |b| {
        b.iter(|| {
            let out = decompress(black_box(&xz), Compression::Xz, size).expect("decode");
            let n = debfleet::deb::package::packages(&out)
                .filter(|p| p.is_ok())
                .count();
            assert!(n > 60_000);
            n
        })
    });
    group.bench_function("liblzma_single_thread", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(size as usize);
            liblzma::read::XzDecoder::new(black_box(&xz[..]))
                .read_to_end(&mut out)
                .expect("decode");
            assert_eq!(out.len() as u64, size);
            out
        })
    });
    let xz_cli = |args: &'static [&'static str]| {
        let path = path.clone();
        move |b: &mut criterion::Bencher<'_>| {
            b.iter(|| {
                let devnull = File::create("/dev/null").expect("/dev/null");
                let status = Command::new("xz")
                    .args(args)
                    .arg(&path)
                    .stdout(devnull)
                    .status()
                    .expect("run xz");
                assert!(status.success());
            })
        }
    };
    if Command::new("xz").arg("--version").output().is_ok() {
        group.bench_function("xz_cli", xz_cli(&["-dc"]));
        group.bench_function("xz_cli_T2", xz_cli(&["-T2", "-dc"]));
    }
    group.finish();

    // A single-block stream (bookworm-backports, 1.9 MB): what the threaded
    // decoder costs when there is nothing to parallelise.
    let small = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/mirror/debian/dists/bookworm-backports/main/binary-amd64/Packages.xz"),
    )
    .expect("backports Packages.xz");
    let small_size = decompress(&small, Compression::Xz, 64 << 20)
        .expect("decode")
        .len() as u64;
    let mut group = c.benchmark_group("xz_single_block");
    group.throughput(Throughput::Bytes(small_size));
    group.bench_function("debfleet_decompress", |b| {
        b.iter(|| decompress(black_box(&small), Compression::Xz, small_size).expect("decode"))
    });
    group.bench_function("liblzma_single_thread", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(small_size as usize);
            liblzma::read::XzDecoder::new(black_box(&small[..]))
                .read_to_end(&mut out)
                .expect("decode");
            out
        })
    });
    group.finish();
}

fn bench_other_formats(c: &mut Criterion) {
    let xz = std::fs::read(packages_xz()).expect("Packages.xz");
    let size = declared_size();
    let text = decompress(&xz, Compression::Xz, size).expect("decode");
    let mut group = c.benchmark_group("other_formats");
    group.throughput(Throughput::Bytes(size));
    for (cmd, args, format) in [
        ("gzip", &["-9n"][..], Compression::Gzip),
        ("zstd", &["-9", "-T2", "-q"][..], Compression::Zstd),
    ] {
        let Some(packed) = pipe_through(cmd, args, &text) else {
            eprintln!("{cmd} is not installed; skipping {format}");
            continue;
        };
        eprintln!(
            "{format} {args:?}: {} bytes ({:.1} % of the xz file's {} bytes)",
            packed.len(),
            packed.len() as f64 * 100.0 / xz.len() as f64,
            xz.len()
        );
        group.bench_function(format.to_string(), |b| {
            b.iter(|| {
                let out = decompress(black_box(&packed), format, size).expect("decode");
                assert_eq!(out.len() as u64, size);
                out
            })
        });
    }
    group.finish();
}

/// A day's worth of archive churn: every 500th paragraph removed, every
/// 100th version bumped, 40 new paragraphs.
fn evolve(text: &[u8]) -> Vec<u8> {
    let s = std::str::from_utf8(text).expect("UTF-8 Packages");
    let mut out = String::with_capacity(s.len() + 4096);
    for (i, para) in s.split_inclusive("\n\n").enumerate() {
        if i % 500 == 499 {
            continue;
        }
        if i % 100 == 7 {
            out.push_str(&para.replacen("\nVersion: ", "\nVersion: 1:", 1));
        } else {
            out.push_str(para);
        }
        if i % 750 == 3 {
            out.push_str(&format!(
                "Package: bench-new-{i}\nVersion: 1.0-1\nArchitecture: amd64\n\
                 Description: new package\n .\n long description\n\n"
            ));
        }
    }
    out.into_bytes()
}

fn bench_apply_ed(c: &mut Criterion) {
    let xz = std::fs::read(packages_xz()).expect("Packages.xz");
    let old = decompress(&xz, Compression::Xz, declared_size()).expect("decode");
    let new = evolve(&old);
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::write(&a, &old).expect("write");
    std::fs::write(&b, &new).expect("write");
    let diff = Command::new("diff")
        .arg("--ed")
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run diff");
    let patch = diff.stdout;
    assert_eq!(apply_ed(&old, &patch).expect("apply"), new);
    eprintln!(
        "apply_ed: {} byte base, {} byte patch ({} commands)",
        old.len(),
        patch.len(),
        patch
            .split(|&b| b == b'\n')
            .filter(
                |l| l.last().is_some_and(|c| matches!(c, b'a' | b'c' | b'd'))
                    && l.first().is_some_and(u8::is_ascii_digit)
            )
            .count()
    );
    let mut group = c.benchmark_group("apply_ed");
    group.throughput(Throughput::Bytes(new.len() as u64));
    group.bench_function("bookworm_main_daily", |bch| {
        bch.iter(|| apply_ed(black_box(&old), black_box(&patch)).expect("apply"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_xz, bench_other_formats, bench_apply_ed
}
criterion_main!(benches);
