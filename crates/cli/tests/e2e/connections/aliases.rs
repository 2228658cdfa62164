//! Proxy aliases (seed 003's "proxy server alias"): a connection that goes
//! through Debian's tinyproxy by alias, the reference the store keeps
//! (unknown alias refused, an alias in use not deletable), a changed alias
//! reaching the running server's token manager, and a password that is
//! never printed.
use serde_json::{Value, json};

use super::cli::{failed, ok};
use super::network::Tinyproxy;
use super::{add_cc, tempdir};
use crate::harness::{Backend, Server};

const PASSWORD: &str = "alias-pw-Q7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_through_a_proxy_alias() {
    let s = Server::start(Backend::Sqlite).await;
    let dir = tempdir("conn-alias");
    let (id, secret) = s.add_client("via-alias", &["--scope", "read"]);
    let token_ep = s.url("/oauth2/token");
    let proxy = Tinyproxy::start(&dir, "tollgate", PASSWORD);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let admin = crate::admin::admin_token(&s).await;
    let api = |path: &str| s.url(&format!("/admin/v1{path}"));
    let never_shows_password = |out: &std::process::Output| {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(PASSWORD), "the password was printed: {all}");
    };

    // The alias, its password on standard input.
    let out = s.cli_with_stdin(
        &[
            "proxy",
            "add",
            "corp",
            "--url",
            &proxy_url,
            "--user",
            "tollgate",
            "--password-stdin",
            "--json",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    never_shows_password(&out);
    let added: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(added["url"], format!("{proxy_url}/"), "{added}");
    assert_eq!(added["username"], "tollgate");
    assert_eq!(added["has_password"], true);

    // An unknown alias, or an alias and a proxy URL together: refused.
    let err = failed(&add_cc(
        &s,
        "lost",
        &token_ep,
        &id,
        &secret,
        &["--proxy-alias", "nosuch"],
        None,
    ));
    assert!(err.contains("no proxy alias named 'nosuch'"), "{err}");
    let err = failed(&add_cc(
        &s,
        "both",
        &token_ep,
        &id,
        &secret,
        &["--proxy-alias", "corp", "--proxy", &proxy_url],
        None,
    ));
    assert!(err.contains("--proxy"), "{err}");
    assert_eq!(s.cli_json(&["connection", "list"]), json!([]));

    // Through the alias: the request is in the proxy's log.
    ok(&add_cc(
        &s,
        "crm",
        &token_ep,
        &id,
        &secret,
        &["--scope", "read", "--proxy-alias", "corp"],
        None,
    ));
    let token = ok(&s.cli(&["connection", "token", "crm"]));
    let v = s.introspect((&id, &secret), token.trim()).await;
    assert_eq!(v["active"], true, "{v}");
    let provider = token_ep.trim_start_matches("http://");
    let log = proxy.log();
    assert!(log.contains(provider), "the proxy's log:\n{log}");

    // Shown everywhere, the password nowhere.
    let show = s.cli(&["proxy", "show", "corp"]);
    never_shows_password(&show);
    let text = ok(&show);
    assert!(text.contains("crm") && text.contains("tollgate"), "{text}");
    let list = s.cli(&["proxy", "list", "--json"]);
    never_shows_password(&list);
    let list: Value = serde_json::from_str(&ok(&list)).unwrap();
    assert_eq!(list[0]["name"], "corp");
    assert_eq!(list[0]["used_by"], json!(["crm"]));
    let conn = s.cli_json(&["connection", "show", "crm"]);
    assert_eq!(conn["spec"]["proxy_alias"], "corp", "{conn}");
    assert_eq!(conn["secrets"], json!(["client_secret"]), "{conn}");

    // In use: the CLI names the connection, the API answers 409.
    let out = s.cli(&["proxy", "delete", "corp"]);
    let err = failed(&out);
    assert!(err.contains("used by") && err.contains("crm"), "{err}");
    let r = s
        .http
        .delete(api("/proxies/corp"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "conflict", "{e}");

    // The running server gets its token through the alias; the alias is
    // then changed by another process (a wrong password): the server's
    // next request goes through the new settings, not a stale client.
    let refresh = || async {
        s.http
            .post(api("/connections/crm/token?refresh=true"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(refresh().await.status(), 200);
    let mut cmd = s.command();
    let out = cmd
        .args([
            "proxy",
            "update",
            "corp",
            "--url",
            &proxy_url,
            "--user",
            "tollgate",
            "--password-env",
            "ALIAS_PW",
        ])
        .env("ALIAS_PW", "wrong-password")
        .output()
        .unwrap();
    ok(&out);
    let r = refresh().await;
    assert_eq!(r.status(), 424);
    let e: Value = r.json().await.unwrap();
    // The proxy's refusal, not the provider's (that would be JSON with
    // invalid_client): tinyproxy answers a plain-http request with wrong
    // credentials 401 (407 for CONNECT).
    let said = e["error_description"].as_str().unwrap_or_default();
    assert!(
        (said.contains("HTTP 401") || said.contains("HTTP 407"))
            && !said.contains("invalid_client"),
        "{e}"
    );
    // Changed back through the API: works again.
    let r = s
        .http
        .put(api("/proxies/corp"))
        .bearer_auth(&admin)
        .json(&json!({"url": proxy_url, "username": "tollgate", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(!body.contains(PASSWORD), "{body}");
    assert_eq!(refresh().await.status(), 200);

    // The API: an unknown alias on a new connection is 400; listing and
    // reading aliases; the OpenAPI document describes them.
    let r = s
        .http
        .post(api("/connections"))
        .bearer_auth(&admin)
        .json(&json!({
            "name": "api-lost",
            "spec": {
                "flow": "client_credentials",
                "token_endpoint": token_ep,
                "client_id": id,
                "proxy_alias": "nosuch",
            },
            "secrets": {"client_secret": secret},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let listed: Value = s
        .http
        .get(api("/proxies"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["used_by"], json!(["crm"]), "{listed}");
    assert!(!listed.to_string().contains(PASSWORD));
    let doc: Value = s
        .http
        .get(s.url("/admin/openapi.json"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/admin/v1/proxies/{name}"]["delete"].is_object());

    // Once no connection uses it, the alias can go.
    ok(&s.cli(&["connection", "delete", "crm"]));
    ok(&s.cli(&["proxy", "delete", "corp"]));
    let r = s
        .http
        .get(api("/proxies/corp"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}
