//! `Health`: what a shipper knows about its backend between requests (an
//! outage and since when, a backend refusing everything, the backoffs,
//! which refusals are still to be logged), as a plain type over a clock
//! passed in: no actix, no network, no logging. The `Shipper` feeds it
//! each request's outcome and turns its answers into log lines, health on
//! `/healthz` and the next wake-up.
//!
//! The rules it keeps:
//! - an outage is logged when it starts, again only when its reason
//!   changes or every [`REPEAT_LOG_EVERY`], and once when it ends (with
//!   its duration);
//! - connection errors, timeouts, 429 and 5xx wait the exponential
//!   backoff (429/5xx at least their `Retry-After`), credentials and
//!   wrong URLs the long one; a delivery resets both;
//! - a batch the backend refused whole (nothing stored, not out of
//!   order) makes it "refusing every sample" until it stores again, and
//!   the next batch waits the growing backoff;
//! - refused samples are logged at most every [`REJECTION_LOG_EVERY`],
//!   with the count since the last line; out-of-order refusals likewise,
//!   on their own line.

use std::time::{Duration, Instant};

use super::backoff::Backoff;

/// Log refused samples at most this often (the counter has them all).
pub const REJECTION_LOG_EVERY: Duration = Duration::from_secs(60);
/// Repeat an ongoing problem in the log at most this often.
pub const REPEAT_LOG_EVERY: Duration = Duration::from_secs(300);
/// The first delay after a credentials or wrong-URL answer (it doubles up
/// to `retry.max_backoff`): a person has to fix something, so hammering
/// helps nobody.
pub const LONG_BACKOFF_MIN: Duration = Duration::from_secs(30);

/// Which wait a failure gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Unreachable, timeouts, transport errors.
    Backoff,
    /// 429/5xx: the backoff, at least the server's `Retry-After`.
    After(Option<Duration>),
    /// 401/403, 404/405: a person must fix something.
    Long,
}

/// What to log about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageLog {
    /// The first failure after a delivery.
    Started,
    /// The outage goes on, with a new reason or for another
    /// [`REPEAT_LOG_EVERY`]; it has lasted `duration`.
    Again { duration: Duration },
    /// Nothing new (debug only).
    Quiet,
}

/// The answer to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Wait this long before the retry.
    pub delay: Duration,
    pub log: OutageLog,
}

/// One delivered batch, as far as health goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Samples the backend stored.
    pub samples: u64,
    /// Samples it refused as invalid or too large.
    pub rejected: u64,
    /// Some request of the batch was refused for good (not out of order).
    pub refused: bool,
    /// Samples it refused as out of order.
    pub out_of_order: u64,
}

/// The answer to a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfterDelivery {
    /// The backend refused the whole batch: wait this long before the
    /// next one (and show it as not storing).
    pub pause: Option<Duration>,
    /// It just started refusing everything: log it once.
    pub refusing_started: bool,
    /// Show it as storing again (after an outage or a refusing spell).
    pub healthy_again: bool,
    /// It stores samples again after refusing everything: log it.
    pub stores_again: bool,
    /// An outage ended after this long: log it.
    pub outage_ended: Option<Duration>,
    /// Log this many refused samples now (rate-limited).
    pub log_rejected: Option<u64>,
    /// Log this many out-of-order samples now, with the hint.
    pub log_out_of_order: Option<u64>,
}

/// An ongoing problem with the backend.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    reason: &'static str,
    last_logged: Instant,
}

/// A log line allowed at most every `every`, counting what it stands for
/// meanwhile.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Adds `n`; returns the count to log now, if a line is due.
    fn add(&mut self, n: u64, now: Instant, every: Duration) -> Option<u64> {
        self.unlogged += n;
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// A backend's health between requests; see the module doc.
#[derive(Debug)]
pub struct Health {
    /// For 429/5xx, timeouts and unreachable backends.
    backoff: Backoff,
    /// For answers a person must fix (401/403/404/405).
    long_backoff: Backoff,
    outage: Option<Outage>,
    /// The last batch was refused whole.
    refusing: bool,
    rejections: Throttle,
    out_of_order: Throttle,
}

impl Health {
    /// `min` and `max`: `sender.retry`.
    pub fn new(min: Duration, max: Duration) -> Health {
        Health {
            backoff: Backoff::new(min, max),
            long_backoff: Backoff::new(LONG_BACKOFF_MIN.min(max), max),
            outage: None,
            refusing: false,
            rejections: Throttle::default(),
            out_of_order: Throttle::default(),
        }
    }

    /// Whether requests are failing now.
    pub fn in_outage(&self) -> bool {
        self.outage.is_some()
    }

    /// A request failed for `reason` (a `sentinel_send_failures_total`
    /// reason) and its batch is kept.
    pub fn failed(&mut self, reason: &'static str, retry: Retry, now: Instant) -> Failure {
        let delay = match retry {
            Retry::Backoff => self.backoff.next_delay(),
            Retry::After(ra) => self.backoff.next_delay_after(ra),
            Retry::Long => self.long_backoff.next_delay(),
        };
        let log = match &mut self.outage {
            Some(o)
                if o.reason == reason
                    && now.saturating_duration_since(o.last_logged) < REPEAT_LOG_EVERY =>
            {
                OutageLog::Quiet
            }
            Some(o) => {
                o.reason = reason;
                o.last_logged = now;
                OutageLog::Again {
                    duration: now.saturating_duration_since(o.since),
                }
            }
            None => {
                self.outage = Some(Outage {
                    since: now,
                    reason,
                    last_logged: now,
                });
                OutageLog::Started
            }
        };
        Failure { delay, log }
    }

    /// A batch was delivered (stored, or refused for good in part or
    /// whole).
    pub fn delivered(&mut self, d: Delivery, now: Instant) -> AfterDelivery {
        let mut out = AfterDelivery::default();
        if d.out_of_order > 0 {
            out.log_out_of_order = self
                .out_of_order
                .add(d.out_of_order, now, REJECTION_LOG_EVERY);
        }
        if d.refused {
            out.log_rejected = self.rejections.add(d.rejected, now, REJECTION_LOG_EVERY);
        }
        self.long_backoff.reset();
        // Refused as out of order the backend still works: it refuses the
        // order of a backfill, not the data.
        let refused_all = d.samples == 0 && d.refused;
        if refused_all {
            out.pause = Some(self.backoff.next_delay());
            out.refusing_started = !self.refusing;
            self.refusing = true;
        } else {
            self.backoff.reset();
            if self.outage.is_some() || (self.refusing && d.samples > 0) {
                out.healthy_again = true;
                out.stores_again = self.refusing;
                self.refusing = false;
            }
        }
        out.outage_ended = self
            .outage
            .take()
            .map(|o| now.saturating_duration_since(o.since));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(60);

    fn stored(samples: u64) -> Delivery {
        Delivery {
            samples,
            ..Delivery::default()
        }
    }

    #[test]
    fn an_outage_is_logged_at_its_start_on_a_new_reason_every_5_minutes_and_at_its_end() {
        let t0 = Instant::now();
        let mut h = Health::new(MIN, MAX);
        assert_eq!(
            h.failed("unreachable", Retry::Backoff, t0).log,
            OutageLog::Started
        );
        assert!(h.in_outage());
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            h.failed("unreachable", Retry::Backoff, t1).log,
            OutageLog::Quiet
        );
        assert_eq!(
            h.failed("server", Retry::After(None), t1).log,
            OutageLog::Again {
                duration: Duration::from_secs(10)
            }
        );
        let t2 = t1 + REPEAT_LOG_EVERY;
        assert_eq!(
            h.failed("server", Retry::After(None), t2).log,
            OutageLog::Again {
                duration: Duration::from_secs(310)
            }
        );
        let t3 = t2 + Duration::from_secs(1);
        let after = h.delivered(stored(8), t3);
        assert_eq!(after.outage_ended, Some(Duration::from_secs(311)));
        assert!(after.healthy_again && !after.stores_again && after.pause.is_none());
        assert!(!h.in_outage());
        // A second delivery: nothing to report.
        assert_eq!(h.delivered(stored(8), t3), AfterDelivery::default());
    }

    #[test]
    fn backoffs_grow_while_failing_and_reset_on_delivery() {
        let t = Instant::now();
        let mut h = Health::new(MIN, MAX);
        let delays: Vec<Duration> = (0..8)
            .map(|_| h.failed("timeout", Retry::Backoff, t).delay)
            .collect();
        assert!(delays[0] <= MIN, "{delays:?}");
        assert!(delays[7] >= Duration::from_secs(12), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= MAX));
        // Retry-After is honoured.
        let ra = h.failed("server", Retry::After(Some(Duration::from_secs(120))), t);
        assert!(ra.delay >= Duration::from_secs(120), "{ra:?}");
        // Credentials: the long backoff, from 30 s.
        let long = h.failed("credentials", Retry::Long, t).delay;
        assert!(
            long >= LONG_BACKOFF_MIN / 2 && long <= LONG_BACKOFF_MIN,
            "{long:?}"
        );
        h.delivered(stored(1), t);
        assert!(h.failed("timeout", Retry::Backoff, t).delay <= MIN);
        assert!(h.failed("credentials", Retry::Long, t).delay <= LONG_BACKOFF_MIN);
    }

    #[test]
    fn a_backend_refusing_everything_is_paused_and_shown_until_it_stores() {
        let t = Instant::now();
        let mut h = Health::new(MIN, MAX);
        let refused = Delivery {
            samples: 0,
            rejected: 10,
            refused: true,
            out_of_order: 0,
        };
        let a = h.delivered(refused, t);
        assert!(a.pause.is_some() && a.refusing_started);
        assert_eq!(a.log_rejected, Some(10));
        let b = h.delivered(refused, t + Duration::from_secs(1));
        assert!(b.pause.unwrap() >= a.pause.unwrap() / 2);
        assert!(!b.refusing_started, "logged once");
        assert_eq!(b.log_rejected, None, "rate-limited");
        let c = h.delivered(stored(5), t + Duration::from_secs(2));
        assert!(c.healthy_again && c.stores_again && c.pause.is_none());
        // Some refused, some stored: not refusing everything.
        let d = h.delivered(
            Delivery {
                samples: 3,
                rejected: 2,
                refused: true,
                out_of_order: 0,
            },
            t + REJECTION_LOG_EVERY,
        );
        assert_eq!(d.pause, None);
        assert_eq!(
            d.log_rejected,
            Some(10 + 2),
            "the count since the last line"
        );
    }

    #[test]
    fn out_of_order_refusals_are_logged_once_a_minute_and_do_not_mark_the_backend() {
        let t = Instant::now();
        let mut h = Health::new(MIN, MAX);
        let ooo = Delivery {
            samples: 0,
            rejected: 0,
            refused: false,
            out_of_order: 40,
        };
        let a = h.delivered(ooo, t);
        assert_eq!(a.log_out_of_order, Some(40));
        assert_eq!(a.pause, None);
        assert!(!a.refusing_started);
        assert_eq!(
            h.delivered(ooo, t + Duration::from_secs(30))
                .log_out_of_order,
            None
        );
        assert_eq!(
            h.delivered(ooo, t + REJECTION_LOG_EVERY).log_out_of_order,
            Some(80)
        );
    }
}
