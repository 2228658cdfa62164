//! Issued tokens: batched inserts, lookups, revocation, rotation, purging.
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use tollgate_core::{TokenHash, TokenRecord};

use super::PgStore;
use crate::{Result, TokenStore, rows, sql};

/// Rows per multi-row INSERT: 12 parameters each stays far below
/// PostgreSQL's 65535-parameter limit.
const ROWS_PER_INSERT: usize = 500;

/// Inserts tokens on a connection that is already inside a transaction.
pub(super) async fn insert(conn: &mut PgConnection, tokens: &[&TokenRecord]) -> Result<()> {
    for chunk in tokens.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Postgres>::new(sql::INSERT_TOKENS);
        qb.push_values(chunk, |mut b, t| {
            b.push_bind(&t.hash.0[..])
                .push_bind(t.kind.as_str())
                .push_bind(t.client_id.as_str())
                .push_bind(t.subject.as_deref())
                .push_bind(t.scope.to_string())
                .push_bind(Json(&t.audience))
                .push_bind(t.token_type.as_str())
                .push_bind(t.issued_at)
                .push_bind(t.expires_at)
                .push_bind(t.grant_id.as_str())
                .push_bind(t.revoked_at)
                .push_bind(Json(&t.metadata));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl TokenStore for PgStore {
    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> Result<()> {
        self.writer.insert_tokens(tokens).await
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(sql::FIND_TOKEN)
            .bind(&hash.0[..])
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn revoke_token(&self, hash: &TokenHash, now: i64) -> Result<bool> {
        let done = sqlx::query(sql::REVOKE_TOKEN)
            .bind(&hash.0[..])
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(sql::REVOKE_GRANT)
            .bind(grant_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_client_tokens(&self, client_id: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(sql::REVOKE_CLIENT_TOKENS)
            .bind(client_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn rotate_refresh(
        &self,
        old: &TokenHash,
        now: i64,
        new: Vec<TokenRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sql::REVOKE_ACTIVE_REFRESH)
            .bind(&old.0[..])
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert(&mut tx, &new.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn purge_tokens(&self, before: i64, limit: u32) -> Result<u64> {
        let expired = sqlx::query(sql::PURGE_EXPIRED_TOKENS)
            .bind(before)
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?
            .rows_affected();
        let left = u64::from(limit).saturating_sub(expired);
        if left == 0 {
            return Ok(expired);
        }
        let revoked = sqlx::query(sql::PURGE_REVOKED_TOKENS)
            .bind(before)
            .bind(i64::try_from(left).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(expired + revoked)
    }
}
