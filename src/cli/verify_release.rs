//! `debfleet verify-release`: a gpgv-like check of an InRelease (or
//! Release + Release.gpg) against a keyring, printing the good signers and
//! the parsed Release header. Exit status 0 when valid, 1 otherwise.

use anyhow::{Context, Result};
use debfleet::deb::openpgp::{self, Keyring, OpenPgpError, Signer, Verified};
use debfleet::deb::release::{Release, ReleaseError};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object on stdout: `valid`, `signers`, `ignored`, `release`,
    /// and `error`/`error_kind` when not valid.
    Json,
}

/// Arguments of `debfleet verify-release`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The InRelease file, or the Release file when --detached is given.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Keyring with the archive's keys: binary (.gpg, e.g.
    /// /usr/share/keyrings/debian-archive-keyring.gpg) or ASCII-armored
    /// (.asc). Repeat to use several.
    #[arg(long, required = true, value_name = "KEYRING")]
    pub keyring: Vec<PathBuf>,
    /// Detached signature (Release.gpg) for FILE (a plain Release).
    #[arg(long, value_name = "SIG")]
    pub detached: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Do not reject a Release whose Valid-Until is at or before now (for
    /// frozen snapshots).
    #[arg(long)]
    pub ignore_valid_until: bool,
}

/// Why the file is not valid (after it could be read).
enum Failure {
    Signature(OpenPgpError),
    Release(ReleaseError),
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::Signature(err) => err.kind(),
            Failure::Release(ReleaseError::Expired { .. }) => "release-expired",
            Failure::Release(ReleaseError::NotYetValid { .. }) => "release-not-yet-valid",
            Failure::Release(_) => "release-malformed",
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Signature(err) => err.to_string(),
            Failure::Release(err @ ReleaseError::Expired { .. }) => format!(
                "{err} (the signature is valid; pass --ignore-valid-until to accept a frozen \
                 snapshot)"
            ),
            Failure::Release(err @ ReleaseError::NotYetValid { .. }) => {
                format!("{err} (the signature is valid)")
            }
            Failure::Release(err) => {
                format!("the signature is valid, but the Release is malformed: {err}")
            }
        }
    }
}

/// What was established about the file.
struct Report {
    verified: Option<Verified>,
    release: Option<Release>,
    outcome: Result<(), Failure>,
}

/// Verifies, prints the report, and returns exit status 0 (valid) or 1 (not
/// valid). Unreadable files and keyrings are errors (also exit status 1, via
/// the caller).
pub fn run(global: &super::GlobalArgs, args: &Args) -> Result<ExitCode> {
    let now = super::clock::now(global)?;
    let mut keyrings = args.keyring.iter();
    let mut keyring = match keyrings.next() {
        Some(path) => Keyring::from_file(path)?,
        None => anyhow::bail!("--keyring is required"),
    };
    for path in keyrings {
        keyring.merge(Keyring::from_file(path)?);
    }
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let verified = match &args.detached {
        Some(sig_path) => {
            let sig = std::fs::read(sig_path)
                .with_context(|| format!("cannot read {}", sig_path.display()))?;
            openpgp::verify_detached(&keyring, &data, &sig, now)
        }
        None => openpgp::verify_inline(&keyring, &data, now),
    };

    let report = match verified {
        Err(err) => Report {
            verified: None,
            release: None,
            outcome: Err(Failure::Signature(err)),
        },
        Ok(verified) => match Release::parse(&verified.payload) {
            Err(err) => Report {
                verified: Some(verified),
                release: None,
                outcome: Err(Failure::Release(err)),
            },
            Ok(release) => Report {
                outcome: check_dates(&release, now, args.ignore_valid_until),
                verified: Some(verified),
                release: Some(release),
            },
        },
    };

    let file = args.file.display().to_string();
    match args.format {
        Format::Text => print_text(&file, &report),
        Format::Json => print_json(&file, &report, now)?,
    }
    Ok(match report.outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    })
}

/// The Release's own validity window: Valid-Until (unless ignored) and a
/// Date that is not in the future.
fn check_dates(release: &Release, now: Timestamp, ignore_valid_until: bool) -> Result<(), Failure> {
    if !ignore_valid_until {
        release.check_valid_until(now).map_err(Failure::Release)?;
    }
    release
        .check_date(now, openpgp::CLOCK_SKEW_TOLERANCE)
        .map_err(Failure::Release)
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn print_text(file: &str, report: &Report) {
    if let Some(verified) = &report.verified {
        for signer in &verified.signers {
            println!(
                "Good signature from {} {}",
                signer.fingerprint,
                signer.user_id.as_deref().unwrap_or("(no user ID)")
            );
            println!(
                "    signing key {}, made {}",
                signer.signing_key, signer.created
            );
        }
        for reason in &verified.ignored {
            println!("Ignored: {reason}");
        }
    }
    if let Some(release) = &report.release {
        let fields: [(&str, String); 13] = [
            ("Origin", or_dash(release.origin.as_deref())),
            ("Label", or_dash(release.label.as_deref())),
            ("Suite", or_dash(release.suite.as_deref())),
            ("Codename", or_dash(release.codename.as_deref())),
            ("Version", or_dash(release.version.as_deref())),
            ("Date", or_dash(release.date)),
            ("Valid-Until", or_dash(release.valid_until)),
            ("Architectures", release.architectures.join(" ")),
            ("Components", release.components.join(" ")),
            (
                "Acquire-By-Hash",
                yes_no(release.acquire_by_hash).to_string(),
            ),
            ("NotAutomatic", yes_no(release.not_automatic).to_string()),
            (
                "ButAutomaticUpgrades",
                yes_no(release.but_automatic_upgrades).to_string(),
            ),
            (
                "No-Support-for-Architecture-all",
                or_dash(release.no_support_for_architecture_all.as_deref()),
            ),
        ];
        for (name, value) in fields {
            println!("{name}: {value}");
        }
        println!("SHA256 entries: {}", release.files.len());
    }
    match &report.outcome {
        Ok(()) => {
            let count = report.verified.as_ref().map_or(0, |v| v.signers.len());
            println!("{file}: valid ({count} good signature(s))");
        }
        Err(failure) => eprintln!("error: {file}: {}", failure.message()),
    }
}

fn signer_json(signer: &Signer) -> Value {
    json!({
        "fingerprint": signer.fingerprint,
        "signing_key": signer.signing_key,
        "user_id": signer.user_id,
        "created": signer.created.to_string(),
    })
}

fn release_json(release: &Release) -> Value {
    json!({
        "origin": release.origin,
        "label": release.label,
        "suite": release.suite,
        "codename": release.codename,
        "version": release.version,
        "date": release.date.map(|t| t.to_string()),
        "valid_until": release.valid_until.map(|t| t.to_string()),
        "architectures": release.architectures,
        "components": release.components,
        "description": release.description,
        "acquire_by_hash": release.acquire_by_hash,
        "not_automatic": release.not_automatic,
        "but_automatic_upgrades": release.but_automatic_upgrades,
        "no_support_for_architecture_all": release.no_support_for_architecture_all,
        "sha256_entries": release.files.len(),
    })
}

fn print_json(file: &str, report: &Report, now: Timestamp) -> Result<()> {
    let verified = report.verified.as_ref();
    let mut out = json!({
        "file": file,
        "now": now.to_string(),
        "valid": report.outcome.is_ok(),
        "signers": verified.map_or_else(Vec::new, |v| v.signers.iter().map(signer_json).collect()),
        "ignored": verified.map_or_else(Vec::new, |v| v.ignored.clone()),
        "release": report.release.as_ref().map_or(Value::Null, release_json),
    });
    if let (Err(failure), Some(map)) = (&report.outcome, out.as_object_mut()) {
        map.insert("error".to_string(), Value::String(failure.message()));
        map.insert(
            "error_kind".to_string(),
            Value::String(failure.kind().to_string()),
        );
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if let Err(failure) = &report.outcome {
        eprintln!("error: {file}: {}", failure.message());
    }
    Ok(())
}
