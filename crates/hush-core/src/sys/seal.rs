//! `sys/` endpoints of the seal: the ones that answer while sealed (init, seal status, unseal,
//! health, leader) and the authenticated seal, key status and rotation.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::core::{Core, RekeyTarget};
use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::fields;
use crate::logical::{map, Operation, Request, Response};
use crate::seal::InitParams;
use crate::time::now_unix;
use crate::time::rfc3339;

/// A 405 for the endpoints served before the pipeline, naming what the `sys/` table says the
/// path accepts.
fn unsupported(path: &str, op: Operation) -> CoreError {
    let rel = path.strip_prefix("sys/").unwrap_or(path);
    let allowed = super::paths().allowed_for(rel).unwrap_or_default();
    crate::framework::unsupported_operation(path, op, &allowed)
}

/// Serves the `sys/` endpoints that answer while sealed and without a token (not audited, as
/// in Vault). Returns `None` for every other path.
pub async fn handle_unauthenticated(core: &Core, req: &Request) -> Option<Result<Response>> {
    let path = req.path.trim_end_matches('/');
    let op = req.operation;
    let writes = matches!(op, Operation::Update | Operation::Create);
    let resp = match path {
        "sys/init" if op == Operation::Read => init_status(core).await,
        "sys/init" if writes => init(core, &req.data).await,
        "sys/init" => Err(unsupported(path, op)),
        "sys/seal-status" if op == Operation::Read => Ok(seal_status(core)),
        "sys/seal-status" => Err(unsupported(path, op)),
        "sys/unseal" if writes => unseal(core, &req.data).await,
        "sys/unseal" => Err(unsupported(path, op)),
        "sys/health" if op == Operation::Read => health(core, &req.data),
        "sys/health" => Err(unsupported(path, op)),
        "sys/leader" if op == Operation::Read => Ok(leader(core)),
        "sys/leader" => Err(unsupported(path, op)),
        _ => return None,
    };
    Some(resp)
}

pub(super) fn seal_status(core: &Core) -> Response {
    let status = serde_json::to_value(core.seal_status()).unwrap_or(Value::Null);
    Response::raw(200, status)
}

/// Reads an optional share count; `null` and 0 count as absent (Vault's CLI sends 0 for the
/// counts that do not apply to the seal).
fn opt_u8(data: &Map<String, Value>, field: &str) -> Result<Option<u8>> {
    Ok(fields::u64_in(data, field, 0..=255, "a whole number")?
        .filter(|n| *n > 0)
        .map(|n| n as u8))
}

fn check_shares(shares: u8, threshold: u8, what: &str) -> Result<()> {
    if threshold > shares {
        return Err(CoreError::bad(format!(
            "{what}_threshold ({threshold}) cannot be larger than {what}_shares ({shares})"
        )));
    }
    if shares > 1 && threshold < 2 {
        return Err(CoreError::bad(format!(
            "{what}_threshold must be at least 2 when {what}_shares is more than 1: a threshold \
             of 1 would let any single share unseal"
        )));
    }
    Ok(())
}

pub(super) async fn init(core: &Core, data: &Map<String, Value>) -> Result<Response> {
    for field in ["pgp_keys", "root_token_pgp_key", "recovery_pgp_keys"] {
        match data.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => {
                return Err(CoreError::bad(format!(
                    "'{field}' (PGP-encrypted key shares) is not supported by hush; initialize \
                     without it and distribute the shares over a secure channel"
                )))
            }
        }
    }
    let secret_shares = opt_u8(data, "secret_shares")?;
    let secret_threshold = opt_u8(data, "secret_threshold")?;
    let recovery_shares = opt_u8(data, "recovery_shares")?;
    let recovery_threshold = opt_u8(data, "recovery_threshold")?;
    let params = if core.config().static_seal.is_some() {
        if secret_shares.is_some_and(|n| n > 1) || secret_threshold.is_some_and(|n| n > 1) {
            return Err(CoreError::bad(
                "secret_shares and secret_threshold do not apply to the static seal (the server \
                 unseals itself); use recovery_shares and recovery_threshold",
            ));
        }
        let rs = recovery_shares.unwrap_or(5);
        let rt = recovery_threshold.unwrap_or(if rs == 1 { 1 } else { 3.min(rs) });
        check_shares(rs, rt, "recovery")?;
        InitParams {
            secret_shares: 1,
            secret_threshold: 1,
            recovery_shares: rs,
            recovery_threshold: rt,
        }
    } else {
        if recovery_shares.is_some() || recovery_threshold.is_some() {
            return Err(CoreError::bad(
                "recovery_shares and recovery_threshold apply only to an auto-unseal seal; this \
                 server uses the Shamir seal: use secret_shares and secret_threshold",
            ));
        }
        let (Some(n), Some(t)) = (secret_shares, secret_threshold) else {
            return Err(CoreError::bad(
                "secret_shares and secret_threshold are required, e.g. {\"secret_shares\": 5, \
                 \"secret_threshold\": 3}",
            ));
        };
        check_shares(n, t, "secret")?;
        InitParams {
            secret_shares: n,
            secret_threshold: t,
            recovery_shares: 0,
            recovery_threshold: 0,
        }
    };
    let out = core.init(params, None).await?;
    let b64 = |keys: &[zeroize::Zeroizing<Vec<u8>>]| -> Vec<String> {
        keys.iter()
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
            .collect()
    };
    let hexs = |keys: &[zeroize::Zeroizing<Vec<u8>>]| -> Vec<String> {
        keys.iter().map(hex::encode).collect()
    };
    Ok(Response::raw(
        200,
        json!({
            "keys": hexs(&out.keys),
            "keys_base64": b64(&out.keys),
            "recovery_keys": hexs(&out.recovery_keys),
            "recovery_keys_base64": b64(&out.recovery_keys),
            "root_token": out.root_token.as_str(),
        }),
    ))
}

pub(super) async fn unseal(core: &Core, data: &Map<String, Value>) -> Result<Response> {
    let reset = opt_bool(data, "reset")?;
    if opt_bool(data, "migrate")? {
        return Err(CoreError::bad(
            "seal migration is not supported by hush yet; unseal without 'migrate'",
        ));
    }
    let key = match data.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(v) => {
            return Err(CoreError::bad(format!(
                "'key' must be a string (an unseal key in hex or base64), got {v}"
            )))
        }
    };
    let status = core.unseal(key, reset).await?;
    Ok(Response::raw(
        200,
        serde_json::to_value(status).unwrap_or(Value::Null),
    ))
}

fn health_code(data: &Map<String, Value>, field: &str, default: u16) -> Result<u16> {
    Ok(
        fields::u64_in(data, field, 100..=599, "an HTTP status code")?
            .map_or(default, |n| n as u16),
    )
}

pub(super) fn health(core: &Core, data: &Map<String, Value>) -> Result<Response> {
    let active = health_code(data, "activecode", 200)?;
    // hush has no standbys yet; the codes are still validated so a typo is reported.
    let _standby = health_code(data, "standbycode", 429)?;
    let _perf = health_code(data, "performancestandbycode", 473)?;
    let sealed_code = health_code(data, "sealedcode", 503)?;
    let uninit = health_code(data, "uninitcode", 501)?;
    let _ = opt_bool(data, "standbyok")?;
    let _ = opt_bool(data, "perfstandbyok")?;
    let initialized = core.is_initialized();
    let un = core.unsealed();
    let sealed = un.is_none();
    let code = if !initialized {
        uninit
    } else if sealed {
        sealed_code
    } else {
        active
    };
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now_unix(),
        "version": core.config().version,
        "enterprise": false,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    });
    if let (Some(un), Some(obj)) = (un, body.as_object_mut()) {
        obj.insert("cluster_name".into(), json!(un.cluster.cluster_name));
        obj.insert("cluster_id".into(), json!(un.cluster.cluster_id));
        // hush's own field, present only when an enabled audit device cannot be opened (so
        // requests are refused). Only device paths: this endpoint needs no token, and the
        // reasons (which name files) are in `sys/audit` and the server log.
        let failures: Vec<Value> = un
            .audit
            .broken()
            .into_iter()
            .map(|(e, _)| json!({"path": e.path, "error": "the device's log cannot be opened"}))
            .collect();
        if !failures.is_empty() {
            obj.insert("audit_failures".into(), Value::Array(failures));
        }
    }
    Ok(Response::raw(code, body))
}

pub(super) fn leader(core: &Core) -> Response {
    let _ = core;
    Response::raw(
        200,
        json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": "0001-01-01T00:00:00Z",
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        }),
    )
}

/// `GET sys/init`.
pub(super) async fn init_status(core: &Core) -> Result<Response> {
    Ok(Response::raw(
        200,
        json!({"initialized": core.is_initialized()}),
    ))
}

/// `PUT sys/seal`.
pub(super) async fn seal(ctx: &Ctx<'_>) -> Result<Response> {
    ctx.core.seal().await?;
    Ok(Response::no_content())
}

/// `PUT sys/rotate`.
pub(super) async fn rotate(ctx: &Ctx<'_>) -> Result<Response> {
    ctx.core.rotate().await?;
    Ok(Response::no_content())
}

/// `GET sys/key-status`.
pub(super) async fn key_status(ctx: &Ctx<'_>) -> Result<Response> {
    let info = ctx.un.view.barrier().key_status();
    Ok(Response::data_top_level(map(json!({
        "term": info.term,
        "install_time": rfc3339(info.install_time_unix),
        "encryptions": info.encryptions,
    }))))
}

/// Reads an optional boolean field ([`crate::fields`]'s rule); absent is false.
fn opt_bool(data: &Map<String, Value>, field: &str) -> Result<bool> {
    Ok(fields::bool(data, field)?.unwrap_or(false))
}

/// `GET sys/rekey/init` (and `sys/rekey-recovery-key/init`): the rekey in progress, if any.
pub(super) fn rekey_status(core: &Core, target: RekeyTarget) -> Result<Response> {
    let status = core.rekey_status(target)?;
    Ok(Response::raw(
        200,
        serde_json::to_value(status).unwrap_or(Value::Null),
    ))
}

/// `PUT sys/rekey/init`: starts a rekey to `secret_shares` shares, `secret_threshold` needed.
pub(super) fn rekey_init(
    core: &Core,
    target: RekeyTarget,
    data: &Map<String, Value>,
) -> Result<Response> {
    for (field, what) in [
        ("pgp_keys", "PGP-encrypted key shares"),
        ("backup", "a PGP-encrypted backup of the new shares"),
        ("require_verification", "verification of the new shares"),
    ] {
        let set = match data.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.is_empty() && s != "false",
            Some(Value::Bool(b)) => *b,
            Some(_) => true,
        };
        if set {
            return Err(CoreError::bad(format!(
                "'{field}' ({what}) is not supported by hush; rekey without it and hand the new \
                 shares to their holders over a secure channel"
            )));
        }
    }
    let what = match target {
        RekeyTarget::Unseal => "secret",
        RekeyTarget::Recovery => "recovery",
    };
    let (Some(n), Some(t)) = (
        opt_u8(data, "secret_shares")?,
        opt_u8(data, "secret_threshold")?,
    ) else {
        return Err(CoreError::bad(
            "secret_shares and secret_threshold are required: how many new shares to make and \
             how many of them will be needed, e.g. {\"secret_shares\": 5, \"secret_threshold\": 3}",
        ));
    };
    check_shares(n, t, what)?;
    let status = core.rekey_init(target, n, t)?;
    Ok(Response::raw(
        200,
        serde_json::to_value(status).unwrap_or(Value::Null),
    ))
}

/// `DELETE sys/rekey/init`: cancels the rekey in progress.
pub(super) fn rekey_cancel(core: &Core, target: RekeyTarget) -> Result<Response> {
    core.rekey_cancel(target)?;
    Ok(Response::no_content())
}

/// `PUT sys/rekey/update`: one current share (`key`) for the rekey with `nonce`; the last one
/// answers the new shares.
pub(super) async fn rekey_update(
    core: &Core,
    target: RekeyTarget,
    data: &Map<String, Value>,
) -> Result<Response> {
    let field = |name: &str| match data.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(CoreError::bad(format!(
            "missing '{name}': send the current key share as 'key' and the rekey's 'nonce' (from \
             sys/rekey/init)"
        ))),
        Some(_) => Err(CoreError::bad(format!("'{name}' must be a string"))),
    };
    let (key, nonce) = (field("key")?, field("nonce")?);
    match core.rekey_update(target, key, nonce).await? {
        None => rekey_status(core, target),
        Some(result) => {
            let hexs: Vec<String> = result.keys.iter().map(hex::encode).collect();
            let b64: Vec<String> = result
                .keys
                .iter()
                .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
                .collect();
            Ok(Response::raw(
                200,
                json!({
                    "complete": true,
                    "nonce": result.nonce,
                    "keys": hexs,
                    "keys_base64": b64,
                    "pgp_fingerprints": null,
                    "backup": false,
                    "verification_required": false,
                    "verification_nonce": "",
                }),
            ))
        }
    }
}

fn raw_status(status: impl serde::Serialize) -> Response {
    Response::raw(200, serde_json::to_value(status).unwrap_or(Value::Null))
}

/// `GET sys/generate-root/attempt`.
pub(super) fn generate_root_status(core: &Core) -> Result<Response> {
    Ok(raw_status(core.generate_root_status()?))
}

/// `PUT sys/generate-root/attempt`: starts an attempt, with the client's `otp` or one the
/// server makes and answers.
pub(super) fn generate_root_init(core: &Core, data: &Map<String, Value>) -> Result<Response> {
    if data
        .get("pgp_key")
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    {
        return Err(CoreError::bad(
            "'pgp_key' (a PGP-encrypted root token) is not supported by hush; leave it out and \
             decode the token with the one-time pad",
        ));
    }
    let otp = match data.get("otp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(CoreError::bad("'otp' must be a string")),
    };
    Ok(raw_status(core.generate_root_init(otp)?))
}

/// `DELETE sys/generate-root/attempt`.
pub(super) fn generate_root_cancel(core: &Core) -> Result<Response> {
    core.generate_root_cancel()?;
    Ok(Response::no_content())
}

/// `PUT sys/generate-root/update`: one share (`key`) for the attempt with `nonce`.
pub(super) async fn generate_root_update(
    core: &Core,
    data: &Map<String, Value>,
) -> Result<Response> {
    let field = |name: &str| match data.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(CoreError::bad(format!(
            "missing '{name}': send a key share as 'key' and the attempt's 'nonce' (from \
             sys/generate-root/attempt)"
        ))),
        Some(_) => Err(CoreError::bad(format!("'{name}' must be a string"))),
    };
    let (key, nonce) = (field("key")?, field("nonce")?);
    Ok(raw_status(core.generate_root_update(key, nonce).await?))
}

/// `PUT sys/step-down`: the active node of an HA cluster gives up leadership. This server runs
/// alone (no HA storage), so it stays active, as a single Vault node does, and says so.
pub(super) fn step_down() -> Result<Response> {
    let mut resp = Response::no_content();
    resp.warnings.push(
        "this server is not part of a high-availability cluster (ha_enabled is false): there is \
         no standby to hand over to, so it stays active"
            .to_owned(),
    );
    Ok(resp)
}
