//! Request parameters for the OAuth endpoints, parsed strictly: RFC 6749 §3.2
//! (form encoding, each parameter at most once), a size limit, UTF-8 only.
//! Every rejection is an `invalid_request` JSON error, never axum's plain text.
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tollgate_core::OAuthError;

use crate::error::{Error, plain_error};

/// Parsed, de-duplicated parameters. Empty values count as absent
/// (RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if
/// they were omitted").
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter '{name}'")))
    }

    /// Parses `application/x-www-form-urlencoded` bytes (also the query string).
    pub fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        if std::str::from_utf8(bytes).is_err() {
            return Err(OAuthError::invalid_request(
                "the request is not valid UTF-8",
            ));
        }
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            // Percent-decoding may produce invalid UTF-8, which `parse` turns
            // into U+FFFD; refuse rather than act on a mangled value.
            if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                return Err(OAuthError::invalid_request(
                    "a parameter is not valid UTF-8 after percent-decoding",
                ));
            }
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{}' is repeated; each parameter may appear only once (RFC 6749 §3.2)",
                    k.chars().take(64).collect::<String>()
                )));
            }
        }
        Ok(Self(map))
    }
}

/// Extracts [`Params`] from a POST body (`application/x-www-form-urlencoded`,
/// at most `max` bytes) or, for GET, from the query string.
pub struct Form<const MAX: usize = 65536>(pub Params);

pub enum FormRejection {
    Error(Error),
    TooLarge(usize),
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Error(e) => e.into_response(),
            Self::TooLarge(max) => plain_error(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                &format!("the request body is larger than {max} bytes"),
            ),
        }
    }
}

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for Form<MAX> {
    type Rejection = FormRejection;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bad =
            |d: &'static str| FormRejection::Error(Error::OAuth(OAuthError::invalid_request(d)));
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let q = req.uri().query().unwrap_or("");
            return Params::parse(q.as_bytes())
                .map(Form)
                .map_err(|e| FormRejection::Error(Error::OAuth(e)));
        }
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(bad(
                "the request body must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
            ));
        }
        if let Some(charset) = ct
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.trim().trim_matches('"'))
            && !charset.eq_ignore_ascii_case("utf-8")
        {
            return Err(bad(
                "only the UTF-8 charset is accepted (RFC 6749 Appendix B)",
            ));
        }
        let bytes = read_limited(req.into_body(), MAX)
            .await
            .ok_or(FormRejection::TooLarge(MAX))?;
        Params::parse(&bytes)
            .map(Form)
            .map_err(|e| FormRejection::Error(Error::OAuth(e)))
    }
}

/// Reads at most `max` bytes. A larger body is drained (up to a bound) before
/// the 413 goes out, so an ordinary client that is still sending sees the
/// JSON error instead of a reset connection; beyond the bound the connection
/// is dropped.
pub async fn read_limited(body: Body, max: usize) -> Option<Bytes> {
    const DRAIN_MAX: usize = 1 << 20;
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_MAX {
                return None;
            }
            if seen <= max {
                buf.extend_from_slice(&data);
            }
        }
    }
    (seen <= max).then(|| Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let e = Params::parse(b"grant_type=a&grant_type=b").unwrap_err();
        assert!(e.description().contains("repeated"));
    }

    #[test]
    fn empty_values_are_absent_and_do_not_count_as_repeats() {
        let p = Params::parse(b"scope=&scope=read&x=1").unwrap();
        assert_eq!(p.get("scope"), Some("read"));
        assert!(p.require("missing").is_err());
    }

    #[test]
    fn invalid_utf8_is_refused_raw_and_percent_encoded() {
        assert!(Params::parse(b"a=\xff").is_err());
        assert!(Params::parse(b"a=%ff").is_err());
        assert_eq!(Params::parse(b"a=%C3%A9").unwrap().get("a"), Some("é"));
    }
}
