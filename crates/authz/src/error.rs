//! The one place where domain errors become HTTP: status, `WWW-Authenticate`
//! and the RFC 6749 §5.2 JSON body.
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::OAuthError;
use tollgate_store::StoreError;

/// This crate's error: an RFC-shaped OAuth error, or one of the two
/// resource conditions the management paths (RFC 7592, CLI, admin) need.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::OAuth(store_error(e))
    }
}

impl Error {
    /// The `error` code the response will carry (for metrics and the audit log).
    pub fn code(&self) -> &'static str {
        match self {
            Self::OAuth(e) => e.code(),
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
        }
    }

    /// The OAuth error inside, for paths (like the token endpoint) where a
    /// missing resource is itself an OAuth condition.
    pub fn into_oauth(self) -> OAuthError {
        match self {
            Self::OAuth(e) => e,
            Self::NotFound(what) => OAuthError::invalid_request(format!("{what} not found")),
            Self::Conflict(d) => OAuthError::invalid_request(d),
        }
    }
}

/// A store failure as the caller sees it: 503 when the database is away (the
/// client should retry), a bland 500 otherwise. Details go to the log only.
pub fn store_error(e: StoreError) -> OAuthError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "store unavailable");
            OAuthError::TemporarilyUnavailable("the token store is unavailable; retry later".into())
        }
        other => {
            tracing::error!(error = %other, "store error");
            OAuthError::ServerError("internal error".into())
        }
    }
}

fn quote(s: &str) -> String {
    // RFC 6750 §3: the description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E.
    s.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .collect()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let e = match self {
            Self::OAuth(e) => e,
            Self::NotFound(what) => {
                return plain_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("{what} not found"),
                );
            }
            Self::Conflict(d) => return plain_error(StatusCode::CONFLICT, "conflict", &d),
        };
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        let challenge = match &e {
            // RFC 6749 §5.2 / RFC 7235 §3.1: a 401 names the scheme to use.
            OAuthError::InvalidClient { .. } => Some("Basic realm=\"tollgate\"".to_owned()),
            // RFC 6750 §3.
            OAuthError::InvalidToken(d) => Some(format!(
                "Bearer realm=\"tollgate\", error=\"invalid_token\", error_description=\"{}\"",
                quote(d)
            )),
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let OAuthError::TooManyRequests { retry_after, .. } = &e
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if matches!(e, OAuthError::TemporarilyUnavailable(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        let body = json!({"error": e.code(), "error_description": e.description()});
        (status, headers, axum::Json(body)).into_response()
    }
}

/// A JSON error with an explicit status, for conditions that are HTTP-level
/// rather than OAuth-level (404, 405, 413).
pub fn plain_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}
