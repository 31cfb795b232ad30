//! hush's auth methods, wire-compatible with HashiCorp Vault's so that hvac, vaultrs, External
//! Secrets Operator and Vault Agent log in unchanged:
//!
//! - [`userpass`]: usernames and argon2id-hashed passwords.
//! - [`approle`]: role IDs and secret IDs for machines (secret IDs stored only as salted HMACs).
//! - [`kubernetes`]: service-account JWTs checked with the cluster's TokenReview API.
//! - [`jwt`]: JWTs verified against a JWKS endpoint, OIDC discovery or fixed public keys.
//!
//! Each method implements [`hush_core::engine::LogicalBackend`]. A login handler returns an
//! [`hush_core::logical::AuthResponse`] with an empty `client_token`: the core issues the token
//! (within mount and system TTL limits), fills in the token and accessor, and audits the login.
//! Auth methods never create tokens, check ACLs or write audit entries themselves. Each login
//! also names its identity alias ([`hush_core::logical::LoginAlias`], as Vault's methods do);
//! the core finds or creates the alias's entity and ties the token to it.
//!
//! Failed logins answer [`hush_core::CoreError::InvalidCredentials`], which the core counts for
//! the failed-login lockout; the lockout key is the username (userpass) or the role ID
//! (AppRole).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod approle;
mod fields;
mod glob;
mod http;
pub mod jwt;
pub mod kubernetes;
pub mod token_fields;
pub mod userpass;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hush_core::engine::{LogicalBackend, MountEntry, Registry};

/// Where a pod finds its own service-account token and the cluster CA.
pub const DEFAULT_SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Settings of the auth methods that come from the server, not from the API.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// The directory holding `token` and `ca.crt` of the pod hush runs in. The Kubernetes
    /// method uses them when its config has no `token_reviewer_jwt` / `kubernetes_ca_cert` and
    /// `disable_local_ca_jwt` is false. Tests point it at a temporary directory.
    pub kubernetes_service_account_dir: PathBuf,
    /// The JWT method refetches its JWKS when a token names an unknown `kid`, but at most once
    /// per this interval, so that a stream of tokens with made-up key IDs cannot make hush hammer
    /// the identity provider.
    pub jwks_min_refresh_interval: Duration,
    /// How long a fetched JWKS is used before it is fetched again on the next login.
    pub jwks_max_age: Duration,
    /// Timeout of each call to an external service (TokenReview, JWKS, OIDC discovery).
    pub http_timeout: Duration,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            kubernetes_service_account_dir: PathBuf::from(DEFAULT_SERVICE_ACCOUNT_DIR),
            jwks_min_refresh_interval: Duration::from_secs(10),
            jwks_max_age: Duration::from_secs(3600),
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// Registers every auth method of this crate with the default [`AuthOptions`]: `userpass`,
/// `approle`, `kubernetes`, `jwt` and `oidc` (the same method as `jwt`; only JWT logins are
/// supported, not the browser flow).
pub fn register(registry: &mut Registry) {
    register_with(registry, AuthOptions::default());
}

/// Registers every auth method of this crate with the given options.
pub fn register_with(registry: &mut Registry, options: AuthOptions) {
    let options = Arc::new(options);
    registry.register(
        "userpass",
        Arc::new(|_entry: &MountEntry| {
            Ok(Arc::new(userpass::UserpassBackend::new()) as Arc<dyn LogicalBackend>)
        }),
    );
    registry.register(
        "approle",
        Arc::new(|_entry: &MountEntry| {
            Ok(Arc::new(approle::AppRoleBackend::new()) as Arc<dyn LogicalBackend>)
        }),
    );
    let k8s_options = options.clone();
    registry.register(
        "kubernetes",
        Arc::new(move |_entry: &MountEntry| {
            Ok(Arc::new(kubernetes::KubernetesBackend::new(&k8s_options))
                as Arc<dyn LogicalBackend>)
        }),
    );
    for kind in ["jwt", "oidc"] {
        let jwt_options = options.clone();
        registry.register(
            kind,
            Arc::new(move |_entry: &MountEntry| {
                Ok(Arc::new(jwt::JwtBackend::new(&jwt_options)) as Arc<dyn LogicalBackend>)
            }),
        );
    }
}

/// A stored credential (the Kubernetes token reviewer JWT, the OIDC client secret): serialized
/// as a plain string, redacted in `Debug`, zeroized when dropped.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a credential.
    pub fn new(s: String) -> Self {
        SecretString(s)
    }

    /// The credential itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}
