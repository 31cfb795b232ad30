//! A typed async client of hush's HTTP API, which is Vault's wire protocol.
//!
//! Used by the `hush` CLI, and meant for everything else that talks to a hush server from Rust
//! (`hush run`, the Kubernetes operator). It also works against Vault and OpenBao: responses are
//! parsed leniently.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_client::ClientError> {
//! let client = hush_client::Client::from_env(None)?;
//! let status = client.seal_status().await?;
//! println!("sealed: {}", status.sealed);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
mod error;
mod sys;
mod tls;
mod token_helper;

pub use client::{list_method, Client};
pub use config::{
    parse_positive_duration, ClientConfig, DEFAULT_ADDRESS, DEFAULT_TIMEOUT, TOKEN_FILE_NAME,
};
pub use error::{ClientError, TokenRejection};
/// HTTP methods for [`Client::request`]; use [`list_method`] for Vault's `LIST`.
pub use reqwest::Method;
pub use sys::{Health, HealthResponse, InitRequest, InitResponse, LeaderResponse, SealStatus};
pub use token_helper::{store_token, token_file_path};
