//! Authorization codes (RFC 6749 §4.1.2): single use, replay detected.

/// `INSERT_CODE` with a code's twelve values bound.
macro_rules! insert_code_query {
    ($code:expr) => {
        ::sqlx::query($crate::sql::INSERT_CODE)
            .bind(&$code.hash.0[..])
            .bind($code.client_id.as_str())
            .bind($code.subject.as_str())
            .bind($code.redirect_uri.as_deref())
            .bind($code.scope.to_string())
            .bind($code.code_challenge.as_deref())
            .bind($code.code_challenge_method.as_deref())
            .bind($code.issued_at)
            .bind($code.expires_at)
            .bind($code.grant_id.as_str())
            .bind(::sqlx::types::Json(&$code.params))
            .bind($code.used_at)
    };
}
pub(crate) use insert_code_query;

/// Implements [`crate::CodeStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`. `redeem_code` goes through
/// the store's batching writer (`self.writer`).
macro_rules! impl_code_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::CodeStore for $store {
            async fn insert_code(&self, code: &$crate::CodeRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "insert_code", async {
                    $crate::common::codes::insert_code_query!(code)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn insert_code_with_grant(
                &self,
                grant: &$crate::UserGrantRecord,
                code: &$crate::CodeRecord,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "insert_code_with_grant", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::consents::insert_grant_query!(grant)
                        .execute(&mut *tx)
                        .await?;
                    $crate::common::codes::insert_code_query!(code)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn consume_code(
                &self,
                hash: &::tollgate_core::TokenHash,
                now: i64,
            ) -> $crate::Result<Option<($crate::CodeRecord, bool)>> {
                $crate::observe::observe(Self::BACKEND, "consume_code", async {
                    // Mark first, then read: whoever flips `used_at` from NULL is
                    // the first use; everyone else reads the winner's timestamp.
                    let mut tx = self.begin_write().await?;
                    let first = ::sqlx::query($crate::sql::MARK_CODE_USED)
                        .bind(&hash.0[..])
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                    let row = ::sqlx::query($crate::sql::FIND_CODE)
                        .bind(&hash.0[..])
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(row
                        .as_ref()
                        .map($crate::rows::code)
                        .transpose()?
                        .map(|code| (code, first)))
                })
                .await
            }

            async fn find_code(
                &self,
                hash: &::tollgate_core::TokenHash,
            ) -> $crate::Result<Option<$crate::CodeRecord>> {
                $crate::observe::observe(Self::BACKEND, "find_code", async {
                    let row = ::sqlx::query($crate::sql::FIND_CODE)
                        .bind(&hash.0[..])
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::code).transpose()
                })
                .await
            }

            async fn redeem_code(
                &self,
                hash: &::tollgate_core::TokenHash,
                now: i64,
                tokens: Vec<::tollgate_core::TokenRecord>,
            ) -> $crate::Result<bool> {
                // Through the batching writer: the mark and the tokens
                // commit together, sharing the commit with the batch.
                $crate::observe::observe(
                    Self::BACKEND,
                    "redeem_code",
                    self.writer
                        .guarded($crate::batch::Guard::MarkCode { hash: *hash, now }, tokens),
                )
                .await
            }

            async fn purge_codes(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_codes", async {
                    Ok($crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.expired_codes,
                        before,
                        i64::from(limit)
                    )?)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_code_store;
