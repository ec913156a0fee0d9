// The mixin's settings. Override any of them when importing:
//   (import 'iam-key-exporter/deploy/mixin/mixin.libsonnet') + {
//     _config+:: { jobSelector: 'job="aws-iam"', rotationGrace: '48 * 3600' },
//   }
{
  _config+:: {
    // Selects the exporter's scrape job, for IAMKeyExporterDown and IAMKeyExporterReplicaDown
    // and the dashboard's `job` variable.
    jobSelector: 'job="iam-key-exporter"',
    // A second active key is a rotation, not a finding, until the newest is this old (PromQL
    // seconds, as written in the expression), and how the alerts' texts say it.
    rotationGrace: '24 * 3600',
    rotationGraceText: '24 hours',
    // An active key older than this is too old (CIS: 90 days).
    keyMaxAge: '90 * 86400',
    keyMaxAgeText: '90 days',
    // An active key unused for this long should be deactivated (CIS: 90 days; newer CIS and
    // AWS FSBP IAM.22 say 45).
    keyUnused: '90 * 86400',
    keyUnusedText: '90 days',
    forDurations: {
      IAMUserMultipleActiveAccessKeys: '30m',
      IAMUserSecondAccessKey: '0s',
      IAMUserAccessKeyCreatedByOther: '0s',
      IAMAccessKeyTooOld: '1h',
      IAMAccessKeyUnused: '4h',
      IAMUserExemptionExpired: '1m',
      IAMUserExemptionInvalid: '2m',
      IAMRootAccessKeyPresent: '5m',
      IAMKeyExporterRefreshFailing: '15m',
      IAMKeyExporterReplicaDown: '20m',
      IAMKeyExporterDown: '10m',
    },
    severities: {
      IAMUserMultipleActiveAccessKeys: 'warning',
      IAMUserSecondAccessKey: 'info',
      IAMUserAccessKeyCreatedByOther: 'info',
      IAMAccessKeyTooOld: 'warning',
      IAMAccessKeyUnused: 'info',
      IAMUserExemptionExpired: 'info',
      IAMUserExemptionInvalid: 'info',
      IAMRootAccessKeyPresent: 'critical',
      IAMKeyExporterRefreshFailing: 'warning',
      IAMKeyExporterReplicaDown: 'warning',
      IAMKeyExporterDown: 'warning',
    },
    // `%s` is the alert's section of the runbook (its name in lower case).
    runbookUrlPattern: 'https://github.com/iam-key-exporter/iam-key-exporter/blob/main/docs/runbook.md#%s',
    // The dashboard: its datasource type, and the label that names the cluster (its `cluster`
    // variable; metrics without it match too).
    datasourceType: 'prometheus',
    clusterLabel: 'cluster',
    dashboardSelector: '%s=~"$job",%s=~"$cluster"' % [std.split(self.jobSelector, '=')[0], self.clusterLabel],
  },
}
