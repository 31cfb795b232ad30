//! `identity/`: Vault's identity system. Entities (one per person or machine) with aliases
//! (their names in each auth method), internal groups (members listed) and external groups
//! (members from an auth method's groups, through group aliases), and lookups.
//!
//! The core mounts the backend at `identity/` on every server, as Vault does. A login through
//! any auth method names an alias; the core finds or creates its entity
//! ([`IdentityStore::login`]) and the token carries the entity's id. On every request the
//! token's policies are joined by the entity's and its groups' ([`token_acl`]), read at that
//! moment, so a group change reaches tokens already issued; `{{identity...}}` templates in
//! policies are filled in from the same entity.

mod paths;
mod store;

use std::sync::Arc;

use hush_policy::Acl;

pub(crate) use paths::check_alias_name;
pub use paths::IdentityBackend;
pub use store::{
    AliasFields, Entity, EntityAlias, EntityFields, EntityTarget, Group, GroupAlias,
    GroupAliasFields, GroupFields, GroupKind, GroupTarget, IdentityStore, LoginIdentity, Meta,
    Resolved, State,
};

use crate::error::{CoreError, Result};
use crate::policy_store::PolicyStore;
use crate::token::TokenEntry;

/// The mount's accessor, fixed like the other built-ins'.
pub const ACCESSOR: &str = "identity_builtin";

/// Where the identity store lives inside the barrier.
pub const STORAGE_PREFIX: &str = "sys/identity/";

/// What a token may do: its ACL, and the entity it acts for (if any).
pub struct TokenAcl {
    /// The compiled ACL of the token's policies and its identity's.
    pub acl: Arc<Acl>,
    /// The token's entity, as of this request.
    pub identity: Option<Arc<Resolved>>,
}

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

/// The token's policies joined with its identity's (sorted, once each).
pub fn all_policies(entry: &TokenEntry, identity: Option<&Resolved>) -> Vec<String> {
    let mut names = entry.policies.clone();
    if let Some(who) = identity {
        names.extend(who.policies.iter().cloned());
        names.sort();
        names.dedup();
    }
    names
}

/// The ACL of a request made with `entry`: the token's policies, its entity's, and those of
/// every group the entity is in (directly, through member groups, or through external group
/// aliases), with templates filled in for that entity.
pub async fn token_acl(
    identity: &IdentityStore,
    policies: &PolicyStore,
    entry: &TokenEntry,
) -> Result<TokenAcl> {
    let who = entity_of(identity, entry)?;
    let acl = match &who {
        None => policies.acl(&entry.policies).await?,
        Some(w) if w.policies.is_empty() => policies.acl_for(&entry.policies, Some(&**w)).await?,
        Some(w) => {
            policies
                .acl_for(&all_policies(entry, Some(w)), Some(&**w))
                .await?
        }
    };
    Ok(TokenAcl { acl, identity: who })
}
