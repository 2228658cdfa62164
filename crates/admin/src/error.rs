//! The admin API's one error type and its one mapping to HTTP: a status and
//! a JSON body `{"error", "error_description", "field"?}`, the same shape as
//! the OAuth endpoints' errors so clients need one parser.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_core::OAuthError;
use utoipa::ToSchema;

/// Every error the admin API answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A machine-readable code: `invalid_request`, `invalid_client_metadata`,
    /// `unauthorized` (no token), `invalid_token`, `insufficient_scope`, `not_found`,
    /// `conflict`, …
    pub error: String,
    /// What went wrong, for a person.
    pub error_description: String,
    /// The request field (JSON path or query parameter) the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// RFC 6750 §3 challenge for 401/403.
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                error_description: description.into(),
                field: None,
            },
            challenge: None,
        }
    }

    /// 400 naming the offending field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request", description);
        e.body.field = Some(field.into());
        e
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

/// Request fields a domain error can be about; a description that starts
/// with one of them names it (the domain's messages do: "client_name must…",
/// "token_settings.code_ttl must…").
const FIELDS: &[&str] = &[
    "client_id",
    "client_name",
    "client_type",
    "token_endpoint_auth_method",
    "grant_types",
    "redirect_uris",
    "scope_matching",
    "scope",
    "token_settings",
    "metadata",
    "client_secret",
    "rate_limit",
    "description",
    "expires_in",
    "max_uses",
    "username",
    "password",
    "attributes",
    // Services, consumers, authorization servers, connections.
    "upstream",
    "upstream_auth",
    "alias",
    "methods",
    "validators",
    "timeout_ms",
    "cache_ttl_secs",
    "negative_ttl_secs",
    "introspection_url",
    "jwks_uri",
    "issuer",
    "audience",
    "rate",
    "quota",
    "token_endpoint",
    "flow",
];

fn field_of(e: &OAuthError) -> Option<String> {
    if matches!(e, OAuthError::InvalidRedirectUri(_)) {
        return Some("redirect_uris".into());
    }
    let d = e.description();
    let head: String = d
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let root = head.split('.').next().unwrap_or_default();
    FIELDS.contains(&root).then_some(head)
}

impl From<tollgate_authz::Error> for ApiError {
    fn from(e: tollgate_authz::Error) -> Self {
        match e {
            tollgate_authz::Error::NotFound(what) => Self::not_found(what),
            tollgate_authz::Error::Conflict(d) => Self::new(StatusCode::CONFLICT, "conflict", d),
            tollgate_authz::Error::OAuth(e) => e.into(),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let status = match &e {
            // A store failure: 503 tells the caller to retry; anything else
            // the server's fault is a bland 500 (details are in the log).
            OAuthError::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // Everything else a caller sent that the domain refused.
            _ => StatusCode::BAD_REQUEST,
        };
        let field = (status == StatusCode::BAD_REQUEST)
            .then(|| field_of(&e))
            .flatten();
        let mut out = Self::new(status, e.code(), e.description());
        out.body.field = field;
        out
    }
}

impl From<tollgate_store::StoreError> for ApiError {
    fn from(e: tollgate_store::StoreError) -> Self {
        tollgate_authz::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_error_names_its_field() {
        let e: ApiError =
            OAuthError::invalid_client_metadata("token_settings.code_ttl must be positive").into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body.field.as_deref(), Some("token_settings.code_ttl"));
        let e: ApiError =
            OAuthError::invalid_client_metadata("a public client has no secret").into();
        assert_eq!(e.body.field, None);
        let e: ApiError = OAuthError::InvalidRedirectUri("has a fragment".into()).into();
        assert_eq!(e.body.field.as_deref(), Some("redirect_uris"));
        let e: ApiError =
            OAuthError::invalid_request("timeout_ms must be between 1 and 60000").into();
        assert_eq!(e.body.field.as_deref(), Some("timeout_ms"));
    }

    #[test]
    fn missing_resources_and_conflicts_keep_their_status() {
        let e: ApiError = tollgate_authz::Error::NotFound("client 'x'".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e: ApiError = tollgate_authz::Error::Conflict("taken".into()).into();
        assert_eq!(e.status, StatusCode::CONFLICT);
    }
}
