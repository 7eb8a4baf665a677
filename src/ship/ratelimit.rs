//! `TokenBucket`: the bandwidth cap of one backend
//! (`sender.direct.<name>.max_bytes_per_second`), as plain code over a
//! clock passed in (no actix, no sleeping), so it is tested on its own.
//!
//! The bucket fills at `rate` bytes per second up to `capacity`, the
//! largest burst. A request may start when the bucket holds its bytes;
//! one bigger than the whole bucket (a single record larger than a
//! second's worth) starts when the bucket is full and leaves it in debt,
//! so the request after it waits for the debt to be paid: over any
//! stretch the bytes sent stay within `capacity + rate × time`. The
//! shipper bounds its reads to `capacity` bytes, so requests rarely go
//! into debt and the traffic stays smooth.

use std::time::{Duration, Instant};

/// The burst a bucket allows, in seconds of its rate: a second's worth
/// lets one request of a full batch go at once on a link of a few hundred
/// kbit/s, and the link is never busier than the cap for longer.
pub const BURST_SECONDS: u64 = 1;

/// The smallest burst (bytes): below it a request of a few samples with
/// its headers would not fit.
pub const MIN_BURST: u64 = 2048;

/// A token bucket in bytes.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Bytes per second added.
    rate: u64,
    /// Most bytes held: the largest burst.
    capacity: u64,
    /// Bytes held now; negative while a big request's debt is paid.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate` bytes per second.
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        let rate = rate.max(1);
        let capacity = (rate * BURST_SECONDS).max(MIN_BURST);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity as f64,
            at: now,
        }
    }

    /// The largest burst, and the size requests should stay under.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.capacity as f64);
        self.at = self.at.max(now);
    }

    /// Takes `bytes` when they may go now (`Ok`), or says how long to
    /// wait before asking again (`Err`). A request larger than the bucket
    /// goes once it is full, leaving a debt.
    pub fn take(&mut self, bytes: u64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let need = bytes.min(self.capacity) as f64;
        if self.tokens >= need {
            self.tokens -= bytes as f64;
            return Ok(());
        }
        let missing = need - self.tokens;
        // Rounded up to a millisecond, so the retry finds enough.
        let ms = (missing * 1000.0 / self.rate as f64).ceil() as u64;
        Err(Duration::from_millis(ms.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_a_burst_go_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10_000, t0);
        assert_eq!(b.capacity(), 10_000);
        assert!(b.take(6_000, t0).is_ok());
        assert!(b.take(4_000, t0).is_ok());
        // Empty: 1,000 bytes take 100 ms.
        assert_eq!(b.take(1_000, t0), Err(Duration::from_millis(100)));
        assert!(b.take(1_000, t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn a_request_bigger_than_the_bucket_waits_for_a_full_one_and_its_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10_000, t0);
        assert!(b.take(1, t0).is_ok());
        // Needs a full bucket: the byte taken comes back in 0.1 ms.
        assert_eq!(b.take(25_000, t0), Err(Duration::from_millis(1)));
        let t1 = t0 + Duration::from_millis(1);
        assert!(b.take(25_000, t1).is_ok());
        // 15,000 bytes of debt and 1 byte more: 1.5 s.
        assert_eq!(b.take(1, t1), Err(Duration::from_millis(1501)));
    }

    /// Over any stretch, what goes stays within a burst plus the rate.
    #[test]
    fn bytes_sent_stay_within_burst_plus_rate_times_time() {
        let t0 = Instant::now();
        let rate = 50_000u64;
        let mut b = TokenBucket::new(rate, t0);
        let mut now = t0;
        let mut sent = 0u64;
        let sizes = [700u64, 3_000, 120_000, 40, 9_000, 51_000, 2];
        for i in 0..2_000 {
            let size = sizes[i % sizes.len()];
            loop {
                match b.take(size, now) {
                    Ok(()) => break,
                    Err(wait) => now += wait,
                }
            }
            sent += size;
            let elapsed = now.duration_since(t0).as_secs_f64();
            let bound = b.capacity() as f64 + rate as f64 * elapsed;
            // The request that went into debt counts in full at once.
            assert!(
                sent as f64 <= bound + 120_000.0,
                "{sent} bytes after {elapsed:.1}s"
            );
        }
        let elapsed = now.duration_since(t0).as_secs_f64();
        let avg = sent as f64 / elapsed;
        assert!(avg <= rate as f64 * 1.05, "average {avg:.0} B/s");
        assert!(avg >= rate as f64 * 0.9, "average {avg:.0} B/s");
    }

    #[test]
    fn a_small_rate_still_has_room_for_one_request() {
        let b = TokenBucket::new(100, Instant::now());
        assert_eq!(b.capacity(), MIN_BURST);
    }
}
