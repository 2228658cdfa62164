//! The hot-path writer shared by both backends.
//!
//! Token issuance and audit events are many small inserts; committing each on
//! its own pays one fsync (SQLite) or one WAL flush (PostgreSQL) per request.
//! Callers instead queue their rows; a writer task takes everything queued (up
//! to `batch_max` operations), writes it in one transaction and only then
//! answers every waiter, so a caller never hears `Ok` before `COMMIT` returned.
//! If the batch fails, each operation is retried alone so one bad row (say a
//! duplicate hash) cannot fail its neighbours.
//!
//! Every wait is bounded by the store's `write_limit` (acquire timeout plus
//! query timeout): a caller whose commit has not been confirmed by then gets
//! `Unavailable` (a 503, never a 200: its token may or may not have been
//! committed, and nobody will ever learn its value), and a batch whose
//! database stopped answering is abandoned so the queue behind it moves on.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

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
    limit: Duration,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer task has stopped".into())
}

fn timed_out() -> StoreError {
    StoreError::Unavailable("the database did not confirm the write in time".into())
}

impl Writer {
    /// Starts `tasks` writers, each with its own bounded queue. `limit`
    /// bounds both a caller's wait and one batch's write.
    pub(crate) fn spawn<S: BatchSink>(
        backend: &'static str,
        sink: Arc<S>,
        tasks: usize,
        capacity: usize,
        batch_max: usize,
        limit: Duration,
    ) -> Self {
        let queues = (0..tasks.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(capacity.max(1));
                tokio::spawn(run(backend, Arc::clone(&sink), rx, batch_max.max(1), limit));
                tx
            })
            .collect();
        Self {
            queues,
            next: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            limit,
        }
    }

    /// Queues `op` and waits for its reply, both within `limit`.
    async fn submit(&self, op: WriteOp, rx: oneshot::Receiver<Result<()>>) -> Result<()> {
        let wait = async {
            self.queue().send(op).await.map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        };
        tokio::time::timeout(self.limit, wait)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
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
        self.submit(WriteOp::Tokens(tokens, tx), rx).await
    }

    pub(crate) async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.submit(WriteOp::Audit(events, Some(tx)), rx).await
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
    limit: Duration,
) {
    let mut ops = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut ops, batch_max).await > 0 {
        // Tokens whose caller gave up (timed out during an outage, or the
        // client hung up) will never be handed out: writing them would only
        // slow the recovery.
        ops.retain(|op| !matches!(op, WriteOp::Tokens(_, reply) if reply.is_closed()));
        commit(
            backend,
            &Bounded {
                sink: &*sink,
                limit,
            },
            &mut ops,
        )
        .await;
    }
}

/// A sink whose writes give up after `limit`, so a database that stopped
/// answering cannot stall the queue behind one batch forever.
struct Bounded<'a, S> {
    sink: &'a S,
    limit: Duration,
}

impl<S: BatchSink> Bounded<'_, S> {
    async fn write(&self, tokens: &[&TokenRecord], events: &[&AuditEvent]) -> Result<()> {
        tokio::time::timeout(self.limit, self.sink.write(tokens, events))
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }
}

/// Writes one batch and answers every waiter from `ops` (left empty).
async fn commit<S: BatchSink>(
    backend: &'static str,
    sink: &Bounded<'_, S>,
    ops: &mut Vec<WriteOp>,
) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use tollgate_core::{ScopeSet, TokenHash, TokenKind};

    use super::*;

    fn token(n: u8) -> TokenRecord {
        TokenRecord {
            hash: TokenHash([n; 32]),
            kind: TokenKind::Access,
            client_id: "c".into(),
            subject: None,
            scope: ScopeSet::parse("read").unwrap(),
            audience: Vec::new(),
            token_type: "Bearer".into(),
            issued_at: 0,
            expires_at: 1,
            grant_id: "g".into(),
            revoked_at: None,
            metadata: Default::default(),
        }
    }

    /// A database that never answers its first `hang` writes (a silent
    /// network path) and records the tokens of every write it completes.
    struct Silent {
        hang: Mutex<usize>,
        written: Mutex<Vec<u8>>,
    }

    impl BatchSink for Silent {
        async fn write(&self, tokens: &[&TokenRecord], _: &[&AuditEvent]) -> Result<()> {
            let hang = {
                let mut h = self.hang.lock().unwrap();
                let now = *h > 0;
                *h = h.saturating_sub(1);
                now
            };
            if hang {
                std::future::pending::<()>().await;
            }
            let mut w = self.written.lock().unwrap();
            w.extend(tokens.iter().map(|t| t.hash.0[0]));
            Ok(())
        }
    }

    const LIMIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_silent_database_fails_callers_within_the_limit_and_the_queue_moves_on() {
        let sink = Arc::new(Silent {
            hang: Mutex::new(1),
            written: Mutex::new(Vec::new()),
        });
        let w = Writer::spawn("test", Arc::clone(&sink), 1, 16, 128, LIMIT);
        let start = Instant::now();
        let r = w.insert_tokens(vec![token(1)]).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        // The bound, not a hang; generous upper end for a loaded machine.
        assert!(start.elapsed() >= LIMIT && start.elapsed() < LIMIT * 10);
        // The hung batch was abandoned: the next write goes through.
        w.insert_tokens(vec![token(2)]).await.unwrap();
        assert_eq!(*sink.written.lock().unwrap(), vec![2]);
    }

    #[tokio::test]
    async fn tokens_whose_caller_gave_up_are_not_written() {
        let sink = Arc::new(Silent {
            hang: Mutex::new(1),
            written: Mutex::new(Vec::new()),
        });
        let w = Arc::new(Writer::spawn("test", Arc::clone(&sink), 1, 16, 1, LIMIT));
        // The first write occupies the writer until the limit; the second
        // waits in the queue, and its caller goes away meanwhile.
        let first = tokio::spawn({
            let w = Arc::clone(&w);
            async move { w.insert_tokens(vec![token(1)]).await }
        });
        tokio::task::yield_now().await;
        let second = tokio::spawn({
            let w = Arc::clone(&w);
            async move { w.insert_tokens(vec![token(2)]).await }
        });
        tokio::time::sleep(LIMIT / 3).await;
        second.abort();
        assert!(first.await.unwrap().is_err());
        w.insert_tokens(vec![token(3)]).await.unwrap();
        assert_eq!(*sink.written.lock().unwrap(), vec![3]);
    }
}
