//! Where mirror bytes come from: a local directory (or `file://` URL) or an
//! HTTP(S) server. A source hands back whole files, bounded by a caller-given
//! size limit, and never interprets them; verification is the caller's job.
//!
//! Directory sources refuse paths that escape the mirror root, including
//! through symlinks. HTTP sources have explicit connect/read/overall
//! timeouts, retry transient failures with exponential backoff, stream
//! bodies (no 10 MB cap) and honour `http_proxy`/`https_proxy`/`no_proxy`.
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
}

impl SourceError {
    /// True when retrying the same request may succeed.
    fn is_transient(&self) -> bool {
        match self {
            SourceError::Io { .. } => true,
            SourceError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Timeouts and retry policy for network sources.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub overall_timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_recv_body(Some(options.read_timeout))
        .timeout_recv_response(Some(options.read_timeout))
        .timeout_global(Some(options.overall_timeout))
        .http_status_as_error(false)
        .proxy(proxy)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| io(e.to_string()))?;
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
    let reader = response.body_mut().as_reader();
    read_bounded(reader, url, limit)
}

fn read_bounded(reader: impl Read, location: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
    let mut buf = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| SourceError::Io {
            location: location.to_string(),
            message: e.to_string(),
        })?;
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
    let mut stream = TcpStream::connect_timeout(&addr, options.connect_timeout)
        .map_err(|e| io(format!("connecting to proxy {addr_text}: {e}")))?;
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
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| io(e.to_string()))?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io(format!("malformed status line {:?}", line.trim_end())))?;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| io(e.to_string()))?;
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
    if started.elapsed() > options.overall_timeout {
        return Err(io("overall timeout exceeded".into()));
    }
    let body = if chunked {
        read_chunked(&mut reader, url, limit)?
    } else if let Some(len) = content_length {
        if len > limit {
            return Err(SourceError::TooLarge {
                location: url.to_string(),
                limit,
            });
        }
        let body = read_bounded(reader.by_ref().take(len), url, limit)?;
        if (body.len() as u64) < len {
            return Err(io(format!(
                "connection closed after {} of {len} bytes",
                body.len()
            )));
        }
        body
    } else {
        read_bounded(reader, url, limit)?
    };
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead, url: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
    let io = |message: String| SourceError::Io {
        location: url.to_string(),
        message,
    };
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| io(e.to_string()))?;
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
            .map_err(|e| io(e.to_string()))?;
        if (body.len() - start) as u64 != size {
            return Err(io("connection closed inside a chunk".into()));
        }
        line.clear();
        reader.read_line(&mut line).map_err(|e| io(e.to_string()))?;
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
