//! The lease manager against a real core: an engine that issues leased secrets and records what
//! it is asked to revoke.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hush_core::engine::{EngineRequest, LogicalBackend, MountEntry};
use hush_core::logical::{LeaseSecret, Response};
use hush_core::{Core, CoreConfig, Operation, Request};
use hush_storage::{Backend, MemoryBackend, SqliteBackend};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

/// Issues `creds/<name>` with a TTL from `?ttl=` (seconds) and records revocations.
#[derive(Default)]
struct Ledger {
    revoked: Mutex<Vec<String>>,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl LogicalBackend for Ledger {
    async fn handle(&self, req: &EngineRequest<'_>) -> hush_core::Result<Response> {
        let ttl = req
            .data
            .get("ttl")
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
            .unwrap_or(0);
        let user = format!(
            "{}-{}",
            req.path,
            hush_crypto::random_bytes(4).map(hex::encode)?
        );
        let mut data = Map::new();
        data.insert("username".into(), json!(user));
        let mut internal = Map::new();
        internal.insert("username".into(), json!(user));
        let mut resp = Response::data(data);
        resp.secret = Some(LeaseSecret {
            ttl: Duration::from_secs(ttl),
            max_ttl: Duration::from_secs(3600),
            renewable: true,
            internal,
        });
        Ok(resp)
    }

    async fn revoke_secret(
        &self,
        _req: &EngineRequest<'_>,
        internal: &Map<String, Value>,
    ) -> hush_core::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(hush_core::CoreError::Upstream(
                "the database is down".into(),
            ));
        }
        let user = internal["username"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.revoked.lock().push(user);
        Ok(())
    }
}

fn body(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn core_with(storage: Arc<dyn Backend>, ledger: Arc<Ledger>) -> Arc<Core> {
    let mut config = CoreConfig::default();
    config.engines.register(
        "ledger",
        Arc::new(move |_: &MountEntry| Ok(ledger.clone() as Arc<dyn LogicalBackend>)),
    );
    Core::new(storage, config).await.unwrap()
}

async fn started(storage: Arc<dyn Backend>, ledger: Arc<Ledger>) -> (Arc<Core>, String, String) {
    let core = core_with(storage, ledger).await;
    let out = core.init(super::params(1, 1), None).await.unwrap();
    let key = super::b64(&out.keys[0]);
    core.unseal(Some(&key), false).await.unwrap();
    let root = out.root_token.to_string();
    core.handle(
        Request::new(Operation::Update, "sys/mounts/db")
            .with_token(root.clone())
            .with_data(body(
                json!({"type": "ledger", "config": {"max_lease_ttl": "1h"}}),
            )),
    )
    .await
    .unwrap();
    (core, root, key)
}

async fn issue(core: &Core, token: &str, ttl: u64) -> (String, String) {
    let r = core
        .handle(
            Request::new(Operation::Read, "db/creds/app")
                .with_token(token)
                .with_data(body(json!({ "ttl": ttl }))),
        )
        .await
        .unwrap();
    let user = r.data.unwrap()["username"].as_str().unwrap().to_string();
    (r.lease_id.unwrap(), user)
}

async fn sys(core: &Core, token: &str, path: &str, data: Value) -> hush_core::Result<Response> {
    core.handle(
        Request::new(Operation::Update, path)
            .with_token(token)
            .with_data(body(data)),
    )
    .await
}

async fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test]
async fn issue_lookup_renew_revoke() {
    let ledger = Arc::new(Ledger::default());
    let (core, root, _) = started(Arc::new(MemoryBackend::new()), ledger.clone()).await;
    let r = core
        .handle(
            Request::new(Operation::Read, "db/creds/app")
                .with_token(root.clone())
                .with_data(body(json!({"ttl": 600}))),
        )
        .await
        .unwrap();
    let lease = r.lease_id.clone().unwrap();
    assert!(lease.starts_with("db/creds/app/"), "{lease}");
    assert_eq!(r.lease_duration, Some(600));
    assert!(r.renewable);

    let looked = sys(
        &core,
        &root,
        "sys/leases/lookup",
        json!({ "lease_id": lease }),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(looked["id"], json!(lease));
    assert!(looked["ttl"].as_u64().unwrap() <= 600);

    // Renewal is capped by the mount's max TTL (1h) from issue.
    let renewed = sys(
        &core,
        &root,
        "sys/leases/renew",
        json!({ "lease_id": lease, "increment": "100h" }),
    )
    .await
    .unwrap();
    assert!(renewed.lease_duration.unwrap() <= 3600);
    assert_eq!(renewed.lease_id.as_deref(), Some(lease.as_str()));

    let listed = core
        .handle(
            Request::new(Operation::List, "sys/leases/lookup/db/creds/app/")
                .with_token(root.clone()),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);

    sys(
        &core,
        &root,
        "sys/leases/revoke",
        json!({ "lease_id": lease }),
    )
    .await
    .unwrap();
    assert_eq!(ledger.revoked.lock().len(), 1);
    let again = sys(
        &core,
        &root,
        "sys/leases/revoke",
        json!({ "lease_id": lease }),
    )
    .await;
    assert!(
        matches!(again, Err(hush_core::CoreError::BadRequest(_))),
        "{again:?}"
    );
    let bad = sys(&core, &root, "sys/leases/renew", json!({})).await;
    assert!(matches!(bad, Err(hush_core::CoreError::BadRequest(_))));
}

#[tokio::test]
async fn expiry_revokes_and_failures_are_retried_not_forgotten() {
    let ledger = Arc::new(Ledger::default());
    let (core, root, _) = started(Arc::new(MemoryBackend::new()), ledger.clone()).await;
    ledger.failing.store(true, Ordering::SeqCst);
    let (lease, user) = issue(&core, &root, 1).await;
    // Expired, and the engine refuses: the lease stays, with the error.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let looked = sys(
        &core,
        &root,
        "sys/leases/lookup",
        json!({ "lease_id": lease }),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert!(
        looked["revoke_attempts"].as_u64().unwrap() >= 1,
        "{looked:?}"
    );
    assert!(looked["last_revoke_error"]
        .as_str()
        .unwrap()
        .contains("database is down"));
    ledger.failing.store(false, Ordering::SeqCst);
    let revoked = wait_until(Duration::from_secs(10), || {
        ledger.revoked.lock().contains(&user)
    })
    .await;
    assert!(revoked);
    assert_eq!(ledger.revoked.lock().len(), 1);
}

#[tokio::test]
async fn revoking_a_token_revokes_its_leases_and_prefix_revokes_all() {
    let ledger = Arc::new(Ledger::default());
    let (core, root, _) = started(Arc::new(MemoryBackend::new()), ledger.clone()).await;
    let child = core
        .handle(Request::new(Operation::Update, "auth/token/create").with_token(root.clone()))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let (_, a) = issue(&core, &child, 600).await;
    let (_, b) = issue(&core, &child, 600).await;
    let (_, c) = issue(&core, &root, 600).await;
    sys(&core, &root, "auth/token/revoke", json!({ "token": child }))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || ledger.revoked.lock().len() == 2).await);
    let got = ledger.revoked.lock().clone();
    assert!(got.contains(&a) && got.contains(&b) && !got.contains(&c));
    sys(&core, &root, "sys/leases/revoke-prefix/db/creds", json!({}))
        .await
        .unwrap();
    assert!(ledger.revoked.lock().contains(&c));
}

#[tokio::test]
async fn a_thousand_leases_due_together_are_each_revoked_once() {
    let ledger = Arc::new(Ledger::default());
    let (core, root, _) = started(Arc::new(MemoryBackend::new()), ledger.clone()).await;
    let mut users = Vec::new();
    for _ in 0..1000 {
        users.push(issue(&core, &root, 1).await.1);
    }
    assert!(
        wait_until(Duration::from_secs(15), || ledger.revoked.lock().len()
            >= 1000)
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = ledger.revoked.lock().clone();
    assert_eq!(got.len(), 1000);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1000);
}

#[tokio::test]
async fn what_expired_while_the_server_was_down_is_revoked_at_unseal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hush.db");
    let ledger = Arc::new(Ledger::default());
    let (user, key) = {
        let storage: Arc<dyn Backend> = Arc::new(SqliteBackend::open(&path).unwrap());
        let (core, root, key) = started(storage, ledger.clone()).await;
        let (_, user) = issue(&core, &root, 1).await;
        core.seal().await.unwrap();
        (user, key)
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(ledger.revoked.lock().is_empty());
    let storage: Arc<dyn Backend> = Arc::new(SqliteBackend::open(&path).unwrap());
    let core = core_with(storage, ledger.clone()).await;
    core.unseal(Some(&key), false).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || ledger
            .revoked
            .lock()
            .contains(&user))
        .await
    );
}
