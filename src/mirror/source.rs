//! Where mirror bytes come from: a local directory (or `file://` URL) or an
//! HTTP(S) server. A source hands back whole files, bounded by a caller-given
//! size limit, and never interprets them; verification is the caller's job.
//!
//! Directory sources refuse paths that escape the mirror root, including
//! through symlinks. HTTP sources have explicit connect/read/overall
//! timeouts (the read timeout is an idle timeout: a large file on a slow
//! link is fine as long as bytes keep coming), retry transient failures
//! (dropped connections, short bodies, connect/read timeouts, 5xx and 429)
//! with exponential backoff, follow redirects, stream bodies (no 10 MB cap)
//! and honour `http_proxy`/`https_proxy`/`no_proxy`.
//! Plain `http://` through an HTTP proxy is sent in absolute form (`GET
//! http://host/path`), which apt-cacher-ng and squid expect; ureq 3 would
//! tunnel it with `CONNECT`, which they refuse.

use crate::deb::release::validate_index_path;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors fetching a file from a mirror.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{location}: not found")]
    NotFound { location: String },
    #[error("{location}: {message}")]
    Io { location: String, message: String },
    #[error("{location}: refusing path that leaves the mirror root ({reason})")]
    OutsideRoot { location: String, reason: String },
    #[error("{location}: larger than the expected {limit} bytes; refusing to read more")]
    TooLarge { location: String, limit: u64 },
    #[error("{location}: HTTP status {status}")]
    Status { location: String, status: u16 },
    #[error("invalid mirror URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// An exchange that retrying cannot fix (a redirect loop, a bad
    /// redirect target).
    #[error("{location}: {message}")]
    Http { location: String, message: String },
    #[error(
        "{location}: timed out: {}; the mirror is too slow or unreachable. Try again later, or allow more time with `sync --timeout SECS`",
        kind.describe(*limit)
    )]
    Timeout {
        location: String,
        kind: TimeoutKind,
        limit: Duration,
    },
}

/// Which time limit of [`HttpOptions`] a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// No connection within `connect_timeout`.
    Connect,
    /// No answer, or no more body bytes, within `read_timeout`.
    Read,
    /// The whole request took longer than `overall_timeout`.
    Overall,
}

impl TimeoutKind {
    fn describe(self, limit: Duration) -> String {
        match self {
            TimeoutKind::Connect => format!("no connection within {limit:?}"),
            TimeoutKind::Read => format!("no data received for {limit:?} (read timeout)"),
            TimeoutKind::Overall => {
                format!("the transfer took longer than {limit:?} (overall limit)")
            }
        }
    }
}

impl SourceError {
    /// True when retrying the same request may succeed.
    fn is_transient(&self) -> bool {
        match self {
            SourceError::Io { .. } => true,
            SourceError::Status { status, .. } => *status >= 500 || *status == 429,
            // A stalled or unreachable server may recover; a transfer that
            // used up the overall limit would use it up again.
            SourceError::Timeout { kind, .. } => *kind != TimeoutKind::Overall,
            _ => false,
        }
    }
}

/// Timeouts and retry policy for network sources.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Connecting (DNS, TCP, TLS, proxy) may take this long.
    pub connect_timeout: Duration,
    /// Idle timeout: the response headers, and then each further piece of
    /// the body, must arrive within this long.
    pub read_timeout: Duration,
    /// One request (one attempt at one file, redirects included) may take
    /// this long in total.
    pub overall_timeout: Duration,
    /// Retries of a transient failure, after the first attempt.
    pub retries: u32,
    /// The wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl HttpOptions {
    /// The options for a network timeout of `timeout` (`sync --timeout`):
    /// connect and read timeouts of `timeout`, an overall limit of 20 times
    /// that (the defaults correspond to 30 s, with 15 s to connect), and
    /// the default retries.
    pub fn with_timeout(timeout: Duration) -> HttpOptions {
        HttpOptions {
            connect_timeout: timeout,
            read_timeout: timeout,
            overall_timeout: timeout.saturating_mul(20),
            ..HttpOptions::default()
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            overall_timeout: Duration::from_secs(600),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A mirror root: files are addressed relative to it (`dists/bookworm/InRelease`).
#[derive(Debug, Clone)]
pub enum MirrorSource {
    Directory(PathBuf),
    Http { base: String, options: HttpOptions },
}

impl MirrorSource {
    /// Builds a source from a location string: a directory path, a
    /// `file://` URL or an `http(s)://` URL.
    pub fn from_location(location: &str) -> Result<MirrorSource, SourceError> {
        if let Some(rest) = location.strip_prefix("file://") {
            return Ok(MirrorSource::Directory(PathBuf::from(rest)));
        }
        if location.starts_with("http://") || location.starts_with("https://") {
            return Ok(MirrorSource::Http {
                base: location.trim_end_matches('/').to_string(),
                options: HttpOptions::default(),
            });
        }
        if location.contains("://") {
            return Err(SourceError::BadUrl {
                url: location.to_string(),
                reason: "only directories, file:// and http(s):// are supported".into(),
            });
        }
        Ok(MirrorSource::Directory(PathBuf::from(location)))
    }

    /// Sets the timeouts and retry policy of an HTTP source (a directory
    /// source has none).
    pub fn set_http_options(&mut self, new: HttpOptions) {
        if let MirrorSource::Http { options, .. } = self {
            *options = new;
        }
    }

    /// A human-readable location of `rel` for messages.
    pub fn describe(&self, rel: &str) -> String {
        match self {
            MirrorSource::Directory(root) => root.join(rel).display().to_string(),
            MirrorSource::Http { base, .. } => format!("{base}/{rel}"),
        }
    }

    /// Fetches `rel` (relative to the mirror root). `limit` bounds how many
    /// bytes are read: a larger file is an error, not an allocation.
    pub fn fetch(&self, rel: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        // The same rule as for paths in a signed Release: relative, no
        // empty, `.` or `..` components, no backslashes or control characters.
        validate_index_path(rel).map_err(|reason| SourceError::OutsideRoot {
            location: self.describe(rel),
            reason: reason.to_string(),
        })?;
        match self {
            MirrorSource::Directory(root) => fetch_file(root, rel, limit),
            MirrorSource::Http { base, options } => {
                let url = format!("{base}/{rel}");
                let mut attempt = 0;
                loop {
                    match fetch_http(&url, limit, options) {
                        Err(e) if e.is_transient() && attempt < options.retries => {
                            attempt += 1;
                            std::thread::sleep(options.backoff * 2u32.pow(attempt - 1));
                        }
                        other => return other,
                    }
                }
            }
        }
    }
}

fn fetch_file(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
    let path = root.join(rel);
    let location = path.display().to_string();
    let io_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SourceError::NotFound {
                location: location.clone(),
            }
        } else {
            SourceError::Io {
                location: location.clone(),
                message: e.to_string(),
            }
        }
    };
    // Symlinks inside the mirror are fine; symlinks out of it are not.
    let real_root = root.canonicalize().map_err(io_err)?;
    let real = path.canonicalize().map_err(io_err)?;
    if !real.starts_with(&real_root) {
        return Err(SourceError::OutsideRoot {
            location,
            reason: format!("resolves to {}", real.display()),
        });
    }
    let file = std::fs::File::open(&real).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > limit {
        return Err(SourceError::TooLarge { location, limit });
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > limit {
        return Err(SourceError::TooLarge { location, limit });
    }
    Ok(buf)
}

/// The proxy to use for `url`, from the environment, honouring `no_proxy`.
fn proxy_for(url: &str) -> Option<String> {
    let https = url.starts_with("https://");
    let names: &[&str] = if https {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    let proxy = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))?;
    let host = url.split("://").nth(1)?.split('/').next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let no_proxy = std::env::var("no_proxy")
        .or_else(|_| std::env::var("NO_PROXY"))
        .unwrap_or_default();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let entry = entry.trim_start_matches('.');
        if entry == "*" || host == entry || host.ends_with(&format!(".{entry}")) {
            return None;
        }
    }
    Some(proxy)
}

fn fetch_http(url: &str, limit: u64, options: &HttpOptions) -> Result<Vec<u8>, SourceError> {
    match proxy_for(url) {
        Some(proxy) if url.starts_with("http://") => {
            fetch_http_via_proxy(url, &proxy, limit, options)
        }
        proxy => fetch_with_ureq(url, proxy.as_deref(), limit, options),
    }
}

fn fetch_with_ureq(
    url: &str,
    proxy: Option<&str>,
    limit: u64,
    options: &HttpOptions,
) -> Result<Vec<u8>, SourceError> {
    let io = |message: String| SourceError::Io {
        location: url.to_string(),
        message,
    };
    let proxy = match proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| io(format!("proxy {p:?}: {e}")))?),
        None => None,
    };
    // The read timeout bounds the wait for the headers and each read of
    // the body (an idle timeout, like apt's); the body as a whole is bounded
    // by the overall timeout only, so a large index on a slow link is fine.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_recv_response(Some(options.read_timeout))
        .timeout_per_read(Some(options.read_timeout))
        .timeout_global(Some(options.overall_timeout))
        .http_status_as_error(false)
        .proxy(proxy)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| ureq_error(url, e, options))?;
    let status = response.status().as_u16();
    if status == 404 || status == 410 {
        return Err(SourceError::NotFound {
            location: url.to_string(),
        });
    }
    if status != 200 {
        return Err(SourceError::Status {
            location: url.to_string(),
            status,
        });
    }
    let expected = response.body().content_length();
    if let Some(len) = expected
        && len > limit
    {
        return Err(SourceError::TooLarge {
            location: url.to_string(),
            limit,
        });
    }
    let reader = response.body_mut().as_reader();
    read_bounded(reader, url, limit, expected, options)
}

/// A ureq failure as a [`SourceError`]: timeouts say which limit was hit.
fn ureq_error(url: &str, e: ureq::Error, options: &HttpOptions) -> SourceError {
    use ureq::Timeout as T;
    let (kind, limit) = match e {
        ureq::Error::Timeout(T::Connect | T::Resolve) => {
            (TimeoutKind::Connect, options.connect_timeout)
        }
        ureq::Error::Timeout(T::Global | T::PerCall | T::RecvBody) => {
            (TimeoutKind::Overall, options.overall_timeout)
        }
        ureq::Error::Timeout(_) => (TimeoutKind::Read, options.read_timeout),
        ureq::Error::Io(e) => return io_error(url, e, options),
        ureq::Error::TooManyRedirects => {
            return SourceError::Http {
                location: url.to_string(),
                message: "too many redirects (more than 10); check the mirror URL".into(),
            };
        }
        e @ (ureq::Error::RedirectFailed | ureq::Error::BadUri(_)) => {
            return SourceError::Http {
                location: url.to_string(),
                message: format!("cannot follow the redirect: {e}"),
            };
        }
        other => {
            return SourceError::Io {
                location: url.to_string(),
                message: other.to_string(),
            };
        }
    };
    SourceError::Timeout {
        location: url.to_string(),
        kind,
        limit,
    }
}

/// An I/O error while talking to `url` as a [`SourceError`]: a socket read
/// timeout (the proxy path), the overall deadline, or a wrapped ureq error
/// become [`SourceError::Timeout`] where they are one.
fn io_error(url: &str, e: std::io::Error, options: &HttpOptions) -> SourceError {
    if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        return ureq_error(url, ureq::Error::from(e), options);
    }
    if e.get_ref()
        .is_some_and(|inner| inner.is::<DeadlinePassed>())
    {
        return SourceError::Timeout {
            location: url.to_string(),
            kind: TimeoutKind::Overall,
            limit: options.overall_timeout,
        };
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => SourceError::Timeout {
            location: url.to_string(),
            kind: TimeoutKind::Read,
            limit: options.read_timeout,
        },
        _ => SourceError::Io {
            location: url.to_string(),
            message: e.to_string(),
        },
    }
}

/// Reads at most `limit` bytes; a body over the limit is an error, and so
/// is one shorter than the announced `expected` length (Content-Length).
fn read_bounded(
    reader: impl Read,
    location: &str,
    limit: u64,
    expected: Option<u64>,
    options: &HttpOptions,
) -> Result<Vec<u8>, SourceError> {
    let mut buf = Vec::new();
    let read = reader.take(limit.saturating_add(1)).read_to_end(&mut buf);
    let short = || SourceError::Io {
        location: location.to_string(),
        message: match expected {
            Some(len) => format!(
                "body cut short: connection closed after {} of the announced {len} bytes",
                buf.len()
            ),
            None => format!(
                "body cut short: connection closed after {} bytes",
                buf.len()
            ),
        },
    };
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(short()),
        Err(e) => return Err(io_error(location, e, options)),
        Ok(_) => {}
    }
    if let Some(len) = expected
        && (buf.len() as u64) < len
    {
        return Err(short());
    }
    if buf.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            location: location.to_string(),
            limit,
        });
    }
    Ok(buf)
}

/// Plain HTTP/1.1 through a proxy, request line in absolute form.
fn fetch_http_via_proxy(
    url: &str,
    proxy: &str,
    limit: u64,
    options: &HttpOptions,
) -> Result<Vec<u8>, SourceError> {
    let io = |message: String| SourceError::Io {
        location: url.to_string(),
        message,
    };
    let proxy_authority = proxy
        .strip_prefix("http://")
        .unwrap_or(proxy)
        .trim_end_matches('/');
    let proxy_authority = proxy_authority
        .rsplit('@')
        .next()
        .unwrap_or(proxy_authority);
    let addr_text = if proxy_authority.contains(':') {
        proxy_authority.to_string()
    } else {
        format!("{proxy_authority}:80")
    };
    let host = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| io("URL has no host".into()))?;
    let started = Instant::now();
    let addr = addr_text
        .to_socket_addrs()
        .map_err(|e| io(format!("proxy {addr_text}: {e}")))?
        .next()
        .ok_or_else(|| io(format!("proxy {addr_text}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, options.connect_timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            SourceError::Timeout {
                location: url.to_string(),
                kind: TimeoutKind::Connect,
                limit: options.connect_timeout,
            }
        } else {
            io(format!("connecting to proxy {addr_text}: {e}"))
        }
    })?;
    stream
        .set_read_timeout(Some(options.read_timeout))
        .map_err(|e| io(e.to_string()))?;
    let request = format!(
        "GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: debfleet/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io(e.to_string()))?;
    // Each read waits at most the read timeout; the deadline bounds the sum.
    let mut reader = BufReader::new(Deadline {
        inner: stream,
        deadline: started + options.overall_timeout,
    });
    let net = |e: std::io::Error| io_error(url, e, options);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(net)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io(format!("malformed status line {:?}", line.trim_end())))?;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(net)?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .parse()
                        .map_err(|_| io(format!("bad Content-Length {value:?}")))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    if status == 404 || status == 410 {
        return Err(SourceError::NotFound {
            location: url.to_string(),
        });
    }
    if status != 200 {
        return Err(SourceError::Status {
            location: url.to_string(),
            status,
        });
    }
    let body = if chunked {
        read_chunked(&mut reader, url, limit, options)?
    } else if let Some(len) = content_length {
        if len > limit {
            return Err(SourceError::TooLarge {
                location: url.to_string(),
                limit,
            });
        }
        read_bounded(reader.by_ref().take(len), url, limit, Some(len), options)?
    } else {
        read_bounded(reader, url, limit, None, options)?
    };
    Ok(body)
}

/// The marker error of a read after the overall deadline.
#[derive(Debug)]
struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("overall timeout exceeded")
    }
}

impl std::error::Error for DeadlinePassed {}

/// A reader that refuses to read after `deadline`, so that a server
/// trickling bytes (each within the read timeout) cannot hold a request
/// open for ever.
struct Deadline<R> {
    inner: R,
    deadline: Instant,
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                DeadlinePassed,
            ));
        }
        self.inner.read(buf)
    }
}

fn read_chunked(
    reader: &mut impl BufRead,
    url: &str,
    limit: u64,
    options: &HttpOptions,
) -> Result<Vec<u8>, SourceError> {
    let io = |message: String| SourceError::Io {
        location: url.to_string(),
        message,
    };
    let net = |e: std::io::Error| io_error(url, e, options);
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(net)?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| io(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len() as u64 + size > limit {
            return Err(SourceError::TooLarge {
                location: url.to_string(),
                limit,
            });
        }
        let start = body.len();
        reader
            .by_ref()
            .take(size)
            .read_to_end(&mut body)
            .map_err(net)?;
        if (body.len() - start) as u64 != size {
            return Err(io("connection closed inside a chunk".into()));
        }
        line.clear();
        reader.read_line(&mut line).map_err(net)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_paths() {
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "dists/../../x",
            "a\u{1}b",
            "",
        ] {
            assert!(validate_index_path(bad).is_err(), "{bad:?}");
        }
        assert!(validate_index_path("dists/bookworm/InRelease").is_ok());
    }

    #[test]
    fn directory_source_reads_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dists")).unwrap();
        std::fs::write(dir.path().join("dists/f"), b"hello").unwrap();
        let src = MirrorSource::Directory(dir.path().to_path_buf());
        assert_eq!(src.fetch("dists/f", 10).unwrap(), b"hello");
        assert!(matches!(
            src.fetch("dists/f", 3),
            Err(SourceError::TooLarge { .. })
        ));
        assert!(matches!(
            src.fetch("dists/missing", 3),
            Err(SourceError::NotFound { .. })
        ));
    }

    #[test]
    fn symlink_out_of_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        let src = MirrorSource::Directory(dir.path().to_path_buf());
        assert!(matches!(
            src.fetch("link", 10),
            Err(SourceError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn timeouts_scale_and_only_idle_ones_are_retried() {
        let o = HttpOptions::with_timeout(Duration::from_millis(250));
        assert_eq!(o.connect_timeout, Duration::from_millis(250));
        assert_eq!(o.read_timeout, Duration::from_millis(250));
        assert_eq!(o.overall_timeout, Duration::from_secs(5));
        assert_eq!(o.retries, HttpOptions::default().retries);
        let timeout = |kind| SourceError::Timeout {
            location: "http://m/x".into(),
            kind,
            limit: Duration::from_secs(1),
        };
        assert!(timeout(TimeoutKind::Connect).is_transient());
        assert!(timeout(TimeoutKind::Read).is_transient());
        assert!(!timeout(TimeoutKind::Overall).is_transient());
        let message = timeout(TimeoutKind::Read).to_string();
        assert!(
            message.starts_with("http://m/x: timed out: no data received for 1s"),
            "{message}"
        );
    }

    #[test]
    fn a_short_body_names_the_announced_length() {
        let err = read_bounded(
            &b"abc"[..],
            "http://m/x",
            100,
            Some(10),
            &HttpOptions::default(),
        )
        .unwrap_err();
        assert!(err.is_transient());
        assert_eq!(
            err.to_string(),
            "http://m/x: body cut short: connection closed after 3 of the announced 10 bytes"
        );
    }

    #[test]
    fn the_deadline_stops_a_reader_that_never_stalls() {
        let mut reader = Deadline {
            inner: std::io::repeat(b'x'),
            deadline: Instant::now(),
        };
        let err = reader.read(&mut [0; 4]).unwrap_err();
        let err = io_error("http://m/x", err, &HttpOptions::default());
        assert!(
            matches!(
                err,
                SourceError::Timeout {
                    kind: TimeoutKind::Overall,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn http_via_plain_proxy_uses_absolute_form() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            )
            .unwrap();
            request_line
        });
        let body = fetch_http_via_proxy(
            "http://mirror.example/debian/dists/x/InRelease",
            &format!("http://{addr}"),
            100,
            &HttpOptions::default(),
        )
        .unwrap();
        assert_eq!(body, b"hello");
        let line = server.join().unwrap();
        assert!(
            line.starts_with("GET http://mirror.example/debian/dists/x/InRelease HTTP/1.1"),
            "{line}"
        );
    }
}
