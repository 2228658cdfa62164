//! Signing keys. Tollgate generates an ES256 (ECDSA P-256, RFC 7518 §3.4) key
//! on first start, and can generate EdDSA (RFC 8037), RS256 and PS256 (RFC
//! 7518 §3.3, §3.5) keys; operators and connections may bring their own key
//! as PEM. The private half is stored sealed under the master key, the public
//! half is published at `/oauth2/jwks` (RFC 7517).
use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::material::{Curve, Material, RSA_MIN_BITS};
use crate::{Alg, JoseError, MasterKey, PublicKey, jws, pem};

mod hmac;

pub(crate) use hmac::hmac_algorithm;
pub use hmac::sign_hmac;

pub const ES256: &str = "ES256";

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// The key types a PEM private key can hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyType {
    P256,
    P384,
    Rsa,
    Ed25519,
}

impl KeyType {
    fn default_alg(self) -> Alg {
        match self {
            KeyType::P256 => Alg::ES256,
            KeyType::P384 => Alg::ES384,
            KeyType::Rsa => Alg::RS256,
            KeyType::Ed25519 => Alg::EdDSA,
        }
    }

    fn of(alg: Alg) -> Option<KeyType> {
        match alg {
            Alg::ES256 => Some(KeyType::P256),
            Alg::ES384 => Some(KeyType::P384),
            Alg::EdDSA => Some(KeyType::Ed25519),
            a if a.is_rsa() => Some(KeyType::Rsa),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyType::P256 => "an EC P-256",
            KeyType::P384 => "an EC P-384",
            KeyType::Rsa => "an RSA",
            KeyType::Ed25519 => "an Ed25519",
        }
    }
}

fn ecdsa_signing(t: KeyType) -> &'static EcdsaSigningAlgorithm {
    match t {
        KeyType::P384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

fn key_err(what: &str) -> JoseError {
    JoseError::Key(what.to_owned())
}

pub struct SigningKey {
    kid: String,
    alg: Alg,
    pair: Pair,
    pkcs8: Vec<u8>,
    public: Material,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg.as_str())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate_es256() -> Result<Self, JoseError> {
        Self::generate(Alg::ES256)
    }

    /// A fresh key for one of [`Alg::SIGNING`]: P-256 for ES256, Ed25519 for
    /// EdDSA, RSA 2048 for RS256 and PS256 (the algorithm stays fixed per
    /// key, RFC 8725 §3.1).
    pub fn generate(alg: Alg) -> Result<Self, JoseError> {
        let rng = SystemRandom::new();
        let pkcs8: Vec<u8> = match alg {
            Alg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| key_err("EC key generation failed"))?
                .as_ref()
                .to_vec(),
            Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| key_err("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec(),
            Alg::RS256 | Alg::PS256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| key_err("RSA key generation failed"))?;
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair)
                    .map_err(|_| key_err("RSA key encoding failed"))?
                    .as_ref()
                    .to_vec()
            }
            other => {
                return Err(JoseError::UnsupportedKey(format!(
                    "Tollgate does not generate {other} keys"
                )));
            }
        };
        Self::from_pkcs8(alg, &pkcs8)
    }

    /// Loads an unencrypted PKCS#8 key (RFC 5958) for `alg`.
    fn from_pkcs8(alg: Alg, pkcs8: &[u8]) -> Result<Self, JoseError> {
        let kt = KeyType::of(alg)
            .ok_or_else(|| JoseError::UnsupportedKey(format!("{alg} is not a signature key")))?;
        let (pair, public) = match kt {
            KeyType::P256 | KeyType::P384 => {
                let pair = EcdsaKeyPair::from_pkcs8(ecdsa_signing(kt), pkcs8)
                    .map_err(|_| key_err(&format!("not {} PKCS#8 key", kt.name())))?;
                let curve = if kt == KeyType::P256 {
                    Curve::P256
                } else {
                    Curve::P384
                };
                let point = pair.public_key().as_ref().to_vec();
                (Pair::Ec(pair), Material::Ec { curve, point })
            }
            KeyType::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|_| key_err("not an Ed25519 PKCS#8 key"))?;
                let x = pair.public_key().as_ref().to_vec();
                (Pair::Ed(pair), Material::Ed25519 { x })
            }
            KeyType::Rsa => {
                let pair =
                    RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| key_err("not an RSA PKCS#8 key"))?;
                if pair.public_modulus_len() * 8 < RSA_MIN_BITS {
                    return Err(JoseError::WeakKey(format!(
                        "RSA keys must have at least {RSA_MIN_BITS} bits"
                    )));
                }
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                (Pair::Rsa(pair), Material::rsa(&c.n, &c.e))
            }
        };
        Ok(Self {
            kid: public.thumbprint(),
            alg,
            pair,
            pkcs8: pkcs8.to_vec(),
            public,
        })
    }

    /// A private key from PEM (RFC 7468): PKCS#8 `PRIVATE KEY` (EC P-256 or
    /// P-384, RSA, Ed25519), SEC1 `EC PRIVATE KEY` (RFC 5915) or PKCS#1
    /// `RSA PRIVATE KEY` (RFC 8017 appendix A.1.2). `alg` defaults by key
    /// type (P-256 → ES256, P-384 → ES384, RSA → RS256, Ed25519 → EdDSA); an
    /// `alg` that does not fit the key is an error.
    pub fn from_pem(pem_text: &str, alg: Option<Alg>) -> Result<Self, JoseError> {
        let block = pem::decode_one(pem_text)?;
        let (kt, pkcs8) = match block.label.as_str() {
            "PRIVATE KEY" => (pkcs8_key_type(&block.der)?, block.der),
            "EC PRIVATE KEY" => {
                let (kt, pair) = [KeyType::P256, KeyType::P384]
                    .into_iter()
                    .find_map(|kt| {
                        EcdsaKeyPair::from_private_key_der(ecdsa_signing(kt), &block.der)
                            .ok()
                            .map(|p| (kt, p))
                    })
                    .ok_or_else(|| key_err("not a P-256 or P-384 SEC1 EC private key"))?;
                let doc = pair
                    .to_pkcs8v1()
                    .map_err(|_| key_err("EC key encoding failed"))?;
                (kt, doc.as_ref().to_vec())
            }
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(&block.der)
                    .map_err(|_| key_err("not a PKCS#1 RSA private key of 2048 to 8192 bits"))?;
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair)
                    .map_err(|_| key_err("RSA key encoding failed"))?;
                (KeyType::Rsa, der.as_ref().to_vec())
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(JoseError::Pem(
                    "encrypted private keys are not supported: decrypt it first \
                     (openssl pkcs8 -topk8 -nocrypt)"
                        .into(),
                ));
            }
            other => {
                return Err(JoseError::Pem(format!(
                    "a {other} block is not a private key"
                )));
            }
        };
        Self::with_default_alg(kt, alg, &pkcs8)
    }

    /// A private key from DER PKCS#8 (as a PKCS#12 keystore holds it); `alg`
    /// as for [`SigningKey::from_pem`].
    pub fn from_pkcs8_der(der: &[u8], alg: Option<Alg>) -> Result<Self, JoseError> {
        Self::with_default_alg(pkcs8_key_type(der)?, alg, der)
    }

    fn with_default_alg(kt: KeyType, alg: Option<Alg>, pkcs8: &[u8]) -> Result<Self, JoseError> {
        let alg = alg.unwrap_or(kt.default_alg());
        if KeyType::of(alg) != Some(kt) {
            return Err(JoseError::Key(format!(
                "{alg} cannot be used with {} key",
                kt.name()
            )));
        }
        Self::from_pkcs8(alg, pkcs8)
    }

    /// Replaces the kid (the RFC 7638 thumbprint by default), e.g. for a key
    /// a user registered under a name a provider expects.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// Restores a key stored with [`SigningKey::seal`]. The kid is bound to
    /// the sealed blob as associated data, so a blob only opens under the
    /// kid it was sealed with; a kid other than the thumbprint (set with
    /// [`SigningKey::with_kid`]) is kept.
    pub fn unseal(
        kid: &str,
        alg: &str,
        sealed: &[u8],
        master: &MasterKey,
    ) -> Result<Self, JoseError> {
        let alg = Alg::parse(alg)
            .ok_or_else(|| JoseError::UnsupportedKey(format!("unsupported algorithm {alg}")))?;
        let pkcs8 = master.open(kid.as_bytes(), sealed)?;
        let k = Self::from_pkcs8(alg, &pkcs8)?;
        Ok(if k.kid == kid { k } else { k.with_kid(kid) })
    }

    /// The private key as PKCS#8, encrypted under the master key with the kid bound in.
    pub fn seal(&self, master: &MasterKey) -> Result<Vec<u8>, JoseError> {
        master.seal(self.kid.as_bytes(), &self.pkcs8)
    }

    /// The private key as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    /// For tests and for the CLI that writes demo keys; never log it.
    pub fn to_pkcs8_pem(&self) -> String {
        pem::encode("PRIVATE KEY", &self.pkcs8)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> &'static str {
        self.alg.as_str()
    }

    pub fn algorithm(&self) -> Alg {
        self.alg
    }

    /// The RFC 7638 thumbprint of the public key, whatever the kid is.
    pub fn thumbprint(&self) -> String {
        self.public.thumbprint()
    }

    /// The public key as a JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2),
    /// with `use`, `alg` and `kid`.
    pub fn public_jwk(&self) -> Value {
        let mut m = self.public.jwk_members();
        m.insert("use".into(), Value::from("sig"));
        m.insert("alg".into(), Value::from(self.alg.as_str()));
        m.insert("kid".into(), Value::from(self.kid.as_str()));
        Value::Object(m)
    }

    /// The public half as a verifier, bound to this key's kid and alg.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_parts(Some(self.kid.clone()), Some(self.alg), self.public.clone())
    }

    /// A compact JWS (RFC 7515 §3.1) over `claims`, with `typ` in the header.
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> Result<String, JoseError> {
        let mut header = Map::new();
        header.insert("typ".into(), Value::from(typ));
        self.sign_jwt_with(&header, claims)
    }

    /// A compact JWS with the given header members (`typ`, `x5t`,
    /// `x5t#S256`, …); `alg` and `kid` always come from the key, whatever the
    /// header says, so a caller cannot make a token lie about its algorithm.
    pub fn sign_jwt_with(
        &self,
        header: &Map<String, Value>,
        claims: &Value,
    ) -> Result<String, JoseError> {
        let mut h = header.clone();
        h.insert("alg".into(), Value::from(self.alg.as_str()));
        h.insert("kid".into(), Value::from(self.kid.as_str()));
        jws::compose(&h, claims, |input| self.sign(input))
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = || key_err("signing failed");
        match &self.pair {
            Pair::Ec(p) => p
                .sign(&SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            Pair::Ed(p) => Ok(p.sign(input).as_ref().to_vec()),
            Pair::Rsa(p) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Alg::RS256 => &signature::RSA_PKCS1_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(failed()),
                };
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(padding, &SystemRandom::new(), input, &mut sig)
                    .map_err(|_| failed())?;
                Ok(sig)
            }
        }
    }
}

/// Which key a PKCS#8 document holds.
fn pkcs8_key_type(der: &[u8]) -> Result<KeyType, JoseError> {
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).is_ok() {
        Ok(KeyType::P256)
    } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der).is_ok() {
        Ok(KeyType::P384)
    } else if Ed25519KeyPair::from_pkcs8(der).is_ok() {
        Ok(KeyType::Ed25519)
    } else if RsaKeyPair::from_pkcs8(der).is_ok() {
        Ok(KeyType::Rsa)
    } else {
        Err(key_err(
            "not a PKCS#8 EC (P-256, P-384), RSA (2048 to 8192 bits) or Ed25519 private key",
        ))
    }
}

/// A JWK Set document (RFC 7517 §5).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Jwks {
    pub keys: Vec<Value>,
}

#[cfg(test)]
mod tests;
