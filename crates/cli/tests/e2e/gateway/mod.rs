//! The gateway end to end: the real binary in front of real upstream
//! servers on loopback, services and consumers managed with the CLI and the
//! admin API, third-party tokens from a real Authlib server.
pub mod authlib;
mod consumers;
mod enforcement;
mod listeners;
mod third_party;
pub mod upstream;

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;

pub use crate::harness::server_certificate as certificate;
use crate::harness::{Backend, Server};

/// Short reload and cache intervals, so changes made with the CLI (another
/// process) show quickly; tests still wait for them rather than sleep.
pub const FAST: &[(&str, &str)] = &[
    ("TOLLGATE_GATEWAY__RELOAD_INTERVAL_MS", "100"),
    ("TOLLGATE_CACHE__CLIENT_TTL_SECS", "1"),
];

pub async fn server(b: Backend) -> Server {
    Server::start_with(b, FAST, &[]).await
}

/// `tollgate service add NAME --upstream URL ARGS…`.
pub fn add_service(s: &Server, name: &str, upstream: &str, args: &[&str]) -> Value {
    let mut all = vec!["service", "add", name, "--upstream", upstream];
    all.extend_from_slice(args);
    s.cli_json(&all)
}

/// `tollgate service consume SERVICE --app APP`: (client id, secret).
pub fn consume(s: &Server, service: &str, app: &str) -> (String, String) {
    let v = s.cli_json(&["service", "consume", service, "--app", app]);
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap_or_default().to_owned(),
    )
}

pub async fn token(s: &Server, id: &str, secret: &str, scope: &str) -> String {
    let t = s.token(id, secret, Some(scope)).await;
    t["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {t}"))
        .to_owned()
}

/// A gateway answer: status, headers and the body as JSON (Null if empty
/// or not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn challenge(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .map_or("", |v| v.to_str().unwrap())
    }
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    pub fn description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or("")
    }
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// `GET path` with an optional bearer token.
pub async fn get(s: &Server, path: &str, token: Option<&str>) -> Answer {
    let mut r = s.http.get(s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    answer(r.send().await.unwrap()).await
}

/// Calls `path` until it answers `status` (a change made by the CLI
/// reaching the running server), at most 10 s.
pub async fn eventually(s: &Server, path: &str, token: Option<&str>, status: u16) -> Answer {
    let start = Instant::now();
    loop {
        let a = get(s, path, token).await;
        if a.status == status || start.elapsed() > Duration::from_secs(10) {
            assert_eq!(a.status, status, "{path}: {}", a.body);
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET` with the path sent exactly as given (an HTTP client would resolve
/// `..` and `.` itself before sending): status and JSON body.
pub async fn raw_get(s: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = s.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked body: the JSON sits between the size line and the end.
    let json = body
        .find('{')
        .and_then(|i| body.rfind('}').map(|j| &body[i..=j]))
        .unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}
