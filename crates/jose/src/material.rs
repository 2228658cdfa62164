//! Public key material shared by signing keys (which publish it) and public
//! keys (which verify with it): its JWK members (RFC 7518 §6, RFC 8037 §2),
//! its RFC 7638 thumbprint and the signature check per algorithm.
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::{Alg, JoseError};

/// RSA moduli below this are refused (RFC 7518 §3.3: "A key of size 2048
/// bits or larger MUST be used"); above it aws-lc-rs refuses to verify.
pub(crate) const RSA_MIN_BITS: usize = 2048;
pub(crate) const RSA_MAX_BITS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        }
    }
}

/// A public key. Integers are big-endian without leading zeros, EC points
/// uncompressed SEC1 (`0x04 || x || y`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Material {
    Ec { curve: Curve, point: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

impl Material {
    pub fn rsa(n: &[u8], e: &[u8]) -> Material {
        Material::Rsa {
            n: strip_zeros(n),
            e: strip_zeros(e),
        }
    }

    pub fn kty(&self) -> &'static str {
        match self {
            Material::Ec { .. } => "EC",
            Material::Rsa { .. } => "RSA",
            Material::Ed25519 { .. } => "OKP",
        }
    }

    /// What this kind of key can verify (RFC 7518 §3.1, RFC 8037 §3.1). An
    /// EC key verifies exactly the algorithm of its curve (RFC 7518 §3.4).
    pub fn algorithms(&self) -> Vec<Alg> {
        match self {
            Material::Ec {
                curve: Curve::P256, ..
            } => vec![Alg::ES256],
            Material::Ec {
                curve: Curve::P384, ..
            } => vec![Alg::ES384],
            Material::Rsa { .. } => Alg::ALL.into_iter().filter(|a| a.is_rsa()).collect(),
            Material::Ed25519 { .. } => vec![Alg::EdDSA],
        }
    }

    fn rsa_bits(n: &[u8]) -> usize {
        match n.first() {
            Some(&b) => (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
            None => 0,
        }
    }

    /// Checks that the material is a usable public key: sizes, and that
    /// aws-lc accepts it (an EC point must lie on its curve).
    pub fn validate(&self) -> Result<(), JoseError> {
        let bad = |m: &str| Err(JoseError::InvalidJwk(m.to_owned()));
        match self {
            Material::Ec { curve, point } => {
                if point.len() != 1 + 2 * curve.coordinate_len() || point.first() != Some(&4) {
                    return bad("the EC point has the wrong length for its curve");
                }
                ParsedPublicKey::new(curve.verification(), point)
                    .map(|_| ())
                    .or_else(|_| bad("the EC point is not on the curve"))
            }
            Material::Rsa { n, e } => {
                let bits = Self::rsa_bits(n);
                if bits < RSA_MIN_BITS {
                    return Err(JoseError::WeakKey(format!(
                        "an RSA modulus of {bits} bits is below the {RSA_MIN_BITS} required"
                    )));
                }
                if bits > RSA_MAX_BITS {
                    return bad("the RSA modulus is larger than 8192 bits");
                }
                if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b & 1 == 0) {
                    return bad("the RSA exponent is not a small odd integer");
                }
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map(|_| ())
                    .or_else(|_| bad("the RSA key is invalid"))
            }
            Material::Ed25519 { x } => {
                if x.len() != signature::ED25519_PUBLIC_KEY_LEN {
                    return bad("an Ed25519 key is 32 bytes");
                }
                ParsedPublicKey::new(&signature::ED25519, x)
                    .map(|_| ())
                    .or_else(|_| bad("the Ed25519 key is invalid"))
            }
        }
    }

    /// The required members of the JWK, as base64url strings (RFC 7518
    /// §6.2.1, §6.3.1; RFC 8037 §2).
    pub fn jwk_members(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), Value::String(v));
        };
        match self {
            Material::Ec { curve, point } => {
                let l = curve.coordinate_len();
                put("kty", "EC".into());
                put("crv", curve.name().into());
                put("x", B64.encode(point.get(1..1 + l).unwrap_or_default()));
                put("y", B64.encode(point.get(1 + l..).unwrap_or_default()));
            }
            Material::Rsa { n, e } => {
                put("kty", "RSA".into());
                put("n", B64.encode(n));
                put("e", B64.encode(e));
            }
            Material::Ed25519 { x } => {
                put("kty", "OKP".into());
                put("crv", "Ed25519".into());
                put("x", B64.encode(x));
            }
        }
        m
    }

    /// RFC 7638 §3: base64url SHA-256 of the required members, in
    /// lexicographic order, without whitespace. serde_json's map is ordered
    /// by key, and the values are base64url/ASCII so need no escaping.
    pub fn thumbprint(&self) -> String {
        let canonical = Value::Object(self.jwk_members()).to_string();
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// Checks `sig` over `msg` with `alg`; false if the algorithm does not
    /// fit this key (RFC 8725 §3.1) or the signature is wrong.
    pub fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        if !self.algorithms().contains(&alg) {
            return false;
        }
        match self {
            Material::Ec { curve, point } => {
                signature::UnparsedPublicKey::new(curve.verification(), point)
                    .verify(msg, sig)
                    .is_ok()
            }
            Material::Ed25519 { x } => signature::UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(msg, sig)
                .is_ok(),
            Material::Rsa { n, e } => {
                let params: &signature::RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
        }
    }
}
