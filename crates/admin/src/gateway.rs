//! `/admin/v1/services`, their consumers, and `/admin/v1/authservers`: the
//! gateway's configuration. The rules live in `tollgate_gateway::manage`
//! (shared with the CLI); this module maps JSON to them and makes this
//! node's gateway reload at once (other nodes follow within
//! `gateway.reload_interval_ms`).
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_gateway::manage::{self, AuthServerView, ConsumeRequest, ConsumerView, ServiceView};
use tollgate_gateway::spec::{AuthServerSpec, ConsumerSettings, ServiceSpec};
use tollgate_store::ConsumerStatus;
use utoipa::ToSchema;

use crate::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, SecretString};

pub const SERVICES_TAG: &str = "services";
pub const AUTHSERVERS_TAG: &str = "authservers";

impl Admin {
    fn prefix(&self) -> &str {
        self.gateway
            .as_ref()
            .map_or("/gateway", |g| g.settings.prefix.as_str())
    }

    /// Makes this node's gateway see a change now.
    async fn reload_gateway(&self) {
        if let Some(g) = &self.gateway
            && let Err(e) = g.reload().await
        {
            tracing::warn!(error = %e, "reloading the gateway after a change failed; the periodic reload will retry");
        }
    }
}

/// A new virtual service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// Unique; also the default required scope.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,64}$", example = "orders")]
    pub name: String,
    /// The path segment callers use (`/gateway/{alias}/…`); default: the name.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,64}$")]
    pub alias: Option<String>,
    pub spec: ServiceSpec,
}

/// A service's new policy (the whole of it) and optionally a new alias.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,64}$")]
    pub alias: Option<String>,
    pub spec: ServiceSpec,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    /// In name order.
    pub items: Vec<ServiceView>,
}

#[utoipa::path(
    get, operation_id = "list_services", path = "/admin/v1/services", tag = SERVICES_TAG,
    responses(
        (status = 200, description = "Every service", body = ServiceList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list_services(State(admin): State<Arc<Admin>>) -> Result<Json<ServiceList>, ApiError> {
    let items = manage::list_services(&admin.app.svc, admin.prefix()).await?;
    Ok(Json(ServiceList { items }))
}

#[utoipa::path(
    post, operation_id = "create_service", path = "/admin/v1/services", tag = SERVICES_TAG,
    request_body = CreateService,
    responses(
        (status = 201, description = "Published", body = ServiceView,
            headers(("Location" = String, description = "The new service's URL"))),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The name or the alias is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create_service(
    State(admin): State<Arc<Admin>>,
    ApiJson(b): ApiJson<CreateService>,
) -> Result<Response, ApiError> {
    let v = manage::create_service(
        &admin.app.svc,
        admin.prefix(),
        &b.name,
        b.alias.as_deref(),
        b.spec,
    )
    .await?;
    admin.reload_gateway().await;
    Ok(crate::created(
        &v,
        Some(&format!("/admin/v1/services/{}", v.name)),
    ))
}

#[utoipa::path(
    get, operation_id = "get_service", path = "/admin/v1/services/{name}", tag = SERVICES_TAG,
    params(("name" = String, Path, description = "The service's name")),
    responses(
        (status = 200, description = "The service", body = ServiceView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get_service(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        manage::get_service(&admin.app.svc, admin.prefix(), &name).await?,
    ))
}

#[utoipa::path(
    put, operation_id = "update_service", path = "/admin/v1/services/{name}", tag = SERVICES_TAG,
    request_body = UpdateService,
    params(("name" = String, Path, description = "The service's name")),
    responses(
        (status = 200, description = "The updated service; in effect at once", body = ServiceView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "The new alias is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update_service(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateService>,
) -> Result<Json<ServiceView>, ApiError> {
    let v = manage::update_service(
        &admin.app.svc,
        admin.prefix(),
        &name,
        b.alias.as_deref(),
        b.spec,
    )
    .await?;
    admin.reload_gateway().await;
    Ok(Json(v))
}

#[utoipa::path(
    delete, operation_id = "delete_service", path = "/admin/v1/services/{name}", tag = SERVICES_TAG,
    params(("name" = String, Path, description = "The service's name")),
    responses(
        (status = 204, description = "Unpublished, with its consumers"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete_service(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete_service(&admin.app.svc, &name).await?;
    admin.reload_gateway().await;
    Ok(StatusCode::NO_CONTENT)
}

/// An application asks to consume a service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consume {
    /// The application's name (the new client's name).
    #[schema(min_length = 1, max_length = 200, example = "billing")]
    pub application: String,
    /// Link this existing client instead of creating one.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,128}$")]
    pub client_id: Option<String>,
    pub settings: Option<ConsumerSettings>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsumerList {
    pub items: Vec<ConsumerView>,
}

#[utoipa::path(
    get, operation_id = "list_consumers", path = "/admin/v1/services/{name}/consumers", tag = SERVICES_TAG,
    params(("name" = String, Path, description = "The service's name")),
    responses(
        (status = 200, description = "The service's consumers, by client id", body = ConsumerList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list_consumers(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ConsumerList>, ApiError> {
    let items = manage::list_consumers(&admin.app.svc, &name).await?;
    Ok(Json(ConsumerList { items }))
}

#[utoipa::path(
    post, operation_id = "consume_service", path = "/admin/v1/services/{name}/consumers", tag = SERVICES_TAG,
    request_body = Consume,
    params(("name" = String, Path, description = "The service's name")),
    responses(
        (status = 201, description = "The consumer and its OAuth2 identification details; a new client's secret is shown this once", body = ConsumerView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service, or no such client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn consume(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<Consume>,
) -> Result<Response, ApiError> {
    let v = manage::consume(
        &admin.app.svc,
        ConsumeRequest {
            service: name,
            application: b.application,
            client_id: b.client_id,
            settings: b.settings.unwrap_or_default(),
        },
    )
    .await?;
    admin.reload_gateway().await;
    let location = format!("/admin/v1/services/{}/consumers/{}", v.service, v.client_id);
    Ok(crate::created(&v, Some(&location)))
}

/// An administrator's decision, and/or new overrides.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConsumer {
    /// `approved`, `rejected` (a pending consumer) or `revoked` (an approved one).
    #[schema(value_type = Option<String>, pattern = "^(approved|rejected|revoked)$")]
    pub status: Option<ConsumerStatus>,
    /// Replaces the consumer's overrides.
    pub settings: Option<ConsumerSettings>,
}

#[utoipa::path(
    patch, operation_id = "update_consumer", path = "/admin/v1/services/{name}/consumers/{client_id}", tag = SERVICES_TAG,
    request_body = UpdateConsumer,
    params(
        ("name" = String, Path, description = "The service's name"),
        ("client_id" = String, Path, description = "The consumer's client id"),
    ),
    responses(
        (status = 200, description = "The consumer", body = ConsumerView),
        (status = 400, description = "A field is invalid, or the change is not allowed from the current status", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service or consumer", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update_consumer(
    State(admin): State<Arc<Admin>>,
    ApiPath((name, client_id)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<UpdateConsumer>,
) -> Result<Response, ApiError> {
    let svc = &admin.app.svc;
    if b.status.is_none() && b.settings.is_none() {
        return Err(ApiError::invalid_field(
            "status",
            "give a status, settings, or both",
        ));
    }
    // The status first: a refused transition changes nothing.
    let mut view = None;
    if let Some(status) = b.status {
        view = Some(manage::set_consumer_status(svc, &name, &client_id, status).await?);
    }
    if let Some(settings) = b.settings {
        view = Some(manage::set_consumer_settings(svc, &name, &client_id, settings).await?);
    }
    admin.reload_gateway().await;
    Ok(Json(view).into_response())
}

#[utoipa::path(
    delete, operation_id = "delete_consumer", path = "/admin/v1/services/{name}/consumers/{client_id}", tag = SERVICES_TAG,
    params(
        ("name" = String, Path, description = "The service's name"),
        ("client_id" = String, Path, description = "The consumer's client id"),
    ),
    responses(
        (status = 204, description = "The consumption ended; the client lost the service's scope"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such service or consumer", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete_consumer(
    State(admin): State<Arc<Admin>>,
    ApiPath((name, client_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manage::delete_consumer(&admin.app.svc, &name, &client_id).await?;
    admin.reload_gateway().await;
    Ok(StatusCode::NO_CONTENT)
}

/// A third-party authorization server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthServer {
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,64}$", example = "okta")]
    pub name: String,
    pub spec: AuthServerSpec,
    /// The gateway's secret at the introspection endpoint (stored encrypted).
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAuthServer {
    pub spec: AuthServerSpec,
    /// A new secret; absent keeps the stored one.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthServerList {
    pub items: Vec<AuthServerView>,
}

#[utoipa::path(
    get, operation_id = "list_authservers", path = "/admin/v1/authservers", tag = AUTHSERVERS_TAG,
    responses(
        (status = 200, description = "Every third-party authorization server", body = AuthServerList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list_authservers(
    State(admin): State<Arc<Admin>>,
) -> Result<Json<AuthServerList>, ApiError> {
    Ok(Json(AuthServerList {
        items: manage::list_auth_servers(&admin.app.svc).await?,
    }))
}

#[utoipa::path(
    post, operation_id = "create_authserver", path = "/admin/v1/authservers", tag = AUTHSERVERS_TAG,
    request_body = CreateAuthServer,
    responses(
        (status = 201, description = "Added", body = AuthServerView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create_authserver(
    State(admin): State<Arc<Admin>>,
    ApiJson(b): ApiJson<CreateAuthServer>,
) -> Result<Response, ApiError> {
    let v = manage::put_auth_server(
        &admin.app.svc,
        &b.name,
        b.spec,
        b.client_secret.as_ref().map(|s| s.0.as_str()),
        false,
    )
    .await?;
    admin.reload_gateway().await;
    Ok(crate::created(
        &v,
        Some(&format!("/admin/v1/authservers/{}", v.name)),
    ))
}

#[utoipa::path(
    get, operation_id = "get_authserver", path = "/admin/v1/authservers/{name}", tag = AUTHSERVERS_TAG,
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "The server (never its secret)", body = AuthServerView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get_authserver(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<AuthServerView>, ApiError> {
    Ok(Json(manage::get_auth_server(&admin.app.svc, &name).await?))
}

#[utoipa::path(
    put, operation_id = "update_authserver", path = "/admin/v1/authservers/{name}", tag = AUTHSERVERS_TAG,
    request_body = UpdateAuthServer,
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "Replaced; cached answers are dropped", body = AuthServerView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update_authserver(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateAuthServer>,
) -> Result<Json<AuthServerView>, ApiError> {
    let v = manage::put_auth_server(
        &admin.app.svc,
        &name,
        b.spec,
        b.client_secret.as_ref().map(|s| s.0.as_str()),
        true,
    )
    .await?;
    admin.reload_gateway().await;
    Ok(Json(v))
}

#[utoipa::path(
    delete, operation_id = "delete_authserver", path = "/admin/v1/authservers/{name}", tag = AUTHSERVERS_TAG,
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 409, description = "A service still validates its tokens with it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete_authserver(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete_auth_server(&admin.app.svc, &name).await?;
    admin.reload_gateway().await;
    Ok(StatusCode::NO_CONTENT)
}
