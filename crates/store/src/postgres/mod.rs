//! The shared backend: PostgreSQL, for several Tollgate nodes on one database.
//!
//! One pool serves reads and writes; the hot inserts go through a couple of
//! batching writer tasks (PostgreSQL commits concurrent transactions in
//! parallel, unlike SQLite, so more than one writer pays off). Correctness
//! under concurrency comes from single-statement compare-and-set updates
//! (`... WHERE revoked_at IS NULL`), which PostgreSQL re-checks after waiting
//! on a concurrent writer's row lock, so the default READ COMMITTED isolation
//! is enough.
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, SqlSafeStr, Transaction};
use tollgate_core::TokenRecord;

use crate::batch::{BatchSink, Writer};
use crate::common::{audit, clients, codes, consents, keys, sessions, tokens, users};
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
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("purge indexes"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0002_purge_indexes.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("users, sessions, consents, grants"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0003_users.sql").into_sql_str(),
            false,
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
    async fn write(&self, tokens: &[&TokenRecord], events: &[&AuditEvent]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_tokens(&mut tx, tokens).await?;
        insert_audit(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
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
consents::impl_consent_stores!(PgStore, read = pool, write = pool);
