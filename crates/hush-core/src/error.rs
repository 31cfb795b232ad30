//! Errors of the core, each mapped to the HTTP status Vault clients expect.

use hush_crypto::CryptoError;
use hush_storage::StorageError;

/// An error answered to a client. The HTTP layer turns it into `{"errors": [message]}` with
/// [`CoreError::status`].
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or not allowed in the current state (400).
    #[error("{0}")]
    BadRequest(String),
    /// The token is missing, invalid or lacks a capability (403). The message to the client is
    /// always "permission denied"; the detail goes only to the audit log.
    #[error("permission denied")]
    PermissionDenied {
        /// Why, for the audit log and the server log: never sent to the client.
        detail: String,
    },
    /// The request carried no token, or one that is not valid (403). The client sees
    /// "permission denied: " and `reason` (which starts with Vault's "invalid token" for a bad
    /// token); `detail` goes only to the audit log.
    #[error("permission denied")]
    TokenRejected {
        /// What the client is told: which of the two it is, and what to do.
        reason: &'static str,
        /// Why, for the audit log and the server log.
        detail: String,
    },
    /// A login failed: wrong password, unknown user, bad secret ID, invalid JWT... (400). The
    /// message must not reveal whether the user or role exists. The core counts these for the
    /// failed-login lockout.
    #[error("{0}")]
    InvalidCredentials(String),
    /// Refused with a message the client may see (403), e.g. "bad token" on a lookup.
    #[error("{0}")]
    Forbidden(String),
    /// No handler for the path, or nothing stored there (404).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this operation (405).
    #[error("{0}")]
    UnsupportedOperation(String),
    /// The server is sealed (503).
    #[error("hush is sealed: unseal it first (hush unseal, or PUT /v1/sys/unseal)")]
    Sealed,
    /// The server has not been initialized yet (400 on most paths, as Vault does).
    #[error("hush is not initialized: run `hush init` (or PUT /v1/sys/init) first")]
    NotInitialized,
    /// Too many requests (429); the client may retry after `retry_after` seconds.
    #[error("{message}")]
    RateLimited {
        /// What was exceeded.
        message: String,
        /// Seconds until a retry can succeed (`Retry-After`).
        retry_after: u64,
    },
    /// A service hush needs for the request failed or could not be reached: the Kubernetes API
    /// for a TokenReview, an identity provider's keys (502). Not the client's fault, and not
    /// counted as a failed login; clients may retry.
    #[error("{0}")]
    Upstream(String),
    /// An integrity error: stored data was tampered with (500; logged loudly).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed (500).
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Anything else that is the server's fault (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            CoreError::BadRequest(_)
            | CoreError::InvalidCredentials(_)
            | CoreError::NotInitialized => 400,
            CoreError::PermissionDenied { .. }
            | CoreError::TokenRejected { .. }
            | CoreError::Forbidden(_) => 403,
            CoreError::NotFound(_) => 404,
            CoreError::UnsupportedOperation(_) => 405,
            CoreError::RateLimited { .. } => 429,
            CoreError::Upstream(_) => 502,
            CoreError::Sealed => 503,
            CoreError::Crypto(_) | CoreError::Storage(_) | CoreError::Internal(_) => 500,
        }
    }

    /// Shorthand for a 400 with a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        CoreError::BadRequest(msg.into())
    }

    /// Shorthand for a 403 with a detail for the audit log.
    pub fn denied(detail: impl Into<String>) -> Self {
        CoreError::PermissionDenied {
            detail: detail.into(),
        }
    }

    /// A request without a token, on a path that needs one.
    pub fn no_token() -> Self {
        CoreError::TokenRejected {
            reason: "no token was given: send one in the X-Vault-Token header (the CLI reads \
                     HUSH_TOKEN, VAULT_TOKEN or the file `hush login` writes)",
            detail: "no token was given".to_owned(),
        }
    }

    /// A token that does not resolve: unknown, expired, or with a revoked ancestor.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        CoreError::TokenRejected {
            reason: "invalid token: it is expired, revoked, or from another server; log in \
                     again (hush login) or use another token",
            detail: detail.into(),
        }
    }
}

/// Result alias for the core.
pub type Result<T> = std::result::Result<T, CoreError>;
