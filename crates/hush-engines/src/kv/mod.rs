//! The KV secrets engine, versions 1 and 2, speaking Vault's wire format.
//!
//! A `kv` mount is version 1 (a plain key/value store) unless its `options.version` is `"2"`;
//! a mount of type [`KV_V2_ALIAS`] (`kv-v2`) is always version 2.
//!
//! # Version 2 API (paths relative to the mount)
//!
//! | path | operations |
//! |---|---|
//! | `config` | read, write: `max_versions`, `cas_required`, `delete_version_after` |
//! | `data/<p>` | read (`?version=`), write (`{data, options{cas}}`), patch (JSON merge patch), delete (soft-deletes the latest version) |
//! | `delete/<p>`, `undelete/<p>`, `destroy/<p>` | write `{versions: [..]}` |
//! | `metadata/<p>` | read, write, patch, delete (everything), list |
//! | `subkeys/<p>` | read (`?version=`, `?depth=`) |
//!
//! A missing secret answers 404 with `{"errors": []}` like Vault. A version that is soft-deleted,
//! destroyed or past its `delete_version_after` deadline answers 404 *with* a body whose
//! `data.data` is null and whose `data.metadata` describes the version: hvac and External Secrets
//! Operator read that body.
//!
//! # Storage layout (inside the mount's encrypted view)
//!
//! Version 1 stores each secret's JSON object at its own path, exactly as Vault does.
//!
//! Version 2 keeps three kinds of records, all JSON:
//! - `config`: the mount-wide settings.
//! - `metadata/<p>`: one record per secret with its settings (`max_versions`, `cas_required`,
//!   `delete_version_after`, `custom_metadata`), `current_version`, `oldest_version`, the
//!   creation and update times, and per version its creation time, deletion time and whether it
//!   was destroyed. Listing `metadata/<folder>/` is therefore exactly Vault's list of secrets.
//! - `versions/<p>/<n>`: the data object of version `n`. Destroyed and pruned versions have no
//!   record. The last `/` separates the version number, so the keys of two different secrets can
//!   never collide (`a` version 1 is `versions/a/1`, secret `a/1` version 1 is `versions/a/1/1`).
//!
//! Every change to a secret (new version plus pruning plus metadata) is one storage transaction,
//! made while holding that secret's lock, so concurrent writers with the same `cas` cannot both
//! win and a crash never leaves half a write behind. Times are stored as Unix nanoseconds and
//! rendered like Go's RFC 3339 with nanoseconds (`2018-03-22T02:24:06.945319214Z`).

mod error;
mod json;
mod params;
mod rotation;
mod store;
mod v1;
mod v2;

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hush_core::engine::{EngineRequest, LogicalBackend, MountEntry, MountRules, Registry};
use hush_core::error::{CoreError, Result};
use hush_core::framework::{PathTable, Paths};
use hush_core::logical::{Operation, Response};
use tokio::sync::{Mutex, RwLock};

/// The engine type name of the KV engine in the mount table.
pub const KV_TYPE: &str = "kv";

/// The type name Vault's CLI accepts for a version 2 KV mount (`secrets enable kv-v2`).
///
/// KV's mount rules store such a mount as type [`KV_TYPE`] with `options.version = "2"`, so that
/// `sys/mounts` and `sys/internal/ui/mounts` report what clients expect (`type: kv`,
/// `options.version: "2"`); the engine built for the alias itself always serves version 2.
pub const KV_V2_ALIAS: &str = "kv-v2";

/// How many versions of a secret are kept when neither the secret nor the mount sets
/// `max_versions`.
pub const DEFAULT_MAX_VERSIONS: u32 = 10;

/// How many lock stripes serialize writers. Two secrets share a stripe only by hash collision,
/// which costs some parallelism but never correctness.
const LOCK_STRIPES: usize = 256;

/// Which flavour of the KV engine serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvVersion {
    /// Unversioned: one JSON object per path.
    V1,
    /// Versioned, with metadata, check-and-set and soft deletes.
    V2,
}

impl KvVersion {
    /// The version a `kv` mount entry asks for: `options.version == "2"` is version 2, anything
    /// else (including no option) is version 1.
    pub fn of_mount(entry: &MountEntry) -> KvVersion {
        match entry.options.get("version").map(|v| v.trim()) {
            Some("2") => KvVersion::V2,
            _ => KvVersion::V1,
        }
    }
}

/// A source of the current time. The engine needs it for version timestamps and for deciding
/// whether a version has passed its `delete_version_after` deadline; tests inject a manual clock.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Whether the engine follows the mount's `options.version` or is pinned to version 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FromOptions,
    Pinned(KvVersion),
}

/// The KV secrets engine. One instance serves one mount; it holds no secret material itself,
/// only the per-secret locks and the clock.
pub struct KvBackend {
    mode: Mode,
    clock: Arc<dyn Clock>,
    locks: Vec<RwLock<()>>,
    hasher: RandomState,
    /// Serializes read-modify-write cycles of the v2 `config` record.
    config_lock: Mutex<()>,
    /// Serializes rotations (and changes to their settings) on this mount.
    rotation_lock: Mutex<()>,
    /// Unix seconds before which no rotation on this mount can be due (0: unknown, scan).
    rotation_due: std::sync::atomic::AtomicI64,
}

impl fmt::Debug for KvBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvBackend")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Default for KvBackend {
    fn default() -> Self {
        KvBackend::new()
    }
}

impl KvBackend {
    /// An engine that serves version 1 or 2 according to each request's mount options.
    pub fn new() -> Self {
        KvBackend::with_mode(Mode::FromOptions)
    }

    /// An engine that always serves version 2, whatever the mount options say (for the
    /// [`KV_V2_ALIAS`] type).
    pub fn v2_only() -> Self {
        KvBackend::with_mode(Mode::Pinned(KvVersion::V2))
    }

    /// The engine for a `kv` mount entry, serving the version its options name (a tune that
    /// changes the options builds a new engine), refusing a `version` other than "1" or "2".
    ///
    /// # Errors
    ///
    /// A 400 naming the bad `options.version` value.
    pub fn for_mount(entry: &MountEntry) -> Result<Self> {
        let version = match entry.options.get("version").map(|v| v.trim()) {
            None | Some("") | Some("1") => KvVersion::V1,
            Some("2") => KvVersion::V2,
            Some(other) => {
                return Err(CoreError::bad(format!(
                    "invalid KV version {other:?} in options.version: use \"1\" for an \
                     unversioned store or \"2\" for a versioned one (or mount the type \
                     \"{KV_V2_ALIAS}\")"
                )))
            }
        };
        Ok(KvBackend::with_mode(Mode::Pinned(version)))
    }

    /// Replaces the clock (tests use a manual one to step over `delete_version_after`).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The version that serves requests for `entry`.
    pub fn version_for(&self, entry: &MountEntry) -> KvVersion {
        match self.mode {
            Mode::Pinned(v) => v,
            Mode::FromOptions => KvVersion::of_mount(entry),
        }
    }

    fn with_mode(mode: Mode) -> Self {
        KvBackend {
            mode,
            clock: Arc::new(SystemClock),
            locks: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            hasher: RandomState::new(),
            config_lock: Mutex::new(()),
            rotation_lock: Mutex::new(()),
            rotation_due: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// The lock guarding one secret (by its path below the mount).
    fn lock_for(&self, path: &str) -> &RwLock<()> {
        // The modulo keeps the index below LOCK_STRIPES, the length of `locks`.
        let index = (self.hasher.hash_one(path) % LOCK_STRIPES as u64) as usize;
        &self.locks[index]
    }

    /// The current time as Unix nanoseconds.
    fn now_nanos(&self) -> Result<i64> {
        self.clock.now().timestamp_nanos_opt().ok_or_else(|| {
            CoreError::Internal(
                "the system clock is outside the years 1678-2262 that KV timestamps can \
                 represent; fix the server's clock"
                    .to_string(),
            )
        })
    }
}

/// The path table of a version.
fn table(version: KvVersion) -> &'static Paths<KvBackend> {
    match version {
        KvVersion::V1 => v1::paths(),
        KvVersion::V2 => v2::paths(),
    }
}

#[async_trait]
impl LogicalBackend for KvBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        table(self.version_for(req.mount)).handle(self, req).await
    }

    /// KV v2 rotates the secrets that have a rotation configured, when due.
    async fn periodic(&self, req: &EngineRequest<'_>) -> Result<()> {
        match self.version_for(req.mount) {
            KvVersion::V1 => Ok(()),
            KvVersion::V2 => rotation::periodic(self, req).await,
        }
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        match self.version_for(req.mount) {
            KvVersion::V1 => v1::exists(req).await,
            KvVersion::V2 => v2::exists(req).await,
        }
    }

    /// The table of a pinned engine (every mounted one); an engine that follows each request's
    /// mount options has none to show.
    fn paths(&self) -> Option<&dyn PathTable> {
        match self.mode {
            Mode::Pinned(v) => Some(table(v)),
            Mode::FromOptions => None,
        }
    }

    /// Reads and lists, in both versions, only read storage: no read prunes, upgrades or
    /// records anything.
    fn changes_nothing(&self, _path: &str, operation: Operation) -> bool {
        matches!(operation, Operation::Read | Operation::List)
    }
}

/// What KV knows about its mount entries: `kv-v2` is `kv` with `options.version = "2"`,
/// `version` is stored without a leading `v`, a tune may not change the version (the data
/// layouts differ), and a dev server mounts version 2 at `secret/`.
struct KvRules;

/// `options.version` as stored: `"v2"` and `" 2 "` are `"2"`.
fn version_spelling(v: &str) -> String {
    v.trim().trim_start_matches('v').to_string()
}

impl MountRules for KvRules {
    fn normalize(&self, entry: &mut MountEntry) {
        if entry.kind == KV_V2_ALIAS {
            entry.kind = KV_TYPE.to_string();
            entry.options.insert("version".into(), "2".into());
        } else if let Some(v) = entry.options.get_mut("version") {
            *v = version_spelling(v);
        }
    }

    fn tune_options(
        &self,
        entry: &MountEntry,
        options: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(new) = options.get_mut("version") else {
            return Ok(());
        };
        *new = version_spelling(new);
        let old = entry
            .options
            .get("version")
            .map_or("1".to_string(), |v| version_spelling(v));
        if old != *new {
            return Err(CoreError::bad(format!(
                "changing the KV version of a mount ({old} to {new}) is not supported: mount a \
                 new KV v{new} engine and copy the secrets with `hush export` and `hush import`"
            )));
        }
        Ok(())
    }

    fn dev_mount(&self) -> Option<MountEntry> {
        let mut options = BTreeMap::new();
        options.insert("version".to_string(), "2".to_string());
        Some(MountEntry {
            path: "secret/".into(),
            kind: KV_TYPE.into(),
            description: "key/value secret storage".into(),
            accessor: String::new(),
            uuid: String::new(),
            config: Default::default(),
            options,
            local: false,
            seal_wrap: false,
            created_time: 0,
        })
    }
}

/// Vault's old name for the KV engine (unversioned unless its options say otherwise); mounts of
/// it keep the name, as in Vault.
pub const GENERIC_TYPE: &str = "generic";

/// Registers [`KV_TYPE`], [`GENERIC_TYPE`] and [`KV_V2_ALIAS`], with their mount rules.
pub fn register(registry: &mut Registry) {
    for kind in [KV_TYPE, GENERIC_TYPE] {
        registry.register(
            kind,
            Arc::new(|entry: &MountEntry| {
                let engine: Arc<dyn LogicalBackend> = Arc::new(KvBackend::for_mount(entry)?);
                Ok(engine)
            }),
        );
        registry.register_rules(kind, Arc::new(KvRules));
    }
    registry.register(
        KV_V2_ALIAS,
        Arc::new(|_entry: &MountEntry| {
            let engine: Arc<dyn LogicalBackend> = Arc::new(KvBackend::v2_only());
            Ok(engine)
        }),
    );
    registry.register_rules(KV_V2_ALIAS, Arc::new(KvRules));
}

/// Vault's answer for nothing stored at a path: 404 with an empty error list (hvac raises
/// `InvalidPath` on it; the Go client returns a nil secret).
pub(crate) fn not_found() -> Response {
    Response::raw(404, serde_json::json!({ "errors": [] }))
}

/// Checks that `path` can name a secret. `example` shows a complete request path for the
/// "missing path" message.
pub(crate) fn secret_path<'a>(
    path: &'a str,
    example: &str,
) -> std::result::Result<&'a str, error::KvError> {
    if path.is_empty() {
        return Err(error::KvError::MissingPath {
            example: example.to_string(),
        });
    }
    let reason = if path.ends_with('/') {
        "it ends with '/', which names a folder, not a secret; remove the trailing '/' (LIST the \
         folder to see its secrets)"
    } else if path.split('/').any(|seg| seg == ".." || seg == ".") {
        "'.' and '..' segments are not allowed; use the secret's plain path"
    } else if path.contains('\0') {
        "it contains a NUL character; remove it"
    } else {
        return Ok(path);
    };
    Err(error::KvError::InvalidPath {
        path: path.to_string(),
        reason,
    })
}

/// Lists the names directly below `folder` of the view (folders end in '/'), answering an empty
/// folder with Vault's 404.
pub(crate) async fn list_folder(view: &hush_core::view::View, folder: String) -> Result<Response> {
    let keys = view.list(&folder).await?;
    if keys.is_empty() {
        return Ok(not_found());
    }
    let mut data = serde_json::Map::new();
    data.insert("keys".into(), serde_json::json!(keys));
    Ok(Response::data(data))
}

/// The storage folder to list for a LIST request on `path`: Vault lists `path/` whether or not
/// the client sent the trailing slash.
pub(crate) fn folder_of(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    }
}
