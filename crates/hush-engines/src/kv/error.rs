//! The KV engine's own errors: everything a client can get wrong. Each becomes a 400 whose
//! message names the field or path at fault and how to fix it.

use hush_core::error::CoreError;

/// A request the KV engine refuses. Nothing has been written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    /// A parameter has the wrong type or an out-of-range value.
    #[error("invalid parameter \"{field}\": {reason}")]
    InvalidParam {
        /// The parameter as the client named it, e.g. `options.cas`.
        field: String,
        /// What is wrong and what is accepted instead.
        reason: String,
    },

    /// The request names no secret.
    #[error("missing path: name the secret after the endpoint, e.g. {example}")]
    MissingPath {
        /// An example of a complete path for this endpoint.
        example: String,
    },

    /// The secret path cannot name a secret.
    #[error("invalid secret path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (below the endpoint prefix).
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A KV v2 write or patch came without `data`.
    #[error(
        "no data provided: send the secret as {{\"data\": {{\"key\": \"value\", ...}}}} \
         (options such as cas go in {{\"options\": {{\"cas\": N}}}})"
    )]
    NoData,

    /// A KV v1 write came with an empty body.
    #[error(
        "missing data fields: send the secret as a JSON object of key/value pairs, e.g. \
         {{\"password\": \"...\"}}"
    )]
    MissingDataFields,

    /// `options.cas` was given and is not the secret's current version. The first words are
    /// Vault's exact message, which clients match on.
    #[error(
        "check-and-set parameter did not match the current version: options.cas is {given} but \
         the current version of {path:?} is {current}; read the secret again and retry with its \
         current version (cas=0 writes only if the secret has no version yet)"
    )]
    CasMismatch {
        /// The secret's path.
        path: String,
        /// The `cas` the client sent.
        given: u64,
        /// The current version.
        current: u64,
    },

    /// `cas_required` is on and the write has no `options.cas`.
    #[error(
        "check-and-set parameter required for this call: cas_required is set on {set_on}; send \
         {{\"options\": {{\"cas\": N}}}} with N the secret's current version (0 if it does not \
         exist yet)"
    )]
    CasRequired {
        /// Where `cas_required` is set: the mount config or the secret's metadata.
        set_on: &'static str,
    },

    /// `custom_metadata` breaks one of Vault's limits.
    #[error("custom_metadata validation failed: {0}")]
    CustomMetadata(String),

    /// The delete/undelete/destroy endpoints got no version.
    #[error(
        "no version number provided: send {{\"versions\": [1, 2]}} with the versions to change"
    )]
    NoVersions,
}

impl KvError {
    /// Shorthand for [`KvError::InvalidParam`].
    pub(crate) fn param(field: impl Into<String>, reason: impl Into<String>) -> Self {
        KvError::InvalidParam {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<KvError> for CoreError {
    fn from(e: KvError) -> Self {
        CoreError::BadRequest(e.to_string())
    }
}
