//! `identity/`: Vault's identity system. Entities (one per person or machine) with aliases
//! (their names in each auth method), internal groups (members listed) and external groups
//! (members from an auth method's groups, through group aliases), and lookups.
//!
//! The core mounts the backend at `identity/` on every server, as Vault does. A login through
//! any auth method names an alias; the core finds or creates its entity
//! ([`IdentityStore::login`]) and the token carries the entity's id.

mod paths;
mod store;

use std::sync::Arc;

pub(crate) use paths::check_alias_name;
pub use paths::IdentityBackend;
pub use store::{
    AliasFields, Entity, EntityAlias, EntityFields, EntityTarget, Group, GroupAlias,
    GroupAliasFields, GroupFields, GroupKind, GroupTarget, IdentityStore, LoginIdentity, Meta,
    Resolved, State,
};

use crate::error::{CoreError, Result};
use crate::token::TokenEntry;

/// The mount's accessor, fixed like the other built-ins'.
pub const ACCESSOR: &str = "identity_builtin";

/// Where the identity store lives inside the barrier.
pub const STORAGE_PREFIX: &str = "sys/identity/";

/// The entity of a token, or why the token may not be used: Vault refuses the tokens of an
/// entity that is disabled or no longer exists.
pub fn entity_of(identity: &IdentityStore, entry: &TokenEntry) -> Result<Option<Arc<Resolved>>> {
    if entry.entity_id.is_empty() {
        return Ok(None);
    }
    let Some(who) = identity.resolve(&entry.entity_id) else {
        return Err(CoreError::TokenRejected {
            reason: "the identity entity of this token was deleted; log in again for a token \
                     of a current entity",
            detail: format!("entity {} of the token no longer exists", entry.entity_id),
        });
    };
    if who.entity.disabled {
        return Err(CoreError::TokenRejected {
            reason: "the identity entity of this token is disabled: its tokens are refused until \
                     an operator enables it again (identity/entity/id/<id> with disabled=false)",
            detail: format!("entity {} of the token is disabled", entry.entity_id),
        });
    }
    Ok(Some(who))
}
