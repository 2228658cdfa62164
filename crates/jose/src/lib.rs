//! Tollgate's cryptography, in one place: random token values and their
//! hashes, client-secret and password hashing, the master key that encrypts
//! secrets at rest, signing keys with their JWKS, and JWT verification.
//!
//! Every primitive comes from aws-lc-rs (the same provider rustls uses), plus
//! Argon2id from RustCrypto for human-chosen secrets. JWS is hand-rolled so
//! that algorithm binding (RFC 8725 §3.1) stays under our control.
#![forbid(unsafe_code)]

pub mod alg;
mod error;
pub mod jwk;
mod jws;
pub mod jwt;
pub mod keys;
pub mod keystore;
pub mod master;
mod material;
mod pem;
pub mod secrets;
pub mod x509;

pub use alg::Alg;
pub use error::JoseError;
pub use jwk::{JwkSet, PublicKey};
pub use jwt::{
    ClaimRules, Claims, Header, JwtError, Verifier, check_claims, decode_header, verify,
};
pub use keys::{Jwks, SigningKey, sign_hmac};
pub use keystore::KeyWithChain;
pub use master::MasterKey;
pub use x509::{x5t, x5t_s256};
