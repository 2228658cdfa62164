//! `tollgate connection …` as a person or a shell script uses it, against
//! the same server as the provider.
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::{add_cc, keyed_client};
use crate::assertions::support::{Key, Kind};
use crate::authcode::{PASSWORD, add_user, location, login, no_redirects};
use crate::harness::{Backend, Server};

pub(super) fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "tollgate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(super) fn failed(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "tollgate should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_from_the_command_line() {
    let s = Server::start(Backend::Sqlite).await;
    let (id, secret) = s.add_client("script-cc", &["--scope", "read"]);
    let token_ep = s.url("/oauth2/token");
    ok(&add_cc(
        &s,
        "provider",
        &token_ep,
        &id,
        &secret,
        &["--scope", "read"],
        None,
    ));
    // What a script does: the token alone on stdout.
    let token = ok(&s.cli(&["connection", "token", "provider"]));
    let token = token.trim();
    assert_eq!(token.lines().count(), 1);
    let v = s.introspect((&id, &secret), token).await;
    assert_eq!(v["active"], true, "{v}");
    // Cached: the same token again.
    assert_eq!(
        ok(&s.cli(&["connection", "token", "provider"])).trim(),
        token
    );
    let show = s.cli_json(&["connection", "show", "provider"]);
    assert_eq!(show["status"], "ok");
    assert_eq!(show["secrets"], serde_json::json!(["client_secret"]));
    let text = show.to_string();
    assert!(!text.contains(&secret) && !text.contains(token), "{text}");
    let tested = ok(&s.cli(&["connection", "test", "provider"]));
    assert!(tested.contains("works"), "{tested}");
    assert!(!tested.contains(token));
    let list = s.cli_json(&["connection", "list"]);
    assert_eq!(list[0]["name"], "provider");
    // A wrong secret: the provider's error, and a failing exit status.
    ok(&add_cc(&s, "wrong", &token_ep, &id, "nope", &[], None));
    let err = failed(&s.cli(&["connection", "token", "wrong"]));
    assert!(err.contains("invalid_client"), "{err}");
    // A secret on the command line is not an option.
    let err = failed(&s.cli(&[
        "connection",
        "add",
        "x",
        "--flow",
        "client-credentials",
        "--token-endpoint",
        &token_ep,
        "--client-id",
        &id,
        "--client-secret",
        "s",
    ]));
    assert!(err.contains("--client-secret"), "{err}");
    ok(&s.cli(&["connection", "delete", "provider"]));
    let err = failed(&s.cli(&["connection", "token", "provider"]));
    assert!(err.contains("no connection named 'provider'"), "{err}");
}

/// A PKCS#12 keystore made by `openssl pkcs12 -export`: the key and its
/// certificate under `alias`, protected by `password`.
fn pkcs12(
    dir: &std::path::Path,
    key: &Key,
    cert: &std::path::Path,
    alias: &str,
    password: &str,
) -> std::path::PathBuf {
    let p12 = dir.join(format!("{alias}.p12"));
    let out = std::process::Command::new("openssl")
        .args(["pkcs12", "-export", "-name", alias, "-passout"])
        .arg(format!("pass:{password}"))
        .arg("-inkey")
        .arg(&key.path)
        .arg("-in")
        .arg(cert)
        .arg("-out")
        .arg(&p12)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p12
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_from_a_pkcs12_keystore() {
    let s = Server::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(crate::assertions::support::unique("conn-p12"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::new(&dir, Kind::Rsa);
    let cert = key.cert(&dir);
    let p12 = pkcs12(&dir, &key, &cert, "graph-signing", "keystore-pw");
    let id = keyed_client(&s, "script-keyed", &cert, &[]);
    let token_ep = s.url("/oauth2/token");
    let add = |name: &str, alias: &str, password: &str| {
        s.cli_with_stdin(
            &[
                "connection",
                "add",
                name,
                "--flow",
                "client-assertion",
                "--token-endpoint",
                &token_ep,
                "--client-id",
                &id,
                "--scope",
                "read",
                "--keystore",
                &p12.display().to_string(),
                "--alias",
                alias,
                "--keystore-password-stdin",
                "--x5t",
            ],
            format!("{password}\n").as_bytes(),
        )
    };
    let err = failed(&add("bad-pw", "graph-signing", "wrong"));
    assert!(err.contains("password is wrong"), "{err}");
    let err = failed(&add("bad-alias", "nope", "keystore-pw"));
    assert!(
        err.contains("alias 'nope' not found") && err.contains("graph-signing"),
        "{err}"
    );
    ok(&add("graph", "graph-signing", "keystore-pw"));
    let token = ok(&s.cli(&["connection", "token", "graph"]));
    let (iid, isecret) = s.add_client("introspector", &["--scope", "read"]);
    let v: Value = s.introspect((&iid, &isecret), token.trim()).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], id.as_str());
    // A certificate that is not the key's is refused when added.
    let other = Key::new(&dir, Kind::Rsa);
    let err = failed(&s.cli(&[
        "connection",
        "add",
        "mismatch",
        "--flow",
        "client-assertion",
        "--token-endpoint",
        &token_ep,
        "--client-id",
        &id,
        "--key",
        &other.path.display().to_string(),
        "--cert",
        &cert.display().to_string(),
        "--x5t",
    ]));
    assert!(err.contains("does not belong to the private key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client of the code flow with the loopback redirect (RFC 8252, any
/// port) and scope `read`, plus `extra` options: (id, secret).
fn code_client(s: &Server, name: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--scope",
        "read",
    ];
    args.extend_from_slice(extra);
    s.add_client(name, &args)
}

/// `connection add NAME --flow authorization-code` against this server,
/// with the client's secret on stdin when it has one.
fn add_code_connection(s: &Server, name: &str, client_id: &str, secret: Option<&str>) {
    let authorize = s.url("/oauth2/authorize");
    let token = s.url("/oauth2/token");
    let mut args = vec![
        "connection",
        "add",
        name,
        "--flow",
        "authorization-code",
        "--authorization-endpoint",
        &authorize,
        "--token-endpoint",
        &token,
        "--client-id",
        client_id,
        "--scope",
        "read",
    ];
    match secret {
        Some(secret) => {
            args.push("--client-secret-stdin");
            ok(&s.cli_with_stdin(&args, format!("{secret}\n").as_bytes()));
        }
        None => {
            ok(&s.cli(&args));
        }
    }
}

/// Starts `connection authorize NAME --no-browser` and returns the child
/// and the authorization URL it printed.
async fn start_authorize(s: &Server, name: &str) -> (tokio::process::Child, String) {
    let mut cmd = tokio::process::Command::from(s.command());
    cmd.args([
        "connection",
        "authorize",
        name,
        "--no-browser",
        "--wait",
        "30",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("the authorization URL in time")
        .unwrap()
        .expect("a line");
    (child, url)
}

/// Runs `connection authorize NAME` and plays the signed-in person's
/// browser over plain HTTP (the client skips consent): the provider's
/// redirect is delivered to the command's loopback listener.
async fn authorize_over_http(s: &Server, http: &reqwest::Client, cookie: &str, name: &str) {
    let (child, url) = start_authorize(s, name).await;
    assert!(url.starts_with(&s.url("/oauth2/authorize?")), "{url}");
    let r = http
        .get(&url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let back = location(&r);
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("close this window"));
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "authorize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_over_a_loopback_redirect() {
    let s = Server::start(Backend::Sqlite).await;
    add_user(&s, "alice");
    let (id, secret) = code_client(&s, "native", &["--skip-consent"]);
    add_code_connection(&s, "crm", &id, Some(&secret));
    // Before anyone authorized it, there is no token to give.
    let err = failed(&s.cli(&["connection", "token", "crm"]));
    assert!(err.contains("authorize"), "{err}");

    let http = no_redirects();
    let cookie = login(&s, &http, "alice", PASSWORD).await;
    authorize_over_http(&s, &http, &cookie, "crm").await;
    // Now a script gets tokens for alice, refreshed without her.
    let token = ok(&s.cli(&["connection", "token", "crm"]));
    let v = s.introspect((&id, &secret), token.trim()).await;
    assert_eq!(
        (v["active"].as_bool(), v["username"].as_str()),
        (Some(true), Some("alice"))
    );
    let alice = v["sub"].clone();
    let fresh = ok(&s.cli(&["connection", "token", "crm", "--refresh"]));
    assert_ne!(fresh.trim(), token.trim());
    let v = s.introspect((&id, &secret), fresh.trim()).await;
    assert_eq!(v["sub"], alice, "the refreshed token is alice's too");

    // An answer with another state is refused and nothing is stored.
    let (child, url) = start_authorize(&s, "crm").await;
    let r = http
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let mut forged = reqwest::Url::parse(&location(&r)).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    // The browser is told the answer was refused, not that it was received.
    let page = reqwest::get(forged.as_str()).await.unwrap();
    assert_eq!(page.status(), 400);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("did not accept") && page.contains("state does not match"),
        "{page}"
    );
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("state does not match") && err.contains("connection authorize crm"),
        "{err}"
    );
    // The earlier authorization still stands.
    let show = s.cli_json(&["connection", "show", "crm"]);
    assert_eq!(show["status"], "ok");
}

/// The same through `/admin/v1/connections`, a PKCS#12 keystore uploaded
/// as base64.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_manages_connections() {
    use base64::Engine;
    let s = Server::start(Backend::Sqlite).await;
    let admin = crate::admin::admin_token(&s).await;
    let dir = std::env::temp_dir().join(crate::assertions::support::unique("conn-api"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::new(&dir, Kind::Ec);
    let cert = key.cert(&dir);
    let p12 = pkcs12(&dir, &key, &cert, "api-signing", "pw");
    let id = keyed_client(&s, "api-keyed", &cert, &[]);
    let api = |path: &str| s.url(&format!("/admin/v1/connections{path}"));
    let body = serde_json::json!({
        "name": "graph",
        "spec": {
            "flow": "client_assertion",
            "token_endpoint": s.url("/oauth2/token"),
            "client_id": id,
            "scopes": ["read"],
            "assertion": {"x5t_s256": true, "expires_in_minutes": 2},
        },
        "secrets": {"keystore": {
            "pkcs12": base64::engine::general_purpose::STANDARD.encode(std::fs::read(&p12).unwrap()),
            "password": "pw",
        }},
    });
    let r = s
        .http
        .post(api(""))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["secrets"], serde_json::json!(["signing_key"]));
    assert!(
        view["spec"]["assertion"]["certificate_pem"].is_string(),
        "{view}"
    );
    // Taken: 409. A wrong keystore password: 400 naming the field.
    let r = s
        .http
        .post(api(""))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let mut bad = body.clone();
    bad["name"] = "graph2".into();
    bad["secrets"]["keystore"]["password"] = "nope".into();
    let r = s
        .http
        .post(api(""))
        .bearer_auth(&admin)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "secrets.keystore", "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{e}"
    );

    let r = s
        .http
        .post(api("/graph/token"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let t: Value = r.json().await.unwrap();
    let (iid, isecret) = s.add_client("api-introspector", &["--scope", "read"]);
    let v = s
        .introspect((&iid, &isecret), t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(v["client_id"], id.as_str());
    let again: Value = s
        .http
        .post(api("/graph/token?refresh=true"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(again["access_token"], t["access_token"]);
    let listed: Value = s
        .http
        .get(api(""))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["status"], "ok");
    assert!(
        !listed
            .to_string()
            .contains(t["access_token"].as_str().unwrap())
    );
    // The CLI sees the same connection.
    assert_eq!(s.cli_json(&["connection", "show", "graph"])["status"], "ok");
    let r = s
        .http
        .delete(api("/graph"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .http
        .post(api("/graph/token"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A service whose upstream wants OAuth itself: the gateway calls it with a
/// connection's token (refreshed by the connection), never the caller's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_calls_its_upstream_with_a_connections_token() {
    use crate::gateway::upstream::Upstream;
    use crate::gateway::{FAST, add_service, consume, eventually, token};
    let s = Server::start_with(Backend::Sqlite, FAST, &[]).await;
    let up = Upstream::start().await;
    // The provider of the upstream's tokens (here: this same server).
    let (pid, psecret) = s.add_client("upstream-caller", &["--scope", "crm.read"]);
    ok(&add_cc(
        &s,
        "crm",
        &s.url("/oauth2/token"),
        &pid,
        &psecret,
        &["--scope", "crm.read"],
        None,
    ));
    add_service(
        &s,
        "crm",
        &up.url("/api"),
        &["--upstream-connection", "crm"],
    );
    let (cid, csecret) = consume(&s, "crm", "portal");
    let caller = token(&s, &cid, &csecret, "crm").await;
    let a = eventually(&s, "/gateway/crm/accounts", Some(&caller), 200).await;
    let auth = a.body["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let upstream_token = auth.strip_prefix("Bearer ").expect("a bearer token");
    assert_ne!(upstream_token, caller, "never the caller's token");
    let v = s.introspect((&pid, &psecret), upstream_token).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], pid.as_str());
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], cid.as_str());
    // The same token on the next call (the connection's cache).
    let b = crate::gateway::get(&s, "/gateway/crm/accounts", Some(&caller)).await;
    assert_eq!(b.body["headers"]["authorization"], auth.as_str());

    // `service show` says where the upstream's token comes from.
    let shown = s.cli(&["service", "show", "crm"]);
    ok(&shown);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("upstream token: from the connection 'crm'"),
        "{text}"
    );
    // A connection that does not exist is refused when it is named, on update as on add.
    let out = s.cli(&[
        "service",
        "update",
        "crm",
        "--upstream-connection",
        "nobody",
    ]);
    assert!(!out.status.success());
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("no connection is named 'nobody'"), "{why}");
    let out = s.cli(&[
        "service",
        "add",
        "crm2",
        "--upstream",
        &up.url("/api"),
        "--upstream-connection",
        "nobody",
    ]);
    assert!(!out.status.success());
    // A connection that cannot give a token fails closed: 502, nothing sent
    // upstream. (Its provider does not answer: nothing listens on port 9.)
    ok(&add_cc(
        &s,
        "broken",
        "http://127.0.0.1:9/oauth2/token",
        &pid,
        &psecret,
        &[],
        None,
    ));
    ok(&s.cli(&[
        "service",
        "update",
        "crm",
        "--upstream-connection",
        "broken",
    ]));
    eventually(&s, "/gateway/crm/accounts", Some(&caller), 502).await;
    let before = up.hits();
    let c = crate::gateway::get(&s, "/gateway/crm/accounts", Some(&caller)).await;
    assert_eq!(c.status, 502);
    assert_eq!(c.error(), "bad_gateway", "{:?}", c.body);
    assert!(
        c.description().contains("connection 'broken'"),
        "{:?}",
        c.body
    );
    assert_eq!(up.hits(), before, "nothing reached the upstream");
    // Both ways of setting the upstream's Authorization: refused.
    let out = s.cli(&["service", "update", "crm", "--pass-authorization", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("choose one"));
}

/// `connection authorize` as a person does it: real headless Chromium opens
/// the printed URL, signs in, approves on the consent page, and the
/// provider's redirect reaches the command's loopback listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_through_a_real_browser() {
    use std::time::Duration;
    let s = Server::start(Backend::Sqlite).await;
    add_user(&s, "alice");
    let (id, _) = code_client(&s, "desktop-app", &["--public"]);
    add_code_connection(&s, "desk", &id, None);
    let (child, url) = start_authorize(&s, "desk").await;
    let browser = crate::browser::Browser::start().await;
    browser.goto(&url).await;
    browser
        .wait_for_url(|u| u.contains("/oauth2/login"), Duration::from_secs(30))
        .await;
    browser
        .find("input[name=username]")
        .await
        .type_text("alice")
        .await;
    browser
        .find("input[name=password]")
        .await
        .type_text(PASSWORD)
        .await;
    browser.find("button[type=submit]").await.click().await;
    browser
        .find("button[name=decision][value=allow]")
        .await
        .click()
        .await;
    browser
        .wait_for_url(
            |u| u.starts_with("http://127.0.0.1:"),
            Duration::from_secs(30),
        )
        .await;
    // The command's own page, once it has loaded.
    let mut page = String::new();
    for _ in 0..100 {
        page = browser.page_source().await;
        if page.contains("close this window") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("close this window"), "{page}");
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "authorize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = ok(&s.cli(&["connection", "token", "desk"]));
    let (iid, isecret) = s.add_client("desk-introspector", &["--scope", "read"]);
    let v = s.introspect((&iid, &isecret), token.trim()).await;
    assert_eq!(v["username"], "alice", "{v}");
    assert_eq!(v["client_id"], id.as_str());
}

/// A refresh token that expired: the connection needs a person again, says
/// so, and keeps no dead refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refresh_token_needs_authorization() {
    let s = Server::start(Backend::Sqlite).await;
    add_user(&s, "alice");
    let (id, secret) = code_client(
        &s,
        "short-lived",
        &["--skip-consent", "--refresh-token-ttl", "1"],
    );
    add_code_connection(&s, "crm", &id, Some(&secret));
    let http = no_redirects();
    let cookie = login(&s, &http, "alice", PASSWORD).await;
    authorize_over_http(&s, &http, &cookie, "crm").await;
    assert_eq!(
        s.cli_json(&["connection", "show", "crm"])["has_refresh_token"],
        true
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = s.cli(&["connection", "token", "crm", "--refresh"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_grant") && err.contains("tollgate connection authorize crm"),
        "{err}"
    );
    let show = s.cli_json(&["connection", "show", "crm"]);
    assert_eq!(show["status"], "needs_authorization", "{show}");
    assert_eq!(show["has_refresh_token"], false);
    // Authorizing again brings it back.
    authorize_over_http(&s, &http, &cookie, "crm").await;
    assert_eq!(s.cli_json(&["connection", "show", "crm"])["status"], "ok");
}
