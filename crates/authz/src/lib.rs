//! The authorization server: grant handlers as plain functions, thin axum
//! handlers around them, and the services the CLI shares.
#![forbid(unsafe_code)]

pub mod assertion;
pub mod authorize;
pub mod client_addr;
pub mod client_auth;
pub mod clients;
pub mod endpoints;
pub mod error;
pub mod form;
pub mod grants;
pub mod initial_tokens;
pub mod issue;
pub mod keys;
pub mod pages;
pub mod purge;
pub mod ratelimit;
pub mod registration;
pub mod services;
pub mod session;
pub mod settings;
pub mod telemetry;
pub mod trace;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use error::Error;
pub use keys::KeyRing;
pub use services::Services;
pub use settings::{
    AuthorizeSettings, AuthzSettings, CacheSettings, LoginSettings, PurgeSettings,
    RateLimitSettings, RegistrationSettings, UiSettings,
};

use endpoints::{
    account, authorize as authorize_ep, discovery, introspect, login, register, revoke, token,
    tokeninfo,
};
use error::plain_error;

/// The seed's token service (`pub.mediator.oauth2.getOAuth2AccessToken`),
/// kept for clients migrating from the vendor's mediator.
pub const TOKEN_SERVICE_PATH: &str = "/rest/pub.mediator.oauth2.getOAuth2AccessToken";

/// What the HTTP handlers share.
pub struct App {
    pub svc: Services,
    pub pages: pages::Pages,
}

impl App {
    /// Loads (or on first start creates) the signing key and returns the app.
    pub async fn start(svc: Services) -> Result<Arc<Self>, Error> {
        keys::ensure_key(&svc).await?;
        let pages = pages::Pages::load(&svc.settings.ui).map_err(|e| {
            tracing::error!(error = %e, "loading the page templates failed");
            Error::Conflict(format!("ui.templates_dir: {e}"))
        })?;
        let app = Arc::new(Self { svc, pages });
        app.svc.keys.reload(&app.svc).await?;
        Ok(app)
    }

    /// Runs the key rotation schedule ([`keys::maintain`]) and picks up
    /// rotations made by the CLI or another node.
    pub fn spawn_key_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { break };
                if let Err(e) = keys::maintain(&app.svc).await {
                    tracing::warn!(error = %e, "the signing key schedule failed");
                }
                if let Err(e) = app.svc.keys.reload(&app.svc).await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        })
    }
}

/// Every route of the authorization server, with the edge layers.
pub fn router(app: Arc<App>) -> Router {
    edge(routes(app))
}

/// The authorization server's routes and state, without fallback or layers,
/// so `serve` can merge other surfaces (admin) before [`edge`].
pub fn routes(app: Arc<App>) -> Router {
    let mut r = Router::new()
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/introspect", post(introspect::introspect))
        .route(
            TOKEN_SERVICE_PATH,
            post(token::token_service).fallback(token::token_service_method),
        )
        .route("/oauth2/revoke", post(revoke::revoke))
        .route(
            "/oauth2/tokeninfo",
            get(tokeninfo::tokeninfo).post(tokeninfo::tokeninfo),
        )
        .route("/oauth2/jwks", get(discovery::jwks))
        .route(authorize_ep::PATH, get(authorize_ep::authorize))
        .route(authorize_ep::CONSENT_PATH, post(authorize_ep::consent))
        .route(login::PATH, get(login::page).post(login::submit))
        .route(login::LOGOUT_PATH, post(login::logout))
        .route(account::PATH, get(account::page))
        .route(account::REVOKE_PATH, post(account::revoke))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::discovery),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::discovery),
        )
        .route("/healthz", get(discovery::healthz))
        .route("/readyz", get(discovery::readyz));
    if app.svc.settings.registration.enabled {
        r = r.route("/oauth2/register", post(register::register)).route(
            "/oauth2/register/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        );
    }
    r.with_state(app)
}

/// What every listener's router gets around its routes: JSON 404 and 405,
/// a panic turned into a JSON 500, request tracing with credentials masked.
pub fn edge(routes: Router) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }))
        // Outside the panic catcher, so a caught panic's 500 is measured too.
        .layer(axum::middleware::from_fn(telemetry::track_requests))
        .layer(TraceLayer::new_for_http().make_span_with(trace::request_span::<axum::body::Body>))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static("x-api-key"),
        ]))
}

async fn not_found() -> Response {
    plain_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> Response {
    plain_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed on this endpoint",
    )
    .into_response()
}
