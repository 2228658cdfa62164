//! What operators rely on: SIGTERM lets in-flight requests finish and then
//! exits 0; JSON logs are one JSON object per line and carry no secret.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::harness::{Backend, Server};

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// Polls the server's log until it contains `needle`.
async fn wait_for_log(s: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the log never showed {needle:?}:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A token request whose body arrives slowly: the headers and half the body
/// are sent, and the call returns once the router has the request. Returns
/// the connection and the rest of the body.
async fn start_slow_request(s: &Server, id: &str, secret: &str) -> (TcpStream, Vec<u8>) {
    let addr = addr(s);
    let body = format!(
        "grant_type=client_credentials&scope=read&pad={}",
        "x".repeat(4000)
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "POST /oauth2/token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        STANDARD.encode(format!("{id}:{secret}")),
        body.len()
    )
    .unwrap();
    conn.write_all(first).unwrap();
    conn.flush().unwrap();
    // The router has the request (its headers are parsed) before the signal.
    wait_for_log(s, "started processing request").await;
    (conn, rest.to_vec())
}

/// Request tracing on, so the log shows when a request reached the router.
async fn traced_server() -> Server {
    Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_LOG__LEVEL", "tower_http=debug,info")],
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits_0() {
    let mut s = traced_server().await;
    let (id, secret) = s.add_client("slow", &["--scope", "read"]);
    let addr = addr(&s);
    let (mut conn, rest) = start_slow_request(&s, &id, &secret).await;

    s.sigterm();

    // New connections are refused once the server stops accepting, while
    // the slow request is still unfinished.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        s.wait_exit(Duration::from_millis(200)).await.is_none(),
        "exited with a request in flight"
    );

    conn.write_all(&rest).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let (head, json) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the in-flight request was not answered normally: {response}"
    );
    let token: Value = serde_json::from_str(json).unwrap();
    let at = token["access_token"].as_str().unwrap().to_owned();

    let status = s
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("still running 15 s after its last request finished");
    assert!(status.success(), "exit status {status}; log:\n{}", s.log());
    assert!(TcpStream::connect(&addr).is_err());

    // The token answered during shutdown is stored.
    s.restart();
    assert_eq!(s.introspect((&id, &secret), &at).await["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_stops_without_waiting() {
    let mut s = traced_server().await;
    let (id, secret) = s.add_client("slow", &["--scope", "read"]);
    let (_conn, _rest) = start_slow_request(&s, &id, &secret).await;
    s.sigterm();
    wait_for_log(&s, "shutting down").await;
    assert!(
        s.wait_exit(Duration::from_millis(200)).await.is_none(),
        "exited with a request in flight"
    );
    s.sigterm();
    // Well before the 20 s grace period, with the request still unfinished.
    let status = s
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("a second SIGTERM did not end the process");
    assert_eq!(
        status.code(),
        Some(1),
        "cut-off requests mean exit status 1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_no_secrets() {
    // Debug everywhere: request tracing (spans with the request line, every
    // header-bearing event), sqlx statements, the store's own messages.
    let mut s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_LOG__LEVEL", "debug")],
        &["--log-format", "json"],
    )
    .await;
    let (id, secret) = s.add_client(
        "logged",
        &[
            "--scope",
            "read",
            "--grant",
            "client_credentials",
            "--grant",
            "refresh_token",
            "--client-credentials-refresh",
        ],
    );
    let (post_id, post_secret) = s.add_client(
        "logged-post",
        &["--scope", "read", "--auth-method", "client_secret_post"],
    );
    let cookie = "sessionid=c00kie-value-that-must-not-be-logged";
    let wrong_secret = "wrong-secret-that-must-not-be-logged";
    let basic = STANDARD.encode(format!("{id}:{secret}"));

    let token = |auth: &str| {
        s.http
            .post(s.url("/oauth2/token"))
            .header("authorization", auth)
            .header("cookie", cookie)
            .form(&[("grant_type", "client_credentials")])
    };
    let r = token(&format!("Basic {basic}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap().to_owned();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    let r = s
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &post_id),
                ("client_secret", &post_secret),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let post_access = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Failures log too: a wrong secret, a bearer token where a client
    // authenticates.
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, wrong_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = token(&format!("Bearer {access}")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(s.introspect((&id, &secret), &access).await["active"], true);
    let r = s
        .http
        .get(s.url(&format!("/oauth2/tokeninfo?access_token={post_access}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", &access)],
        )
        .await;
    assert_eq!(r.status(), 200);

    s.sigterm();
    let status = s.wait_exit(Duration::from_secs(20)).await.expect("exit");
    assert!(status.success());
    let log = s.log();

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // The test means something only if requests were traced.
    for path in [
        "/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/tokeninfo",
        "/oauth2/revoke",
    ] {
        assert!(
            lines.iter().any(|l| l.to_string().contains(path)),
            "no log line names {path}: request tracing is off?\n{log}"
        );
    }
    let secrets = [
        ("client secret", secret.as_str()),
        ("client_secret_post secret", post_secret.as_str()),
        ("wrong secret", wrong_secret),
        ("Basic credentials", basic.as_str()),
        ("access token", access.as_str()),
        ("tokeninfo's access token", post_access.as_str()),
        ("refresh token", refresh.as_str()),
        ("cookie", "c00kie-value"),
    ];
    for (what, value) in secrets {
        // Escaped forms too: JSON or percent-encoding would hide a plain match.
        let escaped: String = form_escape(value);
        for line in log.lines() {
            assert!(
                !line.contains(value) && !line.contains(&escaped),
                "the {what} is in the log: {line}"
            );
        }
    }
}

/// `application/x-www-form-urlencoded` escaping, as reqwest sends values.
fn form_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// With JSON logs even the error that stops the process is a JSON line:
/// here the port is taken, and a configuration error the other case.
#[test]
fn startup_errors_are_json_lines_in_json_mode() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = std::env::temp_dir().join(format!("tollgate-e2e-json-{}", std::process::id()));
    let run = |env: &[(&str, String)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
        c.env_remove("RUST_LOG")
            .env("TOLLGATE_SERVER__DATA_DIR", dir.join("data"))
            .args(["serve", "--log-format", "json"]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let cases = [
        (
            "TOLLGATE_SERVER__LISTEN",
            taken.local_addr().unwrap().to_string(),
            "cannot listen",
        ),
        (
            "TOLLGATE_SERVER__NO_SUCH_KEY",
            "1".to_owned(),
            "no_such_key",
        ),
    ];
    for (key, value, expect) in cases {
        let out = run(&[(key, value)]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{stderr}");
        for line in stderr.lines() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(v.is_object(), "{line}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text log written to a file (not a terminal) is plain: no ANSI colour escapes,
/// which are noise in a log file and break grep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_file_have_no_colour_escapes() {
    let s = Server::start_with(Backend::Sqlite, &[("TOLLGATE_LOG__LEVEL", "info")], &[]).await;
    let (id, secret) = s.add_client("plain-log", &["--scope", "read"]);
    let _ = s.token(&id, &secret, None).await;
    wait_for_log(&s, "listening").await;
    let log = s.log();
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in the log file:\n{log}"
    );
}

/// A machine without system CA certificates (a minimal container, no
/// `ca-certificates` package) still runs the server: outbound https then trusts
/// only the configured CA files, and the log says so. Before, the start failed
/// with "HTTP client: builder error" (found by scripts/fresh-machine.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_without_system_ca_certificates() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
            ("SSL_CERT_DIR", "/nonexistent"),
        ],
        &["--demo"],
    )
    .await;
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (id, secret) = s.add_client("no-ca", &["--scope", "read"]);
    assert!(s.token(&id, &secret, None).await["access_token"].is_string());
    wait_for_log(&s, "install ca-certificates").await;
}
