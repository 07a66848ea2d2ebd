//! Fuzzes the deb822 paragraph scanner and `BinaryPackage` extraction.
//!
//! Checks that scanning never panics, that the single-pass `packages`
//! iterator yields exactly what `parse_binary_package` yields on each
//! scanned paragraph (as documented), that scanning in chunks
//! (`split_paragraph_chunks`) yields the same paragraphs, errors and line
//! numbers as scanning the whole buffer, and that field values and their
//! continuation lines can be walked.
#![no_main]

use debfleet::deb::deb822::{self, Paragraph};
use debfleet::deb::package;
use libfuzzer_sys::fuzz_target;

fn describe(p: &Result<Paragraph<'_>, deb822::Deb822Error>) -> String {
    match p {
        Ok(p) => format!("Ok(line {}, {:?})", p.line(), p.raw()),
        Err(e) => format!("Err({e})"),
    }
}

fuzz_target!(|data: &[u8]| {
    let whole: Vec<String> = deb822::paragraphs(data).map(|p| describe(&p)).collect();

    for p in deb822::paragraphs(data).flatten() {
        for field in p.fields() {
            let _ = field.is("Package");
            for line in deb822::value_lines(field.value) {
                let _ = line.len();
            }
        }
        let _ = p.get("Package");
        let _ = p.get("description");
    }

    let by_paragraph: Vec<String> = deb822::paragraphs(data)
        .map(|p| match p {
            Ok(p) => format!("{:?}", package::parse_binary_package(&p)),
            Err(e) => format!("{:?}", Err::<(), _>(package::PackageError::from(e))),
        })
        .collect();
    let single_pass: Vec<String> = package::packages(data).map(|r| format!("{r:?}")).collect();
    assert_eq!(
        by_paragraph, single_pass,
        "packages() vs parse_binary_package"
    );

    for n in [2, 3, 7] {
        let chunked: Vec<String> = deb822::split_paragraph_chunks(data, n)
            .iter()
            .flat_map(|c| c.paragraphs().map(|p| describe(&p)).collect::<Vec<_>>())
            .collect();
        assert_eq!(whole, chunked, "chunked scan ({n} chunks) vs whole scan");
    }
});
