//! One clock abstraction so expiry can be tested without sleeping.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit of every `exp`/`iat` in OAuth (RFC 7519 §2 NumericDate).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// Milliseconds since the Unix epoch, for rate limits: a token bucket
    /// refilling ten times a second cannot be driven by a clock that only
    /// ticks once a second.
    fn now_millis(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    fn since_epoch() -> std::time::Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Self::since_epoch().as_secs() as i64
    }

    fn now_millis(&self) -> i64 {
        i64::try_from(Self::since_epoch().as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock tests move by hand. It keeps milliseconds so rate limits can be
/// tested at sub-second steps; `now()` is the whole seconds of it.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start.saturating_mul(1000))))
    }
    pub fn advance(&self, secs: i64) {
        self.advance_millis(secs.saturating_mul(1000));
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, now: i64) {
        self.0.store(now.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst).div_euclid(1000)
    }

    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_keeps_milliseconds_and_whole_seconds() {
        let c = ManualClock::new(100);
        assert_eq!(c.now_millis(), 100_000);
        c.advance_millis(1500);
        assert_eq!((c.now(), c.now_millis()), (101, 101_500));
        c.advance(2);
        assert_eq!(c.now(), 103);
        c.set(7);
        assert_eq!((c.now(), c.now_millis()), (7, 7000));
    }

    #[test]
    fn system_clock_millis_agree_with_seconds() {
        let c = SystemClock;
        let (s, ms) = (c.now(), c.now_millis());
        assert!((ms / 1000 - s).abs() <= 1);
    }
}
