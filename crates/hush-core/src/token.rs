//! The token store: tokens are kept only as salted hashes, and resolved tokens are cached so a
//! request never re-reads its token from storage. Revocation removes a token and its whole
//! subtree from storage and cache before it returns.
//!
//! Layout below `sys/token/`: `salt`, `id/<hash>` (the entry), `accessor/<accessor>` (the hash
//! of the token it belongs to), `parent/<parent hash>/<child hash>` (the tree), `roles/<name>`.

use std::collections::HashMap;
use std::sync::Arc;

use hush_crypto::hash;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::view::{View, ViewOp};

/// The most ancestors a usable token may have: every one is checked on each use.
const MAX_CHAIN: usize = 4096;

/// The largest `num_uses` a token may have (Vault's signed 64-bit limit).
pub const MAX_NUM_USES: u64 = i64::MAX as u64;

/// A stored token. The token itself is never stored: its storage key is HMAC(salt, token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Storage key of the token: HMAC-SHA256(salt, token), hex.
    pub id_hash: String,
    /// The accessor: a second handle that can look up or revoke the token but not use it.
    pub accessor: String,
    /// Policies attached to the token.
    pub policies: Vec<String>,
    /// The creation path, e.g. `auth/token/create`.
    pub path: String,
    /// A name for people.
    pub display_name: String,
    /// Free-form metadata.
    #[serde(default)]
    pub meta: Map<String, Value>,
    /// Unix seconds of creation.
    pub creation_time: i64,
    /// TTL given at creation, seconds (0: none).
    pub creation_ttl: u64,
    /// Unix seconds at which the token expires (None: never).
    pub expire_time: Option<i64>,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// "service" or "batch".
    pub token_type: String,
    /// The parent's id hash (None for orphans).
    #[serde(default)]
    pub parent: Option<String>,
    /// Hard limit on the token's life in seconds from creation (0: none but the system max).
    #[serde(default)]
    pub explicit_max_ttl: u64,
    /// Periodic tokens renew to this TTL with no maximum (0: not periodic).
    #[serde(default)]
    pub period: u64,
    /// The maximum TTL, counted from creation, that renewals may reach, as the token role or
    /// the auth method's user or role set it at creation (0: the mount's or system maximum).
    /// Renewal asks the role or method again when it can.
    #[serde(default)]
    pub max_ttl: u64,
    /// Uses left (0: unlimited).
    #[serde(default)]
    pub num_uses: u64,
    /// Whether the token may be renewed.
    #[serde(default = "yes")]
    pub renewable: bool,
    /// Unix seconds of the last renewal.
    #[serde(default)]
    pub last_renewal_time: Option<i64>,
    /// The role the token was created with, if any.
    #[serde(default)]
    pub role: Option<String>,
    /// CIDRs the token may be used from (empty: anywhere).
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
    /// The auth mount accessor that issued it (token store: empty).
    #[serde(default)]
    pub mount_accessor: String,
    /// The identity entity the token acts for (empty: none). Its policies and those of its
    /// groups are added to the token's on every request.
    #[serde(default)]
    pub entity_id: String,
}

fn yes() -> bool {
    true
}

/// The accessor of the built-in token auth method (`auth/token/`), which tokens created
/// there carry as their issuing mount.
pub const TOKEN_STORE_ACCESSOR: &str = "auth_token";

impl TokenEntry {
    /// The accessor of the auth method that issued this token at a login; `None` for tokens
    /// of the token store (created, or from before mounts were recorded).
    pub fn issuing_method(&self) -> Option<&str> {
        let a = self.mount_accessor.as_str();
        (!a.is_empty() && a != TOKEN_STORE_ACCESSOR).then_some(a)
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now_unix: i64) -> bool {
        matches!(self.expire_time, Some(t) if t <= now_unix)
    }

    /// Whether the token carries the root policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left (0 when it never expires, or has expired).
    pub fn ttl_left(&self, now_unix: i64) -> u64 {
        match self.expire_time {
            Some(t) if t > now_unix => (t - now_unix) as u64,
            _ => 0,
        }
    }
}

/// A token role (`auth/token/roles/:name`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TokenRole {
    /// Role name.
    pub name: String,
    /// Policies a token of this role may have (empty: the creator's).
    #[serde(default)]
    pub allowed_policies: Vec<String>,
    /// Policies a token of this role may never have.
    #[serde(default)]
    pub disallowed_policies: Vec<String>,
    /// Tokens of this role have no parent.
    #[serde(default)]
    pub orphan: bool,
    /// Whether tokens of this role can be renewed.
    #[serde(default = "yes")]
    pub renewable: bool,
    /// Appended to the creation path.
    #[serde(default)]
    pub path_suffix: String,
    /// Default TTL, seconds.
    #[serde(default)]
    pub token_ttl: u64,
    /// Maximum TTL, seconds.
    #[serde(default)]
    pub token_max_ttl: u64,
    /// Hard maximum from creation, seconds.
    #[serde(default)]
    pub token_explicit_max_ttl: u64,
    /// Period, seconds.
    #[serde(default)]
    pub token_period: u64,
    /// Uses per token.
    #[serde(default)]
    pub token_num_uses: u64,
    /// Leave out the default policy.
    #[serde(default)]
    pub token_no_default_policy: bool,
    /// "service" (or "default-service").
    #[serde(default)]
    pub token_type: String,
    /// CIDRs tokens may be used from.
    #[serde(default)]
    pub token_bound_cidrs: Vec<String>,
}

const SALT_KEY: &str = "salt";
const ID_PREFIX: &str = "id/";
/// The accessor index: `accessor-hash/<HMAC(salt, accessor)>` -> [`AccessorIndex`]. Like token
/// IDs, accessors appear in storage keys only as salted hashes.
const ACCESSOR_PREFIX: &str = "accessor-hash/";
/// The index as it was first stored, keyed by the plain accessor; moved at unseal.
const LEGACY_ACCESSOR_PREFIX: &str = "accessor/";
const PARENT_PREFIX: &str = "parent/";
const ROLE_PREFIX: &str = "roles/";
/// Each token's cubbyhole, by id hash (served by [`crate::cubbyhole`]).
const CUBBYHOLE_PREFIX: &str = crate::cubbyhole::STORAGE_PREFIX;

fn cubbyhole_of(id_hash: &str) -> String {
    format!("{CUBBYHOLE_PREFIX}{id_hash}/")
}

/// One entry of the accessor index (inside the barrier).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessorIndex {
    id_hash: String,
    accessor: String,
}

/// Alphabet of generated tokens and accessors.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string over [A-Za-z0-9] of `len` characters (rejection sampling keeps it uniform).
pub fn random_string(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes = hush_crypto::random_bytes(len * 2)?;
        for b in bytes {
            // 248 = 4 * 62: values above it would bias the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// What a new token should look like; the store fills in ids and times.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// A chosen token (root/sudo only); generated when None.
    pub id: Option<String>,
    /// Policies (normalized by the caller).
    pub policies: Vec<String>,
    /// Creation path.
    pub path: String,
    /// Display name.
    pub display_name: String,
    /// Metadata.
    pub meta: Map<String, Value>,
    /// TTL in seconds (0: never expires; only for root tokens or explicit requests by root).
    pub ttl: u64,
    /// Hard maximum from creation.
    pub explicit_max_ttl: u64,
    /// Period.
    pub period: u64,
    /// Maximum TTL from creation for renewals (0: the mount's or system maximum).
    pub max_ttl: u64,
    /// Uses.
    pub num_uses: u64,
    /// Renewable.
    pub renewable: bool,
    /// Parent's id hash (None: orphan).
    pub parent: Option<String>,
    /// Role name.
    pub role: Option<String>,
    /// Bound CIDRs.
    pub bound_cidrs: Vec<String>,
    /// Issuing auth mount accessor.
    pub mount_accessor: String,
    /// The identity entity (empty: none).
    pub entity_id: String,
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v)
        .map_err(|e| CoreError::Internal(format!("could not encode a record: {e}")))
}

/// What is told the id hash of each deleted token.
pub type DeleteHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The token store of one unsealed core.
pub struct TokenStore {
    view: View,
    /// The salt, prepared as an HMAC key once: every request hashes its token with it.
    salt: hash::HmacKey,
    cache: RwLock<HashMap<String, Arc<TokenEntry>>>,
    /// Serializes use-count decrements so two requests cannot both spend the last use.
    uses: tokio::sync::Mutex<()>,
    /// Told of every deleted token (see [`TokenStore::on_delete`]).
    deleted: std::sync::OnceLock<DeleteHook>,
}

impl TokenStore {
    /// Opens the store under `view` (the barrier's `sys/token/`), creating its salt on first use.
    pub async fn open(view: View) -> Result<Self> {
        let salt = match view.get(SALT_KEY).await? {
            Some(s) => hash::HmacKey::new(&s),
            None => {
                let s = zeroize::Zeroizing::new(hush_crypto::random_bytes(32)?);
                view.put(SALT_KEY, &s).await?;
                hash::HmacKey::new(&s)
            }
        };
        let store = TokenStore {
            view,
            salt,
            cache: RwLock::new(HashMap::new()),
            uses: tokio::sync::Mutex::new(()),
            deleted: std::sync::OnceLock::new(),
        };
        store.migrate_accessor_index().await?;
        Ok(store)
    }

    /// Moves index entries keyed by a plain accessor to their salted-hash keys, each in one
    /// transaction, so a crash midway leaves every accessor findable.
    async fn migrate_accessor_index(&self) -> Result<()> {
        for accessor in self.view.list(LEGACY_ACCESSOR_PREFIX).await? {
            if accessor.ends_with('/') {
                continue;
            }
            let old = format!("{LEGACY_ACCESSOR_PREFIX}{accessor}");
            let Some(id_hash) = self.view.get(&old).await? else {
                continue;
            };
            let index = AccessorIndex {
                id_hash: String::from_utf8_lossy(&id_hash).into_owned(),
                accessor: accessor.clone(),
            };
            self.view
                .transaction(vec![
                    ViewOp::Put(self.accessor_key(&accessor), to_json(&index)?),
                    ViewOp::Delete(old),
                ])
                .await?;
        }
        Ok(())
    }

    /// The storage key of an accessor's index entry.
    fn accessor_key(&self, accessor: &str) -> String {
        // A prefix keeps the accessor's hash distinct from any token ID's hash.
        let mut input = b"accessor:".to_vec();
        input.extend_from_slice(accessor.as_bytes());
        format!(
            "{ACCESSOR_PREFIX}{}",
            hush_crypto::hash::to_hex(&self.salt.sign(&input))
        )
    }

    /// The salted hash under which a token is stored.
    pub fn hash_token(&self, token: &str) -> String {
        hush_crypto::hash::to_hex(&self.salt.sign(token.as_bytes()))
    }

    /// Creates a root token. `id` chooses the token (dev mode's `--dev-root-token-id`).
    pub async fn create_root(&self, id: Option<&str>, now_unix: i64) -> Result<String> {
        let (token, _) = self
            .create(
                NewToken {
                    id: id.filter(|s| !s.is_empty()).map(str::to_string),
                    policies: vec!["root".into()],
                    path: "auth/token/root".into(),
                    display_name: "root".into(),
                    renewable: false,
                    ..NewToken::default()
                },
                now_unix,
            )
            .await?;
        Ok(token)
    }

    /// Creates a token; returns the token and its entry.
    pub async fn create(&self, new: NewToken, now_unix: i64) -> Result<(String, TokenEntry)> {
        let token = match new.id {
            Some(id) => {
                if id.contains(char::is_whitespace) || id.len() > 256 {
                    return Err(CoreError::bad(
                        "a custom token id may not contain whitespace or exceed 256 characters",
                    ));
                }
                id
            }
            None => format!("hvs.{}", random_string(32)?),
        };
        // u64::MAX marks a token whose last use is under way; Vault stores num_uses as a
        // signed 64-bit count, so nothing above that is a real limit.
        if new.num_uses > MAX_NUM_USES {
            return Err(CoreError::bad(format!(
                "num_uses {} is too large: at most {MAX_NUM_USES} (0 means unlimited)",
                new.num_uses
            )));
        }
        let id_hash = self.hash_token(&token);
        if self.lookup_hash(&id_hash).await?.is_some() {
            return Err(CoreError::bad("a token with this id already exists"));
        }
        let entry = TokenEntry {
            id_hash: id_hash.clone(),
            accessor: random_string(24)?,
            policies: new.policies,
            path: new.path,
            display_name: new.display_name,
            meta: new.meta,
            creation_time: now_unix,
            creation_ttl: new.ttl,
            expire_time: (new.ttl > 0).then(|| now_unix + new.ttl as i64),
            orphan: new.parent.is_none(),
            token_type: "service".into(),
            parent: new.parent.clone(),
            explicit_max_ttl: new.explicit_max_ttl,
            period: new.period,
            max_ttl: new.max_ttl,
            num_uses: new.num_uses,
            renewable: new.renewable,
            last_renewal_time: None,
            role: new.role,
            bound_cidrs: new.bound_cidrs,
            mount_accessor: new.mount_accessor,
            entity_id: new.entity_id,
        };
        let mut ops = vec![
            ViewOp::Put(format!("{ID_PREFIX}{id_hash}"), to_json(&entry)?),
            ViewOp::Put(
                self.accessor_key(&entry.accessor),
                to_json(&AccessorIndex {
                    id_hash: id_hash.clone(),
                    accessor: entry.accessor.clone(),
                })?,
            ),
        ];
        if let Some(parent) = &new.parent {
            ops.push(ViewOp::Put(
                format!("{PARENT_PREFIX}{parent}/{id_hash}"),
                Vec::new(),
            ));
        }
        self.view.transaction(ops).await?;
        Ok((token, entry))
    }

    async fn lookup_hash(&self, id_hash: &str) -> Result<Option<Arc<TokenEntry>>> {
        if let Some(e) = self.cache.read().get(id_hash).cloned() {
            return Ok(Some(e));
        }
        let entry: Option<TokenEntry> =
            self.view.get_json(&format!("{ID_PREFIX}{id_hash}")).await?;
        Ok(entry.map(|e| {
            let e = Arc::new(e);
            // Tokens with limited uses change on every request: keep them out of the cache.
            if e.num_uses == 0 {
                self.cache.write().insert(id_hash.to_string(), e.clone());
            }
            e
        }))
    }

    /// Resolves a client token: from the cache, else from storage. Expired tokens, tokens whose
    /// ancestors are gone or expired, and unknown tokens are all "permission denied".
    pub async fn resolve(&self, token: &str, now_unix: i64) -> Result<Arc<TokenEntry>> {
        let id_hash = self.hash_token(token);
        let entry = self
            .lookup_hash(&id_hash)
            .await?
            .ok_or_else(|| CoreError::invalid_token("invalid token"))?;
        if entry.expired(now_unix) {
            return Err(CoreError::invalid_token("token expired"));
        }
        // A child lives no longer than any ancestor: walk the whole (cached) chain, without
        // recursion. A chain longer than any real tree fails closed.
        let mut parent = entry.parent.clone();
        let mut depth = 0;
        while let Some(p) = parent {
            depth += 1;
            if depth > MAX_CHAIN {
                return Err(CoreError::invalid_token(format!(
                    "the token has more than {MAX_CHAIN} ancestors; create it from a token \
                     nearer the root"
                )));
            }
            match self.lookup_hash(&p).await? {
                Some(pe) if !pe.expired(now_unix) => parent = pe.parent.clone(),
                _ => {
                    return Err(CoreError::invalid_token(
                        "the token's parent was revoked or expired",
                    ))
                }
            }
        }
        Ok(entry)
    }

    /// Looks a token up without the validity checks (for lookup/revoke by admins).
    pub async fn get(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        self.lookup_hash(&self.hash_token(token)).await
    }

    /// The stored token with this id hash.
    pub async fn get_by_hash(&self, id_hash: &str) -> Result<Option<Arc<TokenEntry>>> {
        self.lookup_hash(id_hash).await
    }

    /// Sets what is told the id hash of every token deleted (revoked, expired, tidied): the
    /// lease manager, which revokes the leases the token created.
    pub fn on_delete(&self, hook: DeleteHook) {
        let _ = self.deleted.set(hook);
    }

    /// Looks a token up by its accessor.
    pub async fn get_by_accessor(&self, accessor: &str) -> Result<Option<Arc<TokenEntry>>> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        let Some(index) = self
            .view
            .get_json::<AccessorIndex>(&self.accessor_key(accessor))
            .await?
        else {
            return Ok(None);
        };
        self.lookup_hash(&index.id_hash).await
    }

    /// Spends one use of a limited-use token. Returns true when that was the last use: the
    /// caller revokes the token once the current request is done. Two requests can never both
    /// spend the last use.
    pub async fn use_token(&self, entry: &TokenEntry) -> Result<bool> {
        if entry.num_uses == 0 {
            return Ok(false);
        }
        let _guard = self.uses.lock().await;
        let key = format!("{ID_PREFIX}{}", entry.id_hash);
        let Some(mut current) = self.view.get_json::<TokenEntry>(&key).await? else {
            return Err(CoreError::invalid_token("invalid token"));
        };
        if current.num_uses == u64::MAX {
            // Already spent by a request still in flight.
            return Err(CoreError::invalid_token("the token has no uses left"));
        }
        if current.num_uses <= 1 {
            // Marked spent at once so no other request can use it, revoked after this one.
            current.num_uses = u64::MAX;
            self.view.put_json(&key, &current).await?;
            self.cache.write().remove(&entry.id_hash);
            return Ok(true);
        }
        current.num_uses -= 1;
        self.view.put_json(&key, &current).await?;
        Ok(false)
    }

    /// Stores a changed entry (renewal).
    pub async fn update(&self, entry: TokenEntry) -> Result<()> {
        self.view
            .put_json(&format!("{ID_PREFIX}{}", entry.id_hash), &entry)
            .await?;
        let mut cache = self.cache.write();
        if entry.num_uses == 0 {
            cache.insert(entry.id_hash.clone(), Arc::new(entry));
        } else {
            cache.remove(&entry.id_hash);
        }
        Ok(())
    }

    async fn children(&self, id_hash: &str) -> Result<Vec<String>> {
        Ok(self
            .view
            .list(&format!("{PARENT_PREFIX}{id_hash}/"))
            .await?
            .into_iter()
            .filter(|c| !c.ends_with('/'))
            .collect())
    }

    async fn delete_one(&self, id_hash: &str) -> Result<()> {
        let entry: Option<TokenEntry> =
            self.view.get_json(&format!("{ID_PREFIX}{id_hash}")).await?;
        // Out of the cache first: from here on the token no longer resolves.
        self.cache.write().remove(id_hash);
        let mut ops = vec![ViewOp::Delete(format!("{ID_PREFIX}{id_hash}"))];
        if let Some(e) = &entry {
            ops.push(ViewOp::Delete(self.accessor_key(&e.accessor)));
            if let Some(p) = &e.parent {
                ops.push(ViewOp::Delete(format!("{PARENT_PREFIX}{p}/{id_hash}")));
            }
        }
        self.view.transaction(ops).await?;
        if let Some(hook) = self.deleted.get() {
            hook(id_hash);
        }
        // After the token: a crash in between leaves a cubbyhole no token can reach, which
        // tidy removes; the reverse order could leave a live token with its data gone.
        self.view.delete_tree(&cubbyhole_of(id_hash)).await
    }

    /// Revokes a token and every token created under it.
    pub async fn revoke_tree(&self, id_hash: &str) -> Result<()> {
        // Depth first, children before parents; the parent is removed from the cache at once so
        // no new request can use it while the subtree is being deleted.
        self.cache.write().remove(id_hash);
        let mut stack = vec![(id_hash.to_string(), false)];
        while let Some((h, expanded)) = stack.pop() {
            if expanded {
                self.delete_one(&h).await?;
                continue;
            }
            self.cache.write().remove(&h);
            stack.push((h.clone(), true));
            for c in self.children(&h).await? {
                stack.push((c, false));
            }
        }
        Ok(())
    }

    /// Revokes only this token; its children become orphans.
    pub async fn revoke_orphan(&self, id_hash: &str) -> Result<()> {
        for c in self.children(id_hash).await? {
            let key = format!("{ID_PREFIX}{c}");
            if let Some(mut child) = self.view.get_json::<TokenEntry>(&key).await? {
                child.parent = None;
                child.orphan = true;
                self.view.put_json(&key, &child).await?;
                self.cache.write().remove(&c);
            }
            self.view
                .delete(&format!("{PARENT_PREFIX}{id_hash}/{c}"))
                .await?;
        }
        self.delete_one(id_hash).await
    }

    /// All accessors.
    pub async fn accessors(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .accessor_index()
            .await?
            .into_iter()
            .map(|(_, index)| index.accessor)
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every accessor index entry with its storage key.
    async fn accessor_index(&self) -> Result<Vec<(String, AccessorIndex)>> {
        let mut out = Vec::new();
        for name in self.view.list(ACCESSOR_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            let key = format!("{ACCESSOR_PREFIX}{name}");
            if let Some(index) = self.view.get_json::<AccessorIndex>(&key).await? {
                out.push((key, index));
            }
        }
        Ok(out)
    }

    /// Removes expired tokens (with their subtrees), accessors that point nowhere, and parent
    /// links to tokens that no longer exist. Returns how many tokens were revoked.
    pub async fn tidy(&self, now_unix: i64) -> Result<usize> {
        let mut revoked = 0;
        for name in self.view.list(ID_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            match self
                .view
                .get_json::<TokenEntry>(&format!("{ID_PREFIX}{name}"))
                .await?
            {
                Some(e) if e.expired(now_unix) => {
                    self.revoke_tree(&name).await?;
                    revoked += 1;
                }
                Some(e) => {
                    if let Some(p) = &e.parent {
                        if self.view.get(&format!("{ID_PREFIX}{p}")).await?.is_none() {
                            // The parent is gone: so must the child be.
                            self.revoke_tree(&name).await?;
                            revoked += 1;
                        }
                    }
                }
                None => {}
            }
        }
        for (key, index) in self.accessor_index().await? {
            if self
                .view
                .get(&format!("{ID_PREFIX}{}", index.id_hash))
                .await?
                .is_none()
            {
                self.view.delete(&key).await?;
            }
        }
        for owner in self.view.list(CUBBYHOLE_PREFIX).await? {
            let owner = owner.trim_end_matches('/');
            if self
                .view
                .get(&format!("{ID_PREFIX}{owner}"))
                .await?
                .is_none()
            {
                self.view.delete_tree(&cubbyhole_of(owner)).await?;
            }
        }
        for parent in self.view.list(PARENT_PREFIX).await? {
            let parent = parent.trim_end_matches('/').to_string();
            for child in self.children(&parent).await? {
                if self
                    .view
                    .get(&format!("{ID_PREFIX}{child}"))
                    .await?
                    .is_none()
                {
                    self.view
                        .delete(&format!("{PARENT_PREFIX}{parent}/{child}"))
                        .await?;
                }
            }
        }
        Ok(revoked)
    }

    /// How many tokens are stored, and how many of them expire (Vault's leases of tokens),
    /// for the `vault.token.count` and `vault.expire.num_leases` gauges.
    pub async fn usage(&self, now_unix: i64) -> Result<(usize, usize)> {
        let (mut tokens, mut expiring) = (0, 0);
        for name in self.view.list(ID_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            if let Some(e) = self
                .view
                .get_json::<TokenEntry>(&format!("{ID_PREFIX}{name}"))
                .await?
            {
                if e.expired(now_unix) {
                    continue;
                }
                tokens += 1;
                if e.expire_time.is_some() {
                    expiring += 1;
                }
            }
        }
        Ok((tokens, expiring))
    }

    /// Revokes every token whose creation path starts with `prefix` (and their children).
    pub async fn revoke_by_path_prefix(&self, prefix: &str) -> Result<usize> {
        self.revoke_where(|e| e.path.starts_with(prefix)).await
    }

    /// Revokes every token issued by the auth mount with this accessor (and their children):
    /// disabling an auth method logs out everyone who logged in through it, as in Vault.
    pub async fn revoke_by_mount_accessor(&self, accessor: &str) -> Result<usize> {
        if accessor.is_empty() {
            return Ok(0);
        }
        self.revoke_where(|e| e.mount_accessor == accessor).await
    }

    async fn revoke_where(&self, matches: impl Fn(&TokenEntry) -> bool) -> Result<usize> {
        let mut n = 0;
        for name in self.view.list(ID_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            let entry: Option<TokenEntry> =
                self.view.get_json(&format!("{ID_PREFIX}{name}")).await?;
            if entry.is_some_and(|e| matches(&e)) {
                self.revoke_tree(&name).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Reads a role.
    pub async fn role(&self, name: &str) -> Result<Option<TokenRole>> {
        self.view.get_json(&format!("{ROLE_PREFIX}{name}")).await
    }

    /// Writes a role.
    pub async fn put_role(&self, role: &TokenRole) -> Result<()> {
        self.view
            .put_json(&format!("{ROLE_PREFIX}{}", role.name), role)
            .await
    }

    /// Deletes a role.
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        self.view.delete(&format!("{ROLE_PREFIX}{name}")).await
    }

    /// Role names.
    pub async fn roles(&self) -> Result<Vec<String>> {
        Ok(self
            .view
            .list(ROLE_PREFIX)
            .await?
            .into_iter()
            .filter(|r| !r.ends_with('/'))
            .collect())
    }

    /// Drops every cached entry (after a policy change nothing needs this, but tests and seal do).
    pub fn clear_cache(&self) {
        self.cache.write().clear();
    }
}
