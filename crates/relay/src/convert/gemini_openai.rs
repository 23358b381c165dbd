//! Gemini callers on OpenAI chat channels: the `generateContent` request converted to a chat
//! completion request, the answer (JSON or chunks) back to a `GenerateContentResponse` or
//! Gemini's events. Text, the system instruction, inline images and image files, function
//! declarations (Gemini's upper-case schema types lowercased), function calls and responses,
//! the tool config, generation settings (JSON output too), thinking as `thought` parts and usage
//! (cached and thinking tokens too) carry over. Calls without ids get `call_<n>`, numbered over
//! the whole history; a response without an id answers the earliest open call of its function.
//! Thought parts, thinking settings, other files and built-in tools (search, code execution)
//! have no chat equivalent and are dropped with a debug log.

use super::{Events, SseData, bad, log_dropped, media_part, text_of, to_bytes, tool_call};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// `key` (camelCase) of an object, or its snake_case spelling (Gemini accepts both).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).or_else(|| {
        let snake = key.chars().fold(String::new(), |mut s, c| {
            if c.is_ascii_uppercase() {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
            s
        });
        v.get(snake)
    })
}

/// The string at `pointer` in `v`, if any.
fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The items of a list, none for anything else.
fn items(v: Option<&Value>) -> std::slice::Iter<'_, Value> {
    v.and_then(Value::as_array)
        .map(|a| a.iter())
        .unwrap_or_default()
}

/// Gemini's schema (an OpenAPI subset with upper-case types) as JSON Schema: `in_type` is
/// whether `v` is (part of) the value of a `type` key.
fn lower_types(v: &Value, in_type: bool) -> Value {
    match v {
        Value::String(t) if in_type => json!(t.to_ascii_lowercase()),
        Value::Array(a) => Value::Array(a.iter().map(|x| lower_types(x, in_type)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), lower_types(v, k == "type")))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A function call of the history, for the responses that answer it: its id, its function's
/// name and whether a response answered it.
type Call = (String, String, bool);

/// A media part as a chat part: inline data as an image or file part, a file by URI as an
/// image part when it is an image (`None` for other files by URI).
fn media_of(part: &Value) -> Option<Value> {
    if let Some(inline) = field(part, "inlineData") {
        let mime = field(inline, "mimeType")?.as_str()?;
        return Some(media_part(mime, str_at(inline, "/data")?, None));
    }
    let file = field(part, "fileData")?;
    let url = field(file, "fileUri")?.as_str()?;
    let image = field(file, "mimeType")?.as_str()?.starts_with("image/");
    image.then(|| json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A function response as a `tool` message answering its call: the one with its id, else the
/// earliest unanswered call of the same function.
fn tool_message(answer: &Value, calls: &mut [Call]) -> Result<Value, RelayError> {
    let name = str_at(answer, "/name").unwrap_or_default();
    let at = str_at(answer, "/id")
        .filter(|i| !i.is_empty())
        .and_then(|id| calls.iter().position(|c| c.0 == id))
        .or_else(|| calls.iter().position(|c| !c.2 && c.1 == name));
    let (id, _, answered) = at
        .and_then(|at| calls.get_mut(at))
        .ok_or_else(|| bad("a function response answers no earlier function call"))?;
    *answered = true;
    let response = answer.get("response").cloned().unwrap_or_else(|| json!({}));
    let content = ["content", "output"]
        .iter()
        .find_map(|k| response.get(*k).and_then(Value::as_str))
        .map_or_else(|| response.to_string(), str::to_owned);
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

/// One Gemini turn as chat messages (its function responses as `tool` messages first).
fn messages_of(turn: &Value, calls: &mut Vec<Call>) -> Result<Vec<Value>, RelayError> {
    let mut out = Vec::new();
    let model = turn.get("role").and_then(Value::as_str) == Some("model");
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for part in items(turn.get("parts")) {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            tracing::debug!("dropped: a thought part has no OpenAI chat equivalent");
        } else if let Some(text) = part.get("text").and_then(Value::as_str) {
            parts.push(json!({"type": "text", "text": text}));
        } else if let Some(call) = field(part, "functionCall") {
            let name = str_at(call, "/name").unwrap_or_default();
            let id = str_at(call, "/id")
                .filter(|i| !i.is_empty())
                .map_or_else(|| format!("call_{}", calls.len()), str::to_owned);
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            tool_calls.push(tool_call(&json!({"id": id, "name": name, "input": args})));
            calls.push((id, name.to_owned(), false));
        } else if let Some(answer) = field(part, "functionResponse") {
            out.push(tool_message(answer, calls)?);
        } else if let Some(media) = media_of(part).filter(|_| !model) {
            parts.push(media);
        } else {
            let kind = part.as_object().and_then(|o| o.keys().next().cloned());
            tracing::debug!(?kind, "dropped: a part with no OpenAI chat equivalent");
        }
    }
    if parts.is_empty() && tool_calls.is_empty() {
        return Ok(out);
    }
    let content = if parts.is_empty() {
        Value::Null
    } else if parts.iter().all(|p| p["type"] == "text") {
        json!(text_of(&Value::Array(parts)))
    } else {
        Value::Array(parts)
    };
    let role = if model { "assistant" } else { "user" };
    let mut message = json!({"role": role, "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    out.push(message);
    Ok(out)
}

/// Gemini's generation settings as chat request fields.
fn generation(config: &Value, out: &mut Map<String, Value>) {
    for (from, to) in [
        ("maxOutputTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("stopSequences", "stop"),
        ("candidateCount", "n"),
        ("seed", "seed"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ] {
        if let Some(v) = field(config, from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if field(config, "responseMimeType").and_then(Value::as_str) == Some("application/json") {
        let schema = field(config, "responseJsonSchema")
            .cloned()
            .or_else(|| field(config, "responseSchema").map(|s| lower_types(s, false)));
        let format = match schema {
            Some(schema) => {
                json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}})
            }
            None => json!({"type": "json_object"}),
        };
        out.insert("response_format".into(), format);
    }
    if field(config, "thinkingConfig").is_some() {
        tracing::debug!("dropped: thinkingConfig has no OpenAI chat equivalent");
    }
}

/// Gemini's function declarations as chat tools (other tool kinds dropped).
fn tools_of(tools: Option<&Value>) -> Vec<Value> {
    let mut functions = Vec::new();
    for (kind, declarations) in items(tools).filter_map(Value::as_object).flatten() {
        if kind != "functionDeclarations" && kind != "function_declarations" {
            tracing::debug!(tool = kind.as_str(), "dropped: no OpenAI chat equivalent");
            continue;
        }
        for d in items(Some(declarations)) {
            let mut function = json!({"name": d.get("name").cloned().unwrap_or_default()});
            if let Some(description) = d.get("description") {
                function["description"] = description.clone();
            }
            if let Some(parameters) = field(d, "parametersJsonSchema")
                .cloned()
                .or_else(|| d.get("parameters").map(|s| lower_types(s, false)))
            {
                function["parameters"] = parameters;
            }
            functions.push(json!({"type": "function", "function": function}));
        }
    }
    functions
}

/// Gemini's `functionCallingConfig` as a chat `tool_choice`.
fn tool_choice(config: &Value) -> Value {
    let mode = str_at(config, "/mode").unwrap_or_default();
    let allowed = field(config, "allowedFunctionNames").and_then(Value::as_array);
    match mode.to_ascii_uppercase().as_str() {
        "ANY" => match allowed.map(Vec::as_slice) {
            Some([name]) => json!({"type": "function", "function": {"name": name}}),
            _ => json!("required"),
        },
        "NONE" => json!("none"),
        _ => json!("auto"),
    }
}

/// A Gemini `generateContent` request as an OpenAI chat request for `model`.
pub(crate) fn request(body: &[u8], model: &str, stream: bool) -> Result<Bytes, RelayError> {
    let req: Value = serde_json::from_slice(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| bad("the body is not a JSON object"))?;
    if let Some(fields) = req.as_object() {
        log_dropped(
            fields,
            &[
                "contents",
                "systemInstruction",
                "system_instruction",
                "generationConfig",
                "generation_config",
                "tools",
                "toolConfig",
                "tool_config",
            ],
        );
    }
    let contents = field(&req, "contents")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`contents` is not a list of turns"))?;
    let mut messages = Vec::new();
    if let Some(system) = field(&req, "systemInstruction") {
        let text = text_of(system.get("parts").unwrap_or(system));
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let mut calls = Vec::new();
    for turn in contents {
        messages.extend(messages_of(turn, &mut calls)?);
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(config) = field(&req, "generationConfig") {
        generation(config, &mut out);
    }
    let functions = tools_of(field(&req, "tools"));
    if !functions.is_empty() {
        out.insert("tools".into(), Value::Array(functions));
    }
    if let Some(config) = field(&req, "toolConfig").and_then(|c| field(c, "functionCallingConfig"))
    {
        out.insert("tool_choice".into(), tool_choice(config));
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    to_bytes(&Value::Object(out))
}

/// Gemini's `finishReason` for an OpenAI `finish_reason`.
fn finish_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "MAX_TOKENS",
        Some("content_filter") => "SAFETY",
        _ => "STOP",
    }
}

/// Gemini's `usageMetadata` for OpenAI's usage (thinking apart from the candidates' tokens).
fn usage_metadata(usage: Option<&Value>) -> Value {
    let get = |p: &str| usage.and_then(|u| u.pointer(p)?.as_i64()).unwrap_or(0);
    let (prompt, completion) = (get("/prompt_tokens"), get("/completion_tokens"));
    let mut meta = json!({"promptTokenCount": prompt, "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion});
    let cached = get("/prompt_tokens_details/cached_tokens");
    if cached > 0 {
        meta["cachedContentTokenCount"] = json!(cached);
    }
    let thoughts = get("/completion_tokens_details/reasoning_tokens");
    if thoughts > 0 {
        meta["thoughtsTokenCount"] = json!(thoughts);
        meta["candidatesTokenCount"] = json!((completion - thoughts).max(0));
    }
    meta
}

/// The thinking and text of a chat message or delta as Gemini parts.
fn text_parts(message: &Value) -> Vec<Value> {
    let mut parts = Vec::new();
    if let Some(thought) = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| message.get(*k).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
    {
        parts.push(json!({"text": thought, "thought": true}));
    }
    let text = message.get("content").map(text_of).unwrap_or_default();
    if !text.is_empty() {
        parts.push(json!({"text": text}));
    }
    parts
}

/// A whole tool call as a Gemini `functionCall` part (arguments that are no object as `{}`).
fn function_call(id: &str, name: &str, arguments: &str) -> Value {
    let args = serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    json!({"functionCall": {"id": id, "name": name, "args": args}})
}

/// An OpenAI chat completion as a Gemini `GenerateContentResponse`, named `model` (the
/// caller's).
pub(crate) fn response(body: &[u8], model: &str) -> Result<Bytes, RelayError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| RelayError::Unavailable(format!("the upstream's answer is not JSON: {e}")))?;
    let mut candidates = Vec::new();
    for (i, choice) in items(answer.get("choices")).enumerate() {
        let message = choice.get("message").unwrap_or(&Value::Null);
        let mut parts = text_parts(message);
        for call in items(message.get("tool_calls")) {
            parts.push(function_call(
                str_at(call, "/id").unwrap_or_default(),
                str_at(call, "/function/name").unwrap_or_default(),
                str_at(call, "/function/arguments").unwrap_or("{}"),
            ));
        }
        let finish = str_at(choice, "/finish_reason");
        candidates.push(json!({"content": {"role": "model", "parts": parts},
            "finishReason": finish_reason(finish),
            "index": choice.get("index").cloned().unwrap_or_else(|| json!(i))}));
    }
    to_bytes(&json!({
        "candidates": candidates,
        "usageMetadata": usage_metadata(answer.get("usage")),
        "modelVersion": model,
        "responseId": answer.get("id").cloned().unwrap_or_else(|| json!("gateway")),
    }))
}

/// OpenAI chat chunks re-framed as Gemini's events (`data: <json>` each).
#[derive(Default)]
pub(crate) struct StreamToGemini {
    model: String,
    lines: SseData,
    /// The tool calls streamed so far: OpenAI's index of each, its id, name and arguments.
    calls: Vec<(u64, String, String, String)>,
    finish: Option<String>,
    usage: Option<Value>,
    /// The stream was closed, by an upstream error or by `end`: nothing more is written.
    ended: bool,
}

impl StreamToGemini {
    pub(crate) fn new(model: &str) -> Self {
        let model = model.to_owned();
        StreamToGemini {
            model,
            ..Self::default()
        }
    }

    /// Writes one event of `parts`, the last one with its finish reason and usage.
    fn write(&self, out: &mut Vec<u8>, parts: Vec<Value>, last: Option<(&str, Value)>) {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut event = json!({"modelVersion": self.model});
        if let Some((finish, usage)) = last {
            candidate["finishReason"] = json!(finish);
            event["usageMetadata"] = usage;
        }
        event["candidates"] = json!([candidate]);
        out.extend_from_slice(format!("data: {event}\n\n").as_bytes());
    }

    /// Writes the tool calls streamed so far, whole, as one event.
    fn flush_calls(&mut self, out: &mut Vec<u8>) {
        let calls = self.calls.drain(..);
        let parts: Vec<Value> = calls
            .map(|(_, id, name, args)| function_call(&id, &name, &args))
            .collect();
        if !parts.is_empty() {
            self.write(out, parts, None);
        }
    }
}

impl Events for StreamToGemini {
    fn lines(&mut self) -> &mut SseData {
        &mut self.lines
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let chunk = serde_json::from_slice::<Value>(data).ok();
        let Some(chunk) = chunk.filter(|_| !self.ended) else {
            return;
        };
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            // An error in place of the rest of the stream: Gemini's error event ends it.
            self.ended = true;
            let message = str_at(error, "/message").unwrap_or("upstream error");
            let event = json!({"error": {"code": 500, "message": message, "status": "INTERNAL"}});
            out.extend_from_slice(format!("data: {event}\n\n").as_bytes());
            return;
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let parts = text_parts(delta);
        if !parts.is_empty() {
            self.write(out, parts, None);
        }
        for call in items(delta.get("tool_calls")) {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let get = |p: &str| str_at(call, p).filter(|s| !s.is_empty());
            if !self.calls.iter().any(|c| c.0 == index) {
                // The first piece of a call names it; the others carry its arguments.
                let id = get("/id").map_or_else(|| format!("call_{index}"), str::to_owned);
                let name = get("/function/name").unwrap_or_default().to_owned();
                self.calls.push((index, id, name, String::new()));
            }
            if let Some((.., arguments)) = self.calls.iter_mut().find(|c| c.0 == index) {
                arguments.push_str(get("/function/arguments").unwrap_or_default());
            }
        }
        if let Some(finish) = str_at(choice, "/finish_reason") {
            self.finish = Some(finish.to_owned());
            self.flush_calls(out);
        }
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.flush_calls(&mut out);
        self.ended = true;
        let finish = finish_reason(self.finish.as_deref());
        let usage = usage_metadata(self.usage.as_ref());
        self.write(&mut out, vec![json!({"text": ""})], Some((finish, usage)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Reframe;

    fn parse(out: Result<Bytes, RelayError>) -> Value {
        serde_json::from_slice(&out.unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn a_request_with_system_images_tools_and_a_call_round_trip() {
        let body = json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"parts": [{"text": "Weather?"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                    {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/doc.pdf"}}]},
                {"role": "model", "parts": [{"text": "hmm", "thought": true},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"content": "Sunny"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}]}],
            "tools": [{"functionDeclarations": [
                {"name": "get_weather", "description": "Weather", "parameters": {"type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}, "type": {"type": "STRING"}}}},
                {"name": "search", "parametersJsonSchema": {"type": "object"}}]}, {"googleSearch": {}}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["search"]}},
            "generation_config": {"max_output_tokens": 100, "topP": 0.9, "stopSequences": ["END"],
                "responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"},
                "thinkingConfig": {"thinkingBudget": 0}}
        });
        let v = parse(request(body.to_string().as_bytes(), "gpt-4o", true));
        let call = |id: &str, city: &str| {
            json!({"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": format!(r#"{{"city":"{city}"}}"#)}})
        };
        let expected = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null,
                "tool_calls": [call("call_0", "Paris"), call("call_1", "Rome")]},
            {"role": "tool", "tool_call_id": "call_0", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "call_1", "content": r#"{"temp":20}"#}],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                    "type": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "search"}},
        "max_tokens": 100, "top_p": 0.9, "stop": ["END"],
        "response_format": {"type": "json_schema",
            "json_schema": {"name": "response", "schema": {"type": "object"}}},
        "stream": true, "stream_options": {"include_usage": true}});
        assert_eq!(v, expected);
    }

    #[test]
    fn unanswered_responses_and_bad_bodies_are_refused() {
        let orphan = json!({"contents": [{"role": "user", "parts": [
            {"functionResponse": {"name": "f", "response": {}}}]}]});
        assert!(request(orphan.to_string().as_bytes(), "m", false).is_err());
        assert!(request(b"[]", "m", false).is_err());
        assert!(request(br#"{"contents": {}}"#, "m", false).is_err());
        let none =
            json!({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}});
        let v = parse(request(none.to_string().as_bytes(), "m", false));
        assert_eq!((&v["tool_choice"], v.get("stream")), (&json!("none"), None));
    }

    #[test]
    fn a_response_with_thinking_text_and_a_call() {
        let answer = json!({"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Let me check.", "reasoning_content": "Hmm.",
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 60},
                "completion_tokens_details": {"reasoning_tokens": 20}}});
        let v = parse(response(answer.to_string().as_bytes(), "gemini-x"));
        assert_eq!(
            v,
            json!({"responseId": "chatcmpl-1", "modelVersion": "gemini-x",
            "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
                {"text": "Hmm.", "thought": true}, {"text": "Let me check."},
                {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}]}}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 10,
                "totalTokenCount": 130, "cachedContentTokenCount": 60, "thoughtsTokenCount": 20}})
        );
        assert!(response(b"not json", "gemini-x").is_err());
    }

    /// The events written for `chunks` (each split across a chunk border), `end` called twice.
    fn stream(chunks: &[&str]) -> Vec<Value> {
        let mut s = StreamToGemini::new("gemini-x");
        let mut text = crate::convert::feed_halves(&mut s, chunks);
        text.push_str(&String::from_utf8(s.finish()).unwrap_or_default());
        assert!(text.ends_with("}\n\n") && !text.contains('\r'), "{text}");
        text.split_terminator("\n\n")
            .filter_map(|e| serde_json::from_str(e.strip_prefix("data: ")?).ok())
            .collect()
    }

    #[test]
    fn a_stream_of_text_and_a_call_split_across_chunks() {
        let events = stream(&[
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Hmm"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
            "[DONE]",
        ]);
        let event = |parts: Value| {
            json!({"candidates": [{"content": {"role": "model", "parts": parts},
            "index": 0}], "modelVersion": "gemini-x"})
        };
        let mut last = event(json!([{"text": ""}]));
        last["candidates"][0]["finishReason"] = json!("STOP");
        last["usageMetadata"] =
            json!({"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13});
        assert_eq!(
            events,
            [
                event(json!([{"text": "Hmm", "thought": true}])),
                event(json!([{"text": "Hi"}])),
                event(json!([{"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}}])),
                last
            ]
        );
    }

    #[test]
    fn an_error_mid_stream_ends_it_with_an_error_event() {
        let events = stream(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"late"}}]}"#,
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            json!({"error": {"code": 500, "message": "overloaded", "status": "INTERNAL"}})
        );
    }
}
