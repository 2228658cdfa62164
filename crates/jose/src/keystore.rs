//! A signing key with the X.509 certificate chain that names it, from PEM
//! files or from a PKCS#12 keystore (password, alias): what a connection
//! signs its JWT assertions with, and whose certificate thumbprint goes in
//! the `x5t` / `x5t#S256` header (RFC 7515 §4.1.7-4.1.8).
use std::fmt;

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};

use crate::{Alg, JoseError, PublicKey, SigningKey, pem, x5t, x5t_s256};

/// Keystores larger than this are refused before parsing (a real one with a
/// long chain is a few KiB).
const MAX_KEYSTORE: usize = 1024 * 1024;

/// A private key and its certificate chain (DER, leaf first; may be empty
/// when only a key was given). The leaf, when present, is checked to carry
/// the key's public half.
pub struct KeyWithChain {
    pub key: SigningKey,
    chain: Vec<Vec<u8>>,
}

impl fmt::Debug for KeyWithChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyWithChain")
            .field("kid", &self.key.kid())
            .field("alg", &self.key.alg())
            .field("certificates", &self.chain.len())
            .finish()
    }
}

fn keystore_err(msg: impl Into<String>) -> JoseError {
    JoseError::Keystore(msg.into())
}

impl KeyWithChain {
    /// `key_pem`: a private key (see [`SigningKey::from_pem`]); `certs_pem`:
    /// optionally its certificate, then the rest of the chain.
    pub fn from_pem(
        key_pem: &str,
        certs_pem: Option<&str>,
        alg: Option<Alg>,
    ) -> Result<Self, JoseError> {
        let key = SigningKey::from_pem(key_pem, alg)?;
        let chain = match certs_pem {
            None => Vec::new(),
            Some(text) => {
                let chain: Vec<Vec<u8>> = pem::decode_all(text)?
                    .into_iter()
                    .filter(|b| b.label == "CERTIFICATE")
                    .map(|b| b.der)
                    .collect();
                if chain.is_empty() {
                    return Err(JoseError::Pem(
                        "the certificate file holds no CERTIFICATE block".into(),
                    ));
                }
                chain
            }
        };
        Self::checked(key, chain)
    }

    /// The key entry `alias` of a PKCS#12 keystore (`.p12` / `.pfx`), or its
    /// only key entry when `alias` is `None`.
    pub fn from_pkcs12(
        data: &[u8],
        password: &str,
        alias: Option<&str>,
        alg: Option<Alg>,
    ) -> Result<Self, JoseError> {
        if data.len() > MAX_KEYSTORE {
            return Err(keystore_err("the keystore file is too large"));
        }
        let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed).map_err(
            |e| match e {
                p12_keystore::error::Error::MacError(_) => keystore_err(
                    "the keystore password is wrong (the keystore's integrity check failed)",
                ),
                _ => keystore_err(format!(
                    "not a PKCS#12 keystore this server can read, or the password is wrong ({e})"
                )),
            },
        )?;
        let keys: Vec<(&String, &p12_keystore::PrivateKeyChain)> = store
            .entries()
            .filter_map(|(name, e)| match e {
                KeyStoreEntry::PrivateKeyChain(c) => Some((name, c)),
                _ => None,
            })
            .collect();
        let names = || {
            keys.iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (_, chain) = match alias {
            // keytool lower-cases aliases; people type them as they like.
            Some(a) => keys
                .iter()
                .find(|(n, _)| n.as_str() == a)
                .or_else(|| {
                    let mut same = keys.iter().filter(|(n, _)| n.eq_ignore_ascii_case(a));
                    match (same.next(), same.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                })
                .ok_or_else(|| {
                    if keys.is_empty() {
                        keystore_err(format!(
                            "alias '{a}' not found: the keystore holds no private key"
                        ))
                    } else {
                        keystore_err(format!(
                            "alias '{a}' not found; the keystore's key entries are {}",
                            names()
                        ))
                    }
                })?,
            None => match keys.as_slice() {
                [one] => one,
                [] => return Err(keystore_err("the keystore holds no private key")),
                _ => {
                    return Err(keystore_err(format!(
                        "the keystore holds several keys ({}); name one with its alias",
                        names()
                    )));
                }
            },
        };
        let key = SigningKey::from_pkcs8_der(chain.key().as_der(), alg)?;
        let certs = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
        Self::checked(key, certs)
    }

    fn checked(key: SigningKey, chain: Vec<Vec<u8>>) -> Result<Self, JoseError> {
        if let Some(leaf) = chain.first() {
            let named = PublicKey::from_certificate_der(leaf)?;
            if named.thumbprint() != key.thumbprint() {
                return Err(keystore_err(
                    "the certificate does not belong to the private key (its public key differs)",
                ));
            }
        }
        Ok(Self { key, chain })
    }

    /// The certificate chain, DER, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// `x5t` of the leaf certificate (base64url SHA-1), when there is one.
    pub fn x5t(&self) -> Option<String> {
        self.chain.first().map(|c| x5t(c))
    }

    /// `x5t#S256` of the leaf certificate (base64url SHA-256).
    pub fn x5t_s256(&self) -> Option<String> {
        self.chain.first().map(|c| x5t_s256(c))
    }

    /// The key as PKCS#8 PEM and the chain as PEM, to be stored (sealed)
    /// and read back with [`KeyWithChain::from_pem`].
    pub fn to_pem(&self) -> (String, Option<String>) {
        let certs = (!self.chain.is_empty()).then(|| {
            self.chain
                .iter()
                .map(|c| pem::encode("CERTIFICATE", c))
                .collect::<String>()
        });
        (self.key.to_pkcs8_pem(), certs)
    }
}

#[cfg(test)]
mod tests;
