//! PKCE (RFC 7636) values, parsed at the edge so an invalid one cannot exist.
use serde::{Deserialize, Serialize};

use crate::OAuthError;

/// RFC 7636 §4.2 `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    S256,
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// RFC 7636 §4.3: an absent method means `plain`.
    pub fn parse(s: Option<&str>) -> Result<Self, OAuthError> {
        match s {
            None | Some("plain") => Ok(Self::Plain),
            Some("S256") => Ok(Self::S256),
            Some(other) => Err(OAuthError::invalid_request(format!(
                "code_challenge_method '{}' is not supported (S256)",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// RFC 7636 §4.1: 43–128 characters of `A-Z a-z 0-9 - . _ ~`.
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A `code_verifier` (RFC 7636 §4.1).
#[derive(Clone, PartialEq, Eq)]
pub struct PkceVerifier(String);

impl PkceVerifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for PkceVerifier {
    type Error = OAuthError;
    fn try_from(s: &str) -> Result<Self, OAuthError> {
        if !is_pkce_string(s) {
            return Err(OAuthError::invalid_grant(
                "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceVerifier(<redacted>)")
    }
}

/// A `code_challenge` (RFC 7636 §4.2): for S256 the base64url SHA-256 of the
/// verifier (43 characters), for plain the verifier itself; both fit §4.1's
/// character rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(s: &str, method: PkceMethod) -> Result<Self, OAuthError> {
        let ok = match method {
            PkceMethod::S256 => s.len() == 43 && is_pkce_string(s),
            PkceMethod::Plain => is_pkce_string(s),
        };
        if !ok {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge is malformed for method {} (RFC 7636 §4.2)",
                method.as_str()
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_rules() {
        assert!(PkceVerifier::try_from("a".repeat(43).as_str()).is_ok());
        assert!(PkceVerifier::try_from("a".repeat(42).as_str()).is_err());
        assert!(PkceVerifier::try_from("a".repeat(129).as_str()).is_err());
        assert!(PkceVerifier::try_from(format!("{}+", "a".repeat(43)).as_str()).is_err());
        assert!(
            !format!(
                "{:?}",
                PkceVerifier::try_from("b".repeat(43).as_str()).unwrap()
            )
            .contains("bbb")
        );
    }

    #[test]
    fn methods_and_challenges() {
        assert_eq!(PkceMethod::parse(None).unwrap(), PkceMethod::Plain);
        assert_eq!(PkceMethod::parse(Some("S256")).unwrap(), PkceMethod::S256);
        assert!(PkceMethod::parse(Some("s256")).is_err());
        assert!(CodeChallenge::parse(&"x".repeat(43), PkceMethod::S256).is_ok());
        assert!(CodeChallenge::parse(&"x".repeat(44), PkceMethod::S256).is_err());
        assert!(CodeChallenge::parse(&"x".repeat(100), PkceMethod::Plain).is_ok());
    }
}
