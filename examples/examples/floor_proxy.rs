//! The floor under the gateway, for the benchmark: a reverse proxy built
//! from the very parts byok-server is built from (actix-web with its
//! default workers, one `byok_providers` upstream client per worker) that
//! does none of a gateway's work. No authentication, no key lookup, no
//! reading of the request, no reservation, no usage, no ledger: the body
//! goes to the upstream unchanged and the answer comes back unchanged,
//! streamed as it arrives.
//!
//! `bench/run` measures it next to nginx and byok (the `floor` target), so
//! that byok's distance from nginx splits into what the HTTP stack costs
//! (floor against nginx) and what the gateway's work costs (byok against
//! floor).
//!
//! ```text
//! cargo run --release -p byok-examples --example floor_proxy -- 127.0.0.1:9100 http://127.0.0.1:9000
//! ```
//!
//! A request for `/x/y` goes to `<upstream>/x/y` with its `Content-Type`
//! and `Accept`; the answer keeps its status and `Content-Type`.
#![allow(clippy::print_stdout, clippy::expect_used)] // an example talks to its user

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use byok_providers::{EndpointPolicy, HttpClient, Timeouts, upstream_client};
use futures_util::StreamExt as _;

/// What each worker holds: its own client (as byok-server's workers do)
/// and the upstream's base URL.
struct Floor {
    client: HttpClient,
    upstream: String,
}

async fn forward(req: HttpRequest, body: web::Bytes, floor: web::Data<Floor>) -> HttpResponse {
    let url = format!("{}{}", floor.upstream, req.path());
    let mut call = floor.client.post(url).body(body);
    for name in [CONTENT_TYPE, ACCEPT] {
        if let Some(value) = req.headers().get(&name) {
            call = call.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match call.send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    if let Some(value) = answer.headers().get("content-type") {
        out.insert_header((CONTENT_TYPE, value.as_bytes()));
    }
    // Streamed as it arrives, with the upstream's length when it gave one
    // (the same framing nginx keeps).
    let length = answer.content_length();
    let pieces = answer
        .bytes_stream()
        .map(|piece| piece.map_err(actix_web::error::ErrorBadGateway));
    match length {
        Some(n) => out.body(actix_web::body::SizedStream::new(n, pieces)),
        None => out.streaming(pieces),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: std::net::SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9100".into())
        .parse()
        .expect("a listen address like 127.0.0.1:9100");
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
    assert!(
        listen.ip().is_loopback(),
        "the floor proxy only listens on loopback"
    );
    let host = upstream
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next())
        .expect("an upstream like http://127.0.0.1:9000");
    assert!(
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        "the floor proxy only forwards to loopback"
    );
    let upstream = upstream.trim_end_matches('/').to_owned();
    actix_web::rt::System::new().block_on(async move {
        println!("floor proxy on http://{listen} -> {upstream}");
        HttpServer::new(move || {
            let client = upstream_client(
                &Timeouts::default(),
                EndpointPolicy {
                    allow_insecure: true,
                },
            )
            .expect("TLS setup");
            App::new()
                .app_data(web::Data::new(Floor {
                    client,
                    upstream: upstream.clone(),
                }))
                .app_data(web::PayloadConfig::new(16 << 20))
                .default_service(web::post().to(forward))
        })
        .bind(listen)?
        .run()
        .await
    })
}
