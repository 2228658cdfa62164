//! A private PostgreSQL server for tests that stop and crash their database.
//!
//! The shared server on 127.0.0.1:5432 is used by every other test (and by
//! CI), so a test that kills PostgreSQL runs its own: `initdb` into a fresh
//! temporary directory, `pg_ctl` on a free loopback port with trust auth and
//! its socket inside that directory. PostgreSQL refuses to run as root, and
//! tests here run as root, so the binaries then run as the `postgres` user
//! (through `runuser`) and the directory is handed to that user.
//!
//! [`Silencer`] sits between a client and the server and can make the
//! network path go silent, like a partition.
//!
//! [`PrivatePg`]'s `Drop` stops the server and removes the directory, so a
//! failing assertion leaves nothing running behind.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub struct PrivatePg {
    bindir: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config
/// --bindir` first, then Debian's versioned directories, newest first.
fn find_bindir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl PrivatePg {
    /// Creates and starts a fresh cluster. Returns `None` (the caller skips)
    /// only when no PostgreSQL server binaries are installed and the `CI`
    /// variable is unset; in CI that is a failure, so the outage test cannot
    /// silently stop running there. Any other problem panics.
    pub fn start(test: &str) -> Option<Self> {
        let Some(bindir) = find_bindir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: no PostgreSQL server binaries (initdb, pg_ctl) found, and CI is set"
            );
            eprintln!("{test}: SKIPPED: no PostgreSQL server binaries (initdb, pg_ctl) found");
            return None;
        };
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let as_postgres = is_root();
        let pg = Self {
            bindir,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            pg.check(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pg.dir),
                "chown",
            );
        }
        pg.check(
            pg.tool("initdb")
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(pg.dir.join("data")),
            "initdb",
        );
        pg.start_server();
        Some(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections,
    /// crash recovery included.
    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        self.check(
            self.tool("pg_ctl")
                .args(["start", "-w", "-t", "60", "-o", &opts, "-l"])
                .arg(self.dir.join("server.log"))
                .arg("-D")
                .arg(self.dir.join("data")),
            "pg_ctl start",
        );
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once
    /// without a checkpoint, as in a crash; the next start runs recovery.
    /// Returns when the server is gone.
    pub fn crash(&self) {
        self.check(
            self.tool("pg_ctl")
                .args(["stop", "-w", "-m", "immediate", "-D"])
                .arg(self.dir.join("data")),
            "pg_ctl stop",
        );
    }

    fn tool(&self, name: &str) -> Command {
        let exe = self.bindir.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn check(&self, cmd: &mut Command, what: &str) -> Output {
        let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        out
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP forwarder that can go silent: while frozen it keeps every
/// connection open but passes no byte either way and leaves new ones
/// unanswered, which is what a lost network path looks like to a client
/// (no reset, no refusal, nothing). Every chunk is delayed by `latency`.
pub struct Silencer {
    port: u16,
    /// Set: no byte passes and new connections wait.
    pub frozen: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Silencer {
    pub async fn start(upstream: u16, latency: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&frozen);
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let f = Arc::clone(&f);
                tokio::spawn(async move {
                    thaw(&f).await;
                    let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    tokio::join!(pipe(dr, uw, &f, latency), pipe(ur, dw, &f, latency));
                });
            }
        });
        Self { port, frozen, task }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Silencer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn thaw(frozen: &AtomicBool) {
    while frozen.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Copies bytes, each chunk after `latency` and not while frozen.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: &AtomicBool,
    latency: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tokio::time::sleep(latency).await;
        thaw(frozen).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
