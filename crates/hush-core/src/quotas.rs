//! Rate-limit quotas: a token bucket per quota and client address, the most specific quota
//! (longest path) winning, with an optional block interval for clients that exceed it. Quotas
//! are stored inside the barrier; buckets live in memory (per server, as in Vault).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{CoreError, Result};
use crate::logical::{map, Operation, Response};
use crate::pipeline::Ctx;
use crate::view::View;

const PREFIX: &str = "core/quotas/rate-limit/";
const CONFIG_KEY: &str = "core/quotas/config";

/// Paths never rate limited, so an operator can always see and unseal the server.
const EXEMPT: &[&str] = &["sys/health", "sys/seal-status", "sys/unseal", "sys/quotas"];

/// A stored rate-limit quota.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quota {
    /// Its name.
    pub name: String,
    /// The path prefix it applies to ("" = everything).
    pub path: String,
    /// Requests allowed per `interval`.
    pub rate: f64,
    /// The interval, seconds.
    pub interval: f64,
    /// Seconds a client that exceeded the rate is blocked (0: not blocked).
    pub block_interval: f64,
}

/// `sys/quotas/config`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct QuotaConfig {
    /// Record rejected requests in the audit log.
    #[serde(default)]
    pub enable_rate_limit_audit_logging: bool,
    /// Add X-Ratelimit-* headers (accepted and stored).
    #[serde(default)]
    pub enable_rate_limit_response_headers: bool,
    /// Extra exempt path prefixes.
    #[serde(default)]
    pub rate_limit_exempt_paths: Vec<String>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// The quota state of an unsealed core.
pub struct Quotas {
    view: View,
    quotas: RwLock<Vec<Quota>>,
    config: RwLock<QuotaConfig>,
    buckets: Mutex<HashMap<(String, Option<IpAddr>), Bucket>>,
}

impl Quotas {
    /// Loads the quotas from the barrier.
    pub async fn load(view: View) -> Result<Self> {
        let mut quotas = Vec::new();
        for name in view.list(PREFIX).await? {
            if let Some(q) = view.get_json::<Quota>(&format!("{PREFIX}{name}")).await? {
                quotas.push(q);
            }
        }
        let config = view.get_json(CONFIG_KEY).await?.unwrap_or_default();
        let q = Quotas {
            view,
            quotas: RwLock::new(Vec::new()),
            config: RwLock::new(config),
            buckets: Mutex::new(HashMap::new()),
        };
        q.publish(quotas);
        Ok(q)
    }

    fn publish(&self, mut quotas: Vec<Quota>) {
        quotas.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.name.cmp(&b.name)));
        *self.quotas.write() = quotas;
        self.buckets.lock().clear();
    }

    /// Takes one request from the bucket of the most specific quota for `path`.
    pub fn check(&self, path: &str, addr: Option<IpAddr>) -> Result<()> {
        let quotas = self.quotas.read();
        if quotas.is_empty() {
            return Ok(());
        }
        if EXEMPT.iter().any(|e| path.starts_with(e))
            || self
                .config
                .read()
                .rate_limit_exempt_paths
                .iter()
                .any(|e| path.starts_with(e.trim_start_matches('/')))
        {
            return Ok(());
        }
        let Some(q) = quotas.iter().find(|q| path.starts_with(&q.path)) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let b = buckets
            .entry((q.name.clone(), addr))
            .or_insert_with(|| Bucket {
                tokens: q.rate,
                last: now,
                blocked_until: None,
            });
        if let Some(until) = b.blocked_until {
            if until > now {
                return Err(limited(q, until - now));
            }
            b.blocked_until = None;
        }
        let per_sec = q.rate / q.interval.max(0.001);
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(q.rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = if q.block_interval > 0.0 {
            let d = Duration::from_secs_f64(q.block_interval);
            b.blocked_until = Some(now + d);
            d
        } else {
            Duration::from_secs_f64((1.0 - b.tokens) / per_sec.max(1e-9))
        };
        Err(limited(q, wait))
    }
}

fn limited(q: &Quota, wait: Duration) -> CoreError {
    CoreError::RateLimited {
        message: format!(
            "request path \"{}\": rate limit quota exceeded (quota \"{}\": {} requests per {}s)",
            q.path, q.name, q.rate, q.interval
        ),
        retry_after: wait.as_secs_f64().ceil() as u64,
    }
}

fn num(v: Option<&Value>, field: &str) -> Result<Option<f64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| *f >= 0.0 && f.is_finite())
            .map(Some)
            .ok_or_else(|| CoreError::bad(format!("'{field}' must be a number of 0 or more"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0 && f.is_finite())
            .map(Some)
            .ok_or_else(|| CoreError::bad(format!("'{field}' must be a number, got \"{s}\""))),
        Some(v) => Err(CoreError::bad(format!(
            "'{field}' must be a number, got {v}"
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

/// `sys/quotas/*` (relative path after `quotas/`).
pub async fn handle(ctx: &Ctx<'_>, rel: &str) -> Result<Response> {
    let quotas = &ctx.un.quotas;
    let op = ctx.req.operation;
    let data = &ctx.req.data;
    let rel = rel.trim_end_matches('/');
    if rel == "config" {
        return match op {
            Operation::Read => {
                let c = quotas.config.read().clone();
                Ok(Response::data(map(
                    serde_json::to_value(c).unwrap_or_default()
                )))
            }
            Operation::Update | Operation::Create => {
                let mut c = quotas.config.read().clone();
                if let Some(v) = crate::sys_api::strings(data, "rate_limit_exempt_paths")? {
                    c.rate_limit_exempt_paths = v;
                }
                for (field, slot) in [
                    (
                        "enable_rate_limit_audit_logging",
                        &mut c.enable_rate_limit_audit_logging,
                    ),
                    (
                        "enable_rate_limit_response_headers",
                        &mut c.enable_rate_limit_response_headers,
                    ),
                ] {
                    if data.get(field).is_some_and(|v| !v.is_null()) {
                        *slot = crate::sys::opt_bool(data, field)?;
                    }
                }
                quotas.view.put_json(CONFIG_KEY, &c).await?;
                *quotas.config.write() = c;
                Ok(Response::no_content())
            }
            _ => Err(crate::sys::unsupported(&ctx.req.path, op, "GET and POST")),
        };
    }
    if rel == "rate-limit" {
        if op != Operation::List {
            return Err(crate::sys::unsupported(&ctx.req.path, op, "LIST"));
        }
        let keys: Vec<String> = quotas
            .quotas
            .read()
            .iter()
            .map(|q| q.name.clone())
            .collect();
        if keys.is_empty() {
            return Err(CoreError::NotFound(String::new()));
        }
        return Ok(Response::data(map(json!({ "keys": keys }))));
    }
    let Some(name) = rel.strip_prefix("rate-limit/") else {
        return Err(CoreError::NotFound(format!(
            "no handler for route \"{}\"",
            ctx.req.path
        )));
    };
    if name.is_empty() || name.contains('/') {
        return Err(CoreError::bad(
            "a quota name may not be empty or contain '/'",
        ));
    }
    match op {
        Operation::Read => quotas
            .quotas
            .read()
            .iter()
            .find(|q| q.name == name)
            .map(|q| Response::data(map(quota_json(q))))
            .ok_or_else(|| CoreError::NotFound(String::new())),
        Operation::Delete => {
            quotas.view.delete(&format!("{PREFIX}{name}")).await?;
            let rest: Vec<Quota> = quotas
                .quotas
                .read()
                .iter()
                .filter(|q| q.name != name)
                .cloned()
                .collect();
            quotas.publish(rest);
            Ok(Response::no_content())
        }
        Operation::Update | Operation::Create => {
            let existing = quotas
                .quotas
                .read()
                .iter()
                .find(|q| q.name == name)
                .cloned();
            let rate = num(data.get("rate"), "rate")?
                .or(existing.as_ref().map(|q| q.rate))
                .ok_or_else(|| {
                    CoreError::bad("'rate' is required: requests allowed per interval")
                })?;
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
            let q = Quota {
                name: name.to_string(),
                path,
                rate,
                interval,
                block_interval,
            };
            quotas.view.put_json(&format!("{PREFIX}{name}"), &q).await?;
            let mut all: Vec<Quota> = quotas
                .quotas
                .read()
                .iter()
                .filter(|x| x.name != name)
                .cloned()
                .collect();
            all.push(q);
            quotas.publish(all);
            Ok(Response::no_content())
        }
        _ => Err(crate::sys::unsupported(
            &ctx.req.path,
            op,
            "GET, POST and DELETE",
        )),
    }
}
