//! Trait implementations shared by both backends, written once as macros.
//!
//! The SQLite and PostgreSQL backends run the same SQL (`crate::sql`) and
//! decode rows the same way (`crate::rows`); they differ only in the sqlx
//! database and connection types and in which pool serves a statement (SQLite
//! splits a read pool from its single-connection write pool, PostgreSQL has
//! one pool for both). Generic code over `sqlx::Database` would need an
//! `Encode + Type` bound for every bound value, so each implementation is a
//! `macro_rules!` macro instead, instantiated once per backend in its
//! `mod.rs` with the store type, the sqlx types and the pool fields to use.
//!
//! Every macro expects the store type to have `read` and `write` pool fields
//! (named by the `read =` / `write =` arguments, which may be the same field),
//! a `writer: crate::batch::Writer` where the batching writer is used, and an
//! `async fn begin_write(&self) -> Result<Transaction<'static, DB>>` that
//! opens a write transaction the way the backend needs it.
/// One purge statement from [`crate::sql::PurgeSql`] (`$1` = before, `$2` =
/// limit as `i64`) on the given pool: how many rows it deleted.
macro_rules! purge_batch {
    ($pool:expr, $sql:expr, $before:expr, $limit:expr) => {
        ::sqlx::query($sql)
            .bind($before)
            .bind($limit)
            .execute($pool)
            .await
            .map(|done| done.rows_affected())
    };
}
pub(crate) use purge_batch;

/// One keyset page (clients by id, users by username): `$first` for the
/// first page (`$1` = limit), `$after_sql` after a cursor (`$1` = cursor,
/// `$2` = limit). The rows, not yet decoded.
macro_rules! keyset_page {
    ($pool:expr, $first:expr, $after_sql:expr, $after:expr, $limit:expr) => {
        match $after {
            Some(after) => {
                ::sqlx::query($after_sql)
                    .bind(after)
                    .bind($crate::rows::page($limit))
                    .fetch_all($pool)
                    .await?
            }
            None => {
                ::sqlx::query($first)
                    .bind($crate::rows::page($limit))
                    .fetch_all($pool)
                    .await?
            }
        }
    };
}
pub(crate) use keyset_page;

/// A plain SQL migration of one backend's set.
pub(crate) fn migration(
    version: i64,
    name: &'static str,
    sql: &'static str,
) -> sqlx::migrate::Migration {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType};
    Migration::new(
        version,
        std::borrow::Cow::Borrowed(name),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod connections;
pub(crate) mod consents;
pub(crate) mod gateway;
pub(crate) mod keys;
pub(crate) mod proxies;
pub(crate) mod replay;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod users;
