//! The authenticated part of `sys/`: mounts, auth methods, policies, capabilities, audit
//! devices, key management and seal. Every handler here ran behind the token, ACL and audit
//! checks of the pipeline.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::core::Unsealed;
use crate::engine::{MountConfig, MountEntry};
use crate::error::{CoreError, Result};
use crate::logical::{map, Operation, Response};
use crate::mounts::{normalize_path, options_from_json, MountTable, Mounted};
use crate::pipeline::Ctx;
use crate::sys::{rfc3339, unsupported};

/// Root-protected `sys/` paths (relative to `sys/`): they need `sudo` as well as the capability.
pub fn requires_sudo(rel: &str, op: Operation) -> bool {
    let rel = rel.trim_end_matches('/');
    match rel {
        "seal" | "rotate" | "remount" | "audit" => true,
        _ if rel.starts_with("audit/") || rel.starts_with("audit-head/") => true,
        _ if rel.starts_with("locked-users") => true,
        // Listing auth methods is open to policy; enabling and disabling them is root-protected.
        _ if rel.starts_with("auth/") => {
            !matches!(op, Operation::Read | Operation::List)
                || rel.ends_with("/tune") && op != Operation::Read
        }
        _ if rel.starts_with("leases/revoke-prefix/")
            || rel.starts_with("leases/revoke-force/")
            || rel.starts_with("revoke-prefix/") =>
        {
            true
        }
        _ => false,
    }
}

/// The canonical form of a `sys/` path (see [`crate::canonical`]): policy names lower-cased as
/// Vault does; policy, quota and mount-path names checked against the one naming rule.
pub fn canonical_path(rel: Cow<'_, str>) -> Result<Cow<'_, str>> {
    use crate::canonical::{mount_path_after, name_after};
    let rel = name_after(rel, "policies/acl/", "policy", true)?;
    let rel = name_after(rel, "policy/", "policy", true)?;
    let rel = name_after(rel, "quotas/rate-limit/", "quota", false)?;
    let rel = mount_path_after(rel, "mounts/")?;
    let rel = mount_path_after(rel, "auth/")?;
    mount_path_after(rel, "audit/")
}

/// Where a wrapping token begins in a `sys/` path (`wrapping/unwrap/<token>` and the like).
pub fn credential_in_path(rel: &str) -> Option<usize> {
    crate::canonical::credential_after(
        rel,
        &["wrapping/unwrap/", "wrapping/lookup/", "wrapping/rewrap/"],
    )
}

/// `sys/` paths that answer without a token (beyond those that work while sealed).
pub fn is_unauthenticated(rel: &str) -> bool {
    rel.trim_end_matches('/') == "wrapping/lookup"
}

/// Existence for the create/update distinction of the ACL.
pub async fn exists(un: &Unsealed, rel: &str) -> Result<bool> {
    if let Some(name) = rel
        .strip_prefix("policies/acl/")
        .or_else(|| rel.strip_prefix("policy/"))
    {
        return Ok(un.policies.get(name).await?.is_some());
    }
    Ok(true)
}

fn str_field<'a>(data: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    crate::fields::str(data, field)
}

fn bool_field(data: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    crate::fields::bool(data, field)
}

/// Parses a TTL field: Go duration string or integer seconds. "system" and "" mean 0 (default).
pub fn ttl_field(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s == "system" => Ok(Some(0)),
        Some(v) => hush_config::duration::parse_duration_value(v)
            .map(|d| Some(d.as_secs()))
            .map_err(|e| CoreError::bad(format!("'{field}': {e}"))),
    }
}

fn string_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    crate::fields::strings(data, field)
}

/// Reads a list-of-strings field (exposed for the token store and auth methods).
pub fn strings(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    string_list(data, field)
}

fn mount_json(e: &MountEntry, un: &Unsealed, include_path_fields: bool) -> Value {
    let _ = un;
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

fn token_builtin() -> Value {
    builtin_entry("token/", "token", "token based credentials")
}

fn sys_builtin() -> Value {
    builtin_entry(
        "sys/",
        "system",
        "system endpoints used for control, policy and debugging",
    )
}

/// Dispatches an authenticated `sys/` request.
pub async fn handle(ctx: &Ctx<'_>) -> Result<Response> {
    let rel = ctx.rel.trim_end_matches('/');
    let op = ctx.req.operation;
    let writes = matches!(op, Operation::Update | Operation::Create);
    let path = ctx.req.path.as_str();
    match rel {
        "seal" if writes => {
            ctx.core.seal().await?;
            Ok(Response::no_content())
        }
        "seal" => Err(unsupported(path, op, "PUT/POST")),
        "key-status" if op == Operation::Read => {
            let info = ctx.un.view.barrier().key_status();
            Ok(Response::data_top_level(map(json!({
                "term": info.term,
                "install_time": rfc3339(info.install_time_unix),
                "encryptions": info.encryptions,
            }))))
        }
        "key-status" => Err(unsupported(path, op, "GET")),
        "rotate" if writes => {
            ctx.core.rotate().await?;
            Ok(Response::no_content())
        }
        "rotate" => Err(unsupported(path, op, "PUT/POST")),
        "mounts" if op == Operation::Read => Ok(list_mounts(ctx.un, &ctx.un.mounts, false)),
        "auth" if op == Operation::Read => Ok(list_mounts(ctx.un, &ctx.un.auth, true)),
        "mounts" | "auth" => Err(unsupported(path, op, "GET")),
        "remount" if writes => remount(ctx).await,
        "remount" => Err(unsupported(path, op, "PUT/POST")),
        "policy" | "policies/acl" if matches!(op, Operation::Read | Operation::List) => {
            let names = ctx.un.policies.list().await?;
            if rel == "policy" {
                Ok(Response::data_top_level(map(
                    json!({"policies": names, "keys": names}),
                )))
            } else {
                Ok(Response::data(map(json!({ "keys": names }))))
            }
        }
        "policies/acl" => Err(unsupported(path, op, "LIST")),
        "capabilities" | "capabilities-self" | "capabilities-accessor" if writes => {
            capabilities(ctx, rel).await
        }
        "capabilities" | "capabilities-self" | "capabilities-accessor" => {
            Err(unsupported(path, op, "PUT/POST"))
        }
        "audit" if op == Operation::Read => Ok(crate::audit::list(ctx.un)),
        "audit" => Err(unsupported(path, op, "GET")),
        "internal/ui/mounts" if op == Operation::Read => Ok(ui_mounts(ctx)),
        "internal/specs/openapi" if op == Operation::Read => Ok(openapi(ctx)),
        "internal/specs/openapi" => Err(unsupported(path, op, "GET")),
        _ => {
            if let Some(p) = rel.strip_prefix("mounts/") {
                return mount_path(ctx, p, false).await;
            }
            if let Some(p) = rel.strip_prefix("auth/") {
                return mount_path(ctx, p, true).await;
            }
            if let Some(name) = rel.strip_prefix("policies/acl/") {
                return policy(ctx, name, false).await;
            }
            if let Some(name) = rel.strip_prefix("policy/") {
                return policy(ctx, name, true).await;
            }
            if let Some(p) = rel.strip_prefix("audit/") {
                return crate::audit::handle_path(ctx, p).await;
            }
            if let Some(p) = rel.strip_prefix("quotas/") {
                return crate::quotas::handle(ctx, p).await;
            }
            if rel == "locked-users" || rel.starts_with("locked-users/") {
                return crate::lockout::handle(ctx, &rel["locked-users".len()..]).await;
            }
            if let Some(prefix) = rel
                .strip_prefix("leases/revoke-prefix/")
                .or_else(|| rel.strip_prefix("revoke-prefix/"))
            {
                return revoke_prefix(ctx, prefix).await;
            }
            if let Some(p) = rel.strip_prefix("wrapping/") {
                return crate::wrapping::handle(ctx, p).await;
            }
            if let Some(p) = rel.strip_prefix("audit-head/") {
                return crate::audit::audit_head(ctx, p);
            }
            if let Some(p) = rel.strip_prefix("audit-hash/") {
                return crate::audit::audit_hash(ctx, p).await;
            }
            if let Some(p) = rel.strip_prefix("internal/ui/mounts/") {
                return ui_mount(ctx, p);
            }
            if let Some(id) = rel.strip_prefix("remount/status/") {
                return Ok(Response::data(map(json!({
                    "migration_id": id,
                    "migration_info": {"status": "success"},
                }))));
            }
            Err(CoreError::NotFound(format!(
                "no handler for route \"{path}\": route entry not found"
            )))
        }
    }
}

fn list_mounts(un: &Unsealed, table: &MountTable, auth: bool) -> Response {
    let mut data = Map::new();
    if auth {
        data.insert("token/".into(), token_builtin());
    } else {
        data.insert("sys/".into(), sys_builtin());
    }
    for m in table.list() {
        data.insert(m.entry.path.clone(), mount_json(&m.entry, un, false));
    }
    Response::data_top_level(data)
}

fn normalize_kind(kind: &str, options: &mut BTreeMap<String, String>) -> String {
    // `kv-v2` is Vault's shorthand for `kv` with version 2.
    if kind == "kv-v2" {
        options.insert("version".into(), "2".into());
        return "kv".into();
    }
    if kind == "kv" {
        if let Some(v) = options.get("version").cloned() {
            let v = v.trim().trim_start_matches('v').to_string();
            options.insert("version".into(), v);
        }
    }
    kind.to_string()
}

async fn mount_path(ctx: &Ctx<'_>, p: &str, auth: bool) -> Result<Response> {
    let table = if auth { &ctx.un.auth } else { &ctx.un.mounts };
    let op = ctx.req.operation;
    let data = &ctx.req.data;
    if let Some(mp) = p.strip_suffix("/tune") {
        return tune(ctx, table, mp, auth).await;
    }
    let path = normalize_path(p)?;
    if auth && path == "token/" {
        return match op {
            Operation::Read => Ok(Response::data(map(token_builtin()))),
            _ => Err(CoreError::bad(
                "the token auth method is built in: it cannot be enabled, disabled or moved",
            )),
        };
    }
    if !auth && path == "sys/" && op != Operation::Read {
        return Err(CoreError::bad("sys/ is built in and cannot be changed"));
    }
    match op {
        Operation::Read => match table.get(&path) {
            Some(m) => Ok(Response::data(map(mount_json(&m.entry, ctx.un, false)))),
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
            let mut options = options_from_json(data.get("options"))?;
            let kind = normalize_kind(kind, &mut options);
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
                tracing::info!(path = %path, revoked, "auth method disabled; its tokens revoked");
            }
            Ok(Response::no_content())
        }
        _ => Err(unsupported(&ctx.req.path, op, "GET, POST and DELETE")),
    }
}

fn apply_tune(config: &mut MountConfig, data: &Map<String, Value>) -> Result<()> {
    if let Some(v) = ttl_field(data, "default_lease_ttl")? {
        config.default_lease_ttl = v;
    }
    if let Some(v) = ttl_field(data, "max_lease_ttl")? {
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

async fn tune(ctx: &Ctx<'_>, table: &MountTable, mp: &str, auth: bool) -> Result<Response> {
    let path = normalize_path(mp)?;
    let defaults = &ctx.core.config();
    let sys_default = defaults.default_lease_ttl.as_secs();
    let sys_max = defaults.max_lease_ttl.as_secs();
    match ctx.req.operation {
        Operation::Read => {
            let (entry_json, config) = if auth && path == "token/" {
                (token_builtin(), MountConfig::default())
            } else {
                let m = table
                    .get(&path)
                    .ok_or_else(|| CoreError::bad(format!("no mount at \"{path}\"")))?;
                (mount_json(&m.entry, ctx.un, false), m.entry.config.clone())
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
            let data = &ctx.req.data;
            let description = str_field(data, "description")?.map(str::to_string);
            let new_options = match data.get("options") {
                None | Some(Value::Null) => None,
                v => Some(options_from_json(v)?),
            };
            let mut staged = table
                .get(&path)
                .ok_or_else(|| CoreError::bad(format!("no mount at \"{path}\"")))?
                .entry
                .config
                .clone();
            apply_tune(&mut staged, data)?;
            table
                .update(&path, |e| {
                    if let Some(opts) = &new_options {
                        for (k, v) in opts {
                            if k == "version" && e.kind == "kv" {
                                let old = e.options.get("version").cloned().unwrap_or("1".into());
                                let new = v.trim_start_matches('v').to_string();
                                if old != new {
                                    return Err(CoreError::bad(format!(
                                        "changing the KV version of a mount ({old} to {new}) is \
                                         not supported: mount a new KV v{new} engine and copy the \
                                         secrets with `hush export` and `hush import`"
                                    )));
                                }
                                continue;
                            }
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
        op => Err(unsupported(&ctx.req.path, op, "GET and POST")),
    }
}

async fn remount(ctx: &Ctx<'_>) -> Result<Response> {
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
    if from_auth {
        ctx.un
            .auth
            .remount(&from["auth/".len()..], &to["auth/".len()..])
            .await?;
    } else {
        ctx.un.mounts.remount(from, to).await?;
    }
    Ok(Response::data(map(json!({
        "migration_id": uuid::Uuid::new_v4().to_string(),
    }))))
}

async fn policy(ctx: &Ctx<'_>, name: &str, legacy: bool) -> Result<Response> {
    let data = &ctx.req.data;
    match ctx.req.operation {
        Operation::Read => match ctx.un.policies.get(name).await? {
            Some(p) if legacy => Ok(Response::data_top_level(map(
                json!({"name": p.name, "rules": p.policy}),
            ))),
            Some(p) => Ok(Response::data(map(
                json!({"name": p.name, "policy": p.policy}),
            ))),
            None => Err(CoreError::NotFound(String::new())),
        },
        Operation::Update | Operation::Create => {
            let text = match (str_field(data, "policy")?, str_field(data, "rules")?) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => {
                    return Err(CoreError::bad(
                        "'policy' is required: the policy text in HCL or JSON",
                    ))
                }
            };
            ctx.un.policies.put(name, text).await?;
            Ok(Response::no_content())
        }
        Operation::Delete => {
            ctx.un.policies.delete(name).await?;
            Ok(Response::no_content())
        }
        op => Err(unsupported(&ctx.req.path, op, "GET, PUT and DELETE")),
    }
}

async fn capabilities(ctx: &Ctx<'_>, rel: &str) -> Result<Response> {
    let data = &ctx.req.data;
    let paths = match string_list(data, "paths")? {
        Some(p) if !p.is_empty() => p,
        _ => match str_field(data, "path")? {
            Some(p) => vec![p.to_string()],
            None => {
                return Err(CoreError::bad(
                    "'paths' is required: the paths to report capabilities for",
                ))
            }
        },
    };
    let policies: Vec<String> = match rel {
        "capabilities-self" => ctx.caller()?.policies.clone(),
        "capabilities" => {
            let token = str_field(data, "token")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| CoreError::bad("'token' is required"))?;
            ctx.un
                .tokens
                .get(token)
                .await?
                .ok_or_else(|| CoreError::bad("invalid token"))?
                .policies
                .clone()
        }
        _ => {
            let accessor = str_field(data, "accessor")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| CoreError::bad("'accessor' is required"))?;
            ctx.un
                .tokens
                .get_by_accessor(accessor)
                .await?
                .ok_or_else(|| CoreError::bad("invalid accessor"))?
                .policies
                .clone()
        }
    };
    let acl = ctx.un.policies.acl(&policies).await?;
    let mut out = Map::new();
    let mut last = Vec::new();
    for p in &paths {
        let caps = acl.capabilities(p.trim_start_matches('/'));
        out.insert(p.clone(), json!(caps));
        last = caps;
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(last));
    }
    Ok(Response::data_top_level(out))
}

fn visible(ctx: &Ctx<'_>, route: &str) -> bool {
    ctx.acl.is_some_and(|acl| acl.has_mount_access(route))
}

fn ui_mounts(ctx: &Ctx<'_>) -> Response {
    let mut secret = Map::new();
    for m in ctx.un.mounts.list() {
        if visible(ctx, &m.route) {
            secret.insert(m.entry.path.clone(), mount_json(&m.entry, ctx.un, false));
        }
    }
    let mut auth = Map::new();
    for m in ctx.un.auth.list() {
        if visible(ctx, &m.route) || m.entry.config.listing_visibility == "unauth" {
            auth.insert(m.entry.path.clone(), mount_json(&m.entry, ctx.un, false));
        }
    }
    if visible(ctx, "auth/token/") {
        auth.insert("token/".into(), token_builtin());
    }
    Response::data(map(json!({"secret": secret, "auth": auth})))
}

/// `sys/internal/specs/openapi`: an OpenAPI 3 document of the paths of every mounted backend
/// the token may reach (as in Vault, filtered by the token's access to each mount).
fn openapi(ctx: &Ctx<'_>) -> Response {
    let mut paths = Map::new();
    for m in ctx.un.mounts.list().into_iter().chain(ctx.un.auth.list()) {
        if !visible(ctx, &m.route) {
            continue;
        }
        if let Some(items) = m.backend.openapi(&m.route) {
            paths.extend(items);
        }
    }
    paths.insert(
        "/sys/internal/specs/openapi".into(),
        json!({
            "description": "An OpenAPI 3 document of the mounted backends' paths.",
            "get": {
                "summary": "The OpenAPI document of the paths this token can reach.",
                "responses": {"200": {"description": "OK"}},
            },
        }),
    );
    Response::raw(
        200,
        json!({
            "openapi": "3.0.2",
            "info": {
                "title": "hush API",
                "description": "HTTP API of hush, in HashiCorp Vault's wire protocol. All API \
                                routes are prefixed with `/v1/`.",
                "version": ctx.core.config().version,
                "license": {"name": "Apache-2.0"},
            },
            "paths": paths,
            "components": {"schemas": {}},
        }),
    )
}

fn ui_mount(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let p = p.trim_start_matches('/');
    let found: Option<(std::sync::Arc<Mounted>, bool)> = if p.starts_with("auth/") {
        ctx.un.auth.route(p).map(|(m, _)| (m, true))
    } else {
        ctx.un.mounts.route(p).map(|(m, _)| (m, false))
    };
    let Some((m, _)) = found else {
        return Err(CoreError::denied(format!(
            "no mount at \"{p}\" that the token can see"
        )));
    };
    if !visible(ctx, &m.route) {
        return Err(CoreError::denied(format!(
            "the token has no access below \"{}\"",
            m.route
        )));
    }
    let mut v = mount_json(&m.entry, ctx.un, false);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("path".into(), json!(m.route));
    }
    Ok(Response::data(map(v)))
}

/// Effective TTL limits of a mount: (default, max), falling back to the system's.
pub fn mount_ttls(ctx: &Ctx<'_>, entry: Option<&MountEntry>) -> (Duration, Duration) {
    let cfg = ctx.core.config();
    let (mut d, mut m) = (cfg.default_lease_ttl, cfg.max_lease_ttl);
    if let Some(e) = entry {
        if e.config.max_lease_ttl > 0 {
            m = Duration::from_secs(e.config.max_lease_ttl);
        }
        if e.config.default_lease_ttl > 0 {
            d = Duration::from_secs(e.config.default_lease_ttl);
        }
    }
    (d.min(m), m)
}

/// `sys/leases/revoke-prefix/:prefix`: hush's only leases are tokens, so this revokes every token
/// created under the prefix (e.g. `auth/userpass/login`, `auth/token/create`), with children.
async fn revoke_prefix(ctx: &Ctx<'_>, prefix: &str) -> Result<Response> {
    if !matches!(ctx.req.operation, Operation::Update | Operation::Create) {
        return Err(unsupported(&ctx.req.path, ctx.req.operation, "PUT/POST"));
    }
    let prefix = prefix.trim_start_matches('/');
    if prefix.is_empty() {
        return Err(CoreError::bad(
            "a prefix is required, e.g. sys/leases/revoke-prefix/auth/userpass/login",
        ));
    }
    let revoked = ctx.un.tokens.revoke_by_path_prefix(prefix).await?;
    tracing::info!(prefix, revoked, "revoked tokens by prefix");
    Ok(Response::no_content())
}
