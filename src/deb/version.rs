//! TODO(owner: helper) version
