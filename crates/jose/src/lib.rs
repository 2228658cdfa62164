//! Tollgate's cryptography, in one place: random token values and their
//! hashes, client-secret and password hashing, the master key that encrypts
//! secrets at rest, and signing keys with their JWKS.
//!
//! Every primitive comes from aws-lc-rs (the same provider rustls uses), plus
//! Argon2id from RustCrypto for human-chosen secrets.
#![forbid(unsafe_code)]

mod error;
pub mod keys;
pub mod master;
pub mod secrets;

pub use error::JoseError;
pub use keys::{Jwks, SigningKey};
pub use master::MasterKey;
