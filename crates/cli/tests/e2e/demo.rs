//! `serve --demo`: the printed curl commands work exactly as printed.
use crate::harness::{Backend, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_commands_work_as_printed() {
    let mut s = Server::start_with(Backend::Sqlite, &[], &["--demo"]).await;
    let printed = s.stdout.join("\n");
    assert!(printed.contains("Demo client: demo / "), "{printed}");
    // Every non-comment command line, run in order in one shell.
    let script: Vec<&str> = s
        .stdout
        .iter()
        .map(String::as_str)
        .filter(|l| {
            ["curl ", "TOKEN=", "ADMIN=", "ASSERTION="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(script.len() >= 7, "{printed}");
    // The printed lines work as printed: no `tollgate` on the PATH is needed
    // (they name this very binary), as after `cargo run`.
    let run = |lines: &[&str]| {
        let out = std::process::Command::new("bash")
            .args(["-c", &format!("set -e\n{}", lines.join("\necho\n"))])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&script);
    assert!(out.contains("\"access_token\":\""), "{out}");
    assert!(out.contains("\"active\":true"), "{out}");
    assert!(out.contains("\"Department\":\"Engineering\""), "{out}");
    assert!(out.contains("\n200\n"), "revocation answers 200: {out}");
    assert!(out.contains("{\"active\":false}"), "{out}");
    assert!(out.contains("\"registration_access_token\""), "{out}");
    // Token answers for demo.read: step 1, the JWT bearer grant (step 9)
    // and the JSON token service (step 10).
    let granted = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["access_token"].is_string() && v["scope"] == "demo.read")
        .count();
    assert!(
        granted >= 3,
        "step 1, the JWT bearer grant, the token service: {out}"
    );
    // Step 10: the gateway refuses a call without a token (RFC 6750)...
    assert!(out.contains("HTTP/1.1 401"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"tollgate\""),
        "{out}"
    );
    // ...and the echo upstream sees the validated caller.
    assert!(out.contains("\"x-tollgate-client-id\":\"demo\""), "{out}");
    assert!(out.contains("\"path\":\"/echo/hello\""), "{out}");
    assert!(
        out.contains("\"client_name\":\"Demo client\""),
        "the admin API: {out}"
    );

    // Idempotent: a restart keeps the demo client and its secret.
    let first_secret = printed
        .lines()
        .find(|l| l.starts_with("Demo client:"))
        .unwrap()
        .to_owned();
    s.kill9();
    s.restart_with(&["--demo"]);
    let again = s.stdout.join("\n");
    let second_secret = again
        .lines()
        .find(|l| l.starts_with("Demo client:"))
        .unwrap()
        .to_owned();
    assert_eq!(first_secret, second_secret);
    let clients = s.cli_json(&["client", "list"]);
    assert_eq!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["client_id"] == "demo")
            .count(),
        1
    );
}

/// The README's authorization code flow against `serve --demo`: the printed
/// demo user signs in, consents for the demo public client, and the code is
/// exchanged with its PKCE verifier exactly as the printed curl line does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_authorization_code_flow_works() {
    use crate::authcode::{VERIFIER, csrf_in, location, login, no_redirects, query_of};
    use crate::login::request_in;

    let s = Server::start_with(Backend::Sqlite, &[], &["--demo"]).await;
    let printed = s.stdout.join("\n");
    let line = printed
        .lines()
        .find(|l| l.contains("authorization code flow with PKCE, as user demo / "))
        .expect("the code-flow section");
    let password = line
        .split("as user demo / ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let http = no_redirects();
    let cookie = login(&s, &http, "demo", password).await;
    let redirect = "http://127.0.0.1:8765/callback";
    let mut url = reqwest::Url::parse(&s.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "demo-spa")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "demo.read")
        .append_pair("state", "xyz")
        .append_pair(
            "code_challenge",
            &tollgate_jose::secrets::pkce_s256(VERIFIER),
        )
        .append_pair("code_challenge_method", "S256");
    let page = http
        .get(url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the consent page");
    let html = page.text().await.unwrap();
    let r = http
        .post(s.url("/oauth2/consent"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf_in(&html)),
            ("request", request_in(&html)),
            ("decision", "allow".into()),
        ])
        .send()
        .await
        .unwrap();
    let back = query_of(&location(&r));
    assert!(location(&r).starts_with(redirect));
    assert_eq!(back["state"], "xyz");
    let r = s
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "demo-spa"),
                ("code", &back["code"]),
                ("redirect_uri", redirect),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let tok: serde_json::Value = r.json().await.unwrap();
    assert_eq!(tok["scope"], "demo.read");
    assert!(tok["refresh_token"].is_string());
}
