//! The lower bound: a pass-through HTTP proxy on the same hyper + hyper-util client stack as the
//! gateway, with no auth, routing or billing. Usage: bare-proxy --listen ADDR --upstream URL
#![allow(clippy::disallowed_methods)] // a benchmark tool, not the gateway: its tasks end with the process
use bench::arg;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

async fn forward(
    client: Arc<Client<HttpConnector, Full<Bytes>>>,
    upstream: Arc<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let mut builder = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{}", parts.uri.path()));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            builder = builder.header(name, value);
        }
    }
    let Ok(out) = builder.body(Full::new(bytes)) else {
        return Ok(Response::new(
            Full::new(Bytes::new())
                .map_err(|n| match n {})
                .boxed_unsync(),
        ));
    };
    match client.request(out).await {
        Ok(resp) => Ok(resp.map(|b| b.boxed_unsync())),
        Err(_) => {
            let mut r = Response::new(
                Full::new(Bytes::from_static(b"bad gateway"))
                    .map_err(|n| match n {})
                    .boxed_unsync(),
            );
            *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            Ok(r)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let listener = tokio::net::TcpListener::bind(arg(&args, "--listen", "127.0.0.1:9200")).await?;
    let upstream = Arc::new(arg(&args, "--upstream", "http://127.0.0.1:9100"));
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(http),
    );
    println!("proxy listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
