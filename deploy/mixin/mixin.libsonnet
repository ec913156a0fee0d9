// iam-key-exporter's monitoring mixin: prometheusAlerts (the alert rules), prometheusRules (no
// recording rules) and grafanaDashboards, configured by _config (config.libsonnet). The files
// deploy/prometheus/iam-key-exporter.rules.yml and grafana/dashboards/iam-access-keys.json are
// generated from it by scripts/mixin, and the suite fails when they are out of date. It uses no
// third-party jsonnet library.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet') +
{ prometheusRules+:: { groups+: [] } }
