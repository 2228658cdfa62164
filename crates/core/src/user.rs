//! Resource owners (RFC 6749 §1.1) in Tollgate's local user store.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::OAuthError;

/// A login name: 1–128 characters of `a-z 0-9 . _ @ + -`, kept in lower case
/// so `Alice` and `alice` are one account (as in Keycloak) and a name needs
/// no escaping in a log line, a URL or a form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 128;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = OAuthError;
    fn try_from(s: String) -> Result<Self, OAuthError> {
        let s = s.to_ascii_lowercase();
        if s.is_empty()
            || s.len() > Self::MAX_LEN
            || !s.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-')
            })
        {
            return Err(OAuthError::invalid_request(
                "username must be 1-128 characters of a-z 0-9 . _ @ + -",
            ));
        }
        Ok(Self(s))
    }
}

impl TryFrom<&str> for Username {
    type Error = OAuthError;
    fn try_from(s: &str) -> Result<Self, OAuthError> {
        Self::try_from(s.to_owned())
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Password rules: long enough to matter, short enough that Argon2 input
/// stays bounded (NIST SP 800-63B §5.1.1.2 asks for at least 8 and at least
/// 64 accepted; there is no composition rule).
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;

pub fn check_password_policy(password: &str) -> Result<(), OAuthError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(OAuthError::invalid_request(format!(
            "password must be {MIN_PASSWORD_LEN}-{MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// Limits on user attributes, like those on client metadata.
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_ATTRIBUTE_LEN: usize = 1024;

/// A local user. The `id` is the token subject (`sub`): random and
/// immutable, so renaming a user never hands their tokens to another.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: Username,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub enabled: bool,
    /// Name/value pairs stored with every authorization code and token issued
    /// for this user (the seed's "Additional parameters to store for this
    /// Authorization Code"), returned by introspection and tokeninfo.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    pub fn validate(&self) -> Result<(), OAuthError> {
        if self.attributes.len() > MAX_ATTRIBUTES
            || self
                .attributes
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 128 || v.len() > MAX_ATTRIBUTE_LEN)
        {
            return Err(OAuthError::invalid_request(format!(
                "attributes: at most {MAX_ATTRIBUTES} entries, names 1-128 characters, \
                 values up to {MAX_ATTRIBUTE_LEN}"
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("attributes", &self.attributes)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_restricted() {
        assert_eq!(
            Username::try_from("Alice@Example.com").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in ["", "a b", "a/b", "é", "a:b", &"x".repeat(129)] {
            assert!(Username::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy_bounds() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("long enough").is_ok());
        assert!(check_password_policy(&"x".repeat(257)).is_err());
    }

    #[test]
    fn debug_hides_the_hash() {
        let u = User {
            id: "u1".into(),
            username: Username::try_from("bob").unwrap(),
            password_hash: "$argon2id$secret".into(),
            enabled: true,
            attributes: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(!format!("{u:?}").contains("argon2id"));
    }
}
