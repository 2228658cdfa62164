//! Listeners: a TLS listener (certificate made in the test) serving the
//! gateway and the token service, a primary listener that does not serve
//! the gateway, and a listener whose address rules refuse the caller.
use serde_json::{Value, json};

use super::upstream::Upstream;
use super::{add_service, answer, certificate, consume, token};
use crate::harness::{Backend, Server};

/// The address a secondary listener printed ("tollgate … listening on URL").
fn listener_url(s: &Server, serves: &str) -> String {
    let prefix = format!("tollgate {serves} listening on ");
    s.stdout
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in {:?}", s.stdout))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_surfaces_and_address_rules() {
    let dir = std::env::temp_dir().join(format!("tollgate-listeners-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    let config = dir.join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
serves = ["oauth", "admin"]

[[listeners]]
listen = "127.0.0.1:0"
serves = ["gateway", "oauth"]
tls_cert = {cert:?}
tls_key = {key:?}

[[listeners]]
listen = "127.0.0.1:0"
serves = ["gateway"]
deny = ["127.0.0.0/8"]
"#
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let mut env: Vec<(&str, &str)> = super::FAST.to_vec();
    env.push(("TOLLGATE_CONFIG", config.as_str()));
    let s = Server::start_with(Backend::Sqlite, &env, &[]).await;
    let up = Upstream::start().await;
    add_service(&s, "orders", &up.url("/api"), &[]);
    let (id, secret) = consume(&s, "orders", "billing");
    let t = token(&s, &id, &secret, "orders").await;

    // The primary listener does not serve the gateway.
    let r = s
        .http
        .get(s.url("/gateway/orders/x"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The TLS listener serves it, and the token service, over HTTPS only.
    let tls = listener_url(&s, "gateway+oauth");
    assert!(tls.starts_with("https://127.0.0.1:"), "{tls}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    let a = loop {
        let a = answer(
            https
                .get(format!("{tls}/gateway/orders/x"))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if a.status == 200 || start.elapsed() > std::time::Duration::from_secs(10) {
            break a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["headers"]["x-forwarded-proto"], "https");
    let r = https
        .post(format!(
            "{tls}/rest/pub.mediator.oauth2.getOAuth2AccessToken"
        ))
        .json(&json!({"client_id": id, "client_secret": secret, "scope": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["access_token"].is_string());
    // Plain HTTP to the TLS port is not served.
    let plain = tls.replace("https://", "http://");
    let served = s
        .http
        .get(format!("{plain}/gateway/orders/x"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    assert!(!served, "plain HTTP on the TLS port");

    // A listener whose rules refuse loopback callers: 403 with the reason.
    let denied = listener_url(&s, "gateway");
    let r = s
        .http
        .get(format!("{denied}/gateway/orders/x"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error(), "access_denied");
    assert!(
        a.description().contains("127.0.0.1 may not use port"),
        "{}",
        a.body
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An https upstream (the Authlib server over TLS, its certificate from a
/// private "CA"): refused (502) until `gateway.upstream_ca_file` trusts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("tollgate-upstream-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    let tls_upstream = super::authlib::AuthlibServer::start(
        &dir,
        &[("c", "s", "")],
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        tls_upstream.url.starts_with("https://"),
        "{}",
        tls_upstream.url
    );

    for (trusted, status) in [(false, 502), (true, 200)] {
        let ca = cert.display().to_string();
        let mut env: Vec<(&str, &str)> = super::FAST.to_vec();
        if trusted {
            env.push(("TOLLGATE_GATEWAY__UPSTREAM_CA_FILE", ca.as_str()));
        }
        let s = Server::start_with(Backend::Sqlite, &env, &[]).await;
        add_service(&s, "secure", &format!("{}/", tls_upstream.url), &[]);
        let (id, secret) = consume(&s, "secure", "app");
        let t = token(&s, &id, &secret, "secure").await;
        let a = super::eventually(&s, "/gateway/secure/stats", Some(&t), status).await;
        if trusted {
            assert!(a.body["introspections"].is_number(), "{}", a.body);
        } else {
            assert_eq!(a.error(), "bad_gateway", "{}", a.body);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
