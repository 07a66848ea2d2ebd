//! SHA-256 digests: the one hash Debian indexes are verified with.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Hashes `data` in one call.
    pub fn of(data: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(data).into())
    }

    /// Parses 64 hex digits (either case). Returns `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        Self::from_hex_bytes(hex.as_bytes())
    }

    /// [`Sha256Digest::from_hex`] on bytes, without branching per digit
    /// (it is on the hot path of Packages parsing).
    #[inline]
    pub fn from_hex_bytes(hex: &[u8]) -> Option<Self> {
        let digits: &[u8; 64] = hex.try_into().ok()?;
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUES[usize::from(pair[0])],
                HEX_VALUES[usize::from(pair[1])],
            );
            invalid |= hi | lo;
            *o = hi << 4 | lo;
        }
        (invalid & 0xf0 == 0).then_some(Sha256Digest(out))
    }

    /// Lower-case hex form, as Debian writes it.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        s
    }
}

/// Hex digit values; `0xff` marks bytes that are not hex digits.
const HEX_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Incremental hasher, for streamed bodies.
#[derive(Default, Clone)]
pub struct Sha256Hasher(Sha256);

impl Sha256Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> Sha256Digest {
        Sha256Digest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_known_value() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256Digest::from_hex(&d.to_hex().to_uppercase()), Some(d));
        assert_eq!(Sha256Digest::from_hex("zz"), None);
        for i in 0..64 {
            for bad in [b'g', b'G', b' ', b'/', b':', b'@', b'`', 0xff, 0] {
                let mut v = d.to_hex().into_bytes();
                v[i] = bad;
                assert_eq!(Sha256Digest::from_hex_bytes(&v), None, "{i} {bad}");
            }
        }
        assert_eq!(
            Sha256Digest::from_hex_bytes(&d.to_hex().as_bytes()[1..]),
            None
        );
        assert_eq!(Sha256Digest::from_hex_bytes(b""), None);
        let mut h = Sha256Hasher::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), d);
    }
}
