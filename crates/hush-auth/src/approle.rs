//! The `approle` auth method: machines log in with a role ID and a secret ID.
//!
//! | path | operations |
//! |---|---|
//! | `role` | list |
//! | `role/:name` | read, write, delete |
//! | `role/:name/role-id` | read, write `{role_id}` |
//! | `role/:name/secret-id` | write (generate), list (accessors) |
//! | `role/:name/custom-secret-id` | write `{secret_id, ...}` |
//! | `role/:name/secret-id/lookup`, `.../destroy` | write `{secret_id}` |
//! | `role/:name/secret-id-accessor/lookup`, `.../destroy` | write `{secret_id_accessor}` |
//! | `role/:name/policies`, `secret-id-num-uses`, `secret-id-ttl`, `token-ttl`, `token-max-ttl`, `token-num-uses`, `bind-secret-id`, `secret-id-bound-cidrs`, `token-bound-cidrs`, `period`, `local-secret-ids` | read, write, delete one property |
//! | `login` | write `{role_id, secret_id}`, unauthenticated |
//! | `tidy/secret-id` | write: removes expired secret IDs |
//!
//! Role names are case-insensitive (stored lowercased), as in Vault.
//!
//! # Storage (inside the mount's encrypted view)
//!
//! Role IDs, secret IDs and accessors never appear in storage keys or values in clear: keys are
//! HMAC-SHA256 under a random per-mount salt (`salt`), with a domain label per kind so that a
//! value of one kind can never collide with another.
//!
//! - `salt`: 32 random bytes.
//! - `role/<name>`: [`RoleEntry`] (it holds the role ID: the login looks it up by its HMAC and
//!   then compares it in constant time).
//! - `role-id/<hmac(role_id)>`: the name of the role with that role ID.
//! - `secret-id/<hmac(role name)>/<hmac(secret_id)>`: [`SecretIdEntry`] — everything about a
//!   secret ID except the secret ID itself.
//! - `accessor/<hmac(role name)>/<hmac(accessor)>`: the HMAC of the secret ID it names.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use async_trait::async_trait;
use hush_core::engine::{EngineRequest, LogicalBackend, LoginRenewal};
use hush_core::error::{CoreError, Result};
use hush_core::framework::{Captures, Field, FieldType, Handler, PathSpec, PathTable, Paths};
use hush_core::logical::{LoginAlias, Operation, Response, TokenParams};
use hush_core::view::{View, ViewOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::fields::{
    check_login_cidrs, cidrs_subset, display_name, has, list_response, not_found, now_nanos,
    opt_bool, opt_cidrs, opt_str, opt_string_map, opt_ttl, opt_u64, random_uuid, rfc3339_nanos,
    role_key, string_values,
};
use crate::token_fields::{TokenFields, TOKEN_FIELDS};

/// The message of every failed AppRole login caused by the role ID or secret ID.
pub const INVALID_CREDENTIALS: &str = "invalid role ID or secret ID";

const NANOS: i64 = 1_000_000_000;

/// One AppRole, as stored.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleEntry {
    /// The role's name (lowercase).
    pub name: String,
    /// The role ID clients log in with.
    pub role_id: String,
    /// Whether logins need a secret ID.
    pub bind_secret_id: bool,
    /// Client addresses allowed to log in.
    #[serde(default)]
    pub secret_id_bound_cidrs: Vec<String>,
    /// Default uses of new secret IDs (0: unlimited).
    #[serde(default)]
    pub secret_id_num_uses: u64,
    /// Default lifetime of new secret IDs in seconds (0: forever).
    #[serde(default)]
    pub secret_id_ttl: u64,
    /// Accepted and reported for compatibility; hush has no cluster-local storage.
    #[serde(default)]
    pub local_secret_ids: bool,
    /// Token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl std::fmt::Debug for RoleEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleEntry")
            .field("name", &self.name)
            .field("role_id", &"[redacted]")
            .field("bind_secret_id", &self.bind_secret_id)
            .field("secret_id_bound_cidrs", &self.secret_id_bound_cidrs)
            .field("secret_id_num_uses", &self.secret_id_num_uses)
            .field("secret_id_ttl", &self.secret_id_ttl)
            .field("token", &self.token)
            .finish()
    }
}

/// One secret ID, as stored (the secret ID itself is only the HMAC in the storage key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretIdEntry {
    /// The accessor, which names the secret ID without revealing it.
    pub secret_id_accessor: String,
    /// Metadata given at creation, copied into the metadata of tokens issued with it.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Client addresses allowed to log in with it.
    #[serde(default)]
    pub cidr_list: Vec<String>,
    /// Addresses the issued tokens may be used from (overrides the role's).
    #[serde(default)]
    pub token_bound_cidrs: Vec<String>,
    /// Logins left (0: unlimited).
    #[serde(default)]
    pub secret_id_num_uses: u64,
    /// Lifetime given at creation in seconds (0: forever).
    #[serde(default)]
    pub secret_id_ttl: u64,
    /// Unix nanoseconds of creation.
    pub creation_time: i64,
    /// Unix nanoseconds of expiry (0: never).
    pub expiration_time: i64,
    /// Unix nanoseconds of the last change (creation or a login that used up a use).
    pub last_updated_time: i64,
}

impl SecretIdEntry {
    fn expired(&self, now: i64) -> bool {
        self.expiration_time != 0 && now >= self.expiration_time
    }

    fn to_data(&self) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("secret_id_accessor".into(), json!(self.secret_id_accessor));
        d.insert("metadata".into(), json!(self.metadata));
        d.insert("cidr_list".into(), json!(self.cidr_list));
        d.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        d.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        d.insert("secret_id_ttl".into(), json!(self.secret_id_ttl));
        d.insert(
            "creation_time".into(),
            json!(rfc3339_nanos(self.creation_time)),
        );
        d.insert(
            "expiration_time".into(),
            json!(rfc3339_nanos(self.expiration_time)),
        );
        d.insert(
            "last_updated_time".into(),
            json!(rfc3339_nanos(self.last_updated_time)),
        );
        d
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RoleIdIndex {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessorIndex {
    secret_id_hmac: String,
}

/// The AppRole auth method. The lock serializes every change to roles and secret IDs of the
/// mount, so two logins can never both spend the last use of a secret ID.
#[derive(Debug, Default)]
pub struct AppRoleBackend {
    lock: tokio::sync::Mutex<()>,
}

impl AppRoleBackend {
    /// A new backend.
    pub fn new() -> Self {
        AppRoleBackend::default()
    }
}

/// The per-mount salt of the HMACs, created on first use.
struct Salt(Zeroizing<Vec<u8>>);

impl Salt {
    fn mac(&self, domain: &str, value: &str) -> String {
        let mut msg = Zeroizing::new(Vec::with_capacity(domain.len() + 1 + value.len()));
        msg.extend_from_slice(domain.as_bytes());
        msg.push(0);
        msg.extend_from_slice(value.as_bytes());
        hex::encode(hush_crypto::hash::hmac_sha256(&self.0, &msg))
    }

    fn role_dir(&self, name: &str) -> String {
        self.mac("role", name)
    }

    fn secret_key(&self, name: &str, secret_hmac: &str) -> String {
        format!("secret-id/{}/{secret_hmac}", self.role_dir(name))
    }

    fn accessor_key(&self, name: &str, accessor: &str) -> String {
        format!(
            "accessor/{}/{}",
            self.role_dir(name),
            self.mac("accessor", accessor)
        )
    }

    fn role_id_key(&self, role_id: &str) -> String {
        format!("role-id/{}", self.mac("role_id", role_id))
    }
}

const SALT_KEY: &str = "salt";

fn to_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v)
        .map_err(|e| CoreError::Internal(format!("could not encode a record: {e}")))
}

/// The properties with their own path below `role/:name/`, and the request fields each one
/// reads and writes.
const PROPERTIES: &[(&str, &[&str])] = &[
    ("policies", &["token_policies", "policies"]),
    ("secret-id-num-uses", &["secret_id_num_uses"]),
    ("secret-id-ttl", &["secret_id_ttl"]),
    ("token-ttl", &["token_ttl"]),
    ("token-max-ttl", &["token_max_ttl"]),
    ("token-num-uses", &["token_num_uses"]),
    ("bind-secret-id", &["bind_secret_id"]),
    ("secret-id-bound-cidrs", &["secret_id_bound_cidrs"]),
    ("token-bound-cidrs", &["token_bound_cidrs"]),
    ("period", &["token_period", "period"]),
    ("local-secret-ids", &["local_secret_ids"]),
];

/// The value a property gets back when its path is deleted.
fn property_default(field: &str) -> Value {
    match field {
        "token_policies" | "secret_id_bound_cidrs" | "token_bound_cidrs" => json!([]),
        "bind_secret_id" => json!(true),
        _ => json!(0),
    }
}

impl RoleEntry {
    fn new(name: &str) -> Result<Self> {
        Ok(RoleEntry {
            name: name.to_string(),
            role_id: random_uuid()?,
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            local_secret_ids: false,
            token: TokenFields::default(),
        })
    }

    /// Applies the fields present in `data`.
    fn apply(&mut self, data: &Map<String, Value>, creating: bool) -> Result<()> {
        if let Some(b) = opt_bool(data, "bind_secret_id")? {
            self.bind_secret_id = b;
        }
        match (
            has(data, "secret_id_bound_cidrs"),
            has(data, "bound_cidr_list"),
        ) {
            (true, true) => {
                return Err(CoreError::bad(
                    "'secret_id_bound_cidrs' and its older name 'bound_cidr_list' were both \
                     given: send only 'secret_id_bound_cidrs'",
                ))
            }
            (true, false) => {
                self.secret_id_bound_cidrs =
                    opt_cidrs(data, "secret_id_bound_cidrs")?.unwrap_or_default()
            }
            (false, true) => {
                self.secret_id_bound_cidrs = opt_cidrs(data, "bound_cidr_list")?.unwrap_or_default()
            }
            (false, false) => {}
        }
        if let Some(n) = opt_u64(data, "secret_id_num_uses")? {
            self.secret_id_num_uses = n;
        }
        if let Some(t) = opt_ttl(data, "secret_id_ttl")? {
            self.secret_id_ttl = t;
        }
        if let Some(l) = opt_bool(data, "local_secret_ids")? {
            if creating {
                self.local_secret_ids = l;
            } else if l != self.local_secret_ids {
                return Err(CoreError::bad(
                    "'local_secret_ids' can only be set when the role is created",
                ));
            }
        }
        self.token.update(data)?;
        if let Some(id) = opt_str(data, "role_id")? {
            if id.trim().is_empty() {
                return Err(CoreError::bad("'role_id' may not be empty"));
            }
            self.role_id = id;
        }
        if !self.bind_secret_id
            && self.secret_id_bound_cidrs.is_empty()
            && self.token.token_bound_cidrs.is_empty()
        {
            return Err(CoreError::bad(
                "at least one constraint must be enabled on the role: set bind_secret_id to \
                 true, or give secret_id_bound_cidrs or token_bound_cidrs",
            ));
        }
        Ok(())
    }

    fn to_data(&self) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("bind_secret_id".into(), json!(self.bind_secret_id));
        d.insert("local_secret_ids".into(), json!(self.local_secret_ids));
        d.insert(
            "secret_id_bound_cidrs".into(),
            json!(self.secret_id_bound_cidrs),
        );
        d.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        d.insert("secret_id_ttl".into(), json!(self.secret_id_ttl));
        self.token.write_to(&mut d, &["policies", "period"]);
        d
    }
}

impl AppRoleBackend {
    async fn salt(&self, view: &View) -> Result<Salt> {
        if let Some(s) = view.get(SALT_KEY).await? {
            return Ok(Salt(s));
        }
        let _guard = self.lock.lock().await;
        self.salt_locked(view).await
    }

    /// The salt, creating it; the caller holds the lock.
    async fn salt_locked(&self, view: &View) -> Result<Salt> {
        if let Some(s) = view.get(SALT_KEY).await? {
            return Ok(Salt(s));
        }
        let s = Zeroizing::new(hush_crypto::random_bytes(32)?);
        view.put(SALT_KEY, &s).await?;
        Ok(Salt(s))
    }

    async fn load_role(view: &View, name: &str) -> Result<Option<RoleEntry>> {
        view.get_json::<RoleEntry>(&role_key(name)).await
    }

    async fn must_role(req: &EngineRequest<'_>, name: &str) -> Result<RoleEntry> {
        Self::load_role(req.view, name).await?.ok_or_else(|| {
            CoreError::bad(format!(
                "role \"{name}\" does not exist: create it with a write to role/{name}"
            ))
        })
    }

    /// Saves a role and keeps the role-ID index in step, refusing a role ID another role has.
    async fn save_role(
        &self,
        view: &View,
        salt: &Salt,
        old: Option<&RoleEntry>,
        role: &RoleEntry,
    ) -> Result<()> {
        let mut ops = vec![ViewOp::Put(role_key(&role.name), to_bytes(role)?)];
        let changed = old.is_none_or(|o| o.role_id != role.role_id);
        if changed {
            let new_key = salt.role_id_key(&role.role_id);
            if let Some(other) = view.get_json::<RoleIdIndex>(&new_key).await? {
                if other.name != role.name {
                    return Err(CoreError::bad(
                        "this role_id is already used by another role: role IDs must be unique \
                         within the mount",
                    ));
                }
            }
            ops.push(ViewOp::Put(
                new_key,
                to_bytes(&RoleIdIndex {
                    name: role.name.clone(),
                })?,
            ));
            if let Some(o) = old {
                ops.push(ViewOp::Delete(salt.role_id_key(&o.role_id)));
            }
        }
        view.transaction(ops).await
    }

    async fn write_role(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        let _guard = self.lock.lock().await;
        let salt = self.salt_locked(req.view).await?;
        let old = Self::load_role(req.view, name).await?;
        let mut role = match &old {
            Some(r) => r.clone(),
            None => RoleEntry::new(name)?,
        };
        role.apply(req.data, old.is_none())?;
        self.save_role(req.view, &salt, old.as_ref(), &role).await?;
        Ok(Response::no_content())
    }

    async fn delete_role(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        let _guard = self.lock.lock().await;
        let Some(role) = Self::load_role(req.view, name).await? else {
            return Ok(Response::no_content());
        };
        let salt = self.salt_locked(req.view).await?;
        let dir = salt.role_dir(name);
        req.view.delete_tree(&format!("secret-id/{dir}/")).await?;
        req.view.delete_tree(&format!("accessor/{dir}/")).await?;
        req.view
            .transaction(vec![
                ViewOp::Delete(salt.role_id_key(&role.role_id)),
                ViewOp::Delete(role_key(name)),
            ])
            .await?;
        Ok(Response::no_content())
    }

    async fn role_id(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        match req.operation {
            Operation::Read => match Self::load_role(req.view, name).await? {
                Some(r) => {
                    let mut d = Map::new();
                    d.insert("role_id".into(), json!(r.role_id));
                    Ok(Response::data(d))
                }
                None => Ok(not_found()),
            },
            Operation::Create | Operation::Update => {
                let id = match opt_str(req.data, "role_id")? {
                    Some(id) if !id.trim().is_empty() => id,
                    _ => return Err(CoreError::bad("missing 'role_id': give the new role ID")),
                };
                let _guard = self.lock.lock().await;
                let salt = self.salt_locked(req.view).await?;
                let old = Self::must_role(req, name).await?;
                let mut role = old.clone();
                role.role_id = id;
                self.save_role(req.view, &salt, Some(&old), &role).await?;
                Ok(Response::no_content())
            }
            // The table routes only the operations it declares.
            op => Err(hush_core::framework::unsupported(req.path, op)),
        }
    }

    async fn property(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
        fields: &[&str],
    ) -> Result<Response> {
        match req.operation {
            Operation::Read => {
                let Some(role) = Self::load_role(req.view, name).await? else {
                    return Ok(not_found());
                };
                let all = role.to_data();
                let d: Map<String, Value> = all
                    .into_iter()
                    .filter(|(k, _)| fields.contains(&k.as_str()))
                    .collect();
                Ok(Response::data(d))
            }
            Operation::Create | Operation::Update | Operation::Delete => {
                let update: Map<String, Value> = if req.operation == Operation::Delete {
                    fields
                        .iter()
                        .take(1)
                        .map(|f| (f.to_string(), property_default(f)))
                        .collect()
                } else {
                    req.data
                        .iter()
                        .filter(|(k, v)| fields.contains(&k.as_str()) && !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                if update.is_empty() {
                    return Err(CoreError::bad(format!(
                        "missing '{}': give the new value",
                        fields.first().copied().unwrap_or("value")
                    )));
                }
                let _guard = self.lock.lock().await;
                let salt = self.salt_locked(req.view).await?;
                let old = Self::must_role(req, name).await?;
                let mut role = old.clone();
                role.apply(&update, false)?;
                self.save_role(req.view, &salt, Some(&old), &role).await?;
                Ok(Response::no_content())
            }
            op => Err(hush_core::framework::unsupported(req.path, op)),
        }
    }

    async fn create_secret_id(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
        custom: bool,
    ) -> Result<Response> {
        let role = Self::must_role(req, name).await?;
        if !role.bind_secret_id {
            return Err(CoreError::bad(format!(
                "role \"{name}\" has bind_secret_id=false, so it does not use secret IDs; set \
                 bind_secret_id to true first"
            )));
        }
        let secret_id = if custom {
            match opt_str(req.data, "secret_id")? {
                Some(s) if !s.is_empty() => Zeroizing::new(s),
                _ => {
                    return Err(CoreError::bad(
                        "missing 'secret_id': custom-secret-id needs the secret ID to register",
                    ))
                }
            }
        } else {
            Zeroizing::new(random_uuid()?)
        };
        let metadata = opt_string_map(req.data, "metadata")?.unwrap_or_default();
        let cidr_list = opt_cidrs(req.data, "cidr_list")?.unwrap_or_default();
        if !cidrs_subset(&cidr_list, &role.secret_id_bound_cidrs) {
            return Err(CoreError::bad(format!(
                "'cidr_list' must lie within the role's secret_id_bound_cidrs ({})",
                role.secret_id_bound_cidrs.join(", ")
            )));
        }
        let token_bound_cidrs = opt_cidrs(req.data, "token_bound_cidrs")?.unwrap_or_default();
        if !cidrs_subset(&token_bound_cidrs, &role.token.token_bound_cidrs) {
            return Err(CoreError::bad(format!(
                "'token_bound_cidrs' must lie within the role's token_bound_cidrs ({})",
                role.token.token_bound_cidrs.join(", ")
            )));
        }
        let num_uses = opt_u64(req.data, "num_uses")?.unwrap_or(role.secret_id_num_uses);
        if role.secret_id_num_uses > 0 && (num_uses == 0 || num_uses > role.secret_id_num_uses) {
            return Err(CoreError::bad(format!(
                "'num_uses' ({num_uses}, 0 meaning unlimited) cannot be more than the role's \
                 secret_id_num_uses ({})",
                role.secret_id_num_uses
            )));
        }
        let ttl = opt_ttl(req.data, "ttl")?.unwrap_or(role.secret_id_ttl);
        if role.secret_id_ttl > 0 && (ttl == 0 || ttl > role.secret_id_ttl) {
            return Err(CoreError::bad(format!(
                "'ttl' ({ttl}s, 0 meaning forever) cannot be longer than the role's \
                 secret_id_ttl ({}s)",
                role.secret_id_ttl
            )));
        }
        let now = now_nanos();
        let ttl_nanos = i64::try_from(ttl)
            .ok()
            .and_then(|t| t.checked_mul(NANOS))
            .ok_or_else(|| CoreError::bad("'ttl' is too long"))?;
        let accessor = random_uuid()?;
        let entry = SecretIdEntry {
            secret_id_accessor: accessor.clone(),
            metadata,
            cidr_list,
            token_bound_cidrs,
            secret_id_num_uses: num_uses,
            secret_id_ttl: ttl,
            creation_time: now,
            expiration_time: if ttl == 0 {
                0
            } else {
                now.saturating_add(ttl_nanos)
            },
            last_updated_time: now,
        };
        let _guard = self.lock.lock().await;
        let salt = self.salt_locked(req.view).await?;
        let secret_hmac = salt.mac("secret_id", &secret_id);
        let key = salt.secret_key(name, &secret_hmac);
        if req.view.get(&key).await?.is_some() {
            return Err(CoreError::bad(
                "this secret ID is already registered on the role: choose another one",
            ));
        }
        req.view
            .transaction(vec![
                ViewOp::Put(key, to_bytes(&entry)?),
                ViewOp::Put(
                    salt.accessor_key(name, &accessor),
                    to_bytes(&AccessorIndex {
                        secret_id_hmac: secret_hmac,
                    })?,
                ),
            ])
            .await?;
        let mut d = Map::new();
        d.insert("secret_id".into(), json!(secret_id.as_str()));
        d.insert("secret_id_accessor".into(), json!(accessor));
        d.insert("secret_id_ttl".into(), json!(ttl));
        d.insert("secret_id_num_uses".into(), json!(num_uses));
        Ok(Response::data(d))
    }

    async fn list_secret_ids(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        if Self::load_role(req.view, name).await?.is_none() {
            return Ok(not_found());
        }
        let salt = self.salt(req.view).await?;
        let dir = format!("secret-id/{}/", salt.role_dir(name));
        let mut keys = Vec::new();
        for k in req.view.list(&dir).await? {
            if let Some(e) = req
                .view
                .get_json::<SecretIdEntry>(&format!("{dir}{k}"))
                .await?
            {
                keys.push(e.secret_id_accessor);
            }
        }
        keys.sort();
        Ok(list_response(keys))
    }

    /// Finds a secret ID's storage key by the secret ID or by its accessor.
    async fn find_secret(
        req: &EngineRequest<'_>,
        salt: &Salt,
        name: &str,
        by_accessor: bool,
    ) -> Result<Option<(String, String, SecretIdEntry)>> {
        let (secret_key, accessor_key) = if by_accessor {
            let accessor = match opt_str(req.data, "secret_id_accessor")? {
                Some(a) if !a.is_empty() => a,
                _ => return Err(CoreError::bad("missing 'secret_id_accessor'")),
            };
            let akey = salt.accessor_key(name, &accessor);
            let Some(idx) = req.view.get_json::<AccessorIndex>(&akey).await? else {
                return Err(CoreError::NotFound(format!(
                    "no secret ID with accessor \"{accessor}\" on role \"{name}\": list them \
                     with LIST role/{name}/secret-id"
                )));
            };
            (salt.secret_key(name, &idx.secret_id_hmac), akey)
        } else {
            let secret = match opt_str(req.data, "secret_id")? {
                Some(s) if !s.is_empty() => Zeroizing::new(s),
                _ => return Err(CoreError::bad("missing 'secret_id'")),
            };
            let skey = salt.secret_key(name, &salt.mac("secret_id", &secret));
            let Some(e) = req.view.get_json::<SecretIdEntry>(&skey).await? else {
                return Ok(None);
            };
            let akey = salt.accessor_key(name, &e.secret_id_accessor);
            (skey, akey)
        };
        Ok(req
            .view
            .get_json::<SecretIdEntry>(&secret_key)
            .await?
            .map(|e| (secret_key, accessor_key, e)))
    }

    async fn lookup_secret(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
        by_accessor: bool,
    ) -> Result<Response> {
        Self::must_role(req, name).await?;
        let salt = self.salt(req.view).await?;
        match Self::find_secret(req, &salt, name, by_accessor).await? {
            Some((_, _, e)) => Ok(Response::data(e.to_data())),
            // Vault answers an unknown secret ID with an empty response.
            None => Ok(Response::no_content()),
        }
    }

    async fn destroy_secret(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
        by_accessor: bool,
    ) -> Result<Response> {
        Self::must_role(req, name).await?;
        let _guard = self.lock.lock().await;
        let salt = self.salt_locked(req.view).await?;
        if let Some((skey, akey, _)) = Self::find_secret(req, &salt, name, by_accessor).await? {
            req.view
                .transaction(vec![ViewOp::Delete(skey), ViewOp::Delete(akey)])
                .await?;
        }
        Ok(Response::no_content())
    }

    async fn tidy(&self, req: &EngineRequest<'_>) -> Result<Response> {
        let _guard = self.lock.lock().await;
        let salt = self.salt_locked(req.view).await?;
        let now = now_nanos();
        let mut removed = 0usize;
        for dir in req.view.list("secret-id/").await? {
            let role_dir = dir.trim_end_matches('/');
            for k in req.view.list(&format!("secret-id/{role_dir}/")).await? {
                let key = format!("secret-id/{role_dir}/{k}");
                let Some(e) = req.view.get_json::<SecretIdEntry>(&key).await? else {
                    continue;
                };
                if !e.expired(now) {
                    continue;
                }
                // The accessor's key is derived from the role's folder, which is this folder.
                let akey = format!(
                    "accessor/{role_dir}/{}",
                    salt.mac("accessor", &e.secret_id_accessor)
                );
                let ops = vec![ViewOp::Delete(key), ViewOp::Delete(akey)];
                req.view.transaction(ops).await?;
                removed += 1;
            }
        }
        let mut r = Response::no_content();
        r.warnings.push(format!(
            "tidy finished: {removed} expired secret IDs removed"
        ));
        Ok(r)
    }

    async fn login(&self, req: &EngineRequest<'_>) -> Result<Response> {
        let role_id = match opt_str(req.data, "role_id")? {
            Some(r) if !r.is_empty() => Zeroizing::new(r),
            _ => return Err(CoreError::bad("missing 'role_id'")),
        };
        let secret_id = opt_str(req.data, "secret_id")?
            .filter(|s| !s.is_empty())
            .map(Zeroizing::new);
        let invalid = || CoreError::InvalidCredentials(INVALID_CREDENTIALS.into());
        let salt = self.salt(req.view).await?;
        let secret_hmac = secret_id.as_ref().map(|s| salt.mac("secret_id", s));
        let role = match req
            .view
            .get_json::<RoleIdIndex>(&salt.role_id_key(&role_id))
            .await?
        {
            Some(idx) => Self::load_role(req.view, &idx.name).await?,
            None => None,
        };
        // The index is keyed by an HMAC of the role ID; comparing the stored role ID itself in
        // constant time also guards against a stale index entry.
        let role =
            role.filter(|r| hush_crypto::hash::ct_eq(r.role_id.as_bytes(), role_id.as_bytes()));
        let Some(role) = role else {
            // Do the secret-ID lookup an existing role would cost, so that the time taken does
            // not tell whether the role ID exists.
            if let Some(h) = &secret_hmac {
                let _ = req.view.get(&salt.secret_key("", h)).await?;
            }
            return Err(invalid());
        };
        let mut metadata = Map::new();
        let mut token = role.token.clone();
        if role.bind_secret_id {
            let Some(secret_hmac) = secret_hmac else {
                return Err(invalid());
            };
            let skey = salt.secret_key(&role.name, &secret_hmac);
            let Some(entry) = req.view.get_json::<SecretIdEntry>(&skey).await? else {
                return Err(invalid());
            };
            let akey = salt.accessor_key(&role.name, &entry.secret_id_accessor);
            let now = now_nanos();
            if entry.expired(now) {
                let _guard = self.lock.lock().await;
                req.view
                    .transaction(vec![ViewOp::Delete(skey), ViewOp::Delete(akey)])
                    .await?;
                return Err(invalid());
            }
            check_login_cidrs(
                &entry.cidr_list,
                req.client_addr,
                "the secret ID's cidr_list",
            )?;
            check_login_cidrs(
                &role.secret_id_bound_cidrs,
                req.client_addr,
                "the role's secret_id_bound_cidrs",
            )?;
            if entry.secret_id_num_uses > 0 {
                let _guard = self.lock.lock().await;
                // Re-read under the lock: a concurrent login may have used the last use.
                let Some(mut current) = req.view.get_json::<SecretIdEntry>(&skey).await? else {
                    return Err(invalid());
                };
                if current.secret_id_num_uses <= 1 {
                    req.view
                        .transaction(vec![ViewOp::Delete(skey), ViewOp::Delete(akey)])
                        .await?;
                } else {
                    current.secret_id_num_uses -= 1;
                    current.last_updated_time = now;
                    req.view.put_json(&skey, &current).await?;
                }
            }
            for (k, v) in &entry.metadata {
                metadata.insert(k.clone(), json!(v));
            }
            if !entry.token_bound_cidrs.is_empty() {
                token.token_bound_cidrs = entry.token_bound_cidrs.clone();
            }
        } else {
            check_login_cidrs(
                &role.secret_id_bound_cidrs,
                req.client_addr,
                "the role's secret_id_bound_cidrs",
            )?;
        }
        check_login_cidrs(
            &token.token_bound_cidrs,
            req.client_addr,
            "the token_bound_cidrs of the role or secret ID",
        )?;
        metadata.insert("role_name".into(), json!(role.name));
        // The role ID is the alias, and the token's metadata is the alias's, as in Vault.
        let alias = LoginAlias {
            name: role.role_id.clone(),
            metadata: string_values(&metadata),
            groups: None,
        };
        let auth = token
            .auth(metadata, display_name(req.mount, ""))
            .with_alias(alias);
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

/// The role name of a `role/{role_name}/...` path, checked against the naming rule.
fn role_name(c: &Captures) -> Result<&str> {
    let name = c.get("role_name");
    crate::fields::check_name("role", name)?;
    Ok(name)
}

/// The fields of a property path (`role/{role_name}/<property>`), from the request's path.
fn property_fields(path: &str) -> &'static [&'static str] {
    let prop = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    PROPERTIES
        .iter()
        .find(|(p, _)| *p == prop)
        .map_or(&[], |(_, fields)| *fields)
}

const ROLE_FIELDS: &[Field] = &[
    Field::new("bind_secret_id", FieldType::Any, "Logins need a secret ID."),
    Field::new(
        "secret_id_bound_cidrs",
        FieldType::Any,
        "CIDR blocks secret IDs may be used from.",
    ),
    Field::new(
        "bound_cidr_list",
        FieldType::Any,
        "Old name of secret_id_bound_cidrs.",
    ),
    Field::new(
        "secret_id_num_uses",
        FieldType::Any,
        "Uses of a secret ID (0: unlimited).",
    ),
    Field::new(
        "secret_id_ttl",
        FieldType::Any,
        "How long a secret ID is valid.",
    ),
    Field::new(
        "local_secret_ids",
        FieldType::Any,
        "Secret IDs stay on this cluster (set at creation).",
    ),
    Field::new(
        "role_id",
        FieldType::Any,
        "A role ID of your choice instead of a random one.",
    ),
];

const SECRET_ID_FIELDS: &[Field] = &[
    Field::new(
        "metadata",
        FieldType::Any,
        "Metadata of the secret ID (object of strings).",
    ),
    Field::new(
        "cidr_list",
        FieldType::Any,
        "CIDR blocks the secret ID may be used from.",
    ),
    Field::new(
        "token_bound_cidrs",
        FieldType::Any,
        "CIDR blocks the issued tokens may be used from.",
    ),
    Field::new("num_uses", FieldType::Any, "Uses of the secret ID."),
    Field::new("ttl", FieldType::Any, "How long the secret ID is valid."),
];

const SECRET_ID: Field = Field::new("secret_id", FieldType::String, "A secret ID.");
const ACCESSOR: Field = Field::new(
    "secret_id_accessor",
    FieldType::String,
    "The accessor of a secret ID.",
);

/// One path of this method's table.
type Spec = PathSpec<AppRoleBackend>;

/// Paths and handlers.
fn paths() -> &'static Paths<AppRoleBackend> {
    static PATHS: OnceLock<Paths<AppRoleBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        // One handler may serve several operations of a path.
        let destroy: Handler<AppRoleBackend> =
            |b, req, c| Box::pin(async move { b.destroy_secret(req, role_name(c)?, false).await });
        let destroy_by_accessor: Handler<AppRoleBackend> =
            |b, req, c| Box::pin(async move { b.destroy_secret(req, role_name(c)?, true).await });
        let role_id: Handler<AppRoleBackend> =
            |b, req, c| Box::pin(async move { b.role_id(req, role_name(c)?).await });
        let property: Handler<AppRoleBackend> = |b, req, c| {
            Box::pin(async move {
                b.property(req, role_name(c)?, property_fields(req.path))
                    .await
            })
        };
        let mut role_fields = ROLE_FIELDS.to_vec();
        role_fields.extend_from_slice(TOKEN_FIELDS);
        let mut custom_fields = SECRET_ID_FIELDS.to_vec();
        custom_fields.push(SECRET_ID);
        let mut specs = vec![
            Spec::new("login", "Log in with a role ID and a secret ID.")
                .op(Operation::Update, "Log in.", |b, req, _| {
                    Box::pin(b.login(req))
                })
                .fields(&[
                    Field::new("role_id", FieldType::String, "The role's ID."),
                    SECRET_ID,
                ])
                .unauthenticated(),
            Spec::new("role", "The roles of this method.").op(
                Operation::List,
                "List the roles.",
                |_, req, _| {
                    Box::pin(async move { Ok(list_response(req.view.list("role/").await?)) })
                },
            ),
            Spec::new("tidy/secret-id", "Remove expired secret IDs.").op(
                Operation::Update,
                "Tidy.",
                |b, req, _| Box::pin(b.tidy(req)),
            ),
            Spec::new("role/{role_name}", "A role: how its machines log in.")
                .op(Operation::Read, "Read a role.", |_, req, c| {
                    Box::pin(async move {
                        match AppRoleBackend::load_role(req.view, role_name(c)?).await? {
                            Some(r) => Ok(Response::data(r.to_data())),
                            None => Ok(not_found()),
                        }
                    })
                })
                .op(
                    Operation::Update,
                    "Create or update a role.",
                    |b, req, c| Box::pin(async move { b.write_role(req, role_name(c)?).await }),
                )
                .op(Operation::Delete, "Delete a role.", |b, req, c| {
                    Box::pin(async move { b.delete_role(req, role_name(c)?).await })
                })
                .fields(&role_fields),
            Spec::new("role/{role_name}/role-id", "The role's ID.")
                .op(Operation::Read, "Read the role ID.", role_id)
                .op(Operation::Update, "Set the role ID.", role_id)
                .fields(&[Field::new("role_id", FieldType::String, "The new role ID.")]),
            Spec::new("role/{role_name}/secret-id", "The role's secret IDs.")
                .op(Operation::List, "List secret ID accessors.", |b, req, c| {
                    Box::pin(async move { b.list_secret_ids(req, role_name(c)?).await })
                })
                .op(Operation::Update, "Generate a secret ID.", |b, req, c| {
                    Box::pin(async move { b.create_secret_id(req, role_name(c)?, false).await })
                })
                .fields(SECRET_ID_FIELDS),
            Spec::new(
                "role/{role_name}/custom-secret-id",
                "A secret ID of your choice.",
            )
            .op(Operation::Update, "Assign a secret ID.", |b, req, c| {
                Box::pin(async move { b.create_secret_id(req, role_name(c)?, true).await })
            })
            .fields(&custom_fields),
            Spec::new("role/{role_name}/secret-id/lookup", "Look up a secret ID.")
                .op(Operation::Update, "Look up.", |b, req, c| {
                    Box::pin(async move { b.lookup_secret(req, role_name(c)?, false).await })
                })
                .fields(&[SECRET_ID]),
            Spec::new("role/{role_name}/secret-id/destroy", "Destroy a secret ID.")
                .op(Operation::Update, "Destroy.", destroy)
                .op(Operation::Delete, "Destroy.", destroy)
                .fields(&[SECRET_ID]),
            Spec::new(
                "role/{role_name}/secret-id-accessor/lookup",
                "Look up a secret ID by accessor.",
            )
            .op(Operation::Update, "Look up.", |b, req, c| {
                Box::pin(async move { b.lookup_secret(req, role_name(c)?, true).await })
            })
            .fields(&[ACCESSOR]),
            Spec::new(
                "role/{role_name}/secret-id-accessor/destroy",
                "Destroy a secret ID by accessor.",
            )
            .op(Operation::Update, "Destroy.", destroy_by_accessor)
            .op(Operation::Delete, "Destroy.", destroy_by_accessor)
            .fields(&[ACCESSOR]),
        ];
        for (prop, names) in PROPERTIES {
            let fields: Vec<Field> = names
                .iter()
                .map(|n| Field::new(n, FieldType::Any, "The property's value."))
                .collect();
            let spec = Spec::new(
                format!("role/{{role_name}}/{prop}"),
                "One property of a role.",
            )
            .op(Operation::Read, "Read it.", property)
            .fields(&fields);
            // local_secret_ids is fixed when the role is created: its path only reads.
            let spec = if *prop == "local-secret-ids" {
                spec
            } else {
                spec.op(Operation::Update, "Set it.", property).op(
                    Operation::Delete,
                    "Reset it to its default.",
                    property,
                )
            };
            specs.push(spec);
        }
        Paths::new("this auth method", "auth/", specs)
    })
}

#[async_trait]
impl LogicalBackend for AppRoleBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        let path = req.path.trim_end_matches('/');
        match path.strip_prefix("role/") {
            Some(name) if !name.contains('/') => Ok(req.view.get(&role_key(name)).await?.is_some()),
            _ => Ok(true),
        }
    }

    fn canonical_path<'a>(&self, path: Cow<'a, str>) -> Result<Cow<'a, str>> {
        // AppRole role names are case-insensitive, as in Vault.
        hush_core::canonical::name_after(path, "role/", "role", true)
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    async fn renew_login(&self, req: &LoginRenewal<'_>) -> Result<Option<TokenParams>> {
        TokenFields::renew_stored(req, "role_name", role_key, "role", |r: &RoleEntry| &r.token)
            .await
    }

    fn lockout_key(&self, req: &EngineRequest<'_>) -> Option<String> {
        if req.path.trim_end_matches('/') != "login" {
            return None;
        }
        match req.data.get("role_id") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_core::logical::map;

    #[test]
    fn role_constraints_and_properties() {
        let mut r = RoleEntry::new("web").unwrap();
        let e = r
            .apply(&map(json!({"bind_secret_id": false})), true)
            .unwrap_err();
        assert!(e.to_string().contains("at least one constraint"), "{e}");
        let mut r = RoleEntry::new("web").unwrap();
        r.apply(
            &map(json!({"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"})),
            true,
        )
        .unwrap();
        assert!(!r.bind_secret_id);
        let d = r.to_data();
        assert_eq!(d["policies"], json!([]));
        assert_eq!(d["period"], 0);
        assert!(d.get("role_id").is_none());
        let e = r
            .apply(&map(json!({"local_secret_ids": true})), false)
            .unwrap_err();
        assert!(e.to_string().contains("local_secret_ids"), "{e}");
        assert!(!format!("{r:?}").contains(&r.role_id));
    }

    #[test]
    fn macs_are_domain_separated() {
        let s = Salt(Zeroizing::new(vec![7; 32]));
        assert_ne!(s.mac("role_id", "x"), s.mac("secret_id", "x"));
        assert_eq!(s.mac("role_id", "x"), s.mac("role_id", "x"));
        assert_eq!(s.mac("a", "bc").len(), 64);
        // The 0 separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(s.mac("ab", "c"), s.mac("a", "bc"));
    }
}
