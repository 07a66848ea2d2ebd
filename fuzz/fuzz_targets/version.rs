//! Fuzzes version parsing and comparison.
//!
//! The input is split at the first `\n` (and the rest again at the next
//! `\n`) into up to three version strings. Checks:
//! - the dpkg-style and strict parsers never panic;
//! - `compare_bytes` is reflexive and antisymmetric, and agrees with
//!   `compare` on UTF-8 input and with `Version`'s `Ord`;
//! - a "transitivity-lite": `a <= b` and `b <= c` imply `a <= c`;
//! - for strictly valid versions, the fast comparison agrees with a plain
//!   reference (epoch as a number, then dpkg's verrevcmp on upstream and
//!   revision), and equal versions hash equally.
#![no_main]

use std::cmp::Ordering;
use std::hash::{DefaultHasher, Hash, Hasher};

use debfleet::deb::version::{self, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&c| c == b'\n');
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let c = parts.next().unwrap_or_default();

    for s in [a, b, c] {
        let _ = version::parse_like_dpkg_bytes(s);
        assert_eq!(version::compare_bytes(s, s), Ordering::Equal);
    }

    let ab = version::compare_bytes(a, b);
    let ba = version::compare_bytes(b, a);
    assert_eq!(ab, ba.reverse(), "antisymmetry: {a:?} vs {b:?}");

    let bc = version::compare_bytes(b, c);
    let ac = version::compare_bytes(a, c);
    if ab != Ordering::Greater && bc != Ordering::Greater {
        assert_ne!(
            ac,
            Ordering::Greater,
            "transitivity: {a:?} <= {b:?} <= {c:?}"
        );
    }
    if ab == Ordering::Equal && bc == Ordering::Equal {
        assert_eq!(
            ac,
            Ordering::Equal,
            "equality is transitive: {a:?} {b:?} {c:?}"
        );
    }

    let (Ok(sa), Ok(sb)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    assert_eq!(version::compare(sa, sb), ab);
    let (Ok(va), Ok(vb)) = (Version::parse(sa), Version::parse(sb)) else {
        return;
    };
    assert!(version::validate(sa).is_ok() && version::validate(sb).is_ok());
    assert_eq!(va.as_str(), sa);
    assert_eq!(va.cmp(&vb), ab, "Ord vs compare_bytes: {sa:?} {sb:?}");
    let reference = va
        .epoch()
        .cmp(&vb.epoch())
        .then_with(|| plain_verrevcmp(va.upstream().as_bytes(), vb.upstream().as_bytes()))
        .then_with(|| plain_verrevcmp(va.revision().as_bytes(), vb.revision().as_bytes()));
    assert_eq!(ab, reference, "fast path vs reference: {sa:?} {sb:?}");
    if va == vb {
        assert_eq!(
            hash_of(&va),
            hash_of(&vb),
            "equal versions hash alike: {sa:?} {sb:?}"
        );
    }
});

fn hash_of(v: &Version) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// dpkg's `verrevcmp`, written as plainly as possible (lib/dpkg/version.c).
fn plain_verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(b'~') => -1,
            Some(c) => i32::from(c as i8) + 256,
        }
    }
    let (mut i, mut j) = (0, 0);
    loop {
        while a.get(i).is_some_and(|c| !c.is_ascii_digit())
            || b.get(j).is_some_and(|c| !c.is_ascii_digit())
        {
            let (x, y) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            if !(x.is_ascii_digit() && y.is_ascii_digit()) {
                break;
            }
            if first_diff == Ordering::Equal {
                first_diff = x.cmp(y);
            }
            i += 1;
            j += 1;
        }
        if a.get(i).is_some_and(u8::is_ascii_digit) {
            return Ordering::Greater;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
        if i >= a.len() && j >= b.len() {
            return Ordering::Equal;
        }
    }
}
