//! The error type of the delivery commands.
//!
//! Messages name what was wrong (a path, a key, a file and line) and how to fix it. They never
//! contain a secret value: only key names, paths and server messages appear in them.

use std::io;
use std::path::PathBuf;

use hush_client::ClientError;
use thiserror::Error;

/// Everything that can go wrong while delivering secrets.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The server did not accept a connection, even after retrying.
    ///
    /// The client error is kept as a field, not as the `source()`: its message already says
    /// everything useful, and its own sources are transport internals, noise to a user.
    #[error("could not reach hush at {address} after {attempts} attempts: {error}")]
    Unreachable {
        /// The configured server address.
        address: String,
        /// How many times the request was tried.
        attempts: u32,
        /// The last transport error.
        error: ClientError,
    },

    /// The request had no token: nothing was configured.
    #[error("no token: set HUSH_TOKEN (or VAULT_TOKEN), or run `hush login` (needed for {path})")]
    NoToken {
        /// The path as the user wrote it.
        path: String,
    },

    /// The server does not know the token: expired, revoked, or from another server.
    #[error(
        "this token is not valid (expired, revoked, or from another server): run `hush login` \
         or set HUSH_TOKEN to a valid token (needed for {path})"
    )]
    InvalidToken {
        /// The path as the user wrote it.
        path: String,
    },

    /// The token may not read (or write) the path.
    #[error(
        "permission denied on {path}: the token's policies do not grant \"{capability}\" on \
         {api_path}. Use a token with a policy that does, or check the path"
    )]
    PermissionDenied {
        /// The path as the user wrote it.
        path: String,
        /// The API path that was refused (e.g. `secret/data/app`).
        api_path: String,
        /// The capability that was needed (`read`, `list`, `create`/`update`).
        capability: &'static str,
    },

    /// Nothing is stored at the path (a `--path` of `run`, `export` or `import`).
    #[error(
        "no secret at {path}: check the spelling and the mount (list it with `hush kv list`), \
         or use --recursive for a folder"
    )]
    NotFound {
        /// The path as the user wrote it.
        path: String,
    },

    /// Nothing is stored at a path a template reads (templates read one secret per call).
    #[error(
        "no secret at {path}: check the spelling and the mount (list it with `hush kv list`); a \
         template reads one secret per call, so name each secret of a folder"
    )]
    TemplateSecretNotFound {
        /// The path as the template wrote it.
        path: String,
    },

    /// The requested KV v2 version does not exist.
    #[error(
        "{path} has no version {version}: list its versions with `hush kv metadata get {path}`"
    )]
    NoSuchVersion {
        /// The path as the user wrote it.
        path: String,
        /// The version asked for.
        version: u64,
    },

    /// The requested (or latest) KV v2 version is deleted or destroyed.
    #[error(
        "version {version} of {path} is deleted or destroyed: undelete it with `hush kv \
         undelete`, or pick a live version with --version"
    )]
    VersionDeleted {
        /// The path as the user wrote it.
        path: String,
        /// The version that is gone.
        version: u64,
    },

    /// The secret exists but holds no key.
    #[error(
        "the secret {path} is empty: it has no key to deliver. Add keys to it (`hush kv put \
         {path} KEY=VALUE`) or leave the path out"
    )]
    EmptySecret {
        /// The path as the user wrote it.
        path: String,
    },

    /// The server refused a request for another reason (the client error is a field rather
    /// than the `source()`, as for [`DeliverError::Unreachable`]).
    #[error("the request for {path} failed: {error}")]
    Server {
        /// The path as the user wrote it.
        path: String,
        /// What the client reported.
        error: ClientError,
    },

    /// The server answered with something that is not a KV answer.
    #[error("unexpected answer for {path}: {reason}. Is {path} a KV (version 1 or 2) secret?")]
    UnexpectedAnswer {
        /// The path as the user wrote it.
        path: String,
        /// What was wrong with the answer.
        reason: String,
    },

    /// Options that do not go together, or a malformed option value.
    #[error("{0}")]
    Usage(String),

    /// The same key is defined twice where neither may override the other.
    #[error(
        "the key \"{key}\" is defined twice, in {first} and in {second}: rename one of them, or \
         exclude one with --except"
    )]
    DuplicateKey {
        /// The key name.
        key: String,
        /// Where it was seen first.
        first: String,
        /// Where it was seen again.
        second: String,
    },

    /// A key cannot be used as a name in the requested output.
    #[error("the key \"{key}\" of {path} {reason}")]
    InvalidName {
        /// The key name.
        key: String,
        /// The secret it came from.
        path: String,
        /// Why it is not acceptable, and what to do about it.
        reason: String,
    },

    /// Two different keys would become the same name.
    #[error(
        "the keys \"{first_key}\" ({first_path}) and \"{second_key}\" ({second_path}) both \
         become the name {name}: rename one of them, or exclude one with --except"
    )]
    NameClash {
        /// The resulting name.
        name: String,
        /// The first key.
        first_key: String,
        /// Where the first key came from.
        first_path: String,
        /// The second key.
        second_key: String,
        /// Where the second key came from.
        second_path: String,
    },

    /// A secret variable would replace a variable that is already set.
    #[error(
        "the environment variable {name} (key \"{key}\" of {path}) is already set in the \
         environment: pass --override to replace it, or --prefix to give the secrets other names"
    )]
    EnvClash {
        /// The variable name.
        name: String,
        /// The key it came from.
        key: String,
        /// The secret it came from.
        path: String,
    },

    /// A value cannot be put into an environment variable.
    #[error(
        "the value of the key \"{key}\" of {path} contains a NUL byte, which an environment \
         variable cannot hold; deliver it as a file with `hush template` instead"
    )]
    NulInValue {
        /// The key name.
        key: String,
        /// The secret it came from.
        path: String,
    },

    /// An input file is not valid in its format.
    #[error("{file}, line {line}: {message}")]
    Parse {
        /// The file name.
        file: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong there and how to fix it.
        message: String,
    },

    /// An input file is well-formed but unusable as a whole.
    #[error("{file}: {message}")]
    InvalidFile {
        /// The file name.
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A template could not be compiled or rendered.
    #[error("template {file}, line {line}: {message}")]
    Template {
        /// The template file name.
        file: String,
        /// The 1-based line number (0 when the engine did not say).
        line: usize,
        /// What went wrong.
        message: String,
    },

    /// A check-and-set write found that someone else changed the secret first.
    #[error(
        "{path} was changed by someone else while importing (check-and-set failed: {detail}); \
         it was not overwritten. Run the import again to see and apply the new differences"
    )]
    CasConflict {
        /// The path as the user wrote it.
        path: String,
        /// The server's message.
        detail: String,
    },

    /// The output file exists and `--force` was not given.
    #[error("{} already exists; pass --force to replace it", path.display())]
    OutputExists {
        /// The output file.
        path: PathBuf,
    },

    /// A file operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The token of a watching command runs out and cannot be renewed, and the command did not
    /// log in itself, so it cannot get another.
    #[error(
        "the token expires in {seconds}s and cannot be renewed (not renewable, or at its maximum \
         TTL); give the command a longer-lived token, or let it log in itself with --auth-method \
         so it can log in again"
    )]
    TokenRunningOut {
        /// Seconds left.
        seconds: u64,
    },

    /// Logging in with an auth method failed.
    #[error("login with {method} at auth/{mount}/login failed: {reason}")]
    Login {
        /// The auth method.
        method: String,
        /// The mount path of the method.
        mount: String,
        /// Why, and what to check.
        reason: String,
    },

    /// The child program could not be started.
    #[error(
        "could not start {program}: {source}. Check the command name and PATH (or use --shell \
         for a shell command line)"
    )]
    Spawn {
        /// The program name.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl DeliverError {
    /// Shorthand for an I/O error about a file.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DeliverError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
