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
    /// The provider could not be reached: the request was not sent.
    #[error("{0}")]
    Unreachable(String),
    /// The request was sent but no complete answer came back (a timeout, a
    /// connection that broke): the provider may have acted on it.
    #[error("{0}")]
    Interrupted(String),
    /// Another request changed the connection while this one ran.
    #[error("{0}")]
    Conflict(String),
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
                // From a forward proxy (a connection's own or its alias).
                407 => "proxy_authentication_required".into(),
                429 => "too_many_requests".into(),
                500..=599 => "server_error".into(),
                _ => "http_error".into(),
            }),
            description,
        }
    }

    /// The provider was unreachable, busy or failing (5xx, 429,
    /// `temporarily_unavailable`), or the answer got lost: asking again
    /// later may work. An OAuth refusal will not change by asking again.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectError::Unreachable(_) | ConnectError::Interrupted(_) => true,
            ConnectError::Provider { status, error, .. } => {
                *status == 429
                    || *status >= 500
                    || error == "temporarily_unavailable"
                    || error == "server_error"
            }
            _ => false,
        }
    }

    /// Whether the same request may be sent again at once. A request that
    /// spends a one-time value (a refresh token the provider rotates, a
    /// code) is sent again only when it surely was not acted on: it never
    /// left (unreachable), or the provider said it is busy (429, 503).
    pub fn may_resend(&self, spends_a_grant: bool) -> bool {
        match self {
            ConnectError::Unreachable(_) => true,
            ConnectError::Provider { status, .. } if *status == 429 || *status == 503 => true,
            _ => !spends_a_grant && self.is_transient(),
        }
    }

    /// The same error again, for callers that waited on the request that
    /// failed (the store's and the key's errors keep their words only).
    pub fn replay(&self) -> ConnectError {
        match self {
            ConnectError::NotFound(n) => ConnectError::NotFound(n.clone()),
            ConnectError::Config(m) => ConnectError::Config(m.clone()),
            ConnectError::NeedsAuthorization(m) => ConnectError::NeedsAuthorization(m.clone()),
            ConnectError::Provider {
                status,
                error,
                description,
            } => ConnectError::Provider {
                status: *status,
                error: error.clone(),
                description: description.clone(),
            },
            ConnectError::Unreachable(m) => ConnectError::Unreachable(m.clone()),
            ConnectError::Interrupted(m) => ConnectError::Interrupted(m.clone()),
            ConnectError::Conflict(m) => ConnectError::Conflict(m.clone()),
            ConnectError::Protocol(m) => ConnectError::Protocol(m.clone()),
            ConnectError::Store(e) => ConnectError::Interrupted(format!("store: {e}")),
            ConnectError::Secrets(m) => ConnectError::Secrets(m.clone()),
        }
    }

    /// The grant (a refresh token, a code) is dead: `invalid_grant`.
    pub fn is_dead_grant(&self) -> bool {
        matches!(self, ConnectError::Provider { error, .. } if error == "invalid_grant")
    }
}
