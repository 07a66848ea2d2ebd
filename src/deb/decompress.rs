//! TODO(owner: helper) decompress
