//! Keystores and certificates made by the `openssl` command line (an
//! independent implementation), read back here.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::jwt::{self, Verifier};

/// A fresh directory under the system's temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "tollgate-keystore-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `NAME.key` (PKCS#8) and `NAME.crt` (self-signed) of the given kind.
fn key_and_cert(d: &Dir, name: &str, kind: &str) {
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    match kind {
        "rsa" => openssl(
            &d.0,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &key,
            ],
        ),
        _ => openssl(
            &d.0,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        ),
    }
    openssl(
        &d.0,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// `NAME.p12` holding `NAME.key`/`NAME.crt` under the alias `NAME`, plus
/// any extra arguments (more certificates, legacy algorithms).
fn p12(d: &Dir, name: &str, password: &str, extra: &[&str]) -> Vec<u8> {
    let out = format!("{name}.p12");
    let pass = format!("pass:{password}");
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    let mut args = vec![
        "pkcs12", "-export", "-inkey", &key, "-in", &crt, "-name", name, "-passout", &pass, "-out",
        &out,
    ];
    args.extend_from_slice(extra);
    openssl(&d.0, &args);
    std::fs::read(d.path(&out)).unwrap()
}

/// The thumbprint `openssl x509 -fingerprint` prints, as base64url.
fn openssl_fingerprint(d: &Dir, crt: &str, digest: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", digest, "-in", crt])
        .current_dir(&d.0)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex: String = text.split('=').nth(1).unwrap().trim().replace(':', "");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn pem_key_and_certificate_with_openssls_thumbprints() {
    let d = Dir::new();
    key_and_cert(&d, "graph", "rsa");
    let k = KeyWithChain::from_pem(&d.read("graph.key"), Some(&d.read("graph.crt")), None).unwrap();
    assert_eq!(k.key.alg(), "RS256");
    assert_eq!(k.chain().len(), 1);
    assert_eq!(
        k.x5t().unwrap(),
        openssl_fingerprint(&d, "graph.crt", "-sha1")
    );
    assert_eq!(
        k.x5t_s256().unwrap(),
        openssl_fingerprint(&d, "graph.crt", "-sha256")
    );
    // A key alone has no thumbprint to offer.
    let bare = KeyWithChain::from_pem(&d.read("graph.key"), None, None).unwrap();
    assert!(bare.x5t().is_none() && bare.chain().is_empty());
    // Stored as PEM and read back: the same key and certificate.
    let (key_pem, certs_pem) = k.to_pem();
    let again = KeyWithChain::from_pem(&key_pem, certs_pem.as_deref(), None).unwrap();
    assert_eq!(again.key.thumbprint(), k.key.thumbprint());
    assert_eq!(again.x5t(), k.x5t());
}

#[test]
fn a_certificate_of_another_key_is_refused() {
    let d = Dir::new();
    key_and_cert(&d, "a", "ec");
    key_and_cert(&d, "b", "ec");
    let err = KeyWithChain::from_pem(&d.read("a.key"), Some(&d.read("b.crt")), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not belong to the private key"),
        "{err}"
    );
    // A keystore that pairs b's key with a's certificate (openssl refuses
    // to write one; the library does not check).
    let a =
        KeyStore::from_pkcs12(&p12(&d, "a", "pw", &[]), "pw", Pkcs12ImportPolicy::Relaxed).unwrap();
    let b =
        KeyStore::from_pkcs12(&p12(&d, "b", "pw", &[]), "pw", Pkcs12ImportPolicy::Relaxed).unwrap();
    let (_, a_chain) = a.private_key_chain().unwrap();
    let (_, b_chain) = b.private_key_chain().unwrap();
    let mut mixed = KeyStore::new();
    mixed.add_entry(
        "mixed",
        KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            b_chain.local_key_id().clone(),
            b_chain.key().clone(),
            a_chain.certs().to_vec(),
        )),
    );
    let data = mixed.writer("pw").write().unwrap();
    let err = KeyWithChain::from_pkcs12(&data, "pw", Some("mixed"), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not belong to the private key"),
        "{err}"
    );
    let err =
        KeyWithChain::from_pem(&d.read("a.key"), Some("no certificate here"), None).unwrap_err();
    assert!(err.to_string().contains("no PEM block"), "{err}");
}

#[test]
fn pkcs12_with_password_and_alias() {
    let d = Dir::new();
    key_and_cert(&d, "signer", "ec");
    let data = p12(&d, "signer", "s3cret", &[]);
    let k = KeyWithChain::from_pkcs12(&data, "s3cret", Some("signer"), None).unwrap();
    assert_eq!(k.key.alg(), "ES256");
    assert_eq!(
        k.x5t().unwrap(),
        openssl_fingerprint(&d, "signer.crt", "-sha1")
    );
    // An alias in another letter case still names it.
    let k3 = KeyWithChain::from_pkcs12(&data, "s3cret", Some("SIGNER"), None).unwrap();
    assert_eq!(k3.key.thumbprint(), k.key.thumbprint());
    // The only key entry is found without an alias.
    let k2 = KeyWithChain::from_pkcs12(&data, "s3cret", None, None).unwrap();
    assert_eq!(k2.key.thumbprint(), k.key.thumbprint());
    // The key signs, and the certificate's public key verifies.
    let jwt = k
        .key
        .sign_jwt(
            "JWT",
            &serde_json::json!({"iss": "x", "exp": 4_000_000_000_i64}),
        )
        .unwrap();
    let public = PublicKey::from_certificate_der(&k.chain()[0])
        .unwrap()
        .with_kid(k.key.kid());
    let set = crate::JwkSet::from_keys(vec![public]);
    assert!(jwt::verify(&jwt, Verifier::Keys(&set), &[Alg::ES256]).is_ok());
}

#[test]
fn pkcs12_wrong_password_and_unknown_alias() {
    let d = Dir::new();
    key_and_cert(&d, "signer", "rsa");
    let data = p12(&d, "signer", "right", &[]);
    let err = KeyWithChain::from_pkcs12(&data, "wrong", Some("signer"), None).unwrap_err();
    assert!(err.to_string().contains("password is wrong"), "{err}");
    let err = KeyWithChain::from_pkcs12(&data, "right", Some("nope"), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("alias 'nope' not found") && msg.contains("'signer'"),
        "{msg}"
    );
    let err = KeyWithChain::from_pkcs12(b"not a keystore", "right", None, None).unwrap_err();
    assert!(err.to_string().contains("keystore"), "{err}");
    // An alg that does not fit the key.
    let err = KeyWithChain::from_pkcs12(&data, "right", None, Some(Alg::ES256)).unwrap_err();
    assert!(err.to_string().contains("ES256"), "{err}");
}

#[test]
fn pkcs12_with_a_chain_and_legacy_algorithms() {
    let d = Dir::new();
    // A CA and a leaf it signed; the keystore carries both.
    key_and_cert(&d, "ca", "ec");
    openssl(
        &d.0,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "leaf.key",
        ],
    );
    openssl(
        &d.0,
        &[
            "req", "-new", "-key", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf",
        ],
    );
    openssl(
        &d.0,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.crt",
            "-days",
            "2",
        ],
    );
    let data = p12(&d, "leaf", "pw", &["-certfile", "ca.crt"]);
    let k = KeyWithChain::from_pkcs12(&data, "pw", Some("leaf"), None).unwrap();
    assert_eq!(k.chain().len(), 2, "leaf then CA");
    assert_eq!(
        k.x5t().unwrap(),
        openssl_fingerprint(&d, "leaf.crt", "-sha1")
    );
    // The encryption older Java keystores use (3DES, SHA-1 MAC).
    let legacy = p12(
        &d,
        "leaf",
        "pw",
        &[
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    );
    let k = KeyWithChain::from_pkcs12(&legacy, "pw", Some("leaf"), None).unwrap();
    assert_eq!(
        k.x5t().unwrap(),
        openssl_fingerprint(&d, "leaf.crt", "-sha1")
    );
    // A keystore with two keys needs an alias.
    key_and_cert(&d, "other", "ec");
    openssl(
        &d.0,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "other.key",
            "-in",
            "other.crt",
            "-name",
            "other",
            "-passout",
            "pass:pw",
            "-out",
            "other.p12",
        ],
    );
    // openssl writes one key per file; two keys come from merging, which
    // the CLI cannot do, so the "several keys" case is covered by the
    // message test below on a keystore built with the library itself.
    let mut store = KeyStore::from_pkcs12(&data, "pw", Pkcs12ImportPolicy::Relaxed).unwrap();
    let other = KeyStore::from_pkcs12(
        &std::fs::read(d.path("other.p12")).unwrap(),
        "pw",
        Pkcs12ImportPolicy::Relaxed,
    )
    .unwrap();
    for (name, e) in other.entries() {
        store.add_entry(name, e.clone());
    }
    let both = store.writer("pw").write().unwrap();
    let err = KeyWithChain::from_pkcs12(&both, "pw", None, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("several keys") && msg.contains("'leaf'") && msg.contains("'other'"),
        "{msg}"
    );
    let k = KeyWithChain::from_pkcs12(&both, "pw", Some("other"), None).unwrap();
    assert_eq!(
        k.x5t().unwrap(),
        openssl_fingerprint(&d, "other.crt", "-sha1")
    );
}
