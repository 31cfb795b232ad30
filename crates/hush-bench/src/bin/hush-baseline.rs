//! `hush-baseline`: serves the benchmark's limit endpoint (`GET /v1/bench/baseline`, a fixed
//! ~200-byte JSON body) through hush's own HTTP stack until SIGTERM or SIGINT.

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;

// The same allocator as `hush server`, so L and R differ only by what hush does per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve the bare-stack baseline endpoint for scripts/bench.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to listen (plain HTTP, like a hush listener with tls_disable = true).
    #[arg(long, default_value = "127.0.0.1:8300")]
    address: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same runtime as `hush server`: tokio's default multi-thread runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = tokio::net::TcpListener::bind(&args.address)
        .await
        .with_context(|| format!("cannot listen on {} (is the port in use?)", args.address))?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = tokio::spawn(hush_http::serve_router(
        listener,
        hush_http::ServeOptions::default(),
        hush_bench::baseline::router(),
        shutdown_rx,
    ));
    println!(
        "hush-baseline listening on http://{}{}",
        args.address,
        hush_bench::baseline::PATH
    );
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    // The receiver lives in the server task; if it has ended already there is nobody to tell.
    let _ = shutdown_tx.send(true);
    server.await.context("the server task failed")?;
    Ok(())
}
