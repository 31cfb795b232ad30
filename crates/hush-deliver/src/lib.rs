//! Delivering secrets where they are consumed: `hush run`, `hush export`, `hush import` and
//! `hush template`.
//!
//! Everything here is a client of hush's HTTP API (the Vault wire protocol) through
//! [`hush_client`], so the commands work against any hush server and, where only the Vault API
//! is used, against Vault too. Each command takes a plain options struct and returns a typed
//! [`DeliverError`]; with the `cli` feature (which the `hush` binary turns on) those structs also
//! derive clap's `Args`, so the binary flattens them into its subcommands. The library parses no
//! command line itself. One entry function per command:
//!
//! | command | arguments | entry point |
//! |---|---|---|
//! | `hush run` | [`run::RunArgs`] | [`run::run`] (returns the exit code to use) |
//! | `hush export` | [`export::ExportArgs`] | [`export::export`] |
//! | `hush import` | [`import::ImportArgs`] | [`import::import`] |
//! | `hush template` | [`template::TemplateArgs`] | [`template::template`] |
//!
//! Secret values travel in [`zeroize::Zeroizing`] buffers, never appear in `Debug` output or
//! error messages (only key names and paths do), and `hush run` never writes them to disk.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod conn;
pub mod duration;
mod error;
pub mod export;
pub mod formats;
pub mod import;
pub mod lease;
pub mod names;
mod outfile;
pub mod parse;
pub mod redact;
pub mod run;
pub mod source;
pub mod template;

pub use error::DeliverError;
