//! Assertions (RFC 7521): JWTs and SAML assertions that authenticate a
//! client (RFC 7523 §2.2) or stand for an authorization grant (RFC 7523
//! §2.1, RFC 7522). The rules every kind shares live here: the settings,
//! the trusted issuers, replay refusal, and fetching remote key sets.
pub mod client;
pub mod remote;
pub mod trust;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_core::{OAuthError, TokenHash};
use tollgate_jose::jwt::{Claims, JwtError};

use crate::services::Services;

pub use remote::{RemoteKeys, https_client};
pub use trust::{Trust, TrustedIdp, TrustedIssuer};

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_CLIENT_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `[assertions]` section: rules for every JWT assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSettings {
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (the seed's
    /// "Clock skew in seconds for JWT Claim").
    pub clock_skew_secs: u64,
    /// Largest JWT assertion accepted, in bytes.
    pub max_bytes: usize,
    /// Assertions whose `exp` lies further ahead than this are refused
    /// (RFC 7523 §3 item 4 lets a server refuse an `exp` unreasonably far in
    /// the future; a short life also bounds the replay store).
    pub max_lifetime_secs: u64,
    /// Fetching a `jwks_uri`: timeout, largest document, and how long a
    /// fetched set is used before it is fetched again. An unknown `kid`
    /// fetches at once (at most every `jwks_min_refetch_secs`).
    pub jwks_timeout_ms: u64,
    pub jwks_max_bytes: usize,
    pub jwks_cache_secs: u64,
    pub jwks_min_refetch_secs: u64,
    /// Extra root certificates (PEM) trusted when fetching a `jwks_uri`, for
    /// key servers behind a private CA.
    pub jwks_ca_file: Option<PathBuf>,
}

impl Default for AssertionSettings {
    fn default() -> Self {
        Self {
            clock_skew_secs: 60,
            max_bytes: 8 * 1024,
            max_lifetime_secs: 3600,
            jwks_timeout_ms: 3000,
            jwks_max_bytes: 64 * 1024,
            jwks_cache_secs: 300,
            jwks_min_refetch_secs: 10,
            jwks_ca_file: None,
        }
    }
}

impl AssertionSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.clock_skew_secs > 600 {
            return Err("clock_skew_secs must be at most 600".into());
        }
        if !(512..=tollgate_jose::jwt::MAX_TOKEN_LEN).contains(&self.max_bytes) {
            return Err(format!(
                "max_bytes must be 512-{}",
                tollgate_jose::jwt::MAX_TOKEN_LEN
            ));
        }
        if !(60..=86_400).contains(&self.max_lifetime_secs) {
            return Err("max_lifetime_secs must be 60-86400".into());
        }
        if !(100..=60_000).contains(&self.jwks_timeout_ms) {
            return Err("jwks_timeout_ms must be 100-60000".into());
        }
        if !(1024..=1024 * 1024).contains(&self.jwks_max_bytes) {
            return Err("jwks_max_bytes must be 1024-1048576".into());
        }
        Ok(())
    }

    pub fn skew(&self) -> i64 {
        i64::try_from(self.clock_skew_secs).unwrap_or(60)
    }

    pub fn max_lifetime(&self) -> i64 {
        i64::try_from(self.max_lifetime_secs).unwrap_or(3600)
    }
}

/// The unverified claims of a JWT, only to learn who it claims to come
/// from (which keys to verify it with). Nothing read here is trusted.
pub fn peek_claims(jwt: &str) -> Option<Claims> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `exp` of a verified JWT as whole seconds: a JSON number, integer or
/// not (a fraction is truncated, as `check_claims` reads it). The replay
/// record must live as long as the assertion `check_claims` accepted, so
/// it reads `exp` exactly the same way; an `exp` written as `1.8e9` must
/// not give a record that has expired already.
pub fn exp_claim(claims: &Claims) -> i64 {
    match claims.get("exp") {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or_else(|| {
            // `as` saturates at the i64 range, which is what a date beyond it means.
            n.as_f64()
                .filter(|f| f.is_finite())
                .map_or(i64::MAX, |f| f.trunc() as i64)
        }),
        _ => i64::MAX,
    }
}

/// A string claim of a verified JWT.
pub fn string_claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(|v| v.as_str())
}

/// Refuses an assertion identifier seen before (RFC 7523 §3 item 7, RFC
/// 7522 §3 item 8). `scope` separates identifier spaces (one issuer's `jti`
/// values from another's); the record lives until `expires_at` (the
/// assertion's own expiry plus the clock skew, after which it is refused as
/// expired anyway).
pub async fn refuse_replay(
    svc: &Services,
    scope: &str,
    id: &str,
    expires_at: i64,
    invalid: fn(String) -> OAuthError,
) -> Result<(), crate::Error> {
    let hash: TokenHash = tollgate_jose::secrets::token_hash(&format!("{scope}\0{id}"));
    let fresh = svc
        .store
        .record_jti(
            &hash,
            expires_at.saturating_add(svc.settings.assertions.skew()),
            svc.now(),
        )
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(
            invalid("the assertion was already used: its jti (or ID) was seen before".into())
                .into(),
        )
    }
}

/// `invalid_grant` with a description, as a plain `fn` (what
/// [`refuse_replay`] takes) for the assertion grants.
pub fn invalid_grant(d: String) -> OAuthError {
    OAuthError::invalid_grant(d)
}

/// A JWT failure as an OAuth error of the given kind.
pub fn jwt_error(e: JwtError, invalid: fn(String) -> OAuthError) -> OAuthError {
    invalid(e.to_string())
}
