"""Plumbing shared by the Python benchmarks (`against_moto.py`, `scrape_serving.py`).

Layout:
- the machine and the run, for the report header (`machine()`);
- `docs/benchmarks.md`, where each benchmark rewrites only its own section (`write_section`);
- processes on loopback: moto (`Moto`), the exporter (`Exporter`), both stopped by their own PID;
- seeding moto over HTTP with the benchmark data set (`seed_users`);
- the exposition format (`parse_metrics`) and statistics (`median`).

Nothing here talks to anything but 127.0.0.1.
"""

import concurrent.futures
import datetime
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
EXPORTER = os.path.join(ROOT, "target", "release", "iam-key-exporter")

DOC_HEADER = """# Benchmarks

Made by the commands in [`benches/`](../benches/README.md); each command rewrites only its own
section below, between its `BEGIN`/`END` comments. The machine is shared and noisy: every number is
the median of several runs, and the variants compared in a section were run interleaved in the same
run, so their ratios mean more than any absolute number.
"""

SECTIONS = ["against-moto", "own-cost", "scrape-serving"]

# Credentials and settings for every AWS client here: moto accepts anything, and nothing may
# reach a real account, an instance metadata service or the user's own AWS configuration.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_PAGER": "",
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the machine and the run ---------------------------------------------------------------


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def machine():
    """What the numbers were measured on, as Markdown list items."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    load = _read("/proc/loadavg").split()[:3]
    revision = subprocess.run(
        ["git", "-C", ROOT, "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    ).stdout.strip() or "unknown"
    return [
        f"Machine: {os.cpu_count()} CPUs ({cpu.group(1).strip() if cpu else 'unknown CPU'}), "
        f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB memory"
        f", Linux {platform.release()}; load average at start {' '.join(load)}",
        f"Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"exporter at `{revision}` (release build)",
    ]


def write_section(name, body):
    """Replaces the `name` section of docs/benchmarks.md (creating the file if needed)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = _read(DOC)
    if not text:
        text = DOC_HEADER + "".join(
            f"\n<!-- BEGIN {s} -->\n_Not run yet._\n<!-- END {s} -->\n" for s in SECTIONS
        )
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(text)
    log(f"wrote the {name} section of {os.path.relpath(DOC, ROOT)}")


# --- statistics and formatting -------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def seconds(value):
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.0f} ms"


def verdict(ok):
    return "met" if ok else "**MISSED**"


# --- processes ------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=30):
    """(status, headers with lower-case names, body) of a GET on loopback."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers), err.read()


def _lower(headers):
    return {name.lower(): value for name, value in headers.items()}


def wait_until(what, check, timeout, process=None, interval=0.05):
    """Polls `check()` until it is truthy; fails after `timeout` seconds or when `process` dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout} s")
        time.sleep(interval)


def stop_process(process, grace=10):
    """Stops one child we started, by its own PID: SIGTERM, then SIGKILL after `grace` s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def ensure_release_binary():
    """Builds the release binary (a no-op when up to date) so the numbers are of current code."""
    log("cargo build --release (a no-op when up to date)")
    result = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=False)
    if result.returncode != 0 or not os.access(EXPORTER, os.X_OK):
        sys.exit(f"cannot build {EXPORTER}: run `cargo build --release` and look at its errors")


class Moto:
    """A real `moto_server` on a free loopback port."""

    def __init__(self, workdir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "moto.log")
        self.process = None

    def start(self):
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        wait_until(
            "moto_server start",
            lambda: http_get(f"{self.endpoint}/moto-api/", timeout=2)[0] < 500,
            timeout=60, process=self.process, interval=0.2,
        )
        return self

    def stop(self):
        stop_process(self.process)


def boto3_client(endpoint, threads=8):
    import boto3  # only in the venv
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    return session.client(
        "iam", endpoint_url=endpoint,
        config=Config(max_pool_connections=threads, retries={"max_attempts": 3, "mode": "standard"}),
    )


def data_set(users):
    """The benchmark data: user `i` has `i % 3` keys (a third each with 0, 1 and 2), and every
    tenth key, counted over all users in order, is inactive (10% of the keys).

    Returns `[(name, [active, ...])]`."""
    plan, key_index = [], 0
    for i in range(users):
        keys = []
        for _ in range(i % 3):
            keys.append(key_index % 10 != 9)
            key_index += 1
        plan.append((f"bench-user-{i:05d}", keys))
    return plan


def expected_counts(plan):
    """(users, keys, active keys, users with two active keys) of a data set."""
    keys = sum(len(k) for _, k in plan)
    active = sum(sum(k) for _, k in plan)
    offenders = sum(1 for _, k in plan if sum(k) > 1)
    return len(plan), keys, active, offenders


def seed_users(endpoint, plan, threads=8):
    """Creates the data set in moto over HTTP, `threads` requests at a time."""
    client = boto3_client(endpoint, threads)

    def one(item):
        name, keys = item
        client.create_user(UserName=name)
        for active in keys:
            key = client.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            if not active:
                client.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(one, plan), 1):
            if done % 1000 == 0:
                log(f"  seeded {done}/{len(plan)} users")
    return time.monotonic() - started


class Exporter:
    """The release exporter as a child process on a free loopback port, refreshing once at start
    (`refresh.interval = 1h`)."""

    def __init__(self, endpoint, workdir, settings=None, cpus=None, name="exporter"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **AWS_ENV}
        self.env.update({
            "IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
            "IAM_KEY_EXPORTER_REFRESH__INTERVAL": "1h",
            "IAM_KEY_EXPORTER_REFRESH__TIMEOUT": "20m",
            "IAM_KEY_EXPORTER_AWS__ENDPOINT_URL": endpoint,
            "IAM_KEY_EXPORTER_LOG__LEVEL": "info",
        })
        for key, value in (settings or {}).items():
            self.env[f"IAM_KEY_EXPORTER_{key.upper().replace('.', '__')}"] = str(value)
        self.command = [EXPORTER]
        if cpus is not None:
            self.command = ["taskset", "-c", cpus] + self.command
        self.process = None

    def start(self):
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=tempfile.gettempdir(),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout):
        try:
            wait_until(
                "exporter ready",
                lambda: http_get(f"{self.url}/-/ready", timeout=5)[0] == 200,
                timeout=timeout, process=self.process,
            )
        except RuntimeError as err:
            raise RuntimeError(f"{err}; last log lines:\n{self.tail()}") from None

    def metrics(self, gzip=False):
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        status, response_headers, body = http_get(f"{self.url}/metrics", headers)
        if status != 200:
            raise RuntimeError(f"GET /metrics answered {status}")
        return response_headers, body

    def tail(self, lines=15):
        return "\n".join(_read(self.log_path).splitlines()[-lines:])

    def stop(self):
        stop_process(self.process)


# --- the exposition format -----------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text, names=None):
    """`[(name, {label: value}, float)]` for the samples of `names` (all when `None`)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match or (names is not None and match.group(1) not in names):
            continue
        labels = dict(_LABEL.findall(match.group(2) or ""))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def refresh_facts(text):
    """What one refresh did, from the exporter's own metrics: duration, requests by operation,
    success, users and offenders."""
    wanted = {
        "iam_exporter_refresh_duration_seconds", "iam_exporter_aws_requests_total",
        "iam_exporter_refresh_success", "iam_account_users",
        "iam_account_users_with_multiple_active_access_keys",
    }
    facts = {"requests": {}, "failed_requests": 0}
    for name, labels, value in parse_metrics(text, wanted):
        if name == "iam_exporter_aws_requests_total":
            if labels.get("outcome") == "success":
                facts["requests"][labels["operation"]] = int(value)
            else:
                facts["failed_requests"] += int(value)
        elif name == "iam_exporter_refresh_duration_seconds":
            facts["duration"] = value
        elif name == "iam_exporter_refresh_success":
            facts["success"] = value == 1
        elif name == "iam_account_users":
            facts["users"] = int(value)
        else:
            facts["offenders"] = int(value)
    facts["total_requests"] = sum(facts["requests"].values()) + facts["failed_requests"]
    return facts


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "missing"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def python_package_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return "unknown"



# --- for benchmarks written in other languages (benches/own_cost.rs) -----------------------

if __name__ == "__main__":
    # `benchlib.py machine`: the machine lines, one per line.
    # `benchlib.py write-section NAME < BODY`: replaces the section NAME with standard input.
    if sys.argv[1:2] == ["machine"]:
        print("\n".join(machine()))
    elif sys.argv[1:2] == ["write-section"] and len(sys.argv) == 3:
        write_section(sys.argv[2], sys.stdin.read())
    else:
        sys.exit("usage: benchlib.py machine | benchlib.py write-section NAME < BODY")
