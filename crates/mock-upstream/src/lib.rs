//! A mock upstream provider for tests and benchmarks. It speaks the real wire formats of
//! OpenAI (also Azure's deployment paths), Anthropic and Gemini, picks its behaviour by model
//! name and counts calls.
//!
//! Behaviour by model name: `mock-401` answers 401 (revoked key), `mock-429` 429, `mock-500`
//! 500, `mock-quota` 429 with OpenAI's `insufficient_quota` (after those two, the model list
//! (`GET .../models`) refuses that credential too; else it answers an empty list),
//! `mock-403-resource` 403 `PERMISSION_DENIED` as Gemini refuses another project's file,
//! `mock-200-error` 200 with an error object naming an internal host and a file path; any
//! other model answers 200.
//! Streams (`"stream": true`) send [`CHUNKS`] content events, then a usage event when
//! `stream_options.include_usage` asks for it, then `[DONE]`; `mock-slow` waits
//! [`SLOW_DELAY`] before each event (and, not streamed, sends its body three of those after its
//! headers), `mock-hold` [`HOLD_DELAY`] (a stream that stays open for
//! long), `mock-stall` sends two content events and then nothing, never ending, `mock-reset`
//! sends two and then breaks the connection, `mock-nousage` never sends usage, `mock-stream-error` answers 200 with an error event
//! (in the path's format) in place of the stream (`mock-error-split`: that event in two frames
//! a moment apart, cut inside its JSON), `mock-break` sends two chunks and then such an
//! event. `mock-long` ignores `max_tokens` (a hostile upstream): it streams
//! [`LONG_CHUNKS`] events and reports [`LONG_COMPLETION`] completion tokens; other models honour
//! `max_tokens` (fewer events, fewer tokens). `mock-leak` answers 400 with a message that
//! repeats the credential it was sent, its own host and an IP address; `mock-leak-stream` sends
//! two content events and then such a message as an error event (`mock-leak-split`: that event
//! in two frames, cut inside the credential). `mock-tool` calls a tool (see [`tools`]). `mock-cached` reports
//! [`CACHED_TOKENS`] of its prompt tokens as cached (OpenAI's
//! `prompt_tokens_details.cached_tokens`). `mock-tool-use` reports what server-side tools ran:
//! a Gemini answer [`TOOL_USE_TOKENS`] `toolUsePromptTokenCount` (pages read by `urlContext`,
//! search results), an Anthropic one [`WEB_SEARCHES`] `server_tool_use.web_search_requests`.
//! Chat requests with a
//! top-level field OpenAI does not know answer 400 naming it, as OpenAI does. Multipart bodies
//! are recorded as a JSON object of their fields (a file as `{"filename", "bytes"}`; a name sent
//! twice as an array); every body is also kept as received ([`Seen::raw`]).
//!
//! It also runs asynchronous tasks ([`tasks`]), by path: midjourney-proxy (`/mj/...`,
//! `mj-api-secret`), the Suno API (`/suno/...`), Kling (`/v1/videos/text2video`,
//! `/v1/videos/image2video`, a JWT checked against [`KLING_ACCESS`] and [`KLING_SECRET`]) and
//! OpenAI's videos (`/v1/videos`). The submitted prompt picks a task's fate: `mock-refuse` is
//! refused at submit in the platform's shape; `mock-fail` is in progress (50%) on its first poll
//! and failed from the second; `mock-never` stays in progress (10%); anything else is in
//! progress on its first poll and succeeded from the second, its results at
//! `https://cdn.mock.test/<platform>/<upstream id>.<ext>`. [`MockUpstream::task_polls`] counts
//! the fetches of a task.

mod answers;
pub mod anthropic;
mod errors;
pub mod fees;
pub mod gemini;
pub mod realtime;
pub mod responses;
pub mod tasks;
pub mod tools;

pub use tasks::kling::{KLING_ACCESS, KLING_SECRET};

use answers::answer;
use bytes::Bytes;
use errors::{model_list, openai_error, stream_error};
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Content events per streamed answer, and the completion tokens every answer reports.
pub const CHUNKS: usize = 12;
/// The pause before each event of a `mock-hold` stream.
pub const HOLD_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
/// Bytes of "audio" a speech request gets back.
pub const SPEECH_BYTES: usize = 48_000;
/// Prompt tokens every answer reports.
pub const PROMPT_TOKENS: i64 = 8;
/// Content events of a `mock-long` stream.
pub const LONG_CHUNKS: usize = 64;
/// Completion tokens a `mock-long` answer reports.
pub const LONG_COMPLETION: i64 = 16_000;
/// Prompt tokens a `mock-cached` answer reports as read from the provider's cache (of
/// [`PROMPT_TOKENS`]).
pub const CACHED_TOKENS: i64 = 6;
/// Tool-use prompt tokens a `mock-tool-use` Gemini answer reports (billed by Google as input).
pub const TOOL_USE_TOKENS: i64 = 50_000;
/// Web searches a `mock-tool-use` Anthropic answer reports (billed by Anthropic per search).
pub const WEB_SEARCHES: i64 = 5;
/// The prompt and completion tokens a `mock-negative` answer reports.
pub const NEGATIVE_USAGE: (i64, i64) = (5_000, -100_000);
/// The pause before each event of a `mock-slow` stream.
pub const SLOW_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

type Body = BoxBody<Bytes, std::convert::Infallible>;

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request's path (without its query).
    pub path: String,
    /// The credential header the provider dialect uses (Authorization, api-key, x-api-key, ...).
    pub credential: Option<String>,
    /// The body as JSON (a multipart form as an object of its fields; `null` when not JSON).
    pub body: Value,
    /// The body exactly as received.
    pub raw: Bytes,
    /// Size of the request body in bytes.
    pub bytes: usize,
    /// The `Content-Type` header, as received.
    pub content_type: Option<String>,
    /// Anthropic's `anthropic-version` and `anthropic-beta` headers, as received.
    pub anthropic_headers: (Option<String>, Option<String>),
}

#[derive(Default)]
struct State {
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// Realtime sockets open now.
    realtime_open: AtomicUsize,
    /// Credentials the mock refused as revoked (`mock-401`, `mock-quota`): its model list
    /// refuses them too.
    revoked: Mutex<Vec<String>>,
    /// Benchmarks turn recording off.
    quiet: bool,
    /// The asynchronous tasks submitted to the task platforms.
    tasks: tasks::Tasks,
}

/// A running mock; it stops when the test's runtime ends.
#[derive(Clone)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
}

impl MockUpstream {
    /// Starts a mock on a free local port.
    pub async fn start() -> std::io::Result<MockUpstream> {
        Self::start_on("127.0.0.1:0", false).await
    }

    /// Starts a mock on `addr`; a `quiet` mock counts calls but keeps no record of them.
    #[allow(clippy::disallowed_methods)] // a test double, not the gateway: its tasks end with the runtime
    pub async fn start_on(addr: &str, quiet: bool) -> std::io::Result<MockUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            quiet,
            ..State::default()
        });
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Events are small writes: without this, Nagle's algorithm and the client's
                // delayed ACK hold an answer's last event for 40 ms.
                let _ = stream.set_nodelay(true);
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(MockUpstream { addr, state })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests arrived.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Realtime sockets open now.
    pub fn realtime_open(&self) -> usize {
        self.state.realtime_open.load(Ordering::SeqCst)
    }

    /// The requests received, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many times the task `upstream_id` was fetched (single or batch); 0 if unknown.
    pub fn task_polls(&self, upstream_id: &str) -> usize {
        self.state.tasks.polls(upstream_id)
    }

    /// How many tasks the task platforms accepted (refusals create none).
    pub fn tasks_created(&self) -> usize {
        self.state.tasks.created()
    }

    /// How many Kling requests were refused for a missing or bad JWT.
    pub fn kling_auth_failures(&self) -> usize {
        self.state.tasks.kling_auth_failures()
    }
}

impl State {
    fn record(&self, seen: Seen) {
        if !self.quiet
            && let Ok(mut all) = self.seen.lock()
        {
            all.push(seen);
        }
    }
}

fn credential(req: &Request<Incoming>) -> Option<String> {
    [
        "authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "mj-api-secret",
    ]
    .iter()
    .find_map(|h| req.headers().get(*h))
    .and_then(|v| v.to_str().ok())
    .map(str::to_owned)
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    if realtime::is_upgrade(&req) {
        return Ok(realtime::accept(state, req));
    }
    let path = req.uri().path().to_owned();
    let cred = credential(&req);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let anthropic_headers = (header("anthropic-version"), header("anthropic-beta"));
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = req.method().clone();
    let bytes = req.into_body().collect().await?.to_bytes();
    let body: Value = match content_type
        .as_deref()
        .and_then(|c| multer::parse_boundary(c).ok())
    {
        Some(boundary) => form_fields(bytes.clone(), boundary).await,
        None => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    state.record(Seen {
        path: path.clone(),
        credential: cred.clone(),
        body: body.clone(),
        raw: bytes.clone(),
        bytes: bytes.len(),
        content_type,
        anthropic_headers,
    });
    let task = tasks::TaskRequest {
        method: &method,
        path: &path,
        credential: cred.as_deref(),
        body: &body,
    };
    if let Some(resp) = tasks::handle(&state.tasks, &task) {
        return Ok(resp);
    }
    if method == hyper::Method::GET && path.ends_with("/models") {
        return Ok(model_list(&state, cred.as_deref()));
    }
    let model = model_of(&path, &body);
    if model == "mock-leak" {
        let message = format!(
            "key {} rejected by {host} (upstream 10.20.30.40)",
            cred.as_deref().unwrap_or_default()
        );
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &openai_error(&message, "invalid_request_error", "bad"),
        ));
    }
    if path.ends_with("/chat/completions")
        && let Some(unknown) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !CHAT_FIELDS.contains(&k.as_str())))
    {
        let message = format!("Unrecognized request argument supplied: {unknown}");
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &openai_error(&message, "invalid_request_error", ""),
        ));
    }
    if matches!(model.as_str(), "mock-401" | "mock-quota")
        && let (Some(cred), Ok(mut revoked)) = (cred.clone(), state.revoked.lock())
    {
        revoked.push(cred);
    }
    let call = tools::call(&model, &body);
    let (status, answer) = match &call {
        Some(call) => (StatusCode::OK, tools::answer(&path, &model, call)),
        None => answer(&path, &model, &body),
    };
    if path.ends_with("/audio/speech") && status == StatusCode::OK {
        let audio = Response::builder()
            .header("content-type", "audio/mpeg")
            .body(Full::new(Bytes::from(vec![0x49u8; SPEECH_BYTES])).boxed());
        return Ok(audio.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())));
    }
    if model == "mock-leak-stream" || model == "mock-leak-split" {
        // Two content events, then an error repeating the credential, host and an address.
        let message = format!(
            "key {} rejected by {host} (upstream 10.20.30.40)",
            cred.as_deref().unwrap_or_default()
        );
        let mut events = openai_events(&path, &model, false, 2);
        events.pop();
        let error = format!("data: {}\n\n", openai_error(&message, "server_error", ""));
        if model == "mock-leak-split" {
            // Two frames, cut inside the credential.
            let cut = error.find("key ").map_or(0, |at| at + 10).min(error.len());
            events.push(error[..cut].to_owned());
            events.push(error[cut..].to_owned());
        } else {
            events.push(error);
        }
        let resp = Response::builder()
            .header("content-type", "text/event-stream")
            .body(events_body(events, None));
        return Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())));
    }
    if model == "mock-error-split" {
        return Ok(errors::split_stream_error(&path));
    }
    if model == "mock-stream-error" {
        let event = Bytes::from(stream_error(&path));
        let resp = Response::builder()
            .header("content-type", "text/event-stream")
            .body(Full::new(event).boxed());
        return Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())));
    }
    let streamed = (body.get("stream").and_then(Value::as_bool) == Some(true)
        || path.contains(":streamGenerateContent"))
        && status == StatusCode::OK;
    if !streamed && model == "mock-slow" {
        // Headers at once, the body after a pause.
        let body = Bytes::from(answer.to_string());
        let delayed = futures_util::stream::once(async move {
            tokio::time::sleep(SLOW_DELAY * 3).await;
            Ok::<_, std::convert::Infallible>(Frame::data(body))
        });
        let resp = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(BodyExt::boxed(StreamBody::new(delayed)));
        return Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())));
    }
    if !streamed {
        return Ok(json_response(status, &answer));
    }
    let usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
        && model != "mock-nousage";
    let resp = Response::builder()
        .status(status)
        .header("content-type", "text/event-stream")
        .body(match &call {
            Some(call) => events_body(tools::events(&path, &model, call, usage), None),
            None => sse_body(&path, &model, usage, completion_tokens(&model, &body)),
        });
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())))
}

/// The top-level fields of an OpenAI chat request the mock accepts.
const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "user",
    "response_format",
    "seed",
    "stop",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "parallel_tool_calls",
    "reasoning_effort",
    "modalities",
    "audio",
    "metadata",
    "store",
    "prediction",
    "service_tier",
    "web_search_options",
];

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

/// The fields of a multipart form as a JSON object.
async fn form_fields(bytes: Bytes, boundary: String) -> Value {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut out = serde_json::Map::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let Ok(data) = field.bytes().await else {
            break;
        };
        let value = match filename {
            Some(f) => json!({"filename": f, "bytes": data.len()}),
            None => Value::String(String::from_utf8_lossy(&data).into_owned()),
        };
        match out.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                out.insert(name, value);
            }
        }
    }
    Value::Object(out)
}

/// Completion tokens of an answer: [`CHUNKS`], or fewer when `max_tokens` asks for fewer;
/// `mock-long` ignores the limit.
pub(crate) fn completion_tokens(model: &str, body: &Value) -> usize {
    if model == "mock-long" {
        return LONG_CHUNKS;
    }
    let limit = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .or_else(|| {
            body.pointer("/generationConfig/maxOutputTokens")
                .and_then(Value::as_u64)
        })
        .map_or(CHUNKS, |m| usize::try_from(m).unwrap_or(CHUNKS));
    CHUNKS.min(limit)
}

pub(crate) fn usage_json(model: &str, completion: usize) -> Value {
    let completion = if model == "mock-long" {
        LONG_COMPLETION
    } else {
        completion as i64
    };
    if model == "mock-negative" {
        // An upstream that reports a negative count (a bug, or a hostile proxy in between).
        return json!({"prompt_tokens": NEGATIVE_USAGE.0, "completion_tokens": NEGATIVE_USAGE.1,
            "total_tokens": NEGATIVE_USAGE.0 + NEGATIVE_USAGE.1});
    }
    let mut usage = json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion, "total_tokens": PROMPT_TOKENS + completion});
    if model == "mock-cached" {
        usage["prompt_tokens_details"] = json!({"cached_tokens": CACHED_TOKENS});
    }
    usage
}

/// An SSE stream: Anthropic's events for Messages; else OpenAI's content events, an optional
/// usage event and `[DONE]`.
fn sse_body(path: &str, model: &str, usage: bool, chunks: usize) -> Body {
    let mut events = events_of(path, model, usage, chunks);
    if matches!(model, "mock-stall" | "mock-reset") {
        events.truncate(2);
        let reset = model == "mock-reset";
        let head = futures_util::stream::iter(events)
            .map(|e| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(e))));
        let tail = futures_util::stream::once(async move {
            if reset {
                tokio::time::sleep(SLOW_DELAY).await;
                // Unwinding the connection's task drops its socket mid-body, as a reset
                // does (without the panic hook's noise).
                std::panic::resume_unwind(Box::new("connection reset"))
            }
            futures_util::future::pending().await
        });
        return BodyExt::boxed(StreamBody::new(head.chain(tail)));
    }
    let delay = match model {
        "mock-slow" => Some(SLOW_DELAY),
        "mock-hold" => Some(HOLD_DELAY),
        _ => None,
    };
    events_body(events, delay)
}

/// The events of a streamed answer with `chunks` text chunks, in the format `path` speaks; a
/// `mock-break` stream stops after its second chunk with the format's error event.
fn events_of(path: &str, model: &str, usage: bool, chunks: usize) -> Vec<String> {
    if model == "mock-break" {
        let mut events = events_of(path, "mock", false, 3);
        let second = events.iter().position(|e| e.contains("w1 ")).unwrap_or(0);
        events.truncate(second + 1);
        events.push(stream_error(path));
        return events;
    }
    if path.ends_with("/v1/messages") {
        anthropic::events(model, chunks)
    } else if path.ends_with("/v1/responses") {
        responses::events(model, chunks)
    } else if path.contains(":streamGenerateContent") {
        gemini::events(model, chunks)
    } else {
        openai_events(path, model, usage, chunks)
    }
}

/// A body of `events`, each after `delay`.
fn events_body(events: Vec<String>, delay: Option<std::time::Duration>) -> Body {
    let stream = futures_util::stream::iter(events).then(move |e| async move {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(e)))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

fn openai_events(path: &str, model: &str, usage: bool, chunks: usize) -> Vec<String> {
    let chat = path.ends_with("/chat/completions");
    let mut events: Vec<String> = (0..chunks)
        .map(|i| {
            let v = if chat {
                json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                    "choices": [{"index": 0, "delta": {"content": format!("w{i} ")}, "finish_reason": null}]})
            } else {
                json!({"id": "cmpl-mock", "object": "text_completion", "created": 1_700_000_000, "model": model,
                    "choices": [{"index": 0, "text": format!("w{i} "), "finish_reason": null}]})
            };
            format!("data: {v}\n\n")
        })
        .collect();
    if usage {
        let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [], "usage": usage_json(model, chunks)});
        events.push(format!("data: {v}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

fn model_of(path: &str, body: &Value) -> String {
    if let Some(m) = body.get("model").and_then(Value::as_str) {
        return m.to_owned();
    }
    // Azure and Gemini name the model in the path.
    let segment = path
        .split('/')
        .skip_while(|s| *s != "deployments" && *s != "models")
        .nth(1)
        .unwrap_or_default();
    segment.split(':').next().unwrap_or_default().to_owned()
}
