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
//! Besides plain inserts the writer carries *guarded* writes: a compare-and-set
//! statement ([`Guard`]: mark a code used, revoke an active refresh token) whose
//! tokens are inserted only if it changed a row, in the same transaction. The
//! code exchange and refresh rotation thus share one commit with everything
//! else in the batch instead of taking SQLite's single write connection for a
//! transaction each. Guards run in queue order inside the transaction, so of
//! two redemptions of one code in one batch the first wins and the second sees
//! the code already used; a caller hears whether its guard matched only after
//! `COMMIT`, and a guarded operation retried alone runs its guard and inserts
//! in a transaction of its own, with the same all-or-nothing outcome.
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
use tollgate_core::{TokenHash, TokenRecord};

use crate::observe::observe;
use crate::{AuditEvent, Result, StoreError};

type Reply = oneshot::Sender<Result<()>>;

/// The compare-and-set statement of a guarded write: `$1` = hash, `$2` =
/// now, and for some a third parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    /// `sql::MARK_CODE_USED`: the code exists and was not used yet.
    MarkCode { hash: TokenHash, now: i64 },
    /// `sql::REVOKE_ACTIVE_REFRESH`: an unrevoked, unexpired refresh token.
    RevokeRefresh { hash: TokenHash, now: i64 },
    /// `sql::RECORD_JTI`: an assertion identifier not seen before (`$3` =
    /// when the assertion expires).
    FreshJti {
        hash: TokenHash,
        now: i64,
        expires_at: i64,
    },
}

impl Guard {
    /// The statement with its parameters: hash, now, and the third if any.
    pub(crate) fn statement(&self) -> (&'static str, &TokenHash, i64, Option<i64>) {
        match self {
            Self::MarkCode { hash, now } => (crate::sql::MARK_CODE_USED, hash, *now, None),
            Self::RevokeRefresh { hash, now } => {
                (crate::sql::REVOKE_ACTIVE_REFRESH, hash, *now, None)
            }
            Self::FreshJti {
                hash,
                now,
                expires_at,
            } => (crate::sql::RECORD_JTI, hash, *now, Some(*expires_at)),
        }
    }

    /// The row the guard locks: table, then hash. Sinks run guards sorted by
    /// it (stably, see [`guard_order`]) so that two concurrent batches lock
    /// rows in the same order.
    fn row(&self) -> (u8, &[u8; 32]) {
        match self {
            Self::MarkCode { hash, .. } => (0, &hash.0),
            Self::RevokeRefresh { hash, .. } => (1, &hash.0),
            Self::FreshJti { hash, .. } => (2, &hash.0),
        }
    }
}

/// One guarded write as a sink sees it: run `guard`; only if it changed a row
/// insert `tokens`.
pub(crate) struct GuardedWrite<'a> {
    pub(crate) guard: &'a Guard,
    pub(crate) tokens: &'a [TokenRecord],
}

/// The order in which a sink runs `guarded`: sorted by row, stably, so guards
/// on the same row keep their queue order (the first of two redemptions of
/// one code wins) while guards on different rows, which cannot affect each
/// other, are reordered. On PostgreSQL with several writer tasks this makes
/// every batch take its row locks in one global order, so two batches cannot
/// deadlock on each other's guards (a deadlock with some other transaction
/// is still possible and handled by the retry, see [`commit`]).
pub(crate) fn guard_order(guarded: &[GuardedWrite<'_>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..guarded.len()).collect();
    order.sort_by_key(|&i| guarded[i].guard.row());
    order
}

enum WriteOp {
    Tokens(Vec<TokenRecord>, Reply),
    /// A conditional write (see [`Guard`]); answered with whether it matched.
    Guarded {
        guard: Guard,
        tokens: Vec<TokenRecord>,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Fire-and-forget events (`AuditStore::audit`) carry no reply.
    Audit(Vec<AuditEvent>, Option<Reply>),
    /// A barrier: answered once every operation queued before it is settled.
    Flush(oneshot::Sender<()>),
}

/// The backend half: writes the given rows in one transaction, all or nothing.
///
/// Inside that transaction it also runs every guard of `guarded` (in the
/// order [`guard_order`] gives) and inserts a guarded write's tokens only when
/// its guard changed a row. It returns, for each element of `guarded` in the
/// order given, whether its guard matched; an `Err` means nothing was
/// committed (or, for `Unavailable`, that the outcome is unknown).
pub(crate) trait BatchSink: Send + Sync + 'static {
    fn write(
        &self,
        tokens: &[&TokenRecord],
        events: &[&AuditEvent],
        guarded: &[GuardedWrite<'_>],
    ) -> impl Future<Output = Result<Vec<bool>>> + Send;
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
    async fn submit<T>(&self, op: WriteOp, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
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

    /// Queues a guarded write and waits for its commit: `Ok(true)` when the
    /// guard matched and `tokens` are committed with its change, `Ok(false)`
    /// when it matched nothing (and nothing was written). An error leaves the
    /// outcome unknown only for `Unavailable` (the commit was not confirmed
    /// in time); otherwise nothing was committed.
    pub(crate) async fn guarded(&self, guard: Guard, tokens: Vec<TokenRecord>) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            WriteOp::Guarded {
                guard,
                tokens,
                reply: tx,
            },
            rx,
        )
        .await
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
        // slow the recovery. The same goes for a guarded write, whose guard
        // is then not run either: the code or refresh token stays usable,
        // just as if the abandoned request had never reached the database.
        ops.retain(|op| match op {
            WriteOp::Tokens(_, reply) => !reply.is_closed(),
            WriteOp::Guarded { reply, .. } => !reply.is_closed(),
            WriteOp::Audit(..) | WriteOp::Flush(_) => true,
        });
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
    async fn write(
        &self,
        tokens: &[&TokenRecord],
        events: &[&AuditEvent],
        guarded: &[GuardedWrite<'_>],
    ) -> Result<Vec<bool>> {
        let matched = tokio::time::timeout(self.limit, self.sink.write(tokens, events, guarded))
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
        if matched.len() == guarded.len() {
            Ok(matched)
        } else {
            // A sink bug; the batch did commit, but no guarded caller can be
            // told its outcome, so they fail rather than guess.
            Err(StoreError::Database(
                "the writer's sink answered the wrong number of guards".into(),
            ))
        }
    }
}

/// Writes one batch and answers every waiter from `ops` (left empty).
///
/// When the batch fails, each operation is retried alone (unless the batch
/// held one operation, or the database is unreachable): its own transaction,
/// in queue order, guards included, so a guarded write retried alone has the
/// same outcome it would have had as the only write of a batch. This is also
/// what resolves a deadlock on PostgreSQL: guards within a batch are sorted
/// (see [`guard_order`]) so two batches cannot deadlock on each other's
/// guards, but a batch may still deadlock with another transaction (say
/// `revoke_grant` updating the same refresh tokens in another order). The
/// server then aborts one of them with SQLSTATE 40P01, which maps to
/// `StoreError::Database`, not `Unavailable` (see `error::is_transient`), so
/// the aborted batch takes the retry path (a test in `postgres` provokes
/// one). To be in a cycle a batch must wait while holding a row lock; it
/// waits only at its guards (its inserts are of fresh, random hashes, which
/// no other transaction holds), and the first guard runs holding nothing, so
/// a deadlocked batch has at least two guards and is never the
/// single-operation batch that is not retried. Retried
/// alone, a guard waits for the other transaction's row lock and then, under
/// READ COMMITTED, re-checks its condition on the committed row: it matches
/// only if the row still qualifies, so the retry can neither double-spend a
/// code nor revive a revoked token.
async fn commit<S: BatchSink>(
    backend: &'static str,
    sink: &Bounded<'_, S>,
    ops: &mut Vec<WriteOp>,
) {
    let mut tokens = Vec::new();
    let mut events = Vec::new();
    let mut guarded = Vec::new();
    let mut writes = 0usize;
    for op in ops.iter() {
        match op {
            WriteOp::Tokens(t, _) => {
                tokens.extend(t.iter());
                writes += 1;
            }
            WriteOp::Guarded {
                guard, tokens: t, ..
            } => {
                guarded.push(GuardedWrite { guard, tokens: t });
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
        Ok(Vec::new())
    } else {
        observe(
            backend,
            "batch_commit",
            sink.write(&tokens, &events, &guarded),
        )
        .await
    };
    drop((tokens, events, guarded));
    match result {
        Ok(matched) => {
            let mut matched = matched.into_iter();
            for op in ops.drain(..) {
                let m = match op {
                    // `Bounded::write` checked there is one result per guard.
                    WriteOp::Guarded { .. } => matched.next().unwrap_or(false),
                    _ => false,
                };
                answer(op, Ok(m));
            }
        }
        // Retrying alone cannot help when the batch held one operation or the
        // database itself is unreachable; everyone gets the same answer.
        Err(e) if writes == 1 || matches!(e, StoreError::Unavailable(_)) => {
            ops.drain(..).for_each(|op| answer(op, Err(e.clone())));
        }
        Err(e) => {
            tracing::debug!(error = %e, ops = writes, "batch failed, retrying one by one");
            for op in ops.drain(..) {
                let r = match &op {
                    WriteOp::Tokens(t, _) => sink
                        .write(&t.iter().collect::<Vec<_>>(), &[], &[])
                        .await
                        .map(|_| false),
                    WriteOp::Guarded { guard, tokens, .. } => sink
                        .write(&[], &[], &[GuardedWrite { guard, tokens }])
                        .await
                        .map(|m| m.first().copied().unwrap_or(false)),
                    WriteOp::Audit(ev, _) => sink
                        .write(&[], &ev.iter().collect::<Vec<_>>(), &[])
                        .await
                        .map(|_| false),
                    WriteOp::Flush(_) => Ok(false),
                };
                answer(op, r);
            }
        }
    }
}

/// Answers one waiter; `result` carries whether a guarded write matched
/// (ignored for the other operations).
fn answer(op: WriteOp, result: Result<bool>) {
    // A waiter that went away (its request was cancelled) is not an error:
    // the write is committed either way.
    match op {
        WriteOp::Tokens(_, reply) => {
            let _ = reply.send(result.map(|_| ()));
        }
        WriteOp::Guarded { reply, .. } => {
            let _ = reply.send(result);
        }
        WriteOp::Audit(_, Some(reply)) => {
            let _ = reply.send(result.map(|_| ()));
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
        async fn write(
            &self,
            tokens: &[&TokenRecord],
            _: &[&AuditEvent],
            guarded: &[GuardedWrite<'_>],
        ) -> Result<Vec<bool>> {
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
            Ok(vec![true; guarded.len()])
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
        // A guarded write is bounded the same way.
        *sink.hang.lock().unwrap() = 1;
        let start = Instant::now();
        let r = w.guarded(mark(1), vec![token(3)]).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        assert!(start.elapsed() >= LIMIT && start.elapsed() < LIMIT * 10);
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

    fn mark(n: u8) -> Guard {
        Guard::MarkCode {
            hash: TokenHash([n; 32]),
            now: 100,
        }
    }

    fn revoke(n: u8) -> Guard {
        Guard::RevokeRefresh {
            hash: TokenHash([n; 32]),
            now: 100,
        }
    }

    /// A database in memory with transactions: codes and refresh tokens
    /// that guards can spend, tokens written, and a record of every
    /// transaction. Each write waits at `gate` first (so a test can hold the
    /// writer busy while it queues a batch behind it), applies its changes
    /// to a copy and only publishes them on success.
    #[derive(Default)]
    struct Fake {
        gate: tokio::sync::Mutex<()>,
        state: Mutex<State>,
        /// Fails every transaction with more than one operation.
        fail_batches: bool,
        /// Fails every transaction that inserts this token.
        poison: Option<u8>,
    }

    #[derive(Default, Clone)]
    struct State {
        /// Rows a guard can still match: (table, first hash byte).
        live: Vec<(u8, u8)>,
        written: Vec<u8>,
        /// Per attempted transaction: the guard rows in the order run.
        attempts: Vec<Vec<(u8, u8)>>,
        commits: usize,
    }

    impl Fake {
        fn with_live(live: &[(u8, u8)]) -> Self {
            let f = Self::default();
            f.state.lock().unwrap().live = live.to_vec();
            f
        }
        fn state(&self) -> State {
            self.state.lock().unwrap().clone()
        }
    }

    impl BatchSink for Fake {
        async fn write(
            &self,
            tokens: &[&TokenRecord],
            events: &[&AuditEvent],
            guarded: &[GuardedWrite<'_>],
        ) -> Result<Vec<bool>> {
            drop(self.gate.lock().await);
            let mut st = self.state.lock().unwrap();
            let mut tx = st.clone();
            let mut matched = vec![false; guarded.len()];
            let mut all: Vec<u8> = tokens.iter().map(|t| t.hash.0[0]).collect();
            let mut run = Vec::new();
            for i in guard_order(guarded) {
                let (table, hash) = guarded[i].guard.row();
                let row = (table, hash[0]);
                run.push(row);
                if let Some(p) = tx.live.iter().position(|r| *r == row) {
                    tx.live.remove(p);
                    matched[i] = true;
                    all.extend(guarded[i].tokens.iter().map(|t| t.hash.0[0]));
                }
            }
            st.attempts.push(run);
            let ops = usize::from(!tokens.is_empty()) + usize::from(!events.is_empty());
            if self.fail_batches && ops + guarded.len() > 1 {
                return Err(StoreError::Database("batch failed".into()));
            }
            if self.poison.is_some_and(|p| all.contains(&p)) {
                return Err(StoreError::Conflict);
            }
            tx.written.extend(all);
            tx.commits += 1;
            let attempts = std::mem::take(&mut st.attempts);
            *st = State { attempts, ..tx };
            Ok(matched)
        }
    }

    /// Queues `ops` as one batch: the writer is kept busy with a first
    /// write (held at the gate) while they are queued behind it.
    async fn one_batch(
        sink: &Arc<Fake>,
        w: &Arc<Writer>,
        ops: Vec<(Guard, Vec<TokenRecord>)>,
    ) -> Vec<Result<bool>> {
        let held = sink.gate.lock().await;
        let first = tokio::spawn({
            let w = Arc::clone(w);
            async move { w.insert_tokens(vec![token(200)]).await }
        });
        // Let the writer take the first write and block at the gate.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tasks: Vec<_> = ops
            .into_iter()
            .map(|(g, t)| {
                let w = Arc::clone(w);
                tokio::spawn(async move { w.guarded(g, t).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        first.await.unwrap().unwrap();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    fn ok(r: &[Result<bool>]) -> Vec<bool> {
        r.iter().map(|r| *r.as_ref().unwrap()).collect()
    }

    #[tokio::test]
    async fn guards_in_one_batch_run_in_queue_order_per_row() {
        let sink = Arc::new(Fake::with_live(&[(0, 1), (1, 2), (1, 5)]));
        let w = Arc::new(Writer::spawn("test", Arc::clone(&sink), 1, 64, 128, LIMIT));
        let r = one_batch(
            &sink,
            &w,
            vec![
                (revoke(5), vec![token(50)]),
                (mark(1), vec![token(10), token(11)]),
                (mark(1), vec![token(12)]),
                (revoke(2), vec![token(20)]),
                (revoke(2), vec![token(21)]),
                (mark(9), vec![token(90)]),
            ],
        )
        .await;
        // Of two uses of one row the first queued wins; unknown rows never.
        assert_eq!(ok(&r), vec![true, true, false, true, false, false]);
        let st = sink.state();
        // All six ran in one transaction after the first write's, sorted by
        // row with queue order kept within a row.
        assert_eq!(
            st.attempts,
            vec![vec![], vec![(0, 1), (0, 1), (0, 9), (1, 2), (1, 2), (1, 5)]]
        );
        assert_eq!(st.commits, 2);
        let mut written = st.written;
        written.sort_unstable();
        assert_eq!(written, vec![10, 11, 20, 50, 200]);
    }

    #[tokio::test]
    async fn a_failed_batch_retries_guarded_writes_alone_with_the_same_semantics() {
        let sink = Arc::new(Fake {
            fail_batches: true,
            ..Fake::with_live(&[(0, 1), (1, 2)])
        });
        let w = Arc::new(Writer::spawn("test", Arc::clone(&sink), 1, 64, 128, LIMIT));
        let r = one_batch(
            &sink,
            &w,
            vec![
                (mark(1), vec![token(10)]),
                (mark(1), vec![token(11)]),
                (revoke(2), vec![token(20)]),
                (revoke(3), vec![token(30)]),
            ],
        )
        .await;
        assert_eq!(ok(&r), vec![true, false, true, false]);
        let st = sink.state();
        // The failed batch changed nothing; each op then ran alone, in order.
        assert_eq!(
            st.attempts,
            vec![
                vec![],
                vec![(0, 1), (0, 1), (1, 2), (1, 3)],
                vec![(0, 1)],
                vec![(0, 1)],
                vec![(1, 2)],
                vec![(1, 3)],
            ]
        );
        assert_eq!(st.written, vec![200, 10, 20]);
        assert!(st.live.is_empty());
    }

    #[tokio::test]
    async fn a_guarded_write_that_fails_alone_changes_nothing_and_spares_its_neighbours() {
        // Token 10 cannot be written (say its hash collides): the batch
        // fails, then the first redemption fails alone and rolls back its
        // mark, so the second redemption of the same code wins.
        let sink = Arc::new(Fake {
            poison: Some(10),
            ..Fake::with_live(&[(0, 1)])
        });
        let w = Arc::new(Writer::spawn("test", Arc::clone(&sink), 1, 64, 128, LIMIT));
        let r = one_batch(
            &sink,
            &w,
            vec![(mark(1), vec![token(10)]), (mark(1), vec![token(11)])],
        )
        .await;
        assert!(matches!(r[0], Err(StoreError::Conflict)), "{:?}", r[0]);
        assert!(*r[1].as_ref().unwrap());
        let st = sink.state();
        assert_eq!(st.written, vec![200, 11]);
        assert!(st.live.is_empty());
    }

    #[tokio::test]
    async fn a_guarded_write_is_answered_only_after_its_commit() {
        let sink = Arc::new(Fake::with_live(&[(0, 1)]));
        let w = Arc::new(Writer::spawn("test", Arc::clone(&sink), 1, 64, 128, LIMIT));
        let held = sink.gate.lock().await;
        let task = tokio::spawn({
            let w = Arc::clone(&w);
            async move { w.guarded(mark(1), vec![token(10)]).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The writer has the op but cannot commit: no answer yet.
        assert!(!task.is_finished());
        assert_eq!(sink.state().commits, 0);
        drop(held);
        assert!(task.await.unwrap().unwrap());
        let st = sink.state();
        assert_eq!((st.commits, st.written), (1, vec![10]));
        // A failed commit is never answered with a match.
        let sink = Arc::new(Fake {
            poison: Some(20),
            ..Fake::with_live(&[(0, 2)])
        });
        let w = Writer::spawn("test", Arc::clone(&sink), 1, 64, 128, LIMIT);
        let r = w.guarded(mark(2), vec![token(20)]).await;
        assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
        assert_eq!(sink.state().live, vec![(0, 2)]);
    }
}
