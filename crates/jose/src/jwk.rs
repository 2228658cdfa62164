//! Public keys that verify JWTs: from a JWK (RFC 7517 §4), a JWK Set (§5),
//! a SubjectPublicKeyInfo or a certificate (PEM or DER).
//!
//! Only signature keys are represented. A symmetric (`oct`) key or a JWK
//! with private members is refused outright: either one in a public key set
//! is a configuration error that must not pass silently.
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::material::{Curve, Material};
use crate::{Alg, JoseError, pem, x509};

/// Private key members of RSA (RFC 7518 §6.3.2), EC (§6.2.2), OKP (RFC 8037
/// §2) and the secret of `oct` keys (§6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Upper bound on the keys of a set: more is not a real provider, and every
/// key costs a signature check when a token has no kid.
pub const MAX_KEYS: usize = 100;

#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    alg: Option<Alg>,
    material: Material,
    x5t: Option<String>,
    x5t_s256: Option<String>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kty", &self.material.kty())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

fn invalid(m: impl Into<String>) -> JoseError {
    JoseError::InvalidJwk(m.into())
}

fn opt_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JoseError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("\"{name}\" must be a string"))),
    }
}

fn req_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, JoseError> {
    opt_str(obj, name)?.ok_or_else(|| invalid(format!("\"{name}\" is missing")))
}

/// base64url (RFC 7515 §2); trailing padding, which some producers add
/// against the spec, is tolerated.
fn b64url(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JoseError> {
    let s = req_str(obj, name)?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| invalid(format!("\"{name}\" is not base64url")))
}

impl PublicKey {
    pub(crate) fn from_parts(kid: Option<String>, alg: Option<Alg>, material: Material) -> Self {
        Self {
            kid,
            alg,
            material,
            x5t: None,
            x5t_s256: None,
        }
    }

    /// A JWK (RFC 7517 §4): kty EC (P-256, P-384), RSA (2048 to 8192 bits)
    /// or OKP (Ed25519, RFC 8037). Refused: private members, `oct` keys,
    /// `use` other than `sig` (§4.2), `key_ops` without `verify` (§4.3), an
    /// `alg` that does not fit the key type (§4.4), an `x5c` whose first
    /// certificate holds another key (§4.7) or that disagrees with `x5t`.
    pub fn from_jwk(v: &Value) -> Result<Self, JoseError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("a JWK is a JSON object"))?;
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(invalid(format!(
                "the JWK carries the private member \"{m}\": publish only the public key"
            )));
        }
        let kty = req_str(obj, "kty")?;
        if kty == "oct" {
            return Err(invalid(
                "a symmetric (oct) key never belongs in a public key set",
            ));
        }
        if let Some(u) = opt_str(obj, "use")?
            && u != "sig"
        {
            return Err(JoseError::UnsupportedKey(
                "the key's use is not \"sig\"".into(),
            ));
        }
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops
                .as_array()
                .ok_or_else(|| invalid("\"key_ops\" must be an array"))?;
            if !ops.iter().any(|o| o == "verify") {
                return Err(JoseError::UnsupportedKey(
                    "the key's key_ops do not include \"verify\"".into(),
                ));
            }
        }
        let alg = match opt_str(obj, "alg")? {
            None => None,
            Some(a) => Some(Alg::parse(a).ok_or_else(|| {
                JoseError::UnsupportedKey("the key's alg is not a supported JWS algorithm".into())
            })?),
        };
        let material = match kty {
            "EC" => {
                let curve = match req_str(obj, "crv")? {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    _ => {
                        return Err(JoseError::UnsupportedKey(
                            "EC curves other than P-256 and P-384".into(),
                        ));
                    }
                };
                let (x, y) = (b64url(obj, "x")?, b64url(obj, "y")?);
                let l = curve.coordinate_len();
                if x.len() != l || y.len() != l {
                    return Err(invalid(format!(
                        "{} coordinates are {l} bytes (RFC 7518 §6.2.1.2)",
                        curve.name()
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * l);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Ec { curve, point }
            }
            "RSA" => Material::rsa(&b64url(obj, "n")?, &b64url(obj, "e")?),
            "OKP" => match req_str(obj, "crv")? {
                "Ed25519" => Material::Ed25519 {
                    x: b64url(obj, "x")?,
                },
                _ => {
                    return Err(JoseError::UnsupportedKey(
                        "OKP curves other than Ed25519".into(),
                    ));
                }
            },
            _ => {
                return Err(JoseError::UnsupportedKey(
                    "key types other than EC, RSA and OKP".into(),
                ));
            }
        };
        material.validate()?;
        if let Some(a) = alg
            && !material.algorithms().contains(&a)
        {
            return Err(invalid(format!(
                "alg {a} does not fit a {} key",
                material.kty()
            )));
        }
        let mut key = Self::from_parts(opt_str(obj, "kid")?.map(str::to_owned), alg, material);
        let x5t = opt_str(obj, "x5t")?.map(str::to_owned);
        let x5t_s256 = opt_str(obj, "x5t#S256")?.map(str::to_owned);
        if let Some(chain) = obj.get("x5c") {
            // RFC 7517 §4.7: standard base64 (not base64url) DER certificates.
            let first = chain
                .as_array()
                .and_then(|c| c.first())
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("\"x5c\" must be a non-empty array of strings"))?;
            let der = STANDARD
                .decode(first)
                .map_err(|_| invalid("\"x5c\" holds a value that is not base64"))?;
            let (cert_key, sha1, sha256) = x509::certificate_material(&der)?;
            if cert_key != key.material {
                return Err(invalid(
                    "the key in the first x5c certificate is not the JWK's key",
                ));
            }
            if x5t.as_ref().is_some_and(|t| *t != sha1)
                || x5t_s256.as_ref().is_some_and(|t| *t != sha256)
            {
                return Err(invalid("x5t does not match the first x5c certificate"));
            }
            key.x5t = Some(sha1);
            key.x5t_s256 = Some(sha256);
        } else {
            key.x5t = x5t;
            key.x5t_s256 = x5t_s256;
        }
        Ok(key)
    }

    /// A DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, JoseError> {
        Ok(Self::from_parts(None, None, x509::spki_material(der)?))
    }

    /// A DER X.509 certificate; its thumbprints become the key's `x5t` and
    /// `x5t#S256`. The certificate's validity and chain are not checked:
    /// it is a container for a key that was registered out of band.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, JoseError> {
        let (material, sha1, sha256) = x509::certificate_material(der)?;
        let mut k = Self::from_parts(None, None, material);
        k.x5t = Some(sha1);
        k.x5t_s256 = Some(sha256);
        Ok(k)
    }

    /// PEM `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE`
    /// (the first one of a chain).
    pub fn from_pem(pem_text: &str) -> Result<Self, JoseError> {
        let block = pem::decode_one(pem_text)?;
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.der),
            "CERTIFICATE" => Self::from_certificate_der(&block.der),
            "RSA PUBLIC KEY" => {
                let k = aws_lc_rs::signature::RsaSubjectPublicKey::from_der(&block.der)
                    .map_err(|_| JoseError::Key("not a PKCS#1 RSA public key".into()))?;
                let c = aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(&k);
                let m = Material::rsa(&c.n, &c.e);
                m.validate()?;
                Ok(Self::from_parts(None, None, m))
            }
            other => Err(JoseError::Pem(format!(
                "a {other} block is not a public key"
            ))),
        }
    }

    /// Sets the kid (keys from PEM have none).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Narrows the key to one algorithm, which must fit its type.
    pub fn with_alg(mut self, alg: Alg) -> Result<Self, JoseError> {
        if !self.material.algorithms().contains(&alg) {
            return Err(invalid(format!(
                "alg {alg} does not fit a {} key",
                self.material.kty()
            )));
        }
        self.alg = Some(alg);
        Ok(self)
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `alg` the key was declared with, if any.
    pub fn declared_alg(&self) -> Option<Alg> {
        self.alg
    }

    /// `EC`, `RSA` or `OKP`.
    pub fn kty(&self) -> &'static str {
        self.material.kty()
    }

    /// base64url SHA-1 of the key's certificate, if known.
    pub fn x5t(&self) -> Option<&str> {
        self.x5t.as_deref()
    }

    /// base64url SHA-256 of the key's certificate, if known.
    pub fn x5t_s256(&self) -> Option<&str> {
        self.x5t_s256.as_deref()
    }

    /// The algorithms this key may verify: EC P-256 → ES256, P-384 → ES384,
    /// RSA → RS256..PS512, Ed25519 → EdDSA; narrowed to the declared `alg`
    /// (RFC 7517 §4.4, RFC 8725 §3.1). Never an HMAC algorithm.
    pub fn algorithms(&self) -> Vec<Alg> {
        match self.alg {
            Some(a) => vec![a],
            None => self.material.algorithms(),
        }
    }

    /// RFC 7638 thumbprint of the key.
    pub fn thumbprint(&self) -> String {
        self.material.thumbprint()
    }

    /// The key as a public JWK, with `kid`, `alg`, `x5t` and `x5t#S256` when known.
    pub fn to_jwk(&self) -> Value {
        let mut m = self.material.jwk_members();
        m.insert("use".into(), Value::from("sig"));
        if let Some(k) = &self.kid {
            m.insert("kid".into(), Value::from(k.as_str()));
        }
        if let Some(a) = self.alg {
            m.insert("alg".into(), Value::from(a.as_str()));
        }
        if let Some(t) = &self.x5t {
            m.insert("x5t".into(), Value::from(t.as_str()));
        }
        if let Some(t) = &self.x5t_s256 {
            m.insert("x5t#S256".into(), Value::from(t.as_str()));
        }
        Value::Object(m)
    }

    /// Checks a signature; false when `alg` is not one of [`Self::algorithms`].
    pub(crate) fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        self.algorithms().contains(&alg) && self.material.verify(alg, msg, sig)
    }
}

/// The public keys of one party (RFC 7517 §5), never empty.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<PublicKey>,
}

impl JwkSet {
    /// `{"keys": [...]}`. Keys unusable for signatures (`use: enc`, unknown
    /// kty, crv or alg, RSA below 2048 bits) are skipped, as RFC 7517 §5
    /// asks of members a reader does not understand; a key that is malformed
    /// or must never be published (private members, `oct`) fails the whole
    /// set. At most [`MAX_KEYS`] keys; an empty result is an error.
    pub fn parse(v: &Value) -> Result<Self, JoseError> {
        let keys = v
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("a JWK Set is an object with a \"keys\" array"))?;
        if keys.len() > MAX_KEYS {
            return Err(invalid(format!(
                "a JWK Set may hold at most {MAX_KEYS} keys"
            )));
        }
        let mut out = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            match PublicKey::from_jwk(k) {
                Ok(k) => out.push(k),
                Err(JoseError::UnsupportedKey(_) | JoseError::WeakKey(_)) => {}
                Err(JoseError::InvalidJwk(m)) => return Err(invalid(format!("keys[{i}]: {m}"))),
                Err(e) => return Err(invalid(format!("keys[{i}]: {e}"))),
            }
        }
        if out.is_empty() {
            return Err(invalid("the JWK Set has no key usable for signatures"));
        }
        Ok(Self { keys: out })
    }

    pub fn from_keys(keys: Vec<PublicKey>) -> Self {
        Self { keys }
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// The set as a JWK Set document.
    pub fn to_value(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().map(PublicKey::to_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
#[path = "jwk_tests.rs"]
pub(crate) mod tests;
