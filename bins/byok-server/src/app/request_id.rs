//! Request ids: every answer carries one in `x-request-id`.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};

/// The response header.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A new request id: `req_` + 28 hex digits, the first 12 the Unix time in
/// milliseconds and the rest 64 random bits. Time first keeps the ledger's
/// unique index on request ids append-mostly (a random key would dirty a
/// different B-tree page, and write it to the WAL, for every charge); the
/// random part keeps ids unguessable and unique within a millisecond.
pub(crate) fn request_id() -> String {
    let mut b = [0u8; 14];
    let ms = u64::try_from(byok_billing::now_ms()).unwrap_or(0);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let _ = getrandom::getrandom(&mut b[6..]);
    let mut hex = [0u8; 28];
    // 14 bytes into 28 hex digits: the buffer is exactly large enough.
    let _ = hex::encode_to_slice(b, &mut hex);
    let mut id = String::with_capacity(32);
    id.push_str("req_");
    id.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    id
}

/// The middleware's work on an answer: one without a request id (chat
/// sets its own, the ledger entry's) gets a fresh one.
pub(crate) async fn add_header(
    response: impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = response.await?;
    if !res.headers().contains_key(&HEADER)
        && let Ok(v) = HeaderValue::from_str(&request_id())
    {
        res.headers_mut().insert(HEADER, v);
    }
    Ok(res)
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
