//! The "ceiling": the cheapest possible handler on the same stack as Tollgate
//! (tokio + hyper via axum 0.8). Every benchmark figure is read as a fraction
//! of what this server reaches on the same machine.
//!
//! Usage: `tollgate-bench-ceiling [ADDR]` (default 127.0.0.1:0). Prints
//! `ceiling listening on http://ADDR` on stdout once bound.
use std::io::Write;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

async fn ok() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"ok":true}"#,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let bound = listener.local_addr()?;
    println!("ceiling listening on http://{bound}");
    std::io::stdout().flush()?;
    let app = Router::new().route("/", get(ok).post(ok));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
