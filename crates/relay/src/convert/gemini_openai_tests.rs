//! Tests of the Gemini caller-side converter.
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
    let v = parse(request(body.to_string().as_bytes(), "gpt-4o", true, None));
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

/// Responses find their calls by id or name without scanning the history: a long one
/// converts, each result answering its own call.
#[test]
fn long_histories_match_every_response() {
    let n = 20_000;
    let asked: Vec<Value> = (0..n)
        .map(|i| json!({"functionCall": {"name": format!("f{}", i % 3), "args": {}}}))
        .collect();
    let answered: Vec<Value> = (0..n)
        .map(|i| json!({"functionResponse": {"name": format!("f{}", i % 3), "response": {"content": i.to_string()}}}))
        .collect();
    let body = json!({"contents": [{"role": "model", "parts": asked},
        {"role": "user", "parts": answered}]});
    let v = parse(request(body.to_string().as_bytes(), "gpt-4o", false, None));
    let results: Vec<&Value> = v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(results.len(), n);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["tool_call_id"], format!("call_{i}"));
        assert_eq!(r["content"], i.to_string());
    }
}

#[test]
fn unanswered_responses_and_bad_bodies_are_refused() {
    let orphan = json!({"contents": [{"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {}}}]}]});
    assert!(request(orphan.to_string().as_bytes(), "m", false, None).is_err());
    assert!(request(b"[]", "m", false, None).is_err());
    assert!(request(br#"{"contents": {}}"#, "m", false, None).is_err());
    let none = json!({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}});
    let v = parse(request(none.to_string().as_bytes(), "m", false, None));
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
