//! The logical request and response: what every HTTP call becomes before it enters the pipeline,
//! and what engines hand back. Nothing here knows about HTTP.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

/// What a request wants to do. The HTTP verb decides it (GET→Read, LIST→List, PUT/POST→Update,
/// PATCH→Patch, DELETE→Delete); the core turns Update into Create when the target does not exist
/// yet, because ACL policies can grant one without the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// GET.
    Read,
    /// LIST or GET with `?list=true`.
    List,
    /// PUT/POST on a path that does not exist yet.
    Create,
    /// PUT/POST.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Operation {
    /// The name used in audit entries and capability checks.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// A logical request.
#[derive(Debug, Clone)]
pub struct Request {
    /// A fresh UUID, echoed as `request_id` and recorded in the audit log.
    pub id: String,
    /// What the request wants to do.
    pub operation: Operation,
    /// The path below `/v1/`, without a leading slash.
    pub path: String,
    /// The JSON body (for writes) or the query parameters (for reads).
    pub data: Map<String, Value>,
    /// The client token, from `X-Vault-Token` or `Authorization: Bearer`.
    pub token: Option<String>,
    /// The client's address.
    pub client_addr: Option<IpAddr>,
    /// `X-Vault-Wrap-TTL`, when the client asked for response wrapping.
    pub wrap_ttl: Option<Duration>,
    /// The mount the request was routed to, for the audit log (set by the core).
    pub mount: Option<MountInfo>,
    /// Where in `path` a credential begins (`auth/token/lookup/<token>`): the audit log records
    /// that part HMAC'd, as it does every token (set by the core from the route).
    pub credential_at: Option<usize>,
    /// Vault's `?help=1`: answer with the path's help instead of running it.
    pub help: bool,
}

/// Which mount a request reached, as the audit log records it.
#[derive(Debug, Clone, Default)]
pub struct MountInfo {
    /// e.g. `secret/` or `auth/token/`.
    pub point: String,
    /// e.g. `kv`.
    pub kind: String,
    /// The mount accessor.
    pub accessor: String,
    /// The mount's `audit_non_hmac_request_keys`: top-level keys of the request data that
    /// audit entries keep in clear.
    pub non_hmac_request_keys: Vec<String>,
    /// The mount's `audit_non_hmac_response_keys`.
    pub non_hmac_response_keys: Vec<String>,
}

impl Request {
    /// A request with a fresh id and no data or token.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: uuid::Uuid::new_v4().to_string(),
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            client_addr: None,
            wrap_ttl: None,
            mount: None,
            credential_at: None,
            help: false,
        }
    }

    /// Builder: sets the token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Builder: sets the data.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }
}

/// The `auth` block of a response: a token that was just issued.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct AuthResponse {
    /// The token itself. Shown to the client once; never logged.
    pub client_token: String,
    /// The token's accessor.
    pub accessor: String,
    /// All policies of the token.
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Policies from the token's entity and its groups.
    pub identity_policies: Vec<String>,
    /// Metadata of the login.
    pub metadata: Option<Map<String, Value>>,
    /// Seconds until the token expires (0: never).
    pub lease_duration: u64,
    /// Whether the token can be renewed.
    pub renewable: bool,
    /// Identity entity (empty: none).
    pub entity_id: String,
    /// "service" or "batch".
    pub token_type: String,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// MFA (never required in hush yet).
    pub mfa_requirement: Option<Value>,
    /// Uses left (0: unlimited).
    pub num_uses: u64,
    /// Set by auth methods, read by the core when it issues the token: never sent.
    #[serde(skip)]
    pub issue: TokenParams,
    /// Set by auth methods: who logged in, as the identity store names it. The core finds or
    /// creates the entity of this alias and ties the token to it. Never sent.
    #[serde(skip)]
    pub alias: Option<LoginAlias>,
}

impl AuthResponse {
    /// Names the alias of the login (see [`LoginAlias`]).
    pub fn with_alias(mut self, alias: LoginAlias) -> Self {
        self.alias = Some(alias);
        self
    }
}

/// The entity alias a login proves, named by the auth method (Vault's `logical.Alias`): the
/// core does the identity work with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginAlias {
    /// The name in this auth method: a username, an AppRole role ID, a JWT's `user_claim`
    /// value, a Kubernetes service account's UID (or `namespace/name`).
    pub name: String,
    /// Alias metadata the method sets, as Vault's (AppRole: the role and secret ID metadata;
    /// JWT: the `claim_mappings`; Kubernetes: the service account's fields).
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The names of the groups the login proves membership of (JWT: the `groups_claim`
    /// values), matched against group aliases of the mount; `None` when the method does not
    /// report groups, which leaves external memberships as they are.
    pub groups: Option<Vec<String>>,
}

impl LoginAlias {
    /// An alias with this name and no metadata or groups.
    pub fn named(name: impl Into<String>) -> Self {
        LoginAlias {
            name: name.into(),
            ..Default::default()
        }
    }
}

/// What an auth method asks the core to put in the token it issues on a login.
#[derive(Debug, Clone, Default)]
pub struct TokenParams {
    /// TTL (0: the mount's or system default).
    pub ttl: u64,
    /// Maximum TTL (0: the mount's or system maximum).
    pub max_ttl: u64,
    /// Hard maximum from creation.
    pub explicit_max_ttl: u64,
    /// Period.
    pub period: u64,
    /// CIDRs the token may be used from.
    pub bound_cidrs: Vec<String>,
    /// Leave out `default`.
    pub no_default_policy: bool,
    /// Display name, e.g. `userpass-alice`.
    pub display_name: String,
}

/// A secret an engine issues with a lifetime: the pipeline turns it into a lease.
#[derive(Debug, Clone, Default)]
pub struct LeaseSecret {
    /// The TTL the engine asks for (zero: the mount's default).
    pub ttl: std::time::Duration,
    /// The longest life the engine allows (zero: the mount's maximum).
    pub max_ttl: std::time::Duration,
    /// Whether the lease may be renewed.
    pub renewable: bool,
    /// What the engine needs to revoke or renew the secret later (a user name...), kept with
    /// the lease inside the barrier and handed back to
    /// [`crate::engine::LogicalBackend::revoke_secret`].
    pub internal: Map<String, Value>,
}

/// What an engine returns.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The `data` of the envelope.
    pub data: Option<Map<String, Value>>,
    /// A token issued by this request.
    pub auth: Option<AuthResponse>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
    /// Overrides the status code (e.g. 404 with a body for a deleted KV version).
    pub status: Option<u16>,
    /// Copy the fields of `data` to the top level too, as Vault does for some sys endpoints.
    pub data_at_top_level: bool,
    /// A body sent as it is, without the envelope (sys/health, sys/seal-status, ...).
    pub raw: Option<Value>,
    /// A body that is not JSON, with its content type (`sys/metrics?format=prometheus`, a
    /// snapshot).
    pub body: Option<(&'static str, Vec<u8>)>,
    /// The mount type, echoed as `mount_type`.
    pub mount_type: Option<String>,
    /// Set when the response was wrapped: the client gets this instead of `data`/`auth`.
    pub wrap_info: Option<WrapInfo>,
    /// Seconds after which a rate-limited client may retry (`Retry-After`).
    pub retry_after: Option<u64>,
    /// `lease_duration` of the envelope (KV v1 reports its TTL here).
    pub lease_duration: Option<u64>,
    /// A secret with a lifetime: the pipeline gives it a lease (see [`crate::leases`]). Never
    /// sent to the client as such: its `internal` data is the engine's.
    pub secret: Option<LeaseSecret>,
    /// `lease_id` of the envelope, set by the pipeline when it leased `secret`.
    pub lease_id: Option<String>,
    /// `renewable` of the envelope.
    pub renewable: bool,
}

/// `wrap_info` of a wrapped response.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WrapInfo {
    /// The single-use wrapping token.
    pub token: String,
    /// Its accessor.
    pub accessor: String,
    /// Seconds it lives.
    pub ttl: u64,
    /// RFC 3339 creation time.
    pub creation_time: String,
    /// The path whose response was wrapped.
    pub creation_path: String,
    /// The accessor of a wrapped token, when the wrapped response issued one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub wrapped_accessor: String,
}

impl Response {
    /// A response with `data`.
    pub fn data(data: Map<String, Value>) -> Self {
        Response {
            data: Some(data),
            ..Default::default()
        }
    }

    /// A response with `data` that clients may also read at the top level.
    pub fn data_top_level(data: Map<String, Value>) -> Self {
        Response {
            data: Some(data),
            data_at_top_level: true,
            ..Default::default()
        }
    }

    /// A body without the envelope, with a status code.
    pub fn raw(status: u16, body: Value) -> Self {
        Response {
            raw: Some(body),
            status: Some(status),
            ..Default::default()
        }
    }

    /// A 200 with a body that is not JSON.
    pub fn text(content_type: &'static str, body: String) -> Self {
        Response::bytes(content_type, body.into_bytes())
    }

    /// A 200 with a binary body.
    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            body: Some((content_type, body)),
            status: Some(200),
            ..Default::default()
        }
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Response::default()
    }

    /// Whether the HTTP layer should answer 204.
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
            && self.auth.is_none()
            && self.warnings.is_empty()
            && self.raw.is_none()
            && self.body.is_none()
            && self.wrap_info.is_none()
    }
}

/// Turns a `serde_json::json!({...})` object into the map `data` wants. Anything that is not an
/// object becomes an empty map: callers only pass object literals.
pub fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
