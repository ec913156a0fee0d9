//! Shared test plumbing: the exporter on port 0 (alone or on a fake IAM), running tools,
//! temporary files and polling. The HTTP client and the metrics parser come from the testkit
//! crate, which the benchmarks share.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use iam_key_exporter::{Application, Config, Overrides};
use iam_key_exporter_testkit::{FakeIam, State};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use iam_key_exporter_testkit::{get, request, Scrape};

/// The credentials every test uses; moto and the fake accept anything.
pub fn test_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIATESTTESTTESTTEST",
        "testing-secret-not-real",
        None,
        None,
        "tests",
    ))
}

/// The HTTP client for the tests' own SDK clients (seeding moto), as the exporter builds it.
pub fn sdk_http_client() -> aws_sdk_iam::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The project root.
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds a tool in the project's virtualenv, then on `PATH`; panics with what to run when it
/// is missing, so a missing component fails the test instead of skipping it.
pub fn tool(name: &str, env_override: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env_override) {
        return PathBuf::from(path);
    }
    let venv = project_dir().join(".venv/bin").join(name);
    if venv.exists() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "`{name}` is needed by this test and was not found (set {env_override}, or run \
         `./scripts/test`, which installs it)"
    );
}

/// Test logs on demand: `TEST_LOG=1 cargo test`.
fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        iam_key_exporter::telemetry::init(&iam_key_exporter::LogConfig {
            level: iam_key_exporter::LogLevel::Debug,
            format: iam_key_exporter::LogFormat::Logfmt,
        });
    }
}

/// A running exporter.
pub struct TestApp {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// Settings every test app starts from; `settings` (environment-style keys) override them.
pub fn test_config(endpoint: &str, settings: &[(&str, &str)]) -> Config {
    load_test_config(None, endpoint, settings)
}

fn load_test_config(file: Option<PathBuf>, endpoint: &str, settings: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = [
        ("IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS", "127.0.0.1:0"),
        ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "300ms"),
        ("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "30s"),
        ("IAM_KEY_EXPORTER_AWS__ENDPOINT_URL", endpoint),
        ("IAM_KEY_EXPORTER_AWS__REGION", "us-east-1"),
        ("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "1"),
        ("IAM_KEY_EXPORTER_AWS__ATTEMPT_TIMEOUT", "5s"),
        ("IAM_KEY_EXPORTER_AWS__CONNECT_TIMEOUT", "1s"),
        // moto does not implement CloudTrail's LookupEvents: the tests of who created a key
        // turn the lookups on against the fake, which does (tests/integration/creators.rs).
        ("IAM_KEY_EXPORTER_COLLECTOR__KEY_CREATORS", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in settings {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    let overrides = Overrides::config_file(file);
    Config::load_from(&overrides, env).expect("test configuration is valid")
}

/// Like [`test_config`], with a TOML config file layered under the environment.
pub fn test_config_with_file(endpoint: &str, toml: &str, settings: &[(&str, &str)]) -> Config {
    let dir = temp_dir();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    load_test_config(Some(path), endpoint, settings)
}

/// A temporary directory, removed when dropped; the one way tests make temporary files.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("iam-key-exporter-test-")
        .tempdir()
        .expect("a temporary directory")
}

/// A fake IAM serving `state`, and the exporter refreshing from it.
pub async fn spawn_with_fake(state: State, settings: &[(&str, &str)]) -> (FakeIam, TestApp) {
    let fake = FakeIam::start(state).await;
    let app = spawn_app(&fake.endpoint(), settings).await;
    (fake, app)
}

/// A fake IAM state with `users` users shaped like the benchmarks' data (user `i` has `i % 3`
/// active keys).
pub fn populated(users: usize) -> State {
    let mut state = State::default();
    state.populate(users);
    state
}

/// Builds and starts the exporter against `endpoint` on a free port.
pub async fn spawn_app(endpoint: &str, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_with(test_config(endpoint, settings)).await
}

/// Builds and starts the exporter with a complete configuration.
pub async fn spawn_app_with(config: Config) -> TestApp {
    init_logs();
    let app = Application::build_with_credentials(config, Some(test_credentials()))
        .await
        .expect("the application builds");
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// GETs the metrics page and parses it.
    pub async fn scrape(&self) -> Scrape {
        let response = get(self.addr, "/metrics", &[]).await;
        assert_eq!(response.status, 200, "scrape failed: {}", response.text());
        Scrape::parse(&response.text())
    }

    /// Scrapes until `check` holds, for at most 30 s; returns the scrape that passed.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
        self.wait_for_within(what, Duration::from_secs(30), check)
            .await
    }

    /// Scrapes until `check` holds, for at most `timeout`; returns the scrape that passed.
    pub async fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let scrape = self.scrape().await;
            if check(&scrape) {
                return scrape;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last scrape:\n{}",
                    scrape.text
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the exporter and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .expect("the exporter stops within 15s")
                .expect("the exporter task did not panic");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a command to completion, returning (exit code, stdout, stderr).
pub async fn run(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin_null: bool,
) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(program);
    command.args(args).kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    if stdin_null {
        command.stdin(std::process::Stdio::null());
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish in 120s", program.display()))
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls an async condition.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for query strings).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `promtool check metrics` on a scraped body: its exit code and what it printed.
pub async fn promtool_check_metrics(body: &[u8]) -> (i32, String) {
    let dir = temp_dir();
    let path = dir.path().join("metrics.txt");
    std::fs::write(&path, body).unwrap();
    let promtool = tool("promtool", "PROMTOOL");
    let shell = format!("{} check metrics < {}", promtool.display(), path.display());
    let (code, out, err) = run(Path::new("/bin/sh"), &["-c", &shell], &[], true).await;
    (code, format!("{out}{err}"))
}
