"""Benchmark C: serving `/metrics` at 5,000 users, the exporter side by side with nginx.

Run: `.venv/bin/python benches/scrape_serving.py` (or `benches/run-scrape-serving.sh`, which also
creates the venv). Writes the `scrape-serving` section of docs/benchmarks.md.

The exporter (release build) refreshes once against moto seeded with the data set of benchmark A
(`benchlib.data_set`), then moto is stopped: serving needs no AWS. Its `/metrics` body, plain and
gzipped, is saved byte for byte, and Debian's nginx serves the same two files as static files
(`gzip_static on`, so both servers send pre-compressed bytes) from a loopback port, with its own
prefix and configuration in a temporary directory (not daemonised, stopped by PID at the end).

Both servers are pinned to CPU 0 (the exporter's runtime then has one worker thread; nginx has one
worker process), and `wrk` to CPU 1, with the same threads, connections and duration for both.
Rounds run the four cases (exporter/nginx x plain/gzip) in a rotated order; medians are reported,
with the exporter/nginx ratio taken within each round.
"""

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import benchlib as b  # noqa: E402 - after the line above

COMMAND = ".venv/bin/python benches/scrape_serving.py"
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
SERVER_CPU = "0"
WRK_CPU = "1"

NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {work}/temp/body;
    proxy_temp_path {work}/temp/proxy;
    fastcgi_temp_path {work}/temp/fastcgi;
    uwsgi_temp_path {work}/temp/uwsgi;
    scgi_temp_path {work}/temp/scgi;
    sendfile on;
    # No tcp_nopush: with it, small responses on loopback stalled ~40 ms at p99 (delayed ACKs).
    # The exporter serves from memory; let nginx skip the open() and stat() per request too.
    open_file_cache max=16 inactive=10m;
    open_file_cache_valid 10m;
    tcp_nodelay on;
    keepalive_timeout 65s;
    # As many requests per connection as the exporter allows (no limit), for the same wrk load.
    keepalive_requests 100000000;
    types {{ }}
    default_type "text/plain; version=0.0.4; charset=utf-8";
    gzip off;
    gzip_static on;
    gzip_vary on;
    server {{
        listen 127.0.0.1:{port};
        root {work}/www;
        location = /metrics {{ }}
    }}
}}
"""


class Nginx:
    """nginx as a non-daemon child with its own prefix and configuration."""

    def __init__(self, work, plain, gzipped):
        self.work = work
        self.port = b.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        os.makedirs(os.path.join(work, "www"))
        os.makedirs(os.path.join(work, "temp"))
        for name, data in (("metrics", plain), ("metrics.gz", gzipped)):
            with open(os.path.join(work, "www", name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(work, "www", name), 0o644)
        # The worker runs as an unprivileged user when the master is root: let it reach the
        # files (the temporary directory above is private, 0700; traversal is enough there).
        os.chmod(os.path.dirname(work), 0o711)
        for path in (work, os.path.join(work, "www")):
            os.chmod(path, 0o755)
        self.conf = os.path.join(work, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(NGINX_CONF.format(work=work, port=self.port))
        self.process = None

    def start(self):
        with open(os.path.join(self.work, "stderr.log"), "wb") as log_file:
            self.process = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, NGINX, "-p", self.work + "/", "-c", self.conf,
                 "-e", os.path.join(self.work, "error.log")],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        try:
            b.wait_until("nginx start", lambda: b.http_get(f"{self.url}/metrics", timeout=2)[0] == 200,
                         timeout=30, process=self.process)
        except RuntimeError as err:
            log = b._read(os.path.join(self.work, "error.log")) + b._read(os.path.join(self.work, "stderr.log"))
            raise RuntimeError(f"{err}; nginx said:\n{log[-2000:]}") from None
        return self

    def stop(self):
        b.stop_process(self.process)


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _duration(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def _size(text):
    match = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[match.group(2)]
    return float(match.group(1)) * scale


def server_cpu(pids):
    """User + system CPU seconds of these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def nginx_pids(master):
    """The master and its worker."""
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False)
    return [master] + [int(p) for p in children.stdout.split()]


def wrk(url, threads, connections, duration, gzipped, cpu_pids):
    """One wrk run: requests/s, p50, p99, bytes per response, server CPU per request."""
    command = ["taskset", "-c", WRK_CPU, WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s",
               "--timeout", "5s", "--latency"]
    if gzipped:
        command += ["-H", "Accept-Encoding: gzip"]
    cpu_before = server_cpu(cpu_pids)
    out = subprocess.run(command + [url], capture_output=True, text=True, check=False,
                         timeout=duration + 60)
    cpu = server_cpu(cpu_pids) - cpu_before
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed: {out.stdout}{out.stderr}")
    if "Non-2xx" in text or "Socket errors" in text:
        raise RuntimeError(f"wrk saw errors:\n{text}")
    done = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    requests = int(done.group(1))
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50": _duration(percentiles["50"]),
        "p99": _duration(percentiles["99"]),
        "bytes_per_response": _size(done.group(3)) / max(requests, 1),
        "cpu_per_request": cpu / max(requests, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--latency-duration", type=int, default=5,
                        help="seconds per one-connection latency run (default 5)")
    parser.add_argument("--no-build", action="store_true", help="skip `cargo build --release`")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()
    for tool in (NGINX, WRK):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: `apt-get install nginx wrk`")
    if os.cpu_count() < 2:
        sys.exit("this benchmark pins the servers and wrk to different CPUs: it needs two")

    if not args.no_build:
        b.ensure_release_binary()
    machine = b.machine()
    started_all = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="iam-bench-scrape-")
    moto = b.Moto(workdir)
    exporter = nginx = None
    try:
        moto.start()
        plan = b.data_set(args.users)
        expected = b.expected_counts(plan)
        b.log(f"moto on {moto.endpoint}; seeding {expected[0]} users")
        b.seed_users(moto.endpoint, plan)
        exporter = b.Exporter(
            moto.endpoint, workdir,
            {"collector.last_used": "false", "collector.concurrency": 8},
            cpus=SERVER_CPU,
        ).start()
        exporter.wait_ready(600)
        moto.stop()  # serving needs no AWS; the exporter refreshes again only in an hour
        headers, plain = exporter.metrics()
        gzip_headers, gzipped = exporter.metrics(gzip=True)
        if gzip_headers.get("content-encoding") != "gzip" or gzip.decompress(gzipped) != plain:
            raise RuntimeError("the exporter's gzip body is not its plain body compressed")
        if exporter.metrics()[1] != plain or exporter.metrics(gzip=True)[1] != gzipped:
            raise RuntimeError("the exporter's body changed between two scrapes")
        facts = b.refresh_facts(plain.decode())
        if facts.get("users") != expected[0]:
            raise RuntimeError(f"the exporter serves {facts.get('users')} users, not {expected[0]}")
        b.log(f"body: {len(plain):,} bytes plain, {len(gzipped):,} gzipped")

        nginx = Nginx(os.path.join(workdir, "nginx"), plain, gzipped).start()
        _, _, body = b.http_get(f"{nginx.url}/metrics")
        _, _, nginx_gz = b.http_get(f"{nginx.url}/metrics", {"Accept-Encoding": "gzip"})
        if body != plain or nginx_gz != gzipped:
            raise RuntimeError("nginx does not serve the exporter's exact bytes")
        servers = {
            "exporter": (f"{exporter.url}/metrics", [exporter.process.pid]),
            "nginx": (f"{nginx.url}/metrics", nginx_pids(nginx.process.pid)),
        }
        # `taskset` execs the exporter: the child's PID is the exporter's.
        # Throughput under load (`--connections`), then latency at a scrape's concurrency (one).
        loads = [(args.connections, args.duration), (1, args.latency_duration)]
        cases = [(server, gz, load) for load in loads for gz in (False, True) for server in servers]
        for server, gz, (connections, _) in cases[:4]:  # warm-up, not measured
            wrk(servers[server][0], args.threads, connections, 2, gz, servers[server][1])
        results = {case: [] for case in cases}
        for round_index in range(args.rounds):
            rotated = cases[round_index % len(cases):] + cases[:round_index % len(cases)]
            for case in rotated:
                server, gz, (connections, duration) = case
                result = wrk(servers[server][0], min(args.threads, connections), connections, duration, gz,
                             servers[server][1])
                results[case].append(result)
                b.log(f"round {round_index + 1}/{args.rounds} {server} {'gzip' if gz else 'plain'} "
                      f"c{connections}: {result['rps']:,.0f} req/s, p50 {result['p50'] * 1000:.2f} ms, "
                      f"p99 {result['p99'] * 1000:.2f} ms")
    finally:
        for process in (nginx, exporter, moto):
            if process is not None:
                process.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def med(case, key):
        return b.median([r[key] for r in results[case]])

    def ratio(gz, load):
        pairs = zip(results[("exporter", gz, load)], results[("nginx", gz, load)])
        return b.median([e["rps"] / n["rps"] for e, n in pairs])

    table = [
        "| Connections | Body | Server | Bytes per response | Requests/s | exporter/nginx | p50 | p99 | "
        "Server CPU per request | Runs |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for load in loads:
        for gz in (False, True):
            for server in ("exporter", "nginx"):
                case = (server, gz, load)
                share = f"{ratio(gz, load):.2f}" if server == "exporter" else ""
                table.append(
                    f"| {load[0]} | {'gzip' if gz else 'plain'} | {server} | "
                    f"{med(case, 'bytes_per_response'):,.0f} | {med(case, 'rps'):,.0f} | {share} | "
                    f"{med(case, 'p50') * 1000:.2f} ms | {med(case, 'p99') * 1000:.2f} ms | "
                    f"{med(case, 'cpu_per_request') * 1e6:.0f} µs | {len(results[case])} |")
    targets = []
    for gz in (False, True):
        name = "gzip" if gz else "plain"
        r = ratio(gz, loads[0])
        p99s = [(load[0], med(("exporter", gz, load), "p99")) for load in loads]
        p99_text = "; ".join(
            f"{connections} connection{'s' if connections > 1 else ''} **{p99 * 1000:.2f} ms**, {b.verdict(p99 < 0.005)}"
            for connections, p99 in p99s)
        targets.append(f"- {name}: requests/s at least half of nginx's ({loads[0][0]} connections): "
                       f"exporter/nginx **{r:.2f}**, {b.verdict(r >= 0.5)}. p99 under 5 ms: {p99_text}.")
    plain_load = ("exporter", False, loads[0])
    little = loads[0][0] / med(plain_load, "rps")
    versions = (f"{b.tool_version([NGINX, '-v'])}; wrk {b.tool_version([WRK, '--version']).split()[1]}")
    body = "\n".join(
        ["## Scrape serving, 5,000 users", "", f"Command: `{COMMAND}` (or `benches/run-scrape-serving.sh`)", ""]
        + [f"- {line}" for line in machine]
        + [f"- {versions}",
           f"- Body: the exporter's `/metrics` after one refresh against moto with {expected[0]:,} users "
           f"(benchmark A's data, `collector.last_used = false`): {len(plain):,} bytes plain, "
           f"{len(gzipped):,} bytes gzipped; nginx serves byte-identical copies (checked).",
           f"- Load: `taskset -c {WRK_CPU} wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
           f"[-H 'Accept-Encoding: gzip'] URL` for throughput, and `-t1 -c1 -d{args.latency_duration}s` for the "
           f"latency of one scraper; {args.rounds} rounds of the eight cases in a rotated order, after a 2 s "
           f"warm-up. Servers pinned with `taskset -c {SERVER_CPU}` (the exporter's runtime then has one worker "
           "thread; nginx one worker process, `sendfile on`, `tcp_nodelay on`, `open_file_cache`, "
           "`gzip_static on`, access log off; `tcp_nopush` is left off, since with it nginx stalled about "
           "40 ms at p99 on loopback)."]
        + ["", *table, "", "Targets (ratios taken within each round, then the median):", "", *targets, "",
           "Notes:", "",
           f"- With {loads[0][0]} connections kept busy, latency is mostly queueing: {loads[0][0]} requests in "
           f"flight at {med(plain_load, 'rps'):,.0f} plain responses/s is {little * 1000:.1f} ms each on "
           "average (Little's law), whatever the server. The one-connection rows are what a Prometheus "
           "scrape sees.",
           "- Server CPU per request is the server's user + system CPU time during the run divided by its "
           "requests (nginx: master and worker); it compares the servers' cost even where wrk, pinned to the "
           "other CPU, is the limit.",
           f"- The whole run took {(time.monotonic() - started_all) / 60:.1f} minutes."]
    )
    print(body)
    if not args.no_write:
        b.write_section("scrape-serving", body)


if __name__ == "__main__":
    sys.exit(main())
