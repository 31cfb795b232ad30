//! The one error type of the benchmark tools.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What went wrong while setting up or running a measurement.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The load or cold-start settings cannot describe a run.
    #[error("invalid benchmark settings: {0}")]
    InvalidConfig(String),

    /// A connection to the server under test could not be opened.
    #[error("cannot connect to {addr}: {source} (is the server running and listening there?)")]
    Connect {
        /// Where we tried to connect.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },

    /// The HTTP/1.1 handshake on a fresh connection failed.
    #[error("HTTP handshake with {addr} failed: {source}")]
    Handshake {
        /// The server.
        addr: SocketAddr,
        /// Why it failed.
        source: hyper::Error,
    },

    /// At least one request of the run failed (unexpected status or body, or a lost
    /// connection). The figures of such a run are not reported.
    #[error(
        "{errors} request(s) failed during the run, so its figures are not a result; first \
         failures: {}. Check the server's log, then rerun",
        samples.join("; ")
    )]
    RequestsFailed {
        /// How many requests failed.
        errors: u64,
        /// The first few failures, described.
        samples: Vec<String>,
    },

    /// The server process could not be started for a cold-start measurement.
    #[error("cannot start {program}: {source} (check the path to the server binary)")]
    Spawn {
        /// The program we tried to run.
        program: String,
        /// Why it failed.
        source: std::io::Error,
    },

    /// The server exited, or never answered `200` from `sys/health`, during a cold start.
    #[error("cold start run {run}: {reason}{}", log_hint(.log))]
    ColdStart {
        /// 1-based run number.
        run: usize,
        /// What happened.
        reason: String,
        /// Where the server's output went, if captured.
        log: Option<PathBuf>,
    },
}

fn log_hint(log: &Option<PathBuf>) -> String {
    match log {
        Some(p) => format!(" (the server's output is in {})", p.display()),
        None => String::new(),
    }
}
