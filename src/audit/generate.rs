//! A synthetic year of release history, for benchmarks and load tests of
//! the audit queries: syncs (sync-generation records with their
//! `generations`/`suites` rows), image builds driven by package updates in
//! a shared package pool, one snapshot a week, tests (some failing), weekly
//! promotion to testing and, after the soak, to production, one expedited
//! promotion and one rollback. Everything goes through the same library
//! functions the commands use, one write transaction per simulated week.
//!
//! The history can also be added to a store that already holds a real sync
//! (load tests): images are spread over every (base, architecture) of the
//! configuration, sync generations rotate over all its suites, and a suite
//! that is already synced keeps its indexes and Release fields in each new
//! generation, so the store stays usable for `check`.

use super::AuditError;
use crate::fleet::config::{Archive, Base, FleetConfig, MirrorLocation, Repository};
use crate::release::build::{BuildResult, NewBuild, record_build_in};
use crate::release::promote::{PromoteOptions, promote_in};
use crate::release::snapshot::{Selection, create_in};
use crate::release::testrun::{NewTest, record_in};
use crate::release::{ReleaseError, dberr};
use crate::store::journal::{self, SyncGenerationBody};
use crate::store::{GENERATIONS, Generation, SUITES, Store, SuiteState};
use jiff::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The size of the generated history.
#[derive(Debug, Clone)]
pub struct YearParams {
    /// Images in the fleet.
    pub images: usize,
    /// Weeks (one snapshot each).
    pub weeks: usize,
    /// Sync generations over the whole period.
    pub generations: usize,
    /// Packages per image.
    pub packages_per_image: usize,
    /// Distinct packages across the fleet.
    pub pool: usize,
    /// Pool packages that get a new version each week.
    pub updates_per_week: usize,
    /// PRNG seed.
    pub seed: u64,
    /// Monday 00:00 UTC of the first week.
    pub start: Timestamp,
}

impl Default for YearParams {
    fn default() -> Self {
        YearParams {
            images: 500,
            weeks: 52,
            generations: 2000,
            packages_per_image: 120,
            pool: 3000,
            updates_per_week: 6,
            seed: 42,
            start: Timestamp::from_second(1_767_571_200).unwrap_or(Timestamp::UNIX_EPOCH), // 2026-01-05
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct YearStats {
    /// Build records.
    pub builds: u64,
    /// Snapshots.
    pub snapshots: u64,
    /// Test records.
    pub tests: u64,
    /// Promotions that switched images.
    pub promotions: u64,
    /// Sync generations.
    pub generations: u64,
    /// Journal bytes of each snapshot entry.
    pub snapshot_bytes: Vec<u64>,
}

/// The suites of the synthetic base.
pub const SUITES_OF_YEAR: [(&str, &str); 4] = [
    ("debian", "bookworm"),
    ("debian", "bookworm-updates"),
    ("debian-security", "bookworm-security"),
    ("debian", "bookworm-backports"),
];

/// A fleet configuration with one base `bookworm` over [`SUITES_OF_YEAR`]
/// and the default release policy (nothing is read from `dir`).
pub fn year_config(dir: &Path) -> FleetConfig {
    let mut archives = BTreeMap::new();
    for name in ["debian", "debian-security"] {
        archives.insert(
            name.to_string(),
            Archive {
                name: name.to_string(),
                location: MirrorLocation::Directory(dir.join(name)),
                keyring: None,
            },
        );
    }
    let mut bases = BTreeMap::new();
    bases.insert(
        "bookworm".to_string(),
        Base {
            name: "bookworm".into(),
            release: "12".into(),
            architectures: vec!["amd64".into()],
            repositories: SUITES_OF_YEAR
                .iter()
                .map(|(a, s)| Repository {
                    archive: (*a).into(),
                    suite: (*s).into(),
                    components: vec!["main".into()],
                })
                .collect(),
        },
    );
    FleetConfig {
        path: dir.join("fleet.yaml"),
        dir: dir.to_path_buf(),
        archives,
        keyring: None,
        bases,
        manifests: vec!["images/*.yaml".into()],
        release: Default::default(),
        lifecycle: Default::default(),
    }
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Packages every image carries (so `who-had` on them touches every image).
pub const COMMON_PACKAGES: [&str; 4] = ["libc6", "libssl3", "zlib1g", "tzdata"];

fn package_name(i: usize) -> String {
    match COMMON_PACKAGES.get(i) {
        Some(p) => (*p).to_string(),
        None => format!("pkg{i:05}"),
    }
}

/// The name of image `i`.
pub fn image_name(i: usize) -> String {
    format!("image-{i:04}")
}

fn manifest_text(image: &str, base: &str, arch: &str, packages: &BTreeMap<usize, u32>) -> Vec<u8> {
    let mut s = format!("image: {image}\nbase: {base}\narchitecture: {arch}\npackages:\n");
    for (p, v) in packages {
        let _ = writeln!(s, "  {}: \"1.{v}-1\"", package_name(*p));
    }
    s.into_bytes()
}

fn sync_generation(
    txn: &WriteTransaction,
    archive: &str,
    suite: &str,
    at: Timestamp,
) -> Result<(), AuditError> {
    let key = format!("{archive}/{suite}");
    let next = {
        let gens = txn.open_table(GENERATIONS).map_err(dberr)?;
        let last = gens.last().map_err(dberr)?.map(|(k, _)| k.value());
        last.unwrap_or(0) + 1
    };
    let previous_state = {
        let suites = txn.open_table(SUITES).map_err(dberr)?;
        let v = suites.get(key.as_str()).map_err(dberr)?;
        v.and_then(|v| serde_json::from_slice::<SuiteState>(v.value()).ok())
    };
    let previous = previous_state.as_ref().map(|s| s.generation);
    let sha = crate::deb::hash::Sha256Digest::of(format!("{key} {next}").as_bytes()).to_hex();
    let generation = Generation {
        id: next,
        archive: archive.into(),
        suite: suite.into(),
        previous,
        fetched_at: at.to_string(),
        inrelease_sha256: sha.clone(),
        signers: Vec::new(),
        date: Some(at.to_string()),
        valid_until: None,
        accepted_expired: false,
        accepted_downgrade: false,
        indexes: Vec::new(),
    };
    // A suite synced for real keeps its indexes and Release fields.
    let state = match previous_state {
        Some(prev) => SuiteState {
            generation: next,
            inrelease_sha256: sha.clone(),
            date: Some(at.to_string()),
            valid_until: None,
            ..prev
        },
        None => SuiteState {
            archive: archive.into(),
            suite: suite.into(),
            generation: next,
            inrelease_sha256: sha.clone(),
            date: Some(at.to_string()),
            valid_until: None,
            codename: None,
            origin: None,
            label: None,
            not_automatic: false,
            but_automatic_upgrades: false,
            indexes: Vec::new(),
        },
    };
    {
        let mut gens = txn.open_table(GENERATIONS).map_err(dberr)?;
        let json = serde_json::to_vec(&generation).map_err(dberr)?;
        gens.insert(next, json.as_slice()).map_err(dberr)?;
        let mut suites = txn.open_table(SUITES).map_err(dberr)?;
        let json = serde_json::to_vec(&state).map_err(dberr)?;
        suites
            .insert(key.as_str(), json.as_slice())
            .map_err(dberr)?;
    }
    journal::append_sync_generation(
        txn,
        "generator",
        at,
        &SyncGenerationBody {
            generation: next,
            archive: archive.into(),
            suite: suite.into(),
            date: Some(at.to_string()),
            inrelease_sha256: sha,
        },
    )?;
    Ok(())
}

fn ts(start: Timestamp, secs: i64) -> Result<Timestamp, AuditError> {
    Timestamp::from_second(start.as_second().saturating_add(secs))
        .map_err(|e| AuditError::Release(ReleaseError::Database(e.to_string())))
}

/// Generates the history into `store`: an empty one (benchmarks, with
/// [`year_config`]) or one that holds a sync of `config` (load tests).
/// Image `i` is built on the `i`-th (base, architecture) of `config`, in
/// round-robin order; sync generations rotate over the suites of all bases.
pub fn generate_year(
    store: &Store,
    config: &FleetConfig,
    p: &YearParams,
) -> Result<YearStats, AuditError> {
    const DAY: i64 = 86_400;
    const WEEK: i64 = 7 * DAY;
    let mut rng = SplitMix(p.seed);
    let mut stats = YearStats::default();
    // Package pool: current version of each package.
    let mut pool_version: Vec<u32> = vec![1; p.pool.max(COMMON_PACKAGES.len())];
    // Image package sets (package index -> version).
    let mut images: Vec<BTreeMap<usize, u32>> = (0..p.images)
        .map(|_| {
            let mut set: BTreeMap<usize, u32> =
                (0..COMMON_PACKAGES.len()).map(|i| (i, 1)).collect();
            while set.len() < p.packages_per_image.max(COMMON_PACKAGES.len()) {
                set.insert(rng.below(pool_version.len()), 1);
            }
            set
        })
        .collect();
    // (base, architecture, base suites) of every image slot, and the suites
    // the syncs rotate over (first appearance order).
    let mut targets: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut sync_suites: Vec<(String, String)> = Vec::new();
    for base in config.bases.values() {
        let base_suites: Vec<String> = base
            .repositories
            .iter()
            .map(|r| format!("{}/{}", r.archive, r.suite))
            .collect();
        for arch in &base.architectures {
            targets.push((base.name.clone(), arch.clone(), base_suites.clone()));
        }
        for r in &base.repositories {
            let pair = (r.archive.clone(), r.suite.clone());
            if !sync_suites.contains(&pair) {
                sync_suites.push(pair);
            }
        }
    }
    if targets.is_empty() || sync_suites.is_empty() {
        return Err(AuditError::Release(ReleaseError::Manifest(format!(
            "{}: no base with an architecture and a repository to generate history for",
            config.path.display()
        ))));
    }
    let gens_per_week = p.generations / p.weeks.max(1);
    let actor = "generator";
    let mut snapshots: Vec<String> = Vec::new();
    for week in 0..p.weeks {
        let monday = ts(p.start, week as i64 * WEEK)?;
        let at = |secs: i64| ts(monday, secs);
        let txn = journal::begin_write(store)?;
        // Syncs spread over the week (the first ones before Monday's builds).
        for g in 0..gens_per_week {
            let Some((archive, suite)) = sync_suites.get(g % sync_suites.len()) else {
                continue;
            };
            let offset = if week == 0 && g < sync_suites.len() {
                g as i64
            } else {
                (g as i64 * WEEK) / gens_per_week.max(1) as i64 + 60
            };
            sync_generation(&txn, archive, suite, at(offset)?)?;
            stats.generations += 1;
        }
        // Package updates of the week; common packages every 8 weeks.
        let mut rebuild = vec![week == 0; p.images];
        let mut bumped: Vec<usize> = (0..p.updates_per_week)
            .map(|_| COMMON_PACKAGES.len() + rng.below(pool_version.len() - COMMON_PACKAGES.len()))
            .collect();
        if week > 0 && week % 8 == 0 {
            bumped.push(week / 8 % COMMON_PACKAGES.len());
        }
        for b in &bumped {
            if let Some(v) = pool_version.get_mut(*b) {
                *v += 1;
            }
        }
        for (i, set) in images.iter_mut().enumerate() {
            for b in &bumped {
                if let Some(v) = set.get_mut(b) {
                    *v = pool_version.get(*b).copied().unwrap_or(1);
                    rebuild[i] = true;
                }
            }
        }
        // Builds on Monday morning, 30 s apart; about 1 in 50 fails and is
        // rebuilt right away.
        let mut t = 10 * 3_600;
        for (i, set) in images.iter().enumerate() {
            if !rebuild.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some((base, arch, base_suites)) = targets.get(i % targets.len()) else {
                continue;
            };
            let image = image_name(i);
            let manifest = manifest_text(&image, base, arch, set);
            let fails = week > 0 && rng.below(50) == 0;
            for result in if fails {
                vec![BuildResult::Failed, BuildResult::Ok]
            } else {
                vec![BuildResult::Ok]
            } {
                let digest =
                    crate::deb::hash::Sha256Digest::of(format!("{image} {week} {t}").as_bytes());
                record_build_in(
                    &txn,
                    NewBuild {
                        image: image.clone(),
                        manifest_path: format!("images/{image}.yaml"),
                        manifest: manifest.clone(),
                        base: base.clone(),
                        base_suites: base_suites.clone(),
                        default_architecture: Some(arch.clone()),
                        digest: Some(format!("sha256:{}", digest.to_hex())),
                        result,
                        log: None,
                        reason: None,
                    },
                    actor,
                    at(t)?,
                )?;
                stats.builds += 1;
                t += 30;
            }
        }
        // Snapshot at noon, testing at 13:00, tests at 14:00.
        let snap = create_in(
            &txn,
            config,
            None,
            &Selection::default(),
            actor,
            at(12 * 3_600)?,
            None,
        )?;
        stats.snapshots += 1;
        stats.snapshot_bytes.push(snap.stored_bytes);
        let outcome = promote_in(
            &txn,
            config,
            &snap.name,
            "testing",
            PromoteOptions::default(),
            actor,
            at(13 * 3_600)?,
        )?;
        stats.promotions += u64::from(outcome.seq.is_some());
        for suite in ["smoke", "full"] {
            record_in(
                &txn,
                NewTest {
                    snapshot: snap.name.clone(),
                    image: None,
                    suite: suite.into(),
                    passed: true,
                    note: None,
                    log: None,
                },
                actor,
                at(14 * 3_600)?,
            )?;
            stats.tests += 1;
        }
        for _ in 0..3 {
            let i = rng.below(p.images);
            if snap.images.contains_key(&image_name(i)) {
                record_in(
                    &txn,
                    NewTest {
                        snapshot: snap.name.clone(),
                        image: Some(image_name(i)),
                        suite: "full".into(),
                        passed: false,
                        note: Some("flaky integration test".into()),
                        log: None,
                    },
                    actor,
                    at(14 * 3_600 + 60)?,
                )?;
                stats.tests += 1;
            }
        }
        // Last week's snapshot to production after its 7-day soak.
        if let Some(prev) = snapshots.last() {
            let o = promote_in(
                &txn,
                config,
                prev,
                "production",
                PromoteOptions::default(),
                actor,
                at(15 * 3_600)?,
            )?;
            stats.promotions += u64::from(o.seq.is_some());
        }
        if week == 20 {
            let o = promote_in(
                &txn,
                config,
                &snap.name,
                "production",
                PromoteOptions {
                    expedite: true,
                    reason: Some("CVE-2026-1234 fast-track".into()),
                },
                actor,
                at(16 * 3_600)?,
            )?;
            stats.promotions += u64::from(o.seq.is_some());
        }
        if week == 30
            && let Some(old) = snapshots.get(27)
        {
            let o = promote_in(
                &txn,
                config,
                old,
                "production",
                PromoteOptions {
                    expedite: false,
                    reason: Some("regression in week 29's builds".into()),
                },
                actor,
                at(16 * 3_600)?,
            )?;
            stats.promotions += u64::from(o.seq.is_some());
        }
        snapshots.push(snap.name);
        txn.commit().map_err(dberr)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::build::BuildBody;
    use crate::release::kinds;
    use crate::store::OpenMode;

    fn suite_state(store: &Store, key: &str) -> Option<SuiteState> {
        let txn = store.read().unwrap();
        let t = txn.open_table(SUITES).unwrap();
        t.get(key)
            .unwrap()
            .map(|v| serde_json::from_slice(v.value()).unwrap())
    }

    #[test]
    fn a_year_on_a_synced_store_keeps_its_indexes_and_spreads_images_over_bases() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = year_config(dir.path());
        let mut second = config.bases["bookworm"].clone();
        second.name = "bookworm-b".into();
        second.repositories.truncate(2);
        config.bases.insert(second.name.clone(), second);
        if let Some(b) = config.bases.get_mut("bookworm") {
            b.architectures.push("arm64".into());
        }
        let store =
            Store::open(&dir.path().join("s.redb"), OpenMode::Write { wait: false }).unwrap();
        // A suite as a real sync leaves it.
        let synced = SuiteState {
            archive: "debian".into(),
            suite: "bookworm".into(),
            generation: 1,
            inrelease_sha256: "00".repeat(32),
            date: None,
            valid_until: None,
            codename: Some("bookworm".into()),
            origin: Some("Debian".into()),
            label: Some("Debian".into()),
            not_automatic: false,
            but_automatic_upgrades: false,
            indexes: vec!["debian/bookworm/main/amd64".into()],
        };
        {
            let txn = store.writer().unwrap().begin_write().unwrap();
            {
                let mut t = txn.open_table(SUITES).unwrap();
                let json = serde_json::to_vec(&synced).unwrap();
                t.insert("debian/bookworm", json.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let params = YearParams {
            images: 6,
            weeks: 3,
            generations: 12,
            packages_per_image: 10,
            pool: 40,
            updates_per_week: 2,
            ..YearParams::default()
        };
        let stats = generate_year(&store, &config, &params).unwrap();
        assert_eq!(stats.generations, 12);
        assert_eq!(stats.snapshots, 3);
        // The synced suite moved on but kept its indexes and Release fields.
        let after = suite_state(&store, "debian/bookworm").unwrap();
        assert!(after.generation > 1);
        assert_ne!(after.inrelease_sha256, synced.inrelease_sha256);
        assert_eq!(after.indexes, synced.indexes);
        assert_eq!(after.codename.as_deref(), Some("bookworm"));
        // A suite the store did not have is created without indexes.
        let fresh = suite_state(&store, "debian-security/bookworm-security").unwrap();
        assert!(fresh.indexes.is_empty());
        // Images go round-robin over (bookworm, amd64), (bookworm, arm64),
        // (bookworm-b, amd64).
        let txn = store.read().unwrap();
        let mut seen = BTreeMap::new();
        for e in journal::entries_of_kind(&txn, kinds::BUILD).unwrap() {
            let b: BuildBody = e.body_as().unwrap();
            seen.insert(b.image, (b.base, b.architecture));
        }
        let want = |base: &str, arch: &str| Some((base.to_string(), arch.to_string()));
        assert_eq!(seen.get("image-0000").cloned(), want("bookworm", "amd64"));
        assert_eq!(seen.get("image-0001").cloned(), want("bookworm", "arm64"));
        assert_eq!(seen.get("image-0002").cloned(), want("bookworm-b", "amd64"));
        assert_eq!(seen.get("image-0005").cloned(), want("bookworm-b", "amd64"));
        drop(txn);
        assert!(crate::audit::verify(&store).unwrap().broken().is_none());
    }
}
