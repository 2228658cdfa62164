//! The master key: encrypts private keys and third-party credentials at rest
//! and keys the hash of generated client secrets. It comes from
//! `TOLLGATE_MASTER_KEY` or from a 0600 file in the data directory, created on
//! first start.
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::JoseError;
use crate::secrets::random_bytes;

pub const ENV_VAR: &str = "TOLLGATE_MASTER_KEY";
pub const FILE_NAME: &str = "master.key";
const SEAL_VERSION: u8 = 1;

/// 32 bytes of key material and the sub-keys derived from it with HKDF, one
/// per purpose, so no key is ever used for two things.
pub struct MasterKey {
    sealing: LessSafeKey,
    secret_hmac: hmac::Key,
    rotation: hmac::Key,
    forms: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Where the key came from, for the startup log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    Environment,
    ExistingFile,
    CreatedFile,
}

impl MasterKey {
    pub fn from_bytes(ikm: &[u8; 32]) -> Result<Self, JoseError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tollgate master key v1").extract(ikm);
        let seal_okm = prk
            .expand(&[b"seal"], &aead::AES_256_GCM)
            .map_err(|_| JoseError::MasterKey("key derivation failed".into()))?;
        let sealing = LessSafeKey::new(UnboundKey::from(seal_okm));
        let hmac_okm = prk
            .expand(&[b"client-secret-hash"], hmac::HMAC_SHA256)
            .map_err(|_| JoseError::MasterKey("key derivation failed".into()))?;
        let sub_key = |label: &[u8]| {
            prk.expand(&[label], hmac::HMAC_SHA256)
                .map(hmac::Key::from)
                .map_err(|_| JoseError::MasterKey("key derivation failed".into()))
        };
        Ok(Self {
            sealing,
            secret_hmac: hmac::Key::from(hmac_okm),
            rotation: sub_key(b"refresh-rotation")?,
            forms: sub_key(b"form-tokens")?,
        })
    }

    /// Parses the key as given in the environment: 32 bytes in base64
    /// (standard or URL-safe, padded or not) or 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, JoseError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|e| e.decode(text).ok())
        };
        let arr: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            JoseError::MasterKey(
                "must be 32 bytes, as base64 or 64 hex digits (e.g. `openssl rand -base64 32`)"
                    .into(),
            )
        })?;
        Self::from_bytes(&arr)
    }

    /// `TOLLGATE_MASTER_KEY` if set, else `<data_dir>/master.key`, created
    /// with mode 0600 when missing. Creation is atomic (write a private temp
    /// file, then hard-link it into place), so two processes starting at once
    /// agree on one key.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, MasterKeySource), JoseError> {
        if let Ok(v) = std::env::var(ENV_VAR) {
            return Ok((Self::parse(&v)?, MasterKeySource::Environment));
        }
        let path = data_dir.join(FILE_NAME);
        let io = |what: &str, e: std::io::Error| {
            JoseError::MasterKey(format!("{what} {}: {e}", path.display()))
        };
        if path.exists() {
            let text = fs::read_to_string(&path).map_err(|e| io("cannot read", e))?;
            return Ok((Self::parse(&text)?, MasterKeySource::ExistingFile));
        }
        fs::create_dir_all(data_dir).map_err(|e| io("cannot create the directory of", e))?;
        let key: [u8; 32] = random_bytes()?;
        let tmp = data_dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(|e| io("cannot create", e))?;
            f.write_all(STANDARD.encode(key).as_bytes())
                .and_then(|_| f.write_all(b"\n"))
                .and_then(|_| f.sync_all())
                .map_err(|e| io("cannot write", e))?;
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((Self::from_bytes(&key)?, MasterKeySource::CreatedFile)),
            // Another process won the race: use its key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path).map_err(|e| io("cannot read", e))?;
                Ok((Self::parse(&text)?, MasterKeySource::ExistingFile))
            }
            Err(e) => Err(io("cannot create", e)),
        }
    }

    /// AES-256-GCM with a random nonce; `context` (e.g. a key id) is bound as
    /// associated data so a sealed blob cannot be moved to another record.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JoseError> {
        let nonce: [u8; 12] = random_bytes()?;
        let mut buf = plaintext.to_vec();
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| JoseError::Key("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + 12 + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JoseError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_VERSION {
            return Err(JoseError::Decrypt);
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&sealed[1..13]);
        let mut buf = sealed[13..].to_vec();
        let plain = self
            .sealing
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| JoseError::Decrypt)?;
        Ok(plain.to_vec())
    }

    /// Keyed hash (HMAC-SHA-256, hex) of a 256-bit secret Tollgate generated:
    /// at that entropy a slow hash adds nothing, and this keeps client
    /// authentication cheap on the hot path.
    pub fn hash_client_secret(&self, secret: &str) -> String {
        let tag = hmac::sign(&self.secret_hmac, secret.as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Constant-time check of a secret against its stored keyed hash.
    pub fn verify_client_secret(&self, secret: &str, stored_hex: &str) -> bool {
        let Some(tag) = decode_hex(stored_hex) else {
            return false;
        };
        hmac::verify(&self.secret_hmac, secret.as_bytes(), &tag).is_ok()
    }
}

impl MasterKey {
    /// A token value derived from another one: `len` characters of
    /// `A-Z a-z 0-9` from HMAC-SHA-256 in counter mode over `label` and
    /// `seed`. Refresh rotation derives the new pair from the presented
    /// refresh token this way, so a retry of the same refresh within the
    /// grace period can be answered with the same pair without the server
    /// keeping token values: only someone holding the old token gets it, and
    /// without the master key it cannot be computed.
    pub fn derive_token(&self, label: &str, seed: &str, len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut counter: u32 = 0;
        while out.len() < len {
            let mut ctx = hmac::Context::with_key(&self.rotation);
            ctx.update(label.as_bytes());
            ctx.update(&[0]);
            ctx.update(seed.as_bytes());
            ctx.update(&counter.to_be_bytes());
            let tag = ctx.sign();
            for &b in tag.as_ref() {
                // Same unbiased mapping as `random_token`.
                if b < 248 {
                    out.push(crate::secrets::ALPHABET[(b % 62) as usize] as char);
                    if out.len() == len {
                        break;
                    }
                }
            }
            counter = counter.wrapping_add(1);
        }
        out
    }

    /// A MAC over `data` for tokens embedded in HTML forms (CSRF tokens),
    /// base64url without padding.
    pub fn form_tag(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.forms, data).as_ref())
    }

    /// Constant-time check of a [`MasterKey::form_tag`].
    pub fn verify_form_tag(&self, data: &[u8], tag: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(tag) {
            Ok(t) => hmac::verify(&self.forms, data, &t).is_ok(),
            Err(_) => false,
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[9; 32]).unwrap()
    }

    #[test]
    fn derived_tokens_are_stable_keyed_and_labelled() {
        let k = key();
        let a = k.derive_token("access", "seed", 54);
        assert_eq!(a.len(), 54);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, k.derive_token("access", "seed", 54));
        assert_ne!(a, k.derive_token("refresh", "seed", 54));
        assert_ne!(a, k.derive_token("access", "seed2", 54));
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert_ne!(a, other.derive_token("access", "seed", 54));
        // Longer than one HMAC block.
        assert_eq!(k.derive_token("x", "y", 300).len(), 300);
    }

    #[test]
    fn form_tags_verify_only_their_data() {
        let k = key();
        let t = k.form_tag(b"session-1");
        assert!(k.verify_form_tag(b"session-1", &t));
        assert!(!k.verify_form_tag(b"session-2", &t));
        assert!(!k.verify_form_tag(b"session-1", "not base64!"));
        assert!(
            !MasterKey::from_bytes(&[8; 32])
                .unwrap()
                .verify_form_tag(b"session-1", &t)
        );
    }

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let k = key();
        let s = k.seal(b"kid-1", b"private").unwrap();
        assert_eq!(k.open(b"kid-1", &s).unwrap(), b"private");
        assert!(k.open(b"kid-2", &s).is_err());
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(k.open(b"kid-1", &t).is_err());
        assert!(
            MasterKey::from_bytes(&[8; 32])
                .unwrap()
                .open(b"kid-1", &s)
                .is_err()
        );
    }

    #[test]
    fn client_secret_hash_verifies_only_the_secret() {
        let k = key();
        let h = k.hash_client_secret("s3cret");
        assert!(k.verify_client_secret("s3cret", &h));
        assert!(!k.verify_client_secret("s3cret2", &h));
        assert!(!k.verify_client_secret("s3cret", "zz"));
        assert!(
            !MasterKey::from_bytes(&[1; 32])
                .unwrap()
                .verify_client_secret("s3cret", &h)
        );
    }

    #[test]
    fn parse_accepts_base64_and_hex_and_refuses_short_keys() {
        assert!(MasterKey::parse(&STANDARD.encode([3u8; 32])).is_ok());
        assert!(MasterKey::parse(&URL_SAFE_NO_PAD.encode([3u8; 32])).is_ok());
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&STANDARD.encode([3u8; 16])).is_err());
    }

    #[test]
    fn file_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!(
            "tg-mk-{}",
            random_bytes::<8>()
                .map(|b| b[0] as u64 * 1000 + b[1] as u64)
                .unwrap()
        ));
        let (a, src) = MasterKey::load_or_create(&dir).unwrap();
        if std::env::var(ENV_VAR).is_err() {
            assert_eq!(src, MasterKeySource::CreatedFile);
            let (b, src2) = MasterKey::load_or_create(&dir).unwrap();
            assert_eq!(src2, MasterKeySource::ExistingFile);
            let sealed = a.seal(b"x", b"y").unwrap();
            assert_eq!(b.open(b"x", &sealed).unwrap(), b"y");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(dir.join(FILE_NAME))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
