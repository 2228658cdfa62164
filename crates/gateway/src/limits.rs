//! Per-consumer budgets: a request rate with a burst (GCRA, the same policy
//! code as the authorization server's per-client limit) and a quota per UTC
//! day. Kept in this process's memory: with several nodes each enforces its
//! own share (documented in the README).
use std::sync::Arc;
use std::sync::Mutex;

use moka::future::Cache;

use crate::error::GatewayError;
use crate::spec::Limits;

#[derive(Default)]
struct Bucket {
    /// GCRA theoretical arrival time (ns), and (UTC day, requests that day).
    state: Mutex<(i64, i64, u64)>,
}

pub struct Budgets {
    buckets: Cache<(Arc<str>, String), Arc<Bucket>>,
}

impl Budgets {
    pub fn new(capacity: u64) -> Self {
        Self {
            buckets: Cache::builder()
                .max_capacity(capacity)
                // A bucket idle for two days has nothing left to remember.
                .time_to_idle(std::time::Duration::from_secs(2 * 86_400))
                .build(),
        }
    }

    /// Counts one request of `who` to `service` at `now_ms`, or says how
    /// long to wait.
    pub async fn admit(
        &self,
        service: &Arc<str>,
        who: &str,
        limits: &Limits,
        now_ms: i64,
    ) -> Result<(), GatewayError> {
        if limits.is_empty() {
            return Ok(());
        }
        let bucket = self
            .buckets
            .get_with((service.clone(), who.to_owned()), async {
                Arc::new(Bucket::default())
            })
            .await;
        let mut st = bucket
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let day = now_ms.div_euclid(86_400_000);
        if st.1 != day {
            st.1 = day;
            st.2 = 0;
        }
        if let Some(quota) = limits.per_day
            && st.2 >= quota
        {
            let next_day_ms = (day + 1) * 86_400_000;
            let wait = u64::try_from((next_day_ms - now_ms + 999) / 1000).unwrap_or(1);
            return Err(GatewayError::TooManyRequests {
                description: format!(
                    "the daily quota of {quota} requests to '{service}' is used up"
                )
                .into(),
                retry_after: wait.max(1),
            });
        }
        if let Some(rate) = &limits.rate {
            match rate.admit(st.0, now_ms) {
                Ok(tat) => st.0 = tat,
                Err(wait) => {
                    return Err(GatewayError::TooManyRequests {
                        description: format!(
                            "more than {} requests a second (burst {}) to '{service}'",
                            rate.per_second, rate.burst
                        )
                        .into(),
                        retry_after: wait,
                    });
                }
            }
        }
        st.2 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tollgate_core::RateLimit;

    use super::*;

    #[tokio::test]
    async fn rate_and_quota() {
        let b = Budgets::new(100);
        let s: Arc<str> = Arc::from("orders");
        let l = Limits {
            rate: Some(RateLimit {
                per_second: 1,
                burst: 2,
            }),
            per_day: Some(3),
        };
        let t0 = 86_400_000 * 100;
        assert!(b.admit(&s, "a", &l, t0).await.is_ok());
        assert!(b.admit(&s, "a", &l, t0).await.is_ok());
        let Err(GatewayError::TooManyRequests { retry_after, .. }) = b.admit(&s, "a", &l, t0).await
        else {
            panic!("burst exceeded")
        };
        assert_eq!(retry_after, 1);
        // Another consumer has its own bucket.
        assert!(b.admit(&s, "b", &l, t0).await.is_ok());
        assert!(b.admit(&s, "a", &l, t0 + 1000).await.is_ok());
        // Third request of the day was the last.
        let Err(GatewayError::TooManyRequests { retry_after, .. }) =
            b.admit(&s, "a", &l, t0 + 5000).await
        else {
            panic!("quota exceeded")
        };
        assert_eq!(retry_after, 86_400 - 5);
        // The next UTC day starts afresh.
        assert!(b.admit(&s, "a", &l, t0 + 86_400_000).await.is_ok());
    }
}
