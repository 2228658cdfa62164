//! Signing keys. Tollgate generates an ES256 (ECDSA P-256, RFC 7518 §3.4) key
//! on first start; the private half is stored sealed under the master key, the
//! public half is published at `/oauth2/jwks` (RFC 7517).
use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{JoseError, MasterKey};

pub const ES256: &str = "ES256";

pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &ES256)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate_es256() -> Result<Self, JoseError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| JoseError::Key("EC key generation failed".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, JoseError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| JoseError::Key("not a P-256 PKCS#8 key".into()))?;
        let mut k = Self {
            kid: String::new(),
            pair,
            pkcs8: pkcs8.to_vec(),
        };
        k.kid = k.thumbprint();
        Ok(k)
    }

    /// Restores a key stored with [`SigningKey::seal`].
    pub fn unseal(
        kid: &str,
        alg: &str,
        sealed: &[u8],
        master: &MasterKey,
    ) -> Result<Self, JoseError> {
        if alg != ES256 {
            return Err(JoseError::Key(format!("unsupported algorithm {alg}")));
        }
        let pkcs8 = master.open(kid.as_bytes(), sealed)?;
        let k = Self::from_pkcs8(&pkcs8)?;
        if k.kid != kid {
            return Err(JoseError::Key("stored kid does not match the key".into()));
        }
        Ok(k)
    }

    /// The private key as PKCS#8, encrypted under the master key with the kid bound in.
    pub fn seal(&self, master: &MasterKey) -> Result<Vec<u8>, JoseError> {
        master.seal(self.kid.as_bytes(), &self.pkcs8)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> &'static str {
        ES256
    }

    fn coordinates(&self) -> (&[u8], &[u8]) {
        // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
        let p = self.pair.public_key().as_ref();
        (&p[1..33], &p[33..65])
    }

    /// RFC 7638 JWK thumbprint: base64url SHA-256 of the required members in
    /// lexicographic order. Stable across restarts, so the kid identifies the key.
    fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            B64.encode(x),
            B64.encode(y)
        );
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// The public key as a JWK (RFC 7517 §4, RFC 7518 §6.2).
    pub fn public_jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": B64.encode(x),
            "y": B64.encode(y),
            "use": "sig",
            "alg": ES256,
            "kid": self.kid,
        })
    }

    /// A compact JWS (RFC 7515 §3.1) over `claims`, with `typ` in the header.
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> Result<String, JoseError> {
        let header = json!({"alg": ES256, "typ": typ, "kid": self.kid});
        let mut input = B64.encode(header.to_string());
        input.push('.');
        input.push_str(&B64.encode(claims.to_string()));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| JoseError::Key("signing failed".into()))?;
        input.push('.');
        input.push_str(&B64.encode(sig.as_ref()));
        Ok(input)
    }
}

/// A JWK Set document (RFC 7517 §5).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Jwks {
    pub keys: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn sealed_key_restores_with_same_kid_and_jwk() {
        let master = MasterKey::from_bytes(&[5; 32]).unwrap();
        let k = SigningKey::generate_es256().unwrap();
        let sealed = k.seal(&master).unwrap();
        let back = SigningKey::unseal(k.kid(), ES256, &sealed, &master).unwrap();
        assert_eq!(back.public_jwk(), k.public_jwk());
        assert!(SigningKey::unseal("other-kid", ES256, &sealed, &master).is_err());
        let other = MasterKey::from_bytes(&[6; 32]).unwrap();
        assert!(SigningKey::unseal(k.kid(), ES256, &sealed, &other).is_err());
    }

    #[test]
    fn signature_verifies_with_the_published_jwk() {
        let k = SigningKey::generate_es256().unwrap();
        let jwt = k.sign_jwt("at+jwt", &json!({"sub": "x"})).unwrap();
        let jwk = k.public_jwk();
        let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = B64.decode(jwk["y"].as_str().unwrap()).unwrap();
        let mut point = vec![4u8];
        point.extend(x);
        point.extend(y);
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = B64.decode(sig).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(input.as_bytes(), &sig)
            .unwrap();
        let header: Value =
            serde_json::from_slice(&B64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["kid"], k.kid());
        assert_eq!(header["typ"], "at+jwt");
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let k = SigningKey::generate_es256().unwrap();
        let d = format!("{k:?}");
        assert!(d.contains(k.kid()) && !d.contains("pkcs8"));
    }
}
