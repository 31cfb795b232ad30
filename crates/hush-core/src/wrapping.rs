//! Response wrapping: a response is stored inside the barrier and the client receives a
//! single-use token that can unwrap it once, before it expires. This is how a secret ID reaches
//! a machine without passing through the hands that delivered it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::logical::{Response, WrapInfo};
use crate::time::now_unix;
use crate::time::rfc3339;
use crate::token::{NewToken, TokenStore};
use crate::view::View;

pub use crate::policy_store::{WRAPPING_POLICY, WRAPPING_POLICY_TEXT};

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

/// A wrapped response, as stored.
#[derive(Serialize, Deserialize)]
pub struct Wrapped {
    /// The response's data.
    pub data: Option<Map<String, Value>>,
    /// The response's `auth` (a wrapped login or token creation).
    pub auth: Option<Value>,
    /// The response's warnings.
    pub warnings: Vec<String>,
    /// The path whose response this is.
    pub creation_path: String,
    /// Unix seconds of the wrapping.
    pub creation_time: i64,
    /// The wrapping token's TTL in seconds.
    pub ttl: u64,
}

/// The response wrapped under the token with `id_hash`; with `take`, removed from storage
/// (unwrapping is single-use).
pub async fn stored(view: &View, id_hash: &str, take: bool) -> Result<Wrapped> {
    let stored: Wrapped = view
        .get_json(&key(id_hash))
        .await?
        .ok_or_else(|| CoreError::bad("wrapping token is not valid or does not exist"))?;
    if take {
        view.delete(&key(id_hash)).await?;
    }
    Ok(stored)
}

fn key(id_hash: &str) -> String {
    format!("sys/wrapping/data/{id_hash}")
}

/// Wraps `resp`: stores it and returns a response carrying only `wrap_info`.
pub async fn wrap(
    view: &View,
    tokens: &TokenStore,
    resp: Response,
    ttl: Duration,
    path: &str,
) -> Result<Response> {
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
    let (token, entry) = tokens
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
    view.put_json(&key(&entry.id_hash), &stored).await?;
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
