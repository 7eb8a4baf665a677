//! Exponential backoff with jitter for the shipper's retries, honouring a
//! server's `Retry-After`.
//!
//! The ceiling doubles from `min` to `max` with each failure; the delay is
//! drawn from the upper half of the ceiling ("equal jitter"), and never
//! below `min`:
//!
//! ```text
//! ceiling(n) = min(min_backoff * 2^n, max_backoff)
//! delay(n)   ∈ [max(min_backoff, ceiling(n) / 2), ceiling(n)]
//! ```
//!
//! Equal rather than full jitter: full jitter can draw a delay near zero,
//! which hammers a backend that just answered 503; half the ceiling keeps
//! the growth while still spreading a fleet of routers that all lost the
//! same backend at the same moment.
//!
//! A `Retry-After` from the server wins over the computed delay when it is
//! longer, even above `max_backoff` (retrying before the server asked only
//! earns another 429), but is capped at [`MAX_RETRY_AFTER`] so that a
//! broken or hostile header cannot stall shipping for hours.
//!
//! No `rand` dependency: a xorshift64* generator seeded from the clock, the
//! process id and a per-process counter is plenty for jitter.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `Retry-After` that is honoured; longer ones are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// The smallest `min` accepted; a zero minimum would never grow.
pub const MIN_FLOOR: Duration = Duration::from_millis(1);

/// Retry delays for one backend.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first delay after a success, `sender.retry.min_backoff`.
    min: Duration,
    /// The ceiling never exceeds this, `sender.retry.max_backoff`.
    max: Duration,
    /// The ceiling for the next delay; doubles on each call.
    current: Duration,
    /// xorshift64* state; never zero.
    rng: u64,
}

impl Backoff {
    /// A backoff between `min` and `max` (`max` below `min` is raised to it).
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(MIN_FLOOR);
        let max = max.max(min);
        Backoff {
            min,
            max,
            current: min,
            rng: seed(),
        }
    }

    /// The delay before the next attempt; grows the ceiling for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        let floor = (ceiling / 2).max(self.min);
        let delay = floor + self.jitter(ceiling - floor);
        self.current = ceiling.saturating_mul(2).min(self.max);
        delay
    }

    /// The delay before the next attempt when the server sent
    /// `Retry-After`: the longer of it (capped at [`MAX_RETRY_AFTER`]) and
    /// the computed backoff. The ceiling grows either way.
    pub fn next_delay_after(&mut self, retry_after: Option<Duration>) -> Duration {
        let computed = self.next_delay();
        match retry_after {
            Some(ra) => computed.max(ra.min(MAX_RETRY_AFTER)),
            None => computed,
        }
    }

    /// The delay for answers that will not change soon (401/403, 404/405):
    /// jumps the ceiling to `max`, so the delay lies in `[max/2, max]`.
    pub fn next_delay_long(&mut self) -> Duration {
        self.current = self.max;
        self.next_delay()
    }

    /// Back to `min` after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// The ceiling of the next delay.
    pub fn ceiling(&self) -> Duration {
        self.current
    }

    /// A uniform duration in `[0, span]`, in nanoseconds.
    fn jitter(&mut self, span: Duration) -> Duration {
        let span_ns = span.as_nanos().min(u64::MAX as u128 - 1) as u64;
        if span_ns == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (span_ns + 1))
    }

    /// xorshift64* (Vigna).
    fn next_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A non-zero seed that differs between processes and between backoffs of
/// one process.
fn seed() -> u64 {
    // 32-bit: some router targets (32-bit mips) have no 64-bit atomics.
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = u64::from(COUNTER.fetch_add(1, Ordering::Relaxed));
    // splitmix64 finaliser to spread the bits of the mixed inputs.
    let mut z =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z == 0 {
        0x9E37_79B9_7F4A_7C15
    } else {
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ceiling_doubles_up_to_max() {
        let mut b = Backoff::new(S, 10 * S);
        let ceilings: Vec<_> = (0..6)
            .map(|_| {
                let c = b.ceiling();
                b.next_delay();
                c
            })
            .collect();
        assert_eq!(ceilings, [S, 2 * S, 4 * S, 8 * S, 10 * S, 10 * S]);
    }

    #[test]
    fn delays_stay_in_bounds() {
        let mut b = Backoff::new(S, 30 * S);
        // The first delay is exactly min: its ceiling is min and the floor
        // never goes below min.
        assert_eq!(b.next_delay(), S);
        let mut ceiling = 2 * S;
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(
                d >= S && d >= ceiling / 2 && d <= ceiling,
                "{d:?} vs {ceiling:?}"
            );
            assert!(d <= 30 * S);
            ceiling = (ceiling * 2).min(30 * S);
        }
    }

    #[test]
    fn jitter_spreads_over_the_upper_half() {
        let mut b = Backoff::new(S, 8 * S);
        let draws: Vec<Duration> = (0..400).map(|_| b.next_delay_long()).collect();
        assert!(draws.iter().all(|d| *d >= 4 * S && *d <= 8 * S));
        let low = draws.iter().filter(|d| **d < 6 * S).count();
        // Uniform over [4s, 8s]: about half below 6s.
        assert!((120..=280).contains(&low), "{low} of 400 below the middle");
        let mut distinct = draws.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 300);
    }

    #[test]
    fn reset_returns_to_min() {
        let mut b = Backoff::new(S, 60 * S);
        for _ in 0..5 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), 32 * S);
        b.reset();
        assert_eq!(b.ceiling(), S);
        assert_eq!(b.next_delay(), S);
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        let mut b = Backoff::new(S, 10 * S);
        assert_eq!(b.next_delay_after(Some(120 * S)), 120 * S);
        assert_eq!(b.ceiling(), 2 * S, "the ceiling still grows");
        assert_eq!(b.next_delay_after(Some(3600 * S)), MAX_RETRY_AFTER);
        let d = b.next_delay_after(Some(Duration::ZERO));
        assert!(d >= 2 * S && d <= 4 * S, "{d:?}");
        let d = b.next_delay_after(None);
        assert!(d >= 4 * S && d <= 8 * S, "{d:?}");
    }

    #[test]
    fn odd_inputs() {
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(b.next_delay(), MIN_FLOOR);
        let mut b = Backoff::new(5 * S, S);
        assert_eq!(b.next_delay(), 5 * S);
        assert_eq!(b.next_delay(), 5 * S);
        let mut b = Backoff::new(S, Duration::MAX);
        for _ in 0..200 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::MAX);
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(seed(), seed());
    }
}
