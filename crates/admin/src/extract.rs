//! Extractors whose every rejection is the admin API's JSON error, naming the
//! field where there is one (axum's own answer in plain text otherwise).
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Largest JSON body the admin API reads; a client document is a few KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON request body (`application/json` or a `+json` type).
pub struct ApiJson<T>(pub T);

fn is_json(parts_ct: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = parts_ct.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// A serde error as a path ("token_settings.code_ttl") and a message for a person.
fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> (String, String) {
    let path = e.path().to_string();
    (path, humanize(&e.into_inner().to_string()))
}

/// serde's messages speak Rust ("invalid type: string \"x\", expected u64",
/// "invalid length 0, expected struct UpdateClient with 13 elements"); an API
/// caller wants JSON words: "expected a whole number (0 or more), not string \"x\"".
/// Messages without an "expected" part (unknown or missing fields) are kept.
pub(crate) fn humanize(msg: &str) -> String {
    // A position helps only with a document that does not parse (those messages
    // are not humanized); a value of the wrong type is named by its field.
    let without_position = msg.rfind(" at line ").map_or(msg, |i| &msg[..i]);
    let Some((got, expected)) = without_position.split_once(", expected ") else {
        return msg.to_owned();
    };
    if got.starts_with("unknown field") || got.starts_with("unknown variant") {
        // "unknown field `colour`, expected one of `a`, `b`": already JSON words.
        return without_position.to_owned();
    }
    let got = got
        .strip_prefix("invalid type: ")
        .or_else(|| got.strip_prefix("invalid value: "))
        .unwrap_or(got);
    let got = if got.starts_with("invalid length") {
        "an array"
    } else {
        match got {
            "sequence" => "an array",
            "map" => "an object",
            "unit value" | "null" => "null",
            other => other,
        }
    };
    let expected = json_type(expected);
    format!("expected {expected}, not {got}")
}

fn json_type(rust: &str) -> String {
    let t = rust.trim();
    if t.starts_with("struct ") || t == "a map" || t == "map" {
        return "a JSON object".into();
    }
    match t {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" | "sequence" => "a JSON array".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" | "a borrowed string" | "string" => "a string".into(),
        other => other.to_owned(),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    format!("the body is larger than {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body could not be read",
                )
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let syntax = e.inner().is_syntax() || e.inner().is_eof();
            let (path, msg) = if syntax {
                // The position is what helps with a document that does not parse.
                (e.path().to_string(), e.inner().to_string())
            } else {
                path_error(e)
            };
            if syntax {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("the body is not valid JSON: {msg}"),
                )
            } else if path == "." {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("the body is not of the expected shape: {msg}"),
                )
            } else {
                ApiError::invalid_field(path.clone(), format!("{path}: {msg}"))
            }
        })?;
        de.end().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "trailing characters after the JSON document",
            )
        })?;
        Ok(Self(value))
    }
}

/// Query parameters; a repeated or malformed one is a 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let (path, msg) = path_error(e);
            if path == "." {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", msg)
            } else {
                ApiError::invalid_field(path.clone(), format!("{path}: {msg}"))
            }
        })
    }
}

/// One path segment parameter, percent-decoded. Ids that cannot exist are
/// the handlers' business (they answer 404).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("bad path parameter: {}", e.body_text()),
                )
            })
    }
}

/// A secret (a password, a chosen client secret) from a request body. Its `Debug` is redacted, and a value of
/// the wrong JSON type is refused without quoting it (serde's own message
/// would: "invalid type: integer `12345678`").
pub struct SecretString(pub(crate) String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Self(s)),
            _ => Err(D::Error::custom("expected a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let ok = |s: &'static str| is_json(Some(&HeaderValue::from_static(s)));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!is_json(None));
    }

    #[test]
    fn serde_messages_in_json_words() {
        for (serde, human) in [
            (
                "invalid type: string \"x\", expected u64 at line 1 column 17",
                "expected a whole number (0 or more), not string \"x\"",
            ),
            (
                "invalid length 0, expected struct UpdateClient with 13 elements",
                "expected a JSON object, not an array",
            ),
            (
                "invalid type: sequence, expected struct ServiceSpec",
                "expected a JSON object, not an array",
            ),
            (
                "invalid type: map, expected a sequence",
                "expected a JSON array, not an object",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "expected a whole number (0 or more), not integer `-1`",
            ),
            ("missing field `upstream`", "missing field `upstream`"),
            (
                "unknown field `colour`, expected one of `a`, `b`",
                "unknown field `colour`, expected one of `a`, `b`",
            ),
        ] {
            let out = humanize(serde);
            assert_eq!(out, human);
            assert!(!out.contains("struct") && !out.contains("u64"), "{out}");
        }
    }
}
