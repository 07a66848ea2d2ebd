//! Pure Debian formats: versions, deb822 control data, package and
//! relationship fields, Release/InRelease, OpenPGP verification,
//! decompression and pdiff. Nothing here performs IO policy (no network, no
//! store); every function works on bytes and values handed in by the caller.

pub mod deb822;
pub mod decompress;
pub mod hash;
pub mod openpgp;
pub mod package;
pub mod pdiff;
pub mod relation;
pub mod release;
pub mod version;
pub mod xz_blocks;
