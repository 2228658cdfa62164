//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time, so every write goes through a
//! dedicated single-connection pool (the batching writer and the rare direct
//! writes take turns on it instead of fighting over the file lock), while
//! reads use a separate pool and, thanks to WAL, never wait for the writer.
//! Write transactions start with `BEGIN IMMEDIATE` so a second process (the
//! CLI next to a running server) waits on `busy_timeout` instead of failing
//! with SQLITE_BUSY halfway through a read-then-write transaction.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tollgate_core::TokenRecord;

use crate::batch::{BatchSink, GuardedWrite, Writer};
use crate::common::{
    audit, clients, codes, connections, consents, gateway, keys, proxies, replay, sessions, tokens,
    users,
};
use crate::{AuditEvent, Result, SqliteSync, Store, StoreError, StoreOptions};

pub(crate) struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    writer: Writer,
    /// Bound on the readiness round trip (the acquire timeout).
    ping_limit: Duration,
    /// The background WAL checkpointer, stopped when the store is dropped.
    _checkpointer: Option<Checkpointer>,
}

/// How often the background checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// With background checkpoints the writer still checkpoints by itself past
/// this many WAL pages (64 MiB), as a backstop if the background task falls
/// behind, so the WAL cannot grow without bound.
const BACKSTOP_CHECKPOINT_PAGES: u32 = 16_384;

/// Aborts the checkpoint task on drop.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on its own connection: it copies what
/// it can without waiting for readers or the writer, which carry on.
fn spawn_checkpointer(pool: SqlitePool) -> Checkpointer {
    Checkpointer(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let done = crate::observe::observe(SqliteStore::BACKEND, "wal_checkpoint", async {
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await?;
                Ok(())
            })
            .await;
            if let Err(e) = done {
                tracing::debug!(error = %e, "background WAL checkpoint failed");
            }
        }
    }))
}

fn migrator() -> Migrator {
    use crate::common::migration;
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../migrations/sqlite/0001_init.sql"),
        ),
        migration(
            2,
            "purge indexes",
            include_str!("../../migrations/sqlite/0002_purge_indexes.sql"),
        ),
        migration(
            3,
            "tokens in insertion order",
            include_str!("../../migrations/sqlite/0003_tokens_rowid.sql"),
        ),
        migration(
            4,
            "users, sessions, consents, grants",
            include_str!("../../migrations/sqlite/0004_users.sql"),
        ),
        migration(
            5,
            "assertion replay, next signing key",
            include_str!("../../migrations/sqlite/0005_assertions.sql"),
        ),
        migration(
            6,
            "gateway services, consumers, authorization servers",
            include_str!("../../migrations/sqlite/0006_gateway.sql"),
        ),
        migration(
            7,
            "connections",
            include_str!("../../migrations/sqlite/0007_connections.sql"),
        ),
        migration(
            8,
            "proxy aliases",
            include_str!("../../migrations/sqlite/0008_proxies.sql"),
        ),
    ])
}

impl SqliteStore {
    /// The `backend` label of the store's metrics.
    const BACKEND: &'static str = "sqlite";
    const PURGE: crate::sql::PurgeSql = crate::sql::PURGE_SQLITE;

    pub(crate) async fn open(path: &str, opts: &StoreOptions) -> Result<Arc<Self>> {
        if path.is_empty() || path.starts_with(":memory:") || path.contains("mode=memory") {
            // Two pools on one in-memory database would see two databases.
            return Err(StoreError::Config(
                "the SQLite store needs a file path, not an in-memory database".into(),
            ));
        }
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Config(format!("cannot create the database directory: {e}"))
            })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(match opts.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            });
        let cache_kib = i64::from(opts.sqlite_cache_mib.max(1)) * 1024;
        let mut write_connect = connect
            .clone()
            .pragma("cache_size", format!("-{cache_kib}"));
        if opts.sqlite_background_checkpoint {
            write_connect =
                write_connect.pragma("wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES.to_string());
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(write_connect)
            .await?;
        migrator().run(&write).await?;
        let checkpointer = if opts.sqlite_background_checkpoint {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect.clone())
                .await?;
            Some(spawn_checkpointer(pool))
        } else {
            None
        };
        let read = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await?;
        let sink = Arc::new(Sink {
            pool: write.clone(),
        });
        let writer = Writer::spawn(
            Self::BACKEND,
            sink,
            1,
            opts.queue_capacity,
            opts.batch_max,
            opts.write_limit(),
        );
        Ok(Arc::new(Self {
            read,
            write,
            writer,
            ping_limit: opts.acquire_timeout,
            _checkpointer: checkpointer,
        }))
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }
}

struct Sink {
    pool: SqlitePool,
}

impl BatchSink for Sink {
    async fn write(
        &self,
        tokens: &[&TokenRecord],
        events: &[&AuditEvent],
        guarded: &[GuardedWrite<'_>],
    ) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let matched = write_batch(&mut tx, tokens, events, guarded).await?;
        tx.commit().await?;
        Ok(matched)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        crate::options::ping(&self.read, self.ping_limit).await
    }

    async fn flush(&self) -> Result<()> {
        self.writer.flush().await
    }
}

// The capability traits, shared with PostgreSQL (see `crate::common`): reads
// go to the read pool, writes to the single-connection write pool.
clients::impl_client_store!(SqliteStore, read = read, write = write);
codes::impl_code_store!(SqliteStore, read = read, write = write);
// No explicit lock for key rotation: `begin_write` opens it with
// `BEGIN IMMEDIATE`, which already serializes it against every other writer.
keys::impl_key_stores!(SqliteStore, read = read, write = write);
tokens::impl_token_store!(
    SqliteStore,
    db = Sqlite,
    conn = SqliteConnection,
    read = read,
    write = write,
);
audit::impl_audit_store!(
    SqliteStore,
    db = Sqlite,
    conn = SqliteConnection,
    read = read,
    write = write,
);
users::impl_user_store!(SqliteStore, read = read, write = write);
sessions::impl_session_store!(SqliteStore, read = read, write = write);
replay::impl_replay_store!(SqliteStore, write = write);
consents::impl_consent_stores!(SqliteStore, read = read, write = write);
connections::impl_connection_store!(SqliteStore, read = read, write = write);
proxies::impl_proxy_store!(SqliteStore, read = read, write = write);
gateway::impl_gateway_store!(
    SqliteStore,
    read = read,
    write = write,
    // `BEGIN IMMEDIATE` keeps a concurrent `delete_client` out already.
    client_check = crate::sql::CONSUMER_CLIENT_EXISTS,
);
