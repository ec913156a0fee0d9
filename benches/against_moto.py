"""Benchmark A: the exporter against moto at 5,000 users, side by side with the alternatives.

Run: `.venv/bin/python benches/against_moto.py` (or `benches/run-against-moto.sh`, which also
creates the venv). Writes the `against-moto` section of docs/benchmarks.md.

One moto server is seeded over HTTP with the data set of `benchlib.data_set` (a third of the users
each with 0, 1 and 2 keys, every tenth key inactive) and the credential report is generated once,
so every measured run sees the same steady state. Then, in rounds, each round running every variant
once (in a rotated order, so slow drift of the machine does not favour one):

- the exporter (release build, a fresh process each run, one refresh at start) in API mode with
  last use from the credential report (the default), the same without exemption tags, with
  last-used off, and in credential-report mode; its time is its own
  `iam_exporter_refresh_duration_seconds`, its requests its `iam_exporter_aws_requests_total`;
- the reference audit in Python/boto3 with 8 threads: `list_users` (paginated), then
  `list_access_keys` per user, counting `Active`; timed from the first request to the last (the
  client is made before, as the exporter's time excludes its start-up);
- moto's own floor for credential-report mode: the same three report calls made by boto3.

Ratios are taken within each round and their median reported. Last, the control's CLI procedure
with the real `aws` CLI: `aws iam list-users`, then `aws iam list-access-keys --user-name U` for the
first 200 users, extrapolated to all users.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import benchlib as b  # noqa: E402 - after the line above

COMMAND = ".venv/bin/python benches/against_moto.py"


def exporter_run(endpoint, workdir, settings, expected, timeout):
    exporter = b.Exporter(endpoint, workdir, settings).start()
    try:
        exporter.wait_ready(timeout)
        facts = b.refresh_facts(exporter.metrics()[1].decode())
    finally:
        exporter.stop()
    if not facts.get("success") or facts.get("users") != expected[0] or facts.get("offenders") != expected[3]:
        raise RuntimeError(f"the exporter's refresh does not match the data set: {facts}")
    return facts["duration"], facts


def boto3_audit(endpoint, threads, expected):
    client = b.boto3_client(endpoint, threads)
    started = time.monotonic()
    pages, users = 0, []
    for page in client.get_paginator("list_users").paginate():
        pages += 1
        users.extend(user["UserName"] for user in page["Users"])

    def active_keys(name):
        keys = client.list_access_keys(UserName=name)["AccessKeyMetadata"]
        return sum(1 for key in keys if key["Status"] == "Active")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        counts = list(pool.map(active_keys, users))
    took = time.monotonic() - started
    offenders = sum(1 for count in counts if count > 1)
    if len(users) != expected[0] or offenders != expected[3]:
        raise RuntimeError(f"the boto3 audit found {len(users)} users, {offenders} offenders")
    return took, {"requests": {"ListUsers": pages, "ListAccessKeys": len(users)},
                  "total_requests": pages + len(users)}


def report_floor(endpoint):
    """moto's time for the report calls alone: Get (2015, too old), Generate, Get."""
    client = b.boto3_client(endpoint, 1)
    started = time.monotonic()
    client.get_credential_report()
    client.generate_credential_report()
    client.get_credential_report()
    return time.monotonic() - started, {"total_requests": 3}


def cli_procedure(endpoint, plan, cli_users):
    """The control's procedure with the real CLI on the first `cli_users` users; returns
    (list-users time, [list-access-keys times])."""
    aws = os.path.join(b.VENV_BIN, "aws")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir(), **b.AWS_ENV}

    def run(*args):
        started = time.monotonic()
        out = subprocess.run(
            [aws, "--endpoint-url", endpoint, "iam", *args, "--output", "json"],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )
        took = time.monotonic() - started
        if out.returncode != 0:
            raise RuntimeError(f"aws iam {' '.join(args)} failed: {out.stderr.strip()}")
        return took, json.loads(out.stdout)

    list_time, listed = run("list-users")
    names = [user["UserName"] for user in listed["Users"]]
    if len(names) != len(plan):
        raise RuntimeError(f"aws iam list-users listed {len(names)} users, not {len(plan)}")
    wanted = dict(plan)
    call_times = []
    for name in names[:cli_users]:
        took, keys = run("list-access-keys", "--user-name", name)
        active = sum(1 for key in keys["AccessKeyMetadata"] if key["Status"] == "Active")
        if active != sum(wanted[name]):
            raise RuntimeError(f"the CLI counts {active} active keys for {name}")
        call_times.append(took)
    return list_time, call_times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each variant (default 5)")
    parser.add_argument("--threads", type=int, default=8, help="boto3 audit threads (default 8)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="the exporter's collector.concurrency (default 8, as the audit's threads)")
    parser.add_argument("--cli-users", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=3, help="passes of the CLI procedure (default 3)")
    parser.add_argument("--no-build", action="store_true", help="skip `cargo build --release`")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()

    if not args.no_build:
        b.ensure_release_binary()
    machine = b.machine()
    started_all = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="iam-bench-moto-")
    moto = b.Moto(workdir)
    try:
        moto.start()
        plan = b.data_set(args.users)
        expected = b.expected_counts(plan)
        b.log(f"moto on {moto.endpoint}; seeding {expected[0]} users, {expected[1]} keys "
              f"({expected[2]} active, {expected[3]} users with two active keys)")
        seed_time = b.seed_users(moto.endpoint, plan, args.threads)
        b.log(f"seeded in {seed_time:.0f} s")
        # The steady state of an account: a credential report exists (moto dates it 2015).
        b.boto3_client(moto.endpoint, 1).generate_credential_report()

        common = {"collector.concurrency": args.concurrency}
        variants = {
            "api-lu-on": lambda: exporter_run(moto.endpoint, workdir, {**common, "collector.last_used": "true"}, expected, 1800),
            "api-lu-on-no-tags": lambda: exporter_run(
                moto.endpoint, workdir,
                {**common, "collector.last_used": "true", "collector.exemption_tags": "false"}, expected, 1800),
            "api-lu-off": lambda: exporter_run(moto.endpoint, workdir, {**common, "collector.last_used": "false"}, expected, 900),
            "report": lambda: exporter_run(moto.endpoint, workdir, {**common, "collector.source": "credential-report"}, expected, 900),
            "report-unconfirmed": lambda: exporter_run(
                moto.endpoint, workdir,
                {**common, "collector.source": "credential-report", "collector.confirm_report_offenders": "false",
                 "collector.exemption_tags": "false"},
                expected, 900),
            "boto3": lambda: boto3_audit(moto.endpoint, args.threads, expected),
            "report-floor": lambda: report_floor(moto.endpoint),
        }
        times = {name: [] for name in variants}
        facts = {}
        order = list(variants)
        for round_index in range(args.rounds):
            rotated = order[round_index % len(order):] + order[:round_index % len(order)]
            for name in rotated:
                took, fact = variants[name]()
                times[name].append(took)
                facts[name] = fact
                b.log(f"round {round_index + 1}/{args.rounds} {name}: {took:.3f} s, "
                      f"{fact['total_requests']} requests")

        cli_passes = []
        for cli_run in range(args.cli_runs):
            b.log(f"CLI procedure {cli_run + 1}/{args.cli_runs} on {args.cli_users} users "
                  f"(about {args.cli_users * 0.5:.0f} s)")
            list_time, call_times = cli_procedure(moto.endpoint, plan, args.cli_users)
            cli_passes.append({
                "list": list_time,
                "call": b.median(call_times),
                "measured": list_time + sum(call_times),
                "estimate": list_time + b.median(call_times) * args.users,
            })
            b.log(f"CLI: list-users {list_time:.2f} s, list-access-keys median {b.median(call_times):.3f} s; "
                  f"{args.cli_users} users in {cli_passes[-1]['measured']:.0f} s; "
                  f"extrapolated {cli_passes[-1]['estimate']:.0f} s")
    finally:
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def ratios(name, reference):
        return b.median([t / r for t, r in zip(times[name], times[reference])])

    med = {name: b.median(values) for name, values in times.items()}
    cli_estimate = b.median([p["estimate"] for p in cli_passes])
    cli_measured = b.median([p["measured"] for p in cli_passes])
    cli_range = f"{b.seconds(min(p['estimate'] for p in cli_passes))} – {b.seconds(max(p['estimate'] for p in cli_passes))}"
    rng = {name: f"{b.seconds(min(v))} – {b.seconds(max(v))}" for name, v in times.items()}

    def ops(fact):
        parts = [f"{op} {n:,}" for op, n in sorted(fact["requests"].items())]
        return f"{fact['total_requests']:,} ({', '.join(parts)})"

    cli_requests = 1 + args.users  # moto answers list-users in one page (the audit saw the same)
    rows = [
        ("Exporter, API mode, last use from the report (the default)", ops(facts["api-lu-on"]), med["api-lu-on"],
         rng["api-lu-on"], args.rounds, ratios("api-lu-on", "api-lu-off"), ratios("api-lu-on", "boto3")),
        ("Exporter, the default without exemption tags (`collector.exemption_tags = false`)",
         ops(facts["api-lu-on-no-tags"]), med["api-lu-on-no-tags"], rng["api-lu-on-no-tags"], args.rounds,
         ratios("api-lu-on-no-tags", "api-lu-off"), ratios("api-lu-on-no-tags", "boto3")),
        ("Exporter, API mode, last-used off", ops(facts["api-lu-off"]), med["api-lu-off"], rng["api-lu-off"],
         args.rounds, 1.0, ratios("api-lu-off", "boto3")),
        ("Exporter, credential-report mode (flagged users confirmed, the default)", ops(facts["report"]),
         med["report"], rng["report"], args.rounds, ratios("report", "api-lu-off"), ratios("report", "boto3")),
        ("Exporter, credential-report mode, `confirm_report_offenders = false`, no exemption tags",
         ops(facts["report-unconfirmed"]),
         med["report-unconfirmed"], rng["report-unconfirmed"], args.rounds,
         ratios("report-unconfirmed", "api-lu-off"), ratios("report-unconfirmed", "boto3")),
        (f"Reference audit, Python/boto3, {args.threads} threads", ops(facts["boto3"]), med["boto3"], rng["boto3"],
         args.rounds, ratios("boto3", "api-lu-off"), 1.0),
        ("moto's floor for the report calls (boto3: Get, Generate, Get)", "3", med["report-floor"],
         rng["report-floor"], args.rounds, ratios("report-floor", "api-lu-off"), ratios("report-floor", "boto3")),
        (f"CLI procedure, extrapolated from {args.cli_users} users", f"{cli_requests:,} (list-users 1, list-access-keys {args.users:,})",
         cli_estimate, cli_range, args.cli_runs,
         cli_estimate / med["api-lu-off"], cli_estimate / med["boto3"]),
    ]

    def ratio(x):
        return f"{x:.2f}x" if x < 10 else f"{x:,.0f}x"

    table = [
        "| Variant | IAM requests per refresh | Wall time (median) | Range | Runs | Time ÷ exporter API, last-used off | Time ÷ boto3 audit |",
        "|---|---|---:|---|---:|---:|---:|",
    ] + [f"| {r[0]} | {r[1]} | {b.seconds(r[2])} | {r[3]} | {r[4]} | {ratio(r[5])} | {ratio(r[6])} |" for r in rows]

    api_off_vs_audit = ratios("api-lu-off", "boto3")
    api_on_vs_audit = ratios("api-lu-on", "boto3")
    cli_vs_off = cli_estimate / med["api-lu-off"]
    cli_vs_on = cli_estimate / med["api-lu-on"]
    def per_refresh(name):
        # GetCallerIdentity is asked once per process, not per refresh.
        return sum(n for op, n in facts[name]["requests"].items() if op != "GetCallerIdentity") \
            + facts[name]["failed_requests"]

    report_requests = facts["report"]["requests"]
    report_calls = report_requests.get("GenerateCredentialReport", 0) + report_requests.get("GetCredentialReport", 0)
    confirm_calls = report_requests.get("ListAccessKeys", 0)
    bound = args.users + -(-args.users // 1000) + 5
    tags = facts["api-lu-on"]["requests"].get("ListUserTags", 0)
    default_requests = per_refresh("api-lu-on") - tags
    no_tags_vs_audit = ratios("api-lu-on-no-tags", "boto3")
    targets = [
        f"- Default configuration (API mode, last use exported), at most users + ⌈users / 1,000⌉ + 5 = "
        f"{bound:,} IAM requests per refresh when a report exists (`GetCallerIdentity`, once per process, left "
        f"out): **{default_requests:,}**, {b.verdict(default_requests <= bound)}, plus {tags:,} `ListUserTags`, "
        f"one per user with two active keys (the exemption tags; a quarter of the users in this data set, a "
        f"handful in a real account); without exemption tags **{per_refresh('api-lu-on-no-tags'):,}**, "
        f"{b.verdict(per_refresh('api-lu-on-no-tags') <= bound)}. moto dates every report 2015, so each refresh "
        "regenerates it (3 report requests where a real account's fresh report takes 1).",
        f"- Default configuration, refresh wall time at most 1.1x the {args.threads}-thread boto3 audit: "
        f"**{api_on_vs_audit:.2f}x**, {b.verdict(api_on_vs_audit <= 1.1)}; without exemption tags "
        f"**{no_tags_vs_audit:.2f}x**, {b.verdict(no_tags_vs_audit <= 1.1)}.",
        f"- API mode at most 1.1x the boto3 audit (last-used off: the audit's requests, plus "
        f"{facts['api-lu-off']['requests'].get('ListUserTags', 0):,} `ListUserTags` for the exemption tags): "
        f"**{api_off_vs_audit:.2f}x**, {b.verdict(api_off_vs_audit <= 1.1)}. "
        f"With last-used on (the default; {facts['api-lu-on']['total_requests']:,} requests instead of "
        f"{facts['api-lu-off']['total_requests']:,}): **{api_on_vs_audit:.2f}x**, {b.verdict(api_on_vs_audit <= 1.1)}.",
        f"- API mode at least 100x faster than the CLI procedure: last-used off **{ratio(cli_vs_off)}**, "
        f"{b.verdict(cli_vs_off >= 100)}; last-used on **{ratio(cli_vs_on)}**, {b.verdict(cli_vs_on >= 100)}.",
        f"- Credential-report mode, at most 3 IAM requests per refresh when a fresh report exists "
        f"(`GetCallerIdentity`, asked once per process, left out): moto cannot show a fresh report (it dates "
        f"every report 2015-02-02, so every refresh regenerates it: {report_calls} report requests). Measured: "
        f"**{per_refresh('report'):,}** with confirmation (the default; {confirm_calls:,} `ListAccessKeys` for "
        f"the {expected[3]:,} of {expected[0]:,} users the report flags), {b.verdict(per_refresh('report') <= 3)}; "
        f"**{per_refresh('report-unconfirmed'):,}** with `confirm_report_offenders = false`, "
        f"{b.verdict(per_refresh('report-unconfirmed') <= 3)}. The fresh-report case is measured against the "
        "fake in the own-cost section.",
        f"- Credential-report mode, {args.users:,} users in under 0.5 s against moto: with confirmation "
        f"**{b.seconds(med['report'])}**, {b.verdict(med['report'] < 0.5)}; without "
        f"**{b.seconds(med['report-unconfirmed'])}**, {b.verdict(med['report-unconfirmed'] < 0.5)}. moto serves "
        f"the three report calls alone in {b.seconds(med['report-floor'])}.",
    ]
    moto_rate = facts["api-lu-off"]["total_requests"] / med["api-lu-off"]
    lu_per_call = None
    if facts["api-lu-on"]["requests"].get("GetAccessKeyLastUsed"):
        extra = med["api-lu-on"] - med["api-lu-off"]
        lu_per_call = extra / facts["api-lu-on"]["requests"]["GetAccessKeyLastUsed"]
    notes = [
        "Notes:",
        "",
        f"- The exporter ran with `collector.concurrency = {args.concurrency}` (as many requests in flight as "
        f"the audit's {args.threads} threads); its time is its own `iam_exporter_refresh_duration_seconds` for "
        "the first refresh of a fresh process, which includes `GetCallerIdentity` (once per process) and, in "
        "API mode, `GetAccountSummary`. The audit's time runs from its first request to its last. Ratios are "
        "taken within each round, then the median.",
        "- moto is one Python process: every variant here is bound by moto's request rate, not by its client.",
    ]
    if lu_per_call is not None:
        notes.append(
            f"- Last-used on costs {b.seconds(med['api-lu-on'] - med['api-lu-off'])} more, about "
            f"{lu_per_call * 1000:.0f} ms per `GetAccessKeyLastUsed`: moto 5.2.1 answers it by building a list of "
            "every key of every user (`get_all_access_keys_for_all_users`), O(keys) per call, so against moto "
            "this variant measures moto's lookup. The audit asks nothing about last use, so it is not a "
            "like-for-like comparison for this row.")
    notes += [
        f"- Credential-report mode: moto dates its report 2015, so every refresh finds it older than "
        "`collector.report_max_age` and asks `GetCredentialReport`, `GenerateCredentialReport` (moto answers "
        "COMPLETE at once) and `GetCredentialReport` again. With confirmation, the users the report flags are "
        f"then confirmed with `ListAccessKeys`, which is where the time goes: moto answers about "
        f"{moto_rate:,.0f} requests/s (API mode, last-used off: {facts['api-lu-off']['total_requests']:,} "
        f"requests in {b.seconds(med['api-lu-off'])} with {args.concurrency} in flight), so "
        f"{confirm_calls:,} confirmations cost about {b.seconds(confirm_calls / moto_rate)} however many are in "
        "flight.",
        f"- CLI procedure, {args.cli_runs} passes: `aws iam list-users` (median "
        f"{b.seconds(b.median([p['list'] for p in cli_passes]))}), then `aws iam list-access-keys --user-name U` "
        f"for the first {args.cli_users} users (median {b.median([p['call'] for p in cli_passes]) * 1000:.0f} ms "
        f"per call, most of it the CLI's own start-up; {b.seconds(cli_measured)} per pass); each pass "
        f"extrapolated as list-users + {args.users:,} x its median call, then the median of the passes.",
        f"- Seeding {args.users:,} users took {seed_time:.0f} s (not measured). The whole run took "
        f"{(time.monotonic() - started_all) / 60:.1f} minutes.",
    ]
    versions = (f"moto {b.python_package_version('moto')} (`moto_server`), boto3 "
                f"{b.python_package_version('boto3')}, awscli {b.python_package_version('awscli')}")
    data = (f"Data: {expected[0]:,} users (a third each with 0, 1 and 2 keys), {expected[1]:,} keys of which "
            f"{expected[1] - expected[2]:,} inactive (every tenth), {expected[3]:,} users with two active keys.")
    body = "\n".join(
        ["## Against moto, 5,000 users", "", f"Command: `{COMMAND}` (or `benches/run-against-moto.sh`)", ""]
        + [f"- {line}" for line in machine + [versions, data]]
        + ["", *table, "", "Targets:", "", *targets, "", *notes]
    )
    print(body)
    if not args.no_write:
        b.write_section("against-moto", body)


if __name__ == "__main__":
    sys.exit(main())
