//! Shared support code for the integration tests in `tests/*.rs`.
//!
//! Include it from a test file with `mod support;`. Each test crate uses only
//! part of it, hence the crate-wide `dead_code` allowance below.
//!
//! - [`apt`]: asks the real apt installed on this machine what it would do for
//!   a container image (candidates, `apt list --upgradable`, a simulated
//!   `dist-upgrade`), in a private apt root. It shares no code with debfleet
//!   and is the independent truth debfleet's policy is asserted against.
#![allow(dead_code)]

pub mod apt;

use std::path::PathBuf;

/// Absolute path of the repository's `testdata/` directory.
pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}
