//! The audit log: appended through the batching writer, read newest first.
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PgStore;
use crate::{AuditEvent, AuditQuery, AuditRecord, AuditStore, Result, rows, sql};

/// Six parameters per row keeps a chunk far below PostgreSQL's parameter limit.
const ROWS_PER_INSERT: usize = 1000;

/// Inserts events on a connection that is already inside a transaction.
pub(super) async fn insert(conn: &mut PgConnection, events: &[&AuditEvent]) -> Result<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Postgres>::new(sql::INSERT_AUDIT);
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.at)
                .push_bind(e.event.as_str())
                .push_bind(e.client_id.as_deref())
                .push_bind(e.outcome.as_str())
                .push_bind(e.remote_addr.as_deref())
                .push_bind(Json(&e.detail));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for PgStore {
    fn audit(&self, event: AuditEvent) {
        self.writer.audit(event);
    }

    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        self.writer.append_audit(events).await
    }

    async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut qb = QueryBuilder::<Postgres>::new(sql::SELECT_AUDIT);
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
            .push_bind(rows::page(q.limit));
        let found = qb.build().fetch_all(&self.pool).await?;
        found.iter().map(rows::audit).collect()
    }

    fn dropped_audit_events(&self) -> u64 {
        self.writer.dropped()
    }
}
