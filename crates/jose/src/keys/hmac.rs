//! HMAC JWS (RFC 7518 §3.2), for `client_secret_jwt` (RFC 7523 §2.2) and tests.
use aws_lc_rs::hmac;
use serde_json::{Map, Value};

use crate::{Alg, JoseError, jws};

pub(crate) fn hmac_algorithm(alg: Alg) -> Option<hmac::Algorithm> {
    match alg {
        Alg::HS256 => Some(hmac::HMAC_SHA256),
        Alg::HS384 => Some(hmac::HMAC_SHA384),
        Alg::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

/// A compact JWS signed with a shared secret. `alg` (HS256/384/512 only) is
/// set from the argument, overriding the header. An empty secret is refused;
/// RFC 7518 §3.2 asks for a secret at least as long as the hash, which the
/// caller (who knows where the secret came from) is left to enforce.
pub fn sign_hmac(
    alg: Alg,
    secret: &[u8],
    header: &Map<String, Value>,
    claims: &Value,
) -> Result<String, JoseError> {
    let a = hmac_algorithm(alg)
        .ok_or_else(|| JoseError::Key(format!("{alg} is not an HMAC algorithm")))?;
    if secret.is_empty() {
        return Err(JoseError::Key("an HMAC secret must not be empty".into()));
    }
    let key = hmac::Key::new(a, secret);
    let mut h = header.clone();
    h.insert("alg".into(), Value::from(alg.as_str()));
    jws::compose(&h, claims, |input| {
        Ok(hmac::sign(&key, input).as_ref().to_vec())
    })
}
