//! Tollgate behind a real nginx that appends to `X-Forwarded-For`, with
//! `server.trusted_proxies` naming it: two real client addresses
//! (127.0.0.2 and 127.0.0.3, bound by the client socket) are throttled
//! separately, audited as themselves, judged by the listener's deny rule
//! as themselves, and announced to gateway upstreams as themselves; a
//! caller that is not the proxy cannot name its own address.
use serde_json::Value;

use crate::authcode::{PASSWORD, add_user};
use crate::gateway::upstream::Upstream;
use crate::gateway::{add_service, eventually};
use crate::harness::{Backend, Server};
use crate::nginx::Nginx;
use crate::ratelimit::http_from;

/// A password-grant request for `alice` through `url`.
async fn password_grant(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    password: &str,
    forged: Option<&str>,
) -> reqwest::StatusCode {
    let mut r = http.post(url).basic_auth("legacy", Some(secret)).form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", password),
    ]);
    if let Some(f) = forged {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap().status()
}

fn addresses_of(events: &[Value], outcome: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["outcome"] == outcome)
        .filter_map(|e| e["remote_addr"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_each_client_is_its_own_address() {
    let conf =
        std::env::temp_dir().join(format!("tollgate-behind-proxy-{}.toml", std::process::id()));
    std::fs::write(
        &conf,
        "[server]\ndeny = [\"127.0.0.4/32\"]\n\
         [login]\nmax_failures_per_address = 3\nmax_failures_per_user = 0\n",
    )
    .unwrap();
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_SERVER__TRUSTED_PROXIES", "127.0.0.1/32")],
        &["--config", conf.to_str().unwrap()],
    )
    .await;
    let nginx = Nginx::start(s.base.trim_start_matches("http://"));
    let token_url = nginx.url("/oauth2/token");
    add_user(&s, "alice");
    let (_, secret) = s.add_client("legacy", &["--grant", "password", "--scope", "read"]);
    let (two, three) = (http_from("127.0.0.2"), http_from("127.0.0.3"));

    // 127.0.0.3 fails three passwords through the proxy: that address is
    // locked (the login lockout per address), even for the right password.
    for _ in 0..3 {
        let st = password_grant(&three, &token_url, &secret, "wrong", None).await;
        assert_eq!(st, 400);
    }
    let st = password_grant(&three, &token_url, &secret, PASSWORD, None).await;
    assert_eq!(st, 429, "127.0.0.3 is locked");
    // 127.0.0.2 behind the same proxy is another address: served.
    let st = password_grant(&two, &token_url, &secret, PASSWORD, None).await;
    assert_eq!(st, 200, "127.0.0.2 is not");
    // A forged X-Forwarded-For does not move a client: nginx appends the
    // real address, and Tollgate takes the right-most untrusted one.
    let st = password_grant(&two, &token_url, &secret, PASSWORD, Some("127.0.0.3")).await;
    assert_eq!(st, 200, "127.0.0.2 claiming to be 127.0.0.3");
    let st = password_grant(&three, &token_url, &secret, PASSWORD, Some("127.0.0.2")).await;
    assert_eq!(st, 429, "127.0.0.3 claiming to be 127.0.0.2");
    // A caller that is not a trusted proxy is its own address whatever it sends.
    let direct = s.url("/oauth2/token");
    let five = http_from("127.0.0.5");
    let st = password_grant(&five, &direct, &secret, PASSWORD, Some("127.0.0.3")).await;
    assert_eq!(st, 200, "a direct caller's X-Forwarded-For is ignored");

    // Audited as themselves, not as the proxy.
    let events = s.audit_events("user.login", 8).await;
    let denied = addresses_of(&events, "access_denied");
    assert_eq!(denied, vec!["127.0.0.3"; 3], "{events:?}");
    let locked = addresses_of(&events, "too_many_requests");
    assert!(locked.iter().all(|a| a == "127.0.0.3") && locked.len() == 2);
    let mut ok = addresses_of(&events, "ok");
    ok.sort();
    assert_eq!(ok, ["127.0.0.2", "127.0.0.2", "127.0.0.5"]);
    // A failed client authentication through the proxy, too.
    let r = three
        .post(&token_url)
        .basic_auth("legacy", Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The audit log is written in the background: wait for the event.
    let mut tries = 0;
    while !s
        .audit_events("token.rejected", 1)
        .await
        .iter()
        .any(|e| e["outcome"] == "invalid_client" && e["remote_addr"] == "127.0.0.3")
    {
        tries += 1;
        assert!(
            tries < 50,
            "the failed client authentication is not audited as 127.0.0.3"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The listener's deny rule judges the client address, through the proxy
    // as directly.
    let four = http_from("127.0.0.4");
    for url in [
        nginx.url("/.well-known/oauth-authorization-server"),
        s.url("/.well-known/oauth-authorization-server"),
    ] {
        let r = four.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 403, "{url}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("127.0.0.4")
        );
    }
    let r = two
        .get(nginx.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The gateway tells its upstream the verified chain: the client, then
    // the proxy; the client's own entries are dropped.
    let up = Upstream::start().await;
    add_service(&s, "public", &up.url("/pub"), &["--anonymous"]);
    eventually(&s, "/gateway/public/x", None, 200).await;
    let r = two
        .get(nginx.url("/gateway/public/x"))
        .header("x-forwarded-for", "203.0.113.66")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let h = &body["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.2, 127.0.0.1", "{body}");
    assert_eq!(h["x-real-ip"], "127.0.0.2");
    let _ = std::fs::remove_file(&conf);
}
