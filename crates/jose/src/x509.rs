//! Certificate thumbprints (RFC 7515 §4.1.7-4.1.8) and public keys taken from
//! SubjectPublicKeyInfo structures and X.509 certificates (RFC 5280 §4.1).
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as X509PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::JoseError;
use crate::material::{Curve, Material};

/// `x5t`: base64url SHA-1 of the DER certificate (RFC 7515 §4.1.7). SHA-1 is
/// only a name for the certificate here, not a security property.
pub fn x5t(cert_der: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der))
}

/// `x5t#S256`: base64url SHA-256 of the DER certificate (RFC 7515 §4.1.8).
pub fn x5t_s256(cert_der: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA256, cert_der))
}

/// The key in a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
pub(crate) fn spki_material(der: &[u8]) -> Result<Material, JoseError> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| JoseError::Key("not a DER SubjectPublicKeyInfo".into()))?;
    if !rest.is_empty() {
        return Err(JoseError::Key(
            "trailing data after the SubjectPublicKeyInfo".into(),
        ));
    }
    material_of(&spki)
}

/// The key and the two thumbprints of a DER X.509 certificate.
pub(crate) fn certificate_material(der: &[u8]) -> Result<(Material, String, String), JoseError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| JoseError::Key("not a DER X.509 certificate".into()))?;
    if !rest.is_empty() {
        return Err(JoseError::Key("trailing data after the certificate".into()));
    }
    let m = material_of(cert.public_key())?;
    Ok((m, x5t(der), x5t_s256(der)))
}

fn material_of(spki: &SubjectPublicKeyInfo<'_>) -> Result<Material, JoseError> {
    let oid = &spki.algorithm.algorithm;
    let m = if *oid == OID_PKCS1_RSAENCRYPTION {
        match spki.parsed() {
            Ok(X509PublicKey::RSA(k)) => Material::rsa(k.modulus, k.exponent),
            _ => return Err(JoseError::Key("malformed RSA public key".into())),
        }
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| JoseError::Key("EC key without a named curve".into()))?;
        let curve = if curve_oid == OID_EC_P256 {
            Curve::P256
        } else if curve_oid == OID_NIST_EC_P384 {
            Curve::P384
        } else {
            return Err(JoseError::UnsupportedKey(
                "EC curves other than P-256 and P-384".into(),
            ));
        };
        Material::Ec {
            curve,
            point: spki.subject_public_key.data.to_vec(),
        }
    } else if *oid == OID_SIG_ED25519 {
        Material::Ed25519 {
            x: spki.subject_public_key.data.to_vec(),
        }
    } else {
        return Err(JoseError::UnsupportedKey(
            "key types other than RSA, EC and Ed25519".into(),
        ));
    };
    m.validate()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_base64url_digests() {
        // SHA-1("abc") = a9993e36...; SHA-256("abc") = ba7816bf... (FIPS 180-2).
        assert_eq!(x5t(b"abc"), "qZk-NkcGgWq6PiVxeFDCbJzQ2J0");
        assert_eq!(
            x5t_s256(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(spki_material(b"").is_err());
        assert!(spki_material(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(certificate_material(&[0x30; 40]).is_err());
    }
}
