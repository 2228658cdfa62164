//! Browser login sessions, stored as the SHA-256 hash of the cookie value
//! (like tokens and codes: a copy of the database logs no one in).

/// Implements [`crate::SessionStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
macro_rules! impl_session_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::SessionStore for $store {
            async fn insert_session(&self, session: &$crate::SessionRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "insert_session", async {
                    ::sqlx::query($crate::sql::INSERT_SESSION)
                        .bind(&session.hash.0[..])
                        .bind(session.subject.as_str())
                        .bind(session.auth_time)
                        .bind(session.created_at)
                        .bind(session.expires_at)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn find_session(
                &self,
                hash: &::tollgate_core::TokenHash,
                now: i64,
            ) -> $crate::Result<Option<$crate::SessionRecord>> {
                $crate::observe::observe(Self::BACKEND, "find_session", async {
                    let row = ::sqlx::query($crate::sql::FIND_SESSION)
                        .bind(&hash.0[..])
                        .bind(now)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::session).transpose()
                })
                .await
            }

            async fn delete_session(
                &self,
                hash: &::tollgate_core::TokenHash,
            ) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_session", async {
                    let done = ::sqlx::query($crate::sql::DELETE_SESSION)
                        .bind(&hash.0[..])
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn delete_user_sessions(&self, subject: &str) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "delete_user_sessions", async {
                    let done = ::sqlx::query($crate::sql::DELETE_USER_SESSIONS)
                        .bind(subject)
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected())
                })
                .await
            }

            async fn purge_sessions(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_sessions", async {
                    Ok($crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.expired_sessions,
                        before,
                        i64::from(limit)
                    )?)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_session_store;
