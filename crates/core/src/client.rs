//! OAuth clients (RFC 6749 §2) as Tollgate registers them.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    GrantType, OAuthError, RateLimit, RedirectUri, ScopeMatching, ScopeSet, TokenSettingsOverride,
};

/// A client identifier: 1–128 characters from the URL-safe set
/// `A-Z a-z 0-9 . _ ~ -`, so it needs no escaping in a URL, a Basic header or a log.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = OAuthError;
    fn try_from(s: String) -> Result<Self, OAuthError> {
        if s.is_empty()
            || s.len() > 128
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        {
            return Err(OAuthError::invalid_request(
                "client_id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -",
            ));
        }
        Ok(Self(s))
    }
}

impl TryFrom<&str> for ClientId {
    type Error = OAuthError;
    fn try_from(s: &str) -> Result<Self, OAuthError> {
        Self::try_from(s.to_owned())
    }
}

impl From<ClientId> for String {
    fn from(c: ClientId) -> String {
        c.0
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    #[default]
    Confidential,
    Public,
}

/// Token endpoint authentication methods (RFC 7591 §2, OpenID Connect Core §9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Credentials in the `Authorization: Basic` header (the seed's default,
    /// "In Authorization Header").
    #[default]
    ClientSecretBasic,
    /// Credentials as `client_id`/`client_secret` form fields (the seed's "In Form Body").
    ClientSecretPost,
    /// RFC 7523 §2.2 assertion signed with the client's private key.
    PrivateKeyJwt,
    /// RFC 7523 §2.2 assertion signed with the client secret (HMAC).
    ClientSecretJwt,
    /// Public clients: no authentication, only `client_id`.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::None => "none",
        }
    }

    /// Every method this server verifies.
    pub const SUPPORTED: [AuthMethod; 5] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::ClientSecretJwt,
        Self::None,
    ];
}

impl std::str::FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::PrivateKeyJwt,
            Self::ClientSecretJwt,
            Self::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| format!("unknown token endpoint auth method '{s}'"))
    }
}

/// How a stored secret hash was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretHashKind {
    /// HMAC-SHA-256 under the server's secret-hashing key: for 256-bit secrets
    /// Tollgate generated, where a slow hash adds nothing.
    Hmac,
    /// Argon2id (PHC string): for secrets a person chose.
    Argon2,
    /// Encrypted under the master key (base64): for `client_secret_jwt`
    /// clients, whose assertions are HMACs keyed with the secret itself
    /// (RFC 7523 §2.2, OpenID Connect Core §9), so the server must be able
    /// to recover it. A hash cannot serve there.
    Sealed,
}

/// One of a client's live secrets. Several may be live at once so a secret can
/// be rotated without downtime. Only the hash is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub id: String,
    pub kind: SecretHashKind,
    pub hash: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl ClientSecret {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What RFC 7591/7592 dynamic registration adds to a client.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// SHA-256 (hex) of the RFC 7592 registration access token.
    pub access_token_hash: String,
    /// Client metadata Tollgate accepted and echoes back (client_uri, logo_uri,
    /// contacts, software_id, …), as registered.
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("access_token_hash", &"<redacted>")
            .field("metadata", &self.metadata)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: AuthMethod,
    #[serde(default)]
    pub secrets: Vec<ClientSecret>,
    pub grant_types: BTreeSet<GrantType>,
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    #[serde(default)]
    pub scopes: ScopeSet,
    #[serde(default)]
    pub scope_matching: ScopeMatching,
    #[serde(default)]
    pub token_settings: TokenSettingsOverride,
    /// Name/value pairs copied onto every token issued to this client.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// Request-rate limit at the token and introspection endpoints. Absent in
    /// documents stored before it existed, which therefore read as unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// First-party clients skip the consent page (the seed's "Skip
    /// Authorization"): the user's login is the approval.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_consent: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Limits on client metadata, so a registration cannot grow a row without bound.
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_LEN: usize = 1024;
pub const MAX_REDIRECT_URIS: usize = 64;
pub const MAX_NAME_LEN: usize = 200;

impl Client {
    /// A client as it comes into being, before secrets are attached.
    pub fn new(id: ClientId, name: impl Into<String>, now: i64) -> Self {
        Self {
            id,
            name: name.into(),
            client_type: ClientType::Confidential,
            auth_method: AuthMethod::ClientSecretBasic,
            secrets: Vec::new(),
            grant_types: BTreeSet::from([GrantType::ClientCredentials]),
            redirect_uris: Vec::new(),
            scopes: ScopeSet::default(),
            scope_matching: ScopeMatching::Any,
            token_settings: TokenSettingsOverride::default(),
            metadata: BTreeMap::new(),
            enabled: true,
            jwks: None,
            jwks_uri: None,
            registration: None,
            rate_limit: None,
            skip_consent: false,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Consistency rules every write path checks; the error names the field.
    pub fn validate(&self) -> Result<(), OAuthError> {
        let meta = |d: String| OAuthError::invalid_client_metadata(d);
        if self.name.chars().count() > MAX_NAME_LEN || self.name.chars().any(char::is_control) {
            return Err(meta(format!(
                "client_name must be at most {MAX_NAME_LEN} characters without control characters"
            )));
        }
        if self.grant_types.is_empty() {
            return Err(meta("grant_types must not be empty".into()));
        }
        match (self.client_type, self.auth_method) {
            (ClientType::Public, AuthMethod::None) => {}
            (ClientType::Public, m) => {
                return Err(meta(format!(
                    "token_endpoint_auth_method: a public client uses 'none', not '{}'",
                    m.as_str()
                )));
            }
            (ClientType::Confidential, AuthMethod::None) => {
                return Err(meta(
                    "token_endpoint_auth_method: a confidential client must authenticate".into(),
                ));
            }
            _ => {}
        }
        if self.client_type == ClientType::Public
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(meta(
                "grant_types: client_credentials needs a confidential client (RFC 6749 §4.4)"
                    .into(),
            ));
        }
        if self.auth_method == AuthMethod::PrivateKeyJwt
            && self.jwks.is_none()
            && self.jwks_uri.is_none()
        {
            return Err(meta(
                "private_key_jwt needs jwks or jwks_uri (RFC 7591 §2)".into(),
            ));
        }
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(meta(
                "jwks and jwks_uri must not both be present (RFC 7591 §2)".into(),
            ));
        }
        let needs_redirect = self.grant_types.contains(&GrantType::AuthorizationCode)
            || self.grant_types.contains(&GrantType::Implicit);
        if needs_redirect && self.redirect_uris.is_empty() {
            return Err(OAuthError::invalid_redirect_uri(
                "redirect_uris: the authorization_code and implicit grants need at least one",
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::invalid_redirect_uri(format!(
                "redirect_uris: at most {MAX_REDIRECT_URIS}"
            )));
        }
        if self.metadata.len() > MAX_METADATA_ENTRIES
            || self
                .metadata
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 128 || v.len() > MAX_METADATA_LEN)
        {
            return Err(meta(format!(
                "metadata: at most {MAX_METADATA_ENTRIES} entries, names 1-128 characters, \
                 values up to {MAX_METADATA_LEN}"
            )));
        }
        if let Some(l) = &self.rate_limit {
            l.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(ClientId::try_from("svc-a").unwrap(), "A", 0)
    }

    #[test]
    fn client_id_charset() {
        assert!(ClientId::try_from("abc.DEF_1~-").is_ok());
        for bad in ["", "a b", "a:b", "é", "a/b", &"x".repeat(129)] {
            assert!(ClientId::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_clients_cannot_use_client_credentials_or_secrets() {
        let mut c = client();
        c.client_type = ClientType::Public;
        assert!(c.validate().is_err());
        c.auth_method = AuthMethod::None;
        assert!(
            c.validate().is_err(),
            "client_credentials on a public client"
        );
        c.grant_types = BTreeSet::from([GrantType::RefreshToken]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn code_grant_needs_a_redirect_uri() {
        let mut c = client();
        c.grant_types.insert(GrantType::AuthorizationCode);
        assert!(matches!(
            c.validate(),
            Err(OAuthError::InvalidRedirectUri(_))
        ));
        c.redirect_uris
            .push(RedirectUri::try_from("https://a.example/cb").unwrap());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn secret_debug_is_redacted_and_json_roundtrips() {
        let mut c = client();
        c.secrets.push(ClientSecret {
            id: "s1".into(),
            kind: SecretHashKind::Hmac,
            hash: "deadbeefcafe".into(),
            created_at: 1,
            expires_at: None,
        });
        assert!(!format!("{c:?}").contains("deadbeefcafe"));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Client>(&json).unwrap(), c);
    }

    #[test]
    fn rate_limit_is_optional_in_stored_documents_and_validated() {
        // A document as stored before rate limits existed still reads.
        let mut old = serde_json::to_value(client()).unwrap();
        assert!(old.get("rate_limit").is_none(), "omitted when none");
        old.as_object_mut().unwrap().remove("rate_limit");
        let c: Client = serde_json::from_value(old).unwrap();
        assert_eq!(c.rate_limit, None);

        let mut c = client();
        c.rate_limit = Some(RateLimit {
            per_second: 10,
            burst: 20,
        });
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["rate_limit"],
            serde_json::json!({"per_second": 10, "burst": 20})
        );
        assert_eq!(serde_json::from_value::<Client>(json).unwrap(), c);
        assert!(c.validate().is_ok());
        c.rate_limit = Some(RateLimit {
            per_second: 0,
            burst: 20,
        });
        assert!(matches!(
            c.validate(),
            Err(OAuthError::InvalidClientMetadata(_))
        ));
    }
}
