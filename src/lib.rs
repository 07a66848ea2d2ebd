//! debfleet: keep a fleet of Debian-based container images up to date, tested
//! and auditable, offline.
//!
//! The library is layered; data flows one way and lower layers never import
//! higher ones:
//!
//! ```text
//! deb (pure formats) -> mirror (fetch + verify) -> store (redb, compiled tables)
//!     -> fleet (config, manifests, check, plan) -> {release, audit} -> cli
//! ```
//!
//! `release` records builds, snapshots, test results and promotions in the
//! store's hash-chained journal (`store::journal`); `audit` verifies that
//! chain and answers offline questions about it.
//!
//! See `docs/design.md` for the on-disk formats and the reasoning.

pub mod audit;
pub mod deb;
pub mod fleet;
pub mod mirror;
pub mod release;
pub mod store;
