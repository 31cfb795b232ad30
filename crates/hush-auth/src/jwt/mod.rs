//! The `jwt` auth method (also mounted as `oidc`): clients log in with a JWT signed by an
//! identity provider (GitHub Actions, GitLab CI, Kubernetes projected tokens, any OIDC
//! provider...).
//!
//! | path | operations |
//! |---|---|
//! | `config` | read, write (`jwks_url`, `jwks_ca_pem`, `oidc_discovery_url`, `oidc_discovery_ca_pem`, `jwt_validation_pubkeys`, `jwt_supported_algs`, `bound_issuer`, `default_role`, and the OIDC client fields, stored) |
//! | `role` | list |
//! | `role/:name` | read, write, delete |
//! | `login` | write `{role, jwt}` (role defaults to `default_role`), unauthenticated |
//!
//! Exactly one key source is configured: a JWKS URL, an OIDC discovery URL (its
//! `/.well-known/openid-configuration` names the JWKS), or a list of PEM public keys. Signatures
//! are RS256/384/512, PS256/384/512, ES256/384 or EdDSA (never HMAC); `jwt_supported_algs`
//! narrows the list.
//!
//! Roles of `role_type` "oidc" (Vault's default) are accepted and stored, but hush does not run
//! the browser flow: logging in with one answers 400 saying so. The `oidc/auth_url` and
//! `oidc/callback` paths answer the same.
//!
//! A login checks, in order: the signature (with the key named by `kid`, refreshing the JWKS
//! once if the `kid` is unknown), the times (`exp` required unless `expiration_leeway` is -1;
//! `nbf`, `iat`; with `clock_skew_leeway`, `expiration_leeway` and `not_before_leeway`,
//! defaults 60/150/150 s), `bound_issuer`, `bound_audiences` (a token with an audience needs a
//! role with bound audiences), `bound_subject`, `bound_claims`, and the `user_claim` and
//! `groups_claim`. Claims named by `claim_mappings` become token metadata next to `role`.

mod claims;
mod keys;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use async_trait::async_trait;
use hush_core::engine::{EngineRequest, LogicalBackend, LoginRenewal};
use hush_core::error::{CoreError, Result};
use hush_core::framework::{Field, FieldType, Handler, PathSpec, PathTable, Paths};
use hush_core::logical::{LoginAlias, Operation, Response, TokenParams};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

pub use self::claims::{
    DEFAULT_CLOCK_SKEW_LEEWAY, DEFAULT_EXPIRATION_LEEWAY, DEFAULT_NOT_BEFORE_LEEWAY,
};
pub use self::keys::SUPPORTED_ALGS;
use self::keys::{parse_alg, parse_pem_key, KeyCache, VerifyKey};
use crate::fields::{
    check_login_cidrs, display_name, kind_of, mount_route, not_found, opt_bool, opt_list,
    opt_signed_secs, opt_str, opt_ttl, role_exists, role_key, role_paths, string_values,
    StoredRole,
};
use crate::http::check_ca_pem;
use crate::token_fields::{TokenFields, TOKEN_FIELDS};
use crate::{AuthOptions, SecretString};

/// The mount's configuration, as stored.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// OIDC discovery URL (the issuer).
    pub oidc_discovery_url: String,
    /// CA bundle for the discovery URL and the JWKS it names.
    pub oidc_discovery_ca_pem: String,
    /// OIDC client ID (stored for the browser flow, which hush does not run).
    pub oidc_client_id: String,
    /// OIDC client secret (stored, never returned).
    pub oidc_client_secret: SecretString,
    /// Stored for compatibility.
    pub oidc_response_mode: String,
    /// Stored for compatibility.
    pub oidc_response_types: Vec<String>,
    /// JWKS URL.
    pub jwks_url: String,
    /// CA bundle for the JWKS URL.
    pub jwks_ca_pem: String,
    /// PEM public keys (instead of a JWKS).
    pub jwt_validation_pubkeys: Vec<String>,
    /// Accepted signing algorithms (empty: all of [`SUPPORTED_ALGS`]).
    pub jwt_supported_algs: Vec<String>,
    /// The `iss` every token must have (empty: any).
    pub bound_issuer: String,
    /// Role used when a login names none.
    pub default_role: String,
    /// Stored for compatibility.
    pub provider_config: Map<String, Value>,
    /// Stored for compatibility.
    pub namespace_in_state: bool,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("oidc_discovery_url", &self.oidc_discovery_url)
            .field("jwks_url", &self.jwks_url)
            .field("jwt_validation_pubkeys", &self.jwt_validation_pubkeys.len())
            .field("bound_issuer", &self.bound_issuer)
            .field("oidc_client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A JWT role, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct JwtRole {
    /// "jwt" or "oidc".
    pub role_type: String,
    /// Allowed `aud` values.
    pub bound_audiences: Vec<String>,
    /// Required `sub`.
    pub bound_subject: String,
    /// Required claims: claim name (or JSON pointer) -> allowed value(s).
    pub bound_claims: Map<String, Value>,
    /// "string" or "glob".
    pub bound_claims_type: String,
    /// The claim naming the user (its value becomes the display name).
    pub user_claim: String,
    /// Read `user_claim` as a JSON pointer.
    pub user_claim_json_pointer: bool,
    /// The claim holding groups (checked to be present).
    pub groups_claim: String,
    /// Claim -> metadata key.
    pub claim_mappings: BTreeMap<String, String>,
    /// Clock skew leeway in seconds (0: 60, -1: none).
    pub clock_skew_leeway: i64,
    /// Leeway after `exp` in seconds (0: 150, -1: no expiry check).
    pub expiration_leeway: i64,
    /// Leeway before `nbf` in seconds (0: 150, -1: no not-before check).
    pub not_before_leeway: i64,
    /// OIDC roles: redirect URIs (stored).
    pub allowed_redirect_uris: Vec<String>,
    /// OIDC roles: scopes (stored).
    pub oidc_scopes: Vec<String>,
    /// OIDC roles (stored).
    pub verbose_oidc_logging: bool,
    /// OIDC roles: max_age in seconds (stored).
    pub max_age: u64,
    /// Token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl Default for JwtRole {
    fn default() -> Self {
        JwtRole {
            role_type: "oidc".into(),
            bound_audiences: Vec::new(),
            bound_subject: String::new(),
            bound_claims: Map::new(),
            bound_claims_type: "string".into(),
            user_claim: String::new(),
            user_claim_json_pointer: false,
            groups_claim: String::new(),
            claim_mappings: BTreeMap::new(),
            clock_skew_leeway: 0,
            expiration_leeway: 0,
            not_before_leeway: 0,
            allowed_redirect_uris: Vec::new(),
            oidc_scopes: Vec::new(),
            verbose_oidc_logging: false,
            max_age: 0,
            token: TokenFields::default(),
        }
    }
}

/// The JWT auth method. It caches the JWKS of its mount.
#[derive(Debug)]
pub struct JwtBackend {
    keys: KeyCache,
}

impl JwtBackend {
    /// A backend with the JWKS refresh settings and HTTP timeout of `options`.
    pub fn new(options: &AuthOptions) -> Self {
        JwtBackend {
            keys: KeyCache::new(
                options.http_timeout,
                options.jwks_min_refresh_interval,
                options.jwks_max_age,
            ),
        }
    }
}

const CONFIG_KEY: &str = "config";

fn pem_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    // A PEM contains no commas, but a comma-separated string would split a bundle at them if
    // it ever did: a single string is one key.
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(Vec::new())),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(_) => opt_list(data, field),
    }
}

fn build_config(data: &Map<String, Value>) -> Result<JwtConfig> {
    let s = |f: &str| -> Result<String> { Ok(opt_str(data, f)?.unwrap_or_default()) };
    let c = JwtConfig {
        oidc_discovery_url: s("oidc_discovery_url")?.trim().to_string(),
        oidc_discovery_ca_pem: s("oidc_discovery_ca_pem")?,
        oidc_client_id: s("oidc_client_id")?,
        oidc_client_secret: SecretString::new(s("oidc_client_secret")?),
        oidc_response_mode: s("oidc_response_mode")?,
        oidc_response_types: opt_list(data, "oidc_response_types")?.unwrap_or_default(),
        jwks_url: s("jwks_url")?.trim().to_string(),
        jwks_ca_pem: s("jwks_ca_pem")?,
        jwt_validation_pubkeys: pem_list(data, "jwt_validation_pubkeys")?.unwrap_or_default(),
        jwt_supported_algs: opt_list(data, "jwt_supported_algs")?.unwrap_or_default(),
        bound_issuer: s("bound_issuer")?,
        default_role: s("default_role")?,
        provider_config: match data.get("provider_config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(v) => {
                return Err(CoreError::bad(format!(
                    "'provider_config' must be an object, got {}",
                    kind_of(v)
                )))
            }
        },
        namespace_in_state: opt_bool(data, "namespace_in_state")?.unwrap_or(false),
    };
    let sources = [
        !c.oidc_discovery_url.is_empty(),
        !c.jwks_url.is_empty(),
        !c.jwt_validation_pubkeys.is_empty(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(CoreError::bad(
            "exactly one of 'oidc_discovery_url', 'jwks_url' or 'jwt_validation_pubkeys' must \
             be set: it says where the keys that verify JWTs come from",
        ));
    }
    for (field, url) in [
        ("oidc_discovery_url", &c.oidc_discovery_url),
        ("jwks_url", &c.jwks_url),
    ] {
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(CoreError::bad(format!(
                "'{field}' \"{url}\" must be an https:// (or http://) URL"
            )));
        }
    }
    for (field, pem) in [
        ("jwks_ca_pem", &c.jwks_ca_pem),
        ("oidc_discovery_ca_pem", &c.oidc_discovery_ca_pem),
    ] {
        if !pem.trim().is_empty() {
            check_ca_pem(field, pem).map_err(|e| CoreError::bad(e.to_string()))?;
        }
    }
    for (i, pem) in c.jwt_validation_pubkeys.iter().enumerate() {
        parse_pem_key(pem)
            .map_err(|e| CoreError::bad(format!("'jwt_validation_pubkeys' entry {i}: {e}")))?;
    }
    for alg in &c.jwt_supported_algs {
        if parse_alg(alg).is_none() {
            return Err(CoreError::bad(format!(
                "'jwt_supported_algs': \"{alg}\" is not supported; use some of {}",
                SUPPORTED_ALGS.join(", ")
            )));
        }
    }
    Ok(c)
}

fn config_data(c: &JwtConfig) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("oidc_discovery_url".into(), json!(c.oidc_discovery_url));
    d.insert(
        "oidc_discovery_ca_pem".into(),
        json!(c.oidc_discovery_ca_pem),
    );
    d.insert("oidc_client_id".into(), json!(c.oidc_client_id));
    d.insert("oidc_response_mode".into(), json!(c.oidc_response_mode));
    d.insert("oidc_response_types".into(), json!(c.oidc_response_types));
    d.insert("jwks_url".into(), json!(c.jwks_url));
    d.insert("jwks_ca_pem".into(), json!(c.jwks_ca_pem));
    d.insert(
        "jwt_validation_pubkeys".into(),
        json!(c.jwt_validation_pubkeys),
    );
    d.insert("jwt_supported_algs".into(), json!(c.jwt_supported_algs));
    d.insert("bound_issuer".into(), json!(c.bound_issuer));
    d.insert("default_role".into(), json!(c.default_role));
    d.insert(
        "provider_config".into(),
        Value::Object(c.provider_config.clone()),
    );
    d.insert("namespace_in_state".into(), json!(c.namespace_in_state));
    d
}

fn check_bound_claims_shape(claims: &Map<String, Value>, glob: bool) -> Result<()> {
    for (name, v) in claims {
        let ok = match v {
            Value::String(_) => true,
            Value::Number(_) | Value::Bool(_) => !glob,
            Value::Array(items) => items.iter().all(|i| match i {
                Value::String(_) => true,
                Value::Number(_) | Value::Bool(_) => !glob,
                _ => false,
            }),
            _ => false,
        };
        if !ok {
            return Err(CoreError::bad(format!(
                "'bound_claims': the value for \"{name}\" must be a string or a list of strings{}",
                if glob {
                    " (bound_claims_type is \"glob\")"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(())
}

fn apply_role(existing: Option<JwtRole>, data: &Map<String, Value>) -> Result<JwtRole> {
    let mut r = existing.unwrap_or_default();
    if let Some(t) = opt_str(data, "role_type")? {
        r.role_type = match t.as_str() {
            "" | "oidc" => "oidc".into(),
            "jwt" => "jwt".into(),
            other => {
                return Err(CoreError::bad(format!(
                    "'role_type' \"{other}\" is not valid: use \"jwt\" or \"oidc\""
                )))
            }
        };
    }
    if let Some(v) = opt_list(data, "bound_audiences")? {
        r.bound_audiences = v;
    }
    if let Some(v) = opt_str(data, "bound_subject")? {
        r.bound_subject = v;
    }
    if let Some(t) = opt_str(data, "bound_claims_type")? {
        r.bound_claims_type = match t.as_str() {
            "" | "string" => "string".into(),
            "glob" => "glob".into(),
            other => {
                return Err(CoreError::bad(format!(
                    "'bound_claims_type' \"{other}\" is not valid: use \"string\" or \"glob\""
                )))
            }
        };
    }
    match data.get("bound_claims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => r.bound_claims = m.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => r.bound_claims = Map::new(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => r.bound_claims = m,
            _ => {
                return Err(CoreError::bad(
                    "'bound_claims' must be an object mapping claim names to a value or list \
                     of values",
                ))
            }
        },
        Some(v) => {
            return Err(CoreError::bad(format!(
                "'bound_claims' must be an object, got {}",
                kind_of(v)
            )))
        }
    }
    check_bound_claims_shape(&r.bound_claims, r.bound_claims_type == "glob")?;
    if let Some(v) = opt_str(data, "user_claim")? {
        r.user_claim = v;
    }
    if let Some(v) = opt_bool(data, "user_claim_json_pointer")? {
        r.user_claim_json_pointer = v;
    }
    if let Some(v) = opt_str(data, "groups_claim")? {
        r.groups_claim = v;
    }
    if let Some(m) = crate::fields::opt_string_map(data, "claim_mappings")? {
        let mut targets = std::collections::BTreeSet::new();
        for (claim, key) in &m {
            if key == "role" {
                return Err(CoreError::bad(format!(
                    "'claim_mappings': claim \"{claim}\" maps to the metadata key \"role\", \
                     which is reserved for the role name"
                )));
            }
            if !targets.insert(key.clone()) {
                return Err(CoreError::bad(format!(
                    "'claim_mappings': more than one claim maps to the metadata key \"{key}\""
                )));
            }
        }
        r.claim_mappings = m;
    }
    for (field, slot) in [
        ("clock_skew_leeway", &mut r.clock_skew_leeway),
        ("expiration_leeway", &mut r.expiration_leeway),
        ("not_before_leeway", &mut r.not_before_leeway),
    ] {
        if let Some(v) = opt_signed_secs(data, field)? {
            *slot = v;
        }
    }
    if let Some(v) = opt_list(data, "allowed_redirect_uris")? {
        r.allowed_redirect_uris = v;
    }
    if let Some(v) = opt_list(data, "oidc_scopes")? {
        r.oidc_scopes = v;
    }
    if let Some(v) = opt_bool(data, "verbose_oidc_logging")? {
        r.verbose_oidc_logging = v;
    }
    if let Some(v) = opt_ttl(data, "max_age")? {
        r.max_age = v;
    }
    r.token.update(data)?;
    if r.user_claim.is_empty() {
        return Err(CoreError::bad(
            "missing 'user_claim': name the claim that identifies the user, e.g. \"sub\"",
        ));
    }
    if r.role_type == "oidc" && r.allowed_redirect_uris.is_empty() {
        return Err(CoreError::bad(
            "'allowed_redirect_uris' must be set when 'role_type' is \"oidc\" (the default); \
             for logins with a JWT, set role_type to \"jwt\"",
        ));
    }
    if r.role_type == "jwt"
        && r.bound_audiences.is_empty()
        && r.bound_subject.is_empty()
        && r.bound_claims.is_empty()
        && r.token.token_bound_cidrs.is_empty()
    {
        return Err(CoreError::bad(
            "a jwt role needs at least one bound constraint: set bound_audiences, \
             bound_subject, bound_claims or token_bound_cidrs",
        ));
    }
    Ok(r)
}

fn role_data(r: &JwtRole) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("role_type".into(), json!(r.role_type));
    d.insert("bound_audiences".into(), json!(r.bound_audiences));
    d.insert("bound_subject".into(), json!(r.bound_subject));
    d.insert(
        "bound_claims".into(),
        if r.bound_claims.is_empty() {
            Value::Null
        } else {
            Value::Object(r.bound_claims.clone())
        },
    );
    d.insert("bound_claims_type".into(), json!(r.bound_claims_type));
    d.insert("user_claim".into(), json!(r.user_claim));
    d.insert(
        "user_claim_json_pointer".into(),
        json!(r.user_claim_json_pointer),
    );
    d.insert("groups_claim".into(), json!(r.groups_claim));
    d.insert("claim_mappings".into(), json!(r.claim_mappings));
    d.insert("clock_skew_leeway".into(), json!(r.clock_skew_leeway));
    d.insert("expiration_leeway".into(), json!(r.expiration_leeway));
    d.insert("not_before_leeway".into(), json!(r.not_before_leeway));
    d.insert(
        "allowed_redirect_uris".into(),
        json!(r.allowed_redirect_uris),
    );
    d.insert("oidc_scopes".into(), json!(r.oidc_scopes));
    d.insert("verbose_oidc_logging".into(), json!(r.verbose_oidc_logging));
    d.insert("max_age".into(), json!(r.max_age));
    r.token.write_to(&mut d, &[]);
    d
}

fn allowed_algs(c: &JwtConfig) -> Vec<Algorithm> {
    if c.jwt_supported_algs.is_empty() {
        SUPPORTED_ALGS.iter().filter_map(|a| parse_alg(a)).collect()
    } else {
        c.jwt_supported_algs
            .iter()
            .filter_map(|a| parse_alg(a))
            .collect()
    }
}

/// Verifies the signature with the first candidate key that fits; returns the claims.
fn verify_with(jwt: &str, alg: Algorithm, candidates: &[&VerifyKey]) -> Option<Map<String, Value>> {
    let mut v = Validation::new(alg);
    // Only the signature is checked here: the claims are checked afterwards with Vault's
    // leeways and messages that name the failed check.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.leeway = 0;
    candidates.iter().filter(|k| k.fits(alg)).find_map(|k| {
        jsonwebtoken::decode::<Map<String, Value>>(jwt, &k.key, &v)
            .ok()
            .map(|d| d.claims)
    })
}

impl JwtBackend {
    async fn write_config(&self, req: &EngineRequest<'_>) -> Result<Response> {
        let c = build_config(req.data)?;
        if c.jwt_validation_pubkeys.is_empty() {
            // Fetch now, so that a wrong URL or CA is reported to whoever configures it rather
            // than to the first client that logs in.
            self.keys
                .prime(&c)
                .await
                .map_err(|e| CoreError::bad(format!("the key source could not be checked: {e}")))?;
        }
        req.view.put_json(CONFIG_KEY, &c).await?;
        Ok(Response::no_content())
    }

    /// Verifies the signature of `jwt` and returns its claims and, for OIDC discovery, the
    /// issuer the provider announced.
    async fn verify(
        &self,
        config: &JwtConfig,
        jwt: &str,
    ) -> Result<(Map<String, Value>, Option<String>)> {
        let header = jsonwebtoken::decode_header(jwt)
            .map_err(|e| CoreError::InvalidCredentials(format!("'jwt' is not a valid JWT: {e}")))?;
        let alg = header.alg;
        if !allowed_algs(config).contains(&alg) {
            return Err(CoreError::InvalidCredentials(format!(
                "the JWT is signed with {alg:?}, which this mount does not accept (allowed: {})",
                if config.jwt_supported_algs.is_empty() {
                    SUPPORTED_ALGS.join(", ")
                } else {
                    config.jwt_supported_algs.join(", ")
                }
            )));
        }
        if !config.jwt_validation_pubkeys.is_empty() {
            let mut keys = Vec::new();
            for pem in &config.jwt_validation_pubkeys {
                if let Ok(key) = parse_pem_key(pem) {
                    keys.push(VerifyKey {
                        kid: None,
                        alg: None,
                        key,
                    });
                }
            }
            let refs: Vec<&VerifyKey> = keys.iter().collect();
            return match verify_with(jwt, alg, &refs) {
                Some(c) => Ok((c, None)),
                None => Err(CoreError::InvalidCredentials(
                    "the JWT's signature does not verify with any of the configured \
                     jwt_validation_pubkeys"
                        .into(),
                )),
            };
        }
        let kid = header.kid.as_deref();
        let set =
            self.keys.keys(config, kid).await.map_err(|e| {
                CoreError::Upstream(format!("JWT verification keys unavailable: {e}"))
            })?;
        let candidates: Vec<&VerifyKey> = set
            .keys
            .iter()
            .filter(|k| match (kid, k.kid.as_deref()) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            let source = if config.jwks_url.is_empty() {
                &config.oidc_discovery_url
            } else {
                &config.jwks_url
            };
            return Err(CoreError::InvalidCredentials(format!(
                "the JWT's key ID (kid) \"{}\" is unknown: no such key in the JWKS of {source}",
                kid.unwrap_or("")
            )));
        }
        match verify_with(jwt, alg, &candidates) {
            Some(c) => Ok((c, set.discovered_issuer.clone())),
            None => Err(CoreError::InvalidCredentials(match kid {
                Some(k) => format!("the JWT's signature does not verify with key \"{k}\""),
                None => "the JWT's signature does not verify with any key of the JWKS".into(),
            })),
        }
    }

    async fn login(&self, req: &EngineRequest<'_>) -> Result<Response> {
        let Some(config) = req.view.get_json::<JwtConfig>(CONFIG_KEY).await? else {
            return Err(CoreError::bad(format!(
                "the JWT auth method at {0} is not configured: write jwks_url, \
                 oidc_discovery_url or jwt_validation_pubkeys to {0}config",
                mount_route(req.mount)
            )));
        };
        let role_name = match opt_str(req.data, "role")? {
            Some(r) if !r.is_empty() => r,
            _ if !config.default_role.is_empty() => config.default_role.clone(),
            _ => {
                return Err(CoreError::bad(
                    "missing 'role': name the role to log in with (or set default_role in the \
                     config)",
                ))
            }
        };
        let jwt = match opt_str(req.data, "jwt")? {
            Some(j) if !j.is_empty() => Zeroizing::new(j),
            _ => return Err(CoreError::bad("missing 'jwt': send the JWT to log in with")),
        };
        let Some(role) = req.view.get_json::<JwtRole>(&role_key(&role_name)).await? else {
            return Err(CoreError::bad(format!(
                "role \"{role_name}\" could not be found"
            )));
        };
        if role.role_type == "oidc" {
            return Err(CoreError::bad(format!(
                "role \"{role_name}\" is an OIDC role (role_type \"oidc\"): hush does not run the \
                 OIDC browser login flow; log in with a JWT through a role of role_type \"jwt\""
            )));
        }
        check_login_cidrs(
            &role.token.token_bound_cidrs,
            req.client_addr,
            "the role's token_bound_cidrs",
        )?;
        let (claims, discovered_issuer) = self.verify(&config, &jwt).await?;
        claims::check_times(&role, &claims, chrono::Utc::now().timestamp())?;
        let bound_issuer = if config.bound_issuer.is_empty() {
            discovered_issuer.unwrap_or_default()
        } else {
            config.bound_issuer.clone()
        };
        claims::check_identity(&role, &claims, &bound_issuer)?;
        claims::check_bound_claims(&role, &claims)?;
        let user = if role.user_claim_json_pointer {
            claims::get_claim(
                &claims,
                &format!("/{}", role.user_claim.trim_start_matches('/')),
            )
        } else {
            claims.get(&role.user_claim).filter(|v| !v.is_null())
        };
        let Some(user) = user.and_then(claims::scalar_string) else {
            return Err(CoreError::InvalidCredentials(format!(
                "the JWT has no claim \"{}\" (the role's user_claim) with a string value",
                role.user_claim
            )));
        };
        let groups = if role.groups_claim.is_empty() {
            None
        } else {
            match claims::get_claim(&claims, &role.groups_claim) {
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                Some(Value::String(g)) => Some(vec![g.clone()]),
                Some(_) => {
                    return Err(CoreError::InvalidCredentials(format!(
                        "the JWT's groups claim \"{}\" must be a list of strings",
                        role.groups_claim
                    )))
                }
                None => {
                    return Err(CoreError::InvalidCredentials(format!(
                        "the JWT has no groups claim \"{}\" (the role's groups_claim)",
                        role.groups_claim
                    )))
                }
            }
        };
        let mut metadata = Map::new();
        for (claim, key) in &role.claim_mappings {
            let Some(v) = claims::get_claim(&claims, claim) else {
                continue;
            };
            let Some(s) = claims::scalar_string(v) else {
                return Err(CoreError::InvalidCredentials(format!(
                    "the JWT's claim \"{claim}\" (in claim_mappings) is {}, not a string, number \
                     or boolean",
                    kind_of(v)
                )));
            };
            metadata.insert(key.clone(), json!(s));
        }
        // As in Vault: the user claim is the alias, the mapped claims its metadata, and each
        // groups-claim value names a group alias of this mount.
        let alias = LoginAlias {
            name: user.clone(),
            metadata: string_values(&metadata),
            groups,
        };
        metadata.insert("role".into(), json!(role_name));
        let auth = role
            .token
            .auth(metadata, display_name(req.mount, &user))
            .with_alias(alias);
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

/// The fields of `config`.
const CONFIG_FIELDS: &[Field] = &[
    Field::new(
        "oidc_discovery_url",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_discovery_ca_pem",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_client_id",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_client_secret",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_response_mode",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_response_types",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "jwks_url",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "jwks_ca_pem",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "jwt_validation_pubkeys",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "jwt_supported_algs",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "bound_issuer",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "default_role",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "provider_config",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "namespace_in_state",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
];

/// The fields of `role/{name}` besides the token settings.
const ROLE_FIELDS: &[Field] = &[
    Field::new(
        "role_type",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "bound_audiences",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "user_claim",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "user_claim_json_pointer",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "bound_subject",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "bound_claims",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "bound_claims_type",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "groups_claim",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "claim_mappings",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "clock_skew_leeway",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "expiration_leeway",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "not_before_leeway",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "allowed_redirect_uris",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "oidc_scopes",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "verbose_oidc_logging",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
    Field::new(
        "max_age",
        FieldType::Any,
        "See Vault's JWT/OIDC auth method.",
    ),
];

/// One path of this method's table.
type Spec = PathSpec<JwtBackend>;

/// Paths and handlers.
fn paths() -> &'static Paths<JwtBackend> {
    static PATHS: OnceLock<Paths<JwtBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let browser_flow: Handler<JwtBackend> = |_, _, _| {
            Box::pin(async {
                Err(CoreError::bad(
                    "hush does not run the OIDC browser login flow: log in with a JWT at \
                     login through a role of role_type \"jwt\"",
                ))
            })
        };
        let mut role_fields = ROLE_FIELDS.to_vec();
        role_fields.extend_from_slice(TOKEN_FIELDS);
        let mut specs = vec![
            Spec::new("login", "Log in with a JWT.")
                .op(Operation::Update, "Log in.", |b, req, _| {
                    Box::pin(b.login(req))
                })
                .fields(&[
                    Field::new("role", FieldType::String, "The role to log in with."),
                    Field::new("jwt", FieldType::String, "The signed JWT."),
                ])
                .unauthenticated(),
            Spec::new("oidc/auth_url", "The OIDC browser flow (not supported).")
                .op(Operation::Read, "Not supported.", browser_flow)
                .op(Operation::Update, "Not supported.", browser_flow)
                .unauthenticated(),
            Spec::new("oidc/callback", "The OIDC browser flow (not supported).")
                .op(Operation::Read, "Not supported.", browser_flow)
                .op(Operation::Update, "Not supported.", browser_flow)
                .unauthenticated(),
            Spec::new("config", "How JWTs are validated.")
                .op(Operation::Read, "Read the configuration.", |_, req, _| {
                    Box::pin(async move {
                        match req.view.get_json::<JwtConfig>(CONFIG_KEY).await? {
                            Some(c) => Ok(Response::data(config_data(&c))),
                            None => Ok(not_found()),
                        }
                    })
                })
                .op(
                    Operation::Update,
                    "Write the configuration.",
                    |b, req, _| Box::pin(b.write_config(req)),
                )
                .fields(CONFIG_FIELDS),
        ];
        specs.extend(role_paths::<JwtBackend, JwtRole>(
            "A role: which JWTs may log in, with what token.",
            &role_fields,
        ));
        Paths::new("this auth method", "auth/", specs)
    })
}

#[async_trait]
impl LogicalBackend for JwtBackend {
    fn canonical_path<'a>(&self, path: Cow<'a, str>) -> Result<Cow<'a, str>> {
        hush_core::canonical::name_after(path, "role/", "role", false)
    }

    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        role_exists(req).await
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    async fn renew_login(&self, req: &LoginRenewal<'_>) -> Result<Option<TokenParams>> {
        TokenFields::renew_stored(req, "role", role_key, "role", |r: &JwtRole| &r.token).await
    }
}

impl StoredRole for JwtRole {
    fn data(&self) -> Map<String, Value> {
        role_data(self)
    }

    fn apply(existing: Option<Self>, data: &Map<String, Value>) -> Result<Self> {
        apply_role(existing, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_core::logical::map;

    #[test]
    fn config_needs_exactly_one_key_source() {
        let e = build_config(&map(json!({}))).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let e = build_config(&map(
            json!({"jwks_url": "https://a", "oidc_discovery_url": "https://b"}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let e = build_config(&map(json!({"jwt_validation_pubkeys": ["junk"]}))).unwrap_err();
        assert!(e.to_string().contains("jwt_validation_pubkeys"), "{e}");
        let e = build_config(&map(
            json!({"jwks_url": "https://a", "jwt_supported_algs": ["HS256"]}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("HS256"), "{e}");
        let c = build_config(&map(
            json!({"jwks_url": "https://a", "oidc_client_secret": "s3cret"}),
        ))
        .unwrap();
        assert!(!serde_json::to_string(&config_data(&c))
            .unwrap()
            .contains("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn roles_follow_vault_rules() {
        let e = apply_role(None, &map(json!({"role_type": "jwt"}))).unwrap_err();
        assert!(e.to_string().contains("user_claim"), "{e}");
        let e = apply_role(None, &map(json!({"user_claim": "sub"}))).unwrap_err();
        assert!(e.to_string().contains("allowed_redirect_uris"), "{e}");
        let e =
            apply_role(None, &map(json!({"role_type": "jwt", "user_claim": "sub"}))).unwrap_err();
        assert!(e.to_string().contains("bound constraint"), "{e}");
        let e = apply_role(
            None,
            &map(
                json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a",
                        "claim_mappings": {"x": "role"}}),
            ),
        )
        .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let r = apply_role(
            None,
            &map(
                json!({"role_type": "jwt", "user_claim": "sub", "bound_claims_type": "glob",
                        "bound_claims": {"/a/b": ["x*"]}, "expiration_leeway": -1,
                        "token_policies": "dev"}),
            ),
        )
        .unwrap();
        assert_eq!(r.expiration_leeway, -1);
        let d = role_data(&r);
        assert_eq!(d["bound_claims"], json!({"/a/b": ["x*"]}));
        assert_eq!(d["token_policies"], json!(["dev"]));
        let e = apply_role(Some(r), &map(json!({"bound_claims": {"n": 5}}))).unwrap_err();
        assert!(e.to_string().contains("bound_claims"), "{e}");
    }
}
