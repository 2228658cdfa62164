//! Scopes (RFC 6749 §3.3) and the seed's "Get scopes from a registered
//! application" rule with its Any/All matching.
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::OAuthError;

/// A set of scope tokens, kept sorted so the stored and returned form is stable.
/// Built only through `TryFrom`, so every member is a valid scope-token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ScopeRepr", into = "ScopeRepr")]
pub struct ScopeSet(BTreeSet<String>);

/// Scopes travel as a space-delimited string on the wire and may be given as a
/// list in config files and JSON APIs; both deserialize.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ScopeRepr {
    Str(String),
    List(Vec<String>),
}

impl TryFrom<ScopeRepr> for ScopeSet {
    type Error = OAuthError;
    fn try_from(r: ScopeRepr) -> Result<Self, OAuthError> {
        match r {
            ScopeRepr::Str(s) => ScopeSet::parse(&s),
            ScopeRepr::List(v) => ScopeSet::from_tokens(v),
        }
    }
}

impl From<ScopeSet> for ScopeRepr {
    fn from(s: ScopeSet) -> Self {
        ScopeRepr::Str(s.to_string())
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ScopeSet {
    pub const MAX_TOKENS: usize = 256;

    /// Parse the space-delimited wire form. Empty or whitespace-only is the empty set.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        // RFC 6749 §3.3 delimits by single spaces; tolerate runs of spaces but
        // nothing else (tabs or newlines are not scope delimiters).
        Self::from_tokens(s.split(' ').filter(|t| !t.is_empty()))
    }

    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, OAuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for t in tokens {
            let t = t.into();
            if !is_scope_token(&t) {
                return Err(OAuthError::invalid_scope(format!(
                    "'{}' is not a valid scope token (RFC 6749 §3.3)",
                    t.escape_default()
                )));
            }
            set.insert(t);
            if set.len() > Self::MAX_TOKENS {
                return Err(OAuthError::invalid_scope("too many scopes"));
            }
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn contains(&self, s: &str) -> bool {
        self.0.contains(s)
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// How requested scopes are checked against a client's registered scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ScopeMatching {
    /// The token is issued when at least one requested scope is registered; it
    /// carries the requested scopes that are registered (RFC 6749 §3.3 lets the
    /// server narrow the request, and the response then names the scope).
    #[default]
    Any,
    /// Every requested scope must be registered.
    All,
}

impl ScopeMatching {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
        }
    }
}

impl std::str::FromStr for ScopeMatching {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "any" => Ok(Self::Any),
            "all" => Ok(Self::All),
            other => Err(format!("unknown scope matching '{other}' (any, all)")),
        }
    }
}

/// The seed's "Get scopes from a registered application": no scope requested →
/// every registered scope; otherwise Any/All matching. A request that leaves
/// nothing to grant is `invalid_scope` (RFC 6749 §5.2).
pub fn resolve_scopes(
    requested: Option<&ScopeSet>,
    registered: &ScopeSet,
    mode: ScopeMatching,
) -> Result<ScopeSet, OAuthError> {
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(registered.clone());
    };
    match mode {
        ScopeMatching::All => {
            if let Some(missing) = requested.iter().find(|s| !registered.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope '{missing}' is not registered for this client"
                )));
            }
            Ok(requested.clone())
        }
        ScopeMatching::Any => {
            let granted = requested.intersection(registered);
            if granted.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "none of the requested scopes ({requested}) is registered for this client"
                )));
            }
            Ok(granted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: &str) -> ScopeSet {
        ScopeSet::parse(x).unwrap_or_default()
    }

    #[test]
    fn parse_and_display_are_sorted_and_deduplicated() {
        assert_eq!(s("b a  b").to_string(), "a b");
        assert!(s("").is_empty());
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("a\tb").is_err());
    }

    #[test]
    fn no_scope_gives_every_registered_scope() {
        let reg = s("read write");
        assert_eq!(
            resolve_scopes(None, &reg, ScopeMatching::Any),
            Ok(reg.clone())
        );
        assert_eq!(
            resolve_scopes(Some(&s("")), &reg, ScopeMatching::All),
            Ok(reg.clone())
        );
    }

    #[test]
    fn any_narrows_and_all_refuses() {
        let reg = s("read write");
        assert_eq!(
            resolve_scopes(Some(&s("read admin")), &reg, ScopeMatching::Any),
            Ok(s("read"))
        );
        assert!(matches!(
            resolve_scopes(Some(&s("read admin")), &reg, ScopeMatching::All),
            Err(OAuthError::InvalidScope(_))
        ));
        assert!(matches!(
            resolve_scopes(Some(&s("admin")), &reg, ScopeMatching::Any),
            Err(OAuthError::InvalidScope(_))
        ));
        assert_eq!(
            resolve_scopes(Some(&s("write")), &reg, ScopeMatching::All),
            Ok(s("write"))
        );
    }

    #[test]
    fn json_accepts_string_or_list() {
        let a: ScopeSet = serde_json::from_str("\"b a\"").unwrap_or_default();
        let b: ScopeSet = serde_json::from_str("[\"a\",\"b\"]").unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert!(serde_json::from_str::<ScopeSet>("[\"a b\"]").is_err());
    }

    proptest! {
        #[test]
        fn granted_is_always_within_registered(req in "[a-d ]{0,12}", reg in "[a-d ]{0,12}", all in any::<bool>()) {
            let mode = if all { ScopeMatching::All } else { ScopeMatching::Any };
            let (req, reg) = (s(&req), s(&reg));
            if let Ok(granted) = resolve_scopes(Some(&req), &reg, mode) {
                prop_assert!(granted.is_subset(&reg));
                if !req.is_empty() { prop_assert!(granted.is_subset(&req)); }
            }
        }

        #[test]
        fn display_parse_roundtrip(x in "[!#-\\[\\]-~ ]{0,40}") {
            if let Ok(set) = ScopeSet::parse(&x) {
                prop_assert_eq!(ScopeSet::parse(&set.to_string()), Ok(set));
            }
        }
    }
}
