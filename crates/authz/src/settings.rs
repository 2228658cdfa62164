//! The authorization server's settings, deserialized straight from the
//! `[tokens]`, `[registration]` and `[cache]` sections of the config file.
use serde::{Deserialize, Serialize};
use tollgate_core::{GrantType, TokenSettings};

#[derive(Debug, Clone)]
pub struct AuthzSettings {
    /// Public base URL without a trailing slash: `iss`, discovery, endpoint URLs.
    pub issuer: String,
    pub tokens: TokenSettings,
    pub registration: RegistrationSettings,
    pub cache: CacheSettings,
}

impl AuthzSettings {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            tokens: TokenSettings::default(),
            registration: RegistrationSettings::default(),
            cache: CacheSettings::default(),
        }
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// Dynamic client registration (RFC 7591) policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSettings {
    pub enabled: bool,
    /// Scopes a registered client may ask for; empty means any scope except
    /// the reserved `tollgate:` ones (so registration can never mint an admin).
    pub allowed_scopes: Vec<String>,
    /// Grant types a registered client may ask for.
    pub allowed_grant_types: Vec<GrantType>,
    /// Allow `jwks_uri` on loopback, private or link-local addresses
    /// (refused by default: CVE-2026-22752 was an SSRF through exactly this).
    pub allow_private_jwks_uri: bool,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_scopes: Vec::new(),
            allowed_grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::ClientCredentials,
                GrantType::RefreshToken,
            ],
            allow_private_jwks_uri: false,
        }
    }
}

/// In-process caches. Within one node every change invalidates them at once;
/// across nodes sharing PostgreSQL a change made elsewhere is seen after at
/// most the TTL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub client_ttl_secs: u64,
    pub token_ttl_secs: u64,
    pub token_capacity: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            client_ttl_secs: 5,
            token_ttl_secs: 5,
            token_capacity: 200_000,
        }
    }
}
