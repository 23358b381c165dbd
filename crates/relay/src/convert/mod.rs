//! Conversion between dialects, used only when a caller's dialect differs from its channel's
//! (same-dialect calls stay a pass-through of the caller's bytes). One file per pair for now:
//! Anthropic Messages callers on OpenAI chat channels, and OpenAI chat callers on Anthropic
//! channels. With more pairs this grows an intermediate form with two converters per dialect
//! rather than a converter per pair.

mod anthropic_openai;
mod chat;
mod openai_anthropic;
mod openai_gemini;

use crate::dialect::{Dialect, Endpoint};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Value, json};

/// A request no converter can carry to the channel.
fn bad(why: &str) -> RelayError {
    RelayError::BadRequest(format!(
        "cannot convert the request for this channel: {why}"
    ))
}

/// The text of a string, or of the `text` of parts or blocks, joined by newlines.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An OpenAI tool call (`{id, function: {name, arguments}}`) as an Anthropic `tool_use` block.
fn tool_use_block(call: &Value) -> Value {
    let arguments = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    json!({
        "type": "tool_use",
        "id": call.get("id").cloned().unwrap_or_default(),
        "name": call.pointer("/function/name").cloned().unwrap_or_default(),
        "input": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({})),
    })
}

/// An Anthropic `tool_use` block as an OpenAI tool call.
fn tool_call(block: &Value) -> Value {
    json!({
        "id": block.get("id").cloned().unwrap_or_default(),
        "type": "function",
        "function": {
            "name": block.get("name").cloned().unwrap_or_default(),
            "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
        }
    })
}

/// A converted body.
fn to_bytes(value: &Value) -> Result<Bytes, RelayError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| RelayError::Internal(e.to_string()))
}

/// The `data:` payloads of a server-sent event stream, fed chunk by chunk (lines may break
/// across chunks).
#[derive(Default)]
pub(crate) struct SseData {
    partial: Vec<u8>,
}

impl SseData {
    /// The payloads completed by `chunk` (`[DONE]` left out).
    fn feed(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.partial.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(data) = line.strip_prefix(b"data:") {
                let data = data.strip_prefix(b" ").unwrap_or(data);
                if data != b"[DONE]" {
                    out.push(data.to_vec());
                }
            }
        }
        out
    }
}

/// Re-frames a stream chunk by chunk for a caller of another dialect.
pub(crate) trait Reframe: Send {
    /// The reader of the upstream's event data.
    fn lines(&mut self) -> &mut SseData;
    /// Writes the caller's bytes for one upstream event's data.
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>);
    /// The caller's closing bytes once the upstream stream ended.
    fn finish(&mut self) -> Vec<u8>;

    /// The caller's bytes for an upstream chunk (possibly none yet).
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for data in self.lines().feed(chunk) {
            self.event(&data, &mut out);
        }
        out
    }
}

/// How a call of one dialect is carried by a channel of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// Anthropic Messages on an OpenAI chat completions channel.
    AnthropicToOpenAi,
    /// OpenAI chat completions on an Anthropic Messages channel.
    OpenAiToAnthropic,
    /// OpenAI chat completions on a Gemini channel.
    OpenAiToGemini,
}

impl Conversion {
    /// The conversion a call to `endpoint` needs on a channel speaking `channel`: `Ok(None)`
    /// for the same dialect, `Err(())` when there is none.
    pub(crate) fn between(endpoint: Endpoint, channel: Dialect) -> Result<Option<Conversion>, ()> {
        match (endpoint, channel) {
            (e, c) if e.dialect() == c => Ok(None),
            (Endpoint::Messages, Dialect::OpenAi) => Ok(Some(Conversion::AnthropicToOpenAi)),
            (Endpoint::ChatCompletions, Dialect::Anthropic) => {
                Ok(Some(Conversion::OpenAiToAnthropic))
            }
            (Endpoint::ChatCompletions, Dialect::Gemini) => Ok(Some(Conversion::OpenAiToGemini)),
            _ => Err(()),
        }
    }

    /// The endpoint the channel is called at, for a streamed call or not.
    pub(crate) fn upstream_endpoint(self, stream: bool) -> Endpoint {
        match self {
            Conversion::AnthropicToOpenAi => Endpoint::ChatCompletions,
            Conversion::OpenAiToAnthropic => Endpoint::Messages,
            Conversion::OpenAiToGemini if stream => Endpoint::StreamGenerateContent,
            Conversion::OpenAiToGemini => Endpoint::GenerateContent,
        }
    }

    /// The caller's request body as the channel's, for `model`; `max_tokens` is the output
    /// limit to send when the caller's request names none and the channel requires one.
    pub(crate) fn request(
        self,
        body: &[u8],
        model: &str,
        stream: bool,
        max_tokens: i64,
    ) -> Result<Bytes, RelayError> {
        match self {
            Conversion::AnthropicToOpenAi => anthropic_openai::request(body, model, stream),
            Conversion::OpenAiToAnthropic => {
                openai_anthropic::request(body, model, stream, max_tokens)
            }
            Conversion::OpenAiToGemini => openai_gemini::request(body, max_tokens),
        }
    }

    /// The channel's whole answer as the caller's, named `model`.
    pub(crate) fn response(self, body: &[u8], model: &str) -> Result<Bytes, RelayError> {
        match self {
            Conversion::AnthropicToOpenAi => anthropic_openai::response(body, model),
            Conversion::OpenAiToAnthropic => openai_anthropic::response(body, model),
            Conversion::OpenAiToGemini => openai_gemini::response(body, model),
        }
    }

    /// The re-framing of a streamed answer, named `model`.
    pub(crate) fn stream(self, model: &str) -> Box<dyn Reframe> {
        match self {
            Conversion::AnthropicToOpenAi => {
                Box::new(anthropic_openai::StreamToAnthropic::new(model))
            }
            Conversion::OpenAiToAnthropic => Box::new(openai_anthropic::StreamToOpenAi::new(model)),
            Conversion::OpenAiToGemini => Box::new(openai_gemini::StreamToOpenAi::new(model)),
        }
    }
}
