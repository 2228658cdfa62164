//! JWS algorithm identifiers (RFC 7518 §3.1, RFC 8037 §3.1 for EdDSA).
//!
//! A closed enum instead of strings: `none` and every name we do not
//! implement cannot be represented, so no code path can end up "verifying"
//! with them (RFC 8725 §3.1).
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    /// Every algorithm, in declaration order.
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// What a verifier accepts by default for assertions (RFC 8725 §3.1):
    /// every asymmetric one, so a public key can never be used as an HMAC
    /// secret.
    pub const ASYMMETRIC: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The shared-secret algorithms (RFC 7518 §3.2), e.g. for
    /// `client_secret_jwt` (RFC 7523 §2.2, OIDC Core §9).
    pub const HMAC: [Alg; 3] = [Alg::HS256, Alg::HS384, Alg::HS512];

    /// Algorithms the server can generate signing keys for.
    pub const SIGNING: [Alg; 4] = [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::PS256];

    /// The `alg` header value (RFC 7518 §3.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive match (RFC 7515 §4.1.1: the value is a
    /// case-sensitive string). `none` and unknown names give `None`.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(
            self,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
        )
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Alg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Alg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Alg::parse(&s).ok_or_else(|| serde::de::Error::custom("unsupported JWS algorithm"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.as_str()), Some(a));
            assert_eq!(a.to_string(), a.as_str());
            let j = serde_json::to_value(a).unwrap();
            assert_eq!(j, serde_json::Value::String(a.as_str().into()));
            assert_eq!(serde_json::from_value::<Alg>(j).unwrap(), a);
        }
        for bad in [
            "none", "None", "NONE", "hs256", "es256", "EDDSA", "RSA-OAEP", "", "ES512",
        ] {
            assert_eq!(Alg::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<Alg>("\"none\"").is_err());
    }

    #[test]
    fn classes_partition_the_algorithms() {
        for a in Alg::ALL {
            assert_ne!(Alg::HMAC.contains(&a), Alg::ASYMMETRIC.contains(&a));
            assert_eq!(a.is_hmac(), Alg::HMAC.contains(&a));
        }
        assert!(Alg::SIGNING.iter().all(|a| !a.is_hmac()));
    }
}
