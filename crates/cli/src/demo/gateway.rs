//! The gateway part of `serve --demo`: a built-in echo service on a
//! loopback port, published as the service `echo` (scope `demo.read`, so
//! the demo client's tokens work), and the commands that call it.
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use tollgate_gateway::Gateway;
use tollgate_gateway::manage::{self, ConsumeRequest};
use tollgate_gateway::spec::ServiceSpec;

pub const DEMO_SERVICE: &str = "echo";
const DEMO_CLIENT: &str = "demo";

/// Answers every request with what it received: method, path, query, the
/// headers an upstream behind the gateway cares about, and the body's size.
async fn echo(req: Request) -> Json<Value> {
    let (parts, body) = req.into_parts();
    let size = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .map_or(0, |b: Bytes| b.len());
    Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": interesting(&parts.headers),
        "body_bytes": size,
    }))
}

fn interesting(h: &HeaderMap) -> Value {
    let mut m = Map::new();
    for (k, v) in h {
        let k = k.as_str();
        if k.starts_with("x-tollgate-") || k.starts_with("x-forwarded-") || k == "authorization" {
            m.insert(k.to_owned(), json!(v.to_str().unwrap_or("<binary>")));
        }
    }
    Value::Object(m)
}

/// Starts the echo upstream, publishes it (or points the existing demo
/// service at its new port) and lets the demo client consume it.
pub async fn start_echo(gw: &Gateway) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(echo);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the demo echo service stopped");
        }
    });
    let svc = &gw.app.svc;
    let prefix = gw.settings.prefix.as_str();
    let upstream = url::Url::parse(&format!("http://{addr}/echo"))?;
    match manage::get_service(svc, prefix, DEMO_SERVICE).await {
        Ok(existing) => {
            let mut spec = existing.spec;
            spec.upstream = upstream;
            manage::update_service(svc, prefix, DEMO_SERVICE, None, spec).await?;
        }
        Err(_) => {
            let mut spec = ServiceSpec::new(upstream);
            spec.scopes = vec!["demo.read".into()];
            manage::create_service(svc, prefix, DEMO_SERVICE, None, spec).await?;
        }
    }
    if svc.store.get_client(DEMO_CLIENT).await?.is_some() {
        manage::consume(
            svc,
            ConsumeRequest {
                service: DEMO_SERVICE.into(),
                application: "Demo client".into(),
                client_id: Some(DEMO_CLIENT.into()),
                settings: Default::default(),
            },
        )
        .await?;
    }
    gw.reload().await?;
    tracing::info!(%addr, "demo echo service published as '{DEMO_SERVICE}'");
    Ok(task)
}

/// Step 10 of the demo.
pub fn print(issuer: &str, prefix: &str, token_cmd: &str, secret: &str) {
    println!(
        r#"# 10. The gateway: a built-in echo service is published as "{DEMO_SERVICE}" and needs the scope
#     demo.read. Without a token it answers 401; with one, the upstream sees who called:
curl -si {issuer}{prefix}/{DEMO_SERVICE}/hello
TOKEN=$({token_cmd} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -s -H "Authorization: Bearer $TOKEN" "{issuer}{prefix}/{DEMO_SERVICE}/hello?x=1"
#     The same token from the seed's JSON token service:
curl -s -H 'Content-Type: application/json' -H 'Accept: application/json' -d '{{"client_id":"{DEMO_CLIENT}","client_secret":"{secret}","scope":"demo.read"}}' {issuer}/rest/pub.mediator.oauth2.getOAuth2AccessToken
"#
    );
}
