//! Store latency and error metrics, recorded inside the store so every caller
//! (HTTP, CLI, admin, purge) is measured the same way.
//!
//! `tollgate_store_op_seconds{op,backend}` is a histogram of the wall time of
//! one store operation as its caller sees it (for token inserts that includes
//! waiting for the batch commit); `batch_commit` is the writer's transaction
//! itself. `tollgate_store_errors_total{op,backend}` counts failed operations.
//!
//! Labels are `&'static str`, so recording costs the metrics facade's lookup
//! and no formatting; with no recorder installed it is a no-op.
use std::future::Future;
use std::time::Instant;

use crate::{Result, StoreError};

/// Runs `fut`, recording its duration and whether it failed.
pub(crate) async fn observe<T>(
    backend: &'static str,
    op: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let start = Instant::now();
    let out = fut.await;
    record(backend, op, start, out.as_ref().err());
    out
}

pub(crate) fn record(
    backend: &'static str,
    op: &'static str,
    start: Instant,
    error: Option<&StoreError>,
) {
    metrics::histogram!("tollgate_store_op_seconds", "op" => op, "backend" => backend)
        .record(start.elapsed().as_secs_f64());
    if error.is_some_and(is_failure) {
        metrics::counter!("tollgate_store_errors_total", "op" => op, "backend" => backend)
            .increment(1);
    }
}

/// `NotFound` and `Conflict` answer a question about the data (no such
/// client, that id is taken) and are driven by callers' input; counting them
/// would make the error rate an input-quality metric. Everything else means
/// the store could not do its job.
fn is_failure(e: &StoreError) -> bool {
    !matches!(e, StoreError::NotFound | StoreError::Conflict)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };
    use tollgate_core::TokenHash;

    use crate::{StoreOptions, open};

    /// "name{label=value,…}" → (histogram samples, counter total).
    type Seen = Arc<Mutex<BTreeMap<String, (usize, u64)>>>;

    struct Rec(Seen);
    struct Handle(Seen, String);

    fn id(key: &Key) -> String {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            self.0.lock().unwrap().entry(self.1.clone()).or_default().1 += value;
        }
        fn absolute(&self, value: u64) {
            self.0.lock().unwrap().entry(self.1.clone()).or_default().1 = value;
        }
    }

    impl HistogramFn for Handle {
        fn record(&self, _value: f64) {
            self.0.lock().unwrap().entry(self.1.clone()).or_default().0 += 1;
        }
    }

    impl Recorder for Rec {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle(self.0.clone(), id(key))))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Handle(self.0.clone(), id(key))))
        }
    }

    /// Every operation lands in the latency histogram with its op and backend;
    /// a real failure (the table is gone) is counted, a mere "not found" is not.
    #[test]
    fn store_operations_are_timed_and_failures_counted() {
        let seen: Seen = Arc::default();
        let rec = Rec(seen.clone());
        // One thread, so the thread-local recorder sees the writer task too.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("tollgate-observe-{}", std::process::id()));
        let path = dir.join("store.db");
        metrics::with_local_recorder(&rec, || {
            rt.block_on(async {
                let s = open(&StoreOptions::new(format!("sqlite://{}", path.display())))
                    .await
                    .unwrap();
                assert!(s.get_client("nobody").await.unwrap().is_none());
                assert!(matches!(
                    s.update_client(&tollgate_core::Client::new(
                        tollgate_core::ClientId::try_from("nobody").unwrap(),
                        "x",
                        0,
                    ))
                    .await,
                    Err(crate::StoreError::NotFound)
                ));
                let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
                    "sqlite://{}",
                    path.display()
                ))
                .await
                .unwrap();
                sqlx::raw_sql("DROP TABLE tokens")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                assert!(s.find_token(&TokenHash([1; 32])).await.is_err());
            });
        });
        let _ = std::fs::remove_dir_all(&dir);
        let seen = seen.lock().unwrap();
        let get = |k: &str| seen.get(k).copied().unwrap_or_default();
        assert_eq!(
            get("tollgate_store_op_seconds{op=get_client,backend=sqlite}").0,
            1
        );
        assert_eq!(
            get("tollgate_store_op_seconds{op=update_client,backend=sqlite}").0,
            1
        );
        assert_eq!(
            get("tollgate_store_errors_total{op=update_client,backend=sqlite}").1,
            0
        );
        assert_eq!(
            get("tollgate_store_op_seconds{op=find_token,backend=sqlite}").0,
            1
        );
        assert_eq!(
            get("tollgate_store_errors_total{op=find_token,backend=sqlite}").1,
            1
        );
    }
}
