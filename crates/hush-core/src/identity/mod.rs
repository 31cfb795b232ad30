//! `identity/`: Vault's identity system. Entities (one per person or machine) with aliases
//! (their names in each auth method), internal groups (members listed) and external groups
//! (members from an auth method's groups, through group aliases), and lookups.
//!
//! The core mounts the backend at `identity/` on every server, as Vault does.

mod paths;
mod store;

pub use paths::IdentityBackend;
pub use store::{
    AliasFields, Entity, EntityAlias, EntityFields, EntityTarget, Group, GroupAlias,
    GroupAliasFields, GroupFields, GroupKind, GroupTarget, IdentityStore, Meta, State,
};

/// The mount's accessor, fixed like the other built-ins'.
pub const ACCESSOR: &str = "identity_builtin";

/// Where the identity store lives inside the barrier.
pub const STORAGE_PREFIX: &str = "sys/identity/";
