//! The hub (OpenAI chat, a chat caller's or a converted one) on Gemini channels: the chat request converted to a `generateContent`
//! request, the answer (JSON or Gemini's events) back to a chat completion or chunks. Text,
//! system and developer messages, inline images, tools, tool calls and tool results (a result is
//! matched to its call's function by the call id), stop sequences, thinking as
//! `reasoning_content`, and usage (cached content too) carry over. Gemini gives calls no ids:
//! they get `call_<n>`.

use super::chat::{ChunkWriter, output_limit, push_turn, stop_sequences};
use super::{Events, SseData, bad, data_url, text_of, to_bytes};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// An OpenAI content part as a Gemini part.
fn part_of(part: &Value) -> Option<Value> {
    match part.get("type").and_then(Value::as_str)? {
        "text" => Some(json!({"text": part.get("text")?.as_str()?})),
        "image_url" => {
            let url = part.pointer("/image_url/url")?.as_str()?;
            match url
                .strip_prefix("data:")
                .and_then(|r| r.split_once(";base64,"))
            {
                Some((mime, data)) => Some(json!({"inlineData": {"mimeType": mime, "data": data}})),
                None => {
                    tracing::debug!("dropped: an image by URL has no Gemini inline equivalent");
                    None
                }
            }
        }
        "file" => {
            let (mime, data) = data_url(part.pointer("/file/file_data")?.as_str()?)?;
            Some(json!({"inlineData": {"mimeType": mime, "data": data}}))
        }
        other => {
            tracing::debug!(part = other, "dropped: no Gemini equivalent");
            None
        }
    }
}

fn parts_of(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) if !s.is_empty() => vec![json!({"text": s})],
        Some(Value::Array(parts)) => parts.iter().filter_map(part_of).collect(),
        _ => Vec::new(),
    }
}

fn push(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    push_turn(contents, role, "parts", parts);
}

/// The signature Google documents for replayed function calls whose thought signature is not
/// known (history from another model or dialect): Gemini 3 refuses a call without one.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether `model` wants thought signatures on replayed function calls (Gemini 3 and later;
/// unknown names are taken to be recent).
fn wants_signatures(model: &str) -> bool {
    !["gemini-1", "gemini-2", "gemma"]
        .iter()
        .any(|old| model.starts_with(old))
}

/// An OpenAI chat request as a Gemini `generateContent` request for `model` (which goes in the
/// URL, not the body).
pub(crate) fn request(body: &[u8], model: &str, max_tokens: i64) -> Result<Bytes, RelayError> {
    let req: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| bad("the body is not a JSON object"))?;
    let mut system = Vec::new();
    let mut contents = Vec::new();
    // The function each tool call id named, for the results that answer it.
    let mut functions: HashMap<String, String> = HashMap::new();
    for m in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match m.get("role").and_then(Value::as_str).unwrap_or_default() {
            "system" | "developer" => {
                system.push(json!({"text": text_of(m.get("content").unwrap_or(&Value::Null))}));
            }
            "user" => push(&mut contents, "user", parts_of(m.get("content"))),
            "assistant" => {
                let mut parts = parts_of(m.get("content"));
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
                    functions.insert(id.to_owned(), name.to_owned());
                    let args = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    let mut part = json!({"functionCall": {"name": name,
                        "args": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({}))}});
                    if wants_signatures(model) {
                        part["thoughtSignature"] = json!(SKIP_SIGNATURE);
                    }
                    parts.push(part);
                }
                push(&mut contents, "model", parts);
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = functions
                    .get(id)
                    .cloned()
                    .ok_or_else(|| bad("a tool result answers no earlier tool call"))?;
                let result = text_of(m.get("content").unwrap_or(&Value::Null));
                push(
                    &mut contents,
                    "user",
                    vec![json!({"functionResponse": {"name": name,
                    "response": {"content": result}}})],
                );
            }
            other => return Err(bad(&format!("a message has the role `{other}`"))),
        }
    }
    let limit = output_limit(&req, max_tokens);
    let mut config = Map::new();
    config.insert("maxOutputTokens".into(), json!(limit));
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
    ] {
        if let Some(v) = req.get(from) {
            config.insert(to.into(), v.clone());
        }
    }
    if let Some(stop) = stop_sequences(&req) {
        config.insert("stopSequences".into(), stop);
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    out.insert("generationConfig".into(), Value::Object(config));
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let declarations: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut d = json!({"name": f.get("name").cloned().unwrap_or_default(),
                    "description": f.get("description").cloned().unwrap_or_default()});
                if let Some(p) = f.get("parameters") {
                    d["parametersJsonSchema"] = p.clone();
                }
                d
            })
            .collect();
        if !declarations.is_empty() {
            out.insert(
                "tools".into(),
                json!([{"functionDeclarations": declarations}]),
            );
        }
    }
    if let Some(choice) = req.get("tool_choice") {
        let config = match choice {
            Value::String(s) if s == "required" => json!({"mode": "ANY"}),
            Value::String(s) if s == "none" => json!({"mode": "NONE"}),
            Value::Object(_) => json!({"mode": "ANY",
                "allowedFunctionNames": [choice.pointer("/function/name").cloned().unwrap_or_default()]}),
            _ => json!({"mode": "AUTO"}),
        };
        out.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    to_bytes(&Value::Object(out))
}

/// OpenAI's `finish_reason` for a Gemini `finishReason`.
fn finish_reason(finish: Option<&str>, called: bool) -> &'static str {
    match finish {
        _ if called => "tool_calls",
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII") => {
            "content_filter"
        }
        _ => "stop",
    }
}

/// OpenAI's usage for Gemini's `usageMetadata` (thinking counted as output).
fn usage(meta: Option<&Value>) -> Value {
    let get = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    // What tools read (URL context, search grounding) is billed as input.
    let prompt = get("promptTokenCount") + get("toolUsePromptTokenCount");
    let completion = get("candidatesTokenCount") + get("thoughtsTokenCount");
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": get("cachedContentTokenCount")}})
}

/// The text, thinking and calls of a Gemini answer's first candidate; calls numbered from
/// `first_call`.
fn content(answer: &Value, first_call: usize) -> (String, String, Vec<Value>) {
    let (mut text, mut thought, mut calls) = (String::new(), String::new(), Vec::new());
    for part in answer
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(call) = part.get("functionCall") {
            calls.push(json!({"index": first_call + calls.len(),
                "id": format!("call_{}", first_call + calls.len()), "type": "function",
                "function": {"name": call.get("name").cloned().unwrap_or_default(),
                    "arguments": call.get("args").map_or_else(|| "{}".to_owned(), Value::to_string)}}));
        } else if let Some(t) = part.get("text").and_then(Value::as_str) {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                thought.push_str(t);
            } else {
                text.push_str(t);
            }
        }
    }
    (text, thought, calls)
}

/// A Gemini answer as an OpenAI chat completion, named `model` (the caller's).
pub(crate) fn response(body: &[u8], model: &str) -> Result<Bytes, RelayError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| RelayError::Unavailable(format!("the upstream's answer is not JSON: {e}")))?;
    let (text, thought, mut calls) = content(&answer, 0);
    let mut message = json!({"role": "assistant", "content": text});
    if !thought.is_empty() {
        message["reasoning_content"] = json!(thought);
    }
    let called = !calls.is_empty();
    if called {
        calls.iter_mut().for_each(|c| {
            c.as_object_mut().map(|o| o.remove("index"));
        });
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = answer
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str);
    to_bytes(&json!({
        "id": answer.get("responseId").cloned().unwrap_or_else(|| json!("chatcmpl-gateway")),
        "object": "chat.completion",
        "created": domain::now_ts(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(finish, called)}],
        "usage": usage(answer.get("usageMetadata")),
    }))
}

/// Gemini's events re-framed as OpenAI chat chunks (a usage chunk before `[DONE]`).
pub(crate) struct StreamToOpenAi {
    writer: ChunkWriter,
    lines: SseData,
    started: bool,
    calls: usize,
    finish: Option<String>,
    usage: Option<Value>,
    failed: bool,
}

impl StreamToOpenAi {
    pub(crate) fn new(model: &str) -> Self {
        StreamToOpenAi {
            writer: ChunkWriter::new(model),
            lines: SseData::default(),
            started: false,
            calls: 0,
            finish: None,
            usage: None,
            failed: false,
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        self.writer.chunk(out, delta, finish);
    }

    fn event_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(answer) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if self.failed {
            return;
        }
        if let Some(error) = answer.get("error").filter(|e| e.is_object()) {
            self.failed = true;
            let message = error.get("message").cloned().unwrap_or_default();
            self.writer.error(out, message);
            return;
        }
        if !self.started {
            self.started = true;
            self.chunk(out, json!({"role": "assistant", "content": ""}), None);
        }
        let (text, thought, calls) = content(&answer, self.calls);
        if !thought.is_empty() {
            self.chunk(out, json!({"reasoning_content": thought}), None);
        }
        if !text.is_empty() {
            self.chunk(out, json!({"content": text}), None);
        }
        if !calls.is_empty() {
            self.calls += calls.len();
            self.chunk(out, json!({"tool_calls": calls}), None);
        }
        if let Some(finish) = answer
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str)
        {
            self.finish = Some(finish.to_owned());
        }
        if let Some(meta) = answer.get("usageMetadata") {
            self.usage = Some(meta.clone());
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
        let finish = finish_reason(self.finish.as_deref(), self.calls > 0);
        self.writer
            .end(&mut out, finish, usage(self.usage.as_ref()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Reframe;

    #[test]
    fn a_chat_request_with_a_tool_round_trip() {
        let body = json!({"model": "gpt-x", "temperature": 0.5, "stop": ["END"],
        "tools": [{"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Go"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_9", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "42"}
        ]});
        let out = request(body.to_string().as_bytes(), "gemini-2.5-pro", 8192).unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(
            v["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}]})
        );
        assert_eq!(
            v["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})
        );
        assert_eq!(
            v["contents"][1],
            json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]})
        );
        assert_eq!(
            v["contents"][2]["parts"][0]["functionResponse"]["name"],
            "f"
        );
        assert_eq!(
            v["generationConfig"],
            json!({"maxOutputTokens": 8192, "temperature": 0.5, "stopSequences": ["END"]})
        );
        assert_eq!(
            v["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"],
            json!({"type": "object"})
        );
        assert_eq!(
            v["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"],
            json!(["f"])
        );
        let orphan = json!({"messages": [{"role": "tool", "tool_call_id": "x", "content": "1"}]});
        assert!(request(orphan.to_string().as_bytes(), "gemini-2.5-pro", 10).is_err());
        // Gemini 3 wants a thought signature on every replayed call: the documented sentinel.
        let out = request(body.to_string().as_bytes(), "gemini-3-pro", 8192).unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(
            v["contents"][1]["parts"][0]["thoughtSignature"],
            "skip_thought_signature_validator"
        );
    }

    #[test]
    fn an_answer_with_thinking_and_a_call() {
        let answer = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Hmm.", "thought": true}, {"text": "Calling."},
            {"functionCall": {"name": "f", "args": {"a": 1}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "toolUsePromptTokenCount": 3, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "cachedContentTokenCount": 4}});
        let out = response(answer.to_string().as_bytes(), "gemini-x").unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        let message = &v["choices"][0]["message"];
        assert_eq!(message["content"], "Calling.");
        assert_eq!(message["reasoning_content"], "Hmm.");
        assert_eq!(
            message["tool_calls"][0],
            json!({"id": "call_0", "type": "function",
            "function": {"name": "f", "arguments": "{\"a\":1}"}})
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["completion_tokens"], 12);
        assert_eq!(v["usage"]["prompt_tokens"], 13, "tool use read as input");
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    }

    #[test]
    fn gemini_events_as_chunks() {
        let mut s = StreamToOpenAi::new("gemini-x");
        let mut out = Vec::new();
        for (i, text) in ["w0 ", "w1 "].iter().enumerate() {
            let finish = if i == 1 {
                r#","finishReason":"STOP""#
            } else {
                ""
            };
            let event = format!(
                r#"data: {{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}]}}{finish}}}],"usageMetadata":{{"promptTokenCount":8,"candidatesTokenCount":{}}}}}"#,
                i + 1
            );
            out.extend(s.feed(format!("{event}\r\n\r\n").as_bytes()));
        }
        out.extend(s.finish());
        let text = String::from_utf8(out).unwrap_or_default();
        let chunks: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect();
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "w0 ");
        assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "w1 ");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["usage"]["completion_tokens"], 2);
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
}
