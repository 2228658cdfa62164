//! How a store is configured and opened.
use std::sync::Arc;
use std::time::Duration;

use crate::bounded::Bounded;
use crate::{Result, Store, StoreError};

/// SQLite's `synchronous` pragma. `Full` (the default) makes every commit
/// survive power loss; `Normal` in WAL mode still survives a crash of the
/// process (`kill -9`) but may lose the last commits on power loss, in
/// exchange for fewer fsyncs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

/// Store settings. `url` picks the backend: `sqlite://path` / `sqlite:path`
/// or `postgres://…` / `postgresql://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreOptions {
    pub url: String,
    /// PostgreSQL only: create this schema if missing and put it first on
    /// every pooled connection's `search_path` (isolates tenants and tests).
    pub schema: Option<String>,
    /// Pool size (SQLite: readers; its single writer connection is extra).
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSync,
    /// SQLite only: page cache of the writer connection, in MiB (SQLite's
    /// own default is about 2 MiB). Every token insert touches random pages
    /// of the hash and grant-id indexes; once those outgrow the cache, each
    /// commit re-reads them from the OS. Memory, not durability.
    pub sqlite_cache_mib: u32,
    /// SQLite only: checkpoint the WAL from a background connection every
    /// 250 ms instead of inside the commit that crosses SQLite's 1000-page
    /// threshold, so no token request waits for a checkpoint. Commits are
    /// still fsynced to the WAL as `sqlite_synchronous` says; a checkpoint
    /// only copies committed pages into the main file. Off by default: in
    /// `bench/RESULTS.md` it raised issuance throughput at concurrency 64 but
    /// also its p99 latency (the checkpoint's fsync of the main file competes
    /// with the commits' fsyncs of the WAL).
    pub sqlite_background_checkpoint: bool,
    /// Most operations one writer transaction takes from the queue.
    pub batch_max: usize,
    /// Bounded queue length per writer task; `audit()` drops events beyond it.
    pub queue_capacity: usize,
    /// How long a caller waits for a pooled connection before `Unavailable`.
    /// While the database refuses connections (down, restarting) sqlx keeps
    /// retrying for this long, so it is also how long a request may wait
    /// for a database that is coming back.
    pub acquire_timeout: Duration,
    /// How long the store waits for the database to answer once it has a
    /// connection (a batch commit, a readiness ping) before `Unavailable`.
    /// A crashed server resets its connections at once, but one behind a
    /// lost network path leaves them open and silent; without this bound a
    /// request would wait for TCP to give up, minutes later. This is a
    /// client-side limit, not PostgreSQL's `statement_timeout`.
    pub query_timeout: Duration,
}

impl StoreOptions {
    /// The longest a caller waits on the batching writer: a connection,
    /// then the commit.
    pub(crate) fn write_limit(&self) -> Duration {
        self.acquire_timeout.saturating_add(self.query_timeout)
    }

    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
            sqlite_cache_mib: 64,
            sqlite_background_checkpoint: false,
            batch_max: 128,
            queue_capacity: 8192,
            acquire_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for StoreOptions {
    /// The zero-config default of DESIGN.md: SQLite under `./tollgate-data/`.
    fn default() -> Self {
        Self::new("sqlite://tollgate-data/tollgate.db")
    }
}

/// The URL may carry a password, so `Debug` shows only its scheme.
impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("StoreOptions")
            .field("url", &format_args!("{scheme}:…"))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("sqlite_cache_mib", &self.sqlite_cache_mib)
            .field(
                "sqlite_background_checkpoint",
                &self.sqlite_background_checkpoint,
            )
            .field("batch_max", &self.batch_max)
            .field("queue_capacity", &self.queue_capacity)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}

/// Opens the store named by `opts.url`, runs its migrations and starts its
/// writer task(s). Every call on the result answers within
/// [`StoreOptions::acquire_timeout`] plus [`StoreOptions::query_timeout`].
pub async fn open(opts: &StoreOptions) -> Result<Arc<dyn Store>> {
    let url = opts.url.trim();
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        let store = crate::sqlite::SqliteStore::open(path, opts).await?;
        Ok(Bounded::wrap(store, opts.write_limit()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = crate::postgres::PgStore::open(url, opts).await?;
        Ok(Bounded::wrap(store, opts.write_limit()))
    } else {
        Err(StoreError::Config(
            "database.url must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// A schema name goes into DDL and a connection parameter, where it cannot be
/// bound as a value, so only plain identifiers are accepted.
pub(crate) fn check_schema(s: &str) -> Result<()> {
    let mut chars = s.chars();
    let ok = s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(
            "schema must be 1-63 characters of a-z, 0-9 and _, not starting with a digit".into(),
        ))
    }
}

/// A readiness round trip that answers within `limit` whatever the database
/// does: a probe that hangs is as useless to an orchestrator as no probe.
pub(crate) async fn ping<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, limit: Duration) -> Result<()> {
    let round_trip = async {
        let mut conn = pool.acquire().await?;
        sqlx::Connection::ping(&mut *conn).await?;
        Ok::<_, StoreError>(())
    };
    tokio::time::timeout(limit, round_trip)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the database did not answer the readiness check in time".into(),
            ))
        })
}
