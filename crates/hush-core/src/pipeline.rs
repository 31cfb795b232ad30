//! The single request pipeline:
//!
//! ```text
//! seal check -> route (longest prefix) -> resolve token (cached) -> ACL (cached per policy set)
//!   -> audit request -> handler -> issue token for logins -> audit response
//! ```
//!
//! Engines and auth methods sit behind [`crate::engine::LogicalBackend`]; `sys/` and
//! `auth/token/` are the core's own handlers, behind the same checks.

use std::borrow::Cow;
use std::sync::Arc;

use hush_policy::{Acl, Capability};

use crate::audit::RequestEntry;
use crate::core::{now_unix, Core, Unsealed};
use crate::engine::EngineRequest;
use crate::error::{CoreError, Result};
use crate::logical::{MountInfo, Operation, Request, Response};
use crate::mounts::Mounted;
use crate::token::{TokenEntry, TOKEN_STORE_ACCESSOR};

/// Where a request goes.
pub(crate) enum Target {
    /// The `sys/` backend.
    Sys,
    /// The token store at `auth/token/`.
    Token,
    /// A mounted engine or auth method.
    Mount(Arc<Mounted>),
}

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
}

fn route(un: &Unsealed, path: &str) -> Result<(Target, String)> {
    let not_found = || {
        CoreError::NotFound(format!(
            "no handler for route \"{path}\": route entry not found (is a secrets engine mounted \
             there? list mounts with `hush secrets list`)"
        ))
    };
    if path == "sys" || path.starts_with("sys/") {
        return Ok((Target::Sys, path.get(4..).unwrap_or("").to_string()));
    }
    if path == "auth/token" || path.starts_with("auth/token/") {
        return Ok((Target::Token, path.get(11..).unwrap_or("").to_string()));
    }
    let table = if path.starts_with("auth/") {
        &un.auth
    } else {
        &un.mounts
    };
    match table.route(path) {
        Some((m, rel)) => {
            let rel = rel.to_string();
            Ok((Target::Mount(m), rel))
        }
        None => Err(not_found()),
    }
}

fn capability(op: Operation) -> Capability {
    match op {
        Operation::Read => Capability::Read,
        Operation::List => Capability::List,
        Operation::Create => Capability::Create,
        Operation::Update => Capability::Update,
        Operation::Patch => Capability::Patch,
        Operation::Delete => Capability::Delete,
    }
}

/// Runs one request through the pipeline.
pub async fn handle(core: &Core, mut req: Request) -> Result<Response> {
    // One canonical path, before anything looks at it: the ACL and the handler see the same name.
    let generic = match crate::canonical::request_path(&req.path, req.operation)? {
        Cow::Borrowed(p) if p.len() == req.path.len() => None,
        other => Some(other.into_owned()),
    };
    if let Some(p) = generic {
        req.path = p;
    }
    // Unauthenticated sys endpoints work while sealed and are not audited (as in Vault).
    if let Some(resp) = crate::sys::handle_unauthenticated(core, &req).await {
        return resp;
    }
    if !core.is_initialized() {
        return Err(CoreError::NotInitialized);
    }
    let un = core.unsealed().ok_or(CoreError::Sealed)?;
    un.quotas.check(&req.path, req.client_addr)?;
    if let Some(ttl) = req.wrap_ttl {
        req.wrap_ttl = Some(crate::wrapping::whole_seconds(ttl)?);
    }

    // The route is decided first (it tells whether sudo is needed), but a routing error is only
    // revealed to an authenticated client: without a valid token every path is 403.
    let routed = route(&un, &req.path).and_then(|(target, rel)| {
        let canonical = match &target {
            Target::Sys => crate::sys_api::canonical_path(Cow::Borrowed(&rel))?,
            Target::Token => crate::token_api::canonical_path(Cow::Borrowed(&rel))?,
            Target::Mount(m) => m.backend.canonical_path(Cow::Borrowed(&rel))?,
        };
        match canonical {
            Cow::Borrowed(_) => Ok((target, rel)),
            Cow::Owned(c) => {
                let prefix = req.path.len() - rel.len();
                req.path = format!("{}{c}", &req.path[..prefix]);
                Ok((target, c))
            }
        }
    });
    let (unauthenticated, sudo) = match &routed {
        Ok((Target::Mount(m), rel)) => (
            m.backend.is_unauthenticated(rel),
            m.backend.requires_sudo(rel),
        ),
        Ok((Target::Sys, rel)) => (
            crate::sys_api::is_unauthenticated(rel),
            crate::sys::requires_sudo(rel, req.operation),
        ),
        Ok((Target::Token, rel)) => (false, crate::token_api::requires_sudo(rel)),
        Err(_) => (false, false),
    };
    if let Ok((target, rel)) = &routed {
        let credential = match target {
            Target::Sys => crate::sys_api::credential_in_path(rel),
            Target::Token => crate::token_api::credential_in_path(rel),
            Target::Mount(m) => m.backend.credential_in_path(rel),
        };
        req.credential_at = credential.map(|at| req.path.len() - rel.len() + at);
        req.mount = Some(match target {
            Target::Sys => MountInfo {
                point: "sys/".into(),
                kind: "system".into(),
                accessor: "system".into(),
            },
            Target::Token => MountInfo {
                point: "auth/token/".into(),
                kind: "token".into(),
                accessor: TOKEN_STORE_ACCESSOR.into(),
            },
            Target::Mount(m) => MountInfo {
                point: m.route.clone(),
                kind: m.entry.kind.clone(),
                accessor: m.entry.accessor.clone(),
            },
        });
    }

    let mut token: Option<Arc<TokenEntry>> = None;
    let mut acl: Option<Arc<Acl>> = None;
    let mut denial: Option<CoreError> = None;
    if !unauthenticated || req.token.as_deref().is_some_and(|t| !t.is_empty()) {
        match authenticate(core, &un, &req).await {
            Ok((t, a)) => {
                token = Some(t);
                acl = Some(a);
            }
            Err(e) if unauthenticated => {
                // A login path with a stale token still works, as in Vault.
                let _ = e;
            }
            Err(e) => denial = Some(e),
        }
    }
    // The UI mounts endpoint decides visibility itself from the token's policies.
    let acl_exempt =
        matches!(&routed, Ok((Target::Sys, rel)) if rel.starts_with("internal/ui/mounts"));
    if denial.is_none() && !unauthenticated && !acl_exempt {
        if let (Some(acl), Ok((target, rel))) = (&acl, &routed) {
            if let Err(e) = authorize(&un, acl, &mut req, target, rel, sudo).await {
                denial = Some(e);
            }
        }
    }
    // A request that changes nothing may have its entry written with its response's: it has
    // no effect to record if the server dies in between. Limited-use tokens (each use is a
    // write) and wrapped responses (a new token) are effects.
    let when = match &routed {
        Ok((Target::Mount(m), rel))
            if denial.is_none()
                && req.wrap_ttl.is_none()
                && token.as_ref().is_none_or(|t| t.num_uses == 0)
                && m.backend.changes_nothing(rel, req.operation) =>
        {
            RequestEntry::WithResponse
        }
        _ => RequestEntry::WriteNow,
    };
    crate::audit::retry_broken(&un).await;
    // With every audit device broken, nothing is served, except what repairs the log: a root
    // token may still list, disable or enable devices (`sys/audit...`), recorded in the server
    // log.
    let repairs_audit = denial.is_none()
        && token.as_ref().is_some_and(|t| t.is_root())
        && matches!(&routed, Ok((Target::Sys, rel)) if rel == "audit" || rel.starts_with("audit/"));
    let memos = match un
        .audit
        .log_request(&req, token.as_deref(), denial.as_ref(), when)
        .await
    {
        Ok(m) => m,
        Err(e) if repairs_audit => {
            tracing::error!(
                path = %req.path,
                operation = req.operation.as_str(),
                error = %e,
                "served a root token's audit-device change that no audit device could record"
            );
            Default::default()
        }
        Err(e) => return Err(e),
    };
    if let Some(e) = denial {
        return Err(e);
    }
    let last_use = match &token {
        Some(t) => un.tokens.use_token(t).await?,
        None => false,
    };

    let result = match routed {
        Err(e) => Err(e),
        Ok((target, rel)) => {
            let is_wrapping_api = matches!(target, Target::Sys) && rel.starts_with("wrapping/");
            let ctx = Ctx {
                core,
                un: &un,
                req: &req,
                rel: &rel,
                token: token.as_ref(),
                acl: acl.as_ref(),
            };
            match (dispatch(&ctx, target).await, req.wrap_ttl) {
                (Ok(resp), Some(ttl))
                    if !is_wrapping_api && (resp.data.is_some() || resp.auth.is_some()) =>
                {
                    crate::wrapping::wrap(&un, resp, ttl, &req.path).await
                }
                (other, _) => other,
            }
        }
    };
    if last_use {
        if let Some(t) = &token {
            un.tokens.revoke_tree(&t.id_hash).await?;
        }
    }
    match un
        .audit
        .log_response(&req, token.as_deref(), &result, memos)
        .await
    {
        Err(e) if !repairs_audit => return Err(e),
        _ => {}
    }
    result
}

async fn authenticate(
    core: &Core,
    un: &Unsealed,
    req: &Request,
) -> Result<(Arc<TokenEntry>, Arc<Acl>)> {
    let Some(t) = req.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(CoreError::denied("no token was given"));
    };
    let entry = un
        .tokens
        .resolve(t, now_unix())
        .await
        .map_err(|e| match e {
            CoreError::PermissionDenied { .. } => e,
            other => other,
        })?;
    if !crate::cidr::allowed(&entry.bound_cidrs, req.client_addr) {
        return Err(CoreError::denied(
            "the token may not be used from this address (bound_cidrs)",
        ));
    }
    // Disabling an auth method revokes its tokens; this covers a revocation cut short.
    if entry
        .issuing_method()
        .is_some_and(|accessor| un.auth.by_accessor(accessor).is_none())
    {
        return Err(CoreError::denied(
            "the auth method that issued this token is no longer enabled; log in again",
        ));
    }
    let _ = core;
    let acl = un.policies.acl(&entry.policies).await?;
    Ok((entry, acl))
}

async fn authorize(
    un: &Unsealed,
    acl: &Acl,
    req: &mut Request,
    target: &Target,
    rel: &str,
    sudo: bool,
) -> Result<()> {
    // A LIST is checked against the folder, with its trailing slash, as Vault does.
    let path = if req.operation == Operation::List && !req.path.ends_with('/') {
        format!("{}/", req.path)
    } else {
        req.path.clone()
    };
    let mut cap = capability(req.operation);
    if req.operation == Operation::Update {
        // ACLs may grant create without update or the reverse; only then does existence matter.
        let create = acl
            .check(
                &path,
                Capability::Create,
                sudo,
                Some(&req.data),
                req.wrap_ttl,
            )
            .allowed;
        let update = acl
            .check(
                &path,
                Capability::Update,
                sudo,
                Some(&req.data),
                req.wrap_ttl,
            )
            .allowed;
        if create != update {
            let exists = match target {
                Target::Mount(m) => {
                    let ereq = EngineRequest {
                        id: &req.id,
                        operation: Operation::Update,
                        path: rel,
                        data: &req.data,
                        view: &m.view,
                        mount: &m.entry,
                        client_addr: req.client_addr,
                    };
                    m.backend.exists(&ereq).await?
                }
                Target::Sys => crate::sys::exists(un, rel).await?,
                Target::Token => true,
            };
            if !exists {
                cap = Capability::Create;
                req.operation = Operation::Create;
            }
        }
    }
    let decision = acl.check(&path, cap, sudo, Some(&req.data), req.wrap_ttl);
    if decision.allowed {
        Ok(())
    } else {
        Err(CoreError::denied(decision.reason.unwrap_or_else(|| {
            format!("no policy grants '{}' on \"{path}\"", cap.name())
        })))
    }
}

async fn dispatch(ctx: &Ctx<'_>, target: Target) -> Result<Response> {
    match target {
        Target::Sys => crate::sys::handle(ctx).await,
        Target::Token => crate::token_api::handle(ctx).await,
        Target::Mount(m) => {
            let ereq = EngineRequest {
                id: &ctx.req.id,
                operation: ctx.req.operation,
                path: ctx.rel,
                data: &ctx.req.data,
                view: &m.view,
                mount: &m.entry,
                client_addr: ctx.req.client_addr,
            };
            let user = m.backend.lockout_key(&ereq);
            let now = now_unix();
            // The attempt is reserved before the expensive check, so parallel guesses cannot
            // all be checked before the first failure is counted.
            let reservation = match user {
                Some(_) => Some(
                    crate::lockout::reserve(
                        ctx.un,
                        &m.entry,
                        user.as_deref(),
                        ctx.req.client_addr,
                        now,
                    )
                    .await?,
                ),
                None => None,
            };
            let result = m.backend.handle(&ereq).await;
            if user.is_some() {
                match &result {
                    Err(CoreError::InvalidCredentials(_)) => {
                        crate::lockout::failure(
                            ctx.un,
                            &m.entry,
                            user.as_deref(),
                            ctx.req.client_addr,
                            now,
                        )
                        .await?
                    }
                    Ok(_) => crate::lockout::success(ctx.un, &m.entry, user.as_deref()).await?,
                    Err(_) => {}
                }
            }
            drop(reservation);
            let mut resp = result?;
            if resp.mount_type.is_none() {
                resp.mount_type = Some(m.entry.kind.clone());
            }
            let is_auth = m.route.starts_with("auth/");
            if is_auth {
                if let Some(auth) = resp.auth.as_mut() {
                    if auth.client_token.is_empty() {
                        crate::token_api::issue_login_token(ctx, &m, auth).await?;
                    }
                }
            }
            Ok(resp)
        }
    }
}
