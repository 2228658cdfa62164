//! Token values and the hashes Tollgate stores instead of them.
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use tollgate_core::TokenHash;

use crate::JoseError;

pub(crate) const ALPHABET: &[u8; 62] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string of `len` characters from `A-Z a-z 0-9` (about 5.95 bits
/// each), drawn without modulo bias. Used for access and refresh tokens
/// (seed lengths 54 and 46), codes and generated ids.
pub fn random_token(len: usize) -> Result<String, JoseError> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf).map_err(|_| JoseError::Rng)?;
        for &b in &buf {
            // 248 = 4 * 62: bytes at or above it would bias the first letters.
            if b < 248 {
                out.push(ALPHABET[(b % 62) as usize] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// 32 random bytes, for keys and Tollgate-generated client secrets (256 bits).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], JoseError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| JoseError::Rng)?;
    Ok(b)
}

/// SHA-256 of a token value: the form in which tokens, codes and registration
/// tokens are stored and looked up.
pub fn token_hash(value: &str) -> TokenHash {
    let d = digest::digest(&digest::SHA256, value.as_bytes());
    let mut h = [0u8; 32];
    h.copy_from_slice(d.as_ref());
    TokenHash(h)
}

/// Hashes a secret a person chose (a user password, or a client secret set
/// by hand) with Argon2id and a random salt, as a PHC string.
pub fn argon2_hash(secret: &str) -> Result<String, JoseError> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| JoseError::PasswordHash)
}

/// Verifies a secret against an Argon2 PHC string (the comparison inside is
/// constant-time). A malformed stored hash verifies nothing.
pub fn argon2_verify(secret: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

/// RFC 7636 §4.2 S256: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    let d = digest::digest(&digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Constant-time equality for secrets and their hashes.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_requested_length_and_alphabet() {
        for len in [1, 30, 46, 54, 200] {
            let t = random_token(len).unwrap();
            assert_eq!(t.len(), len);
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_ne!(random_token(54).unwrap(), random_token(54).unwrap());
    }

    #[test]
    fn token_hash_is_sha256() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            token_hash("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn argon2_roundtrip() {
        let h = argon2_hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(argon2_verify("correct horse", &h));
        assert!(!argon2_verify("wrong", &h));
        assert!(!argon2_verify("x", "not a phc string"));
    }
}
