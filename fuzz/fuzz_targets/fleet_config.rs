//! Fuzzes fleet configuration parsing (`FleetConfig::from_bytes`, which
//! does no IO), and the YAML reader underneath it.
//!
//! Checks that neither panics, and that an accepted configuration answers
//! its accessors.
#![no_main]

use std::path::Path;

use debfleet::fleet::config::FleetConfig;
use debfleet::fleet::yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = yaml::decode_utf8(data) {
        let _ = yaml::parse(text);
    }
    let Ok(config) = FleetConfig::from_bytes(Path::new("/fleet/fleet.yaml"), data) else {
        return;
    };
    for (name, archive) in &config.archives {
        let expected = archive.keyring.as_deref().or(config.keyring.as_deref());
        assert_eq!(config.keyring_for(name), expected);
    }
    for base in config.bases.values() {
        for repo in &base.repositories {
            assert!(
                config.archives.contains_key(&repo.archive),
                "accepted base {} using undeclared archive {}",
                base.name,
                repo.archive
            );
        }
    }
});
