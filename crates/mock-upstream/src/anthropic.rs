//! Anthropic's Messages wire format: the JSON answer and the event stream (`message_start` with
//! the prompt's usage, a text block of content deltas, `message_delta` with the output's usage
//! and `stop_reason`, `message_stop`). `mock-cached` reports part of its prompt as read from the
//! cache and part as written to it.

use crate::{CACHED_TOKENS, PROMPT_TOKENS};
use serde_json::{Value, json};

/// Prompt tokens a `mock-cached` answer reports as written to the cache.
pub const CACHE_WRITTEN_TOKENS: i64 = 1;

/// The prompt's usage: `input_tokens` excludes the tokens read from or written to the cache.
fn prompt_usage(model: &str) -> Value {
    let (read, written) = if model == "mock-cached" {
        (CACHED_TOKENS, CACHE_WRITTEN_TOKENS)
    } else {
        (0, 0)
    };
    json!({
        "input_tokens": PROMPT_TOKENS - read - written,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
    })
}

/// A complete Messages answer of `completion` output tokens.
pub fn message(model: &str, completion: usize) -> Value {
    let mut usage = prompt_usage(model);
    usage["output_tokens"] = json!(completion);
    json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": usage
    })
}

/// The events of a streamed Messages answer with `chunks` text deltas.
pub fn events(model: &str, chunks: usize) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut start_usage = prompt_usage(model);
    start_usage["output_tokens"] = json!(1);
    let mut out = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": start_usage}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    out.extend((0..chunks).map(|i| {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": format!("w{i} ")}}),
        )
    }));
    out.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": chunks}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}
