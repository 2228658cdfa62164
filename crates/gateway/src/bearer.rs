//! Finding the access token in a request (RFC 6750 §2). The header is the
//! one method always accepted (§2.1); a form-encoded body (§2.2) only where
//! the service enables it; the URI query (§2.3) never (OAuth 2.1 §5.1: it
//! leaks into logs and `Referer`), so a token there is not looked at.
use axum::http::{HeaderMap, header};

use crate::error::GatewayError;

/// Longer than any token we or a sane authorization server issue; a longer
/// value is refused before it is hashed or sent anywhere.
pub const MAX_TOKEN_LEN: usize = 8192;

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The bearer token of the `Authorization` header(s), if any. The scheme is
/// case-insensitive (RFC 9110 §11.1); other schemes are not ours and are
/// ignored. Two bearer tokens are refused (RFC 6750 §2: one method, once).
pub fn from_headers(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let mut found: Option<String> = None;
    for v in headers.get_all(header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else {
            return Err(GatewayError::invalid_request(
                "the Authorization header is not printable ASCII",
            ));
        };
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            continue;
        }
        let token = rest.trim_start_matches(' ');
        if token.len() > MAX_TOKEN_LEN {
            return Err(GatewayError::invalid_token("the access token is too long"));
        }
        if !is_b64token(token) {
            return Err(GatewayError::invalid_request(
                "the Authorization header must be 'Bearer <token>' with one token",
            ));
        }
        if found.is_some() {
            return Err(GatewayError::invalid_request(
                "the request carries more than one access token",
            ));
        }
        found = Some(token.to_owned());
    }
    Ok(found)
}

/// `access_token` of a form-encoded body (RFC 6750 §2.2), if present.
pub fn from_form(body: &[u8]) -> Result<Option<String>, GatewayError> {
    let mut found = None;
    for (k, v) in form_pairs(body) {
        // RFC 6749 §3.1: a parameter without a value counts as absent.
        if k == "access_token" && !v.is_empty() {
            if found.is_some() {
                return Err(GatewayError::invalid_request(
                    "the request carries more than one access token",
                ));
            }
            if v.len() > MAX_TOKEN_LEN {
                return Err(GatewayError::invalid_token("the access token is too long"));
            }
            if !is_b64token(&v) {
                return Err(GatewayError::invalid_request(
                    "the access_token parameter is not a well-formed token",
                ));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn form_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn h(values: &[&str]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for v in values {
            m.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "Bearer  abc",
            " Bearer abc==",
        ] {
            let t = from_headers(&h(&[v])).unwrap().unwrap();
            assert!(t.starts_with("abc"), "{v}");
        }
    }

    #[test]
    fn other_schemes_and_absence() {
        assert_eq!(from_headers(&h(&[])).unwrap(), None);
        assert_eq!(from_headers(&h(&["Basic YTpi"])).unwrap(), None);
        assert_eq!(from_headers(&h(&["Bearerabc"])).unwrap(), None);
    }

    #[test]
    fn malformed_and_double() {
        for v in ["Bearer", "Bearer a b", "Bearer a,b", "Bearer =abc"] {
            assert!(
                matches!(from_headers(&h(&[v])), Err(GatewayError::InvalidRequest(_))),
                "{v}"
            );
        }
        assert!(matches!(
            from_headers(&h(&["Bearer a", "bearer b"])),
            Err(GatewayError::InvalidRequest(_))
        ));
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert!(matches!(
            from_headers(&h(&[&long])),
            Err(GatewayError::InvalidToken(_))
        ));
    }

    #[test]
    fn form_body() {
        assert_eq!(
            from_form(b"a=1&access_token=xyz").unwrap().as_deref(),
            Some("xyz")
        );
        assert_eq!(from_form(b"a=1").unwrap(), None);
        assert!(from_form(b"access_token=a&access_token=b").is_err());
        assert_eq!(from_form(b"access_token=").unwrap(), None);
        assert!(from_form(b"access_token=a%20b").is_err());
    }
}
