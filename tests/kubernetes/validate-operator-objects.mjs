// Validates every Prometheus Operator object (ServiceMonitor, PrometheusRule, PodMonitor) in the
// YAML files given against the operator's own CRD schemas, as packaged by
// @kubernetes-models/prometheus-operator (generated from the CRDs' OpenAPI schemas). Other
// kinds are left to kubernetes-validate. Prints one line per object; exits 1 on the first
// invalid one, 2 when a file holds no operator object it was asked to check.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";

const models = { ServiceMonitor, PrometheusRule, PodMonitor };
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = doc.toJSON();
    if (!object || object.apiVersion !== "monitoring.coreos.com/v1") continue;
    const Model = models[object.kind];
    if (!Model) {
      console.error(`${file}: no schema here for ${object.kind}`);
      process.exit(1);
    }
    try {
      new Model(object).validate();
    } catch (err) {
      console.error(`${file}: ${object.kind} ${object.metadata?.name} is invalid: ${err.message ?? err}`);
      process.exit(1);
    }
    console.log(`valid ${object.kind} ${object.metadata?.name}`);
    checked += 1;
  }
}
if (checked === 0) {
  console.error("no Prometheus Operator object found");
  process.exit(2);
}
