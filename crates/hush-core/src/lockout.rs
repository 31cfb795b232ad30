//! Failed-login lockout, per user (the auth method's lockout key) and per client address, per
//! auth mount. Counters live inside the barrier, so a lockout survives a restart. Failures are
//! counted for names that do not exist too, so a lockout reveals nothing about which users do.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::MountEntry;
use crate::error::{CoreError, Result};
use crate::view::View;

const PREFIX: &str = "core/lockout/";

/// The lockout settings of a mount (`user_lockout_*` in its tune config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Failures that lock.
    pub threshold: u64,
    /// How long a lock lasts, seconds.
    pub duration: u64,
    /// Failures older than this are forgotten, seconds.
    pub counter_reset: u64,
    /// Lockout switched off.
    pub disabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: 5,
            duration: 15 * 60,
            counter_reset: 15 * 60,
            disabled: false,
        }
    }
}

/// Reads a mount's settings, falling back to the defaults for anything absent or invalid.
pub fn settings(entry: &MountEntry) -> Settings {
    settings_of(&entry.config)
}

/// [`settings`] from a mount's config.
pub fn settings_of(config: &crate::engine::MountConfig) -> Settings {
    let mut s = Settings::default();
    let extra = &config.extra;
    let secs = |k: &str| -> Option<u64> {
        extra
            .get(k)
            .and_then(|v| hush_config::duration::parse_duration_value(v).ok())
            .map(|d| d.as_secs())
    };
    if let Some(v) = extra.get("user_lockout_threshold") {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(t) => t.parse().ok(),
            _ => None,
        };
        if let Some(n) = n.filter(|n| *n > 0) {
            s.threshold = n;
        }
    }
    if let Some(v) = secs("user_lockout_duration").filter(|v| *v > 0) {
        s.duration = v;
    }
    if let Some(v) = secs("user_lockout_counter_reset").filter(|v| *v > 0) {
        s.counter_reset = v;
    }
    if let Some(v) = extra.get("user_lockout_disable") {
        s.disabled = matches!(v, Value::Bool(true)) || v.as_str() == Some("true");
    }
    s
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// What is counted: the user name, or `addr:<ip>`.
    name: String,
    failures: u64,
    last_failure: i64,
    locked_until: Option<i64>,
}

impl Record {
    /// The failures that still count at `now`: none once a lock expired or the counter reset.
    fn live_failures(&self, s: &Settings, now: i64) -> u64 {
        let expired_lock = self.locked_until.is_some_and(|u| u <= now);
        if expired_lock || now - self.last_failure > s.counter_reset as i64 {
            0
        } else {
            self.failures
        }
    }

    /// Counts one failure at `now`: failures that no longer count start over; reaching the
    /// threshold locks for the lock duration. Returns whether this failure locked.
    fn fail(&mut self, s: &Settings, now: i64) -> bool {
        if self.live_failures(s, now) == 0 {
            self.failures = 0;
            self.locked_until = None;
        }
        self.failures += 1;
        self.last_failure = now;
        let locks = self.failures >= s.threshold;
        if locks {
            self.locked_until = Some(now + s.duration as i64);
        }
        locks
    }
}

fn record_key(mount_accessor: &str, name: &str) -> String {
    format!(
        "{PREFIX}{mount_accessor}/{}",
        hex::encode(hush_crypto::hash::sha256(name.as_bytes()))
    )
}

fn names(user: Option<&str>, addr: Option<IpAddr>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(u) = user {
        v.push(u.to_string());
    }
    if let Some(a) = addr {
        v.push(format!("addr:{a}"));
    }
    v
}

/// Logins whose expensive credential check (argon2, a JWT signature, a TokenReview) is under
/// way, per lockout record. A guess is reserved against the threshold *before* it is checked,
/// so however many arrive at once, at most `threshold` wrong guesses are ever checked for one
/// user or one address: `stored failures + checks in flight` may not reach the threshold.
/// Beyond that a login waits for the checks in flight to finish (they may be the user's own
/// concurrent logins, which succeed) and is then let in or refused as the counters say.
#[derive(Default)]
pub struct InFlight {
    /// Serializes the read-then-reserve decision.
    gate: tokio::sync::Mutex<()>,
    counts: parking_lot::Mutex<HashMap<String, u64>>,
    done: tokio::sync::Notify,
}

/// A reserved login attempt; dropping it (after any failure was recorded) frees the slot.
pub struct Reservation<'a> {
    flight: &'a InFlight,
    keys: Vec<String>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut counts = self.flight.counts.lock();
        for k in &self.keys {
            if let Some(n) = counts.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(k);
                }
            }
        }
        drop(counts);
        self.flight.done.notify_waiters();
    }
}

/// How long a login waits for the checks ahead of it before it is refused as locked.
const RESERVE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Refuses a login while its user or client address is locked, and otherwise reserves its
/// attempt against the threshold (see [`InFlight`]). Keep the reservation until the failure,
/// if any, has been recorded with [`failure`].
pub async fn reserve<'a>(
    view: &View,
    flight: &'a InFlight,
    entry: &MountEntry,
    user: Option<&str>,
    addr: Option<IpAddr>,
    now: i64,
) -> Result<Reservation<'a>> {
    let s = settings(entry);
    if s.disabled {
        return Ok(Reservation {
            flight,
            keys: Vec::new(),
        });
    }
    let deadline = tokio::time::Instant::now() + RESERVE_WAIT;
    loop {
        let gate = flight.gate.lock().await;
        let mut keys = Vec::new();
        let mut full = false;
        for name in names(user, addr) {
            let key = record_key(&entry.accessor, &name);
            let rec: Option<Record> = view.get_json(&key).await?;
            if let Some(until) = rec.as_ref().and_then(|r| r.locked_until) {
                if until > now {
                    return Err(locked_error(entry, &name, user, until - now));
                }
            }
            let stored = rec.map_or(0, |r| r.live_failures(&s, now));
            let pending = flight.counts.lock().get(&key).copied().unwrap_or(0);
            if stored + pending >= s.threshold {
                full = true;
            }
            keys.push(key);
        }
        if !full {
            let mut counts = flight.counts.lock();
            for k in &keys {
                *counts.entry(k.clone()).or_insert(0) += 1;
            }
            return Ok(Reservation { flight, keys });
        }
        // Register for the wake-up before letting others in, so none is missed.
        let notified = flight.done.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        drop(gate);
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(CoreError::InvalidCredentials(
                "too many failed logins are being checked for this user or address: try again \
                 later"
                    .into(),
            ));
        }
    }
}

/// The refusal of a locked login: which lock applies (the user, or the client address every
/// user behind it shares), for how long, and how an operator lifts it early.
fn locked_error(entry: &MountEntry, name: &str, user: Option<&str>, secs: i64) -> CoreError {
    let mount = format!("auth/{}", entry.path);
    let unlock = |alias: &str| {
        format!(
            "an operator can lift it now: POST sys/locked-users/{}/unlock/{alias} (GET \
             sys/locked-users lists locks)",
            entry.accessor
        )
    };
    match name.strip_prefix("addr:") {
        Some(addr) => CoreError::InvalidCredentials(format!(
            "too many failed logins from client address {addr} at {mount}: logins from this \
             address are locked for {secs} more seconds, whichever user they are for. Behind a \
             proxy every client shares its address: set x_forwarded_for_authorized_addrs on the \
             listener. Unlocking any user of this mount clears the address locks too; {}",
            unlock(user.unwrap_or("USER"))
        )),
        // An AppRole lock is keyed by role ID, a login credential: never echoed.
        None if entry.kind == "approle" => CoreError::InvalidCredentials(format!(
            "too many failed logins for this role ID at {mount}: it is locked for {secs} more \
             seconds; {}",
            unlock("ROLE_ID")
        )),
        None => CoreError::InvalidCredentials(format!(
            "too many failed logins for \"{name}\" at {mount}: this user is locked for {secs} \
             more seconds; {}",
            unlock(name)
        )),
    }
}

/// Counts a failed login.
pub async fn failure(
    view: &View,
    entry: &MountEntry,
    user: Option<&str>,
    addr: Option<IpAddr>,
    now: i64,
) -> Result<()> {
    let s = settings(entry);
    if s.disabled {
        return Ok(());
    }
    for name in names(user, addr) {
        let key = record_key(&entry.accessor, &name);
        let mut rec: Record = view.get_json(&key).await?.unwrap_or(Record {
            name: name.clone(),
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if rec.fail(&s, now) {
            tracing::warn!(mount = %entry.path, "login locked after repeated failures");
        }
        view.put_json(&key, &rec).await?;
    }
    Ok(())
}

/// Forgets a user's failures after a successful login.
pub async fn success(view: &View, entry: &MountEntry, user: Option<&str>) -> Result<()> {
    if let Some(u) = user {
        let key = record_key(&entry.accessor, u);
        if view.get(&key).await?.is_some() {
            view.delete(&key).await?;
        }
    }
    Ok(())
}

/// The users locked out now, by mount accessor (accessors with none left out).
pub async fn locked(view: &View, now: i64) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for acc in view.list(PREFIX).await? {
        let acc = acc.trim_end_matches('/').to_string();
        let mut ids = Vec::new();
        for k in view.list(&format!("{PREFIX}{acc}/")).await? {
            let rec: Option<Record> = view.get_json(&format!("{PREFIX}{acc}/{k}")).await?;
            if let Some(r) = rec.filter(|r| r.locked_until.is_some_and(|u| u > now)) {
                ids.push(r.name);
            }
        }
        if !ids.is_empty() {
            out.push((acc, ids));
        }
    }
    Ok(out)
}

/// Unlocks `alias` on the mount with `accessor`, and the client-address locks of that mount:
/// they came from the same failures, and an operator who unlocks a user means them to be able
/// to log in again.
pub async fn unlock(view: &View, accessor: &str, alias: &str) -> Result<()> {
    view.delete(&record_key(accessor, alias)).await?;
    let dir = format!("{PREFIX}{accessor}/");
    for k in view.list(&dir).await? {
        let key = format!("{dir}{k}");
        let rec: Option<Record> = view.get_json(&key).await?;
        if rec.is_some_and(|r| r.name.starts_with("addr:")) {
            view.delete(&key).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a failure happens, whether it locks, and the failures that count right after.
    type Step = (i64, bool, u64);

    fn record() -> Record {
        Record {
            name: "alice".into(),
            failures: 0,
            last_failure: 0,
            locked_until: None,
        }
    }

    #[test]
    fn transitions() {
        let s = Settings {
            threshold: 3,
            duration: 100,
            counter_reset: 50,
            disabled: false,
        };
        // (seconds of each failure, whether it locks, failures that count afterwards at that time)
        let cases: [(&str, &[Step]); 4] = [
            (
                "three quick failures lock",
                &[(1, false, 1), (2, false, 2), (3, true, 3)],
            ),
            (
                "the counter resets after a quiet spell",
                &[(1, false, 1), (2, false, 2), (60, false, 1)],
            ),
            (
                "a failure after the lock expires starts over",
                &[(1, false, 1), (2, false, 2), (3, true, 3), (104, false, 1)],
            ),
            (
                "a failure while locked keeps the lock",
                &[(1, false, 1), (2, false, 2), (3, true, 3), (50, true, 4)],
            ),
        ];
        for (what, steps) in cases {
            let mut r = record();
            for &(at, locks, live) in steps {
                assert_eq!(r.fail(&s, at), locks, "{what} at {at}");
                assert_eq!(r.live_failures(&s, at), live, "{what} at {at}");
            }
        }
        // A lock ends on time; its failures are then forgotten.
        let mut r = record();
        for t in 1..=3 {
            r.fail(&s, t);
        }
        assert_eq!(r.locked_until, Some(103));
        assert_eq!(r.live_failures(&s, 40), 3);
        assert_eq!(r.live_failures(&s, 103), 0);
    }
}
