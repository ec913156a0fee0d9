//! The binary as users run it: `check` verdicts and exit codes, configuration errors, signals.

use std::path::Path;
use std::time::Duration;

use crate::helpers::{free_port, get, run};
use crate::moto::{Moto, Seed};

pub const BINARY: &str = env!("CARGO_BIN_EXE_iam-key-exporter");

/// The environment of a run against `endpoint`, through `AWS_ENDPOINT_URL` as users set it.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("IAM_KEY_EXPORTER_AWS__MAX_ATTEMPTS", "1".to_owned()),
    ]
}

pub async fn exporter(args: &[&str], env: &[(&'static str, String)]) -> (i32, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(Path::new(BINARY), args, &env, true).await
}

/// A user with two active keys whose remediation is clear: one made 10 days ago and never used,
/// one made 5 days ago and in use (moto's clock set for each). Returns (idle, in use).
async fn fixable_offender(moto: &Moto, seed: &Seed, name: &str, path: &str) -> (String, String) {
    let now = iam_key_exporter_testkit::fake_iam::now();
    seed.user(name, path).await;
    moto.set_clock(Some(now - 10 * 86_400)).await;
    let idle = seed.key(name).await;
    moto.set_clock(Some(now - 5 * 86_400)).await;
    let (in_use, secret) = seed.key_with_secret(name).await;
    moto.use_key(&in_use, &secret).await;
    moto.set_clock(None).await;
    (idle, in_use)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_0_when_every_user_has_at_most_one_active_key() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    seed.user_with_keys("one", "/", 1, 1).await;
    seed.user_with_keys("none", "/", 0, 0).await;
    let (code, out, err) = exporter(&["check"], &aws_env(&moto.endpoint())).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_1_and_lists_offenders_with_their_keys_in_json() {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    let (idle, in_use) = fixable_offender(&moto, &seed, "bob+ops@example.com", "/eng/").await;
    let keys = [idle.clone(), in_use.clone()];
    seed.user_with_keys("fine", "/", 1, 0).await;
    let (code, out, err) =
        exporter(&["check", "--output", "json"], &aws_env(&moto.endpoint())).await;
    assert_eq!(code, 1, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("check prints JSON");
    assert_eq!(json["compliant"], false);
    let offenders = json["offenders"].as_array().unwrap();
    assert_eq!(offenders.len(), 1);
    let bob = &offenders[0];
    assert_eq!(bob["account_id"], "123456789012");
    assert_eq!(bob["user"], "bob+ops@example.com");
    assert_eq!(bob["path"], "/eng/");
    assert_eq!(bob["active_access_keys"], 2);
    let listed: Vec<&str> = bob["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["access_key_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    for key in bob["access_keys"].as_array().unwrap() {
        assert_eq!(key["status"], "Active");
        assert!(key["created"].as_str().unwrap().ends_with('Z'));
        assert!(key.get("last_used").is_some());
    }
    let advice: Vec<&str> = bob["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["advice"].as_str().unwrap())
        .collect();
    assert_eq!(advice.iter().filter(|a| **a == "keep").count(), 1);
    assert_eq!(advice.iter().filter(|a| **a == "deactivate").count(), 1);
    let command = bob["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|k| k["command"].as_str())
        .unwrap();
    assert_eq!(
        command,
        format!(
            "aws iam update-access-key --user-name=bob+ops@example.com --access-key-id={idle} --status Inactive"
        )
    );
    assert_eq!(bob["needs_a_human"], serde_json::Value::Null);
    assert!(json["remediation"].as_str().unwrap().contains("90 days"));
    assert_eq!(json["accounts"][0]["users"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_2_when_iam_cannot_be_reached() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (code, out, err) = exporter(&["check"], &aws_env(&closed)).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("request failed (network)"), "{err}");
    assert!(out.is_empty(), "no verdict is printed: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_exits_2_naming_the_key_before_binding_the_port() {
    // Hold the port: had the exporter tried to bind it, it would fail with "cannot listen"
    // and exit 1 instead.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let dir = crate::helpers::temp_dir();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[refresh]\ninterval = \"-3\"\n").unwrap();
    let (code, out, err) = exporter(
        &[
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            &address,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("`refresh.interval`"), "{err}");
    assert!(err.contains("`-3`"), "{err}");
    assert!(err.contains("like `30s`, `5m`"), "{err}");
    assert!(err.contains("config.toml"), "names the file: {err}");
    assert!(!err.contains("cannot listen"), "{err}");

    let (code, _, err) = exporter(&[], &[("IAM_KEY_EXPORTER_LOG__FORMAT", "xml".to_owned())]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("`log.format`") && err.contains("IAM_KEY_EXPORTER_LOG__FORMAT"),
        "{err}"
    );

    let (code, _, err) = exporter(&["--web.listen-adress", ":1"], &[]).await;
    assert_eq!(code, 2, "an unknown flag is a usage error: {err}");
    drop(held);
}

/// The exporter as a daemon against `moto`, its standard error piped, once it is ready.
async fn ready_daemon(moto: &Moto) -> (tokio::process::Child, std::net::SocketAddr) {
    let port = free_port();
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in aws_env(&moto.endpoint()) {
        command.env(k, v);
    }
    let child = command.spawn().unwrap();
    let addr = ([127, 0, 0, 1], port).into();
    crate::helpers::eventually("readiness", Duration::from_secs(30), || async {
        iam_key_exporter_testkit::try_request(addr, "GET", "/-/ready", &[])
            .await
            .is_ok_and(|response| response.status == 200)
    })
    .await;
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_exporter_gracefully_with_exit_0() {
    let moto = Moto::start().await;
    Seed(moto.iam()).user_with_keys("one", "/", 1, 0).await;
    let (child, _) = ready_daemon(&moto).await;
    let pid = child.id().unwrap().to_string();
    let (code, _, _) = run(Path::new("kill"), &["-TERM", &pid], &[], true).await;
    assert_eq!(code, 0);
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("the exporter exits within 15s of SIGTERM")
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(logs.contains("refresh succeeded"), "{logs}");
    assert!(
        !logs.contains("testing"),
        "no credential appears in the logs: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_check_says_so_and_what_the_chain_tried() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut command = tokio::process::Command::new(BINARY);
    command.arg("check").stdin(std::process::Stdio::null());
    for (name, value) in aws_env(&closed) {
        command.env(name, value);
    }
    // Nothing the default chain could find: no keys, no profile, no role, no metadata service.
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        command.env_remove(name);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("check finishes within 60s")
        .unwrap();
    let code = output.status.code().unwrap_or(-1);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(
        err.contains("(access_denied)"),
        "not a network error: {err}"
    );
    assert!(
        err.contains("Environment") && err.contains("Ec2InstanceMetadata"),
        "says what the chain tried: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_cannot_be_bound_exits_2_naming_the_address() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let (code, out, err) = exporter(
        &["--web.listen-address", &address],
        &aws_env("http://127.0.0.1:1"),
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("cannot listen on {address}")),
        "{err}"
    );
    drop(held);
}

/// IAM allows user names that start with `-`; the printed commands must still work when pasted
/// into a shell, and the AWS CLI must accept them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_commands_run_in_a_posix_shell_and_bash_for_names_that_look_like_options() {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    let names = ["-rf", "--help", "-", "a=b,c@d.e+f_g"];
    for name in names {
        fixable_offender(&moto, &seed, name, "/").await;
    }
    let env = aws_env(&moto.endpoint());
    let (code, out, err) = exporter(&["check", "--output", "json"], &env).await;
    assert_eq!(code, 1, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let commands: Vec<String> = json["offenders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|user| user["access_keys"].as_array().unwrap().iter())
        .filter_map(|key| key["command"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(commands.len(), names.len(), "{commands:?}");

    let aws = crate::helpers::tool("aws", "AWS_CLI");
    let path = format!(
        "{}:{}",
        aws.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    shell_env.extend([
        ("PATH", path.as_str()),
        ("AWS_PAGER", ""),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]);
    let script = commands.join("\n");
    // Debian's /bin/sh is dash, a plain POSIX shell; then bash (the second run changes nothing).
    for shell in ["/bin/sh", "/bin/bash"] {
        let (code, out, err) =
            run(Path::new(shell), &["-eu", "-c", &script], &shell_env, true).await;
        assert_eq!(
            code, 0,
            "the commands fail in {shell}:\n{script}\n{out}{err}"
        );
    }

    // Every offender now has exactly one active key: the commands did what they say.
    let (code, out, err) = exporter(&["check", "--output", "json"], &env).await;
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_piped_into_a_reader_that_stops_early_exits_with_its_verdict_not_a_panic() {
    let moto = Moto::start().await;
    let seed = Seed(moto.iam());
    for i in 0..20 {
        seed.user_with_keys(&format!("user-{i:02}"), "/", 2, 0)
            .await;
    }
    let mut env: Vec<(&str, String)> = aws_env(&moto.endpoint());
    env.push(("BINARY", BINARY.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = run(
        Path::new("/bin/bash"),
        &[
            "-c",
            "set -o pipefail; \"$BINARY\" check --output json | true; echo \"exit=$?\"",
        ],
        &env,
        true,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.contains("exit=1"),
        "the verdict (violations) survives the pipe: {out}{err}"
    );
}

/// SIGHUP (Prometheus' reload signal) neither kills the exporter nor stops it serving; it is
/// logged as ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_ignored_and_the_exporter_keeps_serving() {
    use tokio::io::AsyncBufReadExt;
    let moto = Moto::start().await;
    Seed(moto.iam()).user_with_keys("one", "/", 1, 0).await;
    let (mut child, addr) = ready_daemon(&moto).await;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let pid = child.id().unwrap().to_string();
    let (code, _, _) = run(Path::new("kill"), &["-HUP", &pid], &[], true).await;
    assert_eq!(code, 0);
    let logged = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("SIGHUP ignored") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(logged, Ok(true), "the SIGHUP is logged");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(get(addr, "/-/ready", &[]).await.status, 200);
    let (code, _, _) = run(Path::new("kill"), &["-TERM", &pid], &[], true).await;
    assert_eq!(code, 0);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `--version` prints the build's details, in node_exporter's shape, before any configuration
/// is read (a broken one does not hide the version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prints_the_revision_and_build_details_whatever_the_configuration() {
    let broken = [("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "-3".to_owned())];
    let (code, out, err) = exporter(&["--version"], &broken).await;
    assert_eq!(code, 0, "{out}{err}");
    let first = format!(
        "iam-key-exporter, version {} (branch: ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(out.starts_with(&first), "{out}");
    for label in ["revision: ", "build date: ", "rust version: ", "platform: "] {
        assert!(out.contains(label), "{label} in {out}");
    }
    let (code, _, err) = exporter(&["chek"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a similar subcommand exists: 'check'"),
        "{err}"
    );
}
