//! `hush-loadgen`: the load generator of scripts/bench.
//!
//! `hush-loadgen run` drives one load run and prints one `result ...` line of `key=value`
//! figures on stdout (a summary goes to stderr); `hush-loadgen cold-start` times server starts.
//! Both exit non-zero, with the reason, when the run is not a clean result.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hush_bench::coldstart::{self, ColdStartConfig};
use hush_bench::load::{self, LoadConfig, RequestSpec, Schedule, Target};
use hush_bench::PathTemplate;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};

#[derive(Parser)]
#[command(
    version,
    about = "HTTP load generator and cold-start timer for scripts/bench"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One load run over keep-alive HTTP/1.1 connections.
    Run(Box<RunArgs>),
    /// Start a server several times; time each start to the first 200 from sys/health.
    ColdStart(ColdStartArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// A name for the run, echoed in the result line.
    #[arg(long, default_value = "run")]
    label: String,
    /// The server's base URL (plain http).
    #[arg(long)]
    url: String,
    /// The request path; `{n}` becomes the request's number (modulo --key-space).
    #[arg(long)]
    path: String,
    /// How many distinct values `{n}` cycles through.
    #[arg(long)]
    key_space: Option<u64>,
    /// The HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// A header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// A file holding a Vault token, sent as X-Vault-Token (kept off the command line).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// A file whose content is the request body.
    #[arg(long, conflicts_with = "body")]
    body_file: Option<PathBuf>,
    /// The request body.
    #[arg(long)]
    body: Option<String>,
    /// A status that counts as success (repeatable; default 200).
    #[arg(long = "expect")]
    expect: Vec<u16>,
    /// A successful answer's body must contain this text.
    #[arg(long)]
    expect_body: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Runtime worker threads of the load generator (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds of unrecorded warm-up.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds recorded.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Open loop: this many requests per second in total (default: closed loop).
    #[arg(long, conflicts_with = "requests")]
    rate: Option<f64>,
    /// Exactly this many requests, closed loop, all recorded (ignores warm-up and duration).
    #[arg(long)]
    requests: Option<u64>,
    /// Print progress to stderr every this many seconds.
    #[arg(long)]
    progress: Option<f64>,
}

#[derive(clap::Args)]
struct ColdStartArgs {
    /// Where the started server answers (plain http base URL).
    #[arg(long)]
    health_url: String,
    /// How many starts to time.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Milliseconds between two health probes.
    #[arg(long, default_value_t = 1)]
    poll_ms: u64,
    /// Seconds a start may take.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Append the server's output to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The server command line, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Cmd::Run(args) => run(*args),
        Cmd::ColdStart(args) => cold_start(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hush-loadgen: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(what: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("--{what} must be a non-negative number of seconds, not {s}"))
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("could not start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    let method = Method::from_bytes(args.method.as_bytes())
        .with_context(|| format!("--method {:?} is not an HTTP method", args.method))?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?} must look like \"Name: value\""))?;
        headers.insert(
            HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("--header {h:?}: invalid header name"))?,
            HeaderValue::from_str(value.trim())
                .with_context(|| format!("--header {h:?}: invalid header value"))?,
        );
    }
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let mut value = HeaderValue::from_str(token.trim()).with_context(|| {
            format!(
                "the token in {} is not a valid header value",
                path.display()
            )
        })?;
        value.set_sensitive(true);
        headers.insert("x-vault-token", value);
    }
    let body = match (&args.body_file, &args.body) {
        (Some(p), _) => Bytes::from(
            std::fs::read(p)
                .with_context(|| format!("cannot read the body file {}", p.display()))?,
        ),
        (None, Some(b)) => Bytes::from(b.clone()),
        (None, None) => Bytes::new(),
    };
    if !body.is_empty() && !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    let expect_status = if args.expect.is_empty() {
        vec![StatusCode::OK]
    } else {
        args.expect
            .iter()
            .map(|&s| {
                StatusCode::from_u16(s).with_context(|| format!("--expect {s} is not a status"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let warmup = seconds("warmup", args.warmup)?;
    let duration = seconds("duration", args.duration)?;
    let schedule = match (args.requests, args.rate) {
        (Some(total), _) => Schedule::Count { total },
        (None, Some(rate)) => Schedule::Open {
            rate,
            warmup,
            duration,
        },
        (None, None) => Schedule::Closed { warmup, duration },
    };
    let progress = args.progress.map(|s| seconds("progress", s)).transpose()?;
    if progress.is_some_and(|p| p.is_zero()) {
        bail!("--progress must be more than 0 seconds");
    }
    let cfg = LoadConfig {
        target: Target::from_url(&args.url).await?,
        connections: args.connections,
        schedule,
        request: RequestSpec {
            method,
            path: PathTemplate::new(&args.path, args.key_space)?,
            headers,
            body,
            expect_status,
            expect_body: args.expect_body.map(Bytes::from),
        },
        progress,
    };
    let report = load::run(cfg).await?;
    let l = &report.latency;
    let mode = match schedule {
        Schedule::Closed { .. } => "closed".to_owned(),
        Schedule::Open { rate, .. } => format!("open@{rate:.0}/s"),
        Schedule::Count { .. } => "count".to_owned(),
    };
    eprintln!(
        "{}: {} requests in {:.2} s = {:.0}/s ({mode}, {} connections); latency p50 {} us, \
         p90 {} us, p99 {} us, p99.9 {} us, max {} us{}",
        args.label,
        report.requests,
        report.elapsed.as_secs_f64(),
        report.rps,
        args.connections,
        l.p50_us,
        l.p90_us,
        l.p99_us,
        l.p999_us,
        l.max_us,
        if report.late > 0 {
            format!(
                "; {} requests found every connection busy when due",
                report.late
            )
        } else {
            String::new()
        }
    );
    println!(
        "result label={} mode={mode} connections={} requests={} elapsed_s={:.3} rps={:.0} \
         p50_us={} p90_us={} p99_us={} p999_us={} max_us={} mean_us={} late={} completed={}",
        args.label,
        args.connections,
        report.requests,
        report.elapsed.as_secs_f64(),
        report.rps,
        l.p50_us,
        l.p90_us,
        l.p99_us,
        l.p999_us,
        l.max_us,
        l.mean_us,
        report.late,
        report.completed
    );
    Ok(())
}

fn cold_start(args: ColdStartArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let target = runtime.block_on(Target::from_url(&args.health_url))?;
    let cfg = ColdStartConfig {
        command: args.command,
        health_addr: target.addr,
        runs: args.runs,
        poll: Duration::from_millis(args.poll_ms),
        timeout: Duration::from_secs(args.timeout),
        log: args.log,
    };
    let times = coldstart::measure(&cfg)?;
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64() * 1000.0))
        .collect();
    let median = coldstart::median(&times);
    eprintln!(
        "cold start: median {:.1} ms over {} runs ({} ms)",
        median.as_secs_f64() * 1000.0,
        times.len(),
        ms.join(", ")
    );
    println!(
        "cold_start runs={} median_ms={:.1} runs_ms={}",
        times.len(),
        median.as_secs_f64() * 1000.0,
        ms.join(",")
    );
    Ok(())
}
