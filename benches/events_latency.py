"""Benchmark D: how soon an IAM change is served with `[events]`, and what it costs.

Run: `.venv/bin/python benches/events_latency.py` (venv as for benchmark A). Writes the
`events-latency` section of docs/benchmarks.md.

moto plays IAM and SQS. The exporter (release build) watches 1,000 users with a one-hour refresh
interval and events on. Then, 100 times: one user gets a second active key (boto3
`create_access_key`), the matching EventBridge envelope (the CloudTrail shape the CloudFormation
rule delivers) is sent to the queue, and `/metrics` is polled every 10 ms until it serves the user's
new count; the key is then deleted the same way, so every event starts from one active key. The
latency is from the moment `SendMessage` returned (the message is in the queue) to the first scrape
that shows the change. Requests per event are the exporter's own IAM request counters before and
after, divided by the events; a refresh would show as `ListUsers`.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import benchlib as b  # noqa: E402 - after the line above

COMMAND = ".venv/bin/python benches/events_latency.py"
ACCOUNT = "123456789012"


def envelope(event, user):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({
        "version": "0", "id": "bench", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam", "account": ACCOUNT, "time": now, "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08", "eventTime": now, "eventSource": "iam.amazonaws.com",
            "eventName": event, "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": "admin"},
            "requestParameters": {"userName": user}, "recipientAccountId": ACCOUNT,
        },
    })


def active_keys(exporter, user):
    for name, labels, value in b.parse_metrics(exporter.metrics()[1].decode(), {"iam_user_active_access_keys"}):
        if labels.get("user") == user:
            return value
    return None


def requests(exporter):
    counts = {}
    for name, labels, value in b.parse_metrics(exporter.metrics()[1].decode(), {"iam_exporter_aws_requests_total"}):
        if labels.get("outcome") == "success":
            counts[labels["operation"]] = int(value)
    return counts


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--no-build", action="store_true", help="skip `cargo build --release`")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()
    if not args.no_build:
        b.ensure_release_binary()
    machine = b.machine()
    workdir = tempfile.mkdtemp(prefix="iam-bench-events-")
    moto = b.Moto(workdir)
    exporter = None
    latencies = []
    try:
        moto.start()
        plan = [(f"bench-user-{i:05d}", [True]) for i in range(args.users)]
        b.seed_users(moto.endpoint, plan)
        import boto3  # only in the venv
        session = boto3.session.Session(
            aws_access_key_id=b.AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=b.AWS_ENV["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        iam = session.client("iam", endpoint_url=moto.endpoint)
        sqs = session.client("sqs", endpoint_url=moto.endpoint)
        queue = sqs.create_queue(QueueName="iam-key-exporter-events")["QueueUrl"]
        exporter = b.Exporter(moto.endpoint, workdir, {
            "events.sqs_queue_url": queue, "events.wait_time": "20s", "aws.attempt_timeout": "30s",
        }).start()
        exporter.wait_ready(300)
        before = requests(exporter)
        for n in range(args.events):
            user = plan[(n * 7) % args.users][0]
            key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
            for event, expected in (("CreateAccessKey", 2.0), ("DeleteAccessKey", 1.0)):
                if event == "DeleteAccessKey":
                    iam.delete_access_key(UserName=user, AccessKeyId=key)
                sqs.send_message(QueueUrl=queue, MessageBody=envelope(event, user))
                sent = time.monotonic()
                b.wait_until(f"{user} at {expected}", lambda: active_keys(exporter, user) == expected,
                             timeout=60, process=exporter.process, interval=0.01)
                latencies.append(time.monotonic() - sent)
            if (n + 1) % 20 == 0:
                b.log(f"{n + 1}/{args.events} users: median so far {b.median(latencies):.3f} s")
        after = requests(exporter)
    finally:
        if exporter is not None:
            exporter.stop()
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    events = len(latencies)
    delta = {op: after.get(op, 0) - before.get(op, 0) for op in after}
    delta = {op: n for op, n in delta.items() if n}
    iam_ops = {op: n for op, n in delta.items() if op not in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")}
    med, p99 = b.median(latencies), percentile(latencies, 99)
    body = "\n".join([
        "## IAM change events: from the queue to /metrics",
        "",
        f"Command: `{COMMAND}`",
        "",
        *[f"- {line}" for line in machine],
        f"- Data: {args.users:,} users with one active key each in moto {b.python_package_version('moto')} "
        "(IAM and SQS); refresh interval 1h, events on (`events.wait_time = 20s`).",
        "",
        "| Events | Latency median | p99 | max | IAM requests per event | Requests during the run |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {events} | {b.seconds(med)} | {b.seconds(p99)} | {b.seconds(max(latencies))} | "
        f"{sum(iam_ops.values()) / events:.2f} | "
        + ", ".join(f"{op} {n:,}" for op, n in sorted(delta.items())) + " |",
        "",
        "Targets:",
        "",
        f"- Detection latency median under 2 s after the message is in the queue: **{b.seconds(med)}**, "
        f"{b.verdict(med < 2.0)}.",
        "",
        "Notes:",
        "",
        f"- {events} events: {args.events} users each got a second key (`CreateAccessKey`) and lost it "
        "again (`DeleteAccessKey`), one event at a time. Latency: from `SendMessage` returning to the "
        "first scrape (polled every 10 ms) that serves the new count. It includes SQS long polling, the "
        "re-read of the user (`ListAccessKeys`), and the render, which runs at most once a second.",
        "- No `ListUsers` during the run: no refresh ran; each event cost the one user's re-read.",
    ])
    print(body)
    if not args.no_write:
        b.write_section("events-latency", body)


if __name__ == "__main__":
    main()
