//! Mock upstream servers and recorded-format fixtures for byok's tests.
//!
//! [`MockUpstream`] is a small HTTP/1.1 server on `127.0.0.1:0` that answers
//! each route with a scripted [`Reply`]: a whole body, a chunked body whose
//! pieces arrive with delays (SSE streams), a connection reset mid-body, a
//! huge generated body, or no answer at all. It records every request it
//! receives (method, path, headers, body) for assertions.
//!
//! It speaks HTTP by hand on purpose: a test needs to control exactly when
//! bytes leave and to break a connection mid-stream, which higher-level
//! servers hide. Every response closes its connection.
//!
//! A route answers with one reply every time ([`MockUpstream::on`]), with a
//! sequence of replies in order ([`MockUpstream::on_sequence`]), or with a
//! reply drawn at random by weight for each request
//! ([`MockUpstream::on_weighted`]: a mix of answers and faults for load and
//! soak tests; [`MockUpstream::seed`] makes the draws repeatable).
//!
//! Fixtures live in `fixtures/<dialect>/`, written from the providers'
//! documented wire formats; load them with [`fixture`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: fail loudly

pub mod postgres;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Whether this is a CI run (`CI` set to anything but empty, `0` or
/// `false`): there a suite that lacks its tools fails instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Says that a test is skipped, past the test harness's capture of
/// `eprintln!` (a passing test's output is hidden, and a skip must be
/// seen).
pub fn skipped(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// One piece of a chunked body, sent after `delay`.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Wait before sending.
    pub delay: Duration,
    /// The bytes.
    pub bytes: Bytes,
}

/// A response body script.
#[derive(Debug, Clone)]
pub enum Body {
    /// A whole body with `Content-Length`.
    Full(Bytes),
    /// A chunked body, one HTTP chunk per piece, flushed as it goes.
    Pieces(Vec<Piece>),
    /// Sends the pieces, then resets the connection (no terminating chunk).
    ResetAfter(Vec<Piece>),
    /// `count` copies of `piece` with `Content-Length` (large bodies without
    /// holding them in memory).
    Repeat {
        /// The repeated bytes.
        piece: Bytes,
        /// How many times.
        count: usize,
    },
    /// Never sends anything after reading the request (until the client
    /// closes the connection).
    Hang,
    /// Sends the head and the pieces, then nothing more (until the client
    /// closes the connection): a stream that stalls after its headers.
    StallAfter(Vec<Piece>),
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(Bytes::from(body.into())),
        }
    }

    /// A body with an explicit content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: Body::Full(body.into()),
        }
    }

    /// An SSE stream sent one event per chunk (split at blank lines).
    pub fn sse(text: &str) -> Self {
        Self::sse_with_delay(text, Duration::ZERO)
    }

    /// An SSE stream, each event after `delay`.
    pub fn sse_with_delay(text: &str, delay: Duration) -> Self {
        Self::event_stream_of(Body::Pieces(events(text, usize::MAX, delay)))
    }

    /// An SSE stream sent `n` bytes per chunk (1 = every byte boundary).
    pub fn sse_in_pieces_of(text: &str, n: usize) -> Self {
        let pieces = text
            .as_bytes()
            .chunks(n.max(1))
            .map(|c| Piece {
                delay: Duration::ZERO,
                bytes: Bytes::copy_from_slice(c),
            })
            .collect();
        Self::event_stream_of(Body::Pieces(pieces))
    }

    /// The first `events` events of an SSE stream, then a connection reset.
    pub fn sse_reset_after(text: &str, events: usize) -> Self {
        Self::event_stream_of(Body::ResetAfter(self::events(text, events, Duration::ZERO)))
    }

    /// The first `events` events of an SSE stream, then silence with the
    /// connection open (a stall after the headers).
    pub fn sse_stall_after(text: &str, events: usize) -> Self {
        Self::event_stream_of(Body::StallAfter(self::events(text, events, Duration::ZERO)))
    }

    /// A `200 text/event-stream` reply with `body`.
    fn event_stream_of(body: Body) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body,
        }
    }

    /// An `application/vnd.amazon.eventstream` body (Bedrock's
    /// ConverseStream), one message per chunk; build the messages with
    /// [`event_stream_message`].
    pub fn event_stream(messages: Vec<Bytes>) -> Self {
        Self {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/vnd.amazon.eventstream".into(),
            )],
            body: Body::Pieces(
                messages
                    .into_iter()
                    .map(|bytes| Piece {
                        delay: Duration::ZERO,
                        bytes,
                    })
                    .collect(),
            ),
        }
    }

    /// No answer at all.
    pub fn hang() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Body::Hang,
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The first `n` events of an SSE stream, one piece each, each after
/// `delay`.
fn events(text: &str, n: usize, delay: Duration) -> Vec<Piece> {
    split_events(text)
        .into_iter()
        .take(n)
        .map(|bytes| Piece { delay, bytes })
        .collect()
}

/// Splits SSE text into events, each keeping its terminating blank line.
pub fn split_events(text: &str) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find("\n\n") {
            Some(i) => {
                out.push(Bytes::copy_from_slice(&rest.as_bytes()[..i + 2]));
                rest = &rest[i + 2..];
            }
            None => {
                out.push(Bytes::copy_from_slice(rest.as_bytes()));
                rest = "";
            }
        }
    }
    out
}

/// One AWS event-stream message of type `event` carrying the JSON
/// `payload`: the prelude (total and headers length, CRC32), the string
/// headers `:event-type`, `:content-type: application/json` and
/// `:message-type: event`, the payload and the message CRC32, as AWS's
/// event-stream encoding specifies. Written here from that specification,
/// independently of the decoder the gateway uses.
pub fn event_stream_message(event: &str, payload: &[u8]) -> Bytes {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(u8::try_from(name.len()).unwrap());
        headers.extend_from_slice(name.as_bytes());
        headers.push(7); // string
        headers.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap().to_be_bytes());
    out.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    Bytes::from(out)
}

/// CRC-32 (IEEE 802.3, reflected, polynomial `0xEDB88320`), bit by bit.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// First header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

/// How a route picks the reply to a request.
#[derive(Debug)]
enum Replies {
    /// The one reply answers every request.
    Repeat(Reply),
    /// Each reply answers one request, in order (then the route is spent).
    Sequence(VecDeque<Reply>),
    /// Each request gets one of the replies at random, with probability
    /// weight / total (`total`: the sum of the weights, more than 0).
    Weighted(Vec<(u32, Reply)>, u64),
}

/// `(method, path, replies)`.
type Route = (String, String, Replies);

/// `(method, path, header name, header value, reply)`: answers every
/// request to `method path` that carries the header with that value.
type KeyedRoute = (String, String, String, String, Reply);

#[derive(Debug, Default)]
struct State {
    keyed: Vec<KeyedRoute>,
    routes: Vec<Route>,
    streaming: Vec<Route>,
    requests: Vec<RecordedRequest>,
    aborted: usize,
    /// Connections accepted and not yet closed.
    open: usize,
    /// The state of the xorshift generator behind weighted routes (never 0).
    rng: u64,
}

impl State {
    fn new() -> Self {
        use std::hash::BuildHasher as _;
        // A seed that differs per mock and per process (RandomState is
        // seeded randomly); `MockUpstream::seed` sets one instead.
        let seed = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        Self {
            rng: seed | 1,
            ..Self::default()
        }
    }
}

/// The next value of a xorshift64 generator (`state` never 0).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<Mutex<State>>);

impl OpenConnection {
    fn new(state: &Arc<Mutex<State>>) -> Self {
        state.lock().unwrap().open += 1;
        Self(Arc::clone(state))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.lock() {
            st.open -= 1;
        }
    }
}

/// A mock upstream on `127.0.0.1`.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::serve_listener(listener)
    }

    fn serve_listener(listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::new()));
        let accept_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = Arc::clone(&accept_state);
                let open = OpenConnection::new(&st);
                tokio::spawn(async move {
                    let _ = serve(stream, st).await;
                    drop(open);
                });
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers every `method path` request with `reply` (replacing an
    /// earlier route for the same pair).
    pub fn on(&self, method: &str, path: &str, reply: Reply) {
        self.route(false, method, path, Replies::Repeat(reply));
    }

    /// Answers `method path` requests whose JSON body has `"stream": true`
    /// with `reply` (other requests get the route set with [`Self::on`]).
    pub fn on_streaming(&self, method: &str, path: &str, reply: Reply) {
        self.route(true, method, path, Replies::Repeat(reply));
    }

    /// Answers successive `method path` requests whose JSON body has
    /// `"stream": true` with `replies` in order (then the route set with
    /// [`Self::on`], if any, else 404).
    pub fn on_streaming_sequence(&self, method: &str, path: &str, replies: Vec<Reply>) {
        self.route(true, method, path, Replies::Sequence(replies.into()));
    }

    /// Answers every `method path` request with one of `replies`, drawn at
    /// random for each request with probability weight / (sum of the
    /// weights): a mix of answers and faults, e.g. `vec![(95, ok), (5,
    /// fault)]` (replacing an earlier route for the same pair). A weight of
    /// 0 is never drawn.
    ///
    /// # Panics
    ///
    /// When the weights add up to 0 (nothing could be drawn).
    pub fn on_weighted(&self, method: &str, path: &str, replies: Vec<(u32, Reply)>) {
        self.route(false, method, path, weighted(replies));
    }

    /// [`Self::on_weighted`] for the requests whose JSON body has
    /// `"stream": true` (as [`Self::on_streaming`]).
    ///
    /// # Panics
    ///
    /// When the weights add up to 0.
    pub fn on_streaming_weighted(&self, method: &str, path: &str, replies: Vec<(u32, Reply)>) {
        self.route(true, method, path, weighted(replies));
    }

    /// Seeds the random draws of the weighted routes: the same seed and
    /// the same order of requests give the same replies.
    pub fn seed(&self, seed: u64) {
        // A state of 0 would stay 0; any other starts the full period.
        self.state.lock().unwrap().rng = if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        };
    }

    /// Sets the route for `method path` (of the streaming table or the
    /// other), replacing an earlier one for the same pair.
    fn route(&self, streaming: bool, method: &str, path: &str, replies: Replies) {
        let mut st = self.state.lock().unwrap();
        let table = if streaming {
            &mut st.streaming
        } else {
            &mut st.routes
        };
        table.retain(|(m, p, _)| !(m == method && p == path));
        table.push((method.into(), path.into(), replies));
    }

    /// Answers every `method path` request whose header `name` (any case)
    /// equals `value` with `reply`, before any other route: a mock that
    /// answers by key (`authorization`, `x-api-key`). Calling it again for
    /// the same header value replaces the reply, so a test can flip a key
    /// between answers while requests are in flight.
    pub fn on_header(&self, method: &str, path: &str, name: &str, value: &str, reply: Reply) {
        let name = name.to_ascii_lowercase();
        let mut st = self.state.lock().unwrap();
        st.keyed
            .retain(|(m, p, n, v, _)| !(m == method && p == path && *n == name && v == value));
        st.keyed
            .push((method.into(), path.into(), name, value.into(), reply));
    }

    /// Binds a fixed address (for a standalone mock) instead of port 0.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve_listener(listener))
    }

    /// Answers successive `method path` requests with `replies` in order
    /// (then 404).
    pub fn on_sequence(&self, method: &str, path: &str, replies: Vec<Reply>) {
        self.route(false, method, path, Replies::Sequence(replies.into()));
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The last request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.lock().unwrap().requests.last().cloned()
    }

    /// How many chunked responses the client abandoned mid-body (a write
    /// failed because the client closed the connection).
    pub fn aborted_streams(&self) -> usize {
        self.state.lock().unwrap().aborted
    }

    /// Connections open now (every answer closes its connection, so these
    /// are requests still being answered, stalled or hanging: after a
    /// client gave up, a gateway that let go of its upstream call leaves
    /// none).
    pub fn open_connections(&self) -> usize {
        self.state.lock().unwrap().open
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<RecordedRequest>> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    Ok(Some(RecordedRequest {
        method,
        target,
        headers,
        body,
    }))
}

/// Whether a JSON body sets `"stream": true` (whitespace-insensitive).
fn serde_json_lite_stream_flag(body: &[u8]) -> bool {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    compact.windows(13).any(|w| w == b"\"stream\":true")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A weighted route's replies.
fn weighted(replies: Vec<(u32, Reply)>) -> Replies {
    let total = replies.iter().map(|(w, _)| u64::from(*w)).sum();
    assert!(total > 0, "a weighted route needs a weight above 0");
    Replies::Weighted(replies, total)
}

/// The reply of the last route for `method path`: its only reply, the next
/// of a sequence, or one drawn by weight (with `rng`).
fn next_reply(routes: &mut [Route], method: &str, path: &str, rng: &mut u64) -> Option<Reply> {
    let (_, _, replies) = routes
        .iter_mut()
        .rev()
        .find(|(m, p, _)| m == method && p == path)?;
    match replies {
        Replies::Repeat(reply) => Some(reply.clone()),
        Replies::Sequence(queue) => queue.pop_front(),
        Replies::Weighted(choices, total) => {
            let mut draw = xorshift(rng) % *total;
            choices.iter().find_map(|(weight, reply)| {
                let weight = u64::from(*weight);
                if draw < weight {
                    Some(reply.clone())
                } else {
                    draw -= weight;
                    None
                }
            })
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let reply = {
        let mut st = state.lock().unwrap();
        let path = request.path().to_owned();
        let method = request.method.clone();
        let wants_stream = serde_json_lite_stream_flag(&request.body);
        let keyed = st
            .keyed
            .iter()
            .find(|(m, p, n, v, _)| {
                *m == method && *p == path && request.header(n) == Some(v.as_str())
            })
            .map(|(.., reply)| reply.clone());
        st.requests.push(request);
        let st = &mut *st;
        let streaming = if keyed.is_some() {
            keyed
        } else if wants_stream {
            next_reply(&mut st.streaming, &method, &path, &mut st.rng)
        } else {
            None
        };
        streaming.or_else(|| next_reply(&mut st.routes, &method, &path, &mut st.rng))
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::json(
            404,
            r#"{"error":{"message":"no such route on the mock upstream","type":"invalid_request_error","param":null,"code":"not_found"}}"#,
        )
    });
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\n",
        reply.status,
        reason(reply.status)
    );
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match reply.body {
        Body::Hang => {
            until_closed(&mut stream).await;
            return Ok(());
        }
        Body::StallAfter(pieces) => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.flush().await?;
            write_pieces(&mut stream, &pieces).await?;
            until_closed(&mut stream).await;
            return Ok(());
        }
        Body::Full(bytes) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", bytes.len()));
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&bytes).await?;
            stream.flush().await?;
        }
        Body::Repeat { piece, count } => {
            head.push_str(&format!("content-length: {}\r\n\r\n", piece.len() * count));
            stream.write_all(head.as_bytes()).await?;
            for _ in 0..count {
                stream.write_all(&piece).await?;
            }
            stream.flush().await?;
        }
        Body::Pieces(pieces) => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.flush().await?;
            if let Err(e) = write_pieces(&mut stream, &pieces).await {
                state.lock().unwrap().aborted += 1;
                return Err(e);
            }
            stream.write_all(b"0\r\n\r\n").await?;
            stream.flush().await?;
        }
        Body::ResetAfter(pieces) => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.flush().await?;
            write_pieces(&mut stream, &pieces).await?;
            // Abort: no terminating chunk, and RST instead of FIN.
            let std = stream.into_std()?;
            let sock = socket2::SockRef::from(&std);
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(std);
            return Ok(());
        }
    }
    let _ = stream.shutdown().await;
    Ok(())
}

/// Waits (an hour at most) until the client closes the connection.
async fn until_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    let closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3600), closed).await;
}

async fn write_pieces(stream: &mut TcpStream, pieces: &[Piece]) -> std::io::Result<()> {
    for piece in pieces {
        if !piece.delay.is_zero() {
            tokio::time::sleep(piece.delay).await;
        }
        if piece.bytes.is_empty() {
            continue;
        }
        stream
            .write_all(format!("{:x}\r\n", piece.bytes.len()).as_bytes())
            .await?;
        stream.write_all(&piece.bytes).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
    }
    Ok(())
}

/// Loads `fixtures/<path>` of this crate as text.
pub fn fixture(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    std::fs::read_to_string(format!("{full}{path}"))
        .unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
