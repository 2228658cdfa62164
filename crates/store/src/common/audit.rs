//! The audit log: appended through the batching writer, read newest first.

/// Six parameters per row keeps a chunk far below both SQLite's variable
/// limit and PostgreSQL's parameter limit.
pub(crate) const ROWS_PER_INSERT: usize = 1000;

/// Implements [`crate::AuditStore`] for `$store` (database `$db`, connection
/// `$conn`), reading through `self.$read` and purging through `self.$write`.
///
/// Also defines, in the invoking module,
/// `async fn insert_audit(conn: &mut $conn, events: &[&AuditEvent])`, which
/// inserts events on a connection that is already inside a transaction (for
/// the batching writer's sink).
macro_rules! impl_audit_store {
    (
        $store:ty,
        db = $db:ty,
        conn = $conn:ty,
        read = $read:ident,
        write = $write:ident $(,)?
    ) => {
        /// Inserts events on a connection that is already inside a transaction.
        async fn insert_audit(
            conn: &mut $conn,
            events: &[&$crate::AuditEvent],
        ) -> $crate::Result<()> {
            for chunk in events.chunks($crate::common::audit::ROWS_PER_INSERT) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new($crate::sql::INSERT_AUDIT);
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.at)
                        .push_bind(e.event.as_str())
                        .push_bind(e.client_id.as_deref())
                        .push_bind(e.outcome.as_str())
                        .push_bind(e.remote_addr.as_deref())
                        .push_bind(::sqlx::types::Json(&e.detail));
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        #[::async_trait::async_trait]
        impl $crate::AuditStore for $store {
            fn audit(&self, event: $crate::AuditEvent) {
                self.writer.audit(event);
            }

            async fn append_audit(&self, events: Vec<$crate::AuditEvent>) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "append_audit", async {
                    self.writer.append_audit(events).await
                })
                .await
            }

            async fn query_audit(
                &self,
                q: &$crate::AuditQuery,
            ) -> $crate::Result<Vec<$crate::AuditRecord>> {
                $crate::observe::observe(Self::BACKEND, "query_audit", async {
                    let mut qb = ::sqlx::QueryBuilder::<$db>::new($crate::sql::SELECT_AUDIT);
                    if let Some(since) = q.since {
                        qb.push(" AND at >= ").push_bind(since);
                    }
                    if let Some(until) = q.until {
                        qb.push(" AND at < ").push_bind(until);
                    }
                    if let Some(client_id) = &q.client_id {
                        qb.push(" AND client_id = ").push_bind(client_id.as_str());
                    }
                    if let Some(event) = &q.event {
                        qb.push(" AND event = ").push_bind(event.as_str());
                    }
                    if let Some(before) = q.before_id {
                        qb.push(" AND id < ").push_bind(before);
                    }
                    qb.push(" ORDER BY id DESC LIMIT ")
                        .push_bind($crate::rows::page(q.limit));
                    let found = qb.build().fetch_all(&self.$read).await?;
                    found.iter().map($crate::rows::audit).collect()
                })
                .await
            }

            async fn purge_audit(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_audit", async {
                    Ok($crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.old_audit,
                        before,
                        i64::from(limit)
                    )?)
                })
                .await
            }

            fn dropped_audit_events(&self) -> u64 {
                self.writer.dropped()
            }
        }
    };
}
pub(crate) use impl_audit_store;
