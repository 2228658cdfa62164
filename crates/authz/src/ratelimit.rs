//! In-process rate limits: throttling of failed client authentication (per
//! client id, and a delay per client address, see [`address`]) and each
//! client's request-rate limit.
//!
//! The policy (GCRA buckets, failure windows, delays) is pure and lives in
//! `tollgate_core::ratelimit`; this module keeps the state in bounded moka
//! caches, so an attacker rotating client ids or addresses evicts old entries
//! instead of growing memory. State is per process: in a multi-node
//! PostgreSQL deployment every node enforces each limit on its own.
//!
//! The per-client threshold is checked before and counted after a secret is
//! verified, so attempts already in flight when it is reached still finish:
//! a client that sends many guesses at once may get a few more than the
//! threshold answered. Bounding that exactly would need a reservation per
//! attempt; a handful of extra guesses per window changes nothing against
//! 256-bit secrets or Argon2-hashed ones.
pub mod address;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;
use tollgate_core::{Client, Clock, FailureWindow, OAuthError, RateLimit};

use crate::settings::RateLimitSettings;

// Rejections are counted labelled with the limit that refused.
use crate::telemetry::RATE_LIMIT_REJECTIONS as REJECTIONS;

/// One client's token bucket: the GCRA arrival time, updated with
/// compare-and-swap so concurrent requests of one client never wait on a
/// lock and requests of different clients share nothing.
struct Bucket {
    limit: RateLimit,
    tat: AtomicI64,
}

type Failures = Arc<Mutex<FailureWindow>>;

/// Failures counted per key (a client id, a username, an address) in a
/// window opened by the first failure, in a bounded cache.
pub struct FailureCounter<K> {
    clock: Arc<dyn Clock>,
    max: u32,
    window_ms: i64,
    cache: Cache<K, Failures>,
}

impl<K> FailureCounter<K>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    /// `max` failures within `window_secs` block the key for the rest of
    /// the window; `max = 0` counts nothing and blocks nothing.
    pub fn new(clock: Arc<dyn Clock>, max: u32, window_secs: u64, capacity: u64) -> Self {
        let window_secs = window_secs.clamp(1, RateLimitSettings::MAX_WINDOW_SECS);
        Self {
            clock,
            max,
            window_ms: i64::try_from(window_secs * 1000).unwrap_or(i64::MAX),
            // An entry idle for a whole window has a closed window (its last
            // failure was at least a window ago), so idling out loses nothing.
            cache: Cache::builder()
                .max_capacity(capacity.max(1))
                .time_to_idle(Duration::from_secs(window_secs))
                .build(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// Seconds until the key may try again, if it is blocked now.
    pub async fn blocked<Q>(&self, key: &Q) -> Option<u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if self.max == 0 {
            return None;
        }
        let w = self.cache.get(key).await?;
        lock(&w).blocked(self.clock.now_millis(), self.max, self.window_ms)
    }

    /// Counts one failure of `key`; returns the failures in its window now
    /// (0 when counting is off).
    pub async fn record<Q>(&self, key: &Q) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.max == 0 {
            return 0;
        }
        let w = self
            .cache
            .get_with_by_ref(key, async {
                Arc::new(Mutex::new(FailureWindow::default()))
            })
            .await;
        lock(&w).record(self.clock.now_millis(), self.window_ms)
    }
}

pub struct Limits {
    clock: Arc<dyn Clock>,
    by_client: FailureCounter<String>,
    /// Slows an address's failures and queues its Argon2 checks.
    pub address: address::AddressThrottle,
    buckets: Cache<String, Arc<Bucket>>,
}

/// The address failures are counted under: IPv4 as is, IPv6 by its /64
/// (one host usually holds a whole /64, so counting single IPv6 addresses
/// would let it rotate through 2^64 of them), IPv4-mapped IPv6 as IPv4.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

fn lock(w: &Failures) -> std::sync::MutexGuard<'_, FailureWindow> {
    // The guarded value is plain data that is always consistent, so a
    // poisoned lock (a panic elsewhere while holding it) is still usable.
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn too_many(description: &'static str, retry_after: u64) -> OAuthError {
    OAuthError::TooManyRequests {
        description: description.into(),
        retry_after,
    }
}

impl Limits {
    pub fn new(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let window = settings.failed_auth_window_secs;
        let capacity = settings.tracked_keys;
        Self {
            by_client: FailureCounter::new(
                clock.clone(),
                settings.failed_auth_per_client,
                window,
                capacity,
            ),
            address: address::AddressThrottle::new(settings, clock.clone()),
            // A bucket idle for a day is full again for any limit whose
            // burst is at most a day's worth of its rate, so dropping it
            // then changes nothing.
            buckets: Cache::builder()
                .max_capacity(capacity.max(1))
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
            clock,
        }
    }

    /// Refuses every authentication of a client id that failed too often,
    /// before its secret is looked at: otherwise a guess made while blocked
    /// would still be confirmed by the answer.
    pub async fn check_client(&self, client_id: &str) -> Result<(), OAuthError> {
        match self.by_client.blocked(client_id).await {
            None => Ok(()),
            Some(secs) => {
                metrics::counter!(REJECTIONS, "limit" => "client_auth_failures").increment(1);
                Err(too_many(
                    "too many failed authentications for this client; retry later",
                    secs,
                ))
            }
        }
    }

    /// Records a failed authentication under the client id (if the request
    /// named a well-formed one) and the address, and waits out the delay
    /// the address has earned: the failed answer goes out late. Ids nobody
    /// registered are counted too, so that a 429 does not reveal which ids
    /// exist; invented ids cannot push a client under attack out of the
    /// bounded cache, because moka admits new entries by frequency
    /// (TinyLFU) and the attacked id is the frequent one.
    pub async fn failed(&self, client_id: Option<&str>, ip: Option<IpAddr>) {
        if let Some(id) = client_id {
            self.by_client.record(id).await;
        }
        self.address.fail_slowly(ip).await;
    }

    /// Admits one request of an authenticated client under its own rate
    /// limit (token and introspection endpoints). Clients without a limit
    /// cost nothing; a changed limit starts a fresh bucket.
    pub async fn admit(&self, client: &Client) -> Result<(), OAuthError> {
        let Some(limit) = client.rate_limit else {
            return Ok(());
        };
        let id = client.id.as_str();
        let fresh = || {
            Arc::new(Bucket {
                limit,
                tat: AtomicI64::new(0),
            })
        };
        let mut bucket = self.buckets.get_with_by_ref(id, async { fresh() }).await;
        if bucket.limit != limit {
            bucket = fresh();
            self.buckets.insert(id.to_owned(), bucket.clone()).await;
        }
        let now = self.clock.now_millis();
        let mut tat = bucket.tat.load(Ordering::Acquire);
        loop {
            match limit.admit(tat, now) {
                Ok(next) => match bucket.tat.compare_exchange_weak(
                    tat,
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(()),
                    Err(current) => tat = current,
                },
                Err(secs) => {
                    metrics::counter!(REJECTIONS, "limit" => "client_requests").increment(1);
                    return Err(too_many(
                        "the client exceeded its request rate limit; retry later",
                        secs,
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::{ClientId, ManualClock};

    fn limits(per_client: u32, clock: &ManualClock) -> Limits {
        let s = RateLimitSettings {
            failed_auth_per_client: per_client,
            failed_auth_per_address: 0,
            failed_auth_window_secs: 60,
            tracked_keys: 100,
            ..RateLimitSettings::default()
        };
        Limits::new(&s, Arc::new(clock.clone()))
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn retry_after(r: Result<(), OAuthError>) -> Option<u64> {
        match r {
            Err(OAuthError::TooManyRequests { retry_after, .. }) => Some(retry_after),
            Ok(()) => None,
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[tokio::test]
    async fn client_failures_block_the_id_for_the_rest_of_the_window() {
        let clock = ManualClock::new(1_700_000_000);
        let l = limits(3, &clock);
        for _ in 0..3 {
            assert_eq!(retry_after(l.check_client("svc").await), None);
            l.failed(Some("svc"), ip("10.0.0.1")).await;
            clock.advance(1);
        }
        assert_eq!(retry_after(l.check_client("svc").await), Some(57));
        assert_eq!(retry_after(l.check_client("other").await), None);
        clock.advance(57);
        assert_eq!(retry_after(l.check_client("svc").await), None);
    }

    fn client(limit: Option<RateLimit>) -> Client {
        let mut c = Client::new(ClientId::try_from("svc").unwrap(), "svc", 0);
        c.rate_limit = limit;
        c
    }

    #[tokio::test]
    async fn client_rate_limit_is_a_token_bucket() {
        let clock = ManualClock::new(1_700_000_000);
        let l = limits(10, &clock);
        let c = client(Some(RateLimit {
            per_second: 1,
            burst: 2,
        }));
        assert_eq!(retry_after(l.admit(&c).await), None);
        assert_eq!(retry_after(l.admit(&c).await), None);
        assert_eq!(retry_after(l.admit(&c).await), Some(1));
        clock.advance(1);
        assert_eq!(retry_after(l.admit(&c).await), None);
        assert_eq!(retry_after(l.admit(&c).await), Some(1));

        // A raised limit applies at once, with a fresh bucket.
        let raised = client(Some(RateLimit {
            per_second: 5,
            burst: 5,
        }));
        for _ in 0..5 {
            assert_eq!(retry_after(l.admit(&raised).await), None);
        }
        assert!(retry_after(l.admit(&raised).await).is_some());
        // No limit, no refusal.
        for _ in 0..100 {
            assert_eq!(retry_after(l.admit(&client(None)).await), None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_never_exceed_the_burst() {
        let clock = ManualClock::new(1_700_000_000);
        let l = Arc::new(limits(10, &clock));
        let c = Arc::new(client(Some(RateLimit {
            per_second: 1,
            burst: 50,
        })));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (l, c) = (l.clone(), c.clone());
                tokio::spawn(async move { l.admit(&c).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 50);
    }
}
