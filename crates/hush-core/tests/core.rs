//! The core without HTTP: init, unseal, seal, automatic key rotation, restart on the same
//! storage.

use std::sync::Arc;

#[path = "core/leases.rs"]
mod leases;

use hush_core::seal::InitParams;
use hush_core::{Core, CoreConfig, CoreError, Operation, Request};
use hush_storage::{Backend, MemoryBackend, SqliteBackend};

fn params(n: u8, t: u8) -> InitParams {
    InitParams {
        secret_shares: n,
        secret_threshold: t,
        recovery_shares: 0,
        recovery_threshold: 0,
    }
}

fn b64(k: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(k)
}

#[tokio::test]
async fn automatic_rotation_before_the_encryption_limit() {
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let config = CoreConfig {
        rotation_limit: 20,
        ..CoreConfig::default()
    };
    let core = Core::new(storage, config).await.unwrap();
    let out = core.init(params(1, 1), None).await.unwrap();
    core.unseal(Some(&b64(&out.keys[0])), false).await.unwrap();
    let un = core.unsealed().unwrap();
    let term = un.view.barrier().key_status().term;
    for i in 0..25 {
        un.view.put(&format!("test/{i}"), b"value").await.unwrap();
    }
    core.maintenance().await.unwrap();
    assert_eq!(un.view.barrier().key_status().term, term + 1);
    // Everything written under the old term still reads.
    for i in 0..25 {
        let v = un.view.get(&format!("test/{i}")).await.unwrap().unwrap();
        assert_eq!(v.as_slice(), b"value");
    }
}

#[tokio::test]
async fn seal_restart_unseal_on_sqlite_keeps_data_and_terms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hush.db");
    let (keys, root) = {
        let storage: Arc<dyn Backend> = Arc::new(SqliteBackend::open(&path).unwrap());
        let core = Core::new(storage, CoreConfig::default()).await.unwrap();
        let out = core.init(params(5, 3), None).await.unwrap();
        let keys: Vec<String> = out.keys.iter().map(|k| b64(k)).collect();
        assert!(core.is_sealed());
        for k in &keys[..2] {
            assert!(core.unseal(Some(k), false).await.unwrap().sealed);
        }
        assert!(!core.unseal(Some(&keys[2]), false).await.unwrap().sealed);
        let un = core.unsealed().unwrap();
        un.view.put("test/kept", b"across restarts").await.unwrap();
        core.rotate().await.unwrap();
        un.view.put("test/after", b"rotation").await.unwrap();
        core.seal().await.unwrap();
        assert!(core.unsealed().is_none());
        (keys, out.root_token.to_string())
    };
    let storage: Arc<dyn Backend> = Arc::new(SqliteBackend::open(&path).unwrap());
    let core = Core::new(storage, CoreConfig::default()).await.unwrap();
    assert!(core.is_initialized() && core.is_sealed());
    for k in &keys[2..5] {
        core.unseal(Some(k), false).await.unwrap();
    }
    let un = core.unsealed().unwrap();
    assert_eq!(un.view.barrier().key_status().term, 2);
    assert_eq!(
        un.view.get("test/kept").await.unwrap().unwrap().as_slice(),
        b"across restarts"
    );
    assert_eq!(
        un.view.get("test/after").await.unwrap().unwrap().as_slice(),
        b"rotation"
    );
    // The root token from init still works through the pipeline.
    let resp = core
        .handle(Request::new(Operation::Read, "sys/key-status").with_token(root))
        .await
        .unwrap();
    assert_eq!(resp.data.unwrap()["term"], 2);
}

#[tokio::test]
async fn bad_unseal_input_changes_nothing() {
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let core = Core::new(storage, CoreConfig::default()).await.unwrap();
    assert!(matches!(
        core.unseal(Some("abc"), false).await,
        Err(CoreError::NotInitialized)
    ));
    let out = core.init(params(3, 2), None).await.unwrap();
    assert!(core.init(params(3, 2), None).await.is_err());
    // Wrong length, not an encoding, and a share of another initialization.
    for bad in ["abcd", "!!!not-a-key!!!", &"ab".repeat(33)] {
        let e = core.unseal(Some(bad), false).await.unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        assert_eq!(core.seal_status().progress, 0);
    }
    // The same share twice does not count twice.
    let k0 = b64(&out.keys[0]);
    core.unseal(Some(&k0), false).await.unwrap();
    assert_eq!(core.unseal(Some(&k0), false).await.unwrap().progress, 1);
    assert!(core.is_sealed());
    let k1 = b64(&out.keys[1]);
    assert!(!core.unseal(Some(&k1), false).await.unwrap().sealed);
}

#[tokio::test]
async fn a_corrupted_share_is_refused_and_progress_resets() {
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let core = Core::new(storage, CoreConfig::default()).await.unwrap();
    let out = core.init(params(3, 2), None).await.unwrap();
    let mut bad = out.keys[1].to_vec();
    bad[5] ^= 0x40;
    core.unseal(Some(&b64(&out.keys[0])), false).await.unwrap();
    // Unknown to the share digests: refused before it can spoil the reconstruction.
    assert!(core.unseal(Some(&b64(&bad)), false).await.is_err());
    assert!(core.is_sealed());
    assert!(
        !core
            .unseal(Some(&b64(&out.keys[2])), false)
            .await
            .unwrap()
            .sealed
    );
}

/// An audit device that cannot write.
struct BrokenDevice;

fn disk_full() -> hush_core::audit::AuditDeviceError {
    hush_audit::AuditError::Write {
        device: "broken".into(),
        source: Arc::new(std::io::Error::other("disk full")),
    }
    .into()
}

#[async_trait::async_trait]
impl hush_core::audit::AuditDevice for BrokenDevice {
    fn path(&self) -> &str {
        "broken/"
    }
    async fn log_request(
        &self,
        _req: &Request,
        _token: Option<&hush_core::token::TokenEntry>,
        _error: Option<&CoreError>,
        _when: hush_core::audit::RequestEntry,
    ) -> Result<hush_core::audit::RequestMemo, hush_core::audit::AuditDeviceError> {
        Err(disk_full())
    }
    async fn log_response(
        &self,
        _req: &Request,
        _token: Option<&hush_core::token::TokenEntry>,
        _result: &hush_core::Result<hush_core::Response>,
        _memo: hush_core::audit::RequestMemo,
    ) -> Result<(), hush_core::audit::AuditDeviceError> {
        Err(disk_full())
    }
}

#[tokio::test]
async fn a_request_that_cannot_be_audited_fails() {
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let core = Core::new(storage, CoreConfig::default()).await.unwrap();
    let out = core.init(params(1, 1), None).await.unwrap();
    core.unseal(Some(&b64(&out.keys[0])), false).await.unwrap();
    let root = out.root_token.to_string();
    let req = || Request::new(Operation::Read, "sys/key-status").with_token(root.clone());
    assert!(core.handle(req()).await.is_ok());
    core.unsealed().unwrap().audit.add(Arc::new(BrokenDevice));
    let err = core.handle(req()).await.unwrap_err();
    assert_eq!(err.status(), 500);
    assert!(err.to_string().contains("audit"), "{err}");
    // The rotation it would have done is not done either: nothing runs unrecorded.
    let rotate = Request::new(Operation::Update, "sys/rotate").with_token(root.clone());
    assert!(core.handle(rotate).await.is_err());
    assert_eq!(core.unsealed().unwrap().view.barrier().key_status().term, 1);
}

/// Records, for each request entry, the path and by when it had to be written.
#[derive(Default)]
struct RecordingDevice(parking_lot::Mutex<Vec<(String, hush_core::audit::RequestEntry)>>);

#[async_trait::async_trait]
impl hush_core::audit::AuditDevice for RecordingDevice {
    fn path(&self) -> &str {
        "recording/"
    }
    async fn log_request(
        &self,
        req: &Request,
        _token: Option<&hush_core::token::TokenEntry>,
        _error: Option<&CoreError>,
        when: hush_core::audit::RequestEntry,
    ) -> Result<hush_core::audit::RequestMemo, hush_core::audit::AuditDeviceError> {
        self.0.lock().push((req.path.clone(), when));
        Ok(Default::default())
    }
    async fn log_response(
        &self,
        _req: &Request,
        _token: Option<&hush_core::token::TokenEntry>,
        _result: &hush_core::Result<hush_core::Response>,
        _memo: hush_core::audit::RequestMemo,
    ) -> Result<(), hush_core::audit::AuditDeviceError> {
        Ok(())
    }
}

/// An engine whose reads change nothing and whose writes store the body.
struct ReadOnlyReads;

#[async_trait::async_trait]
impl hush_core::engine::LogicalBackend for ReadOnlyReads {
    async fn handle(
        &self,
        req: &hush_core::engine::EngineRequest<'_>,
    ) -> hush_core::Result<hush_core::Response> {
        if req.operation == Operation::Read {
            let mut data = serde_json::Map::new();
            data.insert("path".into(), req.path.into());
            return Ok(hush_core::Response::data(data));
        }
        req.view.put_json(req.path, req.data).await?;
        Ok(hush_core::Response::default())
    }
    fn changes_nothing(&self, _path: &str, operation: Operation) -> bool {
        operation == Operation::Read
    }
}

/// A read that changes nothing may have its request entry written with its response; anything
/// with an effect (a write, a wrapped answer, a use of a limited-use token, a sys call) has it
/// written before the engine runs.
#[tokio::test]
async fn only_reads_that_change_nothing_defer_their_request_entry() {
    use hush_core::audit::RequestEntry::{WithResponse, WriteNow};
    let mut config = CoreConfig::default();
    config.engines.register(
        "readonly",
        Arc::new(|_: &hush_core::engine::MountEntry| {
            let engine: Arc<dyn hush_core::engine::LogicalBackend> = Arc::new(ReadOnlyReads);
            Ok(engine)
        }),
    );
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let core = Core::new(storage, config).await.unwrap();
    let out = core.init(params(1, 1), None).await.unwrap();
    core.unseal(Some(&b64(&out.keys[0])), false).await.unwrap();
    let root = out.root_token.to_string();
    let body = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    core.handle(
        Request::new(Operation::Update, "sys/mounts/ro")
            .with_token(root.clone())
            .with_data(body(serde_json::json!({"type": "readonly"}))),
    )
    .await
    .unwrap();
    let limited = core
        .handle(
            Request::new(Operation::Update, "auth/token/create")
                .with_token(root.clone())
                .with_data(body(serde_json::json!({"num_uses": 5}))),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let device = Arc::new(RecordingDevice::default());
    core.unsealed().unwrap().audit.add(device.clone());

    let read = |path: &str, token: &str| Request::new(Operation::Read, path).with_token(token);
    core.handle(read("ro/a", &root)).await.unwrap();
    core.handle(
        Request::new(Operation::Update, "ro/a")
            .with_token(root.clone())
            .with_data(body(serde_json::json!({"v": 1}))),
    )
    .await
    .unwrap();
    let mut wrapped = read("ro/b", &root);
    wrapped.wrap_ttl = Some(std::time::Duration::from_secs(60));
    core.handle(wrapped).await.unwrap();
    core.handle(read("ro/c", &limited)).await.unwrap();
    core.handle(read("sys/key-status", &root)).await.unwrap();
    // Refused: written before the refusal is returned.
    assert!(core.handle(read("ro/d", "not-a-token")).await.is_err());

    let seen = device.0.lock().clone();
    let expected = [
        ("ro/a", WithResponse),
        ("ro/a", WriteNow),
        ("ro/b", WriteNow),
        ("ro/c", WriteNow),
        ("sys/key-status", WriteNow),
        ("ro/d", WriteNow),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    for ((path, when), (want_path, want_when)) in seen.iter().zip(expected) {
        assert_eq!((path.as_str(), *when), (want_path, want_when));
    }
}

/// A backend that answers nothing; each instance is told apart by its address.
struct Inert;

#[async_trait::async_trait]
impl hush_core::engine::LogicalBackend for Inert {
    async fn handle(
        &self,
        _req: &hush_core::engine::EngineRequest<'_>,
    ) -> hush_core::Result<hush_core::logical::Response> {
        Ok(hush_core::logical::Response::no_content())
    }
}

#[tokio::test]
async fn a_tune_keeps_the_backend_instance_unless_its_options_change() {
    use hush_core::engine::{MountEntry, Registry};
    use hush_core::mounts::{MountTable, TableKind};
    use hush_crypto::{Barrier, Keyring};

    let mut registry = Registry::new();
    registry.register(
        "inert",
        Arc::new(|_e: &MountEntry| {
            Ok(Arc::new(Inert) as Arc<dyn hush_core::engine::LogicalBackend>)
        }),
    );
    let barrier = Arc::new(Barrier::new(Keyring::generate(0).unwrap(), u64::MAX));
    let root = hush_core::view::View::root(Arc::new(MemoryBackend::new()), barrier);
    let table = MountTable::load(TableKind::Secrets, root, registry)
        .await
        .unwrap();
    let entry: MountEntry = serde_json::from_value(serde_json::json!({
        "path": "x/", "type": "inert", "accessor": "inert_1", "uuid": "u-1",
    }))
    .unwrap();
    table.mount(entry).await.unwrap();
    let before = table.get("x/").unwrap();
    // Requests in flight hold the instance's locks: a tune of TTLs or the description keeps it.
    table
        .update("x/", |e| {
            e.description = "tuned".into();
            e.config.default_lease_ttl = 60;
            Ok(())
        })
        .await
        .unwrap();
    let tuned = table.get("x/").unwrap();
    assert!(Arc::ptr_eq(&before.backend, &tuned.backend));
    assert_eq!(tuned.entry.description, "tuned");
    // Changed options build a new instance.
    table
        .update("x/", |e| {
            e.options.insert("version".into(), "2".into());
            Ok(())
        })
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(
        &tuned.backend,
        &table.get("x/").unwrap().backend
    ));
}
