//! The single request pipeline:
//!
//! ```text
//! seal check -> route (longest prefix) -> resolve token (cached) -> ACL (cached per policy set)
//!   -> audit request -> handler -> issue token for logins -> audit response
//! ```
//!
//! Every backend sits behind [`crate::engine::LogicalBackend`]: engines, auth methods, and the
//! core's own `sys/` and `auth/token/`. Nothing in the crate imports this module.

use std::borrow::Cow;
use std::sync::Arc;

use hush_policy::{Acl, Capability};

use crate::audit::RequestEntry;
use crate::core::{Core, Unsealed};
use crate::ctx::Ctx;
use crate::engine::EngineRequest;
use crate::error::{CoreError, Result};
use crate::logical::{MountInfo, Operation, Request, Response};
use crate::mounts::Mounted;
use crate::time::now_unix;
use crate::token::TokenEntry;

fn route(un: &Unsealed, path: &str) -> Result<(Arc<Mounted>, String)> {
    let builtin = [
        &un.system,
        &un.token_store,
        &un.cubbyhole,
        &un.identity_mount,
    ]
    .into_iter()
    .find_map(|m| {
        let rel = path.strip_prefix(m.route.as_str()).or_else(|| {
            // `sys` (no trailing slash) addresses the backend itself.
            (path.len() + 1 == m.route.len() && m.route.starts_with(path)).then_some("")
        })?;
        Some((m.clone(), rel.to_string()))
    });
    if let Some(found) = builtin {
        return Ok(found);
    }
    let table = if path.starts_with("auth/") {
        &un.auth
    } else {
        &un.mounts
    };
    match table.route(path) {
        Some((m, rel)) => {
            let rel = rel.to_string();
            Ok((m, rel))
        }
        None => Err(CoreError::NotFound(format!(
            "no handler for route \"{path}\": route entry not found (is a secrets engine mounted \
             there? list mounts with `hush secrets list`)"
        ))),
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

/// Runs one request through the pipeline, timed and counted as Vault counts requests:
/// `vault.core.handle_request` (and `handle_login_request` for logins), `vault.route.<operation>.<mount>`
/// for routed requests, and `vault.core.response_status_code` by status.
pub async fn handle(core: &Core, req: Request) -> Result<Response> {
    let started = std::time::Instant::now();
    let mut routed_to = None;
    let result = handle_request(core, req, &mut routed_to).await;
    let elapsed = started.elapsed();
    let metrics = core.metrics();
    let login = routed_to
        .as_ref()
        .is_some_and(|(m, _): &(String, Operation)| m.starts_with("auth/") && m != "auth/token/");
    metrics.time(
        if login {
            "core.handle_login_request"
        } else {
            "core.handle_request"
        },
        &[],
        elapsed,
    );
    if let Some((mount, operation)) = &routed_to {
        metrics.time(
            &crate::metrics::route_name(operation.as_str(), mount),
            &[],
            elapsed,
        );
    }
    let status = match &result {
        Ok(r) if r.is_empty() && r.status.is_none() => 204,
        Ok(r) => r.status.unwrap_or(200),
        Err(e) => e.status(),
    };
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics.incr(
        "core.response_status_code",
        &[("code", &status.to_string()), ("type", class)],
        1.0,
    );
    result
}

async fn handle_request(
    core: &Core,
    mut req: Request,
    routed_to: &mut Option<(String, Operation)>,
) -> Result<Response> {
    // One canonical path, before anything looks at it: the ACL and the handler see the same name.
    let generic = match crate::canonical::request_path(&req.path, req.operation)? {
        Cow::Borrowed(p) if p.len() == req.path.len() => None,
        other => Some(other.into_owned()),
    };
    if let Some(p) = generic {
        req.path = p;
    }
    // Unauthenticated sys endpoints work while sealed and are not audited (as in Vault).
    if let Some(resp) = crate::sys::seal::handle_unauthenticated(core, &req).await {
        return resp;
    }
    if !core.is_initialized() {
        return Err(CoreError::NotInitialized);
    }
    let un = core.unsealed().ok_or(CoreError::Sealed)?;
    if let Err(e) = un.quotas.check(&req.path, req.client_addr) {
        core.metrics().incr("quota.rate_limit.violation", &[], 1.0);
        return Err(e);
    }
    if let Some(ttl) = req.wrap_ttl {
        req.wrap_ttl = Some(crate::wrapping::whole_seconds(ttl)?);
    }

    // The route is decided first (it tells whether sudo is needed), but a routing error is only
    // revealed to an authenticated client: without a valid token every path is 403.
    let routed = route(&un, &req.path).and_then(|(m, rel)| {
        match m.backend.canonical_path(Cow::Borrowed(&rel))? {
            Cow::Borrowed(_) => Ok((m, rel)),
            Cow::Owned(c) => {
                let prefix = req.path.len() - rel.len();
                req.path = format!("{}{c}", &req.path[..prefix]);
                Ok((m, c))
            }
        }
    });
    let (unauthenticated, sudo) = match &routed {
        Ok((m, rel)) => (
            m.backend.is_unauthenticated(rel),
            m.backend.requires_sudo(rel, req.operation),
        ),
        Err(_) => (false, false),
    };
    if let Ok((m, rel)) = &routed {
        req.credential_at = m
            .backend
            .credential_in_path(rel)
            .map(|at| req.path.len() - rel.len() + at);
        *routed_to = Some((m.route.clone(), req.operation));
        req.mount = Some(MountInfo {
            point: m.route.clone(),
            kind: m.entry.kind.clone(),
            accessor: m.entry.accessor.clone(),
            non_hmac_request_keys: m.entry.config.audit_non_hmac_request_keys.clone(),
            non_hmac_response_keys: m.entry.config.audit_non_hmac_response_keys.clone(),
        });
    }

    let mut token: Option<Arc<TokenEntry>> = None;
    let mut acl: Option<Arc<Acl>> = None;
    let mut denial: Option<CoreError> = None;
    if !unauthenticated || req.token.as_deref().is_some_and(|t| !t.is_empty()) {
        match authenticate(&un, &req).await {
            Ok((t, a)) => {
                token = Some(t);
                acl = Some(a);
            }
            Err(e) if unauthenticated => {
                // A login path with a stale token still works, as in Vault.
                let _ = e;
            }
            // Unwrapping with the wrapping token as the request's token: a used or expired one
            // is Vault's 400 about the wrapping token, not a permission problem.
            Err(CoreError::TokenRejected { .. })
                if unwraps_own_token(&routed, &un, req.operation, &req.data) =>
            {
                denial = Some(CoreError::bad(
                    "wrapping token is not valid or does not exist",
                ));
            }
            Err(e) => denial = Some(e),
        }
    }
    // Help describes a path, never its data: it needs a valid token and, as in Vault, no
    // capability on the path.
    if req.help {
        if let Some(e) = denial {
            return Err(e);
        }
        if token.is_none() {
            return Err(CoreError::denied(
                "help needs a valid token: send one in X-Vault-Token",
            ));
        }
        let (m, rel) = routed?;
        return match m.backend.help(&m.route, &rel) {
            Some(help) => Ok(Response::raw(200, help)),
            None => Err(CoreError::NotFound(format!(
                "no help for \"{}\": the backend at {} does not describe its paths",
                req.path, m.route
            ))),
        };
    }
    // Some paths (the UI's mount listing) decide visibility themselves from the policies.
    let acl_exempt = matches!(&routed, Ok((m, rel)) if m.backend.is_acl_exempt(rel));
    if denial.is_none() && !unauthenticated && !acl_exempt {
        if let (Some(acl), Ok((m, rel))) = (&acl, &routed) {
            let found = Found {
                core,
                un: &un,
                mounted: m,
                rel,
                token: token.as_ref(),
                acl: Some(acl),
            };
            if let Err(e) = authorize(&found, acl, &mut req, sudo).await {
                denial = Some(e);
            }
        }
    }
    // A request that changes nothing may have its entry written with its response's: it has
    // no effect to record if the server dies in between. Limited-use tokens (each use is a
    // write) and wrapped responses (a new token) are effects.
    let when = match &routed {
        Ok((m, rel))
            if denial.is_none()
                && req.wrap_ttl.is_none()
                && token.as_ref().is_none_or(|t| t.num_uses == 0)
                && m.backend.changes_nothing(rel, req.operation) =>
        {
            RequestEntry::WithResponse
        }
        _ => RequestEntry::WriteNow,
    };
    crate::audit::retry_broken(&un.audit, &un.view).await;
    // With every audit device broken, nothing is served, except what repairs the log: a root
    // token may still list, disable or enable devices (`sys/audit...`), recorded in the server
    // log.
    let repairs_audit = denial.is_none()
        && token.as_ref().is_some_and(|t| t.is_root())
        && matches!(&routed, Ok((m, rel))
            if Arc::ptr_eq(m, &un.system) && crate::sys::repairs_audit(rel));
    let memos = match un
        .audit
        .log_request(&req, token.as_deref(), denial.as_ref(), when)
        .await
    {
        Ok(m) => m,
        Err(e) if repairs_audit => {
            core.metrics().incr("audit.log_request_failure", &[], 1.0);
            tracing::error!(
                path = %req.path,
                operation = req.operation.as_str(),
                error = %e,
                "served a root token's audit-device change that no audit device could record"
            );
            Default::default()
        }
        Err(e) => {
            core.metrics().incr("audit.log_request_failure", &[], 1.0);
            return Err(e);
        }
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
        Ok((m, rel)) => {
            // The ACL may have turned an update into a create: the route is timed as served.
            if let Some((_, op)) = routed_to.as_mut() {
                *op = req.operation;
            }
            let wraps_itself = m.backend.wraps_itself(&rel);
            let found = Found {
                core,
                un: &un,
                mounted: &m,
                rel: &rel,
                token: token.as_ref(),
                acl: acl.as_ref(),
            };
            match (dispatch(&found, &req).await, req.wrap_ttl) {
                (Ok(resp), Some(ttl))
                    if !wraps_itself && (resp.data.is_some() || resp.auth.is_some()) =>
                {
                    crate::wrapping::wrap(&un.view, &un.tokens, resp, ttl, &req.path).await
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
    if let Err(e) = un
        .audit
        .log_response(&req, token.as_deref(), &result, memos)
        .await
    {
        core.metrics().incr("audit.log_response_failure", &[], 1.0);
        if !repairs_audit {
            return Err(e);
        }
    }
    result
}

/// Whether the request unwraps (or looks up) the wrapping token it is sent with: a write of
/// `sys/wrapping/unwrap` or `sys/wrapping/lookup` without a `token` field.
fn unwraps_own_token(
    routed: &Result<(Arc<Mounted>, String)>,
    un: &Unsealed,
    operation: Operation,
    data: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    matches!(routed, Ok((m, rel)) if Arc::ptr_eq(m, &un.system)
        && matches!(rel.as_str(), "wrapping/unwrap" | "wrapping/lookup"))
        && matches!(operation, Operation::Update | Operation::Create)
        && data
            .get("token")
            .is_none_or(|t| t.as_str().is_some_and(str::is_empty))
}

async fn authenticate(un: &Unsealed, req: &Request) -> Result<(Arc<TokenEntry>, Arc<Acl>)> {
    let Some(t) = req.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(CoreError::no_token());
    };
    let entry = un.tokens.resolve(t, now_unix()).await?;
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
    // The entity's and its groups' policies are read now, not at login: a group change
    // reaches tokens already out, as in Vault.
    let acl = crate::identity::token_acl(&un.identity, &un.policies, &entry)
        .await?
        .acl;
    Ok((entry, acl))
}

/// A routed request's backend and caller, before the request is final (the ACL may still turn
/// an update into a create).
struct Found<'a> {
    core: &'a Core,
    un: &'a Arc<Unsealed>,
    mounted: &'a Arc<Mounted>,
    rel: &'a str,
    token: Option<&'a Arc<TokenEntry>>,
    acl: Option<&'a Arc<Acl>>,
}

impl Found<'_> {
    fn ctx<'a>(&'a self, req: &'a Request) -> Ctx<'a> {
        Ctx {
            core: self.core,
            un: self.un,
            req,
            rel: self.rel,
            token: self.token,
            acl: self.acl,
        }
    }
}

/// The request as the backend sees it.
fn engine_request<'a>(
    found: &'a Found<'_>,
    req: &'a Request,
    operation: Operation,
    ctx: &'a Ctx<'a>,
) -> EngineRequest<'a> {
    let m = found.mounted;
    EngineRequest {
        id: &req.id,
        operation,
        path: found.rel,
        data: &req.data,
        view: &m.view,
        mount: &m.entry,
        client_addr: req.client_addr,
        display_name: found.token.map_or("", |t| t.display_name.as_str()),
        ctx: Some(ctx),
        peers: Some(ctx),
    }
}

async fn authorize(found: &Found<'_>, acl: &Acl, req: &mut Request, sudo: bool) -> Result<()> {
    // A LIST is checked against the folder, with its trailing slash, as Vault does.
    let path = if req.operation == Operation::List && !req.path.ends_with('/') {
        format!("{}/", req.path)
    } else {
        req.path.clone()
    };
    // A write to something that does not exist yet is a create, as in Vault: the backend's
    // existence check decides, for the ACL (which may grant create without update or the
    // reverse) and for the audit entry's operation.
    if req.operation == Operation::Update {
        let exists = {
            let ctx = found.ctx(req);
            let ereq = engine_request(found, req, Operation::Update, &ctx);
            found.mounted.backend.exists(&ereq).await?
        };
        if !exists {
            req.operation = Operation::Create;
        }
    }
    let cap = capability(req.operation);
    let decision = acl.check(&path, cap, sudo, Some(&req.data), req.wrap_ttl);
    if decision.allowed {
        Ok(())
    } else {
        Err(CoreError::denied(decision.reason.unwrap_or_else(|| {
            format!("no policy grants '{}' on \"{path}\"", cap.name())
        })))
    }
}

async fn dispatch(found: &Found<'_>, req: &Request) -> Result<Response> {
    let m = found.mounted;
    let ctx = found.ctx(req);
    let ereq = engine_request(found, req, req.operation, &ctx);
    let user = m.backend.lockout_key(&ereq);
    let now = now_unix();
    // The attempt is reserved before the expensive check, so parallel guesses cannot all be
    // checked before the first failure is counted.
    let reservation = match user {
        Some(_) => Some(
            crate::lockout::reserve(
                &found.un.view,
                &found.un.logins_in_flight,
                &m.entry,
                user.as_deref(),
                req.client_addr,
                now,
            )
            .await
            .inspect_err(|_| {
                found
                    .core
                    .metrics()
                    .incr("core.lockout.rejected_logins", &[], 1.0)
            })?,
        ),
        None => None,
    };
    let result = m.backend.handle(&ereq).await;
    if user.is_some() {
        match &result {
            Err(CoreError::InvalidCredentials(_)) => {
                crate::lockout::failure(
                    &found.un.view,
                    &m.entry,
                    user.as_deref(),
                    req.client_addr,
                    now,
                )
                .await?
            }
            Ok(_) => crate::lockout::success(&found.un.view, &m.entry, user.as_deref()).await?,
            Err(_) => {}
        }
    }
    drop(reservation);
    let mut resp = result?;
    if resp.mount_type.is_none() {
        resp.mount_type = Some(m.entry.kind.clone());
    }
    if let Some(secret) = resp.secret.take() {
        lease(found, req, &ctx, secret, &mut resp, now).await?;
    }
    // A login through an auth method ends with the token the core issues.
    let is_login = m.route.starts_with("auth/") && !Arc::ptr_eq(m, &found.un.token_store);
    if is_login {
        if let Some(auth) = resp.auth.as_mut() {
            if auth.client_token.is_empty() {
                crate::auth_token::issue_login_token(&ctx, m, auth).await?;
            }
        }
    }
    Ok(resp)
}

/// Gives the secret an engine issued a lease, within the mount's and the server's TTL limits,
/// owned by the caller's token, and answers its `lease_id`, `lease_duration` and `renewable`.
async fn lease(
    found: &Found<'_>,
    req: &Request,
    ctx: &Ctx<'_>,
    secret: crate::logical::LeaseSecret,
    resp: &mut Response,
    now: i64,
) -> Result<()> {
    let m = found.mounted;
    let (default, mut max) = crate::ctx::mount_ttls(ctx, Some(&m.entry));
    if !secret.max_ttl.is_zero() {
        max = max.min(secret.max_ttl);
    }
    let ttl = crate::leases::clamp_ttl(secret.ttl, default, max);
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    let entry = crate::leases::LeaseEntry {
        lease_id: crate::leases::new_lease_id(&req.path)?,
        mount: m.route.clone(),
        mount_uuid: m.entry.uuid.clone(),
        path: found.rel.to_string(),
        issue_time: now,
        expire_time: now + secs(ttl),
        max_expire_time: now + secs(max),
        last_renewal: None,
        renewable: secret.renewable,
        ttl: ttl.as_secs(),
        internal: secret.internal,
        token: found.token.map(|t| t.id_hash.clone()),
        revoke_attempts: 0,
        last_error: None,
        retry_at: None,
    };
    found.un.leases.register(&entry).await?;
    resp.lease_id = Some(entry.lease_id);
    resp.lease_duration = Some(ttl.as_secs());
    resp.renewable = entry.renewable;
    Ok(())
}

impl Core {
    /// The request pipeline. Every request of every client goes through here.
    pub async fn handle(&self, req: Request) -> Result<Response> {
        handle(self, req).await
    }
}
