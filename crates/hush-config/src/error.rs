//! Errors from loading a server configuration.
//!
//! Every variant names the file and, where there is one, the stanza and key, because the reader
//! is an operator staring at a config file with a typo in it. Values of seal keys are never part
//! of a message.

use std::path::PathBuf;

/// Why a server configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file (or directory) could not be read.
    #[error("cannot read configuration file {}: {source}; check the path and its permissions", path.display())]
    Io {
        /// The path that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A configuration file is not UTF-8 text.
    #[error("configuration file {} is not UTF-8 text; save it as UTF-8", path.display())]
    NotUtf8 {
        /// The offending file.
        path: PathBuf,
    },

    /// `load_files` was given nothing to load.
    #[error("no configuration files were given; pass at least one .hcl or .json file")]
    NoFiles,

    /// A configuration directory holds no `.hcl` or `.json` file.
    #[error("configuration directory {} contains no .hcl or .json files; add one or pass the files themselves", path.display())]
    EmptyDirectory {
        /// The directory that was given.
        path: PathBuf,
    },

    /// The file is not valid HCL or JSON.
    #[error("{format} syntax error in {file} at line {line}, column {column}: {message}")]
    Syntax {
        /// The file (or source name) being parsed.
        file: String,
        /// `"HCL"` or `"JSON"`.
        format: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },

    /// A key that hush does not know.
    #[error(
        "unknown key {key:?} in {stanza} (file {file}); supported: {supported}{}",
        did_you_mean_suffix(.did_you_mean)
    )]
    UnknownKey {
        /// The file (or source name) being parsed.
        file: String,
        /// Where the key was found, e.g. `listener "tcp"` or `the top level`.
        stanza: String,
        /// The unknown key.
        key: String,
        /// The keys that are accepted there, comma-separated.
        supported: String,
        /// A supported key that is spelled almost the same, if any.
        did_you_mean: Option<String>,
    },

    /// A storage, listener or seal type that hush does not implement.
    #[error(
        "{kind} type {name:?} is not supported; supported {kind} types: {supported} (file {file}){}",
        hint_suffix(.hint)
    )]
    UnsupportedType {
        /// The file (or source name) being parsed.
        file: String,
        /// `"storage"`, `"listener"` or `"seal"`.
        kind: &'static str,
        /// The type that was asked for.
        name: String,
        /// The types hush implements, comma-separated.
        supported: String,
        /// Extra advice, e.g. what to write instead.
        hint: Option<String>,
    },

    /// A required key is absent.
    #[error("{stanza} is missing the required key {key:?} (file {file}): {hint}")]
    MissingKey {
        /// The file (or source name) being parsed.
        file: String,
        /// The stanza that needs the key.
        stanza: String,
        /// The missing key.
        key: String,
        /// What the key means and how to set it.
        hint: String,
    },

    /// A key has a value of the wrong type or an invalid value.
    #[error("invalid value for key {key:?} in {stanza} (file {file}): {reason}")]
    InvalidValue {
        /// The file (or source name) being parsed.
        file: String,
        /// Where the key was found.
        stanza: String,
        /// The key whose value is wrong.
        key: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// The same key is set twice in one stanza.
    #[error("key {key:?} is set more than once in {stanza} (file {file}); keep only one")]
    DuplicateKey {
        /// The file (or source name) being parsed.
        file: String,
        /// Where the key was found.
        stanza: String,
        /// The repeated key.
        key: String,
    },

    /// A stanza is malformed or its settings contradict each other.
    #[error("invalid {stanza} (file {file}): {reason}")]
    InvalidStanza {
        /// The file (or source name) being parsed.
        file: String,
        /// The stanza, e.g. `listener "tcp" at 0.0.0.0:8200`.
        stanza: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// Settings that are each valid contradict each other, possibly across files.
    #[error("conflicting configuration: {reason}")]
    Conflict {
        /// What contradicts what, naming the files involved.
        reason: String,
    },
}

fn did_you_mean_suffix(candidate: &Option<String>) -> String {
    match candidate {
        Some(c) => format!("; did you mean {c:?}?"),
        None => String::new(),
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(". {h}"),
        None => String::new(),
    }
}
