//! KV version 2: versioned secrets with metadata, check-and-set, soft deletes and pruning.
//!
//! Every handler that changes a secret takes that secret's write lock, reads its metadata,
//! decides, and commits everything in one storage transaction; readers take the read lock so
//! that they never see metadata naming a version whose data a concurrent destroy just removed.

use std::sync::OnceLock;

use hush_core::engine::EngineRequest;
use hush_core::error::{CoreError, Result};
use hush_core::framework::{Field, FieldType::Any, PathSpec, Paths};
use hush_core::logical::{Operation, Response};
use hush_core::view::{View, ViewOp};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::KvError;
use super::json::{merge_patch, subkeys};
use super::params;
use super::store::{
    metadata_key, version_key, Config, KeyMeta, VersionMeta, CONFIG_KEY, METADATA_PREFIX,
};
use super::{folder_of, list_folder, not_found, rotation, secret_path, KvBackend};

use Operation::{Delete, List, Patch, Read, Update};

/// What the delete/undelete/destroy endpoints do to each listed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Delete,
    Undelete,
    Destroy,
}

/// The secret's path below an endpoint, as sent (`data/app/db/` gives `app/db/`, which the
/// handlers refuse by name rather than quietly serving `app/db`).
fn rest<'a>(req: &EngineRequest<'a>) -> &'a str {
    req.path.split_once('/').map_or("", |(_, rest)| rest)
}

const CONFIG_FIELDS: &[Field] = &[
    Field::new(
        "max_versions",
        Any,
        "How many versions of each secret to keep (0: 10).",
    ),
    Field::new(
        "cas_required",
        Any,
        "Every write must carry a check-and-set version.",
    ),
    Field::new(
        "delete_version_after",
        Any,
        "How long after it is written a version is deleted (a Go duration; 0: never).",
    ),
];

const METADATA_FIELDS: &[Field] = &[
    Field::new(
        "max_versions",
        Any,
        "How many versions of this secret to keep.",
    ),
    Field::new(
        "cas_required",
        Any,
        "Every write of this secret must carry 'cas'.",
    ),
    Field::new(
        "delete_version_after",
        Any,
        "How long after it is written a version of this secret is deleted.",
    ),
    Field::new(
        "custom_metadata",
        Any,
        "Up to 64 string keys and values about the secret.",
    ),
];

const ROTATION_FIELDS: &[Field] = &[
    Field::new(
        "rotation_period",
        Any,
        "Time between rotations (a Go duration).",
    ),
    Field::new(
        "rotation_schedule",
        Any,
        "A cron expression for when to rotate (instead of a period).",
    ),
    Field::new(
        "rotation_window",
        Any,
        "How long after a scheduled time a rotation may still start.",
    ),
    Field::new(
        "grace_period",
        Any,
        "How long the previous value stays valid after a rotation.",
    ),
    Field::new(
        "generator",
        Any,
        "password (a password policy), random (bytes) or database (a user's password).",
    ),
    Field::new(
        "key",
        Any,
        "The secret's field that holds the rotated value.",
    ),
    Field::new("password_policy", Any, "A policy of sys/policies/password."),
    Field::new(
        "random_bytes",
        Any,
        "How many random bytes (generator=random).",
    ),
    Field::new(
        "encoding",
        Any,
        "base64, base64url or hex (generator=random).",
    ),
    Field::new(
        "database_mount",
        Any,
        "The database engine's mount (generator=database).",
    ),
    Field::new(
        "db_name",
        Any,
        "The database connection, config/:name (generator=database).",
    ),
    Field::new(
        "usernames",
        Any,
        "One database user, or two to alternate between.",
    ),
    Field::new(
        "username_key",
        Any,
        "The secret's field that holds the user name.",
    ),
    Field::new("force", Any, "Delete even while a rotation is under way."),
];

const VERSIONS: &[Field] = &[Field::new("versions", Any, "The version numbers.")];

/// The version 2 path table.
pub(crate) fn paths() -> &'static Paths<KvBackend> {
    static PATHS: OnceLock<Paths<KvBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let specs = vec![
            PathSpec::new("config", "The mount's settings for every secret.")
                .op(Read, "Read the settings.", |_, req, _| {
                    Box::pin(read_config(req))
                })
                .op(Update, "Change the settings.", |kv, req, _| {
                    Box::pin(write_config(kv, req))
                })
                .fields(CONFIG_FIELDS),
            PathSpec::new("data/{path**}", "A secret's versions.")
                .op(
                    Read,
                    "Read the latest version, or ?version=N.",
                    |kv, req, _| Box::pin(read_data(kv, req, rest(req))),
                )
                .op(Update, "Write a new version.", |kv, req, _| {
                    Box::pin(write_data(kv, req, rest(req)))
                })
                .op(
                    Patch,
                    "Write a new version merged into the latest.",
                    |kv, req, _| Box::pin(patch_data(kv, req, rest(req))),
                )
                .op(Delete, "Soft-delete the latest version.", |kv, req, _| {
                    Box::pin(delete_latest(kv, req, rest(req)))
                })
                .fields(&[
                    Field::new("data", Any, "The secret: a JSON object."),
                    Field::new(
                        "options",
                        Any,
                        "Write options: 'cas', the expected version.",
                    ),
                    Field::new("version", Any, "The version to read (0: the latest)."),
                    Field::new(
                        "label",
                        Any,
                        "A rotation's staging label to read: current, previous or pending.",
                    ),
                ])
                .hint(List, |req| {
                    format!(
                        "to list secrets, LIST {}metadata/{}",
                        req.mount.path,
                        folder_of(rest(req))
                    )
                }),
            PathSpec::new(
                "metadata/{path**}",
                "A secret's settings and version history.",
            )
            .op(Read, "Read the metadata.", |kv, req, _| {
                Box::pin(read_metadata(kv, req, rest(req)))
            })
            .op(
                List,
                "List the secrets and folders in a folder.",
                |_, req, _| {
                    Box::pin(list_folder(
                        req.view,
                        format!("{METADATA_PREFIX}{}", folder_of(rest(req))),
                    ))
                },
            )
            .op(Update, "Change the settings.", |kv, req, _| {
                Box::pin(write_metadata(kv, req, rest(req)))
            })
            .op(Patch, "Change some settings.", |kv, req, _| {
                Box::pin(patch_metadata(kv, req, rest(req)))
            })
            .op(
                Delete,
                "Delete the secret and every version.",
                |kv, req, _| Box::pin(delete_metadata(kv, req, rest(req))),
            )
            .fields(METADATA_FIELDS),
            PathSpec::new(
                "delete/{path**}",
                "Soft-delete versions (undelete restores them).",
            )
            .op(Update, "Soft-delete versions.", |kv, req, _| {
                Box::pin(change_versions(kv, req, rest(req), Change::Delete))
            })
            .fields(VERSIONS),
            PathSpec::new("undelete/{path**}", "Restore soft-deleted versions.")
                .op(Update, "Restore versions.", |kv, req, _| {
                    Box::pin(change_versions(kv, req, rest(req), Change::Undelete))
                })
                .fields(VERSIONS),
            PathSpec::new("destroy/{path**}", "Remove versions' data for good.")
                .op(Update, "Destroy versions.", |kv, req, _| {
                    Box::pin(change_versions(kv, req, rest(req), Change::Destroy))
                })
                .fields(VERSIONS),
            PathSpec::new(
                "rotation/{path**}",
                "A secret's rotation: its schedule, generator and state (hush's own path).",
            )
            .op(Read, "Read the settings and state.", |kv, req, _| {
                Box::pin(rotation::read(kv, req, rest(req)))
            })
            .op(Update, "Configure the rotation.", |kv, req, _| {
                Box::pin(rotation::write(kv, req, rest(req)))
            })
            .op(Delete, "Stop rotating the secret.", |kv, req, _| {
                Box::pin(rotation::delete(kv, req, rest(req)))
            })
            .op(List, "List the secrets with a rotation.", |_, req, _| {
                Box::pin(list_folder(
                    req.view,
                    format!("{}{}", rotation::PREFIX, folder_of(rest(req))),
                ))
            })
            .fields(ROTATION_FIELDS),
            PathSpec::new("rotate/{path**}", "Rotate a secret now (hush's own path).").op(
                Update,
                "Rotate now, or resume a rotation under way.",
                |kv, req, _| Box::pin(rotation::rotate_now(kv, req, rest(req))),
            ),
            PathSpec::new("subkeys/{path**}", "A version's keys without its values.")
                .op(
                    Read,
                    "Read the keys of the latest version, or ?version=N.",
                    |kv, req, _| Box::pin(read_subkeys(kv, req, rest(req))),
                )
                .fields(&[
                    Field::new("version", Any, "The version (0: the latest)."),
                    Field::new("depth", Any, "How deep to descend (0: all the way)."),
                ]),
        ];
        Paths::new("this KV version 2 mount", "", specs)
            .with_not_found(|req| invalid_path(req.operation))
    })
}

pub(crate) async fn exists(req: &EngineRequest<'_>) -> Result<bool> {
    match req.path.split_once('/').map_or(req.path, |(head, _)| head) {
        // As in Vault, a secret exists (writes need `update` rather than `create`) as soon as
        // its metadata does, even if every version is deleted.
        "data" | "metadata" => match secret_path(rest(req), "") {
            Ok(path) => Ok(req.view.get(&metadata_key(path)).await?.is_some()),
            Err(_) => Ok(false),
        },
        "rotation" => match secret_path(rest(req), "") {
            Ok(path) => Ok(req.view.get(&rotation::key(path)).await?.is_some()),
            Err(_) => Ok(false),
        },
        _ => Ok(true),
    }
}

fn invalid_path(op: Operation) -> CoreError {
    let command = match op {
        Operation::Read => "get",
        Operation::List => "list",
        Operation::Create | Operation::Update => "put",
        Operation::Patch => "patch",
        Operation::Delete => "delete",
    };
    CoreError::NotFound(format!(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate \
         API endpoints to use (secrets live under <mount>/data/<path>, their metadata under \
         <mount>/metadata/<path>). If using the hush or vault CLI, use 'kv {command}' for this \
         operation."
    ))
}

/// A complete request path for "missing path" messages.
fn example(req: &EngineRequest<'_>, endpoint: &str) -> String {
    format!("{}{endpoint}/my-app/db", req.mount.path)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| CoreError::Internal(format!("encoding a KV record: {e}")))
}

/// A 404 that still carries a body: how Vault answers for a deleted or destroyed version.
fn version_gone(data: Map<String, Value>) -> Response {
    Response {
        data: Some(data),
        status: Some(404),
        ..Response::default()
    }
}

/// An empty success: 204, or 200 with the warnings if there are any.
fn done(warnings: Vec<String>) -> Response {
    Response {
        warnings,
        ..Response::default()
    }
}

fn with_warnings(mut resp: Response, warnings: Vec<String>) -> Response {
    resp.warnings.extend(warnings);
    resp
}

/// Vault's warning when a secret asks for `cas_required: false` under a mount that requires it.
const CAS_MANDATED_WARNING: &str =
    "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.";

async fn load_config(view: &View) -> Result<Config> {
    Ok(view
        .get_json::<Config>(CONFIG_KEY)
        .await?
        .unwrap_or_default())
}

async fn load_meta(view: &View, path: &str) -> Result<Option<KeyMeta>> {
    view.get_json::<KeyMeta>(&metadata_key(path)).await
}

async fn load_version(view: &View, path: &str, version: u64) -> Result<Map<String, Value>> {
    view.get_json::<Map<String, Value>>(&version_key(path, version))
        .await?
        .ok_or_else(|| {
            CoreError::Internal(format!(
                "the data of version {version} of KV secret {path:?} is missing from storage \
                 although its metadata lists it; the storage was changed outside hush (restore \
                 it from a backup, or destroy that version)"
            ))
        })
}

/// The optional `version` query parameter; 0 or absent means the current version.
fn version_param(data: &Map<String, Value>) -> Result<u64> {
    Ok(params::get(data, "version")
        .map(|v| params::uint(v, "version"))
        .transpose()?
        .unwrap_or(0))
}

/// The `data` object of a write or patch.
fn data_param(data: &Map<String, Value>) -> Result<Map<String, Value>> {
    match params::get(data, "data") {
        None => Err(KvError::NoData.into()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(KvError::param(
            "data",
            format!(
                "expected a JSON object of key/value pairs such as {{\"password\": \"...\"}}, \
                 found {}",
                params::kind(other)
            ),
        )
        .into()),
    }
}

fn check_cas(path: &str, config: &Config, meta: &KeyMeta, cas: Option<u64>) -> Result<()> {
    match cas {
        Some(given) if given != meta.current_version => Err(KvError::CasMismatch {
            path: path.to_string(),
            given,
            current: meta.current_version,
        }
        .into()),
        Some(_) => Ok(()),
        None if config.cas_required => Err(KvError::CasRequired {
            set_on: "the mount's config",
        }
        .into()),
        None if meta.cas_required => Err(KvError::CasRequired {
            set_on: "this secret's metadata",
        }
        .into()),
        None => Ok(()),
    }
}

// ---- config ----

async fn read_config(req: &EngineRequest<'_>) -> Result<Response> {
    Ok(Response::data(load_config(req.view).await?.to_response()))
}

/// A `delete_version_after` given to the config endpoint.
enum DeleteAfter {
    /// Negative: no version of any secret gets a deadline.
    Disabled,
    /// Zero clears the setting; anything else is the lifetime in nanoseconds.
    Nanos(u64),
}

async fn write_config(kv: &KvBackend, req: &EngineRequest<'_>) -> Result<Response> {
    let max_versions = params::get(req.data, "max_versions")
        .map(|v| params::uint32(v, "max_versions"))
        .transpose()?;
    let cas_required = params::get(req.data, "cas_required")
        .map(|v| params::boolean(v, "cas_required"))
        .transpose()?;
    let delete_after = params::get(req.data, "delete_version_after")
        .map(|v| {
            if params::is_negative_duration(v) {
                Ok(DeleteAfter::Disabled)
            } else {
                params::duration(v, "delete_version_after")
                    .map(|d| DeleteAfter::Nanos(params::nanos(d)))
            }
        })
        .transpose()?;
    let warnings: Vec<String> = Vec::new();
    if max_versions.is_none() && cas_required.is_none() && delete_after.is_none() {
        return Ok(done(warnings));
    }

    let _guard = kv.config_lock.lock().await;
    let mut config = load_config(req.view).await?;
    if let Some(n) = max_versions {
        config.max_versions = n;
    }
    if let Some(b) = cas_required {
        config.cas_required = b;
    }
    match delete_after {
        None => {}
        Some(DeleteAfter::Disabled) => {
            config.delete_version_after = 0;
            config.delete_version_after_disabled = true;
        }
        Some(DeleteAfter::Nanos(n)) => {
            config.delete_version_after = n;
            config.delete_version_after_disabled = false;
        }
    }
    req.view.put(CONFIG_KEY, &encode(&config)?).await?;
    Ok(done(warnings))
}

// ---- data ----

async fn read_data(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "data"))?;
    let mut wanted = version_param(req.data)?;
    let label = match req.data.get("label") {
        None => None,
        Some(Value::String(l)) if l.is_empty() => None,
        Some(Value::String(l)) => Some(l.as_str()),
        Some(other) => {
            return Err(CoreError::bad(format!(
                "invalid parameter \"label\": expected current, previous or pending, got {other}"
            )))
        }
    };
    if let Some(label) = label {
        if wanted > 0 {
            return Err(CoreError::bad(
                "give either version or label, not both: a label names a version",
            ));
        }
        match rotation::label(kv, req, path, label).await? {
            rotation::Labelled::Version(v) => wanted = v,
            rotation::Labelled::Pending(data, started) => {
                let mut meta = Map::new();
                meta.insert(
                    "created_time".into(),
                    Value::String(super::store::format_time(
                        started.saturating_mul(1_000_000_000),
                    )),
                );
                meta.insert("custom_metadata".into(), Value::Null);
                meta.insert("deletion_time".into(), Value::String(String::new()));
                meta.insert("destroyed".into(), Value::Bool(false));
                meta.insert("version".into(), Value::Null);
                meta.insert("staging_label".into(), Value::String("pending".into()));
                let mut body = Map::new();
                body.insert("data".into(), Value::Object(data));
                body.insert("metadata".into(), Value::Object(meta));
                return Ok(Response::data(body));
            }
        }
    }

    let _guard = kv.lock_for(path).read().await;
    let Some(meta) = load_meta(req.view, path).await? else {
        return Ok(not_found());
    };
    let version = if wanted > 0 {
        wanted
    } else {
        meta.current_version
    };
    let Some(vm) = meta.versions.get(&version) else {
        return Ok(not_found());
    };
    let now = kv.now_nanos()?;
    let mut body = Map::new();
    let mut summary = meta.version_summary(version, vm);
    if let Some(label) = label {
        summary.insert("staging_label".into(), Value::String(label.to_string()));
    }
    body.insert("metadata".into(), Value::Object(summary));
    if !vm.is_live(now) {
        body.insert("data".into(), Value::Null);
        return Ok(version_gone(body));
    }
    let data = load_version(req.view, path, version).await?;
    body.insert("data".into(), Value::Object(data));
    Ok(Response::data(body))
}

async fn write_data(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "data"))?;
    let data = data_param(req.data)?;
    let cas = params::cas(params::options(req.data)?)?;
    let warnings: Vec<String> = Vec::new();

    let _guard = kv.lock_for(path).write().await;
    let config = load_config(req.view).await?;
    let now = kv.now_nanos()?;
    let meta = load_meta(req.view, path)
        .await?
        .unwrap_or_else(|| KeyMeta::new(now));
    check_cas(path, &config, &meta, cas)?;
    let resp = commit_version(req.view, path, meta, &config, &data, now).await?;
    Ok(with_warnings(resp, warnings))
}

async fn patch_data(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "data"))?;
    let patch = Value::Object(data_param(req.data)?);
    let cas = params::cas(params::options(req.data)?)?;
    let warnings: Vec<String> = Vec::new();

    let _guard = kv.lock_for(path).write().await;
    let Some(meta) = load_meta(req.view, path).await? else {
        return Ok(not_found());
    };
    let config = load_config(req.view).await?;
    check_cas(path, &config, &meta, cas)?;
    let now = kv.now_nanos()?;
    let current = meta.current_version;
    let Some(vm) = meta.versions.get(&current) else {
        return Ok(not_found());
    };
    if !vm.is_live(now) {
        // Vault answers a patch of a deleted or destroyed secret with the version's flat
        // metadata and a 404.
        return Ok(version_gone(meta.version_summary(current, vm)));
    }
    let mut merged = Value::Object(load_version(req.view, path, current).await?);
    merge_patch(&mut merged, &patch);
    let Value::Object(merged) = merged else {
        // Merging an object patch always yields an object (RFC 7386 section 2).
        return Err(CoreError::Internal(
            "merge patch of an object produced a non-object".to_string(),
        ));
    };
    let resp = commit_version(req.view, path, meta, &config, &merged, now).await?;
    Ok(with_warnings(resp, warnings))
}

/// Stores `data` as the next version of `path`, prunes versions beyond the window, and saves
/// the metadata, all in one transaction. The caller holds the secret's write lock.
async fn commit_version(
    view: &View,
    path: &str,
    meta: KeyMeta,
    config: &Config,
    data: &Map<String, Value>,
    now: i64,
) -> Result<Response> {
    commit_with(view, path, meta, config, data, now, None).await
}

/// Writes `data` as the next version of a secret being rotated, with the rotation's own record
/// (`record`) in the same transaction, so that a crash never leaves one without the other.
/// The caller holds the secret's write lock.
pub(crate) async fn commit_rotated(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    data: &Map<String, Value>,
    record: ViewOp,
) -> Result<()> {
    let config = load_config(req.view).await?;
    let now = kv.now_nanos()?;
    let meta = load_meta(req.view, path)
        .await?
        .unwrap_or_else(|| KeyMeta::new(now));
    commit_with(req.view, path, meta, &config, data, now, Some(record)).await?;
    Ok(())
}

async fn commit_with(
    view: &View,
    path: &str,
    mut meta: KeyMeta,
    config: &Config,
    data: &Map<String, Value>,
    now: i64,
    extra: Option<ViewOp>,
) -> Result<Response> {
    let vm = VersionMeta {
        created_time: now,
        deletion_time: meta.deletion_deadline(now, config),
        destroyed: false,
    };
    let (version, pruned) = meta.add_version(vm.clone(), config);
    let mut ops = Vec::with_capacity(pruned.len() + 2);
    ops.push(ViewOp::Put(version_key(path, version), encode(data)?));
    ops.extend(pruned.iter().map(|n| ViewOp::Delete(version_key(path, *n))));
    ops.push(ViewOp::Put(metadata_key(path), encode(&meta)?));
    ops.extend(extra);
    view.transaction(ops).await?;
    Ok(Response::data(meta.version_summary(version, &vm)))
}

async fn delete_latest(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "data"))?;
    let _guard = kv.lock_for(path).write().await;
    let Some(mut meta) = load_meta(req.view, path).await? else {
        return Ok(Response::no_content());
    };
    let now = kv.now_nanos()?;
    let current = meta.current_version;
    match meta.versions.get_mut(&current) {
        Some(vm) if vm.is_live(now) => vm.deletion_time = Some(now),
        // Nothing live to delete: like Vault, succeed without change.
        _ => return Ok(Response::no_content()),
    }
    req.view.put(&metadata_key(path), &encode(&meta)?).await?;
    Ok(Response::no_content())
}

async fn change_versions(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    p: &str,
    change: Change,
) -> Result<Response> {
    let endpoint = match change {
        Change::Delete => "delete",
        Change::Undelete => "undelete",
        Change::Destroy => "destroy",
    };
    let path = secret_path(p, &example(req, endpoint))?;
    let versions = params::versions(req.data)?;
    let warnings: Vec<String> = Vec::new();

    let _guard = kv.lock_for(path).write().await;
    let Some(mut meta) = load_meta(req.view, path).await? else {
        return Ok(done(warnings));
    };
    let config = load_config(req.view).await?;
    let now = kv.now_nanos()?;
    // An undeleted version gets a fresh deadline if delete_version_after applies, as in Vault.
    let undelete_deadline = meta.deletion_deadline(now, &config);

    let mut ops = Vec::new();
    let mut changed = false;
    for n in versions {
        // Unknown (never written or pruned) and destroyed versions are skipped, like Vault.
        let Some(vm) = meta.versions.get_mut(&n) else {
            continue;
        };
        if vm.destroyed {
            continue;
        }
        match change {
            Change::Delete => {
                if !vm.is_deleted(now) {
                    vm.deletion_time = Some(now);
                    changed = true;
                }
            }
            Change::Undelete => {
                if vm.deletion_time != undelete_deadline {
                    vm.deletion_time = undelete_deadline;
                    changed = true;
                }
            }
            Change::Destroy => {
                vm.destroyed = true;
                ops.push(ViewOp::Delete(version_key(path, n)));
                changed = true;
            }
        }
    }
    if changed {
        ops.push(ViewOp::Put(metadata_key(path), encode(&meta)?));
        req.view.transaction(ops).await?;
    }
    Ok(done(warnings))
}

async fn read_subkeys(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "subkeys"))?;
    let wanted = version_param(req.data)?;
    let depth = params::get(req.data, "depth")
        .map(|v| params::uint(v, "depth"))
        .transpose()?
        .unwrap_or(0);

    let _guard = kv.lock_for(path).read().await;
    let Some(meta) = load_meta(req.view, path).await? else {
        return Ok(not_found());
    };
    let version = if wanted > 0 {
        wanted
    } else {
        meta.current_version
    };
    let Some(vm) = meta.versions.get(&version) else {
        return Ok(not_found());
    };
    let now = kv.now_nanos()?;
    let mut body = Map::new();
    body.insert(
        "metadata".into(),
        Value::Object(meta.version_summary(version, vm)),
    );
    if !vm.is_live(now) {
        body.insert("subkeys".into(), Value::Null);
        return Ok(version_gone(body));
    }
    let data = load_version(req.view, path, version).await?;
    body.insert("subkeys".into(), Value::Object(subkeys(&data, depth)));
    Ok(Response::data(body))
}

// ---- metadata ----

async fn read_metadata(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "metadata"))?;
    let _guard = kv.lock_for(path).read().await;
    match load_meta(req.view, path).await? {
        None => Ok(not_found()),
        Some(meta) => Ok(Response::data(meta.to_response())),
    }
}

/// A secret's `delete_version_after`: unlike the mount's, it cannot be negative.
fn secret_delete_after(v: &Value) -> Result<u64> {
    if params::is_negative_duration(v) {
        return Err(KvError::param(
            "delete_version_after",
            "a secret's delete_version_after cannot be negative; use \"0s\" to fall back to the \
             mount's setting (only the mount config accepts a negative value, to disable \
             deadlines everywhere)",
        )
        .into());
    }
    Ok(params::nanos(params::duration(v, "delete_version_after")?))
}

async fn write_metadata(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "metadata"))?;
    let max_versions = params::get(req.data, "max_versions")
        .map(|v| params::uint32(v, "max_versions"))
        .transpose()?;
    let cas_required = params::get(req.data, "cas_required")
        .map(|v| params::boolean(v, "cas_required"))
        .transpose()?;
    let delete_after = params::get(req.data, "delete_version_after")
        .map(secret_delete_after)
        .transpose()?;
    let custom = match req.data.get("custom_metadata") {
        None | Some(Value::Null) => None,
        Some(v) => Some(params::custom_metadata(v)?),
    };
    let mut warnings: Vec<String> = Vec::new();
    if max_versions.is_none()
        && cas_required.is_none()
        && delete_after.is_none()
        && custom.is_none()
    {
        return Ok(done(warnings));
    }
    let config = load_config(req.view).await?;
    if cas_required == Some(false) && config.cas_required {
        warnings.push(CAS_MANDATED_WARNING.to_string());
    }

    let _guard = kv.lock_for(path).write().await;
    let now = kv.now_nanos()?;
    let mut meta = load_meta(req.view, path)
        .await?
        .unwrap_or_else(|| KeyMeta::new(now));
    if let Some(n) = max_versions {
        meta.max_versions = n;
    }
    if let Some(b) = cas_required {
        meta.cas_required = b;
    }
    if let Some(d) = delete_after {
        meta.delete_version_after = d;
    }
    if let Some(c) = custom {
        meta.custom_metadata = Some(c);
    }
    req.view.put(&metadata_key(path), &encode(&meta)?).await?;
    Ok(done(warnings))
}

async fn patch_metadata(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "metadata"))?;
    // In a merge patch, null resets a field to its default.
    let max_versions = match req.data.get("max_versions") {
        None => None,
        Some(Value::Null) => Some(0),
        Some(v) => Some(params::uint32(v, "max_versions")?),
    };
    let cas_required = match req.data.get("cas_required") {
        None => None,
        Some(Value::Null) => Some(false),
        Some(v) => Some(params::boolean(v, "cas_required")?),
    };
    let delete_after = match req.data.get("delete_version_after") {
        None => None,
        Some(Value::Null) => Some(0),
        Some(v) => Some(secret_delete_after(v)?),
    };
    let custom_patch = req.data.get("custom_metadata");
    let mut warnings: Vec<String> = Vec::new();
    let config = load_config(req.view).await?;
    if cas_required == Some(false) && config.cas_required {
        warnings.push(CAS_MANDATED_WARNING.to_string());
    }

    let _guard = kv.lock_for(path).write().await;
    let Some(mut meta) = load_meta(req.view, path).await? else {
        return Ok(not_found());
    };
    if let Some(patch) = custom_patch {
        meta.custom_metadata = params::patch_custom_metadata(meta.custom_metadata.as_ref(), patch)?;
    }
    if let Some(n) = max_versions {
        meta.max_versions = n;
    }
    if let Some(b) = cas_required {
        meta.cas_required = b;
    }
    if let Some(d) = delete_after {
        meta.delete_version_after = d;
    }
    req.view.put(&metadata_key(path), &encode(&meta)?).await?;
    Ok(done(warnings))
}

async fn delete_metadata(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &example(req, "metadata"))?;
    let _guard = kv.lock_for(path).write().await;
    let Some(meta) = load_meta(req.view, path).await? else {
        return Ok(Response::no_content());
    };
    let mut ops: Vec<ViewOp> = meta
        .versions
        .keys()
        .map(|n| ViewOp::Delete(version_key(path, *n)))
        .collect();
    ops.push(ViewOp::Delete(metadata_key(path)));
    // A secret that no longer exists is not rotated either.
    ops.push(ViewOp::Delete(rotation::key(path)));
    req.view.transaction(ops).await?;
    Ok(Response::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let table = paths();
        for (path, pattern) in [
            ("config", Some("config")),
            ("config/x", None),
            ("data/a/b", Some("data/{path**}")),
            ("data", Some("data/{path**}")),
            ("metadata/", Some("metadata/{path**}")),
            ("metadata", Some("metadata/{path**}")),
            ("delete/x", Some("delete/{path**}")),
            ("undelete/x", Some("undelete/{path**}")),
            ("destroy/x", Some("destroy/{path**}")),
            ("subkeys/x", Some("subkeys/{path**}")),
            ("foo", None),
            ("foo/data/x", None),
            ("", None),
        ] {
            assert_eq!(table.pattern_for(path), pattern, "{path}");
        }
    }
}
