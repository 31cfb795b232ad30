//! `sys/quotas/*`: rate-limit quotas and their settings.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::fields;
use crate::logical::{map, Response};
use crate::quotas::Quota;

/// A non-negative number, as a JSON number or a string; the error says which rule failed.
fn num(v: Option<&Value>, field: &str) -> Result<Option<f64>> {
    let parsed = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let shown = v.map(Value::to_string).unwrap_or_default();
    match parsed {
        Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
        Some(f) if f.is_finite() => Err(CoreError::bad(format!(
            "'{field}' cannot be negative, got {shown}"
        ))),
        _ => Err(CoreError::bad(format!(
            "'{field}' must be a number (e.g. 100), got {shown}"
        ))),
    }
}

fn secs(v: Option<&Value>, field: &str) -> Result<Option<f64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => hush_config::duration::parse_duration_value(v)
            .map(|d| Some(d.as_secs_f64()))
            .map_err(|e| CoreError::bad(format!("'{field}': {e}"))),
    }
}

fn quota_json(q: &Quota) -> Value {
    json!({
        "name": q.name,
        "path": q.path,
        "type": "rate-limit",
        "rate": q.rate,
        "burst": q.rate as u64,
        "interval": q.interval as u64,
        "block_interval": q.block_interval as u64,
        "role": "",
        "inheritable": q.path.is_empty(),
    })
}

/// `GET sys/quotas/config`.
pub(super) async fn read_config(ctx: &Ctx<'_>) -> Result<Response> {
    let c = ctx.un.quotas.config();
    Ok(Response::data(map(
        serde_json::to_value(c).unwrap_or_default()
    )))
}

/// `POST sys/quotas/config`.
pub(super) async fn write_config(ctx: &Ctx<'_>) -> Result<Response> {
    let data = &ctx.req.data;
    let mut c = ctx.un.quotas.config();
    if let Some(v) = fields::strings(data, "rate_limit_exempt_paths")? {
        c.rate_limit_exempt_paths = v;
    }
    if let Some(v) = fields::bool(data, "enable_rate_limit_audit_logging")? {
        c.enable_rate_limit_audit_logging = v;
    }
    if let Some(v) = fields::bool(data, "enable_rate_limit_response_headers")? {
        c.enable_rate_limit_response_headers = v;
    }
    ctx.un.quotas.set_config(c).await?;
    Ok(Response::no_content())
}

/// `LIST sys/quotas/rate-limit`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response> {
    let keys = ctx.un.quotas.names();
    if keys.is_empty() {
        return Err(CoreError::NotFound(String::new()));
    }
    Ok(Response::data(map(json!({ "keys": keys }))))
}

/// `GET sys/quotas/rate-limit/:name`.
pub(super) async fn read(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    ctx.un
        .quotas
        .get(name)
        .map(|q| Response::data(map(quota_json(&q))))
        .ok_or_else(|| CoreError::NotFound(String::new()))
}

/// `DELETE sys/quotas/rate-limit/:name`.
pub(super) async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    ctx.un.quotas.delete(name).await?;
    Ok(Response::no_content())
}

/// `POST sys/quotas/rate-limit/:name`: fields not given keep their stored values.
pub(super) async fn write(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let data = &ctx.req.data;
    let existing = ctx.un.quotas.get(name);
    let rate = num(data.get("rate"), "rate")?
        .or(existing.as_ref().map(|q| q.rate))
        .ok_or_else(|| CoreError::bad("'rate' is required: requests allowed per interval"))?;
    if !(rate >= 1.0 && rate.is_finite()) {
        return Err(CoreError::bad(format!(
            "'rate' must be at least 1 request per interval, got {rate}; for fewer \
             requests, set a longer 'interval' (e.g. rate=1, interval=\"10s\")"
        )));
    }
    let interval = secs(data.get("interval"), "interval")?
        .or(existing.as_ref().map(|q| q.interval))
        .unwrap_or(1.0);
    if interval <= 0.0 {
        return Err(CoreError::bad("'interval' must be at least 1s"));
    }
    let block_interval = secs(data.get("block_interval"), "block_interval")?
        .or(existing.as_ref().map(|q| q.block_interval))
        .unwrap_or(0.0);
    let path = match data.get("path") {
        Some(Value::String(p)) => p.trim_start_matches('/').to_string(),
        None | Some(Value::Null) => existing
            .as_ref()
            .map(|q| q.path.clone())
            .unwrap_or_default(),
        Some(v) => return Err(CoreError::bad(format!("'path' must be a string, got {v}"))),
    };
    ctx.un
        .quotas
        .put(Quota {
            name: name.to_string(),
            path,
            rate,
            interval,
            block_interval,
        })
        .await?;
    Ok(Response::no_content())
}
