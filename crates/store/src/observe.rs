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
