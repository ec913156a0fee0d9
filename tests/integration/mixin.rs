//! The monitoring mixin (deploy/mixin) is the one source of the shipped rules and dashboard:
//! they are what it generates, byte for byte, and a changed `_config` changes them as it says.

use crate::helpers::{project_dir, run, temp_dir, tool};

const RULES: &str = "deploy/prometheus/iam-key-exporter.rules.yml";
const DASHBOARD: &str = "grafana/dashboards/iam-access-keys.json";

async fn mixin(args: &[&str]) -> (i32, String, String) {
    let root = project_dir();
    let python = tool("python", "MOTO_PYTHON");
    let script = root.join("scripts/mixin.py");
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cwd, root, "the tests run from the project root");
    run(&python, &all, &[], true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rules_and_dashboard_are_what_the_mixin_generates() {
    let (code, out, err) = mixin(&["--check"]).await;
    assert_eq!(code, 0, "run scripts/mixin:\n{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_job_selector_and_grace_change_the_rules_and_the_dashboard() {
    let config = r#"{ jobSelector: 'job="aws-iam"', rotationGrace: '48 * 3600', rotationGraceText: '48 hours', clusterLabel: 'k8s_cluster' }"#;
    let (code, rules, err) = mixin(&["--config", config, "--print", RULES]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        rules.contains(r#"absent(up{job="aws-iam"} == 1)"#),
        "{rules}"
    );
    assert!(rules.contains(r#"up{job="aws-iam"} == 0"#));
    assert!(
        !rules.contains("iam-key-exporter\"}"),
        "no other job selector left"
    );
    assert_eq!(rules.matches("> 48 * 3600").count(), 1);
    assert_eq!(rules.matches("<= 48 * 3600").count(), 1);
    assert!(!rules.contains("24 * 3600"));
    assert!(
        rules.contains("less than 48 hours ago"),
        "the note says the new grace"
    );
    let shipped = std::fs::read_to_string(project_dir().join(RULES)).unwrap();
    assert_eq!(
        rules.lines().count(),
        shipped.lines().count(),
        "only values change"
    );
    // Still rules promtool takes.
    let dir = temp_dir();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let promtool = tool("promtool", "PROMTOOL");
    let (code, out, err) = run(
        &promtool,
        &["check", "rules", "--lint-fatal", file.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, dashboard, err) = mixin(&["--config", config, "--print", DASHBOARD]).await;
    assert_eq!(code, 0, "{err}");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let query = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))["query"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        query("cluster"),
        "label_values(iam_account_users, k8s_cluster)"
    );
    assert_eq!(
        query("job"),
        r#"label_values(iam_account_users{k8s_cluster=~"$cluster"}, job)"#
    );
    let text = dashboard.to_string();
    assert!(text.contains(r#"job=~\"$job\",k8s_cluster=~\"$cluster\""#));
    assert!(!text.contains("%("), "every placeholder filled");
}

/// The shipped dashboard filters every query by the `job` and `cluster` variables.
#[test]
fn every_dashboard_query_selects_the_job_and_cluster_variables() {
    let text = std::fs::read_to_string(project_dir().join(DASHBOARD)).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    fn walk(value: &serde_json::Value, exprs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", serde_json::Value::String(expr)) => exprs.push(expr.clone()),
                        _ => walk(value, exprs),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, exprs)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    assert!(exprs.len() > 20);
    for expr in exprs {
        let metrics = expr.matches("iam_").count();
        let selected = expr.matches(r#"job=~"$job",cluster=~"$cluster""#).count();
        assert_eq!(
            metrics, selected,
            "every metric of `{expr}` selects job and cluster"
        );
    }
}
