//! What the core's own backends (`sys/`, `auth/token/`) see of a request beyond what an engine
//! sees: the core, the unsealed state, the whole request and the caller's token and policies.
//! The pipeline builds one per request; engines never get it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hush_policy::{Acl, Capability};

use crate::core::{Core, Unsealed};
use crate::engine::{EngineRequest, MountEntry};
use crate::error::{CoreError, Result};
use crate::framework::HandlerFuture;
use crate::logical::{Request, Response};
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

/// Effective TTL limits of a mount: (default, max), falling back to the system's.
pub fn mount_ttls(ctx: &Ctx<'_>, entry: Option<&MountEntry>) -> (Duration, Duration) {
    let cfg = ctx.core.config();
    let (mut d, mut m) = (cfg.default_lease_ttl, cfg.max_lease_ttl);
    if let Some(e) = entry {
        if e.config.max_lease_ttl > 0 {
            m = Duration::from_secs(e.config.max_lease_ttl);
        }
        if e.config.default_lease_ttl > 0 {
            d = Duration::from_secs(e.config.default_lease_ttl);
        }
    }
    (d.min(m), m)
}

/// Runs a core handler with the request's [`Ctx`].
pub(crate) fn run<'a, F, Fut>(req: &'a EngineRequest<'a>, f: F) -> HandlerFuture<'a>
where
    F: FnOnce(&'a Ctx<'a>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response>> + Send + 'a,
{
    Box::pin(async move { f(req.ctx()?).await })
}
