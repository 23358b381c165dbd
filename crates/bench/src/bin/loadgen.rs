//! A closed-loop load generator: `--connections` keep-alive connections, each sending the next
//! request as soon as the previous answer has been read whole, for `--seconds`.
//!
//! Usage: loadgen --url http://127.0.0.1:3000 --key sk-... --model gpt-4o --stream false
//!                --connections 16 --seconds 5 [--dialect openai|anthropic]
//! `--dialect anthropic` sends Anthropic Messages calls (`/v1/messages`, `x-api-key`).
//! Prints one line: `requests=N errors=E rps=R p50_us=X p99_us=Y`.
//! With `--hold N`, opens N streams instead, reads the first event of each, prints `holding`,
//! keeps them open for `--seconds`, and exits.
#![allow(clippy::disallowed_methods)] // a benchmark tool, not the gateway: its tasks end with the process
use bench::arg;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

struct Target {
    host: String,
    addr: String,
    key: String,
    body: Bytes,
    anthropic: bool,
}

async fn connect(t: &Target) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(&t.addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn request(t: &Target) -> Option<Request<Full<Bytes>>> {
    let builder = if t.anthropic {
        Request::post("/v1/messages")
            .header("x-api-key", &t.key)
            .header("anthropic-version", "2023-06-01")
    } else {
        Request::post("/v1/chat/completions").header("authorization", format!("Bearer {}", t.key))
    };
    builder
        .header("host", &t.host)
        .header("content-type", "application/json")
        .body(Full::new(t.body.clone()))
        .ok()
}

async fn worker(t: std::sync::Arc<Target>, until: Instant) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let Some(mut sender) = connect(&t).await else {
        return (latencies, 1);
    };
    while Instant::now() < until {
        let Some(req) = request(&t) else { break };
        let start = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status().is_success();
                let body = resp.into_body().collect().await;
                if ok && body.is_ok() {
                    latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            Err(_) => {
                errors += 1;
                match connect(&t).await {
                    Some(s) => sender = s,
                    None => break,
                }
            }
        }
    }
    (latencies, errors)
}

async fn hold(t: std::sync::Arc<Target>, n: usize, seconds: u64) {
    let opened: Vec<_> = (0..n)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move {
                let mut sender = connect(&t).await?;
                let resp = sender.send_request(request(&t)?).await.ok()?;
                let mut body = resp.into_body();
                body.frame().await?.ok()?;
                Some((sender, body))
            })
        })
        .collect();
    let mut open = Vec::new();
    for h in opened {
        if let Ok(Some(s)) = h.await {
            open.push(s);
        }
    }
    println!("holding {}", open.len());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url", "http://127.0.0.1:3000");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let stream = arg(&args, "--stream", "false") == "true";
    let model = arg(&args, "--model", "gpt-4o");
    let anthropic = arg(&args, "--dialect", "openai") == "anthropic";
    let limit = if anthropic {
        r#""max_tokens":1024,"#
    } else {
        ""
    };
    let body = format!(
        r#"{{"model":"{model}",{limit}"messages":[{{"role":"user","content":"Say hello in one short sentence."}}],"stream":{stream}}}"#
    );
    let target = std::sync::Arc::new(Target {
        host: addr.clone(),
        addr,
        key: arg(&args, "--key", "sk-bench"),
        body: Bytes::from(body),
        anthropic,
    });
    let seconds: u64 = arg(&args, "--seconds", "5").parse().unwrap_or(5);
    let hold_n: usize = arg(&args, "--hold", "0").parse().unwrap_or(0);
    if hold_n > 0 {
        hold(target, hold_n, seconds).await;
        return;
    }
    let connections: usize = arg(&args, "--connections", "1").parse().unwrap_or(1);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(worker(target.clone(), until)))
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "requests={} errors={} rps={:.0} p50_us={} p99_us={}",
        all.len(),
        errors,
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
}
