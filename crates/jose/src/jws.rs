//! Compact JWS serialization (RFC 7515 §7.1).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::JoseError;

/// `BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature)`,
/// the signature made over the first two parts (RFC 7515 §5.1).
pub(crate) fn compose(
    header: &Map<String, Value>,
    claims: &Value,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, JoseError>,
) -> Result<String, JoseError> {
    let header = serde_json::to_vec(header).map_err(|_| JoseError::Key("header".into()))?;
    let claims = serde_json::to_vec(claims).map_err(|_| JoseError::Key("claims".into()))?;
    let mut out = B64.encode(header);
    out.push('.');
    out.push_str(&B64.encode(claims));
    let sig = sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&B64.encode(sig));
    Ok(out)
}
