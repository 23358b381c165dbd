//! The hub (OpenAI chat, a chat caller's or a converted one) on Anthropic channels: the chat request converted to a Messages request
//! (`max_tokens`, which Anthropic requires, filled in when the caller gave none), the answer
//! (JSON or Anthropic's events) back to a chat completion or chunks. Text, system and developer
//! messages, images, tools, tool calls and tool results (ids kept), stop sequences, thinking as
//! `reasoning_content`, and usage (cache reads and writes too) carry over.

use super::chat::{ChunkWriter, output_limit, push_turn, stop_sequences};
use super::{Events, SseData, bad, data_url, text_of, to_bytes, tool_call, tool_use_block};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// An OpenAI content part as an Anthropic block.
fn block_of(part: &Value) -> Option<Value> {
    match part.get("type").and_then(Value::as_str)? {
        "text" => Some(json!({"type": "text", "text": part.get("text")?.as_str()?})),
        "image_url" => {
            let url = part.pointer("/image_url/url")?.as_str()?;
            let source = match url.strip_prefix("data:") {
                Some(rest) => {
                    let (media_type, data) = rest.split_once(";base64,")?;
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            Some(json!({"type": "image", "source": source}))
        }
        "file" => {
            let (media_type, data) = data_url(part.pointer("/file/file_data")?.as_str()?)?;
            let mut document = json!({"type": "document",
                "source": {"type": "base64", "media_type": media_type, "data": data}});
            if let Some(name) = part.pointer("/file/filename") {
                document["title"] = name.clone();
            }
            Some(document)
        }
        other => {
            tracing::debug!(part = other, "dropped: no Anthropic equivalent");
            None
        }
    }
}

/// Content as Anthropic blocks.
fn blocks_of(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(parts)) => parts.iter().filter_map(block_of).collect(),
        _ => Vec::new(),
    }
}

fn push(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    push_turn(messages, role, "content", blocks);
}

/// An OpenAI chat request as an Anthropic Messages request for `model`, with `max_tokens` as
/// the output limit when the caller gave none.
pub(crate) fn request(
    body: &[u8],
    model: &str,
    stream: bool,
    max_tokens: i64,
) -> Result<Bytes, RelayError> {
    let req: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| bad("the body is not a JSON object"))?;
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for m in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        match role {
            "system" | "developer" => {
                system.push(text_of(m.get("content").unwrap_or(&Value::Null)))
            }
            "user" => push(&mut messages, "user", blocks_of(m.get("content"))),
            "assistant" => {
                let mut blocks = blocks_of(m.get("content"));
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    blocks.push(tool_use_block(call));
                }
                push(&mut messages, "assistant", blocks);
            }
            "tool" => push(
                &mut messages,
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.get("tool_call_id").cloned().unwrap_or_default(),
                    "content": text_of(m.get("content").unwrap_or(&Value::Null)),
                })],
            ),
            other => return Err(bad(&format!("a message has the role `{other}`"))),
        }
    }
    let limit = output_limit(&req, max_tokens);
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("max_tokens".into(), json!(limit));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = stop_sequences(&req) {
        out.insert("stop_sequences".into(), stop);
    }
    if let Some(user) = req.get("user") {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                json!({"name": f.get("name").cloned().unwrap_or_default(),
                    "description": f.get("description").cloned().unwrap_or_default(),
                    "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"}))})
            })
            .collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = req.get("tool_choice") {
        let converted = match choice {
            Value::String(s) if s == "required" => json!({"type": "any"}),
            Value::String(s) if s == "none" => json!({"type": "none"}),
            Value::Object(_) => {
                json!({"type": "tool", "name": choice.pointer("/function/name").cloned().unwrap_or_default()})
            }
            _ => json!({"type": "auto"}),
        };
        out.insert("tool_choice".into(), converted);
    }
    if stream {
        out.insert("stream".into(), json!(true));
    }
    to_bytes(&Value::Object(out))
}

/// OpenAI's `finish_reason` for an Anthropic `stop_reason`.
fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage for Anthropic's: the prompt counts the cache's tokens too.
fn usage(anthropic: &Value) -> Value {
    let get = |k: &str| anthropic.get(k).and_then(Value::as_i64).unwrap_or(0);
    let read = get("cache_read_input_tokens");
    let prompt = get("input_tokens") + read + get("cache_creation_input_tokens");
    let completion = get("output_tokens");
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": read}})
}

/// An Anthropic message as an OpenAI chat completion, named `model` (the caller's).
pub(crate) fn response(body: &[u8], model: &str) -> Result<Bytes, RelayError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| RelayError::Unavailable(format!("the upstream's answer is not JSON: {e}")))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in answer
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "thinking" => reasoning.push_str(
                block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "tool_use" => tool_calls.push(tool_call(block)),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let stop = answer.get("stop_reason").and_then(Value::as_str);
    let completion = json!({
        "id": answer.get("id").cloned().unwrap_or_else(|| json!("chatcmpl-gateway")),
        "object": "chat.completion",
        "created": domain::now_ts(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(stop)}],
        "usage": usage(answer.get("usage").unwrap_or(&Value::Null)),
    });
    to_bytes(&completion)
}

/// Anthropic's events re-framed as OpenAI chat chunks (a usage chunk before `[DONE]`).
pub(crate) struct StreamToOpenAi {
    writer: ChunkWriter,
    lines: SseData,
    /// The tool call index of each content block that is a tool call.
    tools: Vec<(u64, usize)>,
    usage: Value,
    finish: Option<String>,
    /// The upstream sent an error event, which ended the stream.
    failed: bool,
}

impl StreamToOpenAi {
    pub(crate) fn new(model: &str) -> Self {
        StreamToOpenAi {
            writer: ChunkWriter::new(model),
            lines: SseData::default(),
            tools: Vec::new(),
            usage: json!({}),
            finish: None,
            failed: false,
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        self.writer.chunk(out, delta, finish);
    }

    /// Usage reported in parts (the prompt's at the start, the output's at the end).
    fn take_usage(&mut self, usage: Option<&Value>) {
        if let (Some(from), Some(into)) =
            (usage.and_then(Value::as_object), self.usage.as_object_mut())
        {
            into.extend(from.clone());
        }
    }

    fn event_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if self.failed {
            return;
        }
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "message_start" => {
                if let Some(id) = event.pointer("/message/id").and_then(Value::as_str) {
                    self.writer.id = id.to_owned();
                }
                self.take_usage(event.pointer("/message/usage"));
                self.chunk(out, json!({"role": "assistant", "content": ""}), None);
            }
            "content_block_start" => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let call = self.tools.len();
                    self.tools.push((index, call));
                    self.chunk(out, json!({"tool_calls": [{"index": call,
                        "id": block.get("id").cloned().unwrap_or_default(), "type": "function",
                        "function": {"name": block.get("name").cloned().unwrap_or_default(), "arguments": ""}}]}), None);
                }
            }
            "content_block_delta" => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str).unwrap_or_default() {
                    "text_delta" => self.chunk(out, json!({"content": delta.get("text").cloned().unwrap_or_default()}), None),
                    "thinking_delta" => self.chunk(out, json!({"reasoning_content": delta.get("thinking").cloned().unwrap_or_default()}), None),
                    "input_json_delta" => {
                        if let Some((_, call)) = self.tools.iter().find(|(i, _)| *i == index) {
                            let call = *call;
                            self.chunk(out, json!({"tool_calls": [{"index": call,
                                "function": {"arguments": delta.get("partial_json").cloned().unwrap_or_default()}}]}), None);
                        }
                    }
                    _ => {}
                }
            }
            "error" => {
                self.failed = true;
                let message = event.pointer("/error/message").cloned().unwrap_or_default();
                self.writer.error(out, message);
            }
            "message_delta" => {
                self.take_usage(event.get("usage"));
                if let Some(stop) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish = Some(stop.to_owned());
                }
            }
            _ => {}
        }
    }
}

impl Events for StreamToOpenAi {
    fn lines(&mut self) -> &mut SseData {
        &mut self.lines
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.event_data(data, out);
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        let finish = finish_reason(self.finish.as_deref());
        self.writer.end(&mut out, finish, usage(&self.usage));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Reframe;

    #[test]
    fn a_chat_request_with_tools_history_and_images() {
        let body = json!({"model": "gpt-x", "stop": "END", "user": "u1",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use English."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "tool", "tool_call_id": "call_2", "content": "43"}
        ]});
        let out = request(body.to_string().as_bytes(), "claude-x", false, 8192).unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["max_tokens"], 8192, "filled in: Anthropic requires it");
        assert_eq!(v["system"], "Be brief.\nUse English.");
        assert_eq!(
            v["messages"][0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            v["messages"][1]["content"][0],
            json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(
            v["messages"][2]["content"].as_array().map(Vec::len),
            Some(2),
            "tool results merged into one user turn"
        );
        assert_eq!(v["tool_choice"], json!({"type": "any"}));
        assert_eq!(v["stop_sequences"], json!(["END"]));
        assert_eq!(v["metadata"]["user_id"], "u1");
    }

    #[test]
    fn a_message_with_thinking_and_a_tool_call() {
        let answer = json!({"id": "msg_1", "type": "message", "content": [
            {"type": "thinking", "thinking": "Let me see."}, {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}});
        let out = response(answer.to_string().as_bytes(), "claude-x").unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        let message = &v["choices"][0]["message"];
        assert_eq!(message["content"], "Calling.");
        assert_eq!(message["reasoning_content"], "Let me see.");
        assert_eq!(
            message["tool_calls"][0]["function"]["arguments"],
            r#"{"a":1}"#
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["prompt_tokens"], 100);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 90);
    }

    #[test]
    fn an_error_event_ends_the_chunks() {
        let mut s = StreamToOpenAi::new("claude-x");
        let mut out = s.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        out.extend(s.finish());
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.contains(r#""message":"Overloaded""#), "{text}");
        assert!(!text.contains("[DONE]"), "{text}");
    }

    #[test]
    fn anthropic_events_as_chunks() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":7,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut s = StreamToOpenAi::new("claude-x");
        let mut out = Vec::new();
        for e in events {
            out.extend(s.feed(format!("event: x\ndata: {e}\n\n").as_bytes()));
        }
        out.extend(s.finish());
        let text = String::from_utf8(out).unwrap_or_default();
        let chunks: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect();
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(
            chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "toolu_1"
        );
        assert_eq!(
            chunks[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "1}"
        );
        assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[6]["usage"]["completion_tokens"], 9);
        assert_eq!(chunks[6]["usage"]["prompt_tokens"], 7);
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
}
