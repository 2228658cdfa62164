//! Records that only the store and its callers share (the domain types live in core).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tollgate_core::{ScopeSet, TokenHash};

/// An authorization code (RFC 6749 §4.1.2), stored as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: TokenHash,
    pub client_id: String,
    pub subject: String,
    pub redirect_uri: Option<String>,
    pub scope: ScopeSet,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub grant_id: String,
    /// Additional parameters stored with the code (seed), carried to the tokens.
    pub params: BTreeMap<String, String>,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Published in the JWKS but not signing yet (publish-before-sign):
    /// verifiers that cache the JWKS learn it before the first token it
    /// signs reaches them. At most one key is next.
    Next,
    /// Signs new tokens; exactly one key is active.
    Active,
    /// No longer signs, still published so earlier signatures verify.
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A signing key; the private half is encrypted under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_key_encrypted: Vec<u8>,
    pub public_jwk: serde_json::Value,
    pub status: KeyStatus,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// An RFC 7591 §3 initial access token, which authorizes dynamic registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTokenRecord {
    pub id: String,
    pub hash: TokenHash,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// `None` = unlimited.
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked: bool,
}

/// A security-relevant event: failed authentication, rejected request,
/// client or key changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: i64,
    /// Dotted name, e.g. `token.rejected`, `client.created`, `key.rotated`.
    pub event: String,
    pub client_id: Option<String>,
    /// The OAuth error code for a rejection, `ok` otherwise.
    pub outcome: String,
    pub remote_addr: Option<String>,
    /// Free-form context; never a secret or token.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Filters combine with AND; the time window is half-open, `since <= at < until`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub client_id: Option<String>,
    pub event: Option<String>,
    /// Keyset paging: only records with `id < before_id`.
    pub before_id: Option<i64>,
    /// 0 means the default page (100); pages are capped at 1000.
    pub limit: u32,
}

/// A user's remembered consent for one client: the scopes they approved
/// (the union of every approval). A request for a subset needs no new consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub subject: String,
    pub client_id: String,
    pub scope: ScopeSet,
    pub granted_at: i64,
    pub updated_at: i64,
}

/// A browser login session; the cookie carries the value, the store its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub hash: TokenHash,
    /// The user id.
    pub subject: String,
    /// When the user entered their password (OpenID Connect `auth_time`).
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One authorization grant a user gave a client (a code exchanged, a
/// password grant, an implicit token): the seed's "overview of access keys".
/// Its tokens share `grant_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantRecord {
    pub grant_id: String,
    pub subject: String,
    pub client_id: String,
    /// `authorization_code`, `implicit` or `password`.
    pub grant_type: String,
    pub scope: ScopeSet,
    pub created_at: i64,
}

/// A virtual service of the gateway. The store keeps its policy as an opaque
/// JSON document (`spec`, typed and validated by the gateway crate) so a new
/// policy field needs no migration; only what must be unique or looked up
/// is a column.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// Unique; also the default required scope.
    pub name: String,
    /// Unique; the path segment after the gateway prefix (`/gateway/{alias}/…`).
    pub alias: String,
    pub spec: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where an application's consumption of a service stands (the seed's
/// "Require Approval").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerStatus {
    /// Waiting for an administrator; gets no token for the service's scope.
    Pending,
    Approved,
    Rejected,
    /// Was approved, then withdrawn.
    Revoked,
}

impl ConsumerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// An application (an OAuth client) consuming a service. Keyed by
/// (`service`, `client_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    pub service: String,
    pub client_id: String,
    /// The application's name as given when it asked to consume.
    pub application: String,
    pub status: ConsumerStatus,
    /// Per-consumer overrides (token lifetime, rate limits), as JSON typed
    /// by the gateway crate.
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A third-party authorization server whose tokens the gateway accepts
/// (RFC 7662 introspection, or JWTs verified against its JWKS). Its client
/// secret, when it has one, is encrypted under the master key.
#[derive(Clone, PartialEq)]
pub struct AuthServerRecord {
    pub name: String,
    pub spec: serde_json::Value,
    pub secret_encrypted: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for AuthServerRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerRecord")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field(
                "secret_encrypted",
                &self.secret_encrypted.as_ref().map(|_| "…"),
            )
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A connection: an outbound OAuth client configuration with which Tollgate
/// obtains and refreshes tokens from another provider. The store keeps the
/// non-secret configuration as an opaque JSON document (`spec`, typed by the
/// connect crate) and the secret one (client secret, private key, proxy
/// password…) as bytes the caller sealed under the master key.
#[derive(Clone, PartialEq)]
pub struct ConnectionRecord {
    pub name: String,
    pub spec: serde_json::Value,
    pub secrets_encrypted: Option<Vec<u8>>,
    /// The proxy alias ([`ProxyRecord`]) the connection goes through: a
    /// reference the store keeps (an unknown alias is refused, an alias in
    /// use cannot be deleted).
    pub proxy_alias: Option<String>,
    pub tokens: ConnectionTokens,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field(
                "secrets_encrypted",
                &self.secrets_encrypted.as_ref().map(|_| "…"),
            )
            .field("proxy_alias", &self.proxy_alias)
            .field("tokens", &self.tokens)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The token state of a connection. Both tokens arrive sealed by the caller
/// under the master key. `version` is the compare-and-set counter that every
/// save and reset moves (see [`crate::ConnectionStore::save_connection_tokens`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionTokens {
    pub access_token_encrypted: Option<Vec<u8>>,
    pub refresh_token_encrypted: Option<Vec<u8>>,
    pub token_type: Option<String>,
    pub scope: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub obtained_at: Option<i64>,
    /// Set by the caller: `new`, `ok`, `needs_authorization`, `error`…
    pub status: String,
    pub last_error: Option<String>,
    pub version: i64,
}

impl ConnectionTokens {
    /// The state of a connection that never obtained a token: status
    /// `new`, version 0, everything else empty.
    pub fn new_empty() -> Self {
        Self {
            access_token_encrypted: None,
            refresh_token_encrypted: None,
            token_type: None,
            scope: None,
            expires_at: None,
            obtained_at: None,
            status: "new".into(),
            last_error: None,
            version: 0,
        }
    }
}

impl Default for ConnectionTokens {
    fn default() -> Self {
        Self::new_empty()
    }
}

impl std::fmt::Debug for ConnectionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionTokens")
            .field(
                "access_token_encrypted",
                &self.access_token_encrypted.as_ref().map(|_| "…"),
            )
            .field(
                "refresh_token_encrypted",
                &self.refresh_token_encrypted.as_ref().map(|_| "…"),
            )
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .field("obtained_at", &self.obtained_at)
            .field("status", &self.status)
            .field("last_error", &self.last_error)
            .field("version", &self.version)
            .finish()
    }
}

/// A proxy alias (seed 003's "proxy server alias"): a named forward proxy
/// that connections go through. The password arrives sealed by the caller
/// under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyRecord {
    pub name: String,
    pub url: String,
    pub username: Option<String>,
    pub password_encrypted: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for ProxyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRecord")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field(
                "password_encrypted",
                &self.password_encrypted.as_ref().map(|_| "…"),
            )
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
