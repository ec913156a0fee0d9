"""The mixin's generator: see scripts/mixin. Evaluates deploy/mixin/mixin.libsonnet (with an
optional _config override, for tests) and writes, or checks, the files generated from it."""

import argparse
import json
import sys

import _gojsonnet
import yaml

RULES = "deploy/prometheus/iam-key-exporter.rules.yml"
PROMETHEUS_RULE = "deploy/kubernetes/prometheus-operator/prometheusrule.yaml"

PROMETHEUS_RULE_HEADER = """\
# The shipped alert rules as a Prometheus Operator PrometheusRule, for the kustomize overlay.
# Generated from the monitoring mixin (deploy/mixin) by scripts/mixin, like
# deploy/prometheus/iam-key-exporter.rules.yml: edit the mixin, not this file.
"""
DASHBOARDS = "grafana/dashboards"

HEADER = """\
# Prometheus alerting rules for iam-key-exporter.
#
# Generated from the monitoring mixin (deploy/mixin): edit it there and run scripts/mixin; a test
# fails when this file is not what the mixin generates. Thresholds, `for:` durations,
# severities, the job selector and the runbook links are the mixin's _config
# (deploy/mixin/config.libsonnet), with why each default is what it is (alerts.libsonnet).
#
# Load with `rule_files:` in prometheus.yml, or as the Helm chart's PrometheusRule; see
# docs/monitoring.md. Each alert links to its section of docs/runbook.md. Unit tests:
# tests/rules/iam-key-exporter.test.yml (`promtool test rules tests/rules/iam-key-exporter.test.yml`).

"""


class Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks, keys in the mixin's order."""


def _string(dumper, text):
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


Dumper.add_representer(str, _string)


def evaluate(config_override):
    snippet = "local m = (import 'deploy/mixin/mixin.libsonnet') + { _config+:: %s };\n" % (
        config_override or "{}"
    )
    snippet += "{ alerts: m.prometheusAlerts, dashboards: m.grafanaDashboards }"
    return json.loads(_gojsonnet.evaluate_snippet("mixin", snippet, jpathdir=["."]))


def ordered_rule(rule):
    order = ["alert", "expr", "for", "labels", "annotations"]
    return {key: rule[key] for key in order if key in rule}


def rules_text(alerts):
    groups = [
        {"name": group["name"], "rules": [ordered_rule(rule) for rule in group["rules"]]}
        for group in alerts["groups"]
    ]
    body = yaml.dump(
        {"groups": groups}, Dumper=Dumper, sort_keys=False, width=10**6, allow_unicode=True
    )
    return HEADER + body


def prometheus_rule_text(alerts):
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "iam-key-exporter",
            "labels": {"app.kubernetes.io/name": "iam-key-exporter"},
        },
        "spec": {
            "groups": [
                {"name": group["name"], "rules": [ordered_rule(rule) for rule in group["rules"]]}
                for group in alerts["groups"]
            ]
        },
    }
    body = yaml.dump(rule, Dumper=Dumper, sort_keys=False, width=10**6, allow_unicode=True)
    return PROMETHEUS_RULE_HEADER + body


def outputs(config_override=None):
    generated = evaluate(config_override)
    files = {
        RULES: rules_text(generated["alerts"]),
        PROMETHEUS_RULE: prometheus_rule_text(generated["alerts"]),
    }
    for name, dashboard in generated["dashboards"].items():
        files[f"{DASHBOARDS}/{name}"] = json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--config", help="a jsonnet object merged into _config (tests)")
    parser.add_argument("--print", dest="print_file", help="print this generated file instead")
    args = parser.parse_args()
    files = outputs(args.config)
    if args.print_file:
        sys.stdout.write(files[args.print_file])
        return 0
    stale = []
    for path, text in files.items():
        if args.check:
            with open(path, encoding="utf-8") as current:
                if current.read() != text:
                    stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
    if stale:
        print("mixin: not what deploy/mixin generates (run scripts/mixin): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
