//! End-to-end tests of `debfleet pool` on a repository built in the test:
//! tiny packages made with `dpkg-deb --build`, a Packages.xz listing them,
//! an InRelease signed by a throwaway gpg key. No network.

mod common;
mod testmirror;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testmirror::{Publication, Signer, TestMirror};

const SUITE: &str = "pooltest";

/// A generated package.
#[derive(Clone)]
struct Deb {
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    /// The `Filename` in the archive.
    filename: String,
    bytes: Vec<u8>,
}

/// Builds a package with `dpkg-deb --build` (one file in /usr/share/doc).
fn build_deb(work: &Path, name: &'static str, version: &'static str, arch: &'static str) -> Deb {
    let root = work.join(format!("build-{name}-{}", version.replace(':', "_")));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/doc").join(name)).unwrap();
    std::fs::write(
        root.join("usr/share/doc").join(name).join("README"),
        format!("{name} {version} built by the debfleet pool test\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <test@example.invalid>\nSection: misc\nPriority: optional\nDescription: pool test package {name}\n test package\n"
        ),
    )
    .unwrap();
    let out = work.join(format!("{name}.deb"));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&root)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let file_version = version.split_once(':').map_or(version, |(_, v)| v);
    Deb {
        name,
        version,
        arch,
        filename: format!(
            "pool/main/{}/{name}/{name}_{file_version}_{arch}.deb",
            &name[..1]
        ),
        bytes,
    }
}

/// A signed test archive and a fleet over it.
struct World {
    dir: tempfile::TempDir,
    signer: Signer,
    mirror: TestMirror,
    debs: Vec<Deb>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let debs = vec![
            build_deb(&work, "hello", "1.0-1", "amd64"),
            build_deb(&work, "libfoo", "2.0-1", "amd64"),
            build_deb(&work, "tzinfo", "1:0.5-1", "all"),
            build_deb(&work, "extra", "3.0", "amd64"),
        ];
        let world = World {
            signer: Signer::new(),
            mirror: TestMirror::new(&dir.path().join("mirror")),
            dir,
            debs,
        };
        world.publish("2026-11-26T00:00:00Z");
        world
            .mirror
            .write_fleet(&world.fleet(), &world.signer, SUITE);
        world.manifest(
            "app",
            &[
                ("hello", "1.0-1"),
                ("libfoo", "2.0-1"),
                ("tzinfo", "1:0.5-1"),
            ],
        );
        world.manifest("other", &[("extra", "3.0"), ("libfoo", "2.0-1")]);
        world
    }

    fn fleet(&self) -> PathBuf {
        self.dir.path().join("fleet")
    }

    fn manifest(&self, image: &str, packages: &[(&str, &str)]) {
        let mut yaml = format!("image: {image}\nbase: tb\narchitecture: amd64\npackages:\n");
        for (p, v) in packages {
            yaml.push_str(&format!("  \"{p}\": \"{v}\"\n"));
        }
        std::fs::write(self.fleet().join(format!("images/{image}.yaml")), yaml).unwrap();
    }

    /// Writes the .deb files into the mirror's pool and publishes a signed
    /// index listing them.
    fn publish(&self, date: &str) {
        let mut packages = String::new();
        for d in &self.debs {
            let path = self.mirror.root.join(&d.filename);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &d.bytes).unwrap();
            let (sha, size) = testmirror::sum(&d.bytes);
            packages.push_str(&format!(
                "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <test@example.invalid>\nPriority: optional\nSection: misc\nFilename: {}\nSize: {size}\nSHA256: {sha}\nDescription: pool test package\n\n",
                d.name, d.version, d.arch, d.filename
            ));
        }
        self.mirror.publish(
            &self.signer,
            &Publication {
                suite: SUITE,
                date: date.parse().unwrap(),
                packages: packages.as_bytes(),
                packages_xz: None,
                pdiff: None,
                by_hash: false,
            },
        );
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        in_fleet(&self.fleet(), args)
    }

    fn sync(&self) {
        let out = self.run(&["sync"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }

    fn deb(&self, name: &str) -> &Deb {
        self.debs.iter().find(|d| d.name == name).unwrap()
    }

    fn pool(&self) -> PathBuf {
        self.fleet().join(".debfleet/state.redb.d/pool")
    }

    /// Where the pool keeps `bytes` (the layout is part of the contract).
    fn pool_file(&self, bytes: &[u8]) -> PathBuf {
        let (sha, _) = testmirror::sum(bytes);
        self.pool()
            .join("sha256")
            .join(&sha[..2])
            .join(format!("{sha}.deb"))
    }

    fn pool_files(&self) -> Vec<PathBuf> {
        let dir = self.pool().join("sha256");
        let mut out = Vec::new();
        if let Ok(subdirs) = std::fs::read_dir(&dir) {
            for sub in subdirs {
                for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                    out.push(f.unwrap().path());
                }
            }
        }
        out.sort();
        out
    }
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "{} {} {}",
                k[0].as_str().unwrap(),
                k[1].as_str().unwrap(),
                k[2].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fetch_verifies_keeps_dropped_versions_and_feeds_apt() {
    let mut w = World::new();
    w.sync();

    let first = w.run(&["pool", "fetch", "--image", "app", "--format", "json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let report = json(&first);
    assert_eq!(
        keys(&report["fetched"]),
        [
            "hello 1.0-1 amd64",
            "libfoo 2.0-1 amd64",
            "tzinfo 1:0.5-1 all"
        ]
    );
    let expected_bytes: u64 = ["hello", "libfoo", "tzinfo"]
        .iter()
        .map(|n| w.deb(n).bytes.len() as u64)
        .sum();
    assert_eq!(report["fetched_bytes"].as_u64().unwrap(), expected_bytes);
    for name in ["hello", "libfoo", "tzinfo"] {
        let deb = w.deb(name);
        let stored = std::fs::read(w.pool_file(&deb.bytes)).unwrap();
        assert_eq!(stored, deb.bytes, "{name}");
    }
    assert_eq!(w.pool_files().len(), 3);

    // Again: nothing to do.
    let again = w.run(&["pool", "fetch", "--image", "app", "--format", "json"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let again = json(&again);
    assert_eq!(again["fetched"].as_array().unwrap().len(), 0);
    assert_eq!(again["present"].as_array().unwrap().len(), 3);

    // All images, one of which wants a version no index lists: exit 2,
    // named per image, the rest fetched.
    w.manifest(
        "other",
        &[("extra", "3.0"), ("libfoo", "2.0-1"), ("ghost", "9.9")],
    );
    let all = w.run(&["pool", "fetch"]);
    assert_eq!(
        all.status.code(),
        Some(2),
        "{}{}",
        stdout(&all),
        stderr(&all)
    );
    assert!(
        stderr(&all).contains("missing: image other: ghost 9.9 (amd64) on base tb"),
        "{}",
        stderr(&all)
    );
    assert!(
        stdout(&all).contains("fetched 1 (")
            && stdout(&all).contains("already present 3, missing 1"),
        "{}",
        stdout(&all)
    );

    // The archive drops hello 1.0-1 (replaced by 1.0-2) and its file.
    std::fs::remove_file(w.mirror.root.join(&w.deb("hello").filename)).unwrap();
    let work = w.dir.path().join("work2");
    std::fs::create_dir_all(&work).unwrap();
    let new_hello = build_deb(&work, "hello", "1.0-2", "amd64");
    let old_hello = w.deb("hello").clone();
    w.debs.retain(|d| d.name != "hello");
    w.debs.push(new_hello.clone());
    w.publish("2026-11-27T00:00:00Z");
    w.sync();
    // Still complete for the image: the pool holds the dropped version.
    let after = w.run(&["pool", "fetch", "--image", "app", "--format", "json"]);
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
    assert!(keys(&json(&after)["present"]).contains(&"hello 1.0-1 amd64".to_string()));

    // A plan upgrading hello: the plan's versions are fetched.
    let plan = w.dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"images": [{"image": "app", "base": "tb", "manifest": "images/app.yaml",
            "upgrade": [{"package": "hello", "from": "1.0-1", "version": "1.0-2"}],
            "install": [], "remove": [], "held": [], "broken": false, "unverified": []}]}"#,
    )
    .unwrap();
    let planned = w.run(&[
        "pool",
        "fetch",
        "--plan",
        plan.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    let planned = json(&planned);
    assert_eq!(keys(&planned["fetched"]), ["hello 1.0-2 amd64"]);
    assert_eq!(
        keys(&planned["present"]),
        ["libfoo 2.0-1 amd64", "tzinfo 1:0.5-1 all"]
    );

    // The whole pool first; then only the app image's versions (incl. the
    // dropped one) into the same directory, which drops the others.
    let repo = w.dir.path().join("flat");
    let everything = w.run(&[
        "pool",
        "serve-dir",
        repo.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(everything.status.code(), Some(0), "{}", stderr(&everything));
    assert_eq!(json(&everything)["packages"], 5);
    assert!(repo.join("pool/extra_3.0_amd64.deb").exists());
    assert!(repo.join("pool/hello_1.0-2_amd64.deb").exists());
    let served = w.run(&[
        "pool",
        "serve-dir",
        repo.to_str().unwrap(),
        "--image",
        "app",
    ]);
    assert_eq!(served.status.code(), Some(0), "{}", stderr(&served));
    let packages = std::fs::read_to_string(repo.join("Packages")).unwrap();
    assert!(
        packages.contains("Package: hello\nVersion: 1.0-1\n"),
        "{packages}"
    );
    assert!(
        packages.contains("Filename: pool/hello_1.0-1_amd64.deb"),
        "{packages}"
    );
    assert!(
        packages.contains("Filename: pool/tzinfo_0.5-1_all.deb"),
        "{packages}"
    );
    assert!(
        !packages.contains("1.0-2"),
        "only the image's versions: {packages}"
    );
    assert!(!packages.contains("extra"), "{packages}");
    assert!(!repo.join("pool/extra_3.0_amd64.deb").exists());
    assert!(!repo.join("pool/hello_1.0-2_amd64.deb").exists());
    assert_eq!(
        std::fs::read(repo.join("pool/hello_1.0-1_amd64.deb")).unwrap(),
        old_hello.bytes
    );
    let release = std::fs::read_to_string(repo.join("Release")).unwrap();
    let (sha, size) = testmirror::sum(packages.as_bytes());
    assert!(
        release.contains(&format!(" {sha} {size:>10} Packages\n")),
        "{release}"
    );
    assert!(
        release.contains("Date: Fri, 27 Nov 2026 12:00:00 UTC"),
        "{release}"
    );

    // Real apt accepts it as its only source.
    let apt = PrivateApt::new(&w.dir.path().join("apt"), &repo);
    apt.ok(&["update"]);
    let sim = apt.ok(&[
        "install",
        "-s",
        "--no-install-recommends",
        "hello=1.0-1",
        "libfoo=2.0-1",
        "tzinfo=1:0.5-1",
    ]);
    assert!(sim.contains("Inst hello (1.0-1"), "{sim}");
    assert!(sim.contains("Inst tzinfo (1:0.5-1"), "{sim}");
    // apt-get download checks the file against the exported index.
    let dl = w.dir.path().join("download");
    std::fs::create_dir_all(&dl).unwrap();
    apt.ok_in(&dl, &["download", "hello=1.0-1"]);
    assert_eq!(
        std::fs::read(dl.join("hello_1.0-1_amd64.deb")).unwrap(),
        old_hello.bytes
    );
}

#[test]
fn tampered_deb_is_refused_and_nothing_is_added() {
    let w = World::new();
    w.sync();
    // Same size, one byte different; and a file longer than the index says.
    let hello = w.mirror.root.join(&w.deb("hello").filename);
    let mut bytes = std::fs::read(&hello).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&hello, &bytes).unwrap();
    let libfoo = w.mirror.root.join(&w.deb("libfoo").filename);
    let mut longer = std::fs::read(&libfoo).unwrap();
    longer.extend_from_slice(b"trailing");
    std::fs::write(&libfoo, &longer).unwrap();

    let out = w.run(&["pool", "fetch", "--image", "app"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("failed: hello 1.0-1 (amd64) for app")
            && err.contains("SHA256 does not match the signed index (test/pooltest/main/amd64)"),
        "{err}"
    );
    assert!(err.contains("failed: libfoo 2.0-1 (amd64)"), "{err}");
    // Only the untouched package landed; the tampered ones left nothing.
    assert_eq!(w.pool_files(), vec![w.pool_file(&w.deb("tzinfo").bytes)]);
    assert!(!w.pool_file(&bytes).exists());
    let tmp: Vec<_> = std::fs::read_dir(w.pool().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    let status = json(&w.run(&["pool", "status", "--format", "json"]));
    assert_eq!(status["versions"], 1);
}

#[test]
fn gc_keeps_referenced_and_removes_the_rest() {
    let w = World::new();
    w.sync();
    let out = w.run(&["pool", "fetch"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(w.pool_files().len(), 4);
    // Garbage an interrupted run could leave: a file without a row, an old
    // temp file; and a fresh temp file a running fetch may be writing.
    let orphan = w
        .pool()
        .join("sha256/ab")
        .join(format!("ab{}.deb", "0".repeat(62)));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"orphan").unwrap();
    let old_tmp = w.pool().join("tmp/old.part");
    std::fs::write(&old_tmp, b"old partial").unwrap();
    let touch = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&old_tmp)
        .status()
        .unwrap();
    assert!(touch.success());
    let fresh_tmp = w.pool().join("tmp/fresh.part");
    std::fs::write(&fresh_tmp, b"fresh").unwrap();

    // The image "other" goes away: extra is unreferenced, libfoo is still
    // used by app.
    std::fs::remove_file(w.fleet().join("images/other.yaml")).unwrap();
    let dry = w.run(&["pool", "gc", "--dry-run", "--format", "json"]);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    let dry = json(&dry);
    assert_eq!(keys(&dry["removed"]), ["extra 3.0 amd64"]);
    assert_eq!(dry["orphans_removed"], 1);
    assert_eq!(dry["temp_removed"], 1);
    assert_eq!(dry["files_removed"], 3);
    assert!(orphan.exists() && old_tmp.exists());
    assert_eq!(w.pool_files().len(), 5);

    let gc = w.run(&["pool", "gc", "--format", "json"]);
    assert_eq!(gc.status.code(), Some(0), "{}", stderr(&gc));
    let gc = json(&gc);
    let freed = w.deb("extra").bytes.len() as u64 + 6 + 11;
    assert_eq!(gc["bytes_freed"].as_u64().unwrap(), freed);
    assert_eq!(gc["kept"], 3);
    let mut expected: Vec<PathBuf> = ["hello", "libfoo", "tzinfo"]
        .iter()
        .map(|n| w.pool_file(&w.deb(n).bytes))
        .collect();
    expected.sort();
    assert_eq!(w.pool_files(), expected);
    assert!(!old_tmp.exists());
    assert!(fresh_tmp.exists());
    let status = json(&w.run(&["pool", "status", "--format", "json"]));
    assert_eq!(status["versions"], 3);
    // A second gc has nothing left to do.
    let again = json(&w.run(&["pool", "gc", "--format", "json"]));
    assert_eq!(again["files_removed"], 0);
}

#[test]
fn leftovers_of_an_interrupted_fetch_are_not_trusted() {
    let w = World::new();
    w.sync();
    // What an interrupted run (or a damaged disk) can leave: garbage at a
    // final pool path without a catalog row, a complete verified file
    // without its row (killed before the catalog commit), a partial temp.
    let hello = w.pool_file(&w.deb("hello").bytes);
    std::fs::create_dir_all(hello.parent().unwrap()).unwrap();
    std::fs::write(&hello, &w.deb("hello").bytes[..100]).unwrap();
    let libfoo = w.pool_file(&w.deb("libfoo").bytes);
    std::fs::create_dir_all(libfoo.parent().unwrap()).unwrap();
    std::fs::write(&libfoo, &w.deb("libfoo").bytes).unwrap();
    std::fs::create_dir_all(w.pool().join("tmp")).unwrap();
    std::fs::write(w.pool().join("tmp/x.part"), b"partial").unwrap();
    // Nothing is in the catalog: the leftovers are not "in the pool".
    let status = json(&w.run(&["pool", "status", "--format", "json"]));
    assert_eq!(status["versions"], 0);

    let out = w.run(&["pool", "fetch", "--image", "app", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    // hello's garbage was re-hashed, refused and fetched again; libfoo's
    // complete file was re-hashed and adopted.
    assert_eq!(
        keys(&report["fetched"]),
        ["hello 1.0-1 amd64", "tzinfo 1:0.5-1 all"]
    );
    assert_eq!(keys(&report["present"]), ["libfoo 2.0-1 amd64"]);
    assert_eq!(std::fs::read(&hello).unwrap(), w.deb("hello").bytes);
    assert_eq!(std::fs::read(&libfoo).unwrap(), w.deb("libfoo").bytes);
    let status = json(&w.run(&["pool", "status", "--format", "json"]));
    assert_eq!(status["versions"], 3);
    assert_eq!(status["damaged"].as_array().unwrap().len(), 0);
}

/// Serves files below `root` over HTTP. A request whose path ends with
/// `stall` gets its headers and half its body, then the connection hangs
/// (and `stalled` is set), as on a network that dies mid-download.
fn serve(root: PathBuf, stall: String) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let root = root.clone();
            let stall = stall.clone();
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut h = String::new();
                while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let Ok(body) = std::fs::read(root.join(path.trim_start_matches('/'))) else {
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if !stall.is_empty() && path.ends_with(&stall) {
                    let _ = conn.write_all(&body[..body.len() / 2]);
                    let _ = conn.flush();
                    flag.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(60));
                    return;
                }
                let _ = conn.write_all(&body);
            });
        }
    });
    (format!("http://{addr}"), stalled)
}

#[test]
fn a_stalled_download_times_out_with_pool_fetch_timeout() {
    let w = World::new();
    w.sync();
    // tzinfo's download stops halfway on every attempt; --timeout 0.5
    // bounds each silent read, so the fetch gives up after its retries
    // instead of waiting on the server (which would stall for a minute).
    let stall = w.deb("tzinfo").filename.clone();
    let (url, stalled) = serve(w.mirror.root.clone(), stall.clone());
    let yaml_path = w.fleet().join("fleet.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let http_yaml = yaml.replace(
        &format!("test: {}", w.mirror.root.display()),
        &format!("test: {url}"),
    );
    assert_ne!(yaml, http_yaml);
    std::fs::write(&yaml_path, &http_yaml).unwrap();
    let started = Instant::now();
    let out = w.run(&[
        "pool",
        "fetch",
        "--image",
        "app",
        "--jobs",
        "1",
        "--timeout",
        "0.5",
    ]);
    let elapsed = started.elapsed();
    assert!(
        stalled.load(Ordering::SeqCst),
        "the stall was never reached"
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("timed out") && err.contains(&stall),
        "the error names the timeout and the file: {err}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // The stalled file is not in the pool.
    assert!(!w.pool_file(&w.deb("tzinfo").bytes).exists());
}

#[test]
fn a_fetch_killed_mid_download_leaves_nothing_trusted() {
    let w = World::new();
    w.sync();
    // The archive now comes over HTTP; tzinfo's download (the last of the
    // three, one at a time) hangs halfway, and the fetch is killed there.
    let stall = w.deb("tzinfo").filename.clone();
    let (url, stalled) = serve(w.mirror.root.clone(), stall);
    let yaml_path = w.fleet().join("fleet.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let http_yaml = yaml.replace(
        &format!("test: {}", w.mirror.root.display()),
        &format!("test: {url}"),
    );
    assert_ne!(yaml, http_yaml);
    std::fs::write(&yaml_path, &http_yaml).unwrap();
    let fleet = w.fleet();
    let mut child = Command::new(env!("CARGO_BIN_EXE_debfleet"))
        .args(["--fleet", fleet.to_str().unwrap(), "--now", NOW])
        .args(["pool", "fetch", "--image", "app", "--jobs", "1"])
        .env_remove("http_proxy")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the download never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "fetch ended before the stall"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Nothing is trusted: no catalog row at all (rows are written at the
    // end), no file for the interrupted download, no partial file anywhere.
    let status = json(&w.run(&["pool", "status", "--format", "json"]));
    assert_eq!(status["versions"], 0, "{status}");
    assert!(!w.pool_file(&w.deb("tzinfo").bytes).exists());
    for f in w.pool_files() {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let (sha, _) = testmirror::sum(&std::fs::read(&f).unwrap());
        assert_eq!(
            name,
            format!("{sha}.deb"),
            "a pool file is named by its content"
        );
    }
    let tmp = w.pool().join("tmp");
    if tmp.exists() {
        let partial: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(partial.is_empty(), "{partial:?}");
    }

    // The next run (directory mirror again) completes the pool: files that
    // were completed before the kill are re-hashed and adopted.
    std::fs::write(&yaml_path, &yaml).unwrap();
    let out = w.run(&["pool", "fetch", "--image", "app", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(keys(&report["fetched"]), ["tzinfo 1:0.5-1 all"]);
    assert_eq!(
        keys(&report["present"]),
        ["hello 1.0-1 amd64", "libfoo 2.0-1 amd64"]
    );
    for name in ["hello", "libfoo", "tzinfo"] {
        let deb = w.deb(name);
        assert_eq!(std::fs::read(w.pool_file(&deb.bytes)).unwrap(), deb.bytes);
    }
}

/// apt in a private root whose only source is a flat repository.
struct PrivateApt {
    root: PathBuf,
}

impl PrivateApt {
    fn new(root: &Path, repo: &Path) -> PrivateApt {
        common::apt_root::create(root).unwrap();
        let r = root.display();
        let conf = format!(
            "Dir \"{r}/\";\nDir::State \"{r}/var/lib/apt/\";\nDir::Cache \"{r}/var/cache/apt/\";\n\
             Dir::Etc \"{r}/etc/apt/\";\nDir::Log \"{r}/var/log/apt/\";\n\
             Dir::State::status \"{r}/var/lib/dpkg/status\";\n\
             Dir::Etc::main \"{r}/etc/apt/apt.conf\";\nDir::Etc::parts \"{r}/etc/apt/apt.conf.d/\";\n\
             Dir::Etc::sourcelist \"{r}/etc/apt/sources.list\";\nDir::Etc::sourceparts \"{r}/etc/apt/sources.list.d/\";\n\
             Dir::Etc::preferences \"{r}/etc/apt/preferences\";\nDir::Etc::preferencesparts \"{r}/etc/apt/preferences.d/\";\n\
             Dir::Etc::trusted \"{r}/etc/apt/trusted.gpg\";\nDir::Etc::trustedparts \"{r}/etc/apt/trusted.gpg.d/\";\n\
             APT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\n\
             Acquire::Languages \"none\";\nAPT::Sandbox::User \"root\";\nDebug::NoLocking \"true\";\n"
        );
        std::fs::write(root.join("apt.conf"), conf).unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!("deb [trusted=yes] file:{} ./\n", repo.display()),
        )
        .unwrap();
        PrivateApt {
            root: root.to_path_buf(),
        }
    }

    fn ok_in(&self, cwd: &Path, args: &[&str]) -> String {
        let out = Command::new("apt-get")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .current_dir(cwd)
            .args(args)
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "apt-get {args:?}: {text}");
        assert!(
            !text.contains("W: ") && !text.contains("E: "),
            "apt-get {args:?}: {text}"
        );
        stdout(&out)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_in(&self.root, args)
    }
}

#[test]
fn gc_keeps_the_versions_of_recorded_builds() {
    let w = World::new();
    w.sync();
    let out = w.run(&["pool", "fetch"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // "other" was built (and recorded), then its manifest went away: the
    // recorded build still needs extra 3.0 to be rebuilt offline.
    let manifest = w.fleet().join("images/other.yaml");
    let rec = w.run(&[
        "build",
        "record",
        "other",
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(rec.status.code(), Some(0), "{}", stderr(&rec));
    std::fs::remove_file(&manifest).unwrap();
    let gc = w.run(&["pool", "gc", "--format", "json"]);
    assert_eq!(gc.status.code(), Some(0), "{}", stderr(&gc));
    let gc = json(&gc);
    assert_eq!(keys(&gc["removed"]), Vec::<String>::new());
    assert_eq!(gc["kept"], 4);
    assert!(w.pool_file(&w.deb("extra").bytes).exists());
}
