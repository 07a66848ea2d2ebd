//! Content-addressed blobs: the verified raw files of every generation
//! (InRelease, Packages.xz, ...), stored once however many generations use
//! them, keyed by the SHA-256 of the stored bytes.
//!
//! A blob value is one tag byte followed by the data:
//! `0` = the bytes exactly as verified (e.g. the original `.xz`);
//! `1` = zstd of the bytes (used for content rebuilt by pdiff, which has no
//! original compressed form). The key is always the SHA-256 of the
//! *decoded* bytes, so a blob verifies itself.

use crate::deb::decompress::{self, Compression};
use crate::deb::hash::Sha256Digest;

const RAW: u8 = 0;
const ZSTD: u8 = 1;

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
}
