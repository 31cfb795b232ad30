//! Rate-limit quotas: a token bucket per quota and client address, the most specific quota
//! (longest path) winning, with an optional block interval for clients that exceed it. Quotas
//! are stored inside the barrier; buckets live in memory (per server, as in Vault).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
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

    /// The settings.
    pub fn config(&self) -> QuotaConfig {
        self.config.read().clone()
    }

    /// Stores and applies new settings.
    pub async fn set_config(&self, c: QuotaConfig) -> Result<()> {
        self.view.put_json(CONFIG_KEY, &c).await?;
        *self.config.write() = c;
        Ok(())
    }

    /// The quotas' names.
    pub fn names(&self) -> Vec<String> {
        self.quotas.read().iter().map(|q| q.name.clone()).collect()
    }

    /// The quota named `name`.
    pub fn get(&self, name: &str) -> Option<Quota> {
        self.quotas.read().iter().find(|q| q.name == name).cloned()
    }

    /// Stores a quota (replacing one of the same name) and applies it.
    pub async fn put(&self, q: Quota) -> Result<()> {
        self.view
            .put_json(&format!("{PREFIX}{}", q.name), &q)
            .await?;
        let mut all: Vec<Quota> = self
            .quotas
            .read()
            .iter()
            .filter(|x| x.name != q.name)
            .cloned()
            .collect();
        all.push(q);
        self.publish(all);
        Ok(())
    }

    /// Removes a quota (nothing happens for an unknown name).
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.view.delete(&format!("{PREFIX}{name}")).await?;
        let rest: Vec<Quota> = self
            .quotas
            .read()
            .iter()
            .filter(|q| q.name != name)
            .cloned()
            .collect();
        self.publish(rest);
        Ok(())
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
            .or_insert_with(|| Bucket::full(q.rate, now));
        b.take(q.rate, q.interval, q.block_interval, now)
            .map_err(|wait| limited(q, wait, path))
    }
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: rate,
            last: now,
            blocked_until: None,
        }
    }

    /// Takes one request at `now` from a bucket of `rate` requests per `interval` seconds,
    /// refilled continuously; an empty bucket with a `block` interval refuses everything for
    /// that long. `Err` carries how long to wait.
    fn take(
        &mut self,
        rate: f64,
        interval: f64,
        block: f64,
        now: Instant,
    ) -> std::result::Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(until - now);
            }
            self.blocked_until = None;
        }
        let per_sec = rate / interval.max(0.001);
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(if block > 0.0 {
            let d = Duration::from_secs_f64(block);
            self.blocked_until = Some(now + d);
            d
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / per_sec.max(1e-9))
        })
    }
}

/// Vault's 429 text (clients match "rate limit quota exceeded"), naming the request's path and
/// the quota that refused it.
fn limited(q: &Quota, wait: Duration, path: &str) -> CoreError {
    let scope = if q.path.is_empty() {
        "every path".to_owned()
    } else {
        format!("paths under \"{}\"", q.path)
    };
    let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
    CoreError::RateLimited {
        message: format!(
            "request path \"{path}\": rate limit quota exceeded (quota \"{}\" on {scope}: {} \
             requests per {}s); retry in {retry_after}s",
            q.name, q.rate, q.interval
        ),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What, rate, interval (s), block (s), and (ms since the start, allowed?) per request.
    type Case = (&'static str, f64, f64, f64, &'static [(u64, bool)]);

    #[test]
    fn bucket() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // (rate per interval, interval s, block s, [(ms, allowed?)])
        let cases: [Case; 4] = [
            (
                "a full bucket serves its rate at once",
                3.0,
                1.0,
                0.0,
                &[(0, true), (0, true), (0, true), (0, false)],
            ),
            (
                "it refills over the interval",
                2.0,
                1.0,
                0.0,
                &[
                    (0, true),
                    (0, true),
                    (0, false),
                    (500, true),
                    (500, false),
                    (1500, true),
                ],
            ),
            (
                "it never holds more than the rate",
                1.0,
                1.0,
                0.0,
                &[(0, true), (10_000, true), (10_000, false)],
            ),
            (
                "a block refuses for its length",
                1.0,
                1.0,
                5.0,
                &[(0, true), (0, false), (2000, false), (5001, true)],
            ),
        ];
        for (what, rate, interval, block, steps) in cases {
            let mut b = Bucket::full(rate, t0);
            for &(ms, ok) in steps {
                assert_eq!(
                    b.take(rate, interval, block, at(ms)).is_ok(),
                    ok,
                    "{what} at {ms}ms"
                );
            }
        }
        // The wait names when the next request fits.
        let mut b = Bucket::full(1.0, t0);
        assert!(b.take(1.0, 10.0, 0.0, t0).is_ok());
        let wait = b.take(1.0, 10.0, 0.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 10.0).abs() < 0.01, "{wait:?}");
        let mut b = Bucket::full(1.0, t0);
        assert!(b.take(1.0, 1.0, 30.0, t0).is_ok());
        assert_eq!(
            b.take(1.0, 1.0, 30.0, t0).unwrap_err(),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.take(1.0, 1.0, 30.0, at(10_000)).unwrap_err(),
            Duration::from_secs(20)
        );
    }
}
