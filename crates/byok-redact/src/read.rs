//! Bounded body reads: [`read_response`] and [`read_stream`].

use std::time::Duration;

use futures_util::{Stream, StreamExt as _};

/// Why a bounded read failed. Each caller maps it to its own error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<E = reqwest::Error> {
    /// The body is (or announced it would be) longer than the limit.
    #[error("the body is longer than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No piece of the body arrived within the idle timeout.
    #[error("no data within the idle timeout")]
    Timeout,
    /// The transport failed while reading. The error may hold a URL: map it
    /// to a URL-free description before showing it to anyone.
    #[error("transport error while reading the body")]
    Transport(#[source] E),
}

/// Reads a whole `reqwest` response body, up to `limit` bytes, waiting at
/// most `idle` for each piece.
///
/// A `Content-Length` over the limit fails at once, before anything is
/// read. For an overall deadline, wrap the call in `tokio::time::timeout`.
///
/// # Errors
/// [`ReadError::TooLarge`], [`ReadError::Timeout`] or
/// [`ReadError::Transport`].
pub async fn read_response(
    response: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ReadError> {
    let announced = response.content_length();
    read_stream(response.bytes_stream(), announced, limit, idle).await
}

/// Reads a stream of byte pieces into one buffer, up to `limit` bytes,
/// waiting at most `idle` for each piece. `announced` is the length the
/// sender declared (e.g. `Content-Length`), if any: over the limit it fails
/// at once; otherwise it sizes the buffer.
///
/// # Errors
/// [`ReadError::TooLarge`], [`ReadError::Timeout`], or
/// [`ReadError::Transport`] with the stream's own error.
pub async fn read_stream<S, B, E>(
    stream: S,
    announced: Option<u64>,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ReadError<E>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(
        announced.map_or(8 << 10, |n| usize::try_from(n).unwrap_or(limit).min(limit)),
    );
    let mut stream = std::pin::pin!(stream);
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(None) => return Ok(body),
            Ok(Some(Err(e))) => return Err(ReadError::Transport(e)),
            Ok(Some(Ok(piece))) => {
                let piece = piece.as_ref();
                if body.len() + piece.len() > limit {
                    return Err(ReadError::TooLarge { limit });
                }
                body.extend_from_slice(piece);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::stream;

    type Piece = Result<&'static [u8], &'static str>;

    fn pieces(p: Vec<Piece>) -> impl Stream<Item = Piece> {
        stream::iter(p)
    }

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn reads_up_to_the_limit() {
        let s = pieces(vec![Ok(b"abc"), Ok(b"def")]);
        assert_eq!(read_stream(s, None, 6, IDLE).await.unwrap(), b"abcdef");
        let s = pieces(vec![Ok(b"abc"), Ok(b"defg")]);
        assert!(matches!(
            read_stream(s, None, 6, IDLE).await,
            Err(ReadError::TooLarge { limit: 6 })
        ));
    }

    #[tokio::test]
    async fn announced_length_over_the_limit_fails_first() {
        let s = pieces(vec![Ok(b"abc")]);
        assert!(matches!(
            read_stream(s, Some(7), 6, IDLE).await,
            Err(ReadError::TooLarge { limit: 6 })
        ));
        let s = pieces(vec![Ok(b"abc")]);
        assert_eq!(read_stream(s, Some(3), 6, IDLE).await.unwrap(), b"abc");
    }

    #[tokio::test]
    async fn transport_errors_pass_through() {
        let s = pieces(vec![Ok(b"abc"), Err("reset")]);
        assert!(matches!(
            read_stream(s, None, 100, IDLE).await,
            Err(ReadError::Transport("reset"))
        ));
    }

    #[tokio::test]
    async fn idle_timeout() {
        let s = stream::pending::<Piece>();
        assert!(matches!(
            read_stream(s, None, 100, Duration::from_millis(20)).await,
            Err(ReadError::Timeout)
        ));
    }

    #[tokio::test]
    async fn reads_a_real_response() {
        let mock = byok_testkit::MockUpstream::start().await;
        mock.on("GET", "/ok", byok_testkit::Reply::json(200, "{\"a\":1}"));
        mock.on(
            "GET",
            "/big",
            byok_testkit::Reply::json(200, "x".repeat(1000)),
        );
        let client = reqwest::Client::new();
        let ok = client
            .get(format!("{}/ok", mock.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(read_response(ok, 100, IDLE).await.unwrap(), b"{\"a\":1}");
        let big = client
            .get(format!("{}/big", mock.base_url()))
            .send()
            .await
            .unwrap();
        assert!(matches!(
            read_response(big, 100, IDLE).await,
            Err(ReadError::TooLarge { limit: 100 })
        ));
    }
}
