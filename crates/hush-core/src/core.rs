//! The core: seal state and the one request pipeline every call goes through.
//!
//! ```text
//! seal check -> resolve token (cached) -> ACL check -> route -> handler -> audit
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hush_crypto::seal::StaticSeal;
use hush_crypto::{shamir, Barrier, SecretKey};
use hush_storage::Backend;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::AuditBroker;
use crate::engine::{LogicalBackend, MountEntry, Registry};
use crate::error::{CoreError, Result};
use crate::mounts::{MountTable, Mounted, TableKind};
use crate::policy_store::PolicyStore;
use crate::seal::{self, InitParams, SealConfig};
use crate::time::now_unix;
use crate::token::TokenStore;
use crate::view::View;

/// Encryptions under one key term after which the barrier rotates. NIST SP 800-38D bounds random
/// 96-bit nonces to 2^32 uses of a key; the margin covers counts lost between checkpoints when
/// the process is killed (at most [`CHECKPOINT_INTERVAL`] of writes each time).
pub const DEFAULT_ROTATION_LIMIT: u64 = (1 << 32) - (1 << 26);

/// How often the keyring's encryption counters are saved.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// What the core needs to know from the server configuration.
pub struct CoreConfig {
    /// The static auto-unseal seal, if configured; else the Shamir seal.
    pub static_seal: Option<StaticSeal>,
    /// Default TTL of tokens and leases.
    pub default_lease_ttl: Duration,
    /// Maximum TTL of tokens and leases.
    pub max_lease_ttl: Duration,
    /// The configured cluster name (one is generated otherwise).
    pub cluster_name: Option<String>,
    /// Encryptions per key term before automatic rotation.
    pub rotation_limit: u64,
    /// The version reported by sys/health and sys/seal-status.
    pub version: String,
    /// The secrets engines that can be mounted.
    pub engines: Registry,
    /// The auth methods that can be enabled.
    pub auth_methods: Registry,
    /// The `telemetry` stanza: how `sys/metrics` renders.
    pub telemetry: crate::metrics::TelemetryConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            static_seal: None,
            default_lease_ttl: Duration::from_secs(768 * 3600),
            max_lease_ttl: Duration::from_secs(768 * 3600),
            cluster_name: None,
            rotation_limit: DEFAULT_ROTATION_LIMIT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            engines: Registry::new(),
            auth_methods: Registry::new(),
            telemetry: Default::default(),
        }
    }
}

/// The cluster's identity, stored inside the barrier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// A UUID chosen at initialization.
    pub cluster_id: String,
    /// A name for people.
    pub cluster_name: String,
}

/// Everything that exists only while the server is unsealed. Dropping it (on seal) drops the
/// root key and the keyring, which zeroize themselves.
pub struct Unsealed {
    root_key: SecretKey,
    barrier: Arc<Barrier>,
    /// The whole barrier.
    pub view: View,
    /// The token store.
    pub tokens: TokenStore,
    /// Cluster identity.
    pub cluster: ClusterInfo,
    /// Audit devices.
    pub audit: AuditBroker,
    /// ACL policies.
    pub policies: PolicyStore,
    /// Secrets engines.
    pub mounts: MountTable,
    /// Auth methods.
    pub auth: MountTable,
    /// The `sys/` backend, routed like a mount.
    pub system: Arc<Mounted>,
    /// The token store's backend at `auth/token/`, routed like a mount.
    pub token_store: Arc<Mounted>,
    /// Every token's private storage at `cubbyhole/`, routed like a mount.
    pub cubbyhole: Arc<Mounted>,
    /// The leases of the secrets engines issued.
    pub leases: Arc<crate::leases::Leases>,
    /// Entities, aliases and groups.
    pub identity: crate::identity::IdentityStore,
    /// The identity store's backend at `identity/`, routed like a mount.
    pub identity_mount: Arc<Mounted>,
    /// Rate-limit quotas.
    pub quotas: crate::quotas::Quotas,
    /// Logins whose credential check is under way, reserved against the lockout threshold.
    pub logins_in_flight: crate::lockout::InFlight,
    /// The latest mount moves (`sys/remount`): id, source and target, for
    /// `sys/remount/status/:id`. Kept in memory and bounded, as in Vault.
    pub(crate) migrations: parking_lot::Mutex<std::collections::VecDeque<[String; 3]>>,
    saved_encryptions: AtomicU64,
}

struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// Adds `share` once to the shares an attempt (rekey, root generation) collects, after checking
/// the client's nonce against the attempt's (`nonces`: the attempt's, the client's; `which`
/// names the attempt and where its nonce comes from) and that the share is a current one
/// (`known`). Returns how many shares the attempt holds.
fn enter_share(
    shares: &mut Vec<Zeroizing<Vec<u8>>>,
    share: Zeroizing<Vec<u8>>,
    known: bool,
    (expected, given): (&str, &str),
    which: &str,
) -> Result<usize> {
    if !hush_crypto::hash::ct_eq(expected.as_bytes(), given.trim().as_bytes()) {
        return Err(CoreError::bad(format!(
            "the nonce does not match {which} answered ({expected})"
        )));
    }
    if !known {
        return Err(CoreError::bad(
            "this key is not one of this server's current key shares; the progress is unchanged",
        ));
    }
    if !shares.iter().any(|s| s.as_slice() == share.as_slice()) {
        shares.push(share);
    }
    Ok(shares.len())
}

/// A rekey under way (`sys/rekey/*` or `sys/rekey-recovery-key/*`).
struct RekeyProgress {
    nonce: String,
    new_shares: u8,
    new_threshold: u8,
    shares: Vec<Zeroizing<Vec<u8>>>,
}

/// Which shares a rekey replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyTarget {
    /// The unseal key shares of the Shamir seal (`sys/rekey/*`).
    Unseal,
    /// The recovery key shares of an auto-unseal seal (`sys/rekey-recovery-key/*`).
    Recovery,
}

/// Vault's rekey status (`GET sys/rekey/init`).
#[derive(Debug, Clone, Serialize)]
pub struct RekeyStatus {
    /// Identifies the rekey under way; empty when none is.
    pub nonce: String,
    /// Whether a rekey is under way.
    pub started: bool,
    /// The new threshold.
    pub t: u8,
    /// The new number of shares.
    pub n: u8,
    /// Current shares entered so far.
    pub progress: u8,
    /// Current shares needed to authorize it.
    pub required: u8,
    /// PGP encryption of the new shares (not supported: always null).
    pub pgp_fingerprints: Option<Vec<String>>,
    /// Whether the new shares are backed up encrypted (needs PGP: always false).
    pub backup: bool,
    /// Whether the new shares must be verified before they take effect (always false).
    pub verification_required: bool,
}

/// Length of a root token (`hvs.` and 32 characters), and so of a generate-root one-time pad.
pub const ROOT_TOKEN_LEN: usize = 36;

/// A root token generation under way (`sys/generate-root/*`).
struct GenerateRootProgress {
    nonce: String,
    otp: Zeroizing<String>,
    shares: Vec<Zeroizing<Vec<u8>>>,
}

/// Vault's generate-root status (`GET sys/generate-root/attempt`).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateRootStatus {
    /// Whether an attempt is under way.
    pub started: bool,
    /// Identifies the attempt.
    pub nonce: String,
    /// Shares entered so far.
    pub progress: u8,
    /// Shares needed.
    pub required: u8,
    /// Whether the attempt finished (only in the answer to the last update).
    pub complete: bool,
    /// The new root token XOR the one-time pad, base64 (the last update only).
    pub encoded_token: String,
    /// The same, under Vault's older name.
    pub encoded_root_token: String,
    /// PGP encryption of the token (not supported: always empty).
    pub pgp_fingerprint: String,
    /// Length of the one-time pad the client must use.
    pub otp_length: usize,
    /// The one-time pad the server generated (only in the answer that started the attempt).
    pub otp: String,
}

/// The answer to the rekey update that completes it: the new shares.
pub struct RekeyResult {
    /// The rekey's nonce.
    pub nonce: String,
    /// The new shares.
    pub keys: Vec<Zeroizing<Vec<u8>>>,
}

/// The result of `sys/init`.
pub struct InitResult {
    /// Unseal key shares.
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// Recovery key shares (static seal).
    pub recovery_keys: Vec<Zeroizing<Vec<u8>>>,
    /// The initial root token.
    pub root_token: Zeroizing<String>,
}

/// Seal state as `sys/seal-status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SealStatus {
    /// "shamir" or "static".
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the server is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: u8,
    /// Shares.
    pub n: u8,
    /// Shares entered so far.
    pub progress: u8,
    /// Identifies the current unseal attempt.
    pub nonce: String,
    /// Server version.
    pub version: String,
    /// Build date.
    pub build_date: String,
    /// Seal migration in progress (never).
    pub migration: bool,
    /// Whether init returned recovery keys.
    pub recovery_seal: bool,
    /// Storage type.
    pub storage_type: String,
    /// Present when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Present when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// The hush core.
pub struct Core {
    storage: Arc<dyn Backend>,
    config: CoreConfig,
    seal_config: parking_lot::RwLock<Option<SealConfig>>,
    state: ArcSwapOption<Unsealed>,
    /// Serializes init, unseal and seal.
    op_lock: tokio::sync::Mutex<()>,
    progress: parking_lot::Mutex<UnsealProgress>,
    rekeys: parking_lot::Mutex<[Option<RekeyProgress>; 2]>,
    generate_root: parking_lot::Mutex<Option<GenerateRootProgress>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// The gauges that count stored objects, and when they were computed.
    pub(crate) usage_gauges:
        parking_lot::Mutex<Option<(std::time::Instant, Vec<crate::metrics::Gauge>)>>,
}

impl Core {
    /// Creates a core over `storage` and loads the seal configuration. With a static seal and an
    /// initialized storage, it unseals itself: nobody needs to be present.
    pub async fn new(storage: Arc<dyn Backend>, config: CoreConfig) -> Result<Arc<Core>> {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let storage: Arc<dyn Backend> =
            Arc::new(crate::metrics::MeteredBackend::new(storage, &metrics));
        let sc = seal::read_seal_config(storage.as_ref()).await?;
        if let Some(sc) = &sc {
            match (sc.kind.as_str(), config.static_seal.is_some()) {
                ("shamir", true) => {
                    return Err(CoreError::Internal(
                        "this storage was initialized with the Shamir seal, but the configuration \
                         has a `seal \"static\"` stanza; remove the stanza (seal migration is not \
                         supported yet)"
                            .into(),
                    ))
                }
                ("static", false) => {
                    return Err(CoreError::Internal(
                        "this storage was initialized with the static seal, but the configuration \
                         has no `seal \"static\"` stanza: add it with the same key"
                            .into(),
                    ))
                }
                _ => {}
            }
        }
        let core = Arc::new(Core {
            storage,
            config,
            seal_config: parking_lot::RwLock::new(sc.clone()),
            state: ArcSwapOption::empty(),
            op_lock: tokio::sync::Mutex::new(()),
            progress: parking_lot::Mutex::new(UnsealProgress {
                shares: Vec::new(),
                nonce: String::new(),
            }),
            rekeys: parking_lot::Mutex::new([None, None]),
            generate_root: parking_lot::Mutex::new(None),
            metrics,
            usage_gauges: parking_lot::Mutex::new(None),
        });
        if sc.is_some() && core.config.static_seal.is_some() {
            core.auto_unseal().await?;
        }
        Ok(core)
    }

    /// The server's counters and samples.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The storage backend's type name.
    pub fn storage_type(&self) -> &'static str {
        self.storage.kind()
    }

    /// The configuration the core runs with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The unsealed state, or `None` while sealed.
    pub fn unsealed(&self) -> Option<Arc<Unsealed>> {
        self.state.load_full()
    }

    /// Whether `sys/init` has run.
    pub fn is_initialized(&self) -> bool {
        self.seal_config.read().is_some()
    }

    /// Whether the server is sealed.
    pub fn is_sealed(&self) -> bool {
        self.state.load().is_none()
    }

    /// A snapshot of the whole store, taken while serving (see [`crate::snapshot`]).
    pub async fn snapshot(&self) -> Result<Vec<u8>> {
        let un = self.unsealed().ok_or(CoreError::Sealed)?;
        // The keyring's encryption count in storage must not lag behind this barrier's.
        self.checkpoint_keyring(&un).await?;
        let entries = self.storage.entries().await?;
        crate::snapshot::encode(
            &entries,
            &un.root_key,
            &un.cluster.cluster_id,
            &un.cluster.cluster_name,
            now_unix(),
        )
    }

    /// Restores a snapshot into this new (never initialized) server. It is then initialized
    /// and sealed, and unseals with the keys of the server the snapshot was taken of (a static
    /// seal unseals itself, if its key is that server's).
    pub async fn restore_new(&self, file: &[u8]) -> Result<crate::snapshot::Header> {
        let header = {
            let _op = self.op_lock.lock().await;
            if self.is_initialized() {
                return Err(CoreError::bad(
                    "this server is initialized: a snapshot is restored only into a new server \
                     (or, with the server stopped, into its storage with `hush operator \
                     snapshot restore -config FILE -force SNAPSHOT`)",
                ));
            }
            let header = crate::snapshot::stage(self.storage.as_ref(), file, false).await?;
            let sc = seal::read_seal_config(self.storage.as_ref()).await?;
            let is_static = sc.as_ref().is_some_and(|c| c.kind == "static");
            if is_static != self.config.static_seal.is_some() {
                // Back to new: the storage was empty before the stage.
                let ops = self
                    .storage
                    .entries()
                    .await?
                    .into_iter()
                    .map(|(key, _)| hush_storage::Op::Delete { key })
                    .collect();
                self.storage.transaction(ops).await?;
                return Err(CoreError::bad(if is_static {
                    "the snapshot is of a server with the static seal: configure the same \
                     `seal \"static\"` stanza (and key) on this server, then restore"
                } else {
                    "the snapshot is of a server with Shamir unseal keys, but this server is \
                     configured with `seal \"static\"`: remove the stanza, then restore"
                }));
            }
            *self.seal_config.write() = sc;
            header
        };
        self.auto_unseal().await?;
        Ok(header)
    }

    /// Initializes the server: creates the root key, keyring, shares and root token.
    pub async fn init(
        &self,
        params: InitParams,
        root_token_id: Option<&str>,
    ) -> Result<InitResult> {
        let _op = self.op_lock.lock().await;
        if self.is_initialized() {
            return Err(CoreError::bad(
                "hush is already initialized: initialization happens once per storage",
            ));
        }
        let static_seal = self.config.static_seal.as_ref();
        let now = now_unix();
        let out = seal::initialize(self.storage.as_ref(), static_seal, params, now).await?;
        let unsealed = self.bring_up(out.root_key, out.keyring, true).await?;
        let root_token = unsealed.tokens.create_root(root_token_id, now).await?;
        // Save the encryptions made during init before this barrier instance is dropped.
        self.checkpoint_keyring(&unsealed).await?;
        let sc = seal::read_seal_config(self.storage.as_ref()).await?;
        *self.seal_config.write() = sc;
        if static_seal.is_some() {
            self.state.store(Some(unsealed));
        }
        // With the Shamir seal the server stays sealed after init, as Vault does: the operators
        // prove they hold the shares by unsealing.
        {
            let mut progress = self.progress.lock();
            progress.shares.clear();
            progress.nonce.clear();
        }
        tracing::info!(
            seal = if static_seal.is_some() {
                "static"
            } else {
                "shamir"
            },
            "initialized"
        );
        Ok(InitResult {
            keys: out.keys,
            recovery_keys: out.recovery_keys,
            root_token: Zeroizing::new(root_token),
        })
    }

    /// Opens the barrier with a root key and loads what the unsealed server needs.
    async fn bring_up(
        &self,
        root_key: SecretKey,
        keyring: hush_crypto::Keyring,
        first_time: bool,
    ) -> Result<Arc<Unsealed>> {
        let barrier = Arc::new(Barrier::new(keyring, self.config.rotation_limit));
        let view = View::root(self.storage.clone(), barrier.clone());
        let cluster = match view.get_json::<ClusterInfo>("core/cluster").await? {
            Some(c) => c,
            None if first_time => {
                let id = uuid::Uuid::new_v4().to_string();
                let c = ClusterInfo {
                    cluster_name: self
                        .config
                        .cluster_name
                        .clone()
                        .unwrap_or_else(|| format!("hush-cluster-{}", &id[..8])),
                    cluster_id: id,
                };
                view.put_json("core/cluster", &c).await?;
                c
            }
            None => {
                return Err(CoreError::Internal(
                    "the cluster record (core/cluster) is missing: storage was damaged".into(),
                ))
            }
        };
        let tokens = TokenStore::open(view.sub("sys/token/")).await?;
        let leases = Arc::new(crate::leases::Leases::load(view.sub("sys/expire/")).await?);
        tokens.on_delete(crate::leases::token_hook(&leases));
        let policies = PolicyStore::open(view.sub("sys/policy/")).await?;
        let mounts = MountTable::load(
            TableKind::Secrets,
            view.clone(),
            self.config.engines.clone(),
        )
        .await?;
        let auth = MountTable::load(
            TableKind::Auth,
            view.clone(),
            self.config.auth_methods.clone(),
        )
        .await?;
        let audit = AuditBroker::new();
        let quotas = crate::quotas::Quotas::load(view.clone()).await?;
        let saved = barrier.key_status().encryptions;
        let system = builtin_mount(
            "sys/",
            "sys/",
            "system",
            "system",
            Arc::new(crate::sys::SystemBackend),
            view.clone(),
        );
        let token_store = builtin_mount(
            "token/",
            "auth/token/",
            "token",
            crate::token::TOKEN_STORE_ACCESSOR,
            Arc::new(crate::auth_token::TokenBackend),
            view.sub("sys/token/"),
        );
        let cubbyhole = builtin_mount(
            "cubbyhole/",
            "cubbyhole/",
            "cubbyhole",
            crate::cubbyhole::ACCESSOR,
            Arc::new(crate::cubbyhole::CubbyholeBackend),
            view.sub(&format!("sys/token/{}", crate::cubbyhole::STORAGE_PREFIX)),
        );
        let identity =
            crate::identity::IdentityStore::open(view.sub(crate::identity::STORAGE_PREFIX)).await?;
        let identity_mount = builtin_mount(
            "identity/",
            "identity/",
            "identity",
            crate::identity::ACCESSOR,
            Arc::new(crate::identity::IdentityBackend),
            view.sub(crate::identity::STORAGE_PREFIX),
        );
        let un = Arc::new(Unsealed {
            root_key,
            barrier,
            view,
            tokens,
            cluster,
            audit,
            policies,
            mounts,
            auth,
            system,
            token_store,
            cubbyhole,
            leases,
            identity,
            identity_mount,
            quotas,
            logins_in_flight: crate::lockout::InFlight::default(),
            migrations: Default::default(),
            saved_encryptions: AtomicU64::new(saved),
        });
        crate::audit::restore_devices(&un.audit, &un.view).await?;
        spawn_lease_expiry(&un);
        Ok(un)
    }

    async fn auto_unseal(&self) -> Result<()> {
        let Some(static_seal) = self.config.static_seal.as_ref() else {
            return Ok(());
        };
        let wrapped = seal::read_wrapped_root_key(self.storage.as_ref()).await?;
        let root_key = static_seal
            .unwrap(&wrapped, seal::ROOT_KEY_PATH.as_bytes())
            .map_err(|e| CoreError::Internal(format!("automatic unseal failed: {e}")))?;
        crate::snapshot::apply_pending(self.storage.as_ref(), &root_key).await?;
        let keyring = seal::read_keyring(self.storage.as_ref(), &root_key).await?;
        let unsealed = self.bring_up(root_key, keyring, false).await?;
        self.state.store(Some(unsealed));
        tracing::info!("unsealed with the static seal");
        Ok(())
    }

    /// Enters one unseal key share (hex or base64), or resets the attempt.
    pub async fn unseal(&self, key: Option<&str>, reset: bool) -> Result<SealStatus> {
        let _op = self.op_lock.lock().await;
        let Some(sc) = self.seal_config.read().clone() else {
            return Err(CoreError::NotInitialized);
        };
        if reset {
            if !self.is_sealed() {
                return Err(CoreError::bad(
                    "hush is unsealed: there is no unseal in progress to reset",
                ));
            }
            let mut progress = self.progress.lock();
            progress.shares.clear();
            progress.nonce.clear();
            drop(progress);
            return Ok(self.seal_status());
        }
        let Some(key) = key.filter(|k| !k.trim().is_empty()) else {
            return Err(CoreError::bad(
                "missing 'key': pass one unseal key share, or 'reset': true",
            ));
        };
        // As in Vault, a key sent to an unsealed server is answered with the seal status:
        // clients unseal every node of a cluster without asking which are sealed first.
        if !self.is_sealed() {
            return Ok(self.seal_status());
        }
        if sc.kind == "static" {
            return Err(CoreError::bad(
                "this server uses the static seal and unseals itself; unseal keys do not apply \
                 (recovery keys cannot unseal)",
            ));
        }
        // Shares are one byte longer than the 32-byte key they protect (the share's index).
        let share = seal::decode_share(key, 33)?;
        if !seal::share_is_known(&sc, &share) {
            return Err(CoreError::bad(
                "this unseal key is not one of this server's key shares (it may come from \
                 another initialization, or be mistyped); unseal progress is unchanged",
            ));
        }
        let shares = {
            let mut progress = self.progress.lock();
            if !progress
                .shares
                .iter()
                .any(|s| s.as_slice() == share.as_slice())
            {
                if progress.shares.is_empty() {
                    progress.nonce = uuid::Uuid::new_v4().to_string();
                }
                progress.shares.push(share);
            }
            if progress.shares.len() < sc.secret_threshold as usize {
                None
            } else {
                progress.nonce.clear();
                Some(std::mem::take(&mut progress.shares))
            }
        };
        let Some(shares) = shares else {
            return Ok(self.seal_status());
        };
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        let kek_bytes = shamir::combine(&refs, sc.secret_threshold)?;
        let root_key = seal::open_root_key(self.storage.as_ref(), &kek_bytes)
            .await?
            .ok_or_else(|| {
                CoreError::bad(
                    "the unseal keys combine to a key that does not open this server's root key: \
                     at least one share is corrupt; unseal progress was reset",
                )
            })?;
        crate::snapshot::apply_pending(self.storage.as_ref(), &root_key).await?;
        let keyring = seal::read_keyring(self.storage.as_ref(), &root_key).await?;
        let unsealed = self.bring_up(root_key, keyring, false).await?;
        self.state.store(Some(unsealed));
        tracing::info!("unsealed");
        Ok(self.seal_status())
    }

    /// The seal configuration for a rekey of `target`, or why that rekey does not apply.
    fn rekey_config(&self, target: RekeyTarget) -> Result<SealConfig> {
        let Some(sc) = self.seal_config.read().clone() else {
            return Err(CoreError::NotInitialized);
        };
        if self.is_sealed() {
            return Err(CoreError::Sealed);
        }
        match (target, sc.kind == "static") {
            (RekeyTarget::Unseal, true) => Err(CoreError::bad(
                "this server uses the static seal, which has no unseal key shares: rekey its \
                 recovery keys with sys/rekey-recovery-key (hush operator rekey \
                 -target=recovery), or rotate the seal key itself in the configuration",
            )),
            (RekeyTarget::Recovery, false) => Err(CoreError::bad(
                "this server uses the Shamir seal, which has no recovery keys: rekey its unseal \
                 key shares with sys/rekey (hush operator rekey)",
            )),
            _ => Ok(sc),
        }
    }

    /// The status of a rekey of `target`.
    pub fn rekey_status(&self, target: RekeyTarget) -> Result<RekeyStatus> {
        let sc = self.rekey_config(target)?;
        let required = sc.threshold(target == RekeyTarget::Recovery);
        let rekeys = self.rekeys.lock();
        let p = rekeys[target as usize].as_ref();
        Ok(RekeyStatus {
            nonce: p.map(|p| p.nonce.clone()).unwrap_or_default(),
            started: p.is_some(),
            t: p.map_or(0, |p| p.new_threshold),
            n: p.map_or(0, |p| p.new_shares),
            progress: p.map_or(0, |p| p.shares.len() as u8),
            required,
            pgp_fingerprints: None,
            backup: false,
            verification_required: false,
        })
    }

    /// Starts a rekey of `target` to `new_shares` shares with `new_threshold` needed.
    pub fn rekey_init(
        &self,
        target: RekeyTarget,
        new_shares: u8,
        new_threshold: u8,
    ) -> Result<RekeyStatus> {
        self.rekey_config(target)?;
        {
            let mut rekeys = self.rekeys.lock();
            let slot = &mut rekeys[target as usize];
            if let Some(p) = slot {
                return Err(CoreError::bad(format!(
                    "a rekey is already in progress (nonce {}): finish it with the current key \
                     shares, or cancel it (DELETE sys/rekey/init, hush operator rekey -cancel)",
                    p.nonce
                )));
            }
            *slot = Some(RekeyProgress {
                nonce: uuid::Uuid::new_v4().to_string(),
                new_shares,
                new_threshold,
                shares: Vec::new(),
            });
        }
        self.rekey_status(target)
    }

    /// Cancels a rekey of `target` (nothing happens if none is under way).
    pub fn rekey_cancel(&self, target: RekeyTarget) -> Result<()> {
        self.rekey_config(target)?;
        self.rekeys.lock()[target as usize] = None;
        Ok(())
    }

    /// Enters one current key share for the rekey with `nonce`. When the shares reach the
    /// current threshold the new shares replace the old ones and are returned.
    pub async fn rekey_update(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> Result<Option<RekeyResult>> {
        let _op = self.op_lock.lock().await;
        let sc = self.rekey_config(target)?;
        let recovery = target == RekeyTarget::Recovery;
        let share = seal::decode_share(key, 33)?;
        let known = sc.knows_share(&share, recovery);
        let threshold = sc.threshold(recovery);
        let ready = {
            let mut rekeys = self.rekeys.lock();
            let Some(p) = rekeys[target as usize].as_mut() else {
                return Err(CoreError::bad(
                    "no rekey is in progress: start one first (PUT sys/rekey/init with \
                     secret_shares and secret_threshold, or hush operator rekey -init)",
                ));
            };
            let entered = enter_share(
                &mut p.shares,
                share,
                known,
                (&p.nonce, nonce),
                "the rekey in progress: send the nonce sys/rekey/init",
            )?;
            if entered < threshold as usize {
                return Ok(None);
            }
            // Taken out: whatever happens next, this attempt is over.
            rekeys[target as usize].take()
        };
        let Some(p) = ready else { return Ok(None) };
        let (new_config, keys) = seal::rekey(
            self.storage.as_ref(),
            &sc,
            &p.shares,
            recovery,
            p.new_shares,
            p.new_threshold,
        )
        .await?;
        *self.seal_config.write() = Some(new_config);
        tracing::info!(target = ?target, shares = p.new_shares, threshold = p.new_threshold, "rekeyed");
        Ok(Some(RekeyResult {
            nonce: p.nonce,
            keys,
        }))
    }

    /// The shares a root token generation takes: unseal keys on the Shamir seal, recovery keys
    /// on the static seal (as Vault does with auto-unseal); and how many.
    fn generate_root_config(&self) -> Result<(SealConfig, u8)> {
        let Some(sc) = self.seal_config.read().clone() else {
            return Err(CoreError::NotInitialized);
        };
        if self.is_sealed() {
            return Err(CoreError::Sealed);
        }
        let required = sc.threshold(sc.kind == "static");
        Ok((sc, required))
    }

    /// The status of a root token generation.
    pub fn generate_root_status(&self) -> Result<GenerateRootStatus> {
        let (_, required) = self.generate_root_config()?;
        let g = self.generate_root.lock();
        Ok(GenerateRootStatus {
            started: g.is_some(),
            nonce: g.as_ref().map(|g| g.nonce.clone()).unwrap_or_default(),
            progress: g.as_ref().map_or(0, |g| g.shares.len() as u8),
            required,
            complete: false,
            encoded_token: String::new(),
            encoded_root_token: String::new(),
            pgp_fingerprint: String::new(),
            otp_length: ROOT_TOKEN_LEN,
            otp: String::new(),
        })
    }

    /// Starts a root token generation with the client's one-time pad, or one the server makes
    /// (and answers, once).
    pub fn generate_root_init(&self, otp: Option<&str>) -> Result<GenerateRootStatus> {
        self.generate_root_config()?;
        let generated = otp.is_none();
        let otp = match otp {
            Some(otp) if otp.len() == ROOT_TOKEN_LEN => Zeroizing::new(otp.to_owned()),
            Some(otp) => {
                return Err(CoreError::bad(format!(
                    "the one-time pad is {} characters long; it must be {ROOT_TOKEN_LEN} (the \
                     length of a root token), or leave 'otp' out and the server makes one",
                    otp.len()
                )))
            }
            None => Zeroizing::new(crate::token::random_string(ROOT_TOKEN_LEN)?),
        };
        {
            let mut g = self.generate_root.lock();
            if let Some(p) = g.as_ref() {
                return Err(CoreError::bad(format!(
                    "a root token generation is already in progress (nonce {}): finish it, or \
                     cancel it (DELETE sys/generate-root/attempt, hush operator generate-root \
                     -cancel)",
                    p.nonce
                )));
            }
            *g = Some(GenerateRootProgress {
                nonce: uuid::Uuid::new_v4().to_string(),
                otp: otp.clone(),
                shares: Vec::new(),
            });
        }
        let mut status = self.generate_root_status()?;
        if generated {
            status.otp = otp.to_string();
        }
        Ok(status)
    }

    /// Cancels a root token generation.
    pub fn generate_root_cancel(&self) -> Result<()> {
        self.generate_root_config()?;
        *self.generate_root.lock() = None;
        Ok(())
    }

    /// Enters one share for the root token generation with `nonce`; the last one creates a
    /// root token and answers it encoded with the attempt's one-time pad.
    pub async fn generate_root_update(&self, key: &str, nonce: &str) -> Result<GenerateRootStatus> {
        let _op = self.op_lock.lock().await;
        let (sc, required) = self.generate_root_config()?;
        let recovery = sc.kind == "static";
        let share = seal::decode_share(key, 33)?;
        let known = sc.knows_share(&share, recovery);
        let done = {
            let mut g = self.generate_root.lock();
            let Some(p) = g.as_mut() else {
                return Err(CoreError::bad(
                    "no root token generation is in progress: start one first (PUT \
                     sys/generate-root/attempt, or hush operator generate-root -init)",
                ));
            };
            let entered = enter_share(
                &mut p.shares,
                share,
                known,
                (&p.nonce, nonce),
                "the root token generation in progress: send the nonce \
                 sys/generate-root/attempt",
            )?;
            if entered < required as usize {
                None
            } else {
                g.take()
            }
        };
        let Some(p) = done else {
            return self.generate_root_status();
        };
        let refs: Vec<&[u8]> = p.shares.iter().map(|s| s.as_slice()).collect();
        let secret = shamir::combine(&refs, required)?;
        // The shares must rebuild the key that opens the root key, not just be known.
        if !recovery
            && seal::open_root_key(self.storage.as_ref(), &secret)
                .await?
                .is_none()
        {
            return Err(CoreError::bad(
                "the key shares combine to a key that does not open this server's root key: at \
                 least one share is corrupt; the attempt was cancelled",
            ));
        }
        let Some(un) = self.unsealed() else {
            return Err(CoreError::Sealed);
        };
        let token = Zeroizing::new(un.tokens.create_root(None, now_unix()).await?);
        let encoded: Vec<u8> = token
            .as_bytes()
            .iter()
            .zip(p.otp.as_bytes())
            .map(|(t, o)| t ^ o)
            .collect();
        let encoded =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, encoded);
        tracing::warn!("a root token was generated with sys/generate-root");
        Ok(GenerateRootStatus {
            started: false,
            nonce: p.nonce,
            progress: required,
            required,
            complete: true,
            encoded_token: encoded.clone(),
            encoded_root_token: encoded,
            pgp_fingerprint: String::new(),
            otp_length: ROOT_TOKEN_LEN,
            otp: String::new(),
        })
    }

    /// Seals the server: drops every key from memory. Requests in flight finish with the state
    /// they started with.
    pub async fn seal(&self) -> Result<()> {
        let _op = self.op_lock.lock().await;
        // A rekey or root generation needs the server unsealed from start to end.
        *self.rekeys.lock() = [None, None];
        *self.generate_root.lock() = None;
        if let Some(un) = self.state.swap(None) {
            // Save the encryption counters so they survive; best effort, sealing must not fail.
            if let Err(e) = self.checkpoint_keyring(&un).await {
                tracing::warn!(error = %e, "could not save keyring counters while sealing");
            }
        }
        tracing::info!("sealed");
        Ok(())
    }

    /// The seal status.
    pub fn seal_status(&self) -> SealStatus {
        let sc = self.seal_config.read().clone();
        let un = self.unsealed();
        let (nonce, progress) = {
            let p = self.progress.lock();
            (p.nonce.clone(), p.shares.len() as u8)
        };
        let (kind, t, n, recovery) = match &sc {
            Some(sc) if sc.kind == "static" => ("static".to_string(), 1, 1, true),
            Some(sc) => (
                sc.kind.clone(),
                sc.secret_threshold,
                sc.secret_shares,
                false,
            ),
            None if self.config.static_seal.is_some() => ("static".to_string(), 0, 0, true),
            None => ("shamir".to_string(), 0, 0, false),
        };
        SealStatus {
            kind,
            initialized: sc.is_some(),
            sealed: un.is_none(),
            t,
            n,
            progress,
            nonce,
            version: self.config.version.clone(),
            build_date: String::new(),
            migration: false,
            recovery_seal: recovery,
            storage_type: self.storage.kind().to_string(),
            cluster_name: un.as_ref().map(|u| u.cluster.cluster_name.clone()),
            cluster_id: un.as_ref().map(|u| u.cluster.cluster_id.clone()),
        }
    }

    /// Dev mode: initialize with one share, unseal, and return (unseal key, root token).
    pub async fn init_dev(
        &self,
        root_token_id: Option<&str>,
    ) -> Result<(Zeroizing<String>, Zeroizing<String>)> {
        use base64::Engine as _;
        let params = InitParams {
            secret_shares: 1,
            secret_threshold: 1,
            recovery_shares: 1,
            recovery_threshold: 1,
        };
        let out = self.init(params, root_token_id).await?;
        let key = out
            .keys
            .first()
            .map(|k| Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(k)))
            .unwrap_or_default();
        if self.config.static_seal.is_none() {
            self.unseal(Some(&key), false).await?;
        }
        // Dev mode starts with the mounts the engines ask for (KV version 2 at secret/, as
        // Vault's does).
        if let Some(un) = self.unsealed() {
            for entry in un.mounts.registry().dev_mounts() {
                if un.mounts.get(&entry.path).is_none() {
                    un.mounts.mount(entry).await?;
                }
            }
        }
        Ok((key, out.root_token))
    }

    /// Saves the keyring if its encryption counters moved, and rotates when the active term has
    /// been used too often. Called periodically and on seal.
    async fn checkpoint_keyring(&self, un: &Unsealed) -> Result<()> {
        if un.barrier.rotation_due() {
            let info = un.barrier.rotate(now_unix())?;
            tracing::info!(
                term = info.term,
                "rotated the barrier key: encryption limit reached"
            );
        }
        crate::audit::checkpoint_heads(&un.audit, &un.view).await?;
        let count = un.barrier.key_status().encryptions;
        let term_changed = un.saved_encryptions.load(Ordering::Relaxed) > count;
        if count != un.saved_encryptions.load(Ordering::Relaxed) || term_changed {
            seal::write_keyring(
                self.storage.as_ref(),
                &un.root_key,
                &un.barrier.keyring_bytes(),
            )
            .await?;
            un.saved_encryptions.store(count, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Adds a key term to the barrier (sys/rotate) and saves the keyring.
    pub async fn rotate(&self) -> Result<hush_crypto::TermInfo> {
        let un = self.unsealed().ok_or(CoreError::Sealed)?;
        let info = un.barrier.rotate(now_unix())?;
        seal::write_keyring(
            self.storage.as_ref(),
            &un.root_key,
            &un.barrier.keyring_bytes(),
        )
        .await?;
        un.saved_encryptions
            .store(un.barrier.key_status().encryptions, Ordering::Relaxed);
        tracing::info!(term = info.term, "rotated the barrier key");
        Ok(info)
    }

    /// Runs the periodic keyring checkpoint until the core is dropped.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(core) = weak.upgrade() else { return };
                if let Err(e) = core.maintenance().await {
                    tracing::error!(error = %e, "could not save the keyring checkpoint");
                }
            }
        });
    }

    /// One round of periodic upkeep: each mount's scheduled work (`LogicalBackend::periodic`),
    /// then rotate the barrier key when its encryption limit is reached and save counters and
    /// audit chain heads. Runs every [`CHECKPOINT_INTERVAL`].
    pub async fn maintenance(&self) -> Result<()> {
        let Some(un) = self.unsealed() else {
            return Ok(());
        };
        let empty = serde_json::Map::new();
        let peers = crate::peers::UnsealedPeers { un: &un };
        for m in un.mounts.list() {
            let req = crate::engine::EngineRequest::new(
                "periodic",
                crate::logical::Operation::Update,
                "",
                &empty,
                &m.view,
                &m.entry,
            )
            .with_peers(&peers);
            if let Err(e) = m.backend.periodic(&req).await {
                tracing::warn!(mount = %m.route, error = %e, "a mount's periodic work failed");
            }
        }
        self.checkpoint_keyring(&un).await
    }

    /// Opens every audit log again at its path, so that logrotate's renamed files are
    /// closed and the chain continues in new ones (SIGHUP). Returns what could not be
    /// reopened; those devices keep writing their current files. Sealed: nothing to do.
    pub async fn reopen_audit_logs(&self) -> Vec<String> {
        match self.unsealed() {
            Some(un) => crate::audit::reopen_all(&un.audit).await,
            None => Vec::new(),
        }
    }

    /// Saves state that must outlive the process (graceful shutdown).
    pub async fn shutdown(&self) {
        if let Some(un) = self.unsealed() {
            if let Err(e) = self.checkpoint_keyring(&un).await {
                tracing::warn!(error = %e, "could not save the keyring checkpoint at shutdown");
            }
        }
    }
}

/// A backend the core mounts itself (`sys/`, `auth/token/`, `cubbyhole/`, `identity/`): not
/// in a mount table, routed before the tables.
fn builtin_mount(
    path: &str,
    route: &str,
    kind: &str,
    accessor: &str,
    backend: Arc<dyn LogicalBackend>,
    view: View,
) -> Arc<Mounted> {
    let route = route.to_string();
    Arc::new(Mounted {
        entry: MountEntry {
            path: path.into(),
            kind: kind.into(),
            description: String::new(),
            accessor: accessor.into(),
            uuid: format!("{kind}-builtin"),
            config: Default::default(),
            options: Default::default(),
            local: false,
            seal_wrap: false,
            created_time: 0,
        },
        backend,
        view,
        route,
    })
}

/// Runs until the server seals (the unsealed state is dropped): revokes every lease when it is
/// due, and the leases of revoked tokens; failures are retried with backoff (see
/// [`crate::leases::revoke`]). Leases due together are revoked concurrently, so a thousand
/// expiring in the same second wait on the engines in parallel, not one after another.
fn spawn_lease_expiry(un: &Arc<Unsealed>) {
    let weak = Arc::downgrade(un);
    tokio::spawn(async move {
        let mut last_sweep = 0i64;
        loop {
            let Some(un) = weak.upgrade() else { return };
            let now = now_unix();
            for id_hash in un.leases.take_revoked_tokens() {
                crate::leases::revoke_of_token(&un.leases, &un.mounts, &id_hash).await;
            }
            if now - last_sweep >= LEASE_SWEEP_SECS {
                last_sweep = now;
                // Tokens that expired or were revoked while their leases' index was not looked at
                // (a crash, or a revocation path that does not report): their leases go too.
                if let Ok(owners) = un.leases.owners().await {
                    for owner in owners {
                        if matches!(un.tokens.get_by_hash(&owner).await, Ok(None)) {
                            crate::leases::revoke_of_token(&un.leases, &un.mounts, &owner).await;
                        }
                    }
                }
            }
            let due = un.leases.due(now, LEASE_BATCH);
            let mut set = tokio::task::JoinSet::new();
            for id in due.clone() {
                let un = un.clone();
                set.spawn(async move {
                    let _ = crate::leases::revoke(&un.leases, &un.mounts, &id, false).await;
                });
            }
            while set.join_next().await.is_some() {}
            let wait = match un.leases.next_due() {
                Some(t) if t <= now_unix() => {
                    if due.is_empty() {
                        Duration::from_millis(200)
                    } else {
                        Duration::ZERO
                    }
                }
                Some(t) => Duration::from_millis(u64::try_from(t - now_unix()).unwrap_or(0) * 1000)
                    .min(Duration::from_secs(LEASE_SWEEP_SECS as u64)),
                None => Duration::from_secs(LEASE_SWEEP_SECS as u64),
            };
            // Nothing of the unsealed state is held while waiting: sealing drops it, and the
            // leases' drop wakes this to end.
            let wake = un.leases.wake.clone();
            drop(un);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
            }
        }
    });
}

/// Leases revoked per round of the expiry task.
const LEASE_BATCH: usize = 1024;
/// How often the expiry task looks for tokens gone without telling it.
const LEASE_SWEEP_SECS: i64 = 60;
