//! Shared test plumbing: the exporter on port 0, a minimal HTTP client, a parser for the
//! exposition format, and polling.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use iam_key_exporter::app::Application;
use iam_key_exporter::config::{Config, Overrides};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        iam_key_exporter::telemetry::init(&iam_key_exporter::config::LogConfig {
            level: iam_key_exporter::config::LogLevel::Debug,
            format: iam_key_exporter::config::LogFormat::Logfmt,
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in settings {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    let overrides = Overrides {
        config_file: file,
        ..Overrides::default()
    };
    Config::load_from(&overrides, env).expect("test configuration is valid")
}

/// Like [`test_config`], with a TOML config file layered under the environment.
pub fn test_config_with_file(endpoint: &str, toml: &str, settings: &[(&str, &str)]) -> Config {
    let path = std::env::temp_dir().join(format!(
        "iam-key-exporter-test-{}-{}.toml",
        std::process::id(),
        free_port()
    ));
    std::fs::write(&path, toml).unwrap();
    let config = load_test_config(Some(path.clone()), endpoint, settings);
    let _ = std::fs::remove_file(&path);
    config
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

    /// Scrapes until `check` holds, for at most `timeout`; returns the scrape that passed.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers within 10s")
        .expect("read");
    parse_response(&raw)
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers).await
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// One sample of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed metrics page.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses the text exposition format (as this exporter writes it: no timestamps).
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(parse_sample)
            .collect();
        Scrape {
            text: text.to_owned(),
            samples,
        }
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one value of `name` with `labels`; `None` when absent, a panic when ambiguous.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(
            found.len() <= 1,
            "{name}{labels:?} matches {} samples",
            found.len()
        );
        found.first().map(|s| s.value)
    }
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("a sample line has a value");
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner
                .find('=')
                .unwrap_or_else(|| panic!("no `=` in {line}"));
            let key = inner[..eq].to_owned();
            let quoted = inner[eq + 1..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("unquoted label value in {line}"));
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut closing = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, escaped) = chars.next().expect("escape at end of line");
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                    '"' => {
                        closing = Some(i);
                        break;
                    }
                    other => value.push(other),
                }
            }
            let closing = closing.unwrap_or_else(|| panic!("unterminated value in {line}"));
            labels.insert(key, value);
            inner = &quoted[closing + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let value = rest
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad value in {line}"));
    Sample {
        name,
        labels,
        value,
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
