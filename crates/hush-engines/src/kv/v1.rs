//! KV version 1: one JSON object per path, replaced whole on every write.

use std::sync::OnceLock;

use hush_core::engine::EngineRequest;
use hush_core::error::{CoreError, Result};
use hush_core::framework::{PathSpec, Paths};
use hush_core::logical::{Operation, Response};
use serde_json::{Map, Value};

use super::error::KvError;
use super::{folder_of, list_folder, not_found, params, secret_path, KvBackend};

const EXAMPLE: &str = "secret/my-app/db";

/// Keys of a v1 secret that Vault interprets as the secret's TTL hint.
const TTL_KEYS: [&str; 2] = ["ttl", "lease"];

/// The version 1 path table: every path below the mount is a secret (or, listed, a folder).
pub(crate) fn paths() -> &'static Paths<KvBackend> {
    static PATHS: OnceLock<Paths<KvBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        Paths::new(
            "this KV version 1 mount",
            "",
            vec![PathSpec::new(
                "{path**}",
                "A secret: one JSON object, replaced whole on every write.",
            )
            .op(Operation::Read, "Read a secret.", |_, req, _| {
                Box::pin(read(req))
            })
            .op(
                Operation::List,
                "List the secrets and folders in a folder.",
                |_, req, _| Box::pin(list_folder(req.view, folder_of(req.path))),
            )
            .op(
                Operation::Update,
                "Write a secret, replacing it whole.",
                |_, req, _| Box::pin(write(req)),
            )
            .op(Operation::Delete, "Delete a secret.", |_, req, _| {
                Box::pin(delete(req))
            })
            .any_fields()
            .hint(Operation::Patch, |_| {
                "this KV mount is version 1, which has no partial updates; write the whole \
                 secret with PUT/POST, or use a version 2 mount"
                    .to_owned()
            })],
        )
    })
}

pub(crate) async fn exists(req: &EngineRequest<'_>) -> Result<bool> {
    match secret_path(req.path, EXAMPLE) {
        Ok(path) => Ok(req.view.get(path).await?.is_some()),
        // A path that cannot hold a secret holds none; the write itself reports why.
        Err(_) => Ok(false),
    }
}

async fn read(req: &EngineRequest<'_>) -> Result<Response> {
    let Ok(path) = secret_path(req.path, EXAMPLE) else {
        return Ok(not_found());
    };
    match req.view.get_json::<Map<String, Value>>(path).await? {
        None => Ok(not_found()),
        Some(secret) => {
            // The secret's own `ttl`/`lease` hint is its refresh interval, else the mount's
            // default (768h when the mount sets none), as Vault reports it.
            let hint = TTL_KEYS
                .iter()
                .find_map(|k| params::get(&secret, k))
                .and_then(|v| params::duration(v, "ttl").ok());
            let lease = match hint {
                Some(d) => d.as_secs(),
                None if req.mount.config.default_lease_ttl > 0 => {
                    req.mount.config.default_lease_ttl
                }
                None => DEFAULT_LEASE_SECS,
            };
            let mut resp = Response::data(secret);
            resp.lease_duration = Some(lease);
            Ok(resp)
        }
    }
}

/// Vault's system default lease, reported for v1 secrets without a TTL hint.
const DEFAULT_LEASE_SECS: u64 = 768 * 3600;

async fn write(req: &EngineRequest<'_>) -> Result<Response> {
    let path = secret_path(req.path, EXAMPLE)?;
    if req.data.is_empty() {
        return Err(KvError::MissingDataFields.into());
    }
    // A TTL hint that cannot be parsed would be silently ignored on every read; refuse it now.
    for key in TTL_KEYS {
        if let Some(v) = params::get(req.data, key) {
            params::duration(v, key)?;
        }
    }
    let bytes = zeroize::Zeroizing::new(
        serde_json::to_vec(req.data).map_err(|e| CoreError::Internal(e.to_string()))?,
    );
    req.view.put(path, &bytes).await?;
    Ok(Response::no_content())
}

async fn delete(req: &EngineRequest<'_>) -> Result<Response> {
    let path = secret_path(req.path, EXAMPLE)?;
    req.view.delete(path).await?;
    Ok(Response::no_content())
}
