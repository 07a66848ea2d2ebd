//! Fetching and verifying Debian indexes from a mirror.
//!
//! This layer turns a [`MirrorSource`] plus a keyring into *verified* data:
//! an InRelease whose signature checked out and whose Valid-Until and Date
//! are acceptable, and index files (Packages) whose size and SHA-256 match
//! the signed list before any byte of them is used. It picks `by-hash` names
//! when the Release offers them, the best compression available, and pdiff
//! patch chains when they are cheaper than a full download. It knows nothing
//! about the store: callers pass in what they already have.

pub mod source;

use crate::deb::decompress::{self, Compression};
use crate::deb::hash::Sha256Digest;
use crate::deb::openpgp::{self, Keyring, Signer};
use crate::deb::pdiff::{self, PdiffIndex, PdiffLimits, PdiffPlan};
use crate::deb::release::{IndexFileEntry, Release};
use jiff::Timestamp;
pub use source::{HttpOptions, MirrorSource, SourceError};

/// An InRelease is never larger than this (Debian's largest is ~150 KB).
pub const MAX_INRELEASE_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes an index file may decompress to when the signed Release does
/// not list its uncompressed size (Debian's largest `Packages`, sid
/// main/amd64, is under 100 MB); the declared size bounds it otherwise.
pub const MAX_UNDECLARED_INDEX_BYTES: u64 = 256 * 1024 * 1024;
/// A Packages.diff/Index is small too.
const MAX_PDIFF_INDEX_BYTES: u64 = 16 * 1024 * 1024;

/// Why fetching or verifying failed. Each names the file and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{location}: signature check failed: {source}")]
    Signature {
        location: String,
        #[source]
        source: openpgp::OpenPgpError,
    },
    #[error("{location}: {source}")]
    Release {
        location: String,
        #[source]
        source: crate::deb::release::ReleaseError,
    },
    #[error(
        "{location}: Valid-Until {valid_until} is in the past (now {now}); the mirror is stale or frozen. Refresh the mirror, or pass --allow-expired to accept it (recorded)"
    )]
    Expired {
        location: String,
        valid_until: Timestamp,
        now: Timestamp,
    },
    #[error(
        "{location}: Date {date} is older than the stored generation's {stored}; refusing a rollback. Pass --allow-downgrade to accept it (recorded)"
    )]
    Downgrade {
        location: String,
        date: Timestamp,
        stored: Timestamp,
    },
    #[error("{location}: the signed Release does not list {path}; cannot verify it")]
    NotListed { location: String, path: String },
    #[error("{location}: size {actual} does not match the signed {expected} bytes")]
    SizeMismatch {
        location: String,
        expected: u64,
        actual: u64,
    },
    #[error("{location}: SHA256 {actual} does not match the signed {expected}")]
    HashMismatch {
        location: String,
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error("{location}: {source}")]
    Decompress {
        location: String,
        #[source]
        source: decompress::DecompressError,
    },
    #[error(
        "{location}: decompresses to more than {limit} bytes, and the signed Release does not list the uncompressed {path} to declare a larger size; refusing it (a decompression bomb, or a Release that should list {path})"
    )]
    UndeclaredTooLarge {
        location: String,
        path: String,
        limit: u64,
    },
    #[error("{location}: pdiff: {message}")]
    Pdiff { location: String, message: String },
    #[error("{location}: none of the listed variants of {path} could be fetched: {last}")]
    NoVariant {
        location: String,
        path: String,
        last: Box<MirrorError>,
    },
    /// Patching was tried and failed, and the full file could not be fetched
    /// either: both reasons are reported, the patch one first.
    #[error(
        "{location}: cannot update {path}: the pdiff update failed ({pdiff}), and the full file could not be fetched ({full}). Fix the mirror (its patches or its full index files)"
    )]
    PdiffAndFull {
        location: String,
        path: String,
        pdiff: Box<MirrorError>,
        full: Box<MirrorError>,
    },
}

/// Policy knobs for release verification.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReleasePolicy {
    /// Accept a Release whose Valid-Until is in the past.
    pub allow_expired: bool,
    /// Accept a Release whose Date is older than the stored one.
    pub allow_downgrade: bool,
}

/// A signature-checked, parsed InRelease.
#[derive(Debug, Clone)]
pub struct VerifiedRelease {
    /// The exact InRelease bytes (kept so auditors can re-verify offline).
    pub inrelease: Vec<u8>,
    pub inrelease_sha256: Sha256Digest,
    pub release: Release,
    pub signers: Vec<Signer>,
    /// True when Valid-Until had passed and policy allowed it anyway.
    pub accepted_expired: bool,
    /// True when Date went backwards and policy allowed it anyway.
    pub accepted_downgrade: bool,
}

/// The path of a suite's directory in a mirror: `dists/<suite>`.
pub fn suite_dir(suite: &str) -> String {
    format!("dists/{suite}")
}

/// Fetches `dists/<suite>/InRelease` raw, without verifying it. Used to
/// detect "nothing changed" by hash before paying for verification.
pub fn fetch_inrelease(source: &MirrorSource, suite: &str) -> Result<Vec<u8>, MirrorError> {
    Ok(source.fetch(
        &format!("{}/InRelease", suite_dir(suite)),
        MAX_INRELEASE_BYTES,
    )?)
}

/// Verifies InRelease bytes: signature, Valid-Until against `now`, and Date
/// against the previously stored Date.
pub fn verify_release(
    location: &str,
    inrelease: Vec<u8>,
    keyring: &Keyring,
    now: Timestamp,
    previous_date: Option<Timestamp>,
    policy: ReleasePolicy,
) -> Result<VerifiedRelease, MirrorError> {
    let verified = openpgp::verify_inline(keyring, &inrelease, now).map_err(|source| {
        MirrorError::Signature {
            location: location.to_string(),
            source,
        }
    })?;
    let release = Release::parse(&verified.payload).map_err(|source| MirrorError::Release {
        location: location.to_string(),
        source,
    })?;
    let mut accepted_expired = false;
    if let Some(valid_until) = release.valid_until
        && valid_until < now
    {
        if !policy.allow_expired {
            return Err(MirrorError::Expired {
                location: location.to_string(),
                valid_until,
                now,
            });
        }
        accepted_expired = true;
    }
    let mut accepted_downgrade = false;
    if let (Some(date), Some(stored)) = (release.date, previous_date)
        && date < stored
    {
        if !policy.allow_downgrade {
            return Err(MirrorError::Downgrade {
                location: location.to_string(),
                date,
                stored,
            });
        }
        accepted_downgrade = true;
    }
    let inrelease_sha256 = Sha256Digest::of(&inrelease);
    Ok(VerifiedRelease {
        inrelease,
        inrelease_sha256,
        release,
        signers: verified.signers,
        accepted_expired,
        accepted_downgrade,
    })
}

/// How an index file's bytes were obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchMethod {
    /// The whole file, in this compression (`by_hash` when fetched by its hash name).
    Full {
        compression: Compression,
        by_hash: bool,
    },
    /// `patches` pdiff patches applied to the previous content.
    Pdiff { patches: usize },
}

/// A file fetched whole and verified against the signed Release.
#[derive(Debug, Clone)]
pub struct OriginalFile {
    /// Its path in the Release.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Its SHA-256: the signed one, which `bytes` was checked against.
    pub sha256: Sha256Digest,
}

/// A verified, decompressed index file.
#[derive(Debug, Clone)]
pub struct FetchedIndex {
    /// The uncompressed content; its SHA-256 matched the signed list.
    pub content: Vec<u8>,
    /// SHA-256 and size of the uncompressed content.
    pub sha256: Sha256Digest,
    pub size: u64,
    /// The exact verified file as fetched when it was fetched whole (e.g. the
    /// original .xz).
    pub original: Option<OriginalFile>,
    pub method: FetchMethod,
    /// Bytes transferred from the mirror.
    pub bytes_read: u64,
}

/// What the caller already has of an index, for pdiff.
pub struct PreviousIndex<'a> {
    pub sha256: Sha256Digest,
    pub content: &'a [u8],
}

/// Fetches the index `path` (e.g. `main/binary-amd64/Packages`, without
/// compression suffix) of a verified suite.
///
/// The uncompressed entry's hash decides identity. When a Packages.diff/Index
/// is listed and `previous` is given, a patch chain is tried first (apt's
/// FileLimit/SizeLimit rules decide); otherwise, or when patching fails, the
/// best listed compression is fetched whole, by hash name first when the
/// Release says `Acquire-By-Hash: yes`.
pub fn fetch_index(
    source: &MirrorSource,
    suite: &str,
    release: &VerifiedRelease,
    path: &str,
    previous: Option<PreviousIndex<'_>>,
    limits: PdiffLimits,
) -> Result<FetchedIndex, MirrorError> {
    let dir = suite_dir(suite);
    let location = source.describe(&format!("{dir}/{path}"));
    let target = release.release.file(path).cloned();
    let variants = listed_variants(&release.release, path);
    if variants.is_empty() && target.is_none() {
        return Err(MirrorError::NotListed {
            location,
            path: path.to_string(),
        });
    }
    let full_size = variants.first().map_or(0, |(_, e)| e.size);
    // Why patching was not possible, reported if the full file fails too.
    let mut pdiff_failure: Option<MirrorError> = None;
    if let (Some(previous), Some(target)) = (previous.as_ref(), target.as_ref())
        && let Some(diff_index) = release.release.file(&format!("{path}.diff/Index"))
    {
        match fetch_by_pdiff(
            source, &dir, release, path, diff_index, previous, target, full_size, limits,
        ) {
            Ok(fetched) => return Ok(fetched),
            // A broken chain, a bad patch or a chain over the limits falls
            // back to the full file, which is verified independently.
            Err(e) => pdiff_failure = Some(e),
        }
    }
    let mut last: Option<MirrorError> = None;
    for (compression, entry) in &variants {
        match fetch_verified(source, &dir, &release.release, entry) {
            Ok((bytes, by_hash)) => {
                let limit = target
                    .as_ref()
                    .map_or(MAX_UNDECLARED_INDEX_BYTES, |t| t.size);
                // With a signed uncompressed entry the content's SHA-256 is
                // checked below, which lets the decoder skip xz's own checks.
                let decoded = match &target {
                    Some(_) => decompress::decompress_hash_checked(&bytes, *compression, limit),
                    None => decompress::decompress(&bytes, *compression, limit),
                };
                let content = decoded.map_err(|source_err| {
                    let location = source.describe(&format!("{dir}/{}", entry.path));
                    match source_err {
                        decompress::DecompressError::TooLarge { limit } if target.is_none() => {
                            MirrorError::UndeclaredTooLarge {
                                location,
                                path: path.to_string(),
                                limit,
                            }
                        }
                        source_err => MirrorError::Decompress {
                            location,
                            source: source_err,
                        },
                    }
                })?;
                let sha256 = Sha256Digest::of(&content);
                let size = content.len() as u64;
                if let Some(t) = &target {
                    check_entry(&location, t, size, sha256)?;
                }
                let bytes_read = bytes.len() as u64;
                return Ok(FetchedIndex {
                    content,
                    sha256,
                    size,
                    original: Some(OriginalFile {
                        path: entry.path.clone(),
                        bytes,
                        sha256: entry.sha256,
                    }),
                    method: FetchMethod::Full {
                        compression: *compression,
                        by_hash,
                    },
                    bytes_read,
                });
            }
            Err(MirrorError::Source(SourceError::NotFound { .. })) => {}
            Err(e) => last = Some(e),
        }
    }
    let full = Box::new(last.unwrap_or(MirrorError::Source(SourceError::NotFound {
        location: source.describe(&format!("{dir}/{path}.*")),
    })));
    Err(match pdiff_failure {
        Some(pdiff) => MirrorError::PdiffAndFull {
            location,
            path: path.to_string(),
            pdiff: Box::new(pdiff),
            full,
        },
        None => MirrorError::NoVariant {
            location,
            path: path.to_string(),
            last: full,
        },
    })
}

/// The compressed (and plain) variants of `path` the Release lists, best first.
fn listed_variants(release: &Release, path: &str) -> Vec<(Compression, IndexFileEntry)> {
    Compression::preference_order()
        .iter()
        .filter_map(|c| {
            let name = format!("{path}{}", c.extension());
            release.file(&name).map(|e| (*c, e.clone()))
        })
        .collect()
}

fn check_entry(
    location: &str,
    entry: &IndexFileEntry,
    size: u64,
    sha256: Sha256Digest,
) -> Result<(), MirrorError> {
    if size != entry.size {
        return Err(MirrorError::SizeMismatch {
            location: location.to_string(),
            expected: entry.size,
            actual: size,
        });
    }
    if sha256 != entry.sha256 {
        return Err(MirrorError::HashMismatch {
            location: location.to_string(),
            expected: entry.sha256,
            actual: sha256,
        });
    }
    Ok(())
}

/// Fetches one listed file and checks its size and hash. Tries the by-hash
/// name first when the Release allows it, and the canonical name when that
/// fails (either is verified against the signed entry). Returns the bytes and
/// whether the by-hash name served them.
fn fetch_verified(
    source: &MirrorSource,
    dir: &str,
    release: &Release,
    entry: &IndexFileEntry,
) -> Result<(Vec<u8>, bool), MirrorError> {
    let fetch_checked = |rel: &str| -> Result<Vec<u8>, MirrorError> {
        let bytes = source.fetch(rel, entry.size)?;
        check_entry(
            &source.describe(rel),
            entry,
            bytes.len() as u64,
            Sha256Digest::of(&bytes),
        )?;
        Ok(bytes)
    };
    // Why the by-hash copy was unusable when it exists but is bad; reported
    // if the canonical name does not exist either.
    let mut by_hash_failure = None;
    if release.acquire_by_hash {
        let parent = entry.path.rsplit_once('/').map_or("", |(p, _)| p);
        let by_hash = if parent.is_empty() {
            format!("{dir}/by-hash/SHA256/{}", entry.sha256)
        } else {
            format!("{dir}/{parent}/by-hash/SHA256/{}", entry.sha256)
        };
        match fetch_checked(&by_hash) {
            Ok(bytes) => return Ok((bytes, true)),
            Err(MirrorError::Source(SourceError::NotFound { .. })) => {}
            Err(e) => by_hash_failure = Some(e),
        }
    }
    match (
        fetch_checked(&format!("{dir}/{}", entry.path)),
        by_hash_failure,
    ) {
        (Ok(bytes), _) => Ok((bytes, false)),
        (Err(MirrorError::Source(SourceError::NotFound { .. })), Some(by_hash)) => Err(by_hash),
        (Err(e), _) => Err(e),
    }
}

/// Brings `previous` up to `target` with the patches the Index offers.
/// Any reason not to (stale Index, chain broken or over the limits, a patch
/// that does not match the Index, a result that does not match the Release)
/// is an error, so that the caller can fall back to the full file and still
/// report why patching failed.
#[allow(clippy::too_many_arguments)]
fn fetch_by_pdiff(
    source: &MirrorSource,
    dir: &str,
    release: &VerifiedRelease,
    path: &str,
    diff_index_entry: &IndexFileEntry,
    previous: &PreviousIndex<'_>,
    target: &IndexFileEntry,
    full_size: u64,
    limits: PdiffLimits,
) -> Result<FetchedIndex, MirrorError> {
    let location = source.describe(&format!("{dir}/{path}.diff/Index"));
    let pdiff_err = |message: String| MirrorError::Pdiff {
        location: location.clone(),
        message,
    };
    if diff_index_entry.size > MAX_PDIFF_INDEX_BYTES {
        return Err(pdiff_err("Index too large".into()));
    }
    let (index_bytes, _) = fetch_verified(source, dir, &release.release, diff_index_entry)?;
    let index = PdiffIndex::parse(&index_bytes).map_err(|e| pdiff_err(e.to_string()))?;
    index
        .check_current(target.sha256, target.size)
        .map_err(|e| pdiff_err(e.to_string()))?;
    let steps = match pdiff::plan(&index, previous.sha256, full_size, limits) {
        PdiffPlan::UpToDate => {
            return Ok(FetchedIndex {
                content: previous.content.to_vec(),
                sha256: previous.sha256,
                size: previous.content.len() as u64,
                original: None,
                method: FetchMethod::Pdiff { patches: 0 },
                bytes_read: index_bytes.len() as u64,
            });
        }
        PdiffPlan::FullDownload { reason } => return Err(pdiff_err(reason)),
        PdiffPlan::Patches(steps) => steps,
    };
    let patch_dir = format!("{path}.diff");
    let mut content = previous.content.to_vec();
    let mut bytes_read = index_bytes.len() as u64;
    for step in &steps {
        let rel = format!("{dir}/{patch_dir}/{}", step.download.name);
        let gz = source.fetch(&rel, step.download.size)?;
        bytes_read += gz.len() as u64;
        // Size and SHA-256 of the .gz and of the patch inside, against the Index.
        let patch_err = |e: pdiff::PdiffError| MirrorError::Pdiff {
            location: source.describe(&rel),
            message: e.to_string(),
        };
        let patch = pdiff::unpack_patch(step, &gz).map_err(patch_err)?;
        content = pdiff::apply_ed(&content, &patch).map_err(patch_err)?;
    }
    let sha256 = Sha256Digest::of(&content);
    let size = content.len() as u64;
    check_entry(
        &format!(
            "{} (after {} patches)",
            source.describe(&format!("{dir}/{path}")),
            steps.len()
        ),
        target,
        size,
        sha256,
    )?;
    Ok(FetchedIndex {
        content,
        sha256,
        size,
        original: None,
        method: FetchMethod::Pdiff {
            patches: steps.len(),
        },
        bytes_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A suite `dists/t` whose Release lists `main/Packages` (plain) and,
    /// optionally, a `main/Packages.diff/Index`.
    fn release(packages: &[u8], diff_index: Option<&[u8]>, by_hash: bool) -> VerifiedRelease {
        let mut text = String::from("Suite: t\n");
        if by_hash {
            text.push_str("Acquire-By-Hash: yes\n");
        }
        text.push_str("SHA256:\n");
        let mut entry = |data: &[u8], path: &str| {
            text.push_str(&format!(
                " {} {} {path}\n",
                Sha256Digest::of(data),
                data.len()
            ));
        };
        entry(packages, "main/Packages");
        if let Some(index) = diff_index {
            entry(index, "main/Packages.diff/Index");
        }
        let release = Release::parse(text.as_bytes()).unwrap();
        VerifiedRelease {
            inrelease: Vec::new(),
            inrelease_sha256: Sha256Digest::of(b""),
            release,
            signers: Vec::new(),
            accepted_expired: false,
            accepted_downgrade: false,
        }
    }

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    fn fetch(
        root: &Path,
        release: &VerifiedRelease,
        previous: Option<PreviousIndex<'_>>,
    ) -> Result<FetchedIndex, MirrorError> {
        let source = MirrorSource::Directory(root.to_path_buf());
        fetch_index(
            &source,
            "t",
            release,
            "main/Packages",
            previous,
            PdiffLimits::default(),
        )
    }

    #[test]
    fn bad_by_hash_copy_falls_back_to_the_canonical_name_or_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"Package: a\nVersion: 1\n";
        let r = release(content, None, true);
        let by_hash = format!("dists/t/main/by-hash/SHA256/{}", Sha256Digest::of(content));
        // Same size, other bytes; and the canonical file is fine.
        write(dir.path(), &by_hash, b"Package: b\nVersion: 1\n");
        write(dir.path(), "dists/t/main/Packages", content);
        let got = fetch(dir.path(), &r, None).unwrap();
        assert_eq!(got.content, content);
        assert_eq!(
            got.method,
            FetchMethod::Full {
                compression: Compression::None,
                by_hash: false
            }
        );
        // Without the canonical file the bad copy is what is reported.
        std::fs::remove_file(dir.path().join("dists/t/main/Packages")).unwrap();
        let err = fetch(dir.path(), &r, None).unwrap_err().to_string();
        assert!(err.contains(&by_hash) && err.contains("SHA256"), "{err}");
        // A good copy is used by its hash name.
        write(dir.path(), &by_hash, content);
        let got = fetch(dir.path(), &r, None).unwrap();
        assert_eq!(
            got.method,
            FetchMethod::Full {
                compression: Compression::None,
                by_hash: true
            }
        );
    }

    #[test]
    fn failed_pdiff_falls_back_to_the_full_file_and_is_reported_without_it() {
        let dir = tempfile::tempdir().unwrap();
        // 100 stanzas of 3 lines; p50's Version (line 152) goes up.
        let stanzas = |v50: &str| -> Vec<u8> {
            (0..100)
                .map(|i| {
                    let v = if i == 50 { v50 } else { "1" };
                    format!("Package: p{i}\nVersion: {v}\n\n")
                })
                .collect::<String>()
                .into_bytes()
        };
        let (old, new) = (stanzas("1"), stanzas("2"));
        let (old, new) = (old.as_slice(), new.as_slice());
        let patch = b"152c\nVersion: 2\n.\n";
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(patch).unwrap();
            e.finish().unwrap()
        };
        let index = format!(
            "SHA256-Current: {} {}\nSHA256-History:\n {} {} p1\nSHA256-Patches:\n {} {} p1\n\
             SHA256-Download:\n {} {} p1.gz\n",
            Sha256Digest::of(new),
            new.len(),
            Sha256Digest::of(old),
            old.len(),
            Sha256Digest::of(patch),
            patch.len(),
            Sha256Digest::of(&gz),
            gz.len()
        );
        let r = release(new, Some(index.as_bytes()), false);
        write(
            dir.path(),
            "dists/t/main/Packages.diff/Index",
            index.as_bytes(),
        );
        let previous = || {
            Some(PreviousIndex {
                sha256: Sha256Digest::of(old),
                content: old,
            })
        };
        // The patch is listed but missing, and so is the full file: both
        // reasons are in the error.
        let err = fetch(dir.path(), &r, previous()).unwrap_err();
        assert!(matches!(err, MirrorError::PdiffAndFull { .. }), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("Packages.diff/p1.gz") && err.contains("Packages.*"),
            "{err}"
        );
        // With the patch it applies.
        write(dir.path(), "dists/t/main/Packages.diff/p1.gz", &gz);
        let got = fetch(dir.path(), &r, previous()).unwrap();
        assert_eq!(got.content, new);
        assert_eq!(got.method, FetchMethod::Pdiff { patches: 1 });
        // A corrupt patch with the full file present: the full file.
        write(dir.path(), "dists/t/main/Packages.diff/p1.gz", b"not gzip");
        write(dir.path(), "dists/t/main/Packages", new);
        let got = fetch(dir.path(), &r, previous()).unwrap();
        assert_eq!(got.content, new);
        assert!(matches!(got.method, FetchMethod::Full { .. }));
    }
}
