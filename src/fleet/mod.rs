//! The fleet: configuration, image manifests, and the checks and plans made over them.

pub mod config;
pub mod manifest;
