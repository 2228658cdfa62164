//! Remembered consents and user grant records.
//!
//! They live together because withdrawing a consent acts through the grants:
//! tokens carry a `grant_id` but no user column, and a `user_grants` row is
//! what says which user a grant (and so each of its tokens and codes) belongs
//! to. Every "revoke this user's tokens" statement therefore goes through
//! `user_grants`, and must run before any grant record it needs is deleted.

/// `INSERT_GRANT` with a user grant's six values bound.
macro_rules! insert_grant_query {
    ($grant:expr) => {
        ::sqlx::query($crate::sql::INSERT_GRANT)
            .bind($grant.grant_id.as_str())
            .bind($grant.subject.as_str())
            .bind($grant.client_id.as_str())
            .bind($grant.grant_type.as_str())
            .bind($grant.scope.to_string())
            .bind($grant.created_at)
    };
}
pub(crate) use insert_grant_query;

/// Implements [`crate::ConsentStore`] and [`crate::GrantStore`] for
/// `$store`, reading through `self.$read` and writing through `self.$write`.
macro_rules! impl_consent_stores {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::ConsentStore for $store {
            async fn save_consent(&self, consent: &$crate::ConsentRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "save_consent", async {
                    // One upsert statement, so two concurrent approvals of the
                    // same client cannot collide on the primary key.
                    ::sqlx::query($crate::sql::SAVE_CONSENT)
                        .bind(consent.subject.as_str())
                        .bind(consent.client_id.as_str())
                        .bind(consent.scope.to_string())
                        .bind(consent.granted_at)
                        .bind(consent.updated_at)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn get_consent(
                &self,
                subject: &str,
                client_id: &str,
            ) -> $crate::Result<Option<$crate::ConsentRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_consent", async {
                    let row = ::sqlx::query($crate::sql::GET_CONSENT)
                        .bind(subject)
                        .bind(client_id)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::consent).transpose()
                })
                .await
            }

            async fn list_consents(
                &self,
                subject: &str,
            ) -> $crate::Result<Vec<$crate::ConsentRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_consents", async {
                    let found = ::sqlx::query($crate::sql::LIST_CONSENTS)
                        .bind(subject)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::consent).collect()
                })
                .await
            }

            async fn revoke_consent(
                &self,
                subject: &str,
                client_id: &str,
                now: i64,
            ) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "revoke_consent", async {
                    let mut tx = self.begin_write().await?;
                    let had_consent = ::sqlx::query($crate::sql::DELETE_CONSENT)
                        .bind(subject)
                        .bind(client_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                    let had_grant = ::sqlx::query($crate::sql::USER_CLIENT_HAS_GRANT)
                        .bind(subject)
                        .bind(client_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    if had_grant {
                        // The grant records stay (the user's history, purged
                        // once their tokens are gone); what they grant ends.
                        ::sqlx::query($crate::sql::REVOKE_USER_CLIENT_TOKENS)
                            .bind(subject)
                            .bind(client_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        ::sqlx::query($crate::sql::DELETE_USER_CLIENT_CODES)
                            .bind(subject)
                            .bind(client_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(had_consent || had_grant)
                })
                .await
            }
        }

        #[::async_trait::async_trait]
        impl $crate::GrantStore for $store {
            async fn record_grant(&self, grant: &$crate::UserGrantRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "record_grant", async {
                    $crate::common::consents::insert_grant_query!(grant)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn list_user_grants(
                &self,
                subject: &str,
            ) -> $crate::Result<Vec<$crate::UserGrantRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_user_grants", async {
                    let found = ::sqlx::query($crate::sql::LIST_USER_GRANTS)
                        .bind(subject)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::user_grant).collect()
                })
                .await
            }

            async fn list_user_tokens(
                &self,
                subject: &str,
            ) -> $crate::Result<Vec<::tollgate_core::TokenRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_user_tokens", async {
                    let found = ::sqlx::query($crate::sql::LIST_USER_TOKENS)
                        .bind(subject)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::token).collect()
                })
                .await
            }

            async fn revoke_user_tokens(
                &self,
                subject: &str,
                client_id: Option<&str>,
                now: i64,
            ) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "revoke_user_tokens", async {
                    // Pending codes go in the same transaction: one redeemed
                    // after this call would mint a working token again.
                    let mut tx = self.begin_write().await?;
                    let revoked = match client_id {
                        Some(client_id) => {
                            let done = ::sqlx::query($crate::sql::REVOKE_USER_CLIENT_TOKENS)
                                .bind(subject)
                                .bind(client_id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            ::sqlx::query($crate::sql::DELETE_USER_CLIENT_CODES)
                                .bind(subject)
                                .bind(client_id)
                                .execute(&mut *tx)
                                .await?;
                            done.rows_affected()
                        }
                        None => {
                            let done = ::sqlx::query($crate::sql::REVOKE_USER_TOKENS)
                                .bind(subject)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            ::sqlx::query($crate::sql::DELETE_USER_CODES)
                                .bind(subject)
                                .execute(&mut *tx)
                                .await?;
                            done.rows_affected()
                        }
                    };
                    tx.commit().await?;
                    Ok(revoked)
                })
                .await
            }

            async fn purge_grants(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_grants", async {
                    Ok($crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.old_grants,
                        before,
                        i64::from(limit)
                    )?)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_consent_stores;
