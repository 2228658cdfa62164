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

/// The UTC calendar date and time of a Unix time: (year, month, day, hour, minute,
/// second). `None` outside the years 1970–9999.
pub fn civil_from_unix(t: i64) -> Option<(i64, u32, u32, u32, u32, u32)> {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let small = |v: i64| u32::try_from(v).ok();
    Some((
        year,
        small(month)?,
        small(day)?,
        small(secs / 3600)?,
        small(secs % 3600 / 60)?,
        small(secs % 60)?,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of the date
/// part of [`civil_from_unix`]; Howard Hinnant's days_from_civil).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Unix time as people read it in a terminal: `2026-12-07 20:49:21 UTC`
/// (the raw number when it is outside the years 1970–9999).
pub fn format_utc(t: i64) -> String {
    match civil_from_unix(t) {
        Some((y, mo, d, h, mi, s)) => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod civil_tests {
    use super::{civil_from_unix, days_from_civil, format_utc};

    #[test]
    fn utc_calendar() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_796_676_561), "2026-12-07 20:49:21 UTC");
        assert_eq!(format_utc(1_709_164_800), "2024-02-29 00:00:00 UTC");
        assert_eq!(format_utc(-1), "-1");
    }

    proptest::proptest! {
        #[test]
        fn round_trips(t in 0i64..253_402_300_799) {
            let (y, mo, d, h, mi, s) = civil_from_unix(t).unwrap();
            let back = days_from_civil(y, mo, d) * 86_400
                + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
            proptest::prop_assert_eq!(back, t);
        }
    }
}
