//! A standalone mock OpenAI upstream for trying the gateway without a real
//! provider key (the testkit's mock, serving the recorded OpenAI fixtures).
//! It also answers Anthropic's `/v1/messages` and OpenAI's `/v1/responses`
//! (the recorded Anthropic and Responses fixtures, streamed when the body
//! asks for it), for the pass-through routes.
//!
//! ```text
//! cargo run -p byok-examples --example mock_upstream -- 127.0.0.1:9000
//! ```
//!
//! Then point the gateway at it: `BYOK_UPSTREAM_OPENAI=http://127.0.0.1:9000/v1`
//! with `BYOK_ALLOW_INSECURE_UPSTREAMS=1` (see the README); for the
//! pass-through routes, `BYOK_UPSTREAM_ANTHROPIC=http://127.0.0.1:9000` and
//! `BYOK_UPSTREAM_OPENAI_RESPONSES=http://127.0.0.1:9000/v1`.
#![allow(clippy::print_stdout, clippy::expect_used)] // an example talks to its user

use byok_testkit::{MockUpstream, Reply, fixture};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let addr: std::net::SocketAddr = addr.parse().expect("an address like 127.0.0.1:9000");
    assert!(addr.ip().is_loopback(), "the mock only listens on loopback");
    // `slow`: streams drip one event every 100 ms (for open-stream tests).
    let slow = std::env::args().nth(2).as_deref() == Some("slow");
    let mock = MockUpstream::start_on(addr).await?;
    mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let stream = fixture("openai/stream_text.sse");
    let delay = std::time::Duration::from_millis(if slow { 100 } else { 0 });
    mock.on_streaming(
        "POST",
        "/v1/chat/completions",
        Reply::sse_with_delay(&stream, delay),
    );
    for (path, answer, stream) in [
        (
            "/v1/messages",
            "anthropic/message_text.json",
            "anthropic/stream_text.sse",
        ),
        (
            "/v1/responses",
            "responses/response_text.json",
            "responses/stream_text.sse",
        ),
    ] {
        mock.on("POST", path, Reply::json(200, fixture(answer)));
        mock.on_streaming("POST", path, Reply::sse_with_delay(&fixture(stream), delay));
    }
    mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    println!("mock OpenAI upstream on http://{addr}/v1 (Ctrl-C to stop)");
    tokio::signal::ctrl_c().await
}
