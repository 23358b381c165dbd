//! The OpenAI chat side shared by the converters that take chat requests to other families and
//! give their answers back as chat completions: the output limit, stop sequences, turn merging
//! and the chunk framing of a converted stream.

use serde_json::{Map, Value, json};

/// The caller's output limit (`max_completion_tokens` or `max_tokens`), else `default`.
pub(super) fn output_limit(req: &Map<String, Value>, default: i64) -> i64 {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| req.get(*k).and_then(Value::as_i64))
        .unwrap_or(default)
}

/// `stop` (a string or a list) as a list.
pub(super) fn stop_sequences(req: &Map<String, Value>) -> Option<Value> {
    match req.get("stop") {
        Some(Value::String(s)) => Some(json!([s])),
        Some(list @ Value::Array(_)) => Some(list.clone()),
        _ => None,
    }
}

/// Appends `items` under `key` as a turn of `role`, merged into the previous turn of the same
/// role (Anthropic and Gemini want user and model turns to alternate).
pub(super) fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut()
        && last["role"] == role
        && let Some(existing) = last[key].as_array_mut()
    {
        existing.extend(items);
        return;
    }
    turns.push(json!({"role": role, key: items}));
}

/// Writes chat completion chunks for one converted stream.
pub(super) struct ChunkWriter {
    pub(super) id: String,
    created: i64,
    model: String,
}

impl ChunkWriter {
    pub(super) fn new(model: &str) -> Self {
        ChunkWriter {
            id: "chatcmpl-gateway".to_owned(),
            created: domain::now_ts(),
            model: model.to_owned(),
        }
    }

    fn frame(&self, choices: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk",
            "created": self.created, "model": self.model, "choices": choices});
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
    }

    /// A chunk with `delta` (and the `finish` reason of the last one).
    pub(super) fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        let choices = json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
        self.frame(choices, None, out);
    }

    /// The closing chunk with `finish`, the usage chunk and `[DONE]`.
    pub(super) fn end(&self, out: &mut Vec<u8>, finish: &str, usage: Value) {
        self.chunk(out, json!({}), Some(finish));
        self.frame(json!([]), Some(usage), out);
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// An error chunk in place of the rest of the stream.
    pub(super) fn error(&self, out: &mut Vec<u8>, message: Value) {
        let error = json!({"error": {"message": message, "type": "upstream_error",
            "param": null, "code": null}});
        out.extend_from_slice(format!("data: {error}\n\n").as_bytes());
    }
}
