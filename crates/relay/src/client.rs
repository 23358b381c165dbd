//! One pooled keep-alive hyper + hyper-rustls client, shared by every upstream call.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use thiserror::Error;

/// How an upstream call failed before an HTTP status came back.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("upstream connection failed: {0}")]
    Connect(String),
    #[error("upstream timed out after {0:?}")]
    Timeout(Duration),
    #[error("reading the upstream body failed: {0}")]
    Body(String),
}

/// The body of an upstream request.
pub type UpstreamBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A request body of known bytes.
pub fn full_body(bytes: Bytes) -> UpstreamBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The most of an answer [`HttpClient::fetch`] reads.
const FETCH_LIMIT: usize = 32 << 20;

/// A complete upstream answer.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: u16,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// How long the relay waits on an upstream: for its connection, for its answer's head (and a
/// stream's first event), and between two pieces of a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(300),
        }
    }
}

impl HttpClient {
    pub fn new() -> Self {
        Self::with_connect_timeout(UpstreamTimeouts::default().connect)
    }

    /// A client that gives up connecting after `connect`.
    pub fn with_connect_timeout(connect: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        HttpClient { inner }
    }

    /// Sends a request and returns as soon as the answer's head arrives (the body streams on).
    pub async fn send(
        &self,
        req: Request<UpstreamBody>,
        head_timeout: Duration,
    ) -> Result<hyper::Response<hyper::body::Incoming>, TransportError> {
        tokio::time::timeout(head_timeout, self.inner.request(req))
            .await
            .map_err(|_| TransportError::Timeout(head_timeout))?
            .map_err(|e| TransportError::Connect(e.to_string()))
    }

    /// Sends a request and reads the whole answer, all within `timeout`.
    pub async fn fetch(
        &self,
        req: Request<UpstreamBody>,
        timeout: Duration,
    ) -> Result<UpstreamResponse, TransportError> {
        let call = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| TransportError::Connect(e.to_string()))?;
            let status = resp.status().as_u16();
            let body = http_body_util::Limited::new(resp.into_body(), FETCH_LIMIT)
                .collect()
                .await
                .map_err(|e| TransportError::Body(e.to_string()))?
                .to_bytes();
            Ok(UpstreamResponse { status, body })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
    }
}
