//! Broken and hostile answers: an IAM answer cut off mid-document, without the list the API
//! defines, with a key status that is neither Active nor Inactive, a user listed twice, a
//! listing without end or going round in circles, a 30 MB error message. None may lower a
//! count: the refresh is counted malformed (`service`), and the last good data stays served.

use std::path::Path;

use iam_key_exporter_testkit::{FaultKind, Scrape};

use crate::binary::{aws_env, BINARY};
use crate::fake_iam::{FakeIam, FakeKey, FakeUser, State};
use crate::helpers::{run, spawn_app, tool};

const ACCOUNT: &str = "111122223333";

fn key(id: &str) -> FakeKey {
    FakeKey {
        id: id.to_owned(),
        active: true,
        created: 1_700_000_000,
        last_used: None,
    }
}

/// alice with two active keys, bob with one, carol with none.
fn world() -> State {
    let mut state = State::default();
    for (name, keys) in [
        (
            "alice",
            vec![key("AKIAALICE00000000001"), key("AKIAALICE00000000002")],
        ),
        ("bob", vec![key("AKIABOB0000000000001")]),
        ("carol", vec![]),
    ] {
        state.users.insert(
            name.to_owned(),
            FakeUser {
                path: "/".to_owned(),
                keys,
                tags: Vec::new(),
            },
        );
    }
    state
}

fn errors(s: &Scrape, kind: &str) -> f64 {
    s.value(
        "iam_exporter_refresh_errors_total",
        &[("account_id", ACCOUNT), ("kind", kind)],
    )
    .unwrap_or(0.0)
}

/// Cut after the first user, or after a user's first key (halfway for a user without keys):
/// no closing tags.
fn cut_after_first_member(text: &str) -> String {
    match text.find("</member>") {
        Some(at) => text[..at + "</member>".len()].to_owned(),
        None => text[..text.len() / 2].to_owned(),
    }
}

fn without_users(text: &str) -> String {
    text.replace("<Users>", "<Other>")
        .replace("</Users>", "</Other>")
}

fn without_key_list(text: &str) -> String {
    text.replace("<AccessKeyMetadata>", "<Unknown><Nested>")
        .replace("</AccessKeyMetadata>", "</Nested></Unknown>")
}

fn without_status(text: &str) -> String {
    text.replace("<Status>Active</Status>", "")
}

fn odd_status(text: &str) -> String {
    text.replace("<Status>Active</Status>", "<Status>Expired</Status>")
}

fn user_twice(text: &str) -> String {
    let (Some(start), Some(end)) = (text.find("<member>"), text.find("</member>")) else {
        return text.to_owned();
    };
    let member = &text[start..end + "</member>".len()];
    text.replacen(member, &format!("{member}{member}"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_answer_never_lowers_a_count_and_is_counted_malformed() {
    type Rewrite = fn(&str) -> String;
    let cases: [(&str, &str, Rewrite); 7] = [
        (
            "ListUsers",
            "cut after the first user",
            cut_after_first_member,
        ),
        ("ListUsers", "no Users", without_users),
        ("ListUsers", "a user listed twice", user_twice),
        (
            "ListAccessKeys",
            "cut after the first key",
            cut_after_first_member,
        ),
        (
            "ListAccessKeys",
            "only unknown nested elements",
            without_key_list,
        ),
        ("ListAccessKeys", "no Status", without_status),
        ("ListAccessKeys", "status Expired", odd_status),
    ];
    for (action, what, rewrite) in cases {
        let fake = FakeIam::start(world()).await;
        let app = spawn_app(
            &fake.endpoint(),
            &[("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false")],
        )
        .await;
        app.wait_for("the first good refresh", |s| {
            s.value("iam_user_active_access_keys", &[("user", "alice")]) == Some(2.0)
        })
        .await;
        fake.inject(Some(action), FaultKind::Rewrite(rewrite), None);
        let scrape = app
            .wait_for(&format!("{action} {what} counted malformed"), |s| {
                errors(s, "service") >= 2.0
            })
            .await;
        assert_eq!(
            scrape.value("iam_user_active_access_keys", &[("user", "alice")]),
            Some(2.0),
            "{action} {what}: the last good count stays"
        );
        assert_eq!(
            scrape.value("iam_account_users", &[("account_id", ACCOUNT)]),
            Some(3.0),
            "{action} {what}"
        );
        assert_eq!(
            scrape.value("iam_exporter_refresh_success", &[("account_id", ACCOUNT)]),
            Some(0.0),
            "{action} {what}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_2_on_a_broken_answer_never_0() {
    let fake = FakeIam::start(world()).await;
    fake.inject(
        Some("ListAccessKeys"),
        FaultKind::Rewrite(cut_after_first_member),
        None,
    );
    let mut env: Vec<(&str, String)> = aws_env(&fake.endpoint());
    env.push(("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = run(Path::new(BINARY), &["check", "--output=json"], &env, true).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("\"compliant\": true"), "{out}");
    assert!(err.contains("malformed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_cycle_is_caught_on_its_first_repeat_on_every_paged_call() {
    for action in ["ListUsers", "ListAccessKeys", "ListUserTags"] {
        let fake = FakeIam::start(world()).await;
        fake.inject(Some(action), FaultKind::MarkerCycle, None);
        // One refresh only, so that the requests counted are one listing's.
        let app = spawn_app(
            &fake.endpoint(),
            &[
                ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
                ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h"),
            ],
        )
        .await;
        app.wait_for(&format!("{action}'s cycle counted malformed"), |s| {
            errors(s, "service") >= 1.0
        })
        .await;
        app.stop().await;
        let requests = fake.requests(action);
        // ListUsers: none, m0, m1, then m0 again is the first repeat: 3 requests. Per user
        // for the others (users are read concurrently, so a few users may have started).
        let bound = if action == "ListUsers" { 3 } else { 3 * 3 };
        assert!(
            requests <= bound,
            "{action}: {requests} requests, the cycle was not caught on its first repeat"
        );
    }
}

/// The peak RSS of `check` run against `endpoint` with `extra` settings, in KiB, and its exit
/// code and standard error (python's `resource` reads the child's `ru_maxrss`).
async fn check_peak_rss(endpoint: &str, extra: &[(&str, &str)]) -> (u64, i32, String) {
    let python = tool("python3", "MOTO_PYTHON");
    let mut env: Vec<(&str, String)> = aws_env(endpoint);
    for (k, v) in extra {
        env.push((k, (*v).to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let script = "import resource, subprocess, sys\n\
        p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n\
        sys.stderr.write(p.stderr.decode('utf-8', 'replace'))\n\
        print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let (code, out, err) = run(&python, &["-c", script, BINARY, "check"], &env, true).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut fields = out.split_whitespace();
    let exit: i32 = fields.next().unwrap().parse().unwrap();
    let rss: u64 = fields.next().unwrap().parse().unwrap();
    (rss, exit, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_listing_stops_at_the_cap_with_little_memory() {
    let fake = FakeIam::start(world()).await;
    fake.inject(Some("ListUsers"), FaultKind::EndlessUsers, None);
    let started = std::time::Instant::now();
    let (rss, exit, err) = check_peak_rss(
        &fake.endpoint(),
        &[("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false")],
    )
    .await;
    eprintln!(
        "endless ListUsers: check exited {exit} after {:?} and {} pages, peak RSS {} KiB",
        started.elapsed(),
        fake.requests("ListUsers"),
        rss
    );
    assert_eq!(exit, 2, "{err}");
    assert!(err.contains("collector.max_users"), "{err}");
    assert!(fake.requests("ListUsers") <= 11, "stopped at the cap");
    assert!(rss < 128 * 1024, "peak RSS {rss} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_mb_error_message_is_neither_kept_nor_logged_whole() {
    let fake = FakeIam::start(world()).await;
    fn huge_denial(_: &str) -> String {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>r</RequestId></ErrorResponse>",
            "x".repeat(30 << 20)
        )
    }
    fake.inject(Some("ListUsers"), FaultKind::Rewrite(huge_denial), None);
    let (rss, exit, err) = check_peak_rss(
        &fake.endpoint(),
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false"),
            ("IAM_KEY_EXPORTER_AWS__MAX_RESPONSE_SIZE", "64MiB"),
        ],
    )
    .await;
    eprintln!(
        "30 MB error message: peak RSS {rss} KiB, stderr {} bytes",
        err.len()
    );
    assert_eq!(exit, 2, "{}", &err[..err.len().min(2000)]);
    let longest = err.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 8 * 1024, "a log line of {longest} bytes");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
}
