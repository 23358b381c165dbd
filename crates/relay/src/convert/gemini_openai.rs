//! Gemini callers on other channels, through the hub (OpenAI chat): the `generateContent` request converted to a chat
//! completion request, the answer (JSON or chunks) back to a `GenerateContentResponse` or
//! Gemini's events. Text, the system instruction, inline images and image files, function
//! declarations (Gemini's upper-case schema types lowercased), function calls and responses,
//! the tool config, generation settings (JSON output too), thinking as `thought` parts and usage
//! (cached and thinking tokens too) carry over. Calls without ids get `call_<n>`, numbered over
//! the whole history; a response without an id answers the earliest open call of its function.
//! Thought parts, thinking settings, other files and built-in tools (search, code execution)
//! have no chat equivalent and are dropped with a debug log.

use super::{
    Events, SseData, bad, hub_request, log_dropped, media_part, text_of, to_bytes, tool_call,
};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};

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

/// The function calls of the history, for the responses that answer them (looked up by id or
/// by function name, in constant time: a history may hold very many).
#[derive(Default)]
struct Calls {
    /// Whether each call (by its number) was answered.
    answered: Vec<bool>,
    ids: Vec<String>,
    by_id: HashMap<String, usize>,
    /// The unanswered calls of each function, oldest first (answered ones skipped lazily).
    open: HashMap<String, VecDeque<usize>>,
}

impl Calls {
    /// Records a call; its id, `call_<n>` when it has none.
    fn add(&mut self, id: Option<&str>, name: &str) -> String {
        let at = self.ids.len();
        let id = id.map_or_else(|| format!("call_{at}"), str::to_owned);
        self.ids.push(id.clone());
        self.answered.push(false);
        self.by_id.entry(id.clone()).or_insert(at);
        self.open.entry(name.to_owned()).or_default().push_back(at);
        id
    }

    /// The id of the call a response answers: the one with its id, else the earliest
    /// unanswered call of its function.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let at = match id.and_then(|id| self.by_id.get(id)) {
            Some(at) => *at,
            None => {
                let open = self.open.get_mut(name)?;
                loop {
                    let at = open.pop_front()?;
                    if !self.answered[at] {
                        break at;
                    }
                }
            }
        };
        self.answered[at] = true;
        Some(self.ids[at].clone())
    }
}

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
fn tool_message(answer: &Value, calls: &mut Calls) -> Result<Value, RelayError> {
    let name = str_at(answer, "/name").unwrap_or_default();
    let id = str_at(answer, "/id").filter(|i| !i.is_empty());
    let id = calls
        .answer(id, name)
        .ok_or_else(|| bad("a function response answers no earlier function call"))?;
    let response = answer.get("response").cloned().unwrap_or_else(|| json!({}));
    let content = ["content", "output"]
        .iter()
        .find_map(|k| response.get(*k).and_then(Value::as_str))
        .map_or_else(|| response.to_string(), str::to_owned);
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

/// One Gemini turn as chat messages (its function responses as `tool` messages first).
fn messages_of(turn: &Value, calls: &mut Calls) -> Result<Vec<Value>, RelayError> {
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
            let id = calls.add(str_at(call, "/id").filter(|i| !i.is_empty()), name);
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            tool_calls.push(tool_call(&json!({"id": id, "name": name, "input": args})));
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
pub(crate) fn request(
    body: &[u8],
    model: &str,
    stream: bool,
    limit: Option<i64>,
) -> Result<Bytes, RelayError> {
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
    let mut calls = Calls::default();
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
    hub_request(Value::Object(out), stream, limit)
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
#[path = "gemini_openai_tests.rs"]
mod tests;
