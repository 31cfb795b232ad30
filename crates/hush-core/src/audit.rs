//! The audit broker: every authenticated request and its response are handed to every enabled
//! audit device before the client sees the result. If devices are enabled and none can write,
//! the request fails instead of going unrecorded.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::error::{CoreError, Result};
use crate::logical::{Request, Response};
use crate::token::TokenEntry;
use crate::view::View;

/// Why an audit device could not record an entry.
#[derive(Debug, thiserror::Error)]
pub enum AuditDeviceError {
    /// The entry could not be encoded as JSON.
    #[error("cannot encode the audit entry: {0}")]
    Encode(#[from] serde_json::Error),
    /// The log refused or failed the write (a full disk, a deleted or unwritable file).
    #[error(transparent)]
    Write(#[from] hush_audit::AuditError),
}

/// An audit device (file, socket, syslog, or one a test provides).
#[async_trait]
pub trait AuditDevice: Send + Sync {
    /// The path the device is enabled at, e.g. `file/`.
    fn path(&self) -> &str;
    /// Records a request; `error` is set when it was refused before reaching a handler;
    /// `when` says by when the entry must be written. What the device returns is handed back
    /// to it with the response.
    async fn log_request(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        error: Option<&CoreError>,
        when: RequestEntry,
    ) -> std::result::Result<RequestMemo, AuditDeviceError>;
    /// Records the response to a request; `memo` is what this device returned for the request
    /// (empty if the device was enabled in between).
    async fn log_response(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        result: &Result<Response>,
        memo: RequestMemo,
    ) -> std::result::Result<(), AuditDeviceError>;
}

/// By when a device must have written a request's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEntry {
    /// Before [`AuditDevice::log_request`] returns: the request may change something, so its
    /// record must exist before it does.
    WriteNow,
    /// At the latest together with the response's entry: the request changes nothing (see
    /// [`crate::engine::LogicalBackend::changes_nothing`]) and its client hears nothing before
    /// the response entry is written. A device may still write it at once.
    WithResponse,
}

/// What a device kept from recording a request for recording its response. The file device
/// keeps the serialized `auth` and `request` blocks, which both entries carry unchanged.
#[derive(Debug, Default)]
pub struct RequestMemo(Option<Vec<u8>>);

/// Every device's [`RequestMemo`] for one request.
#[derive(Default)]
pub struct RequestMemos(Vec<(Arc<dyn AuditDevice>, RequestMemo)>);

impl RequestMemos {
    fn take(&mut self, device: &Arc<dyn AuditDevice>) -> RequestMemo {
        self.0
            .iter_mut()
            .find(|(d, _)| Arc::ptr_eq(d, device))
            .map(|(_, memo)| std::mem::take(memo))
            .unwrap_or_default()
    }
}

/// All enabled audit devices.
#[derive(Default)]
pub struct AuditBroker {
    devices: RwLock<Vec<Arc<dyn AuditDevice>>>,
    /// The devices of the audit table that are open, of every type.
    opened: RwLock<Vec<Arc<LogDevice>>>,
    /// Enabled devices that could not be opened, with the reason: they fail every request
    /// (no other device wrote it) until they open or an operator disables them.
    broken: RwLock<Vec<(AuditEntry, String)>>,
    /// When opening the broken devices was last retried (unix seconds).
    last_retry: std::sync::atomic::AtomicI64,
    /// Serializes enabling and disabling.
    pub(crate) change: tokio::sync::Mutex<()>,
}

impl AuditBroker {
    /// A broker with no devices.
    pub fn new() -> Self {
        AuditBroker::default()
    }

    /// Enables a device.
    pub fn add(&self, device: Arc<dyn AuditDevice>) {
        self.devices.write().push(device);
    }

    /// Disables the device at `path`; returns whether one was there.
    pub fn remove(&self, path: &str) -> bool {
        let mut devices = self.devices.write();
        let before = devices.len();
        devices.retain(|d| d.path() != path);
        devices.len() != before
    }

    /// Enables a device of the audit table.
    pub fn add_opened(&self, device: Arc<LogDevice>) {
        self.opened.write().push(device.clone());
        self.add(device);
    }

    /// Disables the device of the audit table at `path` and returns it.
    pub fn remove_opened(&self, path: &str) -> Option<Arc<LogDevice>> {
        self.remove(path);
        let mut opened = self.opened.write();
        let pos = opened.iter().position(|d| d.entry.path == path)?;
        Some(opened.remove(pos))
    }

    /// The open devices of the audit table (file, socket and syslog).
    pub fn opened(&self) -> Vec<Arc<LogDevice>> {
        self.opened.read().clone()
    }

    /// Records an enabled device that cannot write, and why.
    pub fn add_broken(&self, entry: AuditEntry, reason: String) {
        let mut broken = self.broken.write();
        broken.retain(|(e, _)| e.path != entry.path);
        broken.push((entry, reason));
    }

    /// Forgets a broken device (disabled, or open again); returns whether one was there.
    pub fn remove_broken(&self, path: &str) -> bool {
        let mut broken = self.broken.write();
        let before = broken.len();
        broken.retain(|(e, _)| e.path != path);
        broken.len() != before
    }

    /// The enabled devices that cannot write, with the reason.
    pub fn broken(&self) -> Vec<(AuditEntry, String)> {
        self.broken.read().clone()
    }

    /// Why nothing could be recorded: each failing device (`failures`, plus those that could
    /// not be opened) and its reason.
    fn no_device_error(&self, what: &str, mut failures: Vec<String>) -> CoreError {
        failures.extend(
            self.broken
                .read()
                .iter()
                .map(|(e, r)| format!("device \"{}\": {r}", e.path)),
        );
        CoreError::Internal(format!(
            "no audit device could record the {what}, so it was refused ({}); fix the log file \
             or the receiver, or disable the device with a root token (hush audit disable <path>)",
            failures.join("; ")
        ))
    }

    fn snapshot(&self) -> Vec<Arc<dyn AuditDevice>> {
        self.devices.read().clone()
    }

    /// Records a request with every device. Succeeds if no device is enabled or at least one
    /// wrote the entry.
    pub async fn log_request(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        error: Option<&CoreError>,
        when: RequestEntry,
    ) -> Result<RequestMemos> {
        let devices = self.snapshot();
        if devices.is_empty() {
            if self.broken.read().is_empty() {
                return Ok(RequestMemos::default());
            }
            return Err(self.no_device_error("request", Vec::new()));
        }
        let mut ok = false;
        let mut failures = Vec::new();
        let mut memos = Vec::with_capacity(devices.len());
        for d in devices {
            match d.log_request(req, token, error, when).await {
                Ok(memo) => {
                    ok = true;
                    memos.push((d, memo));
                }
                Err(e) => {
                    tracing::error!(device = d.path(), error = %e, "audit device failed");
                    failures.push(format!("device \"{}\": {e}", d.path()));
                }
            }
        }
        if ok {
            Ok(RequestMemos(memos))
        } else {
            Err(self.no_device_error("request", failures))
        }
    }

    /// Records a response with every device, with the same rule as [`Self::log_request`].
    pub async fn log_response(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        result: &Result<Response>,
        mut memos: RequestMemos,
    ) -> Result<()> {
        let devices = self.snapshot();
        if devices.is_empty() {
            if self.broken.read().is_empty() {
                return Ok(());
            }
            return Err(self.no_device_error("response", Vec::new()));
        }
        let mut ok = false;
        for d in &devices {
            let memo = memos.take(d);
            match d.log_response(req, token, result, memo).await {
                Ok(()) => ok = true,
                Err(e) => tracing::error!(device = d.path(), error = %e, "audit device failed"),
            }
        }
        if ok {
            Ok(())
        } else {
            Err(CoreError::Internal(
                "no audit device could record the response, so it was withheld".into(),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit devices of the audit table (file, socket, syslog) and the `sys/audit*` endpoints.

use hush_audit::{
    ChainHead, Facility, FileSink, HmacOptions, Hmacd, HmacdData, NetSink, Salt, SocketType,
    SyncPolicy, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::logical::Operation;

pub(crate) const TABLE_KEY: &str = "core/audit";
const HEAD_PREFIX: &str = "core/audit-head/";

/// A device as stored in the audit table (inside the barrier).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Where it is enabled, with a trailing '/', e.g. `file/`.
    pub path: String,
    /// The device type (`file`, `socket` or `syslog`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Device options as given (`file_path`, `address`, `facility`, `hmac_accessor`,
    /// `log_raw`, ...).
    #[serde(default)]
    pub options: Map<String, Value>,
    /// Reported for compatibility.
    #[serde(default)]
    pub local: bool,
    /// The HMAC salt, hex.
    pub salt: String,
    /// Names the device's hash chain.
    pub device_id: String,
}

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct AuditTable {
    pub(crate) entries: Vec<AuditEntry>,
}

/// An audit device of the audit table: Vault's JSON lines, HMAC'd, hash-chained by
/// [`hush_audit`], written to a file (`file`), a socket (`socket`) or the local syslog daemon
/// (`syslog`). The entry bytes are built here once for every type; only where they go differs.
pub struct LogDevice {
    pub(crate) entry: AuditEntry,
    output: Output,
    /// Held shared by every append and exclusively by a reopen, so that no line reaches the old
    /// file after the new one has taken over the chain's head.
    reopen_gate: tokio::sync::RwLock<()>,
    salt: Salt,
    opts: HmacOptions,
    /// The HMAC'd token and accessor by token hash: each request logs them four times
    /// (request and response, `auth` and `request` blocks), and a client reuses its token.
    /// Only HMACs are kept, keyed by the token store's salted hash: no plaintext token.
    token_hmacs: parking_lot::Mutex<std::collections::HashMap<String, Arc<TokenHmacs>>>,
    /// For requests reading this device's head (`sys/audit-head/<path>`), by request id: the
    /// head before the request's own entry. A copy of the log taken before the request ends
    /// there, so that is the head a verifier must compare it with.
    heads_before: parking_lot::Mutex<std::collections::VecDeque<(String, ChainHead)>>,
}

/// Where a [`LogDevice`] writes its lines.
enum Output {
    /// A file or stdout. Replaced by [`LogDevice::reopen`] (SIGHUP after logrotate, or a log
    /// whose file was removed once its directory is back); the chain goes on in the new file.
    File {
        sink: arc_swap::ArcSwap<FileSink>,
        policy: SyncPolicy,
    },
    /// A socket or the syslog daemon; the sink reconnects by itself, entry by entry.
    Net(Box<NetSink>),
}

/// Bounds [`LogDevice::heads_before`]: entries are taken by their handler at once, so only
/// requests that failed between their entry and their handler leave one behind.
const HEADS_BEFORE_MAX: usize = 64;

/// The token and accessor of one token as a device logs them.
struct TokenHmacs {
    token: String,
    accessor: String,
}

/// Bounds [`LogDevice::token_hmacs`]; it is cleared when full (a cache refilled in one
/// request per token).
const TOKEN_HMACS_MAX: usize = 4096;

impl LogDevice {
    /// The chain head of the log written so far.
    pub fn head(&self) -> ChainHead {
        match &self.output {
            Output::File { sink, .. } => sink.load().head(),
            Output::Net(net) => net.head(),
        }
    }

    /// Why a file device stopped writing (a failed write or sync, or its file deleted), if it
    /// did. A socket or syslog device never stops: each entry tries to reconnect.
    pub fn failure(&self) -> Option<String> {
        match &self.output {
            Output::File { sink, .. } => sink.load().failure(),
            Output::Net(_) => None,
        }
    }

    /// True for a device writing to a file or stdout.
    fn is_file(&self) -> bool {
        matches!(self.output, Output::File { .. })
    }

    /// The log's path.
    fn file_path(&self) -> &str {
        self.entry
            .options
            .get("file_path")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Opens the device's path again and goes on writing the chain there: after logrotate
    /// moved the file away (a new file starts with the next seq, linked to the last line of
    /// the old one), or after a file that was deleted can be created again. The open rules are
    /// those of enabling: a symlink or a file that is not this device's log is refused, and
    /// the device keeps its current file. Lines that never reached a file (a failed write)
    /// show as a gap the verifier reports, with a notice in the new file.
    ///
    /// A socket or syslog device has nothing to reopen: it reconnects with its next entry.
    pub async fn reopen(&self) -> std::result::Result<(), AuditDeviceError> {
        let Output::File {
            sink: current,
            policy,
        } = &self.output
        else {
            return Ok(());
        };
        let policy = *policy;
        let _gate = self.reopen_gate.write().await;
        let old = current.load_full();
        if old.failure().is_none() {
            // What was queued reaches the old file before the new one continues after it.
            old.sync().await?;
        }
        let head = old.head();
        let path = self.file_path().to_owned();
        let device_id = &self.entry.device_id;
        // A working log that is reopened was rotated; a failed one lost its file or its tail,
        // which the open reports (and notes in the new file) as it would at start-up.
        let opened = if old.failure().is_none() {
            FileSink::open_rotated(&path, device_id, head, policy).await
        } else {
            FileSink::open_with_policy(&path, device_id, Some(head), policy).await
        };
        let (sink, report) = opened?;
        for w in &report.warnings {
            tracing::error!(device = %self.entry.path, file = %path, "audit log: {w}");
        }
        if let Some(notice) = sink.tamper_notice() {
            sink.append(notice).await?;
        }
        current.store(Arc::new(sink));
        old.close().await;
        Ok(())
    }

    /// Closes the log or the connection (the device is being disabled).
    pub(crate) async fn close(&self) {
        let _gate = self.reopen_gate.write().await;
        match &self.output {
            Output::File { sink, .. } => sink.load().close().await,
            Output::Net(net) => net.close().await,
        }
    }

    /// Appends one serialized entry; `queue` lets a file device write it with the next entry
    /// that waits (see [`FileSink::queue_serialized`]). Returns the head before the entry
    /// when `want_head_before`.
    async fn append(
        &self,
        line: Vec<u8>,
        queue: bool,
        want_head_before: bool,
    ) -> std::result::Result<Option<ChainHead>, AuditDeviceError> {
        let _gate = self.reopen_gate.read().await;
        match &self.output {
            Output::File { sink, .. } => {
                let sink = sink.load();
                let before = want_head_before.then(|| sink.head());
                if queue {
                    sink.queue_serialized(line).await?;
                } else {
                    sink.append_serialized(line).await?;
                }
                Ok(before)
            }
            // A network entry is sent at once: the stream has no queue of its own to flush it.
            Output::Net(net) => {
                let before = want_head_before.then(|| net.head());
                net.append_serialized(line).await?;
                Ok(before)
            }
        }
    }

    /// The head before the entry of request `request_id`, if that request reads this device's
    /// head (else `None`; the current head is then the answer).
    pub fn head_before(&self, request_id: &str) -> Option<ChainHead> {
        let mut heads = self.heads_before.lock();
        let at = heads.iter().position(|(id, _)| id == request_id)?;
        heads.remove(at).map(|(_, head)| head)
    }

    /// True when `req` reads this device's chain head.
    fn reads_own_head(&self, req: &Request) -> bool {
        req.operation == Operation::Read
            && req
                .path
                .strip_prefix("sys/audit-head/")
                .is_some_and(|p| p == self.entry.path.trim_end_matches('/'))
    }

    /// The stored entry.
    pub fn entry(&self) -> &AuditEntry {
        &self.entry
    }

    /// HMACs a string with this device's salt (`sys/audit-hash`).
    pub fn hash(&self, input: &str) -> String {
        self.salt.hmac(input)
    }

    /// A credential the request carries in its path: where it starts and its HMAC.
    fn credential(&self, req: &Request) -> Option<(usize, String)> {
        let at = req.credential_at?;
        let salt = self.salt()?;
        let cred = req.path.get(at..).filter(|c| !c.is_empty())?;
        Some((at, salt.hmac(cred)))
    }

    /// An error text as logged: a credential from the path (which errors may quote) HMAC'd.
    fn error_text(&self, req: &Request, e: &CoreError) -> String {
        let text = error_text(e);
        match self.credential(req) {
            Some((at, hmac)) => text.replace(&req.path[at..], &hmac),
            None => text,
        }
    }

    /// The salt to HMAC with, or `None` when the device logs raw values.
    fn salt(&self) -> Option<&Salt> {
        (!self.opts.log_raw).then_some(&self.salt)
    }

    /// The `{"auth":...,"request":...}` object whose members both entries of a request share,
    /// serialized once.
    fn shared_part(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
    ) -> std::result::Result<Vec<u8>, AuditDeviceError> {
        let hm = self.token_hmacs(req, token);
        let mut bytes = Vec::with_capacity(768);
        serde_json::to_writer(
            &mut bytes,
            &SharedOut {
                auth: self.auth_out(token, hm.as_deref()),
                request: self.request_out(req, hm.as_deref()),
            },
        )?;
        Ok(bytes)
    }

    /// Writes `{"time":..,"type":..,<members of shared>[,"response":..][,"error":..]}` as one
    /// line.
    async fn write(
        &self,
        kind: &str,
        shared: &[u8],
        response: Option<&ResponseOut<'_>>,
        error: Option<&str>,
    ) -> std::result::Result<(), AuditDeviceError> {
        let line = self.line(kind, shared, response, error)?;
        self.append(line, false, false).await?;
        Ok(())
    }

    /// Serializes `{"time":..,"type":..,<members of shared>[,"response":..][,"error":..]}`.
    fn line(
        &self,
        kind: &str,
        shared: &[u8],
        response: Option<&ResponseOut<'_>>,
        error: Option<&str>,
    ) -> std::result::Result<Vec<u8>, AuditDeviceError> {
        let mut bytes = Vec::with_capacity(shared.len() + 512);
        bytes.extend_from_slice(b"{\"time\":\"");
        bytes.extend_from_slice(now_rfc3339().as_bytes());
        bytes.extend_from_slice(b"\",\"type\":\"");
        bytes.extend_from_slice(kind.as_bytes());
        bytes.extend_from_slice(b"\",");
        // `shared` is a serialized object, `{...}`: its members go in without the braces.
        bytes.extend_from_slice(
            shared
                .get(1..shared.len().saturating_sub(1))
                .unwrap_or_default(),
        );
        if let Some(response) = response {
            bytes.extend_from_slice(b",\"response\":");
            serde_json::to_writer(&mut bytes, response)?;
        }
        if let Some(error) = error {
            bytes.extend_from_slice(b",\"error\":");
            serde_json::to_writer(&mut bytes, error)?;
        }
        bytes.push(b'}');
        Ok(bytes)
    }

    /// The token and accessor of this request as this device logs them (HMAC'd unless the
    /// device logs raw values); `None` without a token.
    fn token_hmacs(&self, req: &Request, token: Option<&TokenEntry>) -> Option<Arc<TokenHmacs>> {
        let t = token?;
        let plain = req.token.as_deref().unwrap_or("");
        let Some(salt) = self.salt() else {
            return Some(Arc::new(TokenHmacs {
                token: plain.to_owned(),
                accessor: t.accessor.clone(),
            }));
        };
        if let Some(hit) = self.token_hmacs.lock().get(&t.id_hash) {
            return Some(Arc::clone(hit));
        }
        let hm = |value: &str, on: bool| {
            if on && !value.is_empty() {
                salt.hmac(value)
            } else {
                value.to_owned()
            }
        };
        let fresh = Arc::new(TokenHmacs {
            token: hm(plain, true),
            accessor: hm(&t.accessor, self.opts.hmac_accessor),
        });
        // Only what was computed from the token itself may stand for the token later.
        if !plain.is_empty() {
            let mut memo = self.token_hmacs.lock();
            if memo.len() >= TOKEN_HMACS_MAX {
                memo.clear();
            }
            memo.insert(t.id_hash.clone(), Arc::clone(&fresh));
        }
        Some(fresh)
    }

    fn auth_out<'a>(
        &'a self,
        token: Option<&'a TokenEntry>,
        hm: Option<&'a TokenHmacs>,
    ) -> Option<AuthOut<'a>> {
        let t = token?;
        let hm = hm?;
        Some(AuthOut {
            client_token: Hmacd {
                value: &hm.token,
                salt: None,
            },
            accessor: Hmacd {
                value: &hm.accessor,
                salt: None,
            },
            display_name: &t.display_name,
            policies: &t.policies,
            token_policies: &t.policies,
            metadata: (!t.meta.is_empty()).then_some(&t.meta),
            entity_id: &t.entity_id,
            token_type: &t.token_type,
            token_ttl: t.creation_ttl,
            token_issue_time: crate::time::rfc3339(t.creation_time),
        })
    }

    fn request_out<'a>(&'a self, req: &'a Request, hm: Option<&'a TokenHmacs>) -> RequestOut<'a> {
        let salt = self.salt();
        let (point, kind, accessor) = mount_fields(req);
        // Without a token entry, a token the request carried (unknown or invalid) is still
        // logged HMAC'd; there is no accessor.
        let client_token = match hm {
            Some(hm) => Hmacd {
                value: &hm.token,
                salt: None,
            },
            None => Hmacd {
                value: req.token.as_deref().unwrap_or(""),
                salt,
            },
        };
        RequestOut {
            id: &req.id,
            operation: req.operation.as_str(),
            mount_point: point,
            mount_type: kind,
            mount_accessor: accessor,
            client_token,
            client_token_accessor: Hmacd {
                value: hm.map(|h| h.accessor.as_str()).unwrap_or(""),
                salt: None,
            },
            namespace: Namespace { id: "root" },
            path: match self.credential(req) {
                Some((at, hmac)) => format!("{}{hmac}", &req.path[..at]).into(),
                None => req.path.as_str().into(),
            },
            data: (!req.data.is_empty()).then_some(HmacdData {
                data: &req.data,
                salt,
                skip: req
                    .mount
                    .as_ref()
                    .map_or(&[][..], |m| &m.non_hmac_request_keys),
            }),
            remote_address: req.client_addr.map(|a| a.to_string()).unwrap_or_default(),
            wrap_ttl: req.wrap_ttl.map(|d| d.as_secs()).unwrap_or(0),
            headers: Empty {},
        }
    }
}

/// The blocks a request's two Vault-format entries share, serialized straight to bytes:
/// HMAC'd values are computed while writing, so nothing the request carries is copied.
/// Around them, [`LogDevice::write`] adds `time`, `type`, and `response` or `error`.
#[derive(Serialize)]
struct SharedOut<'a> {
    auth: Option<AuthOut<'a>>,
    request: RequestOut<'a>,
}

#[derive(Serialize)]
struct AuthOut<'a> {
    client_token: Hmacd<'a>,
    accessor: Hmacd<'a>,
    display_name: &'a str,
    policies: &'a [String],
    token_policies: &'a [String],
    metadata: Option<&'a Map<String, Value>>,
    entity_id: &'a str,
    token_type: &'a str,
    token_ttl: u64,
    token_issue_time: String,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    id: &'a str,
    operation: &'static str,
    mount_point: &'a str,
    mount_type: &'a str,
    mount_accessor: &'a str,
    client_token: Hmacd<'a>,
    client_token_accessor: Hmacd<'a>,
    namespace: Namespace,
    path: std::borrow::Cow<'a, str>,
    data: Option<HmacdData<'a>>,
    remote_address: String,
    wrap_ttl: u64,
    headers: Empty,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    mount_point: &'a str,
    mount_type: &'a str,
    mount_accessor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<HmacdData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<WrapInfoOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
}

/// A wrapped response's `wrap_info` as Vault logs it: the wrapping token always HMAC'd, the
/// accessors when the device HMACs accessors.
#[derive(Serialize)]
struct WrapInfoOut<'a> {
    token: Hmacd<'a>,
    accessor: Hmacd<'a>,
    ttl: u64,
    creation_time: &'a str,
    creation_path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrapped_accessor: Option<Hmacd<'a>>,
}

#[derive(Serialize)]
struct Namespace {
    id: &'static str,
}

#[derive(Serialize)]
struct Empty {}

fn mount_fields(req: &Request) -> (&str, &str, &str) {
    match &req.mount {
        Some(m) => (&m.point, &m.kind, &m.accessor),
        None => ("", "", ""),
    }
}

fn now_rfc3339() -> String {
    hush_config::time::now_rfc3339_nanos()
}

fn error_text(e: &CoreError) -> String {
    match e {
        // The audit log is where an operator learns why: the detail names the path and the
        // missing capability, never a value.
        CoreError::PermissionDenied { detail } | CoreError::TokenRejected { detail, .. } => {
            format!("permission denied: {detail}")
        }
        other => other.to_string(),
    }
}

#[async_trait]
impl AuditDevice for LogDevice {
    fn path(&self) -> &str {
        &self.entry.path
    }

    async fn log_request(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        error: Option<&CoreError>,
        when: RequestEntry,
    ) -> std::result::Result<RequestMemo, AuditDeviceError> {
        let shared = self.shared_part(req, token)?;
        let error = error.map(|e| self.error_text(req, e));
        let line = self.line("request", &shared, None, error.as_deref())?;
        // The head is read before this entry is chained: a concurrent entry may come in
        // between, which leaves an earlier point of the same chain, still a valid head for a
        // copy. With the response, the response entry's append writes every line queued
        // before it, this one too.
        let before = self
            .append(
                line,
                when == RequestEntry::WithResponse,
                self.reads_own_head(req),
            )
            .await?;
        if let Some(head) = before {
            let mut heads = self.heads_before.lock();
            if heads.len() >= HEADS_BEFORE_MAX {
                heads.pop_front();
            }
            heads.push_back((req.id.clone(), head));
        }
        Ok(RequestMemo(Some(shared)))
    }

    async fn log_response(
        &self,
        req: &Request,
        token: Option<&TokenEntry>,
        result: &Result<Response>,
        memo: RequestMemo,
    ) -> std::result::Result<(), AuditDeviceError> {
        let salt = self.salt();
        let (point, kind, accessor) = mount_fields(req);
        let mut response = ResponseOut {
            mount_point: point,
            mount_type: kind,
            mount_accessor: accessor,
            data: None,
            auth: None,
            wrap_info: None,
            warnings: None,
            status_code: None,
        };
        let mut error = None;
        match result {
            Ok(r) => {
                response.data = r.data.as_ref().map(|data| HmacdData {
                    data,
                    salt,
                    skip: req
                        .mount
                        .as_ref()
                        .map_or(&[][..], |m| &m.non_hmac_response_keys),
                });
                // Logins are rare next to reads: the Value detour keeps one HMAC rule for auth.
                response.auth = r.auth.as_ref().map(|a| {
                    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
                    if let Some(salt) = salt {
                        hush_audit::hmac_auth(Some(&mut v), salt, self.opts.hmac_accessor);
                    }
                    v
                });
                response.wrap_info = r.wrap_info.as_ref().map(|w| WrapInfoOut {
                    token: Hmacd {
                        value: &w.token,
                        salt,
                    },
                    accessor: Hmacd {
                        value: &w.accessor,
                        salt: salt.filter(|_| self.opts.hmac_accessor),
                    },
                    ttl: w.ttl,
                    creation_time: &w.creation_time,
                    creation_path: &w.creation_path,
                    wrapped_accessor: (!w.wrapped_accessor.is_empty()).then_some(Hmacd {
                        value: &w.wrapped_accessor,
                        salt: salt.filter(|_| self.opts.hmac_accessor),
                    }),
                });
                response.warnings = (!r.warnings.is_empty()).then_some(r.warnings.as_slice());
                response.status_code = r.status;
            }
            Err(e) => error = Some(self.error_text(req, e)),
        }
        let shared = match memo.0 {
            Some(shared) => shared,
            None => self.shared_part(req, token)?,
        };
        self.write("response", &shared, Some(&response), error.as_deref())
            .await
    }
}

pub(crate) fn head_key(device_id: &str) -> String {
    format!("{HEAD_PREFIX}{device_id}")
}

/// The device types `sys/audit/:path` enables.
pub(crate) const DEVICE_TYPES: [&str; 3] = ["file", "socket", "syslog"];

/// Vault's default `write_timeout` of a socket device.
const SOCKET_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a syslog device waits for the local daemon to take a message. Vault's syslog
/// device has no option for it; this is the socket device's default.
const SYSLOG_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Vault's default syslog tag, kept so that a daemon's rules written for Vault match.
const SYSLOG_DEFAULT_TAG: &str = "vault";

/// What a device's options say to open, checked before anything is opened.
enum Plan {
    File { path: String, policy: SyncPolicy },
    Net { target: Target, timeout: Duration },
}

impl Plan {
    fn of(entry: &AuditEntry) -> Result<Plan> {
        let options = &entry.options;
        match entry.kind.as_str() {
            "file" => Ok(file_plan(options)),
            "socket" => socket_plan(options),
            "syslog" => syslog_plan(options),
            other => Err(CoreError::bad(format!(
                "audit device type \"{other}\" is not supported; supported: {}",
                DEVICE_TYPES.join(", ")
            ))),
        }
    }
}

fn file_plan(options: &Map<String, Value>) -> Plan {
    let path = options
        .get("file_path")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // Lines reach the operating system before a request proceeds (a killed process loses
    // none); `fsync = "always"` also syncs every batch before answering, at a latency cost.
    let policy = match options.get("fsync").and_then(|v| match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(s.as_str(), "always" | "true" | "1")),
        _ => None,
    }) {
        Some(true) => SyncPolicy::EveryBatch,
        _ => SyncPolicy::Interval(Duration::from_secs(1)),
    };
    Plan::File { path, policy }
}

/// A socket device's `socket_type`, `address` and `write_timeout`, as Vault reads them.
fn socket_plan(options: &Map<String, Value>) -> Result<Plan> {
    let kind = match crate::fields::string(options, "socket_type")? {
        None => SocketType::Tcp,
        Some(s) => s
            .parse::<SocketType>()
            .map_err(|e| CoreError::bad(e.to_string()))?,
    };
    let address = crate::fields::string(options, "address")?
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            CoreError::bad(
                "'address' is required for a socket audit device: host:port for socket_type tcp \
                 or udp (e.g. address=127.0.0.1:9090), a socket path for unix",
            )
        })?;
    if !kind.is_unix() && !is_host_port(&address) {
        return Err(CoreError::bad(format!(
            "address \"{}\" is not host:port: give e.g. 127.0.0.1:9090 for socket_type {kind}, \
             or socket_type=unix for a socket path",
            address.chars().take(128).collect::<String>()
        )));
    }
    let timeout =
        crate::fields::duration(options, "write_timeout")?.unwrap_or(SOCKET_WRITE_TIMEOUT);
    if timeout.is_zero() {
        return Err(CoreError::bad(
            "'write_timeout' must be more than 0: a Go duration such as 2s (the default)",
        ));
    }
    Ok(Plan::Net {
        target: Target::Socket { kind, address },
        timeout,
    })
}

/// `host:port` with a port number (the host may be a name, an IPv4 or a bracketed IPv6
/// address); names are resolved when connecting.
fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    !host.is_empty() && port.parse::<u16>().is_ok()
}

/// A syslog device's `facility`, `tag` and hush's `socket_path`.
fn syslog_plan(options: &Map<String, Value>) -> Result<Plan> {
    let facility = match crate::fields::string(options, "facility")? {
        None => Facility::Auth,
        Some(s) => s
            .parse::<Facility>()
            .map_err(|e| CoreError::bad(e.to_string()))?,
    };
    let tag = crate::fields::string(options, "tag")?.unwrap_or_else(|| SYSLOG_DEFAULT_TAG.into());
    if let Err(why) = hush_audit::check_syslog_tag(&tag) {
        return Err(CoreError::bad(format!(
            "tag \"{}\" is refused: {why}; give a program name such as {SYSLOG_DEFAULT_TAG} \
             (the default)",
            tag.chars().take(64).collect::<String>()
        )));
    }
    let socket_path = crate::fields::string(options, "socket_path")?
        .filter(|p| !p.trim().is_empty())
        .map(std::path::PathBuf::from);
    Ok(Plan::Net {
        target: Target::Syslog {
            facility,
            tag,
            socket_path,
        },
        timeout: SYSLOG_WRITE_TIMEOUT,
    })
}

/// Checks a device's options and opens it: the file, or the connection. Used to enable a
/// device, at unseal and to retry a broken one, so all three apply the same rules.
pub(crate) async fn open_device(view: &View, entry: AuditEntry) -> Result<Arc<LogDevice>> {
    let plan = Plan::of(&entry)?;
    let salt = Salt::new(hex::decode(&entry.salt).map_err(|_| {
        CoreError::Internal(format!(
            "the salt of audit device {} is corrupt",
            entry.path
        ))
    })?);
    let opt_bool = |k: &str| -> Option<bool> {
        entry.options.get(k).and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    };
    let opts = HmacOptions {
        log_raw: opt_bool("log_raw").unwrap_or(false),
        hmac_accessor: opt_bool("hmac_accessor").unwrap_or(true),
    };
    let expected: Option<ChainHead> = view.get_json(&head_key(&entry.device_id)).await?;
    let mut notice = None;
    let output = match plan {
        Plan::File { path, policy } => {
            let (sink, report) =
                FileSink::open_with_policy(&path, &entry.device_id, expected, policy)
                    .await
                    .map_err(|e| {
                        CoreError::bad(format!(
                            "cannot open the audit log {path} for device \"{}\": {e}",
                            entry.path
                        ))
                    })?;
            for w in &report.warnings {
                tracing::error!(device = %entry.path, file = %path, "audit log: {w}");
            }
            notice = sink.tamper_notice();
            Output::File {
                sink: arc_swap::ArcSwap::from_pointee(sink),
                policy,
            }
        }
        // The stream continues the chain at the recorded head: there is no file to resume
        // from, as for stdout.
        Plan::Net { target, timeout } => Output::Net(Box::new(
            NetSink::open(target, &entry.device_id, &entry.path, expected, timeout)
                .await
                .map_err(|e| CoreError::bad(e.to_string()))?,
        )),
    };
    let device = Arc::new(LogDevice {
        token_hmacs: parking_lot::Mutex::new(std::collections::HashMap::new()),
        heads_before: parking_lot::Mutex::new(std::collections::VecDeque::new()),
        entry,
        output,
        reopen_gate: tokio::sync::RwLock::new(()),
        salt,
        opts,
    });
    if let (Some(notice), Output::File { sink, .. }) = (notice, &device.output) {
        sink.load()
            .append(notice)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
    }
    Ok(device)
}

/// Re-opens the devices of the audit table after unseal.
pub async fn restore_devices(audit: &AuditBroker, view: &View) -> Result<()> {
    let table: AuditTable = view.get_json(TABLE_KEY).await?.unwrap_or_default();
    for entry in table.entries {
        let path = entry.path.clone();
        match open_device(view, entry.clone()).await {
            Ok(d) => audit.add_opened(d),
            // The device stays enabled and fails requests: nothing is served unrecorded.
            Err(e) => {
                tracing::error!(
                    device = %path,
                    error = %e,
                    "audit device could not be opened: requests are refused until it can write \
                     or is disabled"
                );
                audit.add_broken(entry, e.to_string());
            }
        }
    }
    Ok(())
}

/// How often opening a broken device is retried while requests arrive.
const RETRY_INTERVAL_SECS: i64 = 5;

/// Tries again, at most every few seconds, to open the enabled devices that could not be
/// opened; one that opens records requests from then on.
pub async fn retry_broken(audit: &AuditBroker, view: &View) {
    use std::sync::atomic::Ordering;
    let now = crate::time::now_unix();
    let last = audit.last_retry.load(Ordering::Relaxed);
    if now - last < RETRY_INTERVAL_SECS
        || audit
            .last_retry
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let failed: Vec<Arc<LogDevice>> = audit
        .opened()
        .into_iter()
        .filter(|d| d.failure().is_some())
        .collect();
    if audit.broken.read().is_empty() && failed.is_empty() {
        return;
    }
    let _guard = audit.change.lock().await;
    for (entry, _) in audit.broken() {
        let path = entry.path.clone();
        match open_device(view, entry.clone()).await {
            Ok(d) => {
                audit.remove_broken(&path);
                audit.add_opened(d);
                tracing::info!(device = %path, "audit device opened again: requests are served");
            }
            Err(e) => audit.add_broken(entry, e.to_string()),
        }
    }
    // A device whose file was deleted, or whose write failed, opens its path again.
    for d in failed {
        match d.reopen().await {
            Ok(()) => tracing::info!(
                device = %d.entry.path,
                file = %d.file_path(),
                "audit device opened its log again: requests are served"
            ),
            Err(e) => tracing::warn!(
                device = %d.entry.path,
                error = %e,
                "audit device still cannot write; retrying in {RETRY_INTERVAL_SECS} s"
            ),
        }
    }
}

/// Opens every file device's log again at its path (SIGHUP, after logrotate moved the files
/// away). Returns one line per device that could not, naming it and why; those keep their
/// current file.
pub async fn reopen_all(audit: &AuditBroker) -> Vec<String> {
    let _guard = audit.change.lock().await;
    let mut errors = Vec::new();
    for d in audit.opened() {
        if !d.is_file() || d.file_path() == hush_audit::STDOUT {
            continue;
        }
        match d.reopen().await {
            Ok(()) => {
                tracing::info!(device = %d.entry.path, file = %d.file_path(), "audit log reopened")
            }
            Err(e) => errors.push(format!("audit device \"{}\": {e}", d.entry.path)),
        }
    }
    errors
}

/// Saves every device's chain head inside the barrier (periodically and at shutdown).
pub async fn checkpoint_heads(audit: &AuditBroker, view: &View) -> Result<()> {
    for d in audit.opened() {
        let head = d.head();
        view.put_json(&head_key(&d.entry.device_id), &head).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn refusal(plan: Result<Plan>) -> String {
        match plan {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn socket_options_follow_vaults_defaults() {
        let Plan::Net { target, timeout } =
            socket_plan(&options(json!({"address": "127.0.0.1:9090"}))).unwrap()
        else {
            panic!("not a network device")
        };
        assert_eq!(
            target,
            Target::Socket {
                kind: SocketType::Tcp,
                address: "127.0.0.1:9090".into()
            }
        );
        assert_eq!(timeout, Duration::from_secs(2));
        let Plan::Net { target, timeout } = socket_plan(&options(
            json!({"address": "/run/a.sock", "socket_type": "unix", "write_timeout": "500ms"}),
        ))
        .unwrap() else {
            panic!("not a network device")
        };
        assert!(matches!(
            target,
            Target::Socket {
                kind: SocketType::Unix,
                ..
            }
        ));
        assert_eq!(timeout, Duration::from_millis(500));
        // Whole seconds, as every duration field takes them.
        assert!(socket_plan(&options(json!({"address": "[::1]:1", "write_timeout": 5}))).is_ok());
    }

    #[test]
    fn socket_options_are_refused_by_name() {
        let cases = [
            (json!({}), "'address' is required"),
            (json!({"address": "  "}), "'address' is required"),
            (
                json!({"address": "h:1", "socket_type": "foo"}),
                "socket_type \"foo\" is not supported: use tcp, udp or unix",
            ),
            (json!({"address": "/tmp/s"}), "is not host:port"),
            (json!({"address": "host:http"}), "is not host:port"),
            (
                json!({"address": ":80", "socket_type": "udp"}),
                "is not host:port",
            ),
            (
                json!({"address": "h:1", "write_timeout": "0"}),
                "more than 0",
            ),
            (
                json!({"address": "h:1", "write_timeout": "later"}),
                "'write_timeout'",
            ),
            (json!({"address": ["h:1"]}), "'address' must be a string"),
        ];
        for (given, want) in cases {
            let text = refusal(socket_plan(&options(given.clone())));
            assert!(text.contains(want), "{given}: {text}");
        }
    }

    #[test]
    fn syslog_options_default_to_auth_and_vault() {
        let Plan::Net { target, .. } = syslog_plan(&Map::new()).unwrap() else {
            panic!("not a network device")
        };
        assert_eq!(
            target,
            Target::Syslog {
                facility: Facility::Auth,
                tag: "vault".into(),
                socket_path: None
            }
        );
        let Plan::Net { target, .. } = syslog_plan(&options(
            json!({"facility": "local0", "tag": "hush", "socket_path": "/tmp/log"}),
        ))
        .unwrap() else {
            panic!("not a network device")
        };
        let Target::Syslog {
            facility,
            tag,
            socket_path,
        } = target
        else {
            panic!("not syslog")
        };
        assert_eq!(facility.priority(hush_audit::SEVERITY_INFO), 134);
        assert_eq!(tag, "hush");
        assert_eq!(
            socket_path.as_deref(),
            Some(std::path::Path::new("/tmp/log"))
        );
        let text = refusal(syslog_plan(&options(json!({"facility": "LOCAL8"}))));
        assert!(
            text.contains("facility \"LOCAL8\" is not supported"),
            "{text}"
        );
        let text = refusal(syslog_plan(&options(json!({"tag": "a:b"}))));
        assert!(text.contains("tag \"a:b\" is refused"), "{text}");
    }
}
