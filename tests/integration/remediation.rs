//! `remediate` against a real moto server whose clock the test sets (keys created and used
//! months ago), and against the fake where a request count must prove that a dry run writes
//! nothing; and the IAM policies held to what they allow, with moto enforcing them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::binary::{aws_env, exporter};
use crate::fake_iam::{FakeIam, FakeKey, FakeUser, State};
use crate::helpers::project_dir;
use crate::moto::{Moto, Seed};

const DAY: i64 = 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `remediate` with `args`, as JSON; returns the exit code and the document.
async fn remediate(endpoint: &str, args: &[&str]) -> (i32, Value) {
    remediate_with(endpoint, args, None).await
}

/// The same with a config file.
async fn remediate_with(
    endpoint: &str,
    args: &[&str],
    config: Option<&std::path::Path>,
) -> (i32, Value) {
    let mut all = vec!["remediate", "--output=json"];
    all.extend_from_slice(args);
    let mut env = aws_env(endpoint);
    if let Some(config) = config {
        env.push(("IAM_KEY_EXPORTER_CONFIG_FILE", config.display().to_string()));
    }
    let (code, out, err) = exporter(&all, &env).await;
    let json = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("remediate printed no JSON ({e}), exit {code}:\n{out}\n{err}"));
    (code, json)
}

/// The entry for `user` in a `remediate` report.
fn entry<'a>(report: &'a Value, user: &str) -> &'a Value {
    report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == user)
        .unwrap_or_else(|| panic!("{user} not in {report:#}"))
}

/// Every user's `(key, status)` pairs, as IAM lists them.
async fn everything(seed: &Seed, users: &[&str]) -> Vec<(String, Vec<(String, String)>)> {
    let mut all = Vec::new();
    for user in users {
        all.push(((*user).to_owned(), seed.statuses(user).await));
    }
    all
}

/// Users with two active keys in every arrangement the control's procedure distinguishes,
/// created and used at the times their names say (moto's clock moved for each step).
struct Scenario {
    moto: Moto,
    seed: Seed,
    /// `user -> [first key, second key]`.
    keys: std::collections::BTreeMap<&'static str, Vec<String>>,
    /// A config file exempting `config-exempt`.
    config: tempfile::TempDir,
}

impl Scenario {
    async fn remediate(&self, args: &[&str]) -> (i32, Value) {
        let config = self.config.path().join("config.toml");
        remediate_with(&self.moto.endpoint(), args, Some(&config)).await
    }
}

const USERS: &[&str] = &[
    "old-and-new",
    "both-new",
    "both-old",
    "one-recent",
    "both-recent",
    "never-used",
    "one-inactive",
    "exempt",
    "config-exempt",
];

/// Creates a key for `user` with moto's clock at `at`; returns its ID and secret.
async fn key_at(moto: &Moto, seed: &Seed, user: &str, at: i64) -> (String, String) {
    moto.set_clock(Some(at)).await;
    seed.key_with_secret(user).await
}

async fn scenario() -> Scenario {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    let now = now();
    let mut keys: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
    macro_rules! key {
        ($user:expr, $at:expr) => {{
            let (id, secret) = key_at(&moto, &seed, $user, $at).await;
            keys.entry($user).or_default().push(id.clone());
            (id, secret)
        }};
    }
    for user in USERS {
        seed.user(user, "/").await;
    }
    // 200 days ago: old keys, used then.
    let old_a = key!("old-and-new", now - 200 * DAY);
    let both_old_a = key!("both-old", now - 200 * DAY);
    moto.use_key(&old_a.0, &old_a.1).await;
    moto.use_key(&both_old_a.0, &both_old_a.1).await;
    let both_old_b = key!("both-old", now - 190 * DAY);
    let one_recent_a = key!("one-recent", now - 30 * DAY);
    let both_recent_a = key!("both-recent", now - 30 * DAY);
    let both_new_a = key!("both-new", now - 20 * DAY);
    key!("one-recent", now - 20 * DAY);
    let both_recent_b = key!("both-recent", now - 20 * DAY);
    key!("one-inactive", now - 20 * DAY);
    key!("exempt", now - 20 * DAY);
    key!("config-exempt", now - 20 * DAY);
    let new_b = key!("old-and-new", now - 10 * DAY);
    moto.use_key(&both_new_a.0, &both_new_a.1).await;
    let both_new_b = key!("both-new", now - 10 * DAY);
    key!("never-used", now - 10 * DAY);
    key!("never-used", now - 10 * DAY);
    let inactive = key!("one-inactive", now - 10 * DAY);
    key!("exempt", now - 10 * DAY);
    let config_b = key!("config-exempt", now - 10 * DAY);
    moto.set_clock(Some(now - 5 * DAY)).await;
    moto.use_key(&new_b.0, &new_b.1).await;
    moto.use_key(&config_b.0, &config_b.1).await;
    moto.set_clock(Some(now - 3 * DAY)).await;
    moto.use_key(&both_new_b.0, &both_new_b.1).await;
    moto.use_key(&both_old_b.0, &both_old_b.1).await;
    moto.set_clock(Some(now - 2 * 3_600)).await;
    moto.use_key(&both_recent_a.0, &both_recent_a.1).await;
    moto.set_clock(None).await;
    moto.use_key(&one_recent_a.0, &one_recent_a.1).await;
    moto.use_key(&both_recent_b.0, &both_recent_b.1).await;
    seed.deactivate("one-inactive", &inactive.0).await;
    let until = humantime::format_rfc3339_seconds(
        UNIX_EPOCH + std::time::Duration::from_secs((now + 30 * DAY) as u64),
    )
    .to_string();
    seed.tag(
        "exempt",
        &[
            ("iam-key-exporter:exempt-until", &until[..10]),
            ("iam-key-exporter:exempt-reason", "vendor cut-over"),
            ("iam-key-exporter:exempt-owner", "payments"),
        ],
    )
    .await;
    let config = crate::helpers::temp_dir();
    std::fs::write(
        config.path().join("config.toml"),
        format!(
            "[[exemptions]]\naccount = \"*\"\nuser = \"config-exempt\"\nreason = \"migration\"\nowner = \"platform\"\nexpires = \"{}\"\n",
            &until[..10]
        ),
    )
    .unwrap();
    Scenario {
        moto,
        seed,
        keys,
        config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediate_follows_the_controls_procedure_and_a_second_run_does_nothing() {
    let scenario = scenario().await;
    let (seed, keys) = (&scenario.seed, &scenario.keys);
    let before = everything(seed, USERS).await;

    // The dry run plans and changes nothing.
    let (code, plan) = scenario.remediate(&[]).await;
    assert_eq!(code, 1, "something is planned: {plan:#}");
    assert_eq!(plan["mode"], "dry_run");
    assert_eq!(
        everything(seed, USERS).await,
        before,
        "a dry run changes nothing"
    );
    let expect = |user: &str, action: &str, detail: &str| {
        let e = entry(&plan, user);
        assert_eq!(e["action"], action, "{user}: {e:#}");
        assert!(
            e["detail"].as_str().unwrap().contains(detail),
            "{user}: `{detail}` not in {e:#}"
        );
    };
    let k = |user: &str, i: usize| keys[user][i].clone();
    expect(
        "old-and-new",
        "deactivate",
        &format!(
            "keep {}; deactivate {}",
            k("old-and-new", 1),
            k("old-and-new", 0)
        ),
    );
    expect(
        "both-new",
        "deactivate",
        &format!("keep {}; deactivate {}", k("both-new", 1), k("both-new", 0)),
    );
    expect(
        "one-recent",
        "deactivate",
        &format!(
            "keep {}; deactivate {}",
            k("one-recent", 0),
            k("one-recent", 1)
        ),
    );
    expect("both-old", "needs_a_human", "older than 90 days");
    expect("both-recent", "needs_a_human", "within --min-idle");
    expect(
        "never-used",
        "needs_a_human",
        "no active key has ever been used",
    );
    expect("exempt", "exempt", "tag exemption until");
    expect("config-exempt", "exempt", "config exemption until");
    assert!(
        plan["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["user"] != "one-inactive"),
        "one active key: nothing to do"
    );
    let commands = entry(&plan, "both-new")["commands"].as_array().unwrap();
    assert_eq!(
        commands[0],
        format!(
            "aws iam update-access-key --user-name=both-new --access-key-id={} --status Inactive",
            k("both-new", 0)
        )
    );
    assert_eq!(commands[1], "aws iam list-access-keys --user-name=both-new");

    // Applied: exactly the planned keys are inactive, none deleted, none of the kept ones.
    let (code, applied) = scenario.remediate(&["--apply"]).await;
    assert_eq!(code, 1, "three users still need a person: {applied:#}");
    let after = everything(seed, USERS).await;
    let deactivated = [k("old-and-new", 0), k("both-new", 0), k("one-recent", 1)];
    for ((user, was), (_, now)) in before.iter().zip(&after) {
        assert_eq!(was.len(), now.len(), "{user}: no key deleted");
        for ((id, old), (_, new)) in was.iter().zip(now) {
            let expected = if deactivated.contains(id) {
                "Inactive"
            } else {
                old
            };
            assert_eq!(new, expected, "{user} {id}");
        }
    }
    for user in ["old-and-new", "both-new", "one-recent"] {
        let e = entry(&applied, user);
        assert_eq!(e["result"], "done", "{e:#}");
        // The re-check is what IAM lists.
        let reported: Vec<(String, String)> = e["after"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["access_key_id"].as_str().unwrap().to_owned(),
                    k["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut reported = reported;
        reported.sort();
        assert_eq!(reported, seed.statuses(user).await, "{user}");
    }

    // A second run finds nothing more to do (and writes nothing).
    let (code, again) = scenario.remediate(&["--apply"]).await;
    assert_eq!(code, 1, "{again:#}");
    assert!(
        again["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["action"] != "deactivate"),
        "{again:#}"
    );
    assert_eq!(everything(seed, USERS).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediate_exits_0_once_nothing_is_left_and_the_table_says_so() {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    seed.user("ci", "/").await;
    moto.set_clock(Some(now() - 40 * DAY)).await;
    let (old, _) = seed.key_with_secret("ci").await;
    moto.set_clock(Some(now() - 5 * DAY)).await;
    let (new, secret) = seed.key_with_secret("ci").await;
    moto.use_key(&new, &secret).await;
    moto.set_clock(None).await;
    let (code, out, err) = exporter(&["remediate"], &aws_env(&moto.endpoint())).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("Dry run"), "{out}");
    assert!(
        out.contains(&format!("--access-key-id={old} --status Inactive")),
        "{out}"
    );
    let (code, out, err) = exporter(&["remediate", "--apply"], &aws_env(&moto.endpoint())).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Nothing left to do."), "{out}");
    assert!(out.contains("Applied 1 change(s)"), "{out}");
    assert!(
        out.contains("--min-idle 24h "),
        "the default as `24h`: {out}"
    );
    assert_eq!(seed.statuses("ci").await, {
        let mut s = vec![(old, "Inactive".to_owned()), (new, "Active".to_owned())];
        s.sort();
        s
    });
    let (code, out, err) = exporter(&["remediate", "--apply"], &aws_env(&moto.endpoint())).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert!(
        out.contains("Nothing applied at"),
        "not `Applied at`: {out}"
    );
}

/// The fake counts requests by action: a dry run sends no `UpdateAccessKey`, `--apply` does
/// (so the count would see one).
/// A user with two active keys on the fake: `AKIAIDLEIDLEIDLEIDL1`, idle for 40 days, to be
/// deactivated, and `AKIAUSEDUSEDUSEDUSE2`, used 2 days ago, to keep.
fn two_keys(now: i64) -> State {
    let mut state = State::default();
    state.users.insert(
        "two-keys".to_owned(),
        FakeUser {
            path: "/".to_owned(),
            keys: vec![
                FakeKey {
                    id: "AKIAIDLEIDLEIDLEIDL1".to_owned(),
                    active: true,
                    created: now - 50 * DAY,
                    last_used: Some(now - 40 * DAY),
                },
                FakeKey {
                    id: "AKIAUSEDUSEDUSEDUSE2".to_owned(),
                    active: true,
                    created: now - 10 * DAY,
                    last_used: Some(now - 2 * DAY),
                },
            ],
            tags: Vec::new(),
        },
    );
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_makes_no_write_request() {
    let now = now();
    let state = two_keys(now);
    let fake = FakeIam::start(state).await;
    let writes = |fake: &FakeIam| fake.requests("UpdateAccessKey");
    let (code, plan) = remediate(&fake.endpoint(), &[]).await;
    assert_eq!(code, 1, "{plan:#}");
    assert_eq!(
        entry(&plan, "two-keys")["deactivate"][0],
        "AKIAIDLEIDLEIDLEIDL1"
    );
    assert!(fake.requests("ListAccessKeys") >= 2, "it did read");
    assert_eq!(writes(&fake), 0, "a dry run writes nothing");
    let (code, applied) = remediate(&fake.endpoint(), &["--apply"]).await;
    assert_eq!(code, 0, "{applied:#}");
    assert_eq!(writes(&fake), 1);
    assert!(fake.with(|s| !s.users["two-keys"].keys[0].active));
}

/// A user's exemption tags are read again right before acting: when they cannot be, the user is
/// reported and left alone (its tags might exempt it), and the others are still remediated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_whose_tags_cannot_be_read_is_left_alone() {
    let now = now();
    let mut state = State::default();
    for name in ["tagged", "plain"] {
        state.users.insert(
            name.to_owned(),
            FakeUser {
                path: "/".to_owned(),
                keys: vec![
                    FakeKey {
                        id: format!("AKIA{:0>16}", format!("{name}1")).to_ascii_uppercase(),
                        active: true,
                        created: now - 50 * DAY,
                        last_used: Some(now - 40 * DAY),
                    },
                    FakeKey {
                        id: format!("AKIA{:0>16}", format!("{name}2")).to_ascii_uppercase(),
                        active: true,
                        created: now - 10 * DAY,
                        last_used: Some(now - 2 * DAY),
                    },
                ],
                tags: Vec::new(),
            },
        );
    }
    let fake = FakeIam::start(state).await;
    fake.with(|s| {
        s.faults.push(crate::fake_iam::Fault {
            action: Some("ListUserTags".to_owned()),
            user: Some("tagged".to_owned()),
            kind: crate::fake_iam::FaultKind::AccessDenied,
            remaining: None,
        })
    });
    let (code, applied) = remediate(&fake.endpoint(), &["--apply"]).await;
    assert_eq!(code, 1, "{applied:#}");
    let tagged = entry(&applied, "tagged");
    assert_eq!(tagged["result"], "failed", "{tagged:#}");
    assert!(
        tagged["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{tagged:#}"
    );
    assert_eq!(entry(&applied, "plain")["result"], "done");
    assert_eq!(fake.requests("UpdateAccessKey"), 1, "plain's idle key only");
    assert!(fake.with(|s| s.users["tagged"].keys.iter().all(|k| k.active)));
}

/// The policies, enforced by moto: the read-only policy cannot deactivate a key, the
/// remediation policy beside it can. moto matches only `"Resource": "*"` statements, which is
/// what both files grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_remediation_policy_can_deactivate_a_key() {
    let moto = Moto::start_with_clock().await;
    let seed = Seed(moto.iam());
    let iam = moto.iam();
    let policy =
        |file: &str| std::fs::read_to_string(project_dir().join("deploy/iam").join(file)).unwrap();
    let mut credentials = Vec::new();
    for (user, files) in [
        ("reader", vec!["iam-key-exporter-policy.json"]),
        (
            "fixer",
            vec![
                "iam-key-exporter-policy.json",
                "iam-key-exporter-remediation-policy.json",
            ],
        ),
    ] {
        seed.user(user, "/").await;
        for (i, file) in files.iter().enumerate() {
            iam.put_user_policy()
                .user_name(user)
                .policy_name(format!("p{i}"))
                .policy_document(policy(file))
                .send()
                .await
                .unwrap();
        }
        credentials.push(seed.key_with_secret(user).await);
    }
    seed.user("target", "/").await;
    let (idle, _) = key_at(&moto, &seed, "target", now() - 10 * DAY).await;
    let (used, secret) = key_at(&moto, &seed, "target", now() - 5 * DAY).await;
    moto.use_key(&used, &secret).await;
    moto.set_clock(None).await;
    // From here on moto checks every request's signature and policies.
    let addr = moto
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let response = iam_key_exporter_testkit::http::post(addr, "/moto-api/reset-auth", b"0").await;
    assert_eq!(response.status, 200, "{}", response.text());

    let run_as = |(id, secret): &(String, String)| {
        let mut env = aws_env(&moto.endpoint());
        for (name, value) in env.iter_mut() {
            match *name {
                "AWS_ACCESS_KEY_ID" => *value = id.clone(),
                "AWS_SECRET_ACCESS_KEY" => *value = secret.clone(),
                _ => {}
            }
        }
        env
    };
    let statuses = async || {
        let fixer = &credentials[1];
        let client = moto.iam_as(&fixer.0, &fixer.1);
        Seed(client).statuses("target").await
    };
    let mut expected = vec![
        (idle.clone(), "Active".to_owned()),
        (used.clone(), "Active".to_owned()),
    ];
    expected.sort();

    let env = run_as(&credentials[0]);
    let (code, out, err) = exporter(&["remediate", "--apply", "--output=json"], &env).await;
    assert_eq!(code, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let target = entry(&report, "target");
    assert_eq!(target["result"], "failed", "{target:#}");
    assert!(
        target["detail"]
            .as_str()
            .unwrap()
            .contains("UpdateAccessKey request failed (access_denied)"),
        "{target:#}"
    );
    assert_eq!(
        statuses().await,
        expected,
        "the read-only policy changed nothing"
    );

    let env = run_as(&credentials[1]);
    let (code, out, err) = exporter(&["remediate", "--apply", "--output=json"], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut expected = vec![(idle, "Inactive".to_owned()), (used, "Active".to_owned())];
    expected.sort();
    assert_eq!(statuses().await, expected);
}

/// A racing writer deactivates the key `remediate` keeps right between its last look and its
/// update (the fake does it as the update arrives): the confirming list shows no active key, so
/// the key this run deactivated is made active again. The tool never leaves 0 active keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_racing_writer_cannot_make_remediate_leave_no_active_key() {
    let fake = FakeIam::start(two_keys(now())).await;
    fake.inject(
        Some("UpdateAccessKey"),
        iam_key_exporter_testkit::FaultKind::RacingDeactivation("AKIAUSEDUSEDUSEDUSE2".to_owned()),
        Some(1),
    );
    let (code, applied) = remediate(&fake.endpoint(), &["--apply"]).await;
    assert_eq!(code, 1, "{applied:#}");
    let report = entry(&applied, "two-keys");
    assert_eq!(report["result"], "failed", "{report:#}");
    assert!(
        report["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("undone")
            || report.to_string().contains("undone"),
        "{report:#}"
    );
    let active = fake.with(|s| s.users["two-keys"].keys.iter().filter(|k| k.active).count());
    assert_eq!(active, 1, "the key this run deactivated is active again");
    assert!(fake.with(|s| s.users["two-keys"].keys[0].active));
    assert_eq!(fake.requests("UpdateAccessKey"), 2, "one change, one undo");
}

/// When the key to keep is already inactive at the last look before the update, nothing is
/// changed at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediate_changes_nothing_once_the_kept_key_is_no_longer_active() {
    let fake = FakeIam::start(two_keys(now())).await;
    // The audit's read and the user's re-read see both keys active; the look right before the
    // update (the third ListAccessKeys) sees the kept key deactivated by someone else.
    use iam_key_exporter_testkit::FaultKind;
    fake.inject(
        Some("ListAccessKeys"),
        FaultKind::Delay(std::time::Duration::ZERO),
        Some(2),
    );
    fake.inject(
        Some("ListAccessKeys"),
        FaultKind::RacingDeactivation("AKIAUSEDUSEDUSEDUSE2".to_owned()),
        Some(1),
    );
    let (code, applied) = remediate(&fake.endpoint(), &["--apply"]).await;
    assert_eq!(code, 1, "{applied:#}");
    assert_eq!(
        entry(&applied, "two-keys")["result"],
        "failed",
        "{applied:#}"
    );
    assert_eq!(fake.requests("UpdateAccessKey"), 0, "nothing changed");
    assert!(
        fake.with(|s| s.users["two-keys"].keys[0].active),
        "the idle key stays"
    );
}
