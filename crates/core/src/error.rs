//! RFC-shaped errors. Every variant names the section that defines it; the one
//! place that turns them into HTTP lives in the `authz` crate.
use std::borrow::Cow;

type Desc = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 §5.2: malformed request, missing or repeated parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(Desc),
    /// RFC 6749 §5.2: client authentication failed. `basic` records whether the
    /// client tried HTTP Basic, which makes the answer a 401 with `WWW-Authenticate`.
    #[error("invalid_client: {description}")]
    InvalidClient { description: Desc, basic: bool },
    /// RFC 6749 §5.2: grant or refresh token invalid, expired, revoked or misbound.
    #[error("invalid_grant: {0}")]
    InvalidGrant(Desc),
    /// RFC 6749 §5.2: the client may not use this grant type.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Desc),
    /// RFC 6749 §5.2: the grant type is not supported by this server.
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Desc),
    /// RFC 6749 §5.2: requested scope invalid, unknown or exceeding the registration.
    #[error("invalid_scope: {0}")]
    InvalidScope(Desc),
    /// RFC 6749 §4.1.2.1
    #[error("access_denied: {0}")]
    AccessDenied(Desc),
    /// RFC 6749 §4.1.2.1
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Desc),
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and the user must log in.
    #[error("login_required: {0}")]
    LoginRequired(Desc),
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and consent is needed.
    #[error("consent_required: {0}")]
    ConsentRequired(Desc),
    /// RFC 7009 §2.2.1
    #[error("unsupported_token_type: {0}")]
    UnsupportedTokenType(Desc),
    /// RFC 7591 §3.2.2
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(Desc),
    /// RFC 7591 §3.2.2
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(Desc),
    /// RFC 6750 §3.1: the bearer token is missing, expired, revoked or malformed.
    #[error("invalid_token: {0}")]
    InvalidToken(Desc),
    /// RFC 6750 §3.1
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Desc),
    /// Not an RFC 6749 code: the client sent too many requests (RFC 6585 §4).
    #[error("too_many_requests: {description}")]
    TooManyRequests { description: Desc, retry_after: u64 },
    /// RFC 6749 §4.1.2.1: the store or another dependency is down (503).
    #[error("temporarily_unavailable: {0}")]
    TemporarilyUnavailable(Desc),
    /// RFC 6749 §4.1.2.1: a bug; the description never carries internals.
    #[error("server_error: {0}")]
    ServerError(Desc),
}

impl OAuthError {
    pub fn invalid_request(d: impl Into<Desc>) -> Self {
        Self::InvalidRequest(d.into())
    }
    pub fn invalid_client(d: impl Into<Desc>, basic: bool) -> Self {
        Self::InvalidClient {
            description: d.into(),
            basic,
        }
    }
    pub fn invalid_scope(d: impl Into<Desc>) -> Self {
        Self::InvalidScope(d.into())
    }
    pub fn invalid_grant(d: impl Into<Desc>) -> Self {
        Self::InvalidGrant(d.into())
    }
    pub fn invalid_client_metadata(d: impl Into<Desc>) -> Self {
        Self::InvalidClientMetadata(d.into())
    }
    pub fn invalid_redirect_uri(d: impl Into<Desc>) -> Self {
        Self::InvalidRedirectUri(d.into())
    }

    /// The `error` code registered for this condition.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::AccessDenied(_) => "access_denied",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired(_) => "consent_required",
            Self::UnsupportedTokenType(_) => "unsupported_token_type",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Self::InvalidClient { description, .. } | Self::TooManyRequests { description, .. } => {
                description
            }
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::AccessDenied(d)
            | Self::UnsupportedResponseType(d)
            | Self::LoginRequired(d)
            | Self::ConsentRequired(d)
            | Self::UnsupportedTokenType(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidClientMetadata(d)
            | Self::InvalidToken(d)
            | Self::InsufficientScope(d)
            | Self::TemporarilyUnavailable(d)
            | Self::ServerError(d) => d,
        }
    }

    /// The HTTP status the RFCs give this error on the token-style endpoints.
    pub fn status(&self) -> u16 {
        match self {
            // RFC 6749 §5.2 requires 401 when the client tried HTTP Basic and
            // allows it otherwise; one status for every failed client
            // authentication keeps clients' error handling simple.
            Self::InvalidClient { .. } | Self::InvalidToken(_) => 401,
            Self::InsufficientScope(_) | Self::AccessDenied(_) => 403,
            Self::TooManyRequests { .. } => 429,
            Self::TemporarilyUnavailable(_) => 503,
            Self::ServerError(_) => 500,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_and_others_400() {
        assert_eq!(OAuthError::invalid_client("x", true).status(), 401);
        assert_eq!(OAuthError::invalid_scope("x").status(), 400);
        assert_eq!(OAuthError::invalid_scope("nope").description(), "nope");
        assert_eq!(OAuthError::invalid_grant("x").code(), "invalid_grant");
    }
}

/// An error and all its sources on one line, `outer: inner: root cause`. HTTP
/// clients' errors say only "error sending request" at the top; the cause that
/// helps an operator (`invalid peer certificate: UnknownIssuer`, "connection
/// refused") is further down the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod chain_tests {
    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn every_cause_is_on_the_line_once() {
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "invalid peer certificate: UnknownIssuer",
                Some(Box::new(E("UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            super::error_chain(&e),
            "error sending request: invalid peer certificate: UnknownIssuer"
        );
    }
}
