//! Realtime sessions (OpenAI's `GET /v1/realtime` WebSocket): the relay picks a channel, holds
//! the worst case of one response (the model's most output tokens, as audio), and opens the
//! channel's upstream socket; the caller's framework relays the frames both ways and hands
//! each client event and each server event to [`RealtimeMeter`]. It refuses client events that
//! are not JSON or name another model, holds one worst case per response in flight (a
//! `response.create` the balance cannot hold is refused), bills every `response.done` from its
//! usage (text and audio tokens priced apart, cached input at the cache ratio) and holds the
//! next response's worst case. When a hold fails the session must end: the balance never
//! covers less than the responses under way.

use crate::auth::Caller;
use crate::billing::{Meter, Session};
use crate::dialect::Dialect;
use crate::error::RelayError;
use crate::pipeline::CallMeta;
use crate::providers::{Provider, base_url};
use crate::relay::Relay;
use crate::routing::ChannelInfo;
use domain::pricing::{AudioRatios, Modal, Price, PriceTable};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The upstream socket of a realtime session.
pub type RealtimeUpstream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// An open realtime session: the upstream socket and the meter of its server events.
pub struct Realtime {
    pub upstream: RealtimeUpstream,
    pub meter: RealtimeMeter,
}

/// Bills a realtime session response by response.
pub struct RealtimeMeter {
    relay: Relay,
    /// The session's pricing and billing record (its own `session` unused: see `holds`).
    meter: Meter,
    audio: AudioRatios,
    /// What one response is held for.
    hold: i64,
    /// One hold per response in flight or asked for, and one for the next.
    holds: Vec<Session>,
    /// The responses created and not done yet, by id.
    in_flight: Vec<String>,
    /// `response.create` events sent upstream whose response was not created yet (with their
    /// `event_id`, which an upstream `error` refusing one names).
    pending: VecDeque<Option<String>>,
    /// The session's slot among its key's calls in flight, held while it lasts (given back
    /// when the meter is dropped).
    _permit: Option<crate::limits::Permit>,
    /// The model the channel runs the session as.
    upstream_model: String,
    /// The channel, whose secrets the caller's events must not show.
    channel: Arc<ChannelInfo>,
    /// Counts the session among the open ones while it lives.
    _open: crate::telemetry::Open,
}

/// What the meter reads of a client event. Unknown fields are skipped; a field named twice
/// fails the parse.
#[derive(Deserialize)]
struct ClientEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    event_id: Option<String>,
    session: Option<SessionPart>,
}

#[derive(Deserialize)]
struct SessionPart {
    model: Option<String>,
}

/// The tokens of a `response.done` event's usage, by modality.
fn modal_usage(usage: &Value) -> Modal {
    let get = |p: &str| usage.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let text_in = get("/input_token_details/text_tokens");
    let audio_in = get("/input_token_details/audio_tokens");
    let text_out = get("/output_token_details/text_tokens");
    let audio_out = get("/output_token_details/audio_tokens");
    // Totals without a breakdown count as text.
    let or_total = |part: i64, other: i64, total: &str| {
        if part + other == 0 { get(total) } else { part }
    };
    Modal {
        text_in: or_total(text_in, audio_in, "/input_tokens"),
        audio_in,
        cached_text_in: get("/input_token_details/cached_tokens_details/text_tokens"),
        cached_audio_in: get("/input_token_details/cached_tokens_details/audio_tokens"),
        text_out: or_total(text_out, audio_out, "/output_tokens"),
        audio_out,
    }
}

impl RealtimeMeter {
    /// Reads one client event before it goes upstream; an `Err` keeps it from the upstream
    /// (the caller gets the error as an event). Refused: an event that is not valid JSON, one
    /// naming another model than the session's (the session is priced as its own model), and
    /// a `response.create` the balance cannot hold.
    /// Checks a client event against the caller's rate limits: each `response.create` is a
    /// request of its own.
    pub async fn admit(&self, text: &str) -> Result<(), RelayError> {
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let creates = serde_json::from_str::<Kind<'_>>(text)
            .ok()
            .and_then(|k| k.kind)
            .is_some_and(|k| k == "response.create");
        if !creates {
            return Ok(());
        }
        self.relay.limit_response(&self.meter.caller).await?;
        // The response's hold is taken without waiting when the event is read: this instance
        // leases it now.
        let payer = self.meter.caller.payer();
        Ok(self.relay.s.ledger.lease(payer, self.hold).await?)
    }

    pub fn client_event(&mut self, text: &str) -> Result<(), RelayError> {
        let event: ClientEvent = serde_json::from_str(text)
            .map_err(|e| RelayError::BadRequest(format!("the event is not valid JSON: {e}")))?;
        if let Some(m) = event.session.and_then(|s| s.model)
            && m != self.meter.model
            && m != self.upstream_model
        {
            return Err(RelayError::BadRequest(format!(
                "a session of {} cannot switch to {m}",
                self.meter.model
            )));
        }
        if event.kind.as_deref() == Some("response.create") {
            self.ensure(self.in_flight.len() + self.pending.len() + 1)?;
            self.pending.push_back(event.event_id);
        }
        Ok(())
    }

    /// Whether a response is under way or asked for.
    pub fn responding(&self) -> bool {
        !self.in_flight.is_empty() || !self.pending.is_empty()
    }

    /// The ids of the responses under way.
    pub fn in_flight(&self) -> &[String] {
        &self.in_flight
    }

    /// Holds until there are `n`, or says which balance is short.
    fn ensure(&mut self, n: usize) -> Result<(), RelayError> {
        while self.holds.len() < n {
            let hold = self
                .relay
                .hold_now(&self.meter.caller, self.meter.price, self.hold)
                .map_err(|short| RelayError::Insufficient {
                    holder: short.holder().0,
                    model: self.meter.model.clone(),
                    affordable_output: None,
                })?;
            self.holds.push(hold);
        }
        Ok(())
    }

    /// A server event as the caller may see it: the text of an `error` event (and of a failed
    /// response's error) masked of the channel's secrets like an HTTP upstream error; the
    /// full text is logged. Other events pass as they are.
    pub fn outgoing<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains("\"error\"") {
            return Cow::Borrowed(text);
        }
        let Ok(mut event) = serde_json::from_str::<Value>(text) else {
            return Cow::Borrowed(text);
        };
        let mut masked = false;
        for at in ["/error", "/response/status_details/error"] {
            let Some(Value::Object(error)) = event.pointer_mut(at) else {
                continue;
            };
            for field in ["message", "code", "param", "type"] {
                if let Some(Value::String(value)) = error.get_mut(field) {
                    let clean = crate::mask::mask(value, &self.channel);
                    if clean != *value {
                        *value = clean;
                        masked = true;
                    }
                }
            }
        }
        if !masked {
            return Cow::Borrowed(text);
        }
        tracing::warn!(channel = self.channel.id, request_id = %self.meter.request_id, event = %text, "realtime upstream error");
        Cow::Owned(event.to_string())
    }

    /// Reads one server event. A `response.created` is held, a `response.done` billed and the
    /// next response held; an `Err` (a hold failed) means the session must end with it.
    pub fn server_event(&mut self, text: &str) -> Result<(), RelayError> {
        if !text.contains("\"response.") && !text.contains("\"error\"") {
            return Ok(());
        }
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            return Ok(());
        };
        let id = event
            .pointer("/response/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match event.get("type").and_then(Value::as_str) {
            Some("response.created") => {
                self.pending.pop_front();
                self.in_flight.push(id);
                return self.ensure(self.in_flight.len() + self.pending.len());
            }
            // A refused `response.create` creates nothing (an error naming another event, or
            // none, leaves the holds as they are: more held, never less).
            Some("error") => {
                let refused = event.pointer("/error/event_id").and_then(Value::as_str);
                if let Some(at) =
                    refused.and_then(|r| self.pending.iter().position(|p| p.as_deref() == Some(r)))
                {
                    self.pending.remove(at);
                }
                return Ok(());
            }
            Some("response.done") => {
                if let Some(at) = self.in_flight.iter().position(|i| *i == id) {
                    self.in_flight.remove(at);
                }
            }
            _ => return Ok(()),
        }
        let usage = event
            .pointer("/response/usage")
            .cloned()
            .unwrap_or_default();
        let tokens = modal_usage(&usage);
        let cost = self.meter.price.quota_modal(tokens, self.audio);
        // Past its hold (or without one), only what the balances still hold is taken.
        let quota = self
            .holds
            .pop()
            .or_else(|| {
                self.relay
                    .hold_now(&self.meter.caller, PriceTable::free(), 0)
                    .ok()
            })
            .map_or(0, |s| s.settle(cost));
        let mut content = match self.meter.price {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio,
                ..
            } => format!(
                "模型倍率 {model_ratio}，补全倍率 {completion_ratio}，音频倍率 {}，音频补全倍率 {}，分组倍率 {group_ratio}",
                self.audio.input, self.audio.completion
            ),
            Price::PerCall { usd, group_ratio } => {
                format!("模型价格 {usd}，分组倍率 {group_ratio}")
            }
        };
        if quota < cost {
            content.push_str(&format!("；余额不足，按余额扣费 {quota}（应扣 {cost}）"));
        }
        let input = tokens.text_in + tokens.audio_in;
        let output = tokens.text_out + tokens.audio_out;
        self.meter.record(input, output, quota, content);
        self.ensure(self.in_flight.len() + self.pending.len() + 1)
    }
}

/// The realtime URL of a channel for `model`: its base with a WebSocket scheme.
fn upstream_url(channel: &ChannelInfo, model: &str) -> Option<String> {
    let base = base_url(channel.channel_type, &channel.base_url)?;
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.strip_prefix("http://")?)
    };
    let model: String = model
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("{base}/v1/realtime?model={model}"))
}

impl Relay {
    /// Opens a realtime session on `model` for `caller`: an OpenAI channel serving it, the
    /// first response's worst case held, the upstream socket connected (with `beta`, the
    /// caller's `OpenAI-Beta` header, passed on). Channels that fail to connect are passed
    /// over like failed calls.
    pub async fn realtime(
        &self,
        caller: &Caller,
        model: &str,
        beta: Option<&str>,
        meta: &CallMeta,
    ) -> Result<Realtime, RelayError> {
        self.ensure_balances(caller).await?;
        let mut permit = Some(self.limit(caller).await?);
        let snapshot = self.s.router.snapshot();
        let price = self.price_of(&snapshot, caller, model)?;
        let audio = self.prices().audio_ratios(model);
        // One response's worst output: the model's most output tokens, all audio (the dearer
        // modality).
        let hold = price.quota_modal(
            Modal {
                audio_out: self.prices().max_output(model),
                ..Modal::default()
            },
            audio,
        );
        let insufficient = |short: crate::billing::Shortfall| RelayError::Insufficient {
            holder: short.holder().0,
            model: model.to_owned(),
            affordable_output: None,
        };
        let mut first = Some(self.hold(caller, price, hold, insufficient).await?);
        let mut tried = Vec::new();
        let mut last_error = RelayError::NoChannel(model.to_owned());
        while let Some(channel) = snapshot.pick(&caller.group, model, &tried) {
            tried.push(channel.id);
            let openai = Provider::of(channel.channel_type)
                .adaptor()
                .is_some_and(|a| a.dialect() == Dialect::OpenAi);
            let Some(url) =
                upstream_url(&channel, channel.upstream_model(model)).filter(|_| openai)
            else {
                continue;
            };
            let mut request = match url.into_client_request() {
                Ok(r) => r,
                Err(e) => {
                    last_error = RelayError::Unavailable(format!("channel {}: {e}", channel.id));
                    continue;
                }
            };
            let headers = request.headers_mut();
            let values = [
                ("authorization", Some(format!("Bearer {}", channel.key))),
                (
                    "openai-organization",
                    Some(channel.organization.clone()).filter(|o| !o.is_empty()),
                ),
                ("openai-beta", beta.map(str::to_owned)),
            ];
            for (name, value) in values {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert(name, v);
                }
            }
            match tokio_tungstenite::connect_async(request).await {
                Ok((upstream, _)) => {
                    let meter = Meter {
                        session: None,
                        billing: self.s.billing.clone(),
                        caller: caller.clone(),
                        channel_id: channel.id,
                        model: model.to_owned(),
                        price,
                        count: 1,
                        prompt_estimate: 0,
                        request: bytes::Bytes::new(),
                        started: Instant::now(),
                        request_id: meta.request_id.clone(),
                        ip: meta.ip.map(|i| i.to_string()).unwrap_or_default(),
                        stream: true,
                        fees: Default::default(),
                        tokens: self.token_count(caller),
                    };
                    return Ok(Realtime {
                        upstream,
                        meter: RealtimeMeter {
                            relay: self.clone(),
                            meter,
                            audio,
                            hold,
                            holds: first.take().into_iter().collect(),
                            in_flight: Vec::new(),
                            pending: VecDeque::new(),
                            upstream_model: channel.upstream_model(model).to_owned(),
                            channel: channel.clone(),
                            _open: crate::telemetry::Open::new("gateway_realtime_sessions"),
                            _permit: permit.take().map(|mut p| {
                                p.succeeded();
                                p
                            }),
                        },
                    });
                }
                Err(e) => {
                    tracing::warn!(channel = channel.id, request_id = %meta.request_id, "realtime upstream: {e}");
                    last_error = RelayError::Unavailable(format!(
                        "channel {}: could not connect",
                        channel.id
                    ));
                }
            }
        }
        Err(last_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_by_modality() {
        let usage = json!({"total_tokens": 75, "input_tokens": 30, "output_tokens": 45,
            "input_token_details": {"text_tokens": 10, "audio_tokens": 20, "cached_tokens": 4,
                "cached_tokens_details": {"text_tokens": 3, "audio_tokens": 1}},
            "output_token_details": {"text_tokens": 5, "audio_tokens": 40}});
        assert_eq!(
            modal_usage(&usage),
            Modal {
                text_in: 10,
                audio_in: 20,
                cached_text_in: 3,
                cached_audio_in: 1,
                text_out: 5,
                audio_out: 40
            }
        );
        let bare = json!({"input_tokens": 7, "output_tokens": 9});
        assert_eq!(
            modal_usage(&bare),
            Modal {
                text_in: 7,
                text_out: 9,
                ..Modal::default()
            }
        );
    }
}
