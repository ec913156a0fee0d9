//! AWS failures, fast and specific: a refused endpoint or a region typo ends `check` within
//! 10 s naming the operation, the endpoint and the region tried; a region that is not
//! region-shaped is a configuration error; without credentials the message says where they
//! are looked for, even when something answers on the instance-metadata address and refuses;
//! a refresh failure is logged in one short line, without the SDK's `Debug` dump; and an
//! account that has never had data is refreshed again within seconds, not after the interval.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

use crate::binary::{aws_env, exporter, BINARY};
use crate::fake_iam::{FakeIam, FaultKind};
use crate::helpers::{free_port, populated, spawn_app, Scrape};

/// The bound issue 23 sets: a wrong region or endpoint fails within this.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// The longest log line a refresh failure may take: the message, the account, what was tried,
/// the credentials hint and the SDK's own one-line chain fit; its `Debug` dump (some 900 more
/// characters) does not.
const MAX_LOG_LINE: usize = 800;

/// The environment of `check` as a user runs it: the SDK's own retries as configured by
/// default (`aws.max_attempts` = 8), not the tests' single attempt.
fn as_users_run(endpoint: Option<&str>) -> Vec<(&'static str, String)> {
    aws_env(endpoint.unwrap_or(""))
        .into_iter()
        .filter(|(name, _)| *name != "IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS")
        .filter(|(name, _)| endpoint.is_some() || *name != "AWS_ENDPOINT_URL")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_refused_endpoint_exits_2_within_10s_naming_what_was_tried() {
    // Bound, then closed: nothing listens, the connection is refused.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, out, err) = exporter(&["check"], &as_users_run(Some(&closed))).await;
    let took = started.elapsed();
    assert_eq!(code, 2, "{out}{err}");
    assert!(took < FAIL_FAST, "took {took:?}: {err}");
    assert!(
        err.contains(&format!(
            "GetCallerIdentity request failed (network) at {closed} (region us-east-1)"
        )),
        "names the operation, the endpoint and the region: {err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_an_endpoint_that_accepts_and_hangs_up_exits_2_within_10s() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let started = Instant::now();
    let (code, out, err) = exporter(&["check"], &as_users_run(Some(&endpoint))).await;
    let took = started.elapsed();
    assert_eq!(code, 2, "{out}{err}");
    assert!(took < FAIL_FAST, "took {took:?}: {err}");
    assert!(
        err.contains(&format!(
            "GetCallerIdentity request failed (network) at {endpoint} (region us-east-1)"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_region_typo_exits_2_within_10s_naming_the_endpoint_and_region() {
    // Region-shaped, so accepted, but no such region: STS's regional endpoint for it does not
    // resolve anywhere.
    let mut env = as_users_run(None);
    env.retain(|(name, _)| *name != "AWS_REGION");
    env.push(("IAM_KEY_EXPORTER_AWS__REGION", "us-eats-1".to_owned()));
    let started = Instant::now();
    let (code, out, err) = exporter(&["check"], &env).await;
    let took = started.elapsed();
    assert_eq!(code, 2, "{out}{err}");
    assert!(took < FAIL_FAST, "took {took:?}: {err}");
    assert!(
        err.contains(
            "GetCallerIdentity request failed (network) at https://sts.us-eats-1.amazonaws.com \
             (region us-eats-1)"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_is_not_region_shaped_is_a_config_error_at_start_up() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut env = as_users_run(Some(&closed));
    env.push(("IAM_KEY_EXPORTER_AWS__REGION", "us-east1".to_owned()));
    let started = Instant::now();
    let (code, out, err) = exporter(&["check"], &env).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(started.elapsed() < FAIL_FAST);
    for part in [
        "invalid configuration",
        "`aws.region`",
        "`us-east1`",
        "`us-east-1`",
        "`us-gov-west-1`",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(
        !err.contains("GetCallerIdentity"),
        "nothing was sent: {err}"
    );
}

/// Answers every HTTP request with `status` and an empty body, as an instance-metadata
/// address behind a proxy or a firewall does; returns its URL.
async fn metadata_stand_in(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut request = Vec::new();
                let mut byte = [0_u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    request.push(byte[0]);
                }
                let answer = format!(
                    "HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.get_mut().write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

/// Nothing the default chain could find, and `metadata` as the instance-metadata address.
fn without_credentials(command: &mut tokio::process::Command, endpoint: &str, metadata: &str) {
    for (name, value) in aws_env(endpoint) {
        command.env(name, value);
    }
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        command.env_remove(name);
    }
    command.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata);
}

/// Every warn and error line is one short line without a `Debug` dump, and the SDK logs none.
fn assert_short_log_lines(logs: &str) {
    for line in logs.lines() {
        if !(line.contains("level=warn") || line.contains("level=error")) {
            continue;
        }
        assert!(
            !line.contains("target=aws_"),
            "the SDK's own warnings are held back: {line}"
        );
        assert!(
            line.len() <= MAX_LOG_LINE,
            "{} characters: {line}",
            line.len()
        );
        for dump in ["ProviderError {", "SdkBody", "StatusCode(", "Extensions {"] {
            assert!(!line.contains(dump), "a Debug dump ({dump}): {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_and_a_metadata_address_that_refuses_check_says_where_to_give_them() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    for status in [403, 404] {
        let metadata = metadata_stand_in(status).await;
        let mut command = tokio::process::Command::new(BINARY);
        command
            .arg("check")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        without_credentials(&mut command, &closed, &metadata);
        let started = Instant::now();
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("check finishes")
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{status}: {err}");
        assert!(started.elapsed() < FAIL_FAST, "{status}: {err}");
        for part in [
            "(access_denied)",
            "no AWS credentials found",
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "EC2 instance metadata",
            "set one of them",
            "IMDS",
        ] {
            assert!(err.contains(part), "{status}, {part}: {err}");
        }
        assert_short_log_lines(&err);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_failure_is_logged_in_one_short_line_without_the_sdks_dump() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let metadata = metadata_stand_in(403).await;
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    without_credentials(&mut command, &closed, &metadata);
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Two failed refreshes: the second comes seconds after the first (the account has no data).
    let mut logs = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while logs.matches("refresh failed").count() < 2 {
        let mut line = String::new();
        let read = tokio::time::timeout_at(
            deadline,
            tokio::io::AsyncBufReadExt::read_line(&mut stderr, &mut line),
        )
        .await
        .unwrap_or_else(|_| panic!("no second refresh failure within 30 s: {logs}"))
        .unwrap();
        assert!(read > 0, "the exporter ended: {logs}");
        logs.push_str(&line);
    }
    let _ = child.kill().await;
    assert!(logs.contains("no AWS credentials found"), "{logs}");
    assert_short_log_lines(&logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_failed_refresh_is_retried_within_30s_not_after_the_interval() {
    let fake = FakeIam::start(populated(3)).await;
    // The first three requests fail, and with one attempt each, the first three refreshes.
    fake.inject(None, FaultKind::ServerError, Some(3));
    let started = Instant::now();
    let app = spawn_app(
        &fake.endpoint(),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "5m")],
    )
    .await;
    let scrape = app
        .wait_for_within("a refresh that succeeds", Duration::from_secs(30), |s| {
            s.value(
                "iam_exporter_refresh_success",
                &[("account_id", "111122223333")],
            ) == Some(1.0)
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    let failures = |s: &Scrape| {
        s.value(
            "iam_exporter_refresh_errors_total",
            &[("account_id", "unknown"), ("kind", "service")],
        )
    };
    assert_eq!(failures(&scrape), Some(3.0), "{}", scrape.text);
    assert!(fake.with(|s| s.faults.is_empty() || s.faults.iter().all(|f| f.remaining == Some(0))));
    app.stop().await;
}
