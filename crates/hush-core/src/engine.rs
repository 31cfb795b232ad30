//! The one trait every secrets engine and auth method implements, and the registry that creates
//! them. Engines receive requests that already passed the seal check, token resolution, the ACL
//! and the audit log; they never check tokens or policies themselves.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::framework::PathTable;
use crate::logical::{Operation, Response, TokenParams};
use crate::view::View;

/// Tunable settings of a mount (`config` in `sys/mounts`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MountConfig {
    /// Default lease TTL in seconds (0: the system default).
    #[serde(default)]
    pub default_lease_ttl: u64,
    /// Maximum lease TTL in seconds (0: the system default).
    #[serde(default)]
    pub max_lease_ttl: u64,
    /// Vault's response-cache switch; accepted and reported.
    #[serde(default)]
    pub force_no_cache: bool,
    /// Request keys whose values are not HMAC'd in the audit log.
    #[serde(default)]
    pub audit_non_hmac_request_keys: Vec<String>,
    /// Response keys whose values are not HMAC'd in the audit log.
    #[serde(default)]
    pub audit_non_hmac_response_keys: Vec<String>,
    /// "unauth" or "hidden".
    #[serde(default)]
    pub listing_visibility: String,
    /// Request headers passed to the engine.
    #[serde(default)]
    pub passthrough_request_headers: Vec<String>,
    /// Auth-method lockout settings and other per-mount settings added by later engines.
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One entry of the mount table (secrets engines) or the auth table (auth methods).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountEntry {
    /// Where it is mounted, with a trailing '/', e.g. `secret/` (auth mounts: `userpass/`).
    pub path: String,
    /// The engine type, e.g. `kv`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// A stable random id of the mount, e.g. `kv_1a2b3c4d`.
    pub accessor: String,
    /// The UUID naming the mount's storage (`logical/<uuid>/` or `auth/<uuid>/`).
    pub uuid: String,
    /// Tunables.
    #[serde(default)]
    pub config: MountConfig,
    /// Engine options, e.g. `{"version": "2"}` for KV v2.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Not replicated (always false in hush; reported for compatibility).
    #[serde(default)]
    pub local: bool,
    /// Seal wrapping (reported for compatibility).
    #[serde(default)]
    pub seal_wrap: bool,
    /// Unix seconds of the mount.
    #[serde(default)]
    pub created_time: i64,
}

/// A request as an engine sees it: the path is relative to the mount, and the storage view is
/// the mount's own.
pub struct EngineRequest<'a> {
    /// The request id (for logs).
    pub id: &'a str,
    /// What is asked.
    pub operation: Operation,
    /// The path below the mount, without a leading '/' (may be empty).
    pub path: &'a str,
    /// Body or query parameters.
    pub data: &'a Map<String, Value>,
    /// The mount's encrypted storage.
    pub view: &'a View,
    /// The mount's table entry.
    pub mount: &'a MountEntry,
    /// The client's address, for CIDR checks.
    pub client_addr: Option<IpAddr>,
    /// The display name of the caller's token (`root`, `userpass-alice`; empty without a
    /// token), for names an engine makes from it (database user names).
    pub display_name: &'a str,
    /// The core's view of the request, for the core's own backends only.
    pub(crate) ctx: Option<&'a Ctx<'a>>,
    /// What the core lends the engine beyond its own mount (other mounts' credentials, the
    /// audit log, password policies); `None` outside the core (engine unit tests).
    pub peers: Option<&'a dyn Peers>,
}

impl<'a> EngineRequest<'a> {
    /// A request for `operation` on `path` (below the mount) with `data`, against the mount's
    /// storage and entry.
    pub fn new(
        id: &'a str,
        operation: Operation,
        path: &'a str,
        data: &'a Map<String, Value>,
        view: &'a View,
        mount: &'a MountEntry,
    ) -> Self {
        EngineRequest {
            id,
            operation,
            path,
            data,
            view,
            mount,
            client_addr: None,
            display_name: "",
            ctx: None,
            peers: None,
        }
    }

    /// The same request, with the core's [`Peers`].
    pub fn with_peers(mut self, peers: &'a dyn Peers) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The core's [`Peers`], or an error naming `what` needed them.
    ///
    /// # Errors
    ///
    /// An internal error when the engine runs outside the core.
    pub fn peers(&self, what: &str) -> Result<&'a dyn Peers> {
        self.peers.ok_or_else(|| {
            CoreError::Internal(format!(
                "{what} needs the core, but the engine runs without it"
            ))
        })
    }

    /// The same request, from `addr`.
    pub fn from_addr(mut self, addr: Option<IpAddr>) -> Self {
        self.client_addr = addr;
        self
    }

    /// The core's view of the request; only the core's own backends are given one.
    pub(crate) fn ctx(&self) -> Result<&'a Ctx<'a>> {
        self.ctx.ok_or_else(|| {
            CoreError::Internal("a core backend was called outside the pipeline".into())
        })
    }
}

/// A token an auth method issued, being renewed: what [`LogicalBackend::renew_login`] sees.
pub struct LoginRenewal<'a> {
    /// The auth mount's storage.
    pub view: &'a View,
    /// The auth mount's table entry.
    pub mount: &'a MountEntry,
    /// The token's policies, as issued (with `default` unless the method left it out).
    pub policies: &'a [String],
    /// The token's metadata, as the login set it (userpass: `username`; roles: `role_name` or
    /// `role`).
    pub metadata: &'a Map<String, Value>,
}

/// Whether a user's or role's policies are still those of a token it was issued: the same
/// set, leaving out `default`, which the core adds (Vault's rule for renewals).
pub fn same_policies(configured: &[String], token: &[String]) -> bool {
    let set = |l: &[String]| {
        let mut v = crate::fields::normalize_policies(l, false);
        v.retain(|p| p != "default");
        v
    };
    set(configured) == set(token)
}

/// What an engine that rotates a secret asks of the backend that manages the credential in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialOp {
    /// Make `password` the user's password.
    Set,
    /// Log in as the user with `password`, to prove it works.
    Test,
    /// Check that the target exists and the user may be rotated through it (a rotation's
    /// settings are being written; `password` is empty).
    Check,
}

/// A credential that another mount's backend manages (a database user of the database engine),
/// to be changed or tested for an engine that rotates a secret holding it.
pub struct CredentialChange<'a> {
    /// What to do.
    pub op: CredentialOp,
    /// Which of the backend's connections (the database engine: a `config/:name`).
    pub target: &'a str,
    /// The user.
    pub username: &'a str,
    /// The password to set or test.
    pub password: &'a str,
}

/// What the core lends an engine for work that reaches beyond its own mount. Engines never
/// see the core itself: only these calls, each checked and recorded by the core.
#[async_trait]
pub trait Peers: Send + Sync {
    /// Asks the backend mounted at `mount` (e.g. `database/`) to set or test a credential it
    /// manages ([`LogicalBackend::change_credential`]).
    async fn change_credential(&self, mount: &str, change: &CredentialChange<'_>) -> Result<()>;

    /// Records work an engine did on its own (a scheduled rotation step) in the audit log, as
    /// an `update` of `path` (relative to `mount`'s route) with `data` and the outcome. Fails
    /// when audit devices are enabled and none could record it: the work must then not go on.
    async fn audit_event(
        &self,
        mount: &MountEntry,
        path: &str,
        data: &Map<String, Value>,
        outcome: std::result::Result<&Map<String, Value>, &str>,
    ) -> Result<()>;

    /// The password policy `name` of `sys/policies/password` (`None`: no such policy).
    async fn password_policy(&self, name: &str) -> Result<Option<hush_policy::PasswordPolicy>>;
}

/// A password from `policy`, drawn from the CSPRNG: the one way engines and `sys/` make
/// passwords.
///
/// # Errors
///
/// The CSPRNG's failure.
pub fn generate_password(
    policy: &hush_policy::PasswordPolicy,
) -> Result<zeroize::Zeroizing<String>> {
    let password = policy.try_generate(|n| {
        hush_crypto::random_below(u32::try_from(n).unwrap_or(u32::MAX)).map(|i| i as usize)
    })?;
    Ok(zeroize::Zeroizing::new(password))
}

/// A secrets engine or auth method.
#[async_trait]
pub trait LogicalBackend: Send + Sync + 'static {
    /// Handles a request that already passed every check of the pipeline.
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response>;

    /// Called every few seconds (the core's maintenance interval) while the server is
    /// unsealed, with the mount's view and entry: for work on a schedule, such as rotating a
    /// password whose period is up. Errors are logged; the next call tries again.
    async fn periodic(&self, _req: &EngineRequest<'_>) -> Result<()> {
        Ok(())
    }

    /// Revokes a secret this backend issued with a lease: `internal` is what it returned in
    /// [`crate::logical::LeaseSecret::internal`]. Called by the lease manager when the lease
    /// expires or is revoked; an error keeps the lease and is retried. The default has nothing
    /// to revoke.
    async fn revoke_secret(
        &self,
        _req: &EngineRequest<'_>,
        _internal: &Map<String, Value>,
    ) -> Result<()> {
        Ok(())
    }

    /// Extends a leased secret's life where the backend must (a database user's expiry): the
    /// request's `expire_time` (unix seconds) is the lease's new end. An error refuses the
    /// renewal. The default accepts.
    async fn renew_secret(
        &self,
        _req: &EngineRequest<'_>,
        _internal: &Map<String, Value>,
    ) -> Result<()> {
        Ok(())
    }

    /// Sets or tests a credential this backend manages, for another mount's rotation of a secret
    /// that holds it (`req` carries this mount's view and entry). The default manages none.
    async fn change_credential(
        &self,
        req: &EngineRequest<'_>,
        _change: &CredentialChange<'_>,
    ) -> Result<()> {
        Err(CoreError::bad(format!(
            "the {} mount at {} manages no credentials that a rotation could change: use a \
             database mount",
            req.mount.kind, req.mount.path
        )))
    }

    /// Whether the target of a write exists, so that the core can ask the ACL for `update`
    /// instead of `create`. The default treats every write as an update.
    async fn exists(&self, _req: &EngineRequest<'_>) -> Result<bool> {
        Ok(true)
    }

    /// The canonical form of `path` (relative to the mount, already in the generic form of
    /// [`crate::canonical::request_path`]): the form the ACL is checked against and
    /// [`LogicalBackend::handle`] receives. Backends whose object names are case-insensitive
    /// lower-case them here, and names that break [`crate::canonical::check_name`] are refused;
    /// a handler never normalizes a name itself. The default keeps the path.
    fn canonical_path<'a>(&self, path: Cow<'a, str>) -> Result<Cow<'a, str>> {
        Ok(path)
    }

    /// The backend's path table, for backends on [`crate::framework`]: the questions below
    /// are then answered from it. The default: none (every answer below is its default).
    fn paths(&self) -> Option<&dyn PathTable> {
        None
    }

    /// Where in `path` (relative to the mount) a credential begins, for paths that carry one
    /// (a token, a secret ID): the audit log records that part HMAC'd.
    fn credential_in_path(&self, path: &str) -> Option<usize> {
        self.paths()?.credential_in_path(path)
    }

    /// Whether `path` (relative to the mount) can be called without a token (logins).
    fn is_unauthenticated(&self, path: &str) -> bool {
        self.paths().is_some_and(|p| p.is_unauthenticated(path))
    }

    /// Whether `operation` on `path` needs the `sudo` capability.
    fn requires_sudo(&self, path: &str, operation: Operation) -> bool {
        self.paths()
            .is_some_and(|p| p.requires_sudo(path, operation))
    }

    /// Whether `path` is served without an ACL check: its handler decides from the token's
    /// policies what to show.
    fn is_acl_exempt(&self, path: &str) -> bool {
        self.paths().is_some_and(|p| p.is_acl_exempt(path))
    }

    /// Whether `path` wraps its own response, so that the pipeline does not wrap it again.
    fn wraps_itself(&self, path: &str) -> bool {
        self.paths().is_some_and(|p| p.wraps_itself(path))
    }

    /// Whether `operation` on `path` changes nothing: it only reads what is stored, and
    /// creates no lease, token or record. The core may then write the request's audit entry
    /// together with its response entry (one write instead of two; the client still hears
    /// nothing before both are written). Without a table, `false`: the request entry is
    /// written before the engine runs.
    fn changes_nothing(&self, path: &str, operation: Operation) -> bool {
        self.paths()
            .is_some_and(|p| p.changes_nothing(path, operation))
    }

    /// Called when a token this auth method issued at login is renewed. Checks that the user or
    /// role it was issued for still exists and still grants the same policies (anything else
    /// refuses the renewal with an error that says why), and returns the TTL, maximum TTL and
    /// period that apply now: Vault reads them again on every renewal, so lowering a role's
    /// `token_max_ttl` limits tokens already out. The default, `Ok(None)`, has nothing to
    /// check, and the limits given at login stay.
    async fn renew_login(&self, _req: &LoginRenewal<'_>) -> Result<Option<TokenParams>> {
        Ok(None)
    }

    /// For a login request: the name under which its failures count towards the failed-login
    /// lockout (userpass: the username; AppRole: the role ID). `None` for anything else.
    fn lockout_key(&self, _req: &EngineRequest<'_>) -> Option<String> {
        None
    }

    /// The backend's paths as OpenAPI 3 path items under `route` (its mount's routing prefix,
    /// e.g. `auth/userpass/`), for `sys/internal/specs/openapi`.
    fn openapi(&self, route: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        Some(self.paths()?.openapi(route))
    }

    /// Vault's `?help=1` answer for `path` (relative to the mount at `route`).
    fn help(&self, route: &str, path: &str) -> Option<serde_json::Value> {
        Some(self.paths()?.help(route, path))
    }
}

/// Creates an engine for a mount entry. Fails with a clear message for an unknown type or bad
/// options.
pub type EngineFactory = Arc<dyn Fn(&MountEntry) -> Result<Arc<dyn LogicalBackend>> + Send + Sync>;

/// What an engine type knows about its own mount entries, so that the core need not: the
/// spellings it accepts, the option changes a tune may make, and what a dev server mounts.
pub trait MountRules: Send + Sync {
    /// Rewrites a new entry before it is stored (an alias type to the canonical one, an option's
    /// spelling to the stored one).
    fn normalize(&self, _entry: &mut MountEntry) {}

    /// Checks (and may respell) the options a tune sets on `entry`; an error refuses the tune
    /// and changes nothing.
    fn tune_options(
        &self,
        _entry: &MountEntry,
        _options: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        Ok(())
    }

    /// The mount a dev server starts with, if any (KV version 2 at `secret/`, as in Vault).
    fn dev_mount(&self) -> Option<MountEntry> {
        None
    }
}

/// The engines (or auth methods) this server can mount, by type name.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, EngineFactory>,
    rules: BTreeMap<String, Arc<dyn MountRules>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a factory for a type name.
    pub fn register(&mut self, kind: &str, factory: EngineFactory) {
        self.factories.insert(kind.to_string(), factory);
    }

    /// Registers the mount rules of a type name.
    pub fn register_rules(&mut self, kind: &str, rules: Arc<dyn MountRules>) {
        self.rules.insert(kind.to_string(), rules);
    }

    /// Applies the rules of `entry`'s type to a new entry (see [`MountRules::normalize`]).
    pub fn normalize(&self, entry: &mut MountEntry) {
        if let Some(r) = self.rules.get(&entry.kind) {
            r.normalize(entry);
        }
    }

    /// Checks the options a tune sets (see [`MountRules::tune_options`]).
    ///
    /// # Errors
    ///
    /// The type's refusal, naming what may not change.
    pub fn tune_options(
        &self,
        entry: &MountEntry,
        options: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        match self.rules.get(&entry.kind) {
            Some(r) => r.tune_options(entry, options),
            None => Ok(()),
        }
    }

    /// The mounts a dev server starts with, one per type that asks for one.
    pub fn dev_mounts(&self) -> Vec<MountEntry> {
        let mut out: Vec<MountEntry> = Vec::new();
        for r in self.rules.values() {
            if let Some(m) = r.dev_mount() {
                if !out.iter().any(|o| o.path == m.path) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The known type names, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }

    /// Creates an engine for `entry`.
    pub fn create(&self, entry: &MountEntry) -> Result<Arc<dyn LogicalBackend>> {
        match self.factories.get(&entry.kind) {
            Some(f) => f(entry),
            None => Err(CoreError::bad(format!(
                "unknown engine type \"{}\"; supported types: {}",
                entry.kind,
                self.kinds().join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_policies;

    fn v(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn policies_compare_as_sets_without_default() {
        assert!(same_policies(
            &v(&["app", "ops"]),
            &v(&["default", "ops", "app"])
        ));
        assert!(same_policies(&v(&[" APP ", "default"]), &v(&["app"])));
        assert!(same_policies(&v(&[]), &v(&["default"])));
        assert!(!same_policies(&v(&["app"]), &v(&["app", "ops", "default"])));
        assert!(!same_policies(&v(&["app", "ops"]), &v(&["app", "default"])));
    }
}
