import re
src=open('src/config/settings.rs').read()
entries=re.findall(r'\n    ([A-Z_]+) \{\n        key: "([a-z_.]+)",\n        flag: (.*?),\n        default: (None|Some\("(.*?)"\)),\n        help: "(.*?)",', src)
settings=[(k, d if dflt!='None' else None, h.replace('\\"','"'), flag) for (_,k,flag,dflt,d,h) in entries]
extra={
 'web.listen_address': ['":10027" is every IPv4 interface; "127.0.0.1:10027" loopback only; "[::]:10027" IPv6.'],
 'web.telemetry_path': ['Not "/", "/-/healthy" or "/-/ready".'],
 'web.max_connections': ['At the cap, a new connection closes the oldest one, so a slow or hostile client','cannot hold every slot.'],
 'web.config_file': ['TLS, basic authentication and response headers, in the format of the Prometheus','exporter-toolkit (as node_exporter\'s --web.config.file); re-read when it changes.'],
 'refresh.interval': ['Each refresh in API mode makes about one request per user plus one per key: raise','this for large accounts, or use the credential report.'],
 'refresh.timeout': ['The previous data stays served.'],
 'aws.profile': ['Credentials otherwise come from the default chain: environment, profile, web identity','(IRSA), ECS/EC2 metadata.'],
 'aws.region': ['IAM is global; set it for other partitions, e.g. "cn-north-1".'],
 'collector.source': ['The credential report costs a few requests but can be up to 4 hours old.'],
 'collector.concurrency': ['IAM throttles without publishing its limits; keep this small.'],
 'collector.last_used': ['Needed by the IAMAccessKeyUnused alert and the dashboard\'s last-use columns.'],
 'collector.report_max_age': ['AWS generates at most one report every four hours.'],
 'organizations.enabled': ['The credentials must be the management account\'s, or a delegated administrator\'s;','their own account is read with them, every other one through role_name.'],
 'organizations.include_ous': ['A TOML list, or in the environment the IDs separated by commas.'],
 'collector.exemption_tags': ['Tags: iam-key-exporter:exempt-until (YYYY-MM-DD), iam-key-exporter:exempt-reason,','iam-key-exporter:exempt-owner; all three are needed.'],
 'events.sqs_queue_url': ['Made by deploy/events/central.yaml (its QueueUrl output); see "Events" in the README.','With events, refresh.interval can be much longer (hours); the refresh stays the safety net.'],
 'collector.confirm_report_offenders': ['Real key IDs and current statuses at one request per flagged user; false, with the','exemption tags off too, keeps a refresh to the report calls alone.'],
}
lists={'organizations.include_ous':'ou-ab12-cdef3456','organizations.exclude_accounts':'111111111111'}
example_unset={'events.sqs_queue_url':'https://sqs.us-east-1.amazonaws.com/111111111111/iam-key-exporter-events','organizations.external_id':'iam-key-exporter','aws.region':'us-east-1','aws.endpoint_url':'http://127.0.0.1:5000','aws.profile':'audit','web.config_file':'/etc/iam-key-exporter/web-config.yml'}
numeric=lambda v: re.fullmatch(r'\d+|true|false', v) is not None
head_lines=[
 'iam-key-exporter configuration%s. Every key is',
 'optional; the values below are the defaults. Generated from the settings table',
 '(src/config/settings.rs), and a test holds it to it.',
 '',
 'Layers, each overriding the one before: defaults < this file (--config.file) < environment',
 '(IAM_KEY_EXPORTER_<SECTION>__<KEY>, e.g. IAM_KEY_EXPORTER_REFRESH__INTERVAL=10m) < flags.',
 'Unknown keys and bad values stop the exporter before it starts (exit code 2), all reported at once.',
]
acc='''
# Accounts to watch besides (or instead of) the organization's. None listed and no discovery:
# the account of the default credentials. Listed: each one is
# read through its role (sts:AssumeRole, session name "iam-key-exporter"); an entry without
# role_arn stands for the default credentials' own account. Keys: role_arn, external_id,
# account_id (taken from role_arn; give it only to override), name (shown in iam_account_info).
#
'''
accounts_toml=acc+'''# [[accounts]]
#
# [[accounts]]
# role_arn = "arn:aws:iam::111111111111:role/iam-key-exporter-audit"
# external_id = "iam-key-exporter"
'''
accounts_yaml=acc+'''# accounts:
#   - {}
#   - role_arn: arn:aws:iam::111111111111:role/iam-key-exporter-audit
#     external_id: iam-key-exporter
'''
ex='''
# Users allowed more than one active key until a date, each with a reason and an owner
# (see "Exemptions" in the README). `account` is a 12-digit ID or "*"; `user` a name, or
# `user_pattern` a glob (`*`, `?`); `expires` at most collector.max_exemption ahead. An
# exempt user is still counted and shown; the multiple-keys alert waits for the expiry.
#
'''
exempt_toml=ex+'''# [[exemptions]]
# account = "111111111111"
# user = "vendor-acme"
# reason = "Acme's integration moves to the new key (CHG-1234)"
# owner = "payments-team"
# expires = "2026-12-31"
'''
exempt_yaml=ex+'''# exemptions:
#   - account: "111111111111"
#     user: vendor-acme
#     reason: Acme's integration moves to the new key (CHG-1234)
#     owner: payments-team
#     expires: "2026-12-31"
'''
def gen(yaml):
    out=['# '+(l%(' in YAML, the same keys as iam-key-exporter.toml' if yaml else '') if '%s' in l else l) if l else '#' for l in head_lines]
    section=None
    for key,default,help,flag in settings:
        sec,name=key.split('.')
        if sec!=section:
            out.append('')
            out.append(f'{sec}:' if yaml else f'[{sec}]')
            section=sec
        ind='  ' if yaml else ''
        out.append(f'{ind}# {help}')
        for e in extra.get(key,[]):
            out.append(f'{ind}# {e}')
        if default is None and key in lists:
            v=lists[key]
            out.append(f'{ind}# {name}: [{v}]' if yaml else f'{ind}# {name} = ["{v}"]')
        elif default is None:
            v=example_unset[key]
            out.append(f'{ind}# {name}: {v}' if yaml else f'{ind}# {name} = "{v}"')
        else:
            if yaml:
                v=default if (numeric(default) or re.fullmatch(r'[\w/.-]+',default)) else f'"{default}"'
                out.append(f'{ind}{name}: {v}')
            else:
                v=default if numeric(default) else f'"{default}"'
                out.append(f'{name} = {v}')
    out.append(accounts_yaml if yaml else accounts_toml)
    out.append(exempt_yaml if yaml else exempt_toml)
    return '\n'.join(out).rstrip('\n')+'\n'
open('config/iam-key-exporter.toml','w').write(gen(False))
open('config/iam-key-exporter.yaml','w').write(gen(True))
rows=["| key | flag | default | meaning |","|---|---|---|---|"]
for key,default,help,flag in settings:
    m=re.match(r'Some\(\("(.*?)"',flag)
    f=f'`--{m.group(1)}`' if m else ''
    dd=f'`{default}`' if default is not None else 'unset'
    rows.append(f'| `{key}` | {f} | {dd} | {help} |')
accs=re.findall(r'\(\n        "(\w+)",\n        "(.*?)",\n    \)', src)
for k,h in accs:
    rows.append(f'| `[[accounts]]` `{k}` | | unset | {h} |')
ex_src=open('src/config/exemptions.rs').read()
ex_keys=ex_src[ex_src.index('pub(crate) const KEYS'):]
ex_keys=ex_keys[:ex_keys.index('];')]
for k,h in re.findall(r'\(\s*"(\w+)",\s*"(.*?)",?\s*\)', ex_keys):
    rows.append(f'| `[[exemptions]]` `{k}` | | unset | {h} |')
table='\n'.join(rows)+'\n'
r=open('docs/configuration.md').read()
b='<!-- BEGIN settings (generated: see src/config/settings.rs) -->\n'
a=r.index(b)+len(b); e=r.index('<!-- END settings -->')
r=r[:a]+table+r[e:]
open('docs/configuration.md','w').write(r)
print(len(settings),'settings')
