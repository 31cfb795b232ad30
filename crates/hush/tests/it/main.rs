//! The integration tests of hush, one test binary.

mod common;

mod auth_methods;
mod cli;
mod commands;
mod configured;
