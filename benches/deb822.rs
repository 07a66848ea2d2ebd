//! Throughput of the deb822 scanner and the typed binary-package parse on the
//! real bookworm main/amd64 `Packages` index (about 50 MB decompressed).
//!
//! The single-threaded benchmarks report the benchmark thread's on-CPU time
//! (from `/proc/thread-self/schedstat`, falling back to wall time where that
//! is unavailable), so numbers stay meaningful on a shared, loaded machine.
//! The multi-threaded one reports wall time.

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use debfleet::deb::deb822::{paragraphs, split_paragraph_chunks};
use debfleet::deb::package::{packages, packages_from};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn load_packages() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz"
    );
    let file = std::fs::File::open(path).expect("open bookworm Packages.xz");
    liblzma::decode_all(std::io::BufReader::new(file)).expect("decompress Packages.xz")
}

/// CPU time consumed so far by the calling thread, if the kernel reports it.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Like `Bencher::iter`, but measuring the thread's CPU time when available.
fn iter_cpu<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let wall = Instant::now();
        let cpu = thread_cpu_time();
        for _ in 0..iters {
            black_box(f());
        }
        match (cpu, thread_cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall.elapsed(),
        }
    });
}

fn bench(c: &mut Criterion) {
    let data = load_packages();
    let mut group = c.benchmark_group("deb822-bookworm-Packages");
    group.throughput(Throughput::Bytes(data.len() as u64));

    // Reference point for the numbers below on the machine at hand: the
    // cost of merely finding every line with memchr.
    group.bench_function("baseline: memchr line split", |b| {
        iter_cpu(b, || memchr::memchr_iter(b'\n', black_box(&data)).count())
    });

    group.bench_function("scan paragraphs + fields, single pass", |b| {
        iter_cpu(b, || {
            let mut scanner = paragraphs(black_box(&data));
            let mut fields = 0usize;
            while let Some(p) = scanner.next_with_fields(|f| {
                black_box(f.value);
                fields += 1;
            }) {
                p.expect("valid paragraph");
            }
            fields
        })
    });

    group.bench_function("scan paragraphs, then fields()", |b| {
        iter_cpu(b, || {
            let mut fields = 0usize;
            for p in paragraphs(black_box(&data)) {
                for f in p.expect("valid paragraph").fields() {
                    black_box(f.value);
                    fields += 1;
                }
            }
            fields
        })
    });

    group.bench_function("scan paragraphs only", |b| {
        iter_cpu(b, || {
            paragraphs(black_box(&data))
                .map(|p| p.expect("valid paragraph").raw().len())
                .sum::<usize>()
        })
    });

    group.bench_function("packages() typed parse", |b| {
        iter_cpu(b, || {
            let mut n = 0usize;
            for p in packages(black_box(&data)) {
                let p = p.expect("valid package");
                black_box(&p);
                n += 1;
            }
            n
        })
    });

    let threads = rayon::current_num_threads();
    group.bench_function(format!("packages() typed parse, {threads} threads"), |b| {
        b.iter(|| {
            split_paragraph_chunks(black_box(&data), threads * 4)
                .par_iter()
                .map(|chunk| {
                    packages_from(chunk.paragraphs())
                        .map(|p| p.expect("valid package").installed_size.unwrap_or(0))
                        .sum::<u64>()
                })
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
