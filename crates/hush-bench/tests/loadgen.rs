//! The load generator against real servers on hush's HTTP stack, in process.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use hush_bench::load::{self, LoadConfig, RequestSpec, Schedule, Target};
use hush_bench::{baseline, BenchError, PathTemplate};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Method;
use tokio::sync::watch;

async fn serve(router: axum::Router) -> (SocketAddr, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(hush_http::serve_router(
        listener,
        hush_http::ServeOptions::default(),
        router,
        rx,
    ));
    (addr, tx)
}

fn config(addr: SocketAddr, path: &str, key_space: Option<u64>, schedule: Schedule) -> LoadConfig {
    LoadConfig {
        target: Target {
            addr,
            authority: HeaderValue::from_str(&addr.to_string()).unwrap(),
        },
        connections: 4,
        schedule,
        request: RequestSpec {
            method: Method::GET,
            path: PathTemplate::new(path, key_space).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            expect_status: vec![StatusCode::OK],
            expect_body: None,
        },
        progress: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_against_the_baseline() {
    let (addr, _stop) = serve(baseline::router()).await;
    let mut cfg = config(
        addr,
        baseline::PATH,
        None,
        Schedule::Closed {
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
        },
    );
    cfg.request.expect_body = Some(Bytes::from_static(b"\"value\":\"baseline-"));
    let r = load::run(cfg).await.unwrap();
    assert!(r.requests > 50, "only {} requests", r.requests);
    assert_eq!(r.elapsed, Duration::from_millis(400));
    assert!((r.rps - r.requests as f64 / 0.4).abs() < 1.0);
    assert!(r.latency.p50_us > 0 && r.latency.p50_us <= r.latency.p99_us);
    assert!(r.latency.p99_us <= r.latency.max_us);
    assert_eq!(r.late, 0);
    // Warm-up requests are answered but not recorded.
    assert!(r.completed > r.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_the_rate() {
    let (addr, _stop) = serve(baseline::router()).await;
    let r = load::run(config(
        addr,
        baseline::PATH,
        None,
        Schedule::Open {
            rate: 500.0,
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs(1),
        },
    ))
    .await
    .unwrap();
    // Exactly the requests due within the measured second are recorded.
    assert!((495..=505).contains(&r.requests), "{} requests", r.requests);
    assert!(r.latency.p50_us < 50_000, "p50 {} us", r.latency.p50_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_charges_queueing_to_the_server() {
    // One connection, a server that takes 20 ms per answer, 100 requests/s offered: requests
    // pile up, and their latency must include the time they waited to be sent.
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            "ok"
        }),
    );
    let (addr, _stop) = serve(slow).await;
    let mut cfg = config(
        addr,
        "/slow",
        None,
        Schedule::Open {
            rate: 100.0,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(500),
        },
    );
    cfg.connections = 1;
    let r = load::run(cfg).await.unwrap();
    assert!(r.late > 0);
    // 50 requests due over 0.5 s, ~25 answered in that time: the last ones waited ~0.5 s.
    assert!(r.latency.max_us > 300_000, "max {} us", r.latency.max_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_mode_sends_each_number_once() {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let router = axum::Router::new()
        .route(
            "/k/{n}",
            axum::routing::get(
                |State(seen): State<Arc<Mutex<Vec<u64>>>>, Path(n): Path<u64>| async move {
                    seen.lock().unwrap().push(n);
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let (addr, _stop) = serve(router).await;
    let r = load::run(config(
        addr,
        "/k/{n}",
        None,
        Schedule::Count { total: 1000 },
    ))
    .await
    .unwrap();
    assert_eq!(r.requests, 1000);
    assert_eq!(r.completed, 1000);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1000);
    assert_eq!(
        seen.iter().copied().collect::<HashSet<_>>(),
        (0..1000).collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_status_fails_the_run() {
    let calls = Arc::new(AtomicU64::new(0));
    let router = axum::Router::new()
        .route(
            "/flaky",
            axum::routing::get(|State(calls): State<Arc<AtomicU64>>| async move {
                if calls.fetch_add(1, Ordering::Relaxed) == 50 {
                    (StatusCode::INTERNAL_SERVER_ERROR, "storage is on fire")
                } else {
                    (StatusCode::OK, "ok")
                }
            }),
        )
        .with_state(calls);
    let (addr, _stop) = serve(router).await;
    let err = load::run(config(addr, "/flaky", None, Schedule::Count { total: 500 }))
        .await
        .unwrap_err();
    match err {
        BenchError::RequestsFailed { errors, samples } => {
            assert_eq!(errors, 1);
            assert!(samples[0].contains("500"), "{samples:?}");
            assert!(samples[0].contains("storage is on fire"), "{samples:?}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_body_fails_the_run() {
    let (addr, _stop) = serve(baseline::router()).await;
    let mut cfg = config(addr, baseline::PATH, None, Schedule::Count { total: 10 });
    cfg.request.expect_body = Some(Bytes::from_static(b"not in there"));
    let err = load::run(cfg).await.unwrap_err();
    assert!(
        matches!(&err, BenchError::RequestsFailed { samples, .. }
            if samples[0].contains("does not contain")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_fails_the_run() {
    // A server that answers the first request of each connection, then hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                let _ = s.read(&mut buf).await;
                // Dropping the socket mid-exchange: the client's second request is lost.
            });
        }
    });
    let err = load::run(config(addr, "/x", None, Schedule::Count { total: 100 }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BenchError::RequestsFailed { samples, .. }
            if samples[0].contains("connection lost")),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = load::run(config(addr, "/x", None, Schedule::Count { total: 1 }))
        .await
        .unwrap_err();
    assert!(matches!(err, BenchError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("is the server running"));
}
