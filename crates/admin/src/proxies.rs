//! `/admin/v1/proxies`: proxy aliases, the named forward proxies that
//! connections go through (`spec.proxy_alias`); the same operations as
//! `tollgate proxy …`. The password is write-only.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tollgate_connect::{ProxyInput, ProxyView};
use url::Url;
use utoipa::ToSchema;

use crate::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, SecretString};

pub const TAG: &str = "proxies";

/// A proxy alias's settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// The proxy, `http://host:port` (or `https://`), without credentials.
    #[schema(example = "http://proxy.corp:3128")]
    pub url: String,
    /// The proxy's Basic user (with `password`).
    pub username: Option<String>,
    /// Write-only: sealed under the master key, never shown again.
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// A new alias: its name and settings (serde's `flatten` cannot be
/// combined with `deny_unknown_fields`, so the fields are spelled out).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProxy {
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", example = "corp")]
    pub name: String,
    #[schema(example = "http://proxy.corp:3128")]
    pub url: String,
    pub username: Option<String>,
    /// Write-only: sealed under the master key, never shown again.
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

#[derive(Serialize, ToSchema)]
pub struct ProxyList {
    /// In name order.
    pub items: Vec<ProxyView>,
}

impl ProxySettings {
    fn input(self) -> Result<ProxyInput, ApiError> {
        let url = Url::parse(&self.url)
            .map_err(|e| ApiError::invalid_field("url", format!("not a URL: {e}")))?;
        Ok(ProxyInput {
            url,
            username: self.username,
            password: self.password.map(|p| p.0),
        })
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("proxy alias '{name}'"))
}

#[utoipa::path(
    get, operation_id = "list_proxies", path = "/admin/v1/proxies", tag = TAG,
    responses(
        (status = 200, description = "Every proxy alias and the connections that use it (passwords never shown)", body = ProxyList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(State(admin): State<Arc<Admin>>) -> Result<Json<ProxyList>, ApiError> {
    Ok(Json(ProxyList {
        items: admin.connections.proxies().await?,
    }))
}

#[utoipa::path(
    post, operation_id = "create_proxy", path = "/admin/v1/proxies", tag = TAG,
    request_body = CreateProxy,
    responses(
        (status = 201, description = "Added", body = ProxyView),
        (status = 400, description = "A bad name or URL, or a user without a password", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    ApiJson(body): ApiJson<CreateProxy>,
) -> Result<Response, ApiError> {
    let settings = ProxySettings {
        url: body.url,
        username: body.username,
        password: body.password,
    };
    let view = admin
        .connections
        .create_proxy(&body.name, &settings.input()?)
        .await?;
    let location = format!("/admin/v1/proxies/{}", view.name);
    Ok(crate::created(&view, Some(&location)))
}

#[utoipa::path(
    get, operation_id = "get_proxy", path = "/admin/v1/proxies/{name}", tag = TAG,
    params(("name" = String, Path, description = "The alias")),
    responses(
        (status = 200, description = "The alias and the connections that use it", body = ProxyView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ProxyView>, ApiError> {
    admin
        .connections
        .proxy(&name)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

#[utoipa::path(
    put, operation_id = "update_proxy", path = "/admin/v1/proxies/{name}", tag = TAG,
    params(("name" = String, Path, description = "The alias")),
    request_body = ProxySettings,
    responses(
        (status = 200, description = "Replaced; the connections that use it go through the new settings from their next request on", body = ProxyView),
        (status = 400, description = "A bad URL, or a user without a password", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ProxySettings>,
) -> Result<Json<ProxyView>, ApiError> {
    admin
        .connections
        .update_proxy(&name, &body.input()?)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

#[utoipa::path(
    delete, operation_id = "delete_proxy", path = "/admin/v1/proxies/{name}", tag = TAG,
    params(("name" = String, Path, description = "The alias")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
        (status = 409, description = "Connections still use it (they are named)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if admin.connections.delete_proxy(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}
