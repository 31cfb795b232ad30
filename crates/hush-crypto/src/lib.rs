//! Pure cryptography for hush: zeroizing key types, AES-256-GCM sealing, the numbered-term
//! keyring, the storage barrier, Shamir secret sharing and the seals that protect the root key.
//!
//! This crate performs no I/O of any kind (no files, environment, network or clock): callers pass
//! in the current time and persist whatever bytes this crate hands back. That keeps every
//! security-relevant transformation testable in isolation.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aead;
mod barrier;
mod error;
pub mod hash;
mod key;
mod keyring;
pub mod seal;
pub mod shamir;

pub use barrier::{Barrier, BARRIER_FORMAT_VERSION, BARRIER_HEADER_LEN, BARRIER_OVERHEAD};
pub use error::CryptoError;
pub use key::{random_below, random_bytes, SecretKey, KEY_LEN};
pub use keyring::{Keyring, TermInfo};
