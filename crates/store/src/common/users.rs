//! Local users (resource owners, RFC 6749 §1.1), stored like clients: one
//! JSON document plus the columns that are looked up (`id`, `username`).
//!
//! The id is the token subject and never changes; the username is unique
//! (the database's unique index decides, so two concurrent sign-ups of one
//! name cannot both succeed) and may be renamed.

/// Implements [`crate::UserStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
macro_rules! impl_user_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::UserStore for $store {
            async fn create_user(&self, user: &::tollgate_core::User) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_user", async {
                    // A taken id and a taken username are both a unique
                    // violation, which `StoreError::from` maps to `Conflict`.
                    ::sqlx::query($crate::sql::INSERT_USER)
                        .bind(user.id.as_str())
                        .bind(user.username.as_str())
                        .bind(::sqlx::types::Json(user))
                        .bind(user.enabled)
                        .bind(user.created_at)
                        .bind(user.updated_at)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn get_user(&self, id: &str) -> $crate::Result<Option<::tollgate_core::User>> {
                $crate::observe::observe(Self::BACKEND, "get_user", async {
                    let row = ::sqlx::query($crate::sql::GET_USER)
                        .bind(id)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::user).transpose()
                })
                .await
            }

            async fn find_user_by_name(
                &self,
                username: &str,
            ) -> $crate::Result<Option<::tollgate_core::User>> {
                $crate::observe::observe(Self::BACKEND, "find_user_by_name", async {
                    // Stored names are lower case (`Username`); folding the
                    // argument the same way means "Alice" at the login form
                    // finds "alice" even if a caller skipped the parse.
                    let row = ::sqlx::query($crate::sql::FIND_USER_BY_NAME)
                        .bind(username.to_ascii_lowercase())
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::user).transpose()
                })
                .await
            }

            async fn update_user(&self, user: &::tollgate_core::User) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_user", async {
                    // A rename into a taken name fails on the unique index
                    // (`Conflict`) and leaves the row as it was.
                    let done = ::sqlx::query($crate::sql::UPDATE_USER)
                        .bind(user.id.as_str())
                        .bind(user.username.as_str())
                        .bind(::sqlx::types::Json(user))
                        .bind(user.enabled)
                        .bind(user.updated_at)
                        .execute(&self.$write)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_user(&self, id: &str, now: i64) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_user", async {
                    let mut tx = self.begin_write().await?;
                    let gone = ::sqlx::query($crate::sql::DELETE_USER)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if gone.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    // Tokens and codes are found through the grant records,
                    // so they go first. Revoked (not deleted) tokens answer
                    // "inactive" with their revocation time until the purge
                    // takes them, like any other revoked token.
                    ::sqlx::query($crate::sql::REVOKE_USER_TOKENS)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    for stmt in [
                        $crate::sql::DELETE_USER_CODES,
                        $crate::sql::DELETE_USER_GRANTS,
                        $crate::sql::DELETE_USER_SESSIONS,
                        $crate::sql::DELETE_USER_CONSENTS,
                    ] {
                        ::sqlx::query(stmt).bind(id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn list_users(
                &self,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::Result<Vec<::tollgate_core::User>> {
                $crate::observe::observe(Self::BACKEND, "list_users", async {
                    let found = $crate::common::keyset_page!(
                        &self.$read,
                        $crate::sql::LIST_USERS,
                        $crate::sql::LIST_USERS_AFTER,
                        after,
                        limit
                    );
                    found.iter().map($crate::rows::user).collect()
                })
                .await
            }
        }
    };
}
pub(crate) use impl_user_store;
