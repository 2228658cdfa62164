//! How a connection reaches its provider: over HTTPS trusted through a
//! per-connection truststore (a root → intermediate → leaf chain made by
//! openssl here), and through a real forward proxy (Debian's tinyproxy)
//! with credentials, checked in the proxy's own log.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::add_cc;
use super::cli::ok;
use crate::harness::{Backend, Server};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A self-signed CA: `STEM.crt` and `STEM.key` in `dir`.
fn make_ca(dir: &Path, stem: &str, cn: &str) {
    let (crt, key, subj) = (
        format!("{stem}.crt"),
        format!("{stem}.key"),
        format!("/CN={cn}"),
    );
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(&EC_KEY);
    args.extend_from_slice(&[
        "-subj",
        &subj,
        "-days",
        "2",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
}

/// A key `STEM.key` and its certificate `STEM.crt`, signed by the CA
/// `CA.crt`/`CA.key`, with the extension lines `ext`.
fn make_signed(dir: &Path, stem: &str, cn: &str, ca: &str, ext: &str) {
    let (crt, key, csr, extf) = (
        format!("{stem}.crt"),
        format!("{stem}.key"),
        format!("{stem}.csr"),
        format!("{stem}.ext"),
    );
    let (ca_crt, ca_key, subj) = (
        format!("{ca}.crt"),
        format!("{ca}.key"),
        format!("/CN={cn}"),
    );
    std::fs::write(dir.join(&extf), ext).unwrap();
    let mut req = vec!["req"];
    req.extend_from_slice(&EC_KEY);
    req.extend_from_slice(&["-subj", &subj, "-keyout", &key, "-out", &csr]);
    openssl(dir, &req);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extf,
            "-out",
            &crt,
        ],
    );
}

/// A root CA, an intermediate it signed, and a 127.0.0.1 server certificate
/// the intermediate signed: (root.crt, server chain (leaf + intermediate),
/// server key).
fn chain(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    make_ca(dir, "root", "Tollgate Test Root");
    make_signed(
        dir,
        "inter",
        "Tollgate Test Intermediate",
        "root",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    make_signed(
        dir,
        "leaf",
        "127.0.0.1",
        "inter",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    let served = dir.join("served.crt");
    let mut pem = std::fs::read_to_string(dir.join("leaf.crt")).unwrap();
    pem.push_str(&std::fs::read_to_string(dir.join("inter.crt")).unwrap());
    std::fs::write(&served, pem).unwrap();
    (dir.join("root.crt"), served, dir.join("leaf.key"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tinyproxy in the foreground with its own config and log, stopped on drop.
pub(super) struct Tinyproxy {
    child: std::process::Child,
    pub(super) port: u16,
    log: PathBuf,
}

impl Tinyproxy {
    pub(super) fn start(dir: &Path, user: &str, password: &str) -> Self {
        let port = free_port();
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth {user} {password}\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (apt-get install tinyproxy; .ci/run installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port, log }
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_and_a_forward_proxy() {
    let dir = std::env::temp_dir().join(crate::assertions::support::unique("conn-net"));
    std::fs::create_dir_all(&dir).unwrap();
    let (root, served, key) = chain(&dir);
    let tls_port = free_port();
    let cfg = dir.join("tollgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[listeners]]\nlisten = \"127.0.0.1:{tls_port}\"\nserves = [\"oauth\"]\ntls_cert = {:?}\ntls_key = {:?}\n",
            served.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_CONFIG", &cfg.display().to_string())],
        &[],
    )
    .await;
    let (id, secret) = s.add_client("behind-ca", &["--scope", "read"]);
    let token_ep = format!("https://127.0.0.1:{tls_port}/oauth2/token");
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec!["--scope", "read"];
        args.extend_from_slice(extra);
        ok(&add_cc(&s, name, &token_ep, &id, &secret, &args, None));
    };

    // The system does not know the private root: refused, and said why.
    add("untrusted", &[]);
    let out = s.cli(&["connection", "token", "untrusted"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot be reached") && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    // The root alone in the connection's truststore: the chain verifies.
    let root_arg = root.display().to_string();
    add("trusted", &["--truststore", &root_arg]);
    let token = ok(&s.cli(&["connection", "token", "trusted"]));
    let v = s.introspect((&id, &secret), token.trim()).await;
    assert_eq!(v["active"], true, "{v}");

    // Through tinyproxy with its credentials: the CONNECT to the provider
    // is in the proxy's log.
    let proxy = Tinyproxy::start(&dir, "tollgate", "proxy-pw");
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    ok(&add_cc(
        &s,
        "proxied",
        &token_ep,
        &id,
        &secret,
        &[
            "--scope",
            "read",
            "--truststore",
            &root_arg,
            "--proxy",
            &proxy_url,
            "--proxy-user",
            "tollgate",
            "--proxy-password-env",
            "CONN_PROXY_PW",
        ],
        Some(("CONN_PROXY_PW", "proxy-pw")),
    ));
    let token = ok(&s.cli(&["connection", "token", "proxied"]));
    let v = s.introspect((&id, &secret), token.trim()).await;
    assert_eq!(v["active"], true, "{v}");
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{tls_port}")),
        "the proxy's log:\n{log}"
    );
    // The proxy password is a secret: not in `show`.
    let show = s.cli_json(&["connection", "show", "proxied"]);
    assert!(!show.to_string().contains("proxy-pw"), "{show}");
    assert!(
        show["secrets"]
            .as_array()
            .unwrap()
            .contains(&"proxy_password".into())
    );

    // Wrong proxy credentials: the proxy's 407 is the error.
    ok(&add_cc(
        &s,
        "bad-proxy",
        &token_ep,
        &id,
        &secret,
        &[
            "--truststore",
            &root_arg,
            "--proxy",
            &proxy_url,
            "--proxy-user",
            "tollgate",
            "--proxy-password-env",
            "CONN_PROXY_PW",
        ],
        Some(("CONN_PROXY_PW", "wrong")),
    ));
    let out = s.cli(&["connection", "token", "bad-proxy"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("407") || err.to_lowercase().contains("proxy"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mutual TLS (RFC 8705 transport) to a provider that requires a client
/// certificate: Authlib behind Python's TLS with `CERT_REQUIRED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_for_mutual_tls() {
    use crate::gateway::authlib::AuthlibServer;
    let dir = std::env::temp_dir().join(crate::assertions::support::unique("conn-mtls"));
    std::fs::create_dir_all(&dir).unwrap();
    let (root, served, key) = chain(&dir);
    // A CA for clients, and the certificate it gives Tollgate.
    make_ca(&dir, "client-ca", "Client CA");
    make_signed(
        &dir,
        "client",
        "tollgate-conn",
        "client-ca",
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
    let authlib = AuthlibServer::start(
        &dir,
        &[("mtls-app", "mtls-secret", "read")],
        &[
            "--tls-cert",
            &served.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
            "--client-ca",
            &dir.join("client-ca.crt").display().to_string(),
        ],
    );
    let s = Server::start(Backend::Sqlite).await;
    let token_ep = authlib.endpoint("/token");
    let root_arg = root.display().to_string();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec!["--scope", "read", "--truststore", &root_arg];
        args.extend_from_slice(extra);
        ok(&add_cc(
            &s,
            name,
            &token_ep,
            "mtls-app",
            "mtls-secret",
            &args,
            None,
        ));
    };
    // Without a client certificate the handshake is refused.
    add("no-cert", &[]);
    let out = s.cli(&["connection", "token", "no-cert"]);
    assert!(
        !out.status.success(),
        "a provider that wants a client certificate"
    );
    // With one, the token comes.
    let cert = dir.join("client.crt").display().to_string();
    let ckey = dir.join("client.key").display().to_string();
    add("mtls", &["--client-cert", &cert, "--client-key", &ckey]);
    let token = ok(&s.cli(&["connection", "token", "mtls"]));
    assert!(!token.trim().is_empty());
    let show = s.cli_json(&["connection", "show", "mtls"]);
    assert!(
        show["secrets"]
            .as_array()
            .unwrap()
            .contains(&"client_key".into()),
        "{show}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
