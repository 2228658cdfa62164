//! Registered clients, stored as one JSON document plus indexed columns.

/// Implements [`crate::ClientStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
macro_rules! impl_client_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::ClientStore for $store {
            async fn create_client(&self, client: &::tollgate_core::Client) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_client", async {
                    ::sqlx::query($crate::sql::INSERT_CLIENT)
                        .bind(client.id.as_str())
                        .bind(::sqlx::types::Json(client))
                        .bind(client.enabled)
                        .bind(client.created_at)
                        .bind(client.updated_at)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn get_client(
                &self,
                id: &str,
            ) -> $crate::Result<Option<::tollgate_core::Client>> {
                $crate::observe::observe(Self::BACKEND, "get_client", async {
                    let row = ::sqlx::query($crate::sql::GET_CLIENT)
                        .bind(id)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::client).transpose()
                })
                .await
            }

            async fn update_client(&self, client: &::tollgate_core::Client) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_client", async {
                    let done = ::sqlx::query($crate::sql::UPDATE_CLIENT)
                        .bind(client.id.as_str())
                        .bind(::sqlx::types::Json(client))
                        .bind(client.enabled)
                        .bind(client.updated_at)
                        .execute(&self.$write)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_client(&self, id: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_client", async {
                    let mut tx = self.begin_write().await?;
                    let gone = ::sqlx::query($crate::sql::DELETE_CLIENT)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if gone.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    // Consents and grant records name the client too: left
                    // behind, a client re-created under the same id would
                    // inherit them (no consent page, old grants listed).
                    for stmt in [
                        $crate::sql::DELETE_CLIENT_TOKENS,
                        $crate::sql::DELETE_CLIENT_CODES,
                        $crate::sql::DELETE_CLIENT_CONSENTS,
                        $crate::sql::DELETE_CLIENT_GRANTS,
                    ] {
                        ::sqlx::query(stmt).bind(id).execute(&mut *tx).await?;
                    }
                    // Gateway consumers too (a re-created client would
                    // inherit their approvals). Removing them changes the
                    // gateway's configuration, so the generation moves; it
                    // is bumped before the consumer rows are touched, the
                    // lock order of `common::gateway`. The client row is
                    // already deleted (locked), so no consumer of it can be
                    // added between the check and the delete.
                    let has_consumers = ::sqlx::query($crate::sql::CLIENT_HAS_CONSUMERS)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    if has_consumers {
                        $crate::common::gateway::bump_generation!(tx);
                        ::sqlx::query($crate::sql::DELETE_CLIENT_CONSUMERS)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn list_clients(
                &self,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::Result<Vec<::tollgate_core::Client>> {
                $crate::observe::observe(Self::BACKEND, "list_clients", async {
                    let found = $crate::common::keyset_page!(
                        &self.$read,
                        $crate::sql::LIST_CLIENTS,
                        $crate::sql::LIST_CLIENTS_AFTER,
                        after,
                        limit
                    );
                    found.iter().map($crate::rows::client).collect()
                })
                .await
            }
        }
    };
}
pub(crate) use impl_client_store;
