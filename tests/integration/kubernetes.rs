//! The Kubernetes install, rendered and validated as a cluster would take it (there is none
//! here): the Helm chart through `helm lint --strict` and `helm template` (defaults, every
//! optional object on, three replicas, the web config on), every object checked against the
//! Kubernetes 1.33 schemas (kubernetes-validate, offline) and the Prometheus Operator CRDs'
//! (tests/kubernetes/validate-operator-objects.mjs); the PrometheusRule and the dashboard
//! ConfigMap held to the shipped files, the rules through promtool and their unit tests; the
//! rendered configuration run by the exporter itself; the kustomize base, its components and
//! the examples of deploy/kubernetes-examples rendered by kubectl, validated alike and checked to
//! hold together (one namespace, every mounted ConfigMap and Secret rendered beside the pod).

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
    // Once per test process, whichever test gets here first: the others wait for it (two
    // `npm ci` at once, or a test reading node_modules while one fills it, break each other).
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            if dir
                .join("node_modules/@kubernetes-models/prometheus-operator")
                .exists()
            {
                return;
            }
            let npm = tool("npm", "NPM");
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
        })
        .await;
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

/// `kubectl kustomize DIR`: the rendering, and its objects parsed.
async fn kustomize(what: &str, dir: &Path) -> (String, Vec<Value>) {
    let kubectl = tool("kubectl", "KUBECTL");
    let (code, out, err) = run(&kubectl, &["kustomize", dir.to_str().unwrap()], &[], true).await;
    assert_eq!(code, 0, "kubectl kustomize {what}:\n{err}");
    let objects = serde_yaml::Deserializer::from_str(&out)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    (out, objects)
}

/// An overlay outside the repository (as a user writes one) of the base and `components`.
async fn kustomize_overlay(components: &[&str]) -> (String, Vec<Value>) {
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
    kustomize(&format!("with {components:?}"), dir.path()).await
}

/// The Secrets the web-config component needs and the user makes (they hold keys and passwords).
const USERS_SECRETS: [&str; 2] = ["iam-key-exporter-tls", "iam-key-exporter-scrape"];

/// What a cluster takes although it leaves the exporter broken, which no schema sees: every
/// object in the base's namespace (a ServiceMonitor finds only its own namespace's Services), and
/// every ConfigMap, Secret and service account a pod names rendered beside it under the name it
/// names (a component's object that missed the base's generated names would mount nothing).
fn holds_together(what: &str, objects: &[Value]) {
    for object in objects {
        assert_eq!(
            object["metadata"]["namespace"], "monitoring",
            "{what}: {:?} {:?} outside the namespace",
            object["kind"], object["metadata"]["name"]
        );
    }
    let rendered = |kind_: &str, name: &Value| {
        kind(objects, kind_)
            .iter()
            .any(|o| &o["metadata"]["name"] == name)
    };
    let pods: Vec<&Value> = ["Deployment", "StatefulSet"]
        .iter()
        .flat_map(|k| kind(objects, k))
        .map(|w| &w["spec"]["template"]["spec"])
        .collect();
    assert_eq!(pods.len(), 1, "{what}: one workload");
    for pod in pods {
        let account = &pod["serviceAccountName"];
        assert!(rendered("ServiceAccount", account), "{what}: {account:?}");
        for volume in pod["volumes"].as_sequence().unwrap() {
            let sources = match volume["projected"]["sources"].as_sequence() {
                Some(sources) => sources.iter().collect(),
                None => vec![volume],
            };
            for source in sources {
                if let Some(name) = source["configMap"].get("name") {
                    assert!(rendered("ConfigMap", name), "{what}: ConfigMap {name:?}");
                }
                let secret = source["secret"]
                    .get("name")
                    .or(source["secret"].get("secretName"));
                if let Some(name) = secret {
                    assert!(
                        rendered("Secret", name) || USERS_SECRETS.contains(&name.as_str().unwrap()),
                        "{what}: Secret {name:?}"
                    );
                }
            }
        }
    }
}

/// The Prometheus Operator component: a ServiceMonitor and the shipped rules as a
/// PrometheusRule, valid against the CRDs; with the sharded and web-config components too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomize_components_render_with_a_service_monitor_and_the_shipped_rules() {
    let (operator, objects) = kustomize_overlay(&["prometheus-operator"]).await;
    validate(
        "kustomize with the prometheus-operator component",
        &operator,
    )
    .await;
    holds_together("kustomize with the prometheus-operator component", &objects);
    assert_eq!(kind(&objects, "ServiceMonitor").len(), 1);
    assert_eq!(
        kind(&objects, "PrometheusRule")[0]["spec"]["groups"],
        shipped_rules()["groups"],
        "the shipped rules, exactly"
    );
    let (all, objects) = kustomize_overlay(&["sharded", "web-config", "prometheus-operator"]).await;
    assert!(all.contains("kind: StatefulSet") && !all.contains("kind: Deployment"));
    validate("kustomize with every component", &all).await;
    holds_together("kustomize with every component", &objects);
}

fn shipped_rules() -> Value {
    serde_yaml::from_str(
        &std::fs::read_to_string(
            project_dir().join("deploy/prometheus/iam-key-exporter.rules.yml"),
        )
        .unwrap(),
    )
    .unwrap()
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

/// The examples a user renders as they are (`kubectl kustomize deploy/kubernetes-examples/X`):
/// the base with each component. They live outside deploy/kubernetes because kustomize refuses a
/// base that contains its overlay.
const EXAMPLES: &str = "deploy/kubernetes-examples";

/// Every directory of deploy/kubernetes-examples renders, is valid against the schemas and the
/// CRDs, holds together, and renders what it says; an example the test does not know fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kustomize_example_renders_is_valid_and_holds_together() {
    let mut names: Vec<String> = std::fs::read_dir(project_dir().join(EXAMPLES))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["prometheus-operator", "sharded", "web-config"]);
    for name in &names {
        let what = format!("{EXAMPLES}/{name}");
        let (rendered, objects) = kustomize(&what, &project_dir().join(&what)).await;
        validate(&what, &rendered).await;
        holds_together(&what, &objects);
        let mut kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        kinds.sort();
        let (workload, extra): (&str, &[&str]) = match name.as_str() {
            "prometheus-operator" => ("Deployment", &["PrometheusRule", "ServiceMonitor"]),
            "sharded" => ("StatefulSet", &[]),
            "web-config" => ("Deployment", &["Secret"]),
            other => panic!("{EXAMPLES}/{other}: an example this test has no assertions for"),
        };
        let mut expected = vec![
            "ConfigMap",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
            workload,
        ];
        expected.extend(extra);
        expected.sort();
        assert_eq!(kinds, expected, "{what}");
        let example = Example { what, objects };
        match name.as_str() {
            "prometheus-operator" => example.scrapes_the_service_with_the_shipped_rules(),
            "sharded" => example.shards_over_the_pods(),
            _ => example.mounts_the_web_config(),
        }
    }
}

/// One rendered example, for the assertions of what it is for.
struct Example {
    what: String,
    objects: Vec<Value>,
}

impl Example {
    fn one(&self, kind_: &str) -> &Value {
        let found = kind(&self.objects, kind_);
        assert_eq!(found.len(), 1, "{}: one {kind_}", self.what);
        found[0]
    }

    fn container(&self, kind_: &str) -> &Value {
        &self.one(kind_)["spec"]["template"]["spec"]["containers"][0]
    }

    fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
        container["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|var| var["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the container's env"))
    }

    /// A StatefulSet of the Service, each pod's shard index its ordinal, the count its replicas.
    fn shards_over_the_pods(&self) {
        let set = self.one("StatefulSet");
        let container = self.container("StatefulSet");
        assert_eq!(
            set["spec"]["serviceName"],
            self.one("Service")["metadata"]["name"]
        );
        let index = Self::env(container, "IAM_KEY_EXPORTER_SHARDING__INDEX");
        assert_eq!(
            index["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.labels['apps.kubernetes.io/pod-index']",
            "{}",
            self.what
        );
        let count = Self::env(container, "IAM_KEY_EXPORTER_SHARDING__COUNT");
        assert_eq!(
            count["value"].as_str().unwrap(),
            set["spec"]["replicas"].as_u64().unwrap().to_string(),
            "{}: the count is the replicas",
            self.what
        );
        assert_eq!(
            container["args"][0],
            "--config.file=/etc/iam-key-exporter/config.toml"
        );
    }

    /// The web config Secret (the component's web-config.yml) and the certificate's mounted in
    /// one directory, --web.config.file naming the file there, the probes on HTTPS.
    fn mounts_the_web_config(&self) {
        let container = self.container("Deployment");
        let args: Vec<&str> = container["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.contains(&"--web.config.file=/etc/iam-key-exporter-web/web-config.yml"),
            "{}: {args:?}",
            self.what
        );
        let mount = container["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/etc/iam-key-exporter-web")
            .expect("the web config's directory mounted");
        assert_eq!(mount["readOnly"], true);
        let pod = &self.one("Deployment")["spec"]["template"]["spec"];
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let secret = self.one("Secret");
        let secrets: Vec<&Value> = volume["projected"]["sources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| &s["secret"]["name"])
            .collect();
        assert_eq!(
            secrets,
            [
                &secret["metadata"]["name"],
                &Value::from("iam-key-exporter-tls")
            ],
            "{}",
            self.what
        );
        use base64::Engine as _;
        let data: String = secret["data"]["web-config.yml"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect();
        let file = std::fs::read(project_dir().join("deploy/kubernetes/web-config/web-config.yml"))
            .unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
            file,
            "{}: the Secret holds the component's web-config.yml",
            self.what
        );
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
        }
    }

    /// The ServiceMonitor selects the Service and its port; the PrometheusRule is the shipped
    /// rules.
    fn scrapes_the_service_with_the_shipped_rules(&self) {
        let monitor = &self.one("ServiceMonitor")["spec"];
        let service = self.one("Service");
        let labels = service["metadata"]["labels"].as_mapping().unwrap();
        for (key, value) in monitor["selector"]["matchLabels"].as_mapping().unwrap() {
            assert_eq!(labels.get(key), Some(value), "{}: {key:?}", self.what);
        }
        let ports: Vec<&Value> = service["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| &p["name"])
            .collect();
        assert!(
            ports.contains(&&monitor["endpoints"][0]["port"]),
            "{}",
            self.what
        );
        assert_eq!(
            self.one("PrometheusRule")["spec"]["groups"],
            shipped_rules()["groups"],
            "{}: the shipped rules, exactly",
            self.what
        );
    }
}
