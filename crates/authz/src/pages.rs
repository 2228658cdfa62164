//! Server-rendered pages (login, consent, errors, the user's authorizations):
//! minijinja templates, built in or replaced by an operator's folder
//! (`ui.templates_dir`), and the security headers every page carries.
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde_json::{Value, json};
use tollgate_jose::secrets::random_token;
use url::Url;

use crate::settings::UiSettings;

/// The templates and what every page shows.
pub struct Pages {
    env: Environment<'static>,
    title: String,
}

/// Every template a page uses, with its built-in text.
const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("consents.html", include_str!("../templates/consents.html")),
];

impl Pages {
    /// Loads the templates: each from `ui.templates_dir` when the file is
    /// there, else the built-in one. A template that does not parse stops
    /// the start, so an operator's mistake shows at once, not at a user.
    pub fn load(ui: &UiSettings) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, builtin) in TEMPLATES {
            let source = match &ui.templates_dir {
                Some(dir) => read_override(dir, name)?.unwrap_or_else(|| builtin.to_owned()),
                None => builtin.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        // Every page's inputs are escaped for HTML (minijinja escapes by
        // the `.html` extension; this makes it independent of the name).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        Ok(Self {
            env,
            title: ui.title.clone().unwrap_or_else(|| "Tollgate".into()),
        })
    }

    /// Renders a page. `form_targets` are the origins (besides this server)
    /// a form on the page may end up at through redirects: the client's
    /// redirect URI, which the CSP `form-action` must allow or browsers that
    /// enforce it on redirects stop the user there.
    pub fn render(
        &self,
        status: StatusCode,
        name: &str,
        ctx: Value,
        form_targets: &[String],
    ) -> Response {
        let nonce = random_token(22).unwrap_or_default();
        let mut ctx = ctx;
        if let Value::Object(m) = &mut ctx {
            m.insert("csp_nonce".into(), json!(nonce));
            m.entry("title").or_insert_with(|| json!(self.title));
        }
        let body = match self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering a page failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    security_headers(&nonce, &[]),
                    "internal error rendering the page",
                )
                    .into_response();
            }
        };
        let mut headers = security_headers(&nonce, form_targets);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        (status, headers, body).into_response()
    }

    /// The error page: the request cannot be answered at the client's
    /// redirect URI (unknown client, unregistered redirect URI, …).
    pub fn error(&self, status: StatusCode, code: &str, description: &str) -> Response {
        let heading = match code {
            "access_denied" => "Access denied",
            "temporarily_unavailable" => "Temporarily unavailable",
            "too_many_requests" => "Too many attempts",
            _ => "This request cannot be completed",
        };
        self.render(
            status,
            "error.html",
            json!({"heading": heading, "error": code, "error_description": description}),
            &[],
        )
    }
}

fn read_override(dir: &Path, name: &str) -> Result<Option<String>, String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read template {}: {e}", path.display())),
    }
}

/// The headers of every page: no framing (clickjacking), no referrer (the
/// URL carries the authorization request), no caching, a CSP that allows
/// only the page's own inline style and forms posting back here.
fn security_headers(nonce: &str, form_targets: &[String]) -> HeaderMap {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h
}

/// The CSP source expression that lets a form's redirect reach `uri`: its
/// origin, any port for loopback http (RFC 8252 §7.3), the scheme alone for
/// a native app's private-use scheme.
pub fn csp_source(uri: &str) -> Option<String> {
    let u = Url::parse(uri).ok()?;
    let source = match (u.scheme(), u.host_str()) {
        ("https", Some(host)) => match u.port() {
            Some(p) => format!("https://{host}:{p}"),
            None => format!("https://{host}"),
        },
        ("http", Some(host)) => format!("http://{host}:*"),
        (scheme, _) => format!("{scheme}:"),
    };
    // A source expression cannot contain these; a URI that parsed has none,
    // but a header must never be built from something unexpected.
    (!source.contains([' ', ';', ',', '\'', '"'])).then_some(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://app.example/cb").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            csp_source("https://app.example:8443/cb").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("http://127.0.0.1:5000/cb").as_deref(),
            Some("http://127.0.0.1:*")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("not a uri"), None);
    }

    #[test]
    fn builtin_templates_render_and_escape() {
        let p = Pages::load(&UiSettings::default()).unwrap();
        let r = p.render(
            StatusCode::OK,
            "login.html",
            json!({"error": "<script>x</script>", "continue": "/x", "csrf_token": "t", "username": "a\"b", "action": "/oauth2/login"}),
            &["https://app.example".into()],
        );
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://app.example"));
    }

    #[test]
    fn an_override_folder_replaces_only_its_files_and_bad_templates_fail_loudly() {
        let dir = std::env::temp_dir().join(format!("tollgate-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("login.html"), "custom {{ csrf_token }}").unwrap();
        let ui = UiSettings {
            templates_dir: Some(dir.clone()),
            ..Default::default()
        };
        let p = Pages::load(&ui).unwrap();
        assert!(
            p.env
                .get_template("login.html")
                .unwrap()
                .source()
                .starts_with("custom")
        );
        assert!(
            p.env
                .get_template("consent.html")
                .unwrap()
                .source()
                .contains("decision")
        );
        std::fs::write(dir.join("error.html"), "{% if %}").unwrap();
        assert!(Pages::load(&ui).err().unwrap().contains("error.html"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
