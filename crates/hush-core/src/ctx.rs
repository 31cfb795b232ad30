//! What the core's own backends (`sys/`, `auth/token/`) see of a request beyond what an engine
//! sees: the core, the unsealed state, the whole request and the caller's token and policies.
//! The pipeline builds one per request; engines never get it.

use std::sync::Arc;

use hush_policy::{Acl, Capability};

use crate::core::{Core, Unsealed};
use crate::error::{CoreError, Result};
use crate::logical::Request;
use crate::token::TokenEntry;

/// Everything a core handler needs about the request it serves.
pub struct Ctx<'a> {
    /// The core.
    pub core: &'a Core,
    /// The unsealed state the request runs against.
    pub un: &'a Arc<Unsealed>,
    /// The request.
    pub req: &'a Request,
    /// The path below the handler's mount (`sys/`, `auth/token/`).
    pub rel: &'a str,
    /// The caller's token entry (None on unauthenticated paths).
    pub token: Option<&'a Arc<TokenEntry>>,
    /// The caller's compiled policies.
    pub acl: Option<&'a Arc<Acl>>,
}

impl Ctx<'_> {
    /// Whether the caller holds `sudo` on `path` (root tokens always do).
    pub fn has_sudo(&self, path: &str) -> bool {
        self.acl.is_some_and(|acl| {
            acl.is_root() || acl.check(path, Capability::Read, true, None, None).sudo
        })
    }

    /// The caller's token entry, or a 403 for paths that need one.
    pub fn caller(&self) -> Result<&Arc<TokenEntry>> {
        self.token
            .ok_or_else(|| CoreError::denied("this path needs a token"))
    }

    /// Whether the caller's policies reach anything below `route` (the rule of Vault's UI
    /// listings and OpenAPI document).
    pub fn sees(&self, route: &str) -> bool {
        self.acl.is_some_and(|acl| acl.has_mount_access(route))
    }
}
