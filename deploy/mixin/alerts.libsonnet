// The shipped alert rules, as a mixin's prometheusAlerts: every threshold, `for:` duration,
// severity, the job selector and the runbook links come from _config (config.libsonnet).
//
// Why the defaults are what they are:
//   job selector     IAMKeyExporterDown and IAMKeyExporterReplicaDown only. The IAM metrics are
//                    matched by name alone (their `iam_` prefix is the exporter's).
//   rotation grace   24h: a second active key is tolerated until the newest active key of the user
//                    is this old, so that a rotation (create the new key, move the workload,
//                    deactivate the old one) stays silent. Measured from
//                    iam_user_newest_active_access_key_created_timestamp_seconds (one series per
//                    offender, in every collector.key_series mode), not with `for:`, so the wait
//                    does not restart when Prometheus restarts or the exporter misses a refresh.
//   maximum key age  90 days: IAMAccessKeyTooOld (CIS AWS Foundations: rotate every 90 days).
//   unused key age   90 days: IAMAccessKeyUnused (CIS: disable unused credentials; recent CIS
//                    versions say 45 days).
//   for: durations   IAMRootAccessKeyPresent 5m (one refresh is enough; rides out a
//                    half-published snapshot); IAMKeyExporterDown 10m (a restart or a rescheduled
//                    pod is not worth a notification); IAMKeyExporterRefreshFailing 15m (three
//                    failed refreshes at the default 5m interval); IAMKeyExporterReplicaDown 20m
//                    (longer than a whole restart); IAMUserMultipleActiveAccessKeys 30m (the grace
//                    does the real waiting); IAMUserSecondAccessKey 0s (its point is to be early;
//                    info severity); IAMUserAccessKeyCreatedByOther 0s (the creator of a key
//                    never changes, and the note is worth most when it is early);
//                    IAMUserExemptionExpired 1m; IAMUserExemptionInvalid 2m;
//                    IAMAccessKeyTooOld 1h (age only grows); IAMAccessKeyUnused 4h (in
//                    credential-report mode last use can be up to 4h old).
//
// Limitations:
//   - IAMAccessKeyUnused needs last-use data: with `collector.last_used = false` it never fires.
//     A key never used has no last-used series, which looks the same as last use not being
//     collected; the rule tells them apart by the account having at least one last-used series.
//   - Per-user, per-key and root alerts aggregate away `instance` and `pod`: with sharded
//     replicas, an account two replicas export for a while still gives one alert per finding.
//     They keep `job`: two scrape jobs of the same exporter give two alerts.
//   - An exempt user (iam_user_exemption_expiry_timestamp_seconds in the future) does not make
//     IAMUserMultipleActiveAccessKeys fire; IAMUserExemptionExpired and IAMUserExemptionInvalid
//     say when an exemption stops counting.
//   - Summaries name the account (`iam_account_info`'s `account_name`) when the exporter knows it.
//   - The creator of a key (iam_access_key_creator_info, offenders' active keys only) is known
//     only when the exporter has read the key's CreateAccessKey record (from an event, or from
//     CloudTrail's LookupEvents: the last 90 days, with collector.key_creators on and the
//     permission); without it the descriptions say "creator not known" and point to the runbook,
//     and IAMUserAccessKeyCreatedByOther cannot fire. An exempt user's key made by a stranger is
//     still noted: an exemption allows the second key, not whoever made it.
//
// Hostile values: creator_arn, source_ip and user_agent come from a CloudTrail record, whose
// user agent (and, through the session name, part of the ARN) the caller chooses. Prometheus
// expands annotations with text/template, which escapes nothing, so each such value is written
// with `printf "%q"`: in double quotes, with `"`, `\`, control characters and invisible Unicode
// (bidi overrides, zero-width) escaped Go-style. A value therefore stays one quoted token on its
// line, and cannot end the sentence, start a line or fake the next key's. `{{`, `<` and `&` are
// kept as written: the output is never expanded again, and HTML belongs to the notification
// templates (Alertmanager's email template escapes; see docs/monitoring.md for Slack).
// creator_type is CloudTrail's own word, reduced to its letters (reReplaceAll "[^A-Za-z]").
{
  local config = self._config,
  // The thresholds and texts, formatted into the expressions (`%(name)s`) and the annotations.
  local texts = {
    IAMUserSecondAccessKey: ['24 hours', config.rotationGraceText],
    IAMAccessKeyTooOld: ['90 days', config.keyMaxAgeText],
    IAMAccessKeyUnused: ['90 days', config.keyUnusedText],
  },
  // What a description says of a key's creator: the template "creator", defined in the
  // description that uses it, of an iam_access_key_creator_info sample.
  local creatorArn = '{{ printf "%q" .Labels.creator_arn }}',
  local creatorType = '{{ reReplaceAll "[^A-Za-z]" "" .Labels.creator_type }}',
  local defineCreator =
    '{{ define "creator" }}created by {{ if eq .Labels.creator_relation "self" }}the user themself (' + creatorArn + ', ' + creatorType + ')'
    + '{{ else if eq .Labels.creator_relation "rotation" }}the rotation automation (' + creatorArn + ', ' + creatorType + ')'
    + '{{ else }}' + creatorArn + ' (' + creatorType + '){{ end }}'
    + ' from {{ printf "%q" .Labels.source_ip }} with {{ printf "%q" .Labels.user_agent }}{{ end }}',
  // The user's active keys, one line each with its age and creator; sets $unknown when a
  // creator is not known. `withoutKeys` ends the sentence when the keys are not exported
  // (collector.key_series = none): then the creators known are listed from their own series.
  local activeKeys(withoutKeys) =
    '{{ $unknown := false }}Active keys:'
    + '{{ range $key := printf "max by (access_key_id) (time() - iam_access_key_created_timestamp_seconds{status=\'Active\',account_id=\'%s\',user=\'%s\'})" $labels.account_id $labels.user | query | sortByLabel "access_key_id" }}'
    + '\n- {{ $key.Labels.access_key_id }} ({{ $key.Value | humanizeDuration }} old): '
    + '{{ with printf "iam_access_key_creator_info{account_id=\'%s\',user=\'%s\',access_key_id=\'%s\'}" $labels.account_id $labels.user $key.Labels.access_key_id | query }}{{ template "creator" (. | first) }}'
    + '{{ else }}{{ $unknown = true }}creator not known{{ end }}'
    + '{{ else }} not exported (collector.key_series = none)' + withoutKeys + '.'
    + '{{ with printf "iam_access_key_creator_info{account_id=\'%s\',user=\'%s\'}" $labels.account_id $labels.user | query }} Their creators:'
    + '{{ range . | sortByLabel "access_key_id" }}\n- {{ .Labels.access_key_id }}: {{ template "creator" . }}{{ end }}'
    + '{{ else }}{{ $unknown = true }}{{ end }}{{ end }}',
  // Why a creator may not be known, once, after the list.
  local creatorNotKnown =
    "{{ if $unknown }}\nA creator is not known when the key is older than the 90 days CloudTrail keeps, the exporter has no cloudtrail:LookupEvents permission, CloudTrail has no record of it, collector.key_creators is off, or the exporter has not looked it up yet: see %s.{{ end }}" % (config.runbookUrlPattern % 'who-created-a-key'),
  local annotate(rule) = rule {
    annotations: {
      [name]: if std.objectHas(texts, rule.alert) then
        std.strReplace(rule.annotations[name], texts[rule.alert][0], texts[rule.alert][1])
      else rule.annotations[name]
      for name in std.objectFields(rule.annotations)
    },
  },
  prometheusAlerts+:: {
    groups+: [group { rules: std.map(annotate, group.rules) } for group in [
      {
        name: "iam-access-keys",
        rules: [
          {
            alert: "IAMUserMultipleActiveAccessKeys",
            expr: |||
              (
                max without (instance, pod) (iam_user_active_access_keys) > 1
                and on (account_id, user)
                (
                  time() - max by (account_id, user) (iam_user_newest_active_access_key_created_timestamp_seconds)
                  > %(rotationGrace)s
                )
              )
              unless on (account_id, user)
              (iam_user_exemption_expiry_timestamp_seconds > time())
            ||| % $._config,
            'for': $._config.forDurations.IAMUserMultipleActiveAccessKeys,
            labels: { severity: $._config.severities.IAMUserMultipleActiveAccessKeys },
            annotations: {
              controls: "CIS AWS Foundations 1.13 (v1.4.0-v4.0.1), 1.12 (v5.0.0), 2.12 (v6.0.0); not in v7.0.0; no AWS FSBP control",
              summary: "IAM user {{ $labels.user }} in account {{ $labels.account_id }}{{ with printf \"iam_account_info{account_id='%s'}\" $labels.account_id | query }}{{ with (index . 0).Labels.account_name }} ({{ . }}){{ end }}{{ end }} has {{ $value }} active access keys.",
              description: defineCreator + "IAM user {{ $labels.user }} (path {{ $labels.path }}) in AWS account {{ $labels.account_id }} has {{ $value }} active access keys, and even the newest is older than the rotation grace, so this is not a rotation in progress. CIS AWS Foundations allows one active access key per user. "
                           + activeKeys("; the newest was created {{ with printf \"time() - max(iam_user_newest_active_access_key_created_timestamp_seconds{account_id='%s',user='%s'})\" $labels.account_id $labels.user | query }}{{ . | first | value | humanizeDuration }}{{ end }} ago")
                           + "\nKeep one, deactivate the others." + creatorNotKnown,
              runbook_url: $._config.runbookUrlPattern % "iamusermultipleactiveaccesskeys",
            },
          },
          {
            alert: "IAMUserSecondAccessKey",
            expr: |||
              (
                max without (instance, pod) (iam_user_active_access_keys) > 1
                and on (account_id, user)
                (
                  time() - max by (account_id, user) (iam_user_newest_active_access_key_created_timestamp_seconds)
                  <= %(rotationGrace)s
                )
              )
              unless on (account_id, user)
              (iam_user_exemption_expiry_timestamp_seconds > time())
            ||| % $._config,
            'for': $._config.forDurations.IAMUserSecondAccessKey,
            labels: { severity: $._config.severities.IAMUserSecondAccessKey },
            annotations: {
              summary: "IAM user {{ $labels.user }} in account {{ $labels.account_id }}{{ with printf \"iam_account_info{account_id='%s'}\" $labels.account_id | query }}{{ with (index . 0).Labels.account_name }} ({{ . }}){{ end }}{{ end }} has just got a second active access key.",
              description: defineCreator + "IAM user {{ $labels.user }} (path {{ $labels.path }}) in AWS account {{ $labels.account_id }} has {{ $value }} active access keys, the newest created less than 24 hours ago. "
                           + activeKeys('')
                           + "\nExpected during a rotation by the user themself or the rotation automation; if anyone else created the new key, or nobody is rotating this user's key, find out why now." + creatorNotKnown,
              runbook_url: $._config.runbookUrlPattern % "iamusersecondaccesskey",
            },
          },
          {
            alert: "IAMUserAccessKeyCreatedByOther",
            expr: |||
              max without (instance, pod, creator_arn, creator_type, creator_relation, source_ip, user_agent) (
                iam_access_key_creator_info{creator_relation="other"}
              )
              and on (account_id, user)
              (max without (instance, pod) (iam_user_active_access_keys) > 1)
            ||| % $._config,
            'for': $._config.forDurations.IAMUserAccessKeyCreatedByOther,
            labels: { severity: $._config.severities.IAMUserAccessKeyCreatedByOther },
            annotations: {
              summary: "Access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in account {{ $labels.account_id }}{{ with printf \"iam_account_info{account_id='%s'}\" $labels.account_id | query }}{{ with (index . 0).Labels.account_name }} ({{ . }}){{ end }}{{ end }} was created by someone other than the user or the rotation automation.",
              description: defineCreator + "Active access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in AWS account {{ $labels.account_id }}, a user with more than one active key, was "
                           + "{{ with printf \"iam_access_key_creator_info{account_id='%s',user='%s',access_key_id='%s'}\" $labels.account_id $labels.user $labels.access_key_id | query }}{{ template \"creator\" (. | first) }}{{ end }}"
                           + ": neither the user themself nor a principal of the exporter's collector.rotation_principals. Creating an access key for another user is how an attacker who can manage that user keeps a way in (MITRE ATT&CK T1098.001); an administrator's one-off is the harmless case. Ask the creator; if nobody vouches for the key, deactivate it and treat the creator's credentials as compromised.",
              runbook_url: $._config.runbookUrlPattern % "iamuseraccesskeycreatedbyother",
            },
          },
          {
            alert: "IAMAccessKeyTooOld",
            expr: |||
              time() - max without (instance, pod) (iam_access_key_created_timestamp_seconds{status="Active"})
              > %(keyMaxAge)s
            ||| % $._config,
            'for': $._config.forDurations.IAMAccessKeyTooOld,
            labels: { severity: $._config.severities.IAMAccessKeyTooOld },
            annotations: {
              controls: "CIS AWS Foundations 1.14 (v1.4.0-v4.0.1), 1.13 (v5.0.0), 2.13 (v6.0.0), 2.12 (v7.0.0); AWS FSBP IAM.3",
              summary: "Access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in account {{ $labels.account_id }}{{ with printf \"iam_account_info{account_id='%s'}\" $labels.account_id | query }}{{ with (index . 0).Labels.account_name }} ({{ . }}){{ end }}{{ end }} is older than 90 days.",
              description: "Active access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in AWS account {{ $labels.account_id }} was created {{ $value | humanizeDuration }} ago. Access keys must be rotated at least every 90 days: create a new key, move the workload to it, then deactivate and later delete this one.",
              runbook_url: $._config.runbookUrlPattern % "iamaccesskeytooold",
            },
          },
          {
            alert: "IAMAccessKeyUnused",
            expr: |||
              max without (instance, pod) (
              (
                time() - iam_access_key_last_used_timestamp_seconds > %(keyUnused)s
                and on (account_id, user, access_key_id)
                iam_access_key_created_timestamp_seconds{status="Active"}
              )
              or
              (
                time() - max without (status) (iam_access_key_created_timestamp_seconds{status="Active"}) > %(keyUnused)s
                unless on (account_id, user, access_key_id)
                iam_access_key_last_used_timestamp_seconds
                and on (account_id)
                group by (account_id) (iam_access_key_last_used_timestamp_seconds)
              )
              )
            ||| % $._config,
            'for': $._config.forDurations.IAMAccessKeyUnused,
            labels: { severity: $._config.severities.IAMAccessKeyUnused },
            annotations: {
              controls: "CIS AWS Foundations 1.12 (v1.4.0-v4.0.1), 1.11 (v5.0.0), 2.11 (v6.0.0), 2.11 (v7.0.0); AWS FSBP IAM.22 (45 days), IAM.8 (90 days)",
              summary: "Access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in account {{ $labels.account_id }} has not been used for 90 days.",
              description: "Active access key {{ $labels.access_key_id }} of IAM user {{ $labels.user }} in AWS account {{ $labels.account_id }} {{ with printf \"iam_access_key_last_used_timestamp_seconds{account_id='%s',user='%s',access_key_id='%s'}\" $labels.account_id $labels.user $labels.access_key_id | query }}was last used {{ $value | humanizeDuration }} ago{{ else }}has never been used and was created {{ $value | humanizeDuration }} ago{{ end }}. Credentials unused for 90 days should be deactivated: nothing depends on them, and a leaked one goes unnoticed.",
              runbook_url: $._config.runbookUrlPattern % "iamaccesskeyunused",
            },
          },
          {
            alert: "IAMUserExemptionExpired",
            expr: |||
              max without (instance, pod) (iam_user_exemption_expiry_timestamp_seconds) <= time()
              unless on (account_id, user)
              (iam_user_exemption_expiry_timestamp_seconds > time())
            ||| % $._config,
            'for': $._config.forDurations.IAMUserExemptionExpired,
            labels: { severity: $._config.severities.IAMUserExemptionExpired },
            annotations: {
              summary: "The {{ $labels.source }} exemption of IAM user {{ $labels.user }} in account {{ $labels.account_id }} has expired.",
              description: "IAM user {{ $labels.user }} in AWS account {{ $labels.account_id }} still has more than one active access key, and its exemption ({{ $labels.source }}, owner {{ $labels.owner }}: {{ $labels.reason }}) ended {{ $value | humanizeTimestamp }}. Finish the change it was for and deactivate the extra key, or, if it must last longer, ask the owner to renew the exemption.",
              runbook_url: $._config.runbookUrlPattern % "iamuserexemptionexpired",
            },
          },
          {
            alert: "IAMUserExemptionInvalid",
            expr: |||
              max without (instance, pod) (iam_user_exemption_invalid) == 1
            ||| % $._config,
            'for': $._config.forDurations.IAMUserExemptionInvalid,
            labels: { severity: $._config.severities.IAMUserExemptionInvalid },
            annotations: {
              summary: "The {{ $labels.source }} exemption of IAM user {{ $labels.user }} in account {{ $labels.account_id }} is invalid ({{ $labels.problem }}).",
              description: "IAM user {{ $labels.user }} in AWS account {{ $labels.account_id }} has more than one active access key and an exemption ({{ $labels.source }}) that is not honoured: {{ $labels.problem }}. An exemption needs an expiry (`YYYY-MM-DD`) no further ahead than the exporter's collector.max_exemption, a reason and an owner.",
              runbook_url: $._config.runbookUrlPattern % "iamuserexemptioninvalid",
            },
          },
        ],
      },
      {
        name: "iam-root-account",
        rules: [
          {
            alert: "IAMRootAccessKeyPresent",
            expr: |||
              max without (instance, pod) (iam_account_root_access_keys_present) > 0
            ||| % $._config,
            'for': $._config.forDurations.IAMRootAccessKeyPresent,
            labels: { severity: $._config.severities.IAMRootAccessKeyPresent },
            annotations: {
              summary: "The root user of AWS account {{ $labels.account_id }}{{ with printf \"iam_account_info{account_id='%s'}\" $labels.account_id | query }}{{ with (index . 0).Labels.account_name }} ({{ . }}){{ end }}{{ end }} has an access key.",
              description: "The root user of AWS account {{ $labels.account_id }} has at least one access key. Root access keys grant unrestricted access to the account and cannot be limited by IAM policies; CIS AWS Foundations requires that none exist. Delete them.",
              runbook_url: $._config.runbookUrlPattern % "iamrootaccesskeypresent",
            },
          },
        ],
      },
      {
        name: "iam-key-exporter",
        rules: [
          {
            alert: "IAMKeyExporterRefreshFailing",
            expr: |||
              iam_exporter_refresh_success == 0
            ||| % $._config,
            'for': $._config.forDurations.IAMKeyExporterRefreshFailing,
            labels: { severity: $._config.severities.IAMKeyExporterRefreshFailing },
            annotations: {
              summary: "iam-key-exporter cannot refresh the IAM data of account {{ $labels.account_id }}.",
              description: "Refreshes of AWS account {{ $labels.account_id }} by iam-key-exporter {{ $labels.instance }} have failed for 15 minutes; {{ with printf \"time() - iam_exporter_data_timestamp_seconds{account_id='%s',instance='%s'}\" $labels.account_id $labels.instance | query }}the IAM data it serves is {{ . | first | value | humanizeDuration }} old{{ else }}it has no IAM data for the account yet{{ end }}. Failures in the last 15 minutes: {{ range $i, $err := printf \"increase(iam_exporter_refresh_errors_total{account_id='%s',instance='%s'}[15m]) > 0\" $labels.account_id $labels.instance | query | sortByLabel \"kind\" }}{{ if $i }}, {{ end }}{{ $err.Labels.kind }} ({{ printf \"%.0f\" $err.Value }}){{ else }}none recorded{{ end }}.",
              runbook_url: $._config.runbookUrlPattern % "iamkeyexporterrefreshfailing",
            },
          },
          {
            alert: "IAMKeyExporterReplicaDown",
            expr: |||
              up{%(jobSelector)s} == 0
            ||| % $._config,
            'for': $._config.forDurations.IAMKeyExporterReplicaDown,
            labels: { severity: $._config.severities.IAMKeyExporterReplicaDown },
            annotations: {
              summary: "iam-key-exporter {{ $labels.instance }} is down; the accounts it watches are not.",
              description: "Prometheus has failed to scrape iam-key-exporter {{ $labels.instance }} for 20 minutes. With sharding, each account is watched by one replica only: until this one is back, the IAM access key alerts of its accounts can neither fire nor resolve, while the other replicas look healthy.",
              runbook_url: $._config.runbookUrlPattern % "iamkeyexporterdown",
            },
          },
          {
            alert: "IAMKeyExporterDown",
            expr: |||
              absent(up{%(jobSelector)s} == 1)
            ||| % $._config,
            'for': $._config.forDurations.IAMKeyExporterDown,
            labels: { severity: $._config.severities.IAMKeyExporterDown },
            annotations: {
              summary: "No iam-key-exporter target is up.",
              description: "Prometheus has had no healthy target in the iam-key-exporter scrape job for 10 minutes: the exporter is down, failing its scrapes, or gone from service discovery. Until it is back, IAM access key alerts can neither fire nor resolve.",
              runbook_url: $._config.runbookUrlPattern % "iamkeyexporterdown",
            },
          },
        ],
      },
    ]],
  },
}
