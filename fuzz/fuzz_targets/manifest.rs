//! Fuzzes image manifest parsing (`fleet::manifest::parse_manifest`), which
//! also drives the fleet YAML reader.
//!
//! Checks that parsing never panics, that the collecting parser's first
//! error is the one `parse_manifest` reports, and that its error list is
//! never empty and capped (50 problems plus a "more not shown" note).
#![no_main]

use std::path::Path;

use debfleet::fleet::manifest::{parse_manifest, parse_manifest_collecting};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/fleet/images/fuzz.yaml");
    let first = parse_manifest(path, data);
    match parse_manifest_collecting(path, data) {
        Ok(m) => {
            let Ok(m1) = first else {
                panic!("parse_manifest refused what parse_manifest_collecting accepted");
            };
            assert_eq!(format!("{m:?}"), format!("{m1:?}"));
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an empty error list");
            // At most 50 problems, plus one "N more problems not shown" note.
            assert!(
                errors.len() <= 51,
                "{} errors, more than the cap",
                errors.len()
            );
            if errors.len() == 51 {
                assert!(errors[50].to_string().contains("more problems not shown"));
            }
            let Err(e) = first else {
                panic!("parse_manifest accepted what parse_manifest_collecting refused");
            };
            assert_eq!(e.to_string(), errors[0].to_string());
        }
    }
});
