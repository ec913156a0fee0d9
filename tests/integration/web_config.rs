//! `--web.config.file`, exporter-toolkit's format, proven with the clients operators use:
//! curl (TLS, basic authentication, client certificates, headers, reloads) and a real
//! Prometheus scraping through `scheme: https` with `basic_auth`. Certificates are made here
//! with rcgen, bcrypt hashes with the cost 4 to keep the tests fast. Loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

use crate::fake_iam::FakeIam;
use crate::helpers::{
    eventually, free_port, percent_encode, populated, run, spawn_with_fake, temp_dir, tool, Scrape,
    TestApp,
};

const BINARY: &str = env!("CARGO_BIN_EXE_iam-key-exporter");

/// Polls for at most this long; every wait in this module is for a state, bounded by it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A test CA and the certificates it signed, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// `ca.pem`; `server.crt`/`server.key` for 127.0.0.1 and localhost; `expired.crt`/
    /// `expired.key` (valid in 2020 only); `client.crt`/`client.key` for mutual TLS; and
    /// `rogue.crt`/`rogue.key`, a client certificate from another CA.
    fn new() -> Pki {
        let pki = Pki { dir: temp_dir() };
        let ca = ca("iam-key-exporter test CA");
        pki.write("ca.pem", &ca.pem());
        pki.server(&ca, "server", false);
        pki.server(&ca, "expired", true);
        pki.client(&ca, "client");
        pki.client(&self::ca("someone else's CA"), "rogue");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// A server certificate (and key) named `name`, signed by `ca`.
    fn server(&self, ca: &CertifiedIssuer<'static, KeyPair>, name: &str, expired: bool) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "iam-key-exporter");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        self.signed(ca, params, name);
    }

    fn client(&self, ca: &CertifiedIssuer<'static, KeyPair>, name: &str) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "prometheus");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.signed(ca, params, name);
    }

    fn signed(
        &self,
        ca: &CertifiedIssuer<'static, KeyPair>,
        params: CertificateParams,
        name: &str,
    ) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, ca).unwrap();
        self.write(&format!("{name}.crt"), &cert.pem());
        self.write(&format!("{name}.key"), &key.serialize_pem());
    }

    /// Writes `web.yml` (relative file names in it are relative to this directory).
    fn web_config(&self, yaml: &str) -> String {
        self.write("web.yml", yaml);
        self.arg("web.yml")
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn bcrypt(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// What curl said: its exit code, and the answer when there was one.
#[derive(Debug)]
struct Curl {
    code: i32,
    status: u16,
    /// `1.1`, `2`, ...
    version: String,
    headers: Vec<(String, String)>,
    body: String,
    stderr: String,
}

impl Curl {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers that do not change from one answer to the next.
    fn stable_headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<_> = self
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        headers.sort();
        headers
    }
}

/// Runs curl (Debian's; the test fails when it is missing) with `args` and parses its `-i`
/// output.
async fn curl(args: &[&str]) -> Curl {
    let curl = tool("curl", "CURL");
    // -q first: no ~/.curlrc; no proxy from the environment for loopback.
    let mut all = vec![
        "-q",
        "--silent",
        "--show-error",
        "--include",
        "--noproxy",
        "*",
    ];
    all.extend(["--max-time", "20"]);
    all.extend(args);
    let (code, out, stderr) = run(&curl, &all, &[], true).await;
    let mut answer = Curl {
        code,
        status: 0,
        version: String::new(),
        headers: Vec::new(),
        body: String::new(),
        stderr,
    };
    if let Some((head, body)) = out.split_once("\r\n\r\n") {
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.split_whitespace();
        answer.version = parts
            .next()
            .unwrap_or("")
            .trim_start_matches("HTTP/")
            .to_owned();
        answer.status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        answer.headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        answer.body = body.to_owned();
    }
    answer
}

/// An exporter on a fake IAM with three users, serving with `web.yml`.
async fn spawn_secured(web_config: &str, settings: &[(&str, &str)]) -> (FakeIam, TestApp) {
    let mut all = vec![("IAM_KEY_EXPORTER_WEB__CONFIG_FILE", web_config)];
    all.extend_from_slice(settings);
    spawn_with_fake(populated(3), &all).await
}

fn https(addr: SocketAddr, path: &str) -> String {
    format!("https://{addr}{path}")
}

/// Waits until `args` get the metrics of the first refresh.
async fn wait_for_metrics(args: &[&str]) -> Curl {
    let mut last = None;
    let started = tokio::time::Instant::now();
    while started.elapsed() < PATIENCE {
        let answer = curl(args).await;
        if answer.status == 200
            && Scrape::parse(&answer.body).value("iam_account_users", &[]) == Some(3.0)
        {
            return answer;
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no metrics within {PATIENCE:?}; last answer: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_tls_need_a_right_password_and_every_refusal_looks_the_same() {
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nhttp_server_config:\n  http2: true\n  headers:\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  prometheus: '{}'\n  alice: '{}'\n",
        bcrypt("scrape-secret"),
        bcrypt("alice-secret"),
    ));
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let ca = pki.arg("ca.pem");
    let url = https(app.addr, "/metrics");
    let with = |credentials: &'static str| {
        let (ca, url) = (ca.clone(), url.clone());
        async move { curl(&["--cacert", &ca, "-u", credentials, &url]).await }
    };

    let good = wait_for_metrics(&["--cacert", &ca, "-u", "prometheus:scrape-secret", &url]).await;
    assert_eq!(good.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        good.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(
        good.body.contains("iam_user_active_access_keys{"),
        "{}",
        good.body
    );
    // HTTP/2 is asked for and HTTP/1.1 answered: `http2: true` is accepted, not served.
    let http2 = curl(&["--http2", "--cacert", &ca, "-u", "alice:alice-secret", &url]).await;
    assert_eq!(
        (http2.status, http2.version.as_str()),
        (200, "1.1"),
        "{http2:?}"
    );

    let wrong = with("prometheus:wrong").await;
    let unknown = with("nobody:scrape-secret").await;
    let none = curl(&["--cacert", &ca, &url]).await;
    for refused in [&wrong, &unknown, &none] {
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Basic realm=\"iam-key-exporter\"")
        );
        assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
        assert!(!refused.body.contains("iam_"), "{}", refused.body);
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.stable_headers(), unknown.stable_headers());
    assert_eq!(wrong.stable_headers(), none.stable_headers());

    // Without credentials: the landing page and unknown paths are refused alike (which
    // paths exist is not told), the health endpoints answer (probes cannot authenticate).
    for path in ["/", "/nope"] {
        let answer = curl(&["--cacert", &ca, &https(app.addr, path)]).await;
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
    }
    for path in ["/-/healthy", "/-/ready"] {
        let answer = curl(&["--cacert", &ca, &https(app.addr, path)]).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    }

    // Plain HTTP to the TLS port gets no answer, let alone the metrics.
    let plain = curl(&[
        "-u",
        "prometheus:scrape-secret",
        &format!("http://{}/metrics", app.addr),
    ])
    .await;
    assert_ne!(plain.code, 0, "{plain:?}");
    assert_ne!(plain.status, 200, "{plain:?}");
    assert!(!plain.body.contains("iam_"), "{plain:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_server_certificate_is_refused_by_the_client() {
    let pki = Pki::new();
    let web =
        pki.web_config("tls_server_config:\n  cert_file: expired.crt\n  key_file: expired.key\n");
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let ca = pki.arg("ca.pem");
    let answer = curl(&["--cacert", &ca, &https(app.addr, "/-/healthy")]).await;
    // 60: "Peer certificate cannot be authenticated with known CA certificates".
    assert_eq!(answer.code, 60, "{answer:?}");
    assert!(answer.stderr.contains("expired"), "{}", answer.stderr);
    // The same server with the CA's valid certificate is trusted: only the date is wrong.
    let insecure = curl(&["--insecure", &https(app.addr, "/-/healthy")]).await;
    assert_eq!(insecure.status, 200, "{insecure:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_lets_in_only_clients_with_a_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n",
    );
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let ca = pki.arg("ca.pem");
    let url = https(app.addr, "/metrics");
    let (cert, key) = (pki.arg("client.crt"), pki.arg("client.key"));
    wait_for_metrics(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]).await;

    let without = curl(&["--cacert", &ca, &url]).await;
    assert_ne!(without.code, 0, "{without:?}");
    assert_eq!(without.status, 0, "no answer at all: {without:?}");
    assert!(
        without.stderr.contains("certificate required"),
        "{}",
        without.stderr
    );

    let (rogue, rogue_key) = (pki.arg("rogue.crt"), pki.arg("rogue.key"));
    let other_ca = curl(&["--cacert", &ca, "--cert", &rogue, "--key", &rogue_key, &url]).await;
    assert_ne!(other_ca.code, 0, "{other_ca:?}");
    assert_eq!(other_ca.status, 0, "{other_ca:?}");
    assert!(
        other_ca.stderr.contains("unknown ca"),
        "{}",
        other_ca.stderr
    );

    // min_version: TLS13 is enforced.
    let old = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--tls-max",
        "1.2",
        &url,
    ])
    .await;
    assert_ne!(old.code, 0, "{old:?}");
    assert!(old.stderr.contains("protocol version"), "{}", old.stderr);
    app.stop().await;
}

/// A client certificate that is itself a CA certificate (what `openssl req -x509` makes, and
/// what exporter-toolkit's own test clients are) is let in when the client CA file holds that
/// very certificate, as Go lets it in; one the file does not hold is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_ca_client_certificate_listed_in_the_client_ca_file_is_let_in() {
    let pki = Pki::new();
    for (name, issuer) in [
        ("selfsigned", ca("prometheus")),
        ("unlisted", ca("stranger")),
    ] {
        pki.write(&format!("{name}.crt"), &issuer.pem());
        pki.write(&format!("{name}.key"), &issuer.key().serialize_pem());
    }
    let both = format!(
        "{}{}",
        std::fs::read_to_string(pki.path("ca.pem")).unwrap(),
        std::fs::read_to_string(pki.path("selfsigned.crt")).unwrap()
    );
    pki.write("clients.pem", &both);
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n",
    );
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let ca = pki.arg("ca.pem");
    let url = https(app.addr, "/metrics");
    let (cert, key) = (pki.arg("selfsigned.crt"), pki.arg("selfsigned.key"));
    wait_for_metrics(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]).await;
    // The CA-signed client still gets in beside it.
    let (cert, key) = (pki.arg("client.crt"), pki.arg("client.key"));
    let signed = curl(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]).await;
    assert_eq!(signed.status, 200, "{signed:?}");

    let (cert, key) = (pki.arg("unlisted.crt"), pki.arg("unlisted.key"));
    let unlisted = curl(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]).await;
    assert_ne!(unlisted.code, 0, "{unlisted:?}");
    assert_eq!(unlisted.status, 0, "no answer at all: {unlisted:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_or_certificate_takes_effect_without_a_restart() {
    let pki = Pki::new();
    let config = |hash: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        )
    };
    let web = pki.web_config(&config(&bcrypt("old-secret")));
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let ca = pki.arg("ca.pem");
    let url = https(app.addr, "/metrics");
    wait_for_metrics(&["--cacert", &ca, "-u", "prometheus:old-secret", &url]).await;

    pki.web_config(&config(&bcrypt("new-secret")));
    let status = |credentials: &'static str| {
        let (ca, url) = (ca.clone(), url.clone());
        async move {
            curl(&["--cacert", &ca, "-u", credentials, &url])
                .await
                .status
        }
    };
    eventually("the new password to be taken", PATIENCE, || async {
        status("prometheus:new-secret").await == 200
    })
    .await;
    assert_eq!(status("prometheus:old-secret").await, 401);

    // The certificate files alone change (a renewal by another CA): new connections get the
    // new certificate, and the old CA no longer verifies it.
    let other = self::ca("the renewed CA");
    pki.write("other-ca.pem", &other.pem());
    pki.server(&other, "renewed", false);
    std::fs::copy(pki.path("renewed.key"), pki.path("server.key.new")).unwrap();
    std::fs::copy(pki.path("renewed.crt"), pki.path("server.crt.new")).unwrap();
    // Replaced by renaming, as cert-manager and kubelet do: never a half-written file.
    std::fs::rename(pki.path("server.key.new"), pki.path("server.key")).unwrap();
    std::fs::rename(pki.path("server.crt.new"), pki.path("server.crt")).unwrap();
    let other_ca = pki.arg("other-ca.pem");
    eventually("the renewed certificate to be served", PATIENCE, || async {
        curl(&["--cacert", &other_ca, "-u", "prometheus:new-secret", &url])
            .await
            .status
            == 200
    })
    .await;
    let old_ca = curl(&["--cacert", &ca, "-u", "prometheus:new-secret", &url]).await;
    assert_eq!(old_ca.code, 60, "{old_ca:?}");
    app.stop().await;
}

/// The TLS handshake is inside the same defences as the requests: bounded by
/// `web.header_read_timeout`, and holding a slot that the connection cap can take back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_the_tls_handshake_cannot_hold_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    let web =
        pki.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    let (_fake, app) = spawn_secured(
        &web,
        &[
            ("IAM_KEY_EXPORTER_WEB__HEADER_READ_TIMEOUT", "1s"),
            ("IAM_KEY_EXPORTER_WEB__MAX_CONNECTIONS", "4"),
        ],
    )
    .await;
    // Half a ClientHello, then silence: cut off after the header-read timeout.
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the server closed the stalled handshake");

    // Twenty silent connections against a cap of four: a scraper still gets in.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    let ca = pki.arg("ca.pem");
    wait_for_metrics(&["--cacert", &ca, &https(app.addr, "/metrics")]).await;
    drop(silent);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_web_config_file_exits_2_naming_the_file_and_the_key_before_binding() {
    // Hold the port: had the exporter tried to bind it, it would say "cannot listen".
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let pki = Pki::new();
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
    );
    let (code, out, err) = run(
        Path::new(BINARY),
        &["--web.config.file", &web, "--web.listen-address", &address],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("web.config_file"), "{err}");
    assert!(err.contains(&web), "names the file: {err}");
    assert!(err.contains("`tls_server_config.min_version`"), "{err}");
    assert!(err.contains("`TLS12` or `TLS13`"), "{err}");
    assert!(err.contains("`tls_server_config.cipher_suites`"), "{err}");
    assert!(!err.contains("cannot listen"), "{err}");

    let missing = pki.arg("missing.yml");
    let (code, _, err) = run(
        Path::new(BINARY),
        &[
            "--web.config.file",
            &missing,
            "--web.listen-address",
            &address,
        ],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`web.config_file`") && err.contains(&missing),
        "{err}"
    );
    assert!(err.contains("--web.config.file"), "names the flag: {err}");
    drop(held);
}

/// The config file's nesting guard stands before the web config file's parser too: a file of
/// 100 nested `[` exits 2 at once, naming the file and saying that it nests too deep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_web_config_file_exits_2_naming_the_file() {
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "basic_auth_users: {}{}\n",
        "[".repeat(100),
        "]".repeat(100)
    ));
    let (code, out, err) = run(
        Path::new(BINARY),
        &[
            "--web.config.file",
            &web,
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("`web.config_file`"), "{err}");
    assert!(err.contains(&web), "names the file: {err}");
    assert!(err.contains("levels deep"), "{err}");
}

/// A child process killed (by its own PID) when the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of the one series `expr` returns, if exactly one.
async fn query_value(prometheus: SocketAddr, expr: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", percent_encode(expr));
    // Not up yet is no answer yet.
    let response = iam_key_exporter_testkit::try_request(prometheus, "GET", &path, &[])
        .await
        .ok()?;
    let json: Value = serde_json::from_slice(&response.body).ok()?;
    let result = json["data"]["result"].as_array()?;
    match result.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_https_with_basic_auth() {
    let prometheus_bin = tool("prometheus", "PROMETHEUS");
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{}'\n",
        bcrypt("scrape-secret")
    ));
    let (_fake, app) = spawn_secured(&web, &[]).await;

    let dir = temp_dir();
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n    basic_auth:\n      username: prometheus\n      password: {password}\n    static_configs:\n      - targets: ['{target}']\n",
            ca = pki.arg("ca.pem"),
            target = app.addr,
        )
    };
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
            job("iam-tls", "scrape-secret"),
            job("iam-tls-wrong-password", "guess"),
        ),
    )
    .unwrap();
    let port = free_port();
    let log_path = dir.path().join("prometheus.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut prometheus = Daemon(
        Command::new(&prometheus_bin)
            .args([
                format!(
                    "--config.file={}",
                    dir.path().join("prometheus.yml").display()
                ),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    eventually(
        "Prometheus to scrape the exporter over HTTPS with basic auth",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = prometheus.0.try_wait() {
                panic!(
                    "prometheus exited ({status}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            async move {
                query_value(addr, "up{job=\"iam-tls\"}").await == Some(1.0)
                    && query_value(addr, "iam_account_users{job=\"iam-tls\"}").await == Some(3.0)
                    && query_value(addr, "up{job=\"iam-tls-wrong-password\"}").await == Some(0.0)
            }
        },
    )
    .await;
    drop(prometheus);
    app.stop().await;
}

/// Files that never end or never answer: a config file, web config or certificate that is a
/// symlink to /dev/zero, or a FIFO, is refused at once (exit 2, naming the file) without a byte
/// read; thousands of stray variables are refused in linear time. Each within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_files_fifos_and_stray_variables_are_refused_within_a_second() {
    let pki = Pki::new();
    let zero = pki.path("zero.yml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = pki.path("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    pki.server(&ca("a CA"), "server", false);
    std::os::unix::fs::symlink("/dev/zero", pki.path("zero.crt")).unwrap();
    let zero_cert =
        pki.web_config("tls_server_config:\n  cert_file: zero.crt\n  key_file: server.key\n");
    let zero = zero.display().to_string();
    let fifo = fifo.display().to_string();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "a config file on /dev/zero",
            vec!["--config.file", &zero],
            "a device",
        ),
        (
            "a FIFO as the config file",
            vec!["--config.file", &fifo],
            "a FIFO",
        ),
        (
            "a web config on /dev/zero",
            vec!["--web.config.file", &zero],
            "not a file",
        ),
        (
            "a certificate on /dev/zero",
            vec!["--web.config.file", &zero_cert],
            "a device",
        ),
    ];
    for (what, args, says) in cases {
        let mut args = args.clone();
        args.extend(["--web.listen-address", "127.0.0.1:0"]);
        let started = std::time::Instant::now();
        let (code, out, err) = run(Path::new(BINARY), &args, &[], true).await;
        let took = started.elapsed();
        assert_eq!(code, 2, "{what}: {out}{err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
    }

    let stray: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("IAM_KEY_EXPORTER_STRAY__KEY{i}"), "1".to_owned()))
        .collect();
    let stray: Vec<(&str, &str)> = stray
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let started = std::time::Instant::now();
    let (code, _, err) = run(
        Path::new(BINARY),
        &["--web.listen-address", "127.0.0.1:0"],
        &stray,
        true,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(code, 2, "{}", &err[..err.len().min(2000)]);
    assert!(
        err.contains("IAM_KEY_EXPORTER_STRAY__KEY0`"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.contains("and 9900 more problems"), "the rest counted");

    // A setting's variable whose value is not UTF-8 is an error, not silently ignored.
    use std::os::unix::ffi::OsStrExt;
    let output = std::process::Command::new(BINARY)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .env(
            "IAM_KEY_EXPORTER_AWS__PROFILE",
            std::ffi::OsStr::from_bytes(b"audit\xff"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("IAM_KEY_EXPORTER_AWS__PROFILE") && err.contains("not valid UTF-8"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(1),
        "10,000 stray variables: {took:?}"
    );
}

/// One request on an open connection, read to its end (`Content-Length`); the status.
async fn keep_alive_request(
    stream: &mut tokio::net::TcpStream,
    authorization: &str,
) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: exporter\r\nAuthorization: Basic {authorization}\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status: u16 = head[9..12].parse().unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no content-length in {head}")))?;
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

/// A bad-password flood of 100 clients reconnecting as fast as they can (bounded: 8 s), over
/// the connection cap (64): the authenticated scraper's keep-alive connection is never the one
/// closed, and its scrapes stay fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_password_flood_leaves_an_authenticated_scraper_answered_within_a_second() {
    use base64::Engine as _;
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "basic_auth_users:\n  prometheus: '{}'\n",
        bcrypt("secret")
    ));
    let (_fake, app) = spawn_secured(&web, &[]).await;
    let good = base64::engine::general_purpose::STANDARD.encode("prometheus:secret");
    let bad = base64::engine::general_purpose::STANDARD.encode("prometheus:guess");
    let mut scraper = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(keep_alive_request(&mut scraper, &good).await.unwrap(), 200);

    let stop = std::time::Instant::now() + Duration::from_secs(8);
    let addr = app.addr;
    let flood: Vec<_> = (0..100)
        .map(|_| {
            let bad = bad.clone();
            tokio::spawn(async move {
                let mut attempts = 0_u32;
                while std::time::Instant::now() < stop {
                    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            keep_alive_request(&mut stream, &bad),
                        )
                        .await;
                        attempts += 1;
                    }
                }
                attempts
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failed = 0;
    while std::time::Instant::now() < stop {
        let started = std::time::Instant::now();
        match tokio::time::timeout(
            Duration::from_secs(5),
            keep_alive_request(&mut scraper, &good),
        )
        .await
        {
            Ok(Ok(200)) => latencies.push(started.elapsed()),
            other => {
                failed += 1;
                eprintln!("scrape failed: {other:?}");
                scraper = tokio::net::TcpStream::connect(app.addr).await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut attempts = 0;
    for task in flood {
        attempts += task.await.unwrap();
    }
    latencies.sort();
    let scrapes = latencies.len() + failed;
    let within = latencies
        .iter()
        .filter(|l| **l < Duration::from_secs(1))
        .count();
    eprintln!(
        "bad-password flood: {attempts} attempts by 100 clients; {within} of {scrapes} scrapes \
         answered within 1 s, {failed} failed; median {:?}, slowest {:?}",
        latencies.get(latencies.len() / 2),
        latencies.last()
    );
    assert!(attempts > 200, "the flood ran: {attempts} attempts");
    assert!(scrapes >= 20, "{scrapes} scrapes");
    assert!(
        within * 100 >= scrapes * 99,
        "{within} of {scrapes} scrapes within 1 s ({failed} failed)"
    );
    app.stop().await;
}
