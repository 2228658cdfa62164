//! JWT (RFC 7519) verification with the rules of RFC 8725: the algorithm is
//! chosen by the verifier, never by the token (§3.1); keys come from what was
//! registered, never from the token's `jku`/`jwk`/`x5u`/`x5c` (§3.10); and
//! claims are checked by [`check_claims`] (§3.8-3.9).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::keys::hmac_algorithm;
use crate::{Alg, JwkSet, PublicKey};

mod claims;
mod error;

pub use claims::{ClaimRules, check_claims};
pub use error::JwtError;

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The JOSE header members Tollgate acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub x5t: Option<String>,
    pub x5t_s256: Option<String>,
}

pub type Claims = Map<String, Value>;

/// What verifies a token: the public keys registered for its issuer, or a
/// shared secret (`client_secret_jwt`).
#[derive(Clone, Copy)]
pub enum Verifier<'a> {
    Keys(&'a JwkSet),
    Secret(&'a [u8]),
}

/// The secret never appears in a `Debug` output.
impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verifier::Keys(set) => f.debug_tuple("Keys").field(set).finish(),
            Verifier::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

struct Parts<'t> {
    header: Header,
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    B64.decode(part)
        .map_err(|_| JwtError::Malformed("a part is not base64url without padding"))
}

fn opt_string(h: &Map<String, Value>, name: &str) -> Result<Option<String>, JwtError> {
    match h.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwtError::Malformed("a header member has the wrong type")),
    }
}

fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(JwtError::Malformed("a compact JWS has three parts"));
    };
    let hdr: Value = serde_json::from_slice(&b64(h)?)
        .map_err(|_| JwtError::Malformed("the header is not JSON"))?;
    let Value::Object(hdr) = hdr else {
        return Err(JwtError::Malformed("the header is not a JSON object"));
    };
    let alg = match hdr.get("alg") {
        None => return Err(JwtError::Malformed("the header has no alg")),
        Some(Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(JwtError::AlgNone);
        }
        Some(Value::String(a)) => Alg::parse(a).ok_or(JwtError::UnsupportedAlg)?,
        Some(_) => return Err(JwtError::Malformed("alg is not a string")),
    };
    // RFC 7515 §4.1.11: a recipient that does not understand a listed
    // extension must refuse the JWS; we implement none.
    if hdr.contains_key("crit") {
        return Err(JwtError::Crit);
    }
    // RFC 7797 unencoded payloads change what is signed: refuse outright.
    if hdr.contains_key("b64") {
        return Err(JwtError::B64);
    }
    let header = Header {
        alg,
        kid: opt_string(&hdr, "kid")?,
        typ: opt_string(&hdr, "typ")?,
        x5t: opt_string(&hdr, "x5t")?,
        x5t_s256: opt_string(&hdr, "x5t#S256")?,
    };
    Ok(Parts {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: p,
        signature: s,
    })
}

/// Parses the header without verifying anything (to look up the issuer's
/// keys or pick the verifier). Refuses: not three base64url parts, a header
/// that is not a JSON object, `alg` missing, `none` or unknown, `crit`
/// (RFC 7515 §4.1.11) and `b64` (RFC 7797). `jku`, `jwk`, `x5u` and `x5c`
/// are ignored: keys are never taken from the token (RFC 8725 §3.10).
pub fn decode_header(token: &str) -> Result<Header, JwtError> {
    split(token).map(|p| p.header)
}

/// Does the key carry the certificate the header names (RFC 7515
/// §4.1.7-4.1.8)? A key without a known certificate matches no thumbprint.
fn thumbprints_match(h: &Header, k: &PublicKey) -> bool {
    let ok = |want: &Option<String>, have: Option<&str>| match want {
        None => true,
        Some(w) => have == Some(w.as_str()),
    };
    ok(&h.x5t, k.x5t()) && ok(&h.x5t_s256, k.x5t_s256())
}

/// Verifies the signature and returns header and claims (RFC 8725
/// §3.1-3.2): `alg` must be in `allowed`; with [`Verifier::Keys`] the key is
/// the one named by `kid` (else [`JwtError::UnknownKid`]) or, without a kid,
/// any key whose algorithms include `alg`; `alg` must be one of that key's
/// algorithms, so a key set never verifies HMAC. With [`Verifier::Secret`]
/// `alg` must be HMAC. An `x5t`/`x5t#S256` header must match the key's
/// certificate. The payload must be a JSON object. Claims are not checked
/// here: call [`check_claims`].
pub fn verify(
    token: &str,
    verifier: Verifier<'_>,
    allowed: &[Alg],
) -> Result<(Header, Claims), JwtError> {
    let parts = split(token)?;
    let h = &parts.header;
    if !allowed.contains(&h.alg) {
        return Err(JwtError::AlgNotAllowed(h.alg));
    }
    let sig = b64(parts.signature)?;
    let msg = parts.signing_input.as_bytes();
    match verifier {
        Verifier::Secret(secret) => {
            let Some(a) = hmac_algorithm(h.alg) else {
                return Err(JwtError::SecretNeedsHmac);
            };
            if secret.is_empty() {
                return Err(JwtError::BadSignature);
            }
            if h.x5t.is_some() || h.x5t_s256.is_some() {
                return Err(JwtError::X5tMismatch);
            }
            // Constant-time comparison of the MAC.
            let key = aws_lc_rs::hmac::Key::new(a, secret);
            aws_lc_rs::hmac::verify(&key, msg, &sig).map_err(|_| JwtError::BadSignature)?;
        }
        Verifier::Keys(set) => {
            if h.alg.is_hmac() {
                return Err(JwtError::HmacWithPublicKey);
            }
            let candidates: Vec<&PublicKey> = match &h.kid {
                Some(kid) => {
                    let mut named: Vec<&PublicKey> = set
                        .keys()
                        .iter()
                        .filter(|k| k.kid() == Some(kid.as_str()))
                        .collect();
                    // A key registered without a kid (from a PEM file, say)
                    // may be the one a token names: the kid is a hint for
                    // choosing keys, the signature is what decides.
                    if named.is_empty() {
                        named = set.keys().iter().filter(|k| k.kid().is_none()).collect();
                    }
                    if named.is_empty() {
                        return Err(JwtError::UnknownKid);
                    }
                    let fit: Vec<&PublicKey> = named
                        .into_iter()
                        .filter(|k| k.algorithms().contains(&h.alg))
                        .collect();
                    if fit.is_empty() {
                        return Err(JwtError::KeyAlgMismatch(h.alg));
                    }
                    fit
                }
                None => {
                    let fit: Vec<&PublicKey> = set
                        .keys()
                        .iter()
                        .filter(|k| k.algorithms().contains(&h.alg))
                        .collect();
                    if fit.is_empty() {
                        return Err(JwtError::NoKeyForAlg(h.alg));
                    }
                    fit
                }
            };
            let certified: Vec<&PublicKey> = candidates
                .into_iter()
                .filter(|k| thumbprints_match(h, k))
                .collect();
            if certified.is_empty() {
                return Err(JwtError::X5tMismatch);
            }
            if !certified.iter().any(|k| k.verify(h.alg, msg, &sig)) {
                return Err(JwtError::BadSignature);
            }
        }
    }
    let claims: Value =
        serde_json::from_slice(&b64(parts.payload)?).map_err(|_| JwtError::PayloadNotObject)?;
    let Value::Object(claims) = claims else {
        return Err(JwtError::PayloadNotObject);
    };
    Ok((parts.header, claims))
}

#[cfg(test)]
mod tests;
