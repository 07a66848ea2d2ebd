//! The fleet: configuration, image manifests, and the checks and plans made over them.

pub mod check;
pub mod config;
pub mod explain;
pub mod generate;
pub mod manifest;
pub mod manifest_cache;
pub mod manifest_edit;
pub mod plan;
pub mod sources;
pub mod yaml;
