//! A connection to the server shared by all commands: the client, logged in if asked, with
//! requests retried briefly while the server cannot be reached.

use std::time::Duration;

use hush_client::{Client, ClientConfig, ClientError};
use serde_json::Value;

use crate::auth::{self, AuthArgs};
use crate::error::DeliverError;

/// Delays between attempts when the server refuses connections: three attempts spread over
/// about two seconds, enough to ride out a server that is still starting (a container
/// entrypoint racing its sidecar) without making a real outage slow to report.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];

/// A client of one server, ready to use.
#[derive(Debug, Clone)]
pub struct Conn {
    client: Client,
}

impl Conn {
    /// Builds the client from `config` and, when `auth` names a method, logs in with it and
    /// uses the token it returns instead of the configured one.
    pub async fn connect(config: ClientConfig, auth: &AuthArgs) -> Result<Conn, DeliverError> {
        let address = config.address.clone();
        let client = Client::new(config).map_err(|error| DeliverError::Server {
            path: address,
            error,
        })?;
        let mut conn = Conn { client };
        auth::login(&mut conn, auth).await?;
        Ok(conn)
    }

    /// The client, for callers that need it directly.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `GET path`; a plain 404 is `Ok(None)`.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, ClientError> {
        self.retrying(|| self.client.read(path)).await
    }

    /// `LIST path`; a plain 404 is `Ok(None)`.
    pub async fn list(&self, path: &str) -> Result<Option<Value>, ClientError> {
        self.retrying(|| self.client.list(path)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn write(&self, path: &str, body: Value) -> Result<Option<Value>, ClientError> {
        self.retrying(|| self.client.write(path, body.clone()))
            .await
    }

    /// Runs `op`, trying again after a short pause while the server refuses connections.
    ///
    /// Only connection failures are retried: the request never reached the server, so even a
    /// write is safe to repeat. Anything the server answered is returned at once.
    async fn retrying<T, F, Fut>(&self, op: F) -> Result<T, ClientError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            match op().await {
                Err(ClientError::Connect { .. }) if delays.len() > 0 => {
                    if let Some(delay) = delays.next() {
                        tokio::time::sleep(*delay).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Turns a client error about `path` into a [`DeliverError`], recognizing an unreachable
    /// server and a refusal by policy.
    pub(crate) fn error(
        &self,
        path: &str,
        api_path: &str,
        capability: &'static str,
        source: ClientError,
    ) -> DeliverError {
        match source {
            ClientError::Connect { .. } => DeliverError::Unreachable {
                address: self.client.address().to_owned(),
                attempts: RETRY_DELAYS.len() as u32 + 1,
                error: source,
            },
            ClientError::Api { status: 403, .. } => DeliverError::PermissionDenied {
                path: path.to_owned(),
                api_path: api_path.to_owned(),
                capability,
            },
            error => DeliverError::Server {
                path: path.to_owned(),
                error,
            },
        }
    }
}
