//! The methods as the core's router sees them, over a real view (memory storage + barrier):
//! which paths need no token, and which name failed logins count against for the lockout.

use std::sync::Arc;

use hush_auth::AuthOptions;
use hush_core::engine::{EngineRequest, LogicalBackend, MountEntry, Registry};
use hush_core::logical::Operation;
use hush_core::view::View;
use hush_crypto::{Barrier, Keyring};
use hush_storage::{Backend, MemoryBackend};
use serde_json::{json, Map, Value};

use crate::helpers::obj;

fn view() -> View {
    let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let barrier = Arc::new(Barrier::new(Keyring::generate(0).unwrap(), 1 << 30));
    View::root(storage, barrier).sub("auth/test/")
}

fn entry(kind: &str) -> MountEntry {
    MountEntry {
        path: format!("{kind}/"),
        kind: kind.into(),
        description: String::new(),
        accessor: format!("{kind}_test"),
        uuid: "test".into(),
        config: Default::default(),
        options: Default::default(),
        local: false,
        seal_wrap: false,
        created_time: 0,
    }
}

fn backend(kind: &str) -> Arc<dyn LogicalBackend> {
    let mut r = Registry::new();
    hush_auth::register_with(&mut r, AuthOptions::default());
    r.create(&entry(kind)).unwrap()
}

fn lockout(
    b: &dyn LogicalBackend,
    kind: &str,
    path: &str,
    data: &Map<String, Value>,
) -> Option<String> {
    let v = view();
    let m = entry(kind);
    let req = EngineRequest::new("t", Operation::Update, path, data, &v, &m);
    b.lockout_key(&req)
}

#[test]
fn registry_knows_every_method() {
    let mut r = Registry::new();
    hush_auth::register(&mut r);
    assert_eq!(
        r.kinds(),
        ["approle", "jwt", "kubernetes", "oidc", "userpass"]
    );
}

#[test]
fn login_paths_are_unauthenticated_and_nothing_else() {
    let cases = [
        ("userpass", "login/alice", true),
        ("userpass", "users/alice", false),
        ("approle", "login", true),
        ("approle", "role/x/secret-id", false),
        ("kubernetes", "login", true),
        ("kubernetes", "config", false),
        ("jwt", "login", true),
        ("jwt", "config", false),
        ("oidc", "login", true),
    ];
    for (kind, path, open) in cases {
        assert_eq!(
            backend(kind).is_unauthenticated(path),
            open,
            "{kind} {path}"
        );
    }
}

#[test]
fn lockout_keys() {
    let none = Map::new();
    let up = backend("userpass");
    // The pipeline hands the backend its canonical path: user names in lower case.
    let canonical = up.canonical_path("login/Alice".into()).unwrap();
    assert_eq!(canonical, "login/alice");
    assert_eq!(
        lockout(up.as_ref(), "userpass", &canonical, &none).as_deref(),
        Some("alice")
    );
    assert!(up.canonical_path("login/ alice".into()).is_err());
    assert_eq!(lockout(up.as_ref(), "userpass", "users/alice", &none), None);
    let ar = backend("approle");
    let body = obj(json!({"role_id": "rid-1", "secret_id": "s"}));
    assert_eq!(
        lockout(ar.as_ref(), "approle", "login", &body).as_deref(),
        Some("rid-1")
    );
    assert_eq!(lockout(ar.as_ref(), "approle", "login", &none), None);
    let k8s = backend("kubernetes");
    let body = obj(json!({"role": "web", "jwt": "x"}));
    assert_eq!(lockout(k8s.as_ref(), "kubernetes", "login", &body), None);
}

#[tokio::test]
async fn a_login_returns_auth_without_a_token() {
    // Without the core, the method's own answer: an auth block whose token the core fills in.
    let up = backend("userpass");
    let v = view();
    let m = entry("userpass");
    let create = obj(json!({"password": "pw", "token_policies": "p", "token_period": "1h"}));
    let req = EngineRequest::new("1", Operation::Create, "users/zoe", &create, &v, &m);
    assert!(!up.exists(&req).await.unwrap());
    up.handle(&req).await.unwrap();
    assert!(up.exists(&req).await.unwrap());
    let login = obj(json!({"password": "pw"}));
    let req = EngineRequest::new("2", Operation::Update, "login/zoe", &login, &v, &m);
    let auth = up.handle(&req).await.unwrap().auth.unwrap();
    assert!(auth.client_token.is_empty());
    assert_eq!(auth.policies, ["p"]);
    assert_eq!(auth.issue.period, 3600);
    assert_eq!(auth.issue.display_name, "userpass-zoe");
    assert_eq!(auth.token_type, "service");
    assert_eq!(auth.metadata.unwrap()["username"], "zoe");
}
