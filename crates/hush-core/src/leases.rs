//! The lease manager: every secret an engine issues with a lifetime (a database user, a cloud
//! credential) gets a lease here, and the lease decides when the engine is asked to revoke it.
//!
//! Engines never track leases. An engine returns [`crate::logical::LeaseSecret`] with its
//! response; the pipeline registers the lease (ID `<request path>/<random>`, TTL within the
//! mount's and the server's limits) and answers `lease_id`, `lease_duration` and `renewable`.
//! Leases are stored inside the barrier (`sys/expire/id/<lease id>`, plus an index by the token
//! that created them), so they outlive restarts: at unseal every lease is loaded, and what
//! expired while the server was down is revoked at once. Revoking calls the mount's
//! [`crate::engine::LogicalBackend::revoke_secret`]; a revocation that fails (the database is
//! down) keeps the lease, records the error and is retried with backoff, never forgotten.
//! Revoking a token revokes the leases it created.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::view::View;

const ID_PREFIX: &str = "id/";
const TOKEN_PREFIX: &str = "token/";
/// The longest wait between two attempts to revoke a lease whose revocation fails.
const MAX_BACKOFF_SECS: i64 = 300;

/// A stored lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseEntry {
    /// `<request path>/<random>`.
    pub lease_id: String,
    /// The mount (route, e.g. `database/`) whose engine issued the secret.
    pub mount: String,
    /// The mount's UUID, so that a mount moved or replaced since is told apart.
    pub mount_uuid: String,
    /// The request path that issued it, below the mount.
    pub path: String,
    /// Unix seconds of issue.
    pub issue_time: i64,
    /// Unix seconds at which it expires (and is revoked).
    pub expire_time: i64,
    /// The latest `expire_time` any renewal may reach.
    pub max_expire_time: i64,
    /// Unix seconds of the last renewal.
    #[serde(default)]
    pub last_renewal: Option<i64>,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// The TTL it was issued or last renewed with, seconds.
    pub ttl: u64,
    /// What the engine needs to revoke the secret (e.g. the user name): the engine's own data,
    /// never shown to clients.
    pub internal: Map<String, Value>,
    /// The id hash of the token that created it.
    #[serde(default)]
    pub token: Option<String>,
    /// Failed revocation attempts so far.
    #[serde(default)]
    pub revoke_attempts: u32,
    /// Why the last revocation failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the next attempt is due after a failure (unix seconds).
    #[serde(default)]
    pub retry_at: Option<i64>,
}

impl LeaseEntry {
    /// Seconds left (0 once expired).
    pub fn ttl_left(&self, now: i64) -> u64 {
        u64::try_from(self.expire_time - now).unwrap_or(0)
    }

    /// When it is next due for revocation: its expiry, or a failed attempt's retry.
    fn due(&self) -> i64 {
        self.retry_at.unwrap_or(self.expire_time)
    }
}

/// A short hash of a lease ID for index keys (lease IDs hold `/`).
fn key_of(lease_id: &str) -> String {
    hex::encode(hush_crypto::hash::sha256(lease_id.as_bytes()))
}

/// The leases of one unsealed core.
pub struct Leases {
    view: View,
    /// (due time, lease id) of every lease, earliest first.
    queue: Mutex<BTreeSet<(i64, String)>>,
    /// Woken when a lease is added or changed, so the expiry task recomputes its sleep.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// Ids of tokens revoked since the expiry task last looked: their leases go next.
    revoked_tokens: Mutex<Vec<String>>,
}

impl Leases {
    /// Loads every stored lease from `view` (the barrier's `sys/expire/`).
    pub async fn load(view: View) -> Result<Self> {
        let leases = Leases {
            view,
            queue: Mutex::new(BTreeSet::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
            revoked_tokens: Mutex::new(Vec::new()),
        };
        let mut count = 0usize;
        let mut stack = vec![ID_PREFIX.to_string()];
        while let Some(dir) = stack.pop() {
            for name in leases.view.list(&dir).await? {
                let key = format!("{dir}{name}");
                if name.ends_with('/') {
                    stack.push(key);
                } else if let Some(e) = leases.view.get_json::<LeaseEntry>(&key).await? {
                    leases.queue.lock().insert((e.due(), e.lease_id.clone()));
                    count += 1;
                }
            }
        }
        if count > 0 {
            tracing::info!(leases = count, "loaded leases");
        }
        Ok(leases)
    }

    /// How many leases exist.
    pub fn count(&self) -> usize {
        self.queue.lock().len()
    }

    /// Stores a new lease and schedules its expiry.
    pub async fn register(&self, entry: &LeaseEntry) -> Result<()> {
        let mut ops = vec![crate::view::ViewOp::Put(
            format!("{ID_PREFIX}{}", entry.lease_id),
            serde_json::to_vec(entry).map_err(|e| CoreError::Internal(e.to_string()))?,
        )];
        if let Some(t) = &entry.token {
            ops.push(crate::view::ViewOp::Put(
                format!("{TOKEN_PREFIX}{t}/{}", key_of(&entry.lease_id)),
                entry.lease_id.as_bytes().to_vec(),
            ));
        }
        self.view.transaction(ops).await?;
        self.queue
            .lock()
            .insert((entry.due(), entry.lease_id.clone()));
        self.wake.notify_one();
        Ok(())
    }

    /// The lease with this id.
    pub async fn get(&self, lease_id: &str) -> Result<Option<LeaseEntry>> {
        if lease_id.is_empty() || lease_id.split('/').any(|s| s.is_empty() || s == "..") {
            return Ok(None);
        }
        self.view.get_json(&format!("{ID_PREFIX}{lease_id}")).await
    }

    /// Saves a changed lease (renewed, or a failed revocation recorded).
    pub async fn update(&self, old_due: i64, entry: &LeaseEntry) -> Result<()> {
        self.view
            .put_json(&format!("{ID_PREFIX}{}", entry.lease_id), entry)
            .await?;
        let mut q = self.queue.lock();
        q.remove(&(old_due, entry.lease_id.clone()));
        q.insert((entry.due(), entry.lease_id.clone()));
        drop(q);
        self.wake.notify_one();
        Ok(())
    }

    /// Deletes a lease (after its secret was revoked).
    pub async fn remove(&self, entry: &LeaseEntry) -> Result<()> {
        let mut ops = vec![crate::view::ViewOp::Delete(format!(
            "{ID_PREFIX}{}",
            entry.lease_id
        ))];
        if let Some(t) = &entry.token {
            ops.push(crate::view::ViewOp::Delete(format!(
                "{TOKEN_PREFIX}{t}/{}",
                key_of(&entry.lease_id)
            )));
        }
        self.view.transaction(ops).await?;
        self.queue
            .lock()
            .remove(&(entry.due(), entry.lease_id.clone()));
        Ok(())
    }

    /// The names directly below `prefix` (a folder of lease ids, Vault's LIST semantics).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let folder = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        self.view.list(&format!("{ID_PREFIX}{folder}")).await
    }

    /// Every lease id under `prefix` (a path prefix, as `sys/leases/revoke-prefix` takes it).
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.queue
            .lock()
            .iter()
            .map(|(_, id)| id.clone())
            .filter(|id| id.starts_with(prefix))
            .collect()
    }

    /// The leases the token with `id_hash` created.
    pub async fn ids_of_token(&self, id_hash: &str) -> Result<Vec<String>> {
        let dir = format!("{TOKEN_PREFIX}{id_hash}/");
        let mut out = Vec::new();
        for name in self.view.list(&dir).await? {
            if let Some(v) = self.view.get(&format!("{dir}{name}")).await? {
                out.push(String::from_utf8_lossy(&v).into_owned());
            }
        }
        Ok(out)
    }

    /// Token id hashes that own leases (for the sweep that catches tokens gone while the
    /// server was down).
    pub async fn owners(&self) -> Result<Vec<String>> {
        Ok(self
            .view
            .list(TOKEN_PREFIX)
            .await?
            .into_iter()
            .map(|n| n.trim_end_matches('/').to_string())
            .collect())
    }

    /// Drops the index entries of a token that owns no lease any more.
    pub async fn forget_owner(&self, id_hash: &str) -> Result<()> {
        self.view
            .delete_tree(&format!("{TOKEN_PREFIX}{id_hash}/"))
            .await
    }

    /// The leases due by `now`, earliest first, at most `max`.
    pub fn due(&self, now: i64, max: usize) -> Vec<String> {
        self.queue
            .lock()
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// When the earliest lease is due.
    pub fn next_due(&self) -> Option<i64> {
        self.queue.lock().iter().next().map(|(due, _)| *due)
    }

    /// Notes a revoked token: the expiry task revokes its leases next.
    pub fn token_revoked(&self, id_hash: &str) {
        self.revoked_tokens.lock().push(id_hash.to_string());
        self.wake.notify_one();
    }

    /// The tokens revoked since the last call.
    pub fn take_revoked_tokens(&self) -> Vec<String> {
        std::mem::take(&mut *self.revoked_tokens.lock())
    }
}

/// Revokes the lease `lease_id`: asks the engine of its mount to revoke the secret, then deletes
/// the lease. A failure keeps the lease (with the error and a retry time) unless `force`, which
/// deletes it anyway, as Vault's `revoke-force` does for a secret that is gone.
pub async fn revoke(
    leases: &Leases,
    mounts: &crate::mounts::MountTable,
    lease_id: &str,
    force: bool,
) -> Result<()> {
    let Some(mut entry) = leases.get(lease_id).await? else {
        return Err(CoreError::bad(format!(
            "lease not found or lease is not revocable: no lease \"{lease_id}\" (list them with \
             LIST sys/leases/lookup/<prefix>)"
        )));
    };
    let outcome = match mounts.get(&entry.mount) {
        Some(m) if m.entry.uuid == entry.mount_uuid => {
            let data = Map::new();
            let req = crate::engine::EngineRequest::new(
                lease_id,
                crate::logical::Operation::Delete,
                &entry.path,
                &data,
                &m.view,
                &m.entry,
            );
            m.backend.revoke_secret(&req, &entry.internal).await
        }
        // The mount is gone: so is what it issued (disabling a mount revokes first).
        _ => Ok(()),
    };
    match outcome {
        Ok(()) => leases.remove(&entry).await,
        Err(e) if force => {
            tracing::warn!(lease_id, error = %e, "revocation failed; the lease is removed anyway (force)");
            leases.remove(&entry).await
        }
        Err(e) => {
            let old_due = entry.due();
            entry.revoke_attempts = entry.revoke_attempts.saturating_add(1);
            entry.last_error = Some(e.to_string());
            entry.retry_at = Some(crate::time::now_unix() + backoff(entry.revoke_attempts));
            tracing::warn!(
                lease_id,
                attempts = entry.revoke_attempts,
                error = %e,
                "could not revoke a lease; it is kept and retried"
            );
            leases.update(old_due, &entry).await?;
            Err(CoreError::Upstream(format!(
                "failed to revoke lease \"{lease_id}\": {e}; it stays and is retried (attempt {})",
                entry.revoke_attempts
            )))
        }
    }
}

/// Renews `lease_id` by `increment` (or its TTL), never past its maximum; the engine may refuse.
pub async fn renew(
    leases: &Leases,
    mounts: &crate::mounts::MountTable,
    lease_id: &str,
    increment: Option<Duration>,
    now: i64,
) -> Result<LeaseEntry> {
    let Some(mut entry) = leases.get(lease_id).await? else {
        return Err(CoreError::bad(format!(
            "lease not found or lease is not renewable: no lease \"{lease_id}\""
        )));
    };
    if !entry.renewable {
        return Err(CoreError::bad(format!(
            "lease is not renewable: \"{lease_id}\" was issued without renewal"
        )));
    }
    if entry.expire_time <= now {
        return Err(CoreError::bad(format!("lease expired: \"{lease_id}\"")));
    }
    let ttl = increment.map_or(entry.ttl, |d| d.as_secs().max(1));
    let new_expire = (now + i64::try_from(ttl).unwrap_or(i64::MAX / 4)).min(entry.max_expire_time);
    if let Some(m) = mounts.get(&entry.mount) {
        // The engine learns the new expiry (a database user's own expiry follows it).
        let mut data = Map::new();
        data.insert("expire_time".into(), Value::from(new_expire));
        let req = crate::engine::EngineRequest::new(
            lease_id,
            crate::logical::Operation::Update,
            &entry.path,
            &data,
            &m.view,
            &m.entry,
        );
        m.backend.renew_secret(&req, &entry.internal).await?;
    }
    let old_due = entry.due();
    entry.expire_time = new_expire;
    entry.last_renewal = Some(now);
    entry.ttl = u64::try_from(new_expire - now).unwrap_or(0);
    leases.update(old_due, &entry).await?;
    Ok(entry)
}

/// Revokes every lease the token with `id_hash` created.
pub async fn revoke_of_token(leases: &Leases, mounts: &crate::mounts::MountTable, id_hash: &str) {
    match leases.ids_of_token(id_hash).await {
        Ok(ids) => {
            for id in ids {
                let _ = revoke(leases, mounts, &id, false).await;
            }
            if let Err(e) = leases.forget_owner(id_hash).await {
                tracing::warn!(error = %e, "could not drop a revoked token's lease index");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read a revoked token's leases"),
    }
}

impl Drop for Leases {
    /// The expiry task waits on `wake` without holding the leases: waking it lets it see they
    /// are gone (the server sealed) and end, releasing the storage.
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

/// The wait before the next attempt after `attempts` failed revocations: 1 s doubling to
/// [`MAX_BACKOFF_SECS`].
pub fn backoff(attempts: u32) -> i64 {
    1i64.checked_shl(attempts.min(16))
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS)
}

/// A new lease id for a secret issued at `path` (the full request path).
pub fn new_lease_id(path: &str) -> Result<String> {
    let suffix = crate::token::random_string(24)?;
    Ok(format!("{}/{suffix}", path.trim_end_matches('/')))
}

/// The lease manager's handle for the token store: revoking a token tells the leases.
pub fn token_hook(leases: &Arc<Leases>) -> crate::token::DeleteHook {
    let weak = Arc::downgrade(leases);
    Arc::new(move |id_hash: &str| {
        if let Some(l) = weak.upgrade() {
            l.token_revoked(id_hash);
        }
    })
}

/// The TTL a new lease gets: what the engine asked for (or the default), within the maximum.
pub fn clamp_ttl(asked: Duration, default: Duration, max: Duration) -> Duration {
    let ttl = if asked.is_zero() { default } else { asked };
    ttl.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(
            (0..12).map(backoff).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        );
        assert_eq!(backoff(u32::MAX), 300);
    }

    #[test]
    fn ttl_defaults_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(clamp_ttl(s(0), s(60), s(120)), s(60));
        assert_eq!(clamp_ttl(s(500), s(60), s(120)), s(120));
        assert_eq!(clamp_ttl(s(30), s(60), s(120)), s(30));
    }
}
