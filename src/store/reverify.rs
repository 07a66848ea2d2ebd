//! Offline re-verification of stored generations: signatures and hashes
//! rechecked from the blobs alone, so an auditor can confirm that what the
//! store says it mirrored is what the archive signed.

use super::blob;
use super::records::Generation;
use super::{Store, StoreError};
use crate::deb::decompress::{self, Compression};
use crate::deb::hash::Sha256Digest;
use crate::deb::openpgp::{self, Keyring};
use crate::deb::release::Release;
use jiff::Timestamp;

/// The verdict for one generation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenerationVerdict {
    pub generation: u64,
    pub suite: String,
    pub ok: bool,
    pub signers: Vec<String>,
    pub indexes_checked: usize,
    pub problems: Vec<String>,
}

/// Re-verifies one generation with `keyring`. Signatures are evaluated at
/// the generation's fetch time (when debfleet accepted it).
pub fn verify_generation(
    store: &Store,
    generation: &Generation,
    keyring: &Keyring,
) -> Result<GenerationVerdict, StoreError> {
    let mut verdict = GenerationVerdict {
        generation: generation.id,
        suite: format!("{}/{}", generation.archive, generation.suite),
        ok: false,
        signers: Vec::new(),
        indexes_checked: 0,
        problems: Vec::new(),
    };
    let at: Timestamp = generation
        .fetched_at
        .parse()
        .unwrap_or_else(|_| Timestamp::now());
    let Some(key) = Sha256Digest::from_hex(&generation.inrelease_sha256) else {
        verdict
            .problems
            .push("InRelease hash is not valid hex".into());
        return Ok(verdict);
    };
    let inrelease = match load_blob(store, &key)? {
        Ok(b) => b,
        Err(p) => {
            verdict.problems.push(format!("InRelease: {p}"));
            return Ok(verdict);
        }
    };
    let verified = match openpgp::verify_inline(keyring, &inrelease, at) {
        Ok(v) => v,
        Err(e) => {
            verdict.problems.push(format!("InRelease signature: {e}"));
            return Ok(verdict);
        }
    };
    verdict.signers = verified
        .signers
        .iter()
        .map(|s| match &s.user_id {
            Some(u) => format!("{} ({u})", s.fingerprint),
            None => s.fingerprint.clone(),
        })
        .collect();
    let release = match Release::parse(&verified.payload) {
        Ok(r) => r,
        Err(e) => {
            verdict.problems.push(format!("Release: {e}"));
            return Ok(verdict);
        }
    };
    for index in &generation.indexes {
        verdict.indexes_checked += 1;
        let Some(blob_key) = Sha256Digest::from_hex(&index.blob) else {
            verdict
                .problems
                .push(format!("{}: bad blob hash", index.key));
            continue;
        };
        let bytes = match load_blob(store, &blob_key)? {
            Ok(b) => b,
            Err(p) => {
                verdict.problems.push(format!("{}: {p}", index.key));
                continue;
            }
        };
        let Some(entry) = release.file(&index.blob_path) else {
            verdict.problems.push(format!(
                "{}: the signed Release does not list {}",
                index.key, index.blob_path
            ));
            continue;
        };
        if entry.sha256 != blob_key || entry.size != bytes.len() as u64 {
            verdict.problems.push(format!(
                "{}: stored {} does not match the signed SHA256/size",
                index.key, index.blob_path
            ));
            continue;
        }
        // The uncompressed content must match the signed uncompressed entry.
        let compression = Compression::from_path(&index.blob_path);
        if compression != Compression::None {
            match decompress::decompress(&bytes, compression, index.size) {
                Ok(content) => {
                    if Sha256Digest::of(&content).to_hex() != index.sha256 {
                        verdict.problems.push(format!(
                            "{}: decompressed content does not match the recorded SHA256",
                            index.key
                        ));
                    }
                }
                Err(e) => verdict
                    .problems
                    .push(format!("{}: {}: {e}", index.key, index.blob_path)),
            }
        }
    }
    verdict.ok = verdict.problems.is_empty();
    Ok(verdict)
}

fn load_blob(store: &Store, key: &Sha256Digest) -> Result<Result<Vec<u8>, String>, StoreError> {
    Ok(match store.blob(key)? {
        None => Err(format!("blob {key} missing from the store")),
        Some(stored) => blob::decode(&stored, key, u64::MAX / 2).map_err(|e| e.to_string()),
    })
}
