//! Cold start: from spawning the server process to its first `200` from `sys/health`.
//!
//! The server must unseal by itself (a static seal), so `200` means it is ready to serve.
//! Polling is a plain blocking HTTP/1.1 request on a fresh connection every `poll` interval
//! (1 ms in `scripts/bench`): cheap enough not to slow the start, fine enough that the poll
//! adds at most that interval to the figure.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// How one cold-start measurement is made.
#[derive(Debug, Clone)]
pub struct ColdStartConfig {
    /// The server command line (program first).
    pub command: Vec<OsString>,
    /// Where the server's health endpoint listens.
    pub health_addr: SocketAddr,
    /// How many starts to measure.
    pub runs: usize,
    /// The pause between two health probes.
    pub poll: Duration,
    /// How long a start may take before it counts as failed.
    pub timeout: Duration,
    /// Where the server's stdout and stderr go (appended); discarded when `None`.
    pub log: Option<PathBuf>,
}

/// Starts the server `runs` times, each time measuring until the first `200` from
/// `GET /v1/sys/health`, then stopping it with SIGTERM (SIGKILL if it has not exited after
/// 20 s) so that the next start finds a cleanly closed data file. Returns each run's time.
pub fn measure(cfg: &ColdStartConfig) -> Result<Vec<Duration>, BenchError> {
    let program = cfg.command.first().ok_or_else(|| {
        BenchError::InvalidConfig("the server command is empty; give the program to start".into())
    })?;
    if cfg.runs == 0 {
        return Err(BenchError::InvalidConfig(
            "the number of cold-start runs must be at least 1".into(),
        ));
    }
    if probe(cfg.health_addr).is_some() {
        return Err(BenchError::InvalidConfig(format!(
            "something already answers on {}: stop it first, or the measurement would time \
             that server instead",
            cfg.health_addr
        )));
    }
    let mut times = Vec::with_capacity(cfg.runs);
    for run in 1..=cfg.runs {
        let fail = |reason: String| BenchError::ColdStart {
            run,
            reason,
            log: cfg.log.clone(),
        };
        let (stdout, stderr) = match &cfg.log {
            None => (Stdio::null(), Stdio::null()),
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| fail(format!("cannot open the log {}: {e}", p.display())))?;
                let g = f
                    .try_clone()
                    .map_err(|e| fail(format!("cannot share the log file handle: {e}")))?;
                (Stdio::from(f), Stdio::from(g))
            }
        };
        let started = Instant::now();
        let mut child = Command::new(program)
            .args(&cfg.command[1..])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                program: program.to_string_lossy().into_owned(),
                source,
            })?;
        let outcome = wait_healthy(&mut child, cfg, started);
        let stopped = stop(&mut child);
        let elapsed = outcome.map_err(fail)?;
        stopped.map_err(fail)?;
        times.push(elapsed);
    }
    Ok(times)
}

/// The median of `times` (the lower middle one for an even count); zero when empty.
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[(n - 1) / 2],
    }
}

fn wait_healthy(
    child: &mut Child,
    cfg: &ColdStartConfig,
    started: Instant,
) -> Result<Duration, String> {
    loop {
        if let Some(200) = probe(cfg.health_addr) {
            return Ok(started.elapsed());
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                return Err(format!(
                    "the server exited ({status}) before it was healthy"
                ))
            }
            Ok(None) => {}
            Err(e) => return Err(format!("cannot check on the server process: {e}")),
        }
        if started.elapsed() > cfg.timeout {
            return Err(format!(
                "no 200 from {}/v1/sys/health within {:?} (sealed, or not listening there?)",
                cfg.health_addr, cfg.timeout
            ));
        }
        std::thread::sleep(cfg.poll);
    }
}

fn stop(child: &mut Child) -> Result<(), String> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pid = i32::try_from(child.id())
        .map_err(|_| format!("process id {} does not fit a pid_t", child.id()))?;
    // It may have exited on its own already; then there is nothing to signal.
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the server did not stop within 20 s of SIGTERM; killed it".into());
            }
            Err(e) => return Err(format!("cannot wait for the server to stop: {e}")),
        }
    }
}

/// One `GET /v1/sys/health` on a fresh connection: the status code, or `None` when nothing
/// answers (refused, reset, timed out, not HTTP).
pub fn probe(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.set_nodelay(true).ok()?;
    let request =
        format!("GET /v1/sys/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    // "HTTP/1.1 200 " is all we need.
    while len < 12 {
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => len += n,
        }
    }
    let head = std::str::from_utf8(&buf[..len]).ok()?;
    head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_runs() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(30), ms(10), ms(20)]), ms(20));
        assert_eq!(median(&[ms(30), ms(10), ms(20), ms(40)]), ms(20));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn probe_of_a_closed_port_is_none() {
        // Bind then drop to get a port that nothing listens on.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(probe(addr), None);
    }

    #[test]
    fn probe_reads_the_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        assert_eq!(probe(addr), Some(503));
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_exits_fails_the_measurement() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = ColdStartConfig {
            command: vec!["false".into()],
            health_addr: addr,
            runs: 1,
            poll: Duration::from_millis(1),
            timeout: Duration::from_secs(10),
            log: None,
        };
        let err = measure(&cfg).unwrap_err();
        assert!(
            matches!(&err, BenchError::ColdStart { run: 1, reason, .. } if reason.contains("exited")),
            "{err}"
        );
    }
}
