//! Test support: start/stop the third-party Authlib authorization server
//! (`authlib_as.py`) that the gateway's RFC 7662 introspection tests talk to.
//!
//! Only process management lives here (std + serde_json). Tests make their
//! HTTP calls (`/token`, `/introspect`, `/stats`, `/control`, `/issue`) with
//! their own client against [`AuthlibServer::url`].
//!
//! Requires Debian's `/usr/bin/python3` with `python3-authlib` (1.2) and
//! `python3-flask` (2.2) installed.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Location of the fixture script inside the test crate.
pub const AUTHLIB_AS_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/e2e/gateway/support/authlib_as.py"
);

/// Debian's interpreter, which is where python3-authlib is installed (a
/// pyenv/venv python on PATH would not have it).
pub const PYTHON: &str = "/usr/bin/python3";

/// How long to wait for the "listening on ..." line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Distinguishes the files of several servers started in the same `dir`.
static INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A running Authlib authorization server; killed when dropped.
pub struct AuthlibServer {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234` (`https://` with `--tls-cert`).
    pub url: String,
    /// Where the server's stderr (werkzeug access log, tracebacks) goes.
    stderr_path: PathBuf,
    _dir: PathBuf,
}

impl AuthlibServer {
    /// Start the server on a free port.
    ///
    /// * `dir`: existing scratch directory; `clients.json` and the stderr log
    ///   are written there.
    /// * `clients`: `(client_id, client_secret, space-separated allowed scopes)`.
    /// * `extra_args`: passed through, e.g. `["--expires-in", "2"]`,
    ///   `["--issuer", "https://as.example"]`, `["--tls-cert", c, "--tls-key", k]`.
    ///
    /// Panics (including the server's stderr) if it is not ready within 20 s.
    pub fn start(dir: &Path, clients: &[(&str, &str, &str)], extra_args: &[&str]) -> Self {
        Self::start_script(Path::new(AUTHLIB_AS_SCRIPT), dir, clients, extra_args)
    }

    /// Same as [`start`](Self::start) with an explicit script path.
    pub fn start_script(
        script: &Path,
        dir: &Path,
        clients: &[(&str, &str, &str)],
        extra_args: &[&str],
    ) -> Self {
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let clients_path = dir.join(format!("authlib_as-{n}.clients.json"));
        let stderr_path = dir.join(format!("authlib_as-{n}.stderr.log"));

        let clients_json: Vec<serde_json::Value> = clients
            .iter()
            .map(|(id, secret, scope)| {
                serde_json::json!({ "client_id": id, "client_secret": secret, "scope": scope })
            })
            .collect();
        fs::write(
            &clients_path,
            serde_json::to_vec_pretty(&clients_json).expect("serialize clients.json"),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", clients_path.display()));

        // stderr goes to a file, not a pipe: the server logs every request
        // there, and an undrained pipe would eventually block it.
        let stderr_file = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr_path.display()));

        let mut child = Command::new(PYTHON)
            .arg("-u")
            .arg(script)
            .arg("--port")
            .arg("0")
            .arg("--clients")
            .arg(&clients_path)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {PYTHON} {}: {e}", script.display()));

        // Read stdout on a thread so the wait can time out. After the ready
        // line the thread keeps draining stdout until the child exits.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(url.to_string()));
                    }
                } else if let Some(tx) = &tx {
                    let _ = tx.send(Err(format!("unexpected stdout line: {line}")));
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err("stdout closed before the ready line".into()));
            }
        });

        let failure = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(url)) => {
                return AuthlibServer {
                    child,
                    url,
                    stderr_path,
                    _dir: dir.to_path_buf(),
                };
            }
            Ok(Err(e)) => e,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                format!("no ready line within {}s", STARTUP_TIMEOUT.as_secs())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => "stdout reader died".into(),
        };
        let _ = child.kill();
        let status = child.wait();
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        panic!(
            "Authlib test server failed to start ({failure}); exit: {status:?}\n\
             script: {}\n--- stderr ---\n{stderr}",
            script.display()
        );
    }

    /// `url` + `path`, e.g. `server.endpoint("/introspect")`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// `127.0.0.1:PORT`, for clients that open a raw `TcpStream`.
    pub fn addr(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.trim_end_matches('/').to_string()
    }

    /// The server's stderr so far (request log, Python tracebacks); handy in
    /// assertion messages.
    pub fn stderr_log(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for AuthlibServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
