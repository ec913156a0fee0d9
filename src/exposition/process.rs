//! The exporter's own `process_*` metrics: the prometheus crate's process collector, with
//! `process_cpu_seconds_total` in fractions of a second. The crate divides the kernel's clock
//! ticks by the ticks per second as whole numbers, so the counter moves in steps of a second
//! and `rate()` over it is a staircase; the kernel counts in hundredths.

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::{self, MetricFamily};

/// The family whose value is replaced.
const CPU: &str = "process_cpu_seconds_total";

/// The crate's collector, its CPU time made precise.
pub(super) struct ProcessMetrics {
    inner: ProcessCollector,
}

impl ProcessMetrics {
    /// The metrics of this process.
    pub(super) fn for_self() -> Self {
        ProcessMetrics {
            inner: ProcessCollector::for_self(),
        }
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.inner.collect();
        let Some(seconds) = cpu_seconds() else {
            return families;
        };
        for family in families.iter_mut().filter(|f| f.name() == CPU) {
            for metric in family.mut_metric() {
                let mut counter = proto::Counter::default();
                counter.set_value(seconds);
                metric.set_counter(counter);
            }
        }
        families
    }
}

/// User and system CPU time of this process, in seconds: `/proc/self/stat`'s `utime` and
/// `stime` (clock ticks) over the ticks per second.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = stat_ticks(&stat)?;
    Some(ticks as f64 / procfs::ticks_per_second() as f64)
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (field 2, in parentheses)
/// may hold spaces and parentheses itself: the fields are counted from the last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: state (field 3) ... utime (14), stime (15).
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticks_are_read_after_the_command_name_whatever_it_holds() {
        let line = "4242 (iam key (exporter)) S 1 4242 4242 0 -1 4194560 2203 0 0 0 \
                    157 43 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(stat_ticks(line), Some(200));
        assert_eq!(stat_ticks("garbage"), None);
    }

    /// The CPU counter has fractions of a second (the crate's has none), and the other
    /// process metrics are all still there.
    #[test]
    fn cpu_seconds_have_fractions_and_the_other_process_metrics_stay() {
        // Spend some CPU, so that the counter is past a few ticks.
        let start = std::time::Instant::now();
        let mut x = 0_u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 1);
        let families = ProcessMetrics::for_self().collect();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for name in [
            CPU,
            "process_open_fds",
            "process_max_fds",
            "process_virtual_memory_bytes",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let cpu = families.iter().find(|f| f.name() == CPU).unwrap();
        let value = cpu.get_metric()[0].get_counter().get_value();
        let after = cpu_seconds().unwrap();
        // Within a few ticks of a reading just after: not rounded down to a whole second.
        assert!(value > 0.0 && value <= after, "{value} vs {after}");
        assert!(after - value < 0.1, "{value} vs {after}");
    }
}
