//! hush's benchmark tools, driven by `scripts/bench` (see `docs/performance.md`).
//!
//! - [`load`]: a keep-alive HTTP/1.1 load generator on hyper. A fixed number of connections
//!   each send one request at a time, either as fast as the server answers (closed loop, for
//!   maximum throughput), at a fixed total rate (open loop, for latency at a given load, timed
//!   from each request's scheduled start so that a slow server cannot hide its queueing), or
//!   until a fixed number of requests is done (for seeding data). Any unexpected status, body
//!   or lost connection fails the whole run: a benchmark that measured errors is not a result.
//! - [`stats`]: percentiles of the recorded latencies.
//! - [`baseline`]: the bare endpoint served by the same HTTP stack as hush, the limit every
//!   other figure is compared with.
//! - [`coldstart`]: process start to the first `200` from `sys/health`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod baseline;
pub mod coldstart;
mod error;
pub mod load;
pub mod stats;
mod template;

pub use error::BenchError;
pub use template::PathTemplate;
