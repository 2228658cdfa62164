//! Redirect URIs as registration accepts them (RFC 7591 §2, RFC 8252 §7,
//! RFC 9700 §4.1). Matching at authorization time is exact string comparison.
use std::fmt;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::OAuthError;

/// A redirect URI that passed registration rules. The original string is kept
/// verbatim because matching is exact (RFC 9700 §4.1.3).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub const MAX_LEN: usize = 2000;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Exact string comparison (RFC 9700 §4.1.3), except that for an
    /// `http://` redirect to a loopback IP address the port may differ
    /// (RFC 8252 §7.3: native apps get an ephemeral port). Everything else
    /// must be spelt as registered: no URL normalisation (case, dot
    /// segments, default ports, other spellings of the address) applies.
    pub fn matches(&self, presented: &str) -> bool {
        if self.0 == presented {
            return true;
        }
        let Ok(reg) = Url::parse(&self.0) else {
            return false;
        };
        if reg.scheme() != "http" || !is_loopback_ip(&reg) || Url::parse(presented).is_err() {
            return false;
        }
        matches!(
            (without_port(&self.0), without_port(presented)),
            (Some(a), Some(b)) if a == b
        )
    }
}

/// An `http://host[:port]…` URI as the text before and after its port
/// (the port, digits only, left out), or None if it is not spelt so.
fn without_port(s: &str) -> Option<(&str, &str)> {
    const PREFIX: &str = "http://";
    let rest = s.strip_prefix(PREFIX)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len)?;
    let host_len = match authority.rfind(':') {
        Some(i)
            if i > 0
                && authority
                    .get(i + 1..)
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            i
        }
        _ => authority_len,
    };
    Some((
        s.get(..PREFIX.len() + host_len)?,
        s.get(PREFIX.len() + authority_len..)?,
    ))
}

fn is_loopback_ip(u: &Url) -> bool {
    match u.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Whether the host is a loopback name or address (`localhost`, 127/8, ::1).
pub fn is_loopback_host(u: &Url) -> bool {
    matches!(u.host(), Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost"))
        || is_loopback_ip(u)
}

impl TryFrom<String> for RedirectUri {
    type Error = OAuthError;
    fn try_from(s: String) -> Result<Self, OAuthError> {
        let bad = |why: &str| {
            OAuthError::invalid_redirect_uri(format!(
                "redirect URI '{}' {why}",
                s.chars().take(200).collect::<String>().escape_default()
            ))
        };
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad("is empty or too long"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if s.contains('*') {
            return Err(bad(
                "contains a wildcard; redirect URIs are matched exactly",
            ));
        }
        if s.contains('#') {
            return Err(bad("has a fragment (RFC 6749 §3.1.2)"));
        }
        let url = Url::parse(&s).map_err(|_| bad("is not an absolute URI"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("carries user information"));
        }
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return Err(bad("has no host"));
                }
            }
            "http" => {
                if !is_loopback_host(&url) {
                    return Err(bad(
                        "uses plain http; only https, or http on a loopback host, is allowed",
                    ));
                }
            }
            scheme => {
                // RFC 8252 §7.1: private-use schemes are reverse domain names,
                // so they contain a dot. This also refuses javascript:, data:,
                // file:, vbscript:, ftp: and every other non-web scheme.
                if !scheme.contains('.') {
                    return Err(bad(
                        "uses a scheme that is not allowed (https, loopback http, or a native \
                         app's reverse-domain private-use scheme such as com.example.app:)",
                    ));
                }
            }
        }
        Ok(Self(s))
    }
}

impl TryFrom<&str> for RedirectUri {
    type Error = OAuthError;
    fn try_from(s: &str) -> Result<Self, OAuthError> {
        Self::try_from(s.to_owned())
    }
}

impl From<RedirectUri> for String {
    fn from(r: RedirectUri) -> String {
        r.0
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        RedirectUri::try_from(s).is_ok()
    }

    #[test]
    fn accepts_https_loopback_http_and_private_use() {
        assert!(ok("https://app.example.com/cb"));
        assert!(ok("https://app.example.com/cb?x=1"));
        assert!(ok("http://127.0.0.1:8400/cb"));
        assert!(ok("http://[::1]/cb"));
        assert!(ok("http://localhost:3000/cb"));
        assert!(ok("com.example.app:/oauth2redirect"));
    }

    #[test]
    fn refuses_dangerous_forms() {
        for s in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://example.com/cb",
            "https://*.example.com/cb",
            "https://app.example.com/cb#frag",
            "/relative/cb",
            "https://user:pw@example.com/cb",
            "https://exa mple.com/",
            "",
            "vbscript:msgbox",
        ] {
            assert!(!ok(s), "{s} should be refused");
        }
    }

    #[test]
    fn matching_is_exact_except_loopback_port() {
        let r = RedirectUri::try_from("https://app.example.com/cb").unwrap();
        assert!(r.matches("https://app.example.com/cb"));
        assert!(!r.matches("https://app.example.com/cb/"));
        assert!(!r.matches("https://app.example.com/cb?x=1"));
        assert!(!r.matches("https://APP.example.com/cb"));
        let l = RedirectUri::try_from("http://127.0.0.1/cb").unwrap();
        assert!(l.matches("http://127.0.0.1:51234/cb"));
        assert!(!l.matches("http://127.0.0.1:51234/other"));
        let n = RedirectUri::try_from("http://localhost/cb").unwrap();
        assert!(!n.matches("http://localhost:5555/cb"));
        let v6 = RedirectUri::try_from("http://[::1]/cb").unwrap();
        assert!(v6.matches("http://[::1]:51234/cb"));
        assert!(!v6.matches("http://[::1]:51234/cb?x"));
    }

    /// Found by fuzz/fuzz_targets/redirect.rs: a loopback redirect matched
    /// any URL that *parses* to the same scheme, host, path and query, so
    /// spellings other than the registered one got through (RFC 9700 §4.1.3
    /// allows only the port to differ).
    #[test]
    fn loopback_matching_ignores_only_the_port() {
        let l = RedirectUri::try_from("http://127.0.0.1/cb").unwrap();
        for other in [
            "HTTP://127.0.0.1:81/cb",
            "http://127.0.0.1:80/a/../cb",
            "http://127.0.0.1:80/./cb",
            "http://127.1:5000/cb",
            "http://0x7f.0.0.1:5000/cb",
            "http://127.0.0.1:5000/c\tb",
            "http://127.0.0.1:5000/cb#",
            "http://127.0.0.1:/cb/",
        ] {
            assert!(!l.matches(other), "{other:?}");
        }
        assert!(l.matches("http://127.0.0.1:5000/cb"));
        assert!(l.matches("http://127.0.0.1:80/cb"));
        let p = RedirectUri::try_from("http://127.0.0.1:8400/cb?x=1").unwrap();
        assert!(p.matches("http://127.0.0.1:1/cb?x=1"));
        assert!(p.matches("http://127.0.0.1/cb?x=1"));
        assert!(!p.matches("http://127.0.0.1/cb?x=2"));
    }
}
