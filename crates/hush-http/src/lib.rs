//! The hush HTTP server: HashiCorp Vault's wire protocol over axum, TLS with rustls, graceful
//! shutdown. Every call becomes a logical request for the core's single pipeline.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod mlock;
pub mod serve;
pub mod tls;

pub use mlock::lock_all as lock_memory;
pub use serve::{serve as serve_router, Limits, ServeOptions};
