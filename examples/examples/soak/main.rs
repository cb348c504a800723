//! The soak driver (issue #19): the real release `byok-server` under mixed
//! streamed and non-streamed traffic with upstream faults, at a steady
//! share of its measured capacity, sampled every 10 s. `scripts/soak`
//! builds and runs it; `docs/reliability.md ("Soak")` says what the figures mean.
//!
//! ```text
//! scripts/soak [MINUTES] [--out DIR]
//! cargo run --release -p byok-examples --example soak -- --server target/release/byok-server --minutes 10
//! ```
//!
//! What it does, in one process (two tokio runtimes whose threads are
//! named, `soak-mock` for the mock upstream and `soak-load` for the
//! clients, so the CPU each costs is reported apart from the server's):
//!
//! 1. starts the testkit's mock upstream on `127.0.0.1` (`/groq/chat/completions`:
//!    the recorded `openai/chat_text.json`, or `openai/stream_groq.sse` one
//!    event every `--event-delay-ms`), with weighted faults per request
//!    (`--fault-pct`, default 5: a 500, a reset mid-body or mid-stream,
//!    garbage bytes) and `--rate-limits-per-min` 429s with `retry-after: 1`
//!    (a key cools down for a second: the request falls back to the other
//!    key);
//! 2. starts `--server` as a child (SQLite data in a temporary directory,
//!    5 s upstream and client-write timeouts, no rate limit), makes a user
//!    with credit and two groq keys, `default` (priority 0) and `backup` (1);
//! 3. warms up, then measures capacity closed-loop (`--clients` 64 for
//!    `--capacity-secs` 20): requests/s of the mix (50% non-streamed, 45%
//!    streamed and read to the end, 5% streamed and dropped at a random
//!    moment);
//! 4. runs the same mix open-loop (Poisson arrivals) at `--load` (0.7) of
//!    that rate, or `--rate R`, for `--minutes` (10), sampling every
//!    `--sample-secs` (10): the server's RSS, open fds, threads, requests in
//!    flight (`/metrics`), the window's requests, outcomes and latency
//!    percentiles (to the last byte, from the scheduled start);
//! 5. waits until nothing is held, checks the ledger (balance + every
//!    charge's markup = credit, nothing reserved), writes `soak.json`,
//!    `soak.md` and `soak.svg` into `--out` (default `bench/results`), and
//!    prints the table.
//!
//! Outcomes: `ok` (200, the whole answer: JSON with choices, or a stream
//! ending in `[DONE]` without an error event); `upstream` (an injected
//! fault that reached the client in the gateway's clean shape: a 502/504
//! `upstream_error`, a 429 of the upstream's or `keys_cooling_down`, or a
//! stream's error event of those types); `gateway` (anything else: another
//! status or error type, a transport error, a stream cut without its end,
//! an answer that does not parse: the failures a soak looks for);
//! `dropped` (the client hung up on purpose before the end).
//!
//! Ctrl-C during the open-loop phase ends it early; the report is still
//! written.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a driver reports to its user

mod load;
mod probe;
mod report;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use byok_testkit::{Body, MockUpstream, Piece, Reply, fixture};
use bytes::Bytes;
use serde_json::{Value, json};

use load::{Load, Window, closed_loop, open_loop};
use probe::{Sampler, print_progress, proc_stat, scrape};
use report::Report;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Res<T> = Result<T, Error>;

pub(crate) const ADMIN: &str = "soak-admin-token-0123456789abcdefghijklmnop";
pub(crate) const CREDIT_USD: &str = "100000.00";
pub(crate) const MODEL: &str = "llama-3.3-70b-versatile";
/// The upstream path (`BYOK_UPSTREAM_GROQ` is the mock's `/groq`).
pub(crate) const PATH: &str = "/groq/chat/completions";
/// Each fault weight is in parts per million of requests.
pub(crate) const PPM: u32 = 1_000_000;

pub(crate) const USAGE: &str = "usage: soak --server PATH [--minutes M] [--out DIR] [--clients N] [--capacity-secs S] \
[--load F] [--rate R] [--sample-secs S] [--fault-pct P] [--rate-limits-per-min N] [--event-delay-ms MS] \
[--max-outstanding N] [--seed S] [--commit TEXT]";

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) server: PathBuf,
    pub(crate) minutes: f64,
    pub(crate) out: PathBuf,
    pub(crate) clients: usize,
    pub(crate) capacity_secs: f64,
    pub(crate) load: f64,
    pub(crate) rate: Option<f64>,
    pub(crate) sample_secs: f64,
    pub(crate) fault_pct: f64,
    pub(crate) rate_limits_per_min: f64,
    pub(crate) event_delay_ms: u64,
    pub(crate) max_outstanding: usize,
    pub(crate) seed: u64,
    pub(crate) commit: String,
}

impl Config {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Res<Self> {
        let mut c = Self {
            server: PathBuf::new(),
            minutes: 10.0,
            out: PathBuf::from("bench/results"),
            clients: 64,
            capacity_secs: 20.0,
            load: 0.7,
            rate: None,
            sample_secs: 10.0,
            fault_pct: 5.0,
            rate_limits_per_min: 6.0,
            event_delay_ms: 2,
            max_outstanding: 5_000,
            seed: now_unix_nanos() | 1,
            commit: String::new(),
        };
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--server" => c.server = PathBuf::from(&value),
                "--minutes" => c.minutes = value.parse().map_err(|e| bad(&e))?,
                "--out" => c.out = PathBuf::from(&value),
                "--clients" => c.clients = value.parse().map_err(|e| bad(&e))?,
                "--capacity-secs" => c.capacity_secs = value.parse().map_err(|e| bad(&e))?,
                "--load" => c.load = value.parse().map_err(|e| bad(&e))?,
                "--rate" => c.rate = Some(value.parse().map_err(|e| bad(&e))?),
                "--sample-secs" => c.sample_secs = value.parse().map_err(|e| bad(&e))?,
                "--fault-pct" => c.fault_pct = value.parse().map_err(|e| bad(&e))?,
                "--rate-limits-per-min" => {
                    c.rate_limits_per_min = value.parse().map_err(|e| bad(&e))?;
                }
                "--event-delay-ms" => c.event_delay_ms = value.parse().map_err(|e| bad(&e))?,
                "--max-outstanding" => c.max_outstanding = value.parse().map_err(|e| bad(&e))?,
                "--seed" => c.seed = value.parse::<u64>().map_err(|e| bad(&e))? | 1,
                "--commit" => c.commit = value,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
            }
        }
        if c.server.as_os_str().is_empty() {
            return Err(format!("--server is required\n{USAGE}").into());
        }
        let positive = [
            ("--minutes", c.minutes),
            ("--capacity-secs", c.capacity_secs),
            ("--load", c.load),
            ("--sample-secs", c.sample_secs),
            ("--rate", c.rate.unwrap_or(1.0)),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be above 0").into());
            }
        }
        if !(0.0..=50.0).contains(&c.fault_pct) || c.rate_limits_per_min < 0.0 {
            return Err("--fault-pct is 0 to 50, --rate-limits-per-min at least 0".into());
        }
        if c.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        Ok(c)
    }
}

fn main() -> Res<()> {
    let cfg = Config::parse(std::env::args().skip(1))?;
    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-mock")
        .enable_all()
        .build()?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-load")
        .enable_all()
        .build()?;
    let mock = mock_rt.block_on(MockUpstream::start());
    let result = load_rt.block_on(run(&cfg, &mock));
    drop(mock);
    mock_rt.shutdown_timeout(Duration::from_secs(1));
    load_rt.shutdown_timeout(Duration::from_secs(1));
    result
}

// ---------------------------------------------------------------- randomness

/// xorshift64: reproducible from `--seed`, good enough for a load mix.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------- the mock

/// The mock's replies: the recorded answers with `--fault-pct` faults per
/// request and, at `rate` requests a second, `--rate-limits-per-min` 429s
/// (`None`: no 429s).
pub(crate) fn set_faults(mock: &MockUpstream, cfg: &Config, rate: Option<f64>) {
    let delay = Duration::from_millis(cfg.event_delay_ms);
    let stream_text = fixture("openai/stream_groq.sse");
    let answer = fixture("openai/chat_text.json");
    let garbage = Bytes::from_static(&[0xff, 0, 13, 10, 0x80, b'x', b'\n', b'\n']);
    let too_many = || Reply::json(429, fixture("openai/error_429.json")).header("retry-after", "1");
    let server_error = || Reply::json(500, fixture("openai/error_500.json"));
    // The faults per request (500, reset, garbage) and the 429s, sized per
    // minute: each cools a key for a second, so a share per request would
    // keep both keys cooling at a few thousand requests a second.
    let faults = to_u32(cfg.fault_pct * f64::from(PPM) / 100.0);
    let each = faults / 3;
    let limits = match rate {
        Some(rate) if cfg.rate_limits_per_min > 0.0 => {
            to_u32(cfg.rate_limits_per_min / 60.0 / rate.max(1.0) * f64::from(PPM)).max(1)
        }
        _ => 0,
    };
    let ok = PPM.saturating_sub(3 * each + limits);
    let half_answer = Bytes::copy_from_slice(&answer.as_bytes()[..answer.len() / 2]);
    mock.on_weighted(
        "POST",
        PATH,
        vec![
            (ok, Reply::json(200, answer)),
            (limits, too_many()),
            (each, server_error()),
            (
                each,
                Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: Body::ResetAfter(vec![Piece {
                        delay: Duration::ZERO,
                        bytes: half_answer,
                    }]),
                },
            ),
            (each, Reply::raw(200, "application/json", garbage.clone())),
        ],
    );
    let stream = Reply::sse_with_delay(&stream_text, delay);
    // Resets after 1, 5 and 9 of the stream's events.
    let reset_after = |events: usize| {
        let Body::Pieces(pieces) = &stream.body else {
            return stream.clone();
        };
        Reply {
            body: Body::ResetAfter(pieces.iter().take(events).cloned().collect()),
            ..stream.clone()
        }
    };
    mock.on_streaming_weighted(
        "POST",
        PATH,
        vec![
            (ok, stream.clone()),
            (limits, too_many()),
            (each, server_error()),
            (each / 3, reset_after(1)),
            (each / 3, reset_after(5)),
            (each - 2 * (each / 3), reset_after(9)),
            (each, Reply::raw(200, "text/event-stream", garbage)),
        ],
    );
}

// ---------------------------------------------------------------- the server

/// The child server; killed (and its data removed) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{status}")),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The last lines of its log (errors only).
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) async fn start_server(
    cfg: &Config,
    mock: &MockUpstream,
    http: &reqwest::Client,
) -> Res<Server> {
    let dir = std::env::temp_dir().join(format!(
        "byok-soak-{}-{}",
        std::process::id(),
        now_unix_nanos()
    ));
    std::fs::create_dir_all(&dir)?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let port = free_port()?;
    let child = Command::new(&cfg.server)
        .env_remove("BYOK_CONFIG")
        .env_remove("BYOK_DATABASE_URL")
        .env_remove("BYOK_MASTER_KEY")
        .env_remove("BYOK_METRICS_TOKEN")
        .env_remove("BYOK_METRICS_LISTEN")
        .env("BYOK_DATA_DIR", dir.join("data"))
        .env("BYOK_LISTEN", format!("127.0.0.1:{port}"))
        .env("BYOK_ADMIN_TOKEN", ADMIN)
        .env("BYOK_UPSTREAM_GROQ", format!("{}/groq", mock.base_url()))
        .env("BYOK_ALLOW_INSECURE_UPSTREAMS", "1")
        .env("BYOK_RATE_LIMIT_RPM", "0")
        .env("BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS", "5")
        .env("BYOK_UPSTREAM_IDLE_TIMEOUT_SECS", "5")
        .env("BYOK_UPSTREAM_CONNECT_TIMEOUT_SECS", "5")
        .env("BYOK_CLIENT_WRITE_TIMEOUT_SECS", "5")
        .env("BYOK_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", cfg.server.display()))?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
            && r.status() == 200
        {
            return Ok(server);
        }
        if let Some(status) = server.exited() {
            return Err(format!("the server exited ({status}):\n{}", server.log_tail()).into());
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the server was not ready after 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn call(req: reqwest::RequestBuilder, what: &str) -> Res<Value> {
    let r = req.send().await?;
    let status = r.status();
    let text = r.text().await?;
    if status != 200 {
        return Err(format!("{what}: HTTP {status}: {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

/// A user with credit and two groq keys: `default` (priority 0) and
/// `backup` (1). Its gateway key.
pub(crate) async fn make_user(http: &reqwest::Client, base: &str) -> Res<String> {
    let made = call(
        http.post(format!("{base}/api/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "soak"})),
        "create the user",
    )
    .await?;
    let id = made["user_id"].as_str().ok_or("no user_id")?;
    let key = made["api_key"].as_str().ok_or("no api_key")?.to_owned();
    call(
        http.post(format!("{base}/api/admin/users/{id}/credits"))
            .bearer_auth(ADMIN)
            .json(&json!({"amount_usd": CREDIT_USD})),
        "credit",
    )
    .await?;
    for (label, priority) in [("default", 0), ("backup", 1)] {
        call(
            http.put(format!("{base}/api/byok/credentials/groq/{label}"))
                .bearer_auth(&key)
                .json(&json!({"key": format!("gsk-soak-{label}-0123456789abcdefghij"), "priority": priority})),
            "store a key",
        )
        .await?;
    }
    Ok(key)
}

// ---------------------------------------------------------------- the run

pub(crate) struct Phase1 {
    pub(crate) rate: f64,
    pub(crate) window: Window,
    pub(crate) secs: f64,
}

#[allow(clippy::too_many_lines)] // the run, step by step
pub(crate) async fn run(cfg: &Config, mock: &MockUpstream) -> Res<()> {
    let started_at = now_utc();
    let admin_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    // No 429s while measuring capacity: a second in which both keys cool
    // down would have the closed-loop clients spin on instant 429s and
    // inflate the rate. They are sized for the soak's rate once known.
    set_faults(mock, cfg, None);
    let mut server = start_server(cfg, mock, &admin_http).await?;
    let pid = server.pid();
    let idle = proc_stat(pid)?;
    let key = make_user(&admin_http, &server.base).await?;
    let body = |stream: bool| {
        Bytes::from(
            json!({"model": MODEL, "stream": stream, "max_tokens": 300,
                   "messages": [{"role": "user", "content": "Say hello."}]})
            .to_string(),
        )
    };
    let load = Arc::new(Load {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?,
        url: format!("{}/api/v1/chat/completions", server.base),
        key: key.clone(),
        plain: body(false),
        stream: body(true),
        window: Mutex::default(),
        outstanding: AtomicUsize::new(0),
        shed: AtomicU64::new(0),
        lag_us: AtomicU64::new(0),
    });
    // A dropped stream hangs up at a random moment within the time a whole
    // stream takes upstream (its 12 events, each after the event delay).
    let drop_within = Duration::from_millis(12 * cfg.event_delay_ms + 2);

    eprintln!(
        "soak: server pid {pid} on {}, {} idle; warm-up 3 s",
        server.base,
        mib(idle.rss_kib)
    );
    // The warm-up's figures are not kept.
    let _ = closed_loop(
        &load,
        cfg.clients,
        Duration::from_secs(3),
        drop_within,
        cfg.seed,
    )
    .await;
    eprintln!(
        "soak: capacity, closed loop, {} clients for {} s",
        cfg.clients, cfg.capacity_secs
    );
    let (window, secs) = closed_loop(
        &load,
        cfg.clients,
        Duration::from_secs_f64(cfg.capacity_secs),
        drop_within,
        cfg.seed.rotate_left(17),
    )
    .await;
    let phase1 = Phase1 {
        rate: window.requests() as f64 / secs.as_secs_f64(),
        window,
        secs: secs.as_secs_f64(),
    };
    let target = cfg.rate.unwrap_or(phase1.rate * cfg.load);
    set_faults(mock, cfg, Some(target));
    eprintln!(
        "soak: capacity {:.0} req/s ({} gateway errors); open loop at {:.0} req/s for {} min",
        phase1.rate, phase1.window.gateway, target, cfg.minutes
    );
    // Let the capacity phase's tail settle before the first sample.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut sampler = Sampler::new(pid, &server.base, &admin_http).await?;
    let mut samples = vec![sampler.sample(&admin_http, &load, mock).await?.0];
    print_progress(&samples[0]);
    let mut total = Window::default();
    let stop = Arc::new(AtomicBool::new(false));
    let duration = Duration::from_secs_f64(cfg.minutes * 60.0);
    let generator = tokio::spawn(open_loop(
        Arc::clone(&load),
        target,
        duration,
        drop_within,
        cfg.seed.rotate_left(31),
        cfg.max_outstanding,
        Arc::clone(&stop),
    ));
    let every = Duration::from_secs_f64(cfg.sample_secs);
    let mut next = Instant::now() + every;
    let end = Instant::now() + duration;
    let mut failure = None;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.min(end).into()) => {}
            _ = &mut ctrl_c => {
                eprintln!("soak: interrupted, ending the run");
                interrupted = true;
                break;
            }
        }
        if let Some(status) = server.exited() {
            failure = Some(format!(
                "the server exited ({status}):\n{}",
                server.log_tail()
            ));
            break;
        }
        if Instant::now() >= end {
            break; // the last sample is taken once the clients are done
        }
        if Instant::now() < next {
            continue;
        }
        next += every;
        let (sample, window) = sampler.sample(&admin_http, &load, mock).await?;
        print_progress(&sample);
        total.merge(&window);
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    generator.await?;

    // Drain: every client request finished (the last window includes
    // them), then nothing held by the server.
    let drain_started = Instant::now();
    while load.outstanding.load(Ordering::Relaxed) > 0
        && drain_started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if failure.is_none() {
        let (last, window) = sampler.sample(&admin_http, &load, mock).await?;
        print_progress(&last);
        total.merge(&window);
        samples.push(last);
    }
    // The clients' idle keep-alive connections go, so that the server's
    // fds after the load are its own.
    drop(load);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut drained = None;
    let mut held = (0, 0, String::new());
    if failure.is_none() {
        let settle_started = Instant::now();
        while settle_started.elapsed() < Duration::from_secs(60) {
            let flying = scrape(&admin_http, &server.base)
                .await?
                .in_flight
                .unwrap_or(0);
            let open = mock.open_connections();
            let balance = call(
                admin_http
                    .get(format!("{}/api/balance", server.base))
                    .bearer_auth(&key),
                "balance",
            )
            .await?;
            let reserved = balance["reserved_usd"].as_str().unwrap_or("?").to_owned();
            held = (flying, open, reserved.clone());
            if flying == 0 && open == 0 && nanos(&reserved) == Some(0) {
                drained = Some(drain_started.elapsed());
                eprintln!(
                    "soak: nothing held {:.1} s after the load",
                    drain_started.elapsed().as_secs_f64()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after = proc_stat(pid).unwrap_or_default();
    let ledger = if failure.is_none() {
        let started = Instant::now();
        let ledger = check_ledger(&admin_http, &server.base, &key).await?;
        eprintln!(
            "soak: ledger checked: {} entries in {} pages, {:.1} s",
            ledger.entries,
            ledger.pages,
            started.elapsed().as_secs_f64()
        );
        Some(ledger)
    } else {
        None
    };
    server.stop();

    let report = Report {
        cfg,
        started_at,
        idle_rss_mib: idle.rss_kib as f64 / 1024.0,
        phase1,
        target,
        samples,
        total,
        drained,
        held,
        after_rss_mib: after.rss_kib as f64 / 1024.0,
        after_fds: after.fds,
        after_threads: after.threads,
        ledger,
        failure: failure.clone(),
        interrupted,
    };
    std::fs::create_dir_all(&cfg.out)?;
    let md = report.markdown();
    std::fs::write(cfg.out.join("soak.md"), &md)?;
    std::fs::write(
        cfg.out.join("soak.json"),
        serde_json::to_string_pretty(&report.json())?,
    )?;
    std::fs::write(cfg.out.join("soak.svg"), report.svg())?;
    println!("{md}");
    eprintln!(
        "soak: wrote {}",
        ["soak.md", "soak.json", "soak.svg"]
            .map(|f| cfg.out.join(f).display().to_string())
            .join(", ")
    );
    if let Some(f) = failure {
        return Err(f.into());
    }
    if report.drained.is_none() {
        return Err("requests, upstream connections or reservations still held after the load (see the report)".into());
    }
    match &report.ledger {
        Some(l) if !l.adds_up() => Err("the ledger does not add up (see the report)".into()),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- the ledger

#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) credit_nanos: i128,
    pub(crate) balance_nanos: i128,
    pub(crate) reserved_nanos: i128,
    pub(crate) charged_nanos: i128,
    pub(crate) entries: u64,
    pub(crate) pages: u64,
}

impl Ledger {
    pub(crate) fn adds_up(&self) -> bool {
        self.reserved_nanos == 0 && self.balance_nanos + self.charged_nanos == self.credit_nanos
    }
}

/// Every entry of `/api/usage`, page by page: the balance plus their
/// markups is the credit, and nothing is reserved.
pub(crate) async fn check_ledger(http: &reqwest::Client, base: &str, key: &str) -> Res<Ledger> {
    let mut ledger = Ledger {
        credit_nanos: nanos(CREDIT_USD).ok_or("credit")?,
        balance_nanos: 0,
        reserved_nanos: 0,
        charged_nanos: 0,
        entries: 0,
        pages: 0,
    };
    let mut before: Option<i64> = None;
    loop {
        let url = match before {
            Some(b) => format!("{base}/api/usage?limit=500&before={b}"),
            None => format!("{base}/api/usage?limit=500"),
        };
        let page = call(http.get(url).bearer_auth(key), "usage").await?;
        let rows = page["data"].as_array().ok_or("usage without data")?;
        ledger.pages += 1;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let markup = row["markup_usd"]
                .as_str()
                .ok_or("an entry without markup_usd")?;
            ledger.charged_nanos += nanos(markup).ok_or("a markup that does not parse")?;
            ledger.entries += 1;
        }
        match page["next_before"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let balance = call(
        http.get(format!("{base}/api/balance")).bearer_auth(key),
        "balance",
    )
    .await?;
    ledger.balance_nanos = nanos(balance["balance_usd"].as_str().unwrap_or("")).ok_or("balance")?;
    ledger.reserved_nanos =
        nanos(balance["reserved_usd"].as_str().unwrap_or("")).ok_or("reserved")?;
    Ok(ledger)
}

/// A decimal USD string in nano-USD.
pub(crate) fn nanos(usd: &str) -> Option<i128> {
    let (neg, digits) = match usd.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, usd),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > 9 || whole.is_empty() {
        return None;
    }
    let n = whole.parse::<i128>().ok()? * 1_000_000_000
        + if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse::<i128>().ok()?
        };
    Some(if neg { -n } else { n })
}

pub(crate) fn usd(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.abs();
    format!("{sign}{}.{:09}", n / 1_000_000_000, n % 1_000_000_000)
}

// ---------------------------------------------------------------- helpers

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v}"))
}

/// A count that may be missing ("–").
pub(crate) fn count(v: Option<i64>) -> String {
    v.map_or("–".to_owned(), |v| v.to_string())
}

pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped first
pub(crate) fn to_u64(v: f64) -> u64 {
    if v.is_finite() {
        v.clamp(0.0, u64::MAX as f64) as u64
    } else {
        0
    }
}

pub(crate) fn to_u32(v: f64) -> u32 {
    u32::try_from(to_u64(v)).unwrap_or(u32::MAX)
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ` (days to a civil date: Howard Hinnant's
/// algorithm).
pub(crate) fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_amounts_read_and_print_exactly() {
        assert_eq!(nanos("100000.00"), Some(100_000_000_000_000));
        assert_eq!(nanos("0.000000001"), Some(1));
        assert_eq!(nanos("-1.5"), Some(-1_500_000_000));
        assert_eq!(nanos("7"), Some(7_000_000_000));
        assert_eq!(nanos("0.0000000001"), None, "finer than a nano-USD");
        assert_eq!(nanos(".5"), None);
        for n in [0, 1, 999_999_999, 1_000_000_000, 123_456_789_012, -42] {
            assert_eq!(nanos(&usd(n)), Some(n));
        }
    }

    #[test]
    fn dates_are_civil() {
        let now = now_utc();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
