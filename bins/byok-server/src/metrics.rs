//! Prometheus text-format metrics: request counts and latency histograms,
//! upstream errors, tokens and markup by provider. Labels are route
//! patterns, provider ids, status codes: never keys or user content.
//!
//! Written by hand (a map of counters behind one mutex) rather than with a
//! metrics framework: the set is small and fixed, and this keeps the
//! dependency tree small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

/// All metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
}

fn escape(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | '{' | '}'))
        .take(64)
        .collect()
}

impl Metrics {
    fn add(&self, key: String, v: u64) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *c.entry(key).or_insert(0) += v;
    }

    /// Counts a finished request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        let route = escape(route);
        self.add(
            format!("byok_requests_total{{route=\"{route}\",status=\"{status}\"}}"),
            1,
        );
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        for b in BUCKETS_MS {
            if ms <= b {
                self.add(
                    format!("byok_request_duration_ms_bucket{{route=\"{route}\",le=\"{b}\"}}"),
                    1,
                );
            }
        }
        self.add(
            format!("byok_request_duration_ms_bucket{{route=\"{route}\",le=\"+Inf\"}}"),
            1,
        );
        self.add(
            format!("byok_request_duration_ms_sum{{route=\"{route}\"}}"),
            ms,
        );
        self.add(
            format!("byok_request_duration_ms_count{{route=\"{route}\"}}"),
            1,
        );
    }

    /// Counts an upstream error.
    pub fn upstream_error(&self, provider: &str) {
        self.add(
            format!(
                "byok_upstream_errors_total{{provider=\"{}\"}}",
                escape(provider)
            ),
            1,
        );
    }

    /// Counts tokens and markup of a settled request.
    pub fn usage(&self, provider: &str, prompt: u64, completion: u64, markup_nanos: i64) {
        let p = escape(provider);
        self.add(
            format!("byok_tokens_total{{provider=\"{p}\",kind=\"prompt\"}}"),
            prompt,
        );
        self.add(
            format!("byok_tokens_total{{provider=\"{p}\",kind=\"completion\"}}"),
            completion,
        );
        self.add(
            format!("byok_markup_nano_usd_total{{provider=\"{p}\"}}"),
            u64::try_from(markup_nanos).unwrap_or(0),
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        let mut last_family = String::new();
        for (k, v) in c.iter() {
            let family = k.split('{').next().unwrap_or(k);
            let base = family
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            if base != last_family {
                let kind = if base.ends_with("_ms") {
                    "histogram"
                } else {
                    "counter"
                };
                let _ = writeln!(out, "# TYPE {base} {kind}");
                last_family = base.to_owned();
            }
            let _ = writeln!(out, "{k} {v}");
        }
        out
    }
}
