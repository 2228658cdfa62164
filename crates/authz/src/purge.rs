//! The background purge: deletes what can no longer be used, so the tables
//! (and with them index depth, cache misses and backups) stay proportional to
//! live data instead of growing forever.
//!
//! - tokens that expired, and revoked tokens except refresh tokens (a revoked
//!   refresh token stays until it expires, so presenting a rotated-out one is
//!   still detected as reuse, RFC 9700 §4.14.2; see the store's
//!   `purge_tokens`);
//! - authorization codes that expired (used or not: an expired code cannot be
//!   redeemed, so its replay check is moot);
//! - audit events older than `audit_retention_days`;
//! - registration (initial access) tokens that expired more than
//!   `audit_retention_days` ago. Used-up and revoked ones are kept: the store
//!   records no time for either, so no retention could be applied to them,
//!   and an admin listing tokens should not see them vanish.
//!
//! Every delete is one bounded batch (`batch_size` rows, found through an
//! index, oldest first) in its own short transaction, followed by a pause at
//! least as long as the batch took (and at least `pause_ms`), so a backlog
//! never takes more than about half of the writer; a kind is done for this
//! run when a batch comes back short.
//! A failing store is logged and counted and the next interval tries again.
//!
//! Metrics: `tollgate_purge_deleted_total{kind}` (tokens, codes,
//! audit_events, registration_tokens), `tollgate_purge_runs_total{outcome}`
//! (ok, error) and `tollgate_purge_last_run_timestamp_seconds` (the clock's
//! time of the last run that completed without error, for alerting on a purge
//! that stopped working).
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tollgate_core::Clock;
use tollgate_store::{Result, Store};

use crate::settings::PurgeSettings;

const DAY_SECS: i64 = 86_400;

/// How many rows one purge run deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub tokens: u64,
    pub codes: u64,
    pub audit_events: u64,
    pub registration_tokens: u64,
    pub sessions: u64,
    pub user_grants: u64,
    /// Replay records of assertions that have expired.
    pub assertion_ids: u64,
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.tokens
            + self.codes
            + self.audit_events
            + self.registration_tokens
            + self.sessions
            + self.user_grants
            + self.assertion_ids
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tokens,
    Codes,
    AuditEvents,
    RegistrationTokens,
    Sessions,
    UserGrants,
    AssertionIds,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Tokens => "tokens",
            Kind::Codes => "codes",
            Kind::AuditEvents => "audit_events",
            Kind::RegistrationTokens => "registration_tokens",
            Kind::Sessions => "sessions",
            Kind::UserGrants => "user_grants",
            Kind::AssertionIds => "assertion_ids",
        }
    }

    async fn purge_batch(self, store: &dyn Store, before: i64, limit: u32) -> Result<u64> {
        match self {
            Kind::Tokens => store.purge_tokens(before, limit).await,
            Kind::Codes => store.purge_codes(before, limit).await,
            Kind::AuditEvents => store.purge_audit(before, limit).await,
            Kind::RegistrationTokens => store.purge_registration_tokens(before, limit).await,
            Kind::Sessions => store.purge_sessions(before, limit).await,
            Kind::UserGrants => store.purge_grants(before, limit).await,
            Kind::AssertionIds => store.purge_jtis(before, limit).await,
        }
    }
}

/// One complete purge as of `now`: every kind, batch after batch, until each
/// is worked off. Stops at the first store error (what was deleted before it
/// stays deleted and counted in the metrics).
pub async fn purge_once(
    store: &dyn Store,
    now: i64,
    settings: &PurgeSettings,
) -> Result<PurgeReport> {
    let limit = settings.batch_size.max(1);
    let pause = Duration::from_millis(settings.pause_ms);
    let retention = (settings.audit_retention_days > 0)
        .then(|| now.saturating_sub(i64::from(settings.audit_retention_days) * DAY_SECS));
    let mut report = PurgeReport::default();
    let plan = [
        (Kind::Tokens, Some(now)),
        (Kind::Codes, Some(now)),
        (Kind::AuditEvents, retention),
        (Kind::RegistrationTokens, retention),
        (Kind::Sessions, Some(now)),
        // A grant record is written just before its code or first token, so
        // only records a day old without either are dead for sure.
        (Kind::UserGrants, Some(now.saturating_sub(DAY_SECS))),
        (Kind::AssertionIds, Some(now)),
    ];
    for (kind, before) in plan {
        let Some(before) = before else { continue };
        let mut deleted = 0u64;
        loop {
            let started = Instant::now();
            let n = kind.purge_batch(store, before, limit).await?;
            deleted += n;
            if n > 0 {
                metrics::counter!("tollgate_purge_deleted_total", "kind" => kind.label())
                    .increment(n);
            }
            if n < u64::from(limit) {
                break;
            }
            // Rest at least as long as the batch took: while a backlog is
            // worked off the purge holds the writer at most about half the
            // time, however slow a batch is on this machine and table (a
            // fixed 10 ms pause after a 100 ms batch left issuance on SQLite
            // a tenth of the writer; see bench/RESULTS.md).
            tokio::time::sleep(pause.max(started.elapsed())).await;
        }
        match kind {
            Kind::Tokens => report.tokens = deleted,
            Kind::Codes => report.codes = deleted,
            Kind::AuditEvents => report.audit_events = deleted,
            Kind::RegistrationTokens => report.registration_tokens = deleted,
            Kind::Sessions => report.sessions = deleted,
            Kind::UserGrants => report.user_grants = deleted,
            Kind::AssertionIds => report.assertion_ids = deleted,
        }
    }
    Ok(report)
}

/// Runs [`purge_once`] at start and then every `interval_secs`, until the
/// returned task is aborted. Time for the cut-offs comes from `clock`.
pub fn spawn_purge(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: PurgeSettings,
) -> JoinHandle<()> {
    let every = Duration::from_secs(settings.interval_secs.max(1));
    spawn_every(store, clock, settings, every)
}

fn spawn_every(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: PurgeSettings,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A run longer than the interval delays the next one instead of
        // starting a burst of catch-up runs.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            run(&*store, clock.now(), &settings).await;
        }
    })
}

/// One run with its logging and metrics; errors end the run, not the task.
async fn run(store: &dyn Store, now: i64, settings: &PurgeSettings) {
    match purge_once(store, now, settings).await {
        Ok(report) => {
            metrics::counter!("tollgate_purge_runs_total", "outcome" => "ok").increment(1);
            metrics::gauge!("tollgate_purge_last_run_timestamp_seconds").set(now as f64);
            if report.total() > 0 {
                tracing::info!(
                    tokens = report.tokens,
                    codes = report.codes,
                    audit_events = report.audit_events,
                    registration_tokens = report.registration_tokens,
                    "purge run deleted expired rows"
                );
            } else {
                tracing::debug!("purge run found nothing to delete");
            }
        }
        Err(e) => {
            metrics::counter!("tollgate_purge_runs_total", "outcome" => "error").increment(1);
            tracing::warn!(error = %e, "purge run failed; retrying at the next interval");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use tollgate_core::{ManualClock, ScopeSet, TokenHash, TokenKind, TokenRecord};
    use tollgate_store::{AuditEvent, AuditQuery, RegistrationTokenRecord, StoreOptions};

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn h(n: u64) -> TokenHash {
        let mut b = [0x5A; 32];
        b[..8].copy_from_slice(&n.to_be_bytes());
        TokenHash(b)
    }

    fn token(n: u64, expires_at: i64) -> TokenRecord {
        TokenRecord {
            hash: h(n),
            kind: TokenKind::Access,
            client_id: "svc".into(),
            subject: None,
            scope: ScopeSet::parse("read").unwrap(),
            audience: Vec::new(),
            token_type: "Bearer".into(),
            issued_at: NOW - 7_200,
            expires_at,
            grant_id: format!("g{n}"),
            revoked_at: None,
            metadata: BTreeMap::new(),
        }
    }

    fn event(at: i64) -> AuditEvent {
        AuditEvent {
            at,
            event: "token.issued".into(),
            client_id: Some("svc".into()),
            outcome: "ok".into(),
            remote_addr: None,
            detail: serde_json::json!({}),
        }
    }

    fn reg(n: u64, expires_at: Option<i64>) -> RegistrationTokenRecord {
        RegistrationTokenRecord {
            id: format!("rt{n}"),
            hash: h(1_000 + n),
            description: String::new(),
            created_at: 0,
            expires_at,
            max_uses: None,
            uses: 0,
            revoked: false,
        }
    }

    /// A real SQLite store in a fresh directory, removed on drop.
    struct TempStore {
        store: Arc<dyn Store>,
        dir: PathBuf,
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn temp_store(name: &str) -> TempStore {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-purge-{name}-{}-{}",
            std::process::id(),
            NOW
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/store.db", dir.display());
        let store = tollgate_store::open(&StoreOptions::new(url)).await.unwrap();
        TempStore { store, dir }
    }

    fn settings(batch_size: u32) -> PurgeSettings {
        PurgeSettings {
            batch_size,
            pause_ms: 1,
            ..PurgeSettings::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_once_deletes_each_kind_past_its_cutoff_in_batches() {
        let t = temp_store("once").await;
        let s = &t.store;
        let mut rows = Vec::new();
        for n in 0..25 {
            rows.push(token(n, NOW - 10)); // expired
        }
        for n in 25..30 {
            rows.push(token(n, NOW + 3_600)); // live
        }
        let mut revoked_access = token(30, NOW + 3_600);
        revoked_access.revoked_at = Some(NOW - 5);
        let mut revoked_refresh = token(31, NOW + 3_600);
        revoked_refresh.kind = TokenKind::Refresh;
        revoked_refresh.revoked_at = Some(NOW - 5);
        rows.extend([revoked_access, revoked_refresh]);
        s.insert_tokens(rows).await.unwrap();

        let day = 86_400;
        s.append_audit(vec![
            event(NOW - 91 * day),
            event(NOW - 90 * day - 1),
            event(NOW - 89 * day),
            event(NOW),
        ])
        .await
        .unwrap();
        for (n, exp) in [(1, Some(NOW - 91 * day)), (2, Some(NOW - 10)), (3, None)] {
            s.insert_registration_token(&reg(n, exp)).await.unwrap();
        }

        for (n, expires_at) in [(40, NOW - 1), (41, NOW + 60)] {
            s.insert_session(&tollgate_store::SessionRecord {
                hash: h(n),
                subject: "u1".into(),
                auth_time: NOW - 100,
                created_at: NOW - 100,
                expires_at,
            })
            .await
            .unwrap();
        }

        // Assertion ids: one whose assertion expired, one still live.
        assert!(s.record_jti(&h(50), NOW - 1, NOW - 100).await.unwrap());
        assert!(s.record_jti(&h(51), NOW + 60, NOW - 100).await.unwrap());

        // Batches of 4: the 26 tokens take seven statements.
        let report = purge_once(&**s, NOW, &settings(4)).await.unwrap();
        assert_eq!(
            report,
            PurgeReport {
                tokens: 26,
                codes: 0,
                audit_events: 2,
                registration_tokens: 1,
                sessions: 1,
                user_grants: 0,
                assertion_ids: 1,
            }
        );
        assert!(
            !s.record_jti(&h(51), NOW + 60, NOW).await.unwrap(),
            "the live one stays"
        );
        assert!(s.find_session(&h(41), NOW).await.unwrap().is_some());
        for n in 0..32 {
            let kept = (25..30).contains(&n) || n == 31;
            assert_eq!(s.find_token(&h(n)).await.unwrap().is_some(), kept, "{n}");
        }
        let left = s
            .query_audit(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(left.len(), 2);
        let regs = s.list_registration_tokens().await.unwrap();
        assert_eq!(regs.len(), 2);
        // Nothing left: a second run deletes nothing.
        assert_eq!(
            purge_once(&**s, NOW, &settings(4)).await.unwrap(),
            PurgeReport::default()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zero_retention_keeps_audit_events() {
        let t = temp_store("retention").await;
        t.store.append_audit(vec![event(1)]).await.unwrap();
        let keep = PurgeSettings {
            audit_retention_days: 0,
            ..settings(10)
        };
        let report = purge_once(&*t.store, NOW, &keep).await.unwrap();
        assert_eq!(report.audit_events, 0);
    }

    /// Polls `f` every few milliseconds for up to five seconds.
    async fn eventually<F, Fut>(what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..1_000 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loop_follows_the_clock_and_survives_store_errors() {
        let t = temp_store("loop").await;
        let store = t.store.clone();
        let clock = ManualClock::new(NOW);
        store
            .insert_tokens(vec![token(1, NOW + 100), token(2, NOW + 300)])
            .await
            .unwrap();
        let task = spawn_every(
            store.clone(),
            Arc::new(clock.clone()),
            settings(10),
            Duration::from_millis(10),
        );

        // Several runs pass; nothing has expired on the manual clock yet.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(store.find_token(&h(1)).await.unwrap().is_some());

        clock.advance(200);
        eventually("token 1 purged", || async {
            store.find_token(&h(1)).await.unwrap().is_none()
        })
        .await;
        assert!(store.find_token(&h(2)).await.unwrap().is_some());

        // Take the table away under the running loop: its runs fail...
        let db = t.dir.join("store.db");
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            db.display()
        ))
        .await
        .unwrap();
        sqlx::raw_sql("ALTER TABLE tokens RENAME TO tokens_away")
            .execute(&mut conn)
            .await
            .unwrap();
        clock.advance(200);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!task.is_finished());
        // ...and once it is back, the next run does the work.
        sqlx::raw_sql("ALTER TABLE tokens_away RENAME TO tokens")
            .execute(&mut conn)
            .await
            .unwrap();
        eventually("token 2 purged after the error", || async {
            store.find_token(&h(2)).await.unwrap().is_none()
        })
        .await;
        task.abort();
    }
}
