//! Request ids: every answer carries one in `x-request-id`.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use rand::Rng as _;

use crate::metrics::InFlight;

/// The response header.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A new request id: `req_` + 28 hex digits, the first 12 the Unix time in
/// milliseconds and the rest 64 random bits. Time first keeps the ledger's
/// unique index on request ids append-mostly (a random key would dirty a
/// different B-tree page, and write it to the WAL, for every charge); the
/// random part keeps ids unguessable and unique within a millisecond. It
/// comes from the thread's CSPRNG ([`rand::rng`]: ChaCha12 seeded, and
/// reseeded every 64 KiB of output, from the OS), not from a system call
/// per request. It panics if the OS's generator fails (on Linux it does
/// not, once the kernel's pool is ready); the zero random part such a
/// failure left before could make two requests in one millisecond share
/// a ledger entry.
pub(crate) fn request_id() -> String {
    let mut b = [0u8; 14];
    let ms = u64::try_from(byok_billing::now_ms()).unwrap_or(0);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rand::rng().fill_bytes(&mut b[6..]);
    let mut hex = [0u8; 28];
    // 14 bytes into 28 hex digits: the buffer is exactly large enough.
    let _ = hex::encode_to_slice(b, &mut hex);
    let mut id = String::with_capacity(32);
    id.push_str("req_");
    id.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    id
}

/// The middleware's work on an answer: one without a request id (chat
/// sets its own, the ledger entry's) gets a fresh one; the request counts
/// as in flight (`in_flight`, taken when it arrived) until its answer is
/// built, or for a streamed answer until its body ends or is dropped (the
/// client gone).
pub(crate) async fn add_header(
    response: impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
    in_flight: InFlight,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = response.await?;
    if !res.headers().contains_key(&HEADER)
        && let Ok(v) = HeaderValue::from_str(&request_id())
    {
        res.headers_mut().insert(HEADER, v);
    }
    if let BodySize::Stream = res.response().body().size() {
        return Ok(res.map_body(|_, body| {
            BoxBody::new(Tracked {
                body,
                _in_flight: in_flight,
            })
        }));
    }
    Ok(res)
}

/// A streamed body that holds its request's [`InFlight`] guard.
struct Tracked {
    body: BoxBody,
    _in_flight: InFlight,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn request_ids_are_time_ordered_unique_and_hex() {
        let ids: Vec<String> = (0..2000).map(|_| request_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.starts_with("req_"));
            assert!(id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "no duplicates");
        // The time prefix never goes backwards between consecutive ids.
        for w in ids.windows(2) {
            assert!(w[0][4..16] <= w[1][4..16], "{} then {}", w[0], w[1]);
        }
        let ms = u64::from_str_radix(&ids[0][4..16], 16).unwrap();
        let now = u64::try_from(byok_billing::now_ms()).unwrap();
        assert!(now - ms < 60_000, "the prefix is the time in ms");
    }
}
