//! `sys/metrics`: the server's metrics as Prometheus text (`?format=prometheus`) or as the JSON
//! document of Vault's in-memory sink.

use std::time::Instant;

use crate::core::Core;
use crate::error::{CoreError, Result};
use crate::logical::Response;
use crate::metrics::Gauge;

/// The content type of Prometheus' text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the metrics in `format` (`""`/`json` or `prometheus`). Also what a listener with
/// `unauthenticated_metrics_access` serves without a token.
pub async fn render(core: &Core, format: &str) -> Result<Response> {
    let telemetry = &core.config().telemetry;
    let gauges = gauges(core).await?;
    match format {
        "" | "json" => Ok(Response::raw(
            200,
            core.metrics().json(&gauges, &telemetry.naming),
        )),
        "prometheus" => {
            if telemetry.prometheus_retention_time.is_zero() {
                return Err(CoreError::bad(
                    "prometheus is not enabled: set telemetry { prometheus_retention_time = \
                     \"24h\" } in the server configuration (0 turns it off)",
                ));
            }
            Ok(Response::text(
                PROMETHEUS_CONTENT_TYPE,
                core.metrics().prometheus(&gauges, &telemetry.naming),
            ))
        }
        other => Err(CoreError::bad(format!(
            "metric response format \"{other}\" unknown: use format=prometheus, or no format \
             for JSON"
        ))),
    }
}

/// The gauges at this moment; those that count stored objects are recomputed at most once per
/// `usage_gauge_period`, since counting walks the token store.
async fn gauges(core: &Core) -> Result<Vec<Gauge>> {
    let mut out = vec![Gauge::new(
        "core.unsealed",
        if core.is_sealed() { 0.0 } else { 1.0 },
    )];
    let Some(un) = core.unsealed() else {
        return Ok(out);
    };
    out.push(Gauge::new("core.active", 1.0));
    let mounts = |kind: &str, n: usize| Gauge {
        name: "core.mount_table.num_entries".into(),
        labels: vec![("local", "false".into()), ("type", kind.into())],
        value: n as f64,
    };
    // The built-ins count as Vault counts them: sys/, cubbyhole/ and identity/, and token/.
    out.push(mounts("logical", un.mounts.list().len() + 3));
    out.push(mounts("auth", un.auth.list().len() + 1));
    out.push(Gauge::new(
        "audit.broken_devices",
        un.audit.broken().len() as f64,
    ));
    let period = core.config().telemetry.usage_gauge_period;
    let cached = core
        .usage_gauges
        .lock()
        .as_ref()
        .filter(|(at, _)| at.elapsed() < period)
        .map(|(_, g)| g.clone());
    let usage = match cached {
        Some(g) => g,
        None => {
            let now = crate::time::now_unix();
            let (tokens, leases) = un.tokens.usage(now).await?;
            let locked: usize = crate::lockout::locked(&un.view, now)
                .await?
                .iter()
                .map(|(_, users)| users.len())
                .sum();
            let g = vec![
                Gauge::new("token.count", tokens as f64),
                Gauge::new("expire.num_leases", leases as f64),
                Gauge::new("core.locked_users", locked as f64),
            ];
            *core.usage_gauges.lock() = Some((Instant::now(), g.clone()));
            g
        }
    };
    out.extend(usage);
    Ok(out)
}
