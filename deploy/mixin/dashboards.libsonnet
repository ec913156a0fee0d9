// The shipped dashboard, as a mixin's grafanaDashboards. Its panels live in
// dashboards/iam-access-keys.json, where every query selects `%(dashboardSelector)s`
// (the `job` and `cluster` variables by default); the `job` and `cluster` variables are added
// here, and the datasource type comes from _config.
{
  local config = self._config,
  // Formats every query string of the dashboard with _config.
  local formatted(value) =
    if std.isObject(value) then {
      [key]:
        if std.member(['expr', 'query', 'definition'], key) && std.isString(value[key])
        then value[key] % config
        else formatted(value[key])
      for key in std.objectFields(value)
    }
    else if std.isArray(value) then std.map(formatted, value)
    else value,
  local variable(name, label, description, query) = {
    type: 'query',
    name: name,
    label: label,
    description: description,
    datasource: { type: config.datasourceType, uid: '${datasource}' },
    query: query,
    refresh: 2,
    regex: '',
    sort: 1,
    hide: 0,
    multi: true,
    includeAll: true,
    // Matches series without the label too: a single-cluster Prometheus has no `cluster`.
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
  },
  local source = formatted(import 'dashboards/iam-access-keys.json'),
  local jobLabel = std.split(config.jobSelector, '=')[0],
  grafanaDashboards+:: {
    'iam-access-keys.json': source {
      templating+: {
        list: [source.templating.list[0]] + [
          variable(
            'cluster',
            'Cluster',
            'The Prometheus `%s` label, where several clusters are in one Prometheus' % config.clusterLabel,
            'label_values(iam_account_users, %s)' % config.clusterLabel,
          ),
          variable(
            'job',
            'Job',
            "The exporter's scrape jobs",
            'label_values(iam_account_users{%s=~"$cluster"}, %s)' % [config.clusterLabel, jobLabel],
          ),
        ] + source.templating.list[1:],
      },
    },
  },
}
