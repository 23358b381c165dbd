//! Tool calling, for `mock-tool`: a request that offers tools and carries no tool result yet is
//! answered with one call of an offered tool, in the request's wire format (JSON or stream);
//! once a result is in the conversation, the model answers with text. The tool is the first
//! offered one a coding agent would run harmlessly (a glob or a directory listing), else the
//! first offered one, with the arguments in [`arguments`].

use crate::{PROMPT_TOKENS, anthropic, gemini, responses, usage_json};
use serde_json::{Value, json};

/// The id given to the mock's tool call (Anthropic's `toolu_` form where Anthropic is spoken).
pub const CALL_ID: &str = "call_mock";

/// A tool call the mock makes.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    pub args: Value,
}

/// The arguments the mock calls a tool with, by the tool's name.
pub fn arguments(name: &str) -> Value {
    match name {
        // Gemini CLI, and Claude Code versions that offer Glob (2.1.331 does not).
        "Glob" | "glob" => json!({"pattern": "*.md"}),
        // Claude Code (a read-only command it runs without asking).
        "Bash" => json!({"command": "ls", "description": "List the files"}),
        // Codex: older versions offer `shell` or `shell_command`, 0.169 `exec_command`.
        "shell" => json!({"command": ["ls"]}),
        "shell_command" => json!({"command": "ls"}),
        "exec_command" => json!({"cmd": "ls"}),
        _ => json!({"city": "Paris"}),
    }
}

/// The call `mock-tool` makes for this request, if it makes one.
pub fn call(model: &str, body: &Value) -> Option<Call> {
    if model != "mock-tool" || answered(body) {
        return None;
    }
    let names: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|t| {
            let declared = t
                .get("functionDeclarations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("name").and_then(Value::as_str));
            t.pointer("/function/name")
                .or_else(|| t.get("name"))
                .and_then(Value::as_str)
                .into_iter()
                .chain(declared)
        })
        .collect();
    let preferred = [
        "Glob",
        "glob",
        "Bash",
        "shell",
        "shell_command",
        "exec_command",
    ];
    let name = preferred
        .iter()
        .find(|p| names.contains(p))
        .or(names.first())?;
    Some(Call {
        name: (*name).to_owned(),
        args: arguments(name),
    })
}

/// Whether the conversation holds a tool result, in any dialect.
pub fn answered(value: &Value) -> bool {
    match value {
        Value::Object(o) => {
            o.contains_key("functionResponse")
                || o.get("role").and_then(Value::as_str) == Some("tool")
                || matches!(
                    o.get("type").and_then(Value::as_str),
                    Some("tool_result" | "function_call_output" | "custom_tool_call_output")
                )
                || o.values().any(answered)
        }
        Value::Array(items) => items.iter().any(answered),
        _ => false,
    }
}

/// The whole answer making `call`, in the format `path` speaks.
pub fn answer(path: &str, model: &str, call: &Call) -> Value {
    let args = call.args.to_string();
    if path.ends_with("/v1/messages") {
        let mut message = anthropic::message(model, 1);
        message["content"] = json!([{"type": "tool_use", "id": "toolu_mock",
            "name": call.name, "input": call.args}]);
        message["stop_reason"] = json!("tool_use");
        message
    } else if path.ends_with("/v1/responses") {
        responses::answer_with(model, vec![function_item(call, "completed")], 1)
    } else if path.contains("GenerateContent") || path.contains("generateContent") {
        gemini::answer_with(
            model,
            json!([{"functionCall": {"name": call.name, "args": call.args}}]),
        )
    } else {
        json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
            "model": model, "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "tool_calls": [{"id": CALL_ID,
            "type": "function", "function": {"name": call.name, "arguments": args}}]}}],
            "usage": usage_json(model, 1)})
    }
}

fn function_item(call: &Call, status: &str) -> Value {
    json!({"type": "function_call", "id": "fc_mock", "call_id": CALL_ID, "name": call.name,
        "arguments": call.args.to_string(), "status": status})
}

/// The streamed answer making `call`, in the format `path` speaks.
pub fn events(path: &str, model: &str, call: &Call, usage: bool) -> Vec<String> {
    let args = call.args.to_string();
    let named = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    if path.ends_with("/v1/messages") {
        let mut start = anthropic::message(model, 1);
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        vec![
            named(
                "message_start",
                json!({"type": "message_start", "message": start}),
            ),
            named(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_mock", "name": call.name, "input": {}}}),
            ),
            named(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": args}}),
            ),
            named(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            named(
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
            ),
            named("message_stop", json!({"type": "message_stop"})),
        ]
    } else if path.ends_with("/v1/responses") {
        let item = function_item(call, "completed");
        let mut seq = 0;
        let mut event = |name: &str, mut data: Value| {
            data["type"] = json!(name);
            data["sequence_number"] = json!(seq);
            seq += 1;
            named(name, data)
        };
        vec![
            event(
                "response.created",
                json!({"response": responses::answer_with(model, vec![], 0)}),
            ),
            event(
                "response.output_item.added",
                json!({"output_index": 0, "item": function_item(&Call { args: json!(""), ..call.clone() }, "in_progress")}),
            ),
            event(
                "response.function_call_arguments.delta",
                json!({"item_id": "fc_mock", "output_index": 0, "delta": args}),
            ),
            event(
                "response.function_call_arguments.done",
                json!({"item_id": "fc_mock", "output_index": 0, "arguments": args}),
            ),
            event(
                "response.output_item.done",
                json!({"output_index": 0, "item": item}),
            ),
            event(
                "response.completed",
                json!({"response": responses::answer_with(model, vec![item], 1)}),
            ),
        ]
    } else if path.contains(":streamGenerateContent") {
        let data = gemini::answer_with(
            model,
            json!([{"functionCall": {"name": call.name, "args": call.args}}]),
        );
        vec![format!("data: {data}\r\n\r\n")]
    } else {
        let chunk = |delta: Value, finish: Value| {
            let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {v}\n\n")
        };
        let mut out = vec![
            chunk(
                json!({"role": "assistant", "tool_calls": [{"index": 0, "id": CALL_ID, "type": "function",
                "function": {"name": call.name, "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": args}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
        ];
        if usage {
            let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
                "model": model, "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 1, "total_tokens": PROMPT_TOKENS + 1}});
            out.push(format!("data: {v}\n\n"));
        }
        out.push("data: [DONE]\n\n".to_owned());
        out
    }
}
