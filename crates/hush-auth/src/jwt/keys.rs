//! Where the JWT method gets its verification keys: a JWKS URL, OIDC discovery (which names a
//! JWKS URL), or fixed PEM public keys; and the cache that keeps a fetched JWKS between logins.
//!
//! A JWKS is refetched when it is older than `jwks_max_age`, and when a token names a `kid` the
//! cached set does not have (key rotation at the identity provider) — but such forced refreshes
//! happen at most once per `jwks_min_refresh_interval`, so tokens with made-up key IDs cannot make
//! hush hammer the provider.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use super::JwtConfig;
use crate::http::{get_json, Clients};

/// The algorithms hush verifies. Symmetric (HS*) algorithms are never accepted: a JWKS or
/// public key is public, and accepting HMAC with it would let anyone forge tokens.
pub const SUPPORTED_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Parses an algorithm name, refusing the symmetric ones.
pub(crate) fn parse_alg(name: &str) -> Option<Algorithm> {
    if !SUPPORTED_ALGS.contains(&name) {
        return None;
    }
    Algorithm::from_str(name).ok()
}

/// One verification key.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    /// The JWK's `kid`, if any.
    pub kid: Option<String>,
    /// The JWK's `alg`, if any: then only that algorithm may use the key.
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.key.family())
            .finish()
    }
}

impl VerifyKey {
    /// Whether this key may verify a token signed with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|a| a == alg) && self.key.family() == alg.family()
    }
}

/// Parses one PEM public key (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a certificate).
pub(crate) fn parse_pem_key(pem: &str) -> Result<DecodingKey, String> {
    let b = pem.as_bytes();
    DecodingKey::from_rsa_pem(b)
        .or_else(|_| DecodingKey::from_ec_pem(b))
        .or_else(|_| DecodingKey::from_ed_pem(b))
        .map_err(|_| "not an RSA, EC (P-256/P-384) or Ed25519 public key in PEM form".to_string())
}

/// Parses a JWKS document, keeping the signing keys hush can use and skipping the others
/// (encryption keys, symmetric keys, unknown key types).
pub(crate) fn parse_jwks(url: &str, doc: &Value) -> Result<Vec<VerifyKey>, String> {
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Err(format!(
            "the JWKS at {url} has no \"keys\" list; is the URL a JWKS endpoint?"
        ));
    };
    let mut out = Vec::new();
    for raw in list {
        if raw
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let alg = match raw.get("alg").and_then(Value::as_str) {
            None => None,
            Some(name) => match parse_alg(name) {
                Some(a) => Some(a),
                None => continue,
            },
        };
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        if key.family() == AlgorithmFamily::Hmac {
            continue;
        }
        out.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if out.is_empty() {
        return Err(format!(
            "the JWKS at {url} has no usable signing keys (RSA, EC P-256/P-384 or Ed25519)"
        ));
    }
    Ok(out)
}

/// Keys and, for OIDC discovery, the issuer the provider announced.
#[derive(Debug, Clone)]
pub(crate) struct KeySet {
    pub keys: Arc<Vec<VerifyKey>>,
    pub discovered_issuer: Option<String>,
}

struct Cached {
    source: String,
    set: KeySet,
    fetched: Instant,
}

/// The per-mount key cache.
pub(crate) struct KeyCache {
    clients: Clients,
    min_refresh: Duration,
    max_age: Duration,
    state: tokio::sync::Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    cached: Option<Cached>,
    last_forced: Option<Instant>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("min_refresh", &self.min_refresh)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// Identifies where keys come from, so that a config change invalidates the cache.
fn source_id(c: &JwtConfig) -> String {
    let ca = |pem: &str| hex::encode(hush_crypto::hash::sha256(pem.as_bytes()));
    if !c.jwks_url.is_empty() {
        format!("jwks\n{}\n{}", c.jwks_url, ca(&c.jwks_ca_pem))
    } else {
        format!(
            "discovery\n{}\n{}",
            c.oidc_discovery_url,
            ca(&c.oidc_discovery_ca_pem)
        )
    }
}

impl KeyCache {
    pub(crate) fn new(timeout: Duration, min_refresh: Duration, max_age: Duration) -> Self {
        KeyCache {
            clients: Clients::new(timeout),
            min_refresh,
            max_age,
            state: tokio::sync::Mutex::new(CacheState::default()),
        }
    }

    /// Fetches the keys of a JWKS or discovery config; errors name the URL and the cause.
    async fn fetch(&self, c: &JwtConfig) -> Result<KeySet, String> {
        if !c.jwks_url.is_empty() {
            let client = self
                .clients
                .get("jwks_ca_pem", &c.jwks_ca_pem)
                .map_err(|e| e.to_string())?;
            let doc = get_json(&client, &c.jwks_url)
                .await
                .map_err(|e| format!("could not fetch the JWKS: {e}"))?;
            return Ok(KeySet {
                keys: Arc::new(parse_jwks(&c.jwks_url, &doc)?),
                discovered_issuer: None,
            });
        }
        let client = self
            .clients
            .get("oidc_discovery_ca_pem", &c.oidc_discovery_ca_pem)
            .map_err(|e| e.to_string())?;
        let base = c.oidc_discovery_url.trim_end_matches('/');
        let url = format!("{base}/.well-known/openid-configuration");
        let doc = get_json(&client, &url)
            .await
            .map_err(|e| format!("OIDC discovery failed: {e}"))?;
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if issuer.trim_end_matches('/') != base {
            return Err(format!(
                "OIDC discovery at {url} announces issuer \"{issuer}\", which is not \
                 oidc_discovery_url \"{}\": set oidc_discovery_url to the issuer",
                c.oidc_discovery_url
            ));
        }
        let Some(jwks_uri) = doc.get("jwks_uri").and_then(Value::as_str) else {
            return Err(format!(
                "the OIDC discovery document at {url} has no \"jwks_uri\""
            ));
        };
        let jwks = get_json(&client, jwks_uri)
            .await
            .map_err(|e| format!("could not fetch the JWKS named by OIDC discovery: {e}"))?;
        Ok(KeySet {
            keys: Arc::new(parse_jwks(jwks_uri, &jwks)?),
            discovered_issuer: Some(issuer.to_string()),
        })
    }

    /// Fetches the keys now and makes them the cache (used when the config is written, so that
    /// a bad URL is reported right away).
    pub(crate) async fn prime(&self, c: &JwtConfig) -> Result<(), String> {
        let set = self.fetch(c).await?;
        let mut st = self.state.lock().await;
        st.cached = Some(Cached {
            source: source_id(c),
            set,
            fetched: Instant::now(),
        });
        Ok(())
    }

    /// The keys for a login. `kid` is the token's key ID: when the cached set lacks it, the set
    /// is refetched once (rate-limited).
    pub(crate) async fn keys(&self, c: &JwtConfig, kid: Option<&str>) -> Result<KeySet, String> {
        let source = source_id(c);
        let mut st = self.state.lock().await;
        let fresh = st
            .cached
            .as_ref()
            .is_some_and(|x| x.source == source && x.fetched.elapsed() < self.max_age);
        if !fresh {
            match self.fetch(c).await {
                Ok(set) => {
                    st.cached = Some(Cached {
                        source: source.clone(),
                        set,
                        fetched: Instant::now(),
                    });
                }
                // Keep using an old copy of the same source when the provider is down: the keys
                // were valid an hour ago and key rollover keeps old keys published for a while.
                Err(e) => match &st.cached {
                    Some(x) if x.source == source => {
                        tracing::warn!(error = %e, "JWKS refresh failed; using the cached keys");
                    }
                    _ => return Err(e),
                },
            }
        }
        let known = |st: &CacheState| {
            let Some(kid) = kid else { return true };
            st.cached.as_ref().is_some_and(|x| {
                x.set
                    .keys
                    .iter()
                    .any(|k| k.kid.as_deref().is_none_or(|k| k == kid))
            })
        };
        if !known(&st)
            && st
                .last_forced
                .is_none_or(|t| t.elapsed() >= self.min_refresh)
        {
            st.last_forced = Some(Instant::now());
            match self.fetch(c).await {
                Ok(set) => {
                    st.cached = Some(Cached {
                        source: source.clone(),
                        set,
                        fetched: Instant::now(),
                    });
                }
                Err(e) => tracing::warn!(error = %e, "JWKS refresh for an unknown kid failed"),
            }
        }
        match &st.cached {
            Some(x) => Ok(x.set.clone()),
            None => Err("no keys are available".into()),
        }
    }
}
