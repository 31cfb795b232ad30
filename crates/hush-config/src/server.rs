//! The `hush server` configuration, in Vault's HCL or JSON format.
//!
//! Existing Vault configs should load unchanged where hush has the feature, and fail with a
//! message that says exactly what to change where it does not. Both formats are lowered into one
//! tree by `raw.rs`; this module interprets that tree, validates it, and merges several files.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::cidr::Cidr;
use crate::duration::parse_duration_value;
use crate::raw::{self, Raw};
use crate::ConfigError;

/// Top-level keys hush understands.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "storage",
    "backend",
    "listener",
    "seal",
    "disable_mlock",
    "disable_cache",
    "cache_size",
    "default_lease_ttl",
    "max_lease_ttl",
    "api_addr",
    "cluster_name",
    "ui",
    "log_level",
    "telemetry",
];

/// Keys hush understands inside `telemetry { ... }`.
pub const TELEMETRY_KEYS: &[&str] = &[
    "prometheus_retention_time",
    "disable_hostname",
    "enable_hostname_label",
    "usage_gauge_period",
];

/// Vault `telemetry` keys that are accepted but have no effect: hush serves its metrics at
/// `sys/metrics` only and sends them nowhere.
pub const IGNORED_TELEMETRY_KEYS: &[&str] = &[
    "statsite_address",
    "statsd_address",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "circonus_api_token",
    "circonus_api_app",
    "circonus_api_url",
    "circonus_submission_interval",
    "circonus_submission_url",
    "circonus_check_id",
    "circonus_check_force_metric_activation",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_display_name",
    "circonus_check_tags",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "stackdriver_project_id",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_debug_logs",
    "maximum_gauge_cardinality",
    "lease_metrics_epsilon",
    "num_lease_metrics_buckets",
    "add_lease_metrics_namespace_labels",
    "add_mount_point_rollback_metrics",
    "filter_default",
    "prefix_filter",
    "metrics_prefix",
];

/// Keys inside a listener's `telemetry { ... }`.
pub const LISTENER_TELEMETRY_KEYS: &[&str] = &["unauthenticated_metrics_access"];

/// Top-level Vault keys that are accepted so existing configs load, but have no effect in hush.
/// Each occurrence adds an entry to [`ServerConfig::warnings`].
pub const IGNORED_TOP_LEVEL_KEYS: &[&str] = &[
    "cluster_addr",
    "disable_clustering",
    "log_file",
    "log_format",
    "pid_file",
    "plugin_directory",
    "raw_storage_endpoint",
];

/// Keys hush understands inside `listener "tcp" { ... }`.
pub const LISTENER_KEYS: &[&str] = &[
    "address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "tls_require_and_verify_client_cert",
    "tls_min_version",
    "tls_max_version",
    "http_read_header_timeout",
    "http_read_timeout",
    "http_write_timeout",
    "http_idle_timeout",
    "max_connections",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
    "telemetry",
];

/// Vault listener keys that are accepted but have no effect in hush (hush has no cluster port,
/// and does not trust PROXY protocol headers).
pub const IGNORED_LISTENER_KEYS: &[&str] = &[
    "cluster_address",
    "proxy_protocol_authorized_addrs",
    "proxy_protocol_behavior",
];

/// Storage types hush implements.
pub const STORAGE_TYPES: &[&str] = &["sqlite", "inmem"];

/// Listener types hush implements.
pub const LISTENER_TYPES: &[&str] = &["tcp"];

/// Seal types hush accepts. `shamir` is the default (no stanza needed) and may be written
/// explicitly; it has no settings.
pub const SEAL_TYPES: &[&str] = &["static", "shamir"];

/// Keys inside `seal "static" { ... }`.
pub const STATIC_SEAL_KEYS: &[&str] = &[
    "current_key_id",
    "current_key",
    "previous_key_id",
    "previous_key",
];

/// The listener address used when a `listener "tcp"` stanza has no `address`, as in Vault.
pub const DEFAULT_LISTENER_ADDRESS: &str = "127.0.0.1:8200";

/// Top-level stanzas written `NAME "TYPE" { ... }`.
const LABELED_STANZAS: &[&str] = &["storage", "backend", "listener", "seal"];

const TOP_LEVEL: &str = "the top level";

/// A complete server configuration, from one file or several merged together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// `storage "TYPE" { ... }` (or its Vault alias `backend`). `None`: the server's default.
    pub storage: Option<StorageConfig>,
    /// Every `listener "tcp" { ... }`, in file order.
    pub listeners: Vec<ListenerConfig>,
    /// `seal "static" { ... }`. `None`: Shamir key shares, the default (also what an explicit
    /// `seal "shamir" {}` means).
    pub seal: Option<SealConfig>,
    /// `disable_mlock`: do not lock memory pages holding key material.
    pub disable_mlock: bool,
    /// `disable_cache`: do not keep recently read storage entries (still encrypted) in memory.
    pub disable_cache: bool,
    /// `cache_size`: how many storage entries the read cache holds (Vault's default, 131072,
    /// when unset).
    pub cache_size: Option<u64>,
    /// `default_lease_ttl`: TTL given to tokens and leases that ask for none.
    pub default_lease_ttl: Option<Duration>,
    /// `max_lease_ttl`: upper bound for any TTL.
    pub max_lease_ttl: Option<Duration>,
    /// `api_addr`: the URL clients should use to reach this server.
    pub api_addr: Option<String>,
    /// `cluster_name`: a human-readable name reported by the status endpoints.
    pub cluster_name: Option<String>,
    /// `ui`: serve the web UI.
    pub ui: bool,
    /// `log_level`, normalised to one of `trace`, `debug`, `info`, `warn`, `error`
    /// (Vault's aliases `warning` and `err` are accepted and mapped).
    pub log_level: Option<String>,
    /// `telemetry { ... }`: how `sys/metrics` renders.
    pub telemetry: TelemetryConfig,
    /// Things the operator should know but that do not stop the server: keys accepted for Vault
    /// compatibility that have no effect, settings that are ignored, risky choices. Never contains
    /// key material.
    pub warnings: Vec<String>,
}

/// Where the server keeps its (encrypted) data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// `storage "sqlite" { path = "..." }`: one SQLite database file.
    Sqlite {
        /// The database file, as written (relative paths are relative to the working directory).
        path: PathBuf,
    },
    /// `storage "inmem" {}`: memory only; everything is lost when the server stops.
    Inmem,
}

/// A TLS protocol version for `tls_min_version` / `tls_max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (`"tls12"`).
    Tls12,
    /// TLS 1.3 (`"tls13"`).
    Tls13,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "tls12",
            TlsVersion::Tls13 => "tls13",
        })
    }
}

/// One `listener "tcp" { ... }` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// `address`: `HOST:PORT`, `IPv4:PORT` or `[IPv6]:PORT`; defaults to
    /// [`DEFAULT_LISTENER_ADDRESS`].
    pub address: String,
    /// `tls_disable`: serve plain HTTP. TLS is on unless this is true.
    pub tls_disable: bool,
    /// `tls_cert_file`: PEM certificate chain (required when TLS is on).
    pub tls_cert_file: Option<PathBuf>,
    /// `tls_key_file`: PEM private key (required when TLS is on).
    pub tls_key_file: Option<PathBuf>,
    /// `tls_client_ca_file`: PEM CA bundle used to verify client certificates.
    pub tls_client_ca_file: Option<PathBuf>,
    /// `tls_require_and_verify_client_cert`: reject clients without a certificate signed by
    /// `tls_client_ca_file`.
    pub tls_require_and_verify_client_cert: bool,
    /// `tls_min_version`: lowest TLS version to accept (`None`: TLS 1.2).
    pub tls_min_version: Option<TlsVersion>,
    /// `tls_max_version`: highest TLS version to accept (`None`: TLS 1.3).
    pub tls_max_version: Option<TlsVersion>,
    /// `http_read_header_timeout` (Vault's name and default, 10 s): how long a client may take
    /// to send a request's headers, and to send anything at all after connecting. Zero
    /// disables it.
    pub http_read_header_timeout: Duration,
    /// `http_read_timeout` (Vault's default, 30 s): how long reading a request's body may take.
    /// Zero disables it.
    pub http_read_timeout: Duration,
    /// `http_write_timeout` (Vault's default, 0: none): how long writing to a client may stall
    /// (a client that stops reading its response).
    pub http_write_timeout: Duration,
    /// `http_idle_timeout` (Vault's default, 5 min): how long a connection may stay silent.
    /// Zero disables it.
    pub http_idle_timeout: Duration,
    /// `max_connections` (hush's own): connections this listener serves at once; a few more
    /// are accepted for health checks only. `None`: derived from the open-file limit.
    pub max_connections: Option<u64>,
    /// `x_forwarded_for_*`: trust the client address a proxy puts in `X-Forwarded-For`
    /// (`None`: the header is ignored, as Vault does without `..._authorized_addrs`).
    pub forwarded_for: Option<ForwardedFor>,
    /// `telemetry { unauthenticated_metrics_access = true }`: serve `sys/metrics` on this
    /// listener without a token (for a Prometheus scraper), as Vault does.
    pub unauthenticated_metrics_access: bool,
}

/// Vault's `telemetry` stanza, as far as it shapes what `sys/metrics` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `prometheus_retention_time` (24 h): zero turns `?format=prometheus` off.
    pub prometheus_retention_time: Duration,
    /// `disable_hostname` (false): leave the host name out of gauge names. Vault puts it in
    /// (`vault.<host>.core.unsealed`) unless this is set, which most setups do.
    pub disable_hostname: bool,
    /// `enable_hostname_label` (false): a `host` label on every metric instead.
    pub enable_hostname_label: bool,
    /// `usage_gauge_period` (10 min): how often the gauges that count stored objects are
    /// recomputed.
    pub usage_gauge_period: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            prometheus_retention_time: Duration::from_secs(24 * 3600),
            disable_hostname: false,
            enable_hostname_label: false,
            usage_gauge_period: Duration::from_secs(600),
        }
    }
}

/// Vault's `x_forwarded_for_*` listener keys: which proxies may name the client address, and
/// what happens to requests that do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedFor {
    /// `x_forwarded_for_authorized_addrs`: the proxies' addresses (CIDR blocks).
    pub authorized_addrs: Vec<Cidr>,
    /// `x_forwarded_for_hop_skips` (0): how many addresses to skip from the end of the list
    /// (proxies of one's own that append their peer).
    pub hop_skips: u64,
    /// `x_forwarded_for_reject_not_authorized` (true): refuse a request with the header from an
    /// address not in `authorized_addrs` (false: ignore the header).
    pub reject_not_authorized: bool,
    /// `x_forwarded_for_reject_not_present` (true): refuse a request without the header (false:
    /// use the connection's address).
    pub reject_not_present: bool,
}

/// Vault's default `http_read_header_timeout`.
pub const DEFAULT_HTTP_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Vault's default `http_read_timeout`.
pub const DEFAULT_HTTP_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Vault's default `http_idle_timeout`.
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for ListenerConfig {
    /// A listener as Vault would configure an empty `listener "tcp" {}`: the default address
    /// with TLS on (and therefore still needing certificate files to be valid).
    fn default() -> Self {
        ListenerConfig {
            address: DEFAULT_LISTENER_ADDRESS.to_string(),
            tls_disable: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_require_and_verify_client_cert: false,
            tls_min_version: None,
            tls_max_version: None,
            http_read_header_timeout: DEFAULT_HTTP_READ_HEADER_TIMEOUT,
            http_read_timeout: DEFAULT_HTTP_READ_TIMEOUT,
            http_write_timeout: Duration::ZERO,
            http_idle_timeout: DEFAULT_HTTP_IDLE_TIMEOUT,
            max_connections: None,
            forwarded_for: None,
            unauthenticated_metrics_access: false,
        }
    }
}

/// How the barrier key is protected when no Shamir shares are used.
///
/// Key values are kept exactly as written: `env://VAR`, `file:///path`, or the key itself in hex
/// or base64. The server resolves them (see [`KeySource`]). `Debug` shows `env://` and `file://`
/// references but redacts literal keys; equality is constant-time on the keys; the strings are
/// zeroized on drop. Because of that `Drop`, match on a reference (`if let Some(SealConfig::Static
/// { current_key, .. }) = &config.seal`) rather than moving fields out.
#[derive(Clone)]
pub enum SealConfig {
    /// `seal "static" { ... }`: a key provided by the operator.
    Static {
        /// `current_key_id`: identifies the key; recorded with what it protects.
        current_key_id: String,
        /// `current_key`: `env://VAR`, `file:///path`, or the key itself (hex or base64).
        current_key: String,
        /// `previous_key_id`: the key being rotated away from, if any.
        previous_key_id: Option<String>,
        /// `previous_key`: the previous key, in the same forms as `current_key`.
        previous_key: Option<String>,
    },
}

impl fmt::Debug for SealConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealConfig::Static {
                current_key_id,
                current_key,
                previous_key_id,
                previous_key,
            } => f
                .debug_struct("Static")
                .field("current_key_id", current_key_id)
                .field("current_key", &KeySource::parse(current_key))
                .field("previous_key_id", previous_key_id)
                .field(
                    "previous_key",
                    &previous_key.as_deref().map(KeySource::parse),
                )
                .finish(),
        }
    }
}

impl PartialEq for SealConfig {
    fn eq(&self, other: &Self) -> bool {
        let (
            SealConfig::Static {
                current_key_id: a_id,
                current_key: a_key,
                previous_key_id: a_prev_id,
                previous_key: a_prev,
            },
            SealConfig::Static {
                current_key_id: b_id,
                current_key: b_key,
                previous_key_id: b_prev_id,
                previous_key: b_prev,
            },
        ) = (self, other);
        let keys_equal = bool::from(a_key.as_bytes().ct_eq(b_key.as_bytes()))
            & match (a_prev, b_prev) {
                (Some(a), Some(b)) => bool::from(a.as_bytes().ct_eq(b.as_bytes())),
                (None, None) => true,
                _ => false,
            };
        keys_equal && a_id == b_id && a_prev_id == b_prev_id
    }
}

impl Eq for SealConfig {}

impl Drop for SealConfig {
    fn drop(&mut self) {
        match self {
            SealConfig::Static {
                current_key,
                previous_key,
                ..
            } => {
                current_key.zeroize();
                if let Some(previous) = previous_key {
                    previous.zeroize();
                }
            }
        }
    }
}

/// Where a seal key value points, as written in the configuration.
///
/// `Debug` redacts [`KeySource::Literal`]; there is deliberately no `Display`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeySource<'a> {
    /// `env://VAR`: read the key from environment variable `VAR`.
    Env(&'a str),
    /// `file:///path`: read the key from a file.
    File(&'a Path),
    /// The key itself, hex or base64.
    Literal(&'a str),
}

impl<'a> KeySource<'a> {
    /// Classifies a seal key value. The prefixes are case-sensitive, as Vault's are; anything
    /// else is treated as the key itself.
    pub fn parse(value: &'a str) -> KeySource<'a> {
        if let Some(var) = value.strip_prefix("env://") {
            KeySource::Env(var)
        } else if let Some(path) = value.strip_prefix("file://") {
            KeySource::File(Path::new(path))
        } else {
            KeySource::Literal(value)
        }
    }
}

impl fmt::Debug for KeySource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(var) => write!(f, "\"env://{var}\""),
            KeySource::File(path) => write!(f, "\"file://{}\"", path.display()),
            KeySource::Literal(_) => f.write_str("<redacted>"),
        }
    }
}

impl ServerConfig {
    /// Parses one configuration document. `source_name` is used in error messages and to pick
    /// the format: a name ending in `.json` is JSON; otherwise a document whose first
    /// non-whitespace character is `{` is JSON, anything else HCL.
    ///
    /// # Errors
    ///
    /// Syntax errors (with line and column), unknown keys, unsupported stanza types, invalid or
    /// missing values, and contradictory settings; each names `source_name`, the stanza and key.
    pub fn from_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let mut merger = Merger::default();
        merger.add(parse_document(text, source_name)?, source_name);
        merger.finish()
    }

    /// Loads and merges configuration files in order. Later files override scalar settings and
    /// replace `storage` and `seal`; listeners accumulate. A directory stands for its `.hcl` and
    /// `.json` files in name order, as Vault's `-config=DIR` does.
    ///
    /// # Errors
    ///
    /// No paths, unreadable files, an empty directory, and everything [`ServerConfig::from_str`]
    /// reports; also conflicts between files (two listeners on one address, a default lease TTL
    /// longer than the maximum).
    pub fn load_files(paths: &[PathBuf]) -> Result<Self, ConfigError> {
        if paths.is_empty() {
            return Err(ConfigError::NoFiles);
        }
        let mut merger = Merger::default();
        for path in paths {
            for file in expand(path)? {
                let bytes =
                    Zeroizing::new(std::fs::read(&file).map_err(|source| ConfigError::Io {
                        path: file.clone(),
                        source,
                    })?);
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| ConfigError::NotUtf8 { path: file.clone() })?;
                let name = file.display().to_string();
                merger.add(parse_document(text, &name)?, &name);
            }
        }
        merger.finish()
    }
}

/// Turns a path into the files it stands for.
fn expand(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        let wanted = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("hcl") || e.eq_ignore_ascii_case("json"));
        if wanted && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(ConfigError::EmptyDirectory {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// What one file says; `None` means "not mentioned", so merging can tell absence from a value.
#[derive(Default)]
struct FileConfig {
    storage: Option<StorageConfig>,
    listeners: Vec<ListenerConfig>,
    /// `Some(None)` is an explicit `seal "shamir"`, which replaces an earlier static seal.
    seal: Option<Option<SealConfig>>,
    disable_mlock: Option<bool>,
    disable_cache: Option<bool>,
    cache_size: Option<u64>,
    default_lease_ttl: Option<Duration>,
    max_lease_ttl: Option<Duration>,
    api_addr: Option<String>,
    cluster_name: Option<String>,
    ui: Option<bool>,
    log_level: Option<String>,
    telemetry: Option<TelemetryConfig>,
    warnings: Vec<String>,
}

/// Accumulates files and remembers which file set what, for cross-file error messages.
#[derive(Default)]
struct Merger {
    config: ServerConfig,
    listener_files: Vec<String>,
    default_ttl_file: String,
    max_ttl_file: String,
}

impl Merger {
    fn add(&mut self, file_config: FileConfig, file: &str) {
        let FileConfig {
            storage,
            listeners,
            seal,
            disable_mlock,
            disable_cache,
            cache_size,
            default_lease_ttl,
            max_lease_ttl,
            api_addr,
            cluster_name,
            ui,
            log_level,
            telemetry,
            warnings,
        } = file_config;
        let c = &mut self.config;
        if storage.is_some() {
            c.storage = storage;
        }
        for listener in listeners {
            c.listeners.push(listener);
            self.listener_files.push(file.to_string());
        }
        if let Some(seal) = seal {
            c.seal = seal;
        }
        if let Some(v) = disable_mlock {
            c.disable_mlock = v;
        }
        if let Some(v) = disable_cache {
            c.disable_cache = v;
        }
        if cache_size.is_some() {
            c.cache_size = cache_size;
        }
        if let Some(v) = default_lease_ttl {
            c.default_lease_ttl = Some(v);
            self.default_ttl_file = file.to_string();
        }
        if let Some(v) = max_lease_ttl {
            c.max_lease_ttl = Some(v);
            self.max_ttl_file = file.to_string();
        }
        if api_addr.is_some() {
            c.api_addr = api_addr;
        }
        if cluster_name.is_some() {
            c.cluster_name = cluster_name;
        }
        if let Some(v) = ui {
            c.ui = v;
        }
        if log_level.is_some() {
            c.log_level = log_level;
        }
        if let Some(t) = telemetry {
            c.telemetry = t;
        }
        c.warnings.extend(warnings);
    }

    fn finish(self) -> Result<ServerConfig, ConfigError> {
        let c = &self.config;
        for (i, a) in c.listeners.iter().enumerate() {
            for (j, b) in c.listeners.iter().enumerate().skip(i + 1) {
                if a.address == b.address {
                    return Err(ConfigError::Conflict {
                        reason: format!(
                            "two listeners use address {} (files {} and {}); give each listener \
                             its own address",
                            a.address, self.listener_files[i], self.listener_files[j]
                        ),
                    });
                }
            }
        }
        if let (Some(default), Some(max)) = (c.default_lease_ttl, c.max_lease_ttl) {
            if default > max {
                return Err(ConfigError::Conflict {
                    reason: format!(
                        "default_lease_ttl ({}, file {}) is longer than max_lease_ttl ({}, file \
                         {}); lower default_lease_ttl or raise max_lease_ttl",
                        crate::format_duration(default),
                        self.default_ttl_file,
                        crate::format_duration(max),
                        self.max_ttl_file
                    ),
                });
            }
        }
        Ok(self.config)
    }
}

/// Parses one document into what it says, without merging.
fn parse_document(text: &str, file: &str) -> Result<FileConfig, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json =
        file.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with('{');
    let raw = if is_json {
        raw::parse_json(text, file)?
    } else {
        raw::parse_hcl(text, file, LABELED_STANZAS)?
    };
    interpret(&raw, file)
}

/// Names where a key lives, for error messages.
struct Scope<'a> {
    file: &'a str,
    stanza: String,
}

impl<'a> Scope<'a> {
    fn new(file: &'a str, stanza: impl Into<String>) -> Self {
        Scope {
            file,
            stanza: stanza.into(),
        }
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            file: self.file.to_string(),
            stanza: self.stanza.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn missing(&self, key: &str, hint: impl Into<String>) -> ConfigError {
        ConfigError::MissingKey {
            file: self.file.to_string(),
            stanza: self.stanza.clone(),
            key: key.to_string(),
            hint: hint.into(),
        }
    }

    fn stanza_error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidStanza {
            file: self.file.to_string(),
            stanza: self.stanza.clone(),
            reason: reason.into(),
        }
    }

    fn unknown(&self, key: &str, supported: &[&str], ignored: &[&str]) -> ConfigError {
        let mut list = if supported.is_empty() {
            "(no keys; this stanza takes no settings)".to_string()
        } else {
            supported.join(", ")
        };
        if !ignored.is_empty() {
            list.push_str("; also accepted but without effect: ");
            list.push_str(&ignored.join(", "));
        }
        ConfigError::UnknownKey {
            file: self.file.to_string(),
            stanza: self.stanza.clone(),
            key: key.to_string(),
            supported: list,
            did_you_mean: closest(key, supported.iter().chain(ignored)),
        }
    }

    /// Rejects a second occurrence of a key within one stanza.
    fn once<'k>(&self, seen: &mut Vec<&'k str>, key: &'k str) -> Result<(), ConfigError> {
        if seen.contains(&key) {
            return Err(ConfigError::DuplicateKey {
                file: self.file.to_string(),
                stanza: self.stanza.clone(),
                key: key.to_string(),
            });
        }
        seen.push(key);
        Ok(())
    }

    fn warning(&self, key: &str) -> String {
        format!(
            "key {key:?} in {} (file {}) is accepted but has no effect in hush",
            self.stanza, self.file
        )
    }
}

/// The supported key closest in spelling to `key`, if it is close enough to be a typo.
fn closest<'s>(key: &str, candidates: impl Iterator<Item = &'s &'s str>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(key, c), *c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(prev[j + 1] + 1).min(current[j] + 1);
        }
        prev = current;
    }
    prev[b.len()]
}

fn interpret(raw: &Raw, file: &str) -> Result<FileConfig, ConfigError> {
    let scope = Scope::new(file, TOP_LEVEL);
    let Raw::Object(entries) = raw else {
        return Err(scope.stanza_error(format!(
            "a configuration must be a set of settings (an HCL body or a JSON object), found {}",
            raw.kind()
        )));
    };
    let mut out = FileConfig::default();
    let mut seen = Vec::new();
    let mut storage_from: Option<String> = None;
    let mut seal_from: Option<String> = None;
    for (key, value) in entries {
        let key = key.as_str();
        match key {
            "storage" | "backend" => {
                for (ty, body) in labeled_stanzas(file, key, value)? {
                    let this = format!("{key} {ty:?}");
                    if let Some(first) = &storage_from {
                        return Err(Scope::new(file, "storage configuration").stanza_error(
                            format!(
                                "only one storage stanza is allowed per file, found {first} and \
                                 {this}; keep one (backend is Vault's old name for storage)"
                            ),
                        ));
                    }
                    out.storage = Some(parse_storage(file, key, ty, body, &mut out.warnings)?);
                    storage_from = Some(this);
                }
            }
            "listener" => {
                for (ty, body) in labeled_stanzas(file, key, value)? {
                    out.listeners
                        .push(parse_listener(file, ty, body, &mut out.warnings)?);
                }
            }
            "seal" => {
                for (ty, body) in labeled_stanzas(file, key, value)? {
                    let this = format!("seal {ty:?}");
                    if let Some(first) = &seal_from {
                        return Err(Scope::new(file, "seal configuration").stanza_error(format!(
                            "only one seal stanza is allowed per file, found {first} and {this}; \
                             seal migration between two seals is not supported"
                        )));
                    }
                    out.seal = Some(parse_seal(file, ty, body, &mut out.warnings)?);
                    seal_from = Some(this);
                }
            }
            "disable_mlock" => {
                scope.once(&mut seen, key)?;
                out.disable_mlock = Some(bool_value(&scope, key, value)?);
            }
            "disable_cache" => {
                scope.once(&mut seen, key)?;
                out.disable_cache = Some(bool_value(&scope, key, value)?);
            }
            "cache_size" => {
                scope.once(&mut seen, key)?;
                let n = count_value(&scope, key, value)?;
                if n == 0 {
                    return Err(scope.invalid(
                        key,
                        "must be at least 1; to turn the read cache off, set disable_cache = true",
                    ));
                }
                out.cache_size = Some(n);
            }
            "ui" => {
                scope.once(&mut seen, key)?;
                out.ui = Some(bool_value(&scope, key, value)?);
            }
            "default_lease_ttl" => {
                scope.once(&mut seen, key)?;
                out.default_lease_ttl = Some(duration_value(&scope, key, value)?);
            }
            "max_lease_ttl" => {
                scope.once(&mut seen, key)?;
                out.max_lease_ttl = Some(duration_value(&scope, key, value)?);
            }
            "api_addr" => {
                scope.once(&mut seen, key)?;
                let url = string_value(&scope, key, value)?;
                validate_url(url).map_err(|reason| scope.invalid(key, reason))?;
                out.api_addr = Some(url.to_string());
            }
            "cluster_name" => {
                scope.once(&mut seen, key)?;
                let name = string_value(&scope, key, value)?;
                if name.trim().is_empty() {
                    return Err(scope.invalid(key, "must not be empty; remove the key instead"));
                }
                out.cluster_name = Some(name.to_string());
            }
            "log_level" => {
                scope.once(&mut seen, key)?;
                let level = string_value(&scope, key, value)?;
                out.log_level =
                    Some(normalize_log_level(level).map_err(|r| scope.invalid(key, r))?);
            }
            "telemetry" => {
                scope.once(&mut seen, key)?;
                out.telemetry = Some(parse_telemetry(file, value, &mut out.warnings)?);
            }
            ignored if IGNORED_TOP_LEVEL_KEYS.contains(&ignored) => {
                scope.once(&mut seen, key)?;
                out.warnings.push(scope.warning(key));
            }
            _ => return Err(scope.unknown(key, TOP_LEVEL_KEYS, IGNORED_TOP_LEVEL_KEYS)),
        }
    }
    Ok(out)
}

type Body = [(String, Raw)];

/// The `(TYPE, body)` pairs of a labeled stanza, accepting every shape Vault's JSON form allows:
/// `{"TYPE": {...}}`, `{"TYPE": [{...}, {...}]}` and `[{"TYPE": {...}}, ...]`.
fn labeled_stanzas<'r>(
    file: &str,
    name: &str,
    value: &'r Raw,
) -> Result<Vec<(&'r str, &'r Body)>, ConfigError> {
    let scope = Scope::new(file, format!("{name} stanza"));
    let shape_error = |found: String| {
        scope.stanza_error(format!(
            "expected {name} \"TYPE\" {{ ... }} in HCL or {{\"{name}\": {{\"TYPE\": {{ ... }}}}}} \
             in JSON, but found {found}"
        ))
    };
    let mut out = Vec::new();
    let mut add_types = |types: &'r Raw| -> Result<(), ConfigError> {
        let Raw::Object(types) = types else {
            return Err(shape_error(types.kind().to_string()));
        };
        if types.is_empty() {
            return Err(shape_error("no type".to_string()));
        }
        for (ty, body) in types {
            match body {
                Raw::Object(entries) => out.push((ty.as_str(), entries.as_slice())),
                Raw::Array(items) => {
                    for item in items {
                        let Raw::Object(entries) = item else {
                            return Err(shape_error(format!(
                                "{ty:?} followed by a list containing {}",
                                item.kind()
                            )));
                        };
                        out.push((ty.as_str(), entries.as_slice()));
                    }
                }
                other => {
                    return Err(shape_error(format!("{ty:?} followed by {}", other.kind())));
                }
            }
        }
        Ok(())
    };
    match value {
        Raw::Array(items) => {
            for item in items {
                add_types(item)?;
            }
        }
        other => add_types(other)?,
    }
    Ok(out)
}

fn parse_storage(
    file: &str,
    name: &str,
    ty: &str,
    body: &Body,
    warnings: &mut Vec<String>,
) -> Result<StorageConfig, ConfigError> {
    let scope = Scope::new(file, format!("{name} {ty:?}"));
    let unsupported = |hint: Option<String>| ConfigError::UnsupportedType {
        file: file.to_string(),
        kind: "storage",
        name: ty.to_string(),
        supported: STORAGE_TYPES.join(", "),
        hint,
    };
    match ty {
        "sqlite" => {
            let mut seen = Vec::new();
            let mut path = None;
            for (key, value) in body {
                scope.once(&mut seen, key)?;
                match key.as_str() {
                    "path" => path = Some(path_value(&scope, key, value)?),
                    _ => return Err(scope.unknown(key, &["path"], &[])),
                }
            }
            let path = path.ok_or_else(|| {
                scope.missing(
                    "path",
                    "it is the SQLite database file hush keeps all its data in; add \
                     path = \"/var/lib/hush/hush.db\" (any writable location)",
                )
            })?;
            Ok(StorageConfig::Sqlite { path })
        }
        "inmem" => {
            if let Some((key, _)) = body.first() {
                return Err(scope.unknown(key, &[], &[]));
            }
            warnings.push(format!(
                "{name} \"inmem\" (file {file}) keeps everything in memory: all secrets are lost \
                 when the server stops; use storage \"sqlite\" for anything but tests"
            ));
            Ok(StorageConfig::Inmem)
        }
        "file" => {
            // Vault's file backend is a directory tree; the closest hush equivalent is one SQLite
            // file, so suggest a file inside the directory the operator already chose.
            let suggested = body
                .iter()
                .find_map(|(k, v)| match (k.as_str(), v) {
                    ("path", Raw::String(dir)) if !dir.is_empty() => {
                        Some(Path::new(dir).join("hush.db").display().to_string())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| "/var/lib/hush/hush.db".to_string());
            Err(unsupported(Some(format!(
                "Vault's file storage is not available; hush keeps its data in one SQLite file \
                 instead: write storage \"sqlite\" {{ path = \"{suggested}\" }}"
            ))))
        }
        "raft" | "consul" | "postgresql" | "etcd" | "zookeeper" | "mysql" | "dynamodb" | "s3"
        | "gcs" | "azure" | "spanner" | "cockroachdb" | "cassandra" => {
            Err(unsupported(Some(format!(
                "{ty} storage is not implemented in hush; use storage \"sqlite\" {{ path = \"...\" }}"
            ))))
        }
        _ => Err(unsupported(None)),
    }
}

fn parse_listener(
    file: &str,
    ty: &str,
    body: &Body,
    warnings: &mut Vec<String>,
) -> Result<ListenerConfig, ConfigError> {
    if ty != "tcp" {
        let hint = if ty == "unix" {
            "unix socket listeners are not supported yet; listen on tcp 127.0.0.1:PORT instead"
                .to_string()
        } else {
            "write listener \"tcp\" { address = \"HOST:PORT\" ... }".to_string()
        };
        return Err(ConfigError::UnsupportedType {
            file: file.to_string(),
            kind: "listener",
            name: ty.to_string(),
            supported: LISTENER_TYPES.join(", "),
            hint: Some(hint),
        });
    }
    let scope = Scope::new(file, "listener \"tcp\"");
    let mut listener = ListenerConfig::default();
    let mut seen = Vec::new();
    let mut ignored = Vec::new();
    let (mut xff_addrs, mut xff_hop_skips) = (None, None);
    let (mut xff_reject_not_authorized, mut xff_reject_not_present) = (None, None);
    for (key, value) in body {
        scope.once(&mut seen, key)?;
        match key.as_str() {
            "address" => {
                let address = string_value(&scope, key, value)?.trim();
                validate_address(address).map_err(|r| scope.invalid(key, r))?;
                listener.address = address.to_string();
            }
            "tls_disable" => listener.tls_disable = bool_value(&scope, key, value)?,
            "tls_cert_file" => listener.tls_cert_file = Some(path_value(&scope, key, value)?),
            "tls_key_file" => listener.tls_key_file = Some(path_value(&scope, key, value)?),
            "tls_client_ca_file" => {
                listener.tls_client_ca_file = Some(path_value(&scope, key, value)?);
            }
            "tls_require_and_verify_client_cert" => {
                listener.tls_require_and_verify_client_cert = bool_value(&scope, key, value)?;
            }
            "tls_min_version" => {
                listener.tls_min_version = Some(tls_version_value(&scope, key, value)?);
            }
            "tls_max_version" => {
                listener.tls_max_version = Some(tls_version_value(&scope, key, value)?);
            }
            "http_read_header_timeout" => {
                listener.http_read_header_timeout = duration_value(&scope, key, value)?;
            }
            "http_read_timeout" => listener.http_read_timeout = duration_value(&scope, key, value)?,
            "http_write_timeout" => {
                listener.http_write_timeout = duration_value(&scope, key, value)?;
            }
            "http_idle_timeout" => listener.http_idle_timeout = duration_value(&scope, key, value)?,
            "max_connections" => {
                let n = count_value(&scope, key, value)?;
                if n == 0 {
                    return Err(scope.invalid(
                        key,
                        "must be at least 1 (leave it out to derive it from the open-file limit)"
                            .to_string(),
                    ));
                }
                listener.max_connections = Some(n);
            }
            "x_forwarded_for_authorized_addrs" => {
                xff_addrs = Some(cidrs_value(&scope, key, value)?);
            }
            "x_forwarded_for_hop_skips" => xff_hop_skips = Some(count_value(&scope, key, value)?),
            "x_forwarded_for_reject_not_authorized" => {
                xff_reject_not_authorized = Some(bool_value(&scope, key, value)?);
            }
            "x_forwarded_for_reject_not_present" => {
                xff_reject_not_present = Some(bool_value(&scope, key, value)?);
            }
            "telemetry" => {
                let tscope = Scope::new(file, "listener \"tcp\" telemetry");
                for (k, v) in block_body(&tscope, value)? {
                    match k.as_str() {
                        "unauthenticated_metrics_access" => {
                            listener.unauthenticated_metrics_access = bool_value(&tscope, k, v)?;
                        }
                        other => {
                            return Err(tscope.unknown(other, LISTENER_TELEMETRY_KEYS, &[]));
                        }
                    }
                }
            }
            other if IGNORED_LISTENER_KEYS.contains(&other) => ignored.push(other),
            other => return Err(scope.unknown(other, LISTENER_KEYS, IGNORED_LISTENER_KEYS)),
        }
    }
    match xff_addrs {
        Some(authorized_addrs) => {
            listener.forwarded_for = Some(ForwardedFor {
                authorized_addrs,
                hop_skips: xff_hop_skips.unwrap_or(0),
                reject_not_authorized: xff_reject_not_authorized.unwrap_or(true),
                reject_not_present: xff_reject_not_present.unwrap_or(true),
            });
        }
        None if xff_hop_skips.is_some()
            || xff_reject_not_authorized.is_some()
            || xff_reject_not_present.is_some() =>
        {
            return Err(scope.invalid(
                "x_forwarded_for_authorized_addrs",
                "is required by the other x_forwarded_for_* keys: list the proxies' addresses, \
                 e.g. x_forwarded_for_authorized_addrs = \"10.0.0.0/8\""
                    .to_string(),
            ));
        }
        None => {}
    }

    // From here on, errors name the address: a file may hold several tcp listeners.
    let at = Scope::new(file, format!("listener \"tcp\" at {}", listener.address));
    warnings.extend(ignored.iter().map(|key| at.warning(key)));
    if listener.http_read_header_timeout.is_zero() {
        warnings.push(format!(
            "{} in {}: http_read_header_timeout = 0 lets a client hold a connection open forever by \
             sending its headers slowly; keep a timeout unless a proxy in front enforces one",
            at.stanza, at.file
        ));
    }
    validate_tls(&at, &listener, warnings)?;
    Ok(listener)
}

/// The entries of an unlabeled block (`telemetry { ... }`), which JSON may also write as a
/// list of one object.
fn block_body<'r>(scope: &Scope<'_>, value: &'r Raw) -> Result<&'r Body, ConfigError> {
    match value {
        Raw::Object(entries) => Ok(entries.as_slice()),
        Raw::Array(items) if items.len() == 1 => block_body(scope, &items[0]),
        other => Err(scope.stanza_error(format!(
            "must be a block of settings, as in telemetry {{ prometheus_retention_time = \"24h\" }}; \
             found {}",
            other.kind()
        ))),
    }
}

fn parse_telemetry(
    file: &str,
    value: &Raw,
    warnings: &mut Vec<String>,
) -> Result<TelemetryConfig, ConfigError> {
    let scope = Scope::new(file, "telemetry");
    let mut t = TelemetryConfig::default();
    let mut seen = Vec::new();
    for (key, value) in block_body(&scope, value)? {
        scope.once(&mut seen, key)?;
        match key.as_str() {
            "prometheus_retention_time" => {
                t.prometheus_retention_time = duration_value(&scope, key, value)?;
            }
            "disable_hostname" => t.disable_hostname = bool_value(&scope, key, value)?,
            "enable_hostname_label" => t.enable_hostname_label = bool_value(&scope, key, value)?,
            "usage_gauge_period" => {
                let d = duration_value(&scope, key, value)?;
                if d.is_zero() {
                    return Err(
                        scope.invalid(key, "must be longer than 0, e.g. \"10m\" (Vault's default)")
                    );
                }
                t.usage_gauge_period = d;
            }
            ignored if IGNORED_TELEMETRY_KEYS.contains(&ignored) => {
                warnings.push(scope.warning(key));
            }
            other => return Err(scope.unknown(other, TELEMETRY_KEYS, IGNORED_TELEMETRY_KEYS)),
        }
    }
    Ok(t)
}

fn validate_tls(
    at: &Scope<'_>,
    l: &ListenerConfig,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let (Some(min), Some(max)) = (l.tls_min_version, l.tls_max_version) {
        if min > max {
            return Err(at.stanza_error(format!(
                "tls_min_version ({min}) is higher than tls_max_version ({max}); no TLS version \
                 would be left"
            )));
        }
    }
    if l.tls_disable {
        if l.tls_require_and_verify_client_cert {
            return Err(at.stanza_error(
                "tls_require_and_verify_client_cert = true needs TLS, but tls_disable = true; \
                 enable TLS (remove tls_disable and set tls_cert_file and tls_key_file) or drop \
                 the client certificate requirement",
            ));
        }
        let unused: Vec<&str> = [
            ("tls_cert_file", l.tls_cert_file.is_some()),
            ("tls_key_file", l.tls_key_file.is_some()),
            ("tls_client_ca_file", l.tls_client_ca_file.is_some()),
            ("tls_min_version", l.tls_min_version.is_some()),
            ("tls_max_version", l.tls_max_version.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| *key)
        .collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "{} (file {}) has tls_disable = true, so {} {} ignored",
                at.stanza,
                at.file,
                unused.join(", "),
                if unused.len() == 1 { "is" } else { "are" }
            ));
        }
        return Ok(());
    }
    let tls_hint = "TLS is on unless tls_disable = true; set tls_cert_file and tls_key_file to \
                    PEM files, or set tls_disable = true to serve plain HTTP";
    if l.tls_cert_file.is_none() {
        return Err(at.missing("tls_cert_file", tls_hint));
    }
    if l.tls_key_file.is_none() {
        return Err(at.missing("tls_key_file", tls_hint));
    }
    if l.tls_require_and_verify_client_cert && l.tls_client_ca_file.is_none() {
        return Err(at.missing(
            "tls_client_ca_file",
            "tls_require_and_verify_client_cert = true needs the PEM CA bundle that signs client \
             certificates; set tls_client_ca_file",
        ));
    }
    Ok(())
}

fn parse_seal(
    file: &str,
    ty: &str,
    body: &Body,
    warnings: &mut Vec<String>,
) -> Result<Option<SealConfig>, ConfigError> {
    let scope = Scope::new(file, format!("seal {ty:?}"));
    match ty {
        "shamir" => {
            if let Some((key, _)) = body.first() {
                return Err(scope.unknown(key, &[], &[]));
            }
            Ok(None)
        }
        "static" => parse_static_seal(&scope, body, warnings).map(Some),
        _ => Err(ConfigError::UnsupportedType {
            file: file.to_string(),
            kind: "seal",
            name: ty.to_string(),
            supported: SEAL_TYPES.join(", "),
            hint: Some(format!(
                "auto-unseal through {ty} is not available in hush yet; remove the seal stanza \
                 to use Shamir key shares (the default), or use seal \"static\" with \
                 current_key_id and current_key = \"env://VAR\""
            )),
        }),
    }
}

fn parse_static_seal(
    scope: &Scope<'_>,
    body: &Body,
    warnings: &mut Vec<String>,
) -> Result<SealConfig, ConfigError> {
    let mut seen = Vec::new();
    let mut current_key_id = None;
    let mut current_key = None;
    let mut previous_key_id = None;
    let mut previous_key = None;
    for (key, value) in body {
        scope.once(&mut seen, key)?;
        match key.as_str() {
            "current_key_id" => current_key_id = Some(key_id_value(scope, key, value)?),
            "current_key" => current_key = Some(key_value(scope, key, value, warnings)?),
            "previous_key_id" => previous_key_id = Some(key_id_value(scope, key, value)?),
            "previous_key" => previous_key = Some(key_value(scope, key, value, warnings)?),
            other => return Err(scope.unknown(other, STATIC_SEAL_KEYS, &[])),
        }
    }
    let current_key_id = current_key_id.ok_or_else(|| {
        scope.missing(
            "current_key_id",
            "it names the key and is stored with what the key protects, so keys can be rotated; \
             add e.g. current_key_id = \"2025-01\"",
        )
    })?;
    let current_key = current_key.ok_or_else(|| {
        scope.missing(
            "current_key",
            "it is the seal key: env://VAR to read it from an environment variable, file:///path \
             to read it from a file, or the key itself in hex or base64 (prefer env:// or file://)",
        )
    })?;
    match (&previous_key_id, &previous_key) {
        (Some(_), None) => {
            return Err(scope.missing(
                "previous_key",
                "previous_key_id is set, so the previous key itself is needed too (same forms as \
                 current_key); or remove previous_key_id",
            ))
        }
        (None, Some(_)) => {
            return Err(scope.missing(
                "previous_key_id",
                "previous_key is set, so its identifier is needed too; or remove previous_key",
            ))
        }
        (Some(previous), _) if *previous == current_key_id => {
            return Err(scope.stanza_error(format!(
                "previous_key_id and current_key_id are both {previous:?}; a rotated key needs a \
                 new id"
            )))
        }
        _ => {}
    }
    Ok(SealConfig::Static {
        current_key_id,
        current_key,
        previous_key_id,
        previous_key,
    })
}

fn key_id_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<String, ConfigError> {
    let id = string_value(scope, key, value)?.trim();
    if id.is_empty() {
        return Err(scope.invalid(key, "must not be empty"));
    }
    Ok(id.to_string())
}

/// Validates the shape of a seal key value. Error messages here must never contain the value.
fn key_value(
    scope: &Scope<'_>,
    key: &str,
    value: &Raw,
    warnings: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let Raw::String(written) = value else {
        return Err(scope.invalid(
            key,
            format!(
                "expected a string (env://VAR, file:///path, or the key in hex or base64), found {}",
                value.kind()
            ),
        ));
    };
    // Surrounding whitespace is never part of a key; heredocs in particular end with a newline.
    let text = written.trim();
    match KeySource::parse(text) {
        KeySource::Env(var) if var.is_empty() || var.contains(char::is_whitespace) => Err(scope
            .invalid(
                key,
                "env:// must be followed by an environment variable name, e.g. env://HUSH_SEAL_KEY",
            )),
        KeySource::File(path) if path.as_os_str().is_empty() => Err(scope.invalid(
            key,
            "file:// must be followed by a path, e.g. file:///etc/hush/seal.key",
        )),
        KeySource::Literal(literal) if literal.trim().is_empty() => {
            Err(scope.invalid(key, "must not be empty"))
        }
        KeySource::Literal(_) => {
            warnings.push(format!(
                "{key} in {} (file {}) is written literally in the configuration; prefer \
                 env://VAR or file:///path so the key does not live in the config file",
                scope.stanza, scope.file
            ));
            Ok(text.to_string())
        }
        _ => Ok(text.to_string()),
    }
}

fn string_value<'r>(scope: &Scope<'_>, key: &str, value: &'r Raw) -> Result<&'r str, ConfigError> {
    match value {
        Raw::String(s) => Ok(s),
        other => Err(scope.invalid(
            key,
            format!("expected a quoted string, found {}", other.kind()),
        )),
    }
}

fn path_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<PathBuf, ConfigError> {
    let path = string_value(scope, key, value)?;
    if path.trim().is_empty() {
        return Err(scope.invalid(key, "the path must not be empty"));
    }
    Ok(PathBuf::from(path))
}

/// Vault accepts booleans written as booleans, as the strings "true"/"false"/"1"/"0", and (in
/// HCL) as the numbers 1 and 0.
fn bool_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<bool, ConfigError> {
    const ACCEPTED: &str = "expected true, false, \"true\", \"false\", 1, 0, \"1\" or \"0\"";
    match value {
        Raw::Bool(b) => Ok(*b),
        Raw::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(scope.invalid(key, format!("{ACCEPTED}, found {s:?}"))),
        },
        Raw::Number(n) => match n.as_u64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(scope.invalid(key, format!("{ACCEPTED}, found {n}"))),
        },
        other => Err(scope.invalid(key, format!("{ACCEPTED}, found {}", other.kind()))),
    }
}

/// CIDR blocks written as a list of strings or one comma-separated string (Vault takes both).
fn cidrs_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<Vec<Cidr>, ConfigError> {
    let items: Vec<&str> = match value {
        Raw::String(s) => s.split(',').collect(),
        Raw::Array(items) => items
            .iter()
            .map(|item| string_value(scope, key, item))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(scope.invalid(
                key,
                format!(
                    "expected CIDR blocks (\"10.0.0.0/8,192.168.0.0/16\" or a list), found {}",
                    other.kind()
                ),
            ))
        }
    };
    let blocks = items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| Cidr::parse(s).map_err(|e| scope.invalid(key, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if blocks.is_empty() {
        return Err(scope.invalid(key, "lists no address: give the proxies' CIDR blocks"));
    }
    Ok(blocks)
}

/// A count written as a number or as a string of digits (Vault's configs use both).
fn count_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<u64, ConfigError> {
    const ACCEPTED: &str = "expected a whole number such as 131072";
    match value {
        Raw::Number(n) => n
            .as_u64()
            .ok_or_else(|| scope.invalid(key, format!("{ACCEPTED}, found {n}"))),
        Raw::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| scope.invalid(key, format!("{ACCEPTED}, found {s:?}"))),
        other => Err(scope.invalid(key, format!("{ACCEPTED}, found {}", other.kind()))),
    }
}

fn duration_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<Duration, ConfigError> {
    let json = match value {
        Raw::String(s) => serde_json::Value::String(s.clone()),
        Raw::Number(n) => serde_json::Value::Number(n.clone()),
        Raw::Bool(b) => serde_json::Value::Bool(*b),
        Raw::Null => serde_json::Value::Null,
        Raw::Array(_) => serde_json::Value::Array(Vec::new()),
        Raw::Object(_) => serde_json::Value::Object(serde_json::Map::new()),
    };
    parse_duration_value(&json).map_err(|e| scope.invalid(key, e.to_string()))
}

fn tls_version_value(scope: &Scope<'_>, key: &str, value: &Raw) -> Result<TlsVersion, ConfigError> {
    match string_value(scope, key, value)? {
        "tls12" => Ok(TlsVersion::Tls12),
        "tls13" => Ok(TlsVersion::Tls13),
        "tls10" | "tls11" => Err(scope.invalid(
            key,
            "TLS 1.0 and 1.1 are not supported by hush; use \"tls12\" or \"tls13\"",
        )),
        other => Err(scope.invalid(
            key,
            format!("unknown TLS version {other:?}; use \"tls12\" or \"tls13\""),
        )),
    }
}

fn normalize_log_level(level: &str) -> Result<String, String> {
    let canonical = match level.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "err" => "error",
        _ => {
            return Err(format!(
                "log level {level:?} is not supported; use one of trace, debug, info, warn, error"
            ))
        }
    };
    Ok(canonical.to_string())
}

fn validate_url(url: &str) -> Result<(), String> {
    let example = "e.g. \"https://hush.example.com:8200\"";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{url:?} must be a full URL starting with https:// or http://, {example}")
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no valid host, {example}"));
    }
    Ok(())
}

/// Checks `HOST:PORT`, `IPv4:PORT` or `[IPv6]:PORT`; returns why not otherwise.
fn validate_address(address: &str) -> Result<(), String> {
    let expected = "expected HOST:PORT, e.g. \"127.0.0.1:8200\", \"0.0.0.0:8200\", \
                    \"[::1]:8200\" or \"hush.internal:8200\"";
    if address.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if address.starts_with('[') {
        return Err(format!(
            "{address:?} is not a valid [IPv6]:PORT address; {expected}"
        ));
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} has no port; {expected}"));
    };
    if host.contains(':') {
        return Err(format!(
            "{address:?}: IPv6 addresses must be in brackets, as in \"[::1]:8200\""
        ));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "{address:?}: the port {port:?} is not a number from 0 to 65535; {expected}"
        ));
    }
    if host.is_empty() {
        return Err(format!(
            "{address:?} has no host; write \"0.0.0.0:{port}\" to listen on every IPv4 interface \
             or \"[::]:{port}\" for every IPv6 one"
        ));
    }
    let labels: Vec<&str> = host.split('.').collect();
    let valid_label = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() > 253 || !labels.iter().all(valid_label) {
        return Err(format!(
            "{address:?}: {host:?} is neither an IP address nor a valid host name; {expected}"
        ));
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "{address:?}: {host:?} is not a valid IPv4 address; {expected}"
        ));
    }
    Ok(())
}
