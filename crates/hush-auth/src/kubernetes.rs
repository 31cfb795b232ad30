//! The `kubernetes` auth method: pods log in with their service-account JWT, which hush asks
//! the cluster to vouch for with the TokenReview API.
//!
//! | path | operations |
//! |---|---|
//! | `config` | read, write (`kubernetes_host`, `kubernetes_ca_cert`, `token_reviewer_jwt`, `pem_keys`, `issuer`, `disable_iss_validation`, `disable_local_ca_jwt`) |
//! | `role` | list |
//! | `role/:name` | read, write, delete |
//! | `login` | write `{role, jwt}`, unauthenticated |
//!
//! A login POSTs a TokenReview for the JWT to `{kubernetes_host}/apis/authentication.k8s.io/v1/
//! tokenreviews` over HTTPS verified with `kubernetes_ca_cert`, authenticated with
//! `token_reviewer_jwt` (or, inside a pod, the pod's own token; failing both, the client's JWT
//! itself). The cluster's answer — not the unverified claims of the JWT — decides which service
//! account logs in; it must then match the role's bound names and namespaces (`*` globs).
//!
//! `token_reviewer_jwt` is stored inside the barrier and never returned by reads
//! (`token_reviewer_jwt_set` says whether there is one). `pem_keys`, `issuer` and
//! `disable_iss_validation` are accepted and stored for compatibility; the TokenReview is what
//! validates the token.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use async_trait::async_trait;
use base64::Engine as _;
use hush_core::engine::{EngineRequest, LogicalBackend, LoginRenewal};
use hush_core::error::{CoreError, Result};
use hush_core::framework::{Field, FieldType, PathSpec, PathTable, Paths};
use hush_core::logical::{LoginAlias, Operation, Response, TokenParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::fields::{
    check_login_cidrs, display_name, mount_route, not_found, opt_bool, opt_list, opt_str,
    role_exists, role_key, role_paths, string_values, StoredRole,
};
use crate::http::{chain, check_ca_pem, Clients, HttpError};
use crate::token_fields::{TokenFields, TOKEN_FIELDS};
use crate::{AuthOptions, SecretString};

/// The TokenReview endpoint below the API server's URL.
pub const TOKEN_REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// The mount's connection to its cluster, as stored.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// The API server: a URL, or a host[:port] (HTTPS is assumed).
    pub kubernetes_host: String,
    /// PEM CA bundle the API server's certificate must chain to (empty: the pod's CA when
    /// running in a pod, else the system roots).
    pub kubernetes_ca_cert: String,
    /// A service-account JWT allowed to create TokenReviews. Never returned.
    pub token_reviewer_jwt: SecretString,
    /// Public keys of service-account tokens (stored for compatibility).
    pub pem_keys: Vec<String>,
    /// Expected issuer of service-account tokens (stored for compatibility).
    pub issuer: String,
    /// Stored for compatibility (issuer validation is deprecated in Vault, off by default).
    pub disable_iss_validation: bool,
    /// Do not fall back to the pod's own token and CA.
    pub disable_local_ca_jwt: bool,
}

impl std::fmt::Debug for KubernetesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesConfig")
            .field("kubernetes_host", &self.kubernetes_host)
            .field(
                "kubernetes_ca_cert_set",
                &!self.kubernetes_ca_cert.is_empty(),
            )
            .field("token_reviewer_jwt", &"[redacted]")
            .field("disable_local_ca_jwt", &self.disable_local_ca_jwt)
            .finish_non_exhaustive()
    }
}

/// A Kubernetes role, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KubernetesRole {
    /// Service-account names allowed to log in (`*` globs).
    pub bound_service_account_names: Vec<String>,
    /// Namespaces allowed to log in (`*` globs).
    pub bound_service_account_namespaces: Vec<String>,
    /// Audience the token must be valid for (empty: the API server's default).
    #[serde(default)]
    pub audience: String,
    /// `serviceaccount_uid` or `serviceaccount_name` (reported; hush has no identity store).
    #[serde(default = "default_alias_source")]
    pub alias_name_source: String,
    /// Token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

fn default_alias_source() -> String {
    "serviceaccount_uid".into()
}

/// The service account a TokenReview authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// The legacy token's secret name from the JWT claims, else "".
    pub secret_name: String,
}

/// The Kubernetes auth method. It holds the pod's service-account directory and a cache of
/// HTTPS clients by CA bundle.
#[derive(Debug)]
pub struct KubernetesBackend {
    sa_dir: PathBuf,
    clients: Clients,
}

impl KubernetesBackend {
    /// A backend that looks for the pod's own token and CA in
    /// `options.kubernetes_service_account_dir`.
    pub fn new(options: &AuthOptions) -> Self {
        KubernetesBackend {
            sa_dir: options.kubernetes_service_account_dir.clone(),
            clients: Clients::new(options.http_timeout),
        }
    }
}

const CONFIG_KEY: &str = "config";

fn base_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

/// A configuration from a write, and the warnings for the client.
fn write_config(data: &Map<String, Value>) -> Result<(KubernetesConfig, Vec<String>)> {
    let mut warnings = Vec::new();
    let c = parse_config(data, &mut warnings)?;
    Ok((c, warnings))
}

fn parse_config(data: &Map<String, Value>, warnings: &mut Vec<String>) -> Result<KubernetesConfig> {
    let host = match opt_str(data, "kubernetes_host")? {
        Some(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => {
            return Err(CoreError::bad(
                "missing 'kubernetes_host': give the API server, e.g. https://10.0.0.1:6443",
            ))
        }
    };
    let url = base_url(&host);
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(CoreError::bad(format!(
            "'kubernetes_host' \"{host}\" must be an https:// URL or a host[:port]"
        )));
    }
    let ca = opt_str(data, "kubernetes_ca_cert")?.unwrap_or_default();
    if !ca.trim().is_empty() {
        if !ca.contains("-----BEGIN CERTIFICATE-----") {
            return Err(CoreError::bad(
                "'kubernetes_ca_cert' is not PEM: give the API server's CA certificate(s) as \
                 \"-----BEGIN CERTIFICATE-----\" blocks (the cluster's ca.crt)",
            ));
        }
        // Vault stores a PEM-shaped value it cannot parse and fails only when it calls the API
        // server; so does hush, saying so now instead of at the first login.
        if let Err(e) = check_ca_pem("kubernetes_ca_cert", &ca) {
            warnings.push(format!(
                "{e}; it was saved, but logins will fail until the configuration has a valid CA \
                 certificate"
            ));
        }
    }
    let pem_keys = match data.get("pem_keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(_) => opt_list(data, "pem_keys")?.unwrap_or_default(),
    };
    for (i, k) in pem_keys.iter().enumerate() {
        if !k.contains("-----BEGIN") {
            return Err(CoreError::bad(format!(
                "'pem_keys' entry {i} is not PEM: give public keys or certificates in PEM form"
            )));
        }
    }
    Ok(KubernetesConfig {
        kubernetes_host: host,
        kubernetes_ca_cert: ca,
        token_reviewer_jwt: SecretString::new(
            opt_str(data, "token_reviewer_jwt")?.unwrap_or_default(),
        ),
        pem_keys,
        issuer: opt_str(data, "issuer")?.unwrap_or_default(),
        disable_iss_validation: opt_bool(data, "disable_iss_validation")?.unwrap_or(true),
        disable_local_ca_jwt: opt_bool(data, "disable_local_ca_jwt")?.unwrap_or(false),
    })
}

fn config_data(c: &KubernetesConfig) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("kubernetes_host".into(), json!(c.kubernetes_host));
    d.insert("kubernetes_ca_cert".into(), json!(c.kubernetes_ca_cert));
    d.insert("pem_keys".into(), json!(c.pem_keys));
    d.insert("issuer".into(), json!(c.issuer));
    d.insert(
        "disable_iss_validation".into(),
        json!(c.disable_iss_validation),
    );
    d.insert("disable_local_ca_jwt".into(), json!(c.disable_local_ca_jwt));
    d.insert(
        "token_reviewer_jwt_set".into(),
        json!(!c.token_reviewer_jwt.is_empty()),
    );
    d
}

fn apply_role(role: Option<KubernetesRole>, data: &Map<String, Value>) -> Result<KubernetesRole> {
    let creating = role.is_none();
    let mut role = role.unwrap_or(KubernetesRole {
        bound_service_account_names: Vec::new(),
        bound_service_account_namespaces: Vec::new(),
        audience: String::new(),
        alias_name_source: default_alias_source(),
        token: TokenFields::default(),
    });
    if let Some(v) = opt_list(data, "bound_service_account_names")? {
        role.bound_service_account_names = v;
    }
    if let Some(v) = opt_list(data, "bound_service_account_namespaces")? {
        role.bound_service_account_namespaces = v;
    }
    if let Some(a) = opt_str(data, "audience")? {
        role.audience = a;
    }
    if let Some(s) = opt_str(data, "alias_name_source")? {
        match s.as_str() {
            "" => role.alias_name_source = default_alias_source(),
            "serviceaccount_uid" | "serviceaccount_name" => role.alias_name_source = s,
            other => {
                return Err(CoreError::bad(format!(
                    "'alias_name_source' \"{other}\" is not valid: use \"serviceaccount_uid\" \
                     or \"serviceaccount_name\""
                )))
            }
        }
    }
    role.token.update(data)?;
    if role.bound_service_account_names.is_empty() {
        return Err(CoreError::bad(if creating {
            "missing 'bound_service_account_names': list the service accounts that may log in \
             (\"*\" for any)"
        } else {
            "'bound_service_account_names' may not be empty (\"*\" allows any)"
        }));
    }
    if role.bound_service_account_namespaces.is_empty() {
        return Err(CoreError::bad(if creating {
            "missing 'bound_service_account_namespaces': list the namespaces that may log in \
             (\"*\" for any)"
        } else {
            "'bound_service_account_namespaces' may not be empty (\"*\" allows any)"
        }));
    }
    Ok(role)
}

/// Whether a role binds every service account of every namespace (Vault permits it; a write
/// warns).
fn binds_everyone(role: &KubernetesRole) -> bool {
    let all = |l: &[String]| l.len() == 1 && l[0] == "*";
    all(&role.bound_service_account_names) && all(&role.bound_service_account_namespaces)
}

fn role_data(r: &KubernetesRole) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert(
        "bound_service_account_names".into(),
        json!(r.bound_service_account_names),
    );
    d.insert(
        "bound_service_account_namespaces".into(),
        json!(r.bound_service_account_namespaces),
    );
    d.insert("audience".into(), json!(r.audience));
    d.insert("alias_name_source".into(), json!(r.alias_name_source));
    r.token.write_to(&mut d, &[]);
    d
}

/// Decodes the claims of a JWT without verifying it: only to reject garbage before calling the
/// cluster and to read the secret name, never to decide who logs in.
fn unverified_claims(jwt: &str) -> Option<Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_h, p, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn claim_str(claims: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let mut cur = claims.get(*path.first()?)?;
    for p in &path[1..] {
        cur = cur.get(*p)?;
    }
    cur.as_str().map(str::to_string)
}

/// The namespace and name the JWT claims to be for, from legacy or projected tokens.
fn claimed_account(claims: &Map<String, Value>) -> Option<(String, String)> {
    let legacy = (
        claim_str(claims, &["kubernetes.io/serviceaccount/namespace"]),
        claim_str(
            claims,
            &["kubernetes.io/serviceaccount/service-account.name"],
        ),
    );
    if let (Some(ns), Some(name)) = legacy {
        return Some((ns, name));
    }
    let projected = (
        claim_str(claims, &["kubernetes.io", "namespace"]),
        claim_str(claims, &["kubernetes.io", "serviceaccount", "name"]),
    );
    match projected {
        (Some(ns), Some(name)) => Some((ns, name)),
        _ => None,
    }
}

async fn read_local(path: &Path) -> Option<Zeroizing<String>> {
    match tokio::fs::read_to_string(path).await {
        Ok(s) if !s.trim().is_empty() => Some(Zeroizing::new(s.trim().to_string())),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not read the pod's service-account file");
            None
        }
    }
}

/// Parses the TokenReview answer into the service account it authenticated.
pub fn parse_review(
    host: &str,
    review: &Value,
    audience: &str,
) -> std::result::Result<(String, String, String), CoreError> {
    let status = review.get("status").cloned().unwrap_or(Value::Null);
    if status.get("authenticated").and_then(Value::as_bool) != Some(true) {
        let why = status
            .get("error")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("no reason given");
        return Err(CoreError::InvalidCredentials(format!(
            "the Kubernetes API at {host} did not authenticate the service account token \
             (TokenReview: {why})"
        )));
    }
    let username = status
        .pointer("/user/username")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = status
        .pointer("/user/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut parts = username.splitn(4, ':');
    let (Some("system"), Some("serviceaccount"), Some(ns), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CoreError::InvalidCredentials(format!(
            "the token does not belong to a service account: the TokenReview names user \
             \"{username}\" (expected system:serviceaccount:<namespace>:<name>)"
        )));
    };
    if !audience.is_empty() {
        if let Some(auds) = status.get("audiences").and_then(Value::as_array) {
            if !auds.iter().any(|a| a.as_str() == Some(audience)) {
                return Err(CoreError::InvalidCredentials(format!(
                    "the service account token is not valid for the role's audience \
                     \"{audience}\""
                )));
            }
        }
    }
    Ok((ns.to_string(), name.to_string(), uid))
}

impl KubernetesBackend {
    async fn review(
        &self,
        req: &EngineRequest<'_>,
        config: &KubernetesConfig,
        role: &KubernetesRole,
        jwt: &str,
    ) -> Result<Value> {
        let local = !config.disable_local_ca_jwt;
        let (bearer, bearer_is_client) = if !config.token_reviewer_jwt.is_empty() {
            (
                Zeroizing::new(config.token_reviewer_jwt.expose().to_string()),
                false,
            )
        } else if let Some(t) = match local {
            true => read_local(&self.sa_dir.join("token")).await,
            false => None,
        } {
            (t, false)
        } else {
            (Zeroizing::new(jwt.to_string()), true)
        };
        let ca = if !config.kubernetes_ca_cert.trim().is_empty() {
            Zeroizing::new(config.kubernetes_ca_cert.clone())
        } else if local {
            read_local(&self.sa_dir.join("ca.crt"))
                .await
                .unwrap_or_default()
        } else {
            Zeroizing::new(String::new())
        };
        let host = &config.kubernetes_host;
        let client = self
            .clients
            .get("kubernetes_ca_cert", &ca)
            .map_err(|e| CoreError::bad(e.to_string()))?;
        let url = format!("{}{TOKEN_REVIEW_PATH}", base_url(host));
        let mut spec = Map::new();
        spec.insert("token".into(), json!(jwt));
        if !role.audience.is_empty() {
            spec.insert("audiences".into(), json!([role.audience]));
        }
        let body = Zeroizing::new(
            serde_json::to_vec(&json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": spec,
            }))
            .map_err(|e| CoreError::Internal(format!("could not encode a TokenReview: {e}")))?,
        );
        let sent = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .bearer_auth(bearer.as_str())
            .body(body.to_vec())
            .send()
            .await;
        let resp = sent.map_err(|e| {
            CoreError::Upstream(format!(
                "could not reach the Kubernetes API at {host} for a TokenReview: {}; check \
                 kubernetes_host and kubernetes_ca_cert in {}config",
                chain(&e),
                mount_route(req.mount)
            ))
        })?;
        match crate::http::read_json(&url, resp).await {
            Ok(v) => Ok(v),
            Err(HttpError::Status { status: 401, .. }) if bearer_is_client => {
                Err(CoreError::InvalidCredentials(format!(
                    "the Kubernetes API at {host} rejected the service account token (HTTP 401)"
                )))
            }
            Err(HttpError::Status { status, body, .. }) => Err(CoreError::Upstream(format!(
                "the Kubernetes API at {host} refused the TokenReview with HTTP {status} \
                 ({body}); the token reviewer JWT must be valid and its service account needs \
                 permission to create TokenReviews (ClusterRole system:auth-delegator)"
            ))),
            Err(e) => Err(CoreError::Upstream(format!(
                "TokenReview at the Kubernetes API {host} failed: {e}"
            ))),
        }
    }

    async fn login(&self, req: &EngineRequest<'_>) -> Result<Response> {
        let role_name = match opt_str(req.data, "role")? {
            Some(r) if !r.is_empty() => r,
            _ => {
                return Err(CoreError::bad(
                    "missing 'role': name the role to log in with",
                ))
            }
        };
        let jwt = match opt_str(req.data, "jwt")? {
            Some(j) if !j.is_empty() => Zeroizing::new(j),
            _ => {
                return Err(CoreError::bad(
                    "missing 'jwt': send the pod's service account token",
                ))
            }
        };
        let Some(config) = req.view.get_json::<KubernetesConfig>(CONFIG_KEY).await? else {
            return Err(CoreError::bad(format!(
                "the Kubernetes auth method at {0} is not configured: write kubernetes_host \
                 (and kubernetes_ca_cert) to {0}config",
                mount_route(req.mount)
            )));
        };
        let Some(role) = req
            .view
            .get_json::<KubernetesRole>(&role_key(&role_name))
            .await?
        else {
            return Err(CoreError::bad(format!("invalid role name \"{role_name}\"")));
        };
        check_login_cidrs(
            &role.token.token_bound_cidrs,
            req.client_addr,
            "the role's token_bound_cidrs",
        )?;
        let Some(claims) = unverified_claims(&jwt) else {
            return Err(CoreError::InvalidCredentials(
                "'jwt' is not a JWT (expected three base64url parts separated by '.')".into(),
            ));
        };
        let review = self.review(req, &config, &role, &jwt).await?;
        let (namespace, name, uid) =
            parse_review(&config.kubernetes_host, &review, &role.audience)?;
        if let Some((cns, cname)) = claimed_account(&claims) {
            if cns != namespace || cname != name {
                return Err(CoreError::InvalidCredentials(format!(
                    "the TokenReview names service account {namespace}/{name}, but the token \
                     claims to be {cns}/{cname}"
                )));
            }
        }
        if !role
            .bound_service_account_names
            .iter()
            .any(|p| crate::glob::matches(p, &name))
        {
            return Err(CoreError::InvalidCredentials(format!(
                "service account name \"{name}\" is not allowed by role \"{role_name}\" \
                 (bound_service_account_names: {})",
                role.bound_service_account_names.join(", ")
            )));
        }
        if !role
            .bound_service_account_namespaces
            .iter()
            .any(|p| crate::glob::matches(p, &namespace))
        {
            return Err(CoreError::InvalidCredentials(format!(
                "namespace \"{namespace}\" is not allowed by role \"{role_name}\" \
                 (bound_service_account_namespaces: {})",
                role.bound_service_account_namespaces.join(", ")
            )));
        }
        let sa = ServiceAccount {
            secret_name: claim_str(&claims, &["kubernetes.io/serviceaccount/secret.name"])
                .unwrap_or_default(),
            namespace,
            name,
            uid,
        };
        let mut metadata = Map::new();
        metadata.insert("role".into(), json!(role_name));
        metadata.insert("service_account_name".into(), json!(sa.name));
        metadata.insert("service_account_namespace".into(), json!(sa.namespace));
        metadata.insert("service_account_secret_name".into(), json!(sa.secret_name));
        metadata.insert("service_account_uid".into(), json!(sa.uid));
        let shown = format!("{}-{}", sa.namespace, sa.name);
        // Vault's alias: the service account's UID, or `namespace/name` when the role's
        // alias_name_source says so; its metadata the service account's fields.
        let alias_name = if role.alias_name_source == "serviceaccount_name" {
            format!("{}/{}", sa.namespace, sa.name)
        } else {
            sa.uid.clone()
        };
        let mut alias_meta = string_values(&metadata);
        alias_meta.remove("role");
        let alias = LoginAlias {
            name: alias_name,
            metadata: alias_meta,
            groups: None,
        };
        let auth = role
            .token
            .auth(metadata, display_name(req.mount, &shown))
            .with_alias(alias);
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

/// One path of this method's table.
type Spec = PathSpec<KubernetesBackend>;

/// Paths and handlers.
fn paths() -> &'static Paths<KubernetesBackend> {
    static PATHS: OnceLock<Paths<KubernetesBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut role_fields = vec![
            Field::new(
                "bound_service_account_names",
                FieldType::Any,
                "Service account names allowed to log in.",
            ),
            Field::new(
                "bound_service_account_namespaces",
                FieldType::Any,
                "Namespaces allowed to log in.",
            ),
            Field::new(
                "audience",
                FieldType::Any,
                "The audience the service account token must have.",
            ),
            Field::new(
                "alias_name_source",
                FieldType::Any,
                "serviceaccount_uid or serviceaccount_name.",
            ),
        ];
        role_fields.extend_from_slice(TOKEN_FIELDS);
        let mut specs = vec![
            Spec::new("login", "Log in with a service account token.")
                .op(Operation::Update, "Log in.", |b, req, _| {
                    Box::pin(b.login(req))
                })
                .fields(&[
                    Field::new("role", FieldType::String, "The role to log in with."),
                    Field::new("jwt", FieldType::String, "The service account token."),
                ])
                .unauthenticated(),
            Spec::new(
                "config",
                "How to reach the Kubernetes API and check tokens.",
            )
            .op(Operation::Read, "Read the configuration.", |_, req, _| {
                Box::pin(async move {
                    match req.view.get_json::<KubernetesConfig>(CONFIG_KEY).await? {
                        Some(c) => Ok(Response::data(config_data(&c))),
                        None => Ok(not_found()),
                    }
                })
            })
            .op(
                Operation::Update,
                "Write the configuration.",
                |_, req, _| {
                    Box::pin(async move {
                        let (c, warnings) = write_config(req.data)?;
                        req.view.put_json(CONFIG_KEY, &c).await?;
                        let mut resp = Response::no_content();
                        resp.warnings = warnings;
                        Ok(resp)
                    })
                },
            )
            .fields(&[
                Field::new(
                    "kubernetes_host",
                    FieldType::Any,
                    "URL of the Kubernetes API server.",
                ),
                Field::new(
                    "kubernetes_ca_cert",
                    FieldType::Any,
                    "PEM CA of the API server.",
                ),
                Field::new(
                    "token_reviewer_jwt",
                    FieldType::Any,
                    "Token used for TokenReview calls.",
                ),
                Field::new(
                    "pem_keys",
                    FieldType::Any,
                    "Public keys of service account tokens.",
                ),
                Field::new(
                    "issuer",
                    FieldType::Any,
                    "Expected issuer of service account tokens.",
                ),
                Field::new(
                    "disable_iss_validation",
                    FieldType::Any,
                    "Skip the issuer check.",
                ),
                Field::new(
                    "disable_local_ca_jwt",
                    FieldType::Any,
                    "Ignore the pod's own CA and token.",
                ),
            ]),
        ];
        specs.extend(role_paths::<KubernetesBackend, KubernetesRole>(
            "A role: which service accounts may log in.",
            &role_fields,
        ));
        Paths::new("this auth method", "auth/", specs)
    })
}

#[async_trait]
impl LogicalBackend for KubernetesBackend {
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
        TokenFields::renew_stored(req, "role", role_key, "role", |r: &KubernetesRole| &r.token)
            .await
    }
}

impl StoredRole for KubernetesRole {
    fn data(&self) -> Map<String, Value> {
        role_data(self)
    }

    fn apply(existing: Option<Self>, data: &Map<String, Value>) -> Result<Self> {
        apply_role(existing, data)
    }

    fn warnings(&self) -> Vec<String> {
        if binds_everyone(self) {
            vec![
                "bound_service_account_names and bound_service_account_namespaces are both \"*\": \
                 every service account of every namespace of the cluster can log in with this \
                 role"
                    .to_owned(),
            ]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_core::logical::map;

    #[test]
    fn reviews_parse_into_service_accounts() {
        let ok = json!({"status": {"authenticated": true, "user": {
            "username": "system:serviceaccount:apps:web", "uid": "u-1"}, "audiences": ["hush"]}});
        assert_eq!(
            parse_review("h", &ok, "hush").unwrap(),
            ("apps".into(), "web".into(), "u-1".into())
        );
        let e = parse_review("h", &ok, "other").unwrap_err();
        assert!(e.to_string().contains("audience"), "{e}");
        let no = json!({"status": {"authenticated": false, "error": "token expired"}});
        let e = parse_review("h", &no, "").unwrap_err();
        assert!(e.to_string().contains("token expired"), "{e}");
        let user = json!({"status": {"authenticated": true, "user": {"username": "alice"}}});
        assert!(parse_review("h", &user, "").is_err());
    }

    #[test]
    fn roles_need_bindings() {
        let e = apply_role(None, &map(json!({"bound_service_account_names": "a"}))).unwrap_err();
        assert!(
            e.to_string().contains("bound_service_account_namespaces"),
            "{e}"
        );
        // Vault permits binding everyone; the write warns.
        let everyone = apply_role(
            None,
            &map(json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "*"})),
        )
        .unwrap();
        let warnings = everyone.warnings();
        assert!(warnings[0].contains("both \"*\""), "{warnings:?}");
        let r = apply_role(
            None,
            &map(json!({"bound_service_account_names": "web",
                        "bound_service_account_namespaces": ["apps-*"], "policies": "p"})),
        )
        .unwrap();
        let d = role_data(&r);
        assert_eq!(d["alias_name_source"], "serviceaccount_uid");
        assert_eq!(d["policies"], json!(["p"]));
    }

    #[test]
    fn config_hides_the_reviewer_jwt() {
        let (c, _) = write_config(&map(json!({"kubernetes_host": "10.0.0.1:6443",
                                         "token_reviewer_jwt": "secret-jwt"})))
        .unwrap();
        assert_eq!(base_url(&c.kubernetes_host), "https://10.0.0.1:6443");
        let d = config_data(&c);
        assert!(!serde_json::to_string(&d).unwrap().contains("secret-jwt"));
        assert_eq!(d["token_reviewer_jwt_set"], true);
        assert!(!format!("{c:?}").contains("secret-jwt"));
        assert!(write_config(&map(json!({}))).is_err());
        let e = write_config(&map(
            json!({"kubernetes_host": "h", "kubernetes_ca_cert": "junk"}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("kubernetes_ca_cert"), "{e}");
        // PEM-shaped but unparsable (hvac's own tests send this): saved, with a warning.
        let (c, warnings) = write_config(&map(json!({"kubernetes_host": "h",
            "kubernetes_ca_cert": "-----BEGIN CERTIFICATE-----\\n.....\\n-----END CERTIFICATE-----"})))
        .unwrap();
        assert!(c.kubernetes_ca_cert.contains("....."));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("no matching"), "{}", warnings[0]);
    }
}
