//! The clients: the request mix, one request and what came of it, the
//! closed and open loops.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use crate::Rng;

/// What a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Non-streamed.
    Plain,
    /// Streamed and read to the end.
    Stream,
    /// Streamed, and dropped by the client after this long.
    Dropped(Duration),
}

/// 50% non-streamed, 45% streamed, 5% streamed and dropped at a random
/// moment of up to `drop_within`.
pub(crate) fn pick(rng: &mut Rng, drop_within: Duration) -> Kind {
    match rng.below(100) {
        0..50 => Kind::Plain,
        50..95 => Kind::Stream,
        _ => Kind::Dropped(drop_within.mul_f64(rng.unit())),
    }
}

/// What came of a request (the driver's docs say how each is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The whole answer.
    Ok,
    /// An injected upstream fault, reported to the client in the gateway's
    /// clean shape.
    Upstream,
    /// Anything else: what a soak looks for.
    Gateway,
    /// The client hung up on purpose before the end.
    Dropped,
}

/// What the window's requests came to.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) ok: u64,
    pub(crate) upstream: u64,
    pub(crate) gateway: u64,
    pub(crate) dropped: u64,
    /// Time to the last byte of each non-streamed `ok` answer, µs.
    pub(crate) plain_us: Vec<u32>,
    /// The same of each streamed one.
    pub(crate) stream_us: Vec<u32>,
    /// The upstream faults and gateway failures by what they said.
    pub(crate) upstream_kinds: BTreeMap<String, u64>,
    pub(crate) gateway_kinds: BTreeMap<String, u64>,
}

impl Window {
    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.upstream + self.gateway + self.dropped
    }

    pub(crate) fn add(
        &mut self,
        outcome: Outcome,
        detail: String,
        latency: Duration,
        streamed: bool,
    ) {
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
                if streamed {
                    self.stream_us.push(us);
                } else {
                    self.plain_us.push(us);
                }
            }
            Outcome::Upstream => {
                self.upstream += 1;
                *self.upstream_kinds.entry(detail).or_default() += 1;
            }
            Outcome::Gateway => {
                self.gateway += 1;
                *self.gateway_kinds.entry(detail).or_default() += 1;
            }
            Outcome::Dropped => self.dropped += 1,
        }
    }

    /// Every `ok` answer's latency (µs), sorted.
    pub(crate) fn latencies(&self) -> Vec<u32> {
        let mut all = [self.plain_us.as_slice(), self.stream_us.as_slice()].concat();
        all.sort_unstable();
        all
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        self.ok += other.ok;
        self.upstream += other.upstream;
        self.gateway += other.gateway;
        self.dropped += other.dropped;
        self.plain_us.extend_from_slice(&other.plain_us);
        self.stream_us.extend_from_slice(&other.stream_us);
        for (k, n) in &other.upstream_kinds {
            *self.upstream_kinds.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.gateway_kinds {
            *self.gateway_kinds.entry(k.clone()).or_default() += n;
        }
    }
}

/// What every client shares.
pub(crate) struct Load {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
    pub(crate) key: String,
    pub(crate) plain: Bytes,
    pub(crate) stream: Bytes,
    pub(crate) window: Mutex<Window>,
    /// Requests sent and not finished.
    pub(crate) outstanding: AtomicUsize,
    /// Open loop: arrivals not sent because `--max-outstanding` were out.
    pub(crate) shed: AtomicU64,
    /// Open loop: the most a request started after its scheduled time in
    /// this window, µs (the generator falling behind).
    pub(crate) lag_us: AtomicU64,
}

impl Load {
    pub(crate) fn record(
        &self,
        outcome: Outcome,
        detail: String,
        latency: Duration,
        streamed: bool,
    ) {
        self.window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(outcome, detail, latency, streamed);
    }

    pub(crate) fn take(&self) -> Window {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Reads an error answer: an injected fault in the gateway's clean shape
/// (`upstream_error`, an upstream status code, keys cooling down), or a
/// gateway failure.
pub(crate) fn classify_error(status: u16, body: &[u8]) -> (Outcome, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (Outcome::Gateway, format!("{status}, not a JSON error"));
    };
    let kind = v["error"]["type"].as_str().unwrap_or("");
    let code = v["error"]["code"].as_str().unwrap_or("");
    let upstream =
        kind == "upstream_error" || code.starts_with("upstream_") || code == "keys_cooling_down";
    let detail = format!(
        "{status} {kind}{}{code}",
        if code.is_empty() { "" } else { "/" }
    );
    if upstream {
        (Outcome::Upstream, detail)
    } else {
        (Outcome::Gateway, detail)
    }
}

/// A whole streamed answer: `[DONE]` at the end, no error event.
pub(crate) fn classify_stream(body: &[u8]) -> (Outcome, String) {
    let text = String::from_utf8_lossy(body);
    if let Some(event) = text.split("\n\n").find_map(|e| {
        e.strip_prefix("data: ")
            .filter(|d| d.starts_with("{\"error\""))
    }) {
        let (outcome, detail) = classify_error(200, event.as_bytes());
        return (outcome, format!("{detail} (stream error event)"));
    }
    if text.trim_end().ends_with("data: [DONE]") {
        (Outcome::Ok, String::new())
    } else {
        (Outcome::Gateway, "200 stream cut without [DONE]".into())
    }
}

pub(crate) fn transport(e: &reqwest::Error, stage: &str) -> (Outcome, String) {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    (
        Outcome::Gateway,
        format!("transport error ({what}) {stage}"),
    )
}

/// One request to its end: its outcome and what it said.
pub(crate) async fn exchange(load: &Load, streamed: bool) -> (Outcome, String) {
    let body = if streamed { &load.stream } else { &load.plain };
    let sent = load
        .http
        .post(&load.url)
        .bearer_auth(&load.key)
        .header("x-byok-provider", "groq")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await;
    let mut r = match sent {
        Ok(r) => r,
        Err(e) => return transport(&e, "before the answer"),
    };
    let status = r.status().as_u16();
    let mut whole = Vec::with_capacity(4096);
    loop {
        match r.chunk().await {
            Ok(Some(piece)) => whole.extend_from_slice(&piece),
            Ok(None) => break,
            Err(e) => return transport(&e, "reading the answer"),
        }
    }
    if status != 200 {
        return classify_error(status, &whole);
    }
    if streamed {
        return classify_stream(&whole);
    }
    match serde_json::from_slice::<Value>(&whole) {
        Ok(v) if v["choices"].is_array() => (Outcome::Ok, String::new()),
        _ => (Outcome::Gateway, "200 answer without choices".into()),
    }
}

/// One request of `kind`, recorded; latency from `scheduled`.
pub(crate) async fn one(load: &Load, kind: Kind, scheduled: Instant) {
    let (outcome, detail) = match kind {
        Kind::Plain => exchange(load, false).await,
        Kind::Stream => exchange(load, true).await,
        Kind::Dropped(after) => {
            match tokio::time::timeout(after, exchange(load, true)).await {
                Ok(done) => done, // finished before the client meant to hang up
                Err(_) => (Outcome::Dropped, String::new()),
            }
        }
    };
    load.record(outcome, detail, scheduled.elapsed(), kind != Kind::Plain);
}

/// `clients` clients, each sending its next request when the last ended,
/// for `duration`: what they got and how long it took.
pub(crate) async fn closed_loop(
    load: &Arc<Load>,
    clients: usize,
    duration: Duration,
    drop_within: Duration,
    seed: u64,
) -> (Window, Duration) {
    load.take();
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let load = Arc::clone(load);
        let mut rng = Rng(seed.wrapping_add(0x9E37_79B9 * (i as u64 + 1)) | 1);
        tasks.spawn(async move {
            while Instant::now() < end {
                let kind = pick(&mut rng, drop_within);
                one(&load, kind, Instant::now()).await;
            }
        });
    }
    tasks.join_all().await;
    (load.take(), started.elapsed())
}

/// Poisson arrivals at `rate` for `duration` (or until `stop`), each
/// request a task; latency counts from its scheduled time, so a server
/// that falls behind is seen (no coordinated omission).
pub(crate) async fn open_loop(
    load: Arc<Load>,
    rate: f64,
    duration: Duration,
    drop_within: Duration,
    seed: u64,
    max_outstanding: usize,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let end = start + duration;
    let mut at = start;
    loop {
        // Exponential gaps: -ln(1 - U) / rate.
        at += Duration::from_secs_f64(-(1.0 - rng.unit()).ln() / rate);
        if at >= end || stop.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if at > now {
            tokio::time::sleep_until(at.into()).await;
        } else {
            let lag = u64::try_from(now.duration_since(at).as_micros()).unwrap_or(u64::MAX);
            load.lag_us.fetch_max(lag, Ordering::Relaxed);
        }
        if load.outstanding.load(Ordering::Relaxed) >= max_outstanding {
            load.shed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        load.outstanding.fetch_add(1, Ordering::Relaxed);
        let kind = pick(&mut rng, drop_within);
        let task_load = Arc::clone(&load);
        let scheduled = at;
        tokio::spawn(async move {
            one(&task_load, kind, scheduled).await;
            task_load.outstanding.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_the_gateways_upstream_shape_are_injected_faults() {
        let upstream = [
            (
                502,
                r#"{"error":{"type":"upstream_error","code":"upstream_500","message":"x"}}"#,
            ),
            (
                504,
                r#"{"error":{"type":"upstream_error","code":"upstream_timeout"}}"#,
            ),
            (
                429,
                r#"{"error":{"type":"rate_limit_error","code":"keys_cooling_down"}}"#,
            ),
            (
                429,
                r#"{"error":{"type":"rate_limit_error","code":"upstream_429"}}"#,
            ),
        ];
        for (status, body) in upstream {
            assert_eq!(
                classify_error(status, body.as_bytes()).0,
                Outcome::Upstream,
                "{body}"
            );
        }
        let gateway = [
            (500, r#"{"error":{"type":"server_error","code":null}}"#),
            (
                402,
                r#"{"error":{"type":"insufficient_quota","code":"insufficient_balance"}}"#,
            ),
            (502, "<html>bad gateway</html>"),
        ];
        for (status, body) in gateway {
            assert_eq!(
                classify_error(status, body.as_bytes()).0,
                Outcome::Gateway,
                "{body}"
            );
        }
    }

    #[test]
    fn a_stream_is_whole_with_done_and_no_error_event() {
        let ok = "data: {\"choices\":[]}\n\ndata: [DONE]\n\n";
        assert_eq!(classify_stream(ok.as_bytes()).0, Outcome::Ok);
        let fault = "data: {\"choices\":[]}\n\ndata: {\"error\":{\"type\":\"upstream_error\"}}\n\ndata: [DONE]\n\n";
        assert_eq!(classify_stream(fault.as_bytes()).0, Outcome::Upstream);
        let internal = "data: {\"error\":{\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n";
        assert_eq!(classify_stream(internal.as_bytes()).0, Outcome::Gateway);
        let cut = "data: {\"choices\":[]}\n\n";
        assert_eq!(classify_stream(cut.as_bytes()).0, Outcome::Gateway);
    }

    #[test]
    fn the_mix_is_half_plain_and_a_twentieth_dropped() {
        let mut rng = Rng(12_345);
        let within = Duration::from_millis(20);
        let kinds: Vec<Kind> = (0..20_000).map(|_| pick(&mut rng, within)).collect();
        let plain = kinds.iter().filter(|k| **k == Kind::Plain).count();
        let dropped: Vec<Duration> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Dropped(after) => Some(*after),
                _ => None,
            })
            .collect();
        assert!((9_500..10_500).contains(&plain), "{plain}");
        assert!((800..1_200).contains(&dropped.len()), "{}", dropped.len());
        assert!(dropped.iter().all(|d| *d < within));
    }
}
