//! A core with the auth methods registered, and shortcuts for requests.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use hush_auth::AuthOptions;
use hush_core::engine::Registry;
use hush_core::logical::Response;
use hush_core::seal::InitParams;
use hush_core::{Core, CoreConfig, CoreError, Operation, Request};
use hush_storage::{Backend, MemoryBackend};
use serde_json::{Map, Value};

pub struct Harness {
    pub core: Arc<Core>,
    pub root: String,
}

pub fn obj(v: Value) -> Map<String, Value> {
    hush_core::logical::map(v)
}

pub fn data(r: &Response) -> &Map<String, Value> {
    r.data.as_ref().expect("the response has data")
}

impl Harness {
    /// A core whose Kubernetes method looks for pod files in a directory that does not exist.
    pub async fn new() -> Harness {
        Harness::with_options(AuthOptions {
            kubernetes_service_account_dir: "/nonexistent/hush-test-serviceaccount".into(),
            ..AuthOptions::default()
        })
        .await
    }

    pub async fn with_options(options: AuthOptions) -> Harness {
        let storage: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let mut auth_methods = Registry::new();
        hush_auth::register_with(&mut auth_methods, options);
        let core = Core::new(
            storage,
            CoreConfig {
                auth_methods,
                ..CoreConfig::default()
            },
        )
        .await
        .unwrap();
        let out = core
            .init(
                InitParams {
                    secret_shares: 1,
                    secret_threshold: 1,
                    recovery_shares: 0,
                    recovery_threshold: 0,
                },
                None,
            )
            .await
            .unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode(&out.keys[0]);
        core.unseal(Some(&key), false).await.unwrap();
        Harness {
            core,
            root: out.root_token.to_string(),
        }
    }

    pub async fn enable(&self, path: &str, kind: &str) {
        self.write(
            &format!("sys/auth/{path}"),
            serde_json::json!({ "type": kind }),
        )
        .await
        .unwrap();
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        token: Option<&str>,
        addr: Option<IpAddr>,
    ) -> Result<Response, CoreError> {
        let mut req = Request::new(op, path).with_data(obj(body));
        if let Some(t) = token {
            req = req.with_token(t);
        }
        req.client_addr = addr;
        self.core.handle(req).await
    }

    pub async fn write(&self, path: &str, body: Value) -> Result<Response, CoreError> {
        self.call(Operation::Update, path, body, Some(&self.root), None)
            .await
    }

    pub async fn read(&self, path: &str) -> Result<Response, CoreError> {
        self.call(Operation::Read, path, Value::Null, Some(&self.root), None)
            .await
    }

    pub async fn list(&self, path: &str) -> Result<Response, CoreError> {
        self.call(Operation::List, path, Value::Null, Some(&self.root), None)
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Response, CoreError> {
        self.call(Operation::Delete, path, Value::Null, Some(&self.root), None)
            .await
    }

    /// A login without a token, from `addr`.
    pub async fn login_from(
        &self,
        path: &str,
        body: Value,
        addr: Option<IpAddr>,
    ) -> Result<Response, CoreError> {
        self.call(Operation::Update, path, body, None, addr).await
    }

    pub async fn login(&self, path: &str, body: Value) -> Result<Response, CoreError> {
        self.login_from(path, body, Some("127.0.0.1".parse().unwrap()))
            .await
    }

    /// A successful login: the token the core issued and the auth block.
    pub async fn login_ok(&self, path: &str, body: Value) -> hush_core::logical::AuthResponse {
        let resp = self.login(path, body).await.unwrap();
        let auth = resp.auth.expect("a login returns an auth block");
        assert!(!auth.client_token.is_empty(), "the core issued a token");
        assert!(!auth.accessor.is_empty());
        auth
    }

    /// How many tokens exist.
    pub async fn token_count(&self) -> usize {
        match self.list("auth/token/accessors").await {
            Ok(r) => data(&r)["keys"].as_array().map_or(0, Vec::len),
            Err(e) if e.status() == 404 => 0,
            Err(e) => panic!("listing token accessors failed: {e}"),
        }
    }

    /// Checks that a login fails with `status` and a message containing `needle`, and that no
    /// token was issued.
    pub async fn login_fails_from(
        &self,
        path: &str,
        body: Value,
        addr: Option<IpAddr>,
        status: u16,
        needle: &str,
    ) -> String {
        let before = self.token_count().await;
        let err = self
            .login_from(path, body, addr)
            .await
            .expect_err("the login should fail");
        let msg = err.to_string();
        assert_eq!(err.status(), status, "status of: {msg}");
        assert!(
            msg.contains(needle),
            "\"{msg}\" should mention \"{needle}\""
        );
        assert_eq!(self.token_count().await, before, "no token may be issued");
        msg
    }

    pub async fn login_fails(&self, path: &str, body: Value, status: u16, needle: &str) -> String {
        self.login_fails_from(
            path,
            body,
            Some("127.0.0.1".parse().unwrap()),
            status,
            needle,
        )
        .await
    }

    /// Looks the token up with itself, as a client does after logging in.
    pub async fn lookup_self(&self, token: &str) -> Map<String, Value> {
        let r = self
            .call(
                Operation::Read,
                "auth/token/lookup-self",
                Value::Null,
                Some(token),
                None,
            )
            .await
            .unwrap();
        data(&r).clone()
    }

    /// Every (key, decrypted value) below the mount at `auth/<path>/`.
    pub async fn mount_records(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        let un = self.core.unsealed().unwrap();
        let mounted = un.auth.get(path).expect("the auth mount exists");
        let view = &mounted.view;
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            for name in view.list(&dir).await.unwrap() {
                let key = format!("{dir}{name}");
                if name.ends_with('/') {
                    stack.push(key);
                } else {
                    let v = view.get(&key).await.unwrap().unwrap();
                    out.push((key, v.to_vec()));
                }
            }
        }
        out
    }
}
