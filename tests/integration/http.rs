//! The HTTP surface: routes, methods, compression, health and readiness.

use std::io::Read;

use crate::fake_iam::FakeIam;
use crate::helpers::{get, populated, request, spawn_app, spawn_with_fake, Scrape};

async fn ready_app() -> (FakeIam, crate::helpers::TestApp) {
    let (fake, app) = spawn_with_fake(populated(50), &[]).await;
    app.wait_for("the first refresh", |s| {
        s.value("iam_account_users", &[]) == Some(50.0)
    })
    .await;
    (fake, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_plain_or_gzipped_as_the_client_asks() {
    let (_fake, app) = ready_app().await;
    let plain = get(app.addr, "/metrics", &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));

    let gzipped = get(
        app.addr,
        "/metrics",
        &[("Accept-Encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert!(gzipped.body.len() < plain.body.len() / 3);
    let mut inflated = String::new();
    flate2::read::GzDecoder::new(&gzipped.body[..])
        .read_to_string(&mut inflated)
        .unwrap();
    assert_eq!(
        Scrape::parse(&inflated).samples.len(),
        Scrape::parse(&plain.text()).samples.len()
    );

    let refused = get(app.addr, "/metrics", &[("Accept-Encoding", "gzip;q=0")]).await;
    assert_eq!(refused.header("content-encoding"), None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_get_405_and_unknown_paths_404() {
    let (_fake, app) = ready_app().await;
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = request(app.addr, method, "/metrics", &[("Content-Length", "0")]).await;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(get(app.addr, "/nope", &[]).await.status, 404);
    assert_eq!(get(app.addr, "/metrics/extra", &[]).await.status, 404);
    let head = request(app.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_links_to_the_metrics_and_health_is_always_ok() {
    let (_fake, app) = ready_app().await;
    let landing = get(app.addr, "/", &[]).await;
    assert_eq!(landing.status, 200);
    assert!(landing.text().contains("<a href=\"/metrics\">"));
    assert_eq!(get(app.addr, "/-/healthy", &[]).await.status, 200);
    assert_eq!(get(app.addr, "/-/ready", &[]).await.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_first_successful_refresh() {
    let fake = FakeIam::start(populated(3)).await;
    fake.inject(None, crate::fake_iam::FaultKind::ServerError, None);
    let app = spawn_app(&fake.endpoint(), &[]).await;
    app.wait_for("a failed refresh", |s| {
        s.value("iam_exporter_refresh_success", &[]) == Some(0.0)
    })
    .await;
    let response = get(app.addr, "/-/ready", &[]).await;
    assert_eq!(response.status, 503);
    assert_eq!(get(app.addr, "/-/healthy", &[]).await.status, 200);
    // Metrics are still served: the exporter's own health tells what is wrong.
    assert!(get(app.addr, "/metrics", &[])
        .await
        .text()
        .contains("iam_exporter_build_info{"));
    fake.with(|s| s.faults.clear());
    crate::helpers::eventually("readiness", std::time::Duration::from_secs(20), || async {
        get(app.addr, "/-/ready", &[]).await.status == 200
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_telemetry_path_is_the_only_metrics_path() {
    let (_fake, app) = spawn_with_fake(
        populated(1),
        &[("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", "/iam/metrics")],
    )
    .await;
    assert_eq!(get(app.addr, "/iam/metrics", &[]).await.status, 200);
    assert_eq!(get(app.addr, "/metrics", &[]).await.status, 404);
    assert!(get(app.addr, "/", &[])
        .await
        .text()
        .contains("href=\"/iam/metrics\""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_fake, app) = spawn_with_fake(
        populated(1),
        &[("IAM_KEY_EXPORTER_WEB__HEADER_READ_TIMEOUT", "500ms")],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        closed.is_ok(),
        "the server closed the connection after the timeout"
    );
    app.stop().await;
}

/// 100 slow readers (each pipelines 100 scrapes and never reads an answer) and 100 slowloris
/// clients (one header byte at a time), far beyond `web.max_connections` (64), held open while
/// a scraper asks 10 times a second on fresh connections: at least 99% of its scrapes get a
/// complete answer within 1 s. Loopback only; every loop is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_and_slowloris_clients_cannot_starve_a_scraper() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let (_fake, app) = spawn_with_fake(
        populated(3_000),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1h")],
    )
    .await;
    app.wait_for("the first refresh", |s| {
        s.value("iam_account_users", &[]) == Some(3_000.0)
    })
    .await;
    let addr = app.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for i in 0..200 {
        let (stop, connected) = (stop.clone(), connected.clone());
        attackers.push(tokio::spawn(async move {
            let mut first = true;
            // Reconnects whenever the server closes it, until the test ends.
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if first {
                    connected.fetch_add(1, Ordering::Relaxed);
                    first = false;
                }
                if i % 2 == 0 {
                    // Slow reader: a hundred pipelined scrapes, no answer ever read.
                    let one = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                    let _ = stream.write_all(one.repeat(100).as_bytes()).await;
                    while !stop.load(Ordering::Relaxed) {
                        if stream.write_all(b"").await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                } else {
                    // Slowloris: the request head one byte at a time.
                    let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ";
                    let mut broken = false;
                    for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if stream.write_all(&[*byte]).await.is_err() {
                            broken = true;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    if !broken {
                        break;
                    }
                }
            }
        }));
    }
    crate::helpers::eventually("200 hostile connections", Duration::from_secs(20), || {
        let connected = connected.clone();
        async move { connected.load(Ordering::Relaxed) == 200 }
    })
    .await;

    let mut latencies = Vec::new();
    let mut answered = 0;
    let mut next = tokio::time::Instant::now();
    for _ in 0..100 {
        next += Duration::from_millis(100);
        let started = Instant::now();
        let scrape = tokio::time::timeout(
            Duration::from_secs(1),
            iam_key_exporter_testkit::try_request(addr, "GET", "/metrics", &[]),
        )
        .await;
        if let Ok(Ok(response)) = scrape {
            if response.status == 200 && response.text().contains("iam_account_users{") {
                answered += 1;
                latencies.push(started.elapsed());
            }
        }
        tokio::time::sleep_until(next).await;
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.abort();
    }
    latencies.sort();
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    eprintln!("scrapes answered within 1 s under 200 hostile connections: {answered}/100, p50 {p50:?}, p99 {p99:?}");
    assert!(
        answered >= 99,
        "only {answered} of 100 scrapes answered within 1 s"
    );
    app.stop().await;
}

/// The exporter's own process, as every exporter shows it, read at each scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporters_own_process_metrics_are_served() {
    let (_fake, app) = ready_app().await;
    let scrape = app.scrape().await;
    for name in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        let value = scrape.value(name, &[]);
        assert!(value.is_some_and(|v| v >= 0.0), "{name}: {value:?}");
    }
    let rss = scrape.value("process_resident_memory_bytes", &[]).unwrap();
    assert!(
        rss > 1_000_000.0,
        "a real resident size, not a placeholder: {rss}"
    );
    app.stop().await;
}
