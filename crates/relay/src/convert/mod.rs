//! Conversion between dialects, used only when a caller's dialect differs from its channel's
//! (same-dialect calls stay a pass-through of the caller's bytes). OpenAI chat completions are
//! the intermediate form: each dialect has one converter taking its callers to chat and back
//! (`<dialect>_openai.rs`) and, for the families channels speak, one taking chat to its
//! channels and back (`openai_<family>.rs`). A call whose caller and channel both differ from
//! chat goes through both; a stream is re-framed twice.

mod anthropic_openai;
mod chat;
mod gemini_openai;
mod openai_anthropic;
mod openai_gemini;
mod responses_openai;

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

/// Logs (at debug level) the top-level fields of a caller's request that its conversion does
/// not carry: they have no equivalent in the hub.
fn log_dropped(req: &serde_json::Map<String, Value>, carried: &[&str]) {
    let dropped: Vec<&str> = req
        .keys()
        .map(String::as_str)
        .filter(|k| !carried.contains(k))
        .collect();
    if !dropped.is_empty() {
        tracing::debug!(?dropped, "dropped: no OpenAI chat equivalent");
    }
}

/// The media type and base64 data of a `data:` URL.
fn data_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("data:")?.split_once(";base64,")
}

/// A chat content part for inline media: an image part for images, a file part (PDFs and
/// other documents) for the rest.
fn media_part(mime: &str, data: &str, filename: Option<&str>) -> Value {
    let url = format!("data:{mime};base64,{data}");
    if mime.starts_with("image/") {
        json!({"type": "image_url", "image_url": {"url": url}})
    } else {
        json!({"type": "file", "file": {"filename": filename.unwrap_or("document"),
            "file_data": url}})
    }
}

/// A hub (chat) request made from a caller's, finished: a stream asks for its usage, and the
/// limit priced is the limit sent, whichever field the caller named it in.
fn hub_request(mut out: Value, stream: bool, limit: Option<i64>) -> Result<Bytes, RelayError> {
    if stream {
        out["stream"] = json!(true);
        out["stream_options"] = json!({"include_usage": true});
    }
    if let Some(limit) = limit {
        out["max_tokens"] = json!(limit);
    }
    to_bytes(&out)
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
    /// The caller's bytes for an upstream chunk (possibly none yet).
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8>;
    /// The caller's closing bytes once the upstream stream ended.
    fn finish(&mut self) -> Vec<u8>;
}

/// A re-framing event by event: the upstream's server-sent events, one `data:` payload at a
/// time.
pub(crate) trait Events: Send {
    /// The reader of the upstream's event data.
    fn lines(&mut self) -> &mut SseData;
    /// Writes the caller's bytes for one upstream event's data.
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>);
    /// The caller's closing bytes once the upstream stream ended.
    fn end(&mut self) -> Vec<u8>;
}

impl<T: Events> Reframe for T {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for data in self.lines().feed(chunk) {
            self.event(&data, &mut out);
        }
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        self.end()
    }
}

/// Test support: feeds each chat chunk (a `data:` payload) to `reframe` split across a chunk
/// border, then finishes the stream; the caller's bytes as text.
#[cfg(test)]
pub(crate) fn feed_halves(reframe: &mut dyn Reframe, chunks: &[&str]) -> String {
    let mut out = Vec::new();
    for chunk in chunks {
        let event = format!("data: {chunk}\n\n");
        let (a, b) = event.as_bytes().split_at(event.len() / 2);
        out.extend(reframe.feed(a));
        out.extend(reframe.feed(b));
    }
    out.extend(reframe.finish());
    String::from_utf8(out).unwrap_or_default()
}

/// Re-framings one after the other: the channel's stream to the hub's (OpenAI chat chunks),
/// then the hub's to the caller's.
struct Chain(Vec<Box<dyn Reframe>>);

impl Reframe for Chain {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut bytes = chunk.to_vec();
        for step in &mut self.0 {
            bytes = step.feed(&bytes);
        }
        bytes
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for step in &mut self.0 {
            let mut out = step.feed(&bytes);
            out.extend(step.finish());
            bytes = out;
        }
        bytes
    }
}

/// A caller's dialect, as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    Chat,
    Messages,
    Gemini,
    Responses,
}

/// A channel's dialect, as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outbound {
    Chat,
    Anthropic,
    Gemini,
}

/// How a call of one dialect is carried by a channel of another: the caller's side to the hub
/// and the hub to the channel's side (either may be the hub itself, not both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conversion {
    inbound: Inbound,
    outbound: Outbound,
}

impl Conversion {
    /// The conversion a call to `endpoint` needs on a channel speaking `channel`: `Ok(None)`
    /// for the same dialect, `Err(())` when there is none.
    pub(crate) fn between(endpoint: Endpoint, channel: Dialect) -> Result<Option<Conversion>, ()> {
        if endpoint.dialect() == channel {
            return Ok(None);
        }
        let inbound = match endpoint {
            Endpoint::ChatCompletions => Inbound::Chat,
            Endpoint::Messages => Inbound::Messages,
            Endpoint::GenerateContent | Endpoint::StreamGenerateContent => Inbound::Gemini,
            Endpoint::Responses => Inbound::Responses,
            _ => return Err(()),
        };
        let outbound = match channel {
            Dialect::OpenAi => Outbound::Chat,
            Dialect::Anthropic => Outbound::Anthropic,
            Dialect::Gemini => Outbound::Gemini,
        };
        Ok(Some(Conversion { inbound, outbound }))
    }

    /// The endpoint the channel is called at, for a streamed call or not.
    pub(crate) fn upstream_endpoint(self, stream: bool) -> Endpoint {
        match self.outbound {
            Outbound::Chat => Endpoint::ChatCompletions,
            Outbound::Anthropic => Endpoint::Messages,
            Outbound::Gemini if stream => Endpoint::StreamGenerateContent,
            Outbound::Gemini => Endpoint::GenerateContent,
        }
    }

    /// The caller's request body as the channel's, for `model`. `limit` is the output limit
    /// the call was priced with (the caller's, in whichever field it named it): it is the
    /// limit sent. `max_output` is the limit to send when the caller named none and the
    /// channel requires one (what was reserved).
    pub(crate) fn request(
        self,
        body: &[u8],
        model: &str,
        stream: bool,
        limit: Option<i64>,
        max_output: i64,
    ) -> Result<Bytes, RelayError> {
        let chat = match self.inbound {
            Inbound::Chat => Bytes::copy_from_slice(body),
            Inbound::Messages => anthropic_openai::request(body, model, stream, limit)?,
            Inbound::Gemini => gemini_openai::request(body, model, stream, limit)?,
            Inbound::Responses => responses_openai::request(body, model, stream, limit)?,
        };
        let max_tokens = limit.unwrap_or(max_output);
        match self.outbound {
            Outbound::Chat => Ok(chat),
            Outbound::Anthropic => openai_anthropic::request(&chat, model, stream, max_tokens),
            Outbound::Gemini => openai_gemini::request(&chat, model, max_tokens),
        }
    }

    /// The channel's whole answer as the caller's, named `model`.
    pub(crate) fn response(self, body: &[u8], model: &str) -> Result<Bytes, RelayError> {
        let chat = match self.outbound {
            Outbound::Chat => Bytes::copy_from_slice(body),
            Outbound::Anthropic => openai_anthropic::response(body, model)?,
            Outbound::Gemini => openai_gemini::response(body, model)?,
        };
        match self.inbound {
            Inbound::Chat => Ok(chat),
            Inbound::Messages => anthropic_openai::response(&chat, model),
            Inbound::Gemini => gemini_openai::response(&chat, model),
            Inbound::Responses => responses_openai::response(&chat, model),
        }
    }

    /// The re-framing of a streamed answer, named `model`.
    pub(crate) fn stream(self, model: &str) -> Box<dyn Reframe> {
        let to_hub: Option<Box<dyn Reframe>> = match self.outbound {
            Outbound::Chat => None,
            Outbound::Anthropic => Some(Box::new(openai_anthropic::StreamToOpenAi::new(model))),
            Outbound::Gemini => Some(Box::new(openai_gemini::StreamToOpenAi::new(model))),
        };
        let to_caller: Option<Box<dyn Reframe>> = match self.inbound {
            Inbound::Chat => None,
            Inbound::Messages => Some(Box::new(anthropic_openai::StreamToAnthropic::new(model))),
            Inbound::Gemini => Some(Box::new(gemini_openai::StreamToGemini::new(model))),
            Inbound::Responses => Some(Box::new(responses_openai::StreamToResponses::new(model))),
        };
        let mut steps: Vec<Box<dyn Reframe>> = to_hub.into_iter().chain(to_caller).collect();
        if steps.len() == 1
            && let Some(one) = steps.pop()
        {
            return one;
        }
        Box::new(Chain(steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(endpoint: Endpoint, channel: Dialect, body: Value) -> Value {
        let conversion = Conversion::between(endpoint, channel)
            .ok()
            .flatten()
            .unwrap_or(Conversion {
                inbound: Inbound::Chat,
                outbound: Outbound::Chat,
            });
        let out = conversion
            .request(body.to_string().as_bytes(), "m", false, None, 100)
            .unwrap_or_default();
        serde_json::from_slice(&out).unwrap_or_default()
    }

    /// PDFs cross every pair through the hub's file part.
    #[test]
    fn documents_cross_dialects() {
        let anthropic = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user",
            "content": [{"type": "document", "title": "a.pdf",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}]}]});
        let gemini = convert(Endpoint::Messages, Dialect::Gemini, anthropic);
        assert_eq!(
            gemini["contents"][0]["parts"],
            json!([{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}, {"text": "notes"}])
        );

        let from_gemini = json!({"contents": [{"role": "user", "parts": [
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}, {"text": "Sum up."}]}]});
        let claude = convert(Endpoint::GenerateContent, Dialect::Anthropic, from_gemini);
        assert_eq!(
            claude["messages"][0]["content"][0],
            json!({"type": "document", "title": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}})
        );

        let responses = json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "filename": "b.pdf", "file_data": "data:application/pdf;base64,JVBE"},
            {"type": "input_text", "text": "Sum up."}]}]});
        let claude = convert(Endpoint::Responses, Dialect::Anthropic, responses);
        assert_eq!(claude["messages"][0]["content"][0]["title"], "b.pdf");
        assert_eq!(
            claude["messages"][0]["content"][0]["source"]["data"],
            "JVBE"
        );
    }
}
