//! TODO(owner: helper) deb822
