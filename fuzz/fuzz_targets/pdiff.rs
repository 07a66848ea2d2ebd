//! Fuzzes pdiff handling: `Packages.diff/Index` parsing, patch planning, and
//! ed-script application (apt's rred semantics).
//!
//! The whole input is tried as an Index (then planned against each history
//! hash with small limits) and as an ed script against a fixed 12-line base.
//! If it contains a NUL byte, the part before it is also used as the base
//! and the part after it as the script, once alone and twice as a chain.
//! Checks: nothing panics; a plan respects its limits; a patched file is at
//! most base + script bytes (the script's text is the only source of new
//! bytes), so no input makes the output blow up.
#![no_main]

use debfleet::deb::hash::Sha256Digest;
use debfleet::deb::pdiff::{self, PdiffIndex, PdiffLimits, PdiffPlan};
use libfuzzer_sys::fuzz_target;

const BASE: &[u8] = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n\n\
Package: c\nVersion: 3\nDepends: a\n\nPackage: d\nVersion: 4\n";

fn check_apply(base: &[u8], script: &[u8]) {
    if let Ok(out) = pdiff::apply_ed(base, script) {
        assert!(
            out.len() <= base.len() + script.len(),
            "output of {} bytes from a {}-byte base and a {}-byte script",
            out.len(),
            base.len(),
            script.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = PdiffIndex::parse(data) {
        let _ = index.check_current(index.current.0, index.current.1);
        let limits = PdiffLimits {
            file_limit: 3,
            size_limit_percent: 100,
        };
        let haves = index
            .history
            .iter()
            .map(|e| e.sha256)
            .chain([index.current.0, Sha256Digest::of(BASE)]);
        for have in haves {
            match pdiff::plan(&index, have, 1_000, limits) {
                PdiffPlan::Patches(steps) => {
                    assert!(!steps.is_empty(), "a plan with no patches");
                    assert!(steps.len() <= limits.file_limit, "file limit ignored");
                    assert!(
                        !index.merged || steps.len() == 1,
                        "merged but several steps"
                    );
                    let bytes: u64 = steps.iter().map(|s| s.download.size).sum();
                    assert!(bytes <= 1_000, "size limit ignored: {bytes}");
                }
                PdiffPlan::UpToDate => assert_eq!(have, index.current.0),
                PdiffPlan::FullDownload { .. } => {}
            }
        }
    }

    check_apply(BASE, data);
    if let Some(nul) = data.iter().position(|&c| c == 0) {
        let (base, script) = (&data[..nul], &data[nul + 1..]);
        check_apply(base, script);
        if let Ok(out) = pdiff::apply_chain(base, &[script, script]) {
            assert!(out.len() <= base.len() + 2 * script.len());
        }
    }
});
