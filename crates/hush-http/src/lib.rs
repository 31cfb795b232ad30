//! The hush HTTP server: HashiCorp Vault's wire protocol over axum, TLS with rustls, graceful
//! shutdown. Every call becomes a logical request for the core's single pipeline.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod mlock;
pub mod serve;
pub mod server;
mod tls;

use std::path::PathBuf;

pub use serve::{serve as serve_router, Limits, ServeOptions};
pub use server::run;

/// How `hush server` was asked to run, from its command line.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `--dev`: in-memory storage, initialized and unsealed at start.
    pub dev: bool,
    /// `--dev-root-token-id`: the root token to create in dev mode.
    pub dev_root_token_id: Option<String>,
    /// `--dev-listen-address`: where the dev server listens (default 127.0.0.1:8200).
    pub dev_listen_address: Option<String>,
    /// `--config FILE` (repeatable, merged in order).
    pub config_files: Vec<PathBuf>,
    /// `--data-dir` / `HUSH_DATA_DIR`: where the embedded SQLite file lives when no config names
    /// storage.
    pub data_dir: Option<PathBuf>,
    /// `--log-level`: overrides the config file's `log_level`.
    pub log_level: Option<String>,
}
