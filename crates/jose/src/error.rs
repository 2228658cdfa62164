use thiserror::Error;

/// Errors of key handling. JWT verification has its own [`crate::JwtError`],
/// whose texts are made to be shown to a client.
#[derive(Debug, Error)]
pub enum JoseError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("key material does not decrypt (wrong master key or tampered data)")]
    Decrypt,
    #[error("key: {0}")]
    Key(String),
    #[error("random number generator failed")]
    Rng,
    #[error("password hashing failed")]
    PasswordHash,
    /// A JWK that is malformed or must not be accepted (private members, a
    /// symmetric key, an `alg` that does not fit the key type).
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    /// A well-formed key that Tollgate cannot use for signatures (another
    /// curve or key type, `use: enc`); a JWK Set skips these.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A key too small to be safe (RSA below 2048 bits, RFC 7518 §3.3).
    #[error("key too weak: {0}")]
    WeakKey(String),
    #[error("PEM: {0}")]
    Pem(String),
    /// A PKCS#12 keystore that cannot be opened (wrong password, no such
    /// alias) or a certificate that does not belong to its key.
    #[error("keystore: {0}")]
    Keystore(String),
}
