//! The integration tests of hush-engines, one test binary.

mod common;

mod kv_v1;
mod kv_v2;
