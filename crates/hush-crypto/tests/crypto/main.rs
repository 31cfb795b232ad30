//! The integration tests of hush-crypto, one test binary.

mod barrier;
mod seal;
mod shamir_props;
