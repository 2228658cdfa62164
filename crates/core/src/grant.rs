//! Grant types (RFC 6749 §4, RFC 7521 §4.1 URNs).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum GrantType {
    AuthorizationCode,
    Implicit,
    Password,
    ClientCredentials,
    RefreshToken,
    JwtBearer,
    Saml2Bearer,
}

impl GrantType {
    pub const ALL: [GrantType; 7] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::Password,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::JwtBearer,
        Self::Saml2Bearer,
    ];

    /// The value of the `grant_type` parameter (or, for implicit, the name RFC 7591 §2 uses).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            Self::Saml2Bearer => "urn:ietf:params:oauth:grant-type:saml2-bearer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl TryFrom<String> for GrantType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown grant type '{s}'"))
    }
}

impl From<GrantType> for &'static str {
    fn from(g: GrantType) -> Self {
        g.as_str()
    }
}

impl std::str::FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::try_from(s.to_owned())
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Grant types appear in JSON as their `grant_type` parameter values (serde
/// goes through `&str`), so the schema is an enum of those strings.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for GrantType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for GrantType {}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("Client_Credentials"), None);
    }
}
