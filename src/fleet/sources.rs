//! From fleet configuration to what the lower layers need: the suites to
//! sync (with their mirror and keyring), each base's suites for the
//! compiled candidate tables, and what follows a sync (compaction, fresh
//! tables).

use super::config::{Base, FleetConfig, MirrorLocation};
use crate::mirror::MirrorSource;
use crate::store::sync::{SuiteOutcome, SyncReport, SyncTarget};
use crate::store::table::{self, BaseSpec, TableError};
use crate::store::{Store, StoreError};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Errors mapping configuration to sync targets.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error(
        "{config}: archive {archive:?} has no keyring: set `keyring:` at the top level or `{{url: ..., keyring: ...}}` on the archive"
    )]
    NoKeyring { config: PathBuf, archive: String },
    #[error(
        "{config}: base {base:?} uses archive {archive:?}, which is not defined under `archives:`"
    )]
    UnknownArchive {
        config: PathBuf,
        base: String,
        archive: String,
    },
}

/// The suites every base of the fleet uses, merged: one target per
/// (archive, suite) with the union of components and architectures.
pub fn sync_targets(config: &FleetConfig) -> Result<Vec<SyncTarget>, SourcesError> {
    let mut merged: BTreeMap<(String, String), SyncTarget> = BTreeMap::new();
    for base in config.bases.values() {
        for repo in &base.repositories {
            let archive =
                config
                    .archives
                    .get(&repo.archive)
                    .ok_or_else(|| SourcesError::UnknownArchive {
                        config: config.path.clone(),
                        base: base.name.clone(),
                        archive: repo.archive.clone(),
                    })?;
            let keyring = config
                .keyring_for(&repo.archive)
                .map(PathBuf::from)
                .ok_or_else(|| SourcesError::NoKeyring {
                    config: config.path.clone(),
                    archive: repo.archive.clone(),
                })?;
            let source = match &archive.location {
                MirrorLocation::Directory(p) => MirrorSource::Directory(p.clone()),
                MirrorLocation::Http(url) => MirrorSource::Http {
                    base: url.clone(),
                    options: Default::default(),
                },
            };
            let target = merged
                .entry((repo.archive.clone(), repo.suite.clone()))
                .or_insert_with(|| SyncTarget {
                    archive: repo.archive.clone(),
                    source,
                    keyring,
                    suite: repo.suite.clone(),
                    components: Vec::new(),
                    architectures: Vec::new(),
                });
            for c in &repo.components {
                if !target.components.contains(c) {
                    target.components.push(c.clone());
                }
            }
            for a in &base.architectures {
                if !target.architectures.contains(a) {
                    target.architectures.push(a.clone());
                }
            }
        }
    }
    Ok(merged.into_values().collect())
}

/// The store's view of a base.
pub fn base_spec(base: &Base) -> BaseSpec {
    BaseSpec {
        name: base.name.clone(),
        architectures: base.architectures.clone(),
        repositories: base
            .repositories
            .iter()
            .map(|r| (r.archive.clone(), r.suite.clone(), r.components.clone()))
            .collect(),
    }
}

/// Compact the store after a sync that rewrote more records than this in
/// indexes it had stored before.
const COMPACT_AFTER_RECORDS: u64 = 20_000;

/// Every (base, architecture) of the fleet: the candidate tables a sync
/// keeps current (pass them as [`crate::store::sync::SyncOptions::tables`]).
pub fn table_targets(fleet: &FleetConfig) -> Vec<(BaseSpec, String)> {
    fleet
        .bases
        .values()
        .flat_map(|base| {
            let spec = base_spec(base);
            base.architectures
                .iter()
                .map(move |arch| (spec.clone(), arch.clone()))
        })
        .collect()
}

/// Errors of [`finish_sync`].
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Table(#[from] TableError),
}

/// What follows every sync or import: compaction after a large rewrite,
/// then the candidate table of every (base, architecture), rebuilt in
/// parallel where stale, so that the next check starts warm.
///
/// Only records rewritten in indexes stored before count towards
/// compaction: their old chunk pages were on disk and are now free. A new
/// index (every index of a first sync) only fills new pages; the file then
/// ends in space redb reserved but never wrote, which takes no disk blocks,
/// and compacting it cost a first sync of the bundled slice 35-40 ms to
/// shorten the file's apparent size without freeing any disk space.
pub fn finish_sync(
    store: &mut Store,
    fleet: &FleetConfig,
    report: &mut SyncReport,
) -> Result<(), FinishError> {
    let rewritten: u64 = report
        .suites
        .iter()
        .map(|(_, o)| match o {
            SuiteOutcome::Updated(s) => s.rewritten,
            _ => 0,
        })
        .sum();
    if rewritten > COMPACT_AFTER_RECORDS {
        store.compact()?;
        report.compacted = true;
    }
    let tables = table_targets(fleet);
    let store: &Store = store;
    tables
        .par_iter()
        .try_for_each(|(spec, arch)| table::ensure_current(store, spec, arch).map(|_| ()))?;
    Ok(())
}
