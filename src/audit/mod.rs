//! Audit outputs: what an image is made of, for people and tools outside
//! debfleet.

pub mod sbom;
