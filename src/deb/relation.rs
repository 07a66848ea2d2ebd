//! TODO(owner: helper) relation
