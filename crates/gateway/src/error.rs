//! What the gateway answers instead of the upstream, mapped to HTTP in this
//! one place: RFC 6750 §3 for everything about the bearer token (status,
//! `WWW-Authenticate` and a JSON body saying the same), RFC 9110 statuses
//! for routing and the upstream.
use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

type Desc = Cow<'static, str>;

/// The seed's message for a call without a token to a protected service.
pub const NO_TOKEN: &str = "Consumer could not be identified. Anonymous access is not allowed \
     for this service! Send the access token in the Authorization header: 'Bearer <token>'.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// RFC 6750 §3.1: no credentials; the challenge carries no error code.
    #[error("no token")]
    NoToken,
    /// RFC 6750 §3.1 `invalid_request` (two tokens, a refused transmission
    /// method, a path that cannot be normalised).
    #[error("invalid_request: {0}")]
    InvalidRequest(Desc),
    /// RFC 6750 §3.1 `invalid_token`: unknown, expired, revoked, malformed.
    #[error("invalid_token: {0}")]
    InvalidToken(Desc),
    /// RFC 6750 §3.1 `insufficient_scope`, naming the scope needed.
    #[error("insufficient_scope: {description}")]
    InsufficientScope { scope: String, description: Desc },
    #[error("not found: {0}")]
    NotFound(Desc),
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// RFC 6585 §4.
    #[error("too many requests: {description}")]
    TooManyRequests { description: Desc, retry_after: u64 },
    /// The listener does not admit the caller's address.
    #[error("forbidden: {0}")]
    Forbidden(Desc),
    /// The upstream refused the connection, reset it or answered garbage.
    #[error("bad gateway: {0}")]
    BadGateway(Desc),
    /// The upstream did not answer in time.
    #[error("gateway timeout: {0}")]
    GatewayTimeout(Desc),
    /// The token's validator (store, introspection endpoint) cannot be
    /// reached: fail closed, call nothing upstream.
    #[error("unavailable: {0}")]
    Unavailable(Desc),
    /// A bug (a caught panic); the details are in the log.
    #[error("internal error")]
    Internal,
}

impl GatewayError {
    pub fn invalid_token(d: impl Into<Desc>) -> Self {
        Self::InvalidToken(d.into())
    }
    pub fn invalid_request(d: impl Into<Desc>) -> Self {
        Self::InvalidRequest(d.into())
    }
    pub fn unavailable(d: impl Into<Desc>) -> Self {
        Self::Unavailable(d.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` member of the body (and of the challenge, for the
    /// RFC 6750 cases).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoToken => "unauthorized",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Forbidden(_) => "access_denied",
            Self::BadGateway(_) => "bad_gateway",
            Self::GatewayTimeout(_) => "gateway_timeout",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }

    pub fn description(&self) -> Cow<'_, str> {
        match self {
            Self::NoToken => Cow::Borrowed(NO_TOKEN),
            Self::InvalidRequest(d)
            | Self::InvalidToken(d)
            | Self::NotFound(d)
            | Self::Forbidden(d)
            | Self::BadGateway(d)
            | Self::GatewayTimeout(d)
            | Self::Unavailable(d) => Cow::Borrowed(d),
            Self::InsufficientScope { description, .. }
            | Self::TooManyRequests { description, .. } => Cow::Borrowed(description),
            Self::MethodNotAllowed { allow } => {
                Cow::Owned(format!("this service accepts only {allow}"))
            }
            Self::Internal => Cow::Borrowed("internal error"),
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3), for the statuses
    /// that are about the token.
    pub fn challenge(&self, realm: &str) -> Option<String> {
        let mut c = format!("Bearer realm=\"{}\"", quoted(realm));
        match self {
            Self::NoToken => {}
            Self::InvalidRequest(_) | Self::InvalidToken(_) => {
                c.push_str(&format!(
                    ", error=\"{}\", error_description=\"{}\"",
                    self.code(),
                    quoted(&self.description())
                ));
            }
            Self::InsufficientScope { scope, .. } => {
                c.push_str(&format!(
                    ", error=\"insufficient_scope\", error_description=\"{}\", scope=\"{}\"",
                    quoted(&self.description()),
                    quoted(scope)
                ));
            }
            _ => return None,
        }
        Some(c)
    }

    pub fn into_response_with(self, realm: &str) -> Response {
        let mut body = json!({
            "error": self.code(),
            "error_description": self.description(),
        });
        if let Self::InsufficientScope { scope, .. } = &self {
            body["scope"] = json!(scope);
        }
        let mut resp = (self.status(), Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(c) = self.challenge(realm)
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        match &self {
            Self::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    h.insert(header::ALLOW, v);
                }
            }
            Self::TooManyRequests { retry_after, .. } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(5u32));
            }
            _ => {}
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// RFC 6750 §3: the values of `error_description` and `scope` exclude `"`
/// and `\`, and are printable ASCII.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            GatewayError::NoToken.challenge("tollgate").unwrap(),
            "Bearer realm=\"tollgate\""
        );
        let e = GatewayError::InsufficientScope {
            scope: "orders".into(),
            description: "needs \"orders\"".into(),
        };
        assert_eq!(
            e.challenge("r").unwrap(),
            "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"needs 'orders'\", scope=\"orders\""
        );
        assert!(
            GatewayError::BadGateway("x".into())
                .challenge("r")
                .is_none()
        );
        assert_eq!(
            GatewayError::invalid_token("é").challenge("r").unwrap(),
            "Bearer realm=\"r\", error=\"invalid_token\", error_description=\"?\""
        );
    }
}
