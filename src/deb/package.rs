//! TODO(owner: helper) package
