//! vaultrs, a Rust Vault client, against the real `hush` binary in development mode: KV v2
//! (set, read, versions, list, metadata, delete, undelete, destroy) and tokens (create, lookup,
//! renew, revoke). Each test starts its own server on a free port and stops it when done.

use std::collections::HashMap;

use serde_json::{json, Value};
use vaultrs::api::kv2::requests::{SetSecretMetadataRequest, SetSecretRequestOptions};
use vaultrs::api::token::requests::{
    CreateOrphanTokenRequest, CreateRoleTokenRequest, CreateTokenRequest, SetTokenRoleRequest,
};
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{kv2, sys, token};

use hush_testkit::ROOT_TOKEN as ROOT;

/// A `hush server --dev` (the test kit's) that hands out vaultrs clients.
struct DevServer(hush_testkit::DevServer);

impl DevServer {
    async fn start() -> Self {
        // Starting waits on the process, briefly; off the runtime's threads.
        let server = tokio::task::spawn_blocking(hush_testkit::DevServer::start)
            .await
            .expect("start hush");
        DevServer(server)
    }

    fn client(&self, token: &str) -> VaultClient {
        VaultClient::new(
            VaultClientSettingsBuilder::default()
                .address(&self.0.address)
                .token(token)
                .build()
                .expect("client settings"),
        )
        .expect("vault client")
    }
}

/// The HTTP status of a failed call (panics on success or a non-HTTP error). vaultrs reports a
/// body with `errors` as `APIError`, any other non-2xx body (like Vault's 404 with the metadata
/// of a deleted version) as rustify's `ServerResponseError`.
fn status<T: std::fmt::Debug>(r: Result<T, ClientError>) -> u16 {
    match r {
        Err(ClientError::APIError { code, .. }) => code,
        Err(ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        }) => code,
        other => panic!("expected an HTTP error status, got {other:?}"),
    }
}

fn api_errors<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, Vec<String>) {
    match r {
        Err(ClientError::APIError { code, errors }) => (code, errors),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn kv2_versions_metadata_and_deletes() {
    let server = DevServer::start().await;
    let c = server.client(ROOT);

    let v1 = kv2::set(
        &c,
        "secret",
        "app/db",
        &json!({"user": "admin", "password": "p1"}),
    )
    .await
    .unwrap();
    assert_eq!(v1.version, 1);
    assert!(!v1.destroyed);
    assert_eq!(v1.deletion_time, "");
    let v2 = kv2::set(
        &c,
        "secret",
        "app/db",
        &json!({"user": "admin", "password": "p2"}),
    )
    .await
    .unwrap();
    assert_eq!(v2.version, 2);
    kv2::set(&c, "secret", "app/cache/url", &json!({"v": "redis"}))
        .await
        .unwrap();

    let latest: Value = kv2::read(&c, "secret", "app/db").await.unwrap();
    assert_eq!(latest, json!({"user": "admin", "password": "p2"}));
    let first: HashMap<String, String> =
        kv2::read_version(&c, "secret", "app/db", 1).await.unwrap();
    assert_eq!(first["password"], "p1");
    assert_eq!(
        status(kv2::read::<Value>(&c, "secret", "app/missing").await),
        404
    );

    assert_eq!(
        kv2::list(&c, "secret", "app").await.unwrap(),
        vec!["cache/".to_string(), "db".to_string()]
    );

    // Check-and-set.
    let (code, errors) = api_errors(
        kv2::set_with_options(
            &c,
            "secret",
            "app/db",
            &json!({"password": "stale"}),
            SetSecretRequestOptions { cas: 1 },
        )
        .await,
    );
    assert_eq!(code, 400);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("check-and-set parameter did not match the current version")),
        "{errors:?}"
    );
    let v3 = kv2::set_with_options(
        &c,
        "secret",
        "app/db",
        &json!({"user": "admin", "password": "p3"}),
        SetSecretRequestOptions { cas: 2 },
    )
    .await
    .unwrap();
    assert_eq!(v3.version, 3);

    // Metadata.
    let md = kv2::read_metadata(&c, "secret", "app/db").await.unwrap();
    assert_eq!(md.current_version, 3);
    assert_eq!(md.versions.len(), 3);
    assert!(!md.cas_required);
    assert_eq!(md.delete_version_after, "0s");
    assert_eq!(md.created_time, md.versions["1"].created_time);
    kv2::set_metadata(
        &c,
        "secret",
        "app/db",
        Some(
            SetSecretMetadataRequest::builder()
                .max_versions(5u64)
                .custom_metadata(HashMap::from([("owner".to_string(), "ops".to_string())])),
        ),
    )
    .await
    .unwrap();
    let md = kv2::read_metadata(&c, "secret", "app/db").await.unwrap();
    assert_eq!(md.max_versions, 5);
    assert_eq!(
        md.custom_metadata,
        Some(HashMap::from([("owner".to_string(), "ops".to_string())]))
    );

    // Soft delete of the latest version, then undelete.
    kv2::delete_latest(&c, "secret", "app/db").await.unwrap();
    assert_eq!(
        status(kv2::read::<Value>(&c, "secret", "app/db").await),
        404
    );
    let md = kv2::read_metadata(&c, "secret", "app/db").await.unwrap();
    assert_ne!(md.versions["3"].deletion_time, "");
    kv2::undelete_versions(&c, "secret", "app/db", vec![3])
        .await
        .unwrap();
    let back: HashMap<String, String> = kv2::read(&c, "secret", "app/db").await.unwrap();
    assert_eq!(back["password"], "p3");

    // Delete specific versions, destroy one for good.
    kv2::delete_versions(&c, "secret", "app/db", vec![2])
        .await
        .unwrap();
    assert_eq!(
        status(kv2::read_version::<Value>(&c, "secret", "app/db", 2).await),
        404
    );
    kv2::destroy_versions(&c, "secret", "app/db", vec![1])
        .await
        .unwrap();
    kv2::undelete_versions(&c, "secret", "app/db", vec![1, 2])
        .await
        .unwrap();
    assert_eq!(
        status(kv2::read_version::<Value>(&c, "secret", "app/db", 1).await),
        404
    );
    let two: HashMap<String, String> = kv2::read_version(&c, "secret", "app/db", 2).await.unwrap();
    assert_eq!(two["password"], "p2");
    let md = kv2::read_metadata(&c, "secret", "app/db").await.unwrap();
    assert!(md.versions["1"].destroyed);
    assert!(!md.versions["2"].destroyed);

    // The mount's configuration.
    let cfg = kv2::config::read(&c, "secret").await.unwrap();
    assert!(!cfg.cas_required);

    // Everything gone.
    kv2::delete_metadata(&c, "secret", "app/db").await.unwrap();
    assert_eq!(
        status(kv2::read_metadata(&c, "secret", "app/db").await),
        404
    );
    assert_eq!(
        status(kv2::read::<Value>(&c, "secret", "app/db").await),
        404
    );
    assert_eq!(
        kv2::list(&c, "secret", "app").await.unwrap(),
        vec!["cache/".to_string()]
    );
}

#[tokio::test]
async fn tokens_create_lookup_renew_revoke() {
    let server = DevServer::start().await;
    let root = server.client(ROOT);
    sys::policy::set(
        &root,
        "app",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    )
    .await
    .unwrap();
    kv2::set(&root, "secret", "app/db", &json!({"password": "p"}))
        .await
        .unwrap();

    let auth = token::new(
        &root,
        Some(
            CreateTokenRequest::builder()
                .policies(vec!["app".to_string()])
                .ttl("1h")
                .meta(HashMap::from([("team".to_string(), "blue".to_string())])),
        ),
    )
    .await
    .unwrap();
    assert_eq!(auth.policies, vec!["app", "default"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable);
    assert!(!auth.orphan);
    assert_eq!(auth.token_type, "service");

    let info = token::lookup(&root, &auth.client_token).await.unwrap();
    assert_eq!(info.id, auth.client_token);
    assert_eq!(info.accessor, auth.accessor);
    assert_eq!(info.policies, vec!["app", "default"]);
    assert_eq!(info.path, "auth/token/create");
    assert!(!info.orphan);
    assert_eq!(info.creation_ttl, 3600);
    assert!(info.ttl > 3500 && info.ttl <= 3600, "ttl {}", info.ttl);
    assert!(info.expire_time.is_some());
    assert_eq!(
        info.meta,
        Some(HashMap::from([("team".to_string(), "blue".to_string())]))
    );
    let by_accessor = token::lookup_accessor(&root, &auth.accessor).await.unwrap();
    assert_eq!(by_accessor.id, "");
    assert_eq!(by_accessor.policies, vec!["app", "default"]);

    // The new token works within its policy.
    let mut app = server.client(&auth.client_token);
    let me = token::lookup_self(&app).await.unwrap();
    assert_eq!(me.accessor, auth.accessor);
    let secret: HashMap<String, String> = kv2::read(&app, "secret", "app/db").await.unwrap();
    assert_eq!(secret["password"], "p");
    assert_eq!(
        status(kv2::set(&app, "secret", "app/db", &json!({"password": "x"})).await),
        403
    );
    assert_eq!(
        status(kv2::read::<Value>(&app, "secret", "other/db").await),
        403
    );

    // Renewals.
    let renewed = token::renew(&root, &auth.client_token, Some("2h"))
        .await
        .unwrap();
    assert_eq!(renewed.lease_duration, 7200);
    let renewed = token::renew_self(&app, Some("30m")).await.unwrap();
    assert_eq!(renewed.lease_duration, 1800);
    let ttl = token::lookup_self(&app).await.unwrap().ttl;
    assert!(ttl > 1700 && ttl <= 1800, "ttl {ttl}");

    // An orphan and a role token.
    let orphan = token::new_orphan(
        &root,
        Some(CreateOrphanTokenRequest::builder().policies(vec!["app".to_string()])),
    )
    .await
    .unwrap();
    assert!(orphan.orphan);
    assert!(
        token::lookup(&root, &orphan.client_token)
            .await
            .unwrap()
            .orphan
    );
    token::role::set(
        &root,
        "ci",
        Some(
            SetTokenRoleRequest::builder()
                .allowed_policies(vec!["app".to_string()])
                .path_suffix("v1"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        token::role::list(&root).await.unwrap().keys,
        vec!["ci".to_string()]
    );
    let role = token::role::read(&root, "ci").await.unwrap();
    assert_eq!(role.allowed_policies, vec!["app"]);
    assert_eq!(role.path_suffix, "v1");
    let from_role = token::new_role(&root, "ci", Some(&mut CreateRoleTokenRequest::builder()))
        .await
        .unwrap();
    assert_eq!(from_role.policies, vec!["app", "default"]);
    let info = token::lookup(&root, &from_role.client_token).await.unwrap();
    assert_eq!(info.path, "auth/token/create/ci/v1");
    assert_eq!(info.role.as_deref(), Some("ci"));

    // Revocation: by token, by accessor, by itself.
    token::revoke(&root, &auth.client_token).await.unwrap();
    assert_eq!(status(token::lookup_self(&app).await), 403);
    app.set_token(&orphan.client_token);
    token::lookup_self(&app).await.unwrap();
    token::revoke_accessor(&root, &orphan.accessor)
        .await
        .unwrap();
    assert_eq!(status(token::lookup_self(&app).await), 403);
    let role_client = server.client(&from_role.client_token);
    token::revoke_self(&role_client).await.unwrap();
    assert_eq!(status(token::lookup_self(&role_client).await), 403);
    // Root is unaffected.
    assert_eq!(
        token::lookup_self(&root).await.unwrap().policies,
        vec!["root"]
    );
}
