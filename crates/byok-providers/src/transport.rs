//! The upstream HTTP client: hyper's pooled client ([`hyper_util`]'s
//! legacy client over `hyper-rustls`), called directly.
//!
//! Why not `reqwest` (which this crate used before, and which
//! `byok-search` still uses): every call went through its redirect and
//! retry layers (`tower-http`'s `FollowRedirect` and `tower`'s `Retry`),
//! which the gateway turns off (no redirects; fallbacks and retries are the
//! pipeline's) but still pays for: two URL parses, a URI re-serialisation
//! and a request clone, about 26k instructions per request, 17% of the
//! request path (callgrind, docs/performance.md). What reqwest gave that
//! the gateway needs is kept here: the TLS setup (rustls with the
//! platform's verifier and the same crypto provider), HTTP/2 by ALPN, the
//! connect timeout, `TCP_NODELAY`, the idle pool, the user agent, no
//! proxy from the environment, and the resolver that refuses non-public
//! addresses ([`crate::resolver`]).
//!
//! The surface mirrors the small part of reqwest the adapters used
//! ([`HttpClient::post`], [`RequestBuilder::header`], [`Response::status`],
//! [`Response::bytes_stream`], ...), so adapters read the same.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{CONTENT_LENGTH, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyDataStream, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::resolver;

/// The boxed error every transport failure is described from.
type BoxError = Box<dyn StdError + Send + Sync>;

type Connector = hyper_rustls::HttpsConnector<HttpConnector<Dns>>;

/// What building the client can fail on: the TLS setup (the platform's
/// certificate store).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for upstream calls: {0}")]
pub struct ClientError(#[source] rustls::Error);

/// The shared upstream client: one connection pool (per host), cheap to
/// clone. Built by [`crate::upstream_client`].
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

/// How a client resolves host names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The system resolver, any address.
    System,
    /// The system resolver; a name with a non-public address is refused
    /// (security.md item 11).
    PublicOnly,
}

impl HttpClient {
    /// A client: TLS with the platform's verifier (HTTP/2 where the server
    /// offers it by ALPN), `connect` as the connection timeout, idle
    /// connections kept 90 s, up to 64 per host.
    ///
    /// # Errors
    /// [`ClientError`] when TLS cannot be set up.
    pub(crate) fn new(connect: Duration, resolution: Resolution) -> Result<Self, ClientError> {
        use rustls_platform_verifier::BuilderVerifierExt as _;
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_platform_verifier())
            .map_err(ClientError)?
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(Dns(resolution));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self {
            inner,
            user_agent: HeaderValue::from_static(concat!("byok/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// A `POST` to `url`.
    pub fn post(&self, url: impl IntoUri) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: impl IntoUri) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A request of `method` to `url`. A URL that does not parse fails
    /// when the request is sent.
    pub fn request(&self, method: Method, url: impl IntoUri) -> RequestBuilder {
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(USER_AGENT, self.user_agent.clone());
        RequestBuilder {
            client: self.inner.clone(),
            method,
            uri: url.into_uri(),
            headers,
            invalid_header: false,
            body: Bytes::new(),
        }
    }
}

/// What a request's URL can be given as: a parsed [`Uri`], or text (an
/// absolute `http`/`https` URL; one that is not plain ASCII, a Unicode host
/// name or a space in a path, is first encoded as a browser would: IDNA,
/// percent-encoding).
pub trait IntoUri {
    /// The URI, if it parses.
    fn into_uri(self) -> Option<Uri>;
}

impl IntoUri for Uri {
    fn into_uri(self) -> Option<Uri> {
        Some(self)
    }
}

impl IntoUri for String {
    fn into_uri(self) -> Option<Uri> {
        parse_url(&self)
    }
}

impl IntoUri for &str {
    fn into_uri(self) -> Option<Uri> {
        parse_url(self)
    }
}

/// Parses an absolute `http`/`https` URL. Plain ASCII URLs parse as they
/// are; others (a Unicode host name, a space in a path) go through the
/// WHATWG URL parser first, which encodes them as a browser would (IDNA,
/// percent-encoding), as reqwest did.
pub(crate) fn parse_url(url: &str) -> Option<Uri> {
    let uri = url
        .parse::<Uri>()
        .ok()
        .or_else(|| url::Url::parse(url).ok()?.as_str().parse().ok())?;
    matches!(uri.scheme_str(), Some("http" | "https"))
        .then_some(uri)
        .filter(|u| u.host().is_some())
}

/// A request being built; [`RequestBuilder::send`] sends it.
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client<Connector, Full<Bytes>>,
    method: Method,
    uri: Option<Uri>,
    headers: HeaderMap,
    invalid_header: bool,
    body: Bytes,
}

impl RequestBuilder {
    /// Adds a header (a name may be given several values). A name or
    /// value that is not valid in a header fails when the request is sent.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.invalid_header = true,
        }
        self
    }

    /// The body (no copy when it is already [`Bytes`]).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request; the response once its head has arrived.
    ///
    /// # Errors
    /// [`TransportError`]: an unparsable URL, a failed connection or
    /// exchange.
    pub async fn send(self) -> Result<Response, TransportError> {
        let Some(uri) = self.uri else {
            return Err(TransportError::Url);
        };
        if self.invalid_header {
            return Err(TransportError::Header);
        }
        let mut request = http::Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        match self.client.request(request).await {
            Ok(response) => Ok(Response { inner: response }),
            Err(e) if e.is_connect() => Err(TransportError::Connect(Box::new(e))),
            Err(e) => Err(TransportError::Exchange(Box::new(e))),
        }
    }
}

/// Why a call failed. The sources may hold a host name: map them to a
/// description before showing them to anyone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL did not parse.
    #[error("invalid URL")]
    Url,
    /// A header's name or value was not valid in a header.
    #[error("invalid header")]
    Header,
    /// No connection: resolution, refusal by the resolver's policy, TCP or
    /// TLS, or the connect timeout.
    #[error("connection failed")]
    Connect(#[source] BoxError),
    /// The connection failed while the request was sent or the response's
    /// head read.
    #[error("request failed")]
    Exchange(#[source] BoxError),
    /// The connection failed while the body was read.
    #[error("reading the body failed")]
    Body(#[source] hyper::Error),
}

/// An upstream response whose head has arrived.
#[derive(Debug)]
pub struct Response {
    inner: http::Response<Incoming>,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The announced body length (`Content-Length`), if any.
    pub fn content_length(&self) -> Option<u64> {
        self.inner
            .headers()
            .get(CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// The body, piece by piece as it arrives; dropping it closes the
    /// connection unless the body was read to its end.
    pub fn bytes_stream(self) -> BodyStream {
        BodyStream {
            inner: BodyDataStream::new(self.inner.into_body()),
        }
    }
}

/// A response body as a stream of pieces ([`Response::bytes_stream`]).
#[derive(Debug)]
pub struct BodyStream {
    inner: BodyDataStream<Incoming>,
}

impl Stream for BodyStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|piece| piece.map(|r| r.map_err(TransportError::Body)))
    }
}

/// The resolver: the system's (`getaddrinfo` on the blocking pool, as
/// `tokio::net::lookup_host` does), refusing non-public addresses when
/// asked.
#[derive(Debug, Clone, Copy)]
struct Dns(Resolution);

impl tower_service::Service<Name> for Dns {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolution = self.0;
        Box::pin(async move {
            let addrs = match resolution {
                Resolution::System => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
                Resolution::PublicOnly => resolver::resolve_public(name.as_str()).await?,
            };
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_a_browser_would() {
        let u = parse_url("https://api.example.com/v1/chat/completions").unwrap();
        assert_eq!(u.host(), Some("api.example.com"));
        let u = parse_url("https://bücher.example/v1").unwrap();
        assert_eq!(u.host(), Some("xn--bcher-kva.example"));
        let u = parse_url("http://127.0.0.1:8080/a b").unwrap();
        assert_eq!(u.path(), "/a%20b");
        for bad in [
            "",
            "/v1/chat",
            "ftp://example.com/",
            "https://",
            "not a url",
        ] {
            assert!(parse_url(bad).is_none(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn an_unparsable_url_fails_when_sent() {
        let client = HttpClient::new(Duration::from_secs(1), Resolution::System).unwrap();
        let e = client.get("http://exa mple/").send().await.unwrap_err();
        assert!(matches!(e, TransportError::Url), "{e:?}");
    }

    #[tokio::test]
    async fn the_public_only_resolver_refuses_loopback_names() {
        let client = HttpClient::new(Duration::from_secs(1), Resolution::PublicOnly).unwrap();
        let e = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(matches!(e, TransportError::Connect(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let client = HttpClient::new(Duration::from_secs(1), Resolution::System).unwrap();
        let e = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::Connect(_)), "{e:?}");
    }
}
