//! Signing keys and RFC 7591 initial access (registration) tokens: rare
//! administrative writes, so they go straight to the pool.
use async_trait::async_trait;
use sqlx::types::Json;
use tollgate_core::TokenHash;

use super::PgStore;
use crate::{
    KeyStatus, KeyStore, RegistrationTokenRecord, RegistrationTokenStore, Result, SigningKeyRecord,
    rows, sql,
};

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_key(&self, key: &SigningKeyRecord, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if key.status == KeyStatus::Active {
            // Two concurrent rotations must not both see "no other active key"
            // and then collide on the one-active index: serialize them. Readers
            // (JWKS) are not blocked by this lock mode.
            sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::RETIRE_ACTIVE_KEYS)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(sql::INSERT_KEY)
            .bind(key.kid.as_str())
            .bind(key.alg.as_str())
            .bind(&key.private_key_encrypted[..])
            .bind(Json(&key.public_jwk))
            .bind(key.status.as_str())
            .bind(key.created_at)
            .bind(key.retired_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let found = sqlx::query(sql::LIST_KEYS).fetch_all(&self.pool).await?;
        found.iter().map(rows::key).collect()
    }
}

#[async_trait]
impl RegistrationTokenStore for PgStore {
    async fn insert_registration_token(&self, token: &RegistrationTokenRecord) -> Result<()> {
        sqlx::query(sql::INSERT_REGISTRATION_TOKEN)
            .bind(token.id.as_str())
            .bind(&token.hash.0[..])
            .bind(token.description.as_str())
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.max_uses.map(i64::from))
            .bind(i64::from(token.uses))
            .bind(token.revoked)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn use_registration_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<RegistrationTokenRecord>> {
        let row = sqlx::query(sql::USE_REGISTRATION_TOKEN)
            .bind(&hash.0[..])
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::registration_token).transpose()
    }

    async fn list_registration_tokens(&self) -> Result<Vec<RegistrationTokenRecord>> {
        let found = sqlx::query(sql::LIST_REGISTRATION_TOKENS)
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::registration_token).collect()
    }

    async fn revoke_registration_token(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(sql::REVOKE_REGISTRATION_TOKEN)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
