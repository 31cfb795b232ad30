//! `sys/locked-users`: users locked out after failed logins, and unlocking them.

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::Result;
use crate::logical::{map, Response};

/// `GET sys/locked-users`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response> {
    let locked = crate::lockout::locked(&ctx.un.view, crate::time::now_unix()).await?;
    let total: usize = locked.iter().map(|(_, ids)| ids.len()).sum();
    let accessors: Vec<_> = locked
        .into_iter()
        .map(|(acc, ids)| {
            json!({
                "mount_accessor": acc,
                "counts": ids.len(),
                "alias_identifiers": ids,
            })
        })
        .collect();
    Ok(Response::data(map(json!({
        "by_namespace": [{
            "namespace_id": "root",
            "namespace_path": "",
            "counts": total,
            "mount_accessors": accessors,
        }],
        "total": total,
    }))))
}

/// `POST sys/locked-users/:mount_accessor/unlock/:alias`.
pub(super) async fn unlock(ctx: &Ctx<'_>, accessor: &str, alias: &str) -> Result<Response> {
    crate::lockout::unlock(&ctx.un.view, accessor, alias).await?;
    Ok(Response::no_content())
}
