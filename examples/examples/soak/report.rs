//! The report: `soak.md`, `soak.json` and `soak.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::load::Window;
use crate::probe::{Percentiles, Sample, sorted};
use crate::{Config, Ledger, Phase1, count, loadavg, opt, round, usd};

pub(crate) struct Report<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) started_at: String,
    pub(crate) idle_rss_mib: f64,
    pub(crate) phase1: Phase1,
    pub(crate) target: f64,
    pub(crate) samples: Vec<Sample>,
    pub(crate) total: Window,
    pub(crate) drained: Option<Duration>,
    pub(crate) held: (i64, usize, String),
    pub(crate) after_rss_mib: f64,
    pub(crate) after_fds: u64,
    pub(crate) after_threads: u64,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) failure: Option<String>,
    pub(crate) interrupted: bool,
}

/// A least-squares slope: MiB per hour, and its standard error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slope {
    pub(crate) per_hour: f64,
    pub(crate) stderr: f64,
}

/// The least-squares line through (t hours, RSS MiB): its slope.
pub(crate) fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx;
    let ssr: f64 = points
        .iter()
        .map(|p| (p.1 - (my + b * (p.0 - mx))).powi(2))
        .sum();
    Some(Slope {
        per_hour: b,
        stderr: (ssr / (n - 2.0) / sxx).sqrt(),
    })
}

impl Report<'_> {
    pub(crate) fn duration_s(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.t_s)
    }

    /// RSS growth over the run's first half and over its second half
    /// (least squares through the samples of each).
    pub(crate) fn growth(&self) -> [Option<Slope>; 2] {
        let mid = self.duration_s() / 2.0;
        let half = |second: bool| {
            let points: Vec<(f64, f64)> = self
                .samples
                .iter()
                .filter(|s| if second { s.t_s >= mid } else { s.t_s <= mid })
                .map(|s| (s.t_s / 3600.0, s.rss_mib))
                .collect();
            slope(&points)
        };
        [half(false), half(true)]
    }

    /// What the second half's RSS slope says: `growing` when the slope is
    /// above 1 MiB/h and two standard errors; `flat` when the upper bound
    /// (slope + 2 standard errors) is under 10% of the RSS per hour (or
    /// 1 MiB/h); otherwise `inconclusive` (too noisy: run longer). A run
    /// that shed arrivals was not at steady state, whatever its slope.
    pub(crate) fn verdict(&self) -> String {
        let shed: u64 = self.samples.iter().map(|s| s.shed).sum();
        let prefix = if shed > 0 {
            format!("not at steady state ({shed} arrivals shed: the server fell behind); ")
        } else {
            String::new()
        };
        let second: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.t_s >= self.duration_s() / 2.0)
            .map(|s| s.rss_mib)
            .collect();
        let mean = second.iter().sum::<f64>() / second.len().max(1) as f64;
        let verdict = match self.growth()[1] {
            None => "too short to tell (fewer than 3 samples in the second half)".to_owned(),
            Some(s) if s.per_hour > 1.0 && s.per_hour > 2.0 * s.stderr => {
                format!("growing ({:+.1} MiB/h)", s.per_hour)
            }
            Some(s) if s.per_hour + 2.0 * s.stderr <= (0.1 * mean).max(1.0) => format!(
                "flat (at most {:+.1} MiB/h)",
                (s.per_hour + 2.0 * s.stderr).max(0.0)
            ),
            Some(_) => {
                "inconclusive (too noisy to bound the growth under 10% of RSS an hour: run longer)"
                    .to_owned()
            }
        };
        prefix + &verdict
    }

    pub(crate) fn smoke(&self) -> bool {
        self.duration_s() < 600.0 - 1.0
    }

    pub(crate) fn json(&self) -> Value {
        let all = self.total.latencies();
        let [first, second] = self.growth();
        let slope_json = |s: Option<Slope>| {
            s.map(|s| json!({"mib_per_hour": round(s.per_hour, 3), "stderr": round(s.stderr, 3)}))
        };
        json!({
            "started_at": self.started_at,
            "commit": self.cfg.commit,
            "smoke": self.smoke(),
            "interrupted": self.interrupted,
            "failure": self.failure,
            "machine": {"cpus": std::thread::available_parallelism().map_or(0, usize::from),
                        "loadavg_end": loadavg()},
            "config": {
                "minutes": self.cfg.minutes, "clients": self.cfg.clients,
                "capacity_secs": self.cfg.capacity_secs, "load": self.cfg.load, "rate": self.cfg.rate,
                "sample_secs": self.cfg.sample_secs, "fault_pct": self.cfg.fault_pct,
                "rate_limits_per_min": self.cfg.rate_limits_per_min,
                "event_delay_ms": self.cfg.event_delay_ms, "seed": self.cfg.seed,
                "max_outstanding": self.cfg.max_outstanding,
            },
            "idle_rss_mib": round(self.idle_rss_mib, 2),
            "capacity": {
                "rate": round(self.phase1.rate, 1), "secs": round(self.phase1.secs, 1),
                "requests": self.phase1.window.requests(), "ok": self.phase1.window.ok,
                "upstream_faults": self.phase1.window.upstream, "gateway_errors": self.phase1.window.gateway,
                "dropped": self.phase1.window.dropped,
                "latency_ms": Percentiles::of(&self.phase1.window.latencies()).to_json(),
                "upstream_fault_kinds": self.phase1.window.upstream_kinds,
                "gateway_error_kinds": self.phase1.window.gateway_kinds,
            },
            "target_rate": round(self.target, 1),
            "samples": self.samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
            "summary": {
                "duration_s": round(self.duration_s(), 1),
                "requests": self.total.requests(), "ok": self.total.ok,
                "upstream_faults": self.total.upstream, "gateway_errors": self.total.gateway,
                "dropped": self.total.dropped,
                "shed": self.samples.iter().map(|s| s.shed).sum::<u64>(),
                "upstream_fault_kinds": self.total.upstream_kinds,
                "gateway_error_kinds": self.total.gateway_kinds,
                "latency_ms": Percentiles::of(&all).to_json(),
                "plain_latency_ms": Percentiles::of(&sorted(&self.total.plain_us)).to_json(),
                "stream_latency_ms": Percentiles::of(&sorted(&self.total.stream_us)).to_json(),
                "rss_growth_first_half": slope_json(first),
                "rss_growth_second_half": slope_json(second),
                "rss_verdict": self.verdict(),
                "after_drain": {"rss_mib": round(self.after_rss_mib, 2), "fds": self.after_fds,
                                "threads": self.after_threads,
                                "nothing_held_after_s": self.drained.map(|d| round(d.as_secs_f64(), 2)),
                                "in_flight": self.held.0, "upstream_connections": self.held.1,
                                "reserved_usd": self.held.2},
                "ledger": self.ledger.as_ref().map(|l| json!({
                    "credit_usd": usd(l.credit_nanos), "balance_usd": usd(l.balance_nanos),
                    "reserved_usd": usd(l.reserved_nanos), "charged_usd": usd(l.charged_nanos),
                    "entries": l.entries, "pages": l.pages, "adds_up": l.adds_up(),
                })),
            },
        })
    }

    #[allow(clippy::too_many_lines)] // one table and one summary
    pub(crate) fn markdown(&self) -> String {
        let cfg = self.cfg;
        let mut m = String::new();
        let title = if self.smoke() {
            format!(
                "# Soak (SMOKE RUN: {:.1} min, not the 10-minute soak)\n\n",
                self.duration_s() / 60.0
            )
        } else {
            "# Soak\n\n".to_owned()
        };
        m.push_str(&title);
        let _ = writeln!(
            m,
            "{}{}, {} CPUs, load average at the end {}. Seed {}.\n",
            self.started_at,
            if cfg.commit.is_empty() {
                String::new()
            } else {
                format!(", commit {}", cfg.commit)
            },
            std::thread::available_parallelism().map_or(0, usize::from),
            loadavg(),
            cfg.seed
        );
        if let Some(f) = &self.failure {
            let _ = writeln!(m, "**FAILED**: {f}\n");
        }
        if self.interrupted {
            m.push_str("**Interrupted** (Ctrl-C) before the planned end.\n\n");
        }
        let _ = writeln!(
            m,
            "Mix: 50% non-streamed, 45% streamed (read to the end), 5% streamed and dropped by the client \
at a random moment; upstream faults {}% of requests (500, reset mid-body or mid-stream, garbage bytes) \
and, during the soak, {} 429s a minute (`retry-after: 1`), stream events every {} ms; keys `default` (priority 0) and \
`backup` (1).\n",
            cfg.fault_pct, cfg.rate_limits_per_min, cfg.event_delay_ms
        );
        let p1 = &self.phase1;
        let _ = writeln!(
            m,
            "Capacity (closed loop, {} clients, {:.0} s, without the 429s): **{:.0} req/s** (p50 / p90 / p99: \
non-streamed {} ms, streamed {} ms; {} upstream faults, {} gateway errors{}). Soak: open loop (Poisson \
arrivals) at **{:.0} req/s** ({}).\n",
            cfg.clients,
            p1.secs,
            p1.rate,
            Percentiles::of(&sorted(&p1.window.plain_us)).cell(),
            Percentiles::of(&sorted(&p1.window.stream_us)).cell(),
            p1.window.upstream,
            p1.window.gateway,
            if p1.window.gateway > 0 {
                format!(": {}", kinds(&p1.window.gateway_kinds))
            } else {
                String::new()
            },
            self.target,
            match cfg.rate {
                Some(_) => "the rate given".to_owned(),
                None => format!("{:.0}% of capacity", cfg.load * 100.0),
            }
        );
        m.push_str(
            "| t s | req/s | ok | upstream faults | gateway errors | dropped | non-streamed p50 / p90 / p99 ms | streamed p50 / p90 / p99 ms | p99 ms | RSS MiB | fds | threads | in flight | upstream conns | fallbacks | CPU % server (waiting) / load / mock |\n",
        );
        m.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for s in &self.samples {
            let _ = writeln!(
                m,
                "| {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.0} ({:.0}) / {:.0} / {:.0} |",
                s.t_s,
                s.rate(),
                s.ok,
                s.upstream,
                s.gateway,
                s.dropped,
                s.plain.cell(),
                s.stream.cell(),
                opt(s.latency.p99),
                s.rss_mib,
                s.fds,
                s.threads,
                count(s.in_flight),
                s.upstream_open,
                s.fallbacks,
                s.cpu_server_pct,
                s.cpu_server_wait_pct,
                s.cpu_load_pct,
                s.cpu_mock_pct
            );
        }
        let first = self.samples.first().cloned().unwrap_or_default();
        let last = self.samples.last().cloned().unwrap_or_default();
        let max_rss = self.samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
        let all = self.total.latencies();
        let dur = self.duration_s();
        let [g1, g2] = self.growth();
        let growth = |g: Option<Slope>| {
            g.map_or("n/a".to_owned(), |s| {
                format!("{:+.2} ± {:.2} MiB/h", s.per_hour, s.stderr)
            })
        };
        let p99s: Vec<f64> = self.samples.iter().filter_map(|s| s.latency.p99).collect();
        let shed: u64 = self.samples.iter().map(|s| s.shed).sum();
        let max_lag = self.samples.iter().map(|s| s.lag_ms).fold(0.0, f64::max);
        let pct = |n: u64| {
            if self.total.requests() > 0 {
                n as f64 * 100.0 / self.total.requests() as f64
            } else {
                0.0
            }
        };
        m.push_str("\n## Summary\n\n| | |\n|---|---|\n");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(m, "| {k} | {v} |");
        };
        row("duration", format!("{:.1} min ({dur:.0} s)", dur / 60.0));
        row(
            "rate",
            format!(
                "{:.0} req/s asked, {:.0} req/s done",
                self.target,
                if dur > 0.0 {
                    self.total.requests() as f64 / dur
                } else {
                    0.0
                }
            ),
        );
        row("requests", format!("{}", self.total.requests()));
        row(
            "ok",
            format!("{} ({:.2}%)", self.total.ok, pct(self.total.ok)),
        );
        row(
            "upstream faults that reached the client",
            format!(
                "{} ({:.2}%): {}",
                self.total.upstream,
                pct(self.total.upstream),
                kinds(&self.total.upstream_kinds)
            ),
        );
        row(
            "**gateway errors**",
            format!(
                "**{}** ({:.3}%){}",
                self.total.gateway,
                pct(self.total.gateway),
                if self.total.gateway > 0 {
                    format!(": {}", kinds(&self.total.gateway_kinds))
                } else {
                    String::new()
                }
            ),
        );
        row(
            "dropped by the client",
            format!("{} ({:.2}%)", self.total.dropped, pct(self.total.dropped)),
        );
        row(
            "fallbacks / failed upstream attempts",
            format!(
                "{} / {}",
                self.samples.iter().map(|s| s.fallbacks).sum::<u64>(),
                self.samples.iter().map(|s| s.failed_attempts).sum::<u64>()
            ),
        );
        // Over the windows (not the empty first sample).
        let range = |f: fn(&Sample) -> f64| {
            let v: Vec<f64> = self.samples.iter().skip(1).map(f).collect();
            match (
                v.iter().copied().reduce(f64::min),
                v.iter().copied().reduce(f64::max),
            ) {
                (Some(lo), Some(hi)) => format!("{lo:.1} to {hi:.1}"),
                _ => "n/a".to_owned(),
            }
        };
        row(
            "the machine",
            format!(
                "load average (1 min) {} over the run; the server's threads waited for a core {} % of a core",
                range(|s| s.load1),
                range(|s| s.cpu_server_wait_pct)
            ),
        );
        row(
            "load generator",
            format!(
                "{shed} arrivals shed (over {} outstanding), at most {max_lag:.1} ms behind schedule",
                cfg.max_outstanding
            ),
        );
        row(
            "latency, whole run (ok answers, to the last byte; p50 / p90 / p99, max)",
            [
                ("all", Percentiles::of(&all)),
                (
                    "non-streamed",
                    Percentiles::of(&sorted(&self.total.plain_us)),
                ),
                ("streamed", Percentiles::of(&sorted(&self.total.stream_us))),
            ]
            .iter()
            .map(|(kind, p)| format!("{kind} {} ms, max {}", p.cell(), opt(p.max)))
            .collect::<Vec<_>>()
            .join("; "),
        );
        row(
            "p99 over time",
            format!(
                "first window {} ms, last {} ms, highest {} ms",
                opt(self.samples.get(1).and_then(|s| s.latency.p99)),
                opt(last.latency.p99),
                opt(p99s.iter().copied().reduce(f64::max))
            ),
        );
        row(
            "RSS",
            format!(
                "idle {:.1} MiB; start {:.1}, end {:.1}, max {max_rss:.1} MiB; {:.1} MiB after the drain",
                self.idle_rss_mib, first.rss_mib, last.rss_mib, self.after_rss_mib
            ),
        );
        row(
            "**RSS growth per hour** (least squares)",
            format!(
                "**{}** over the second half; {} over the first; **{}**",
                growth(g2),
                growth(g1),
                self.verdict()
            ),
        );
        row(
            "fds / threads",
            format!(
                "{} → {} / {} → {} ({} / {} after the drain)",
                first.fds,
                last.fds,
                first.threads,
                last.threads,
                self.after_fds,
                self.after_threads
            ),
        );
        row(
            "in flight (server) / upstream connections",
            format!(
                "{} → {} / {} → {}",
                count(first.in_flight),
                count(last.in_flight),
                first.upstream_open,
                last.upstream_open
            ),
        );
        row(
            "after the load",
            match self.drained {
                Some(d) => format!(
                    "nothing held after {:.1} s (0 in flight, 0 upstream connections, nothing reserved)",
                    d.as_secs_f64()
                ),
                None => format!(
                    "**still held after 60 s**: {} in flight, {} upstream connections, {} USD reserved",
                    self.held.0, self.held.1, self.held.2
                ),
            },
        );
        row(
            "ledger",
            match &self.ledger {
                Some(l) => format!(
                    "{}: balance {} + {} charges' markups {} = {} (credit {}); reserved {}",
                    if l.adds_up() {
                        "**adds up**"
                    } else {
                        "**DOES NOT ADD UP**"
                    },
                    usd(l.balance_nanos),
                    l.entries,
                    usd(l.charged_nanos),
                    usd(l.balance_nanos + l.charged_nanos),
                    usd(l.credit_nanos),
                    usd(l.reserved_nanos)
                ),
                None => "not checked (the run failed)".to_owned(),
            },
        );
        m
    }

    /// Two plots over time (minutes): RSS (MiB), and p99 latency (ms) of
    /// the non-streamed and of the streamed answers.
    pub(crate) fn svg(&self) -> String {
        let series = |f: fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> {
            self.samples
                .iter()
                .filter_map(|s| f(s).map(|v| (s.t_s / 60.0, v)))
                .collect()
        };
        let rss = series(|s| Some(s.rss_mib));
        let plain = series(|s| s.plain.p99);
        let stream = series(|s| s.stream.p99);
        let (w, h) = (760.0, 610.0);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let title = format!(
            "byok-server soak{}: {:.0} req/s for {:.1} min",
            if self.smoke() { " (smoke run)" } else { "" },
            self.target,
            self.duration_s() / 60.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
            w / 2.0,
            xml(&title)
        );
        let x_max = (self.duration_s() / 60.0).max(0.1);
        plot(
            &mut out,
            55.0,
            "RSS (MiB)",
            &[("RSS", &rss, "#1f77b4")],
            x_max,
        );
        plot(
            &mut out,
            340.0,
            "p99 latency to the last byte (ms)",
            &[
                ("non-streamed", &plain, "#2ca02c"),
                ("streamed", &stream, "#d62728"),
            ],
            x_max,
        );
        out.push_str("</svg>\n");
        out
    }
}

/// A line on a plot: its name, points and color.
type Series<'a> = (&'a str, &'a [(f64, f64)], &'a str);

/// One panel at `top`: axes, ticks, a line per series (and their names
/// when there are several).
fn plot(out: &mut String, top: f64, label: &str, series: &[Series<'_>], x_max: f64) {
    let (left, width, height) = (70.0, 660.0, 220.0);
    let bottom = top + height;
    // 5% of headroom above the highest point.
    let y_max = nice_max(
        1.05 * series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let x = |v: f64| left + v / x_max * width;
    let y = |v: f64| bottom - v / y_max * height;
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"{}\" font-weight=\"bold\">{}</text>",
        top - 8.0,
        xml(label)
    );
    if series.len() > 1 {
        let mut lx = left + width;
        for (name, _, color) in series.iter().rev() {
            let _ = writeln!(
                out,
                "<text x=\"{lx}\" y=\"{}\" text-anchor=\"end\" fill=\"{color}\">■ {}</text>",
                top - 8.0,
                xml(name)
            );
            lx -= 110.0;
        }
    }
    let _ = writeln!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{width}\" height=\"{height}\" fill=\"none\" stroke=\"#888\"/>"
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#eee\"/>\
<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + width,
            left - 6.0,
            yy + 4.0,
            tick(v)
        );
    }
    let x_step = nice_step(x_max / 6.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            out,
            "<line x1=\"{xx:.1}\" y1=\"{bottom}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#888\"/>\
<text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            bottom + 4.0,
            bottom + 18.0,
            tick(t)
        );
        t += x_step;
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">minutes</text>",
        left + width / 2.0,
        bottom + 34.0
    );
    for (_, points, color) in series {
        if points.is_empty() {
            continue;
        }
        let path: Vec<String> = points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (px, py) in *points {
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                x(*px),
                y(*py)
            );
        }
    }
}

/// The top of an axis: the smallest round number (1, 1.2, 1.6, 2, 2.4,
/// 3, 4, 5, 6 or 8 × 10^k: each divides in quarters) at least `v`; 1 for
/// nothing.
fn nice_max(v: f64) -> f64 {
    round_up(v, &[1.0, 1.2, 1.6, 2.0, 2.4, 3.0, 4.0, 5.0, 6.0, 8.0])
}

/// A step between ticks: the smallest 1, 2 or 5 × 10^k at least `v`.
fn nice_step(v: f64) -> f64 {
    round_up(v, &[1.0, 2.0, 5.0])
}

fn round_up(v: f64, mantissas: &[f64]) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    mantissas
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn kinds(k: &BTreeMap<String, u64>) -> String {
    if k.is_empty() {
        return "none".into();
    }
    let mut v: Vec<(&String, &u64)> = k.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1));
    v.iter()
        .map(|(k, n)| format!("{n}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line_is_its_growth() {
        // 6 MiB over half an hour: 12 MiB per hour, exactly.
        let line: Vec<(f64, f64)> = (0..=30)
            .map(|m| (f64::from(m) / 60.0, 50.0 + 0.2 * f64::from(m)))
            .collect();
        let s = slope(&line).unwrap();
        assert!((s.per_hour - 12.0).abs() < 1e-9, "{s:?}");
        assert!(s.stderr < 1e-9);
        let flat: Vec<(f64, f64)> = (0..30)
            .map(|m| (f64::from(m) / 60.0, 50.0 + f64::from(m % 2)))
            .collect();
        assert!(slope(&flat).unwrap().per_hour.abs() < 1.0);
        assert!(
            slope(&line[..2]).is_none(),
            "two points say nothing of the noise"
        );
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(nice_max(73.0), 80.0));
        assert!(close(nice_max(543.0), 600.0));
        assert!(close(nice_max(0.31), 0.4));
        assert!(close(nice_max(2.0), 2.0));
        assert!(close(nice_max(0.0), 1.0));
        assert!(close(nice_step(0.2002), 0.5));
        assert!(close(nice_step(0.2), 0.2));
        assert!(close(nice_step(2.0), 2.0));
    }
}
