//! TODO(owner: helper) openpgp
