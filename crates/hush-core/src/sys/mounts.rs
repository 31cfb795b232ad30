//! `sys/mounts`, `sys/auth`, their tune paths and `sys/remount`.

use serde_json::{json, Map, Value};

use crate::ctx::Ctx;
use crate::engine::{MountConfig, MountEntry};
use crate::error::{CoreError, Result};
use crate::fields::{bool as bool_field, str as str_field, strings as string_list};
use crate::logical::{map, Operation, Response};
use crate::mounts::{normalize_path, options_from_json};

pub(super) fn mount_json(e: &MountEntry, include_path_fields: bool) -> Value {
    let mut config = json!({
        "default_lease_ttl": e.config.default_lease_ttl,
        "max_lease_ttl": e.config.max_lease_ttl,
        "force_no_cache": e.config.force_no_cache,
    });
    if let Some(obj) = config.as_object_mut() {
        if !e.config.audit_non_hmac_request_keys.is_empty() {
            obj.insert(
                "audit_non_hmac_request_keys".into(),
                json!(e.config.audit_non_hmac_request_keys),
            );
        }
        if !e.config.audit_non_hmac_response_keys.is_empty() {
            obj.insert(
                "audit_non_hmac_response_keys".into(),
                json!(e.config.audit_non_hmac_response_keys),
            );
        }
        if !e.config.listing_visibility.is_empty() {
            obj.insert(
                "listing_visibility".into(),
                json!(e.config.listing_visibility),
            );
        }
        for (k, v) in &e.config.extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    let mut v = json!({
        "type": e.kind,
        "description": e.description,
        "accessor": e.accessor,
        "uuid": e.uuid,
        "config": config,
        "options": if e.options.is_empty() { Value::Null } else { json!(e.options) },
        "local": e.local,
        "seal_wrap": e.seal_wrap,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "deprecation_status": "supported",
    });
    if include_path_fields {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("path".into(), json!(e.path));
        }
    }
    v
}

fn builtin_entry(path: &str, kind: &str, description: &str) -> Value {
    json!({
        "type": kind,
        "description": description,
        "accessor": format!("{}_builtin", kind),
        "uuid": format!("{kind}-builtin"),
        "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false},
        "options": Value::Null,
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "deprecation_status": "supported",
        "path": path,
    })
}

pub(super) fn sys_builtin() -> Value {
    builtin_entry(
        "sys/",
        "system",
        "system endpoints used for control, policy and debugging",
    )
}

pub(super) fn token_builtin() -> Value {
    builtin_entry("token/", "token", "token based credentials")
}

pub(super) fn cubbyhole_builtin() -> Value {
    let mut v = builtin_entry(
        "cubbyhole/",
        "cubbyhole",
        "per-token private secret storage",
    );
    // Vault marks it local: each token's cubbyhole belongs to the cluster that issued it.
    v["local"] = json!(true);
    v
}

pub(super) fn identity_builtin() -> Value {
    builtin_entry("identity/", "identity", "identity store")
}

/// The entry of a built-in secrets mount (`sys/`, `cubbyhole/`, `identity/`).
fn secrets_builtin(path: &str) -> Value {
    match path {
        "cubbyhole/" => cubbyhole_builtin(),
        "identity/" => identity_builtin(),
        _ => sys_builtin(),
    }
}

/// The refusal for changing a built-in secrets mount (`sys/`, `cubbyhole/`, `identity/`).
fn builtin_refusal(path: &str) -> CoreError {
    let why = match path {
        "cubbyhole/" => "every token has its own cubbyhole there",
        "identity/" => "it serves the identity store: entities, aliases and groups",
        _ => "it serves the system endpoints",
    };
    CoreError::bad(format!(
        "{path} is built in ({why}): it cannot be enabled, disabled, tuned or moved"
    ))
}

/// Whether `path` (normalized, with its trailing `/`) is a built-in secrets mount.
fn is_builtin_secrets(path: &str) -> bool {
    matches!(path, "sys/" | "cubbyhole/" | "identity/")
}

/// `GET sys/mounts` and `GET sys/auth`.
pub(super) fn list(ctx: &Ctx<'_>, auth: bool) -> Response {
    let table = if auth { &ctx.un.auth } else { &ctx.un.mounts };
    let mut data = Map::new();
    if auth {
        data.insert("token/".into(), token_builtin());
    } else {
        data.insert("sys/".into(), sys_builtin());
        data.insert("cubbyhole/".into(), cubbyhole_builtin());
        data.insert("identity/".into(), identity_builtin());
    }
    for m in table.list() {
        data.insert(m.entry.path.clone(), mount_json(&m.entry, false));
    }
    Response::data_top_level(data)
}

/// `sys/mounts/:path` and `sys/auth/:path`: read, enable, disable.
pub(super) async fn mount_path(ctx: &Ctx<'_>, p: &str, auth: bool) -> Result<Response> {
    let table = if auth { &ctx.un.auth } else { &ctx.un.mounts };
    let op = ctx.req.operation;
    let data = &ctx.req.data;
    let path = normalize_path(p)?;
    if auth && path == "token/" {
        return match op {
            Operation::Read => Ok(Response::data(map(token_builtin()))),
            _ => Err(CoreError::bad(
                "the token auth method is built in: it cannot be enabled, disabled or moved",
            )),
        };
    }
    if !auth && is_builtin_secrets(&path) {
        return match op {
            Operation::Read => Ok(Response::data(map(secrets_builtin(&path)))),
            _ => Err(builtin_refusal(&path)),
        };
    }
    match op {
        Operation::Read => match table.get(&path) {
            Some(m) => Ok(Response::data(map(mount_json(&m.entry, false)))),
            None => Err(CoreError::NotFound(format!("no mount at \"{path}\""))),
        },
        Operation::Update | Operation::Create => {
            let kind = str_field(data, "type")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    CoreError::bad(format!(
                        "'type' is required: the {} to enable, one of: {}",
                        if auth {
                            "auth method"
                        } else {
                            "secrets engine"
                        },
                        table.kinds().join(", ")
                    ))
                })?;
            if !auth && kind == "cubbyhole" {
                return Err(CoreError::bad(
                    "mount type of \"cubbyhole\" is not mountable: every token already has its \
                     own cubbyhole at cubbyhole/",
                ));
            }
            if !auth && kind == "identity" {
                return Err(CoreError::bad(
                    "mount type of \"identity\" is not mountable: the identity store is always \
                     mounted at identity/",
                ));
            }
            let options = options_from_json(data.get("options"))?;
            let kind = kind.to_string();
            let mut config = MountConfig::default();
            if let Some(c) = data.get("config") {
                match c {
                    Value::Object(cm) => apply_tune(&mut config, cm)?,
                    Value::Null => {}
                    other => {
                        return Err(CoreError::bad(format!(
                            "'config' must be an object, got {other}"
                        )))
                    }
                }
            }
            let entry = MountEntry {
                path: path.clone(),
                kind,
                description: str_field(data, "description")?.unwrap_or("").to_string(),
                accessor: String::new(),
                uuid: String::new(),
                config,
                options,
                local: bool_field(data, "local")?.unwrap_or(false),
                seal_wrap: bool_field(data, "seal_wrap")?.unwrap_or(false),
                created_time: 0,
            };
            table.mount(entry).await?;
            Ok(Response::no_content())
        }
        Operation::Delete => {
            if table.get(&path).is_none() {
                // Vault answers success for a path with nothing mounted.
                return Ok(Response::no_content());
            }
            if !auth {
                // What the engine issued is revoked first, as Vault does; a lease that cannot
                // be revoked stops the unmount (revoke-force it, then unmount).
                for id in ctx.un.leases.ids_with_prefix(&path) {
                    crate::leases::revoke(&ctx.un.leases, &ctx.un.mounts, &id, false)
                        .await
                        .map_err(|e| {
                            CoreError::bad(format!(
                                "cannot disable {path}: {e}; revoke its leases with \
                                 sys/leases/revoke-force/{path} first"
                            ))
                        })?;
                }
            }
            let gone = table.unmount(&path).await?;
            if auth {
                // Everyone who logged in through it is logged out, as in Vault; renewal and
                // lookup of a token whose method is gone fail as well, should this stop
                // half-way.
                let revoked = ctx
                    .un
                    .tokens
                    .revoke_by_mount_accessor(&gone.accessor)
                    .await?;
                // Its accessor never comes back: aliases of it could only go stale.
                ctx.un.identity.forget_mount(&gone.accessor).await?;
                tracing::info!(path = %path, revoked, "auth method disabled; its tokens revoked");
            }
            Ok(Response::no_content())
        }
        _ => Err(crate::framework::unsupported(&ctx.req.path, op)),
    }
}

fn apply_tune(config: &mut MountConfig, data: &Map<String, Value>) -> Result<()> {
    if let Some(v) = crate::fields::ttl_field(data, "default_lease_ttl")? {
        config.default_lease_ttl = v;
    }
    if let Some(v) = crate::fields::ttl_field(data, "max_lease_ttl")? {
        config.max_lease_ttl = v;
    }
    if config.max_lease_ttl > 0 && config.default_lease_ttl > config.max_lease_ttl {
        return Err(CoreError::bad(format!(
            "default_lease_ttl ({}s) cannot be longer than max_lease_ttl ({}s)",
            config.default_lease_ttl, config.max_lease_ttl
        )));
    }
    if let Some(v) = bool_field(data, "force_no_cache")? {
        config.force_no_cache = v;
    }
    if let Some(v) = string_list(data, "audit_non_hmac_request_keys")? {
        config.audit_non_hmac_request_keys = v;
    }
    if let Some(v) = string_list(data, "audit_non_hmac_response_keys")? {
        config.audit_non_hmac_response_keys = v;
    }
    if let Some(v) = string_list(data, "passthrough_request_headers")? {
        config.passthrough_request_headers = v;
    }
    if let Some(v) = str_field(data, "listing_visibility")? {
        if !matches!(v, "" | "unauth" | "hidden") {
            return Err(CoreError::bad(format!(
                "listing_visibility must be \"unauth\" or \"hidden\", got \"{v}\""
            )));
        }
        config.listing_visibility = v.to_string();
    }
    // Vault's API and CLI send the lockout settings nested in `user_lockout_config`.
    if let Some(Value::Object(ul)) = data.get("user_lockout_config") {
        for (nested, flat) in [
            ("lockout_threshold", "user_lockout_threshold"),
            ("lockout_duration", "user_lockout_duration"),
            ("lockout_counter_reset", "user_lockout_counter_reset"),
            ("lockout_disable", "user_lockout_disable"),
        ] {
            if let Some(v) = ul.get(nested).filter(|v| !v.is_null()) {
                config.extra.insert(flat.to_string(), v.clone());
            }
        }
    }
    // Per-mount settings of auth methods (lockout) are validated by the core when used and
    // kept as given.
    for key in [
        "user_lockout_threshold",
        "user_lockout_duration",
        "user_lockout_counter_reset",
        "user_lockout_disable",
    ] {
        if let Some(v) = data.get(key).filter(|v| !v.is_null()) {
            config.extra.insert(key.to_string(), v.clone());
        }
    }
    Ok(())
}

/// `sys/mounts/:path/tune` and `sys/auth/:path/tune`.
pub(super) async fn tune(ctx: &Ctx<'_>, mp: &str, auth: bool) -> Result<Response> {
    let table = if auth { &ctx.un.auth } else { &ctx.un.mounts };
    let path = normalize_path(mp)?;
    let defaults = &ctx.core.config();
    let sys_default = defaults.default_lease_ttl.as_secs();
    let sys_max = defaults.max_lease_ttl.as_secs();
    match ctx.req.operation {
        Operation::Read => {
            let (entry_json, config) = if auth && path == "token/" {
                (token_builtin(), MountConfig::default())
            } else if !auth && matches!(path.as_str(), "cubbyhole/" | "identity/") {
                (secrets_builtin(&path), MountConfig::default())
            } else {
                let m = table
                    .get(&path)
                    .ok_or_else(|| CoreError::bad(format!("no mount at \"{path}\"")))?;
                (mount_json(&m.entry, false), m.entry.config.clone())
            };
            let mut data = map(json!({
                "default_lease_ttl": if config.default_lease_ttl == 0 { sys_default } else { config.default_lease_ttl },
                "max_lease_ttl": if config.max_lease_ttl == 0 { sys_max } else { config.max_lease_ttl },
                "force_no_cache": config.force_no_cache,
                "description": entry_json["description"],
                "options": entry_json["options"],
            }));
            if !config.audit_non_hmac_request_keys.is_empty() {
                data.insert(
                    "audit_non_hmac_request_keys".into(),
                    json!(config.audit_non_hmac_request_keys),
                );
            }
            if !config.audit_non_hmac_response_keys.is_empty() {
                data.insert(
                    "audit_non_hmac_response_keys".into(),
                    json!(config.audit_non_hmac_response_keys),
                );
            }
            if !config.listing_visibility.is_empty() {
                data.insert(
                    "listing_visibility".into(),
                    json!(config.listing_visibility),
                );
            }
            for (k, v) in &config.extra {
                data.insert(k.clone(), v.clone());
            }
            if auth {
                let s = crate::lockout::settings_of(&config);
                data.insert(
                    "user_lockout_config".into(),
                    json!({
                        "lockout_threshold": s.threshold,
                        "lockout_duration": s.duration,
                        "lockout_counter_reset": s.counter_reset,
                        "lockout_disable": s.disabled,
                    }),
                );
            }
            Ok(Response::data_top_level(data))
        }
        Operation::Update | Operation::Create => {
            if auth && path == "token/" {
                return Err(CoreError::bad(
                    "the built-in token auth method cannot be tuned yet",
                ));
            }
            if !auth && is_builtin_secrets(&path) {
                return Err(builtin_refusal(&path));
            }
            let data = &ctx.req.data;
            let description = str_field(data, "description")?.map(str::to_string);
            let mut new_options = match data.get("options") {
                None | Some(Value::Null) => None,
                v => Some(options_from_json(v)?),
            };
            let current = table
                .get(&path)
                .ok_or_else(|| CoreError::bad(format!("no mount at \"{path}\"")))?;
            if let Some(opts) = new_options.as_mut() {
                table.registry().tune_options(&current.entry, opts)?;
            }
            let mut staged = current.entry.config.clone();
            apply_tune(&mut staged, data)?;
            table
                .update(&path, |e| {
                    if let Some(opts) = &new_options {
                        for (k, v) in opts {
                            e.options.insert(k.clone(), v.clone());
                        }
                    }
                    if let Some(d) = &description {
                        e.description = d.clone();
                    }
                    e.config = staged.clone();
                    Ok(())
                })
                .await?;
            Ok(Response::no_content())
        }
        op => Err(crate::framework::unsupported(&ctx.req.path, op)),
    }
}

/// `PUT sys/remount`.
pub(super) async fn remount(ctx: &Ctx<'_>) -> Result<Response> {
    let data = &ctx.req.data;
    let from = str_field(data, "from")?
        .ok_or_else(|| CoreError::bad("'from' is required: the mount path to move"))?;
    let to = str_field(data, "to")?
        .ok_or_else(|| CoreError::bad("'to' is required: the new mount path"))?;
    let (from_auth, to_auth) = (from.starts_with("auth/"), to.starts_with("auth/"));
    if from_auth != to_auth {
        return Err(CoreError::bad(
            "cannot move between secrets engines and auth methods",
        ));
    }
    for p in [from, to] {
        let p = format!("{}/", p.trim_matches('/'));
        if is_builtin_secrets(&p) {
            return Err(builtin_refusal(&p));
        }
    }
    if from_auth {
        ctx.un
            .auth
            .remount(&from["auth/".len()..], &to["auth/".len()..])
            .await?;
    } else {
        ctx.un.mounts.remount(from, to).await?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut moves = ctx.un.migrations.lock();
    if moves.len() >= MIGRATIONS_KEPT {
        moves.pop_front();
    }
    let slash = |p: &str| format!("{}/", p.trim_matches('/'));
    moves.push_back([id.clone(), slash(from), slash(to)]);
    Ok(Response::data(map(json!({ "migration_id": id }))))
}

/// How many finished mount moves `sys/remount/status` can still report.
const MIGRATIONS_KEPT: usize = 256;

/// `GET sys/remount/status/:id`: moves finish before `sys/remount` answers.
pub(super) fn remount_status(ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    let moves = ctx.un.migrations.lock();
    let Some([_, source, target]) = moves.iter().find(|m| m[0] == id) else {
        return Err(CoreError::bad(format!(
            "Did not find migration info for migration ID \"{id}\": use the migration_id that \
             sys/remount answered (the latest {MIGRATIONS_KEPT} moves since the server started \
             are kept)"
        )));
    };
    Ok(Response::data(map(json!({
        "migration_id": id,
        "migration_info": {
            "source_mount": source,
            "target_mount": target,
            "status": "success",
        },
    }))))
}
