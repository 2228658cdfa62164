//! Token settings (the seed's defaults, overridable per client) and the record
//! the store keeps for every issued access or refresh token.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ScopeSet;

/// How a refresh token is treated when it is used (seed: "Refresh Token Details").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RefreshMode {
    /// A new access/refresh pair; the presented refresh token is removed.
    #[default]
    Rotate,
    /// No refresh token is issued.
    None,
    /// The refresh token stays valid and is reused.
    Preserve,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormat {
    #[default]
    Opaque,
    /// RFC 9068 JWT access tokens.
    Jwt,
}

/// Effective token settings for one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub access_token_ttl: u64,
    pub access_token_length: usize,
    pub token_type: String,
    pub access_token_format: AccessTokenFormat,
    pub refresh_mode: RefreshMode,
    pub refresh_token_ttl: u64,
    pub refresh_token_length: usize,
    pub code_ttl: u64,
    pub code_length: usize,
    /// RFC 6749 §4.4.3 says a refresh token SHOULD NOT be issued for client
    /// credentials; the seed allows it, so it is an explicit opt-in.
    pub client_credentials_refresh: bool,
    /// Seconds after a rotation during which the rotated-out refresh token,
    /// presented again, gets the same new pair instead of counting as reuse:
    /// a client whose response was lost (timeout, crash, two tabs refreshing
    /// at once) retries without having its whole grant revoked. 0 turns the
    /// grace off (RFC 9700 §4.14.2 strict reuse detection).
    pub refresh_reuse_grace_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_ttl: 3600,
            access_token_length: 54,
            token_type: "Bearer".into(),
            access_token_format: AccessTokenFormat::Opaque,
            refresh_mode: RefreshMode::Rotate,
            refresh_token_ttl: 43200,
            refresh_token_length: 46,
            code_ttl: 600,
            code_length: 30,
            client_credentials_refresh: false,
            refresh_reuse_grace_secs: 5,
        }
    }
}

/// Bounds that keep a misconfiguration from weakening tokens: below 32
/// characters of a 62-letter alphabet a token has under 190 bits.
pub const MIN_TOKEN_LENGTH: usize = 32;
pub const MAX_TOKEN_LENGTH: usize = 512;
pub const MIN_CODE_LENGTH: usize = 22;
pub const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

impl TokenSettings {
    /// Checks the values an operator or API caller set; returns the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let len = |name: &str, v: usize, min: usize| {
            if (min..=MAX_TOKEN_LENGTH).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be between {min} and {MAX_TOKEN_LENGTH}"
                ))
            }
        };
        let ttl = |name: &str, v: u64| {
            if (1..=MAX_TTL).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between 1 and {MAX_TTL} seconds"))
            }
        };
        len(
            "access_token_length",
            self.access_token_length,
            MIN_TOKEN_LENGTH,
        )?;
        len(
            "refresh_token_length",
            self.refresh_token_length,
            MIN_TOKEN_LENGTH,
        )?;
        len("code_length", self.code_length, MIN_CODE_LENGTH)?;
        ttl("access_token_ttl", self.access_token_ttl)?;
        ttl("refresh_token_ttl", self.refresh_token_ttl)?;
        ttl("code_ttl", self.code_ttl)?;
        if self.refresh_reuse_grace_secs > 300 {
            return Err("refresh_reuse_grace_secs must be at most 300".into());
        }
        if self.token_type.is_empty()
            || self.token_type.len() > 64
            || !self
                .token_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("token_type must be 1-64 letters, digits, '-' or '_'".into());
        }
        Ok(())
    }

    /// Applies a client's overrides on top of the server defaults.
    pub fn with_override(&self, o: &TokenSettingsOverride) -> TokenSettings {
        TokenSettings {
            access_token_ttl: o.access_token_ttl.unwrap_or(self.access_token_ttl),
            access_token_length: o.access_token_length.unwrap_or(self.access_token_length),
            token_type: o
                .token_type
                .clone()
                .unwrap_or_else(|| self.token_type.clone()),
            access_token_format: o.access_token_format.unwrap_or(self.access_token_format),
            refresh_mode: o.refresh_mode.unwrap_or(self.refresh_mode),
            refresh_token_ttl: o.refresh_token_ttl.unwrap_or(self.refresh_token_ttl),
            refresh_token_length: o.refresh_token_length.unwrap_or(self.refresh_token_length),
            code_ttl: o.code_ttl.unwrap_or(self.code_ttl),
            code_length: o.code_length.unwrap_or(self.code_length),
            client_credentials_refresh: o
                .client_credentials_refresh
                .unwrap_or(self.client_credentials_refresh),
            refresh_reuse_grace_secs: self.refresh_reuse_grace_secs,
        }
    }
}

/// Per-client overrides; an absent field follows the server default, so a
/// change of the default reaches every client that did not override it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettingsOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315360000))]
    pub access_token_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 32, maximum = 512))]
    pub access_token_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")
    )]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<AccessTokenFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_mode: Option<RefreshMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315360000))]
    pub refresh_token_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 32, maximum = 512))]
    pub refresh_token_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315360000))]
    pub code_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 22, maximum = 512))]
    pub code_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_credentials_refresh: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access_token",
            Self::Refresh => "refresh_token",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access_token" => Some(Self::Access),
            "refresh_token" => Some(Self::Refresh),
            _ => None,
        }
    }
}

/// SHA-256 of a token's value: the only form in which a token is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash prefix is enough to correlate log lines.
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

/// What the store keeps about one issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: TokenHash,
    pub kind: TokenKind,
    pub client_id: String,
    /// The resource owner, or for client credentials the client itself.
    pub subject: Option<String>,
    pub scope: ScopeSet,
    pub audience: Vec<String>,
    pub token_type: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Every token that comes from one authorization grant (a code, a client
    /// credentials request, a refresh chain) shares this id, so RFC 7009 §2.1
    /// and RFC 6749 §4.1.2 revocation can reach all of them at once.
    pub grant_id: String,
    pub revoked_at: Option<i64>,
    /// The client's additional metadata at the time of issue (seed: "Store
    /// additional meta data with the access token").
    pub metadata: BTreeMap<String, String>,
}

impl TokenRecord {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let d = TokenSettings::default();
        assert_eq!((d.access_token_ttl, d.access_token_length), (3600, 54));
        assert_eq!((d.refresh_token_ttl, d.refresh_token_length), (43200, 46));
        assert_eq!((d.code_ttl, d.code_length), (600, 30));
        assert_eq!(d.token_type, "Bearer");
        assert_eq!(d.refresh_mode, RefreshMode::Rotate);
        assert!(d.validate().is_ok());
    }

    #[test]
    fn overrides_apply_field_by_field() {
        let d = TokenSettings::default();
        let o = TokenSettingsOverride {
            access_token_ttl: Some(60),
            ..Default::default()
        };
        let e = d.with_override(&o);
        assert_eq!(e.access_token_ttl, 60);
        assert_eq!(e.refresh_token_ttl, 43200);
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = TokenSettings {
            access_token_length: 8,
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().contains("access_token_length"));
        s.access_token_length = 54;
        s.code_ttl = 0;
        assert!(s.validate().unwrap_err().contains("code_ttl"));
    }

    #[test]
    fn hash_debug_does_not_print_the_whole_hash() {
        let h = TokenHash([7; 32]);
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }
}
