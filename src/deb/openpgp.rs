//! OpenPGP verification of Release files: keyrings (binary `.gpg` or
//! ASCII-armored `.asc`), InRelease (cleartext-signed) and Release +
//! Release.gpg (detached) verification, with apt's acceptance rule.
//!
//! Rule: the data is valid when at least one signature was made by a key in
//! the keyring and verifies, and that key is usable at `now` under
//! sequoia's [`StandardPolicy`] (not expired, not revoked, validly bound,
//! signing-capable; SHA-1 and other weak algorithms rejected). Signatures by
//! unknown keys, expired or revoked keys, or rejected by the policy are
//! listed in [`Verified::ignored`] when another signature is good. A
//! signature by a known key that does *not* verify (tampered or corrupt
//! content) is always an error, even when another signature is good.
//!
//! Every time-dependent check uses the `now` the caller passes, never the
//! system clock, so old data and audits replay exactly.

use crate::deb::release::{self, ReleaseError};
use jiff::{SignedDuration, Timestamp};
use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::cert::{Cert, CertParser};
use openpgp::packet::{Packet, Signature, Tag};
use openpgp::parse::{PacketParserBuilder, PacketParserResult, Parse};
use openpgp::policy::{HashAlgoSecurity, Policy, StandardPolicy};
use openpgp::types::{RevocationStatus, SignatureType};
use openpgp::{Fingerprint, KeyHandle};
use sequoia_openpgp as openpgp;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How far in the future (relative to `now`) a signature's creation time
/// may be before the signature is refused, to absorb small clock skew
/// between the archive's signer and this machine.
pub const CLOCK_SKEW_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// Errors from loading keyrings and verifying signatures.
#[derive(Debug, thiserror::Error)]
pub enum OpenPgpError {
    /// The keyring file could not be read.
    #[error("cannot read keyring {path}: {source}")]
    KeyringIo {
        /// The keyring path.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The keyring is not a valid OpenPGP keyring.
    #[error("keyring {keyring}: {reason}")]
    Keyring {
        /// Where the keyring came from.
        keyring: String,
        /// What is wrong.
        reason: String,
    },
    /// The cleartext framing of an InRelease is broken (including text
    /// outside the signed part).
    #[error("malformed InRelease: {0}")]
    Framing(#[source] ReleaseError),
    /// There is no signature at all.
    #[error("not signed: {detail}")]
    NotSigned {
        /// Why no signature was found.
        detail: String,
    },
    /// No signature was made by a key in the keyring.
    #[error(
        "signed by key(s) {} not in keyring {keyring}; pass the archive's keyring \
         (for Debian: /usr/share/keyrings/debian-archive-keyring.gpg)",
        issuers.join(", ")
    )]
    UnknownKey {
        /// The issuer fingerprints or key IDs of the signatures.
        issuers: Vec<String>,
        /// Where the keyring came from.
        keyring: String,
    },
    /// A signature by a key in the keyring does not verify.
    #[error(
        "BAD signature by key {key}: the signed content does not match the signature \
         (modified after signing, or corrupt)"
    )]
    BadSignature {
        /// The key (fingerprint) the signature claims.
        key: String,
    },
    /// The signing key (or its certificate) has expired at `now`.
    #[error("signature by key {key}: the key expired at {at}; update the keyring")]
    KeyExpired {
        /// The expired key (primary or subkey fingerprint).
        key: String,
        /// When it expired.
        at: Timestamp,
    },
    /// The signing key (or its certificate) is revoked.
    #[error("signature by key {key}: the key is revoked{reason}")]
    KeyRevoked {
        /// The revoked key (primary or subkey fingerprint).
        key: String,
        /// The revocation reason, formatted as `" (reason)"`, or empty.
        reason: String,
    },
    /// The signature was made after `now`.
    #[error(
        "signature by key {key} was made at {created}, after now ({now}); check the clock \
         (or --now)"
    )]
    SignatureTimeInFuture {
        /// The signing key.
        key: String,
        /// The signature's creation time.
        created: Timestamp,
        /// The reference time.
        now: Timestamp,
    },
    /// The signature itself has expired.
    #[error("signature by key {key} expired at {at}")]
    SignatureExpired {
        /// The signing key.
        key: String,
        /// When the signature expired.
        at: Timestamp,
    },
    /// The signature uses an algorithm the policy rejects (e.g. SHA-1).
    #[error("signature by key {key} rejected by policy: {reason}")]
    Rejected {
        /// The signing key.
        key: String,
        /// The policy's reason.
        reason: String,
    },
    /// The key is in the keyring but cannot make signatures at `now`
    /// (not validly bound under the policy, not signing-capable, ...).
    #[error("signature by key {key}: the key cannot be used: {reason}")]
    KeyUnusable {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The signature data is not valid OpenPGP.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// `now` cannot be represented as a system time.
    #[error("time {0} is out of the supported range")]
    TimeOutOfRange(Timestamp),
}

impl OpenPgpError {
    /// A short stable identifier of the error kind, for machine-readable
    /// output (`bad-signature`, `unknown-key`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            OpenPgpError::KeyringIo { .. } | OpenPgpError::Keyring { .. } => "keyring",
            OpenPgpError::Framing(_) => "malformed",
            OpenPgpError::NotSigned { .. } => "not-signed",
            OpenPgpError::UnknownKey { .. } => "unknown-key",
            OpenPgpError::BadSignature { .. } => "bad-signature",
            OpenPgpError::KeyExpired { .. } => "key-expired",
            OpenPgpError::KeyRevoked { .. } => "key-revoked",
            OpenPgpError::SignatureTimeInFuture { .. } => "signature-in-future",
            OpenPgpError::SignatureExpired { .. } => "signature-expired",
            OpenPgpError::Rejected { .. } => "rejected-by-policy",
            OpenPgpError::KeyUnusable { .. } => "key-unusable",
            OpenPgpError::Malformed(_) => "malformed",
            OpenPgpError::TimeOutOfRange(_) => "time-out-of-range",
        }
    }

    /// Which failure to report when no signature is good: the most
    /// specific one (a known key with a problem beats an unknown key).
    fn rank(&self) -> u8 {
        match self {
            OpenPgpError::KeyRevoked { .. } => 9,
            OpenPgpError::KeyExpired { .. } => 8,
            OpenPgpError::SignatureTimeInFuture { .. } => 7,
            OpenPgpError::SignatureExpired { .. } => 6,
            OpenPgpError::Rejected { .. } => 5,
            OpenPgpError::KeyUnusable { .. } => 4,
            OpenPgpError::Malformed(_) => 3,
            _ => 0,
        }
    }
}

/// A set of certificates (public keys) to verify with.
#[derive(Clone)]
pub struct Keyring {
    certs: Vec<Cert>,
    source: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("fingerprints", &self.fingerprints())
            .finish()
    }
}

impl Keyring {
    /// Loads a keyring file: concatenated binary certificates (`.gpg`, as
    /// in `/usr/share/keyrings/`) or ASCII-armored ones (`.asc`, one or
    /// more armor blocks).
    pub fn from_file(path: &Path) -> Result<Keyring, OpenPgpError> {
        let bytes = std::fs::read(path).map_err(|source| OpenPgpError::KeyringIo {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, path.display().to_string())
    }

    /// Parses a keyring from bytes (binary or ASCII-armored).
    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring, OpenPgpError> {
        Self::parse(bytes, "<in-memory keyring>".to_string())
    }

    fn parse(bytes: &[u8], source: String) -> Result<Keyring, OpenPgpError> {
        let keyring_error = |reason: String| OpenPgpError::Keyring {
            keyring: source.clone(),
            reason,
        };
        let mut certs = Vec::new();
        for chunk in armor_blocks(bytes) {
            let parser = CertParser::from_bytes(chunk)
                .map_err(|err| keyring_error(format!("not an OpenPGP keyring: {err}")))?;
            for (index, cert) in parser.enumerate() {
                let cert = cert.map_err(|err| {
                    keyring_error(format!(
                        "certificate #{} cannot be parsed: {err}",
                        certs.len() + index + 1
                    ))
                })?;
                certs.push(cert.strip_secret_key_material());
            }
        }
        if certs.is_empty() {
            return Err(keyring_error(
                "contains no certificates (expected a binary .gpg or armored .asc keyring)"
                    .to_string(),
            ));
        }
        Ok(Keyring { certs, source })
    }

    /// Adds the certificates of `other` (for several `--keyring` options).
    pub fn merge(&mut self, other: Keyring) {
        self.certs.extend(other.certs);
        self.source = format!("{} + {}", self.source, other.source);
    }

    /// Primary-key fingerprints, upper-case hex, in keyring order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    }

    /// Where the keyring came from (the file path), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Splits ASCII-armored input into its armor blocks (sequoia reads one
/// block per parser); binary input is returned whole.
fn armor_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let rest = bytes.get(start..).unwrap_or_default();
    if !rest.starts_with(b"-----BEGIN PGP ") {
        return vec![bytes];
    }
    let mut blocks = Vec::new();
    let finder = memchr::memmem::Finder::new(b"-----BEGIN PGP ");
    let positions: Vec<usize> = finder.find_iter(bytes).collect();
    for (i, &pos) in positions.iter().enumerate() {
        let end = positions.get(i + 1).copied().unwrap_or(bytes.len());
        if let Some(block) = bytes.get(pos..end) {
            blocks.push(block);
        }
    }
    blocks
}

/// A good signature that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The certificate's primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// The key that made the signature (a subkey, or the primary key),
    /// upper-case hex fingerprint.
    pub signing_key: String,
    /// The certificate's primary User ID at `now`.
    pub user_id: Option<String>,
    /// The signature's creation time.
    pub created: Timestamp,
}

/// The result of a successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed data. For a detached signature, the data itself. For an
    /// InRelease, the dash-unescaped text as the signature covers it, in
    /// Release-file form ([`release::ClearSigned::covered_text`]: trailing
    /// blanks, which the signature does not cover, removed; `\n` line
    /// breaks; a final `\n`), so every byte a caller parses is signed.
    pub payload: Vec<u8>,
    /// The good signatures, in signature order.
    pub signers: Vec<Signer>,
    /// Why the other signatures did not count (unknown key, expired key...).
    pub ignored: Vec<String>,
}

/// Verifies an InRelease file (cleartext-signed message).
///
/// The framing is checked with [`release::split_clearsigned`] first (text
/// outside the signed part, a second message, broken dash-escaping are
/// errors), and exactly the text that function returns is verified, so
/// the payload a caller parses is the payload the signature covers.
pub fn verify_inline(
    keyring: &Keyring,
    inrelease: &[u8],
    now: Timestamp,
) -> Result<Verified, OpenPgpError> {
    let clear = release::split_clearsigned(inrelease).map_err(|err| match err {
        ReleaseError::NotClearSigned => OpenPgpError::NotSigned {
            detail: err.to_string(),
        },
        other => OpenPgpError::Framing(other),
    })?;
    let signed_text = clear.signed_text();
    let sigs = parse_signatures(clear.signature_armored)?;
    for sig in sigs.iter().filter_map(|s| s.as_ref().ok()) {
        if sig.typ() != SignatureType::Text {
            return Err(OpenPgpError::Malformed(format!(
                "a cleartext signature must be a text signature (type 0x01), found {}",
                sig.typ()
            )));
        }
        let algo = sig.hash_algo().to_string();
        if !clear.hash_algorithms.is_empty()
            && !clear
                .hash_algorithms
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&algo))
        {
            return Err(OpenPgpError::Malformed(format!(
                "signature uses hash {algo}, but the \"Hash:\" header says {}",
                clear.hash_algorithms.join(",")
            )));
        }
    }
    let (signers, ignored) = check_signatures(keyring, &sigs, &signed_text, now)?;
    Ok(Verified {
        payload: clear.covered_text(),
        signers,
        ignored,
    })
}

/// Verifies `data` (a Release file) against a detached signature (a
/// Release.gpg file, armored or binary).
pub fn verify_detached(
    keyring: &Keyring,
    data: &[u8],
    signature: &[u8],
    now: Timestamp,
) -> Result<Verified, OpenPgpError> {
    let start = signature
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(signature.len());
    let trimmed = signature.get(start..).unwrap_or_default();
    if trimmed.is_empty() {
        return Err(OpenPgpError::NotSigned {
            detail: "the detached signature is empty".to_string(),
        });
    }
    if trimmed.starts_with(b"-----BEGIN PGP ")
        && !trimmed.starts_with(b"-----BEGIN PGP SIGNATURE-----")
    {
        return Err(OpenPgpError::Malformed(
            "the detached signature file is armored but is not a \
             \"-----BEGIN PGP SIGNATURE-----\" block"
                .to_string(),
        ));
    }
    let sigs = parse_signatures(signature)?;
    for sig in sigs.iter().filter_map(|s| s.as_ref().ok()) {
        if !matches!(sig.typ(), SignatureType::Binary | SignatureType::Text) {
            return Err(OpenPgpError::Malformed(format!(
                "not a document signature: {}",
                sig.typ()
            )));
        }
    }
    let needs_text = sigs
        .iter()
        .any(|s| matches!(s, Ok(sig) if sig.typ() == SignatureType::Text));
    let text_form = needs_text.then(|| canonical_text(data));
    let binary_or_text = |sig: &Signature| -> &[u8] {
        match (&text_form, sig.typ()) {
            (Some(text), SignatureType::Text) => text,
            _ => data,
        }
    };
    let (signers, ignored) = check_signatures_with(keyring, &sigs, binary_or_text, now)?;
    Ok(Verified {
        payload: data.to_vec(),
        signers,
        ignored,
    })
}

/// Text-mode canonical form (RFC 9580 section 5.2.1.2): every line break
/// (`\n`, `\r\n` or a lone `\r`) becomes `\r\n`.
fn canonical_text(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut iter = data.iter().peekable();
    while let Some(&b) = iter.next() {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if iter.peek() == Some(&&b'\n') {
                    iter.next();
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    out
}

/// A parsed signature packet, or why it could not be parsed.
type ParsedSig = Result<Signature, String>;

fn parse_signatures(bytes: &[u8]) -> Result<Vec<ParsedSig>, OpenPgpError> {
    let malformed = |err: anyhow::Error| OpenPgpError::Malformed(format!("{err:#}"));
    let mut sigs = Vec::new();
    let mut ppr = PacketParserBuilder::from_bytes(bytes)
        .map_err(malformed)?
        .build()
        .map_err(malformed)?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp.next().map_err(malformed)?;
        match packet {
            Packet::Signature(sig) => sigs.push(Ok(sig)),
            Packet::Marker(_) => {}
            Packet::Unknown(unknown) if unknown.tag() == Tag::Signature => sigs.push(Err(format!(
                "unsupported signature packet: {}",
                unknown.error()
            ))),
            other => {
                return Err(OpenPgpError::Malformed(format!(
                    "unexpected {} packet where only signatures are allowed",
                    other.tag()
                )));
            }
        }
        ppr = next;
    }
    if sigs.is_empty() {
        return Err(OpenPgpError::NotSigned {
            detail: "the signature block contains no signature".to_string(),
        });
    }
    Ok(sigs)
}

fn check_signatures(
    keyring: &Keyring,
    sigs: &[ParsedSig],
    message: &[u8],
    now: Timestamp,
) -> Result<(Vec<Signer>, Vec<String>), OpenPgpError> {
    check_signatures_with(keyring, sigs, |_| message, now)
}

/// Applies the acceptance rule to all signatures.
fn check_signatures_with<'m>(
    keyring: &Keyring,
    sigs: &[ParsedSig],
    message_for: impl Fn(&Signature) -> &'m [u8],
    now: Timestamp,
) -> Result<(Vec<Signer>, Vec<String>), OpenPgpError> {
    let now_system = SystemTime::try_from(now).map_err(|_| OpenPgpError::TimeOutOfRange(now))?;
    let policy = StandardPolicy::at(now_system);
    let mut signers = Vec::new();
    let mut failures: Vec<OpenPgpError> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for sig in sigs {
        let sig = match sig {
            Ok(sig) => sig,
            Err(reason) => {
                failures.push(OpenPgpError::Malformed(reason.clone()));
                continue;
            }
        };
        match check_one(keyring, sig, message_for(sig), now, now_system, &policy) {
            Check::Good(signer) => signers.push(signer),
            Check::Unknown(issuer) => unknown.push(issuer),
            Check::Failed(err @ OpenPgpError::BadSignature { .. }) => return Err(err),
            Check::Failed(err) => failures.push(err),
        }
    }
    if !signers.is_empty() {
        let mut ignored: Vec<String> = unknown
            .iter()
            .map(|issuer| {
                format!(
                    "signature by key {issuer}: key not in keyring {}",
                    keyring.source
                )
            })
            .collect();
        ignored.extend(failures.iter().map(ToString::to_string));
        return Ok((signers, ignored));
    }
    match failures.into_iter().max_by_key(OpenPgpError::rank) {
        // An unparseable extra signature is less telling than the keys
        // that are missing.
        Some(OpenPgpError::Malformed(_)) | None if !unknown.is_empty() => {
            Err(OpenPgpError::UnknownKey {
                issuers: unknown,
                keyring: keyring.source.clone(),
            })
        }
        Some(err) => Err(err),
        None => Err(OpenPgpError::NotSigned {
            detail: "the signature block contains no signature".to_string(),
        }),
    }
}

enum Check {
    Good(Signer),
    Unknown(String),
    Failed(OpenPgpError),
}

fn to_timestamp(time: SystemTime) -> Timestamp {
    // OpenPGP times are 32-bit seconds since the epoch, always in range.
    Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn issuer_name(issuers: &[KeyHandle]) -> String {
    issuers
        .iter()
        .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
        .or_else(|| issuers.first())
        .map(KeyHandle::to_hex)
        .unwrap_or_else(|| "(no issuer)".to_string())
}

fn check_one(
    keyring: &Keyring,
    sig: &Signature,
    message: &[u8],
    now: Timestamp,
    now_system: SystemTime,
    policy: &StandardPolicy<'_>,
) -> Check {
    let issuers = sig.get_issuers();
    if issuers.is_empty() {
        return Check::Failed(OpenPgpError::Malformed(
            "signature names no issuer key".to_string(),
        ));
    }
    let Some(created) = sig.signature_creation_time() else {
        return Check::Failed(OpenPgpError::Malformed(format!(
            "signature by {} has no creation time",
            issuer_name(&issuers)
        )));
    };

    // Find the key(s) the signature claims, and check the cryptography.
    let mut claimed: Option<Fingerprint> = None;
    for cert in &keyring.certs {
        for ka in cert.keys().key_handles(issuers.iter()) {
            let key_fpr = ka.key().fingerprint();
            if sig.verify_message(ka.key(), message).is_ok() {
                return Check::from(usable_at_now(
                    cert, &key_fpr, sig, created, now, now_system, policy,
                ));
            }
            claimed.get_or_insert(key_fpr);
        }
    }
    match claimed {
        Some(key) => Check::Failed(OpenPgpError::BadSignature { key: key.to_hex() }),
        None => Check::Unknown(issuer_name(&issuers)),
    }
}

impl From<Result<Signer, OpenPgpError>> for Check {
    fn from(result: Result<Signer, OpenPgpError>) -> Self {
        match result {
            Ok(signer) => Check::Good(signer),
            Err(err) => Check::Failed(err),
        }
    }
}

/// After the cryptography checked out: is the signature acceptable, and
/// the key usable, at `now`?
fn usable_at_now(
    cert: &Cert,
    key_fpr: &Fingerprint,
    sig: &Signature,
    created: SystemTime,
    now: Timestamp,
    now_system: SystemTime,
    policy: &StandardPolicy<'_>,
) -> Result<Signer, OpenPgpError> {
    let key = key_fpr.to_hex();
    let created_ts = to_timestamp(created);
    if created_ts.duration_since(now) > CLOCK_SKEW_TOLERANCE {
        return Err(OpenPgpError::SignatureTimeInFuture {
            key,
            created: created_ts,
            now,
        });
    }
    if let Some(expires) = sig.signature_expiration_time()
        && expires <= now_system
    {
        return Err(OpenPgpError::SignatureExpired {
            key,
            at: to_timestamp(expires),
        });
    }
    if let Err(err) = policy.signature(sig, HashAlgoSecurity::CollisionResistance) {
        return Err(OpenPgpError::Rejected {
            key,
            reason: format!("{err:#}"),
        });
    }

    let primary = cert.fingerprint().to_hex();
    let valid_cert =
        cert.with_policy(policy, now_system)
            .map_err(|err| OpenPgpError::KeyUnusable {
                key: primary.clone(),
                reason: format!("{err:#}"),
            })?;
    if let RevocationStatus::Revoked(revs) = valid_cert.revocation_status() {
        return Err(OpenPgpError::KeyRevoked {
            key: primary,
            reason: revocation_reason(&revs),
        });
    }
    if let Err(err) = valid_cert.alive() {
        return Err(expired_or_unusable(
            primary,
            valid_cert.primary_key().key_expiration_time(),
            now_system,
            err,
        ));
    }
    let Some(valid_key) = valid_cert.keys().key_handle(key_fpr.clone()).next() else {
        return Err(OpenPgpError::KeyUnusable {
            key,
            reason: format!("the key is not validly bound to certificate {primary} at {now}"),
        });
    };
    if let RevocationStatus::Revoked(revs) = valid_key.revocation_status() {
        return Err(OpenPgpError::KeyRevoked {
            key,
            reason: revocation_reason(&revs),
        });
    }
    if let Err(err) = valid_key.alive() {
        return Err(expired_or_unusable(
            key,
            valid_key.key_expiration_time(),
            now_system,
            err,
        ));
    }
    if !valid_key.for_signing() {
        return Err(OpenPgpError::KeyUnusable {
            key,
            reason: "the key is not signing-capable".to_string(),
        });
    }
    let user_id = valid_cert
        .primary_userid()
        .ok()
        .map(|uid| String::from_utf8_lossy(uid.userid().value()).into_owned());
    Ok(Signer {
        fingerprint: primary,
        signing_key: key,
        user_id,
        created: created_ts,
    })
}

fn expired_or_unusable(
    key: String,
    expiration: Option<SystemTime>,
    now_system: SystemTime,
    err: anyhow::Error,
) -> OpenPgpError {
    match expiration {
        Some(at) if at <= now_system => OpenPgpError::KeyExpired {
            key,
            at: to_timestamp(at),
        },
        _ => OpenPgpError::KeyUnusable {
            key,
            reason: format!("{err:#}"),
        },
    }
}

fn revocation_reason(revs: &[&Signature]) -> String {
    revs.iter()
        .find_map(|rev| rev.reason_for_revocation())
        .map(|(code, text)| {
            let text = String::from_utf8_lossy(text);
            if text.trim().is_empty() {
                format!(" ({code})")
            } else {
                format!(" ({code}: {})", text.trim())
            }
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn keyring(path: &str) -> Keyring {
        Keyring::from_file(Path::new(&format!(
            "{}/testdata/{path}",
            env!("CARGO_MANIFEST_DIR")
        )))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn fixture_fpr(name: &str) -> String {
        let text = String::from_utf8(testdata("openpgp/fingerprints.txt")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .to_string()
    }

    #[test]
    fn debian_keyring_loads() {
        let ring = keyring("keyrings/debian-archive-keyring.gpg");
        let fprs = ring.fingerprints();
        assert!(fprs.len() >= 6, "{fprs:?}");
        assert!(fprs.contains(&"B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8".to_string()));
        assert!(fprs.iter().all(|f| {
            f.len() == 40
                && f.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        }));
    }

    #[test]
    fn armored_keyring_with_two_certs() {
        let ring = keyring("openpgp/good-second.asc");
        assert_eq!(
            ring.fingerprints(),
            vec![fixture_fpr("good"), fixture_fpr("second")]
        );
    }

    #[test]
    fn concatenated_armor_blocks() {
        let good = String::from_utf8(testdata("openpgp/good-second.asc")).unwrap();
        let two = format!("{good}\n{good}");
        assert_eq!(
            Keyring::from_bytes(two.as_bytes())
                .unwrap()
                .fingerprints()
                .len(),
            4
        );
    }

    #[test]
    fn bad_keyrings_are_errors() {
        let err = Keyring::from_bytes(b"").unwrap_err();
        assert!(err.to_string().contains("no certificates"), "{err}");
        let err = Keyring::from_bytes(b"this is not a keyring").unwrap_err();
        assert!(matches!(err, OpenPgpError::Keyring { .. }), "{err}");
        let err = Keyring::from_file(Path::new("/nonexistent/keyring.gpg")).unwrap_err();
        assert!(matches!(err, OpenPgpError::KeyringIo { .. }), "{err}");
    }

    #[test]
    fn real_inrelease_verifies_with_all_signers() {
        let ring = keyring("keyrings/debian-archive-keyring.gpg");
        let data = testdata("mirror/debian/dists/bookworm/InRelease");
        let verified = verify_inline(&ring, &data, now()).unwrap();
        let fprs: Vec<&str> = verified
            .signers
            .iter()
            .map(|s| s.fingerprint.as_str())
            .collect();
        assert_eq!(
            fprs,
            [
                "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
                "04B54C3CDCA79751B16BC6B5225629DF75B188BD",
                "4D64FEC119C2029067D6E791F8D2585B8783D481",
            ]
        );
        assert_eq!(
            verified.signers[0].signing_key,
            "4CB50190207B4758A3F73A796ED0E7B82643E131"
        );
        assert_eq!(
            verified.signers[0].user_id.as_deref(),
            Some("Debian Archive Automatic Signing Key (12/bookworm) <ftpmaster@debian.org>")
        );
        assert_eq!(
            verified.signers[0].created,
            "2026-07-11T10:17:11Z".parse::<Timestamp>().unwrap()
        );
        assert!(verified.ignored.is_empty());
        assert!(verified.payload.starts_with(b"Origin: Debian\n"));
    }

    #[test]
    fn partial_keyring_ignores_unknown_signers() {
        let ring = keyring("keyrings/debian-archive-bookworm-stable.gpg");
        let data = testdata("mirror/debian/dists/bookworm/InRelease");
        let verified = verify_inline(&ring, &data, now()).unwrap();
        assert_eq!(verified.signers.len(), 1);
        assert_eq!(verified.ignored.len(), 2);
        assert!(
            verified.ignored[0].contains("not in keyring"),
            "{:?}",
            verified.ignored
        );
    }

    #[test]
    fn one_changed_byte_is_a_bad_signature() {
        let ring = keyring("keyrings/debian-archive-keyring.gpg");
        let mut data = testdata("mirror/debian/dists/trixie-updates/InRelease");
        let pos = data.windows(7).position(|w| w == b"13-upda").unwrap();
        data[pos + 1] = b'4';
        let err = verify_inline(&ring, &data, now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn wrong_keyring_is_unknown_key() {
        let ring = keyring("keyrings/debian-archive-trixie-security-automatic.gpg");
        let data = testdata("mirror/debian/dists/bookworm/InRelease");
        let err = verify_inline(&ring, &data, now()).unwrap_err();
        match &err {
            OpenPgpError::UnknownKey { issuers, keyring } => {
                assert_eq!(issuers.len(), 3);
                assert!(keyring.ends_with("debian-archive-trixie-security-automatic.gpg"));
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.kind(), "unknown-key");
    }

    #[test]
    fn plain_payload_is_not_signed() {
        let ring = keyring("openpgp/good.gpg");
        let err = verify_inline(&ring, &testdata("openpgp/Release"), now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::NotSigned { .. }), "{err}");
    }

    #[test]
    fn fixture_inrelease_good() {
        let ring = keyring("openpgp/good.gpg");
        let verified = verify_inline(&ring, &testdata("openpgp/InRelease"), now()).unwrap();
        assert_eq!(verified.payload, testdata("openpgp/Release"));
        assert_eq!(verified.signers.len(), 1);
        assert_eq!(verified.signers[0].fingerprint, fixture_fpr("good"));
        assert_eq!(verified.signers[0].signing_key, fixture_fpr("good"));
    }

    #[test]
    fn two_signers_with_subkey() {
        let ring = keyring("openpgp/good-second.asc");
        let verified =
            verify_inline(&ring, &testdata("openpgp/two-signers.InRelease"), now()).unwrap();
        assert_eq!(verified.signers.len(), 2);
        let second = &verified.signers[1];
        assert_eq!(second.fingerprint, fixture_fpr("second"));
        assert_ne!(second.signing_key, second.fingerprint);
        assert_eq!(
            second.user_id.as_deref(),
            Some("debfleet test second <second@example.org>")
        );
    }

    #[test]
    fn one_good_one_bad_is_rejected() {
        let ring = keyring("openpgp/all.gpg");
        let err = verify_inline(&ring, &testdata("openpgp/one-bad.InRelease"), now()).unwrap_err();
        match err {
            OpenPgpError::BadSignature { key } => {
                // The bad one is the second key's signing subkey.
                assert_ne!(key, fixture_fpr("good"));
            }
            other => panic!("{other}"),
        }
        // With only the good key known, the bad signature is by an unknown
        // key and does not count against the good one (gpgv's rule).
        let ring = keyring("openpgp/good.gpg");
        let verified = verify_inline(&ring, &testdata("openpgp/one-bad.InRelease"), now()).unwrap();
        assert_eq!(verified.signers.len(), 1);
        assert_eq!(verified.ignored.len(), 1);
    }

    #[test]
    fn expired_and_revoked_keys() {
        let ring = keyring("openpgp/all.gpg");
        let err =
            verify_inline(&ring, &testdata("openpgp/expired-key.InRelease"), now()).unwrap_err();
        match &err {
            OpenPgpError::KeyExpired { key, at } => {
                assert_eq!(key, &fixture_fpr("expired"));
                assert_eq!(*at, "2025-01-01T12:00:00Z".parse::<Timestamp>().unwrap());
            }
            other => panic!("{other}"),
        }
        // Before the expiry the same signature is good.
        let before: Timestamp = "2024-07-01T00:00:00Z".parse().unwrap();
        verify_inline(&ring, &testdata("openpgp/expired-key.InRelease"), before).unwrap();

        let err =
            verify_inline(&ring, &testdata("openpgp/revoked-key.InRelease"), now()).unwrap_err();
        assert!(
            matches!(&err, OpenPgpError::KeyRevoked { key, .. } if *key == fixture_fpr("revoked")),
            "{err}"
        );
        assert_eq!(err.kind(), "key-revoked");
    }

    #[test]
    fn sha1_is_rejected_by_policy() {
        let ring = keyring("openpgp/all.gpg");
        let err = verify_inline(&ring, &testdata("openpgp/sha1.InRelease"), now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::Rejected { .. }), "{err}");
    }

    #[test]
    fn future_signature_is_rejected() {
        let ring = keyring("openpgp/good.gpg");
        let err = verify_inline(&ring, &testdata("openpgp/future.InRelease"), now()).unwrap_err();
        assert!(
            matches!(err, OpenPgpError::SignatureTimeInFuture { .. }),
            "{err}"
        );
        let later: Timestamp = "2030-01-02T00:00:00Z".parse().unwrap();
        verify_inline(&ring, &testdata("openpgp/future.InRelease"), later).unwrap();
    }

    #[test]
    fn dash_escaped_text_verifies() {
        let ring = keyring("openpgp/good.gpg");
        let verified =
            verify_inline(&ring, &testdata("openpgp/dash-escaped.InRelease"), now()).unwrap();
        let expected = String::from_utf8(testdata("openpgp/dash-escaped.txt"))
            .unwrap()
            .replace("blanks   \n", "blanks\n")
            .replace("tab\t\n", "tab\n");
        assert_eq!(verified.payload, expected.as_bytes());
    }

    #[test]
    fn outside_text_is_rejected_before_verification() {
        let ring = keyring("openpgp/good.gpg");
        let mut data = testdata("openpgp/InRelease");
        data.extend_from_slice(b"Suite: evil\n");
        let err = verify_inline(&ring, &data, now()).unwrap_err();
        assert!(
            matches!(err, OpenPgpError::Framing(ReleaseError::OutsideText { .. })),
            "{err}"
        );
    }

    #[test]
    fn hash_header_must_match_signature() {
        let ring = keyring("openpgp/good.gpg");
        let data = String::from_utf8(testdata("openpgp/InRelease")).unwrap();
        let lying = data.replacen("Hash: SHA256", "Hash: SHA512", 1);
        let err = verify_inline(&ring, lying.as_bytes(), now()).unwrap_err();
        assert!(
            matches!(&err, OpenPgpError::Malformed(m) if m.contains("Hash:")),
            "{err}"
        );
        let listed = data.replacen("Hash: SHA256", "Hash: SHA512, SHA256", 1);
        verify_inline(&ring, listed.as_bytes(), now()).unwrap();
    }

    #[test]
    fn detached_good_and_tampered() {
        let ring = keyring("openpgp/good.gpg");
        let data = testdata("openpgp/Release");
        let sig = testdata("openpgp/Release.gpg");
        let verified = verify_detached(&ring, &data, &sig, now()).unwrap();
        assert_eq!(verified.signers[0].fingerprint, fixture_fpr("good"));
        assert_eq!(verified.payload, data);
        let mut tampered = data.clone();
        tampered[10] ^= 1;
        let err = verify_detached(&ring, &tampered, &sig, now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::BadSignature { .. }), "{err}");
        let err = verify_detached(&ring, &data, b"", now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::NotSigned { .. }), "{err}");
        let err = verify_detached(&ring, &data, b"garbage", now()).unwrap_err();
        assert!(matches!(err, OpenPgpError::Malformed(_)), "{err}");
    }

    #[test]
    fn canonical_text_line_endings() {
        assert_eq!(canonical_text(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    }
}
