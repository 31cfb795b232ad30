//! The hush core: seal state, the barrier view over storage, and the single request pipeline
//! (seal check → token → ACL → router → handler → audit) that every engine sits behind.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod auth_token;
pub mod canonical;
pub mod cidr;
mod core;
pub mod ctx;
pub mod cubbyhole;
pub mod engine;
pub mod error;
pub mod fields;
pub mod framework;
pub mod identity;
pub mod leases;
pub mod lockout;
pub mod logical;
pub mod metrics;
pub mod mounts;
mod peers;
pub mod pipeline;
pub mod policy_store;
pub mod quotas;
pub mod schedule;
pub mod seal;
pub mod snapshot;
pub mod sys;
pub mod time;
pub mod token;
pub mod ttl;
pub mod view;
pub mod wrapping;

pub use crate::core::{
    ClusterInfo, Core, CoreConfig, InitResult, SealStatus, Unsealed, CHECKPOINT_INTERVAL,
    DEFAULT_ROTATION_LIMIT,
};
pub use crate::time::now_unix;
pub use error::{CoreError, Result};
pub use logical::{Operation, Request, Response};
