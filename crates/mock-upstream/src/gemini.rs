//! Gemini's wire format: the `generateContent` answer and the `streamGenerateContent?alt=sse`
//! events (one candidate chunk each, `usageMetadata` on every event, cumulative, the last with
//! `finishReason`). `mock-cached` reports part of its prompt as cached content; `mock-thinking`
//! reports thinking tokens.

use crate::{CACHED_TOKENS, PROMPT_TOKENS};
use serde_json::{Value, json};

/// Thinking tokens a `mock-thinking` answer reports.
pub const THOUGHTS_TOKENS: i64 = 20;

fn usage(model: &str, completion: usize) -> Value {
    let mut usage = json!({
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": completion,
        "totalTokenCount": PROMPT_TOKENS + completion as i64,
    });
    if model == "mock-cached" {
        usage["cachedContentTokenCount"] = json!(CACHED_TOKENS);
    }
    if model == "mock-thinking" {
        usage["thoughtsTokenCount"] = json!(THOUGHTS_TOKENS);
    }
    usage
}

fn candidate(text: &str, finish: bool) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    if finish {
        c["finishReason"] = json!("STOP");
    }
    c
}

/// A complete answer of `completion` output tokens.
pub fn answer(model: &str, completion: usize) -> Value {
    json!({"candidates": [candidate("Hello", true)], "usageMetadata": usage(model, completion),
        "modelVersion": model})
}

/// A complete answer of one output token whose content is `parts`.
pub fn answer_with(model: &str, parts: Value) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0,
        "finishReason": "STOP"}], "usageMetadata": usage(model, 1), "modelVersion": model})
}

/// The events of a streamed answer with `chunks` text chunks.
pub fn events(model: &str, chunks: usize) -> Vec<String> {
    (0..chunks)
        .map(|i| {
            let data = json!({"candidates": [candidate(&format!("w{i} "), i + 1 == chunks)],
                "usageMetadata": usage(model, i + 1), "modelVersion": model});
            format!("data: {data}\r\n\r\n")
        })
        .collect()
}
