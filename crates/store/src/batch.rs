//! The hot-path writer shared by both backends.
//!
//! Token issuance and audit events are many small inserts; committing each on
//! its own pays one fsync (SQLite) or one WAL flush (PostgreSQL) per request.
//! Callers instead queue their rows; a writer task takes everything queued (up
//! to `batch_max` operations), writes it in one transaction and only then
//! answers every waiter, so a caller never hears `Ok` before `COMMIT` returned.
//! If the batch fails, each operation is retried alone so one bad row (say a
//! duplicate hash) cannot fail its neighbours.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};
use tollgate_core::TokenRecord;

use crate::observe::observe;
use crate::{AuditEvent, Result, StoreError};

type Reply = oneshot::Sender<Result<()>>;

enum WriteOp {
    Tokens(Vec<TokenRecord>, Reply),
    /// Fire-and-forget events (`AuditStore::audit`) carry no reply.
    Audit(Vec<AuditEvent>, Option<Reply>),
    /// A barrier: answered once every operation queued before it is settled.
    Flush(oneshot::Sender<()>),
}

/// The backend half: writes the given rows in one transaction, all or nothing.
pub(crate) trait BatchSink: Send + Sync + 'static {
    fn write(
        &self,
        tokens: &[&TokenRecord],
        events: &[&AuditEvent],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Handle to one or more writer tasks. The tasks end when the handle is
/// dropped (their queues close) after draining what was queued.
pub(crate) struct Writer {
    queues: Vec<mpsc::Sender<WriteOp>>,
    next: AtomicUsize,
    dropped: AtomicU64,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer task has stopped".into())
}

impl Writer {
    /// Starts `tasks` writers, each with its own bounded queue.
    pub(crate) fn spawn<S: BatchSink>(
        backend: &'static str,
        sink: Arc<S>,
        tasks: usize,
        capacity: usize,
        batch_max: usize,
    ) -> Self {
        let queues = (0..tasks.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(capacity.max(1));
                tokio::spawn(run(backend, Arc::clone(&sink), rx, batch_max.max(1)));
                tx
            })
            .collect();
        Self {
            queues,
            next: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn queue(&self) -> &mpsc::Sender<WriteOp> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        &self.queues[i]
    }

    /// Queues tokens and waits for their commit. Waits for queue space rather
    /// than failing: a token must be stored or the request must fail visibly.
    pub(crate) async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.queue()
            .send(WriteOp::Tokens(tokens, tx))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub(crate) async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.queue()
            .send(WriteOp::Audit(events, Some(tx)))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Never waits: when the queue is full the event is counted and dropped,
    /// so a flood of rejected requests cannot grow memory or stall callers.
    pub(crate) fn audit(&self, event: AuditEvent) {
        if self
            .queue()
            .try_send(WriteOp::Audit(vec![event], None))
            .is_err()
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Logarithmic reporting: a flood produces a handful of lines.
            if n.is_power_of_two() {
                tracing::warn!(dropped_total = n, "audit queue full, events dropped");
            }
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every operation queued before this call is committed (or
    /// has failed and been reported to its waiter).
    pub(crate) async fn flush(&self) -> Result<()> {
        for q in &self.queues {
            let (tx, rx) = oneshot::channel();
            q.send(WriteOp::Flush(tx)).await.map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?;
        }
        Ok(())
    }
}

async fn run<S: BatchSink>(
    backend: &'static str,
    sink: Arc<S>,
    mut rx: mpsc::Receiver<WriteOp>,
    batch_max: usize,
) {
    let mut ops = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut ops, batch_max).await > 0 {
        commit(backend, &*sink, &mut ops).await;
    }
}

/// Writes one batch and answers every waiter from `ops` (left empty).
async fn commit<S: BatchSink>(backend: &'static str, sink: &S, ops: &mut Vec<WriteOp>) {
    let mut tokens = Vec::new();
    let mut events = Vec::new();
    let mut writes = 0usize;
    for op in ops.iter() {
        match op {
            WriteOp::Tokens(t, _) => {
                tokens.extend(t.iter());
                writes += 1;
            }
            WriteOp::Audit(e, _) => {
                events.extend(e.iter());
                writes += 1;
            }
            WriteOp::Flush(_) => {}
        }
    }
    let result = if writes == 0 {
        Ok(())
    } else {
        observe(backend, "batch_commit", sink.write(&tokens, &events)).await
    };
    drop((tokens, events));
    match result {
        Ok(()) => ops.drain(..).for_each(|op| answer(op, Ok(()))),
        // Retrying alone cannot help when the batch held one operation or the
        // database itself is unreachable; everyone gets the same answer.
        Err(e) if writes == 1 || matches!(e, StoreError::Unavailable(_)) => {
            ops.drain(..).for_each(|op| answer(op, Err(e.clone())));
        }
        Err(e) => {
            tracing::debug!(error = %e, ops = writes, "batch failed, retrying one by one");
            for op in ops.drain(..) {
                let r = match &op {
                    WriteOp::Tokens(t, _) => sink.write(&t.iter().collect::<Vec<_>>(), &[]).await,
                    WriteOp::Audit(ev, _) => sink.write(&[], &ev.iter().collect::<Vec<_>>()).await,
                    WriteOp::Flush(_) => Ok(()),
                };
                answer(op, r);
            }
        }
    }
}

fn answer(op: WriteOp, result: Result<()>) {
    // A waiter that went away (its request was cancelled) is not an error:
    // the write is committed either way.
    match op {
        WriteOp::Tokens(_, reply) => {
            let _ = reply.send(result);
        }
        WriteOp::Audit(_, Some(reply)) => {
            let _ = reply.send(result);
        }
        WriteOp::Audit(events, None) => {
            if let Err(e) = result {
                tracing::warn!(error = %e, lost = events.len(), "audit events could not be written");
            }
        }
        WriteOp::Flush(reply) => {
            let _ = reply.send(());
        }
    }
}
