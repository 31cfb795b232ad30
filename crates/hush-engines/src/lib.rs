//! hush's secrets engines. Each engine is one module implementing
//! [`hush_core::engine::LogicalBackend`]; [`register`] adds all of them to the core's registry.
//!
//! Engines never see tokens or policies: the core's pipeline has already checked both before a
//! request arrives here. They receive the path below their mount, the request data and the
//! mount's own encrypted storage view.
//!
//! Engines so far:
//! - [`kv`]: the key/value store, versions 1 and 2, wire-compatible with Vault's `kv` engine.
//! - [`database`]: dynamic database credentials under leases (PostgreSQL so far).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod database;
pub mod kv;

use hush_core::engine::Registry;

/// Registers every engine of this crate under its type name(s).
///
/// Today that is `kv` (v1 or v2 depending on the mount's `options.version`) and `kv-v2` (always
/// v2; see [`kv::KV_V2_ALIAS`]).
pub fn register(registry: &mut Registry) {
    kv::register(registry);
    database::register(registry);
}
