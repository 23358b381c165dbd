//! Tests of the Responses caller-side converter.
use super::*;

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_default()
}

#[test]
fn a_request_with_instructions_images_tools_and_call_history() {
    let body = json!({"model": "gpt-5", "instructions": "Be brief.", "max_output_tokens": 100,
    "store": false, "include": ["reasoning.encrypted_content"], "parallel_tool_calls": true,
    "reasoning": {"effort": "low"}, "tool_choice": {"type": "function", "name": "get_weather"},
    "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
    "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object"}, "strict": true}, {"type": "web_search"},
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn_agent",
            "description": "Spawn", "parameters": {"type": "object"}}]}],
    "input": [
        {"role": "developer", "content": "Use tools."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Paris?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            {"type": "input_file", "file_id": "file_1"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "Rain"}]}
    ]});
    let v =
        parse(&request(body.to_string().as_bytes(), "claude-x", true, None).unwrap_or_default());
    let call = |id: &str, args: &str| {
        json!({"id": id, "type": "function",
        "function": {"name": "get_weather", "arguments": args}})
    };
    let expected = json!({"model": "claude-x", "max_tokens": 100, "reasoning_effort": "low",
        "parallel_tool_calls": true, "stream": true, "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": "Checking.",
                "tool_calls": [call("call_1", "{\"city\":\"Paris\"}"), call("call_2", "{}")]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "Rain"}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "description": "Weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "spawn_agent",
            "description": "Spawn", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}}});
    assert_eq!(v, expected);
}

#[test]
fn a_string_input_and_requests_refused() {
    let body = json!({"input": "Hi", "tool_choice": "required", "tools": [{"type": "web_search"}]});
    let v = parse(&request(body.to_string().as_bytes(), "m", false, None).unwrap_or_default());
    assert_eq!(
        v,
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    );
    let chained = json!({"input": "Hi", "previous_response_id": "resp_1"});
    let err = request(chained.to_string().as_bytes(), "m", false, None).err();
    let refused =
        matches!(&err, Some(RelayError::BadRequest(m)) if m.contains("previous_response_id"));
    assert!(refused, "{err:?}");
    assert!(request(br#"{"model":"m"}"#, "m", false, None).is_err());
    assert!(request(b"[1]", "m", false, None).is_err());
}

#[test]
fn a_response_with_reasoning_text_and_a_call() {
    let answer = json!({"id": "c1", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Let me check.", "reasoning_content": "Hmm.",
        "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 3}}});
    let v = parse(&response(answer.to_string().as_bytes(), "gpt-5").unwrap_or_default());
    let picked = json!({"id": v["id"], "model": v["model"], "status": v["status"],
        "incomplete_details": v["incomplete_details"], "output": v["output"], "usage": v["usage"]});
    assert_eq!(
        picked,
        json!({"id": "resp_c1", "model": "gpt-5", "status": "completed",
        "incomplete_details": null, "output": [
        {"type": "reasoning", "id": "rs_0", "summary": [{"type": "summary_text", "text": "Hmm."}]},
        {"type": "message", "id": "msg_0", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
        {"type": "function_call", "id": "fc_0", "call_id": "call_1", "name": "get_weather",
            "arguments": "{\"city\":\"Paris\"}", "status": "completed"}],
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
            "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 107}})
    );
    let cut = json!({"choices": [{"finish_reason": "length", "message": {"content": "Once"}}]});
    let v = parse(&response(cut.to_string().as_bytes(), "gpt-5").unwrap_or_default());
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert!(matches!(
        response(b"oops", "m"),
        Err(RelayError::Unavailable(_))
    ));
}

/// The events written for `chunks` (each split in two) and the end: names (without
/// `response.`) and data.
fn stream(chunks: &[&str]) -> (String, Vec<Value>) {
    let text = crate::convert::feed_halves(&mut StreamToResponses::new("gpt-5"), chunks);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: response."))
        .collect();
    let data = text.lines().filter_map(|l| l.strip_prefix("data: "));
    (names.join(" "), data.map(|d| parse(d.as_bytes())).collect())
}

#[test]
fn a_stream_of_text_and_a_tool_call() {
    let (names, data) = stream(&[
        r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":" there"}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"#,
        "[DONE]",
    ]);
    let expected = "created in_progress output_item.added content_part.added \
        output_text.delta output_text.delta output_text.done content_part.done output_item.done \
        output_item.added function_call_arguments.delta function_call_arguments.delta \
        function_call_arguments.done output_item.done completed";
    assert_eq!(names, expected);
    for (n, d) in data.iter().enumerate() {
        assert_eq!(d["sequence_number"], json!(n), "{d}");
    }
    let done = &data[14]["response"];
    let picked = json!({"started": data[0]["response"]["status"], "text": data[6]["text"],
        "at": data[9]["output_index"], "arguments": data[12]["arguments"], "type": data[14]["type"],
        "id": done["id"], "status": done["status"], "output": done["output"], "usage": done["usage"]});
    assert_eq!(
        picked,
        json!({"started": "in_progress", "text": "Hi there", "at": 1,
        "arguments": "{\"a\":1}", "type": "response.completed", "id": "resp_c1", "status": "completed",
        "output": [{"type": "message", "id": "msg_0", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f",
            "arguments": "{\"a\":1}", "status": "completed"}],
        "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 13}})
    );
}

#[test]
fn a_stream_of_reasoning_cut_short_and_an_empty_one() {
    let (names, data) = stream(&[
        r#"{"id":"c1","choices":[{"index":0,"delta":{"reasoning_content":"Hmm"}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"A"},"finish_reason":"length"}]}"#,
    ]);
    let expected = "created in_progress output_item.added reasoning_summary_part.added \
        reasoning_summary_text.delta reasoning_summary_text.done reasoning_summary_part.done \
        output_item.done output_item.added content_part.added output_text.delta \
        output_text.done content_part.done output_item.done incomplete";
    assert_eq!(names, expected);
    let last = &data[data.len() - 1]["response"];
    assert_eq!(last["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(last["output"][0]["summary"][0]["text"], "Hmm");
    assert_eq!(stream(&[]).0, "created in_progress completed");
}

#[test]
fn an_error_mid_stream_fails_the_response() {
    let (names, data) = stream(&[
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"late"}}]}"#,
    ]);
    let expected =
        "created in_progress output_item.added content_part.added output_text.delta failed";
    assert_eq!(names, expected);
    let failed = &data[data.len() - 1]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "server_error", "message": "overloaded"})
    );
}
