//! The admin REST API under `/admin/v1/`, described by an OpenAPI 3 document
//! generated from the handlers and served at `/admin/openapi.json`, and the
//! Prometheus `/metrics` endpoint. Both need a bearer token Tollgate issued
//! itself (client credentials) with the scope `tollgate:admin`
//! (`tollgate:metrics` is enough for `/metrics`).
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod clients;
pub mod connections;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod keys;
pub mod proxies;
pub mod regtokens;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tollgate_authz::App;
use utoipa::OpenApi;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{ADMIN_SCOPE, METRICS_SCOPE};
pub use error::{ApiError, ErrorBody};

/// Renders the metrics registry in the Prometheus text format.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What the admin handlers share.
pub struct Admin {
    pub app: Arc<App>,
    /// `None` when no metrics recorder is installed (then there is no `/metrics`).
    pub metrics: Option<MetricsRenderer>,
    /// The running gateway, told to reload after a change to its services
    /// (`None` when the admin API runs without one, e.g. in tests).
    pub gateway: Option<Arc<tollgate_gateway::Gateway>>,
    /// The connections' token manager, shared with the gateway so both see
    /// one cache and one request in flight per connection.
    pub connections: Arc<tollgate_connect::Connections>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate admin API",
        description = "Manage clients, users and their grants, initial access tokens, signing keys, the gateway's services, consumers and third-party authorization servers, and read the audit log. \
            Every operation needs a bearer token with the scope `tollgate:admin`, obtained with the \
            client credentials grant at `/oauth2/token` (the first start writes an admin client's \
            credentials to `admin-client.json` in the data directory).",
        license(name = "Apache-2.0"),
    ),
    tags(
        (name = "clients", description = "OAuth clients"),
        (name = "users", description = "Local users (resource owners) and what they granted to which client"),
        (name = "registration-tokens", description = "RFC 7591 initial access tokens"),
        (name = "keys", description = "Token signing keys"),
        (name = "audit", description = "The audit log"),
        (name = "services", description = "Gateway: virtual services and their consumers"),
        (name = "authservers", description = "Gateway: third-party authorization servers whose tokens services accept"),
        (name = "connections", description = "Tokens Tollgate obtains and refreshes at other providers"),
        (name = "proxies", description = "Proxy aliases: named forward proxies connections go through"),
        (name = "metrics", description = "Prometheus metrics"),
    ),
    components(schemas(ErrorBody)),
)]
struct ApiDoc;

/// The routes and the OpenAPI document that describes exactly them.
fn api(admin: &Arc<Admin>) -> (Router<Arc<Admin>>, utoipa::openapi::OpenApi) {
    let (v1, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::get, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(clients::revoke_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::grants, users::revoke_all))
        .routes(routes!(users::revoke_client))
        .routes(routes!(regtokens::list, regtokens::create))
        .routes(routes!(regtokens::revoke))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(audit::query))
        .routes(routes!(gateway::list_services, gateway::create_service))
        .routes(routes!(
            gateway::get_service,
            gateway::update_service,
            gateway::delete_service
        ))
        .routes(routes!(gateway::list_consumers, gateway::consume))
        .routes(routes!(gateway::update_consumer, gateway::delete_consumer))
        .routes(routes!(
            gateway::list_authservers,
            gateway::create_authserver
        ))
        .routes(routes!(
            gateway::get_authserver,
            gateway::update_authserver,
            gateway::delete_authserver
        ))
        .routes(routes!(connections::list, connections::create))
        .routes(routes!(connections::get, connections::delete))
        .routes(routes!(connections::token))
        .routes(routes!(proxies::list, proxies::create))
        .routes(routes!(proxies::get, proxies::update, proxies::delete))
        .split_for_parts();
    let mut routes = v1.route_layer(from_fn_with_state(admin.clone(), auth::require_admin));
    if admin.metrics.is_some() {
        let (metrics, metrics_doc) = OpenApiRouter::new()
            .routes(routes!(metrics))
            .split_for_parts();
        routes = routes
            .merge(metrics.route_layer(from_fn_with_state(admin.clone(), auth::require_metrics)));
        doc.merge(metrics_doc);
    }
    add_security(&mut doc, &admin.app.svc.settings.endpoint("/oauth2/token"));
    (routes, doc)
}

/// Declares the OAuth 2.0 client-credentials scheme (so OpenAPI tools can
/// fetch a token themselves) and requires it on every operation.
fn add_security(doc: &mut utoipa::openapi::OpenApi, token_url: &str) {
    let scopes = Scopes::from_iter([
        (ADMIN_SCOPE, "the whole admin API"),
        (METRICS_SCOPE, "GET /metrics only"),
    ]);
    let scheme = SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
        ClientCredentials::new(token_url, scopes),
    )]));
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme("oauth2", scheme);
    for (path, item) in doc.paths.paths.iter_mut() {
        let scope = if path == "/metrics" {
            METRICS_SCOPE
        } else {
            ADMIN_SCOPE
        };
        let requirement = utoipa::openapi::security::SecurityRequirement::new("oauth2", [scope]);
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.security = Some(vec![requirement.clone()]);
        }
    }
}

/// The OpenAPI document, for `tollgate` tooling and tests.
pub fn openapi(admin: &Arc<Admin>) -> utoipa::openapi::OpenApi {
    api(admin).1
}

/// `/admin/v1/*`, `/admin/openapi.json` and `/metrics`, with their state.
/// No fallback: the caller merges this into a router that has one.
pub fn router(admin: Arc<Admin>) -> Router {
    let (routes, doc) = api(&admin);
    let doc = Arc::new(doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        "{}".to_owned()
    }));
    routes
        .route(
            "/admin/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        doc.as_str().to_owned(),
                    )
                }
            }),
        )
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .with_state(admin)
}

#[utoipa::path(
    get, operation_id = "metrics", path = "/metrics", tag = "metrics",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token has neither tollgate:metrics nor tollgate:admin", body = ErrorBody),
    )
)]
async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    match &admin.metrics {
        Some(render) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            render(),
        )
            .into_response(),
        None => ApiError::not_found("metrics").into_response(),
    }
}

/// A 201 answer: the new resource as JSON, its URL in `Location` when it has
/// one, and `no-store` (a creation answer may carry a secret shown once).
pub(crate) fn created<T: serde::Serialize>(body: &T, location: Option<&str>) -> Response {
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
