//! The integration tests of hush-policy, one test binary.

mod acl;
mod parse;
mod properties;
