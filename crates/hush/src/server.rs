//! `hush server`: the wiring. Reads the configuration, opens the storage, resolves the seal
//! keys, builds the engine and auth-method registries, and hands the core to `hush_http` to
//! serve; handles logging and signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use arc_swap::ArcSwap;
use hush_config::{KeySource, ListenerConfig, SealConfig, ServerConfig, StorageConfig};
use hush_core::{Core, CoreConfig};
use hush_crypto::seal::{parse_key_material, StaticSeal};
use hush_crypto::SecretKey;
use hush_storage::{Backend, MemoryBackend, SqliteBackend, SqliteOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What `hush server` was asked on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `--dev`: in-memory storage, initialized and unsealed at start.
    pub dev: bool,
    /// `--dev-root-token-id`: the root token to create in dev mode.
    pub dev_root_token_id: Option<String>,
    /// `--dev-listen-address`: where the dev server listens (default 127.0.0.1:8200).
    pub dev_listen_address: Option<String>,
    /// `--config FILE` (repeatable, merged in order).
    pub config_files: Vec<PathBuf>,
    /// `--data-dir` / `HUSH_DATA_DIR`: where the embedded SQLite file lives when no config names
    /// storage.
    pub data_dir: Option<PathBuf>,
    /// `--log-level`: overrides the config file's `log_level`.
    pub log_level: Option<String>,
}

/// The default listener address.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8200";

/// Where the embedded database lives when nothing else is configured: `$HUSH_DATA_DIR`, else
/// `$XDG_DATA_HOME/hush`, else `~/.local/share/hush`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("hush");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".local/share/hush");
    }
    PathBuf::from("hush-data")
}

/// Changes the log level of the running server (SIGHUP).
type LogReload =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// The filter for a log level name, or an error naming the accepted ones.
fn log_filter(level: &str) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    let level = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "err" => "error",
        other => bail!("unknown log level \"{other}\": use trace, debug, info, warn or error"),
    };
    // Dependencies stay at warn: their debug output is noise and could include request details.
    Ok(tracing_subscriber::EnvFilter::new(format!(
        "warn,hush={level},hush_core={level},hush_http={level},hush_storage={level}"
    )))
}

fn init_logging(level: &str) -> anyhow::Result<Option<LogReload>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(log_filter(level)?);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A subscriber set before (tests running several servers in one process) stays.
    Ok(tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .ok()
        .map(|()| handle))
}

/// Resolves a static seal key reference (`env://VAR`, `file:///path`, or the key itself).
fn resolve_key(reference: &str, what: &str) -> anyhow::Result<SecretKey> {
    let material: zeroize::Zeroizing<Vec<u8>> = match KeySource::parse(reference) {
        KeySource::Env(var) => {
            let v = std::env::var(var).map_err(|_| {
                anyhow!(
                    "seal \"static\": {what} names the environment variable {var}, which is not \
                     set"
                )
            })?;
            zeroize::Zeroizing::new(v.into_bytes())
        }
        KeySource::File(path) => {
            zeroize::Zeroizing::new(std::fs::read(path).with_context(|| {
                format!(
                    "seal \"static\": cannot read {what} from the file {}",
                    path.display()
                )
            })?)
        }
        KeySource::Literal(key) => zeroize::Zeroizing::new(key.as_bytes().to_vec()),
    };
    parse_key_material(&material).map_err(|e| anyhow!("seal \"static\": {what}: {e}"))
}

fn static_seal(cfg: &SealConfig) -> anyhow::Result<StaticSeal> {
    match cfg {
        SealConfig::Static {
            current_key_id,
            current_key,
            previous_key_id,
            previous_key,
        } => {
            let current = resolve_key(current_key, "current_key")?;
            let previous = match (previous_key_id, previous_key) {
                (Some(id), Some(k)) => Some((id.clone(), resolve_key(k, "previous_key")?)),
                (None, None) => None,
                _ => bail!(
                    "seal \"static\": previous_key_id and previous_key must be given together"
                ),
            };
            Ok(StaticSeal::new(current_key_id.clone(), current, previous))
        }
    }
}

async fn bind(
    l: &ListenerConfig,
) -> anyhow::Result<(TcpListener, Option<Arc<ArcSwap<rustls::ServerConfig>>>)> {
    let tls = if l.tls_disable {
        None
    } else {
        Some(Arc::new(ArcSwap::new(hush_http::tls::server_config(l)?)))
    };
    let listener = TcpListener::bind(&l.address).await.map_err(|e| {
        anyhow!(
            "cannot listen on {}: {e}. Is another server running there? Choose another address \
             with `listener \"tcp\" {{ address = \"...\" }}` (or --dev-listen-address in dev mode)",
            l.address
        )
    })?;
    Ok((listener, tls))
}

/// Opens the configured storage. With the process memory locked (`memory_locked`), SQLite reads
/// with `pread` instead of a memory map, whose locked pages would pin the whole file in RAM.
fn open_storage(
    cfg: &ServerConfig,
    opts: &ServerOptions,
    memory_locked: bool,
) -> anyhow::Result<(Arc<dyn Backend>, String)> {
    if opts.dev {
        return Ok((Arc::new(MemoryBackend::new()), "inmem".into()));
    }
    // Vault's `disable_cache` / `cache_size`: the cache holds entries as stored (encrypted).
    let cache = (!cfg.disable_cache).then(|| {
        cfg.cache_size
            .map_or(hush_storage::DEFAULT_CACHE_ENTRIES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            })
    });
    let options = SqliteOptions {
        cache_entries: cache,
        mmap: !memory_locked,
    };
    let path = match &cfg.storage {
        Some(StorageConfig::Inmem) => {
            return Ok((Arc::new(MemoryBackend::new()), "inmem".into()));
        }
        Some(StorageConfig::Sqlite { path }) => path.clone(),
        None => opts
            .data_dir
            .clone()
            .unwrap_or_else(default_data_dir)
            .join("hush.db"),
    };
    let b = SqliteBackend::open_with(&path, options)?;
    let reads = if memory_locked { "pread" } else { "mmap" };
    Ok((
        Arc::new(b),
        format!("sqlite ({}, {reads} reads)", path.display()),
    ))
}

fn address_url(l: &ListenerConfig) -> String {
    format!(
        "{}://{}",
        if l.tls_disable { "http" } else { "https" },
        l.address
    )
}

/// The secrets engines this binary can mount.
pub fn engines() -> hush_core::engine::Registry {
    let mut r = hush_core::engine::Registry::new();
    hush_engines::register(&mut r);
    r
}

/// The auth methods this binary can enable.
pub fn auth_methods() -> hush_core::engine::Registry {
    let mut r = hush_core::engine::Registry::new();
    hush_auth::register(&mut r);
    r
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cfg = if opts.config_files.is_empty() {
        ServerConfig::default()
    } else {
        ServerConfig::load_files(&opts.config_files)?
    };
    let level = opts
        .log_level
        .clone()
        .or_else(|| cfg.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let log_reload = init_logging(&level)?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let open_files = raise_open_file_limit();

    if opts.dev {
        let address = opts
            .dev_listen_address
            .clone()
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        cfg.listeners.insert(
            0,
            ListenerConfig {
                address,
                tls_disable: true,
                ..ListenerConfig::default()
            },
        );
    } else if cfg.listeners.is_empty() {
        cfg.listeners.push(ListenerConfig {
            address: DEFAULT_ADDRESS.to_string(),
            tls_disable: true,
            ..ListenerConfig::default()
        });
    }

    let mut memory_locked = false;
    if !cfg.disable_mlock && !opts.dev {
        match hush_http::lock_memory() {
            Ok(()) => memory_locked = true,
            Err(e) => tracing::warn!(
                error = %e,
                "could not lock memory (mlockall): secrets may be written to swap. Run with \
                 CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK, or set disable_mlock = true if swap is \
                 encrypted or disabled"
            ),
        }
    }

    let static_seal = cfg.seal.as_ref().map(static_seal).transpose()?;
    let (storage, storage_desc) = open_storage(&cfg, &opts, memory_locked)?;

    // Bind every listener before anything else so that a busy port fails fast.
    let mut bound = Vec::new();
    for l in &cfg.listeners {
        bound.push((bind(l).await?, address_url(l)));
    }

    let core_config = CoreConfig {
        static_seal,
        default_lease_ttl: cfg
            .default_lease_ttl
            .unwrap_or(Duration::from_secs(768 * 3600)),
        max_lease_ttl: cfg.max_lease_ttl.unwrap_or(Duration::from_secs(768 * 3600)),
        cluster_name: cfg.cluster_name.clone(),
        engines: engines(),
        auth_methods: auth_methods(),
        telemetry: telemetry(&cfg.telemetry),
        ..CoreConfig::default()
    };
    let core = Core::new(storage, core_config)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    core.spawn_maintenance();

    let dev_credentials = if opts.dev {
        Some(
            core.init_dev(opts.dev_root_token_id.as_deref())
                .await
                .map_err(|e| anyhow!("dev mode initialization failed: {e}"))?,
        )
    } else {
        None
    };

    let mut signals = Signals::install()?;
    let app = hush_http::api::router(core.clone());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut reloadable = Vec::new();
    let listeners = cfg.listeners.len();
    for (l, ((listener, tls), url)) in cfg.listeners.iter().zip(bound) {
        let limits = listener_limits(l, open_files, listeners);
        tracing::info!(
            address = %url,
            max_connections = limits.max_connections,
            "listening"
        );
        if let Some(tls) = &tls {
            reloadable.push((l.clone(), Arc::clone(tls)));
        }
        let opts = hush_http::ServeOptions {
            tls,
            limits,
            forwarded_for: l.forwarded_for.clone().map(Arc::new),
            unauthenticated_metrics: l.unauthenticated_metrics_access,
        };
        tasks.push(tokio::spawn(hush_http::serve_router(
            listener,
            opts,
            app.clone(),
            shutdown_rx.clone(),
        )));
    }
    let reload = Reload {
        config_files: opts.config_files.clone(),
        log_level_flag: opts.log_level.is_some(),
        log: log_reload,
        tls: reloadable,
        core: core.clone(),
    };
    tracing::info!(
        storage = %storage_desc,
        initialized = core.is_initialized(),
        sealed = core.is_sealed(),
        startup_ms = started.elapsed().as_millis() as u64,
        "hush server started"
    );
    if let Some((key, token)) = dev_credentials {
        print_dev_banner(&cfg.listeners[0], &key, &token);
    } else if !core.is_initialized() {
        tracing::info!("not initialized yet: run `hush init`");
    }

    wait_for_signal(&mut signals, &reload).await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = shutdown_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    core.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn print_dev_banner(l: &ListenerConfig, key: &str, token: &str) {
    let url = address_url(l);
    println!(
        "hush is running in dev mode: in memory, already unsealed, everything is lost when it \
         stops. Do not use it in production.\n\n\
         You may need to set these:\n\n    \
         export HUSH_ADDR='{url}'\n    export VAULT_ADDR='{url}'\n\n\
         Unseal Key: {key}\nRoot Token: {token}\n"
    );
}

/// Raises the soft limit on open files to the hard limit: every connection is a file, and the
/// common default soft limit (1024, or 256 on some systems) is reached by a few hundred idle
/// clients. Returns the limit in force.
fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
                Some(hard)
            }
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "could not raise the open-file limit");
                Some(soft)
            }
        },
        Ok((soft, _)) => {
            tracing::info!(limit = soft, "open-file limit");
            Some(soft)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-file limit");
            None
        }
    }
}

/// Descriptors kept out of the connection caps: storage, audit logs, TLS files, the health
/// headroom of each listener.
const RESERVED_FILES: u64 = 128;

/// The most connections a listener serves by default, however high the open-file limit.
const DEFAULT_MAX_CONNECTIONS: u64 = 65_536;

/// A listener's limits from its configuration; without `max_connections`, the open-file limit
/// (less what the server needs for itself and the health headroom) shared by the listeners.
fn listener_limits(
    l: &ListenerConfig,
    open_files: Option<u64>,
    listeners: usize,
) -> hush_http::Limits {
    let listeners = listeners.max(1) as u64;
    let derived = open_files.map_or(4096, |n| {
        let headroom = hush_http::serve::HEALTH_HEADROOM as u64 * listeners;
        (n.saturating_sub(RESERVED_FILES + headroom) / listeners).clamp(16, DEFAULT_MAX_CONNECTIONS)
    });
    let max = l.max_connections.unwrap_or(derived);
    hush_http::Limits {
        header_read_timeout: l.http_read_header_timeout,
        read_timeout: l.http_read_timeout,
        write_timeout: l.http_write_timeout,
        idle_timeout: l.http_idle_timeout,
        max_connections: usize::try_from(max).unwrap_or(usize::MAX),
    }
}

/// What SIGHUP reloads.
struct Reload {
    config_files: Vec<PathBuf>,
    /// `--log-level` was given: it wins over the file's `log_level`, also on reload.
    log_level_flag: bool,
    log: Option<LogReload>,
    tls: Vec<(ListenerConfig, Arc<ArcSwap<rustls::ServerConfig>>)>,
    core: Arc<Core>,
}

impl Reload {
    /// As Vault does on SIGHUP: reopen the audit logs (logrotate), load the TLS certificates
    /// again, and apply the configuration's `log_level`. What fails is logged and the old
    /// state stays; the server never stops for it.
    async fn run(&self) {
        tracing::info!(
            "SIGHUP received: reopening audit logs, reloading TLS certificates and the log level"
        );
        for e in self.core.reopen_audit_logs().await {
            tracing::error!(
                "reopening after SIGHUP failed: {e}; the device keeps its current file"
            );
        }
        for (l, current) in &self.tls {
            match hush_http::tls::server_config(l) {
                Ok(cfg) => {
                    current.store(cfg);
                    tracing::info!(address = %l.address, "TLS certificate reloaded");
                }
                Err(e) => tracing::error!(
                    address = %l.address,
                    "could not reload the TLS certificate, the old one stays in use: {e:#}"
                ),
            }
        }
        if self.log_level_flag || self.config_files.is_empty() {
            return;
        }
        let level = match ServerConfig::load_files(&self.config_files) {
            Ok(cfg) => cfg.log_level.unwrap_or_else(|| "info".into()),
            Err(e) => {
                tracing::error!("could not read the configuration again, the log level stays: {e}");
                return;
            }
        };
        match (log_filter(&level), &self.log) {
            (Ok(filter), Some(handle)) => match handle.reload(filter) {
                Ok(()) => tracing::info!(level = %level, "log level set"),
                Err(e) => tracing::error!("could not change the log level: {e}"),
            },
            (Err(e), _) => tracing::error!("log_level in the configuration: {e:#}"),
            (Ok(_), None) => {}
        }
    }
}

/// The signals the server handles, installed before it serves anything: until a handler is in
/// place, SIGHUP (and SIGTERM) would end the process at once instead of reloading (or shutting
/// down gracefully).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("could not install the {name} handler"))
        };
        Ok(Signals {
            term: install(SignalKind::terminate(), "SIGTERM")?,
            int: install(SignalKind::interrupt(), "SIGINT")?,
            hup: install(SignalKind::hangup(), "SIGHUP")?,
        })
    }
}

/// Waits for SIGTERM or SIGINT. SIGHUP, which stops a process by default, reloads (see
/// [`Reload::run`]) and the server keeps running.
async fn wait_for_signal(signals: &mut Signals, reload: &Reload) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => return,
            _ = signals.int.recv() => return,
            _ = signals.hup.recv() => reload.run().await,
        }
    }
}

/// The core's telemetry settings from the `telemetry` stanza. The host name is read once, as
/// Vault's metrics library does at start.
fn telemetry(t: &hush_config::TelemetryConfig) -> hush_core::metrics::TelemetryConfig {
    let host = (!t.disable_hostname || t.enable_hostname_label).then(hostname);
    hush_core::metrics::TelemetryConfig {
        prometheus_retention_time: t.prometheus_retention_time,
        usage_gauge_period: t.usage_gauge_period,
        naming: hush_core::metrics::Naming {
            hostname_in_gauges: host.clone().filter(|_| !t.disable_hostname),
            hostname_label: host.filter(|_| t.enable_hostname_label),
        },
    }
}

/// The machine's host name (the kernel's, else `$HOSTNAME`, else "localhost").
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `hush operator snapshot restore -config`: stages `snapshot` in the storage the configuration
/// names, for the server's next unseal. The storage's lock file makes this fail while a server
/// runs on it.
pub async fn restore_offline(
    config_files: &[std::path::PathBuf],
    snapshot: &[u8],
    force: bool,
) -> anyhow::Result<hush_core::snapshot::Header> {
    let cfg = ServerConfig::load_files(config_files)?;
    let path = match &cfg.storage {
        Some(StorageConfig::Sqlite { path }) => path.clone(),
        Some(StorageConfig::Inmem) => {
            anyhow::bail!(
                "the configuration's storage is in memory: there is nothing to restore into"
            )
        }
        None => default_data_dir().join("hush.db"),
    };
    let backend = SqliteBackend::open_with(
        &path,
        SqliteOptions {
            cache_entries: None,
            mmap: false,
        },
    )
    .map_err(|e| anyhow!("{e} (stop the server before an offline restore)"))?;
    hush_core::snapshot::stage(&backend, snapshot, force)
        .await
        .map_err(|e| anyhow!("{e}"))
}
