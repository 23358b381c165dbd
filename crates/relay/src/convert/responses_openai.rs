//! OpenAI Responses callers (`/v1/responses`) on channels reached through chat: the request
//! converted to a chat completion request, the answer (JSON or stream) back to a Responses
//! `response` object or event stream. Instructions, messages (text and images), function tools,
//! function calls and their outputs (call ids kept), the output format, the reasoning effort,
//! reasoning text and usage (cached input and reasoning tokens too) carry over. Reasoning
//! items, files and hosted or custom tools have no chat equivalent and are dropped with a debug
//! log; `previous_response_id` is refused, as no chat channel stores responses.

use super::{
    Events, SseData, bad, data_url, hub_request, log_dropped, media_part, text_of, to_bytes,
};
use crate::error::RelayError;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The non-null `keys` of `from`, as an object.
fn pick(from: &Value, keys: &[&str]) -> Value {
    let present = keys.iter().filter(|k| !from[**k].is_null());
    Value::Object(
        present
            .map(|k| ((*k).to_owned(), from[*k].clone()))
            .collect(),
    )
}

/// The text of `value` if it is a non-empty string.
fn non_empty(value: &Value) -> Option<&str> {
    value.as_str().filter(|t| !t.is_empty())
}

/// A message item's content (a string or parts) as chat content: a string when it is all text.
fn content_of(content: &Value) -> Option<Value> {
    let parts = match content {
        Value::String(s) => return Some(json!(s)),
        Value::Array(parts) => parts,
        _ => return None,
    };
    let mut converted = Vec::new();
    for part in parts {
        match part["type"].as_str().unwrap_or_default() {
            "input_text" | "output_text" | "text" => {
                converted.push(json!({"type": "text", "text": part["text"]}));
            }
            "refusal" => converted.push(json!({"type": "text", "text": part["refusal"]})),
            "input_image" if part["image_url"].is_string() => converted
                .push(json!({"type": "image_url", "image_url": {"url": part["image_url"]}})),
            "input_file" if part["file_data"].is_string() => {
                match part["file_data"].as_str().and_then(data_url) {
                    Some((mime, data)) => {
                        converted.push(media_part(mime, data, part["filename"].as_str()));
                    }
                    None => tracing::debug!("dropped: a file that is not a data URL"),
                }
            }
            other => tracing::debug!(part = other, "dropped: no OpenAI chat equivalent"),
        }
    }
    let all_text = converted.iter().all(|p| p["type"] == "text");
    let converted = Value::Array(converted);
    match converted.as_array() {
        Some(parts) if parts.is_empty() => None,
        _ if all_text => Some(json!(text_of(&converted))),
        _ => Some(converted),
    }
}

/// One Responses input item as chat messages: function calls join the assistant message
/// before them, function outputs become `tool` messages.
fn push_item(item: &Value, out: &mut Vec<Value>) {
    let kind = match item["type"].as_str() {
        Some(kind) => kind,
        None if item["role"].is_string() => "message",
        None => "",
    };
    match kind {
        "message" => {
            let role = match item["role"].as_str() {
                Some("system" | "developer") => "system",
                Some(role @ ("user" | "assistant")) => role,
                other => return tracing::debug!(role = other, "dropped: a message of no role"),
            };
            if let Some(content) = content_of(&item["content"]) {
                out.push(json!({"role": role, "content": content}));
            }
        }
        "function_call" => {
            let arguments = item["arguments"].as_str().unwrap_or("{}");
            let call = json!({"id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": arguments}});
            match out.last_mut() {
                Some(last) if last["role"] == "assistant" => {
                    match last["tool_calls"].as_array_mut() {
                        Some(calls) => calls.push(call),
                        None => last["tool_calls"] = json!([call]),
                    }
                }
                _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" => {
            let content = text_of(&item["output"]);
            out.push(json!({"role": "tool", "tool_call_id": item["call_id"], "content": content}));
        }
        other => tracing::debug!(item = other, "dropped: no OpenAI chat equivalent"),
    }
}

/// Responses function tools as chat tools, those grouped in a `namespace` (as Codex groups
/// its sub-agent tools) among them under their own names; other kinds dropped.
fn tools_of(tools: &Value) -> Vec<Value> {
    let mut functions = Vec::new();
    for tool in tools.as_array().into_iter().flatten() {
        match tool["type"].as_str() {
            Some("function") => {
                let function = pick(tool, &["name", "description", "parameters"]);
                functions.push(json!({"type": "function", "function": function}));
            }
            Some("namespace") => functions.extend(tools_of(&tool["tools"])),
            other => tracing::debug!(tool = other, "dropped: no OpenAI chat equivalent"),
        }
    }
    functions
}

/// A Responses tool choice as chat's, if chat has one.
fn tool_choice(choice: &Value) -> Option<Value> {
    match choice["type"].as_str() {
        _ if choice.is_string() => Some(choice.clone()),
        Some("function") => Some(json!({"type": "function", "function": {"name": choice["name"]}})),
        other => {
            tracing::debug!(choice = other, "dropped: no OpenAI chat equivalent");
            None
        }
    }
}

/// A Responses request as an OpenAI chat request for `model`.
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
            "input",
            "instructions",
            "max_output_tokens",
            "temperature",
            "top_p",
            "parallel_tool_calls",
            "user",
            "text",
            "reasoning",
            "tools",
            "tool_choice",
            "stream",
            "store",
            "previous_response_id",
        ],
    );
    let get = |key: &str| req.get(key).filter(|v| !v.is_null());
    if get("previous_response_id").is_some() {
        return Err(bad(
            "previous_response_id needs a channel that stores responses; send the whole conversation in input",
        ));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = get("instructions") {
        messages.push(json!({"role": "system", "content": text_of(instructions)}));
    }
    match get("input") {
        Some(Value::String(s)) => messages.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => items.iter().for_each(|i| push_item(i, &mut messages)),
        _ => return Err(bad("the request has no input")),
    }
    let mut out = json!({"model": model, "messages": messages});
    for (from, to) in [
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("user", "user"),
    ] {
        if let Some(v) = get(from) {
            out[to] = v.clone();
        }
    }
    let tools = tools_of(get("tools").unwrap_or(&Value::Null));
    if !tools.is_empty() {
        // Chat refuses a tool choice or parallel calls without tools: both only go with some.
        out["tools"] = Value::Array(tools);
        if let Some(v) = get("parallel_tool_calls") {
            out["parallel_tool_calls"] = v.clone();
        }
        if let Some(choice) = get("tool_choice").and_then(tool_choice) {
            out["tool_choice"] = choice;
        }
    }
    let format = get("text").map_or(&Value::Null, |t| &t["format"]);
    match format["type"].as_str() {
        Some("json_schema") => {
            let schema = pick(format, &["name", "schema", "strict"]);
            out["response_format"] = json!({"type": "json_schema", "json_schema": schema});
        }
        Some("json_object") => out["response_format"] = json!({"type": "json_object"}),
        _ => {}
    }
    if let Some(effort) = get("reasoning").and_then(|r| r["effort"].as_str()) {
        out["reasoning_effort"] = json!(effort);
    }
    hub_request(out, stream, limit)
}

/// Responses usage for chat usage.
fn usage(chat: Option<&Value>) -> Value {
    let get = |p: &str| chat.and_then(|u| u.pointer(p)).and_then(Value::as_i64);
    let (input, output) = (get("/prompt_tokens"), get("/completion_tokens"));
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output,
        "input_tokens_details": {"cached_tokens": get("/prompt_tokens_details/cached_tokens").unwrap_or(0)},
        "output_tokens_details": {"reasoning_tokens": get("/completion_tokens_details/reasoning_tokens").unwrap_or(0)}})
}

/// A `response` object ending with the chat `finish` reason: `completed`, or `incomplete`
/// when cut short (at the output limit or by a content filter).
fn envelope(id: &str, created: i64, model: &str, finish: Option<&str>, output: &[Value]) -> Value {
    let reason = match finish {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    };
    json!({"id": id, "object": "response", "created_at": created,
        "status": reason.map_or("completed", |_| "incomplete"),
        "incomplete_details": reason.map(|r| json!({"reason": r})), "model": model,
        "output": output, "usage": null, "error": null, "parallel_tool_calls": true,
        "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}}, "metadata": {}})
}

/// An OpenAI chat completion as a Responses `response` object, named `model` (the caller's).
pub(crate) fn response(body: &[u8], model: &str) -> Result<Bytes, RelayError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| RelayError::Unavailable(format!("the upstream's answer is not JSON: {e}")))?;
    let (choice, message) = (&answer["choices"][0], &answer["choices"][0]["message"]);
    let mut output = Vec::new();
    if let Some(reasoning) = non_empty(&message["reasoning_content"]) {
        output.push(Kind::Reasoning.item("rs_0", Some(reasoning), &Value::Null));
    }
    if let Some(text) = non_empty(&message["content"]) {
        output.push(Kind::Text.item("msg_0", Some(text), &Value::Null));
    }
    for (n, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        output.push(Kind::Call(0).item(&format!("fc_{n}"), Some(arguments), call));
    }
    let id = match answer["id"].as_str() {
        Some(id) => format!("resp_{id}"),
        None => "resp_gateway".to_owned(),
    };
    let finish = choice["finish_reason"].as_str();
    let mut response = envelope(&id, domain::now_ts(), model, finish, &output);
    response["usage"] = usage(answer.get("usage"));
    to_bytes(&response)
}

/// The kind of an output item.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Reasoning,
    Text,
    /// A function call: chat's index of it (in a stream).
    Call(u64),
}

impl Kind {
    /// Its wire names: its ids' prefix, the field indexing its part, the prefix of its part's
    /// events and that of its text's (none for a function call's part, which it has not).
    fn names(self) -> [&'static str; 4] {
        match self {
            Kind::Reasoning => [
                "rs",
                "summary_index",
                "response.reasoning_summary_part",
                "response.reasoning_summary_text",
            ],
            Kind::Text => [
                "msg",
                "content_index",
                "response.content_part",
                "response.output_text",
            ],
            Kind::Call(_) => ["fc", "", "", "response.function_call_arguments"],
        }
    }

    /// Its part holding `text` (a function call has none).
    fn part(self, text: &str) -> Option<Value> {
        match self {
            Kind::Reasoning => Some(json!({"type": "summary_text", "text": text})),
            Kind::Text => Some(json!({"type": "output_text", "text": text, "annotations": []})),
            Kind::Call(_) => None,
        }
    }

    /// An item of this kind, complete with its `text` (or arguments) once given; `call` is
    /// chat's tool call (or its first delta) for a function call.
    fn item(self, id: &str, text: Option<&str>, call: &Value) -> Value {
        let parts: Vec<Value> = text.and_then(|t| self.part(t)).into_iter().collect();
        let status = text.map_or("in_progress", |_| "completed");
        match self {
            Kind::Reasoning => json!({"type": "reasoning", "id": id, "summary": parts}),
            Kind::Text => json!({"type": "message", "id": id, "status": status,
                "role": "assistant", "content": parts}),
            Kind::Call(_) => json!({"type": "function_call", "id": id, "call_id": call["id"],
                "name": call["function"]["name"], "arguments": text.unwrap_or_default(),
                "status": status}),
        }
    }
}

/// The output item open in a converted stream: its kind and id, chat's first delta of it (for
/// a function call), and its text (or arguments) so far.
struct Open {
    kind: Kind,
    id: String,
    call: Value,
    text: String,
}

/// OpenAI chat chunks re-framed as Responses events.
#[derive(Default)]
pub(crate) struct StreamToResponses {
    model: String,
    lines: SseData,
    id: String,
    created: i64,
    /// The events written so far.
    sequence: u64,
    open: Option<Open>,
    /// The output items closed so far.
    output: Vec<Value>,
    finish: Option<String>,
    usage: Option<Value>,
    /// The upstream sent an error: `response.failed` ended the stream.
    failed: bool,
}

impl StreamToResponses {
    pub(crate) fn new(model: &str) -> Self {
        StreamToResponses {
            model: model.to_owned(),
            id: "resp_gateway".to_owned(),
            created: domain::now_ts(),
            ..StreamToResponses::default()
        }
    }

    /// Writes one event of `kind`, its data stamped with the type and the sequence number.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(format!("event: {kind}\ndata: {data}\n\n").as_bytes());
    }

    /// Writes `event` about the `open` item: `data` with the item's id, its output index and
    /// its part's index.
    fn item_event(&mut self, out: &mut Vec<u8>, open: &Open, event: &str, mut data: Value) {
        data["item_id"] = json!(open.id);
        data["output_index"] = json!(self.output.len());
        match open.kind.names() {
            [_, "", _, _] => {}
            [_, index, _, _] => data[index] = json!(0),
        }
        self.emit(out, event, data);
    }

    /// The `response` object as it stands (the items closed so far), of `status` if given.
    fn snapshot(&self, status: Option<&str>) -> Value {
        let finish = self.finish.as_deref();
        let mut response = envelope(&self.id, self.created, &self.model, finish, &self.output);
        if let Some(status) = status {
            response["status"] = json!(status);
        }
        response
    }

    /// Writes `response.created` and `response.in_progress` before anything else, the response
    /// named after chat's `id`.
    fn start(&mut self, out: &mut Vec<u8>, id: Option<&str>) {
        if self.sequence > 0 {
            return;
        }
        if let Some(id) = id {
            self.id = format!("resp_{id}");
        }
        for kind in ["response.created", "response.in_progress"] {
            let response = self.snapshot(Some("in_progress"));
            self.emit(out, kind, json!({"response": response}));
        }
    }

    /// Opens an item of `kind` unless one is open, closing any other (`call` is the first delta
    /// of chat's tool call for a function call).
    fn open(&mut self, out: &mut Vec<u8>, kind: Kind, call: &Value) {
        if self.open.as_ref().is_some_and(|o| o.kind == kind) {
            return;
        }
        self.close(out);
        let at = self.output.len();
        let [prefix, _, parts, _] = kind.names();
        let id = format!("{prefix}_{at}");
        let added = json!({"output_index": at, "item": kind.item(&id, None, call)});
        self.emit(out, "response.output_item.added", added);
        let open = Open {
            kind,
            id,
            call: call.clone(),
            text: String::new(),
        };
        if let Some(part) = kind.part("") {
            self.item_event(out, &open, &format!("{parts}.added"), json!({"part": part}));
        }
        self.open = Some(open);
    }

    /// Adds `piece` to the open item's text or arguments.
    fn append(&mut self, out: &mut Vec<u8>, piece: &str) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        open.text.push_str(piece);
        let [_, _, _, texts] = open.kind.names();
        let event = format!("{texts}.delta");
        self.item_event(out, &open, &event, json!({"delta": piece}));
        self.open = Some(open);
    }

    /// Closes the open item, if any: its done events, then it joins the output.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let [_, _, parts, texts] = open.kind.names();
        let part = open.kind.part(&open.text);
        let field = if part.is_some() { "text" } else { "arguments" };
        self.item_event(
            out,
            &open,
            &format!("{texts}.done"),
            json!({field: open.text}),
        );
        if let Some(part) = part {
            self.item_event(out, &open, &format!("{parts}.done"), json!({"part": part}));
        }
        let item = open.kind.item(&open.id, Some(&open.text), &open.call);
        let done = json!({"output_index": self.output.len(), "item": item});
        self.emit(out, "response.output_item.done", done);
        self.output.push(item);
    }

    /// Writes the events for one chat chunk.
    fn chunk_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if self.failed || !chunk.is_object() {
            return;
        }
        self.start(out, chunk["id"].as_str());
        if chunk["error"].is_object() {
            // An error in place of the rest of the stream: `response.failed` ends it.
            self.failed = true;
            let message = chunk["error"]["message"]
                .as_str()
                .unwrap_or("upstream error");
            let mut response = self.snapshot(Some("failed"));
            response["error"] = json!({"code": "server_error", "message": message});
            self.emit(out, "response.failed", json!({"response": response}));
            return;
        }
        if chunk["usage"].is_object() {
            self.usage = Some(chunk["usage"].clone());
        }
        let (choice, delta) = (&chunk["choices"][0], &chunk["choices"][0]["delta"]);
        if let Some(reasoning) = non_empty(&delta["reasoning_content"]) {
            self.open(out, Kind::Reasoning, &Value::Null);
            self.append(out, reasoning);
        }
        if let Some(text) = non_empty(&delta["content"]) {
            self.open(out, Kind::Text, &Value::Null);
            self.append(out, text);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.open(out, Kind::Call(call["index"].as_u64().unwrap_or(0)), call);
            if let Some(arguments) = non_empty(&call["function"]["arguments"]) {
                self.append(out, arguments);
            }
        }
        if let Some(finish) = choice["finish_reason"].as_str() {
            self.finish = Some(finish.to_owned());
        }
    }
}

impl Events for StreamToResponses {
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
        self.start(&mut out, None);
        self.close(&mut out);
        let mut response = self.snapshot(None);
        response["usage"] = usage(self.usage.as_ref());
        let kind = format!(
            "response.{}",
            response["status"].as_str().unwrap_or_default()
        );
        self.emit(&mut out, &kind, json!({"response": response}));
        out
    }
}

#[cfg(test)]
#[path = "responses_openai_tests.rs"]
mod tests;
