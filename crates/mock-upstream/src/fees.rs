//! What an upstream reports beside tokens, as the real ones do: the service tier a call ran in
//! (OpenAI chat and Responses), server-side tool calls (Responses' output items, Gemini's
//! grounding), the image tokens of gpt-image answers, and a prompt past the long-context
//! threshold (`mock-long-context`).

use serde_json::{Value, json};

/// Web searches a Responses answer reports when its request names a web search tool.
pub const WEB_SEARCH_CALLS: usize = 2;
/// Search queries a grounded Gemini answer reports.
pub const GROUNDING_QUERIES: usize = 3;
/// Input tokens a `mock-long-context` answer reports (past the 200 000 threshold).
pub const LONG_CONTEXT_PROMPT: i64 = 250_000;
/// The text and image input tokens a gpt-image answer reports.
pub const IMAGE_PROMPT: (i64, i64) = (20, 300);

/// The audio, text and output tokens a gpt-4o transcription reports.
pub const TRANSCRIBE_USAGE: (i64, i64, i64) = (100, 20, 30);

/// The output tokens of one gpt-image image of `quality` (square), as OpenAI lists them.
pub fn image_tokens(quality: &str) -> i64 {
    match quality {
        "low" => 272,
        "medium" => 1056,
        _ => 4160,
    }
}

/// Whether the request names a tool of `kind` (`type` in OpenAI's shape, a key in Gemini's).
fn names_tool(request: &Value, kind: &str) -> bool {
    request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools.iter().any(|t| {
                t.get("type").and_then(Value::as_str) == Some(kind) || t.get(kind).is_some()
            })
        })
}

/// Adds what the upstream reports beside tokens to a whole answer of `path`.
pub(crate) fn annotate(path: &str, model: &str, request: &Value, body: &mut Value) {
    let tier = request
        .get("service_tier")
        .and_then(Value::as_str)
        .map_or("default", |t| if t == "auto" { "default" } else { t });
    if path.ends_with("/chat/completions") {
        body["service_tier"] = json!(tier);
    }
    if path.ends_with("/v1/responses") {
        body["service_tier"] = json!(tier);
        if let Some(output) = body.get_mut("output").and_then(Value::as_array_mut) {
            if names_tool(request, "web_search") || names_tool(request, "web_search_preview") {
                for i in 0..WEB_SEARCH_CALLS {
                    output.insert(
                        0,
                        json!({"type": "web_search_call", "id": format!("ws_{i}"),
                        "status": "completed", "action": {"type": "search", "query": "q"}}),
                    );
                }
            }
            if names_tool(request, "code_interpreter") {
                for i in 0..2 {
                    output.insert(
                        0,
                        json!({"type": "code_interpreter_call", "id": format!("ci_{i}"),
                        "status": "completed", "container_id": "cntr_1", "code": "print(1)"}),
                    );
                }
            }
        }
    }
    if path.contains(":generateContent") && names_tool(request, "googleSearch") {
        let queries: Vec<String> = (0..GROUNDING_QUERIES)
            .map(|i| format!("query {i}"))
            .collect();
        if let Some(candidate) = body.pointer_mut("/candidates/0") {
            candidate["groundingMetadata"] = json!({"webSearchQueries": queries});
        }
    }
    if path.contains("/images/") && model.starts_with("gpt-image") {
        let n = request
            .get("n")
            .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
            .unwrap_or(1);
        let quality = request
            .get("quality")
            .and_then(Value::as_str)
            .unwrap_or("high");
        let (text, image) = IMAGE_PROMPT;
        body["usage"] = json!({"input_tokens": text + image, "output_tokens": n * image_tokens(quality),
            "total_tokens": text + image + n * image_tokens(quality),
            "input_tokens_details": {"text_tokens": text, "image_tokens": image}});
    }
    if path.ends_with("/audio/transcriptions") || path.ends_with("/audio/translations") {
        // whisper reports the seconds it heard (the form's `mock_seconds` says how many);
        // the gpt-4o models their tokens.
        let seconds = request
            .get("mock_seconds")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok());
        if let Some(seconds) = seconds {
            body["usage"] = json!({"type": "duration", "seconds": seconds});
        } else if model.starts_with("gpt-4o") {
            let (audio, text, output) = TRANSCRIBE_USAGE;
            body["usage"] = json!({"type": "tokens", "input_tokens": audio + text,
                "input_token_details": {"audio_tokens": audio, "text_tokens": text},
                "output_tokens": output, "total_tokens": audio + text + output});
        }
    }
    if model == "mock-long-context"
        && let Some(usage) = body.get_mut("usage")
    {
        usage["input_tokens"] = json!(LONG_CONTEXT_PROMPT);
    }
}

/// A WAV file of `seconds` of 8 kHz 8-bit mono silence (what a caller uploads to be transcribed).
pub fn wav(seconds: u32) -> Vec<u8> {
    let rate = 8_000_u32;
    let data = rate * seconds;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16_u32.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes());
    out.extend_from_slice(&8_u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out.resize(44 + data as usize, 0x80);
    out
}
