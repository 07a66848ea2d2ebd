//! [`PackageSet`]: a stored manifest's package set (`package -> version`),
//! decoded into one shared buffer for read-heavy queries.
//!
//! A package set is stored as `key NUL version NUL` pairs in key order (see
//! `build::encode_package_set`). Decoding it into a `BTreeMap<String,
//! String>` costs two allocations and a tree insert per package; audit
//! queries that return hundreds of sets (`audit at`) instead keep the
//! stored bytes as one string plus an offset table, and share the result
//! between the stages that ran the same build.

use serde::Serialize;
use serde::ser::SerializeMap;
use std::sync::Arc;

/// An immutable, cheaply cloned package set in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSet(Arc<Packed>);

#[derive(Debug, Default, PartialEq, Eq)]
struct Packed {
    /// The stored text: `key NUL version NUL ...`.
    text: String,
    /// Per package: where its key starts, where it ends (the NUL before the
    /// version) and where its version ends.
    entries: Vec<(u32, u32, u32)>,
}

impl PackageSet {
    /// Decodes the stored form; `None` when it is malformed (not UTF-8, an
    /// odd number of fields, keys not strictly increasing, or too large for
    /// 32-bit offsets).
    pub fn decode(bytes: &[u8]) -> Option<PackageSet> {
        let text = std::str::from_utf8(bytes).ok()?;
        u32::try_from(text.len()).ok()?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        let mut previous: Option<&str> = None;
        while at < text.len() {
            let key_end = at + memchr::memchr(0, &bytes[at..])?;
            let version_start = key_end + 1;
            let version_end = version_start + memchr::memchr(0, bytes.get(version_start..)?)?;
            let key = text.get(at..key_end)?;
            if key.is_empty() || previous.is_some_and(|p| p >= key) {
                return None;
            }
            previous = Some(key);
            entries.push((at as u32, key_end as u32, version_end as u32));
            at = version_end + 1;
        }
        Some(PackageSet(Arc::new(Packed {
            text: text.to_string(),
            entries,
        })))
    }

    /// How many packages.
    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// `(package, version)` pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.entries.iter().map(|&e| self.pair(e))
    }

    /// The version of `package`, if the set has it.
    pub fn get(&self, package: &str) -> Option<&str> {
        let entries = &self.0.entries;
        let i = entries
            .binary_search_by(|&e| self.pair(e).0.cmp(package))
            .ok()?;
        entries.get(i).map(|&e| self.pair(e).1)
    }

    fn pair(&self, (start, key_end, version_end): (u32, u32, u32)) -> (&str, &str) {
        let text = &self.0.text;
        let key = text.get(start as usize..key_end as usize).unwrap_or("");
        let version = text
            .get(key_end as usize + 1..version_end as usize)
            .unwrap_or("");
        (key, version)
    }
}

impl Serialize for PackageSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::build::{decode_package_set, encode_package_set};
    use std::collections::BTreeMap;

    fn sample() -> BTreeMap<String, String> {
        [
            ("libc6", "2.36-9+deb12u13"),
            ("libssl3:amd64", "3.0.17-1~deb12u3"),
            ("zlib1g", "1:1.2.13.dfsg-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn decodes_what_the_map_decoder_decodes() {
        for set in [sample(), BTreeMap::new()] {
            let bytes = encode_package_set(&set);
            let packed = PackageSet::decode(&bytes).unwrap();
            let as_map: BTreeMap<String, String> = packed
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(Some(as_map), decode_package_set(&bytes));
            assert_eq!(packed.len(), set.len());
            for (k, v) in &set {
                assert_eq!(packed.get(k), Some(v.as_str()));
            }
            assert_eq!(packed.get("absent"), None);
            assert_eq!(
                serde_json::to_string(&packed).unwrap(),
                serde_json::to_string(&set).unwrap()
            );
        }
    }

    #[test]
    fn malformed_sets_are_refused() {
        for bad in [
            &b"libc6\0"[..],              // key without version
            b"libc6\x002.36",             // version without NUL
            b"zlib1g\x001\0libc6\x002\0", // keys out of order
            b"libc6\x001\0libc6\x002\0",  // duplicate key
            b"\x001\0",                   // empty key
            b"libc6\0\xff\0",             // not UTF-8
        ] {
            assert_eq!(PackageSet::decode(bad), None, "{bad:?}");
        }
        // An empty version is stored as-is (manifests never hold one, but
        // the decoder does not invent a rule the map decoder lacks).
        assert_eq!(PackageSet::decode(b"a\0\0").map(|s| s.len()), Some(1));
    }
}
