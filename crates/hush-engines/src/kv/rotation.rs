//! Rotation of KV version 2 secrets: AWS Secrets Manager's four steps without Lambdas, and
//! staging labels readable by Vault clients.
//!
//! A secret gets a rotation configuration at `<mount>/rotation/<path>` (hush's own path; the
//! secret's `data/` and `metadata/` stay exactly Vault's). A rotation runs these steps, each
//! saved before the next begins, so that a crash resumes where it stopped:
//!
//! 1. **create**: a new value (a password policy, random bytes, or a database user's new
//!    password) is kept as the *pending* value in the rotation record, not as a version, so
//!    that plain reads never see a value that does not work yet;
//! 2. **set**: it is made real where it is used (the database engine sets the user's
//!    password; other generators have nothing to set);
//! 3. **test**: it is proven (a login with it);
//! 4. **finish**: it becomes the secret's new version (`current`); the old version is
//!    `previous` until the grace period ends, when it is revoked (a database rotator with two
//!    users gives the idle user a password nobody knows).
//!
//! A step that fails leaves `current` alone and is tried again with backoff. With two
//! database users the rotation alternates between them, so the previous credentials keep
//! working for the whole grace period (AWS's alternating-users strategy); with one user the
//! password changes at *set*, and open connections keep working but new logins with the old
//! password fail.
//!
//! Reads: `data/<path>?label=current|previous|pending`; `rotation/<path>` shows the settings
//! and the state (never a value); `rotate/<path>` rotates now.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use hush_core::engine::{CredentialChange, CredentialOp, EngineRequest};
use hush_core::error::{CoreError, Result};
use hush_core::fields;
use hush_core::logical::Response;
use hush_core::view::ViewOp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::store::{format_time, metadata_key, version_key, KeyMeta};
use super::{secret_path, KvBackend};

/// The folder of rotation records in the mount's view.
pub(crate) const PREFIX: &str = "rotation/";
/// The events kept per secret for `rotation/<path>`.
const HISTORY: usize = 20;
/// The first retry of a failed step waits this long; each further one twice as long.
const FIRST_BACKOFF_SECS: i64 = 5;
/// The longest wait between retries.
const MAX_BACKOFF_SECS: i64 = 900;
/// The shortest rotation period.
const MIN_PERIOD_SECS: u64 = 1;
/// How many rotation records one maintenance round looks at, at most.
const MAX_SCAN: usize = 100_000;

/// Cron schedules, in hush-core's parser (the database engine's static roles use the same).
mod schedule {
    use hush_core::error::{CoreError, Result};
    use hush_core::schedule::CronSchedule;

    fn parse(expr: &str) -> Result<CronSchedule> {
        CronSchedule::parse(expr).map_err(|e| {
            CoreError::bad(format!(
                "invalid rotation_schedule {expr:?}: {e} (five fields: minute hour day-of-month \
                 month day-of-week, in UTC, e.g. \"0 3 * * SUN\")"
            ))
        })
    }

    pub(super) fn check(expr: &str) -> Result<()> {
        parse(expr).map(|_| ())
    }

    pub(super) fn check_window(secs: u64) -> Result<()> {
        hush_core::schedule::check_rotation_window(secs).map_err(|e| CoreError::bad(e.to_string()))
    }

    /// The first scheduled time after `after` (Unix seconds).
    pub(super) fn next(expr: &str, after: i64) -> Result<i64> {
        parse(expr)?.next_after_unix(after).ok_or_else(|| {
            CoreError::bad(format!(
                "rotation_schedule {expr:?} names no time after now: give one that recurs"
            ))
        })
    }
}

/// The key of a secret's rotation record.
pub(crate) fn key(path: &str) -> String {
    format!("{PREFIX}{path}")
}

/// How the new value is made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Generator {
    /// A password from a policy of `sys/policies/password` (empty: Vault's default).
    Password { policy: String },
    /// Random bytes, encoded.
    Random { bytes: u32, encoding: String },
    /// A database user's password, set and tested through the database engine at `mount`.
    Database {
        mount: String,
        db_name: String,
        usernames: Vec<String>,
        policy: String,
        username_key: String,
    },
}

/// A secret's rotation settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    /// Seconds between rotations (0: only on request or on the schedule).
    #[serde(default)]
    period: u64,
    /// A cron expression (empty: none).
    #[serde(default)]
    schedule: String,
    /// Seconds after a scheduled time in which the rotation may still start.
    #[serde(default)]
    window: u64,
    /// Seconds the previous value stays valid after a rotation.
    grace_period: u64,
    /// The field of the secret that holds the rotated value.
    key: String,
    generator: Generator,
}

/// Where a rotation is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum Step {
    /// No rotation under way.
    #[default]
    Idle,
    /// The pending value exists.
    Created,
    /// It was set where it is used.
    Set,
    /// It was proven to work.
    Tested,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Idle => "idle",
            Step::Created => "created",
            Step::Set => "set",
            Step::Tested => "tested",
        }
    }
}

/// The value a rotation under way will make current.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// The whole data of the version to be written.
    data: Map<String, Value>,
    /// The database user it is for (empty for other generators).
    #[serde(default)]
    username: String,
    /// Unix seconds of *create*.
    started: i64,
}

/// The value the last rotation replaced, valid until the grace period ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Previous {
    version: u64,
    #[serde(default)]
    username: String,
    /// Unix seconds when it is revoked.
    until: i64,
}

/// One step's outcome, for `rotation/<path>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    time: i64,
    step: String,
    outcome: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct State {
    step: Step,
    pending: Option<Pending>,
    previous: Option<Previous>,
    /// Unix seconds of the last finished rotation (0: none).
    last_rotation: i64,
    /// Unix seconds of the next scheduled rotation (0: none scheduled).
    next_rotation: i64,
    /// Failures of the current step in a row.
    attempts: u32,
    /// Unix seconds before which a failed step is not tried again.
    next_attempt: i64,
    last_error: String,
    rotations: u64,
    history: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    settings: Settings,
    state: State,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| CoreError::Internal(format!("encoding a rotation record: {e}")))
}

async fn load(req: &EngineRequest<'_>, path: &str) -> Result<Option<Record>> {
    match req.view.get(&key(path)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CoreError::Internal(format!(
                "the rotation record of {path:?} is unreadable: {e}"
            ))
        }),
        None => Ok(None),
    }
}

async fn save(req: &EngineRequest<'_>, path: &str, rec: &Record) -> Result<()> {
    req.view.put(&key(path), &encode(rec)?).await?;
    Ok(())
}

fn now_secs(kv: &KvBackend) -> Result<i64> {
    Ok(kv.now_nanos()?.div_euclid(1_000_000_000))
}

fn missing(req: &EngineRequest<'_>, path: &str) -> CoreError {
    CoreError::NotFound(format!(
        "no rotation is configured for {m}data/{path}: configure one with hush write \
         {m}rotation/{path} rotation_period=720h (see docs/rotation.md)",
        m = req.mount.path
    ))
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn text(data: &Map<String, Value>, field: &str, default: &str) -> Result<String> {
    Ok(fields::string(data, field)?.unwrap_or_else(|| default.to_string()))
}

/// The generator the request asks for.
async fn generator(req: &EngineRequest<'_>) -> Result<Generator> {
    let data = req.data;
    let kind = text(data, "generator", "password")?;
    let policy = text(data, "password_policy", "")?;
    if !policy.is_empty() {
        let peers = req.peers("a password policy")?;
        if peers.password_policy(&policy).await?.is_none() {
            return Err(CoreError::bad(format!(
                "no password policy named \"{policy}\": create it with hush write \
                 sys/policies/password/{policy} policy=@policy.hcl, or leave password_policy \
                 out for the default (20 characters)"
            )));
        }
    }
    match kind.as_str() {
        "password" => Ok(Generator::Password { policy }),
        "random" => {
            let bytes =
                fields::u64_in(data, "random_bytes", 1..=1024, "a whole number")?.unwrap_or(32);
            let encoding = text(data, "encoding", "base64")?;
            if !matches!(encoding.as_str(), "base64" | "base64url" | "hex") {
                return Err(CoreError::bad(format!(
                    "invalid encoding {encoding:?}: use base64, base64url or hex"
                )));
            }
            Ok(Generator::Random {
                bytes: bytes as u32,
                encoding,
            })
        }
        "database" => {
            let mount = text(data, "database_mount", "database")?
                .trim_matches('/')
                .to_string();
            let db_name = fields::string(data, "db_name")?.unwrap_or_default();
            if db_name.is_empty() {
                return Err(CoreError::bad(
                    "'db_name' is required with generator=database: the database engine's \
                     connection (config/:name) that manages the users",
                ));
            }
            let usernames = fields::strings(data, "usernames")?.unwrap_or_default();
            let usernames: Vec<String> = usernames
                .into_iter()
                .map(|u| u.trim().to_string())
                .collect();
            if usernames.is_empty()
                || usernames.len() > 2
                || usernames.iter().any(String::is_empty)
                || (usernames.len() == 2 && usernames[0] == usernames[1])
            {
                return Err(CoreError::bad(
                    "'usernames' must name one existing database user, or two different ones \
                     to alternate between (the previous credentials then keep working during \
                     the grace period), e.g. usernames=app_a,app_b",
                ));
            }
            let username_key = text(data, "username_key", "username")?;
            let peers = req.peers("a database rotator")?;
            for u in &usernames {
                peers
                    .change_credential(
                        &mount,
                        &CredentialChange {
                            op: CredentialOp::Check,
                            target: &db_name,
                            username: u,
                            password: "",
                        },
                    )
                    .await?;
            }
            Ok(Generator::Database {
                mount,
                db_name,
                usernames,
                policy,
                username_key,
            })
        }
        other => Err(CoreError::bad(format!(
            "unknown generator {other:?}: use password (a password policy), random (random \
             bytes) or database (a database user's password)"
        ))),
    }
}

/// `rotation/<path>` write: the settings. The state of a secret rotated before is kept.
pub(crate) async fn write(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &format!("{}rotation/my-app/db", req.mount.path))?;
    let data = req.data;
    let period = fields::duration(data, "rotation_period")?.map(secs);
    let schedule = fields::string(data, "rotation_schedule")?.unwrap_or_default();
    let window = fields::duration(data, "rotation_window")?.map(secs);
    if period.is_some_and(|p| p > 0) && !schedule.is_empty() {
        return Err(CoreError::bad(
            "rotation_period and rotation_schedule exclude each other: give one",
        ));
    }
    let period = period.unwrap_or(0);
    if period > 0 && period < MIN_PERIOD_SECS {
        return Err(CoreError::bad("rotation_period must be at least 1s"));
    }
    if !schedule.is_empty() {
        schedule::check(&schedule)?;
        if let Some(w) = window.filter(|w| *w > 0) {
            schedule::check_window(w)?;
        }
    } else if window.is_some_and(|w| w > 0) {
        return Err(CoreError::bad(
            "rotation_window only applies with rotation_schedule: leave it out or give a \
             schedule",
        ));
    }
    let default_grace = if period > 0 {
        (period / 2).min(3600)
    } else {
        3600
    };
    let grace_period = fields::duration(data, "grace_period")?
        .map(secs)
        .unwrap_or(default_grace);
    if period > 0 && grace_period >= period {
        return Err(CoreError::bad(format!(
            "grace_period ({grace_period}s) must be shorter than rotation_period ({period}s): \
             the previous value must be revoked before the next rotation"
        )));
    }
    let key_field = text(data, "key", "password")?;
    if key_field.is_empty() {
        return Err(CoreError::bad(
            "'key' is empty: name the field of the secret that holds the rotated value",
        ));
    }
    let generator = generator(req).await?;
    if let Generator::Database { username_key, .. } = &generator {
        if *username_key == key_field {
            return Err(CoreError::bad(
                "'username_key' and 'key' name the same field: the user name and the password \
                 need fields of their own",
            ));
        }
    }
    let settings = Settings {
        period,
        schedule,
        window: window.unwrap_or(0),
        grace_period,
        key: key_field,
        generator,
    };

    let _rotating = kv.rotation_lock.lock().await;
    let now = now_secs(kv)?;
    let exists = match req.view.get(&metadata_key(path)).await? {
        Some(bytes) => serde_json::from_slice::<KeyMeta>(&bytes)
            .map(|m| m.current_version > 0)
            .unwrap_or(false),
        None => false,
    };
    let mut rec = match load(req, path).await? {
        Some(mut old) => {
            old.settings = settings;
            old
        }
        None => Record {
            settings,
            state: State::default(),
        },
    };
    // A secret with no value yet gets its first one at once; an existing one keeps its value
    // until the first period is up.
    let from = if exists {
        rec.state.last_rotation.max(now)
    } else {
        now
    };
    rec.state.next_rotation = if exists {
        next_after(&rec.settings, from)?
    } else {
        now
    };
    save(req, path, &rec).await?;
    kv.rotation_due
        .fetch_min(rec.state.next_rotation.max(1), Ordering::Relaxed);
    Ok(Response::data(status(req, path, &rec)))
}

/// The next scheduled rotation after `t` (0: none).
fn next_after(settings: &Settings, t: i64) -> Result<i64> {
    if settings.period > 0 {
        return Ok(t.saturating_add(settings.period as i64));
    }
    if !settings.schedule.is_empty() {
        return schedule::next(&settings.schedule, t);
    }
    Ok(0)
}

/// `rotation/<path>` read: the settings and state, never a value.
pub(crate) async fn read(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &format!("{}rotation/my-app/db", req.mount.path))?;
    let _ = kv;
    let rec = load(req, path).await?.ok_or_else(|| missing(req, path))?;
    Ok(Response::data(status(req, path, &rec)))
}

/// `rotation/<path>` delete: stops rotating. A rotation between *set* and *finish* is not
/// dropped (the new value is already in use) unless `force` is given.
pub(crate) async fn delete(kv: &KvBackend, req: &EngineRequest<'_>, p: &str) -> Result<Response> {
    let path = secret_path(p, &format!("{}rotation/my-app/db", req.mount.path))?;
    let force = fields::bool(req.data, "force")?.unwrap_or(false);
    let _rotating = kv.rotation_lock.lock().await;
    let Some(rec) = load(req, path).await? else {
        return Ok(Response::no_content());
    };
    if matches!(rec.state.step, Step::Set | Step::Tested) && !force {
        return Err(CoreError::bad(format!(
            "a rotation of {path:?} is at step {}: its new value is already in use but not yet \
             the secret's; finish it first (hush rotate {}{path}), or delete with force=true \
             to drop it",
            rec.state.step.name(),
            req.mount.path
        )));
    }
    req.view.delete(&key(path)).await?;
    Ok(Response::no_content())
}

fn time_or_empty(t: i64) -> Value {
    if t <= 0 {
        Value::String(String::new())
    } else {
        Value::String(format_time(t.saturating_mul(1_000_000_000)))
    }
}

fn status(req: &EngineRequest<'_>, path: &str, rec: &Record) -> Map<String, Value> {
    let s = &rec.settings;
    let st = &rec.state;
    let mut generator = Map::new();
    match &s.generator {
        Generator::Password { policy } => {
            generator.insert("generator".into(), json!("password"));
            generator.insert("password_policy".into(), json!(policy));
        }
        Generator::Random { bytes, encoding } => {
            generator.insert("generator".into(), json!("random"));
            generator.insert("random_bytes".into(), json!(bytes));
            generator.insert("encoding".into(), json!(encoding));
        }
        Generator::Database {
            mount,
            db_name,
            usernames,
            policy,
            username_key,
        } => {
            generator.insert("generator".into(), json!("database"));
            generator.insert("database_mount".into(), json!(mount));
            generator.insert("db_name".into(), json!(db_name));
            generator.insert("usernames".into(), json!(usernames));
            generator.insert("password_policy".into(), json!(policy));
            generator.insert("username_key".into(), json!(username_key));
        }
    }
    let mut out = json!({
        "path": format!("{}data/{path}", req.mount.path),
        "rotation_period": s.period,
        "rotation_schedule": s.schedule,
        "rotation_window": s.window,
        "grace_period": s.grace_period,
        "key": s.key,
        "step": st.step.name(),
        "pending": st.pending.is_some(),
        "pending_username": st.pending.as_ref().map(|p| p.username.clone()).unwrap_or_default(),
        "previous_version": st.previous.as_ref().map_or(0, |p| p.version),
        "previous_username": st.previous.as_ref().map(|p| p.username.clone()).unwrap_or_default(),
        "previous_expires": time_or_empty(st.previous.as_ref().map_or(0, |p| p.until)),
        "last_rotation": time_or_empty(st.last_rotation),
        "next_rotation": time_or_empty(st.next_rotation),
        "rotations": st.rotations,
        "attempts": st.attempts,
        "next_attempt": time_or_empty(if st.attempts > 0 { st.next_attempt } else { 0 }),
        "last_error": st.last_error,
        "history": st.history.iter().map(|e| json!({
            "time": time_or_empty(e.time),
            "step": e.step,
            "outcome": e.outcome,
        })).collect::<Vec<_>>(),
    });
    if let Value::Object(m) = &mut out {
        m.extend(generator);
        return std::mem::take(m);
    }
    Map::new()
}

/// `rotate/<path>`: rotates now (or resumes a rotation under way, without waiting for its
/// backoff), answering with the state.
pub(crate) async fn rotate_now(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    p: &str,
) -> Result<Response> {
    let path = secret_path(p, &format!("{}rotate/my-app/db", req.mount.path))?;
    let _rotating = kv.rotation_lock.lock().await;
    let mut rec = load(req, path).await?.ok_or_else(|| missing(req, path))?;
    run(kv, req, path, &mut rec, true).await?;
    Ok(Response::data(status(req, path, &rec)))
}

/// Runs what is due for one secret: the revocation of a previous value whose grace period is
/// over, then the steps of a rotation that is due, under way, or asked for (`force`).
async fn run(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    rec: &mut Record,
    force: bool,
) -> Result<()> {
    let now = now_secs(kv)?;
    if !force && rec.state.attempts > 0 && now < rec.state.next_attempt {
        return Ok(());
    }
    let revoke_due = rec.state.previous.as_ref().is_some_and(|p| p.until <= now);
    if revoke_due && rec.state.step == Step::Idle {
        let outcome = revoke_previous(kv, req, path, rec).await;
        record(kv, req, path, rec, "revoke", outcome).await?;
    }
    let due = rec.state.step != Step::Idle
        || force
        || (rec.state.next_rotation > 0 && rec.state.next_rotation <= now);
    if !due {
        return Ok(());
    }
    if rec.state.step == Step::Idle && !force && !within_window(&rec.settings, rec, now) {
        // Missed the schedule's window (the server was down): wait for the next time.
        rec.state.next_rotation = next_after(&rec.settings, now)?;
        save(req, path, rec).await?;
        return Ok(());
    }
    loop {
        match rec.state.step {
            Step::Idle => {
                let outcome = create(kv, req, path, rec).await;
                record(kv, req, path, rec, "create", outcome).await?
            }
            Step::Created => {
                let outcome = set(kv, req, path, rec).await;
                record(kv, req, path, rec, "set", outcome).await?
            }
            Step::Set => {
                let outcome = test(kv, req, path, rec).await;
                record(kv, req, path, rec, "test", outcome).await?
            }
            Step::Tested => {
                let outcome = finish(kv, req, path, rec).await;
                record(kv, req, path, rec, "finish", outcome).await?;
                return Ok(());
            }
        }
    }
}

fn within_window(settings: &Settings, rec: &Record, now: i64) -> bool {
    settings.schedule.is_empty()
        || hush_core::schedule::inside_window(rec.state.next_rotation, settings.window, now)
}

/// Records one step's outcome (history, audit log, backoff on failure) and saves the
/// record. A failure is returned with what was done and when it is tried again.
async fn record(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    rec: &mut Record,
    name: &str,
    outcome: Result<String>,
) -> Result<()> {
    let now = now_secs(kv)?;
    let audit_data = {
        let mut m = Map::new();
        m.insert("secret".into(), json!(path));
        m.insert("step".into(), json!(name));
        m
    };
    match outcome {
        Ok(detail) => {
            push_event(rec, now, name, &detail);
            rec.state.attempts = 0;
            rec.state.last_error.clear();
            if name == "finish" {
                // finish saved the record with the new version, in one transaction.
            } else {
                save(req, path, rec).await?;
            }
            if let Some(peers) = req.peers {
                let mut body = Map::new();
                body.insert("step".into(), json!(name));
                body.insert("result".into(), json!(detail));
                peers
                    .audit_event(req.mount, &format!("rotate/{path}"), &audit_data, Ok(&body))
                    .await?;
            }
            crash_point(name);
            Ok(())
        }
        Err(e) => {
            rec.state.attempts = rec.state.attempts.saturating_add(1);
            let shift = rec.state.attempts.saturating_sub(1).min(16);
            let wait = (FIRST_BACKOFF_SECS << shift).min(MAX_BACKOFF_SECS);
            rec.state.next_attempt = now.saturating_add(wait);
            let message = e.to_string();
            rec.state.last_error = format!("{name}: {message}");
            push_event(rec, now, name, &format!("failed: {message}"));
            // The failure is what the caller needs to hear; a save that fails too is logged.
            if let Err(save_err) = save(req, path, rec).await {
                tracing::error!(secret = path, error = %save_err, "could not save a rotation's failure");
            }
            if let Some(peers) = req.peers {
                let reason = format!("rotation step {name} failed: {message}");
                if let Err(audit_err) = peers
                    .audit_event(
                        req.mount,
                        &format!("rotate/{path}"),
                        &audit_data,
                        Err(&reason),
                    )
                    .await
                {
                    tracing::error!(secret = path, error = %audit_err, "could not audit a rotation's failure");
                }
            }
            let context = format!(
                "rotation of {}data/{path} failed at step {name} (attempt {}, tried again in \
                 {wait}s or at once with hush rotate; the current value is unchanged): ",
                req.mount.path, rec.state.attempts
            );
            Err(match e {
                CoreError::BadRequest(m) => CoreError::BadRequest(context + &m),
                CoreError::NotFound(m) => CoreError::BadRequest(context + &m),
                CoreError::Upstream(m) => CoreError::Upstream(context + &m),
                other => CoreError::Upstream(context + &other.to_string()),
            })
        }
    }
}

/// Stops the process right after a step was saved, when a test asks for it (debug builds
/// only): the kill -9 between two steps that crash recovery must survive.
fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("HUSH_TEST_CRASH_AFTER_ROTATION_STEP").is_ok_and(|s| s == step) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

fn push_event(rec: &mut Record, time: i64, step: &str, outcome: &str) {
    let h = &mut rec.state.history;
    h.push(Event {
        time,
        step: step.to_string(),
        outcome: outcome.to_string(),
    });
    if h.len() > HISTORY {
        let extra = h.len() - HISTORY;
        h.drain(..extra);
    }
}

async fn password(req: &EngineRequest<'_>, policy: &str) -> Result<String> {
    let policy = if policy.is_empty() {
        hush_policy::PasswordPolicy::vault_default()
    } else {
        req.peers("a password policy")?
            .password_policy(policy)
            .await?
            .ok_or_else(|| {
                CoreError::bad(format!(
                    "the password policy \"{policy}\" no longer exists: create it again, or \
                     write the rotation settings without password_policy"
                ))
            })?
    };
    Ok(hush_core::engine::generate_password(&policy)?.to_string())
}

/// The latest live version's number and data (0 and empty when the secret has none).
async fn current(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
) -> Result<(u64, Map<String, Value>)> {
    let Some(bytes) = req.view.get(&metadata_key(path)).await? else {
        return Ok((0, Map::new()));
    };
    let meta: KeyMeta = serde_json::from_slice(&bytes)
        .map_err(|e| CoreError::Internal(format!("the metadata of {path:?} is unreadable: {e}")))?;
    let now = kv.now_nanos()?;
    let version = meta.current_version;
    match meta.versions.get(&version) {
        Some(vm) if vm.is_live(now) => {}
        _ => return Ok((version, Map::new())),
    }
    match req.view.get(&version_key(path, version)).await? {
        Some(bytes) => Ok((
            version,
            serde_json::from_slice(&bytes).map_err(|e| {
                CoreError::Internal(format!("version {version} of {path:?} is unreadable: {e}"))
            })?,
        )),
        None => Ok((version, Map::new())),
    }
}

async fn create(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    rec: &mut Record,
) -> Result<String> {
    let (_, mut data) = {
        let _guard = kv.lock_for(path).read().await;
        current(kv, req, path).await?
    };
    let key_field = rec.settings.key.clone();
    let mut username = String::new();
    match &rec.settings.generator {
        Generator::Password { policy } => {
            data.insert(key_field, json!(password(req, policy).await?));
        }
        Generator::Random { bytes, encoding } => {
            let raw = zeroize::Zeroizing::new(hush_crypto::random_bytes(*bytes as usize)?);
            let value = match encoding.as_str() {
                "hex" => hush_crypto::hash::to_hex(&raw),
                "base64url" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*raw),
                _ => base64::engine::general_purpose::STANDARD.encode(&*raw),
            };
            data.insert(key_field, json!(value));
        }
        Generator::Database {
            usernames,
            policy,
            username_key,
            ..
        } => {
            let now_user = data.get(username_key).and_then(Value::as_str).unwrap_or("");
            username = match usernames.as_slice() {
                [a, b] if now_user == a => b.clone(),
                [a, _] => a.clone(),
                [only] => only.clone(),
                _ => {
                    return Err(CoreError::Internal(
                        "a database rotator without users".into(),
                    ))
                }
            };
            data.insert(username_key.clone(), json!(username));
            data.insert(key_field, json!(password(req, policy).await?));
            // The idle user about to get a new password may be the previous one still in
            // its grace period (a rotation on request, "on compromise"): its grace ends now.
            if rec
                .state
                .previous
                .as_ref()
                .is_some_and(|p| p.username == username)
            {
                rec.state.previous = None;
            }
        }
    }
    let now = now_secs(kv)?;
    rec.state.pending = Some(Pending {
        data,
        username: username.clone(),
        started: now,
    });
    rec.state.step = Step::Created;
    Ok(if username.is_empty() {
        "new value created".to_string()
    } else {
        format!("new password created for {username}")
    })
}

fn pending(rec: &Record) -> Result<&Pending> {
    rec.state
        .pending
        .as_ref()
        .ok_or_else(|| CoreError::Internal("a rotation under way lost its pending value".into()))
}

/// The database credential change for the pending value.
async fn database_change(
    req: &EngineRequest<'_>,
    rec: &Record,
    op: CredentialOp,
) -> Result<String> {
    let Generator::Database { mount, db_name, .. } = &rec.settings.generator else {
        return Ok(String::new());
    };
    let p = pending(rec)?;
    let password = p
        .data
        .get(&rec.settings.key)
        .and_then(Value::as_str)
        .unwrap_or("");
    req.peers("a database rotator")?
        .change_credential(
            mount,
            &CredentialChange {
                op,
                target: db_name,
                username: &p.username,
                password,
            },
        )
        .await?;
    Ok(p.username.clone())
}

async fn set(
    _kv: &KvBackend,
    req: &EngineRequest<'_>,
    _path: &str,
    rec: &mut Record,
) -> Result<String> {
    let user = database_change(req, rec, CredentialOp::Set).await?;
    rec.state.step = Step::Set;
    Ok(if user.is_empty() {
        "nothing to set outside hush".to_string()
    } else {
        format!("password of {user} set in the database")
    })
}

async fn test(
    _kv: &KvBackend,
    req: &EngineRequest<'_>,
    _path: &str,
    rec: &mut Record,
) -> Result<String> {
    let user = database_change(req, rec, CredentialOp::Test).await?;
    let p = pending(rec)?;
    if p.data
        .get(&rec.settings.key)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(CoreError::Internal("the pending value is empty".into()));
    }
    rec.state.step = Step::Tested;
    Ok(if user.is_empty() {
        "value checked".to_string()
    } else {
        format!("logged in as {user} with the new password")
    })
}

async fn finish(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    rec: &mut Record,
) -> Result<String> {
    let _guard = kv.lock_for(path).write().await;
    let p = pending(rec)?.clone();
    let (old_version, latest) = current(kv, req, path).await?;
    // What others wrote to the secret since *create* stays: only the rotated fields
    // change.
    let mut data = latest;
    let old_user = match &rec.settings.generator {
        Generator::Database { username_key, .. } => {
            let old = data
                .get(username_key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(u) = p.data.get(username_key) {
                data.insert(username_key.clone(), u.clone());
            }
            old
        }
        _ => String::new(),
    };
    if let Some(v) = p.data.get(&rec.settings.key) {
        data.insert(rec.settings.key.clone(), v.clone());
    }
    let now = now_secs(kv)?;
    let mut next = rec.clone();
    next.state.step = Step::Idle;
    next.state.pending = None;
    next.state.previous = (old_version > 0).then(|| Previous {
        version: old_version,
        username: old_user,
        until: now.saturating_add(next.settings.grace_period as i64),
    });
    next.state.last_rotation = now;
    next.state.next_rotation = next_after(&next.settings, now)?;
    next.state.rotations = next.state.rotations.saturating_add(1);
    next.state.attempts = 0;
    next.state.last_error.clear();
    // The version the commit below creates (the secret's lock is held): the saved record
    // names it as the caller's answer does.
    let detail = format!("version {} is current", old_version.saturating_add(1));
    push_event(&mut next, now, "finish", &detail);
    let record = ViewOp::Put(key(path), encode(&next)?);
    super::v2::commit_rotated(kv, req, path, &data, record).await?;
    // `record` adds the event to the caller's copy again.
    next.state.history.pop();
    *rec = next;
    if let Some(prev) = &rec.state.previous {
        kv.rotation_due
            .fetch_min(prev.until.max(1), Ordering::Relaxed);
    }
    Ok(detail)
}

async fn revoke_previous(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    rec: &mut Record,
) -> Result<String> {
    let Some(prev) = rec.state.previous.clone() else {
        return Ok(String::new());
    };
    let mut detail = format!("version {} is no longer previous", prev.version);
    if let Generator::Database {
        mount,
        db_name,
        policy,
        username_key,
        ..
    } = &rec.settings.generator
    {
        let (_, data) = {
            let _guard = kv.lock_for(path).read().await;
            current(kv, req, path).await?
        };
        let now_user = data.get(username_key).and_then(Value::as_str).unwrap_or("");
        if !prev.username.is_empty() && prev.username != now_user {
            // A password nobody is told: the previous credentials stop working.
            let unknown = zeroize::Zeroizing::new(password(req, policy).await?);
            req.peers("a database rotator")?
                .change_credential(
                    mount,
                    &CredentialChange {
                        op: CredentialOp::Set,
                        target: db_name,
                        username: &prev.username,
                        password: &unknown,
                    },
                )
                .await?;
            detail = format!("the previous password of {} was revoked", prev.username);
        }
    }
    rec.state.previous = None;
    Ok(detail)
}

/// `data/<path>?label=`: which version, or the pending value, a label names.
pub(crate) enum Labelled {
    /// Read this version.
    Version(u64),
    /// The pending value, not a version yet.
    Pending(Map<String, Value>, i64),
}

/// Resolves `label` for `path` (`current` is the latest version, 0).
pub(crate) async fn label(
    kv: &KvBackend,
    req: &EngineRequest<'_>,
    path: &str,
    label: &str,
) -> Result<Labelled> {
    match label {
        "current" => Ok(Labelled::Version(0)),
        "previous" | "pending" => {
            let rec = load(req, path).await?;
            let none = || {
                CoreError::NotFound(format!(
                    "{} has no {label} value: {}",
                    path,
                    if label == "previous" {
                        "no rotation replaced a value within the grace period"
                    } else {
                        "no rotation is under way"
                    }
                ))
            };
            let Some(rec) = rec else { return Err(none()) };
            if label == "previous" {
                // Past its grace period a previous value is not offered, even before the
                // maintenance round has revoked it.
                let now = now_secs(kv)?;
                rec.state
                    .previous
                    .filter(|p| p.until > now)
                    .map(|p| Labelled::Version(p.version))
                    .ok_or_else(none)
            } else {
                rec.state
                    .pending
                    .map(|p| Labelled::Pending(p.data, p.started))
                    .ok_or_else(none)
            }
        }
        other => Err(CoreError::bad(format!(
            "invalid label {other:?}: use current, previous or pending"
        ))),
    }
}

/// The maintenance round: runs what is due for every secret with a rotation, at most once per
/// round per secret. Skips the scan while nothing can be due.
pub(crate) async fn periodic(kv: &KvBackend, req: &EngineRequest<'_>) -> Result<()> {
    let now = now_secs(kv)?;
    let due = kv.rotation_due.load(Ordering::Relaxed);
    if due > now {
        return Ok(());
    }
    // Until the scan is done, anything written meanwhile lowers this again.
    kv.rotation_due.store(i64::MAX, Ordering::Relaxed);
    let mut earliest = i64::MAX;
    let mut folders = vec![String::new()];
    let mut seen = 0usize;
    let mut failures = Vec::new();
    while let Some(folder) = folders.pop() {
        for name in req.view.list(&format!("{PREFIX}{folder}")).await? {
            let full = format!("{folder}{name}");
            if name.ends_with('/') {
                folders.push(full);
                continue;
            }
            seen += 1;
            if seen > MAX_SCAN {
                break;
            }
            let _rotating = kv.rotation_lock.lock().await;
            let Some(mut rec) = load(req, &full).await? else {
                continue;
            };
            if let Err(e) = run(kv, req, &full, &mut rec, false).await {
                failures.push(e.to_string());
            }
            earliest = earliest.min(wake_time(&rec));
        }
    }
    kv.rotation_due.fetch_min(earliest, Ordering::Relaxed);
    for f in &failures {
        tracing::warn!(mount = %req.mount.path, error = %f, "a scheduled rotation step failed");
    }
    Ok(())
}

/// When a secret next needs the maintenance round.
fn wake_time(rec: &Record) -> i64 {
    let st = &rec.state;
    let mut t = i64::MAX;
    if st.attempts > 0 || st.step != Step::Idle {
        t = t.min(st.next_attempt);
    }
    if st.next_rotation > 0 {
        t = t.min(st.next_rotation);
    }
    if let Some(p) = &st.previous {
        t = t.min(p.until);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: Step) -> Record {
        Record {
            settings: Settings {
                period: 10,
                schedule: String::new(),
                window: 0,
                grace_period: 5,
                key: "password".into(),
                generator: Generator::Password {
                    policy: String::new(),
                },
            },
            state: State {
                step,
                ..State::default()
            },
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut r = rec(Step::Idle);
        for i in 0..50 {
            push_event(&mut r, i, "create", "ok");
        }
        assert_eq!(r.state.history.len(), HISTORY);
        assert_eq!(r.state.history[0].time, 30);
    }

    #[test]
    fn wake_time_is_the_earliest_of_what_waits() {
        let mut r = rec(Step::Idle);
        r.state.next_rotation = 100;
        assert_eq!(wake_time(&r), 100);
        r.state.previous = Some(Previous {
            version: 1,
            username: String::new(),
            until: 50,
        });
        assert_eq!(wake_time(&r), 50);
        r.state.step = Step::Set;
        r.state.next_attempt = 20;
        assert_eq!(wake_time(&r), 20);
    }

    #[test]
    fn period_schedules_the_next_rotation() {
        let r = rec(Step::Idle);
        assert_eq!(next_after(&r.settings, 1000).unwrap(), 1010);
    }
}
