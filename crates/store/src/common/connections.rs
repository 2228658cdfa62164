//! Connections (outbound OAuth client configurations) and their token
//! state. Rare writes of one statement each, so they bypass the batching
//! writer and go straight to the backend's write pool; none needs a
//! transaction of its own. The token state's compare-and-set is a single
//! `UPDATE … WHERE token_version = $2` (see
//! [`crate::sql::SAVE_CONNECTION_TOKENS`]).

/// Implements [`crate::ConnectionStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
macro_rules! impl_connection_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::ConnectionStore for $store {
            async fn create_connection(
                &self,
                connection: &$crate::ConnectionRecord,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_connection", async {
                    let tokens = &connection.tokens;
                    // A taken name is a unique violation, which
                    // `StoreError::from` maps to `Conflict`; an unknown
                    // proxy alias a foreign-key one (`Reference`).
                    ::sqlx::query($crate::sql::INSERT_CONNECTION)
                        .bind(connection.name.as_str())
                        .bind(::sqlx::types::Json(&connection.spec))
                        .bind(connection.secrets_encrypted.as_deref())
                        .bind(tokens.access_token_encrypted.as_deref())
                        .bind(tokens.refresh_token_encrypted.as_deref())
                        .bind(tokens.token_type.as_deref())
                        .bind(tokens.scope.as_deref())
                        .bind(tokens.expires_at)
                        .bind(tokens.obtained_at)
                        .bind(tokens.status.as_str())
                        .bind(tokens.last_error.as_deref())
                        .bind(tokens.version)
                        .bind(connection.created_at)
                        .bind(connection.updated_at)
                        .bind(connection.proxy_alias.as_deref())
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn update_connection(
                &self,
                name: &str,
                spec: &::serde_json::Value,
                secrets_encrypted: Option<&[u8]>,
                proxy_alias: Option<&str>,
                updated_at: i64,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_connection", async {
                    let done = ::sqlx::query($crate::sql::UPDATE_CONNECTION)
                        .bind(name)
                        .bind(::sqlx::types::Json(spec))
                        .bind(secrets_encrypted)
                        .bind(updated_at)
                        .bind(proxy_alias)
                        .execute(&self.$write)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                    Ok(())
                })
                .await
            }

            async fn get_connection(
                &self,
                name: &str,
            ) -> $crate::Result<Option<$crate::ConnectionRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_connection", async {
                    let row = ::sqlx::query($crate::sql::GET_CONNECTION)
                        .bind(name)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::connection).transpose()
                })
                .await
            }

            async fn list_connections(&self) -> $crate::Result<Vec<$crate::ConnectionRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_connections", async {
                    let found = ::sqlx::query($crate::sql::LIST_CONNECTIONS)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::connection).collect()
                })
                .await
            }

            async fn delete_connection(&self, name: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_connection", async {
                    let gone = ::sqlx::query($crate::sql::DELETE_CONNECTION)
                        .bind(name)
                        .execute(&self.$write)
                        .await?;
                    Ok(gone.rows_affected() > 0)
                })
                .await
            }

            async fn save_connection_tokens(
                &self,
                name: &str,
                expected_version: i64,
                tokens: &$crate::ConnectionTokens,
                now: i64,
            ) -> $crate::Result<Option<i64>> {
                $crate::observe::observe(Self::BACKEND, "save_connection_tokens", async {
                    let version: Option<i64> =
                        ::sqlx::query_scalar($crate::sql::SAVE_CONNECTION_TOKENS)
                            .bind(name)
                            .bind(expected_version)
                            .bind(tokens.access_token_encrypted.as_deref())
                            .bind(tokens.refresh_token_encrypted.as_deref())
                            .bind(tokens.token_type.as_deref())
                            .bind(tokens.scope.as_deref())
                            .bind(tokens.expires_at)
                            .bind(tokens.obtained_at)
                            .bind(tokens.status.as_str())
                            .bind(tokens.last_error.as_deref())
                            .bind(now)
                            .fetch_optional(&self.$write)
                            .await?;
                    if version.is_some() {
                        return Ok(version);
                    }
                    // Nothing written: a lost race, or no such connection.
                    // Asked after the fact, so a connection deleted in
                    // between is `NotFound`, which is what it now is.
                    let exists = ::sqlx::query($crate::sql::CONNECTION_EXISTS)
                        .bind(name)
                        .fetch_optional(&self.$write)
                        .await?;
                    match exists {
                        Some(_) => Ok(None),
                        None => Err($crate::StoreError::NotFound),
                    }
                })
                .await
            }

            async fn reset_connection_tokens(&self, name: &str, now: i64) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "reset_connection_tokens", async {
                    let done = ::sqlx::query($crate::sql::RESET_CONNECTION_TOKENS)
                        .bind(name)
                        .bind(now)
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_connection_store;
