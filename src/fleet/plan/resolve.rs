//! The resolver: apt's `dist-upgrade` for one image, without the host parts.
//!
//! Given the image's installed packages, a candidate [`Policy`] and the
//! [`Universe`] of the base, it computes the new package set the way apt's
//! `pkgDistUpgrade` does (see `docs/design.md`, "Plan"):
//!
//! 1. every installed package is moved to its candidate (unless held in the
//!    manifest, kept back, or filtered out by `--security-only`);
//! 2. the Depends/Pre-Depends of every package of the new set are satisfied
//!    the way apt's `MarkInstall` auto-installs: an unsatisfied OR group is
//!    fixed by upgrading an already-installed alternative whose candidate
//!    satisfies it, else by installing the first alternative whose
//!    candidate satisfies it, else through a virtual package with exactly
//!    one provider;
//! 3. Breaks/Conflicts of the new set are fixed by upgrading the other
//!    package when its candidate no longer conflicts, else by removing it
//!    when apt's resolver would value it less (a lower score, not
//!    Essential, nothing left depending on it), else by keeping the
//!    upgrade back;
//! 4. an upgrade whose new version cannot be satisfied is kept back (with
//!    the reason) and the whole resolution is redone, until nothing changes.
//!
//! Problems that only involve packages the plan does not touch mean the
//! installed set itself is inconsistent: the image is reported broken,
//! with the reasons, and nothing is planned for it.
//!
//! Deliberately unlike apt on a host: missing Essential or Priority:
//! required packages are never added, and Recommends are never installed
//! (images are built with `--no-install-recommends`).

use super::universe::{Dep, PkgVersion, Universe, group_text};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What the candidate policy offers for a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// No index of the base has the package.
    Missing,
    /// The installed version stays.
    Current,
    /// The installed version is newer than anything offered.
    Ahead,
    /// A newer candidate.
    Update {
        /// The candidate version.
        version: String,
        /// Whether it comes from a security suite.
        security: bool,
    },
}

/// apt's candidate policy, as the resolver needs it.
pub trait Policy {
    /// The candidate for `name` with `installed` installed.
    fn for_installed(&self, name: &str, installed: &str) -> Offer;
    /// The candidate for `name` when it is not installed; `None` when no
    /// index has it.
    fn for_new(&self, name: &str) -> Option<String>;
}

/// One installed package, as the resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// Binary package name.
    pub name: String,
    /// Architecture qualifier, if the manifest gives one.
    pub arch: Option<String>,
    /// Installed version.
    pub version: String,
}

/// Options of one resolution.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Packages held in the manifest (`name` or `name:arch`).
    pub hold: Vec<String>,
    /// Only move packages whose candidate comes from a security suite
    /// (their new dependencies may come from anywhere).
    pub security_only: bool,
    /// When set, move only these installed packages (plus what their new
    /// versions need): a fast-track fix touches nothing else.
    pub only: Option<BTreeSet<String>>,
}

/// The result of one resolution. Lists are sorted by package name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// (package, from, to).
    pub upgrade: Vec<(String, String, String)>,
    /// (package, version, reason).
    pub install: Vec<(String, String, String)>,
    /// (package, reason).
    pub remove: Vec<(String, String)>,
    /// (package, reason): upgrades not done.
    pub held: Vec<(String, String)>,
    /// True when the set cannot be made consistent.
    pub broken: bool,
    /// Why it is broken.
    pub problems: Vec<String>,
    /// (package, reason): installed packages whose installed version is in
    /// no index, so their own dependencies could not be checked.
    pub unverified: Vec<(String, String)>,
}

/// A problem found in one attempt.
enum Problem {
    /// Keep this upgrade back, for this reason.
    KeepBack(String, String),
    /// The installed set itself is inconsistent.
    Broken(String),
}

struct Attempt<'a> {
    u: &'a Universe,
    policy: &'a dyn Policy,
    installed: &'a BTreeMap<String, String>,
    foreign: &'a BTreeMap<(String, String), String>,
    /// Packages that may not move: name -> reason.
    keep: &'a BTreeMap<String, String>,
    /// Packages whose candidate the plan may use when needed (not held).
    movable: &'a BTreeSet<String>,
    /// name -> version (None: removed).
    target: BTreeMap<String, Option<String>>,
    install_reason: BTreeMap<String, String>,
    remove_reason: BTreeMap<String, String>,
    /// New or moved package -> the upgraded package that caused it.
    origin: BTreeMap<String, String>,
    problems: Vec<Problem>,
}

/// Resolves one image.
pub fn resolve(
    u: &Universe,
    policy: &dyn Policy,
    packages: &[InstalledPackage],
    options: &ResolveOptions,
) -> Resolution {
    let mut res = Resolution::default();
    let mut installed = BTreeMap::new();
    let mut foreign = BTreeMap::new();
    for p in packages {
        match p.arch.as_deref() {
            Some(a) if a != u.arch && a != "all" => {
                res.unverified.push((
                    format!("{}:{a}", p.name),
                    format!(
                        "architecture {a} is not the image's ({}): left as installed, not resolved",
                        u.arch
                    ),
                ));
                foreign.insert((p.name.clone(), a.to_string()), p.version.clone());
            }
            _ => {
                installed.insert(p.name.clone(), p.version.clone());
            }
        }
    }
    let is_held = |name: &str| {
        options
            .hold
            .iter()
            .any(|h| h == name || h.strip_suffix(&format!(":{}", u.arch)) == Some(name))
    };
    // Wanted upgrades and packages that may move when a dependency needs it.
    let mut wanted = BTreeMap::new();
    let mut movable = BTreeSet::new();
    for (name, version) in &installed {
        if u.get(name, version).is_none() {
            let reason = if u.knows(name) {
                format!(
                    "installed version {version} is in no index of the base: its dependencies are unknown"
                )
            } else {
                "the package is in no index of the base: its dependencies are unknown".to_string()
            };
            res.unverified.push((name.clone(), reason));
        }
        if let Offer::Update {
            version: v,
            security,
        } = policy.for_installed(name, version)
        {
            if is_held(name) {
                res.held.push((
                    name.clone(),
                    format!("held in the manifest (candidate {v})"),
                ));
                continue;
            }
            movable.insert(name.clone());
            let selected = options.only.as_ref().is_none_or(|o| o.contains(name));
            if (security || !options.security_only) && selected {
                wanted.insert(name.clone(), v);
            }
        }
    }
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    // Each round keeps at least one more upgrade back, so this terminates.
    loop {
        let mut a = Attempt {
            u,
            policy,
            installed: &installed,
            foreign: &foreign,
            keep: &keep,
            movable: &movable,
            target: BTreeMap::new(),
            install_reason: BTreeMap::new(),
            remove_reason: BTreeMap::new(),
            origin: BTreeMap::new(),
            problems: Vec::new(),
        };
        a.run(&wanted);
        let Attempt {
            target,
            install_reason,
            remove_reason,
            problems,
            ..
        } = a;
        let mut kept_more = false;
        let mut broken = Vec::new();
        for p in problems {
            match p {
                Problem::KeepBack(name, reason) => {
                    if let std::collections::btree_map::Entry::Vacant(e) = keep.entry(name) {
                        e.insert(reason);
                        kept_more = true;
                    }
                }
                Problem::Broken(msg) => broken.push(msg),
            }
        }
        if kept_more {
            continue;
        }
        if !broken.is_empty() {
            broken.sort();
            broken.dedup();
            res.broken = true;
            res.problems = broken;
            return res;
        }
        for (name, version) in &target {
            let from = installed.get(name);
            match (from, version) {
                (Some(f), Some(v)) if f != v => {
                    res.upgrade.push((name.clone(), f.clone(), v.clone()));
                }
                (None, Some(v)) => res.install.push((
                    name.clone(),
                    v.clone(),
                    install_reason.get(name).cloned().unwrap_or_default(),
                )),
                (Some(_), None) => res.remove.push((
                    name.clone(),
                    remove_reason.get(name).cloned().unwrap_or_default(),
                )),
                _ => {}
            }
        }
        res.held.extend(keep);
        res.held.sort();
        return res;
    }
}

impl Attempt<'_> {
    fn version_of(&self, name: &str) -> Option<&str> {
        self.target.get(name).and_then(|v| v.as_deref())
    }

    fn data(&self, name: &str) -> Option<&PkgVersion> {
        self.version_of(name).and_then(|v| self.u.get(name, v))
    }

    /// Whether the new set satisfies `d`.
    fn satisfies(&self, d: &Dep) -> bool {
        if d.is_foreign(&self.u.arch) {
            let arch = d.arch.clone().unwrap_or_default();
            return self
                .foreign
                .get(&(d.name.clone(), arch))
                .is_some_and(|v| d.accepts(v));
        }
        if self.version_of(&d.name).is_some_and(|v| d.accepts(v)) {
            return true;
        }
        self.u.providers(&d.name).iter().any(|p| {
            self.version_of(&p.package) == Some(p.version.as_str())
                && match (&d.constraint, &p.provided) {
                    (None, _) => true,
                    (Some(_), Some(pv)) => d.accepts(pv),
                    (Some(_), None) => false,
                }
        })
    }

    /// The packages of the new set (other than `me`) that `c` (a Breaks or
    /// Conflicts of `me`) hits.
    fn violators(&self, me: &str, c: &Dep) -> Vec<String> {
        let mut out = Vec::new();
        if c.is_foreign(&self.u.arch) {
            return out;
        }
        if c.name != me && self.version_of(&c.name).is_some_and(|v| c.accepts(v)) {
            out.push(c.name.clone());
        }
        for p in self.u.providers(&c.name) {
            if p.package == me || self.version_of(&p.package) != Some(p.version.as_str()) {
                continue;
            }
            let hit = match (&c.constraint, &p.provided) {
                (None, _) => true,
                (Some(_), Some(pv)) => c.accepts(pv),
                (Some(_), None) => false,
            };
            if hit && !out.contains(&p.package) {
                out.push(p.package.clone());
            }
        }
        out
    }

    fn changed(&self, name: &str) -> bool {
        self.installed.get(name).map(String::as_str) != self.version_of(name)
    }

    /// The upgraded package a change goes back to.
    fn culprit(&self, name: &str) -> String {
        let mut n = name.to_string();
        let mut seen = BTreeSet::new();
        while let Some(o) = self.origin.get(&n) {
            if !seen.insert(n.clone()) {
                break;
            }
            n = o.clone();
        }
        n
    }

    fn run(&mut self, wanted: &BTreeMap<String, String>) {
        for (name, version) in self.installed {
            let v = match (wanted.get(name), self.keep.contains_key(name)) {
                (Some(v), false) => v.clone(),
                _ => version.clone(),
            };
            self.target.insert(name.clone(), Some(v));
        }
        let mut queue: VecDeque<String> = self.target.keys().cloned().collect();
        self.install_dependencies(&mut queue);
        self.fix_conflicts();
        self.collect_problems();
    }

    fn install_dependencies(&mut self, queue: &mut VecDeque<String>) {
        while let Some(name) = queue.pop_front() {
            let Some(data) = self.data(&name) else {
                continue;
            };
            let groups = data.depends.clone();
            for group in &groups {
                if group.iter().any(|d| self.satisfies(d)) {
                    continue;
                }
                if let Some(next) = self.choose(&name, group) {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Picks how to satisfy `group` (a dependency of `by`), applies it and
    /// returns the package that changed.
    fn choose(&mut self, by: &str, group: &[Dep]) -> Option<String> {
        let reason = format!("required by {by} (Depends: {})", group_text(group));
        let root = self.culprit(by);
        // An installed alternative whose candidate satisfies it.
        for d in group.iter().filter(|d| !d.is_foreign(&self.u.arch)) {
            let Some(inst) = self.installed.get(&d.name) else {
                continue;
            };
            if !self.movable.contains(&d.name) || self.keep.contains_key(&d.name) {
                continue;
            }
            if let Offer::Update { version, .. } = self.policy.for_installed(&d.name, inst)
                && d.accepts(&version)
                && self.version_of(&d.name) != Some(version.as_str())
            {
                self.target.insert(d.name.clone(), Some(version));
                if d.name != root {
                    self.origin.insert(d.name.clone(), root);
                }
                return Some(d.name.clone());
            }
        }
        // The first alternative whose candidate satisfies it.
        for d in group.iter().filter(|d| !d.is_foreign(&self.u.arch)) {
            if self.target.contains_key(&d.name) {
                continue;
            }
            if self.u.knows(&d.name) {
                if let Some(v) = self.policy.for_new(&d.name)
                    && d.accepts(&v)
                {
                    return Some(self.add_new(&d.name, v, reason, root));
                }
                continue;
            }
            let mut candidates = BTreeSet::new();
            for p in self.u.providers(&d.name) {
                let ok = match (&d.constraint, &p.provided) {
                    (None, _) => true,
                    (Some(_), Some(pv)) => d.accepts(pv),
                    (Some(_), None) => false,
                };
                if ok
                    && !self.target.contains_key(&p.package)
                    && self.policy.for_new(&p.package).as_deref() == Some(p.version.as_str())
                {
                    candidates.insert((p.package.clone(), p.version.clone()));
                }
            }
            if candidates.len() == 1
                && let Some((pkg, v)) = candidates.pop_first()
            {
                return Some(self.add_new(&pkg, v, reason, root));
            }
        }
        None
    }

    fn add_new(&mut self, name: &str, version: String, reason: String, root: String) -> String {
        self.target.insert(name.to_string(), Some(version));
        self.install_reason.insert(name.to_string(), reason);
        self.origin.insert(name.to_string(), root);
        name.to_string()
    }

    /// apt's problem-resolver score, simplified: Essential, then Priority,
    /// then how many packages of the new set depend on it.
    fn score(&self, name: &str) -> i64 {
        let own = self.data(name).map_or(0, |d| {
            i64::from(d.priority) + if d.essential { 100 } else { 0 }
        });
        let rdeps = self
            .target
            .iter()
            .filter_map(|(n, v)| v.as_deref().and_then(|v| self.u.get(n, v)))
            .filter(|d| d.depends.iter().flatten().any(|x| x.name == name))
            .count();
        own + i64::try_from(rdeps).unwrap_or(i64::MAX)
    }

    fn fix_conflicts(&mut self) {
        let names: Vec<String> = self.target.keys().cloned().collect();
        for name in names {
            let Some(data) = self.data(&name) else {
                continue;
            };
            let conflicts = data.conflicts.clone();
            for (c, _) in &conflicts {
                for x in self.violators(&name, c) {
                    let (mover, other) = if self.changed(&name) {
                        (name.clone(), x.clone())
                    } else if self.changed(&x) {
                        (x.clone(), name.clone())
                    } else {
                        continue;
                    };
                    if self.changed(&other) || self.version_of(&mover).is_none() {
                        continue;
                    }
                    // Upgrade the other side when its candidate is clear.
                    if self.movable.contains(&other) && !self.keep.contains_key(&other) {
                        let inst = self.installed.get(&other).cloned().unwrap_or_default();
                        if let Offer::Update { version, .. } =
                            self.policy.for_installed(&other, &inst)
                        {
                            let old = self.target.insert(other.clone(), Some(version));
                            if !self.clash(&mover, &other) {
                                let root = self.culprit(&mover);
                                self.origin.insert(other.clone(), root);
                                let mut q = VecDeque::from([other.clone()]);
                                self.install_dependencies(&mut q);
                                continue;
                            }
                            self.target.insert(other.clone(), old.flatten());
                        }
                    }
                    // Remove the other side when apt would value it less.
                    if self.installed.contains_key(&other)
                        && !self.data(&other).is_some_and(|d| d.essential)
                        && self.score(&other) < self.score(&mover)
                        && self.removable(&other)
                    {
                        let field = self
                            .data(&name)
                            .and_then(|d| d.conflicts.iter().find(|(cc, _)| cc == c))
                            .map_or("Conflicts", |(_, f)| *f);
                        let v = self.version_of(&name).unwrap_or_default().to_string();
                        self.remove_reason
                            .insert(other.clone(), format!("{name} {v} {field}: {c}"));
                        self.target.insert(other.clone(), None);
                        let root = self.culprit(&mover);
                        self.origin.insert(other.clone(), root);
                    }
                }
            }
        }
    }

    /// Whether `a` and `b` of the new set conflict either way.
    fn clash(&self, a: &str, b: &str) -> bool {
        let hits = |x: &str, y: &str| {
            self.data(x).is_some_and(|d| {
                d.conflicts
                    .iter()
                    .any(|(c, _)| self.violators(x, c).iter().any(|v| v == y))
            })
        };
        hits(a, b) || hits(b, a)
    }

    /// Whether removing `name` leaves every dependency of the new set satisfied.
    fn removable(&mut self, name: &str) -> bool {
        let old = self.target.insert(name.to_string(), None);
        let ok = self.target.keys().all(|n| {
            self.data(n).is_none_or(|d| {
                d.depends
                    .iter()
                    .all(|g| g.iter().any(|x| self.satisfies(x)))
            })
        });
        self.target.insert(name.to_string(), old.flatten());
        ok
    }

    fn collect_problems(&mut self) {
        let mut problems = Vec::new();
        for (name, version) in &self.target {
            let Some(v) = version else { continue };
            let Some(data) = self.u.get(name, v) else {
                continue;
            };
            if let Some(p) = &data.problem
                && self.changed(name)
            {
                problems.push(self.blame(
                    name,
                    &[],
                    format!("{name} {v} has relations that cannot be read ({p})"),
                ));
            }
            for group in &data.depends {
                if group.iter().any(|d| self.satisfies(d)) {
                    continue;
                }
                let text = group_text(group);
                let why = format!("{name} {v} needs {text}, which cannot be installed");
                let others: Vec<&str> = group.iter().map(|d| d.name.as_str()).collect();
                problems.push(self.blame(name, &others, why));
            }
            for (c, field) in &data.conflicts {
                for x in self.violators(name, c) {
                    let why = format!("{name} {v} {field}: {c} ({x} is in the set)");
                    problems.push(self.blame(name, &[x.as_str()], why));
                }
            }
        }
        self.problems = problems;
    }

    /// Which upgrade to keep back for a problem of `name` involving
    /// `others`, or broken when no upgrade is involved.
    fn blame(&self, name: &str, others: &[&str], why: String) -> Problem {
        let mut suspects = vec![name];
        suspects.extend(others.iter().copied());
        for s in suspects {
            if !self.changed(s) {
                continue;
            }
            let root = self.culprit(s);
            if self.installed.contains_key(&root) && self.changed(&root) {
                let reason = if root == name {
                    why
                } else {
                    format!("upgrading it breaks the set: {why}")
                };
                return Problem::KeepBack(root, reason);
            }
        }
        Problem::Broken(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::version;
    use std::collections::HashMap;

    /// Candidate = the highest version in the universe text; `security`
    /// names the packages whose candidate is a security update.
    struct Highest {
        versions: HashMap<String, Vec<String>>,
        security: BTreeSet<String>,
    }

    impl Highest {
        fn new(packages: &str) -> Highest {
            let mut versions: HashMap<String, Vec<String>> = HashMap::new();
            for p in crate::deb::package::packages(packages.as_bytes()) {
                let p = p.unwrap();
                versions
                    .entry(p.package.to_string())
                    .or_default()
                    .push(p.version.to_string());
            }
            for v in versions.values_mut() {
                v.sort_by(|a, b| version::compare(b, a));
            }
            Highest {
                versions,
                security: BTreeSet::new(),
            }
        }
    }

    impl Policy for Highest {
        fn for_installed(&self, name: &str, installed: &str) -> Offer {
            let Some(vs) = self.versions.get(name) else {
                return Offer::Missing;
            };
            match vs.first() {
                Some(best) if version::compare(best, installed).is_gt() => Offer::Update {
                    version: best.clone(),
                    security: self.security.contains(name),
                },
                Some(best) if version::compare(best, installed).is_lt() => Offer::Ahead,
                _ => Offer::Current,
            }
        }
        fn for_new(&self, name: &str) -> Option<String> {
            self.versions.get(name)?.first().cloned()
        }
    }

    fn universe(text: &str) -> Universe {
        let mut u = Universe::new("amd64");
        assert_eq!(u.add_packages_text(text.as_bytes()), 0);
        u
    }

    fn installed(list: &[(&str, &str)]) -> Vec<InstalledPackage> {
        list.iter()
            .map(|(n, v)| {
                let (name, arch) = match n.split_once(':') {
                    Some((n, a)) => (n.to_string(), Some(a.to_string())),
                    None => (n.to_string(), None),
                };
                InstalledPackage {
                    name,
                    arch,
                    version: v.to_string(),
                }
            })
            .collect()
    }

    fn run(text: &str, inst: &[(&str, &str)]) -> Resolution {
        let u = universe(text);
        resolve(
            &u,
            &Highest::new(text),
            &installed(inst),
            &ResolveOptions::default(),
        )
    }

    fn names<T>(v: &[T], f: impl Fn(&T) -> &str) -> Vec<&str> {
        v.iter().map(f).collect()
    }

    const BASE: &str = "Package: libc6\nVersion: 2.36-1\nArchitecture: amd64\nPriority: required\n\n\
Package: libc6\nVersion: 2.36-2\nArchitecture: amd64\nPriority: required\n\n";

    #[test]
    fn plain_upgrades() {
        let r = run(BASE, &[("libc6", "2.36-1")]);
        assert_eq!(
            r.upgrade,
            vec![("libc6".into(), "2.36-1".into(), "2.36-2".into())]
        );
        assert!(r.install.is_empty() && r.remove.is_empty() && r.held.is_empty());
        assert!(!r.broken && r.unverified.is_empty());
    }

    #[test]
    fn new_dependency_first_satisfiable_alternative() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\nDepends: libc6\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libc6 (>= 2.36-2), libnew-missing | libnew2 (>= 2) | libnew3, tool:any\n\n\
Package: libnew2\nVersion: 1\nArchitecture: amd64\n\n\
Package: libnew2\nVersion: 2\nArchitecture: amd64\nDepends: libc6\n\n\
Package: libnew3\nVersion: 1\nArchitecture: all\n\n\
Package: tool\nVersion: 5\nArchitecture: amd64\nMulti-Arch: allowed\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-1"), ("app", "1")]);
        assert_eq!(names(&r.upgrade, |u| &u.0), ["app", "libc6"]);
        // libnew-missing is in no index; libnew2's candidate (2) satisfies.
        assert_eq!(
            r.install
                .iter()
                .map(|i| (i.0.as_str(), i.1.as_str()))
                .collect::<Vec<_>>(),
            [("libnew2", "2"), ("tool", "5")]
        );
        assert!(
            r.install[0].2.contains("required by app"),
            "{:?}",
            r.install
        );
        assert!(!r.broken);
    }

    #[test]
    fn only_moves_the_selected_packages_and_what_they_need() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: gawk (>= 5)\n\n\
Package: gawk\nVersion: 4\nArchitecture: amd64\n\n\
Package: gawk\nVersion: 5\nArchitecture: amd64\n\n\
Package: sed\nVersion: 1\nArchitecture: amd64\n\n\
Package: sed\nVersion: 2\nArchitecture: amd64\n\n"
        );
        let policy = Highest::new(&text);
        let u = universe(&text);
        let installed = installed(&[
            ("libc6", "2.36-2"),
            ("app", "1"),
            ("gawk", "4"),
            ("sed", "1"),
        ]);
        let r = resolve(
            &u,
            &policy,
            &installed,
            &ResolveOptions {
                only: Some(["app".to_string()].into()),
                ..Default::default()
            },
        );
        // app moves, gawk because app 2 needs it; sed and libc6 stay.
        assert_eq!(names(&r.upgrade, |u| &u.0), ["app", "gawk"]);
        let all = resolve(&u, &policy, &installed, &ResolveOptions::default());
        assert!(names(&all.upgrade, |u| &u.0).contains(&"sed"));
    }

    #[test]
    fn installed_alternative_is_preferred_and_upgraded() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: mawk (>= 2) | gawk (>= 5)\n\n\
Package: mawk\nVersion: 2\nArchitecture: amd64\n\n\
Package: gawk\nVersion: 4\nArchitecture: amd64\n\n\
Package: gawk\nVersion: 5\nArchitecture: amd64\n\n"
        );
        let mut policy = Highest::new(&text);
        policy.security.insert("app".into());
        let u = universe(&text);
        // security-only: gawk has a non-security update that is not wanted,
        // but the installed alternative moves because app needs it.
        let r = resolve(
            &u,
            &policy,
            &installed(&[("libc6", "2.36-2"), ("app", "1"), ("gawk", "4")]),
            &ResolveOptions {
                hold: Vec::new(),
                security_only: true,
                ..Default::default()
            },
        );
        assert_eq!(names(&r.upgrade, |u| &u.0), ["app", "gawk"]);
        assert!(r.install.is_empty(), "{:?}", r.install);
    }

    #[test]
    fn virtual_package_with_one_provider_is_installed() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: mail-transport-agent, java-runtime (>= 17)\n\n\
Package: postfix\nVersion: 3\nArchitecture: amd64\nProvides: mail-transport-agent\n\n\
Package: jre\nVersion: 21\nArchitecture: amd64\nProvides: java-runtime (= 21)\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-2"), ("app", "1")]);
        assert_eq!(names(&r.install, |i| &i.0), ["jre", "postfix"]);
        assert!(!r.broken);
    }

    #[test]
    fn virtual_package_with_several_providers_is_not_guessed() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: mta\n\n\
Package: postfix\nVersion: 3\nArchitecture: amd64\nProvides: mta\n\n\
Package: exim\nVersion: 4\nArchitecture: amd64\nProvides: mta\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-2"), ("app", "1")]);
        assert!(r.upgrade.is_empty() && r.install.is_empty());
        assert_eq!(names(&r.held, |h| &h.0), ["app"]);
        assert!(r.held[0].1.contains("needs mta"), "{:?}", r.held);
        // With a provider installed, the upgrade goes through.
        let r = run(&text, &[("libc6", "2.36-2"), ("app", "1"), ("exim", "4")]);
        assert_eq!(names(&r.upgrade, |u| &u.0), ["app"]);
        assert!(r.held.is_empty());
    }

    #[test]
    fn breaks_force_out_a_lesser_package() {
        let text = format!(
            "{BASE}Package: core\nVersion: 1\nArchitecture: amd64\nPriority: important\n\n\
Package: core\nVersion: 2\nArchitecture: amd64\nPriority: important\nBreaks: plugin (<< 9)\n\n\
Package: plugin\nVersion: 1\nArchitecture: amd64\nPriority: optional\n\n\
Package: user\nVersion: 1\nArchitecture: amd64\nDepends: core\n\n"
        );
        let r = run(
            &text,
            &[
                ("libc6", "2.36-2"),
                ("core", "1"),
                ("plugin", "1"),
                ("user", "1"),
            ],
        );
        assert_eq!(names(&r.upgrade, |u| &u.0), ["core"]);
        assert_eq!(names(&r.remove, |x| &x.0), ["plugin"]);
        assert!(
            r.remove[0].1.contains("core 2 Breaks: plugin (<< 9)"),
            "{:?}",
            r.remove
        );
        assert!(!r.broken);
    }

    #[test]
    fn conflict_resolved_by_upgrading_the_other_side() {
        let text = format!(
            "{BASE}Package: a\nVersion: 1\nArchitecture: amd64\n\n\
Package: a\nVersion: 2\nArchitecture: amd64\nConflicts: b (<< 2)\n\n\
Package: b\nVersion: 1\nArchitecture: amd64\n\n\
Package: b\nVersion: 2\nArchitecture: amd64\n\n"
        );
        let mut policy = Highest::new(&text);
        policy.security.insert("a".into());
        let u = universe(&text);
        let r = resolve(
            &u,
            &policy,
            &installed(&[("libc6", "2.36-2"), ("a", "1"), ("b", "1")]),
            &ResolveOptions {
                hold: Vec::new(),
                security_only: true,
                ..Default::default()
            },
        );
        assert_eq!(names(&r.upgrade, |u| &u.0), ["a", "b"]);
        assert!(r.remove.is_empty());
    }

    #[test]
    fn upgrade_kept_back_when_it_would_remove_something_valued_more() {
        // The new lib breaks an Essential package that has no fix: apt
        // keeps the lib back rather than remove it.
        let text = format!(
            "{BASE}Package: lib\nVersion: 1\nArchitecture: amd64\n\n\
Package: lib\nVersion: 2\nArchitecture: amd64\nBreaks: ess (<< 2)\n\n\
Package: ess\nVersion: 1\nArchitecture: amd64\nEssential: yes\nDepends: lib\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-2"), ("lib", "1"), ("ess", "1")]);
        assert!(r.upgrade.is_empty() && r.remove.is_empty());
        assert_eq!(names(&r.held, |h| &h.0), ["lib"]);
        assert!(r.held[0].1.contains("Breaks: ess (<< 2)"), "{:?}", r.held);
        assert!(!r.broken);
    }

    #[test]
    fn unresolvable_new_dependency_keeps_back_and_its_dependents_too() {
        let text = format!(
            "{BASE}Package: lib\nVersion: 1\nArchitecture: amd64\n\n\
Package: lib\nVersion: 2\nArchitecture: amd64\nDepends: nowhere (>= 1)\n\n\
Package: lib-dev\nVersion: 1\nArchitecture: amd64\nDepends: lib (= 1)\n\n\
Package: lib-dev\nVersion: 2\nArchitecture: amd64\nDepends: lib (= 2)\n\n"
        );
        let r = run(
            &text,
            &[("libc6", "2.36-1"), ("lib", "1"), ("lib-dev", "1")],
        );
        assert_eq!(names(&r.upgrade, |u| &u.0), ["libc6"]);
        assert_eq!(names(&r.held, |h| &h.0), ["lib", "lib-dev"]);
        assert!(r.held[0].1.contains("needs nowhere (>= 1)"), "{:?}", r.held);
        assert!(!r.broken);
    }

    #[test]
    fn inconsistent_installed_set_is_broken_not_guessed() {
        let text =
            format!("{BASE}Package: app\nVersion: 1\nArchitecture: amd64\nDepends: gone-lib\n\n");
        let r = run(&text, &[("libc6", "2.36-1"), ("app", "1")]);
        assert!(r.broken);
        assert!(r.upgrade.is_empty() && r.install.is_empty());
        assert!(
            r.problems[0].contains("app 1 needs gone-lib"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn unverified_installed_versions_still_planned_from_candidates() {
        let text = format!(
            "{BASE}Package: app\nVersion: 3\nArchitecture: amd64\nDepends: helper\n\n\
Package: helper\nVersion: 1\nArchitecture: amd64\n\n"
        );
        // app 1 is in no index; libfoo is in none at all; libc6:i386 is foreign.
        let r = run(
            &text,
            &[
                ("libc6", "2.36-2"),
                ("app", "1"),
                ("libfoo", "1"),
                ("libc6:i386", "2.36-2"),
            ],
        );
        assert_eq!(names(&r.upgrade, |u| &u.0), ["app"]);
        assert_eq!(names(&r.install, |i| &i.0), ["helper"]);
        assert_eq!(
            names(&r.unverified, |u| &u.0),
            ["libc6:i386", "app", "libfoo"]
        );
        assert!(!r.broken);
    }

    #[test]
    fn essential_packages_missing_from_the_image_are_not_added() {
        let text = format!(
            "{BASE}Package: dash\nVersion: 1\nArchitecture: amd64\nEssential: yes\nPriority: required\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-1")]);
        assert_eq!(names(&r.upgrade, |u| &u.0), ["libc6"]);
        assert!(r.install.is_empty());
    }

    #[test]
    fn manifest_hold_is_reported() {
        let u = universe(BASE);
        let r = resolve(
            &u,
            &Highest::new(BASE),
            &installed(&[("libc6", "2.36-1")]),
            &ResolveOptions {
                hold: vec!["libc6".into()],
                security_only: false,
                ..Default::default()
            },
        );
        assert!(r.upgrade.is_empty());
        assert_eq!(
            r.held,
            vec![(
                "libc6".into(),
                "held in the manifest (candidate 2.36-2)".into()
            )]
        );
    }

    #[test]
    fn unparsable_relations_do_not_panic() {
        let text = format!(
            "{BASE}Package: app\nVersion: 1\nArchitecture: amd64\n\n\
Package: app\nVersion: 2\nArchitecture: amd64\nDepends: foo (>>> 1\n\n"
        );
        let r = run(&text, &[("libc6", "2.36-2"), ("app", "1")]);
        assert_eq!(names(&r.held, |h| &h.0), ["app"]);
        assert!(r.held[0].1.contains("cannot be read"), "{:?}", r.held);
    }
}
