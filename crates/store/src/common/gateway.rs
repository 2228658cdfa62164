//! The gateway's configuration (virtual services, their consumers, third-party
//! authorization servers): rare administrative writes, so they bypass the
//! batching writer and go straight to the backend's write pool, each in its
//! own transaction that also moves `gateway_meta.generation`.
//!
//! The generation is bumped first in every write transaction (after the
//! consumer's client check in `put_consumer`, see below). On PostgreSQL its
//! row lock then serializes the gateway's writes, so a check made after it
//! (does the service exist?) still holds at `COMMIT`: `put_consumer` cannot
//! add a consumer to a service a concurrent `delete_service` is removing. On
//! SQLite `BEGIN IMMEDIATE` serializes every writer anyway.
//!
//! Locks are always taken in the order client row, generation row, consumer
//! rows (`delete_client` in `clients.rs` follows it too), so two of these
//! transactions never wait on each other in a cycle.
//!
//! A write that changes nothing (a delete of what does not exist, a
//! `Conflict`, a `NotFound`) is rolled back, bump included: the generation
//! moves only when the configuration did, and readers reload only then.

/// `UPDATE gateway_meta ...` on `$tx`; `Corrupt` when the row is missing
/// (the migration seeds it, nothing deletes it).
macro_rules! bump_generation {
    ($tx:expr) => {{
        let done = ::sqlx::query($crate::sql::BUMP_GATEWAY_GENERATION)
            .execute(&mut *$tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err($crate::StoreError::Corrupt(
                "gateway_meta has no generation row".into(),
            ));
        }
    }};
}
pub(crate) use bump_generation;

/// Implements [`crate::GatewayStore`] for `$store`, reading through
/// `self.$read` and writing through `self.$write`.
///
/// `client_check` is the statement (`$1` = client id, a row when it exists)
/// that `put_consumer` runs first in its transaction: on PostgreSQL it must
/// lock the client row against a concurrent `delete_client`
/// ([`crate::sql::CONSUMER_CLIENT_EXISTS_LOCKED`]).
macro_rules! impl_gateway_store {
    (
        $store:ty,
        read = $read:ident,
        write = $write:ident,
        client_check = $client_check:expr
        $(,)?
    ) => {
        #[::async_trait::async_trait]
        impl $crate::GatewayStore for $store {
            async fn gateway_generation(&self) -> $crate::Result<i64> {
                $crate::observe::observe(Self::BACKEND, "gateway_generation", async {
                    let generation: i64 = ::sqlx::query_scalar($crate::sql::GATEWAY_GENERATION)
                        .fetch_optional(&self.$read)
                        .await?
                        .ok_or_else(|| {
                            $crate::StoreError::Corrupt("gateway_meta has no generation row".into())
                        })?;
                    Ok(generation)
                })
                .await
            }

            async fn create_service(&self, service: &$crate::ServiceRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_service", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    // A taken name and a taken alias are both a unique
                    // violation, which `StoreError::from` maps to `Conflict`
                    // (dropping `tx` rolls the bump back).
                    ::sqlx::query($crate::sql::INSERT_SERVICE)
                        .bind(service.name.as_str())
                        .bind(service.alias.as_str())
                        .bind(::sqlx::types::Json(&service.spec))
                        .bind(service.created_at)
                        .bind(service.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn update_service(&self, service: &$crate::ServiceRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_service", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    // An alias taken by another service fails on the unique
                    // index (`Conflict`); `created_at` is not touched.
                    let done = ::sqlx::query($crate::sql::UPDATE_SERVICE)
                        .bind(service.name.as_str())
                        .bind(service.alias.as_str())
                        .bind(::sqlx::types::Json(&service.spec))
                        .bind(service.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound);
                    }
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn get_service(
                &self,
                name: &str,
            ) -> $crate::Result<Option<$crate::ServiceRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_service", async {
                    let row = ::sqlx::query($crate::sql::GET_SERVICE)
                        .bind(name)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::service).transpose()
                })
                .await
            }

            async fn list_services(&self) -> $crate::Result<Vec<$crate::ServiceRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_services", async {
                    let found = ::sqlx::query($crate::sql::LIST_SERVICES)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::service).collect()
                })
                .await
            }

            async fn delete_service(&self, name: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_service", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    let gone = ::sqlx::query($crate::sql::DELETE_SERVICE)
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    if gone.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    // Left behind, they would be inherited by a service
                    // created later under the same name.
                    ::sqlx::query($crate::sql::DELETE_SERVICE_CONSUMERS)
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn put_consumer(&self, consumer: &$crate::ConsumerRecord) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "put_consumer", async {
                    let mut tx = self.begin_write().await?;
                    // The client first: it is the first lock in the order
                    // `delete_client` takes them (see the module docs).
                    let client = ::sqlx::query($client_check)
                        .bind(consumer.client_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if client.is_none() {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound);
                    }
                    $crate::common::gateway::bump_generation!(tx);
                    let service = ::sqlx::query($crate::sql::SERVICE_EXISTS)
                        .bind(consumer.service.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if service.is_none() {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound);
                    }
                    ::sqlx::query($crate::sql::PUT_CONSUMER)
                        .bind(consumer.service.as_str())
                        .bind(consumer.client_id.as_str())
                        .bind(consumer.application.as_str())
                        .bind(consumer.status.as_str())
                        .bind(::sqlx::types::Json(&consumer.settings))
                        .bind(consumer.created_at)
                        .bind(consumer.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn get_consumer(
                &self,
                service: &str,
                client_id: &str,
            ) -> $crate::Result<Option<$crate::ConsumerRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_consumer", async {
                    let row = ::sqlx::query($crate::sql::GET_CONSUMER)
                        .bind(service)
                        .bind(client_id)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::consumer).transpose()
                })
                .await
            }

            async fn list_consumers(
                &self,
                service: Option<&str>,
            ) -> $crate::Result<Vec<$crate::ConsumerRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_consumers", async {
                    let found = match service {
                        Some(service) => {
                            ::sqlx::query($crate::sql::LIST_SERVICE_CONSUMERS)
                                .bind(service)
                                .fetch_all(&self.$read)
                                .await?
                        }
                        None => {
                            ::sqlx::query($crate::sql::LIST_CONSUMERS)
                                .fetch_all(&self.$read)
                                .await?
                        }
                    };
                    found.iter().map($crate::rows::consumer).collect()
                })
                .await
            }

            async fn delete_consumer(
                &self,
                service: &str,
                client_id: &str,
            ) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_consumer", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    let gone = ::sqlx::query($crate::sql::DELETE_CONSUMER)
                        .bind(service)
                        .bind(client_id)
                        .execute(&mut *tx)
                        .await?;
                    if gone.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }

            async fn create_auth_server(
                &self,
                server: &$crate::AuthServerRecord,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "create_auth_server", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    ::sqlx::query($crate::sql::INSERT_AUTH_SERVER)
                        .bind(server.name.as_str())
                        .bind(::sqlx::types::Json(&server.spec))
                        .bind(server.secret_encrypted.as_deref())
                        .bind(server.created_at)
                        .bind(server.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn update_auth_server(
                &self,
                server: &$crate::AuthServerRecord,
            ) -> $crate::Result<()> {
                $crate::observe::observe(Self::BACKEND, "update_auth_server", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    let done = ::sqlx::query($crate::sql::UPDATE_AUTH_SERVER)
                        .bind(server.name.as_str())
                        .bind(::sqlx::types::Json(&server.spec))
                        .bind(server.secret_encrypted.as_deref())
                        .bind(server.updated_at)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound);
                    }
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }

            async fn get_auth_server(
                &self,
                name: &str,
            ) -> $crate::Result<Option<$crate::AuthServerRecord>> {
                $crate::observe::observe(Self::BACKEND, "get_auth_server", async {
                    let row = ::sqlx::query($crate::sql::GET_AUTH_SERVER)
                        .bind(name)
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::auth_server).transpose()
                })
                .await
            }

            async fn list_auth_servers(&self) -> $crate::Result<Vec<$crate::AuthServerRecord>> {
                $crate::observe::observe(Self::BACKEND, "list_auth_servers", async {
                    let found = ::sqlx::query($crate::sql::LIST_AUTH_SERVERS)
                        .fetch_all(&self.$read)
                        .await?;
                    found.iter().map($crate::rows::auth_server).collect()
                })
                .await
            }

            async fn delete_auth_server(&self, name: &str) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "delete_auth_server", async {
                    let mut tx = self.begin_write().await?;
                    $crate::common::gateway::bump_generation!(tx);
                    let gone = ::sqlx::query($crate::sql::DELETE_AUTH_SERVER)
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    if gone.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    tx.commit().await?;
                    Ok(true)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_gateway_store;
