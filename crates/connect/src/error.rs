//! What can go wrong getting a token, in words an operator can act on.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("no connection named '{0}'")]
    NotFound(String),
    /// The configuration cannot work (a key that does not parse, a bad URL).
    #[error("connection configuration: {0}")]
    Config(String),
    /// A person must authorize the connection (again): no refresh token, or
    /// the provider refused it.
    #[error("the connection needs authorization: {0}")]
    NeedsAuthorization(String),
    /// The provider answered with an OAuth error (RFC 6749 §5.2) or an HTTP
    /// error status.
    #[error("the provider refused: {error}{}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), if *status == 0 { String::new() } else { format!(" [HTTP {status}]") })]
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The provider could not be reached, or the connection broke.
    #[error("{0}")]
    Unreachable(String),
    /// The provider answered something that is not OAuth.
    #[error("the provider's answer is not a valid token response: {0}")]
    Protocol(String),
    #[error("store: {0}")]
    Store(#[from] tollgate_store::StoreError),
    /// Sealing or opening the connection's secrets failed.
    #[error("secrets: {0}")]
    Secrets(String),
}

impl ConnectError {
    pub(crate) fn from_status(
        status: u16,
        error: Option<String>,
        description: Option<String>,
    ) -> Self {
        ConnectError::Provider {
            status,
            error: error.unwrap_or_else(|| match status {
                401 => "unauthorized".into(),
                403 => "forbidden".into(),
                429 => "too_many_requests".into(),
                500..=599 => "server_error".into(),
                _ => "http_error".into(),
            }),
            description,
        }
    }

    /// Trying again later may help: the provider was unreachable, busy or
    /// failing (5xx, 429, `temporarily_unavailable`). An OAuth refusal will
    /// not change by asking again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConnectError::Unreachable(_) => true,
            ConnectError::Provider { status, error, .. } => {
                *status == 429
                    || *status >= 500
                    || error == "temporarily_unavailable"
                    || error == "server_error"
            }
            _ => false,
        }
    }

    /// The grant (a refresh token, a code) is dead: `invalid_grant`.
    pub fn is_dead_grant(&self) -> bool {
        matches!(self, ConnectError::Provider { error, .. } if error == "invalid_grant")
    }
}
