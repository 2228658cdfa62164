//! Registered clients, stored as one JSON document plus indexed columns.
use async_trait::async_trait;
use sqlx::types::Json;
use tollgate_core::Client;

use super::SqliteStore;
use crate::{ClientStore, Result, StoreError, rows, sql};

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &Client) -> Result<()> {
        sqlx::query(sql::INSERT_CLIENT)
            .bind(client.id.as_str())
            .bind(Json(client))
            .bind(client.enabled)
            .bind(client.created_at)
            .bind(client.updated_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>> {
        let row = sqlx::query(sql::GET_CLIENT)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(rows::client).transpose()
    }

    async fn update_client(&self, client: &Client) -> Result<()> {
        let done = sqlx::query(sql::UPDATE_CLIENT)
            .bind(client.id.as_str())
            .bind(Json(client))
            .bind(client.enabled)
            .bind(client.updated_at)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query(sql::DELETE_CLIENT)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for stmt in [sql::DELETE_CLIENT_TOKENS, sql::DELETE_CLIENT_CODES] {
            sqlx::query(stmt).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn list_clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<Client>> {
        let found = match after {
            Some(after) => {
                sqlx::query(sql::LIST_CLIENTS_AFTER)
                    .bind(after)
                    .bind(rows::page(limit))
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query(sql::LIST_CLIENTS)
                    .bind(rows::page(limit))
                    .fetch_all(&self.read)
                    .await?
            }
        };
        found.iter().map(rows::client).collect()
    }
}
