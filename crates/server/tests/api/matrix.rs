//! The conformance matrix: the same cases through every (caller dialect x channel type) cell,
//! non-stream and stream. Callers speak OpenAI chat, Anthropic Messages, Gemini and OpenAI
//! Responses; channels are OpenAI (type 1), Anthropic (14) and Gemini (24), all served by the
//! in-repo mock in its real wire formats. Each cell checks the answer in the caller's dialect
//! (text, or a tool call with its arguments), the bill from the channel's usage, a tool round
//! trip (the call's id matched by its result upstream), an upstream failure answered in the
//! caller's dialect, and a stream the upstream breaks off mid-way ended with an error in the
//! caller's dialect.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Caller {
    Chat,
    Messages,
    Gemini,
    Responses,
}

const CALLERS: [Caller; 4] = [
    Caller::Chat,
    Caller::Messages,
    Caller::Gemini,
    Caller::Responses,
];

/// Channel types with the prefix of the models each serves.
const CHANNELS: [(i64, &str); 3] = [(1, "oa"), (14, "an"), (24, "ge")];

/// What a case asks the model for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Text,
    /// A conversation that offers a tool (the mock calls it).
    Tool,
    /// A conversation holding a tool call and its result (the mock answers with text).
    ToolResult,
}

/// Ratio 1, completion ratio 2: prompt 8 + 12 output tokens = 32; a tool call's 1 token = 10.
const TEXT_QUOTA: i64 = 32;
const TOOL_QUOTA: i64 = 10;

/// The request of `case` in `caller`'s dialect: its path, key header and body.
fn request(caller: Caller, model: &str, stream: bool, case: Case) -> (String, &'static str, Value) {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let result = case == Case::ToolResult;
    match caller {
        Caller::Chat => {
            let mut messages = vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "Weather in Paris?"}),
            ];
            if result {
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_a1",
                    "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}));
                messages
                    .push(json!({"role": "tool", "tool_call_id": "call_a1", "content": "Sunny"}));
            }
            let mut body = json!({"model": model, "max_tokens": 64, "stream": stream, "messages": messages,
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]});
            if stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            ("/v1/chat/completions".into(), "authorization", body)
        }
        Caller::Messages => {
            let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
            if result {
                messages.push(
                    json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a1",
                    "name": "get_weather", "input": {"city": "Paris"}}]}),
                );
                messages.push(json!({"role": "user", "content": [{"type": "tool_result",
                    "tool_use_id": "toolu_a1", "content": "Sunny"}]}));
            }
            let body = json!({"model": model, "max_tokens": 64, "stream": stream, "system": "Be brief.",
                "messages": messages, "tools": [{"name": "get_weather", "input_schema": schema}]});
            ("/v1/messages".into(), "x-api-key", body)
        }
        Caller::Gemini => {
            let mut contents =
                vec![json!({"role": "user", "parts": [{"text": "Weather in Paris?"}]})];
            if result {
                contents.push(
                    json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                    "args": {"city": "Paris"}}}]}),
                );
                contents.push(
                    json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                    "response": {"content": "Sunny"}}}]}),
                );
            }
            let body = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": contents,
                "generationConfig": {"maxOutputTokens": 64},
                "tools": [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": schema}]}]});
            let path = if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            };
            (path, "x-goog-api-key", body)
        }
        Caller::Responses => {
            let mut input = vec![json!({"role": "user", "content": "Weather in Paris?"})];
            if result {
                input.push(
                    json!({"type": "function_call", "call_id": "call_r1", "name": "get_weather",
                    "arguments": "{\"city\":\"Paris\"}"}),
                );
                input.push(json!({"type": "function_call_output", "call_id": "call_r1", "output": "Sunny"}));
            }
            let body = json!({"model": model, "max_output_tokens": 64, "stream": stream, "store": false,
                "instructions": "Be brief.", "input": input,
                "tools": [{"type": "function", "name": "get_weather", "parameters": schema}]});
            ("/v1/responses".into(), "authorization", body)
        }
    }
}

/// What an answer said: its text and its tool calls (name, arguments).
#[derive(Debug, Default, PartialEq)]
struct Said {
    text: String,
    calls: Vec<(String, Value)>,
}

fn args(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// The `data:` payloads of a stream, as JSON.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// What a whole (not streamed) answer said.
fn said(caller: Caller, v: &Value) -> Said {
    let mut out = Said::default();
    match caller {
        Caller::Chat => {
            let m = &v["choices"][0]["message"];
            out.text = m["content"].as_str().unwrap_or_default().to_owned();
            for c in m["tool_calls"].as_array().into_iter().flatten() {
                out.calls.push((
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    args(&c["function"]["arguments"]),
                ));
            }
        }
        Caller::Messages => {
            for b in v["content"].as_array().unwrap() {
                match b["type"].as_str() {
                    Some("text") => out.text.push_str(b["text"].as_str().unwrap()),
                    Some("tool_use") => out
                        .calls
                        .push((b["name"].as_str().unwrap().to_owned(), b["input"].clone())),
                    _ => {}
                }
            }
        }
        Caller::Gemini => {
            for p in v["candidates"][0]["content"]["parts"].as_array().unwrap() {
                if let Some(t) = p["text"].as_str() {
                    out.text.push_str(t);
                }
                if let Some(c) = p.get("functionCall") {
                    out.calls
                        .push((c["name"].as_str().unwrap().to_owned(), c["args"].clone()));
                }
            }
        }
        Caller::Responses => {
            for item in v["output"].as_array().unwrap() {
                match item["type"].as_str() {
                    Some("message") => {
                        for c in item["content"].as_array().unwrap() {
                            out.text.push_str(c["text"].as_str().unwrap_or_default());
                        }
                    }
                    Some("function_call") => out.calls.push((
                        item["name"].as_str().unwrap().to_owned(),
                        args(&item["arguments"]),
                    )),
                    _ => {}
                }
            }
        }
    }
    out
}

/// What a stream said; it must end as the caller's dialect ends a stream.
fn said_streamed(caller: Caller, text: &str) -> Said {
    let mut out = Said::default();
    let events = events(text);
    match caller {
        Caller::Chat => {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            let mut args_text: Vec<(String, String)> = Vec::new();
            for e in &events {
                let delta = &e["choices"][0]["delta"];
                out.text
                    .push_str(delta["content"].as_str().unwrap_or_default());
                for c in delta["tool_calls"].as_array().into_iter().flatten() {
                    if let Some(name) = c["function"]["name"].as_str() {
                        args_text.push((name.to_owned(), String::new()));
                    }
                    if let (Some(a), Some(last)) =
                        (c["function"]["arguments"].as_str(), args_text.last_mut())
                    {
                        last.1.push_str(a);
                    }
                }
            }
            out.calls = args_text
                .into_iter()
                .map(|(n, a)| (n, args(&json!(a))))
                .collect();
        }
        Caller::Messages => {
            assert!(
                text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
                "{text}"
            );
            let mut json_text = String::new();
            for e in &events {
                match e["type"].as_str() {
                    Some("content_block_start") if e["content_block"]["type"] == "tool_use" => {
                        out.calls.push((
                            e["content_block"]["name"].as_str().unwrap().to_owned(),
                            Value::Null,
                        ));
                    }
                    Some("content_block_delta") => {
                        out.text
                            .push_str(e["delta"]["text"].as_str().unwrap_or_default());
                        json_text.push_str(e["delta"]["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            if let Some(call) = out.calls.last_mut() {
                call.1 = args(&json!(json_text));
            }
        }
        Caller::Gemini => {
            let last = events.last().unwrap();
            assert!(last["candidates"][0]["finishReason"].is_string(), "{text}");
            for e in &events {
                let part = said(caller, e);
                out.text.push_str(&part.text);
                out.calls.extend(part.calls);
            }
        }
        Caller::Responses => {
            let last = events.last().unwrap();
            assert_eq!(last["type"], "response.completed", "{text}");
            for e in &events {
                out.text.push_str(
                    e["delta"]
                        .as_str()
                        .filter(|_| e["type"] == "response.output_text.delta")
                        .unwrap_or_default(),
                );
            }
            // The completed response holds every item whole.
            out.calls = said(caller, &last["response"]).calls;
        }
    }
    out
}

async fn call(
    app: &TestApp,
    key: &str,
    caller: Caller,
    model: &str,
    stream: bool,
    case: Case,
) -> (StatusCode, String) {
    let (path, header, body) = request(caller, model, stream, case);
    let value = if header == "authorization" {
        format!("Bearer {key}")
    } else {
        key.to_owned()
    };
    let resp = app
        .client
        .post(app.url(&path))
        .header(header, value)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The upstream request's tool call id and the id its result answers, in the format of the
/// channel's `path`.
fn upstream_round_trip(path: &str, body: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let messages = body["messages"].as_array().into_iter().flatten();
    if path.ends_with("/chat/completions") {
        let call = messages
            .clone()
            .find_map(|m| m["tool_calls"][0]["id"].as_str())
            .unwrap_or_default();
        let result = messages
            .clone()
            .find(|m| m["role"] == "tool")
            .map(|m| s(&m["tool_call_id"]));
        return (call.to_owned(), result.unwrap_or_default());
    }
    if path.ends_with("/messages") {
        let blocks: Vec<&Value> = messages
            .flat_map(|m| m["content"].as_array().into_iter().flatten())
            .collect();
        let call = blocks
            .iter()
            .find(|b| b["type"] == "tool_use")
            .map(|b| s(&b["id"]));
        let result = blocks
            .iter()
            .find(|b| b["type"] == "tool_result")
            .map(|b| s(&b["tool_use_id"]));
        return (call.unwrap_or_default(), result.unwrap_or_default());
    }
    if path.ends_with("/responses") {
        let input = body["input"].as_array().unwrap();
        let id = |t: &str| {
            input
                .iter()
                .find(|i| i["type"] == t)
                .map(|i| s(&i["call_id"]))
                .unwrap_or_default()
        };
        return (id("function_call"), id("function_call_output"));
    }
    // Gemini matches a result to its call by the function's name.
    let parts: Vec<&Value> = body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .collect();
    let call = parts
        .iter()
        .find_map(|p| p["functionCall"]["name"].as_str())
        .unwrap_or_default();
    let result = parts
        .iter()
        .find_map(|p| p["functionResponse"]["name"].as_str())
        .unwrap_or_default();
    (call.to_owned(), result.to_owned())
}

/// Every caller dialect on every channel type, with and without streaming.
async fn every_dialect_on_every_channel(app: TestApp) {
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let root = app.root().await;
    let mut ratios = serde_json::Map::new();
    for (channel_type, prefix) in CHANNELS {
        let models =
            format!("{prefix}-text,{prefix}-tool,{prefix}-fail,{prefix}-down,{prefix}-break");
        let mapping = json!({format!("{prefix}-tool"): "mock-tool", format!("{prefix}-fail"): "mock-stream-error",
            format!("{prefix}-down"): "mock-500", format!("{prefix}-break"): "mock-break"});
        app.create_channel(
            &root,
            json!({"name": prefix, "type": channel_type, "key": "sk-upstream",
            "models": models, "model_mapping": mapping.to_string()}),
        )
        .await;
        for m in models.split(',') {
            ratios.insert(m.to_owned(), json!(1));
        }
    }
    app.set_option(
        &root,
        "ModelRatio",
        &Value::Object(ratios.clone()).to_string(),
    )
    .await;
    let completion: serde_json::Map<String, Value> =
        ratios.keys().map(|m| (m.clone(), json!(2))).collect();
    app.set_option(
        &root,
        "CompletionRatio",
        &Value::Object(completion).to_string(),
    )
    .await;

    for caller in CALLERS {
        for (_, prefix) in CHANNELS {
            for stream in [false, true] {
                let cell = Cell {
                    app: &app,
                    key: &key,
                    caller,
                    prefix,
                    stream,
                };
                let name = format!("{caller:?} on {prefix}, stream {stream}");
                // Text.
                let expected = if stream {
                    "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 "
                } else {
                    "Hello"
                };
                let answer = cell.answer("text", Case::Text).await;
                assert_eq!(answer.text, expected, "{name}: {answer:?}");
                assert!(answer.calls.is_empty(), "{name}: {answer:?}");
                let logs = app.consume_logs().await;
                assert_eq!(logs[0]["quota"], TEXT_QUOTA, "{name}: {}", logs[0]);

                // A tool call, in the caller's dialect.
                let answer = cell.answer("tool", Case::Tool).await;
                let weather = ("get_weather".to_owned(), json!({"city": "Paris"}));
                assert_eq!(answer.calls, vec![weather], "{name}: {answer:?}");
                let logs = app.consume_logs().await;
                assert_eq!(logs[0]["quota"], TOOL_QUOTA, "{name}: {}", logs[0]);

                // The call and its result reach the channel matched; the model answers in text.
                let answer = cell.answer("tool", Case::ToolResult).await;
                assert!(answer.calls.is_empty(), "{name}: {answer:?}");
                let seen = app.mock.seen();
                let upstream = seen.last().unwrap();
                let (call_id, result_id) = upstream_round_trip(&upstream.path, &upstream.body);
                assert!(
                    !call_id.is_empty() && call_id == result_id,
                    "{name}: {:?}",
                    upstream.body
                );

                // An upstream failure (an error status; a stream's error event), in the
                // caller's dialect.
                let failing = if stream { "fail" } else { "down" };
                let (status, text) = cell.call(failing, Case::Text).await;
                assert!(status.is_server_error(), "{name}: {status} {text}");
                let v: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
                match caller {
                    Caller::Messages => assert_eq!(v["type"], "error", "{name}: {v}"),
                    Caller::Gemini => assert!(v["error"]["status"].is_string(), "{name}: {v}"),
                    Caller::Chat | Caller::Responses => {
                        assert!(v["error"]["message"].is_string(), "{name}: {v}")
                    }
                }
                assert!(
                    !text.contains("sk-upstream") && !text.contains("127.0.0.1"),
                    "{name}: {text}"
                );
                if stream {
                    let (status, text) = cell.call("break", Case::Text).await;
                    assert_eq!(status, StatusCode::OK, "{name}: {text}");
                    assert_broken(caller, &text, &name);
                }
            }
        }
    }
}

/// One cell of the matrix: a caller dialect on the channel serving models `{prefix}-*`,
/// streamed or not.
struct Cell<'a> {
    app: &'a TestApp,
    key: &'a str,
    caller: Caller,
    prefix: &'a str,
    stream: bool,
}

impl Cell<'_> {
    /// The answer to `case` on model `{prefix}-{model}`.
    async fn call(&self, model: &str, case: Case) -> (StatusCode, String) {
        let model = format!("{}-{model}", self.prefix);
        call(self.app, self.key, self.caller, &model, self.stream, case).await
    }

    /// What a successful answer to `case` on model `{prefix}-{model}` said.
    async fn answer(&self, model: &str, case: Case) -> Said {
        let (status, text) = self.call(model, case).await;
        assert_eq!(status, StatusCode::OK, "{model} {case:?}: {text}");
        if self.stream {
            said_streamed(self.caller, &text)
        } else {
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            said(self.caller, &v)
        }
    }
}

/// A stream the upstream broke off after two chunks with an error event: the chunks, then the
/// error in the caller's dialect, and nothing that claims a normal end.
fn assert_broken(caller: Caller, text: &str, cell: &str) {
    assert!(
        text.contains("w0 ") && text.contains("w1 "),
        "{cell}: {text}"
    );
    let last = events(text).pop().unwrap_or_default();
    match caller {
        Caller::Chat => {
            assert!(last["error"]["message"].is_string(), "{cell}: {text}");
            assert!(!text.contains("[DONE]"), "{cell}: {text}");
        }
        Caller::Messages => {
            assert_eq!(last["type"], "error", "{cell}: {text}");
            assert!(!text.contains("message_stop"), "{cell}: {text}");
        }
        Caller::Gemini => assert!(last["error"]["code"].is_number(), "{cell}: {text}"),
        Caller::Responses => {
            assert_eq!(last["type"], "response.failed", "{cell}: {text}");
            assert!(!text.contains("response.completed"), "{cell}: {text}");
        }
    }
}

db_tests!(every_dialect_on_every_channel);
