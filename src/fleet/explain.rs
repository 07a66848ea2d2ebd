//! `explain`: why a package's candidate is what it is, in the manner of
//! `apt-cache policy`: every version the base offers, in which suites, at
//! which priority, and the rule that decided.

use super::check::{Tables, image_architecture};
use super::config::FleetConfig;
use super::manifest::Manifest;
use crate::deb::version;
use crate::store::table::Candidate;
use serde::Serialize;
use std::cmp::Ordering;

/// One version line of the policy table.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVersion {
    pub version: String,
    pub priority: i16,
    /// (suite, priority) offering it; `installed` for the dpkg status.
    pub sources: Vec<(String, i16)>,
    pub installed: bool,
    pub candidate: bool,
}

/// The explanation for one (image, package).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub image: String,
    pub base: String,
    pub architecture: String,
    pub package: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
    pub versions: Vec<PolicyVersion>,
    pub reason: String,
}

/// Explains `package` for image `m`.
pub fn explain(
    config: &FleetConfig,
    tables: &Tables,
    m: &Manifest,
    package: &str,
) -> Option<Explanation> {
    let arch = image_architecture(config, m);
    let (table, _) = tables.get(&m.base, &arch)?;
    let installed = m
        .packages
        .iter()
        .find(|p| p.name == package && p.arch.as_deref().is_none_or(|a| a == arch || a == "all"))
        .map(|p| p.version.clone());
    let offered = table.versions(package);
    let suites = table.suites();
    let mut versions: Vec<PolicyVersion> = offered
        .iter()
        .map(|v| {
            let sources = suites
                .iter()
                .enumerate()
                .filter(|(i, _)| v.suite_mask & (1 << i) != 0)
                .map(|(_, s)| (s.name.clone(), s.priority))
                .collect();
            PolicyVersion {
                version: v.version.to_string(),
                priority: v.priority,
                sources,
                installed: installed.as_deref() == Some(v.version),
                candidate: false,
            }
        })
        .collect();
    if let Some(inst) = &installed {
        match versions
            .iter_mut()
            .find(|v| version::compare(&v.version, inst) == Ordering::Equal)
        {
            Some(v) => {
                v.installed = true;
                v.sources.push(("installed (manifest)".into(), 100));
                v.priority = v.priority.max(100);
            }
            None => {
                let pos = versions
                    .iter()
                    .position(|v| version::compare(&v.version, inst) == Ordering::Less)
                    .unwrap_or(versions.len());
                versions.insert(
                    pos,
                    PolicyVersion {
                        version: inst.clone(),
                        priority: 100,
                        sources: vec![("installed (manifest)".into(), 100)],
                        installed: true,
                        candidate: false,
                    },
                );
            }
        }
    }
    let (candidate, reason) = match &installed {
        None => {
            let best = offered.iter().max_by(|a, b| {
                a.priority
                    .cmp(&b.priority)
                    .then_with(|| version::compare(a.version, b.version))
            });
            (
                best.map(|b| b.version.to_string()),
                "not in the manifest: the candidate for a new install is the highest-priority version, then the highest version".to_string(),
            )
        }
        Some(inst) => match table.candidate(package, inst) {
            Candidate::Missing => (
                None,
                "no suite of the base offers this package (missing)".into(),
            ),
            Candidate::Current => (
                Some(inst.clone()),
                "the installed version stays: no newer version has a priority at least as high as the installed one's (installed versions count 100, or their suite's priority; lower versions are never chosen: apt does not downgrade below priority 1000)".into(),
            ),
            Candidate::Ahead => (
                Some(inst.clone()),
                "the installed version is newer than every version offered (ahead); apt keeps it".into(),
            ),
            Candidate::Update(v) => (
                Some(v.version.to_string()),
                format!(
                    "{} from {} wins: priority {} is the highest among versions newer than the installed one (installed counts {}), and it is the highest version at that priority",
                    v.version,
                    table.suite_name(v.suite),
                    v.priority,
                    versions.iter().find(|p| p.installed).map_or(100, |p| p.priority)
                ),
            ),
        },
    };
    for v in &mut versions {
        v.candidate = candidate.as_deref() == Some(v.version.as_str());
    }
    Some(Explanation {
        image: m.image.clone(),
        base: m.base.clone(),
        architecture: arch,
        package: package.to_string(),
        installed,
        candidate,
        versions,
        reason,
    })
}
