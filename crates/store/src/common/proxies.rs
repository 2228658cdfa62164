//! Proxy aliases: named forward proxies that connections reference. Rare
//! administrative writes of one statement each, straight to the write pool.
//! The reference from `connections.proxy_alias` is a foreign key, so the
//! database itself refuses deleting an alias in use (`Reference`).

/// Implements [`crate::ProxyStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
macro_rules! impl_proxy_store {
    ($store:ty, read = $read:ident, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::ProxyStore for $store {
            async fn create_proxy(&self, proxy: &$crate::ProxyRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_proxy", async {
                    ::sqlx::query($crate::sql::INSERT_PROXY)
                        .bind(proxy.name.as_str())
                        .bind(proxy.url.as_str())
                        .bind(proxy.username.as_deref())
                        .bind(proxy.password_encrypted.as_deref())
                        .bind(proxy.created_at)
                        .bind(proxy.updated_at)
                        .execute(&self.$write)
                        .await?;
                    Ok(())
                })
                .await
            }

            async fn update_proxy(&self, proxy: &$crate::ProxyRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_proxy", async {
                    let done = ::sqlx::query($crate::sql::UPDATE_PROXY)
                        .bind(proxy.name.as_str())
                        .bind(proxy.url.as_str())
                        .bind(proxy.username.as_deref())
                        .bind(proxy.password_encrypted.as_deref())
                        .bind(proxy.updated_at)
                        .execute(&self.$write)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::NotFound);
                    }
                    Ok(())
                })
                .await
            }

            async fn get_proxy(&self, name: &str) -> $crate::Result<Option<$crate::ProxyRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_proxy", async {
                    let row = ::sqlx::query($crate::sql::GET_PROXY)
                        .bind(name)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::proxy).transpose()
                })
                .await
            }

            async fn list_proxies(&self) -> $crate::Result<Vec<$crate::ProxyRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_proxies", async {
                    let found = ::sqlx::query($crate::sql::LIST_PROXIES)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::proxy).collect()
                })
                .await
            }

            async fn delete_proxy(&self, name: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_proxy", async {
                    let gone = ::sqlx::query($crate::sql::DELETE_PROXY)
                        .bind(name)
                        .execute(&self.$write)
                        .await?;
                    Ok(gone.rows_affected() > 0)
                })
                .await
            }

            async fn proxy_users(&self, name: &str) -> $crate::Result<Vec<String>> {
                $crate::observe::observe(Self::BACKEND, "proxy_users", async {
                    let names: Vec<String> = ::sqlx::query_scalar($crate::sql::PROXY_USERS)
                        .bind(name)
                        .fetch_all(&self.$read)
                        .await?;
                    Ok(names)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_proxy_store;
