//! Parallel decoding of the blocks of one xz stream, for content whose
//! SHA-256 the caller checks afterwards.
//!
//! Debian's large `Packages.xz` files are written by multi-threaded `xz`:
//! one stream of independent 24 MiB blocks, each LZMA2 with its compressed
//! and uncompressed size recorded in the stream's index. [`plan`] reads that
//! index (from the end of the file) and the block headers, and [`decode`]
//! decodes every block with liblzma's raw LZMA2 decoder on the rayon pool,
//! straight into its own slice of one output buffer.
//!
//! Compared with liblzma's threaded stream decoder this skips the per-block
//! integrity check (CRC64) and the copy out of the decoder's block buffers,
//! and it shares the rayon threads with the rest of a sync instead of
//! starting its own. Skipping the check is only sound because the callers
//! verify the decoded content against the SHA-256 that the signed Release
//! lists ([`super::decompress::decompress_hash_checked`]).
//!
//! Anything this module does not recognise — several streams, filters other
//! than a single LZMA2, sizes missing from a block header, an unknown check
//! type, a dictionary over [`MAX_DICT`], blocks that do not tile the stream
//! exactly — makes [`plan`] return `None`, and the caller uses the ordinary
//! stream decoder, which validates everything and reports what is wrong.

use liblzma::stream::{Action, Filters, Status, Stream};
use rayon::prelude::*;
use std::ops::Range;

/// Largest LZMA2 dictionary decoded here (`xz -9` uses 64 MiB; Debian uses
/// 8 MiB). A block asking for more goes to the stream decoder, whose memory
/// limit then applies.
pub const MAX_DICT: u64 = 64 << 20;

const HEADER_MAGIC: &[u8; 6] = b"\xfd7zXZ\0";
const FOOTER_MAGIC: &[u8; 2] = b"YZ";
const LZMA2_FILTER: u64 = 0x21;

/// One block: where its LZMA2 data is, its dictionary property byte, and
/// where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub input: Range<usize>,
    pub dict_property: u8,
    pub output: Range<usize>,
}

/// The blocks of `data` when it is exactly one xz stream of LZMA2 blocks
/// with all sizes recorded, at least two of them (one block gains nothing
/// from parallel decoding); `None` otherwise.
pub fn plan(data: &[u8]) -> Option<Vec<Block>> {
    let header = data.get(..12)?;
    if &header[..6] != HEADER_MAGIC || header[6] != 0 {
        return None;
    }
    let check_len = match header[7] {
        0x00 => 0,
        0x01 => 4,
        0x04 => 8,
        0x0a => 32,
        _ => return None,
    };
    // No stream padding or second stream: the footer ends the data.
    let footer = data.get(data.len().checked_sub(12)?..)?;
    if &footer[10..12] != FOOTER_MAGIC || footer[8..10] != header[6..8] {
        return None;
    }
    let backward = u32::from_le_bytes(footer[4..8].try_into().ok()?);
    let index_size = (usize::try_from(backward).ok()? + 1).checked_mul(4)?;
    let index_start = data.len().checked_sub(12)?.checked_sub(index_size)?;
    let index = data.get(index_start..data.len() - 12)?;
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let count = take_vli(&mut rest)?;
    // Each record takes at least two bytes of the index.
    if count < 2 || count > (rest.len() / 2) as u64 {
        return None;
    }
    let mut blocks = Vec::with_capacity(usize::try_from(count).ok()?);
    let (mut at, mut out) = (12usize, 0usize);
    for _ in 0..count {
        let unpadded = usize::try_from(take_vli(&mut rest)?).ok()?;
        let uncompressed = usize::try_from(take_vli(&mut rest)?).ok()?;
        let block = data.get(at..at.checked_add(unpadded)?)?;
        let (input, dict_property) = block_data(block, check_len, uncompressed)?;
        blocks.push(Block {
            input: at + input.start..at + input.end,
            dict_property,
            output: out..out.checked_add(uncompressed)?,
        });
        out += uncompressed;
        at = at.checked_add(unpadded.checked_next_multiple_of(4)?)?;
    }
    // The blocks tile the stream up to the index exactly.
    (at == index_start).then_some(blocks)
}

/// The LZMA2 data range (within `block`) and dictionary property of one
/// block, from its header; `None` unless it is a single LZMA2 filter with
/// both sizes recorded and matching the index.
fn block_data(block: &[u8], check_len: usize, uncompressed: usize) -> Option<(Range<usize>, u8)> {
    let header_len = (usize::from(*block.first()?) + 1) * 4;
    if header_len == 4 {
        // 0x00 is the index indicator, not a block header.
        return None;
    }
    let header = block.get(..header_len)?;
    let flags = header[1];
    // One filter, both sizes present, reserved bits clear.
    if flags != 0xc0 {
        return None;
    }
    let mut rest = header.get(2..header_len - 4)?;
    let compressed = usize::try_from(take_vli(&mut rest)?).ok()?;
    if usize::try_from(take_vli(&mut rest)?).ok()? != uncompressed {
        return None;
    }
    if take_vli(&mut rest)? != LZMA2_FILTER || take_vli(&mut rest)? != 1 {
        return None;
    }
    let (&dict_property, padding) = rest.split_first()?;
    if padding.iter().any(|&b| b != 0) || lzma2_dict_size(dict_property)? > MAX_DICT {
        return None;
    }
    let end = header_len.checked_add(compressed)?;
    // The data is followed by the check and nothing else.
    (end.checked_add(check_len)? == block.len()).then_some((header_len..end, dict_property))
}

/// Dictionary size of an LZMA2 property byte (xz's encoding: 2 or 3 times a
/// power of two; 40 means 4 GiB - 1).
fn lzma2_dict_size(property: u8) -> Option<u64> {
    match property {
        0..=39 => Some((2 | u64::from(property & 1)) << (property / 2 + 11)),
        40 => Some(u64::from(u32::MAX)),
        _ => None,
    }
}

/// xz's variable-length integer: 7 bits per byte, at most 9 bytes, no
/// superfluous trailing zero byte.
fn take_vli(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (i == 0 || b != 0).then_some(value);
        }
    }
    None
}

/// Why a planned block did not decode to its recorded size.
#[derive(Debug, thiserror::Error)]
#[error("block {block} (input bytes {start}..{end}): {detail}")]
pub struct BlockError {
    pub block: usize,
    pub start: usize,
    pub end: usize,
    pub detail: String,
}

/// The total decoded size of a plan.
pub fn total_len(plan: &[Block]) -> usize {
    plan.last().map_or(0, |b| b.output.end)
}

/// Decodes the blocks of `plan` (made from `data`) in parallel into one
/// buffer of their total size, which must be at most `limit` (checked
/// before anything is allocated). Each block must consume exactly its
/// input and produce exactly its recorded output.
pub fn decode(data: &[u8], plan: &[Block], limit: u64) -> Result<Vec<u8>, BlockError> {
    let total = total_len(plan);
    if total as u64 > limit {
        return Err(BlockError {
            block: 0,
            start: 0,
            end: data.len(),
            detail: format!("the blocks record {total} bytes in all, over the limit of {limit}"),
        });
    }
    let mut out = vec![0u8; total];
    let mut slices = Vec::with_capacity(plan.len());
    let mut rest = out.as_mut_slice();
    for block in plan {
        let (head, tail) = rest.split_at_mut(block.output.len());
        slices.push((block, head));
        rest = tail;
    }
    slices
        .into_par_iter()
        .enumerate()
        .try_for_each(|(i, (block, output))| decode_block(data, block, output, i))?;
    Ok(out)
}

fn decode_block(data: &[u8], block: &Block, out: &mut [u8], i: usize) -> Result<(), BlockError> {
    let fail = |detail: String| BlockError {
        block: i,
        start: block.input.start,
        end: block.input.end,
        detail,
    };
    let input = data
        .get(block.input.clone())
        .ok_or_else(|| fail("outside the file".into()))?;
    let mut filters = Filters::new();
    filters
        .lzma2_properties(&[block.dict_property])
        .map_err(|e| fail(format!("LZMA2 properties: {e}")))?;
    let mut stream =
        Stream::new_raw_decoder(&filters).map_err(|e| fail(format!("LZMA2 decoder: {e}")))?;
    // The end marker produces no output: once the output is full, one more
    // call (with no room) consumes it.
    for _ in 0..3 {
        let (read, written) = (stream.total_in() as usize, stream.total_out() as usize);
        let status = stream
            .process(
                input.get(read..).unwrap_or_default(),
                out.get_mut(written..).unwrap_or_default(),
                Action::Finish,
            )
            .map_err(|e| fail(format!("corrupt LZMA2 data: {e}")))?;
        let (read, written) = (stream.total_in() as usize, stream.total_out() as usize);
        if status == Status::StreamEnd {
            return if read == input.len() && written == out.len() {
                Ok(())
            } else {
                Err(fail(format!(
                    "ends after {read} of {} input bytes with {written} of {} output bytes",
                    input.len(),
                    out.len()
                )))
            };
        }
        if read == input.len() && written < out.len() {
            return Err(fail(format!(
                "input ends after {written} of {} output bytes",
                out.len()
            )));
        }
    }
    Err(fail(format!(
        "more than the recorded {} output bytes",
        out.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn xz_cli(args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("xz")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("xz(1)");
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn text(n: u32) -> Vec<u8> {
        let mut t = Vec::new();
        for i in 0..n {
            t.extend_from_slice(
                format!(
                    "Package: p{i}\nVersion: {}.{}\nDepends: libc6 (>= 2.{})\n\n",
                    i % 13,
                    i,
                    i % 40
                )
                .as_bytes(),
            );
        }
        t
    }

    #[test]
    fn multi_block_streams_decode_to_the_original() {
        let original = text(20_000);
        for check in ["crc64", "crc32", "sha256", "none"] {
            let xz = xz_cli(
                &[
                    "-T2",
                    "--block-size=100KiB",
                    &format!("--check={check}"),
                    "-c",
                ],
                &original,
            );
            let plan = plan(&xz).unwrap_or_else(|| panic!("{check}: planned"));
            assert!(plan.len() > 3, "{check}: {} blocks", plan.len());
            assert_eq!(decode(&xz, &plan, u64::MAX).unwrap(), original, "{check}");
        }
    }

    #[test]
    fn real_packages_xz_blocks_are_planned() {
        let xz = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/mirror/debian/dists/trixie/main/binary-amd64/Packages.xz"
        ))
        .unwrap();
        let plan = plan(&xz).unwrap();
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].output, 0..24 << 20);
        assert_eq!(plan[2].output.end, 56_634_892);
    }

    #[test]
    fn anything_unusual_is_left_to_the_stream_decoder() {
        let original = text(5_000);
        let blocks = |args: &[&str]| plan(&xz_cli(args, &original));
        // One block.
        assert_eq!(blocks(&["-T1", "-c"]), None);
        // A BCJ filter before LZMA2.
        assert_eq!(
            blocks(&["-T2", "--block-size=50KiB", "--x86", "--lzma2", "-c"]),
            None
        );
        // Two streams, and stream padding.
        let one = xz_cli(&["-T2", "--block-size=50KiB", "-c"], &original);
        // Single-threaded xz writes no sizes into block headers.
        assert_eq!(blocks(&["-T1", "--block-size=50KiB", "-c"]), None);
        assert!(plan(&one).is_some());
        assert_eq!(plan(&[one.clone(), one.clone()].concat()), None);
        assert_eq!(plan(&[one.clone(), vec![0; 4]].concat()), None);
        // Every truncation.
        for n in [0, 1, 11, 12, one.len() / 2, one.len() - 1] {
            assert_eq!(plan(&one[..n]), None, "prefix {n}");
        }
    }

    #[test]
    fn damaged_input_never_panics() {
        let original = text(3_000);
        let xz = xz_cli(&["-T2", "--block-size=20KiB", "-c"], &original);
        assert!(plan(&xz).unwrap().len() >= 3);
        for i in (0..xz.len()).step_by(7) {
            for flip in [0x01, 0x80] {
                let mut bad = xz.clone();
                bad[i] ^= flip;
                if let Some(p) = plan(&bad) {
                    // Either an error, or output the caller's hash check rejects.
                    if let Ok(out) = decode(&bad, &p, 1 << 30) {
                        assert_eq!(out.len(), p.last().unwrap().output.end);
                    }
                }
            }
        }
    }

    #[test]
    fn the_limit_is_checked_before_decoding() {
        let original = text(5_000);
        let xz = xz_cli(&["-T2", "--block-size=50KiB", "-c"], &original);
        let plan = plan(&xz).unwrap();
        let total = total_len(&plan) as u64;
        assert_eq!(total, original.len() as u64);
        assert!(decode(&xz, &plan, total - 1).is_err());
        assert_eq!(decode(&xz, &plan, total).unwrap(), original);
    }

    #[test]
    fn vli_and_dictionary_sizes() {
        let mut b: &[u8] = &[0x80, 0x01];
        assert_eq!(take_vli(&mut b), Some(128));
        let mut b: &[u8] = &[0x80, 0x00];
        assert_eq!(take_vli(&mut b), None, "superfluous zero byte");
        let mut b: &[u8] = &[0xff; 10];
        assert_eq!(take_vli(&mut b), None);
        assert_eq!(lzma2_dict_size(0), Some(4096));
        assert_eq!(lzma2_dict_size(1), Some(6144));
        assert_eq!(lzma2_dict_size(22), Some(8 << 20));
        assert_eq!(lzma2_dict_size(41), None);
    }
}
