//! The Kubernetes install, rendered and validated as a cluster would take it (there is none
//! here): the Helm chart through `helm lint --strict` and `helm template` (defaults, every
//! optional object on, three replicas, the web config on), every object checked against the
//! Kubernetes 1.33 schemas (kubernetes-validate, offline) and the Prometheus Operator CRDs'
//! (tests/kubernetes/validate-operator-objects.mjs); the PrometheusRule and the dashboard
//! ConfigMap held to the shipped files, the rules through promtool and their unit tests; the
//! rendered configuration run by the exporter itself; the kustomize base rendered by kubectl.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::binary::{aws_env, BINARY};
use crate::helpers::{project_dir, run, temp_dir, tool};
use crate::moto::Moto;

const CHART: &str = "deploy/helm/iam-key-exporter";

fn helm() -> PathBuf {
    tool("helm", "HELM")
}

/// `helm template` of the chart with `--set` values; the objects, parsed.
async fn template(sets: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec![
        "template",
        "iam-key-exporter",
        CHART,
        "--namespace",
        "monitoring",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let root = project_dir();
    let chart = root.join(CHART);
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == CHART {
                chart.to_str().unwrap()
            } else {
                a
            }
        })
        .collect();
    let (code, out, err) = run(&helm(), &args, &[], true).await;
    assert_eq!(code, 0, "helm template {sets:?}:\n{err}");
    let objects = serde_yaml::Deserializer::from_str(&out)
        .filter_map(|doc| {
            let value = serde::Deserialize::deserialize(doc).unwrap();
            (value != Value::Null).then_some(value)
        })
        .collect();
    (out, objects)
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Every object valid against Kubernetes 1.33 (strict: no unknown fields) and, for the
/// Prometheus Operator's, against its CRDs.
async fn validate(what: &str, rendered: &str) {
    let dir = temp_dir();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, rendered).unwrap();
    let validate = tool("kubernetes-validate", "KUBERNETES_VALIDATE");
    let (code, out, err) = run(
        &validate,
        &["-k", "1.33.0", "--strict", file.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 0, "{what}: kubernetes-validate:\n{out}{err}");
    assert!(
        !out.contains("ERROR") && !err.contains("ERROR"),
        "{what}:\n{out}{err}"
    );
    if rendered.contains("monitoring.coreos.com/v1") {
        operator_objects_valid(what, &file).await;
    }
}

async fn operator_objects_valid(what: &str, file: &Path) {
    let dir = project_dir().join("tests/kubernetes");
    let npm = tool("npm", "NPM");
    if !dir
        .join("node_modules/@kubernetes-models/prometheus-operator")
        .exists()
    {
        let (code, out, err) = run(
            &npm,
            &[
                "ci",
                "--no-audit",
                "--no-fund",
                "--prefix",
                dir.to_str().unwrap(),
            ],
            &[],
            true,
        )
        .await;
        assert_eq!(code, 0, "npm ci in tests/kubernetes:\n{out}{err}");
    }
    let node = tool("node", "NODE");
    let script = dir.join("validate-operator-objects.mjs");
    let (code, out, err) = run(
        &node,
        &[script.to_str().unwrap(), file.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(
        code, 0,
        "{what}: the Prometheus Operator CRDs refuse:\n{out}{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_strictly_and_every_rendering_is_valid() {
    let chart = project_dir().join(CHART);
    let (code, out, err) = run(
        &helm(),
        &["lint", "--strict", chart.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 0, "helm lint --strict:\n{out}{err}");
    let all_on: &[&str] = &[
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "prometheusRule.additionalLabels.team=security",
        "grafanaDashboard.enabled=true",
        "networkPolicy.enabled=true",
        "podDisruptionBudget.enabled=true",
        "events.sqsQueueUrl=https://sqs.us-east-1.amazonaws.com/111111111111/iam-key-exporter-events",
    ];
    let web: &[&str] = &[
        "webConfig.enabled=true",
        "webConfig.existingSecret=iam-key-exporter-web",
        "webConfig.caSecret.name=iam-key-exporter-tls",
        "webConfig.basicAuthSecret.name=iam-key-exporter-scrape",
        "serviceMonitor.enabled=true",
    ];
    for (what, sets) in [
        ("the defaults", &[][..]),
        ("every optional object on", all_on),
        ("three replicas", &["replicas=3"][..]),
        ("the web config on", web),
    ] {
        let (rendered, objects) = template(sets).await;
        assert!(!objects.is_empty(), "{what}");
        validate(what, &rendered).await;
    }

    // Off by default: the CRDs may not exist.
    let (_, defaults) = template(&[]).await;
    let kinds: Vec<&str> = defaults
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ServiceAccount", "ConfigMap", "Service", "Deployment"]
    );

    // With the web config: HTTPS probes, and the ServiceMonitor scrapes with https and basic auth.
    let (_, objects) = template(web).await;
    let container = &kind(&objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    let endpoint = &kind(&objects, "ServiceMonitor")[0]["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(
        endpoint["basicAuth"]["password"]["name"],
        "iam-key-exporter-scrape"
    );
    assert_eq!(
        endpoint["tlsConfig"]["ca"]["secret"]["name"],
        "iam-key-exporter-tls"
    );
    assert_eq!(
        endpoint["tlsConfig"]["serverName"],
        "iam-key-exporter.monitoring.svc"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_hardened_by_default_and_irsa_reaches_the_service_account() {
    let (_, objects) = template(&[
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111111111111:role/iam-key-exporter",
    ])
    .await;
    let account = kind(&objects, "ServiceAccount")[0];
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::111111111111:role/iam-key-exporter"
    );
    let pod = &kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert!(
        container["resources"]["limits"]["memory"].is_string(),
        "a memory limit"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/-/ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_rule_and_the_dashboard_are_exactly_the_shipped_files() {
    let root = project_dir();
    let (_, objects) = template(&[
        "prometheusRule.enabled=true",
        "grafanaDashboard.enabled=true",
    ])
    .await;
    let shipped: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("deploy/prometheus/iam-key-exporter.rules.yml"))
            .unwrap(),
    )
    .unwrap();
    let rule = kind(&objects, "PrometheusRule")[0];
    assert_eq!(
        rule["spec"]["groups"], shipped["groups"],
        "the shipped rules, exactly"
    );

    // promtool and the rules' own unit tests, on the groups as rendered.
    let dir = temp_dir();
    let rules = dir.path().join("rendered.rules.yml");
    std::fs::write(
        &rules,
        serde_yaml::to_string(&serde_yaml::Mapping::from_iter([(
            Value::from("groups"),
            rule["spec"]["groups"].clone(),
        )]))
        .unwrap(),
    )
    .unwrap();
    let promtool = tool("promtool", "PROMTOOL");
    let (code, out, err) = run(
        &promtool,
        &["check", "rules", rules.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 0, "promtool check rules:\n{out}{err}");
    let tests = std::fs::read_to_string(root.join("tests/rules/iam-key-exporter.test.yml"))
        .unwrap()
        .replace(
            "../../deploy/prometheus/iam-key-exporter.rules.yml",
            rules.to_str().unwrap(),
        );
    let test_file = dir.path().join("rendered.test.yml");
    std::fs::write(&test_file, tests).unwrap();
    let (code, out, err) = run(
        &promtool,
        &["test", "rules", test_file.to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(
        code, 0,
        "the rules' unit tests on the PrometheusRule:\n{out}{err}"
    );

    // additionalLabels reach every alert, and only alerts.
    let (_, labelled) = template(&[
        "prometheusRule.enabled=true",
        "prometheusRule.additionalLabels.team=security",
    ])
    .await;
    let groups = kind(&labelled, "PrometheusRule")[0]["spec"]["groups"]
        .as_sequence()
        .unwrap()
        .clone();
    let alerts: Vec<&Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .collect();
    assert!(alerts.len() >= 10);
    for alert in alerts {
        assert_eq!(alert["labels"]["team"], "security", "{alert:?}");
        assert!(
            alert["labels"]["severity"].is_string(),
            "the rule's own labels kept"
        );
    }

    let dashboard = kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("a dashboard ConfigMap for Grafana's sidecar");
    let shipped =
        std::fs::read_to_string(root.join("grafana/dashboards/iam-access-keys.json")).unwrap();
    assert_eq!(
        dashboard["data"]["iam-access-keys.json"]
            .as_str()
            .unwrap()
            .trim_end(),
        shipped.trim_end(),
        "the shipped dashboard, byte for byte"
    );
    assert_eq!(
        dashboard["metadata"]["annotations"]["grafana_folder"],
        "Security"
    );
}

/// `replicas: 3`: one StatefulSet of 3 whose pods take shard indexes 0, 1 and 2 from their
/// ordinal; the exporter accepts each pod's configuration (the rendered ConfigMap and env, the
/// downward API's value filled in as the kubelet would) and audits moto with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_are_one_statefulset_whose_pods_the_exporter_accepts() {
    let (_, objects) = template(&["replicas=3", "config.collector.key_series=offenders"]).await;
    assert!(kind(&objects, "Deployment").is_empty());
    let sets = kind(&objects, "StatefulSet");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["spec"]["replicas"], 3);
    let container = &sets[0]["spec"]["template"]["spec"]["containers"][0];
    let config = kind(&objects, "ConfigMap")[0]["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = temp_dir();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, &config).unwrap();
    let moto = Moto::start().await;
    let mut indexes = Vec::new();
    for ordinal in 0..3 {
        let mut env = aws_env(&moto.endpoint());
        for var in container["env"].as_sequence().unwrap() {
            let name = var["name"].as_str().unwrap();
            let value = match &var["valueFrom"]["fieldRef"]["fieldPath"] {
                Value::String(path) => {
                    assert_eq!(path, "metadata.labels['apps.kubernetes.io/pod-index']");
                    ordinal.to_string()
                }
                _ => var["value"].as_str().unwrap().to_owned(),
            };
            if name == "IAM_KEY_EXPORTER_SHARDING__INDEX" {
                indexes.push(value.clone());
            }
            env.push((Box::leak(name.to_owned().into_boxed_str()), value));
        }
        let arg = container["args"][0].as_str().unwrap();
        assert_eq!(arg, "--config.file=/etc/iam-key-exporter/config.yaml");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config_arg = format!("--config.file={}", file.display());
        let (code, out, err) = run(Path::new(BINARY), &["check", &config_arg], &env, true).await;
        assert_eq!(
            code, 0,
            "pod {ordinal}: the exporter refuses its configuration:\n{out}{err}"
        );
    }
    assert_eq!(indexes, ["0", "1", "2"]);
}

/// An overlay outside the repository (as a user writes one) of the base and `components`.
async fn kustomize_overlay(components: &[&str]) -> String {
    let root = project_dir();
    // kustomize takes only relative roots: the overlay lives in target/, three levels below the
    // project (target/kustomize-overlays/<dir>).
    let parent = root.join("target/kustomize-overlays");
    std::fs::create_dir_all(&parent).unwrap();
    let dir = tempfile::Builder::new().tempdir_in(&parent).unwrap();
    let up = "../../..";
    let list = |paths: Vec<String>| {
        paths
            .iter()
            .map(|p| format!("  - {p}\n"))
            .collect::<String>()
    };
    let mut text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}",
        list(vec![format!("{up}/deploy/kubernetes")])
    );
    if !components.is_empty() {
        text.push_str("components:\n");
        text.push_str(&list(
            components
                .iter()
                .map(|c| format!("{up}/deploy/kubernetes/{c}"))
                .collect(),
        ));
    }
    std::fs::write(dir.path().join("kustomization.yaml"), text).unwrap();
    let kubectl = tool("kubectl", "KUBECTL");
    let (code, out, err) = run(
        &kubectl,
        &["kustomize", dir.path().to_str().unwrap()],
        &[],
        true,
    )
    .await;
    assert_eq!(code, 0, "kubectl kustomize with {components:?}:\n{err}");
    out
}

/// The Prometheus Operator component: a ServiceMonitor and the shipped rules as a
/// PrometheusRule, valid against the CRDs; with the sharded and web-config components too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomize_components_render_with_a_service_monitor_and_the_shipped_rules() {
    let operator = kustomize_overlay(&["prometheus-operator"]).await;
    validate(
        "kustomize with the prometheus-operator component",
        &operator,
    )
    .await;
    let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&operator)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    assert_eq!(kind(&objects, "ServiceMonitor").len(), 1);
    let shipped: Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            project_dir().join("deploy/prometheus/iam-key-exporter.rules.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        kind(&objects, "PrometheusRule")[0]["spec"]["groups"],
        shipped["groups"],
        "the shipped rules, exactly"
    );
    let all = kustomize_overlay(&["sharded", "web-config", "prometheus-operator"]).await;
    assert!(all.contains("kind: StatefulSet") && !all.contains("kind: Deployment"));
    validate("kustomize with every component", &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomize_base_renders_and_is_valid() {
    let kubectl = tool("kubectl", "KUBECTL");
    let base = project_dir().join("deploy/kubernetes");
    let (code, out, err) = run(&kubectl, &["kustomize", base.to_str().unwrap()], &[], true).await;
    assert_eq!(code, 0, "kubectl kustomize deploy/kubernetes:\n{err}");
    assert!(out.contains("kind: Deployment"), "{out}");
    validate("the kustomize base", &out).await;
}
