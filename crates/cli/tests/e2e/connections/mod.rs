//! Connections (issue 7) against Tollgate's own authorization server as the
//! provider, over real HTTP: the token manager (`tollgate_connect`) with its
//! own SQLite store, as another process (or node) would hold it.
mod aliases;
mod cli;
mod kid;
mod network;

use std::sync::Arc;

use serde_json::Value;
use tollgate_connect::{
    AssertionSpec, ConnectError, ConnectionSecrets, ConnectionSpec, Connections, Flow,
};
use tollgate_core::SystemClock;
use tollgate_jose::MasterKey;
use tollgate_store::{Store, StoreOptions};
use url::Url;

use crate::assertions::support::{Key, Kind};
use crate::harness::{Backend, Server};

/// A store of its own (a SQLite file in a fresh directory) and a manager
/// over it; `dir` is kept alive by the caller.
async fn manager(dir: &std::path::Path) -> (Arc<dyn Store>, Connections) {
    let store = tollgate_store::open(&StoreOptions::new(format!(
        "sqlite://{}",
        dir.join("connections.db").display()
    )))
    .await
    .unwrap();
    let master = Arc::new(MasterKey::from_bytes(&[7u8; 32]).unwrap());
    let c = Connections::new(store.clone(), master, Arc::new(SystemClock));
    (store, c)
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(crate::assertions::support::unique(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(s: &Server, flow: Flow, client_id: &str) -> ConnectionSpec {
    spec_at(&s.url("/oauth2/token"), flow, client_id)
}

/// A connection of `flow` to the token endpoint `token_endpoint`, scope
/// `read`, the defaults otherwise.
fn spec_at(token_endpoint: &str, flow: Flow, client_id: &str) -> ConnectionSpec {
    ConnectionSpec {
        flow,
        token_endpoint: Url::parse(token_endpoint).unwrap(),
        authorization_endpoint: None,
        client_id: Some(client_id.to_owned()),
        scopes: vec!["read".into()],
        params: Default::default(),
        assertion: None,
        redirect_uri: None,
        refresh_margin_secs: 60,
        default_lifetime_secs: 3600,
        truststore_pem: None,
        client_certificate_pem: None,
        proxy: None,
        proxy_username: None,
        proxy_alias: None,
        timeout_secs: 10,
    }
}

fn secret(s: &str) -> ConnectionSecrets {
    ConnectionSecrets {
        client_secret: Some(s.to_owned()),
        ..Default::default()
    }
}

/// `tollgate connection add NAME --flow client-credentials` to
/// `token_endpoint` for `client_id`, the secret on stdin, plus `extra`
/// options and one environment variable when given.
pub(super) fn add_cc(
    s: &Server,
    name: &str,
    token_endpoint: &str,
    client_id: &str,
    secret: &str,
    extra: &[&str],
    env: Option<(&str, &str)>,
) -> std::process::Output {
    use std::io::Write;
    let mut cmd = s.command();
    cmd.args([
        "connection",
        "add",
        name,
        "--flow",
        "client-credentials",
        "--token-endpoint",
        token_endpoint,
        "--client-id",
        client_id,
        "--client-secret-stdin",
    ])
    .args(extra)
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run tollgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{secret}\n").as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A `private_key_jwt` client with scope `read` whose key is registered by
/// its certificate `cert`, plus `extra` options: its id.
pub(super) fn keyed_client(
    s: &Server,
    name: &str,
    cert: &std::path::Path,
    extra: &[&str],
) -> String {
    let cert = cert.display().to_string();
    let mut args = vec![
        "--scope",
        "read",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        &cert,
    ];
    args.extend_from_slice(extra);
    s.add_client(name, &args).0
}

/// How many tokens the provider issued to `client_id` (its Prometheus
/// counter, read with a `tollgate:metrics` token).
async fn issued(s: &Server, scraper: &str, client_id: &str) -> u64 {
    let text = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(scraper)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tollgate_tokens_issued_total{")
                && l.contains(&format!("client_id=\"{client_id}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn scraper(s: &Server) -> String {
    let (id, secret) = s.add_client("prometheus", &["--scope", "tollgate:metrics"]);
    s.token(&id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_cached_shared_and_single_flight() {
    let s = Server::start(Backend::Sqlite).await;
    let scraper = scraper(&s).await;
    let (id, sec) = s.add_client("conn-cc", &["--scope", "read"]);
    let dir = tempdir("conn");
    let (store, c) = manager(&dir).await;
    c.create(
        "provider",
        &spec(&s, Flow::ClientCredentials, &id),
        &secret(&sec),
    )
    .await
    .unwrap();

    // Many callers at once on a connection with no token: one request.
    let c = Arc::new(c);
    let calls: Vec<_> = (0..25)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token("provider").await })
        })
        .collect();
    let mut values = Vec::new();
    for h in calls {
        values.push(h.await.unwrap().unwrap().value);
    }
    assert!(values.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(
        issued(&s, &scraper, &id).await,
        1,
        "exactly one token request"
    );
    let v: Value = s.introspect((&id, &sec), &values[0]).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], id.as_str());
    assert_eq!(v["scope"], "read");

    // Stored sealed: the token value is nowhere in the row, and another
    // process on the same store is handed it without asking the provider.
    let rec = store.get_connection("provider").await.unwrap().unwrap();
    assert_eq!(rec.tokens.status, "ok");
    let raw = format!("{rec:?}");
    assert!(!raw.contains(&values[0]));
    let sealed = rec.tokens.access_token_encrypted.clone().unwrap();
    assert!(
        !sealed
            .windows(values[0].len())
            .any(|w| w == values[0].as_bytes())
    );
    let other = Connections::new(
        store.clone(),
        Arc::new(MasterKey::from_bytes(&[7u8; 32]).unwrap()),
        Arc::new(SystemClock),
    );
    assert_eq!(other.token("provider").await.unwrap().value, values[0]);
    assert_eq!(issued(&s, &scraper, &id).await, 1);

    // A forced refresh asks again; the cache then holds the new token.
    let fresh = c.refresh("provider").await.unwrap();
    assert_ne!(fresh.value, values[0]);
    assert_eq!(c.token("provider").await.unwrap().value, fresh.value);
    assert_eq!(issued(&s, &scraper, &id).await, 2);

    // A changed configuration drops the tokens of the old one.
    c.update(
        "provider",
        &spec(&s, Flow::ClientCredentials, &id),
        &secret(&sec),
    )
    .await
    .unwrap();
    let rec = store.get_connection("provider").await.unwrap().unwrap();
    assert_eq!(rec.tokens.status, "new");
    assert!(rec.tokens.access_token_encrypted.is_none());
    assert!(c.delete("provider").await.unwrap());
    assert!(matches!(
        c.token("provider").await,
        Err(ConnectError::NotFound(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_with_x5t_and_a_rotated_refresh_token() {
    let s = Server::start(Backend::Sqlite).await;
    let dir = tempdir("conn-pkjwt");
    // The client's key made by openssl, registered by its certificate.
    let key = Key::new(&dir, Kind::Rsa);
    let cert = key.cert(&dir);
    let id = keyed_client(
        &s,
        "conn-keyed",
        &cert,
        &[
            "--grant",
            "client_credentials",
            "--grant",
            "refresh_token",
            "--client-credentials-refresh",
            "--refresh-mode",
            "rotate",
        ],
    );
    let (store, c) = manager(&dir).await;
    let mut sp = spec(&s, Flow::ClientAssertion, &id);
    sp.assertion = Some(AssertionSpec {
        expires_in_minutes: 2,
        x5t: true,
        x5t_s256: true,
        certificate_pem: Some(std::fs::read_to_string(&cert).unwrap()),
        ..Default::default()
    });
    let secrets = ConnectionSecrets {
        signing_key_pem: Some(std::fs::read_to_string(&key.path).unwrap()),
        ..Default::default()
    };
    c.create("graph", &sp, &secrets).await.unwrap();
    let first = c.token("graph").await.unwrap();
    let (admin_id, admin_secret) = s.add_client("introspector", &["--scope", "read"]);
    let v = s.introspect((&admin_id, &admin_secret), &first.value).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], id.as_str());

    // The provider rotates the refresh token: the new one is stored before
    // the new access token is handed out, and the old one is dead.
    let before = store.get_connection("graph").await.unwrap().unwrap();
    assert!(before.tokens.refresh_token_encrypted.is_some());
    let second = c.refresh("graph").await.unwrap();
    assert_ne!(second.value, first.value);
    let after = store.get_connection("graph").await.unwrap().unwrap();
    assert_ne!(
        after.tokens.refresh_token_encrypted, before.tokens.refresh_token_encrypted,
        "the rotated refresh token is persisted"
    );
    assert_eq!(after.tokens.version, before.tokens.version + 1);
    // Another process (a fresh manager on the same store) refreshes with
    // the stored token: it works, so what was stored is the live one.
    let other = Connections::new(
        store.clone(),
        Arc::new(MasterKey::from_bytes(&[7u8; 32]).unwrap()),
        Arc::new(SystemClock),
    );
    let third = other.refresh("graph").await.unwrap();
    assert_ne!(third.value, second.value);
    let v = s.introspect((&admin_id, &admin_secret), &third.value).await;
    assert_eq!(v["active"], true, "{v}");

    // Sealed under another master key, nothing opens.
    let wrong = Connections::new(
        store.clone(),
        Arc::new(MasterKey::from_bytes(&[8u8; 32]).unwrap()),
        Arc::new(SystemClock),
    );
    let err = wrong.refresh("graph").await.unwrap_err();
    assert!(matches!(err, ConnectError::Secrets(_)), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_are_surfaced_and_recorded() {
    let s = Server::start(Backend::Sqlite).await;
    let (id, _) = s.add_client("conn-wrong", &["--scope", "read"]);
    let dir = tempdir("conn-err");
    let (store, c) = manager(&dir).await;

    // A wrong secret: the provider's RFC 6749 error, word for word.
    c.create(
        "wrong",
        &spec(&s, Flow::ClientCredentials, &id),
        &secret("not-the-secret"),
    )
    .await
    .unwrap();
    let err = c.token("wrong").await.unwrap_err();
    match &err {
        ConnectError::Provider { status, error, .. } => {
            assert_eq!(*status, 401);
            assert_eq!(error, "invalid_client");
        }
        other => panic!("expected the provider's refusal, got {other}"),
    }
    let rec = store.get_connection("wrong").await.unwrap().unwrap();
    assert_eq!(rec.tokens.status, "error");
    assert!(rec.tokens.last_error.unwrap().contains("invalid_client"));

    // A scope the client may not have.
    let (id2, sec2) = s.add_client("conn-scope", &["--scope", "read"]);
    let mut sp = spec(&s, Flow::ClientCredentials, &id2);
    sp.scopes = vec!["admin".into()];
    c.create("scope", &sp, &secret(&sec2)).await.unwrap();
    let err = c.token("scope").await.unwrap_err();
    assert!(err.to_string().contains("invalid_scope"), "{err}");

    // A provider that is not there: retried, then a clear error.
    let mut down = spec(&s, Flow::ClientCredentials, &id2);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    down.token_endpoint = Url::parse(&format!("http://127.0.0.1:{port}/oauth2/token")).unwrap();
    c.create("down", &down, &secret(&sec2)).await.unwrap();
    let err = c.token("down").await.unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable(_)), "{err}");
    assert!(err.to_string().contains("cannot be reached"), "{err}");

    // The code flow without a grant yet needs a person.
    let mut code = spec(&s, Flow::AuthorizationCode, &id2);
    code.authorization_endpoint = Some(Url::parse(&s.url("/oauth2/authorize")).unwrap());
    c.create("code", &code, &ConnectionSecrets::default())
        .await
        .unwrap();
    let err = c.token("code").await.unwrap_err();
    assert!(matches!(err, ConnectError::NeedsAuthorization(_)), "{err}");
    let rec = store.get_connection("code").await.unwrap().unwrap();
    assert_eq!(rec.tokens.status, "needs_authorization");

    // Bad configuration is refused before anything is stored.
    let mut bad = spec(&s, Flow::ClientAssertion, &id2);
    bad.assertion = Some(AssertionSpec {
        expires_in_minutes: 5,
        ..Default::default()
    });
    let err = c
        .create(
            "bad-key",
            &bad,
            &ConnectionSecrets {
                signing_key_pem: Some(
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                ),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Config(_)), "{err}");
    assert!(store.get_connection("bad-key").await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The seed's "JWT flow" (RFC 7523 §2.1): Tollgate signs an assertion for a
/// subject with a key the provider trusts; no client authentication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_flow_for_a_subject() {
    let dir = tempdir("conn-jwtb");
    let idp = Key::new(&dir, Kind::Ec);
    let cfg = dir.join("tollgate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[jwt_bearer.issuers]]
issuer = "https://tollgate-connections.example"
keys_file = {:?}
subjects = ["alice"]
scopes = ["read"]
client_id = "svc-conn-jb"
"#,
            idp.public_pem(&dir).display().to_string()
        ),
    )
    .unwrap();
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_CONFIG", &cfg.display().to_string())],
        &[],
    )
    .await;
    let (id, secret) = s.add_client(
        "svc-conn-jb",
        &[
            "--id",
            "svc-conn-jb",
            "--grant",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "--scope",
            "read",
        ],
    );
    let (_store, c) = manager(&dir).await;
    let mut sp = spec(&s, Flow::JwtBearer, "");
    sp.client_id = None;
    sp.assertion = Some(AssertionSpec {
        issuer: Some("https://tollgate-connections.example".into()),
        subject: Some("alice".into()),
        expires_in_minutes: 2,
        ..Default::default()
    });
    let secrets = ConnectionSecrets {
        signing_key_pem: Some(std::fs::read_to_string(&idp.path).unwrap()),
        ..Default::default()
    };
    c.create("idp", &sp, &secrets).await.unwrap();
    let t = c.token("idp").await.unwrap();
    let v = s.introspect((&id, &secret), &t.value).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["sub"], "alice");
    assert_eq!(v["client_id"], "svc-conn-jb");

    // A subject the issuer may not assert: the provider's refusal.
    let mut other = sp.clone();
    if let Some(a) = other.assertion.as_mut() {
        a.subject = Some("mallory".into());
    }
    c.create("idp-mallory", &other, &secrets).await.unwrap();
    let err = c.token("idp-mallory").await.unwrap_err();
    assert!(matches!(err, ConnectError::Provider { .. }), "{err}");
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Callers that waited on a request that failed get its answer instead of
/// each asking the provider again; while the provider is down, a token that
/// has not expired is still handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_shared_and_a_valid_token_outlives_an_outage() {
    let mut s = Server::start(Backend::Sqlite).await;
    let scraper = scraper(&s).await;
    let (id, _) = s.add_client("conn-outage", &["--scope", "read"]);
    let dir = tempdir("conn-outage");
    let (store, c) = manager(&dir).await;
    let c = Arc::new(c);
    c.create(
        "wrong",
        &spec(&s, Flow::ClientCredentials, &id),
        &secret("nope"),
    )
    .await
    .unwrap();
    let refusals = |text: &str| -> u64 {
        text.lines()
            .filter(|l| {
                l.starts_with("tollgate_oauth_errors_total{")
                    && l.contains("endpoint=\"token\"")
                    && l.contains("error=\"invalid_client\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    };
    let metrics = || async {
        s.http
            .get(s.url("/metrics"))
            .bearer_auth(&scraper)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = refusals(&metrics().await);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token("wrong").await })
        })
        .collect();
    for h in calls {
        let err = h.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("invalid_client"), "{err}");
    }
    let asked = refusals(&metrics().await) - before;
    assert!(
        asked <= 2,
        "10 waiting callers asked the provider {asked} times"
    );

    // A token that lives 6 s (its refresh margin is then 3 s), then the
    // provider goes away: past the margin, the manager cannot refresh but
    // hands out the token it has, which has not expired.
    let (sid, ssec) = s.add_client(
        "conn-short",
        &["--scope", "read", "--access-token-ttl", "6"],
    );
    c.create(
        "good",
        &spec(&s, Flow::ClientCredentials, &sid),
        &secret(&ssec),
    )
    .await
    .unwrap();
    let t = c.token("good").await.unwrap();
    s.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let again = c.token("good").await.unwrap();
    assert_eq!(again.value, t.value, "the unexpired token is kept");
    // A forced refresh wants a new token: that is an error now.
    let err = c.refresh("good").await.unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable(_)), "{err}");
    let rec = store.get_connection("good").await.unwrap().unwrap();
    assert_eq!(rec.tokens.status, "error");
    assert!(rec.tokens.last_error.unwrap().contains("cannot be reached"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Interoperability with an independent implementation: Authlib (Python)
/// as the provider. Its own introspection endpoint vouches for the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authlib_provider() {
    use crate::gateway::authlib::AuthlibServer;
    let dir = tempdir("conn-authlib");
    let authlib = AuthlibServer::start(
        &dir,
        &[
            ("tollgate-conn", "conn-secret-1", "crm.read crm.write"),
            ("introspector", "intro-secret", "crm.read"),
        ],
        &[],
    );
    let (_store, c) = manager(&dir).await;
    let spec_for = |scopes: &[&str]| ConnectionSpec {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..spec_at(
            &authlib.endpoint("/token"),
            Flow::ClientCredentials,
            "tollgate-conn",
        )
    };
    c.create("crm", &spec_for(&["crm.read"]), &secret("conn-secret-1"))
        .await
        .unwrap();
    let t = c.token("crm").await.unwrap();
    assert!(t.token_type.eq_ignore_ascii_case("bearer"), "{t:?}");
    let v: Value = reqwest::Client::new()
        .post(authlib.endpoint("/introspect"))
        .basic_auth("introspector", Some("intro-secret"))
        .form(&[("token", t.value.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], "tollgate-conn");
    assert_eq!(v["scope"], "crm.read");

    // Authlib's own refusals come through word for word.
    c.create("wrong", &spec_for(&["crm.read"]), &secret("nope"))
        .await
        .unwrap();
    let err = c.token("wrong").await.unwrap_err();
    assert!(
        matches!(&err, ConnectError::Provider { error, .. } if error == "invalid_client"),
        "{err}"
    );
    c.create(
        "greedy",
        &spec_for(&["crm.admin"]),
        &secret("conn-secret-1"),
    )
    .await
    .unwrap();
    let err = c.token("greedy").await.unwrap_err();
    assert!(
        matches!(&err, ConnectError::Provider { error, .. } if error == "invalid_scope"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
