//! Fuzzes relationship parsing (`Depends`-like fields and `Provides`).
//!
//! Checks that parsing never panics and that the canonical spelling of
//! every parsed relation (its `Display`) parses back to the same relation.
#![no_main]

use debfleet::deb::relation::{Alternatives, parse_provides, parse_relations};
use libfuzzer_sys::fuzz_target;

fn canonical(entries: &[Alternatives<'_>]) -> String {
    entries
        .iter()
        .map(|alts| {
            alts.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entries) = parse_relations(text) {
        let again = canonical(&entries);
        let reparsed = parse_relations(&again)
            .unwrap_or_else(|e| panic!("canonical form {again:?} of {text:?} fails: {e}"));
        assert_eq!(entries, reparsed, "round trip of {text:?} via {again:?}");
    }
    if let Ok(entries) = parse_provides(text) {
        assert!(entries.iter().all(|alts| alts.len() == 1));
        let again = canonical(&entries);
        let reparsed = parse_provides(&again)
            .unwrap_or_else(|e| panic!("canonical form {again:?} of {text:?} fails: {e}"));
        assert_eq!(entries, reparsed, "round trip of {text:?} via {again:?}");
    }
});
