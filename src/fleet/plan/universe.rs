//! The package universe a plan resolves in: for one (base, architecture),
//! every version the base's indexes offer with the relations the resolver
//! needs (Depends, Pre-Depends, Breaks, Conflicts, Provides, Essential,
//! Priority), parsed once, plus a map from each virtual package name to its
//! providers. Built from the stanzas in the store's `packages` table, or
//! from Packages-format text (unit tests).

use crate::deb::package::{self, BinaryPackage};
use crate::deb::relation::{self, RelOp};
use crate::deb::version;
use std::collections::HashMap;

/// One alternative of a dependency, or one Breaks/Conflicts target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// Package (or virtual package) name.
    pub name: String,
    /// Architecture qualifier (`any`, `native`, `i386`, ...), if written.
    pub arch: Option<String>,
    /// Version constraint.
    pub constraint: Option<(RelOp, String)>,
}

impl Dep {
    /// Whether `v` satisfies the version constraint (no constraint: any).
    pub fn accepts(&self, v: &str) -> bool {
        match &self.constraint {
            None => true,
            Some((op, want)) => op.matches(version::compare(v, want)),
        }
    }

    /// Whether the qualifier names a foreign architecture (not `any`,
    /// `native`, `all` or `native_arch`).
    pub fn is_foreign(&self, native_arch: &str) -> bool {
        self.arch
            .as_deref()
            .is_some_and(|a| !matches!(a, "any" | "native" | "all") && a != native_arch)
    }
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// Writes an OR group as `a | b (>= 1)`.
pub fn group_text(group: &[Dep]) -> String {
    group
        .iter()
        .map(Dep::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// What the resolver knows about one package version.
#[derive(Debug, Clone, Default)]
pub struct PkgVersion {
    /// The version.
    pub version: String,
    /// Depends and Pre-Depends: a list of OR groups.
    pub depends: Vec<Vec<Dep>>,
    /// Breaks and Conflicts (no alternatives), with the field they came from.
    pub conflicts: Vec<(Dep, &'static str)>,
    /// Provides: (virtual name, provided version).
    pub provides: Vec<(String, Option<String>)>,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Priority` rank: required 5, important 4, standard 3, optional 2,
    /// extra 1, absent 0.
    pub priority: u8,
    /// A relation field that could not be parsed (the field, the error).
    pub problem: Option<String>,
}

/// One provider of a virtual package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The providing package.
    pub package: String,
    /// The providing package's version.
    pub version: String,
    /// The provided version (`Provides: x (= 1)`), if any.
    pub provided: Option<String>,
}

/// Every version of every package of one (base, architecture).
#[derive(Debug, Default)]
pub struct Universe {
    /// The native architecture.
    pub arch: String,
    versions: HashMap<String, Vec<PkgVersion>>,
    providers: HashMap<String, Vec<Provider>>,
}

fn priority_rank(p: Option<&str>) -> u8 {
    match p {
        Some("required") => 5,
        Some("important") => 4,
        Some("standard") => 3,
        Some("optional") => 2,
        Some("extra") => 1,
        _ => 0,
    }
}

fn to_dep(r: &relation::Relation<'_>) -> Dep {
    Dep {
        name: r.name.to_string(),
        arch: r.arch_qualifier.map(str::to_string),
        constraint: r.constraint.map(|(op, v)| (op, v.to_string())),
    }
}

impl Universe {
    /// An empty universe for `arch`.
    pub fn new(arch: &str) -> Universe {
        Universe {
            arch: arch.to_string(),
            ..Universe::default()
        }
    }

    /// Adds one package stanza. Versions already known (the same version
    /// in several suites) are kept once. Packages of another architecture
    /// than the universe's (or `all`) are ignored.
    pub fn add(&mut self, p: &BinaryPackage<'_>) {
        if p.architecture != self.arch && p.architecture != "all" {
            return;
        }
        let entry = self.versions.entry(p.package.to_string()).or_default();
        if entry.iter().any(|v| v.version == p.version) {
            return;
        }
        let mut pv = PkgVersion {
            version: p.version.to_string(),
            essential: p.essential,
            priority: priority_rank(p.priority),
            ..PkgVersion::default()
        };
        let mut problems = Vec::new();
        for (field, value) in [("Pre-Depends", p.pre_depends), ("Depends", p.depends)] {
            match value.map(relation::parse_relations).transpose() {
                Ok(groups) => pv.depends.extend(
                    groups
                        .unwrap_or_default()
                        .iter()
                        .map(|g| g.iter().map(to_dep).collect()),
                ),
                Err(e) => problems.push(format!("{field}: {e}")),
            }
        }
        for (field, value) in [("Conflicts", p.conflicts), ("Breaks", p.breaks)] {
            match value.map(relation::parse_relations).transpose() {
                Ok(groups) => pv.conflicts.extend(
                    groups
                        .unwrap_or_default()
                        .iter()
                        .flatten()
                        .map(|r| (to_dep(r), field)),
                ),
                Err(e) => problems.push(format!("{field}: {e}")),
            }
        }
        match p.provides.map(relation::parse_provides).transpose() {
            Ok(groups) => {
                for r in groups.unwrap_or_default().iter().flatten() {
                    pv.provides
                        .push((r.name.to_string(), r.constraint.map(|(_, v)| v.to_string())));
                }
            }
            Err(e) => problems.push(format!("Provides: {e}")),
        }
        if !problems.is_empty() {
            pv.problem = Some(problems.join("; "));
        }
        for (name, provided) in &pv.provides {
            self.providers
                .entry(name.clone())
                .or_default()
                .push(Provider {
                    package: p.package.to_string(),
                    version: p.version.to_string(),
                    provided: provided.clone(),
                });
        }
        entry.push(pv);
    }

    /// Adds every stanza of Packages-format text; returns how many could
    /// not be parsed (they are skipped).
    pub fn add_packages_text(&mut self, data: &[u8]) -> usize {
        let mut bad = 0;
        for p in package::packages(data) {
            match p {
                Ok(p) => self.add(&p),
                Err(_) => bad += 1,
            }
        }
        bad
    }

    /// The stanza data of `name` `version`, if an index has it.
    pub fn get(&self, name: &str, version: &str) -> Option<&PkgVersion> {
        self.versions
            .get(name)?
            .iter()
            .find(|v| v.version == version)
    }

    /// Whether any index has a version of `name`.
    pub fn knows(&self, name: &str) -> bool {
        self.versions.contains_key(name)
    }

    /// The providers of virtual package `name` (every version that provides it).
    pub fn providers(&self, name: &str) -> &[Provider] {
        self.providers.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of package names.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// True when no package is known.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}
