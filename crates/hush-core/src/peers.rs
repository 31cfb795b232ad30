//! [`Peers`] as the core provides them: an engine's reach beyond its own mount, for requests
//! (through [`Ctx`]) and for scheduled work (through [`UnsealedPeers`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::audit::RequestEntry;
use crate::core::Unsealed;
use crate::ctx::Ctx;
use crate::engine::{CredentialChange, EngineRequest, MountEntry, Peers};
use crate::error::{CoreError, Result};
use crate::logical::{MountInfo, Operation, Request, Response};

/// The peers of an unsealed core, for work no request started (the maintenance round).
pub(crate) struct UnsealedPeers<'a> {
    pub(crate) un: &'a Arc<Unsealed>,
}

#[async_trait]
impl Peers for UnsealedPeers<'_> {
    async fn change_credential(&self, mount: &str, change: &CredentialChange<'_>) -> Result<()> {
        let route = format!("{}/", mount.trim_matches('/'));
        let Some(m) = self.un.mounts.get(&route) else {
            return Err(CoreError::bad(format!(
                "no secrets engine is mounted at {route}: enable one (hush secrets enable \
                 -path={} database) or name the right mount",
                route.trim_end_matches('/')
            )));
        };
        let empty = Map::new();
        let req = EngineRequest::new(
            "credential",
            Operation::Update,
            "",
            &empty,
            &m.view,
            &m.entry,
        )
        .with_peers(self);
        m.backend.change_credential(&req, change).await
    }

    async fn audit_event(
        &self,
        mount: &MountEntry,
        path: &str,
        data: &Map<String, Value>,
        outcome: std::result::Result<&Map<String, Value>, &str>,
    ) -> Result<()> {
        let mut req = Request::new(Operation::Update, format!("{}{path}", mount.path))
            .with_data(data.clone());
        req.mount = Some(MountInfo {
            point: mount.path.clone(),
            kind: mount.kind.clone(),
            accessor: mount.accessor.clone(),
            non_hmac_request_keys: mount.config.audit_non_hmac_request_keys.clone(),
            non_hmac_response_keys: mount.config.audit_non_hmac_response_keys.clone(),
        });
        let result = match outcome {
            Ok(body) => Ok(Response::data(body.clone())),
            Err(reason) => Err(CoreError::Internal(reason.to_string())),
        };
        let error = result.as_ref().err();
        let memos = self
            .un
            .audit
            .log_request(&req, None, error, RequestEntry::WriteNow)
            .await?;
        self.un.audit.log_response(&req, None, &result, memos).await
    }

    async fn password_policy(&self, name: &str) -> Result<Option<hush_policy::PasswordPolicy>> {
        crate::sys::password::load(&self.un.view, name).await
    }
}

#[async_trait]
impl Peers for Ctx<'_> {
    async fn change_credential(&self, mount: &str, change: &CredentialChange<'_>) -> Result<()> {
        UnsealedPeers { un: self.un }
            .change_credential(mount, change)
            .await
    }

    async fn audit_event(
        &self,
        mount: &MountEntry,
        path: &str,
        data: &Map<String, Value>,
        outcome: std::result::Result<&Map<String, Value>, &str>,
    ) -> Result<()> {
        UnsealedPeers { un: self.un }
            .audit_event(mount, path, data, outcome)
            .await
    }

    async fn password_policy(&self, name: &str) -> Result<Option<hush_policy::PasswordPolicy>> {
        UnsealedPeers { un: self.un }.password_policy(name).await
    }
}
