//! OpenAI's Responses wire format: the JSON answer and the event stream (`response.created`,
//! `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`
//! per chunk, `response.output_text.done`, `response.content_part.done`,
//! `response.output_item.done`, and `response.completed` with the usage). `mock-cached` reports
//! part of its prompt as cached.

use crate::{CACHED_TOKENS, PROMPT_TOKENS};
use serde_json::{Value, json};

fn usage(model: &str, completion: usize) -> Value {
    let cached = if model == "mock-cached" {
        CACHED_TOKENS
    } else {
        0
    };
    json!({
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": PROMPT_TOKENS + completion as i64,
    })
}

fn message_item(text: &str, status: &str) -> Value {
    json!({"id": "msg_mock", "type": "message", "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn response(model: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({"id": "resp_mock", "object": "response", "created_at": 1_700_000_000, "status": status,
        "model": model, "output": output, "usage": usage, "error": null,
        "incomplete_details": null, "instructions": null, "metadata": {},
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": []})
}

/// A complete Responses answer of `completion` output tokens.
pub fn answer(model: &str, completion: usize) -> Value {
    answer_with(model, vec![message_item("Hello", "completed")], completion)
}

/// A Responses answer holding `output`, of `completion` output tokens (none: in progress).
pub fn answer_with(model: &str, output: Vec<Value>, completion: usize) -> Value {
    if completion == 0 {
        return response(model, "in_progress", output, Value::Null);
    }
    response(model, "completed", output, usage(model, completion))
}

/// The events of a streamed Responses answer with `chunks` text deltas.
pub fn events(model: &str, chunks: usize) -> Vec<String> {
    let mut seq = 0;
    let mut event = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        format!("event: {name}\ndata: {data}\n\n")
    };
    let text: String = (0..chunks).map(|i| format!("w{i} ")).collect();
    let part = json!({"type": "output_text", "text": "", "annotations": []});
    let mut out = vec![
        event(
            "response.created",
            json!({"response": response(model, "in_progress", vec![], Value::Null)}),
        ),
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": message_item("", "in_progress")}),
        ),
        event(
            "response.content_part.added",
            json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part}),
        ),
    ];
    for i in 0..chunks {
        out.push(event(
            "response.output_text.delta",
            json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0,
                "delta": format!("w{i} ")}),
        ));
    }
    out.push(event(
        "response.output_text.done",
        json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": text}),
    ));
    out.push(event(
        "response.content_part.done",
        json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": text, "annotations": []}}),
    ));
    out.push(event(
        "response.output_item.done",
        json!({"output_index": 0, "item": message_item(&text, "completed")}),
    ));
    out.push(event(
        "response.completed",
        json!({"response": response(model, "completed", vec![message_item(&text, "completed")],
            usage(model, chunks))}),
    ));
    out
}
