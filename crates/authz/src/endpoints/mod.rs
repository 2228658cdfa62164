//! Thin axum handlers: parse, call the service function, map the result.
pub mod discovery;
pub mod introspect;
pub mod register;
pub mod revoke;
pub mod token;
pub mod tokeninfo;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The peer address, when the server was started with connect info.
pub struct PeerAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

/// A JSON answer that must not be cached (RFC 6749 §5.1, RFC 7662 §2.2).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// The parsed form, or — for a request that does not even parse — the
/// rejection, recorded in the audit log as `event`.
pub fn params_or_reject(
    svc: &crate::Services,
    event: &str,
    addr: &Option<String>,
    form: Result<crate::form::Form, crate::form::FormRejection>,
) -> Result<crate::form::Params, crate::form::FormRejection> {
    form.map(|crate::form::Form(p)| p).inspect_err(|_| {
        svc.audit(
            event,
            None,
            "invalid_request",
            addr.clone(),
            serde_json::json!({"reason": "unparseable request"}),
        );
    })
}
