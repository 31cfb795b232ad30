//! Client-compatibility tests for hush: `tests/vaultrs.rs` starts the real `hush` binary in
//! development mode and drives it with [vaultrs](https://docs.rs/vaultrs), a Rust Vault client.
//! This library is intentionally empty.
