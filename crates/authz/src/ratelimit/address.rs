//! What one client address gets when it fails a lot: its failed answers
//! slowed, never refused, and its expensive checks queued.
//!
//! Refusing an address punishes everyone behind it (a NAT, a proxy, a CI
//! host) for one neighbour's mistakes, and protects nothing a per-client
//! limit does not: generated secrets are 256-bit, so what is worth guessing
//! is one client's or user's chosen secret, which the per-client and
//! per-username limits stop. What an address can still do is flood; the
//! delay slows its failures and the per-address queue keeps its Argon2
//! checks from taking every blocking thread.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tollgate_core::{Clock, failure_delay_ms};

use super::{FailureCounter, address_key};
use crate::settings::RateLimitSettings;
use crate::telemetry::AUTH_FAILURE_DELAYS;

pub struct AddressThrottle {
    failures: FailureCounter<IpAddr>,
    after: u32,
    max_delay_ms: u64,
    per_address: u32,
    slots: Cache<IpAddr, Arc<Semaphore>>,
}

impl AddressThrottle {
    pub fn new(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let capacity = settings.tracked_keys.max(1);
        Self {
            failures: FailureCounter::new(
                clock,
                settings.failed_auth_per_address,
                settings.failed_auth_window_secs,
                capacity,
            ),
            after: settings.failed_auth_per_address,
            max_delay_ms: settings.failed_auth_max_delay_ms,
            per_address: settings.verifications_per_address.max(1),
            // A queue dropped while in use (evicted, idle) only lets a few
            // more checks run at once; nothing waits on it for ever.
            slots: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// How long the failed answer to `ip` should wait, counting this
    /// failure.
    pub async fn failed(&self, ip: IpAddr) -> Duration {
        let failures = self.failures.record(&address_key(ip)).await;
        Duration::from_millis(failure_delay_ms(failures, self.after, self.max_delay_ms))
    }

    /// Counts a failure of `ip` and waits out its delay.
    pub async fn fail_slowly(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let delay = self.failed(ip).await;
        if !delay.is_zero() {
            metrics::counter!(AUTH_FAILURE_DELAYS).increment(1);
            tokio::time::sleep(delay).await;
        }
    }

    /// A turn for one expensive check (Argon2, a directory bind) of `ip`:
    /// at most `verifications_per_address` at once per address, the rest
    /// queue in arrival order.
    pub async fn verification_slot(&self, ip: Option<IpAddr>) -> Option<OwnedSemaphorePermit> {
        let key = address_key(ip?);
        let n = usize::try_from(self.per_address).unwrap_or(1);
        let sem = self
            .slots
            .get_with(key, async move { Arc::new(Semaphore::new(n)) })
            .await;
        sem.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::ManualClock;

    fn throttle(after: u32, clock: &ManualClock) -> AddressThrottle {
        let s = RateLimitSettings {
            failed_auth_per_address: after,
            failed_auth_max_delay_ms: 1_000,
            verifications_per_address: 2,
            ..RateLimitSettings::default()
        };
        AddressThrottle::new(&s, Arc::new(clock.clone()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn failures_grow_a_delay_per_address_and_its_slash_64() {
        let clock = ManualClock::new(1_700_000_000);
        let t = throttle(2, &clock);
        assert_eq!(t.failed(ip("2001:db8::1")).await, Duration::ZERO);
        assert_eq!(t.failed(ip("2001:db8::2")).await, Duration::ZERO);
        assert_eq!(
            t.failed(ip("2001:db8::3")).await,
            Duration::from_millis(100)
        );
        assert_eq!(
            t.failed(ip("2001:db8::4")).await,
            Duration::from_millis(200)
        );
        assert_eq!(t.failed(ip("2001:db8:1::1")).await, Duration::ZERO);
        for _ in 0..10 {
            t.failed(ip("::ffff:127.0.0.2")).await;
        }
        assert_eq!(t.failed(ip("127.0.0.2")).await, Duration::from_secs(1));
        // The window closes, the delay with it.
        clock.advance(60);
        assert_eq!(t.failed(ip("127.0.0.2")).await, Duration::ZERO);
        let off = throttle(0, &clock);
        for _ in 0..50 {
            assert_eq!(off.failed(ip("127.0.0.3")).await, Duration::ZERO);
        }
    }

    #[tokio::test]
    async fn verifications_queue_per_address() {
        let clock = ManualClock::new(1_700_000_000);
        let t = throttle(2, &clock);
        let a = t.verification_slot(Some(ip("127.0.0.2"))).await;
        let b = t.verification_slot(Some(ip("127.0.0.2"))).await;
        assert!(a.is_some() && b.is_some());
        // A third from the same address waits; another address does not.
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            t.verification_slot(Some(ip("127.0.0.2"))),
        )
        .await;
        assert!(third.is_err(), "queued");
        assert!(t.verification_slot(Some(ip("127.0.0.3"))).await.is_some());
        drop(a);
        assert!(t.verification_slot(Some(ip("127.0.0.2"))).await.is_some());
        assert!(t.verification_slot(None).await.is_none());
    }
}
