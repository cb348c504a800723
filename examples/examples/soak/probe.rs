//! Samples of the server: `/proc`, `/metrics`, and the window of requests
//! since the last sample.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Instant;

use byok_testkit::MockUpstream;
use serde_json::{Value, json};

use crate::load::{Load, Window};
use crate::{Res, count, loadavg, opt, round, to_u64};

/// The server process as `/proc` shows it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcStat {
    pub(crate) rss_kib: u64,
    pub(crate) threads: u64,
    pub(crate) fds: u64,
    pub(crate) cpu_ticks: u64,
    /// Time its threads were ready to run but waited for a core, ns
    /// (`/proc/PID/task/*/schedstat`).
    pub(crate) wait_ns: u64,
}

pub(crate) fn proc_stat(pid: u32) -> Res<ProcStat> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    Ok(ProcStat {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds,
        cpu_ticks: cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?),
        wait_ns: run_queue_wait_ns(pid),
    })
}

/// The sum over a process's threads of the time they were runnable and
/// waited for a core (the second field of `schedstat`), ns.
fn run_queue_wait_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// utime + stime of a `/proc/.../stat` line.
pub(crate) fn cpu_ticks(stat: &str) -> u64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// This process's CPU ticks: (the mock's threads, the rest: the load
/// generator).
pub(crate) fn own_cpu() -> (u64, u64) {
    let (mut mock, mut rest) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let ticks = cpu_ticks(&stat);
        if stat.contains("(soak-mock") {
            mock += ticks;
        } else {
            rest += ticks;
        }
    }
    (mock, rest)
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// From `/metrics`: requests in flight (without the scrape itself; `None`
/// from a server without the gauge), fallbacks and failed upstream
/// attempts so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scrape {
    pub(crate) in_flight: Option<i64>,
    pub(crate) fallbacks: u64,
    pub(crate) failed_attempts: u64,
}

pub(crate) async fn scrape(http: &reqwest::Client, base: &str) -> Res<Scrape> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut s = Scrape::default();
    for line in text.lines() {
        let value = line.rsplit(' ').next().unwrap_or("0");
        if let Some(v) = line.strip_prefix("byok_in_flight_requests ") {
            s.in_flight = v.trim().parse::<i64>().ok().map(|n| n - 1);
        } else if line.starts_with("byok_fallbacks_total{") {
            s.fallbacks += value.parse::<u64>().unwrap_or(0);
        } else if line.starts_with("byok_upstream_attempts_total{") && line.contains("\"failed\"") {
            s.failed_attempts += value.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(s)
}

/// One sample: the window since the last one and the process now.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    pub(crate) t_s: f64,
    pub(crate) window_s: f64,
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) upstream: u64,
    pub(crate) gateway: u64,
    pub(crate) dropped: u64,
    pub(crate) shed: u64,
    /// Latency of the `ok` answers: all, the non-streamed, the streamed.
    pub(crate) latency: Percentiles,
    pub(crate) plain: Percentiles,
    pub(crate) stream: Percentiles,
    pub(crate) rss_mib: f64,
    pub(crate) fds: u64,
    pub(crate) threads: u64,
    pub(crate) in_flight: Option<i64>,
    pub(crate) upstream_open: usize,
    pub(crate) outstanding: usize,
    pub(crate) cpu_server_pct: f64,
    /// The server's threads waiting for a core, % of one core: high when
    /// the machine, not the server, is the limit.
    pub(crate) cpu_server_wait_pct: f64,
    pub(crate) cpu_load_pct: f64,
    pub(crate) cpu_mock_pct: f64,
    pub(crate) fallbacks: u64,
    pub(crate) failed_attempts: u64,
    pub(crate) lag_ms: f64,
    /// The machine's 1-minute load average (everything, not only the run).
    pub(crate) load1: f64,
}

impl Sample {
    pub(crate) fn rate(&self) -> f64 {
        if self.window_s > 0.0 {
            self.requests as f64 / self.window_s
        } else {
            0.0
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "t_s": round(self.t_s, 1), "window_s": round(self.window_s, 2), "requests": self.requests,
            "rate": round(self.rate(), 1), "ok": self.ok, "upstream_faults": self.upstream,
            "gateway_errors": self.gateway, "dropped": self.dropped, "shed": self.shed,
            "latency_ms": self.latency.to_json(), "plain_latency_ms": self.plain.to_json(),
            "stream_latency_ms": self.stream.to_json(),
            "rss_mib": round(self.rss_mib, 2), "fds": self.fds, "threads": self.threads,
            "in_flight": self.in_flight, "upstream_connections": self.upstream_open,
            "client_outstanding": self.outstanding, "cpu_server_pct": round(self.cpu_server_pct, 1),
            "cpu_server_wait_pct": round(self.cpu_server_wait_pct, 1),
            "cpu_load_pct": round(self.cpu_load_pct, 1), "cpu_mock_pct": round(self.cpu_mock_pct, 1),
            "fallbacks": self.fallbacks, "failed_upstream_attempts": self.failed_attempts,
            "max_schedule_lag_ms": round(self.lag_ms, 2), "loadavg_1m": self.load1,
        })
    }
}

/// Takes samples: the differences since the last one.
pub(crate) struct Sampler {
    pid: u32,
    base: String,
    started: Instant,
    last_at: Instant,
    last_proc: ProcStat,
    last_own: (u64, u64),
    last_scrape: Scrape,
    ticks_per_sec: f64,
}

impl Sampler {
    pub(crate) async fn new(pid: u32, base: &str, http: &reqwest::Client) -> Res<Self> {
        Ok(Self {
            pid,
            base: base.to_owned(),
            started: Instant::now(),
            last_at: Instant::now(),
            last_proc: proc_stat(pid)?,
            last_own: own_cpu(),
            last_scrape: scrape(http, base).await?,
            ticks_per_sec: clock_ticks_per_sec(),
        })
    }

    pub(crate) async fn sample(
        &mut self,
        http: &reqwest::Client,
        load: &Load,
        mock: &MockUpstream,
    ) -> Res<(Sample, Window)> {
        let window = load.take();
        let now = Instant::now();
        let proc = proc_stat(self.pid)?;
        let own = own_cpu();
        let s = scrape(http, &self.base).await?;
        let secs = now.duration_since(self.last_at).as_secs_f64();
        let pct = |ticks: u64| {
            // (the first sample's window is empty)
            if secs >= 0.5 {
                ticks as f64 / self.ticks_per_sec / secs * 100.0
            } else {
                0.0
            }
        };
        let sample = Sample {
            t_s: now.duration_since(self.started).as_secs_f64(),
            window_s: secs,
            requests: window.requests(),
            ok: window.ok,
            upstream: window.upstream,
            gateway: window.gateway,
            dropped: window.dropped,
            shed: load.shed.swap(0, Ordering::Relaxed),
            latency: Percentiles::of(&window.latencies()),
            plain: Percentiles::of(&sorted(&window.plain_us)),
            stream: Percentiles::of(&sorted(&window.stream_us)),
            rss_mib: proc.rss_kib as f64 / 1024.0,
            fds: proc.fds,
            threads: proc.threads,
            in_flight: s.in_flight,
            upstream_open: mock.open_connections(),
            outstanding: load.outstanding.load(Ordering::Relaxed),
            cpu_server_pct: pct(proc.cpu_ticks.saturating_sub(self.last_proc.cpu_ticks)),
            cpu_server_wait_pct: if secs >= 0.5 {
                proc.wait_ns.saturating_sub(self.last_proc.wait_ns) as f64 / 1e9 / secs * 100.0
            } else {
                0.0
            },
            cpu_mock_pct: pct(own.0.saturating_sub(self.last_own.0)),
            cpu_load_pct: pct(own.1.saturating_sub(self.last_own.1)),
            fallbacks: s.fallbacks.saturating_sub(self.last_scrape.fallbacks),
            failed_attempts: s
                .failed_attempts
                .saturating_sub(self.last_scrape.failed_attempts),
            lag_ms: load.lag_us.swap(0, Ordering::Relaxed) as f64 / 1000.0,
            load1: loadavg()
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
        };
        self.last_at = now;
        self.last_proc = proc;
        self.last_own = own;
        self.last_scrape = s;
        // The mock keeps every request it saw: forget them as we go.
        mock.clear_requests();
        Ok((sample, window))
    }
}

/// p50, p90, p99 and the maximum of latencies, in ms.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Percentiles {
    pub(crate) p50: Option<f64>,
    pub(crate) p90: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) max: Option<f64>,
}

impl Percentiles {
    /// Of sorted µs.
    pub(crate) fn of(sorted: &[u32]) -> Self {
        Self {
            p50: percentile_ms(sorted, 0.50),
            p90: percentile_ms(sorted, 0.90),
            p99: percentile_ms(sorted, 0.99),
            max: percentile_ms(sorted, 1.0),
        }
    }

    pub(crate) fn to_json(self) -> Value {
        json!({"p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max})
    }

    /// `p50 / p90 / p99`.
    pub(crate) fn cell(self) -> String {
        format!("{} / {} / {}", opt(self.p50), opt(self.p90), opt(self.p99))
    }
}

/// A sorted copy.
pub(crate) fn sorted(v: &[u32]) -> Vec<u32> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// Nearest-rank percentile of sorted µs, in ms.
pub(crate) fn percentile_ms(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = to_u64((p * sorted.len() as f64).ceil()).max(1);
    let i = usize::try_from(rank - 1).unwrap_or(0).min(sorted.len() - 1);
    Some(round(f64::from(sorted[i]) / 1000.0, 2))
}

pub(crate) fn print_progress(s: &Sample) {
    eprintln!(
        "soak: t={:>5.0}s {:>6.0} req/s ok {} upstream {} gateway {} dropped {} p99 {} ms RSS {:.1} MiB fds {} threads {} in flight {}",
        s.t_s,
        s.rate(),
        s.ok,
        s.upstream,
        s.gateway,
        s.dropped,
        opt(s.latency.p99),
        s.rss_mib,
        s.fds,
        s.threads,
        count(s.in_flight)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let us: Vec<u32> = (1..=100).map(|v| v * 1000).collect();
        assert_eq!(percentile_ms(&us, 0.5), Some(50.0));
        assert_eq!(percentile_ms(&us, 0.99), Some(99.0));
        assert_eq!(percentile_ms(&us, 1.0), Some(100.0));
        assert_eq!(percentile_ms(&[1500], 0.99), Some(1.5));
        assert_eq!(percentile_ms(&[], 0.5), None);
    }

    #[test]
    fn cpu_time_is_read_past_the_command_name() {
        let stat = "42 (soak-load (x) 1) S 1 2 3 4 5 6 7 8 9 10 110 220 0 0";
        assert_eq!(cpu_ticks(stat), 330);
    }
}
