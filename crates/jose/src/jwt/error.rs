use thiserror::Error;

use crate::Alg;

/// Why a JWT was refused. Every text is safe to send as an OAuth
/// `error_description` (RFC 6749 §5.2): it may name what was expected, and
/// names the token's own values only when they are one of our [`Alg`]s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwtError {
    #[error("the JWT is larger than 16 KiB")]
    TooLarge,
    #[error("the JWT is malformed: {0}")]
    Malformed(&'static str),
    #[error("alg none is not accepted")]
    AlgNone,
    #[error("the JWT's alg is not a supported signature algorithm")]
    UnsupportedAlg,
    #[error("the JWT's alg {0} is not accepted here")]
    AlgNotAllowed(Alg),
    #[error("the JWT has a crit header, and no JWS extension is supported")]
    Crit,
    #[error("the JWT's b64 header (RFC 7797) is not supported")]
    B64,
    #[error("the JWT's kid is not among the keys registered for the issuer")]
    UnknownKid,
    #[error("no key registered for the issuer can verify alg {0}")]
    NoKeyForAlg(Alg),
    #[error("the key named by the JWT's kid does not accept alg {0}")]
    KeyAlgMismatch(Alg),
    #[error("an HMAC-signed JWT cannot be verified with public keys")]
    HmacWithPublicKey,
    #[error("only HMAC algorithms are accepted with a shared secret")]
    SecretNeedsHmac,
    #[error("the x5t header does not match the certificate of the key")]
    X5tMismatch,
    #[error("the JWT's signature is invalid")]
    BadSignature,
    #[error("the JWT's payload is not a JSON object")]
    PayloadNotObject,
    #[error("the JWT is expired")]
    Expired,
    #[error("the JWT is not valid yet (nbf)")]
    NotYetValid,
    #[error("the JWT's iat is in the future")]
    IssuedInFuture,
    #[error("the JWT's lifetime exceeds the {0} seconds allowed")]
    LifetimeTooLong(i64),
    #[error("the JWT has no {0} claim")]
    MissingClaim(String),
    #[error("the JWT's {0} claim has the wrong type")]
    InvalidClaim(String),
    #[error("the JWT's iss is not {0}")]
    WrongIssuer(String),
    #[error("the JWT's sub is not {0}")]
    WrongSubject(String),
    #[error("the JWT's aud does not contain {0}")]
    WrongAudience(String),
}
