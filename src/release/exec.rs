//! Running the user's build command once per planned image (`plan --exec`):
//! bounded parallelism, a fixed environment contract, the combined output
//! captured as the build log, and the image digest read back from a file
//! the command may write. Recording the result is the caller's job (one
//! short write transaction per finished build, so that a crash loses at
//! most the builds still running).
//!
//! The command runs as `sh -c CMD` with:
//!
//! | variable | value |
//! |---|---|
//! | `IMAGE` | the image name |
//! | `MANIFEST` | the path of the manifest to build (the planned package set) |
//! | `BUILD_ID` | `IMAGE#N`, the build number this build will be recorded as |
//! | `DIGEST_FILE` | a path; write `sha256:<hex>` there to record the image digest |

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// At most this much of a command's output is kept as its build log (the
/// end of it, where the error usually is).
pub const MAX_LOG_BYTES: usize = 16 * 1024 * 1024;

/// One build to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildJob {
    /// The image name (`IMAGE`).
    pub image: String,
    /// The manifest to build (`MANIFEST`).
    pub manifest: PathBuf,
    /// `IMAGE#N` (`BUILD_ID`).
    pub build_id: String,
    /// Where the command may write the digest (`DIGEST_FILE`).
    pub digest_file: PathBuf,
}

/// What running one build produced.
#[derive(Debug, Clone)]
pub struct BuildRun {
    /// The job.
    pub job: BuildJob,
    /// Whether the command exited with status 0.
    pub success: bool,
    /// How it ended, for people (`exit status 0`, `killed by signal 9`, or
    /// why it could not start).
    pub status: String,
    /// stdout and stderr, interleaved as written (the last
    /// [`MAX_LOG_BYTES`] bytes).
    pub log: Vec<u8>,
    /// The digest the command wrote to `DIGEST_FILE`, when valid.
    pub digest: Option<String>,
    /// Problems with what the command left behind (an invalid digest file).
    pub warnings: Vec<String>,
}

/// Runs `command` for every job, at most `parallel` at once, calling
/// `on_done` (from the worker threads, one call at a time) as each build
/// finishes. A command that cannot be started is a failed build, not an
/// error: the other builds still run.
pub fn run_builds(
    command: &str,
    jobs: Vec<BuildJob>,
    parallel: usize,
    on_done: &(dyn Fn(BuildRun) + Sync),
) {
    let queue = Mutex::new(jobs.into_iter());
    let report = Mutex::new(());
    let workers = parallel.max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = match queue.lock() {
                        Ok(mut q) => q.next(),
                        Err(_) => None,
                    };
                    let Some(job) = next else { break };
                    let run = run_one(command, job);
                    // One callback at a time: callers write to the store.
                    let _guard = report.lock();
                    on_done(run);
                }
            });
        }
    });
}

fn run_one(command: &str, job: BuildJob) -> BuildRun {
    let _ = std::fs::remove_file(&job.digest_file);
    let mut run = BuildRun {
        job,
        success: false,
        status: String::new(),
        log: Vec::new(),
        digest: None,
        warnings: Vec::new(),
    };
    let (mut reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            run.status = format!("could not create a pipe for the build log: {e}");
            return run;
        }
    };
    let writer_err = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => {
            run.status = format!("could not create a pipe for the build log: {e}");
            return run;
        }
    };
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("IMAGE", &run.job.image)
        .env("MANIFEST", &run.job.manifest)
        .env("BUILD_ID", &run.job.build_id)
        .env("DIGEST_FILE", &run.job.digest_file)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            run.status = format!("could not start `sh -c {command}`: {e}");
            return run;
        }
    };
    // The Command (and its pipe ends) is dropped: EOF comes when the child
    // and its descendants close their output.
    run.log = read_tail(&mut reader, MAX_LOG_BYTES);
    match child.wait() {
        Ok(status) => {
            run.success = status.success();
            run.status = describe_status(status);
        }
        Err(e) => run.status = format!("could not wait for the build: {e}"),
    }
    match std::fs::read_to_string(&run.job.digest_file) {
        Ok(text) => {
            let digest = text.trim();
            if is_digest(digest) {
                run.digest = Some(digest.to_string());
            } else {
                run.warnings.push(format!(
                    "{}: not a digest (want sha256:<64 hex digits>); none recorded",
                    run.job.digest_file.display()
                ));
            }
            let _ = std::fs::remove_file(&run.job.digest_file);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => run.warnings.push(format!(
            "{}: cannot read the digest file: {e}",
            run.job.digest_file.display()
        )),
    }
    run
}

/// Reads everything, keeping only the last `max` bytes.
fn read_tail(reader: &mut impl Read, max: usize) -> Vec<u8> {
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * max {
                    let cut = kept.len() - max;
                    dropped += cut;
                    kept.drain(..cut);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > max {
        let cut = kept.len() - max;
        dropped += cut;
        kept.drain(..cut);
    }
    if dropped > 0 {
        let mut out =
            format!("[debfleet: the first {dropped} bytes of output were dropped]\n").into_bytes();
        out.extend_from_slice(&kept);
        return out;
    }
    kept
}

fn describe_status(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn job(dir: &std::path::Path, image: &str) -> BuildJob {
        BuildJob {
            image: image.to_string(),
            manifest: dir.join(format!("{image}.yaml")),
            build_id: format!("{image}#1"),
            digest_file: dir.join(format!("{image}.digest")),
        }
    }

    fn run_all(command: &str, jobs: Vec<BuildJob>, parallel: usize) -> BTreeMap<String, BuildRun> {
        let out = Mutex::new(BTreeMap::new());
        run_builds(command, jobs, parallel, &|r| {
            out.lock().unwrap().insert(r.job.image.clone(), r);
        });
        out.into_inner().unwrap()
    }

    #[test]
    fn environment_log_status_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = r#"echo "out $IMAGE $BUILD_ID $MANIFEST"; echo "err $IMAGE" >&2;
            if [ "$IMAGE" = b ]; then exit 3; fi
            printf 'sha256:%064d\n' 7 > "$DIGEST_FILE""#;
        let runs = run_all(cmd, vec![job(dir.path(), "a"), job(dir.path(), "b")], 2);
        let a = &runs["a"];
        assert!(a.success, "{}", a.status);
        let log = String::from_utf8_lossy(&a.log);
        assert!(
            log.contains(&format!(
                "out a a#1 {}",
                dir.path().join("a.yaml").display()
            )),
            "{log}"
        );
        assert!(log.contains("err a"), "{log}");
        assert_eq!(
            a.digest.as_deref(),
            Some(format!("sha256:{:064}", 7).as_str())
        );
        assert!(!dir.path().join("a.digest").exists());
        let b = &runs["b"];
        assert!(!b.success);
        assert_eq!(b.status, "exit status 3");
        assert_eq!(b.digest, None);
    }

    #[test]
    fn a_bad_digest_is_a_warning_not_a_digest() {
        let dir = tempfile::tempdir().unwrap();
        let runs = run_all(
            "echo nonsense > \"$DIGEST_FILE\"",
            vec![job(dir.path(), "a")],
            1,
        );
        assert!(runs["a"].success);
        assert_eq!(runs["a"].digest, None);
        assert!(
            runs["a"].warnings[0].contains("not a digest"),
            "{:?}",
            runs["a"].warnings
        );
    }

    #[test]
    fn parallelism_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let marks = dir.path().join("marks");
        std::fs::create_dir(&marks).unwrap();
        // Each build counts the builds running beside it (marker files).
        let cmd = format!(
            "touch {m}/$IMAGE; sleep 0.3; ls {m} | wc -l > {d}/$IMAGE.count; rm {m}/$IMAGE",
            m = marks.display(),
            d = dir.path().display()
        );
        let jobs: Vec<BuildJob> = (0..6).map(|i| job(dir.path(), &format!("i{i}"))).collect();
        let runs = run_all(&cmd, jobs, 2);
        assert_eq!(runs.len(), 6);
        for i in 0..6 {
            let count: usize = std::fs::read_to_string(dir.path().join(format!("i{i}.count")))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(
                (1..=2).contains(&count),
                "build i{i} saw {count} builds running"
            );
        }
    }

    #[test]
    fn log_keeps_the_tail() {
        let mut input: &[u8] = &[b'x'; 100];
        let tail = read_tail(&mut input, 10);
        let text = String::from_utf8(tail).unwrap();
        assert!(text.starts_with("[debfleet: the first 90 bytes"), "{text}");
        assert!(text.ends_with("xxxxxxxxxx"));
    }

    #[test]
    fn digest_syntax() {
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&"a".repeat(71)));
    }
}
