//! Content-addressed blobs: the verified raw files of every generation
//! (InRelease, Packages.xz, ...), stored once however many generations use
//! them, keyed by the SHA-256 of the stored bytes.
//!
//! A blob value is one tag byte followed by the data:
//! `0` = the bytes exactly as verified (e.g. the original `.xz`);
//! `1` = zstd of the bytes (used for content rebuilt by pdiff, which has no
//! original compressed form);
//! `2` = the bytes as verified, kept in parts: the value is the tag, the
//! total length (u64 LE) and the number of parts (u32 LE), and part `i` is
//! row (key, i) of `blob_parts`, each [`PART_BYTES`] long but the last
//! (schema 3; a blob over [`PART_BYTES`] is stored so, because redb gives a
//! value larger than a page a page of the next power of two: a 9 MB `.xz`
//! in one value wrote 16 MiB).
//! The key is always the SHA-256 of the *decoded* bytes, so a blob verifies
//! itself. [`Store::blob`](super::Store::blob) returns parts joined, as tag
//! `0`.

use crate::deb::decompress::{self, Compression};
use crate::deb::hash::Sha256Digest;

const RAW: u8 = 0;
const ZSTD: u8 = 1;
const PARTS: u8 = 2;

/// Size of every part of a blob kept in parts but the last: a part and its
/// row overhead fit a 1 MiB redb page.
pub const PART_BYTES: usize = (1 << 20) - 4096;

/// The value of a blob kept in parts: tag, total length, part count.
pub fn parts_header(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13);
    out.push(PARTS);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&(data.len().div_ceil(PART_BYTES) as u32).to_le_bytes());
    out
}

/// When `stored` is the value of a blob kept in parts: (total length, part
/// count). Errors when it is one but malformed.
pub fn parts_of(stored: &[u8]) -> Result<Option<(u64, u32)>, BlobError> {
    match stored.split_first() {
        Some((&PARTS, rest)) => {
            let bad = || BlobError::Parts("malformed parts header".into());
            let total = u64::from_le_bytes(
                rest.get(..8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            let count = u32::from_le_bytes(
                rest.get(8..12)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            if rest.len() != 12
                || usize::try_from(total).map_or(true, |t| t.div_ceil(PART_BYTES) != count as usize)
            {
                return Err(bad());
            }
            Ok(Some((total, count)))
        }
        _ => Ok(None),
    }
}

/// Encodes `data` for storage; `compress` picks zstd.
pub fn encode(data: &[u8], compress: bool) -> Vec<u8> {
    if compress {
        let packed =
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest);
        let mut out = Vec::with_capacity(packed.len() + 1);
        out.push(ZSTD);
        out.extend_from_slice(&packed);
        out
    } else {
        let mut out = Vec::with_capacity(data.len() + 1);
        out.push(RAW);
        out.extend_from_slice(data);
        out
    }
}

/// Length of the stored form of `data` kept as is (raw tag plus bytes).
pub fn raw_len(data: &[u8]) -> usize {
    data.len() + 1
}

/// Writes the stored form of `data` kept as is (what `encode(data, false)`
/// returns) into `out`, which is [`raw_len`] bytes long.
pub fn encode_raw_into(out: &mut [u8], data: &[u8]) {
    if let Some((tag, rest)) = out.split_first_mut() {
        *tag = RAW;
        rest.copy_from_slice(data);
    }
}

/// Errors decoding a stored blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob is empty")]
    Empty,
    #[error("unknown blob encoding {0}")]
    Encoding(u8),
    #[error("blob does not decompress: {0}")]
    Decompress(#[from] decompress::DecompressError),
    #[error("blob parts: {0}")]
    Parts(String),
    #[error("blob content hash {actual} does not match its key {expected}")]
    Hash {
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
}

/// Decodes a stored blob and checks it against its key.
pub fn decode(stored: &[u8], key: &Sha256Digest, limit: u64) -> Result<Vec<u8>, BlobError> {
    let (&tag, data) = stored.split_first().ok_or(BlobError::Empty)?;
    let out = match tag {
        RAW => data.to_vec(),
        ZSTD => decompress::decompress(data, Compression::Zstd, limit)?,
        PARTS => {
            return Err(BlobError::Parts(
                "read through the store, which joins them".into(),
            ));
        }
        other => return Err(BlobError::Encoding(other)),
    };
    let actual = Sha256Digest::of(&out);
    if &actual != key {
        return Err(BlobError::Hash {
            expected: *key,
            actual,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_written_in_place_is_what_encode_stores_and_decodes_back() {
        let data = b"InRelease bytes\n";
        let mut out = vec![0xAA; raw_len(data)];
        encode_raw_into(&mut out, data);
        assert_eq!(out, encode(data, false));
        let key = Sha256Digest::of(data);
        assert_eq!(decode(&out, &key, 1 << 20).unwrap(), data);
    }

    #[test]
    fn parts_headers_are_checked() {
        let data = vec![7u8; PART_BYTES * 3 + 1];
        let header = parts_header(&data);
        assert_eq!(parts_of(&header).unwrap(), Some((data.len() as u64, 4)));
        assert_eq!(parts_of(&encode(&data, false)).unwrap(), None);
        // Wrong count, truncated, trailing bytes.
        let mut bad = header.clone();
        bad[9] = 9;
        assert!(parts_of(&bad).is_err());
        assert!(parts_of(&header[..12]).is_err());
        assert!(parts_of(&[header.clone(), vec![0]].concat()).is_err());
        // A parts value is not decoded directly.
        assert!(decode(&header, &Sha256Digest::of(&data), u64::MAX).is_err());
    }
}
