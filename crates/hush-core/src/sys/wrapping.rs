//! `sys/wrapping/*`: wrap, look up, unwrap and rewrap.

use std::time::Duration;

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::{map, AuthResponse, Response};
use crate::time::now_unix;
use crate::time::rfc3339;
use crate::wrapping::{stored, wrap, DEFAULT_WRAP_TTL, WRAPPING_POLICY};

/// The wrapping token a `sys/wrapping/*` call is about: `token` in the body, else the caller's
/// own token. Returns its id hash.
async fn target(ctx: &Ctx<'_>) -> Result<(String, bool)> {
    match ctx.req.data.get("token") {
        Some(Value::String(t)) if !t.is_empty() => {
            let e = ctx
                .un
                .tokens
                .get(t)
                .await?
                .filter(|e| !e.expired(now_unix()))
                .ok_or_else(|| CoreError::bad("wrapping token is not valid or does not exist"))?;
            if e.policies != [WRAPPING_POLICY] {
                return Err(CoreError::bad("the given token is not a wrapping token"));
            }
            Ok((e.id_hash.clone(), true))
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            let caller = ctx
                .token
                .ok_or_else(|| CoreError::bad("'token' is required: the wrapping token"))?;
            if caller.policies != [WRAPPING_POLICY] {
                return Err(CoreError::bad(
                    "'token' is required: pass the wrapping token in the body, or use it as \
                     the request token",
                ));
            }
            Ok((caller.id_hash.clone(), false))
        }
        Some(v) => Err(CoreError::bad(format!("'token' must be a string, got {v}"))),
    }
}

/// `POST sys/wrapping/wrap`: the body, wrapped.
pub(super) async fn wrap_data(ctx: &Ctx<'_>) -> Result<Response> {
    let ttl = ctx.req.wrap_ttl.unwrap_or(DEFAULT_WRAP_TTL);
    let resp = Response::data(ctx.req.data.clone());
    wrap(&ctx.un.view, &ctx.un.tokens, resp, ttl, "sys/wrapping/wrap").await
}

/// `sys/wrapping/lookup`: when and where a wrapping token was made, without using it.
pub(super) async fn lookup(ctx: &Ctx<'_>) -> Result<Response> {
    let (id_hash, _) = target(ctx).await?;
    let stored = stored(&ctx.un.view, &id_hash, false).await?;
    Ok(Response::data(map(json!({
        "creation_path": stored.creation_path,
        "creation_time": rfc3339(stored.creation_time),
        "creation_ttl": stored.ttl,
    }))))
}

/// `sys/wrapping/unwrap` and, with `rewrap`, `sys/wrapping/rewrap`.
pub(super) async fn unwrap(ctx: &Ctx<'_>, rewrap: bool) -> Result<Response> {
    let (id_hash, from_body) = target(ctx).await?;
    // Single use: the token and the stored response go before anything is returned.
    let stored = stored(&ctx.un.view, &id_hash, true).await?;
    if from_body {
        ctx.un.tokens.revoke_tree(&id_hash).await?;
    }
    // An issued token travels back in `auth`, exactly as it was issued.
    let auth: Option<AuthResponse> = stored.auth.and_then(|a| serde_json::from_value(a).ok());
    let resp = Response {
        data: stored.data,
        auth,
        warnings: stored.warnings,
        ..Response::default()
    };
    if rewrap {
        let ttl = Duration::from_secs(stored.ttl);
        return wrap(
            &ctx.un.view,
            &ctx.un.tokens,
            resp,
            ttl,
            &stored.creation_path,
        )
        .await;
    }
    Ok(resp)
}
