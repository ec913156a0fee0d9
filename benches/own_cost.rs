//! Benchmark B: the exporter's own cost against the fake IAM at 5,000, 50,000 and 100,000 users.
//!
//! Run: `cargo bench --bench own_cost` (extra arguments after `--`: `--sizes 5000,50000`,
//! `--runs N`, `--concurrency N`, `--no-write`). Writes the `own-cost` section of
//! `docs/benchmarks.md`.
//!
//! Layout: the fake IAM of the tests (the testkit crate's `fake_iam`, zero latency) runs in
//! this process; the release binary cargo built for this bench runs as a child against it, once per
//! measurement, refreshing once at start (`refresh.interval = 1h`). Once `/-/ready` answers 200
//! the bench reads the child's CPU time (`/proc/PID/stat`), `/metrics` plain and gzipped (the
//! refresh duration and request counts are the exporter's own metrics), and its peak RSS
//! (`VmHWM`), then stops it. Variants run interleaved within each round, and medians are
//! reported: the machine is shared and noisy. The HTTP client and the metrics parser are the
//! tests' (testkit); the machine description and the Markdown section are written by the
//! Python benchmarks' library (`benches/benchlib.py`), so every section looks alike.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction};
use iam_key_exporter_testkit::fake_iam::{self, FakeIam, Report, State};
use iam_key_exporter_testkit::{http, Scrape};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// The section of `docs/benchmarks.md` this bench writes.
const SECTION: &str = "own-cost";
const COMMAND: &str = "cargo bench --bench own_cost";

/// How the exporter is configured for one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    /// The default: API mode, last use from a fresh (minutes-old) credential report; the
    /// creators of the offenders' keys looked up beside the refreshes.
    ApiLastUsed,
    /// The default without the creators' lookups (`collector.key_creators = false`): what
    /// they cost the default, side by side.
    ApiNoCreators,
    /// API mode, last use asked per key: the report calls are denied (the fallback).
    ApiPerKey,
    /// API mode without last use.
    ApiNoLastUsed,
    /// `ApiNoLastUsed` with the `--baseline` binary, for CPU per request side by side.
    Baseline,
    /// Credential-report mode with a fresh (complete, minutes-old) report in the fake; flagged
    /// users confirmed (the default).
    FreshReport,
    /// The same without confirmation (`collector.confirm_report_offenders = false`).
    FreshReportUnconfirmed,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::ApiLastUsed,
        Variant::ApiNoCreators,
        Variant::ApiPerKey,
        Variant::ApiNoLastUsed,
        Variant::Baseline,
        Variant::FreshReport,
        Variant::FreshReportUnconfirmed,
    ];

    fn describe(self) -> &'static str {
        match self {
            Variant::ApiLastUsed => "API, last use from a fresh report (default)",
            Variant::ApiNoCreators => "API, last use from a fresh report, key creators off",
            Variant::ApiPerKey => "API, last use per key (no report permission)",
            Variant::ApiNoLastUsed => "API, last-used off",
            Variant::Baseline => "API, last-used off, `--baseline` binary",
            Variant::FreshReport => "credential report, fresh, confirmed (default)",
            Variant::FreshReportUnconfirmed => {
                "credential report, fresh, unconfirmed, no exemption tags"
            }
        }
    }

    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Variant::ApiLastUsed | Variant::ApiPerKey => &[("COLLECTOR__LAST_USED", "true")],
            Variant::ApiNoCreators => &[
                ("COLLECTOR__LAST_USED", "true"),
                ("COLLECTOR__KEY_CREATORS", "false"),
            ],
            Variant::ApiNoLastUsed | Variant::Baseline => &[("COLLECTOR__LAST_USED", "false")],
            Variant::FreshReport => &[("COLLECTOR__SOURCE", "credential-report")],
            Variant::FreshReportUnconfirmed => &[
                ("COLLECTOR__SOURCE", "credential-report"),
                ("COLLECTOR__CONFIRM_REPORT_OFFENDERS", "false"),
                ("COLLECTOR__EXEMPTION_TAGS", "false"),
            ],
        }
    }

    /// Whether the fake holds a complete report generated minutes ago.
    fn fresh_report(self) -> bool {
        matches!(
            self,
            Variant::ApiLastUsed
                | Variant::ApiNoCreators
                | Variant::FreshReport
                | Variant::FreshReportUnconfirmed
        )
    }
}

/// One measurement.
#[derive(Debug, Clone)]
struct Sample {
    /// `iam_exporter_refresh_duration_seconds`.
    refresh: f64,
    /// The child's user + system CPU seconds from start until ready.
    cpu: f64,
    /// The part of `cpu` spent in the kernel.
    sys_cpu: f64,
    /// This process's (the fake's) CPU seconds over the same time.
    fake_cpu: f64,
    /// CPU seconds every other process on the machine used over the same time: the noise.
    other_cpu: f64,
    /// `VmHWM`, bytes.
    peak_rss: u64,
    plain_bytes: usize,
    gzip_bytes: usize,
    /// Successful requests by operation, from `iam_exporter_aws_requests_total`.
    requests: BTreeMap<String, u64>,
}

impl Sample {
    fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

struct Args {
    sizes: Vec<usize>,
    runs: Option<usize>,
    /// `collector.concurrency`, when not the default.
    concurrency: Option<String>,
    write: bool,
    /// Run the organization scenario instead (`--organization`).
    organization: bool,
    /// Another build of the exporter, measured as [`Variant::Baseline`].
    baseline: Option<PathBuf>,
    /// Only these variants (`--variants`), for profiling one.
    variants: Option<Vec<Variant>>,
}

fn parse_args() -> Args {
    let matches = clap::Command::new("own_cost")
        .about("Benchmark B: the exporter's own cost against the fake IAM")
        // cargo bench passes `--bench` to every bench binary.
        .arg(
            Arg::new("bench")
                .long("bench")
                .action(ArgAction::SetTrue)
                .hide(true),
        )
        .arg(
            Arg::new("sizes")
                .long("sizes")
                .value_name("N,N")
                .help("Users per measurement"),
        )
        .arg(
            Arg::new("runs")
                .long("runs")
                .value_name("N")
                .value_parser(clap::value_parser!(usize)),
        )
        .arg(Arg::new("concurrency").long("concurrency").value_name("N"))
        .arg(
            Arg::new("no-write")
                .long("no-write")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("baseline")
                .long("baseline")
                .value_name("BINARY")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Another iam-key-exporter binary (an older commit's), measured side by side with API mode, last-used off"),
        )
        .arg(
            Arg::new("variants")
                .long("variants")
                .value_name("N,N")
                .help("Only these variants, by position in the table (0-based), e.g. for `perf record`"),
        )
        .arg(
            Arg::new("organization")
                .long("organization")
                .action(ArgAction::SetTrue)
                .help("200 accounts x 500 users through assumed roles: one replica against two, with and without a hanging account"),
        )
        .get_matches();
    let sizes = matches.get_one::<String>("sizes").map_or_else(
        || vec![5_000, 50_000, 100_000],
        |list| {
            list.split(',')
                .map(|n| n.trim().replace('_', "").parse().expect("--sizes: numbers"))
                .collect()
        },
    );
    Args {
        sizes,
        runs: matches.get_one::<usize>("runs").copied(),
        concurrency: matches.get_one::<String>("concurrency").cloned(),
        write: !matches.get_flag("no-write"),
        organization: matches.get_flag("organization"),
        baseline: matches.get_one::<PathBuf>("baseline").cloned(),
        variants: matches.get_one::<String>("variants").map(|list| {
            list.split(',')
                .map(|n| Variant::ALL[n.trim().parse::<usize>().expect("--variants: numbers")])
                .collect()
        }),
    }
}

fn main() {
    let args = parse_args();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_iam-key-exporter"));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --release`, then `{COMMAND}`",
        binary.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let machine = machine();
    let started = Instant::now();
    if args.organization {
        let body = runtime.block_on(organization::run(&binary, &machine, args.runs.unwrap_or(3)));
        println!("{body}");
        if args.write {
            benchlib(&["write-section", organization::SECTION], &body);
        }
        return;
    }
    let results = runtime.block_on(run_all(&binary, &args));
    let body = report(&args, &machine, &results, started.elapsed());
    println!("{body}");
    if args.write {
        write_section(&body);
    }
}

/// Every size, each with its rounds of interleaved variants.
async fn run_all(binary: &Path, args: &Args) -> BTreeMap<(usize, Variant), Vec<Sample>> {
    let mut results: BTreeMap<(usize, Variant), Vec<Sample>> = BTreeMap::new();
    for &size in &args.sizes {
        let runs = args.runs.unwrap_or(if size <= 5_000 { 5 } else { 3 });
        for round in 0..runs {
            let mut order: Vec<Variant> = match &args.variants {
                Some(only) => only.clone(),
                None => Variant::ALL.to_vec(),
            };
            order.retain(|&v| v != Variant::Baseline || args.baseline.is_some());
            let len = order.len();
            order.rotate_left(round % len);
            for variant in order {
                let binary = match variant {
                    Variant::Baseline => args.baseline.as_deref().expect("--baseline"),
                    _ => binary,
                };
                let sample = measure(binary, size, variant, args.concurrency.as_deref())
                    .await
                    .unwrap_or_else(|err| panic!("{size} users, {variant:?}: {err}"));
                eprintln!(
                    "own_cost: {size} users, {} (run {}/{runs}): refresh {:.3} s, cpu {:.2} s, \
                     peak RSS {:.1} MiB, body {} / {} bytes, {} requests",
                    variant.describe(),
                    round + 1,
                    sample.refresh,
                    sample.cpu,
                    mib(sample.peak_rss),
                    sample.plain_bytes,
                    sample.gzip_bytes,
                    sample.total_requests()
                );
                results.entry((size, variant)).or_default().push(sample);
            }
        }
    }
    results
}

/// One exporter process against a fresh fake with `size` users.
async fn measure(
    binary: &Path,
    size: usize,
    variant: Variant,
    concurrency: Option<&str>,
) -> Result<Sample, String> {
    let mut state = State::default();
    state.populate(size);
    if variant.fresh_report() {
        state.report_csv = fake_iam::credential_report_csv(&state);
        state.report = Report::Complete {
            generated: fake_iam::now() - 600,
        };
    }
    // `populate`: the users with `i % 3 == 2` have two active keys.
    let expected = (size, (0..size).filter(|i| i % 3 == 2).count());
    let fake = FakeIam::start(state).await;
    if variant == Variant::ApiPerKey {
        for action in ["GetCredentialReport", "GenerateCredentialReport"] {
            fake.inject(Some(action), fake_iam::FaultKind::AccessDenied, None);
        }
    }
    let fake_cpu_before = process_cpu("self")?.0;
    let machine_cpu_before = machine_busy_cpu()?;

    let mut command = exporter_command(binary, &fake.endpoint());
    command
        .env("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "10m")
        .env("IAM_KEY_EXPORTER_LOG__FORMAT", "logfmt")
        .env("IAM_KEY_EXPORTER_LOG__LEVEL", "info")
        // 100,000 users make a credential report of some 40 MB, over the default cap.
        .env("IAM_KEY_EXPORTER_AWS__MAX_RESPONSE_SIZE", "128MiB")
        // 100,000 users in one account: far past IAM's quota, and the default cap.
        .env("IAM_KEY_EXPORTER_COLLECTOR__MAX_USERS", "1000000");
    for (key, value) in variant.settings() {
        command.env(format!("IAM_KEY_EXPORTER_{key}"), value);
    }
    if let Some(concurrency) = concurrency {
        command.env("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", concurrency);
    }

    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
    let (logs, address) = watch_logs(&mut child);
    let before = (fake_cpu_before, machine_cpu_before);
    let result = measure_child(&mut child, address, &logs, before, expected, variant).await;
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let sample = result.map_err(|err| {
        let tail = logs.lock().unwrap().join("\n");
        format!("{err}; the exporter's last log lines:\n{tail}")
    })?;

    let served = fake.with(|s| s.total_requests());
    if served != sample.total_requests() {
        return Err(format!(
            "the exporter counts {} requests, the fake served {served}",
            sample.total_requests()
        ));
    }
    Ok(sample)
}

/// The exporter as a child against the fake at `endpoint`: an environment of its own (dummy
/// credentials, nothing of the user's AWS set-up), a free port, one refresh at start.
fn exporter_command(binary: &Path, endpoint: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS", "127.0.0.1:0")
        .env("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")
        .env("IAM_KEY_EXPORTER_AWS__ENDPOINT_URL", endpoint);
    command
}

/// Reads the child's stderr to the end (so it never blocks), keeping the last lines, and
/// announces the address from its "listening" line.
fn watch_logs(child: &mut Child) -> (Arc<Mutex<Vec<String>>>, oneshot::Receiver<SocketAddr>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = oneshot::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let kept = logs.clone();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("iam-key-exporter listening") {
                let address = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("address="))
                    .and_then(|value| value.trim_matches('"').parse().ok());
                if let Some(address) = address {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(address);
                    }
                }
            }
            let mut kept = kept.lock().unwrap();
            kept.push(line);
            if kept.len() > 20 {
                kept.remove(0);
            }
        }
    });
    (logs, rx)
}

async fn measure_child(
    child: &mut Child,
    address: oneshot::Receiver<SocketAddr>,
    logs: &Mutex<Vec<String>>,
    (fake_cpu_before, machine_cpu_before): (f64, f64),
    (users, offenders): (usize, usize),
    variant: Variant,
) -> Result<Sample, String> {
    let pid = child.id().ok_or("the exporter exited at once")?;
    let addr = tokio::time::timeout(Duration::from_secs(60), address)
        .await
        .map_err(|_| "no `listening` log line within 60 s".to_owned())?
        .map_err(|_| "the exporter exited before listening".to_owned())?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the exporter exited with {status}"));
        }
        if matches!(get(addr, "/-/ready", false).await, Ok((200, _))) {
            break;
        }
        if Instant::now() > deadline {
            return Err("not ready after 600 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (cpu, sys_cpu) = process_cpu(&pid.to_string())?;
    let fake_cpu = process_cpu("self")?.0 - fake_cpu_before;
    let other_cpu = (machine_busy_cpu()? - machine_cpu_before - cpu - fake_cpu).max(0.0);

    let (status, plain) = get(addr, "/metrics", false)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET /metrics answered {status}"));
    }
    let (status, gzip) = get(addr, "/metrics", true)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET /metrics (gzip) answered {status}"));
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(gzip.as_slice())
        .read_to_end(&mut inflated)
        .map_err(|err| format!("the gzip body does not inflate: {err}"))?;
    // The process metrics are read at each scrape; everything else must be the same bytes.
    let without_process = |body: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(body)
            .lines()
            .filter(|line| {
                !(line.starts_with("process_")
                    || line.starts_with("# HELP process_")
                    || line.starts_with("# TYPE process_"))
            })
            .map(str::to_owned)
            .collect()
    };
    if without_process(&inflated) != without_process(&plain) {
        return Err("the gzip body is not the plain body compressed".to_owned());
    }
    let peak_rss = proc_status_kib(pid, "VmHWM")? * 1024;

    let scrape = Scrape::parse(&String::from_utf8_lossy(&plain));
    let one = |name: &str| scrape.find(name, &[]).first().map(|sample| sample.value);
    let refresh = one("iam_exporter_refresh_duration_seconds");
    let succeeded = one("iam_exporter_refresh_success").is_some_and(|value| value > 0.5);
    let counted = (
        one("iam_account_users").map(|v| v as usize),
        one("iam_account_users_with_multiple_active_access_keys").map(|v| v as usize),
    );
    let mut requests = BTreeMap::new();
    for sample in scrape.find("iam_exporter_aws_requests_total", &[]) {
        let operation = &sample.labels["operation"];
        // Denied on purpose: the fallback's trigger.
        let expected_failure = variant == Variant::ApiPerKey
            && operation == "GetCredentialReport"
            && sample.labels["outcome"] == "access_denied";
        if sample.labels["outcome"] == "success" || expected_failure {
            *requests.entry(operation.clone()).or_default() += sample.value as u64;
        } else if sample.value > 0.0 {
            return Err(format!("a request failed: {sample:?}"));
        }
    }
    if !succeeded {
        let tail = logs.lock().unwrap().join("\n");
        return Err(format!("the refresh did not succeed:\n{tail}"));
    }
    if counted != (Some(users), Some(offenders)) {
        return Err(format!(
            "the exporter counts (users, offenders) {counted:?}, the fake has ({users}, {offenders})"
        ));
    }
    Ok(Sample {
        refresh: refresh.ok_or("no iam_exporter_refresh_duration_seconds")?,
        cpu,
        sys_cpu,
        fake_cpu,
        other_cpu,
        peak_rss,
        plain_bytes: plain.len(),
        gzip_bytes: gzip.len(),
        requests,
    })
}

/// A GET over a fresh connection: status and body.
async fn get(addr: SocketAddr, path: &str, gzip: bool) -> std::io::Result<(u16, Vec<u8>)> {
    let headers: &[(&str, &str)] = if gzip {
        &[("Accept-Encoding", "gzip")]
    } else {
        &[]
    };
    let response = http::try_request(addr, "GET", path, headers).await?;
    Ok((response.status, response.body))
}

/// (user + system, system) CPU seconds of a process (`self` or a PID).
fn process_cpu(pid: &str) -> Result<(f64, f64), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|err| format!("/proc/{pid}/stat: {err}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 from the state field.
    let field = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|ticks| ticks as f64 / clock_ticks())
            .ok_or_else(|| format!("/proc/{pid}/stat: no field {}", i + 3))
    };
    let (user, system) = (field(11)?, field(12)?);
    Ok((user + system, system))
}

/// CPU seconds the whole machine has spent busy since boot (`/proc/stat`: all but idle and
/// iowait).
fn machine_busy_cpu() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|err| format!("/proc/stat: {err}"))?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or("/proc/stat: no cpu line")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Ok(busy as f64 / clock_ticks())
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn proc_status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|err| format!("/proc/{pid}/status: {err}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn seconds(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.2} s")
    } else {
        format!("{:.0} ms", value * 1000.0)
    }
}

fn size_text(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**MISSED**"
    }
}

/// The median sample of a cell, field by field.
struct Medians {
    refresh: f64,
    cpu: f64,
    sys_cpu: f64,
    fake_cpu: f64,
    other_cpu: f64,
    peak_rss: f64,
    plain: f64,
    gzip: f64,
    requests: BTreeMap<String, u64>,
    runs: usize,
}

fn medians(samples: &[Sample]) -> Medians {
    let of = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Medians {
        refresh: of(|s| s.refresh),
        cpu: of(|s| s.cpu),
        sys_cpu: of(|s| s.sys_cpu),
        fake_cpu: of(|s| s.fake_cpu),
        other_cpu: of(|s| s.other_cpu),
        peak_rss: of(|s| s.peak_rss as f64),
        plain: of(|s| s.plain_bytes as f64),
        gzip: of(|s| s.gzip_bytes as f64),
        // The same data every run: the counts do not vary.
        requests: samples[0].requests.clone(),
        runs: samples.len(),
    }
}

fn report(
    args: &Args,
    machine: &[String],
    results: &BTreeMap<(usize, Variant), Vec<Sample>>,
    took: Duration,
) -> String {
    let mut out = vec![
        "## Own cost against the fake IAM".to_owned(),
        String::new(),
        format!("Command: `{COMMAND}`"),
        String::new(),
    ];
    out.extend(machine.iter().map(|line| format!("- {line}")));
    out.push(
        "- Data: `State::populate(n)` of the testkit crate's fake IAM (`testkit/src/fake_iam.rs`): user `i` has `i % 3` active \
         keys, and every tenth user with fewer than two keys one more, inactive; zero latency, in \
         the bench's process."
            .to_owned(),
    );
    out.push(String::new());
    out.push(
        "| Users | Variant | Refresh wall time | Exporter CPU (of it kernel) | CPU per request | \
         Peak RSS | /metrics plain | /metrics gzip | IAM requests | Fake IAM CPU | Other processes' CPU | Runs |"
            .to_owned(),
    );
    out.push("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned());
    let mut cells = BTreeMap::new();
    for (&(size, variant), samples) in results {
        let m = medians(samples);
        let requests: u64 = m.requests.values().sum();
        out.push(format!(
            "| {} | {} | {} | {} ({}) | {} | {:.1} MiB | {} | {} | {} | {} | {} | {} |",
            thousands(size as u64),
            variant.describe(),
            seconds(m.refresh),
            seconds(m.cpu),
            seconds(m.sys_cpu),
            // Start-up and rendering dominate below a few hundred requests.
            if requests >= 1000 {
                format!("{:.0} µs", m.cpu / requests as f64 * 1e6)
            } else {
                "–".to_owned()
            },
            mib(m.peak_rss as u64),
            size_text(m.plain),
            size_text(m.gzip),
            thousands(requests),
            seconds(m.fake_cpu),
            seconds(m.other_cpu),
            m.runs
        ));
        cells.insert((size, variant), m);
    }

    out.push(String::new());
    out.push("Targets:".to_owned());
    out.push(String::new());
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    let smallest = args.sizes.iter().copied().min().unwrap_or(0);
    // One line per target, the variants side by side.
    let line = |size: usize, target: &str, verdicts: Vec<String>| {
        format!(
            "- {target} at {} users: {}.",
            thousands(size as u64),
            verdicts.join("; ")
        )
    };
    let each = |size: usize, judge: &dyn Fn(&Medians) -> (String, bool)| -> Vec<String> {
        Variant::ALL
            .iter()
            .filter_map(|&variant| {
                let (value, ok) = judge(cells.get(&(size, variant))?);
                Some(format!(
                    "{} **{value}**, {}",
                    variant.describe(),
                    verdict(ok)
                ))
            })
            .collect()
    };
    out.push(line(
        largest,
        "Refreshed in under 10 s",
        each(largest, &|m| (seconds(m.refresh), m.refresh < 10.0)),
    ));
    out.push(line(
        smallest,
        "Peak RSS under 30 MiB",
        each(smallest, &|m| {
            (
                format!("{:.1} MiB", mib(m.peak_rss as u64)),
                mib(m.peak_rss as u64) < 30.0,
            )
        }),
    ));
    out.push(line(
        largest,
        "Peak RSS under 3x the plain body + 20 MiB",
        each(largest, &|m| {
            let limit = 3.0 * m.plain + 20.0 * 1024.0 * 1024.0;
            (
                format!(
                    "{:.1} MiB (limit {:.1} MiB)",
                    mib(m.peak_rss as u64),
                    mib(limit as u64)
                ),
                m.peak_rss < limit,
            )
        }),
    ));
    for size in [smallest, largest] {
        let requests = |m: &Medians| -> u64 {
            m.requests
                .iter()
                .filter(|(op, _)| op.as_str() != "GetCallerIdentity")
                .map(|(_, n)| n)
                .sum()
        };
        let verdicts: Vec<String> = each(size, &|m| (thousands(requests(m)), requests(m) <= 3))
            .into_iter()
            .filter(|v| v.starts_with("credential report"))
            .collect();
        out.push(line(
            size,
            "Credential-report mode, at most 3 IAM requests per refresh when a fresh report \
             exists (`GetCallerIdentity`, asked once per process, left out)",
            verdicts,
        ));
        if smallest == largest {
            break;
        }
    }

    for &size in &args.sizes {
        let Some(m) = cells.get(&(size, Variant::ApiLastUsed)) else {
            continue;
        };
        let tags = m.requests.get("ListUserTags").copied().unwrap_or(0);
        // CloudTrail's lookups of the offenders' key creators run beside the refresh, not in
        // it, and are not IAM's: the few made before `/-/ready` are left out.
        let lookups = m.requests.get("LookupEvents").copied().unwrap_or(0);
        let rest: u64 = m.requests.values().sum::<u64>() - tags - lookups;
        let bound = size as u64 + (size as u64).div_ceil(1000) + 5;
        out.push(format!(
            "- API mode, default, with a fresh report: at most users + ⌈users / 1,000⌉ + 5 = {} \
             IAM requests at {} users: **{}**, {} (and {} `ListUserTags`, one per user with two \
             active keys, for the exemption tags: a third of the users in this data).",
            thousands(bound),
            thousands(size as u64),
            thousands(rest),
            verdict(rest <= bound),
            thousands(tags)
        ));
    }
    for &size in &args.sizes {
        if let (Some(on), Some(off)) = (
            cells.get(&(size, Variant::ApiLastUsed)),
            cells.get(&(size, Variant::ApiNoCreators)),
        ) {
            let ratio = on.refresh / off.refresh.max(1e-9);
            out.push(format!(
                "- The key creators' lookups (on by default) leave the default's refresh as it \
                 was, within this machine's noise (at most 1.15x) at {} users: **{}** against {} \
                 with them off, {ratio:.2}x, {}.",
                thousands(size as u64),
                seconds(on.refresh),
                seconds(off.refresh),
                verdict(ratio <= 1.15)
            ));
        }
    }
    if args.baseline.is_some() {
        for &size in &args.sizes {
            let per_request = |variant: Variant| {
                cells.get(&(size, variant)).map(|m| {
                    let requests: u64 = m.requests.values().sum();
                    m.cpu / requests.max(1) as f64 * 1e6
                })
            };
            if let (Some(now), Some(before)) = (
                per_request(Variant::ApiNoLastUsed),
                per_request(Variant::Baseline),
            ) {
                out.push(format!(
                    "- Exporter CPU per request at most half the baseline's at {} users (API \
                     mode, last-used off, the same requests): **{now:.0} µs** against {before:.0} \
                     µs, {:.2}x, {}.",
                    thousands(size as u64),
                    now / before,
                    verdict(now <= before / 2.0)
                ));
            }
        }
    }

    out.push(String::new());
    out.push("Notes:".to_owned());
    out.push(String::new());
    let concurrency = match &args.concurrency {
        Some(n) => format!("`collector.concurrency` = {n}"),
        None => "default `collector.concurrency` = 4".to_owned(),
    };
    out.push(format!(
        "- Refresh wall time is the exporter's own `iam_exporter_refresh_duration_seconds` for \
         its first refresh ({concurrency}). Exporter CPU is user + system \
         time of the whole process from start until `/-/ready` (start-up, refresh, rendering and \
         gzip). Peak RSS is `VmHWM` after the bodies were fetched. Fake IAM CPU is this bench \
         process over the same time (the fake and the bench's polling): the fake and the exporter \
         share the machine's CPUs. Other processes' CPU is what the rest of the machine (other \
         users of this shared machine, and interrupt handling) was busy with meanwhile: the noise. CPU per request is the \
         exporter's CPU over its IAM requests."
    ));
    out.push(
        "- Credential-report mode: the fake holds a complete report generated 10 minutes \
         earlier, so the refresh asks `GetCredentialReport` once; with confirmation (the \
         default), each user the report flags (two active keys: a third of the users here) is \
         then confirmed with `ListAccessKeys`; `unconfirmed` is \
         `collector.confirm_report_offenders = false`."
            .to_owned(),
    );
    // Why a refresh target is missed (or nearly): who used the CPUs meanwhile.
    for variant in Variant::ALL {
        let Some(m) = cells.get(&(largest, variant)) else {
            continue;
        };
        if m.refresh < 9.0 {
            continue;
        }
        let requests: u64 = m.requests.values().sum();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let floor = m.cpu / cpus;
        let fake = if m.cpu > 2.0 * m.fake_cpu {
            "the fake is not the limit"
        } else {
            "the fake took a large share"
        };
        let outlook = if floor >= 10.0 {
            format!(
                "even spread over all {cpus} CPUs that is at least {} of wall time: reaching 10 s \
                 takes less CPU per request or fewer requests, not only more concurrency",
                seconds(floor)
            )
        } else {
            format!(
                "spread over all {cpus} CPUs that would be {}: the CPUs were not saturated, so more \
                 requests in flight (`collector.concurrency`) may reach 10 s",
                seconds(floor)
            )
        };
        let close = if (9.0..11.0).contains(&m.refresh) {
            " Within 10% of the target: on this noisy machine a rerun may flip the verdict."
        } else {
            ""
        };
        out.push(format!(
            "- {} at {} users ({}): the exporter used {:.2} CPUs on average, the fake {:.2}, other \
             processes {:.2}: {fake}. The exporter spent {} of CPU on {} requests ({:.0} µs \
             each); {outlook}.{close}",
            variant.describe(),
            thousands(largest as u64),
            seconds(m.refresh),
            m.cpu / m.refresh,
            m.fake_cpu / m.refresh,
            m.other_cpu / m.refresh,
            seconds(m.cpu),
            thousands(requests),
            m.cpu / requests.max(1) as f64 * 1e6,
        ));
    }
    out.push(format!(
        "- The whole run took {:.1} minutes.",
        took.as_secs_f64() / 60.0
    ));
    out.join("\n")
}

/// Runs `benches/benchlib.py` with `args`, `input` on its standard input; its output.
fn benchlib(args: &[&str], input: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/benchlib.py");
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run python3 {}: {err}", script.display()));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write to benchlib.py");
    let output = child.wait_with_output().expect("benchlib.py runs");
    assert!(output.status.success(), "benchlib.py {args:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the numbers were measured on, as `benchlib.py` describes it for every section.
fn machine() -> Vec<String> {
    benchlib(&["machine"], "")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Replaces this bench's section of `docs/benchmarks.md`.
fn write_section(body: &str) {
    benchlib(&["write-section", SECTION], body);
}

/// The organization scenario: 200 member accounts of 500 users each behind `AssumeRole`, 5 ms
/// of latency on every answer; one replica against two (`sharding.count = 2`), each with and
/// without one account whose `ListUsers` never answers.
mod organization {
    use super::*;

    pub const SECTION: &str = "organization";
    const ACCOUNTS: usize = 200;
    const USERS: usize = 500;

    struct Sample {
        /// Until every account (but the hanging one) had refreshed once, all replicas together.
        wall: f64,
        /// The largest peak RSS of the replicas.
        peak_rss: u64,
        requests_per_account: f64,
    }

    fn account(i: usize) -> String {
        format!("{:012}", 300_000_000_000u64 + i as u64)
    }

    async fn measure(binary: &Path, replicas: u32, hanging: bool) -> Result<Sample, String> {
        let fake = FakeIam::start(State::default()).await;
        for i in 0..ACCOUNTS {
            let mut state = State::default();
            state.populate(USERS);
            state.account_id = account(i);
            state.latency = Duration::from_millis(5);
            if hanging && i == 0 {
                state.faults.push(fake_iam::Fault {
                    action: Some("ListUsers".to_owned()),
                    user: None,
                    kind: fake_iam::FaultKind::Delay(Duration::from_secs(3600)),
                    remaining: None,
                });
            }
            fake.add_member(state);
        }
        let dir =
            std::env::temp_dir().join(format!("iam-key-exporter-org-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let config = dir.join("config.toml");
        let accounts: String = (0..ACCOUNTS)
            .map(|i| {
                format!(
                    "[[accounts]]\nrole_arn = \"arn:aws:iam::{}:role/audit\"\n",
                    account(i)
                )
            })
            .collect();
        std::fs::write(&config, accounts).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut children = Vec::new();
        for index in 0..replicas {
            let mut command = exporter_command(binary, &fake.endpoint());
            command
                .env("IAM_KEY_EXPORTER_CONFIG_FILE", &config)
                .env("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "1h")
                .env("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "false")
                .env("IAM_KEY_EXPORTER_SHARDING__COUNT", replicas.to_string())
                .env("IAM_KEY_EXPORTER_SHARDING__INDEX", index.to_string());
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
            let (logs, address) = watch_logs(&mut child);
            let addr = tokio::time::timeout(Duration::from_secs(60), address)
                .await
                .map_err(|_| "no `listening` log line within 60 s".to_owned())?
                .map_err(|_| "the exporter exited before listening".to_owned())?;
            children.push((child, addr, logs));
        }
        let expected = if hanging { ACCOUNTS - 1 } else { ACCOUNTS };
        let deadline = Instant::now() + Duration::from_secs(900);
        let wall = loop {
            let mut refreshed = 0;
            for (_, addr, _) in &children {
                if let Ok((200, body)) = get(*addr, "/metrics", false).await {
                    let scrape = Scrape::parse(&String::from_utf8_lossy(&body));
                    refreshed += scrape
                        .find("iam_exporter_refresh_success", &[])
                        .iter()
                        .filter(|s| s.value == 1.0)
                        .count();
                }
            }
            if refreshed >= expected {
                break started.elapsed().as_secs_f64();
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "only {refreshed} of {expected} accounts after 900 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut peak_rss = 0;
        for (child, _, _) in &children {
            let pid = child.id().ok_or("an exporter exited")?;
            peak_rss = peak_rss.max(proc_status_kib(pid, "VmHWM")? * 1024);
        }
        for (mut child, _, _) in children {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let requests: u64 = (0..ACCOUNTS)
            .map(|i| fake.with_member(&account(i), |s| s.total_requests()))
            .sum();
        Ok(Sample {
            wall,
            peak_rss,
            requests_per_account: requests as f64 / ACCOUNTS as f64,
        })
    }

    pub async fn run(binary: &Path, machine: &[String], runs: usize) -> String {
        let variants = [(1, false), (2, false), (1, true), (2, true)];
        let mut samples: BTreeMap<(u32, bool), Vec<Sample>> = BTreeMap::new();
        for round in 0..runs {
            let mut order = variants.to_vec();
            order.rotate_left(round % variants.len());
            for (replicas, hanging) in order {
                let sample = measure(binary, replicas, hanging)
                    .await
                    .unwrap_or_else(|err| {
                        panic!("{replicas} replica(s), hanging {hanging}: {err}")
                    });
                eprintln!(
                    "organization: {replicas} replica(s), hanging account {hanging} (run {}/{runs}): \
                     {:.1} s, peak RSS {:.1} MiB, {:.0} requests per account",
                    round + 1,
                    sample.wall,
                    mib(sample.peak_rss),
                    sample.requests_per_account
                );
                samples.entry((replicas, hanging)).or_default().push(sample);
            }
        }
        let mut body = String::from("## An organization: 200 accounts x 500 users\n\n");
        body.push_str("Command: `cargo bench --bench own_cost -- --organization`\n\n");
        for line in machine {
            body.push_str(&format!("- {line}\n"));
        }
        body.push_str(
            "- Data: 200 member accounts of the fake IAM, reached through `AssumeRole`, each with \
             `State::populate(500)` and 5 ms of latency on every answer; API mode without last use \
             (`collector.last_used = false`), default `collector.concurrency` (4) and \
             `collector.max_concurrent_accounts` (8). The hanging account's `ListUsers` never \
             answers (`refresh.timeout` 1h).\n\n",
        );
        body.push_str("| Replicas | One account hanging | Until every other account is served | Peak RSS (largest replica) | Requests per account | Runs |\n|---:|---|---:|---:|---:|---:|\n");
        for (replicas, hanging) in variants {
            let s = &samples[&(replicas, hanging)];
            body.push_str(&format!(
                "| {replicas} | {} | {:.1} s | {:.1} MiB | {:.0} | {} |\n",
                if hanging { "yes" } else { "no" },
                median(s.iter().map(|x| x.wall).collect()),
                mib(median(s.iter().map(|x| x.peak_rss as f64).collect()) as u64),
                median(s.iter().map(|x| x.requests_per_account).collect()),
                s.len()
            ));
        }
        body.push_str(
            "\nMedians. \"Until every other account is served\": from the start of the replicas \
             until every account but the hanging one has `iam_exporter_refresh_success` 1, summed \
             over the replicas (each watches its own share). A hanging account holds one of the \
             `max_concurrent_accounts` slots and nothing else.\n",
        );
        body
    }
}
