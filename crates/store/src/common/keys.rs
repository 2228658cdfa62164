//! Signing keys and RFC 7591 initial access (registration) tokens: rare
//! administrative writes, so they bypass the batching writer and go straight
//! to the backend's write pool.

/// Implements [`crate::KeyStore`] and [`crate::RegistrationTokenStore`] for
/// `$store`, reading through `self.$read` and writing through `self.$write`.
///
/// `key_lock`, when given, is a statement run inside the key-rotation
/// transaction before other active keys are retired, for backends whose
/// write transactions do not already exclude each other.
macro_rules! impl_key_stores {
    (
        $store:ty,
        read = $read:ident,
        write = $write:ident
        $(, key_lock = $key_lock:expr)?
        $(,)?
    ) => {
        #[::async_trait::async_trait]
        impl $crate::KeyStore for $store {
            async fn insert_key(
                &self,
                key: &$crate::SigningKeyRecord,
                now: i64,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "insert_key", async {
                    let mut tx = self.begin_write().await?;
                    if key.status == $crate::KeyStatus::Active {
                        $(
                            ::sqlx::query($key_lock).execute(&mut *tx).await?;
                        )?
                        ::sqlx::query($crate::sql::RETIRE_ACTIVE_KEYS)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    ::sqlx::query($crate::sql::INSERT_KEY)
                        .bind(key.kid.as_str())
                        .bind(key.alg.as_str())
                        .bind(&key.private_key_encrypted[..])
                        .bind(::sqlx::types::Json(&key.public_jwk))
                        .bind(key.status.as_str())
                        .bind(key.created_at)
                        .bind(key.retired_at)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn promote_key(&self, kid: &str, now: i64) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "promote_key", async {
                    let mut tx = self.begin_write().await?;
                    $(
                        ::sqlx::query($key_lock).execute(&mut *tx).await?;
                    )?
                    let is_next: Option<(String,)> = ::sqlx::query_as($crate::sql::FIND_NEXT_KEY)
                        .bind(kid)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if is_next.is_none() {
                        return Ok(false);
                    }
                    ::sqlx::query($crate::sql::RETIRE_ACTIVE_KEYS)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    ::sqlx::query($crate::sql::PROMOTE_KEY)
                        .bind(kid)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn list_keys(&self) -> $crate::Result<Vec<$crate::SigningKeyRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_keys", async {
                    let found = ::sqlx::query($crate::sql::LIST_KEYS)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::key).collect()
                })
                .await
            }
        }

        #[::async_trait::async_trait]
        impl $crate::RegistrationTokenStore for $store {
            async fn insert_registration_token(
                &self,
                token: &$crate::RegistrationTokenRecord,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "insert_registration_token", async {
                    ::sqlx::query($crate::sql::INSERT_REGISTRATION_TOKEN)
                        .bind(token.id.as_str())
                        .bind(&token.hash.0[..])
                        .bind(token.description.as_str())
                        .bind(token.created_at)
                        .bind(token.expires_at)
                        .bind(token.max_uses.map(i64::from))
                        .bind(i64::from(token.uses))
                        .bind(token.revoked)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn use_registration_token(
                &self,
                hash: &::tollgate_core::TokenHash,
                now: i64,
            ) -> $crate::Result<Option<$crate::RegistrationTokenRecord>> {
                $crate::observe::observe(Self::BACKEND, "use_registration_token", async {
                    // An UPDATE ... RETURNING: a write, even though it fetches.
                    let row = ::sqlx::query($crate::sql::USE_REGISTRATION_TOKEN)
                        .bind(&hash.0[..])
                        .bind(now)
                        .fetch_optional(&self.$write)
                        .await?;
                    row.as_ref().map($crate::rows::registration_token).transpose()
                })
                .await
            }

            async fn list_registration_tokens(
                &self,
            ) -> $crate::Result<Vec<$crate::RegistrationTokenRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_registration_tokens", async {
                    let found = ::sqlx::query($crate::sql::LIST_REGISTRATION_TOKENS)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::registration_token).collect()
                })
                .await
            }

            async fn revoke_registration_token(&self, id: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "revoke_registration_token", async {
                    let done = ::sqlx::query($crate::sql::REVOKE_REGISTRATION_TOKEN)
                        .bind(id)
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn purge_registration_tokens(
                &self,
                before: i64,
                limit: u32,
            ) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_registration_tokens", async {
                    Ok($crate::common::purge_batch!(&self.$write, Self::PURGE.expired_registration_tokens, before, i64::from(limit))?)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_key_stores;
