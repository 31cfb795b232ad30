//! `sys/leases/*` (and Vault's older `sys/renew`, `sys/revoke`, `sys/revoke-prefix`): the
//! leases of secrets engines issued, over the lease manager ([`crate::leases`]).

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::{map, Response};
use crate::time::{now_unix, rfc3339};

/// The lease id of a request: from the path (`sys/leases/revoke/<id>`) or the body.
fn lease_id<'a>(ctx: &'a Ctx<'_>, from_path: Option<&'a str>) -> Result<&'a str> {
    let id = from_path
        .filter(|p| !p.is_empty())
        .or_else(|| ctx.req.data.get("lease_id").and_then(Value::as_str))
        .map(|s| s.trim_matches('/'))
        .unwrap_or("");
    if id.is_empty() {
        return Err(CoreError::bad(
            "'lease_id' is required: the lease_id a secret was issued with",
        ));
    }
    Ok(id)
}

/// `PUT sys/leases/lookup {lease_id}`.
pub(super) async fn lookup(ctx: &Ctx<'_>) -> Result<Response> {
    let id = lease_id(ctx, None)?;
    let entry = ctx
        .un
        .leases
        .get(id)
        .await?
        .ok_or_else(|| CoreError::bad(format!("invalid lease: no lease \"{id}\"")))?;
    let now = now_unix();
    Ok(Response::data(map(json!({
        "id": entry.lease_id,
        "issue_time": rfc3339(entry.issue_time),
        "expire_time": rfc3339(entry.expire_time),
        "last_renewal": entry.last_renewal.map(rfc3339),
        "renewable": entry.renewable,
        "ttl": entry.ttl_left(now),
        "revoke_attempts": entry.revoke_attempts,
        "last_revoke_error": entry.last_error,
    }))))
}

/// `LIST sys/leases/lookup/<prefix>`.
pub(super) async fn list(ctx: &Ctx<'_>, prefix: &str) -> Result<Response> {
    let keys = ctx.un.leases.list(prefix).await?;
    if keys.is_empty() {
        return Ok(Response::raw(404, json!({ "errors": [] })));
    }
    Ok(Response::data(map(json!({ "keys": keys }))))
}

/// `PUT sys/leases/renew {lease_id, increment}` (and `sys/renew/<id>`).
pub(super) async fn renew(ctx: &Ctx<'_>, from_path: Option<&str>) -> Result<Response> {
    let id = lease_id(ctx, from_path)?;
    let increment = crate::fields::duration(&ctx.req.data, "increment")?;
    let entry =
        crate::leases::renew(&ctx.un.leases, &ctx.un.mounts, id, increment, now_unix()).await?;
    Ok(Response {
        lease_id: Some(entry.lease_id),
        lease_duration: Some(entry.ttl),
        renewable: entry.renewable,
        status: Some(200),
        ..Default::default()
    })
}

/// `PUT sys/leases/revoke {lease_id}` (and `sys/revoke/<id>`).
pub(super) async fn revoke(ctx: &Ctx<'_>, from_path: Option<&str>) -> Result<Response> {
    let id = lease_id(ctx, from_path)?;
    crate::leases::revoke(&ctx.un.leases, &ctx.un.mounts, id, false).await?;
    Ok(Response::no_content())
}

/// `sys/leases/revoke-prefix/:prefix`: every lease issued below the prefix, and the tokens
/// created below it (hush's tokens are not leases, but Vault clients revoke logins this way:
/// `auth/userpass/login`).
pub(super) async fn revoke_prefix(ctx: &Ctx<'_>, prefix: &str) -> Result<Response> {
    revoke_many(ctx, prefix, false).await
}

/// `sys/leases/revoke-force/:prefix`: as revoke-prefix, but a lease whose secret cannot be
/// revoked (the database is gone for good) is removed anyway.
pub(super) async fn revoke_force(ctx: &Ctx<'_>, prefix: &str) -> Result<Response> {
    revoke_many(ctx, prefix, true).await
}

async fn revoke_many(ctx: &Ctx<'_>, prefix: &str, force: bool) -> Result<Response> {
    let prefix = prefix.trim_start_matches('/');
    if prefix.is_empty() {
        return Err(CoreError::bad(
            "a prefix is required, e.g. sys/leases/revoke-prefix/database/creds/app",
        ));
    }
    let mut failed = Vec::new();
    let ids = ctx.un.leases.ids_with_prefix(prefix);
    for id in &ids {
        if let Err(e) = crate::leases::revoke(&ctx.un.leases, &ctx.un.mounts, id, force).await {
            failed.push(e.to_string());
        }
    }
    let tokens = if force {
        0
    } else {
        ctx.un.tokens.revoke_by_path_prefix(prefix).await?
    };
    tracing::info!(
        prefix,
        leases = ids.len(),
        tokens,
        force,
        "revoked by prefix"
    );
    if let Some(first) = failed.first() {
        return Err(CoreError::Upstream(format!(
            "{} of {} leases under \"{prefix}\" could not be revoked yet (they are retried): \
             {first}; use sys/leases/revoke-force/{prefix} to remove them regardless",
            failed.len(),
            ids.len()
        )));
    }
    Ok(Response::no_content())
}

/// `PUT sys/leases/tidy`: drops the lease index entries of tokens that no longer exist, after
/// revoking what those tokens still owned.
pub(super) async fn tidy(ctx: &Ctx<'_>) -> Result<Response> {
    let mut cleaned = 0usize;
    for owner in ctx.un.leases.owners().await? {
        if ctx.un.tokens.get_by_hash(&owner).await?.is_none() {
            crate::leases::revoke_of_token(&ctx.un.leases, &ctx.un.mounts, &owner).await;
            cleaned += 1;
        }
    }
    tracing::info!(tokens = cleaned, "tidied the lease index");
    Ok(Response::no_content())
}
