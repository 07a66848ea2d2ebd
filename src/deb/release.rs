//! TODO(owner: helper) release
