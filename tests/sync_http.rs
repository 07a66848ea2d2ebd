//! `debfleet sync` over HTTP: a small static file server on loopback serves
//! the bundled mirror; the sync must verify and index it exactly as from a
//! directory, retry a dropped connection, and report a 404 clearly.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Serves files below `root`; the first `drop_first` connections are
/// closed without an answer (a flaky network).
fn serve(root: PathBuf, drop_first: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            if i < drop_first {
                drop(conn);
                continue;
            }
            let root = root.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                // Skip headers.
                let mut h = String::new();
                while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = root.join(path.trim_start_matches('/'));
                match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(&body);
                    }
                    _ => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), served)
}

fn http_fleet(dir: &std::path::Path, base_url: &str) {
    let yaml = format!(
        "archives:\n  debian: {base_url}/debian\n  debian-security: {base_url}/debian-security\nkeyring: {}\nbases:\n  small:\n    release: \"12\"\n    architectures: [amd64]\n    repositories:\n      - {{archive: debian, suite: bookworm-updates, components: [main]}}\n      - {{archive: debian-security, suite: bookworm-security, components: [main]}}\nmanifests: images/*.yaml\n",
        debian_keyring().display()
    );
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}

#[test]
fn sync_over_http_matches_the_directory_sync_and_survives_dropped_connections() {
    // Reference: the same suites from the directory.
    let reference = tempfile::tempdir().unwrap();
    small_fleet(reference.path(), &testdata("mirror"), &debian_keyring());
    assert!(in_fleet(reference.path(), &["sync"]).status.success());

    // Two dropped connections first: the retries must absorb them.
    let (url, served) = serve(testdata("mirror"), 2);
    let dir = tempfile::tempdir().unwrap();
    http_fleet(dir.path(), &url);
    let out = in_fleet(dir.path(), &["sync", "--format", "json"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(served.load(Ordering::SeqCst) >= 4);
    let (suites, _) = store_state(dir.path());
    let (reference_suites, _) = store_state(reference.path());
    assert_eq!(suites, reference_suites);
    let verify = in_fleet(dir.path(), &["mirror", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));

    // A suite the server does not have: not mirrored, clearly named.
    let missing = tempfile::tempdir().unwrap();
    http_fleet(missing.path(), &format!("{url}/nowhere"));
    let out = in_fleet(missing.path(), &["sync", "--format", "json"]);
    let report = json(&out);
    let first = &report["suites"][0];
    assert_eq!(first["status"], "not-mirrored", "{report}");
    assert!(
        first["error"].as_str().unwrap().contains("/nowhere/"),
        "{report}"
    );
}
