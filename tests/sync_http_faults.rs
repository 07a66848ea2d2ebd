//! `debfleet sync` against a misbehaving HTTP mirror.
//!
//! A loopback server (std `TcpListener`, one thread per connection, one
//! request per connection) serves a test-key-signed mirror with two suites,
//! `alpha` and `beta`, and injects faults per request: dropped connections
//! before, after and inside the headers/body, short bodies, wrong bytes,
//! 404s, 5xx answers, stalls, trickled bodies and redirects. Each test runs
//! the real binary (`--fleet F --state S --now T sync --format json`) and
//! checks the exit status, the message (which file, what was expected), how
//! many requests the server saw (retries bounded, none for wrong bytes) and
//! that a failed suite keeps its previous generation in the store while the
//! other suite moves on.

mod common;
mod testmirror;

use common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testmirror::*;

/// Release dates: v1 on day 0, v2 on day 1.
const DATE0: &str = "2026-06-01T08:00:00Z";
/// `--now`: after both.
const NOW_T: &str = "2026-08-01T00:00:00Z";

/// What the server does with one request.
#[derive(Debug, Clone)]
enum Fault {
    /// Serve the file (or 404 when there is none).
    Serve,
    /// Close the connection without answering.
    DropBeforeHeaders,
    /// Send the headers (full Content-Length), then close.
    DropAfterHeaders,
    /// Send the headers (full Content-Length) and only this many body bytes, then close.
    Short(usize),
    /// Answer with this status and an empty body.
    Status(u16),
    /// Serve these bytes instead of the file (with their own Content-Length).
    Replace(Vec<u8>),
    /// Say nothing for this long, then serve.
    Delay(Duration),
    /// Send the headers and half the body, then say nothing for this long.
    StallMidBody(Duration),
    /// Send the headers, then the body in pieces of `chunk` bytes, waiting
    /// `interval` before each.
    Trickle { chunk: usize, interval: Duration },
    /// `302 Found` to this path on the same server.
    Redirect(String),
}

/// Decides the fault for a request: `(path, n)` where `n` counts earlier
/// requests for the same path.
type Rule = dyn Fn(&str, usize) -> Fault + Send + Sync;

/// The loopback mirror server.
struct Server {
    url: String,
    /// Every request: path and arrival time.
    log: Arc<Mutex<Vec<(String, Instant)>>>,
    rule: Arc<Mutex<Arc<Rule>>>,
}

impl Server {
    /// Serves files below `root`, every request passing through the rule
    /// (initially: serve everything).
    fn start(root: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let serve_all: Arc<Rule> = Arc::new(|_: &str, _: usize| Fault::Serve);
        let rule = Arc::new(Mutex::new(serve_all));
        let (thread_log, thread_rule) = (log.clone(), rule.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (root, log, rule) = (root.clone(), thread_log.clone(), thread_rule.clone());
                std::thread::spawn(move || handle(conn, &root, &log, &rule));
            }
        });
        Server { url, log, rule }
    }

    /// Replaces the fault rule and forgets the requests seen so far.
    fn set_rule(&self, rule: impl Fn(&str, usize) -> Fault + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Arc::new(rule);
        self.log.lock().unwrap().clear();
    }

    /// `fault` for every request of exactly `target`; everything else is
    /// served.
    fn fault_on(&self, target: String, fault: Fault) {
        self.set_rule(move |path: &str, _| {
            if path == target {
                fault.clone()
            } else {
                Fault::Serve
            }
        });
    }

    /// Arrival times of the requests for exactly `path`.
    fn requests(&self, path: &str) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| *t)
            .collect()
    }

    /// All request paths seen since the last `set_rule`.
    fn paths(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn handle(
    mut conn: TcpStream,
    root: &Path,
    log: &Mutex<Vec<(String, Instant)>>,
    rule: &Mutex<Arc<Rule>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader
        .read_line(&mut header)
        .map(|n| n > 2)
        .unwrap_or(false)
    {
        header.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    // As a proxy, the request names the whole URL (`GET http://host/path`).
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
        None => target.to_string(),
    };
    let n = {
        let mut log = log.lock().unwrap();
        let n = log.iter().filter(|(p, _)| *p == path).count();
        log.push((path.clone(), Instant::now()));
        n
    };
    let decide = rule.lock().unwrap().clone();
    let fault = decide(&path, n);
    let file = if path.contains("..") {
        None
    } else {
        std::fs::read(root.join(path.trim_start_matches('/'))).ok()
    };
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    // Write errors mean the client gave up: fine.
    let _ = match (fault, file) {
        (Fault::DropBeforeHeaders, _) => Ok(()),
        (Fault::Status(code), _) => write!(
            conn,
            "HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        (Fault::Redirect(to), _) => write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        (Fault::Replace(bytes), _) => conn
            .write_all(head(bytes.len()).as_bytes())
            .and_then(|()| conn.write_all(&bytes)),
        (_, None) => conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        (Fault::Serve, Some(body)) => conn
            .write_all(head(body.len()).as_bytes())
            .and_then(|()| conn.write_all(&body)),
        (Fault::DropAfterHeaders, Some(body)) => conn.write_all(head(body.len()).as_bytes()),
        (Fault::Short(sent), Some(body)) => conn
            .write_all(head(body.len()).as_bytes())
            .and_then(|()| conn.write_all(&body[..sent.min(body.len())])),
        (Fault::Delay(wait), Some(body)) => {
            std::thread::sleep(wait);
            conn.write_all(head(body.len()).as_bytes())
                .and_then(|()| conn.write_all(&body))
        }
        (Fault::StallMidBody(wait), Some(body)) => {
            let r = conn
                .write_all(head(body.len()).as_bytes())
                .and_then(|()| conn.write_all(&body[..body.len() / 2]));
            std::thread::sleep(wait);
            r
        }
        (Fault::Trickle { chunk, interval }, Some(body)) => {
            let mut r = conn.write_all(head(body.len()).as_bytes());
            for piece in body.chunks(chunk.max(1)) {
                if r.is_err() {
                    break;
                }
                std::thread::sleep(interval);
                r = conn.write_all(piece);
            }
            r
        }
    };
}

/// A synthetic Packages file: `count` packages named `<prefix>N` at `version`.
fn packages(prefix: &str, count: usize, version: u32) -> Vec<u8> {
    (0..count)
        .map(|i| {
            format!(
                "Package: {prefix}{i}\nVersion: 1.{version}-{i}\nArchitecture: amd64\n\
                 Maintainer: Test <test@example.invalid>\nInstalled-Size: {}\n\
                 Depends: libc6 (>= 2.36)\nPriority: optional\nSection: misc\n\
                 Filename: pool/main/{prefix}/{prefix}{i}_1.{version}-{i}_amd64.deb\n\
                 Size: {}\nSHA256: {:064x}\nDescription: test package {i} of {prefix}\n\n",
                100 + i,
                1000 + i,
                i * 7919 + version as usize
            )
        })
        .collect::<String>()
        .into_bytes()
}

const SUITES: [&str; 2] = ["alpha", "beta"];

/// One test's world: a key, a mirror of two suites behind the server, a
/// fleet over it and a store.
struct World {
    signer: Signer,
    dir: tempfile::TempDir,
    mirror: TestMirror,
    server: Server,
    /// The mirror URL in fleet.yaml, without trailing slash.
    base: String,
    /// `http_proxy` for debfleet, when the server plays the proxy.
    proxy: Option<String>,
}

impl World {
    /// The fleet talks to the server directly.
    fn new() -> World {
        World::create(false)
    }

    /// The fleet names a mirror host that does not resolve
    /// (`mirror.invalid`) and reaches it through the server as its
    /// `http_proxy`.
    fn behind_proxy() -> World {
        World::create(true)
    }

    fn create(proxied: bool) -> World {
        let signer = Signer::new();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        let mirror = TestMirror::new(&root.join("test"));
        std::fs::create_dir_all(&mirror.root).unwrap();
        // `/moved/...` is the same tree, for redirects.
        std::os::unix::fs::symlink(&root, root.join("moved")).unwrap();
        let server = Server::start(root);
        let (base, proxy) = if proxied {
            (
                "http://mirror.invalid".to_string(),
                Some(server.url.clone()),
            )
        } else {
            (server.url.clone(), None)
        };
        let fleet = dir.path().join("fleet");
        std::fs::create_dir_all(fleet.join("images")).unwrap();
        let repos: String = SUITES
            .iter()
            .map(|s| format!("      - {{archive: test, suite: {s}, components: [main]}}\n"))
            .collect();
        std::fs::write(
            fleet.join("fleet.yaml"),
            format!(
                "archives:\n  test: {}/test\nkeyring: {}\nbases:\n  t:\n    release: \"12\"\n    \
                 architectures: [amd64]\n    repositories:\n{repos}manifests: images/*.yaml\n",
                base,
                signer.keyring.display()
            ),
        )
        .unwrap();
        World {
            signer,
            dir,
            mirror,
            server,
            base,
            proxy,
        }
    }

    /// Publishes version `v` (1, 2, ...) of both suites.
    fn publish(&self, v: u32, by_hash: bool) {
        let date: Timestamp = DATE0.parse().unwrap();
        for suite in SUITES {
            self.mirror.publish(
                &self.signer,
                &Publication {
                    suite,
                    date: date + SignedDuration::from_hours(24 * i64::from(v)),
                    packages: &self.packages(suite, v),
                    packages_xz: None,
                    pdiff: None,
                    by_hash,
                },
            );
        }
    }

    fn packages(&self, suite: &str, v: u32) -> Vec<u8> {
        packages(suite, 40 + 10 * v as usize, v)
    }

    /// The server path of a file of a suite (`InRelease`, `main/binary-amd64/Packages.xz`).
    fn path(&self, suite: &str, rel: &str) -> String {
        format!("/test/dists/{suite}/{rel}")
    }

    fn xz_path(&self, suite: &str) -> String {
        self.path(suite, &format!("{BINARY}/Packages.xz"))
    }

    /// The served bytes of the Packages.xz of a suite.
    fn xz(&self, suite: &str) -> Vec<u8> {
        std::fs::read(self.mirror.binary(suite, "Packages.xz")).unwrap()
    }

    /// Runs debfleet with `--fleet F --state S --now T` and extra environment.
    fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let fleet = self.dir.path().join("fleet");
        let state = self.dir.path().join("state.redb");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_debfleet"));
        cmd.args(["--fleet", fleet.to_str().unwrap()])
            .args(["--state", state.to_str().unwrap()])
            .args(["--now", NOW_T])
            .args(args);
        for var in [
            "DEBFLEET_FLEET",
            "DEBFLEET_STATE",
            "DEBFLEET_HTTP_TIMEOUT",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        if let Some(proxy) = &self.proxy {
            cmd.env("http_proxy", proxy);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(&[], args)
    }

    /// `sync --format json` plus `extra`: (exit code, report by suite name).
    fn sync(&self, extra: &[&str]) -> (i32, Value, Output) {
        let mut args = vec!["sync", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let report = json(&out);
        (out.status.code().unwrap(), by_suite(&report["suites"]), out)
    }

    /// The store as `mirror status` and `mirror generations` show it, with
    /// the last-synced times (which move with every sync) blanked.
    fn store(&self) -> Value {
        let status = self.run(&["mirror", "status", "--format", "json"]);
        assert!(status.status.success(), "{}", stderr(&status));
        let gens = self.run(&["mirror", "generations", "--format", "json"]);
        assert!(gens.status.success(), "{}", stderr(&gens));
        let mut suites = by_suite(&json(&status)["suites"]);
        for s in suites.as_object_mut().unwrap().values_mut() {
            s["last_synced"] = Value::Null;
        }
        let mut generations = serde_json::Map::new();
        for g in json(&gens)["generations"].as_array().unwrap() {
            assert_eq!(g["archive"], "test");
            let suite = g["suite"].as_str().unwrap().to_string();
            generations
                .entry(suite)
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .unwrap()
                .push(g.clone());
        }
        serde_json::json!({"suites": suites, "generations": generations})
    }

    /// Publishes v1, syncs it cleanly (a first generation of each suite), then
    /// publishes v2 and returns the store state before the faulty sync.
    fn synced_v1_published_v2(&self) -> Value {
        self.publish(1, false);
        let (code, report, out) = self.sync(&[]);
        assert_eq!(code, 0, "{}{}", stdout(&out), stderr(&out));
        for s in SUITES {
            assert_eq!(report[s]["status"], "updated", "{report}");
        }
        self.publish(2, false);
        self.store()
    }
}

/// `[{"suite": "test/alpha", ...}, ...]` as `{"alpha": {...}, ...}`.
fn by_suite(rows: &Value) -> Value {
    let mut map = serde_json::Map::new();
    for row in rows.as_array().unwrap() {
        let key = row["suite"].as_str().unwrap();
        let name = key.rsplit('/').next().unwrap().to_string();
        map.insert(name, row.clone());
    }
    Value::Object(map)
}

/// The error of a failed suite in a sync report.
fn failure<'a>(report: &'a Value, suite: &str) -> &'a str {
    assert_eq!(report[suite]["status"], "failed", "{report}");
    let error = report[suite]["error"].as_str().unwrap();
    eprintln!("{suite}: {error}");
    error
}

/// Asserts that `suite` is as it was in `before` and the other suite moved
/// to a new generation with the v2 packages.
fn assert_only_other_moved(w: &World, before: &Value, suite: &str, report: &Value) {
    let after = w.store();
    assert_eq!(before["generations"][suite].as_array().unwrap().len(), 1);
    assert_eq!(
        after["suites"][suite], before["suites"][suite],
        "{suite} changed"
    );
    assert_eq!(
        after["generations"][suite], before["generations"][suite],
        "{suite}'s generations changed"
    );
    let other = SUITES.iter().find(|s| **s != suite).unwrap();
    assert_eq!(report[other]["status"], "updated", "{report}");
    let generation = report[other]["generation"].as_u64().unwrap();
    assert!(generation > before["suites"][other]["generation"].as_u64().unwrap());
    assert_eq!(after["suites"][other]["generation"], generation);
    assert_eq!(after["generations"][*other].as_array().unwrap().len(), 2);
    assert_eq!(
        after["suites"][other]["packages"],
        count_records(&w.packages(other, 2)),
        "{after}"
    );
}

#[test]
fn dropped_connections_before_after_and_inside_the_body_are_retried() {
    let w = World::new();
    w.publish(1, false);
    let (inrelease, xz) = (w.path("alpha", "InRelease"), w.xz_path("alpha"));
    let half = w.xz("alpha").len() / 2;
    let rule = {
        let (inrelease, xz) = (inrelease.clone(), xz.clone());
        move |path: &str, n: usize| match (path, n) {
            (p, 0) if p == inrelease => Fault::DropBeforeHeaders,
            (p, 1) if p == inrelease => Fault::DropAfterHeaders,
            (p, 0) if p == xz => Fault::Short(half),
            (p, 1) if p == xz => Fault::DropAfterHeaders,
            _ => Fault::Serve,
        }
    };
    w.server.set_rule(rule);
    let (code, report, out) = w.sync(&[]);
    assert_eq!(code, 0, "{}{}", stdout(&out), stderr(&out));
    for s in SUITES {
        assert_eq!(report[s]["status"], "updated", "{report}");
        assert_eq!(report[s]["methods"], serde_json::json!(["full:xz"]));
        assert_eq!(
            report[s]["packages"],
            count_records(&w.packages(s, 1)),
            "{report}"
        );
    }
    // Exactly the faulty attempts plus one good one: retries, not a storm.
    assert_eq!(w.server.requests(&inrelease).len(), 3);
    assert_eq!(w.server.requests(&xz).len(), 3);
    let verify = w.run(&["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn a_persistently_short_body_fails_only_its_suite_naming_url_and_size() {
    let w = World::new();
    let before = w.synced_v1_published_v2();
    let xz = w.xz_path("alpha");
    let (len, half) = (w.xz("alpha").len(), w.xz("alpha").len() / 2);
    w.server.fault_on(xz.clone(), Fault::Short(half));
    let started = Instant::now();
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    let error = failure(&report, "alpha");
    assert!(
        error.contains(&format!(
            "{}{xz}: body cut short: connection closed after {half} of the announced {len} bytes",
            w.base
        )),
        "{error}"
    );
    // One attempt and 3 retries (0.5 + 1 + 2 s of backoff), then given up.
    assert_eq!(w.server.requests(&xz).len(), 4);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_only_other_moved(&w, &before, "alpha", &report);
}

#[test]
fn wrong_bytes_are_refused_at_once_naming_the_file_and_the_signed_hash() {
    let w = World::new();
    let before = w.synced_v1_published_v2();
    let xz = w.xz_path("alpha");
    let good = w.xz("alpha");
    let expected = sum(&good).0;
    // Same length, one byte flipped: only the hash can tell.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x55;
    w.server
        .fault_on(xz.clone(), Fault::Replace(flipped.clone()));
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    let error = failure(&report, "alpha");
    assert!(
        error.contains(&format!("{}{xz}: SHA256 {}", w.base, sum(&flipped).0))
            && error.contains(&format!("does not match the signed {expected}")),
        "{error}"
    );
    assert_eq!(w.server.requests(&xz).len(), 1, "no retry of wrong bytes");
    assert_only_other_moved(&w, &before, "alpha", &report);

    // Longer than signed: refused by size before being read whole, no retry.
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing junk");
    w.server.fault_on(xz.clone(), Fault::Replace(longer));
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    let error = failure(&report, "alpha");
    assert!(
        error.contains(&format!(
            "{}{xz}: larger than the expected {} bytes",
            w.base,
            good.len()
        )),
        "{error}"
    );
    assert_eq!(w.server.requests(&xz).len(), 1);
    assert_eq!(report["beta"]["status"], "unchanged", "{report}");
    assert_eq!(w.store()["suites"]["alpha"], before["suites"]["alpha"]);
}

#[test]
fn by_hash_404_falls_back_to_the_canonical_name_and_404_everywhere_is_clear() {
    let w = World::new();
    w.publish(1, true);
    // The mirror has by-hash copies, but the server refuses them.
    w.server.set_rule(|path: &str, _| {
        if path.contains("/by-hash/") {
            Fault::Status(404)
        } else {
            Fault::Serve
        }
    });
    let (code, report, out) = w.sync(&[]);
    assert_eq!(code, 0, "{}{}", stdout(&out), stderr(&out));
    let xz_hash = sum(&w.xz("alpha")).0;
    for s in SUITES {
        assert_eq!(report[s]["methods"], serde_json::json!(["full:xz"]));
    }
    let by_hash = w.path("alpha", &format!("{BINARY}/by-hash/SHA256/{xz_hash}"));
    assert_eq!(
        w.server.requests(&by_hash).len(),
        1,
        "{:?}",
        w.server.paths()
    );
    assert_eq!(w.server.requests(&w.xz_path("alpha")).len(), 1);

    // v2 by hash: served, and used, for beta; alpha's InRelease is there
    // but every index file is gone.
    w.publish(2, true);
    let before = w.store();
    let prefix = w.path("alpha", "main/");
    w.server.set_rule(move |path: &str, _| {
        if path.starts_with(&prefix) {
            Fault::Status(404)
        } else {
            Fault::Serve
        }
    });
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        report["beta"]["methods"],
        serde_json::json!(["full:xz:by-hash"])
    );
    let error = failure(&report, "alpha");
    assert!(
        error
            .contains("none of the listed variants of main/binary-amd64/Packages could be fetched")
            && error.contains(&format!(
                "{}/test/dists/alpha/main/binary-amd64/Packages.*: not found",
                w.base
            )),
        "{error}"
    );
    // Not retried: by-hash and canonical name of each listed variant, once.
    assert_eq!(
        w.server
            .paths()
            .iter()
            .filter(|p| p.contains("/alpha/main/"))
            .count(),
        4
    );
    assert_only_other_moved(&w, &before, "alpha", &report);

    // Everything of alpha 404, InRelease included: a synced suite that
    // vanished from the mirror is a failure, named.
    let prefix = w.path("alpha", "");
    w.server.set_rule(move |path: &str, _| {
        if path.starts_with(&prefix) {
            Fault::Status(404)
        } else {
            Fault::Serve
        }
    });
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    let error = failure(&report, "alpha");
    assert_eq!(
        error,
        format!("{}/test/dists/alpha/InRelease: not found", w.base)
    );
    assert_eq!(w.server.requests(&w.path("alpha", "InRelease")).len(), 1);
    assert_eq!(w.store()["suites"]["alpha"], before["suites"]["alpha"]);
}

#[test]
fn a_stalled_server_times_out_within_a_bounded_time_naming_the_url() {
    let w = World::new();
    let before = w.synced_v1_published_v2();
    // alpha: no answer at all; beta: half the body, then silence.
    let inrelease = w.path("alpha", "InRelease");
    let xz = w.xz_path("beta");
    let (a, b) = (inrelease.clone(), xz.clone());
    w.server.set_rule(move |path: &str, _| {
        if path == a {
            Fault::Delay(Duration::from_secs(30))
        } else if path == b {
            Fault::StallMidBody(Duration::from_secs(30))
        } else {
            Fault::Serve
        }
    });
    let started = Instant::now();
    let (code, report, _) = w.sync(&["--timeout", "0.3"]);
    let elapsed = started.elapsed();
    assert_eq!(code, 1, "{report}");
    for (suite, path) in [("alpha", &inrelease), ("beta", &xz)] {
        let error = failure(&report, suite);
        assert!(
            error.contains(&format!(
                "{}{path}: timed out: no data received for 300ms (read timeout)",
                w.base
            )) && error.contains("sync --timeout"),
            "{error}"
        );
        // Retried like any transient failure, and then given up.
        assert_eq!(w.server.requests(path).len(), 4);
    }
    // 4 x 0.3 s of waiting and 3.5 s of backoff per file, both suites in
    // parallel; far less than the server's 30 s.
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
    let after = w.store();
    assert_eq!(after["suites"], before["suites"]);
    assert_eq!(after["generations"], before["generations"]);

    // A timeout must be a positive number of seconds.
    for bad in ["0", "-1", "soon"] {
        let out = w.run(&["sync", &format!("--timeout={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let message = stderr(&out);
        assert!(
            message.contains("--timeout") && message.contains(bad),
            "{message}"
        );
    }
    assert_eq!(w.store(), after);
}

#[test]
fn a_trickling_server_hits_the_overall_limit_once_set_by_environment() {
    let w = World::new();
    let before = w.synced_v1_published_v2();
    let xz = w.xz_path("alpha");
    let target = xz.clone();
    // A byte every 50 ms never trips the 0.2 s read timeout; the 4 s
    // overall limit (20 x 0.2 s) ends it, and a retry would not help.
    w.server.set_rule(move |path: &str, _| {
        if path == target {
            Fault::Trickle {
                chunk: 1,
                interval: Duration::from_millis(50),
            }
        } else {
            Fault::Serve
        }
    });
    assert!(w.xz("alpha").len() > 200, "the file outlasts the limit");
    let started = Instant::now();
    let out = w.run_env(
        &[("DEBFLEET_HTTP_TIMEOUT", "0.2")],
        &["sync", "--format", "json"],
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = by_suite(&json(&out)["suites"]);
    let error = failure(&report, "alpha");
    assert!(
        error.contains(&format!(
            "{}{xz}: timed out: the transfer took longer than 4s (overall limit)",
            w.base
        )),
        "{error}"
    );
    assert_eq!(w.server.requests(&xz).len(), 1, "not retried");
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_only_other_moved(&w, &before, "alpha", &report);

    // Slow but steady: 10 pieces 0.1 s apart take about 1 s, over three
    // times the 0.3 s read timeout; the read timeout is an idle timeout,
    // so this succeeds.
    let target = xz.clone();
    let chunk = w.xz("alpha").len() / 10 + 1;
    w.server.set_rule(move |path: &str, _| {
        if path == target {
            Fault::Trickle {
                chunk,
                interval: Duration::from_millis(100),
            }
        } else {
            Fault::Serve
        }
    });
    let started = Instant::now();
    let (code, report, out) = w.sync(&["--timeout", "0.3"]);
    assert_eq!(code, 0, "{}{}", stdout(&out), stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(report["alpha"]["status"], "updated", "{report}");
    assert_eq!(w.server.requests(&xz).len(), 1);
    assert_eq!(
        w.store()["suites"]["alpha"]["packages"],
        count_records(&w.packages("alpha", 2))
    );
}

#[test]
fn through_an_http_proxy_short_bodies_and_trickles_are_bounded_too() {
    let w = World::behind_proxy();
    let before = w.synced_v1_published_v2();
    let (a, b) = (w.xz_path("alpha"), w.xz_path("beta"));
    let (short, trickle) = (a.clone(), b.clone());
    let half = w.xz("alpha").len() / 2;
    let len = w.xz("alpha").len();
    w.server.set_rule(move |path: &str, _| {
        if path == short {
            Fault::Short(half)
        } else if path == trickle {
            Fault::Trickle {
                chunk: 1,
                interval: Duration::from_millis(50),
            }
        } else {
            Fault::Serve
        }
    });
    let started = Instant::now();
    let (code, report, _) = w.sync(&["--timeout", "0.2"]);
    let elapsed = started.elapsed();
    assert_eq!(code, 1, "{report}");
    let error = failure(&report, "alpha");
    assert!(
        error.contains(&format!(
            "http://mirror.invalid{a}: body cut short: connection closed after {half} of the announced {len} bytes"
        )),
        "{error}"
    );
    assert_eq!(w.server.requests(&a).len(), 4);
    let error = failure(&report, "beta");
    assert!(
        error.contains(&format!(
            "http://mirror.invalid{b}: timed out: the transfer took longer than 4s (overall limit)"
        )),
        "{error}"
    );
    assert_eq!(w.server.requests(&b).len(), 1);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let after = w.store();
    assert_eq!(after["suites"], before["suites"]);
    assert_eq!(after["generations"], before["generations"]);
}

#[test]
fn server_errors_are_retried_with_backoff_and_redirects_followed() {
    let w = World::new();
    w.publish(1, false);
    let inrelease = w.path("alpha", "InRelease");
    let (a, beta) = (inrelease.clone(), w.path("beta", ""));
    // alpha: two 500s, then the file; beta: every file moved elsewhere.
    w.server.set_rule(move |path: &str, n| {
        if path == a && n < 2 {
            Fault::Status(if n == 0 { 500 } else { 503 })
        } else if path.starts_with(&beta) {
            Fault::Redirect(format!("/moved{path}"))
        } else {
            Fault::Serve
        }
    });
    let (code, report, out) = w.sync(&[]);
    assert_eq!(code, 0, "{}{}", stdout(&out), stderr(&out));
    for s in SUITES {
        assert_eq!(report[s]["status"], "updated", "{report}");
        assert_eq!(report[s]["packages"], count_records(&w.packages(s, 1)));
    }
    let times = w.server.requests(&inrelease);
    assert_eq!(times.len(), 3);
    // Exponential backoff: 0.5 s, then 1 s.
    assert!(
        times[1] - times[0] >= Duration::from_millis(450),
        "{times:?}"
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(950),
        "{times:?}"
    );
    assert_eq!(
        w.server
            .requests(&format!("/moved{}", w.xz_path("beta")))
            .len(),
        1
    );

    // A server that keeps failing, and a redirect loop: both bounded, both named.
    w.publish(2, false);
    let before = w.store();
    let (a, beta_release) = (inrelease.clone(), w.path("beta", "InRelease"));
    w.server.set_rule(move |path: &str, _| {
        if path == a {
            Fault::Status(503)
        } else if path == beta_release {
            Fault::Redirect(path.to_string())
        } else {
            Fault::Serve
        }
    });
    let (code, report, _) = w.sync(&[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        failure(&report, "alpha"),
        format!("{}{inrelease}: HTTP status 503", w.base)
    );
    assert_eq!(w.server.requests(&inrelease).len(), 4);
    let beta_release = w.path("beta", "InRelease");
    let error = failure(&report, "beta");
    assert!(
        error.contains(&format!("{}{beta_release}", w.base))
            && error.contains("too many redirects"),
        "{error}"
    );
    // ureq's 10 redirects, not retried.
    assert_eq!(w.server.requests(&beta_release).len(), 11);
    assert_eq!(w.store(), before);
}
