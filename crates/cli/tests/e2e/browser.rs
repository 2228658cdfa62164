//! A minimal W3C WebDriver client: real headless Chromium, driven through
//! `chromedriver` over HTTP on loopback (reqwest + serde_json, nothing else).
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and
//! `chromium-driver` packages (`.ci/run` installs them). Every `Browser` has
//! its own chromedriver on a free port and its own empty profile directory,
//! so tests can run in parallel. Failures panic with the command, the W3C
//! error and the page's URL: this is test code.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Flags Chromium needs on these machines (root, no GPU, closed network).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// Generous: CI is 2 cores shared with a build.
const START_ATTEMPTS: u32 = 3;
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const NEW_SESSION_TIMEOUT: Duration = Duration::from_secs(120);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
const PAGE_LOAD_TIMEOUT_MS: u64 = 90_000;
const SCRIPT_TIMEOUT_MS: u64 = 30_000;
/// How long `find` waits for an element to appear.
const FIND_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver child process (in its own process group, so Chromium goes
/// with it) and its scratch directory (profile and log).
struct Driver {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Driver {
    fn spawn() -> Result<Self, String> {
        let dir = scratch_dir();
        std::fs::create_dir_all(dir.join("profile"))
            .map_err(|e| format!("create {}: {e}", dir.display()))?;
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let stderr = std::fs::File::create(dir.join("stderr.log"))
            .map_err(|e| format!("create stderr log: {e}"))?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn {CHROMEDRIVER}: {e}"))?;
        Ok(Self { child, port, dir })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn profile(&self) -> PathBuf {
        self.dir.join("profile")
    }

    /// The last lines of chromedriver's log and stderr, for failure messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["chromedriver.log", "stderr.log"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            out.push_str(&format!("--- {name} (last {} lines)\n", tail.len()));
            for l in tail {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Polls `GET /status` until chromedriver says it is ready.
    async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<(), String> {
        let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
        let url = format!("{}/status", self.base());
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("chromedriver exited early ({status})"));
            }
            match http.get(&url).timeout(Duration::from_secs(5)).send().await {
                Ok(resp) => match resp.json::<Value>().await {
                    Ok(v) if v["value"]["ready"] == json!(true) => return Ok(()),
                    Ok(v) => last = format!("not ready: {v}"),
                    Err(e) => last = format!("bad /status body: {e}"),
                },
                Err(e) => last = format!("GET /status: {e}"),
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!(
            "chromedriver not ready after {DRIVER_READY_TIMEOUT:?}: {last}"
        ))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it left behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "tollgate-browser-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// One headless Chromium session. Dropping it ends the session (Chromium
/// quits) and kills chromedriver; blocking, but only on loopback and bounded,
/// and without the async runtime, so it is safe in any tokio runtime.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    session_id: String,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a fresh Chromium session, retrying a failed
    /// start (a port taken in between, Chromium slow to come up) a few times.
    pub async fn start() -> Self {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install Debian's `chromium` and `chromium-driver` \
                 (`apt-get install -y chromium chromium-driver`, as .ci/run does)"
            );
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("http client");
        let started = Instant::now();
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(&http).await {
                Ok(b) => {
                    eprintln!(
                        "browser: Chromium session up in {:.2?} (attempt {attempt})",
                        started.elapsed()
                    );
                    return b;
                }
                Err(e) => {
                    eprintln!("browser: start attempt {attempt} failed: {e}");
                    failures.push(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        panic!(
            "could not start headless Chromium after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    async fn try_start(http: &reqwest::Client) -> Result<Self, String> {
        let mut driver = Driver::spawn()?;
        if let Err(e) = driver.wait_ready(http).await {
            return Err(format!("{e}\n{}", driver.log_tail()));
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", driver.profile().display()));
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {
                        "implicit": 0,
                        "pageLoad": PAGE_LOAD_TIMEOUT_MS,
                        "script": SCRIPT_TIMEOUT_MS,
                    },
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        let resp = http
            .post(format!("{}/session", driver.base()))
            .timeout(NEW_SESSION_TIMEOUT)
            .json(&caps)
            .send()
            .await
            .map_err(|e| format!("POST /session: {e}\n{}", driver.log_tail()))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| format!("POST /session: bad body ({status}): {e}"))?;
        let Some(id) = body["value"]["sessionId"].as_str() else {
            return Err(format!(
                "POST /session: {status} {}\n{}",
                body["value"],
                driver.log_tail()
            ));
        };
        Ok(Self {
            http: http.clone(),
            session: format!("{}/session/{id}", driver.base()),
            session_id: id.to_owned(),
            driver,
        })
    }

    /// Sends one WebDriver command (`path` is relative to the session) and
    /// returns its `value`; panics on any error.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = resp.status();
        let text = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: reading body: {e}"));
        let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("webdriver {method} {path}: {status}, not JSON ({e}): {text}")
        });
        let value = v["value"].take();
        if !status.is_success() || value.get("error").is_some() {
            panic!(
                "webdriver {method} {path} {}: {status} {}: {}",
                body.map(|b| b.to_string()).unwrap_or_default(),
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or(&text),
            );
        }
        value
    }

    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        as_string(self.get("/url").await, "current url")
    }

    pub async fn title(&self) -> String {
        as_string(self.get("/title").await, "title")
    }

    pub async fn page_source(&self) -> String {
        as_string(self.get("/source").await, "page source")
    }

    /// The first element matching `css`, waiting up to 20 s for one to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() >= deadline {
                let url = self.current_url().await;
                let source = self.page_source().await;
                let head: String = source.chars().take(3000).collect();
                panic!("no element matches `{css}` after {FIND_TIMEOUT:?} on {url}; page:\n{head}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first element matching `css` now, if any (no waiting).
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .and_then(|a| a.first())
            .map(|e| self.element(e, css))
    }

    fn element(&self, reference: &Value, css: &str) -> Element<'_> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {reference}"))
            .to_owned();
        Element {
            browser: self,
            id,
            css: css.to_owned(),
        }
    }

    /// Submits the form matching `form_css` by clicking its first submit
    /// button, as a person would.
    pub async fn submit(&self, form_css: &str) {
        let form = self.find(form_css).await;
        let button = form
            .find("button:not([type]), button[type=submit], input[type=submit]")
            .await
            .unwrap_or_else(|| panic!("form `{form_css}` has no submit button"));
        button.click().await;
    }

    /// All cookies visible to the current page (W3C cookie objects).
    pub async fn cookies(&self) -> Vec<Value> {
        match self.get("/cookie").await {
            Value::Array(a) => a,
            other => panic!("cookies: not an array: {other}"),
        }
    }

    pub async fn delete_cookies(&self) {
        self.cmd(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// Runs `script` (a function body: use `return` and `arguments[i]`)
    /// synchronously in the page and returns its result.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls the current URL until `pred` holds; returns it. Panics with the
    /// last URL seen after `timeout`.
    pub async fn wait_for_url(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await;
            if pred(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                panic!("the URL did not become the expected one within {timeout:?}; it is {url}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session, so Chromium quits cleanly; the driver's own Drop
        // then kills chromedriver's process group whatever happened here.
        let path = format!("/session/{}", self.session_id);
        if let Err(e) = blocking_delete(self.driver.port, &path, Duration::from_secs(20)) {
            eprintln!("browser: ending the session: {e} (killing chromedriver anyway)");
        }
    }
}

/// `DELETE path` over a plain std socket: no async runtime needed.
fn blocking_delete(port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    write!(
        s,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&buf[..n]);
    if head.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("answer: {head:?}"))
    }
}

fn as_string(v: Value, what: &str) -> String {
    match v {
        Value::String(s) => s,
        other => panic!("{what}: not a string: {other}"),
    }
}

/// An element found in the page. Its methods panic if it has gone stale.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    css: String,
}

impl<'b> Element<'b> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// Types `text` into the element (appends to what is there).
    pub async fn type_text(&self, text: &str) {
        self.browser
            .post(&self.path("/value"), json!({ "text": text }))
            .await;
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) {
        self.browser.post(&self.path("/clear"), json!({})).await;
    }

    pub async fn click(&self) {
        self.browser.post(&self.path("/click"), json!({})).await;
    }

    /// The rendered text.
    pub async fn text(&self) -> String {
        as_string(
            self.browser.get(&self.path("/text")).await,
            &format!("text of `{}`", self.css),
        )
    }

    /// The attribute as written in the markup, `None` if absent.
    pub async fn attr(&self, name: &str) -> Option<String> {
        match self
            .browser
            .get(&self.path(&format!("/attribute/{name}")))
            .await
        {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => panic!("attribute {name} of `{}`: {other}", self.css),
        }
    }

    /// The live `value` property of an input, select or textarea.
    pub async fn value(&self) -> String {
        as_string(
            self.browser.get(&self.path("/property/value")).await,
            &format!("value of `{}`", self.css),
        )
    }

    /// The first descendant matching `css` now, if any.
    pub async fn find(&self, css: &str) -> Option<Element<'b>> {
        let found = self
            .browser
            .post(
                &self.path("/elements"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .and_then(|a| a.first())
            .map(|e| self.browser.element(e, css))
    }
}
