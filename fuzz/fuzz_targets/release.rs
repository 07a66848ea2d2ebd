//! Fuzzes `Release::parse` (the payload of Release / InRelease files).
//!
//! Checks that parsing never panics, and that whatever it accepts is
//! consistent: every listed index path passes `validate_index_path`, can be
//! looked up with `Release::file`, and the date checks run on the parsed
//! dates without panicking.
#![no_main]

use debfleet::deb::release::{self, Release};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rel) = Release::parse(data) else {
        return;
    };
    for entry in &rel.files {
        assert!(
            release::validate_index_path(&entry.path).is_ok(),
            "accepted an unsafe index path {:?}",
            entry.path
        );
        assert!(rel.file(&entry.path).is_some());
    }
    if let Some(date) = rel.date {
        let _ = rel.check_valid_until(date);
    }
    if let Some(until) = rel.valid_until {
        let _ = rel.check_valid_until(until);
    }
});
