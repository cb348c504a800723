//! Prometheus text-format metrics: request counts and latency histograms,
//! upstream errors, upstream attempts and fallbacks, tokens and markup by
//! provider. Labels are route
//! patterns, provider ids, status codes: never keys or user content.
//!
//! Written by hand (typed counters behind one mutex) rather than with a
//! metrics framework: the set is small and fixed, and this keeps the
//! dependency tree small. Recording takes the lock once and allocates only
//! the first time a route or provider is seen; label escaping and the text
//! format are produced by [`Metrics::render`], off the request path.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

const BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

/// Per-route request counts and latency histogram.
#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Non-cumulative: `buckets[i]` counts requests whose latency fell in
    /// `(BUCKETS_MS[i-1], BUCKETS_MS[i]]`; the last slot is `+Inf`.
    buckets: [u64; BUCKETS_MS.len() + 1],
    sum_ms: u64,
    count: u64,
}

/// Per-provider upstream errors, tokens and markup.
#[derive(Debug, Default)]
struct ProviderStats {
    /// Upstream calls that failed (`byok_upstream_errors_total`, and the
    /// `failed` outcome of `byok_attempts_total`: the same count).
    upstream_errors: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    markup_nanos: u64,
    /// Whether [`Metrics::usage`] was ever called (so an error-only provider
    /// does not render zero-valued token series).
    settled: bool,
    /// Upstream calls that answered (one per settled request).
    attempts_answered: u64,
    /// Failed calls to this provider that were followed by another call
    /// (the next key or the next target).
    fallbacks: u64,
}

/// Keyed by route path and provider id: the server's own short strings,
/// so foldhash rather than SipHash (these maps are updated on every
/// request).
type ByName<T> = HashMap<String, T, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Inner {
    routes: ByName<RouteStats>,
    providers: ByName<ProviderStats>,
}

/// Counts of the users' provider keys by provider and status, computed
/// when `/metrics` is scraped (a cooldown ends with time, not with an
/// event).
pub trait KeyGauge: Send + Sync {
    /// `(provider, status, keys)`, every status with at least one key.
    fn by_status(&self) -> Vec<(String, &'static str, u64)>;
}

/// The source of the keys gauge, once set.
#[derive(Default)]
struct Keys(OnceLock<Arc<dyn KeyGauge>>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Keys(set)"
        } else {
            "Keys(unset)"
        })
    }
}

/// All metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    keys: Keys,
    /// Requests being answered now, streams until their last byte is sent
    /// or the client goes (`byok_in_flight_requests`).
    in_flight: AtomicI64,
}

/// One request being answered: counted in `byok_in_flight_requests` until
/// dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn escape(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | '{' | '}'))
        .take(64)
        .collect()
}

/// The entry for `key`, allocating the owned key only when it is new.
fn entry<'a, T: Default>(map: &'a mut ByName<T>, key: &str) -> &'a mut T {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), T::default());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

impl Metrics {
    /// Counts a request as being answered until the guard is dropped.
    pub(crate) fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Requests being answered now.
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts a finished request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let slot = BUCKETS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(BUCKETS_MS.len());
        self.with(|m| {
            let r = entry(&mut m.routes, route);
            *r.by_status.entry(status).or_insert(0) += 1;
            r.buckets[slot] += 1;
            r.sum_ms = r.sum_ms.saturating_add(ms);
            r.count += 1;
        });
    }

    /// Counts a failed upstream call (an upstream error, and a failed
    /// attempt).
    pub fn attempt_failed(&self, provider: &str) {
        self.with(|m| entry(&mut m.providers, provider).upstream_errors += 1);
    }

    /// Counts a fallback: a failed call to `provider` followed by another
    /// call.
    pub fn fallback(&self, provider: &str) {
        self.with(|m| entry(&mut m.providers, provider).fallbacks += 1);
    }

    /// Counts tokens and markup of a settled request (and the upstream call
    /// that answered it).
    pub fn usage(&self, provider: &str, prompt: u64, completion: u64, markup_nanos: i64) {
        self.with(|m| {
            let p = entry(&mut m.providers, provider);
            p.attempts_answered += 1;
            p.prompt_tokens = p.prompt_tokens.saturating_add(prompt);
            p.completion_tokens = p.completion_tokens.saturating_add(completion);
            p.markup_nanos = p
                .markup_nanos
                .saturating_add(u64::try_from(markup_nanos).unwrap_or(0));
            p.settled = true;
        });
    }

    /// Renders `byok_keys` (keys by provider and status, a gauge) from
    /// `source` at every scrape; the first source set stays.
    pub fn watch_keys(&self, source: Arc<dyn KeyGauge>) {
        let _ = self.keys.0.set(source);
    }

    /// The keys gauge's lines (computed off the metrics lock).
    fn render_keys(&self, out: &mut String) {
        let Some(source) = self.keys.0.get() else {
            return;
        };
        let _ = writeln!(out, "# TYPE byok_keys gauge");
        for (provider, status, n) in source.by_status() {
            let (p, s) = (escape(&provider), escape(status));
            let _ = writeln!(out, "byok_keys{{provider=\"{p}\",status=\"{s}\"}} {n}");
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = self.render_counters();
        self.render_keys(&mut out);
        let _ = writeln!(out, "# TYPE byok_in_flight_requests gauge");
        let _ = writeln!(out, "byok_in_flight_requests {}", self.in_flight_now());
        out
    }

    fn render_counters(&self) -> String {
        self.with(|m| {
            let mut routes: Vec<_> = m.routes.iter().map(|(k, v)| (escape(k), v)).collect();
            routes.sort_by(|a, b| a.0.cmp(&b.0));
            let mut providers: Vec<_> = m.providers.iter().map(|(k, v)| (escape(k), v)).collect();
            providers.sort_by(|a, b| a.0.cmp(&b.0));
            let settled = || providers.iter().filter(|(_, p)| p.settled);

            let mut out = String::new();
            let _ = writeln!(out, "# TYPE byok_markup_nano_usd_total counter");
            for (p, s) in settled() {
                let _ = writeln!(out, "byok_markup_nano_usd_total{{provider=\"{p}\"}} {}", s.markup_nanos);
            }
            let _ = writeln!(out, "# TYPE byok_request_duration_ms histogram");
            for (route, r) in &routes {
                let mut cumulative = 0;
                for (i, n) in r.buckets.iter().enumerate() {
                    cumulative += n;
                    let le = BUCKETS_MS.get(i).map_or_else(|| "+Inf".to_owned(), u64::to_string);
                    let _ = writeln!(
                        out,
                        "byok_request_duration_ms_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(out, "byok_request_duration_ms_sum{{route=\"{route}\"}} {}", r.sum_ms);
                let _ = writeln!(out, "byok_request_duration_ms_count{{route=\"{route}\"}} {}", r.count);
            }
            let _ = writeln!(out, "# TYPE byok_requests_total counter");
            for (route, r) in &routes {
                for (status, n) in &r.by_status {
                    let _ = writeln!(
                        out,
                        "byok_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
            let _ = writeln!(out, "# TYPE byok_tokens_total counter");
            for (p, s) in settled() {
                let _ = writeln!(out, "byok_tokens_total{{provider=\"{p}\",kind=\"prompt\"}} {}", s.prompt_tokens);
                let _ = writeln!(
                    out,
                    "byok_tokens_total{{provider=\"{p}\",kind=\"completion\"}} {}",
                    s.completion_tokens
                );
            }
            let _ = writeln!(out, "# TYPE byok_upstream_errors_total counter");
            for (p, s) in &providers {
                if s.upstream_errors > 0 {
                    let _ = writeln!(out, "byok_upstream_errors_total{{provider=\"{p}\"}} {}", s.upstream_errors);
                }
            }
            let _ = writeln!(out, "# TYPE byok_upstream_attempts_total counter");
            for (p, s) in &providers {
                for (outcome, n) in [("answered", s.attempts_answered), ("failed", s.upstream_errors)] {
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "byok_upstream_attempts_total{{provider=\"{p}\",outcome=\"{outcome}\"}} {n}"
                        );
                    }
                }
            }
            let _ = writeln!(out, "# TYPE byok_fallbacks_total counter");
            for (p, s) in &providers {
                if s.fallbacks > 0 {
                    let _ = writeln!(out, "byok_fallbacks_total{{provider=\"{p}\"}} {}", s.fallbacks);
                }
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counters_add_up() {
        let m = Metrics::default();
        m.request("/api/v1/chat/completions", 200, Duration::from_millis(3));
        m.request("/api/v1/chat/completions", 200, Duration::from_millis(40));
        m.request("/api/v1/chat/completions", 502, Duration::from_secs(60));
        m.attempt_failed("groq");
        m.usage("openai", 10, 5, 7);
        m.usage("openai", 1, 1, -3);
        let out = m.render();
        let route = "route=\"/api/v1/chat/completions\"";
        for line in [
            format!("byok_request_duration_ms_bucket{{{route},le=\"2\"}} 0"),
            format!("byok_request_duration_ms_bucket{{{route},le=\"5\"}} 1"),
            format!("byok_request_duration_ms_bucket{{{route},le=\"50\"}} 2"),
            format!("byok_request_duration_ms_bucket{{{route},le=\"30000\"}} 2"),
            format!("byok_request_duration_ms_bucket{{{route},le=\"+Inf\"}} 3"),
            format!("byok_request_duration_ms_sum{{{route}}} 60043"),
            format!("byok_request_duration_ms_count{{{route}}} 3"),
            format!("byok_requests_total{{{route},status=\"200\"}} 2"),
            format!("byok_requests_total{{{route},status=\"502\"}} 1"),
            "byok_upstream_errors_total{provider=\"groq\"} 1".to_owned(),
            "byok_upstream_attempts_total{provider=\"groq\",outcome=\"failed\"} 1".to_owned(),
            "byok_tokens_total{provider=\"openai\",kind=\"prompt\"} 11".to_owned(),
            "byok_tokens_total{provider=\"openai\",kind=\"completion\"} 6".to_owned(),
            "byok_markup_nano_usd_total{provider=\"openai\"} 7".to_owned(),
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        assert!(!out.contains("provider=\"groq\",kind"), "{out}");
        assert!(
            !out.contains("byok_keys"),
            "no gauge without a source: {out}"
        );
    }

    struct Fixed;
    impl KeyGauge for Fixed {
        fn by_status(&self) -> Vec<(String, &'static str, u64)> {
            vec![("openai".into(), "ok", 2), ("openai".into(), "invalid", 1)]
        }
    }

    #[test]
    fn keys_by_status_are_a_gauge_computed_at_scrape() {
        let m = Metrics::default();
        m.watch_keys(Arc::new(Fixed));
        let out = m.render();
        for line in [
            "# TYPE byok_keys gauge",
            "byok_keys{provider=\"openai\",status=\"ok\"} 2",
            "byok_keys{provider=\"openai\",status=\"invalid\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
    }

    #[test]
    fn attempts_and_fallbacks_by_provider() {
        let m = Metrics::default();
        m.attempt_failed("groq");
        m.fallback("groq");
        m.usage("together", 1, 1, 0);
        let out = m.render();
        for line in [
            "byok_upstream_errors_total{provider=\"groq\"} 1",
            "byok_upstream_attempts_total{provider=\"groq\",outcome=\"failed\"} 1",
            "byok_upstream_attempts_total{provider=\"together\",outcome=\"answered\"} 1",
            "byok_fallbacks_total{provider=\"groq\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        assert!(
            !out.contains("byok_fallbacks_total{provider=\"together\"}"),
            "{out}"
        );
    }

    #[test]
    fn labels_are_escaped_at_render() {
        let m = Metrics::default();
        m.attempt_failed("evil\"} 1\nbyok_x{a=\"");
        let out = m.render();
        assert!(
            out.contains("byok_upstream_errors_total{provider=\"evil}1byok_x{a\"} 1"),
            "{out}"
        );
        assert_eq!(out.lines().filter(|l| l.starts_with("byok_x")).count(), 0);
    }
}
