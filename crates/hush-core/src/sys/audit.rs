//! `sys/audit`, `sys/audit-hash`, `sys/audit-head`.

use serde_json::{json, Map, Value};

use crate::audit::{head_key, open_device, AuditEntry, AuditTable, DEVICE_TYPES, TABLE_KEY};
use crate::core::Unsealed;
use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::{map, Response};

fn device_json(e: &AuditEntry) -> Value {
    json!({
        "type": e.kind,
        "description": e.description,
        "options": e.options,
        "path": e.path,
        "local": e.local,
    })
}

/// `GET sys/audit`.
pub(super) fn list(un: &Unsealed) -> Response {
    let mut data = Map::new();
    for d in un.audit.opened() {
        data.insert(d.entry.path.clone(), device_json(&d.entry));
    }
    // Devices that cannot write are still enabled: listed, with why they fail.
    for (entry, reason) in un.audit.broken() {
        let mut v = device_json(&entry);
        if let Some(o) = v.as_object_mut() {
            o.insert("error".into(), json!(reason));
        }
        data.insert(entry.path.clone(), v);
    }
    Response::data_top_level(data)
}

fn normalize(p: &str) -> Result<String> {
    let p = p.trim().trim_matches('/');
    if p.is_empty() || p.split('/').any(|s| s.is_empty() || s == "..") {
        return Err(CoreError::bad(format!(
            "invalid audit device path \"{p}\": give a name such as \"file\""
        )));
    }
    Ok(format!("{p}/"))
}

/// `PUT sys/audit/:path`: enable a device. Its options are checked and the device opened (the
/// file, or the connection) before anything is stored, so a device that cannot work is
/// refused, with the reason, and leaves no trace.
pub(super) async fn enable(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let path = normalize(p)?;
    let un = ctx.un;
    let _guard = un.audit.change.lock().await;
    let mut table: AuditTable = un.view.get_json(TABLE_KEY).await?.unwrap_or_default();
    let data = &ctx.req.data;
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
    if !DEVICE_TYPES.contains(&kind) {
        return Err(CoreError::bad(format!(
            "audit device type \"{kind}\" is not supported; supported: {}",
            DEVICE_TYPES.join(", ")
        )));
    }
    if table.entries.iter().any(|e| e.path == path) {
        return Err(CoreError::bad(format!(
            "an audit device is already enabled at \"{path}\"; disable it first"
        )));
    }
    let options = match data.get("options") {
        Some(Value::Object(o)) => o.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(v) => {
            return Err(CoreError::bad(format!(
                "'options' must be an object, got {v}"
            )))
        }
    };
    let options = if kind == "file" {
        file_options(&table, options)?
    } else {
        options
    };
    let entry = AuditEntry {
        path: path.clone(),
        kind: kind.into(),
        description: data
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        options,
        local: data.get("local").and_then(Value::as_bool).unwrap_or(false),
        salt: hex::encode(hush_crypto::random_bytes(32)?),
        device_id: uuid::Uuid::new_v4().to_string(),
    };
    let device = open_device(&un.view, entry.clone()).await?;
    table.entries.push(entry);
    un.view.put_json(TABLE_KEY, &table).await?;
    un.audit.add_opened(device);
    Ok(Response::no_content())
}

/// A file device's options with `file_path` (also given as `path`) checked and stored under
/// its own name.
fn file_options(table: &AuditTable, mut options: Map<String, Value>) -> Result<Map<String, Value>> {
    let file_path = options
        .get("file_path")
        .or_else(|| options.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if file_path.is_empty() {
        return Err(CoreError::bad(
            "options.file_path is required: a file path, or \"stdout\"",
        ));
    }
    if file_path != "stdout"
        && table.entries.iter().any(|e| {
            e.kind == "file"
                && e.options.get("file_path").and_then(Value::as_str) == Some(file_path.as_str())
        })
    {
        return Err(CoreError::bad(format!(
            "another audit device already writes to {file_path}"
        )));
    }
    options.insert("file_path".into(), json!(file_path));
    Ok(options)
}

/// `DELETE sys/audit/:path`: disable a device.
pub(super) async fn disable(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let path = normalize(p)?;
    let un = ctx.un;
    let _guard = un.audit.change.lock().await;
    let mut table: AuditTable = un.view.get_json(TABLE_KEY).await?.unwrap_or_default();
    let before = table.entries.len();
    table.entries.retain(|e| e.path != path);
    if table.entries.len() != before {
        un.view.put_json(TABLE_KEY, &table).await?;
    }
    if let Some(d) = un.audit.remove_opened(&path) {
        un.view.delete(&head_key(&d.entry.device_id)).await?;
        d.close().await;
    }
    un.audit.remove_broken(&path);
    Ok(Response::no_content())
}

/// `sys/audit-hash/:path {input}`.
pub(super) async fn hash(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let path = normalize(p)?;
    let input = match ctx.req.data.get("input") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(CoreError::bad("'input' is required: the string to hash")),
    };
    let d = device(ctx, &path)
        .ok_or_else(|| CoreError::bad(format!("no audit device at \"{path}\"")))?;
    Ok(Response::data(map(json!({ "hash": d.hash(&input) }))))
}

/// `GET sys/audit-head/:path` (hush's own path): the chain head the server had written when
/// this request arrived (before this request's own entry), so that `hush audit verify` can
/// tell a log cut short at its end from an intact one, and a copy taken just before asking
/// compares equal.
pub(super) fn head(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let path = normalize(p)?;
    let d = device(ctx, &path)
        .ok_or_else(|| CoreError::NotFound(format!("no audit device at \"{path}\"")))?;
    let head = d.head_before(&ctx.req.id).unwrap_or_else(|| d.head());
    Ok(Response::data(map(json!({
        "path": path,
        "seq": head.seq,
        "hash": head.hash,
        "head": head.to_string(),
        "device_id": d.entry.device_id,
        "file_path": d.entry.options.get("file_path").cloned().unwrap_or(Value::Null),
    }))))
}

/// The open device at `path`, if any.
fn device(ctx: &Ctx<'_>, path: &str) -> Option<std::sync::Arc<crate::audit::LogDevice>> {
    ctx.un
        .audit
        .opened()
        .into_iter()
        .find(|d| d.entry.path == path)
}
