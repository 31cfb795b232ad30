//! Test harness: a KV engine over a real barrier-encrypted view of an in-memory store, with a
//! manual clock.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hush_core::engine::{EngineRequest, LogicalBackend, MountConfig, MountEntry};
use hush_core::logical::{Operation, Response};
use hush_core::view::View;
use hush_core::Result;
use hush_crypto::{Barrier, Keyring};
use hush_engines::kv::{Clock, KvBackend};
use hush_storage::MemoryBackend;
use serde_json::{Map, Value};

/// A clock that moves only when told to.
pub struct ManualClock(parking_lot::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        // 2024-05-06T07:08:09.123456789Z: nanoseconds exercise the time format.
        let start = Utc
            .timestamp_opt(1_714_979_289, 123_456_789)
            .single()
            .unwrap();
        ManualClock(parking_lot::Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock();
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}

pub fn view() -> View {
    let keyring = Keyring::generate(0).unwrap();
    let barrier = Arc::new(Barrier::new(keyring, u64::MAX));
    View::root(Arc::new(MemoryBackend::new()), barrier).sub("logical/test-mount-uuid/")
}

pub fn mount(kind: &str, version: Option<&str>) -> MountEntry {
    let mut options = BTreeMap::new();
    if let Some(v) = version {
        options.insert("version".to_string(), v.to_string());
    }
    MountEntry {
        path: "secret/".to_string(),
        kind: kind.to_string(),
        description: String::new(),
        accessor: "kv_test".to_string(),
        uuid: "test-mount-uuid".to_string(),
        config: MountConfig::default(),
        options,
        local: false,
        seal_wrap: false,
        created_time: 0,
    }
}

/// One mount: the engine, its storage view and its entry.
pub struct Kv {
    pub engine: Arc<dyn LogicalBackend>,
    pub view: View,
    pub mount: MountEntry,
    pub clock: Arc<ManualClock>,
}

impl Kv {
    pub fn v2() -> Self {
        Kv::with(mount("kv", Some("2")))
    }

    pub fn v1() -> Self {
        Kv::with(mount("kv", None))
    }

    pub fn with(mount: MountEntry) -> Self {
        let clock = Arc::new(ManualClock::new());
        let engine = KvBackend::for_mount(&mount)
            .unwrap()
            .with_clock(clock.clone());
        Kv {
            engine: Arc::new(engine),
            view: view(),
            mount,
            clock,
        }
    }

    pub async fn call(&self, operation: Operation, path: &str, data: Value) -> Result<Response> {
        let data = as_map(data);
        let req = EngineRequest::new(
            "test-request",
            operation,
            path,
            &data,
            &self.view,
            &self.mount,
        );
        self.engine.handle(&req).await
    }

    pub async fn exists(&self, path: &str) -> bool {
        let data = Map::new();
        let req = EngineRequest::new(
            "test-request",
            Operation::Update,
            path,
            &data,
            &self.view,
            &self.mount,
        );
        self.engine.exists(&req).await.unwrap()
    }

    pub async fn read(&self, path: &str) -> Response {
        self.call(Operation::Read, path, Value::Null).await.unwrap()
    }

    pub async fn write(&self, path: &str, data: Value) -> Response {
        self.call(Operation::Update, path, data).await.unwrap()
    }

    pub async fn list(&self, path: &str) -> Response {
        self.call(Operation::List, path, Value::Null).await.unwrap()
    }

    /// The 400 message of a request that must fail.
    pub async fn bad_request(&self, operation: Operation, path: &str, data: Value) -> String {
        match self.call(operation, path, data).await {
            Err(e) => {
                assert_eq!(e.status(), 400, "{path}: expected 400, got {e}");
                e.to_string()
            }
            Ok(r) => panic!("{path}: expected a 400, got {r:?}"),
        }
    }

    /// Whether the raw storage below the mount holds `key`.
    pub async fn stored(&self, key: &str) -> bool {
        self.view.get(key).await.unwrap().is_some()
    }
}

pub fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("test data must be an object, got {other}"),
    }
}

/// The HTTP status the response would get.
pub fn status(r: &Response) -> u16 {
    match r.status {
        Some(s) => s,
        None if r.is_empty() => 204,
        None => 200,
    }
}

/// The response's `data` as JSON (or the raw body for raw responses).
pub fn body(r: &Response) -> Value {
    if let Some(raw) = &r.raw {
        return raw.clone();
    }
    match &r.data {
        Some(d) => Value::Object(d.clone()),
        None => Value::Null,
    }
}

/// Vault's empty 404.
pub fn assert_plain_404(r: &Response) {
    assert_eq!(status(r), 404, "{r:?}");
    assert_eq!(body(r), serde_json::json!({"errors": []}), "{r:?}");
}

/// Whether `s` looks like Go's RFC 3339 with nanoseconds in UTC.
pub fn is_vault_time(s: &str) -> bool {
    DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() >= 20
}
