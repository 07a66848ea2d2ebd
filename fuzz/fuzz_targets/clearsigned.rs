//! Fuzzes `split_clearsigned` (the cleartext-signature framework of
//! InRelease files; no signature verification).
//!
//! Checks that splitting never panics, that the armored signature part is a
//! `BEGIN PGP SIGNATURE` .. `END PGP SIGNATURE` block taken from the input,
//! that the derived signed and covered texts can be computed, and that the
//! signed text can be handed to `Release::parse`.
#![no_main]

use debfleet::deb::release::{Release, split_clearsigned};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cs) = split_clearsigned(data) else {
        return;
    };
    let sig = cs.signature_armored;
    assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"), "{sig:?}");
    assert!(
        sig.trim_ascii_end()
            .ends_with(b"-----END PGP SIGNATURE-----"),
        "{sig:?}"
    );
    assert!(
        data.windows(sig.len()).any(|w| w == sig),
        "the signature block is not a slice of the input"
    );
    assert!(cs.text.len() <= data.len());
    let _ = cs.signed_text();
    let _ = cs.covered_text();
    let _ = Release::parse(&cs.text);
});
