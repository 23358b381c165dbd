//! Anthropic Messages callers on other channels, through the hub (OpenAI chat): the request converted to a chat
//! completion request, the answer (JSON or stream) back to a Messages answer. Text, the system
//! prompt, images, documents (base64 as file parts, plain text as text), tools and tool results
//! (ids kept), stop sequences and usage (cached input
//! too) carry over; reasoning the channel returns (`reasoning_content`) comes back as thinking
//! blocks (without a signature); thinking blocks the caller sends have no chat equivalent and
//! are dropped with a debug log.

use super::{
    Events, SseData, bad, hub_request, log_dropped, media_part, text_of, to_bytes, tool_call,
    tool_use_block,
};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// An Anthropic image block as an OpenAI image part.
fn image_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    let url = match source.get("type").and_then(Value::as_str)? {
        "base64" => format!(
            "data:{};base64,{}",
            source.get("media_type")?.as_str()?,
            source.get("data")?.as_str()?
        ),
        "url" => source.get("url")?.as_str()?.to_owned(),
        _ => return None,
    };
    Some(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// An Anthropic document block as an OpenAI part: base64 files as a file part, plain text as
/// text; documents by URL are dropped with a debug log.
fn document_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    let title = block.get("title").and_then(Value::as_str);
    match source.get("type").and_then(Value::as_str)? {
        "base64" => Some(media_part(
            source.get("media_type")?.as_str()?,
            source.get("data")?.as_str()?,
            title,
        )),
        "text" => Some(json!({"type": "text", "text": source.get("data")?.as_str()?})),
        other => {
            tracing::debug!(
                source = other,
                "dropped: a document with no OpenAI chat equivalent"
            );
            None
        }
    }
}

/// One Anthropic message as OpenAI messages (tool results become `tool` messages).
fn messages_of(message: &Value, out: &mut Vec<Value>) -> Result<(), RelayError> {
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a message has no role"))?;
    let blocks = match message.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(bad("a message has no content")),
    };
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" => parts.push(
                json!({"type": "text", "text": block.get("text").cloned().unwrap_or_default()}),
            ),
            "image" => parts.extend(image_part(block)),
            "document" => parts.extend(document_part(block)),
            "tool_use" => tool_calls.push(tool_call(block)),
            "tool_result" => out.push(json!({
                "role": "tool",
                "tool_call_id": block.get("tool_use_id").cloned().unwrap_or_default(),
                "content": block.get("content").map(text_of).unwrap_or_default(),
            })),
            other => tracing::debug!(block = other, "dropped: no OpenAI chat equivalent"),
        }
    }
    if parts.is_empty() && tool_calls.is_empty() {
        return Ok(());
    }
    let mut converted = Map::new();
    converted.insert("role".into(), json!(role));
    let only_text = parts.iter().all(|p| p["type"] == "text");
    converted.insert(
        "content".into(),
        if parts.is_empty() {
            Value::Null
        } else if only_text {
            json!(
                parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        } else {
            Value::Array(parts)
        },
    );
    if !tool_calls.is_empty() {
        converted.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    out.push(Value::Object(converted));
    Ok(())
}

/// An Anthropic Messages request as an OpenAI chat request for `model`.
pub(crate) fn request(
    body: &[u8],
    model: &str,
    stream: bool,
    limit: Option<i64>,
) -> Result<Bytes, RelayError> {
    let req: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| bad("the body is not a JSON object"))?;
    log_dropped(
        &req,
        &[
            "model",
            "messages",
            "system",
            "max_tokens",
            "temperature",
            "top_p",
            "stop_sequences",
            "metadata",
            "tools",
            "tool_choice",
            "stream",
        ],
    );
    let mut messages = Vec::new();
    if let Some(system) = req.get("system") {
        messages.push(json!({"role": "system", "content": text_of(system)}));
    }
    for m in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        messages_of(m, &mut messages)?;
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
    ] {
        if let Some(v) = req.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    if let Some(user) = req.get("metadata").and_then(|m| m.get("user_id")) {
        out.insert("user".into(), user.clone());
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let functions: Vec<Value> = tools
            .iter()
            .filter(|t| t.get("input_schema").is_some())
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.get("name").cloned().unwrap_or_default(),
                    "description": t.get("description").cloned().unwrap_or_default(),
                    "parameters": t.get("input_schema").cloned().unwrap_or_default(),
                }})
            })
            .collect();
        if !functions.is_empty() {
            out.insert("tools".into(), Value::Array(functions));
        }
    }
    if let Some(choice) = req.get("tool_choice") {
        let converted = match choice.get("type").and_then(Value::as_str) {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                json!({"type": "function", "function": {"name": choice.get("name").cloned().unwrap_or_default()}})
            }
            _ => json!("auto"),
        };
        out.insert("tool_choice".into(), converted);
    }
    hub_request(Value::Object(out), stream, limit)
}

/// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage for OpenAI's: cached prompt tokens apart from the others.
fn usage(openai: Option<&Value>) -> Value {
    let get = |p: &str| {
        openai
            .and_then(|u| u.pointer(p))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let cached = get("/prompt_tokens_details/cached_tokens");
    json!({
        "input_tokens": (get("/prompt_tokens") - cached).max(0),
        "output_tokens": get("/completion_tokens"),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    })
}

/// An OpenAI chat completion as an Anthropic message, named `model` (the caller's).
pub(crate) fn response(body: &[u8], model: &str) -> Result<Bytes, RelayError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| RelayError::Unavailable(format!("the upstream's answer is not JSON: {e}")))?;
    let choice = answer.pointer("/choices/0");
    let message = choice.and_then(|c| c.get("message"));
    let mut content = Vec::new();
    if let Some(thinking) = message
        .and_then(|m| m.get("reasoning_content"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        // No signature: the channel gave none, and a chat channel takes none back.
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    if let Some(text) = message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        content.push(tool_use_block(call));
    }
    let finish = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    let message = json!({
        "id": answer.get("id").cloned().unwrap_or_else(|| json!("msg_gateway")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": null,
        "usage": usage(answer.get("usage")),
    });
    to_bytes(&message)
}

/// The block open in a converted stream.
#[derive(PartialEq)]
enum Block {
    None,
    Thinking,
    Text,
    /// A tool call: OpenAI's index of it.
    Tool(u64),
}

/// OpenAI chat chunks re-framed as Anthropic's events.
pub(crate) struct StreamToAnthropic {
    model: String,
    lines: SseData,
    started: bool,
    block: Block,
    index: usize,
    finish: Option<String>,
    usage: Option<Value>,
    /// The upstream sent an error event: it ended the stream, as Anthropic's does.
    failed: bool,
}

impl StreamToAnthropic {
    pub(crate) fn new(model: &str) -> Self {
        StreamToAnthropic {
            model: model.to_owned(),
            lines: SseData::default(),
            started: false,
            block: Block::None,
            index: 0,
            finish: None,
            usage: None,
            failed: false,
        }
    }

    fn event(out: &mut Vec<u8>, name: &str, data: &Value) {
        out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
    }

    fn start(&mut self, out: &mut Vec<u8>, id: &Value) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({"type": "message_start", "message": {"id": id, "type": "message",
            "role": "assistant", "model": self.model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}});
        Self::event(out, "message_start", &message);
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.block != Block::None {
            Self::event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            );
            self.index += 1;
            self.block = Block::None;
        }
    }

    fn chunk_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if self.failed {
            return;
        }
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            // An error in place of the rest of the stream: Anthropic's error event ends it.
            self.failed = true;
            let message = error.get("message").cloned().unwrap_or_default();
            Self::event(
                out,
                "error",
                &json!({"type": "error",
                "error": {"type": "api_error", "message": message}}),
            );
            return;
        }
        self.start(out, chunk.get("id").unwrap_or(&json!("msg_gateway")));
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return;
        };
        // Reasoning as a thinking block, then text as a text block.
        for (key, block, kind, field) in [
            ("reasoning_content", Block::Thinking, "thinking", "thinking"),
            ("content", Block::Text, "text", "text"),
        ] {
            let Some(text) = choice
                .pointer(&format!("/delta/{key}"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                continue;
            };
            if self.block != block {
                self.close_block(out);
                self.block = block;
                let mut start = json!({"type": kind, field: ""});
                if kind == "thinking" {
                    start["signature"] = json!("");
                }
                Self::event(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": self.index, "content_block": start}),
                );
            }
            Self::event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": self.index,
                    "delta": {"type": format!("{kind}_delta"), field: text}}),
            );
        }
        for call in choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let at = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            if self.block != Block::Tool(at) {
                self.close_block(out);
                self.block = Block::Tool(at);
                Self::event(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start",
                    "index": self.index, "content_block": {"type": "tool_use",
                    "id": call.get("id").cloned().unwrap_or_default(),
                    "name": call.pointer("/function/name").cloned().unwrap_or_default(),
                    "input": {}}}),
                );
            }
            if let Some(args) = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                Self::event(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta",
                    "index": self.index, "delta": {"type": "input_json_delta", "partial_json": args}}),
                );
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish.to_owned());
        }
    }
}

impl Events for StreamToAnthropic {
    fn lines(&mut self) -> &mut SseData {
        &mut self.lines
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.chunk_data(data, out);
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        self.start(&mut out, &json!("msg_gateway"));
        self.close_block(&mut out);
        let usage = usage(self.usage.as_ref());
        Self::event(
            &mut out,
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish.as_deref()), "stop_sequence": null},
            "usage": usage}),
        );
        Self::event(&mut out, "message_stop", &json!({"type": "message_stop"}));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Reframe;

    #[test]
    fn a_request_with_system_images_tools_and_results() {
        let body = json!({
            "model": "claude-x", "max_tokens": 100, "stop_sequences": ["END"],
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}]}
            ]
        });
        let out = request(body.to_string().as_bytes(), "gpt-4o", true, None).unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["model"], "gpt-4o");
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            v["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(v["messages"][2]["tool_calls"][0]["id"], "toolu_1");
        assert_eq!(
            v["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(
            v["messages"][3],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"})
        );
        assert_eq!(
            v["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(v["tool_choice"]["function"]["name"], "get_weather");
        assert_eq!(v["stop"], json!(["END"]));
        assert_eq!(v["stream_options"]["include_usage"], true);
    }

    #[test]
    fn a_response_with_a_tool_call() {
        let answer = json!({"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Let me check.", "reasoning_content": "Hmm.", "tool_calls": [{"id": "call_1",
            "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 60}}});
        let out = response(answer.to_string().as_bytes(), "claude-x").unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["model"], "claude-x");
        assert_eq!(
            v["content"][0],
            json!({"type": "thinking", "thinking": "Hmm.", "signature": ""})
        );
        assert_eq!(
            v["content"][1],
            json!({"type": "text", "text": "Let me check."})
        );
        assert_eq!(v["content"][2]["input"], json!({"city": "Paris"}));
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 40, "output_tokens": 7,
            "cache_read_input_tokens": 60, "cache_creation_input_tokens": 0})
        );
    }

    #[test]
    fn an_error_mid_stream_ends_it_with_an_error_event() {
        let mut s = StreamToAnthropic::new("claude-x");
        let mut out = s.feed(
            b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        );
        out.extend(
            s.feed(b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"),
        );
        out.extend(s.feed(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n"));
        out.extend(s.finish());
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.ends_with("event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n"), "{text}");
        assert!(
            !text.contains("late") && !text.contains("message_stop"),
            "{text}"
        );
    }

    #[test]
    fn a_stream_of_text_and_a_tool_call() {
        let chunks = [
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Hmm"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
            "[DONE]",
        ];
        let text = crate::convert::feed_halves(&mut StreamToAnthropic::new("claude-x"), &chunks);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(
            text.contains(r#""delta":{"thinking":"Hmm","type":"thinking_delta"}"#),
            "{text}"
        );
        assert!(text.contains(r#""partial_json":"{\"a\":1}""#), "{text}");
        assert!(text.contains(r#""stop_reason":"tool_use""#), "{text}");
        assert!(text.contains(r#""output_tokens":4"#), "{text}");
    }
}
