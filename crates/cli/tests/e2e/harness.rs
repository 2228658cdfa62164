//! Starts the real `tollgate` binary on a free loopback port with a fresh
//! database (a SQLite file in a temp dir, or a fresh PostgreSQL schema) and
//! talks to it over HTTP. The CLI runs against the same config.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_url() -> String {
    std::env::var("TOLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    /// The PostgreSQL server and schema this server uses, dropped on `Drop`.
    schema: Option<(String, String)>,
    pub http: reqwest::Client,
    pub stdout: Vec<String>,
}

impl Server {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[], &[]).await
    }

    /// `extra_env` are additional `TOLLGATE_…` variables; `args` go after `serve`.
    pub async fn start_with(backend: Backend, extra_env: &[(&str, &str)], args: &[&str]) -> Self {
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg_url()),
        };
        Self::start_inner(url, extra_env, args)
    }

    /// Against the PostgreSQL server at `url` (not the shared one), in a
    /// fresh schema.
    pub async fn start_on_postgres(url: &str, extra_env: &[(&str, &str)]) -> Self {
        Self::start_inner(Some(url.to_owned()), extra_env, &[])
    }

    /// `pg` is the PostgreSQL URL, or `None` for SQLite in the temp dir.
    fn start_inner(pg: Option<String>, extra_env: &[(&str, &str)], args: &[&str]) -> Self {
        let id = unique();
        let dir = std::env::temp_dir().join(format!("tollgate-e2e-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut env = vec![
            (
                "TOLLGATE_SERVER__LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            (
                "TOLLGATE_SERVER__DATA_DIR".to_owned(),
                dir.join("data").display().to_string(),
            ),
            ("TOLLGATE_LOG__LEVEL".to_owned(), "warn".to_owned()),
        ];
        let mut schema = None;
        match pg {
            None => env.push((
                "TOLLGATE_DATABASE__URL".into(),
                format!("sqlite://{}/data/tollgate.db", dir.display()),
            )),
            Some(url) => {
                let s = format!("e2e_{id}");
                env.push(("TOLLGATE_DATABASE__URL".into(), url.clone()));
                env.push(("TOLLGATE_DATABASE__SCHEMA".into(), s.clone()));
                schema = Some((url, s));
            }
        }
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut s = Self {
            child: None,
            base: String::new(),
            dir,
            env,
            schema,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            stdout: Vec::new(),
        };
        s.spawn(args);
        s
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        c.env_remove("RUST_LOG");
        c.env_remove("TOLLGATE_MASTER_KEY");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn spawn(&mut self, args: &[&str]) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("log file");
        let mut child = self
            .command()
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn tollgate");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Keep draining so the server never blocks on a full pipe.
                    continue;
                }
            }
        });
        self.stdout.clear();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("tollgate listening on ") {
                        self.base = url.trim().to_owned();
                        break;
                    }
                    self.stdout.push(line);
                }
                Err(_) => {
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    panic!("tollgate did not start; its log:\n{log}");
                }
            }
        }
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server's standard error (its log), so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Sends SIGTERM (what an orchestrator sends to stop a pod or unit).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the server to exit on its own; `None` if it is still
    /// running after `limit` (it is then left running for `Drop`).
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("server running");
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts again on the same data (after `kill9` or not).
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    pub fn restart_with(&mut self, args: &[&str]) {
        self.kill9();
        self.spawn(args);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs a CLI sub-command against the same store.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run tollgate")
    }

    /// Runs a CLI sub-command with `input` on its standard input.
    pub fn cli_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tollgate");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "tollgate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// `client add` with the given extra arguments; returns (id, secret).
    pub fn add_client(&self, name: &str, args: &[&str]) -> (String, String) {
        let mut all = vec!["client", "add", name];
        all.extend_from_slice(args);
        let v = self.cli_json(&all);
        (
            v["client_id"].as_str().expect("client_id").to_owned(),
            v["client_secret"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// `GET path` and its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    pub async fn post_form(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut r = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = auth {
            r = r.basic_auth(id, Some(secret));
        }
        r.send().await.expect("request")
    }

    /// A client-credentials token for the client; panics unless 200.
    pub async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> Value {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let r = self
            .post_form("/oauth2/token", Some((id, secret)), &form)
            .await;
        assert_eq!(
            r.status(),
            200,
            "token request failed: {:?}",
            r.text().await
        );
        r.json().await.expect("token JSON")
    }

    pub async fn introspect(&self, auth: (&str, &str), token: &str) -> Value {
        let r = self
            .post_form("/oauth2/introspect", Some(auth), &[("token", token)])
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("introspection JSON")
    }

    /// Audit events of one type, waiting (briefly) for the background writer.
    pub async fn audit_events(&self, event: &str, min: usize) -> Vec<Value> {
        for _ in 0..50 {
            let v = self.cli_json(&["audit", "list", "--event", event, "--limit", "1000"]);
            let list = v.as_array().cloned().unwrap_or_default();
            if list.len() >= min {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {min} '{event}' audit events");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((url, schema)) = &self.schema {
            // Bounded: the server may be a private one that a test stopped
            // or cut off.
            let _ = Command::new("psql")
                .env("PGCONNECT_TIMEOUT", "5")
                .args([
                    url,
                    "-q",
                    "-c",
                    &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
                ])
                .output();
        }
    }
}

/// One test body, run on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::harness::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::harness::Backend::Postgres).await } )*
        }
    };
}

/// A self-signed server certificate for 127.0.0.1, made by the `openssl`
/// command line in `dir`: (cert, key) paths.
pub fn server_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join("tls.key");
    let cert = dir.join("tls.crt");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // A server certificate, not a CA (webpki refuses a CA
            // certificate as the server's own).
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-days",
            "2",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    (cert, key)
}
