//! RFC 8414 metadata (served at both well-known paths), the JWK Set and health.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use tollgate_core::GrantType;
use tollgate_jose::Alg;

use crate::App;

/// Endpoints, grants and methods this server really supports; nothing is
/// listed before it works.
pub fn metadata(app: &App) -> Value {
    let s = &app.svc.settings;
    let auth_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
    ];
    let with_none = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
        "none",
    ];
    // RFC 8725 §3.1: asymmetric algorithms for private_key_jwt, HMAC only
    // for client_secret_jwt; never `none`.
    let assertion_algs: Vec<&str> = Alg::ASYMMETRIC
        .iter()
        .chain(Alg::HMAC.iter())
        .map(|a| a.as_str())
        .collect();
    let pkce_methods: &[&str] = if s.authorize.allow_plain_pkce {
        &["S256", "plain"]
    } else {
        &["S256"]
    };
    let mut m = json!({
        "issuer": s.issuer,
        "token_endpoint": s.endpoint("/oauth2/token"),
        "jwks_uri": s.endpoint("/oauth2/jwks"),
        "introspection_endpoint": s.endpoint("/oauth2/introspect"),
        "revocation_endpoint": s.endpoint("/oauth2/revoke"),
        "tokeninfo_endpoint": s.endpoint("/oauth2/tokeninfo"),
        "authorization_endpoint": s.endpoint("/oauth2/authorize"),
        // Implicit and password are listed because the server supports
        // them; each client must still be given them explicitly.
        "grant_types_supported": [
            "authorization_code", "implicit", "password", "client_credentials", "refresh_token",
            GrantType::JwtBearer.as_str(), GrantType::Saml2Bearer.as_str(),
        ],
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query", "fragment"],
        "code_challenge_methods_supported": pkce_methods,
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": with_none,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": with_none,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "token_types_supported": [s.tokens.token_type],
        // What the server's own keys sign with (JWT access tokens), by
        // `keys.algorithm`; all four can be configured.
        "signing_alg_values_supported": Alg::SIGNING.map(Alg::as_str),
        // An RFC 7591 extension: a client's `access_token_format`.
        "access_token_formats_supported": ["opaque", "jwt"],
    });
    if s.registration.enabled {
        m["registration_endpoint"] = json!(s.endpoint("/oauth2/register"));
    }
    m
}

pub async fn discovery(State(app): State<Arc<App>>) -> Response {
    cacheable(Json(metadata(&app)), 300)
}

pub async fn jwks(State(app): State<Arc<App>>) -> Response {
    let set = app.svc.keys.current();
    let mut r = cacheable(Json(set.jwks.clone()), 60);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    r
}

fn cacheable(body: impl IntoResponse, secs: u32) -> Response {
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={secs}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

/// Liveness: the process answers.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Readiness: the store answers.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.svc.store.ping().await {
        Ok(()) => {
            Json(json!({"status": "ready", "store": app.svc.store.backend()})).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "store": app.svc.store.backend()})),
            )
                .into_response()
        }
    }
}
