//! A synthetic year of release history, for benchmarks and load tests of
//! the audit queries: syncs (sync-generation records with their
//! `generations`/`suites` rows), image builds driven by package updates in
//! a shared package pool, one snapshot a week, tests (some failing), weekly
//! promotion to testing and, after the soak, to production, one expedited
//! promotion and one rollback. Everything goes through the same library
//! functions the commands use, one write transaction per simulated week.

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

fn manifest_text(image: &str, packages: &BTreeMap<usize, u32>) -> Vec<u8> {
    let mut s = format!("image: {image}\nbase: bookworm\narchitecture: amd64\npackages:\n");
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
    let previous = {
        let suites = txn.open_table(SUITES).map_err(dberr)?;
        let v = suites.get(key.as_str()).map_err(dberr)?;
        v.and_then(|v| serde_json::from_slice::<SuiteState>(v.value()).ok())
            .map(|s| s.generation)
    };
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
    let state = SuiteState {
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

/// Generates the history into `store` (which should be empty).
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
    let base = config
        .bases
        .get("bookworm")
        .ok_or_else(|| AuditError::Release(ReleaseError::Manifest("no base bookworm".into())))?;
    let base_suites: Vec<String> = base
        .repositories
        .iter()
        .map(|r| format!("{}/{}", r.archive, r.suite))
        .collect();
    let gens_per_week = p.generations / p.weeks.max(1);
    let actor = "generator";
    let mut snapshots: Vec<String> = Vec::new();
    for week in 0..p.weeks {
        let monday = ts(p.start, week as i64 * WEEK)?;
        let at = |secs: i64| ts(monday, secs);
        let txn = journal::begin_write(store)?;
        // Syncs spread over the week (the first ones before Monday's builds).
        for g in 0..gens_per_week {
            let (archive, suite) = SUITES_OF_YEAR[g % SUITES_OF_YEAR.len()];
            let offset = if week == 0 && g < SUITES_OF_YEAR.len() {
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
            let image = image_name(i);
            let manifest = manifest_text(&image, set);
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
                        base: "bookworm".into(),
                        base_suites: base_suites.clone(),
                        default_architecture: Some("amd64".into()),
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
