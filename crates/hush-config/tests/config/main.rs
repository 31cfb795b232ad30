//! The integration tests of hush-config, one test binary.

mod duration_props;
mod server_config;
