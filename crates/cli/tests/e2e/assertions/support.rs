//! Key material and JWTs from independent tools: keys and certificates from
//! the `openssl` command line, JWS from PyJWT (`support/jose.py`), a JWKS
//! served over real HTTPS by Python's `http.server`.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const JOSE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/support/jose.py");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run helper");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn py(args: &[&str]) -> String {
    run(Command::new("/usr/bin/python3").arg(JOSE_PY).args(args))
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Ec,
    Rsa,
    Ed25519,
}

/// A private key on disk, made by `openssl genpkey`.
pub struct Key {
    pub path: PathBuf,
}

impl Key {
    pub fn new(dir: &Path, kind: Kind) -> Self {
        let path = dir.join(format!("{}.pem", unique("key")));
        let mut c = Command::new("openssl");
        c.arg("genpkey");
        match kind {
            Kind::Ec => c.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            Kind::Rsa => c.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
            Kind::Ed25519 => c.args(["-algorithm", "ed25519"]),
        };
        run(c.arg("-out").arg(&path));
        Self { path }
    }

    /// A self-signed certificate for the key (for x5c / x5t).
    pub fn cert(&self, dir: &Path) -> PathBuf {
        let cert = dir.join(format!("{}.crt", unique("cert")));
        run(Command::new("openssl")
            .args(["req", "-x509", "-new", "-key"])
            .arg(&self.path)
            .args(["-subj", "/CN=tollgate-test", "-days", "2", "-out"])
            .arg(&cert));
        cert
    }

    /// The public key as PEM (`openssl pkey -pubout`).
    pub fn public_pem(&self, dir: &Path) -> PathBuf {
        let out = dir.join(format!("{}.pub.pem", unique("pub")));
        run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&self.path)
            .arg("-out")
            .arg(&out));
        out
    }

    pub fn jwk(&self, kid: &str, cert: Option<&Path>) -> Value {
        let cert = cert.map(|c| c.display().to_string()).unwrap_or_default();
        serde_json::from_str(&py(&["jwk", &self.path.display().to_string(), &cert, kid])).unwrap()
    }

    /// A JWS signed by PyJWT.
    pub fn sign(&self, alg: &str, header: &Value, claims: &Value) -> String {
        py(&[
            "sign",
            &self.path.display().to_string(),
            alg,
            &header.to_string(),
            &claims.to_string(),
        ])
    }
}

/// Claims of a fresh assertion: `iss`, `sub`, `aud`, `exp` in two minutes,
/// `iat` now, a unique `jti`.
pub fn claims(iss: &str, sub: &str, aud: &str) -> Value {
    let t = now();
    json!({"iss": iss, "sub": sub, "aud": aud, "iat": t, "exp": t + 120, "jti": unique("jti")})
}

/// Swaps the payload of a signed JWS for another (the signature then no
/// longer matches).
pub fn tamper(jws: &str, claims: &Value) -> String {
    use base64::Engine;
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let parts: Vec<&str> = jws.split('.').collect();
    format!("{}.{p}.{}", parts[0], parts[2])
}

/// An HMAC JWS over any key bytes (as an attacker would build it).
pub fn hmac(dir: &Path, secret: &[u8], header: &Value, claims: &Value) -> String {
    let f = dir.join(unique("secret"));
    std::fs::write(&f, secret).unwrap();
    py(&[
        "hmac",
        &f.display().to_string(),
        "HS256",
        &header.to_string(),
        &claims.to_string(),
    ])
}

pub fn unsecured(header: &Value, claims: &Value) -> String {
    py(&["none", &header.to_string(), &claims.to_string()])
}

/// A JWK Set served over HTTPS on loopback by Python's `http.server`, with
/// a certificate for 127.0.0.1 made by `openssl`. The set can be replaced
/// while it runs.
pub struct JwksServer {
    child: Child,
    pub dir: PathBuf,
    pub url: String,
    pub ca: PathBuf,
}

impl JwksServer {
    /// Serves `jwks` over HTTPS with a certificate of a private CA (`ca`).
    pub fn start(dir: &Path, jwks: &Value) -> Self {
        Self::spawn(dir, jwks, true)
    }

    /// Serves `jwks` over plain HTTP on loopback.
    pub fn start_plain(dir: &Path, jwks: &Value) -> Self {
        Self::spawn(dir, jwks, false)
    }

    fn spawn(dir: &Path, jwks: &Value, tls: bool) -> Self {
        let dir = dir.join(unique("jwks"));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = crate::harness::server_certificate(&dir);
        std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
        let wrap = if tls {
            format!(
                "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
                 c.load_cert_chain({cert:?}, {key:?})\n\
                 s.socket = c.wrap_socket(s.socket, server_side=True)\n",
                cert = cert.display().to_string(),
                key = key.display().to_string(),
            )
        } else {
            String::new()
        };
        let script = format!(
            "import http.server, ssl, sys, functools\n\
             h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={dir:?})\n\
             s = http.server.HTTPServer(('127.0.0.1', 0), h)\n\
             {wrap}\
             print(s.server_address[1], flush=True)\n\
             s.serve_forever()\n",
            dir = dir.display().to_string(),
        );
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the JWKS server's port");
        std::thread::sleep(Duration::from_millis(100));
        let scheme = if tls { "https" } else { "http" };
        Self {
            child,
            url: format!("{scheme}://127.0.0.1:{port}/jwks.json"),
            dir,
            ca: cert,
        }
    }

    pub fn replace(&self, jwks: &Value) {
        std::fs::write(self.dir.join("jwks.json"), jwks.to_string()).unwrap();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
