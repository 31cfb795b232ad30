//! Integration tests of the delivery commands against a real `hush server --dev`, run as real
//! processes with real children.

mod common;
mod export;
mod import;
mod leases;
mod run;
mod template;
