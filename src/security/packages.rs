//! Package facts of one (base, architecture) read from the store's package
//! records: a binary version's source name and source version (from
//! `Source` / `Source: name (version)`), maintainer and `.deb` SHA-256.
//!
//! Security matching needs these to compare *source* versions (binary
//! versions carry epochs, binNMU suffixes and may come from a differently
//! named source); SBOMs use them for the source relation, supplier and hashes.

use crate::deb::deb822;
use crate::deb::package::parse_binary_package;
use crate::fleet::config::Base;
use crate::fleet::sources::base_spec;
use crate::store::packages::PackageRecords;
use crate::store::table::{self, TableError};
use crate::store::{Store, StoreError};
use redb::ReadTransaction;

/// What the store says about one binary package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The source package name (the binary name when `Source` is absent).
    pub source: String,
    /// The source version (from `Source: name (version)`, else the binary version).
    pub source_version: String,
    /// `Maintainer`.
    pub maintainer: Option<String>,
    /// SHA-256 of the `.deb`, hex.
    pub sha256: Option<String>,
}

/// Looks up package records of the suites of one (base, arch).
pub struct PackageIndex<'s> {
    store: &'s Store,
    txn: ReadTransaction,
    /// Index ids in fleet.yaml suite order.
    index_ids: Vec<u32>,
    arch: String,
}

impl<'s> PackageIndex<'s> {
    /// Opens the lookup over the suites of `base` that are in the store.
    /// Unmirrored suites are simply absent (nothing is found in them).
    pub fn open(store: &'s Store, base: &Base, arch: &str) -> Result<Self, TableError> {
        let txn = store.read()?;
        let sources = table::sources(store, &txn, &base_spec(base), arch)?;
        let mut indexes = sources.indexes.clone();
        indexes.sort_by_key(|(_, position)| *position);
        Ok(PackageIndex {
            store,
            txn,
            index_ids: indexes.into_iter().map(|(id, _)| id).collect(),
            arch: arch.to_string(),
        })
    }

    /// Whether any suite of the base is in the store.
    pub fn is_empty(&self) -> bool {
        self.index_ids.is_empty()
    }

    /// The record of exactly `package` `version` (for this architecture or
    /// `all`), from the first suite that has it.
    pub fn exact(&self, package: &str, version: &str) -> Result<Option<PackageFacts>, StoreError> {
        let records = PackageRecords::open(self.store, &self.txn)?;
        for &id in &self.index_ids {
            for arch in [self.arch.as_str(), "all"] {
                if let Some(stanza) = records.get(id, package, version, arch)?
                    && let Some(facts) = parse_facts(&stanza)
                {
                    return Ok(Some(facts));
                }
            }
        }
        Ok(None)
    }

    /// Some record of `package` in any version (the highest found), to learn
    /// its source name when the exact version is no longer offered.
    pub fn any_version(&self, package: &str) -> Result<Option<PackageFacts>, StoreError> {
        let records = PackageRecords::open(self.store, &self.txn)?;
        let mut best: Option<PackageFacts> = None;
        for &id in &self.index_ids {
            for (_, arch, stanza) in records.versions(id, package)? {
                if arch != self.arch && arch != "all" {
                    continue;
                }
                if let Some(facts) = parse_facts(&stanza)
                    && best.as_ref().is_none_or(|b| {
                        crate::deb::version::compare(&facts.version, &b.version).is_gt()
                    })
                {
                    best = Some(facts);
                }
            }
        }
        Ok(best)
    }

    /// Source name and version of an installed binary. The exact record
    /// when the store has it; otherwise the source name of any version and
    /// the installed version without a binNMU suffix (`+bN`), flagged as
    /// derived. None when the package is unknown to the base's suites.
    pub fn source_of(
        &self,
        package: &str,
        installed: &str,
    ) -> Result<Option<(String, String, bool)>, StoreError> {
        if let Some(f) = self.exact(package, installed)? {
            return Ok(Some((f.source, f.source_version, false)));
        }
        Ok(self.any_version(package)?.map(|f| {
            let mut version = strip_binnmu(installed);
            // An epoch on the binary only (the source has none).
            if f.version.contains(':')
                && !f.source_version.contains(':')
                && let Some((_, rest)) = version.split_once(':')
            {
                version = rest;
            }
            (f.source, version.to_string(), true)
        }))
    }
}

/// `1.2-3+b1` -> `1.2-3`; other versions unchanged.
pub fn strip_binnmu(version: &str) -> &str {
    if let Some(pos) = version.rfind("+b") {
        let digits = &version[pos + 2..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return &version[..pos];
        }
    }
    version
}

fn parse_facts(stanza: &[u8]) -> Option<PackageFacts> {
    let paragraph = deb822::paragraphs(stanza).next()?.ok()?;
    let maintainer = paragraph
        .get("Maintainer")
        .and_then(|m| std::str::from_utf8(m).ok())
        .map(|m| m.trim().to_string());
    let p = parse_binary_package(&paragraph).ok()?;
    Some(PackageFacts {
        package: p.package.to_string(),
        version: p.version.to_string(),
        architecture: p.architecture.to_string(),
        source: p.source_name().to_string(),
        source_version: p.source_version().to_string(),
        maintainer,
        sha256: p.sha256.map(|d| d.to_hex()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binnmu_suffix_is_stripped() {
        assert_eq!(strip_binnmu("1.2-3+b1"), "1.2-3");
        assert_eq!(strip_binnmu("1:2.66-4+deb12u3+b1"), "1:2.66-4+deb12u3");
        assert_eq!(strip_binnmu("1.0+bx"), "1.0+bx");
        assert_eq!(strip_binnmu("1.0+b"), "1.0+b");
        assert_eq!(strip_binnmu("2.0"), "2.0");
    }

    #[test]
    fn facts_from_a_stanza() {
        let f = parse_facts(
            b"Package: bsdutils\nSource: util-linux (2.38.1-5+deb12u3)\nVersion: 1:2.38.1-5+deb12u3\nArchitecture: amd64\nMaintainer: A <a@example.org>\nSHA256: 0000000000000000000000000000000000000000000000000000000000000001\n",
        )
        .unwrap();
        assert_eq!(f.source, "util-linux");
        assert_eq!(f.source_version, "2.38.1-5+deb12u3");
        assert_eq!(f.maintainer.as_deref(), Some("A <a@example.org>"));
        assert!(f.sha256.unwrap().ends_with("01"));
    }
}
