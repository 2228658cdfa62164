//! `--kid`: a provider that registered the connection's public key under a
//! `kid` of its own (Okta does; so does Tollgate with a JWK Set) accepts the
//! assertion only when its header names that kid. Tollgate is the provider.
use serde_json::{Value, json};

use super::cli::{failed, ok};
use super::{keyed_client, tempdir};
use crate::assertions::support::{Key, Kind};
use crate::harness::{Backend, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_names_the_key_by_its_own_kid() {
    let s = Server::start(Backend::Sqlite).await;
    let dir = tempdir("conn-kid");
    let key = Key::new(&dir, Kind::Ec);
    // The client's key registered as a JWK under the provider's own kid.
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [key.jwk("partner-key-7", None)]}).to_string(),
    )
    .unwrap();
    let id = keyed_client(&s, "kid-keyed", &jwks, &[]);
    let token_ep = s.url("/oauth2/token");
    let key_arg = key.path.display().to_string();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "connection",
            "add",
            name,
            "--flow",
            "client-assertion",
            "--token-endpoint",
            &token_ep,
            "--client-id",
            &id,
            "--key",
            &key_arg,
            "--scope",
            "read",
        ];
        args.extend_from_slice(extra);
        s.cli(&args)
    };

    // Without --kid the header carries the key's thumbprint, a kid this
    // provider does not know: refused.
    ok(&add("thumbprint", &[]));
    let err = failed(&s.cli(&["connection", "token", "thumbprint"]));
    assert!(err.contains("invalid_client"), "{err}");

    // With the provider's kid: accepted.
    ok(&add("named", &["--kid", "partner-key-7"]));
    let token = ok(&s.cli(&["connection", "token", "named"]));
    let (iid, isecret) = s.add_client("kid-introspector", &["--scope", "read"]);
    let v = s.introspect((&iid, &isecret), token.trim()).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], id.as_str());
    let show = s.cli_json(&["connection", "show", "named"]);
    assert_eq!(show["spec"]["assertion"]["kid"], "partner-key-7", "{show}");
    let text = ok(&s.cli(&["connection", "show", "named"]));
    assert!(text.contains("partner-key-7"), "{text}");

    // Same key, another kid: refused, so the kid is what decided.
    ok(&add("other", &["--kid", "partner-key-8"]));
    let err = failed(&s.cli(&["connection", "token", "other"]));
    assert!(err.contains("invalid_client"), "{err}");

    // Only signed flows have a kid.
    let err = failed(&s.cli(&[
        "connection",
        "add",
        "cc",
        "--flow",
        "client-credentials",
        "--token-endpoint",
        &token_ep,
        "--client-id",
        &id,
        "--kid",
        "partner-key-7",
    ]));
    assert!(err.contains("--kid"), "{err}");

    // The admin API takes it as spec.assertion.kid.
    let admin = crate::admin::admin_token(&s).await;
    let r = s
        .http
        .post(s.url("/admin/v1/connections"))
        .bearer_auth(&admin)
        .json(&json!({
            "name": "api-named",
            "spec": {
                "flow": "client_assertion",
                "token_endpoint": token_ep,
                "client_id": id,
                "scopes": ["read"],
                "assertion": {"kid": "partner-key-7", "expires_in_minutes": 2},
            },
            "secrets": {"signing_key_pem": std::fs::read_to_string(&key.path).unwrap()},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = s
        .http
        .post(s.url("/admin/v1/connections/api-named/token"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let t: Value = r.json().await.unwrap();
    let v = s
        .introspect((&iid, &isecret), t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(v["active"], true, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}
