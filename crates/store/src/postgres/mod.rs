//! The shared backend: PostgreSQL, for several Tollgate nodes on one database.
//!
//! One pool serves reads and writes; the hot inserts go through a couple of
//! batching writer tasks (PostgreSQL commits concurrent transactions in
//! parallel, unlike SQLite, so more than one writer pays off). Correctness
//! under concurrency comes from single-statement compare-and-set updates
//! (`... WHERE revoked_at IS NULL`), which PostgreSQL re-checks after waiting
//! on a concurrent writer's row lock, so the default READ COMMITTED isolation
//! is enough.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, Transaction};
use tollgate_core::TokenRecord;

use crate::batch::{BatchSink, GuardedWrite, Writer};
use crate::common::{
    audit, clients, codes, connections, consents, gateway, keys, proxies, replay, sessions, tokens,
    users,
};
use crate::options::check_schema;
use crate::{AuditEvent, Result, Store, StoreError, StoreOptions};

/// Writer tasks: enough to overlap one batch's commit with the next batch.
const WRITERS: usize = 2;

pub(crate) struct PgStore {
    pool: PgPool,
    writer: Writer,
    /// Bound on the readiness round trip (the acquire timeout).
    ping_limit: Duration,
}

fn migrator() -> Migrator {
    use crate::common::migration;
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../migrations/postgres/0001_init.sql"),
        ),
        migration(
            2,
            "purge indexes",
            include_str!("../../migrations/postgres/0002_purge_indexes.sql"),
        ),
        migration(
            3,
            "users, sessions, consents, grants",
            include_str!("../../migrations/postgres/0003_users.sql"),
        ),
        migration(
            4,
            "assertion replay, next signing key",
            include_str!("../../migrations/postgres/0004_assertions.sql"),
        ),
        migration(
            5,
            "gateway services, consumers, authorization servers",
            include_str!("../../migrations/postgres/0005_gateway.sql"),
        ),
        migration(
            6,
            "connections",
            include_str!("../../migrations/postgres/0006_connections.sql"),
        ),
        migration(
            7,
            "proxy aliases",
            include_str!("../../migrations/postgres/0007_proxies.sql"),
        ),
    ])
}

impl PgStore {
    /// The `backend` label of the store's metrics.
    const BACKEND: &'static str = "postgres";
    const PURGE: crate::sql::PurgeSql = crate::sql::PURGE_POSTGRES;

    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<Arc<Self>> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("invalid PostgreSQL URL".into()))?;
        if let Some(schema) = &opts.schema {
            check_schema(schema)?;
            let mut conn = PgConnection::connect_with(&connect).await?;
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await?;
            // A startup parameter, so it holds for every connection the pool
            // ever opens, including reconnects.
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(WRITERS as u32 + 1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await?;
        migrator().run(&pool).await?;
        let sink = Arc::new(Sink { pool: pool.clone() });
        let writer = Writer::spawn(
            Self::BACKEND,
            sink,
            WRITERS,
            opts.queue_capacity,
            opts.batch_max,
            opts.write_limit(),
        );
        Ok(Arc::new(Self {
            pool,
            writer,
            ping_limit: opts.acquire_timeout,
        }))
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

struct Sink {
    pool: PgPool,
}

impl BatchSink for Sink {
    async fn write(
        &self,
        tokens: &[&TokenRecord],
        events: &[&AuditEvent],
        guarded: &[GuardedWrite<'_>],
    ) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let matched = write_batch(&mut tx, tokens, events, guarded).await?;
        tx.commit().await?;
        Ok(matched)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        crate::options::ping(&self.pool, self.ping_limit).await
    }

    async fn flush(&self) -> Result<()> {
        self.writer.flush().await
    }
}

// The capability traits, shared with SQLite (see `crate::common`): one pool
// serves both reads and writes.
clients::impl_client_store!(PgStore, read = pool, write = pool);
codes::impl_code_store!(PgStore, read = pool, write = pool);
keys::impl_key_stores!(
    PgStore,
    read = pool,
    write = pool,
    // Two concurrent rotations must not both see "no other active key" and
    // then collide on the one-active index: serialize them. Readers (JWKS)
    // are not blocked by this lock mode.
    key_lock = "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE",
);
tokens::impl_token_store!(
    PgStore,
    db = Postgres,
    conn = PgConnection,
    read = pool,
    write = pool,
);
audit::impl_audit_store!(
    PgStore,
    db = Postgres,
    conn = PgConnection,
    read = pool,
    write = pool,
);
users::impl_user_store!(PgStore, read = pool, write = pool);
sessions::impl_session_store!(PgStore, read = pool, write = pool);
replay::impl_replay_store!(PgStore, write = pool);
consents::impl_consent_stores!(PgStore, read = pool, write = pool);
connections::impl_connection_store!(PgStore, read = pool, write = pool);
proxies::impl_proxy_store!(PgStore, read = pool, write = pool);
gateway::impl_gateway_store!(
    PgStore,
    read = pool,
    write = pool,
    client_check = crate::sql::CONSUMER_CLIENT_EXISTS_LOCKED,
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Instant;

    use tollgate_core::{ScopeSet, TokenHash, TokenKind};

    use super::*;
    use crate::CodeStore;
    use crate::batch::Guard;

    fn url() -> String {
        std::env::var("TOLLGATE_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    fn code(n: u8) -> crate::CodeRecord {
        crate::CodeRecord {
            hash: TokenHash([n; 32]),
            client_id: "c".into(),
            subject: "alice".into(),
            redirect_uri: None,
            scope: ScopeSet::parse("read").unwrap(),
            code_challenge: None,
            code_challenge_method: None,
            issued_at: 0,
            expires_at: 600,
            grant_id: format!("g{n}"),
            params: Default::default(),
            used_at: None,
        }
    }

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
            expires_at: 3_600,
            grant_id: "g".into(),
            revoked_at: None,
            metadata: Default::default(),
        }
    }

    fn mark(n: u8) -> Guard {
        Guard::MarkCode {
            hash: TokenHash([n; 32]),
            now: 100,
        }
    }

    /// A batch that PostgreSQL aborts as a deadlock victim is retried op by
    /// op, and each guarded write then gets its real outcome instead of the
    /// deadlock error. The batch [mark X, mark Y] holds X and waits for Y,
    /// held by another transaction that then waits for X; that transaction
    /// waits 10 s before looking for deadlocks, so the batch (1 s, the
    /// server default) is the one the server aborts.
    #[tokio::test]
    async fn a_batch_aborted_by_a_deadlock_is_retried_alone() {
        let schema = format!(
            "t_batch_deadlock_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let opts = StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::new(url())
        };
        let store = PgStore::open(&url(), &opts).await.unwrap();
        // On its own task, so the schema is dropped even if it fails.
        let outcome = tokio::spawn(deadlock(Arc::clone(&store), schema.clone())).await;
        store.pool.close().await;
        let mut conn = PgConnection::connect(&url()).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// `put_consumer` locks its client row: one that checked the client
    /// while a `delete_client` was under way, and only then wrote, would
    /// leave a consumer of a deleted client behind (for a client re-created
    /// under the id to inherit). Here the deletion is held open on one
    /// connection and the generation row on another, so without the lock the
    /// write would pass its check, wait on the generation, and insert after
    /// the deletion had looked for consumers.
    #[tokio::test]
    async fn a_consumer_cannot_be_written_for_a_client_being_deleted() {
        let schema = format!(
            "t_consumer_lock_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let opts = StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::new(url())
        };
        let store = PgStore::open(&url(), &opts).await.unwrap();
        let outcome = tokio::spawn(consumer_lock(Arc::clone(&store), schema.clone())).await;
        store.pool.close().await;
        let mut conn = PgConnection::connect(&url()).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn consumer_lock(store: Arc<PgStore>, schema: String) {
        use crate::{ClientStore, ConsumerRecord, ConsumerStatus, GatewayStore, ServiceRecord};
        let id = tollgate_core::ClientId::try_from("app").unwrap();
        store
            .create_client(&tollgate_core::Client::new(id, "app", 0))
            .await
            .unwrap();
        store
            .create_service(&ServiceRecord {
                name: "orders".into(),
                alias: "orders".into(),
                spec: serde_json::json!({}),
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
        let connect = PgConnectOptions::from_str(&url())
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let mut deleting = PgConnection::connect_with(&connect).await.unwrap();
        let mut holds_generation = PgConnection::connect_with(&connect).await.unwrap();
        sqlx::raw_sql("BEGIN; DELETE FROM clients WHERE id = 'app'")
            .execute(&mut deleting)
            .await
            .unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "BEGIN; {}",
            crate::sql::BUMP_GATEWAY_GENERATION
        )))
        .execute(&mut holds_generation)
        .await
        .unwrap();
        let put = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put_consumer(&ConsumerRecord {
                        service: "orders".into(),
                        client_id: "app".into(),
                        application: "App".into(),
                        status: ConsumerStatus::Approved,
                        settings: serde_json::json!({}),
                        created_at: 1,
                        updated_at: 1,
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The rest of `delete_client`: no consumer is committed yet.
        sqlx::raw_sql("DELETE FROM gateway_consumers WHERE client_id = 'app'; COMMIT")
            .execute(&mut deleting)
            .await
            .unwrap();
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holds_generation)
            .await
            .unwrap();
        let outcome = put.await.unwrap();
        assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
        assert_eq!(store.list_consumers(None).await.unwrap(), []);
    }

    async fn deadlock(store: Arc<PgStore>, schema: String) {
        let (x, y, z) = (1, 2, 3);
        for n in [x, y, z] {
            store.insert_code(&code(n)).await.unwrap();
        }
        // One writer task of our own, so the two redemptions share a batch.
        let w = Arc::new(Writer::spawn(
            "test",
            Arc::new(Sink {
                pool: store.pool.clone(),
            }),
            1,
            64,
            128,
            Duration::from_secs(30),
        ));
        let connect = PgConnectOptions::from_str(&url())
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let lock =
            |n: u8| sqlx::query("SELECT 1 FROM codes WHERE hash = $1 FOR UPDATE").bind(vec![n; 32]);
        let mut holds_z = PgConnection::connect_with(&connect).await.unwrap();
        let mut holds_y = PgConnection::connect_with(&connect).await.unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut holds_z).await.unwrap();
        lock(z).execute(&mut holds_z).await.unwrap();
        sqlx::raw_sql("BEGIN; SET LOCAL deadlock_timeout = '10s'")
            .execute(&mut holds_y)
            .await
            .unwrap();
        lock(y).execute(&mut holds_y).await.unwrap();
        // The writer blocks on Z while the two redemptions queue behind it.
        let spawn = |n: u8, t: Vec<TokenRecord>| {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.guarded(mark(n), t).await })
        };
        let first = spawn(z, vec![]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let redeem_x = spawn(x, vec![token(10)]);
        let redeem_y = spawn(y, vec![token(20)]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holds_z)
            .await
            .unwrap();
        assert!(first.await.unwrap().unwrap());
        // The batch now holds X and waits for Y; close the cycle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = Instant::now();
        sqlx::query("UPDATE codes SET used_at = used_at WHERE hash = $1")
            .bind(vec![x; 32])
            .execute(&mut holds_y)
            .await
            .expect("the batch, not this transaction, is the deadlock victim");
        assert!(start.elapsed() >= Duration::from_millis(500));
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holds_y)
            .await
            .unwrap();
        assert!(redeem_x.await.unwrap().unwrap());
        assert!(redeem_y.await.unwrap().unwrap());
        for n in [10u8, 20] {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT 1::int8 FROM tokens WHERE hash = $1")
                    .bind(vec![n; 32])
                    .fetch_optional(&store.pool)
                    .await
                    .unwrap();
            assert!(found.is_some());
        }
    }
}
