//! A 200 from the token endpoint means the token is committed: tokens handed
//! out under concurrency survive a `kill -9` of the server.
use crate::harness::{Backend, Server};

crate::on_both_backends!(tokens_survive_kill_9);

async fn tokens_survive_kill_9(b: Backend) {
    let mut s = Server::start(b).await;
    let (id, secret) = s.add_client("durable", &["--scope", "read"]);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url, id, secret) = (
            s.http.clone(),
            s.url("/oauth2/token"),
            id.clone(),
            secret.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    s.kill9();
    s.restart();
    for t in &tokens {
        assert_eq!(
            s.introspect((&id, &secret), t).await["active"],
            true,
            "a token handed out was lost"
        );
    }
}
