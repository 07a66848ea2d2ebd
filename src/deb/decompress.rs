//! Bounded decompression of Debian index files (`Packages.xz`, `.gz`, `.zst`,
//! uncompressed) and of pdiff patches.
//!
//! This module owns one rule: **the decompressed output is never larger than
//! the size the signed Release file declares for the uncompressed file.** The
//! caller passes that size as `limit`; producing a single byte more is
//! [`DecompressError::TooLarge`]. The check happens while decoding, so a
//! decompression bomb (a few KiB that inflate to many GiB) fails after at most
//! `limit` + one read buffer of output, and memory use stays at `limit` plus the
//! decoder's working set (bounded separately: [`XZ_MEMLIMIT`],
//! [`ZSTD_MAX_WINDOW`]).
//!
//! Formats and decoders:
//! - xz: `liblzma`. Debian's large `Packages.xz` files are written by
//!   multi-threaded `xz` and hold several independent blocks (bookworm
//!   main/amd64: 2 blocks of 24 MiB), which liblzma's threaded decoder decodes
//!   in parallel: 2 threads when the machine has 2 CPUs or more. A caller
//!   that checks the content's SHA-256 itself uses
//!   [`decompress_hash_checked`], which decodes such blocks on the rayon pool
//!   without their CRC64 ([`super::xz_blocks`]).
//!   [`decompress`], which sees the whole input, reads the block count from the
//!   xz index at the end and uses the plain single-threaded decoder for
//!   single-block files (the small suites), where the threaded one would only
//!   add thread start-up. The streaming [`decoder`] cannot look ahead and
//!   always uses the threaded decoder. Numbers: `benches/decompress.rs`.
//!   Concatenated streams and stream padding are accepted, as `xz -d` does.
//! - gzip: `flate2`'s multi-member decoder (concatenated members are legal
//!   gzip, and pdiff `.gz` files may be produced that way).
//! - zstd: `ruzstd` (pure Rust), frame by frame; several frames and skippable
//!   frames are accepted, the content checksum is verified when present.
//! - none: a copy, still bounded by `limit`.
//!
//! Errors distinguish input that stops early ([`DecompressError::Truncated`],
//! typically an interrupted download) from input that is damaged or not in the
//! claimed format ([`DecompressError::Corrupt`]).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use liblzma::stream::{Action, Error as LzmaError, MtStreamBuilder, Status, Stream};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// Maximum memory the xz decoder may use (dictionary plus, when threaded,
/// block buffers). Debian uses 8 MiB dictionaries; `xz -9` needs 65 MiB.
/// A stream that needs more is refused rather than allowed to allocate.
pub const XZ_MEMLIMIT: u64 = 1 << 30;

/// Largest zstd window accepted. `zstd -19` uses 8 MiB, `--ultra -22` and
/// `--long` 128 MiB; a frame asking for more is refused before allocating.
pub const ZSTD_MAX_WINDOW: u64 = 128 << 20;

/// Most output capacity reserved up front by [`decompress`]; larger outputs
/// grow the buffer as data actually arrives.
const MAX_PREALLOC: u64 = 512 << 20;

/// Size of the chunks [`decompress`] reads at a time.
const READ_CHUNK: usize = 256 << 10;

/// Threads for the xz decoder (when the machine has at least that many CPUs).
const XZ_THREADS: u32 = 2;

/// Compression format of an index file, as named by its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    None,
    /// `.xz` (LZMA2 in the xz container).
    Xz,
    /// `.gz` (deflate in gzip members).
    Gzip,
    /// `.zst` (Zstandard frames).
    Zstd,
}

impl Compression {
    /// The format a file name implies by its extension (`Packages.xz` -> xz).
    /// Anything without a known extension is [`Compression::None`].
    pub fn from_path(path: &str) -> Compression {
        if path.ends_with(".xz") {
            Compression::Xz
        } else if path.ends_with(".gz") {
            Compression::Gzip
        } else if path.ends_with(".zst") || path.ends_with(".zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The extension, with its leading dot, that Debian archives use for the
    /// format (`".xz"`, `".gz"`, `".zst"`; `""` for uncompressed), so that
    /// `format!("Packages{}", c.extension())` names the file.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Xz => ".xz",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// The order in which to pick among the variants a Release file lists,
    /// best first: `Xz, Zstd, Gzip, None`.
    ///
    /// The cost of a variant is transfer time plus decode time. Measured on
    /// bookworm main/amd64 `Packages` (50,060,337 bytes): the archive's
    /// `.xz` is 8,790,396 bytes, its `.gz` 12,084,798 (+37 %); `zstd -19`
    /// would be 9,107,417 (+3.6 %), `zstd -9` +20 %. Decoding it took, in
    /// the best runs of `benches/decompress.rs` on the shared 2-CPU
    /// development machine: xz (2 threads) 0.50-0.66 s, gzip 0.18-0.34 s,
    /// zstd (ruzstd, pure Rust) 0.52-0.54 s. gzip saves about 0.3 s of
    /// decoding but moves 3.3 MB more, so it is faster end to end only on
    /// links above roughly 80 Mbit/s. xz is chosen first: it moves the fewest
    /// bytes (what a mirror and metered links pay for) and it is the one
    /// variant every Debian suite publishes (the security suites list only
    /// `.xz`). ruzstd decodes no faster than xz and zstd files are larger, so
    /// zstd is second; gzip third; uncompressed last.
    pub fn preference_order() -> &'static [Compression] {
        &[
            Compression::Xz,
            Compression::Zstd,
            Compression::Gzip,
            Compression::None,
        ]
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why decompression failed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The data decompresses to more than `limit` bytes.
    #[error(
        "decompressed data is larger than the {limit} bytes the signed Release file declares; \
         the file is corrupt, a decompression bomb, or does not belong to this Release: re-fetch it \
         and check the mirror"
    )]
    TooLarge {
        /// The declared size that was exceeded.
        limit: u64,
    },
    /// The compressed data ends before the end of the compressed stream.
    #[error(
        "{format} data is truncated (it ends inside the compressed stream after {consumed} input \
         bytes); the download was probably interrupted: fetch the file again"
    )]
    Truncated {
        /// Format being decoded.
        format: Compression,
        /// Compressed bytes read before the data ran out.
        consumed: u64,
    },
    /// The data is damaged or not in the claimed format.
    #[error(
        "{format} data is corrupt ({detail}); fetch the file again, and check that its name \
         matches its format"
    )]
    Corrupt {
        /// Format being decoded.
        format: Compression,
        /// What the decoder reported.
        detail: String,
    },
    /// The data needs more decoder memory than this program allows.
    #[error(
        "{format} data needs more decoder memory than allowed ({detail}); refusing to decode it"
    )]
    ResourceLimit {
        /// Format being decoded.
        format: Compression,
        /// What limit was hit.
        detail: String,
    },
    /// Reading the compressed input itself failed.
    #[error("reading {format} input failed: {source}")]
    Io {
        /// Format being decoded.
        format: Compression,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl DecompressError {
    /// Recovers the [`DecompressError`] carried by an `io::Error` returned from a
    /// reader made by [`decoder`]. Errors that did not originate here become
    /// [`DecompressError::Io`] with the given format.
    pub fn from_io(err: io::Error, format: Compression) -> DecompressError {
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<DecompressError>())
        {
            match err
                .into_inner()
                .map(|inner| inner.downcast::<DecompressError>())
            {
                Some(Ok(e)) => *e,
                // Unreachable given the check above, but never panic.
                Some(Err(other)) => DecompressError::Io {
                    format,
                    source: io::Error::other(other),
                },
                None => DecompressError::Io {
                    format,
                    source: io::Error::other("decoder error without details"),
                },
            }
        } else {
            DecompressError::Io {
                format,
                source: err,
            }
        }
    }

    fn into_io(self) -> io::Error {
        let kind = match self {
            DecompressError::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            DecompressError::Io { ref source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// Decompresses `data` completely, refusing to produce more than `limit`
/// bytes. The result is exactly the decoded content; callers still verify its
/// size and hash against the Release entry.
pub fn decompress(
    data: &[u8],
    compression: Compression,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    if compression == Compression::None {
        if data.len() as u64 > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        return Ok(data.to_vec());
    }
    let mut reader = if compression == Compression::Xz {
        // Threads only pay off with several blocks to decode in parallel.
        let threads = if xz_block_count(data).is_some_and(|n| n <= 1) {
            1
        } else {
            xz_threads()
        };
        Box::new(Limited::new(
            XzReader::new(
                BufReader::with_capacity(1 << 16, Source::new(data, compression)),
                limit,
                threads,
            ),
            limit,
        )) as Box<dyn Read>
    } else {
        decoder(data, compression, limit)
    };
    read_bounded(&mut reader, limit).map_err(|e| DecompressError::from_io(e, compression))
}

/// [`decompress`] for a caller that verifies the decoded content against a
/// cryptographic hash itself (an index whose uncompressed SHA-256 the signed
/// Release lists). A multi-block xz stream is then decoded block by block in
/// parallel, without the blocks' own CRC64 checks
/// ([`super::xz_blocks`]); everything else goes through [`decompress`].
/// The `limit` rule holds either way: blocks recording more than `limit`
/// bytes in all are [`DecompressError::TooLarge`] before anything is decoded.
pub fn decompress_hash_checked(
    data: &[u8],
    compression: Compression,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    if compression == Compression::Xz
        && let Some(plan) = super::xz_blocks::plan(data)
    {
        if super::xz_blocks::total_len(&plan) as u64 > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        return super::xz_blocks::decode(data, &plan, limit).map_err(|e| {
            DecompressError::Corrupt {
                format: Compression::Xz,
                detail: e.to_string(),
            }
        });
    }
    decompress(data, compression, limit)
}

/// Reads `reader` to its end into a vector of at most `limit` bytes (the
/// reader made by [`decoder`] enforces the limit itself; this only avoids
/// over-allocating). Capacity for `min(limit, 512 MiB)` is reserved up front,
/// so the usual case, output exactly `limit` bytes, never reallocates.
fn read_bounded(reader: &mut dyn Read, limit: u64) -> io::Result<Vec<u8>> {
    let prealloc = usize::try_from(limit.min(MAX_PREALLOC)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::with_capacity(prealloc);
    loop {
        let len = out.len();
        let room_to_limit = limit.saturating_sub(len as u64);
        if room_to_limit == 0 {
            // At the limit: the stream must end here.
            let mut probe = [0u8; 1];
            match reader.read(&mut probe) {
                Ok(0) => return Ok(out),
                Ok(_) => return Err(DecompressError::TooLarge { limit }.into_io()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let want = usize::try_from(room_to_limit.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        if out.capacity() - len < want {
            // Past the preallocation: grow geometrically, never past the limit.
            let room = usize::try_from(room_to_limit).unwrap_or(usize::MAX);
            out.reserve_exact(len.max(want).min(room));
        }
        out.resize(len + want, 0);
        match reader.read(&mut out[len..]) {
            Ok(0) => {
                out.truncate(len);
                return Ok(out);
            }
            Ok(n) => out.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => out.truncate(len),
            Err(e) => return Err(e),
        }
    }
}

/// Wraps `reader` in a streaming decoder for `compression` whose output is
/// bounded by `limit`: a read that would deliver byte `limit + 1` fails with
/// an `io::Error` carrying [`DecompressError::TooLarge`]. All errors carry a
/// [`DecompressError`]; recover it with [`DecompressError::from_io`].
pub fn decoder<'a, R: Read + 'a>(
    reader: R,
    compression: Compression,
    limit: u64,
) -> Box<dyn Read + 'a> {
    let source = Source::new(reader, compression);
    match compression {
        Compression::None => Box::new(Limited::new(source, limit)),
        Compression::Xz => Box::new(Limited::new(
            XzReader::new(
                BufReader::with_capacity(1 << 16, source),
                limit,
                xz_threads(),
            ),
            limit,
        )),
        Compression::Gzip => Box::new(Limited::new(
            GzReader {
                inner: flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
                    1 << 16,
                    source,
                )),
                produced_any: false,
            },
            limit,
        )),
        Compression::Zstd => Box::new(Limited::new(
            ZstdReader::new(BufReader::with_capacity(1 << 16, source)),
            limit,
        )),
    }
}

/// The compressed input: counts bytes, remembers whether it ran dry, and tags
/// its own IO errors so they are not mistaken for decoder errors.
struct Source<R> {
    inner: R,
    format: Compression,
    consumed: u64,
    hit_eof: bool,
}

impl<R> Source<R> {
    fn new(inner: R, format: Compression) -> Self {
        Source {
            inner,
            format,
            consumed: 0,
            hit_eof: false,
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.hit_eof = true;
                Ok(0)
            }
            Ok(n) => {
                self.consumed += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(DecompressError::Io {
                format: self.format,
                source: e,
            }
            .into_io()),
        }
    }
}

/// Enforces the output limit on any decoder.
struct Limited<R> {
    inner: R,
    remaining: u64,
    limit: u64,
}

impl<R> Limited<R> {
    fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            remaining: limit,
            limit,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // At the limit: any further output is an error.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(DecompressError::TooLarge { limit: self.limit }.into_io()),
            };
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Maps an error of the gzip decoder to a [`DecompressError`]-carrying
/// `io::Error`: errors already tagged (source IO errors) pass through; flate2
/// reports input that ends early as `UnexpectedEof`, anything else is damage.
fn classify_gzip(err: io::Error, format: Compression, consumed: u64) -> io::Error {
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<DecompressError>())
    {
        return err;
    }
    if err.kind() == io::ErrorKind::UnexpectedEof {
        DecompressError::Truncated { format, consumed }.into_io()
    } else {
        DecompressError::Corrupt {
            format,
            detail: err.to_string(),
        }
        .into_io()
    }
}

// ---------------------------------------------------------------- gzip

struct GzReader<R: BufRead> {
    inner: flate2::bufread::MultiGzDecoder<R>,
    produced_any: bool,
}

impl<R: Read> Read for GzReader<BufReader<Source<R>>> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() && !self.produced_any => {
                // flate2 reports an empty input as an empty output; an empty
                // .gz file is not a valid gzip file.
                let src = self.inner.get_ref().get_ref();
                if src.consumed == 0 {
                    Err(DecompressError::Truncated {
                        format: Compression::Gzip,
                        consumed: 0,
                    }
                    .into_io())
                } else {
                    Ok(0)
                }
            }
            Ok(n) => {
                self.produced_any |= n > 0;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let src = self.inner.get_ref().get_ref();
                Err(classify_gzip(e, Compression::Gzip, src.consumed))
            }
        }
    }
}

// ---------------------------------------------------------------- xz

/// Threads for the xz decoder on this machine.
fn xz_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
        .min(XZ_THREADS)
}

/// Number of blocks in the (last) xz stream of `data`, read from its index
/// through the stream footer; None when the data does not end like an xz
/// stream (then the caller just decodes and reports what it finds).
fn xz_block_count(data: &[u8]) -> Option<u64> {
    // Stream padding: NUL bytes in multiples of four after the footer.
    let mut end = data.len();
    while end >= 4 && data.get(end - 4..end)? == [0, 0, 0, 0] {
        end -= 4;
    }
    let footer = data.get(end.checked_sub(12)?..end)?;
    if footer.get(10..12)? != b"YZ" {
        return None;
    }
    let backward = u32::from_le_bytes(footer.get(4..8)?.try_into().ok()?);
    let index_size = (usize::try_from(backward).ok()? + 1).checked_mul(4)?;
    let index_start = end.checked_sub(12)?.checked_sub(index_size)?;
    let index = data.get(index_start..)?;
    if *index.first()? != 0 {
        return None;
    }
    // Number of records: a variable-length integer of up to 9 bytes.
    let mut count = 0u64;
    for (i, &b) in index.get(1..10)?.iter().enumerate() {
        count |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(count);
        }
    }
    None
}

struct XzReader<R: Read> {
    src: BufReader<Source<R>>,
    stream: Option<Stream>,
    /// Output bound, used to size the threaded decoder's memory budget.
    limit: u64,
    /// Decoder threads; 1 selects the single-threaded decoder.
    threads: u32,
    /// At least one complete stream has been decoded.
    finished_one: bool,
    done: bool,
}

impl<R: Read> XzReader<R> {
    fn new(src: BufReader<Source<R>>, limit: u64, threads: u32) -> Self {
        XzReader {
            src,
            stream: None,
            limit,
            threads,
            finished_one: false,
            done: false,
        }
    }

    fn new_stream(&self) -> Result<Stream, DecompressError> {
        let made = if self.threads > 1 {
            // Threaded decoding keeps whole blocks in memory; allow that for
            // blocks up to the declared output size (plus working space) and
            // let liblzma fall back to one thread for anything larger, so a
            // lying block header cannot make it allocate.
            let threading_budget = self
                .limit
                .saturating_add(64 << 20)
                .clamp(64 << 20, XZ_MEMLIMIT);
            MtStreamBuilder::new()
                .threads(self.threads)
                .timeout_ms(0)
                .memlimit_threading(threading_budget)
                .memlimit_stop(XZ_MEMLIMIT)
                .decoder()
        } else {
            Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
        };
        made.map_err(|e| DecompressError::ResourceLimit {
            format: Compression::Xz,
            detail: format!("cannot initialise the xz decoder: {e}"),
        })
    }

    fn consumed(&self) -> u64 {
        // Bytes the decoder took = bytes read from the source minus those
        // still buffered.
        self.src.get_ref().consumed - self.src.buffer().len() as u64
    }

    /// Between streams: skips stream padding (NUL bytes) and reports whether
    /// another stream follows.
    fn another_stream_follows(&mut self) -> io::Result<bool> {
        loop {
            let input = self.src.fill_buf()?;
            if input.is_empty() {
                return Ok(false);
            }
            let zeros = input.iter().take_while(|&&b| b == 0).count();
            if zeros == 0 {
                return Ok(true);
            }
            self.src.consume(zeros);
        }
    }
}

impl<R: Read> Read for XzReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if self.stream.is_none() {
                if self.finished_one && !self.another_stream_follows()? {
                    self.done = true;
                    return Ok(0);
                }
                self.stream = Some(self.new_stream().map_err(DecompressError::into_io)?);
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let input = self.src.fill_buf()?;
            let eof = input.is_empty();
            let (before_in, before_out) = (stream.total_in(), stream.total_out());
            let ret = stream.process(input, buf, if eof { Action::Finish } else { Action::Run });
            let consumed = (stream.total_in() - before_in) as usize;
            let produced = (stream.total_out() - before_out) as usize;
            self.src.consume(consumed);
            match ret {
                Ok(Status::StreamEnd) => {
                    self.stream = None;
                    self.finished_one = true;
                    if produced > 0 {
                        return Ok(produced);
                    }
                }
                Ok(_) => {
                    if produced > 0 {
                        return Ok(produced);
                    }
                    if eof {
                        return Err(DecompressError::Truncated {
                            format: Compression::Xz,
                            consumed: self.consumed(),
                        }
                        .into_io());
                    }
                    if consumed == 0 {
                        return Err(DecompressError::Corrupt {
                            format: Compression::Xz,
                            detail: "the decoder made no progress".to_string(),
                        }
                        .into_io());
                    }
                }
                Err(e) => return Err(lzma_error(e).into_io()),
            }
        }
    }
}

fn lzma_error(e: LzmaError) -> DecompressError {
    match e {
        LzmaError::MemLimit | LzmaError::Mem => DecompressError::ResourceLimit {
            format: Compression::Xz,
            detail: format!("{e} (limit {} MiB)", XZ_MEMLIMIT >> 20),
        },
        LzmaError::Format => DecompressError::Corrupt {
            format: Compression::Xz,
            detail: "not an xz stream (bad magic or header)".to_string(),
        },
        other => DecompressError::Corrupt {
            format: Compression::Xz,
            detail: other.to_string(),
        },
    }
}

// ---------------------------------------------------------------- zstd

struct ZstdReader<R: Read> {
    src: BufReader<Source<R>>,
    frame: FrameDecoder,
    in_frame: bool,
    frames_seen: u64,
    done: bool,
}

impl<R: Read> ZstdReader<R> {
    fn new(src: BufReader<Source<R>>) -> Self {
        let mut frame = FrameDecoder::new();
        // The window is reserved when a frame starts; encoders choose it from
        // their level, not from the content size (`zstd -19` on a pipe uses
        // 8 MiB even for 1 KiB), so it cannot be derived from `limit`.
        frame.set_max_window_size(ZSTD_MAX_WINDOW);
        ZstdReader {
            src,
            frame,
            in_frame: false,
            frames_seen: 0,
            done: false,
        }
    }

    fn consumed(&self) -> u64 {
        self.src.get_ref().consumed - self.src.buffer().len() as u64
    }

    fn error(&self, e: FrameDecoderError) -> io::Error {
        let hit_eof = self.src.get_ref().hit_eof && self.src.buffer().is_empty();
        if hit_eof {
            DecompressError::Truncated {
                format: Compression::Zstd,
                consumed: self.consumed(),
            }
            .into_io()
        } else if let FrameDecoderError::WindowSizeTooBig { requested, max } = e {
            DecompressError::ResourceLimit {
                format: Compression::Zstd,
                detail: format!("frame window of {requested} bytes exceeds {max}"),
            }
            .into_io()
        } else {
            DecompressError::Corrupt {
                format: Compression::Zstd,
                detail: e.to_string(),
            }
            .into_io()
        }
    }

    /// Starts the next frame, skipping skippable frames. Returns false at the
    /// clean end of the input.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.src.fill_buf()?.is_empty() {
                if self.frames_seen == 0 {
                    return Err(DecompressError::Truncated {
                        format: Compression::Zstd,
                        consumed: 0,
                    }
                    .into_io());
                }
                return Ok(false);
            }
            match self.frame.reset(&mut self.src) {
                Ok(()) => {
                    self.frames_seen += 1;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    self.frames_seen += 1;
                    let skipped = io::copy(
                        &mut (&mut self.src).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(DecompressError::Truncated {
                            format: Compression::Zstd,
                            consumed: self.consumed(),
                        }
                        .into_io());
                    }
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    fn verify_checksum(&self) -> io::Result<()> {
        if let (Some(stored), Some(computed)) = (
            self.frame.get_checksum_from_data(),
            self.frame.get_calculated_checksum(),
        ) && stored != computed
        {
            return Err(DecompressError::Corrupt {
                format: Compression::Zstd,
                detail: format!(
                    "content checksum mismatch (frame says {stored:08x}, data gives {computed:08x})"
                ),
            }
            .into_io());
        }
        Ok(())
    }
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if !self.in_frame {
                if !self.start_frame()? {
                    self.done = true;
                    return Ok(0);
                }
                self.in_frame = true;
            }
            if self.frame.can_collect() > 0 {
                return self.frame.read(buf);
            }
            if self.frame.is_finished() {
                self.verify_checksum()?;
                self.in_frame = false;
                continue;
            }
            if let Err(e) = self
                .frame
                .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
            {
                return Err(self.error(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::hash::Sha256Digest;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn testdata(rel: &str) -> String {
        format!("{}/testdata/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    fn sample_text() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..3_000u32 {
            text.extend_from_slice(
                format!(
                    "Package: pkg{i}\nVersion: 1.{i}-{}\nArchitecture: amd64\n\n",
                    i % 7
                )
                .as_bytes(),
            );
        }
        text
    }

    /// Runs `cmd args` with `input` on stdin and returns stdout, or None when
    /// the tool is not installed.
    fn run_filter(cmd: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
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
        assert!(out.status.success(), "{cmd} {args:?} failed");
        Some(out.stdout)
    }

    fn xz_lib(data: &[u8], level: u32) -> Vec<u8> {
        let mut out = Vec::new();
        liblzma::read::XzEncoder::new(data, level)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn gzip_lib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn format_names_and_order() {
        assert_eq!(
            Compression::from_path("main/binary-amd64/Packages.xz"),
            Compression::Xz
        );
        assert_eq!(Compression::from_path("Packages.gz"), Compression::Gzip);
        assert_eq!(Compression::from_path("Packages.zst"), Compression::Zstd);
        assert_eq!(
            Compression::from_path("main/binary-amd64/Packages"),
            Compression::None
        );
        assert_eq!(Compression::from_path("Release.gpg"), Compression::None);
        for c in Compression::preference_order() {
            assert_eq!(
                Compression::from_path(&format!("Packages{}", c.extension())),
                *c
            );
        }
        assert_eq!(Compression::preference_order()[0], Compression::Xz);
        assert_eq!(Compression::Xz.to_string(), "xz");
    }

    #[test]
    fn round_trips_with_library_encoders() {
        let text = sample_text();
        let limit = text.len() as u64;
        assert_eq!(
            decompress(&xz_lib(&text, 6), Compression::Xz, limit).unwrap(),
            text
        );
        assert_eq!(
            decompress(&gzip_lib(&text), Compression::Gzip, limit).unwrap(),
            text
        );
        let zst = ruzstd::encoding::compress_to_vec(
            &text[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(decompress(&zst, Compression::Zstd, limit).unwrap(), text);
        assert_eq!(decompress(&text, Compression::None, limit).unwrap(), text);
        // The declared size is preallocated exactly: no reallocation, no slack.
        let out = decompress(&gzip_lib(&text), Compression::Gzip, limit).unwrap();
        assert_eq!(out.capacity(), text.len());
        // A limit above the real size is only an upper bound.
        assert_eq!(
            decompress(&xz_lib(&text, 1), Compression::Xz, limit * 3).unwrap(),
            text
        );
        // Exactly at the limit is fine, one byte less is not.
        for (data, c) in [
            (xz_lib(&text, 1), Compression::Xz),
            (gzip_lib(&text), Compression::Gzip),
            (zst.clone(), Compression::Zstd),
            (text.clone(), Compression::None),
        ] {
            match decompress(&data, c, limit - 1) {
                Err(DecompressError::TooLarge { limit: l }) => assert_eq!(l, limit - 1),
                other => panic!("{c}: expected TooLarge, got {other:?}"),
            }
        }
        // Empty content round-trips too.
        assert_eq!(
            decompress(&xz_lib(b"", 6), Compression::Xz, 0).unwrap(),
            b""
        );
        assert_eq!(
            decompress(&gzip_lib(b""), Compression::Gzip, 0).unwrap(),
            b""
        );
    }

    #[test]
    fn round_trips_with_command_line_tools() {
        let text = sample_text();
        let limit = text.len() as u64;
        let mut tried = 0;
        for (cmd, args, c) in [
            ("xz", &["-c", "-6"][..], Compression::Xz),
            (
                "xz",
                &["-c", "-T2", "--block-size=100000"][..],
                Compression::Xz,
            ),
            ("gzip", &["-c", "-9n"][..], Compression::Gzip),
            ("zstd", &["-c", "-q", "-19"][..], Compression::Zstd),
            (
                "zstd",
                &["-c", "-q", "--no-check", "-3"][..],
                Compression::Zstd,
            ),
        ] {
            let Some(packed) = run_filter(cmd, args, &text) else {
                eprintln!("{cmd} not installed; skipped");
                continue;
            };
            tried += 1;
            assert_eq!(
                decompress(&packed, c, limit).unwrap(),
                text,
                "{cmd} {args:?}"
            );
            // Streaming read in small pieces gives the same bytes.
            let mut r = decoder(&packed[..], c, limit);
            let mut out = Vec::new();
            let mut piece = [0u8; 777];
            loop {
                let n = r.read(&mut piece).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&piece[..n]);
            }
            assert_eq!(out, text, "{cmd} {args:?} streaming");
        }
        assert!(tried >= 3, "xz and gzip are required on the test machine");
    }

    #[test]
    fn real_packages_xz_matches_inrelease() {
        let xz = std::fs::read(testdata(
            "mirror/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz",
        ))
        .unwrap();
        let inrelease =
            std::fs::read_to_string(testdata("mirror/debian/dists/bookworm-updates/InRelease"))
                .unwrap();
        // The SHA256 section lists "<hash> <size> main/binary-amd64/Packages".
        let sha_section = inrelease.split("SHA256:").nth(1).unwrap();
        let line = sha_section
            .lines()
            .find(|l| l.ends_with(" main/binary-amd64/Packages"))
            .unwrap();
        let mut fields = line.split_whitespace();
        let hash = Sha256Digest::from_hex(fields.next().unwrap()).unwrap();
        let size: u64 = fields.next().unwrap().parse().unwrap();

        let out = decompress(&xz, Compression::Xz, size).unwrap();
        assert_eq!(out.len() as u64, size);
        assert_eq!(Sha256Digest::of(&out), hash);
        assert!(out.starts_with(b"Package: "));
        match decompress(&xz, Compression::Xz, size - 1) {
            Err(DecompressError::TooLarge { .. }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn xz_block_count_reads_the_index() {
        let dists = testdata("mirror/debian/dists");
        for (suite, blocks) in [("bookworm", 2), ("trixie", 3), ("bookworm-updates", 1)] {
            let xz =
                std::fs::read(format!("{dists}/{suite}/main/binary-amd64/Packages.xz")).unwrap();
            assert_eq!(xz_block_count(&xz), Some(blocks), "{suite}");
            // Trailing stream padding is skipped.
            let mut padded = xz.clone();
            padded.extend_from_slice(&[0; 8]);
            assert_eq!(xz_block_count(&padded), Some(blocks), "{suite} padded");
            assert_eq!(xz_block_count(&xz[..xz.len() - 1]), None);
        }
        assert_eq!(xz_block_count(b""), None);
        assert_eq!(xz_block_count(b"YZ"), None);
        assert_eq!(xz_block_count(&[0xff; 64]), None);
    }

    #[test]
    fn hash_checked_decoding_matches_and_keeps_the_limit() {
        let xz = std::fs::read(testdata(
            "mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz",
        ))
        .unwrap();
        let size = 50_060_337;
        let parallel = decompress_hash_checked(&xz, Compression::Xz, size).unwrap();
        assert_eq!(parallel, decompress(&xz, Compression::Xz, size).unwrap());
        assert!(matches!(
            decompress_hash_checked(&xz, Compression::Xz, size - 1),
            Err(DecompressError::TooLarge { .. })
        ));
        // Not xz, or a single block: the ordinary decoder.
        let text = sample_text();
        let one_block = xz_lib(&text, 6);
        assert_eq!(
            decompress_hash_checked(&one_block, Compression::Xz, 1 << 20).unwrap(),
            text
        );
        assert_eq!(
            decompress_hash_checked(&gzip_lib(&text), Compression::Gzip, 1 << 20).unwrap(),
            text
        );
    }

    #[test]
    fn real_multi_block_packages_xz_decodes() {
        let path = testdata("mirror/debian/dists/bookworm/main/binary-amd64/Packages.xz");
        let xz = std::fs::read(path).unwrap();
        let inrelease =
            std::fs::read_to_string(testdata("mirror/debian/dists/bookworm/InRelease")).unwrap();
        let sha_section = inrelease.split("SHA256:").nth(1).unwrap();
        let line = sha_section
            .lines()
            .find(|l| l.ends_with(" main/binary-amd64/Packages"))
            .unwrap();
        let mut fields = line.split_whitespace();
        let hash = Sha256Digest::from_hex(fields.next().unwrap()).unwrap();
        let size: u64 = fields.next().unwrap().parse().unwrap();
        let out = decompress(&xz, Compression::Xz, size).unwrap();
        assert_eq!(out.len() as u64, size);
        assert_eq!(Sha256Digest::of(&out), hash);
    }

    /// A reader producing `n` zero bytes without holding them in memory.
    struct Zeros(u64);
    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = usize::try_from(self.0).unwrap_or(usize::MAX).min(buf.len());
            buf[..n].fill(0);
            self.0 -= n as u64;
            Ok(n)
        }
    }

    const GIB: u64 = 1 << 30;

    fn crc32(data: &[u8]) -> [u8; 4] {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum().to_le_bytes()
    }

    fn vli(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    /// An .xz file holding at least `total` zero bytes, built from one
    /// self-contained LZMA2 chunk repeated (encoding 1 GiB for real takes far
    /// too long in a test). With `sizes`, the block header declares its sizes,
    /// which is what lets the threaded decoder plan whole-block buffers.
    /// Returns the file and the exact number of zeros it decodes to.
    fn xz_zero_bomb(total: u64, sizes: bool) -> (Vec<u8>, u64) {
        const CHUNK: u64 = 1 << 21;
        let mut opts = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
        opts.dict_size(1 << 20);
        let mut filters = liblzma::stream::Filters::new();
        filters.lzma2(&opts);
        let mut enc = Stream::new_raw_encoder(&filters).unwrap();
        let mut raw = Vec::with_capacity(1 << 16);
        let zeros = vec![0u8; CHUNK as usize];
        let mut consumed = 0;
        loop {
            let before = enc.total_in();
            let st = enc
                .process_vec(&zeros[consumed..], &mut raw, Action::Finish)
                .unwrap();
            consumed += (enc.total_in() - before) as usize;
            if st == Status::StreamEnd {
                break;
            }
            raw.reserve(1 << 16);
        }
        // The first chunk: [control, unpacked size, packed size, props, data].
        // Control 0xE0 | size bits = dictionary reset + state reset + props,
        // so the chunk decodes on its own and can be repeated.
        assert_eq!(
            raw[0] & 0xE0,
            0xE0,
            "first LZMA2 chunk resets dictionary and state"
        );
        let unpacked =
            ((u64::from(raw[0] & 0x1F) << 16) | (u64::from(raw[1]) << 8) | u64::from(raw[2])) + 1;
        let packed = ((usize::from(raw[3]) << 8) | usize::from(raw[4])) + 1;
        let chunk = &raw[..6 + packed];
        let chunks = total.div_ceil(unpacked);

        let mut data = Vec::with_capacity(chunk.len() * chunks as usize + 64);
        for _ in 0..chunks {
            data.extend_from_slice(chunk);
        }
        data.push(0x00);

        let mut out = vec![0xFD, b'7', b'z', b'X', b'Z', 0x00, 0x00, 0x00];
        out.extend_from_slice(&crc32(&[0x00, 0x00]));
        let mut header = vec![0u8, if sizes { 0xC0 } else { 0x00 }];
        if sizes {
            vli(data.len() as u64, &mut header);
            vli(chunks * unpacked, &mut header);
        }
        // LZMA2 filter, 1 property byte: dictionary size 1 MiB = 2^20 -> 8.
        header.extend_from_slice(&[0x21, 0x01, 8]);
        while (header.len() + 4) % 4 != 0 {
            header.push(0);
        }
        header[0] = ((header.len() + 4) / 4 - 1) as u8;
        let crc = crc32(&header);
        header.extend_from_slice(&crc);
        let unpadded = (header.len() + data.len()) as u64;
        out.extend_from_slice(&header);
        out.extend_from_slice(&data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        let mut index = vec![0x00];
        vli(1, &mut index);
        vli(unpadded, &mut index);
        vli(chunks * unpacked, &mut index);
        while index.len() % 4 != 0 {
            index.push(0);
        }
        let crc = crc32(&index);
        index.extend_from_slice(&crc);
        out.extend_from_slice(&index);
        let mut footer_body = ((index.len() / 4 - 1) as u32).to_le_bytes().to_vec();
        footer_body.extend_from_slice(&[0x00, 0x00]);
        out.extend_from_slice(&crc32(&footer_body));
        out.extend_from_slice(&footer_body);
        out.extend_from_slice(b"YZ");
        (out, chunks * unpacked)
    }

    /// A single gzip member inflating to about `mib` MiB of zeros, built by
    /// repeating one byte-aligned deflate segment (every segment only refers
    /// back to zeros). The trailer is not computed: decoding must stop at the
    /// limit long before it is read.
    fn gzip_zero_bomb(mib: usize) -> Vec<u8> {
        use flate2::{Compress, FlushCompress};
        let mut c = Compress::new(flate2::Compression::best(), false);
        let zeros = vec![0u8; 1 << 20];
        let mut deflate = |input: &[u8], flush| {
            let mut out = Vec::with_capacity(1 << 16);
            let mut pos = 0;
            loop {
                let before = c.total_in();
                c.compress_vec(&input[pos..], &mut out, flush).unwrap();
                pos += (c.total_in() - before) as usize;
                if pos == input.len() && out.len() < out.capacity() {
                    return out;
                }
                out.reserve(1 << 16);
            }
        };
        let first = deflate(&zeros[..1 << 16], FlushCompress::Sync);
        let segment = deflate(&zeros, FlushCompress::Sync);
        let last = deflate(&[], FlushCompress::Finish);
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend_from_slice(&first);
        for _ in 0..mib {
            out.extend_from_slice(&segment);
        }
        out.extend_from_slice(&last);
        out.extend_from_slice(&[0; 8]);
        out
    }

    #[test]
    fn hand_built_bombs_are_well_formed() {
        // Small versions of the bombs decode to exactly the zeros they claim,
        // so the big ones below are real bombs and not merely corrupt data.
        for sizes in [false, true] {
            let (xz, size) = xz_zero_bomb(4 << 20, sizes);
            let out = decompress(&xz, Compression::Xz, size).unwrap();
            assert_eq!(out.len() as u64, size);
            assert!(out.iter().all(|&b| b == 0));
            if let Some(cli) = run_filter("xz", &["-dc"], &xz) {
                assert_eq!(cli, out);
            }
        }
        let gz = gzip_zero_bomb(3);
        let mut inflated = Vec::new();
        let err = flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut inflated)
            .unwrap_err();
        // Only the (deliberately uncomputed) trailer is wrong.
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(inflated.len(), (3 << 20) + (1 << 16));
    }

    #[test]
    fn bombs_fail_fast_without_allocating() {
        let (xz, _) = xz_zero_bomb(GIB, false);
        let (xz_sized, _) = xz_zero_bomb(GIB, true);
        let gz = gzip_zero_bomb(1024);
        assert!(xz.len() < 1 << 20 && gz.len() < 8 << 20);

        let limit = 1 << 20;
        for (data, c) in [
            (&xz, Compression::Xz),
            (&xz_sized, Compression::Xz),
            (&gz, Compression::Gzip),
        ] {
            let start = std::time::Instant::now();
            match decompress(data, c, limit) {
                Err(DecompressError::TooLarge { limit: l }) => assert_eq!(l, limit),
                other => panic!("{c}: expected TooLarge, got {other:?}"),
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{c}: bomb was not stopped early"
            );
            // The streaming reader stops at the same point.
            let mut r = decoder(&data[..], c, limit);
            let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
            assert!(matches!(
                DecompressError::from_io(err, c),
                DecompressError::TooLarge { .. }
            ));
        }
    }

    /// A zstd frame of `blocks` RLE blocks of 128 KiB zeros each (RLE blocks
    /// are part of the format: one byte repeated; 4 bytes per 128 KiB).
    fn zstd_zero_bomb(blocks: u64) -> Vec<u8> {
        const BLOCK: u32 = 128 << 10;
        // Magic, descriptor (no content size, no checksum), 1 MiB window.
        let mut out = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x50];
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = last | (1 << 1) | (BLOCK << 3);
            out.extend_from_slice(&header.to_le_bytes()[..3]);
            out.push(0);
        }
        out
    }

    #[test]
    fn zstd_bomb_is_stopped() {
        // Well-formed: a small one decodes to its zeros (and agrees with the
        // zstd tool when installed).
        let small = zstd_zero_bomb(5);
        let out = decompress(&small, Compression::Zstd, 5 << 17).unwrap();
        assert_eq!(out, vec![0u8; 5 << 17]);
        if let Some(cli) = run_filter("zstd", &["-dcq"], &small) {
            assert_eq!(cli, out);
        }
        // 1 GiB in 32 KiB of input.
        let bomb = zstd_zero_bomb(GIB >> 17);
        assert!(bomb.len() < 40 << 10);
        let start = std::time::Instant::now();
        match decompress(&bomb, Compression::Zstd, 1 << 20) {
            Err(DecompressError::TooLarge { limit }) => assert_eq!(limit, 1 << 20),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn gzip_multi_member_is_concatenated() {
        let mut data = gzip_lib(b"Package: a\n\n");
        data.extend(gzip_lib(b"Package: b\n\n"));
        data.extend(gzip_lib(b""));
        data.extend(gzip_lib(b"Package: c\n"));
        let out = decompress(&data, Compression::Gzip, 100).unwrap();
        assert_eq!(out, b"Package: a\n\nPackage: b\n\nPackage: c\n");
    }

    #[test]
    fn gzip_member_bomb_is_stopped() {
        // 2000 members of 1 MiB of zeros each: 2 GiB in total, 2 MiB
        // compressed. The limit stops it after the first few members.
        let one = {
            let mut e = flate2::read::GzEncoder::new(Zeros(1 << 20), flate2::Compression::best());
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            v
        };
        let data: Vec<u8> = one.iter().copied().cycle().take(one.len() * 2000).collect();
        let start = std::time::Instant::now();
        match decompress(&data, Compression::Gzip, 3 << 20) {
            Err(DecompressError::TooLarge { .. }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn truncated_and_corrupt_inputs_are_distinguished() {
        let text = sample_text();
        let limit = text.len() as u64;
        let zst = ruzstd::encoding::compress_to_vec(
            &text[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (data, c) in [
            (xz_lib(&text, 6), Compression::Xz),
            (gzip_lib(&text), Compression::Gzip),
            (zst, Compression::Zstd),
        ] {
            for cut in [data.len() / 2, data.len() - 1, 3] {
                match decompress(&data[..cut], c, limit) {
                    Err(DecompressError::Truncated { format, .. }) => assert_eq!(format, c),
                    other => panic!("{c} cut at {cut}: expected Truncated, got {other:?}"),
                }
            }
            match decompress(&[], c, limit) {
                Err(DecompressError::Truncated { .. }) => {}
                other => panic!("{c} empty: expected Truncated, got {other:?}"),
            }
            // Flip bits in the middle: damaged, not truncated.
            let mut bad = data.clone();
            let mid = bad.len() / 2;
            for b in &mut bad[mid..mid + 16] {
                *b ^= 0x5a;
            }
            match decompress(&bad, c, limit) {
                Err(DecompressError::Corrupt { format, .. }) => assert_eq!(format, c),
                // A flipped bit can also make the stream look longer than
                // it is (then it ends early) or inflate past the limit;
                // both are errors, which is what matters.
                Err(DecompressError::Truncated { .. } | DecompressError::TooLarge { .. }) => {}
                other => panic!("{c} damaged: expected an error, got {other:?}"),
            }
            // Not this format at all.
            match decompress(b"Package: foo\nVersion: 1\n\n", c, limit) {
                Err(DecompressError::Corrupt { .. }) => {}
                other => panic!("{c} plain text: expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn xz_concatenated_streams_and_padding() {
        let mut data = xz_lib(b"first\n", 1);
        data.extend_from_slice(&[0, 0, 0, 0]);
        data.extend(xz_lib(b"second\n", 1));
        assert_eq!(
            decompress(&data, Compression::Xz, 100).unwrap(),
            b"first\nsecond\n"
        );
        // Garbage after a valid stream is an error, not silently ignored.
        let mut data = xz_lib(b"first\n", 1);
        data.extend_from_slice(b"this is not another xz stream");
        assert!(matches!(
            decompress(&data, Compression::Xz, 100),
            Err(DecompressError::Corrupt { .. })
        ));
    }

    #[test]
    fn zstd_multiple_and_skippable_frames() {
        let mut data = ruzstd::encoding::compress_to_vec(
            &b"one\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        // Skippable frame: magic 0x184D2A50, length 3, payload.
        data.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        data.extend_from_slice(b"xyz");
        data.extend(ruzstd::encoding::compress_to_vec(
            &b"two\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        assert_eq!(
            decompress(&data, Compression::Zstd, 100).unwrap(),
            b"one\ntwo\n"
        );
    }

    #[test]
    fn source_io_errors_are_reported_as_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer reset"))
            }
        }
        for c in [
            Compression::Xz,
            Compression::Gzip,
            Compression::Zstd,
            Compression::None,
        ] {
            let mut r = decoder(Failing, c, 10);
            let err = r.read(&mut [0u8; 16]).unwrap_err();
            match DecompressError::from_io(err, c) {
                DecompressError::Io { source, .. } => {
                    assert_eq!(source.kind(), io::ErrorKind::ConnectionReset)
                }
                other => panic!("{c}: expected Io, got {other:?}"),
            }
        }
    }
}
