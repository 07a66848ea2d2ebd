//! The directory skeleton of a private apt root (apt's `Dir`), shared by the
//! tests and benches that run the real apt against a local repository.
//! Plain std only, so that benches can include it with `#[path]`.

use std::path::Path;

/// Creates the directories apt expects under `root` and an empty dpkg
/// status file.
pub fn create(root: &Path) -> std::io::Result<()> {
    for sub in [
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "etc/apt/sources.list.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
        "var/log/apt",
    ] {
        std::fs::create_dir_all(root.join(sub))?;
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "")
}
