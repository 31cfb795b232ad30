//! Kubernetes: logins checked by an HTTPS TokenReview server started by the test. The server
//! verifies real service-account JWTs (RS256, signed by the test's "cluster" key), checks the
//! reviewer's bearer token and answers TokenReview JSON like the API server does.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use hush_auth::AuthOptions;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{json, Value};

use crate::helpers::{data, Harness};

const REVIEWER: &str = "reviewer-service-account-jwt";

struct Cluster {
    url: String,
    ca_pem: String,
    signing: EncodingKey,
    reviews: Arc<AtomicUsize>,
}

struct ApiState {
    verify: DecodingKey,
    reviews: Arc<AtomicUsize>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn json_response(status: u16, v: Value) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

/// What the API server answers for a TokenReview.
fn review(state: &ApiState, body: &Value) -> Value {
    let token = body
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let audiences: Vec<String> = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut v = Validation::new(Algorithm::RS256);
    if audiences.is_empty() {
        v.validate_aud = false;
    } else {
        v.set_audience(&audiences);
    }
    let unauthenticated = |error: &str| {
        json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": null}, "spec": {"token": token},
               "status": {"user": {}, "error": error}})
    };
    let claims = match jsonwebtoken::decode::<Value>(token, &state.verify, &v) {
        Ok(d) => d.claims,
        Err(e) => return unauthenticated(&format!("[invalid bearer token, {e}]")),
    };
    let (ns, name, uid) = match (
        claims.pointer("/kubernetes.io/namespace"),
        claims.pointer("/kubernetes.io/serviceaccount/name"),
    ) {
        (Some(ns), Some(name)) => (
            ns.as_str().unwrap().to_string(),
            name.as_str().unwrap().to_string(),
            claims
                .pointer("/kubernetes.io/serviceaccount/uid")
                .unwrap()
                .clone(),
        ),
        _ => (
            claims["kubernetes.io/serviceaccount/namespace"]
                .as_str()
                .unwrap()
                .to_string(),
            claims["kubernetes.io/serviceaccount/service-account.name"]
                .as_str()
                .unwrap()
                .to_string(),
            claims["kubernetes.io/serviceaccount/service-account.uid"].clone(),
        ),
    };
    let auds = if audiences.is_empty() {
        claims.get("aud").cloned().unwrap_or(json!([]))
    } else {
        json!(audiences)
    };
    json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"creationTimestamp": null}, "spec": {"token": token},
           "status": {"authenticated": true,
                      "user": {"username": format!("system:serviceaccount:{ns}:{name}"),
                               "uid": uid,
                               "groups": ["system:serviceaccounts",
                                          format!("system:serviceaccounts:{ns}"),
                                          "system:authenticated"]},
                      "audiences": auds}})
}

async fn serve(
    state: Arc<ApiState>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    if req.method() != hyper::Method::POST
        || req.uri().path() != "/apis/authentication.k8s.io/v1/tokenreviews"
    {
        return Ok(json_response(404, json!({"kind": "Status", "code": 404})));
    }
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {REVIEWER}"));
    if !authorized {
        return Ok(json_response(
            401,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
        ));
    }
    let bytes = axum::body::to_bytes(Body::new(req.into_body()), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["kind"], "TokenReview");
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
    state.reviews.fetch_add(1, Ordering::SeqCst);
    Ok(json_response(201, review(&state, &body)))
}

/// Starts a TokenReview server over HTTPS with a certificate from a fresh CA.
async fn start_cluster() -> Cluster {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hush test cluster CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let sa_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let signing = EncodingKey::from_rsa_pem(sa_key.serialize_pem().as_bytes()).unwrap();
    let verify = DecodingKey::from_rsa_pem(sa_key.public_key_pem().as_bytes()).unwrap();
    let reviews = Arc::new(AtomicUsize::new(0));
    let state = Arc::new(ApiState {
        verify,
        reviews: reviews.clone(),
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| serve(state.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Cluster {
        url: format!("https://127.0.0.1:{port}"),
        ca_pem: ca_cert.pem(),
        signing,
        reviews,
    }
}

impl Cluster {
    /// A projected service-account token, as the kubelet mounts it.
    fn token(&self, ns: &str, name: &str, aud: &str) -> String {
        let t = now();
        let claims = json!({
            "aud": [aud], "exp": t + 3600, "iat": t, "nbf": t,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "kubernetes.io": {"namespace": ns,
                              "pod": {"name": format!("{name}-0"), "uid": "pod-uid-1"},
                              "serviceaccount": {"name": name, "uid": format!("uid-{ns}-{name}")}},
            "sub": format!("system:serviceaccount:{ns}:{name}"),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.signing).unwrap()
    }

    /// A legacy secret-based token (no expiry, secret name in the claims).
    fn legacy_token(&self, ns: &str, name: &str) -> String {
        let claims = json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": ns,
            "kubernetes.io/serviceaccount/secret.name": format!("{name}-token-x7k2p"),
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": "legacy-uid",
            "sub": format!("system:serviceaccount:{ns}:{name}"),
            "exp": now() + 600,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.signing).unwrap()
    }
}

async fn configured(cluster: &Cluster) -> Harness {
    let h = Harness::new().await;
    h.enable("kubernetes", "kubernetes").await;
    h.write(
        "auth/kubernetes/config",
        json!({"kubernetes_host": cluster.url, "kubernetes_ca_cert": cluster.ca_pem,
               "token_reviewer_jwt": REVIEWER}),
    )
    .await
    .unwrap();
    h
}

#[tokio::test]
async fn login_with_a_service_account_token() {
    let cluster = start_cluster().await;
    let h = configured(&cluster).await;
    // The reviewer JWT is never read back.
    let cfg = h.read("auth/kubernetes/config").await.unwrap();
    let d = data(&cfg);
    assert_eq!(d["kubernetes_host"], cluster.url.as_str());
    assert_eq!(d["token_reviewer_jwt_set"], true);
    assert!(!serde_json::to_string(d).unwrap().contains(REVIEWER));

    h.write(
        "auth/kubernetes/role/web",
        json!({"bound_service_account_names": ["web"],
               "bound_service_account_namespaces": ["apps"],
               "policies": ["web-read"], "ttl": "1h", "audience": "https://kubernetes.default.svc"}),
    )
    .await
    .unwrap();
    let role = h.read("auth/kubernetes/role/web").await.unwrap();
    assert_eq!(data(&role)["token_policies"], json!(["web-read"]));
    assert_eq!(data(&role)["audience"], "https://kubernetes.default.svc");
    assert_eq!(
        data(&h.list("auth/kubernetes/role").await.unwrap())["keys"],
        json!(["web"])
    );

    let jwt = cluster.token("apps", "web", "https://kubernetes.default.svc");
    let auth = h
        .login_ok("auth/kubernetes/login", json!({"role": "web", "jwt": jwt}))
        .await;
    assert_eq!(auth.policies, ["default", "web-read"]);
    assert_eq!(auth.lease_duration, 3600);
    let meta = auth.metadata.unwrap();
    assert_eq!(meta["role"], "web");
    assert_eq!(meta["service_account_name"], "web");
    assert_eq!(meta["service_account_namespace"], "apps");
    assert_eq!(meta["service_account_uid"], "uid-apps-web");
    assert_eq!(meta["service_account_secret_name"], "");
    let me = h.lookup_self(&auth.client_token).await;
    assert_eq!(me["display_name"], "kubernetes-apps-web");
    assert_eq!(cluster.reviews.load(Ordering::SeqCst), 1);

    // The login's identity alias is the service account's UID (Vault's default
    // alias_name_source), with the account's fields as its metadata.
    let accessor = data(&h.read("sys/auth").await.unwrap())["kubernetes/"]["accessor"].clone();
    let entity = h
        .write(
            "identity/lookup/entity",
            json!({"alias_name": "uid-apps-web", "alias_mount_accessor": accessor}),
        )
        .await
        .unwrap();
    let entity = data(&entity);
    assert_eq!(entity["id"], json!(auth.entity_id));
    assert_eq!(
        entity["aliases"][0]["metadata"],
        json!({"service_account_name": "web", "service_account_namespace": "apps",
               "service_account_secret_name": "", "service_account_uid": "uid-apps-web"})
    );
    // With serviceaccount_name, it is `namespace/name`: another alias, another entity.
    h.write(
        "auth/kubernetes/role/web",
        json!({"alias_name_source": "serviceaccount_name"}),
    )
    .await
    .unwrap();
    let by_name = h
        .login_ok("auth/kubernetes/login", json!({"role": "web", "jwt": jwt}))
        .await;
    assert_ne!(by_name.entity_id, auth.entity_id);
    let found = h
        .write(
            "identity/lookup/entity",
            json!({"alias_name": "apps/web", "alias_mount_accessor": accessor}),
        )
        .await
        .unwrap();
    assert_eq!(data(&found)["id"], json!(by_name.entity_id));

    // A legacy token carries its secret's name.
    h.write(
        "auth/kubernetes/role/legacy",
        json!({"bound_service_account_names": "web", "bound_service_account_namespaces": "apps"}),
    )
    .await
    .unwrap();
    let auth = h
        .login_ok(
            "auth/kubernetes/login",
            json!({"role": "legacy", "jwt": cluster.legacy_token("apps", "web")}),
        )
        .await;
    assert_eq!(
        auth.metadata.unwrap()["service_account_secret_name"],
        "web-token-x7k2p"
    );
}

#[tokio::test]
async fn unauthenticated_reviews_and_wrong_bindings_fail() {
    let cluster = start_cluster().await;
    let h = configured(&cluster).await;
    h.write(
        "auth/kubernetes/role/web",
        json!({"bound_service_account_names": "web", "bound_service_account_namespaces": "apps"}),
    )
    .await
    .unwrap();

    // Signed by a key the cluster does not know: the TokenReview says "not authenticated".
    let other_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let forger = EncodingKey::from_rsa_pem(other_key.serialize_pem().as_bytes()).unwrap();
    let t = now();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &json!({"exp": t + 60, "kubernetes.io": {"namespace": "apps",
                "serviceaccount": {"name": "web", "uid": "x"}}}),
        &forger,
    )
    .unwrap();
    let msg = h
        .login_fails(
            "auth/kubernetes/login",
            json!({"role": "web", "jwt": forged}),
            400,
            "did not authenticate",
        )
        .await;
    assert!(msg.contains("invalid bearer token"), "{msg}");

    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web", "jwt": cluster.token("other-ns", "web", "x")}),
        400,
        "namespace \"other-ns\" is not allowed",
    )
    .await;
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web", "jwt": cluster.token("apps", "db", "x")}),
        400,
        "service account name \"db\" is not allowed",
    )
    .await;
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "nope", "jwt": cluster.token("apps", "web", "x")}),
        400,
        "invalid role name \"nope\"",
    )
    .await;
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web", "jwt": "not-a-jwt"}),
        400,
        "not a JWT",
    )
    .await;
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web"}),
        400,
        "missing 'jwt'",
    )
    .await;

    // The role's audience is sent in the review; a token for another audience fails there.
    h.write(
        "auth/kubernetes/role/aud",
        json!({"bound_service_account_names": "web", "bound_service_account_namespaces": "apps",
               "audience": "hush"}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "aud", "jwt": cluster.token("apps", "web", "not-hush")}),
        400,
        "did not authenticate",
    )
    .await;
    h.login_ok(
        "auth/kubernetes/login",
        json!({"role": "aud", "jwt": cluster.token("apps", "web", "hush")}),
    )
    .await;
}

#[tokio::test]
async fn glob_bindings() {
    let cluster = start_cluster().await;
    let h = configured(&cluster).await;
    h.write(
        "auth/kubernetes/role/teams",
        json!({"bound_service_account_names": ["app-*", "*-worker"],
               "bound_service_account_namespaces": ["team-*"]}),
    )
    .await
    .unwrap();
    for (ns, name) in [("team-a", "app-web"), ("team-b", "batch-worker")] {
        let auth = h
            .login_ok(
                "auth/kubernetes/login",
                json!({"role": "teams", "jwt": cluster.token(ns, name, "x")}),
            )
            .await;
        assert_eq!(auth.metadata.unwrap()["service_account_namespace"], ns);
    }
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "teams", "jwt": cluster.token("team-a", "web-app", "x")}),
        400,
        "bound_service_account_names",
    )
    .await;
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "teams", "jwt": cluster.token("default", "app-web", "x")}),
        400,
        "bound_service_account_namespaces",
    )
    .await;
    // Binding every account of every namespace is allowed, as in Vault, with a warning.
    let r = h
        .write(
            "auth/kubernetes/role/all",
            json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "*"}),
        )
        .await
        .unwrap();
    assert!(r.warnings[0].contains("every service account"), "{r:?}");
    h.login_ok(
        "auth/kubernetes/login",
        json!({"role": "all", "jwt": cluster.token("default", "anything", "x")}),
    )
    .await;
}

#[tokio::test]
async fn unreachable_cluster_and_bad_reviewer() {
    let cluster = start_cluster().await;
    let h = configured(&cluster).await;
    h.write(
        "auth/kubernetes/role/web",
        json!({"bound_service_account_names": "web", "bound_service_account_namespaces": "apps"}),
    )
    .await
    .unwrap();
    let jwt = cluster.token("apps", "web", "x");

    // Nothing listens on the port of a listener that was just closed.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("https://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    h.write(
        "auth/kubernetes/config",
        json!({"kubernetes_host": dead, "kubernetes_ca_cert": cluster.ca_pem,
               "token_reviewer_jwt": REVIEWER}),
    )
    .await
    .unwrap();
    let msg = h
        .login_fails(
            "auth/kubernetes/login",
            json!({"role": "web", "jwt": jwt}),
            502,
            "could not reach the Kubernetes API",
        )
        .await;
    assert!(msg.contains(&dead), "{msg}");

    // A CA that did not sign the server's certificate: TLS verification fails.
    let other_ca = start_cluster().await.ca_pem;
    h.write(
        "auth/kubernetes/config",
        json!({"kubernetes_host": cluster.url, "kubernetes_ca_cert": other_ca,
               "token_reviewer_jwt": REVIEWER}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web", "jwt": jwt}),
        502,
        "could not reach the Kubernetes API",
    )
    .await;

    // A reviewer token the cluster refuses.
    h.write(
        "auth/kubernetes/config",
        json!({"kubernetes_host": cluster.url, "kubernetes_ca_cert": cluster.ca_pem,
               "token_reviewer_jwt": "wrong-reviewer"}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/kubernetes/login",
        json!({"role": "web", "jwt": jwt}),
        502,
        "HTTP 401",
    )
    .await;
    assert_eq!(cluster.reviews.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn pod_token_and_ca_are_used_when_not_configured() {
    let cluster = start_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{REVIEWER}\n")).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &cluster.ca_pem).unwrap();
    let h = Harness::with_options(AuthOptions {
        kubernetes_service_account_dir: dir.path().to_path_buf(),
        ..AuthOptions::default()
    })
    .await;
    h.enable("k8s", "kubernetes").await;
    h.write("auth/k8s/config", json!({"kubernetes_host": cluster.url}))
        .await
        .unwrap();
    let cfg = h.read("auth/k8s/config").await.unwrap();
    assert_eq!(data(&cfg)["token_reviewer_jwt_set"], false);
    h.write(
        "auth/k8s/role/web",
        json!({"bound_service_account_names": "web", "bound_service_account_namespaces": "apps"}),
    )
    .await
    .unwrap();
    let jwt = cluster.token("apps", "web", "x");
    h.login_ok("auth/k8s/login", json!({"role": "web", "jwt": jwt}))
        .await;

    // With the pod files turned off, the client's own JWT is the bearer: the cluster refuses
    // it, and the login fails as a bad credential. (The CA is configured explicitly.)
    h.write(
        "auth/k8s/config",
        json!({"kubernetes_host": cluster.url, "kubernetes_ca_cert": cluster.ca_pem,
               "disable_local_ca_jwt": true}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/k8s/login",
        json!({"role": "web", "jwt": jwt}),
        400,
        "rejected the service account token",
    )
    .await;
}
