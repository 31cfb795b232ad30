//! Response wrapping: a response is stored inside the barrier and the client receives a
//! single-use token that can unwrap it once, before it expires. This is how a secret ID reaches
//! a machine without passing through the hands that delivered it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::{now_unix, Unsealed};
use crate::error::{CoreError, Result};
use crate::logical::{map, AuthResponse, Operation, Response, WrapInfo};
use crate::pipeline::Ctx;
use crate::sys::rfc3339;
use crate::token::NewToken;

/// The policy of wrapping tokens: they can unwrap and look up themselves, nothing else.
pub const WRAPPING_POLICY: &str = "response-wrapping";

/// The text of [`WRAPPING_POLICY`].
pub const WRAPPING_POLICY_TEXT: &str = r#"
path "sys/wrapping/unwrap" { capabilities = ["update"] }
path "sys/wrapping/lookup" { capabilities = ["update", "read"] }
"#;

/// Default TTL of `sys/wrapping/wrap` without `X-Vault-Wrap-TTL`.
pub const DEFAULT_WRAP_TTL: Duration = Duration::from_secs(300);

/// The most a response can stay wrapped.
pub const MAX_WRAP_TTL: Duration = Duration::from_secs(31 * 24 * 3600);

/// A requested wrap TTL as the whole seconds a wrapping token lives: fractions round up, and
/// anything under one second is refused (it would make a token of TTL 0, which never expires).
pub fn whole_seconds(ttl: Duration) -> Result<Duration> {
    if ttl < Duration::from_secs(1) {
        return Err(CoreError::bad(format!(
            "the wrap TTL {ttl:?} is under one second: give at least \"1s\" (X-Vault-Wrap-TTL)"
        )));
    }
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Ok(Duration::from_secs(secs))
}

#[derive(Serialize, Deserialize)]
struct Wrapped {
    data: Option<Map<String, Value>>,
    auth: Option<Value>,
    warnings: Vec<String>,
    creation_path: String,
    creation_time: i64,
    ttl: u64,
}

fn key(id_hash: &str) -> String {
    format!("sys/wrapping/data/{id_hash}")
}

/// Wraps `resp`: stores it and returns a response carrying only `wrap_info`.
pub async fn wrap(un: &Unsealed, resp: Response, ttl: Duration, path: &str) -> Result<Response> {
    if ttl.is_zero() || ttl > MAX_WRAP_TTL {
        return Err(CoreError::bad(format!(
            "the wrap TTL must be between 1s and {}s",
            MAX_WRAP_TTL.as_secs()
        )));
    }
    let now = now_unix();
    // The accessor of what is wrapped: an issued token's, or an AppRole secret ID's (Terraform
    // and others read it to manage the secret without unwrapping it).
    let wrapped_accessor = resp
        .auth
        .as_ref()
        .map(|a| a.accessor.clone())
        .or_else(|| {
            resp.data
                .as_ref()
                .and_then(|d| d.get("secret_id_accessor"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (token, entry) = un
        .tokens
        .create(
            NewToken {
                policies: vec![WRAPPING_POLICY.into()],
                path: path.to_string(),
                display_name: "response-wrapping".into(),
                ttl: ttl.as_secs(),
                num_uses: 1,
                renewable: false,
                ..NewToken::default()
            },
            now,
        )
        .await?;
    let stored = Wrapped {
        data: resp.data,
        auth: resp
            .auth
            .map(|a| serde_json::to_value(a).unwrap_or(Value::Null)),
        warnings: resp.warnings,
        creation_path: path.to_string(),
        creation_time: now,
        ttl: ttl.as_secs(),
    };
    un.view.put_json(&key(&entry.id_hash), &stored).await?;
    Ok(Response {
        wrap_info: Some(WrapInfo {
            token,
            accessor: entry.accessor.clone(),
            ttl: ttl.as_secs(),
            creation_time: rfc3339(now),
            creation_path: path.to_string(),
            wrapped_accessor,
        }),
        ..Response::default()
    })
}

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

/// `sys/wrapping/*` (relative path after `wrapping/`).
pub async fn handle(ctx: &Ctx<'_>, rel: &str) -> Result<Response> {
    let op = ctx.req.operation;
    let allowed = matches!(op, Operation::Update | Operation::Create)
        || (rel == "lookup" && op == Operation::Read);
    if !allowed {
        return Err(crate::sys::unsupported(&ctx.req.path, op, "POST"));
    }
    match rel {
        "wrap" => {
            let ttl = ctx.req.wrap_ttl.unwrap_or(DEFAULT_WRAP_TTL);
            let resp = Response::data(ctx.req.data.clone());
            wrap(ctx.un, resp, ttl, "sys/wrapping/wrap").await
        }
        "lookup" => {
            let (id_hash, _) = target(ctx).await?;
            let stored: Wrapped =
                ctx.un.view.get_json(&key(&id_hash)).await?.ok_or_else(|| {
                    CoreError::bad("wrapping token is not valid or does not exist")
                })?;
            Ok(Response::data(map(json!({
                "creation_path": stored.creation_path,
                "creation_time": rfc3339(stored.creation_time),
                "creation_ttl": stored.ttl,
            }))))
        }
        "unwrap" | "rewrap" => {
            let (id_hash, from_body) = target(ctx).await?;
            let stored: Wrapped =
                ctx.un.view.get_json(&key(&id_hash)).await?.ok_or_else(|| {
                    CoreError::bad("wrapping token is not valid or does not exist")
                })?;
            // Single use: the token and the stored response go before anything is returned.
            ctx.un.view.delete(&key(&id_hash)).await?;
            if from_body {
                ctx.un.tokens.revoke_tree(&id_hash).await?;
            }
            // An issued token travels back in `auth`, exactly as it was issued.
            let auth: Option<AuthResponse> =
                stored.auth.and_then(|a| serde_json::from_value(a).ok());
            let resp = Response {
                data: stored.data,
                auth,
                warnings: stored.warnings,
                ..Response::default()
            };
            if rel == "rewrap" {
                let ttl = Duration::from_secs(stored.ttl);
                return wrap(ctx.un, resp, ttl, &stored.creation_path).await;
            }
            Ok(resp)
        }
        _ => Err(CoreError::NotFound(format!(
            "no handler for route \"{}\"",
            ctx.req.path
        ))),
    }
}
