//! The load generator.
//!
//! `connections` HTTP/1.1 keep-alive connections are opened before anything is measured; each
//! runs one task that sends a request, reads the whole answer, checks it, and repeats. What
//! decides when the next request goes out is the [`Schedule`]:
//!
//! - [`Schedule::Closed`]: immediately (maximum throughput). Requests *started* during the
//!   warm-up are not recorded; requests started after it and finished before the end are.
//! - [`Schedule::Open`]: request `i` (over all connections) is due at `start + i / rate`. A
//!   connection takes the next due request as soon as it is free. Its latency is measured from
//!   the moment it was due if the connection was busy then (the request waited for the
//!   server: counting that wait is what avoids coordinated omission), else from when it was
//!   actually sent (so the timer's millisecond granularity is not charged to the server).
//! - [`Schedule::Count`]: closed loop until exactly `total` requests are done, each with its
//!   own number `0..total` (to write each key once when seeding).
//!
//! Any unexpected status or body, or a connection error, is counted, stops the run at once, and
//! makes [`run`] return [`BenchError::RequestsFailed`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderMap, HeaderValue, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stats::Summary;
use crate::{BenchError, PathTemplate};

/// How many failures are described in [`BenchError::RequestsFailed`].
const ERROR_SAMPLES: usize = 5;

/// When the requests go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// As fast as the server answers, for `warmup` then `duration`.
    Closed {
        /// Not recorded.
        warmup: Duration,
        /// Recorded.
        duration: Duration,
    },
    /// At `rate` requests per second in total, for `warmup` then `duration`.
    Open {
        /// Requests per second over all connections.
        rate: f64,
        /// Not recorded.
        warmup: Duration,
        /// Recorded.
        duration: Duration,
    },
    /// As fast as the server answers, until `total` requests are done; all are recorded.
    Count {
        /// How many requests.
        total: u64,
    },
}

/// The server under test: where to connect and what to put in `Host`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The socket address connections go to.
    pub addr: SocketAddr,
    /// The `Host` header value (`host:port`).
    pub authority: HeaderValue,
}

impl Target {
    /// Parses a plain-HTTP base URL such as `http://127.0.0.1:8200` (TLS is not supported: the
    /// benchmark measures servers with `tls_disable = true`).
    pub async fn from_url(url: &str) -> Result<Target, BenchError> {
        let uri: Uri = url.parse().map_err(|e| {
            BenchError::InvalidConfig(format!(
                "the URL {url:?} cannot be parsed ({e}); use e.g. http://127.0.0.1:8200"
            ))
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(BenchError::InvalidConfig(format!(
                "the URL {url:?} must start with http:// (the load generator does not speak \
                 TLS; benchmark a listener with tls_disable = true)"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| {
                BenchError::InvalidConfig(format!("the URL {url:?} has no host; add one"))
            })?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .map_err(|e| {
                BenchError::InvalidConfig(format!(
                    "cannot resolve the host of {url:?}: {e}; check the spelling"
                ))
            })?
            .next()
            .ok_or_else(|| {
                BenchError::InvalidConfig(format!("the host of {url:?} has no address"))
            })?;
        let authority = HeaderValue::from_str(authority.as_str()).map_err(|e| {
            BenchError::InvalidConfig(format!("the host of {url:?} is not a valid header: {e}"))
        })?;
        Ok(Target { addr, authority })
    }
}

/// The request every connection sends, and what a correct answer looks like.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{n}` standing for the request's number.
    pub path: PathTemplate,
    /// Extra headers (e.g. `X-Vault-Token`); `Host` is added.
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
    /// The statuses counted as success.
    pub expect_status: Vec<StatusCode>,
    /// When set, a successful answer's body must contain these bytes (e.g. the secret's value),
    /// so that a server answering quickly with the wrong thing is caught.
    pub expect_body: Option<Bytes>,
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub target: Target,
    /// Concurrent keep-alive connections (at least 1).
    pub connections: usize,
    /// When the requests go out.
    pub schedule: Schedule,
    /// What each request is.
    pub request: RequestSpec,
    /// When set, progress (requests done so far) is printed to stderr this often.
    pub progress: Option<Duration>,
}

/// What a successful run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Recorded requests (all succeeded).
    pub requests: u64,
    /// The measured interval: the configured duration, or for [`Schedule::Count`] the time
    /// from the first request to the last answer.
    pub elapsed: Duration,
    /// Recorded requests per second.
    pub rps: f64,
    /// The latency distribution of the recorded requests.
    pub latency: Summary,
    /// Every request answered correctly, recorded or not (warm-up included): what the server
    /// did during the whole run, e.g. to divide its CPU time by.
    pub completed: u64,
    /// Open loop only: recorded requests that could not go out when due because every
    /// connection was busy (a sign the offered rate is above what the server sustains).
    pub late: u64,
}

struct Shared {
    // The next request number (and, open loop, the next due slot).
    next: AtomicU64,
    // Set on the first failure: every connection stops.
    abort: AtomicBool,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    done: AtomicU64,
}

impl Shared {
    fn fail(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.abort.store(true, Ordering::Relaxed);
        // A poisoned lock only means another worker panicked mid-push; the samples are still
        // usable for the message.
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < ERROR_SAMPLES {
            samples.push(what);
        }
    }
}

#[derive(Default)]
struct WorkerResult {
    latencies: Vec<u32>,
    late: u64,
}

// The instants a run is measured against.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    measure_from: Instant,
    end: Option<Instant>,
}

/// Runs `cfg` to the end and returns what it measured, or why the run is not a result.
pub async fn run(cfg: LoadConfig) -> Result<Report, BenchError> {
    validate(&cfg)?;
    let mut senders = Vec::with_capacity(cfg.connections);
    let mut drivers: Vec<JoinHandle<()>> = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        let (sender, driver) = connect(cfg.target.addr).await?;
        senders.push(sender);
        drivers.push(driver);
    }

    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        errors: AtomicU64::new(0),
        samples: Mutex::new(Vec::new()),
        done: AtomicU64::new(0),
    });
    let start = Instant::now();
    let clock = match cfg.schedule {
        Schedule::Closed { warmup, duration }
        | Schedule::Open {
            warmup, duration, ..
        } => Clock {
            start,
            measure_from: start + warmup,
            end: Some(start + warmup + duration),
        },
        Schedule::Count { .. } => Clock {
            start,
            measure_from: start,
            end: None,
        },
    };
    let request = Arc::new(cfg.request.clone());
    let mut workers = Vec::with_capacity(senders.len());
    for sender in senders {
        workers.push(tokio::spawn(worker(
            sender,
            Arc::clone(&request),
            cfg.target.authority.clone(),
            cfg.schedule,
            clock,
            Arc::clone(&shared),
        )));
    }
    let progress = cfg.progress.map(|every| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start + every, every);
            loop {
                tick.tick().await;
                let done = shared.done.load(Ordering::Relaxed);
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "  ... {done} requests in {secs:.0} s ({:.0}/s)",
                    done as f64 / secs
                );
            }
        })
    });

    let mut latencies = Vec::new();
    let mut late = 0;
    for w in workers {
        match w.await {
            Ok(r) => {
                latencies.extend_from_slice(&r.latencies);
                late += r.late;
            }
            Err(e) => shared.fail(format!("a connection task ended abnormally: {e}")),
        }
    }
    let finished = Instant::now();
    if let Some(p) = progress {
        p.abort();
    }
    for d in drivers {
        d.abort();
    }

    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        let samples = shared
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        return Err(BenchError::RequestsFailed { errors, samples });
    }
    let elapsed = match (cfg.schedule, clock.end) {
        (Schedule::Count { .. }, _) | (_, None) => finished - clock.start,
        (_, Some(end)) => end - clock.measure_from,
    };
    let latency = Summary::from_latencies(&mut latencies);
    Ok(Report {
        requests: latency.count,
        completed: shared.done.load(Ordering::Relaxed),
        elapsed,
        rps: latency.count as f64 / elapsed.as_secs_f64().max(1e-9),
        latency,
        late,
    })
}

fn validate(cfg: &LoadConfig) -> Result<(), BenchError> {
    if cfg.connections == 0 {
        return Err(BenchError::InvalidConfig(
            "the number of connections must be at least 1".into(),
        ));
    }
    if cfg.request.expect_status.is_empty() {
        return Err(BenchError::InvalidConfig(
            "name at least one expected status (e.g. 200)".into(),
        ));
    }
    match cfg.schedule {
        Schedule::Closed { duration, .. } | Schedule::Open { duration, .. }
            if duration.is_zero() =>
        {
            Err(BenchError::InvalidConfig(
                "the measured duration must be longer than zero".into(),
            ))
        }
        Schedule::Open { rate, .. } if !(rate.is_finite() && rate > 0.0) => {
            Err(BenchError::InvalidConfig(format!(
                "the open-loop rate must be a positive number of requests per second, not {rate}"
            )))
        }
        Schedule::Count { total: 0 } => Err(BenchError::InvalidConfig(
            "the number of requests must be at least 1".into(),
        )),
        _ => Ok(()),
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<(Sender, JoinHandle<()>), BenchError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| BenchError::Connect { addr, source })?;
    // Small requests and answers: waiting for Nagle would add latency that is not the server's.
    stream
        .set_nodelay(true)
        .map_err(|source| BenchError::Connect { addr, source })?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| BenchError::Handshake { addr, source })?;
    // The connection's own errors surface through the sender (send_request fails), which the
    // worker counts; nothing to report here.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, driver))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn worker(
    mut sender: Sender,
    spec: Arc<RequestSpec>,
    authority: HeaderValue,
    schedule: Schedule,
    clock: Clock,
    shared: Arc<Shared>,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    let mut headers = spec.headers.clone();
    headers.insert(HOST, authority);
    loop {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        // `timed_from`: where this request's latency starts; `record`: whether it counts.
        let (timed_from, record, was_late) = match schedule {
            Schedule::Count { total } => {
                if n >= total {
                    break;
                }
                (Instant::now(), true, false)
            }
            Schedule::Closed { .. } => {
                let now = Instant::now();
                if clock.end.is_some_and(|end| now >= end) {
                    break;
                }
                (now, now >= clock.measure_from, false)
            }
            Schedule::Open { rate, .. } => {
                let due = clock.start + Duration::from_secs_f64(n as f64 / rate);
                if clock.end.is_some_and(|end| due >= end) {
                    break;
                }
                let free = Instant::now();
                if due > free {
                    tokio::time::sleep_until(due).await;
                    (Instant::now(), due >= clock.measure_from, false)
                } else {
                    (due, due >= clock.measure_from, true)
                }
            }
        };
        let path = spec.path.render(n);
        match exchange(&mut sender, &spec, &headers, &path).await {
            Ok(()) => {
                let finished = Instant::now();
                shared.done.fetch_add(1, Ordering::Relaxed);
                // Closed loop: an answer after the end is outside the measured interval.
                let in_window = match schedule {
                    Schedule::Closed { .. } => clock.end.is_none_or(|end| finished <= end),
                    _ => true,
                };
                if record && in_window {
                    out.latencies.push(micros(finished - timed_from));
                    if was_late {
                        out.late += 1;
                    }
                }
            }
            Err(what) => {
                shared.fail(format!("{} {path}: {what}", spec.method));
                break;
            }
        }
    }
    out
}

/// Sends one request and checks the answer; the error describes what was wrong.
async fn exchange(
    sender: &mut Sender,
    spec: &RequestSpec,
    headers: &HeaderMap,
    path: &str,
) -> Result<(), String> {
    let uri = Uri::try_from(path).map_err(|e| format!("invalid path: {e}"))?;
    let mut req = Request::new(Full::new(spec.body.clone()));
    *req.method_mut() = spec.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers.clone();
    sender
        .ready()
        .await
        .map_err(|e| format!("connection lost: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("connection lost: {e}"))?;
    let status = resp.status();
    // The whole body is read even on a bad status, both to describe it and because a
    // keep-alive connection is only reusable once its answer is consumed.
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("connection lost while reading the answer: {e}"))?
        .to_bytes();
    if !spec.expect_status.contains(&status) {
        return Err(format!(
            "unexpected status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if let Some(needle) = &spec.expect_body {
        if !contains(&body, needle) {
            return Err(format!(
                "status {status} but the answer does not contain the expected bytes: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_search() {
        assert!(contains(b"abcdef", b"cde"));
        assert!(contains(b"abc", b""));
        assert!(!contains(b"abc", b"abcd"));
        assert!(!contains(b"abcdef", b"ce"));
    }

    fn spec() -> RequestSpec {
        RequestSpec {
            method: Method::GET,
            path: PathTemplate::new("/x", None).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            expect_status: vec![StatusCode::OK],
            expect_body: None,
        }
    }

    fn cfg(schedule: Schedule, connections: usize) -> LoadConfig {
        LoadConfig {
            target: Target {
                addr: "127.0.0.1:1".parse().unwrap(),
                authority: HeaderValue::from_static("127.0.0.1:1"),
            },
            connections,
            schedule,
            request: spec(),
            progress: None,
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let d = Duration::from_secs(1);
        let bad = [
            cfg(
                Schedule::Closed {
                    warmup: d,
                    duration: d,
                },
                0,
            ),
            cfg(
                Schedule::Closed {
                    warmup: d,
                    duration: Duration::ZERO,
                },
                1,
            ),
            cfg(
                Schedule::Open {
                    rate: 0.0,
                    warmup: d,
                    duration: d,
                },
                1,
            ),
            cfg(
                Schedule::Open {
                    rate: f64::NAN,
                    warmup: d,
                    duration: d,
                },
                1,
            ),
            cfg(Schedule::Count { total: 0 }, 1),
        ];
        for c in bad {
            assert!(
                matches!(validate(&c), Err(BenchError::InvalidConfig(_))),
                "{:?} / {}",
                c.schedule,
                c.connections
            );
        }
        assert!(validate(&cfg(Schedule::Count { total: 1 }, 1)).is_ok());
    }

    #[tokio::test]
    async fn target_parsing() {
        let t = Target::from_url("http://127.0.0.1:8201").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8201".parse().unwrap());
        assert_eq!(t.authority, "127.0.0.1:8201");
        assert!(Target::from_url("https://127.0.0.1:8201").await.is_err());
        assert!(Target::from_url("127.0.0.1:8201").await.is_err());
    }
}
