//! `/admin/v1/audit`: the audit log, newest first, filtered and keyset-paged.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tollgate_store::{AuditQuery, AuditRecord};
use utoipa::{IntoParams, ToSchema};

use crate::Admin;
use crate::clients::{max_len, page_limit};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

pub const TAG: &str = "audit";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only events before this time (unix seconds).
    pub until: Option<i64>,
    /// Only events about this client.
    #[param(max_length = 128)]
    pub client_id: Option<String>,
    /// Only events of this type, e.g. `token.rejected`, `client.created`.
    #[param(max_length = 100)]
    pub event: Option<String>,
    /// Only events older than this id (the previous page's `next_before_id`).
    pub before_id: Option<i64>,
    /// Page size (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub event: String,
    pub client_id: Option<String>,
    /// `ok`, or the error code of a rejected request.
    pub outcome: String,
    pub remote_addr: Option<String>,
    /// Context; never a secret or token.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: r.event.at,
            event: r.event.event,
            client_id: r.event.client_id,
            outcome: r.event.outcome,
            remote_addr: r.event.remote_addr,
            detail: r.event.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntry>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before_id: Option<i64>,
}

#[utoipa::path(
    get, operation_id = "query_audit", path = "/admin/v1/audit", tag = TAG, params(Query),
    responses(
        (status = 200, description = "A page of audit events, newest first", body = AuditPage),
        (status = 400, description = "A query parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn query(
    State(admin): State<Arc<Admin>>,
    ApiQuery(q): ApiQuery<Query>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    max_len("client_id", q.client_id.as_deref(), 128)?;
    max_len("event", q.event.as_deref(), 100)?;
    let records = admin
        .app
        .svc
        .store
        .query_audit(&AuditQuery {
            since: q.since,
            until: q.until,
            client_id: q.client_id,
            event: q.event,
            before_id: q.before_id,
            limit,
        })
        .await?;
    let next_before_id = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(Json(AuditPage {
        items: records.into_iter().map(AuditEntry::from).collect(),
        next_before_id,
    }))
}
