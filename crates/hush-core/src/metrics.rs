//! The server's metrics, under Vault's names so that dashboards and alerts written for Vault
//! read them unchanged (`vault.core.handle_request`, `vault.route.<operation>.<mount>`,
//! `vault.core.unsealed`, `vault.token.count`, `vault.audit.log_request_failure`, ...).
//!
//! Counters and samples accumulate from the start of the process; `sys/metrics` renders them
//! as Prometheus text or as the JSON document Vault's in-memory sink shows. A sample keeps its
//! count, sum, minimum, maximum and sum of squares, plus a log-scale histogram (four buckets
//! per power of two) from which the quantiles of the Prometheus summary are read: exact to
//! within 19%, in a fixed 1 KiB per series whatever the traffic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

/// The prefix of every name, as Vault's.
pub const PREFIX: &str = "vault";

/// Labels of a series, sorted by name.
pub type Labels = Vec<(&'static str, String)>;

/// Buckets per power of two of a sample's histogram.
const SUB: usize = 4;
/// Powers of two the histogram spans, from 2^-10 ms (~1 µs) up.
const OCTAVES: usize = 40;
const LOWEST_EXP: i32 = -10;
const BUCKETS: usize = SUB * OCTAVES;

/// The quantiles of the Prometheus summaries (those of Vault's Prometheus sink).
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

#[derive(Clone)]
struct Stats {
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    fn stddev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        let var = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
        var.max(0.0).sqrt()
    }
}

struct Sample {
    stats: Stats,
    buckets: Box<[u32; BUCKETS]>,
}

impl Sample {
    fn new() -> Self {
        Sample {
            stats: Stats::new(),
            buckets: Box::new([0; BUCKETS]),
        }
    }

    fn add(&mut self, v: f64) {
        self.stats.add(v);
        let i = bucket_of(v);
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    /// The value below which a `q` share of the observations fall, read off the histogram
    /// (the upper edge of the bucket holding that rank, clamped to what was seen).
    fn quantile(&self, q: f64) -> f64 {
        if self.stats.count == 0 {
            return f64::NAN;
        }
        let rank = (q * self.stats.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                return upper_edge(i).clamp(self.stats.min, self.stats.max);
            }
        }
        self.stats.max
    }
}

fn bucket_of(v: f64) -> usize {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    let scaled = (v.log2() - f64::from(LOWEST_EXP)) * SUB as f64;
    if scaled < 0.0 {
        0
    } else {
        (scaled.floor() as usize).min(BUCKETS - 1)
    }
}

fn upper_edge(i: usize) -> f64 {
    2f64.powf(f64::from(LOWEST_EXP) + (i + 1) as f64 / SUB as f64)
}

type Key = (String, Labels);

#[derive(Default)]
struct Series {
    counters: BTreeMap<Key, Arc<Mutex<Stats>>>,
    samples: BTreeMap<Key, Arc<Mutex<Sample>>>,
}

/// One sample series, resolved once: what hot paths (every storage call) record into without
/// looking the series up by name.
#[derive(Clone)]
pub struct SampleHandle(Arc<Mutex<Sample>>);

impl SampleHandle {
    /// Records a duration in milliseconds.
    pub fn time(&self, d: Duration) {
        self.0.lock().add(d.as_secs_f64() * 1000.0);
    }
}

/// A gauge's value at the moment of rendering, computed by its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// The name below the prefix, dotted (`core.unsealed`).
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

impl Gauge {
    /// A gauge without labels.
    pub fn new(name: &str, value: f64) -> Self {
        Gauge {
            name: name.to_string(),
            labels: Vec::new(),
            value,
        }
    }
}

/// How names are rendered: Vault's `telemetry` settings that change them.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    /// The host name, put into gauge names (`vault.<host>.core.unsealed`) unless
    /// `disable_hostname`, as Vault's metrics library does; `None`: left out.
    pub hostname_in_gauges: Option<String>,
    /// A `host` label on every series (`enable_hostname_label`).
    pub hostname_label: Option<String>,
}

/// Every counter and sample of the server.
pub struct Metrics {
    started: Instant,
    series: Mutex<Series>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            series: Mutex::new(Series::default()),
        }
    }
}

fn key(name: &str, labels: &[(&'static str, &str)]) -> Key {
    let mut l: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
    l.sort();
    (name.to_string(), l)
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Adds `n` to a counter.
    pub fn incr(&self, name: &str, labels: &[(&'static str, &str)], n: f64) {
        let stats = self
            .series
            .lock()
            .counters
            .entry(key(name, labels))
            .or_insert_with(|| Arc::new(Mutex::new(Stats::new())))
            .clone();
        stats.lock().add(n);
    }

    /// The series of a sample, for recording into it many times.
    pub fn sample_handle(&self, name: &str, labels: &[(&'static str, &str)]) -> SampleHandle {
        SampleHandle(
            self.series
                .lock()
                .samples
                .entry(key(name, labels))
                .or_insert_with(|| Arc::new(Mutex::new(Sample::new())))
                .clone(),
        )
    }

    /// Records one observation of a sample, in milliseconds for durations.
    pub fn sample(&self, name: &str, labels: &[(&'static str, &str)], v: f64) {
        self.sample_handle(name, labels).0.lock().add(v);
    }

    /// Records a duration as a sample in milliseconds (Vault's `MeasureSince`).
    pub fn time(&self, name: &str, labels: &[(&'static str, &str)], d: Duration) {
        self.sample(name, labels, d.as_secs_f64() * 1000.0);
    }

    /// The count of a counter (tests and `sys/health`-style summaries).
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> f64 {
        self.series
            .lock()
            .counters
            .get(&key(name, labels))
            .map_or(0.0, |s| s.lock().sum)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn prometheus(&self, gauges: &[Gauge], naming: &Naming) -> String {
        let series = self.series.lock();
        let mut out = String::new();
        let mut typed = std::collections::HashSet::new();
        let mut header = |out: &mut String, name: &str, kind: &str| {
            if typed.insert(name.to_string()) {
                let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} {kind}");
            }
        };
        let mut gauges: Vec<&Gauge> = gauges.iter().collect();
        gauges.sort_by(|a, b| a.name.cmp(&b.name).then(a.labels.cmp(&b.labels)));
        for g in gauges {
            let name = prom_name(&gauge_name(&g.name, naming));
            header(&mut out, &name, "gauge");
            let labels = prom_labels(&g.labels, naming, None);
            let _ = writeln!(out, "{name}{labels} {}", prom_value(g.value));
        }
        for ((name, labels), s) in &series.counters {
            let s = s.lock();
            let name = prom_name(&full_name(name));
            header(&mut out, &name, "counter");
            let l = prom_labels(labels, naming, None);
            let _ = writeln!(out, "{name}{l} {}", prom_value(s.sum));
        }
        for ((name, labels), s) in &series.samples {
            let s = s.lock();
            // Series resolved ahead (storage timings) show once they have been observed.
            if s.stats.count == 0 {
                continue;
            }
            let name = prom_name(&full_name(name));
            header(&mut out, &name, "summary");
            for q in QUANTILES {
                let l = prom_labels(labels, naming, Some(q));
                let _ = writeln!(out, "{name}{l} {}", prom_value(s.quantile(q)));
            }
            let l = prom_labels(labels, naming, None);
            let _ = writeln!(out, "{name}_sum{l} {}", prom_value(s.stats.sum));
            let _ = writeln!(out, "{name}_count{l} {}", s.stats.count);
        }
        out
    }

    /// The JSON document of Vault's in-memory sink (`Gauges`, `Counters`, `Samples`, ...),
    /// with totals since the start of the process and `Rate` per second over that time.
    pub fn json(&self, gauges: &[Gauge], naming: &Naming) -> Value {
        let series = self.series.lock();
        let secs = self.started.elapsed().as_secs_f64().max(1.0);
        let labels_json = |labels: &Labels| {
            let mut m = serde_json::Map::new();
            for (k, v) in labels {
                m.insert((*k).to_string(), json!(v));
            }
            if let Some(h) = &naming.hostname_label {
                m.insert("host".into(), json!(h));
            }
            Value::Object(m)
        };
        let stats_json = |name: &str, labels: &Labels, s: &Stats| {
            json!({
                "Name": full_name(name),
                "Count": s.count,
                "Rate": s.sum / secs,
                "Sum": s.sum,
                "Min": finite(s.min),
                "Max": finite(s.max),
                "Mean": s.mean(),
                "Stddev": s.stddev(),
                "Labels": labels_json(labels),
            })
        };
        let gauges: Vec<Value> = gauges
            .iter()
            .map(|g| {
                json!({
                    "Name": gauge_name(&g.name, naming),
                    "Value": g.value,
                    "Labels": labels_json(&g.labels),
                })
            })
            .collect();
        let counters: Vec<Value> = series
            .counters
            .iter()
            .map(|((n, l), s)| stats_json(n, l, &s.lock()))
            .collect();
        let samples: Vec<Value> = series
            .samples
            .iter()
            .filter_map(|((n, l), s)| {
                let s = s.lock();
                (s.stats.count > 0).then(|| stats_json(n, l, &s.stats))
            })
            .collect();
        let now = crate::time::rfc3339(crate::time::now_unix());
        json!({
            "Timestamp": now,
            "Gauges": gauges,
            "Points": [],
            "Counters": counters,
            "Samples": samples,
        })
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn full_name(name: &str) -> String {
    format!("{PREFIX}.{name}")
}

fn gauge_name(name: &str, naming: &Naming) -> String {
    match &naming.hostname_in_gauges {
        Some(host) => format!("{PREFIX}.{host}.{name}"),
        None => full_name(name),
    }
}

/// A Prometheus metric name: what is not `[a-zA-Z0-9_:]` becomes `_` (Vault's mount paths in
/// route names, `secret-`, so become `secret_`).
fn prom_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn prom_labels(labels: &Labels, naming: &Naming, quantile: Option<f64>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", prom_escape(v)))
        .collect();
    if let Some(h) = &naming.hostname_label {
        parts.push(format!("host=\"{}\"", prom_escape(h)));
    }
    if let Some(q) = quantile {
        parts.push(format!("quantile=\"{q}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn prom_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn prom_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// The route name of a request: `route.<operation>.<mount with '/' as '-'>`, as Vault's
/// router names it.
pub fn route_name(operation: &str, mount: &str) -> String {
    format!("route.{operation}.{}", mount.replace('/', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let m = Metrics::new();
        for i in 1..=1000 {
            m.sample("s", &[], f64::from(i) / 10.0);
        }
        let series = m.series.lock();
        let s = series.samples.values().next().unwrap().lock();
        for (q, exact) in [(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)] {
            let got = s.quantile(q);
            assert!(got >= exact && got <= exact * 1.19 + 0.01, "{q}: {got}");
        }
        assert_eq!(s.stats.count, 1000);
        assert!((s.stats.mean() - 50.05).abs() < 1e-9);
    }

    #[test]
    fn prometheus_text_has_types_names_and_labels() {
        let m = Metrics::new();
        m.incr("audit.log_request_failure", &[], 1.0);
        m.time(
            &route_name("read", "secret/"),
            &[],
            Duration::from_millis(3),
        );
        m.incr(
            "core.response_status_code",
            &[("code", "403"), ("type", "4xx")],
            1.0,
        );
        let text = m.prometheus(&[Gauge::new("core.unsealed", 1.0)], &Naming::default());
        assert!(text.contains("# TYPE vault_core_unsealed gauge\nvault_core_unsealed 1\n"));
        assert!(text.contains("# TYPE vault_audit_log_request_failure counter"));
        assert!(text.contains("vault_route_read_secret_{quantile=\"0.99\"} 3"));
        assert!(text.contains("vault_route_read_secret__count 1"));
        assert!(text.contains("vault_core_response_status_code{code=\"403\",type=\"4xx\"} 1"));
        let host = Naming {
            hostname_in_gauges: Some("h1".into()),
            hostname_label: Some("h\"1".into()),
        };
        let text = m.prometheus(&[Gauge::new("core.unsealed", 0.0)], &host);
        assert!(text.contains("vault_h1_core_unsealed{host=\"h\\\"1\"} 0"));
    }

    #[test]
    fn json_has_vaults_shape() {
        let m = Metrics::new();
        m.sample("core.handle_request", &[], 2.0);
        m.sample("core.handle_request", &[], 4.0);
        let v = m.json(&[Gauge::new("token.count", 7.0)], &Naming::default());
        assert_eq!(v["Gauges"][0]["Name"], "vault.token.count");
        assert_eq!(v["Gauges"][0]["Value"], 7.0);
        let s = &v["Samples"][0];
        assert_eq!(s["Name"], "vault.core.handle_request");
        assert_eq!(s["Count"], 2);
        assert_eq!(s["Min"], 2.0);
        assert_eq!(s["Max"], 4.0);
        assert_eq!(s["Mean"], 3.0);
        assert!(v["Timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

/// The `telemetry` settings the core uses.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `prometheus_retention_time` (Vault's default, 24 h): zero turns the Prometheus format off.
    pub prometheus_retention_time: Duration,
    /// `usage_gauge_period` (Vault's default, 10 min): how often the gauges that count stored
    /// objects (tokens, leases, locked users) are recomputed.
    pub usage_gauge_period: Duration,
    /// How names carry the host name.
    pub naming: Naming,
}

impl Default for TelemetryConfig {
    /// The configuration file's defaults (Vault's), with no host name in any name.
    fn default() -> Self {
        let file = hush_config::TelemetryConfig::default();
        TelemetryConfig {
            prometheus_retention_time: file.prometheus_retention_time,
            usage_gauge_period: file.usage_gauge_period,
            naming: Naming::default(),
        }
    }
}

/// The storage backend, timed: `vault.<type>.get|put|delete|list|transaction`, as Vault times
/// its physical backends.
pub struct MeteredBackend {
    inner: Arc<dyn hush_storage::Backend>,
    get: SampleHandle,
    put: SampleHandle,
    delete: SampleHandle,
    list: SampleHandle,
    transaction: SampleHandle,
}

impl MeteredBackend {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Arc<dyn hush_storage::Backend>, metrics: &Metrics) -> Self {
        let kind = inner.kind();
        let h = |op: &str| metrics.sample_handle(&format!("{kind}.{op}"), &[]);
        MeteredBackend {
            get: h("get"),
            put: h("put"),
            delete: h("delete"),
            list: h("list"),
            transaction: h("transaction"),
            inner,
        }
    }
}

#[async_trait::async_trait]
impl hush_storage::Backend for MeteredBackend {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn get(&self, key: &str) -> hush_storage::Result<Option<Vec<u8>>> {
        let t = Instant::now();
        let r = self.inner.get(key).await;
        self.get.time(t.elapsed());
        r
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> hush_storage::Result<()> {
        let t = Instant::now();
        let r = self.inner.put(key, value).await;
        self.put.time(t.elapsed());
        r
    }

    async fn delete(&self, key: &str) -> hush_storage::Result<()> {
        let t = Instant::now();
        let r = self.inner.delete(key).await;
        self.delete.time(t.elapsed());
        r
    }

    async fn list(&self, prefix: &str) -> hush_storage::Result<Vec<String>> {
        let t = Instant::now();
        let r = self.inner.list(prefix).await;
        self.list.time(t.elapsed());
        r
    }

    async fn entries(&self) -> hush_storage::Result<Vec<(String, Vec<u8>)>> {
        self.inner.entries().await
    }

    async fn transaction(&self, ops: Vec<hush_storage::Op>) -> hush_storage::Result<()> {
        let t = Instant::now();
        let r = self.inner.transaction(ops).await;
        self.transaction.time(t.elapsed());
        r
    }
}
