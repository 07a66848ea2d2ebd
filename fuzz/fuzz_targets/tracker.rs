//! Fuzzes the Debian security tracker JSON import
//! (`security::tracker::parse_stream`), reading the input as the export.
//!
//! Checks that parsing never panics, and that no issue handed to the
//! callback has an empty id (such entries are refused).
#![no_main]

use std::path::Path;

use debfleet::security::tracker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut warnings = Vec::new();
    let mut on_source = |_name: &str, issues: tracker::ParsedSource| {
        assert!(issues.keys().all(|id| !id.is_empty()), "an empty issue id");
        Ok(())
    };
    let _ = tracker::parse_stream(Path::new("fuzz.json"), data, &mut on_source, &mut warnings);
});
