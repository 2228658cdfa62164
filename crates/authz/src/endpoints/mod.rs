//! Thin axum handlers: parse, call the service function, map the result.
pub mod account;
pub mod authorize;
pub mod discovery;
pub mod introspect;
pub mod login;
pub mod register;
pub mod revoke;
pub mod token;
pub mod tokeninfo;

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::client_addr::ClientAddr;

/// The client address the listener put on the request (see
/// [`crate::client_addr`]); none when served without a listener.
fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|c| c.ip)
}

/// The client address as the audit log records it.
pub struct PeerAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_ip(parts).map(|ip| ip.to_string())))
    }
}

/// The client address, for the per-address throttles of failed
/// authentication (kept apart from [`PeerAddr`] so nothing re-parses it).
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_ip(parts)))
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
/// rejection, recorded in the audit log as `<endpoint>.rejected` and counted
/// as an `invalid_request` of `endpoint`.
pub fn params_or_reject(
    svc: &crate::Services,
    endpoint: &'static str,
    addr: &Option<String>,
    form: Result<crate::form::Form, crate::form::FormRejection>,
) -> Result<crate::form::Params, crate::form::FormRejection> {
    form.map(|crate::form::Form(p)| p).inspect_err(|_| {
        crate::telemetry::oauth_error(endpoint, "invalid_request");
        svc.audit(
            &format!("{endpoint}.rejected"),
            None,
            "invalid_request",
            addr.clone(),
            serde_json::json!({"reason": "unparseable request"}),
        );
    })
}
