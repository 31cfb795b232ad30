//! When to renew, replace and retry the leases of dynamic credentials that `hush run` holds.
//!
//! A read of `database/creds/app` creates a database user under a lease (a `lease_id` and a
//! `lease_duration`). While the child runs, hush follows that lease as Vault Agent does:
//!
//! * it **renews** the lease (`PUT sys/leases/renew` with the lease's own duration as the
//!   increment) once about two thirds of what is left have passed, a little earlier at random
//!   ([`renew_delay`]) so that many clients started together do not renew together;
//! * when a renewal grants less than it asked for, the lease has reached its maximum TTL (or
//!   the server refused the renewal, or the lease was never renewable): renewing further gains
//!   nothing, so hush **fetches new credentials** at about two thirds of what is left, never
//!   later than [`EXPIRY_MARGIN`] before the expiry ([`refetch_delay`]), restarts the child with
//!   them and revokes the old lease;
//! * a request that fails for a reason that may pass (the server is down or overloaded) is
//!   **retried** with exponential backoff ([`retry_delay`]), kept short enough that several
//!   attempts fit in before the lease expires.
//!
//! Everything here is arithmetic on [`Instant`]s and durations, with the randomness passed in
//! as a number in `[0, 1)`, so that the schedule is tested without a server or a clock.

use std::time::{Duration, Instant};

use crate::source::LeaseInfo;

/// The share of the time left after which a lease is renewed (or replaced), as Vault Agent's
/// lifetime watcher does: late enough not to renew needlessly often, early enough that a
/// failed attempt leaves a third of the lease for retries.
pub const RENEW_AT: f64 = 2.0 / 3.0;

/// Up to this share of a delay is taken off at random, so that clients that read their
/// credentials at the same moment (a deployment's replicas) spread their renewals.
pub const JITTER: f64 = 0.1;

/// New credentials are fetched at least this long before the old ones expire: the server
/// counts lease times in whole seconds, so its idea of the expiry can be up to a second
/// earlier than the one measured here.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(1);

/// The first wait after a failed request; it doubles with every further failure.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts, as consul-template's default maximum backoff.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// The shortest wait between two attempts, so that a lease about to expire does not turn a
/// failing server into a busy loop.
pub const RETRY_MIN: Duration = Duration::from_millis(250);

/// A random number in `[0, 1)` for jitter. Not for cryptography: the standard library's
/// per-process random hash keys, mixed with a counter and the clock, are plenty to spread
/// renewals, and spare a dependency.
pub fn jitter() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    // The top 53 bits make an exact f64 in [0, 1).
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `jitter` clamped into `[0, 1)`, so that a caller's mistake cannot make a delay negative or
/// longer than the unjittered one.
fn clamp_jitter(jitter: f64) -> f64 {
    if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// How long to wait before renewing a lease with `remaining` left: two thirds of it, less up
/// to [`JITTER`] of that at random.
pub fn renew_delay(remaining: Duration, jitter: f64) -> Duration {
    remaining.mul_f64(RENEW_AT * (1.0 - JITTER * clamp_jitter(jitter)))
}

/// How long to wait before fetching new credentials for a lease with `remaining` left that
/// cannot be extended: as for a renewal, but never later than [`EXPIRY_MARGIN`] before the
/// expiry (at once, when less than that is left).
pub fn refetch_delay(remaining: Duration, jitter: f64) -> Duration {
    renew_delay(remaining, jitter).min(remaining.saturating_sub(EXPIRY_MARGIN))
}

/// How long to wait after the `failures`-th failure in a row (1 for the first) of a request
/// about a lease with `remaining` left (`None`: already expired): [`RETRY_FIRST`] doubling up
/// to [`RETRY_MAX`], less up to a quarter at random; while the lease is valid, at most half of
/// what is left, so that there is time for more attempts; never below [`RETRY_MIN`].
pub fn retry_delay(failures: u32, remaining: Option<Duration>, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let backoff = RETRY_FIRST
        .saturating_mul(1u32 << doublings)
        .min(RETRY_MAX)
        .mul_f64(1.0 - 0.25 * clamp_jitter(jitter));
    let bounded = match remaining {
        Some(left) => backoff.min(left / 2),
        None => backoff,
    };
    bounded.max(RETRY_MIN)
}

/// The expiry of a lease granted `granted` at `at`, on the safe side of the server's whole
/// seconds (see [`EXPIRY_MARGIN`]).
pub fn expiry(at: Instant, granted: Duration) -> Instant {
    at + granted.saturating_sub(EXPIRY_MARGIN)
}

/// What to do next about a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Renew it.
    Renew,
    /// It cannot be extended: fetch new credentials.
    Refetch,
}

/// A lease hush holds, and its schedule.
#[derive(Debug, Clone)]
pub struct Held {
    /// The lease as the read's answer gave it; its `duration` is the increment renewals ask.
    pub lease: LeaseInfo,
    /// When the credentials stop working (estimated on the safe side).
    pub expires: Instant,
    /// When to act next.
    pub next: Instant,
    /// What to do then.
    pub step: Step,
    /// Failed attempts in a row, for the backoff.
    pub failures: u32,
    /// Whether the expiry without a replacement has been reported (it is said once).
    pub expiry_reported: bool,
}

impl Held {
    /// A lease just read at `now`: renewed on schedule when it is renewable, replaced on
    /// schedule when not.
    pub fn new(lease: LeaseInfo, now: Instant, jitter: f64) -> Held {
        let expires = expiry(now, lease.duration);
        let remaining = expires.saturating_duration_since(now);
        let (step, delay) = if lease.renewable {
            (Step::Renew, renew_delay(remaining, jitter))
        } else {
            (Step::Refetch, refetch_delay(remaining, jitter))
        };
        Held {
            lease,
            expires,
            next: now + delay,
            step,
            failures: 0,
            expiry_reported: false,
        }
    }

    /// Time left before the credentials expire (zero once they have).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires.saturating_duration_since(now)
    }

    /// Whether the credentials have expired.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// A renewal sent at `at` granted `granted`. Returns whether the lease was extended by
    /// what was asked (then the next renewal is scheduled); otherwise it is at its maximum TTL
    /// and new credentials are fetched before it ends.
    pub fn renewed(&mut self, granted: Duration, at: Instant, jitter: f64) -> bool {
        self.failures = 0;
        self.expires = expiry(at, granted);
        let remaining = self.remaining(at);
        let extended = granted >= self.lease.duration;
        if extended {
            self.step = Step::Renew;
            self.next = at + renew_delay(remaining, jitter);
        } else {
            self.step = Step::Refetch;
            self.next = at + refetch_delay(remaining, jitter);
        }
        extended
    }

    /// The server refused to renew the lease (not renewable, not found, not allowed):
    /// new credentials are fetched before it ends.
    pub fn refused(&mut self, now: Instant, jitter: f64) {
        self.failures = 0;
        self.step = Step::Refetch;
        self.next = now + refetch_delay(self.remaining(now), jitter);
    }

    /// A renewal or fetch failed for a reason that may pass; schedules the next attempt and
    /// returns the wait. An expired lease can only be replaced, so its step becomes
    /// [`Step::Refetch`].
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if self.expired(now) {
            self.step = Step::Refetch;
        }
        let remaining = (!self.expired(now)).then(|| self.remaining(now));
        let wait = retry_delay(self.failures, remaining, jitter);
        self.next = now + wait;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn lease(seconds: u64, renewable: bool) -> LeaseInfo {
        LeaseInfo {
            id: "database/creds/app/abc".into(),
            duration: Duration::from_secs(seconds),
            renewable,
        }
    }

    #[test]
    fn renewals_come_at_two_thirds_a_little_earlier_at_random() {
        let hour = Duration::from_secs(3600);
        assert_eq!(renew_delay(hour, 0.0), Duration::from_secs(2400));
        // The most jitter takes a tenth off: 2160 s.
        let earliest = renew_delay(hour, 0.999_999);
        assert!(earliest >= secs(2159.9) && earliest < Duration::from_secs(2400));
        // Out-of-range jitter never makes a delay longer, or negative.
        assert_eq!(renew_delay(hour, -3.0), Duration::from_secs(2400));
        assert_eq!(renew_delay(hour, f64::NAN), Duration::from_secs(2400));
        assert!(renew_delay(hour, 7.0) >= secs(2159.9));
        assert_eq!(renew_delay(Duration::ZERO, 0.5), Duration::ZERO);
    }

    #[test]
    fn refetches_are_never_after_the_expiry() {
        // Plenty left: two thirds, as a renewal.
        assert_eq!(refetch_delay(secs(30.0), 0.0), secs(20.0));
        // 2 s left: two thirds (1.33 s) would leave less than the margin: 1 s.
        assert_eq!(refetch_delay(secs(2.0), 0.0), secs(1.0));
        // Less than the margin left: at once.
        assert_eq!(refetch_delay(secs(0.8), 0.0), Duration::ZERO);
        for left in [0.0, 0.5, 1.0, 1.5, 3.0, 9.0, 600.0] {
            for j in [0.0, 0.5, 0.99] {
                let d = refetch_delay(secs(left), j);
                assert!(
                    d + EXPIRY_MARGIN <= secs(left).max(EXPIRY_MARGIN),
                    "{left} {j}"
                );
            }
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_fits_before_the_expiry() {
        let d = |n| retry_delay(n, None, 0.0);
        assert_eq!(
            [d(1), d(2), d(3), d(4)],
            [secs(1.0), secs(2.0), secs(4.0), secs(8.0)]
        );
        assert_eq!(d(7), RETRY_MAX);
        assert_eq!(d(u32::MAX), RETRY_MAX);
        assert_eq!(retry_delay(0, None, 0.0), RETRY_FIRST);
        // Jitter takes up to a quarter off.
        let j = retry_delay(3, None, 0.999);
        assert!(j > secs(3.0) && j < secs(4.0), "{j:?}");
        // With 6 s left, no wait is longer than 3 s, so more attempts fit in.
        assert_eq!(retry_delay(5, Some(secs(6.0)), 0.0), secs(3.0));
        // Never a busy loop, even right before the expiry.
        assert_eq!(retry_delay(5, Some(secs(0.1)), 0.0), RETRY_MIN);
    }

    #[test]
    fn a_renewable_lease_is_renewed_until_its_maximum_then_replaced() {
        // A role with ttl 4 s and max_ttl 10 s, as the server grants it (whole seconds).
        let t0 = Instant::now();
        let mut held = Held::new(lease(4, true), t0, 0.0);
        // The expiry is estimated a second early; the renewal is at two thirds of that.
        assert_eq!(held.expires, t0 + secs(3.0));
        assert_eq!((held.step, held.next), (Step::Renew, t0 + secs(2.0)));

        let at = held.next;
        assert!(held.renewed(secs(4.0), at, 0.0));
        assert_eq!(held.expires, at + secs(3.0));
        assert_eq!((held.step, held.next), (Step::Renew, at + secs(2.0)));

        // The server grants 2 s of the 4 asked: the maximum TTL is near.
        let at = held.next;
        assert!(!held.renewed(secs(2.0), at, 0.0));
        assert_eq!(held.step, Step::Refetch);
        // 1 s left on the safe side: fetch at once rather than after the expiry.
        assert_eq!(held.next, at);
        assert!(held.next < held.expires);
    }

    #[test]
    fn a_refused_or_unrenewable_lease_is_replaced_at_two_thirds() {
        let t0 = Instant::now();
        let held = Held::new(lease(31, false), t0, 0.0);
        assert_eq!((held.step, held.next), (Step::Refetch, t0 + secs(20.0)));

        let mut held = Held::new(lease(31, true), t0, 0.0);
        held.refused(t0 + secs(15.0), 0.0);
        // 15 s left: two thirds is 10 s.
        assert_eq!((held.step, held.next), (Step::Refetch, t0 + secs(25.0)));
    }

    #[test]
    fn failures_back_off_and_an_expired_lease_can_only_be_replaced() {
        let t0 = Instant::now();
        let mut held = Held::new(lease(61, true), t0, 0.0);
        assert_eq!(held.failed(t0 + secs(40.0), 0.0), secs(1.0));
        assert_eq!(held.failed(held.next, 0.0), secs(2.0));
        assert_eq!(held.step, Step::Renew);
        // Past the expiry: the next attempt fetches new credentials, still backing off.
        let late = t0 + secs(70.0);
        assert!(held.expired(late));
        assert_eq!(held.failed(late, 0.0), secs(4.0));
        assert_eq!(held.step, Step::Refetch);
        // A success resets the count.
        held.renewed(secs(61.0), late, 0.0);
        assert_eq!(held.failures, 0);
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
