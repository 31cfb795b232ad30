//! Configuration for `hush server`, and Go-style durations and timestamps.
//!
//! hush reads Vault's server configuration format so existing configs and habits carry over:
//! HCL or JSON, `storage`, `listener "tcp"`, `seal`, TTLs written as Go durations. This crate
//! only parses and validates; it reads the named files but never resolves seal keys (no
//! environment access for key material) and opens nothing else.
//!
//! ```
//! use hush_config::{ServerConfig, StorageConfig};
//!
//! let config = ServerConfig::from_str(
//!     r#"
//!     storage "sqlite" { path = "/var/lib/hush/hush.db" }
//!     listener "tcp" {
//!       address     = "127.0.0.1:8200"
//!       tls_disable = true
//!     }
//!     default_lease_ttl = "768h"
//!     "#,
//!     "hush.hcl",
//! )?;
//! assert_eq!(
//!     config.storage,
//!     Some(StorageConfig::Sqlite { path: "/var/lib/hush/hush.db".into() })
//! );
//! assert_eq!(hush_config::format_duration(config.default_lease_ttl.unwrap()), "768h0m0s");
//! # Ok::<(), hush_config::ConfigError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cidr;
pub mod duration;
mod error;
pub mod nesting;
mod raw;
mod server;
pub mod time;

pub use duration::{format_duration, parse_duration, parse_duration_value, DurationError};
pub use error::ConfigError;
pub use server::{
    ForwardedFor, KeySource, ListenerConfig, SealConfig, ServerConfig, StorageConfig,
    TelemetryConfig, TlsVersion, DEFAULT_HTTP_IDLE_TIMEOUT, DEFAULT_HTTP_READ_HEADER_TIMEOUT,
    DEFAULT_HTTP_READ_TIMEOUT, DEFAULT_LISTENER_ADDRESS, IGNORED_LISTENER_KEYS,
    IGNORED_TOP_LEVEL_KEYS, LISTENER_KEYS, LISTENER_TYPES, SEAL_TYPES, STATIC_SEAL_KEYS,
    STORAGE_TYPES, TOP_LEVEL_KEYS,
};
