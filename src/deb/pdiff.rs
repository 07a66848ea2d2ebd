//! TODO(owner: helper) pdiff
