//! The loopback end of `connection authorize` (RFC 8252): bind the redirect URI,
//! catch the provider's redirect, tell the browser what happened, open a browser.
use std::time::Duration;

use anyhow::{Context, bail};
use tollgate_connect::authorize::{self, Pending};
use url::Url;

/// Binds the loopback redirect URI (any port when it names none or 0:
/// RFC 8252 §7.3 lets a native client pick one). A redirect URI that is not
/// loopback cannot be caught here.
pub(super) async fn bind_redirect(
    configured: Option<&Url>,
) -> anyhow::Result<(tokio::net::TcpListener, Url)> {
    let mut url = match configured {
        Some(u) => u.clone(),
        None => Url::parse("http://127.0.0.1/callback")?,
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let ip: std::net::IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| {
            anyhow::anyhow!(
                "the redirect URI {url} is not a loopback address: `connection authorize` can only catch http://127.0.0.1/… (register one at the provider)"
            )
        })?,
    };
    if !ip.is_loopback() || url.scheme() != "http" {
        bail!(
            "the redirect URI {url} is not http on a loopback address: `connection authorize` can only catch http://127.0.0.1/… (register one at the provider)"
        );
    }
    let port = url.port().unwrap_or(0);
    let listener = tokio::net::TcpListener::bind((ip, port))
        .await
        .with_context(|| format!("listening on {ip}:{port} for the redirect"))?;
    let bound = listener.local_addr()?.port();
    url.set_port(Some(bound))
        .map_err(|()| anyhow::anyhow!("the redirect URI cannot carry a port"))?;
    Ok((listener, url))
}

/// Serves the redirect URI until a request for its path arrives, answers it
/// with a page that says what happened (accepted, refused because its state is
/// not ours, or the provider's error), and returns its query parameters.
pub(super) async fn catch_redirect(
    listener: tokio::net::TcpListener,
    pending: &Pending,
) -> anyhow::Result<Vec<(String, String)>> {
    use axum::extract::{Query, State};
    type Answer = (tokio::sync::mpsc::Sender<Vec<(String, String)>>, Pending);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(String, String)>>(1);
    let path = pending.redirect_uri.path().to_owned();
    let app =
        axum::Router::new()
            .route(
                &path,
                axum::routing::get(
                    |State((tx, pending)): State<Answer>,
                     Query(q): Query<Vec<(String, String)>>| async move {
                        let page = redirect_page(authorize::answer(&pending, &q).map(|_| ()));
                        // Only the first answer counts; a second request must not wait
                        // on a full channel (it would hold up the shutdown).
                        let _ = tx.try_send(q);
                        page
                    },
                ),
            )
            .with_state((tx, pending.clone()));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // Stopped gracefully once the answer is in, so the browser still gets
    // its page (a request in flight is finished first).
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = done_rx.await;
            })
            .await
    });
    let got = rx.recv().await;
    let _ = done_tx.send(());
    if tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .is_err()
    {
        tracing::debug!("the redirect listener did not stop within 5 s");
    }
    got.ok_or_else(|| anyhow::anyhow!("the redirect listener stopped"))
}

/// The page the browser shows after the provider's redirect: the person must not
/// read "received" when the command refused the answer.
fn redirect_page(
    verdict: Result<(), tollgate_connect::ConnectError>,
) -> (axum::http::StatusCode, axum::response::Html<String>) {
    use axum::http::StatusCode;
    use axum::response::Html;
    let (status, text) = match verdict {
        Ok(()) => (
            StatusCode::OK,
            "Tollgate received the authorization. You can close this window and return to the terminal.".to_owned(),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!(
                "Tollgate did not accept this answer: {}. Nothing was stored; the terminal says what to do next.",
                html_escape(&e.to_string())
            ),
        ),
    };
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Tollgate</title><p>{text}</p>"
        )),
    )
}

/// Minimal HTML text escaping for the redirect page (the provider's words may
/// be in the error).
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Opens `url` in the desktop's browser when there is a desktop.
pub(super) fn open_browser(url: &str) {
    let desktop = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || cfg!(target_os = "macos");
    if !desktop {
        return;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        tracing::debug!(error = %e, "no browser could be opened");
    }
}
