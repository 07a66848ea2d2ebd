//! debfleet: keep a fleet of Debian-based container images up to date, tested
//! and auditable, offline.
//!
//! The library is layered; data flows one way and lower layers never import
//! higher ones:
//!
//! ```text
//! deb (pure formats) -> mirror (fetch + verify) -> store (redb, compiled tables)
//!     -> fleet (config, manifests, check, plan)
//!     -> release, security, lifecycle -> audit -> cli
//! ```
//!
//! `release` records builds, snapshots, test results and promotions in the
//! store's hash-chained journal (`store::journal`); `security` holds the
//! security tracker data and matches it against images; `lifecycle` reads
//! distro-info; `audit` verifies the chain, answers offline questions about
//! the history and exports SBOMs.
//!
//! See `docs/design.md` for the on-disk formats and the reasoning.

pub mod audit;
pub mod deb;
pub mod fleet;
pub mod lifecycle;
pub mod mirror;
pub mod release;
pub mod security;
pub mod store;
