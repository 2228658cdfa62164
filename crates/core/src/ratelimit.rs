//! Rate-limit policy as pure functions of time, so it can be tested with a
//! [`ManualClock`](crate::ManualClock) and no sleeping: a per-client request
//! rate (a token bucket, kept as GCRA) and a window of failed
//! authentications. The state lives in the `authz` crate.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::OAuthError;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A client's request-rate limit: a token bucket that holds `burst` tokens
/// and refills at `per_second`. `10/20` lets a client send 20 requests at
/// once and then 10 a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimit {
    /// Requests a second, refilled continuously.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub per_second: u32,
    /// Requests that may arrive at once.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub burst: u32,
}

impl RateLimit {
    /// Upper bounds: beyond a million a second the limit is no limit, and the
    /// GCRA arithmetic below stays far from overflow.
    pub const MAX_PER_SECOND: u32 = 1_000_000;
    pub const MAX_BURST: u32 = 1_000_000;

    pub fn validate(&self) -> Result<(), OAuthError> {
        if !(1..=Self::MAX_PER_SECOND).contains(&self.per_second)
            || !(1..=Self::MAX_BURST).contains(&self.burst)
        {
            return Err(OAuthError::invalid_client_metadata(format!(
                "rate_limit: per_second must be 1-{} and burst 1-{}",
                Self::MAX_PER_SECOND,
                Self::MAX_BURST
            )));
        }
        Ok(())
    }

    /// Nanoseconds between two requests at the sustained rate. Clamped, so a
    /// stored document that skipped validation cannot divide by zero.
    fn interval(&self) -> i64 {
        NANOS_PER_SEC / i64::from(self.per_second.clamp(1, Self::MAX_PER_SECOND))
    }

    /// How far ahead of now the bucket's schedule may run: `burst - 1`
    /// intervals (the first request of a burst is always on time).
    fn tolerance(&self) -> i64 {
        self.interval() * i64::from(self.burst.clamp(1, Self::MAX_BURST) - 1)
    }

    /// One request at `now_ms` against a bucket whose theoretical arrival time
    /// is `tat` (nanoseconds; 0 for a fresh bucket). GCRA (ITU-T I.371) is a
    /// token bucket kept as one number, so the caller can update it with a
    /// single compare-and-swap. `Ok` carries the new arrival time, `Err` the
    /// whole seconds until a request would be admitted (at least 1, the
    /// `Retry-After` value).
    pub fn admit(&self, tat: i64, now_ms: i64) -> Result<i64, u64> {
        let now = now_ms.saturating_mul(1_000_000);
        let tat = tat.max(now);
        let allowed_from = tat - self.tolerance();
        if now < allowed_from {
            return Err(ceil_secs(allowed_from - now));
        }
        Ok(tat.saturating_add(self.interval()))
    }
}

/// Whole seconds, rounded up, at least 1: `Retry-After` (RFC 9110 §10.2.3)
/// has second resolution, and 0 would invite an immediate retry.
fn ceil_secs(nanos: i64) -> u64 {
    u64::try_from(nanos)
        .unwrap_or(0)
        .div_ceil(NANOS_PER_SEC.unsigned_abs())
        .max(1)
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.per_second, self.burst)
    }
}

/// `PER_SECOND/BURST` (`10/20`), or `N` for a burst equal to the rate.
impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not PER_SECOND/BURST (e.g. 10/20)");
        let (rate, burst) = s.split_once('/').unwrap_or((s, s));
        let limit = Self {
            per_second: rate.trim().parse().map_err(|_| bad())?,
            burst: burst.trim().parse().map_err(|_| bad())?,
        };
        limit.validate().map_err(|e| e.description().to_owned())?;
        Ok(limit)
    }
}

/// Failed authentications of one client id or from one address, counted in
/// a fixed window that opens with the first failure. Once `max` failures
/// fall in the window every further attempt is refused until it closes, so a
/// guessed secret cannot be confirmed while blocked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureWindow {
    start_ms: i64,
    count: u32,
}

impl FailureWindow {
    /// `Some(seconds until the window closes)` when attempts are refused now.
    pub fn blocked(&self, now_ms: i64, max: u32, window_ms: i64) -> Option<u64> {
        let end = self.start_ms.saturating_add(window_ms);
        (max > 0 && self.count >= max && now_ms < end)
            .then(|| ceil_secs((end - now_ms).saturating_mul(1_000_000)))
    }

    /// Records one failure, opening a new window if the last one closed,
    /// and returns the failures in the window now.
    pub fn record(&mut self, now_ms: i64, window_ms: i64) -> u32 {
        if self.count == 0 || now_ms >= self.start_ms.saturating_add(window_ms) {
            *self = Self {
                start_ms: now_ms,
                count: 1,
            };
        } else {
            self.count = self.count.saturating_add(1);
        }
        self.count
    }
}

/// How long the answer to a failed authentication waits, when `failures`
/// have come from its address in the window and `after` are free: nothing
/// up to `after`, then 100 ms doubling with each further failure, capped at
/// `max_ms`. A flood from one address is slowed to one answer per `max_ms`
/// per connection while nobody is refused; `after = 0` turns it off.
pub fn failure_delay_ms(failures: u32, after: u32, max_ms: u64) -> u64 {
    if after == 0 || failures <= after {
        return 0;
    }
    let doublings = (failures - after - 1).min(32);
    100u64.saturating_mul(1 << doublings).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};

    fn limit(per_second: u32, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    /// Runs `n` requests at the clock's current time against `tat`.
    fn burst(l: &RateLimit, tat: &mut i64, clock: &ManualClock, n: usize) -> Vec<bool> {
        (0..n)
            .map(|_| match l.admit(*tat, clock.now_millis()) {
                Ok(next) => {
                    *tat = next;
                    true
                }
                Err(_) => false,
            })
            .collect()
    }

    #[test]
    fn failure_delays_grow_after_the_free_ones_and_are_capped() {
        let d = |n| failure_delay_ms(n, 10, 2_000);
        assert_eq!((d(1), d(10)), (0, 0));
        assert_eq!((d(11), d(12), d(13), d(15)), (100, 200, 400, 1_600));
        assert_eq!((d(16), d(1_000), d(u32::MAX)), (2_000, 2_000, 2_000));
        assert_eq!(failure_delay_ms(1_000, 0, 2_000), 0, "off");
        assert_eq!(failure_delay_ms(1_000, 1, 0), 0, "no delay allowed");
    }

    #[test]
    fn bucket_admits_the_burst_then_the_rate() {
        let clock = ManualClock::new(1_700_000_000);
        let l = limit(1, 2);
        let mut tat = 0;
        assert_eq!(burst(&l, &mut tat, &clock, 3), [true, true, false]);
        assert_eq!(l.admit(tat, clock.now_millis()), Err(1), "Retry-After 1 s");
        clock.advance_millis(999);
        assert_eq!(burst(&l, &mut tat, &clock, 1), [false]);
        clock.advance_millis(1);
        assert_eq!(burst(&l, &mut tat, &clock, 2), [true, false]);
        // A long pause refills the bucket only up to the burst.
        clock.advance(3600);
        assert_eq!(burst(&l, &mut tat, &clock, 3), [true, true, false]);
    }

    #[test]
    fn bucket_refills_at_sub_second_steps() {
        let clock = ManualClock::new(1_700_000_000);
        let l = limit(10, 1);
        let mut tat = 0;
        assert_eq!(burst(&l, &mut tat, &clock, 2), [true, false]);
        clock.advance_millis(100);
        assert_eq!(burst(&l, &mut tat, &clock, 2), [true, false]);
        // One second admits ten more at 10/s with a burst of one.
        let admitted = (0..10)
            .map(|_| {
                clock.advance_millis(100);
                burst(&l, &mut tat, &clock, 1)[0]
            })
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let clock = ManualClock::new(1_700_000_000);
        let l = limit(1, 1);
        let mut tat = 0;
        burst(&l, &mut tat, &clock, 1);
        clock.advance_millis(10);
        assert_eq!(l.admit(tat, clock.now_millis()), Err(1));
        let slow = RateLimit {
            per_second: 1,
            burst: 5,
        };
        let mut tat = 0;
        assert_eq!(
            burst(&slow, &mut tat, &clock, 6)
                .iter()
                .filter(|x| **x)
                .count(),
            5
        );
        assert_eq!(slow.admit(tat, clock.now_millis()), Err(1));
    }

    #[test]
    fn unvalidated_zero_limits_do_not_divide_by_zero() {
        let l = limit(0, 0);
        assert!(l.admit(0, 1000).is_ok());
        assert!(l.validate().is_err());
    }

    #[test]
    fn parse_and_validate() {
        assert_eq!("10/20".parse::<RateLimit>(), Ok(limit(10, 20)));
        assert_eq!(" 5 / 7 ".parse::<RateLimit>(), Ok(limit(5, 7)));
        assert_eq!("3".parse::<RateLimit>(), Ok(limit(3, 3)));
        for bad in [
            "",
            "0/1",
            "1/0",
            "a/b",
            "-1/2",
            "1000001/1",
            "1/1000001",
            "1/2/3",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
        assert_eq!(limit(10, 20).to_string(), "10/20");
        assert!(limit(1_000_000, 1_000_000).validate().is_ok());
    }

    #[test]
    fn failures_block_until_the_window_closes() {
        let clock = ManualClock::new(1_700_000_000);
        let (max, window) = (3, 60_000);
        let mut w = FailureWindow::default();
        assert_eq!(w.blocked(clock.now_millis(), max, window), None);
        for _ in 0..2 {
            w.record(clock.now_millis(), window);
            clock.advance(1);
        }
        assert_eq!(w.blocked(clock.now_millis(), max, window), None);
        w.record(clock.now_millis(), window);
        // The window opened at the first failure, two seconds ago.
        assert_eq!(w.blocked(clock.now_millis(), max, window), Some(58));
        clock.advance_millis(57_500);
        assert_eq!(w.blocked(clock.now_millis(), max, window), Some(1));
        clock.advance_millis(500);
        assert_eq!(w.blocked(clock.now_millis(), max, window), None);
        // A failure after the window closed starts a new one at 1.
        w.record(clock.now_millis(), window);
        assert_eq!(w.blocked(clock.now_millis(), max, window), None);
    }

    #[test]
    fn failures_spread_over_windows_never_block_and_zero_disables() {
        let clock = ManualClock::new(0);
        let mut w = FailureWindow::default();
        for _ in 0..10 {
            w.record(clock.now_millis(), 1000);
            clock.advance(1);
            assert_eq!(w.blocked(clock.now_millis(), 2, 1000), None);
        }
        let mut w = FailureWindow::default();
        for _ in 0..10 {
            w.record(clock.now_millis(), 1000);
        }
        assert_eq!(w.blocked(clock.now_millis(), 0, 1000), None);
        assert_eq!(w.blocked(clock.now_millis(), 10, 1000), Some(1));
    }
}
