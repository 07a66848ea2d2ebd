//! Security tracker data: importing the Debian security tracker's JSON
//! export into the store with history ([`tracker`]), mapping installed
//! binaries to their source packages ([`packages`]), and deciding which
//! images an issue affects and whether the fix is in the mirror
//! ([`affected`]).
//!
//! Sits above `fleet` (it reads manifests, bases and candidate tables);
//! `fleet` never imports it. The CLI joins its results into `check`.

pub mod affected;
pub mod fasttrack;
pub mod packages;
pub mod tracker;
