use thiserror::Error;

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
}
