//! `sys/internal/*`: the UI's mount listings and the OpenAPI document.

use serde_json::{json, Map};

use super::mounts::{cubbyhole_builtin, identity_builtin, mount_json, token_builtin};
use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::{map, Response};

/// `GET sys/internal/ui/mounts`: the mounts the token can see.
pub(super) fn ui_mounts(ctx: &Ctx<'_>) -> Response {
    let mut secret = Map::new();
    if ctx.sees("cubbyhole/") {
        secret.insert("cubbyhole/".into(), cubbyhole_builtin());
    }
    if ctx.sees("identity/") {
        secret.insert("identity/".into(), identity_builtin());
    }
    for m in ctx.un.mounts.list() {
        if ctx.sees(&m.route) {
            secret.insert(m.entry.path.clone(), mount_json(&m.entry, false));
        }
    }
    let mut auth = Map::new();
    for m in ctx.un.auth.list() {
        if ctx.sees(&m.route) || m.entry.config.listing_visibility == "unauth" {
            auth.insert(m.entry.path.clone(), mount_json(&m.entry, false));
        }
    }
    if ctx.sees("auth/token/") {
        auth.insert("token/".into(), token_builtin());
    }
    Response::data(map(json!({"secret": secret, "auth": auth})))
}

/// `sys/internal/specs/openapi`: an OpenAPI 3 document of the paths of every mounted backend
/// the token may reach (as in Vault, filtered by the token's access to each mount).
pub(super) fn openapi(ctx: &Ctx<'_>) -> Response {
    let mut paths = Map::new();
    // The core's own backends are always described; mounts only where the token reaches.
    for m in [
        ctx.un.system.clone(),
        ctx.un.token_store.clone(),
        ctx.un.cubbyhole.clone(),
        ctx.un.identity_mount.clone(),
    ] {
        if let Some(items) = m.backend.openapi(&m.route) {
            paths.extend(items);
        }
    }
    for m in ctx.un.mounts.list().into_iter().chain(ctx.un.auth.list()) {
        if !ctx.sees(&m.route) {
            continue;
        }
        if let Some(items) = m.backend.openapi(&m.route) {
            paths.extend(items);
        }
    }
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

/// `GET sys/internal/ui/mounts/:path`.
pub(super) fn ui_mount(ctx: &Ctx<'_>, p: &str) -> Result<Response> {
    let p = p.trim_start_matches('/');
    let table = if p.starts_with("auth/") {
        &ctx.un.auth
    } else {
        &ctx.un.mounts
    };
    let Some((m, _)) = table.route(p) else {
        return Err(CoreError::denied(format!(
            "no mount at \"{p}\" that the token can see"
        )));
    };
    if !ctx.sees(&m.route) {
        return Err(CoreError::denied(format!(
            "the token has no access below \"{}\"",
            m.route
        )));
    }
    let mut v = mount_json(&m.entry, false);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("path".into(), json!(m.route));
    }
    Ok(Response::data(map(v)))
}

/// `GET sys/internal/ui/resultant-acl`: the caller's merged policies, as Vault's UI reads them
/// to decide what to show (the default policy grants it).
pub(super) fn resultant_acl(ctx: &Ctx<'_>) -> Result<Response> {
    let Some(acl) = ctx.acl else {
        return Err(CoreError::no_token());
    };
    let serde_json::Value::Object(data) = acl.resultant() else {
        return Err(CoreError::Internal(
            "the resultant ACL is not an object".into(),
        ));
    };
    Ok(Response::data(data))
}
