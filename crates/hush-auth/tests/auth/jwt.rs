//! JWT: logins verified against a JWKS served by the test (plain HTTP on 127.0.0.1), OIDC
//! discovery, and fixed public keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::RwLock;
use rcgen::KeyPair;
use serde_json::{json, Value};

use crate::helpers::{data, Harness};

const ISSUER: &str = "https://token.actions.example";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How a private key PEM of one algorithm family becomes a signing key.
type PemLoader = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;

struct Signer {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    public_pem: String,
    /// Raw public key bytes (used for the Ed25519 JWK).
    public_raw: Vec<u8>,
}

impl Signer {
    fn new(alg: Algorithm, kid: &str) -> Signer {
        let (kp, key): (KeyPair, PemLoader) = match alg {
            Algorithm::RS256 => (
                KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
                EncodingKey::from_rsa_pem,
            ),
            Algorithm::ES256 => (
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
                EncodingKey::from_ec_pem,
            ),
            Algorithm::EdDSA => (
                KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
                EncodingKey::from_ed_pem,
            ),
            other => panic!("no test key for {other:?}"),
        };
        Signer {
            kid: kid.to_string(),
            alg,
            key: key(kp.serialize_pem().as_bytes()).unwrap(),
            public_pem: kp.public_key_pem(),
            public_raw: kp.public_key_raw().to_vec(),
        }
    }

    fn jwk(&self) -> Value {
        if self.alg == Algorithm::EdDSA {
            use base64::Engine as _;
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public_raw);
            return json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid,
                          "use": "sig", "alg": "EdDSA"});
        }
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }

    fn sign_without_kid(&self, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key).unwrap()
    }
}

#[derive(Clone)]
struct IdpState {
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    base: String,
}

struct Idp {
    url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(s): State<IdpState>) -> Json<Value> {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *s.keys.read() }))
}

async fn discovery(State(s): State<IdpState>) -> Json<Value> {
    Json(
        json!({"issuer": s.base, "jwks_uri": format!("{}/keys", s.base),
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"]}),
    )
}

/// Starts an identity provider serving `keys` as its JWKS at `/keys`, with OIDC discovery.
async fn start_idp(keys: Vec<Value>) -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let state = IdpState {
        keys: Arc::new(RwLock::new(keys)),
        fetches: Arc::new(AtomicUsize::new(0)),
        base: url.clone(),
    };
    let app = Router::new()
        .route("/keys", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Idp {
        url,
        keys: state.keys,
        fetches: state.fetches,
    }
}

fn claims(extra: Value) -> Value {
    let t = now();
    let mut c = json!({
        "iss": ISSUER, "sub": "repo:acme/api:ref:refs/heads/main", "aud": "hush",
        "iat": t, "nbf": t, "exp": t + 300,
        "repository": "acme/api", "actor": "octocat", "ctx": {"env": "prod-eu"},
        "groups": ["dev", "ops"],
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn jwks_mount(idp: &Idp) -> Harness {
    let h = Harness::new().await;
    h.enable("jwt", "jwt").await;
    h.write(
        "auth/jwt/config",
        json!({"jwks_url": format!("{}/keys", idp.url), "bound_issuer": ISSUER}),
    )
    .await
    .unwrap();
    h.write(
        "auth/jwt/role/ci",
        json!({"role_type": "jwt", "user_claim": "actor", "bound_audiences": ["hush"],
               "groups_claim": "groups",
               "claim_mappings": {"repository": "repo", "/ctx/env": "env"},
               "token_policies": "ci", "token_ttl": "10m"}),
    )
    .await
    .unwrap();
    h
}

#[tokio::test]
async fn rs256_es256_and_eddsa_with_claim_mappings() {
    let signers = [
        Signer::new(Algorithm::RS256, "rsa-1"),
        Signer::new(Algorithm::ES256, "ec-1"),
        Signer::new(Algorithm::EdDSA, "ed-1"),
    ];
    let idp = start_idp(signers.iter().map(Signer::jwk).collect()).await;
    let h = jwks_mount(&idp).await;
    let role = h.read("auth/jwt/role/ci").await.unwrap();
    let d = data(&role);
    assert_eq!(d["role_type"], "jwt");
    assert_eq!(
        d["claim_mappings"],
        json!({"/ctx/env": "env", "repository": "repo"})
    );
    assert_eq!(d["token_ttl"], 600);
    let cfg = h.read("auth/jwt/config").await.unwrap();
    assert_eq!(data(&cfg)["bound_issuer"], ISSUER);

    for s in &signers {
        let auth = h
            .login_ok(
                "auth/jwt/login",
                json!({"role": "ci", "jwt": s.sign(&claims(json!({})))}),
            )
            .await;
        assert_eq!(auth.policies, ["ci", "default"], "{:?}", s.alg);
        assert_eq!(auth.lease_duration, 600);
        let meta = auth.metadata.unwrap();
        assert_eq!(meta["role"], "ci");
        assert_eq!(meta["repo"], "acme/api");
        assert_eq!(meta["env"], "prod-eu");
        let me = h.lookup_self(&auth.client_token).await;
        assert_eq!(me["display_name"], "jwt-octocat");
    }
    // The config write fetched the JWKS once; logins used the cache.
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn key_rotation_refreshes_the_jwks_once() {
    let old = Signer::new(Algorithm::ES256, "2024-01");
    let idp = start_idp(vec![old.jwk()]).await;
    let h = jwks_mount(&idp).await;
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": old.sign(&claims(json!({})))}),
    )
    .await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates: the new key is published, tokens carry its kid.
    let new = Signer::new(Algorithm::RS256, "2024-02");
    idp.keys.write().push(new.jwk());
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": new.sign(&claims(json!({})))}),
    )
    .await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // An unknown kid right after a refresh does not make hush fetch again.
    let ghost = Signer::new(Algorithm::ES256, "ghost");
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": ghost.sign(&claims(json!({})))}),
        400,
        "key ID (kid) \"ghost\" is unknown",
    )
    .await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // A token that names a known kid but was signed by another key.
    let forger = Signer::new(Algorithm::ES256, "2024-01");
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": forger.sign(&claims(json!({})))}),
        400,
        "signature does not verify",
    )
    .await;
}

#[tokio::test]
async fn claim_checks_name_what_failed() {
    let s = Signer::new(Algorithm::ES256, "k1");
    let idp = start_idp(vec![s.jwk()]).await;
    let h = jwks_mount(&idp).await;
    let t = now();
    let cases = [
        (json!({"exp": t - 1000}), "expired"),
        (json!({"nbf": t + 1000}), "not valid yet"),
        (json!({"exp": null}), "no 'exp'"),
        (json!({"aud": "someone-else"}), "bound_audiences"),
        (json!({"iss": "https://evil.example"}), "bound_issuer"),
        (json!({"actor": null}), "user_claim"),
        (json!({"groups": null}), "groups_claim"),
    ];
    for (extra, needle) in cases {
        h.login_fails(
            "auth/jwt/login",
            json!({"role": "ci", "jwt": s.sign(&claims(extra))}),
            400,
            needle,
        )
        .await;
    }
    // Within the leeways: expired 100 s ago, valid 100 s from now.
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": s.sign(&claims(json!({"exp": t - 100})))}),
    )
    .await;
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": s.sign(&claims(json!({"nbf": t + 100})))}),
    )
    .await;

    // bound_subject, and a token with an audience for a role that binds none.
    h.write(
        "auth/jwt/role/subject",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "alice"}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "subject", "jwt": s.sign(&claims(json!({"sub": "bob", "aud": null})))}),
        400,
        "bound_subject",
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "subject", "jwt": s.sign(&claims(json!({"sub": "alice"})))}),
        400,
        "no bound_audiences",
    )
    .await;
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "subject", "jwt": s.sign(&claims(json!({"sub": "alice", "aud": null})))}),
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "ci", "jwt": "a.b.c"}),
        400,
        "not a valid JWT",
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "missing", "jwt": s.sign(&claims(json!({})))}),
        400,
        "could not be found",
    )
    .await;
}

#[tokio::test]
async fn bound_claims_glob_and_string() {
    let s = Signer::new(Algorithm::EdDSA, "ed");
    let idp = start_idp(vec![s.jwk()]).await;
    let h = jwks_mount(&idp).await;
    h.write(
        "auth/jwt/role/deploy",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "hush",
               "bound_claims_type": "glob",
               "bound_claims": {"repository": ["acme/*", "tools/deployer"], "/ctx/env": "prod-*"}}),
    )
    .await
    .unwrap();
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "deploy", "jwt": s.sign(&claims(json!({})))}),
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "deploy",
               "jwt": s.sign(&claims(json!({"repository": "evil/api"})))}),
        400,
        "claim \"repository\" does not match the role's bound_claims",
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "deploy", "jwt": s.sign(&claims(json!({"ctx": {"env": "staging"}})))}),
        400,
        "\"/ctx/env\"",
    )
    .await;
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "deploy", "jwt": s.sign(&claims(json!({"repository": null})))}),
        400,
        "lacks the claim \"repository\"",
    )
    .await;

    // "string" matching is exact: a '*' is just a character.
    h.write(
        "auth/jwt/role/exact",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "hush",
               "bound_claims": {"repository": "acme/*", "groups": "ops"}}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "exact", "jwt": s.sign(&claims(json!({})))}),
        400,
        "bound_claims",
    )
    .await;
    h.login_ok(
        "auth/jwt/login",
        json!({"role": "exact", "jwt": s.sign(&claims(json!({"repository": "acme/*"})))}),
    )
    .await;
}

#[tokio::test]
async fn validation_pubkeys_mode() {
    let rsa = Signer::new(Algorithm::RS256, "unused");
    let ed = Signer::new(Algorithm::EdDSA, "unused");
    let h = Harness::new().await;
    h.enable("jwt", "jwt").await;
    h.write(
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [rsa.public_pem, ed.public_pem],
               "default_role": "ci"}),
    )
    .await
    .unwrap();
    h.write(
        "auth/jwt/role/ci",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["hush"]}),
    )
    .await
    .unwrap();
    // No kid needed, and the role comes from default_role.
    for s in [&rsa, &ed] {
        let auth = h
            .login_ok(
                "auth/jwt/login",
                json!({"jwt": s.sign_without_kid(&claims(json!({})))}),
            )
            .await;
        assert_eq!(auth.metadata.unwrap()["role"], "ci");
    }
    let stranger = Signer::new(Algorithm::ES256, "x");
    h.login_fails(
        "auth/jwt/login",
        json!({"jwt": stranger.sign_without_kid(&claims(json!({})))}),
        400,
        "jwt_validation_pubkeys",
    )
    .await;

    // jwt_supported_algs narrows the algorithms.
    h.write(
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [rsa.public_pem, ed.public_pem],
               "default_role": "ci", "jwt_supported_algs": ["RS256"]}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/jwt/login",
        json!({"jwt": ed.sign_without_kid(&claims(json!({})))}),
        400,
        "does not accept",
    )
    .await;
    h.login_ok(
        "auth/jwt/login",
        json!({"jwt": rsa.sign_without_kid(&claims(json!({})))}),
    )
    .await;
}

#[tokio::test]
async fn oidc_discovery() {
    let s = Signer::new(Algorithm::RS256, "d1");
    let idp = start_idp(vec![s.jwk()]).await;
    let h = Harness::new().await;
    h.enable("oidc", "oidc").await;
    h.write("auth/oidc/config", json!({"oidc_discovery_url": idp.url}))
        .await
        .unwrap();
    h.write(
        "auth/oidc/role/ci",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "hush"}),
    )
    .await
    .unwrap();
    // Without bound_issuer, tokens must come from the discovered issuer.
    h.login_ok(
        "auth/oidc/login",
        json!({"role": "ci", "jwt": s.sign(&claims(json!({"iss": idp.url})))}),
    )
    .await;
    h.login_fails(
        "auth/oidc/login",
        json!({"role": "ci", "jwt": s.sign(&claims(json!({})))}),
        400,
        "issuer",
    )
    .await;
}

#[tokio::test]
async fn oidc_roles_unreachable_jwks_and_bad_config() {
    let s = Signer::new(Algorithm::ES256, "k");
    let idp = start_idp(vec![s.jwk()]).await;
    let h = jwks_mount(&idp).await;
    h.write(
        "auth/jwt/role/browser",
        json!({"user_claim": "sub", "allowed_redirect_uris": ["https://app/callback"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        data(&h.read("auth/jwt/role/browser").await.unwrap())["role_type"],
        "oidc"
    );
    h.login_fails(
        "auth/jwt/login",
        json!({"role": "browser", "jwt": s.sign(&claims(json!({})))}),
        400,
        "OIDC role",
    )
    .await;
    let e = h
        .write(
            "auth/jwt/oidc/auth_url",
            json!({"role": "browser", "redirect_uri": "x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("browser login flow"), "{e}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!(
        "http://127.0.0.1:{}/keys",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let e = h
        .write("auth/jwt/config", json!({"jwks_url": dead}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains(&dead), "{e}");
    let e = h
        .write(
            "auth/jwt/config",
            json!({"jwks_url": format!("{}/keys", idp.url), "jwt_validation_pubkeys": [s.public_pem]}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("exactly one"), "{e}");
    let e = h
        .write(
            "auth/jwt/role/bad",
            json!({"role_type": "jwt", "user_claim": "sub"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("bound constraint"), "{e}");
}
