//! The authorization server's settings, deserialized straight from the
//! `[tokens]`, `[registration]`, `[cache]`, `[rate_limit]`, `[purge]`,
//! `[authorize]`, `[login]`, `[ui]`, `[keys]`, `[assertions]`,
//! `[jwt_bearer]` and `[saml_bearer]` sections of the config file.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_core::{GrantType, TokenSettings};

#[derive(Debug, Clone)]
pub struct AuthzSettings {
    /// Public base URL without a trailing slash: `iss`, discovery, endpoint URLs.
    pub issuer: String,
    pub tokens: TokenSettings,
    pub registration: RegistrationSettings,
    pub cache: CacheSettings,
    pub rate_limit: RateLimitSettings,
    pub authorize: AuthorizeSettings,
    pub login: LoginSettings,
    pub ui: UiSettings,
    pub keys: crate::keys::KeySettings,
    pub assertions: crate::assertion::AssertionSettings,
    pub jwt_bearer: crate::assertion::trust::JwtBearerSettings,
    pub saml_bearer: crate::assertion::trust::SamlBearerSettings,
}

impl AuthzSettings {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            tokens: TokenSettings::default(),
            registration: RegistrationSettings::default(),
            cache: CacheSettings::default(),
            rate_limit: RateLimitSettings::default(),
            authorize: AuthorizeSettings::default(),
            login: LoginSettings::default(),
            ui: UiSettings::default(),
            keys: Default::default(),
            assertions: Default::default(),
            jwt_bearer: Default::default(),
            saml_bearer: Default::default(),
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

/// Throttling of failed client authentication (so secrets cannot be guessed
/// at network speed). Counters are per process: in a multi-node deployment
/// each node counts on its own, so the cluster-wide bound is the per-node one
/// times the number of nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Failed authentications of one client id within the window
    /// after which every attempt for that id, right secret or not, is
    /// refused until the window closes. 0 turns the per-client throttle off.
    pub failed_auth_per_client: u32,
    /// Failed client authentications from one client address (an IPv6 /64
    /// counts as one address) within the window after which each further
    /// failed attempt from it is answered late: 100 ms, doubling, up to
    /// `failed_auth_max_delay_ms`. Nothing is refused for it: other
    /// clients' correct credentials from that address (a NAT, a CI host)
    /// are answered at once. 0 turns the delay off.
    pub failed_auth_per_address: u32,
    /// The longest delay of one failed answer (see above).
    pub failed_auth_max_delay_ms: u64,
    /// Argon2 verifications of client secrets (and password checks) that
    /// one client address may have running at once; more wait their turn,
    /// so one address cannot occupy every blocking thread.
    pub verifications_per_address: u32,
    /// The window, opened by the first failure.
    pub failed_auth_window_secs: u64,
    /// How many client ids and addresses are tracked at most, so an attacker
    /// rotating either cannot grow memory without bound (least recently
    /// used entries go first).
    pub tracked_keys: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            failed_auth_per_client: 10,
            failed_auth_per_address: 10,
            failed_auth_max_delay_ms: 2_000,
            verifications_per_address: 2,
            failed_auth_window_secs: 60,
            tracked_keys: 100_000,
        }
    }
}

impl RateLimitSettings {
    /// The longest window accepted: a day. Longer lockouts are an outage
    /// an attacker can cause, not protection.
    pub const MAX_WINDOW_SECS: u64 = 86_400;

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=Self::MAX_WINDOW_SECS).contains(&self.failed_auth_window_secs) {
            return Err(format!(
                "failed_auth_window_secs must be 1-{}",
                Self::MAX_WINDOW_SECS
            ));
        }
        if self.tracked_keys == 0 {
            return Err("tracked_keys must be at least 1".into());
        }
        if self.failed_auth_max_delay_ms > 60_000 {
            return Err("failed_auth_max_delay_ms must be at most 60000".into());
        }
        if !(1..=1024).contains(&self.verifications_per_address) {
            return Err("verifications_per_address must be 1-1024".into());
        }
        Ok(())
    }
}

/// The background purge (`crate::purge`) of expired and revoked tokens,
/// expired codes, old audit events and long-expired registration tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeSettings {
    /// Run the purge inside `tollgate serve`. With several nodes on one
    /// PostgreSQL database it is enough (and cheaper) to enable it on one.
    pub enabled: bool,
    /// Seconds between the starts of two purge runs.
    pub interval_secs: u64,
    /// Rows deleted per statement (one short write transaction each).
    pub batch_size: u32,
    /// Least pause between two full batches, so token issuance gets the
    /// (SQLite: single) writer between them. The pause is also at least as
    /// long as the batch took, so a backlog takes at most about half of the
    /// writer's time.
    pub pause_ms: u64,
    /// Audit events older than this are deleted; so are registration tokens
    /// that expired longer ago than this (they stay listed for as long as the
    /// events that mention them). 0 keeps both forever.
    pub audit_retention_days: u32,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 60,
            batch_size: 1000,
            pause_ms: 10,
            audit_retention_days: 90,
        }
    }
}

impl PurgeSettings {
    /// Refuses values that would make the purge spin or hold the writer for
    /// long; returns the offending key and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_secs == 0 {
            return Err("interval_secs must be at least 1".into());
        }
        if !(1..=100_000).contains(&self.batch_size) {
            return Err("batch_size must be between 1 and 100000".into());
        }
        if self.pause_ms > 60_000 {
            return Err("pause_ms must be at most 60000".into());
        }
        Ok(())
    }
}

/// The authorization endpoint (`/oauth2/authorize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizeSettings {
    /// Accept `code_challenge_method=plain` (RFC 9700 §2.1.1: use S256).
    pub allow_plain_pkce: bool,
    /// Require PKCE from confidential clients too (always required from
    /// public clients).
    pub require_pkce: bool,
    /// Name/value pairs stored with every authorization code and carried to
    /// its tokens (the seed's "Additional parameters to store for this
    /// Authorization Code"); the user's attributes are added on top.
    pub code_params: BTreeMap<String, String>,
}

/// Resource-owner login: the session cookie (the seed's "Authorization
/// Session Cookie" settings) and the lockout after failed passwords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    pub cookie_name: String,
    pub cookie_domain: Option<String>,
    pub cookie_path: String,
    /// Session lifetime ("Expires in").
    pub session_lifetime_secs: u64,
    /// The `Secure` flag; by default on whenever the issuer is https.
    pub cookie_secure: Option<bool>,
    pub cookie_http_only: bool,
    /// Failed passwords for one username within `lockout_window_secs` after
    /// which that account refuses every login, right password or not, until
    /// the window closes. 0 turns it off.
    pub max_failures_per_user: u32,
    /// The same per source address (an IPv6 /64 counts as one). 0 turns it off.
    pub max_failures_per_address: u32,
    pub lockout_window_secs: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            cookie_name: "tollgate_session".into(),
            cookie_domain: None,
            cookie_path: "/".into(),
            session_lifetime_secs: 8 * 3600,
            cookie_secure: None,
            cookie_http_only: true,
            max_failures_per_user: 5,
            max_failures_per_address: 50,
            lockout_window_secs: 300,
        }
    }
}

impl LoginSettings {
    pub fn validate(&self) -> Result<(), String> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if !token(&self.cookie_name) {
            return Err("cookie_name must be letters, digits, '_', '-' or '.'".into());
        }
        if self.cookie_domain.as_deref().is_some_and(|d| !token(d)) {
            return Err("cookie_domain must be a host name".into());
        }
        if !self.cookie_path.starts_with('/')
            || self
                .cookie_path
                .bytes()
                .any(|b| b == b';' || b.is_ascii_control() || b == b' ')
        {
            return Err("cookie_path must start with '/' and contain no ';' or spaces".into());
        }
        if !(60..=30 * 86_400).contains(&self.session_lifetime_secs) {
            return Err("session_lifetime_secs must be between 60 and 2592000".into());
        }
        if !(1..=RateLimitSettings::MAX_WINDOW_SECS).contains(&self.lockout_window_secs) {
            return Err(format!(
                "lockout_window_secs must be 1-{}",
                RateLimitSettings::MAX_WINDOW_SECS
            ));
        }
        Ok(())
    }
}

/// The login, consent and error pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// A folder whose `login.html`, `consent.html`, `error.html` and
    /// `consents.html` replace the built-in templates (any file missing there
    /// keeps the built-in one). Read at start.
    pub templates_dir: Option<PathBuf>,
    /// What the consent page shows for each scope; a scope without an
    /// entry is shown by its name.
    pub scope_descriptions: BTreeMap<String, String>,
    /// The product name shown in page titles.
    pub title: Option<String>,
}
