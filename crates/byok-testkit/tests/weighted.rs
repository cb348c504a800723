//! Weighted routes of the mock upstream: each request gets one of the
//! replies, drawn by weight; a weight of 0 is never drawn; a seed repeats
//! the draws; the streaming table is apart from the other.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::net::SocketAddr;

use byok_testkit::{MockUpstream, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The status of one `POST /v1/chat` (with `"stream": true` when
/// `streamed`), read from the raw answer.
async fn status(addr: SocketAddr, streamed: bool) -> u16 {
    let body = if streamed {
        r#"{"stream": true}"#
    } else {
        "{}"
    };
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let head = String::from_utf8_lossy(&answer);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

async fn statuses(mock: &MockUpstream, n: usize, streamed: bool) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(status(mock.addr(), streamed).await);
    }
    out
}

fn mix() -> Vec<(u32, Reply)> {
    vec![
        (3, Reply::json(200, "{}")),
        (1, Reply::json(500, "{}")),
        (0, Reply::json(418, "{}")),
    ]
}

#[tokio::test]
async fn a_weighted_route_draws_each_reply_by_its_weight() {
    let mock = MockUpstream::start().await;
    mock.seed(7);
    mock.on_weighted("POST", "/v1/chat", mix());
    let got = statuses(&mock, 400, false).await;
    let ok = got.iter().filter(|s| **s == 200).count();
    let failed = got.iter().filter(|s| **s == 500).count();
    assert_eq!(ok + failed, 400, "only the weighted replies: {got:?}");
    assert!(!got.contains(&418), "a weight of 0 is never drawn");
    // 3 in 4 expected (300; the standard deviation is about 9).
    assert!((255..=345).contains(&ok), "{ok} of 400 answered 200");
    assert_eq!(mock.requests().len(), 400);
}

#[tokio::test]
async fn the_same_seed_draws_the_same_replies() {
    let mut runs = Vec::new();
    for seed in [42, 42, 43] {
        let mock = MockUpstream::start().await;
        mock.seed(seed);
        mock.on_weighted(
            "POST",
            "/v1/chat",
            vec![(1, Reply::json(200, "{}")), (1, Reply::json(500, "{}"))],
        );
        runs.push(statuses(&mock, 64, false).await);
    }
    assert_eq!(runs[0], runs[1], "seed 42 twice");
    assert_ne!(runs[0], runs[2], "seeds 42 and 43");
    assert!(runs[0].contains(&200) && runs[0].contains(&500));
}

#[tokio::test]
async fn a_streaming_weighted_route_answers_only_streamed_requests() {
    let mock = MockUpstream::start().await;
    mock.on("POST", "/v1/chat", Reply::json(201, "{}"));
    mock.on_streaming_weighted(
        "POST",
        "/v1/chat",
        vec![(1, Reply::sse("data: {}\n\n")), (1, Reply::json(503, "{}"))],
    );
    let plain = statuses(&mock, 20, false).await;
    assert!(plain.iter().all(|s| *s == 201), "{plain:?}");
    let streamed = statuses(&mock, 64, true).await;
    assert!(streamed.contains(&200) && streamed.contains(&503));
    assert!(!streamed.contains(&201), "{streamed:?}");
    // A later route for the same pair replaces the weighted one.
    mock.on_streaming("POST", "/v1/chat", Reply::json(202, "{}"));
    assert!(statuses(&mock, 8, true).await.iter().all(|s| *s == 202));
}

#[tokio::test]
#[should_panic(expected = "a weight above 0")]
async fn weights_that_add_up_to_zero_are_refused() {
    let mock = MockUpstream::start().await;
    mock.on_weighted("POST", "/v1/chat", vec![(0, Reply::json(200, "{}"))]);
}

/// The routes the weighted ones were added beside keep their behaviour: a
/// sequence answers in order, then 404; a streaming sequence, then the
/// route set with `on`.
#[tokio::test]
async fn sequences_answer_in_order_then_fall_through() {
    let mock = MockUpstream::start().await;
    mock.on_sequence(
        "POST",
        "/v1/chat",
        vec![Reply::json(201, "{}"), Reply::json(202, "{}")],
    );
    assert_eq!(statuses(&mock, 3, false).await, [201, 202, 404]);
    mock.on("POST", "/v1/chat", Reply::json(200, "{}"));
    mock.on_streaming_sequence("POST", "/v1/chat", vec![Reply::json(503, "{}")]);
    assert_eq!(statuses(&mock, 2, true).await, [503, 200]);
}
