//! A connection to the server shared by all commands: the client, logged in if asked, with
//! requests retried briefly while the server cannot be reached, and, for the commands that
//! keep watching, a token kept alive (renewed, or logged in again) for as long as they run.

use std::time::{Duration, Instant};

use hush_client::{Client, ClientConfig, ClientError, TokenRejection};
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
    /// How the command logged in, to do it again when the token can no longer be renewed.
    auth: AuthArgs,
    lease: Lease,
}

/// What is known about the life of the token in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    /// Not looked up yet.
    Unknown,
    /// The token does not expire.
    Never,
    /// The token expires at `expires`; its last login or renewal granted `granted`.
    Until {
        expires: Instant,
        granted: Duration,
        renewable: bool,
    },
}

impl Lease {
    /// The lease the `auth` block of a login's answer grants (a TTL of 0: never expires).
    pub(crate) fn of_auth(answer: Option<&Value>) -> Lease {
        Lease::of_fields(answer.and_then(|a| a.get("auth")), "lease_duration")
    }

    /// The lease described by `block`: TTL in seconds under `ttl_key`, and `renewable`.
    fn of_fields(block: Option<&Value>, ttl_key: &str) -> Lease {
        let seconds = block
            .and_then(|b| b.get(ttl_key))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let renewable = block
            .and_then(|b| b.get("renewable"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Lease::lasting(seconds, renewable)
    }

    fn lasting(seconds: u64, renewable: bool) -> Lease {
        if seconds == 0 {
            return Lease::Never;
        }
        let granted = Duration::from_secs(seconds);
        // The server counts whole seconds from a creation time it rounded down, so the token
        // may lapse up to a second before `granted` has passed here.
        Lease::Until {
            expires: Instant::now() + granted.saturating_sub(Duration::from_secs(1)),
            granted,
            renewable,
        }
    }

    /// Whether the token should be renewed now, to still be valid `ahead` from now with room
    /// to spare: once a third of what was granted is left, as Vault Agent does, or sooner when
    /// the watcher's next two rounds would outlast it.
    fn due(&self, ahead: Duration) -> bool {
        match *self {
            Lease::Until {
                expires, granted, ..
            } => expires.saturating_duration_since(Instant::now()) <= (granted / 3).max(ahead * 2),
            Lease::Unknown | Lease::Never => false,
        }
    }
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
        let mut conn = Conn {
            client,
            auth: auth.clone(),
            lease: Lease::Unknown,
        };
        if let Some(lease) = auth::login(&mut conn, auth).await? {
            conn.lease = lease;
        }
        Ok(conn)
    }

    /// For commands that keep running (`--watch`): keeps the token valid for at least `ahead`.
    /// A token due for renewal (see [`Lease`]) is renewed; one that cannot be renewed, or not
    /// for long enough (its maximum TTL is near), is replaced by logging in again when the
    /// command logged in itself. Otherwise the error says when the token runs out and what to
    /// do. Tokens that never expire need nothing.
    pub async fn keep_token(&mut self, ahead: Duration) -> Result<(), DeliverError> {
        if self.lease == Lease::Unknown {
            self.lease = self.look_up().await?;
        }
        if !self.lease.due(ahead) {
            return Ok(());
        }
        let mut renew_error = None;
        if let Lease::Until {
            renewable: true, ..
        } = self.lease
        {
            let path = "auth/token/renew-self";
            match self.write(path, serde_json::json!({})).await {
                Ok(answer) => {
                    // Unlike a login's, a renewal's TTL of 0 means the token is at its
                    // maximum TTL: it expires now.
                    self.lease = match Lease::of_auth(answer.as_ref()) {
                        Lease::Never => Lease::Until {
                            expires: Instant::now(),
                            granted: Duration::ZERO,
                            renewable: false,
                        },
                        lease => lease,
                    };
                    if !self.lease.due(ahead) {
                        return Ok(());
                    }
                }
                Err(source) => {
                    renew_error = Some(self.error(path, path, "update", source));
                }
            }
        }
        if self.auth.auth_method.is_some() {
            let auth = self.auth.clone();
            if let Some(lease) = auth::login(self, &auth).await? {
                self.lease = lease;
            }
            return Ok(());
        }
        if let Some(e) = renew_error {
            return Err(e);
        }
        let left = match self.lease {
            Lease::Until { expires, .. } => expires.saturating_duration_since(Instant::now()),
            Lease::Unknown | Lease::Never => Duration::ZERO,
        };
        Err(DeliverError::TokenRunningOut {
            seconds: left.as_secs(),
        })
    }

    /// How long until [`Conn::keep_token`] has something to do (renew the token, or log in
    /// again), for a command that keeps running without a `--watch` ticker (`hush run` holding
    /// leases, which the server revokes with the token that created them). `None`: the token
    /// never expires; zero: its lease is not known yet, so look now.
    pub fn token_check_in(&self) -> Option<Duration> {
        match self.lease {
            Lease::Unknown => Some(Duration::ZERO),
            Lease::Never => None,
            Lease::Until {
                expires, granted, ..
            } => Some(
                expires
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(granted / 3),
            ),
        }
    }

    /// The lease of a token from the configuration, from `auth/token/lookup-self`. A token that
    /// may not look itself up is left alone (treated as not expiring).
    async fn look_up(&self) -> Result<Lease, DeliverError> {
        let path = "auth/token/lookup-self";
        match self.read(path).await {
            Ok(answer) => Ok(Lease::of_fields(
                answer.as_ref().and_then(|a| a.get("data")),
                "ttl",
            )),
            Err(ClientError::Api { status: 403, .. }) => Ok(Lease::Never),
            Err(source) => Err(self.error(path, path, "read", source)),
        }
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
            ClientError::Api { status: 403, .. }
                if !self.client.has_token()
                    || source.token_rejection() == Some(TokenRejection::Missing) =>
            {
                DeliverError::NoToken {
                    path: path.to_owned(),
                }
            }
            ClientError::Api { status: 403, .. }
                if source.token_rejection() == Some(TokenRejection::Invalid) =>
            {
                DeliverError::InvalidToken {
                    path: path.to_owned(),
                }
            }
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
