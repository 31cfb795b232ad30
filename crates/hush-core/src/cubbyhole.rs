//! `cubbyhole/`: private storage of each token, mounted by the core on every server as in Vault.
//!
//! What a token writes here only that token can read, whatever the policies say (the ACL still
//! decides whether the token may use its cubbyhole at all; the default policy grants it). The
//! data lives in the token store's storage, under the token's id hash, so the token store
//! deletes it in the same place it deletes the token: revoking or expiring a token destroys its
//! cubbyhole, and no other code has to remember to.

use std::sync::OnceLock;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::engine::{EngineRequest, LogicalBackend};
use crate::error::{CoreError, Result};
use crate::framework::{PathSpec, PathTable, Paths};
use crate::logical::{Operation, Response};
use crate::view::View;

/// Where a token's cubbyhole lives below the token store's view (`sys/token/`).
pub(crate) const STORAGE_PREFIX: &str = "cubbyhole/";

/// The mount's accessor, fixed like the other built-ins' (`system`, `auth_token_...`).
pub const ACCESSOR: &str = "cubbyhole_builtin";

/// The cubbyhole backend (no state: each request's token names its storage).
pub struct CubbyholeBackend;

fn paths() -> &'static Paths<CubbyholeBackend> {
    static PATHS: OnceLock<Paths<CubbyholeBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        Paths::new(
            "the cubbyhole",
            "",
            vec![PathSpec::new(
                "{path**}",
                "A secret in the calling token's private storage: one JSON object, replaced whole \
                 on every write, readable by this token only and destroyed with it.",
            )
            .op(Operation::Read, "Read a secret.", |_, req, _| {
                Box::pin(read(req))
            })
            .op(
                Operation::List,
                "List the secrets and folders in a folder.",
                |_, req, _| Box::pin(list(req)),
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
                "the cubbyhole has no partial updates: write the whole secret with PUT/POST"
                    .to_owned()
            })],
        )
    })
}

/// The calling token's own storage. A request without a token never gets here (the pipeline
/// resolves one first), so a missing one is a wiring fault, not a client error.
fn own_view(req: &EngineRequest<'_>) -> Result<View> {
    let token = req.ctx()?.caller()?;
    Ok(req.view.sub(&format!("{}/", token.id_hash)))
}

/// `path` as a secret's key: not empty, not a folder.
fn secret_key(path: &str) -> Result<&str> {
    if path.is_empty() {
        return Err(CoreError::bad(
            "missing path: name the secret, e.g. cubbyhole/my-secret",
        ));
    }
    if path.ends_with('/') {
        return Err(CoreError::bad(format!(
            "\"{path}\" names a folder, not a secret: remove the trailing '/' (LIST the folder to \
             see its secrets)"
        )));
    }
    Ok(path)
}

fn not_found() -> Response {
    Response::raw(404, json!({ "errors": [] }))
}

async fn read(req: &EngineRequest<'_>) -> Result<Response> {
    let key = secret_key(req.path)?;
    match own_view(req)?.get_json::<Map<String, Value>>(key).await? {
        Some(secret) => Ok(Response::data(secret)),
        None => Ok(not_found()),
    }
}

async fn list(req: &EngineRequest<'_>) -> Result<Response> {
    let folder = if req.path.is_empty() || req.path.ends_with('/') {
        req.path.to_string()
    } else {
        format!("{}/", req.path)
    };
    let keys = own_view(req)?.list(&folder).await?;
    if keys.is_empty() {
        return Ok(not_found());
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    Ok(Response::data(data))
}

async fn write(req: &EngineRequest<'_>) -> Result<Response> {
    let key = secret_key(req.path)?;
    if req.data.is_empty() {
        return Err(CoreError::bad(
            "missing data fields: give the secret's keys and values as the request body",
        ));
    }
    let bytes = zeroize::Zeroizing::new(
        serde_json::to_vec(req.data).map_err(|e| CoreError::Internal(e.to_string()))?,
    );
    own_view(req)?.put(key, &bytes).await?;
    Ok(Response::no_content())
}

async fn delete(req: &EngineRequest<'_>) -> Result<Response> {
    let key = secret_key(req.path)?;
    own_view(req)?.delete(key).await?;
    Ok(Response::no_content())
}

#[async_trait]
impl LogicalBackend for CubbyholeBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        match secret_key(req.path) {
            Ok(key) => Ok(own_view(req)?.get(key).await?.is_some()),
            Err(_) => Ok(false),
        }
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }
}
