//! One relay call from request to bill, whatever the dialect: price the call and reserve its
//! worst case, pick a channel, shape the request with the channel's provider adaptor, send it
//! (retrying other channels on retryable failures), hold a stream until its first event, then
//! relay the answer while metering it and settle. No database write happens on this path;
//! reads happen only when a key, user or balance is first seen.

use crate::answer::{Answer, Answered, answer, failed_status};
use crate::auth::Caller;
use crate::billing::{Fees, Meter};
use crate::client::{UpstreamBody, full_body};
use crate::convert::Conversion;
use crate::dialect::{CallSpec, Dialect, Endpoint, openai};
use crate::error::{RelayError, UpstreamError, UpstreamKind};
use crate::health::{classify, error_codes, error_message};
use crate::mask::mask;
use crate::providers::Provider;
use crate::relay::{BILLING_BACKLOG, Relay};
use crate::reserve::{Priced, requested_tools};
use crate::routing::{ChannelInfo, Snapshot};
use crate::stream::MeteredStream;
use crate::stream::first::{FirstEvent, first_event};
use crate::upload::Form;
use bytes::Bytes;
use domain::options as opt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// The most of an upstream's error body read.
const ERROR_BODY_LIMIT: usize = 1 << 20;

/// What the caller sent, read and priced.
pub struct Request {
    endpoint: Endpoint,
    payload: Payload,
    spec: CallSpec,
    /// Caller headers passed to the upstream as they are (Anthropic's version and betas).
    forwarded: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
}

enum Payload {
    Json { body: Bytes, stream_options: bool },
    Form(Form),
}

impl Request {
    /// A JSON request to an OpenAI endpoint, or to Anthropic's Messages.
    pub fn openai_json(endpoint: Endpoint, body: Bytes) -> Result<Request, RelayError> {
        let (spec, stream_options) = endpoint.read_json(&body)?;
        Ok(Request {
            endpoint,
            payload: Payload::Json {
                body,
                stream_options,
            },
            spec,
            forwarded: Vec::new(),
        })
    }

    /// A Gemini call of `model` (named in the path): its body goes upstream untouched.
    pub fn gemini(endpoint: Endpoint, model: &str, body: Bytes) -> Result<Request, RelayError> {
        let spec = match endpoint {
            Endpoint::EmbedContent | Endpoint::BatchEmbedContents => {
                crate::dialect::gemini::read_embed(model, &body)?
            }
            _ => crate::dialect::gemini::read(
                model,
                &body,
                endpoint == Endpoint::StreamGenerateContent,
            )?,
        };
        Ok(Request {
            endpoint,
            payload: Payload::Json {
                body,
                stream_options: false,
            },
            spec,
            forwarded: Vec::new(),
        })
    }

    /// Passes a caller header on to the upstream as it is (replacing the adaptor's own); a
    /// value that is no valid header value is dropped.
    pub fn forward_header(&mut self, name: &'static str, value: &[u8]) {
        if let Ok(value) = hyper::header::HeaderValue::from_bytes(value) {
            self.forwarded
                .push((hyper::header::HeaderName::from_static(name), value));
        }
    }

    /// A multipart upload to an OpenAI endpoint, read whole.
    pub async fn openai_upload(
        endpoint: Endpoint,
        content_type: &str,
        body: Bytes,
    ) -> Result<Request, RelayError> {
        let form = Form::parse(content_type, body).await?;
        let mut spec = endpoint.read_form(&form)?;
        let recording = match endpoint.hears_audio() {
            true => form.file("file")?,
            false => None,
        };
        if let Some((data, name)) = recording {
            // Read off the async workers: a container is walked packet by packet.
            let size = data.len();
            let name = name.map(str::to_owned);
            let heard =
                tokio::task::spawn_blocking(move || crate::audio::seconds(data, name.as_deref()))
                    .await
                    .ok()
                    .flatten();
            let least = crate::audio::least_seconds(size);
            spec.hear(heard.map_or_else(|| crate::audio::worst_seconds(size), |s| s.max(least)));
        }
        Ok(Request {
            endpoint,
            payload: Payload::Form(form),
            spec,
            forwarded: Vec::new(),
        })
    }

    fn dialect(&self) -> Dialect {
        self.endpoint.dialect()
    }

    /// The content type and body sent to a channel that runs `upstream_model`.
    fn upstream_body(&self, upstream_model: &str) -> Result<(String, Bytes), RelayError> {
        match &self.payload {
            // Gemini names the model in the URL, not the body.
            Payload::Json { body, .. } if self.dialect() == Dialect::Gemini => {
                Ok(("application/json".to_owned(), body.clone()))
            }
            Payload::Json {
                body,
                stream_options,
            } => Ok((
                "application/json".to_owned(),
                openai::upstream_json(
                    body,
                    &self.spec.model,
                    upstream_model,
                    self.spec.stream && self.endpoint.asks_for_stream_usage(),
                    *stream_options,
                )?,
            )),
            Payload::Form(form) => Ok(form.encode(upstream_model)),
        }
    }
}

/// Who called, from where, under which request id.
#[derive(Debug, Clone)]
pub struct CallMeta {
    pub request_id: String,
    pub ip: Option<IpAddr>,
}

/// The answer to relay back.
pub struct RelayResponse {
    pub status: u16,
    pub content_type: String,
    pub body: RelayBody,
}

pub enum RelayBody {
    Full(Bytes),
    /// Chunks as they come; an `Err` ends the stream (an `Insufficient` one is meant to be
    /// shown to the caller as an error event).
    Stream(Box<MeteredStream>),
}

impl Relay {
    /// Relays one call within the caller's rate limits, retrying retryable failures on other
    /// channels.
    pub async fn call(
        &self,
        caller: &Caller,
        request: Request,
        meta: &CallMeta,
    ) -> Result<RelayResponse, RelayError> {
        let permit = self.admit_call(caller).await?;
        self.call_admitted(caller, request, meta, permit).await
    }

    /// Checks the caller's rate limits and takes the call's slot: a server checks this before
    /// it reads a request's body, then calls [`Relay::call_admitted`].
    pub async fn admit_call(&self, caller: &Caller) -> Result<crate::limits::Permit, RelayError> {
        self.limit(caller).await
    }

    /// Relays a call admitted by [`Relay::admit_call`]; the permit is held until the answer
    /// ends.
    pub async fn call_admitted(
        &self,
        caller: &Caller,
        request: Request,
        meta: &CallMeta,
        mut permit: crate::limits::Permit,
    ) -> Result<RelayResponse, RelayError> {
        let mut resp = self.call_unlimited(caller, request, meta).await?;
        permit.succeeded();
        if let RelayBody::Stream(stream) = &mut resp.body {
            stream.hold(permit);
        }
        Ok(resp)
    }

    async fn call_unlimited(
        &self,
        caller: &Caller,
        request: Request,
        meta: &CallMeta,
    ) -> Result<RelayResponse, RelayError> {
        let started = Instant::now();
        let spec = &request.spec;
        self.s.billing.wait_below(BILLING_BACKLOG).await;
        self.ensure_balances(caller).await?;
        let snapshot = self.s.router.snapshot();
        let mut priced = Some(self.reserve(&snapshot, caller, spec).await?);
        let retries = self.s.options.get_i64(opt::RETRY_TIMES).clamp(0, 10);
        let mut tried: Vec<i32> = Vec::new();
        let mut last_error = RelayError::NoChannel(spec.model.clone());
        let mut attempts = 0;
        while attempts <= retries {
            let Some(channel) = next_channel(&snapshot, caller, spec, request.endpoint, &mut tried)
            else {
                break;
            };
            attempts += 1;
            let conversion = conversion_for(&channel, request.endpoint);
            let resp = match self.send(&channel, &request, conversion).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(channel = channel.id, error = %e, request_id = %meta.request_id, "upstream unreachable");
                    last_error = e;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                last_error = self
                    .upstream_failure(&channel, resp, &meta.request_id)
                    .await;
                if retryable(status) && caller.pinned.is_none() {
                    continue;
                }
                break;
            }
            // A stream is committed to the caller only once its first event is here and is not
            // an error: until then another channel can still take over.
            let (resp, first) = if spec.stream {
                let (parts, mut body) = resp.into_parts();
                match first_event(&mut body, self.s.timeouts.first_byte).await {
                    FirstEvent::Data(chunk) => {
                        (hyper::Response::from_parts(parts, body), Some(chunk))
                    }
                    FirstEvent::Error(data) => {
                        last_error = self.stream_failure(&channel, &data, meta);
                        continue;
                    }
                    FirstEvent::Broken(why) => {
                        crate::telemetry::upstream_unreachable(channel.id);
                        tracing::warn!(channel = channel.id, request_id = %meta.request_id, "upstream stream broke before its first event: {why}");
                        last_error = RelayError::Unavailable(why);
                        continue;
                    }
                }
            } else {
                (resp, None)
            };
            let Some(mut held) = priced.take() else {
                break;
            };
            // What the answer cannot show is priced from the request, when it reaches its own
            // family untouched: a search model's search, Anthropic's code execution container.
            held.fees.requested = requested_tools(spec, request.endpoint, conversion);
            let (meter, allowance) = self.meter(caller, &channel, &request, held, meta, started);
            let shape = Answer {
                endpoint: request.endpoint,
                conversion,
                model: &spec.model,
                channel: channel.clone(),
                jobs: &self.s.jobs,
                idle: self.s.timeouts.idle,
                ending: &self.s.ending,
                durable: self.s.durable.then(|| self.s.billing.clone()),
            };
            match answer(meter, allowance, resp, shape, first).await? {
                Answered::Relayed(r) => return Ok(r),
                Answered::Failed { body, meter } => {
                    // A 200 whose body is an error: nothing billed, the reservation kept for
                    // the next channel.
                    let status = failed_status(&body);
                    tracing::warn!(channel = channel.id, status, request_id = %meta.request_id, body = %String::from_utf8_lossy(&body), "upstream error in a 200 answer");
                    let mut meter = *meter;
                    priced = meter.session.take().map(|session| Priced {
                        price: meter.price,
                        session,
                        allowance,
                        count: meter.count,
                        fees: meter.fees,
                    });
                    last_error =
                        self.upstream_error(&channel, status, classify(status, &body), &body);
                    if retryable(status) && caller.pinned.is_none() {
                        continue;
                    }
                    break;
                }
            }
        }
        // `priced` (when still held) refunds the reservation as it drops.
        Err(last_error)
    }

    /// Shapes the request for the channel's provider and sends it.
    async fn send(
        &self,
        channel: &ChannelInfo,
        request: &Request,
        conversion: Option<Conversion>,
    ) -> Result<hyper::Response<Incoming>, RelayError> {
        let unavailable =
            |why: String| RelayError::Unavailable(format!("channel {}: {why}", channel.id));
        let adaptor = Provider::of(channel.channel_type)
            .adaptor()
            .ok_or_else(|| unavailable("a task platform".into()))?;
        let base = crate::providers::base_url(channel.channel_type, &channel.base_url)
            .ok_or_else(|| unavailable("no base URL".into()))?;
        let upstream_model = channel.upstream_model(&request.spec.model);
        let endpoint = conversion.map_or(request.endpoint, |c| {
            c.upstream_endpoint(request.spec.stream)
        });
        let url = adaptor
            .url(channel, &base, endpoint, upstream_model)
            .ok_or_else(|| unavailable("does not serve this endpoint".into()))?;
        let (content_type, body) = match (conversion, &request.payload) {
            (Some(c), Payload::Json { body, .. }) => {
                let spec = &request.spec;
                let limit = spec.output.and_then(|o| o.limit);
                let max_output = self.prices().max_output(&spec.model);
                (
                    "application/json".to_owned(),
                    c.request(body, upstream_model, spec.stream, limit, max_output)?,
                )
            }
            _ => request.upstream_body(upstream_model)?,
        };
        let builder = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(url)
            .header(hyper::header::CONTENT_TYPE, content_type);
        let mut builder = adaptor.authorize(channel, builder);
        if let Some(headers) = builder.headers_mut().filter(|_| conversion.is_none()) {
            for (name, value) in &request.forwarded {
                headers.insert(name.clone(), value.clone());
            }
        }
        let upstream: hyper::Request<UpstreamBody> = builder
            .body(full_body(body))
            .map_err(|e| unavailable(format!("building the request: {e}")))?;
        let started = Instant::now();
        match self.s.http.send(upstream, self.s.timeouts.first_byte).await {
            Ok(resp) => {
                crate::telemetry::upstream_answered(channel.id, started, resp.status().as_u16());
                Ok(resp)
            }
            Err(e) => {
                crate::telemetry::upstream_unreachable(channel.id);
                Err(unavailable(e.to_string()))
            }
        }
    }

    /// Reads a failed answer: counts a key failure, and makes the caller's (masked) error.
    async fn upstream_failure(
        &self,
        channel: &ChannelInfo,
        resp: hyper::Response<Incoming>,
        request_id: &str,
    ) -> RelayError {
        let status = resp.status().as_u16();
        let bytes = Limited::new(resp.into_body(), ERROR_BODY_LIMIT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        tracing::warn!(channel = channel.id, status, request_id, body = %String::from_utf8_lossy(&bytes), "upstream error");
        let kind = classify(status, &bytes);
        self.upstream_error(channel, status, kind, &bytes)
    }

    /// An error event in place of a stream.
    fn stream_failure(&self, channel: &ChannelInfo, data: &[u8], meta: &CallMeta) -> RelayError {
        tracing::warn!(channel = channel.id, request_id = %meta.request_id, event = %String::from_utf8_lossy(data), "upstream stream error");
        let kind = match classify(403, data) {
            UpstreamKind::KeyUnusable => UpstreamKind::KeyUnusable,
            _ => UpstreamKind::Failed,
        };
        self.upstream_error(channel, 502, kind, data)
    }

    fn upstream_error(
        &self,
        channel: &ChannelInfo,
        status: u16,
        kind: UpstreamKind,
        body: &[u8],
    ) -> RelayError {
        if kind == UpstreamKind::KeyUnusable {
            self.key_failure(channel);
        }
        let message = error_message(body)
            .map(|m| mask(&m, channel))
            .unwrap_or_else(|| format!("upstream answered {status}"));
        RelayError::Upstream(UpstreamError {
            provider: Provider::of(channel.channel_type),
            status,
            kind,
            message,
            code: error_codes(body)
                .into_iter()
                .next()
                .map(|c| mask(&c, channel)),
        })
    }

    fn meter(
        &self,
        caller: &Caller,
        channel: &ChannelInfo,
        request: &Request,
        priced: Priced,
        meta: &CallMeta,
        started: Instant,
    ) -> (Meter, Option<i64>) {
        let spec = &request.spec;
        let meter = Meter {
            session: Some(priced.session),
            billing: self.s.billing.clone(),
            caller: caller.clone(),
            channel_id: channel.id,
            model: spec.model.clone(),
            price: priced.price,
            count: priced.count,
            prompt_estimate: spec.prompt_estimate,
            request: match &request.payload {
                Payload::Json { body, .. } => body.clone(),
                Payload::Form(_) => Bytes::new(),
            },
            started,
            request_id: meta.request_id.clone(),
            ip: meta.ip.map(|i| i.to_string()).unwrap_or_default(),
            stream: spec.stream,
            fees: Fees {
                unreported_output: match spec.image {
                    Some(_) => priced.allowance.unwrap_or(0),
                    None => 0,
                },
                ..priced.fees
            },
            tokens: self.token_count(caller),
        };
        (meter, priced.allowance)
    }
}

/// The next channel to try: the pinned one (once), else a pick among those not in `tried`;
/// channels that do not take the request's dialect are passed over without using up an
/// attempt. Every channel seen goes into `tried`.
fn next_channel(
    snapshot: &Snapshot,
    caller: &Caller,
    spec: &CallSpec,
    endpoint: Endpoint,
    tried: &mut Vec<i32>,
) -> Option<Arc<ChannelInfo>> {
    loop {
        let channel = match caller.pinned {
            Some(id) if tried.is_empty() => snapshot.channel(id),
            Some(_) => None,
            None => snapshot.pick(&caller.group, &spec.model, tried),
        }?;
        tried.push(channel.id);
        let speaks = Provider::of(channel.channel_type)
            .adaptor()
            .is_some_and(|a| Conversion::between(endpoint, a.dialect()).is_ok());
        if speaks {
            return Some(channel);
        }
    }
}

/// The conversion a call to `endpoint` needs on `channel` (none for the same dialect).
fn conversion_for(channel: &ChannelInfo, endpoint: Endpoint) -> Option<Conversion> {
    let dialect = Provider::of(channel.channel_type).adaptor()?.dialect();
    Conversion::between(endpoint, dialect).ok().flatten()
}

/// Statuses worth trying on another channel.
fn retryable(status: u16) -> bool {
    matches!(status, 401 | 403 | 408 | 429) || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        for s in [401, 429, 500, 502, 503] {
            assert!(retryable(s), "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert!(!retryable(s), "{s}");
        }
    }
}
