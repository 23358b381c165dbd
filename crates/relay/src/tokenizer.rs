//! Local token counting with `tiktoken-rs` (its encodings ship inside the crate), for answers
//! that arrive without usage: an upstream that reports none, or a stream the client left early.

use serde::Deserialize;
use serde_json::Value;
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

/// Tokens OpenAI adds per chat message and per reply.
const PER_MESSAGE: i64 = 3;

fn bpe(model: &str) -> &'static CoreBPE {
    match get_tokenizer(model) {
        Some(Tokenizer::O200kBase | Tokenizer::O200kHarmony) => tiktoken_rs::o200k_base_singleton(),
        _ => tiktoken_rs::cl100k_base_singleton(),
    }
}

/// Tokens of `text` in `model`'s encoding (cl100k for models tiktoken does not know).
pub fn count(model: &str, text: &str) -> i64 {
    if text.is_empty() {
        return 0;
    }
    i64::try_from(bpe(model).encode_ordinary(text).len()).unwrap_or(i64::MAX)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
    Other(serde::de::IgnoredAny),
}

/// A content part, or an item holding content (the Responses API's `input` items).
#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    content: Option<Box<Content>>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
struct Prompt {
    /// Anthropic's system prompt: a string or text blocks.
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    prompt: Option<Content>,
    #[serde(default)]
    input: Option<Content>,
}

fn content_text(c: &Content, out: &mut String) {
    match c {
        Content::Text(t) => out.push_str(t),
        Content::Parts(parts) => {
            for part in parts {
                out.push_str(part.text.as_deref().unwrap_or_default());
                if let Some(inner) = &part.content {
                    content_text(inner, out);
                }
            }
        }
        Content::Other(_) => {}
    }
}

/// Prompt tokens of an OpenAI, Anthropic or Gemini request body: the text of its messages
/// (with OpenAI's per-message overhead), `system`, `prompt`, `input`, or Gemini's `contents`
/// and `systemInstruction`. Images and other parts are not counted.
pub fn prompt_tokens(model: &str, body: &[u8]) -> i64 {
    let Ok(p) = serde_json::from_slice::<Prompt>(body) else {
        return 0;
    };
    let mut text = String::new();
    let mut overhead = 0;
    if let Some(messages) = &p.messages {
        overhead = PER_MESSAGE * (messages.len() as i64 + 1);
        for m in messages {
            if let Some(c) = &m.content {
                content_text(c, &mut text);
            }
        }
    }
    for c in [&p.system, &p.prompt, &p.input].into_iter().flatten() {
        content_text(c, &mut text);
    }
    text.push_str(&crate::dialect::gemini::prompt_text(body));
    count(model, &text) + overhead
}

/// The generated text of one stream event, in any dialect: OpenAI chat deltas (content,
/// reasoning, tool call arguments) and completions' text, Anthropic's text, thinking and tool
/// input deltas, Gemini's parts (text and function calls), and the `delta` of the Responses
/// API's events.
fn event_text(event: &Value, out: &mut String) {
    let mut push = |v: Option<&Value>| {
        if let Some(t) = v.and_then(Value::as_str) {
            out.push_str(t);
        }
    };
    for choice in event
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push(choice.get("text"));
        let delta = choice.get("delta");
        push(delta.and_then(|d| d.get("content")));
        push(delta.and_then(|d| d.get("reasoning_content")));
        for call in delta
            .and_then(|d| d.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(call.pointer("/function/arguments"));
        }
    }
    match event.get("delta") {
        // Anthropic's content deltas.
        Some(delta @ Value::Object(_)) => {
            for key in ["text", "thinking", "partial_json"] {
                push(delta.get(key));
            }
        }
        // The Responses API's text, argument and reasoning deltas.
        delta @ Some(Value::String(_)) => push(delta),
        _ => {}
    }
    for candidate in event
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for part in candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(part.get("text"));
            if let Some(call) = part.get("functionCall") {
                push(Some(&Value::String(call.to_string())));
            }
        }
    }
}

/// Completion tokens of a whole (not streamed) answer that reports no usage, whatever its
/// dialect: OpenAI chat messages (content, reasoning, tool call arguments) and completions'
/// text, Anthropic's content blocks, Gemini's parts, Responses' output items.
pub fn answer_tokens(model: &str, body: &[u8]) -> i64 {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let mut text = String::new();
    event_text(&answer, &mut text);
    let mut push = |v: Option<&Value>| match v {
        Some(Value::String(t)) => text.push_str(t),
        Some(v @ Value::Object(_)) => text.push_str(&v.to_string()),
        _ => {}
    };
    for choice in answer
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = choice.get("message");
        push(message.and_then(|m| m.get("content")));
        push(message.and_then(|m| m.get("reasoning_content")));
        for call in message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(call.pointer("/function/arguments"));
        }
    }
    // Anthropic's content blocks and Responses' output items (and their content parts).
    let blocks = ["content", "output"]
        .iter()
        .filter_map(|k| answer.get(*k).and_then(Value::as_array))
        .flatten();
    for block in blocks {
        for key in ["text", "thinking", "input", "arguments"] {
            push(block.get(key));
        }
        for part in block
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(part.get("text"));
        }
    }
    count(model, &text)
}

/// Completion tokens of streamed events (`data` payloads separated by newlines), whatever
/// their dialect.
pub fn completion_tokens(model: &str, events: &[u8]) -> i64 {
    let mut text = String::new();
    for line in events.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(event) = serde_json::from_slice::<Value>(line) {
            event_text(&event, &mut text);
        }
    }
    count(model, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_the_model_encoding() {
        assert_eq!(count("gpt-4o", "hello world"), 2);
        assert_eq!(count("unknown-model", "hello world"), 2);
        assert_eq!(count("gpt-4o", ""), 0);
    }

    #[test]
    fn prompt_of_chat_and_parts() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"},{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        assert_eq!(prompt_tokens("gpt-4o", body), 4 + 3 * 3);
        assert_eq!(prompt_tokens("gpt-4o", br#"{"prompt":"hello world"}"#), 2);
        assert_eq!(prompt_tokens("gpt-4o", b"not json"), 0);
        let responses = br#"{"input":[{"role":"user","content":"hello"},{"type":"message","role":"user","content":[{"type":"input_text","text":" world"}]}]}"#;
        assert_eq!(prompt_tokens("gpt-4o", responses), 2);
    }

    #[test]
    fn completion_of_whole_answers() {
        let chat = br#"{"choices":[{"message":{"content":"hello","tool_calls":[{"function":{"arguments":" world"}}]}}]}"#;
        assert_eq!(answer_tokens("gpt-4o", chat), 2);
        let anthropic =
            br#"{"content":[{"type":"text","text":"hello"},{"type":"tool_use","input":{"a":1}}]}"#;
        assert!(answer_tokens("gpt-4o", anthropic) >= 3);
        let responses = br#"{"output":[{"type":"message","content":[{"type":"output_text","text":"hello world"}]}]}"#;
        assert_eq!(answer_tokens("gpt-4o", responses), 2);
        let gemini = br#"{"candidates":[{"content":{"parts":[{"text":"hello world"}]}}]}"#;
        assert_eq!(answer_tokens("gpt-4o", gemini), 2);
        assert_eq!(answer_tokens("gpt-4o", b"not json"), 0);
    }

    #[test]
    fn completion_of_events() {
        let events = b"{\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n{\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n";
        assert_eq!(completion_tokens("gpt-4o", events), 2);
    }

    #[test]
    fn completion_of_every_dialects_events() {
        let anthropic = br#"{"type":"message_start","message":{"usage":{"input_tokens":8}}}
{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"}}
{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" world"}}
"#;
        assert_eq!(completion_tokens("gpt-4o", anthropic), 2);
        let gemini =
            br#"{"candidates":[{"content":{"parts":[{"text":"hello"},{"text":" world"}]}}]}
"#;
        assert_eq!(completion_tokens("gpt-4o", gemini), 2);
        let responses = br#"{"type":"response.created","response":{"id":"r"}}
{"type":"response.output_text.delta","delta":"hello"}
{"type":"response.function_call_arguments.delta","delta":" world"}
"#;
        assert_eq!(completion_tokens("gpt-4o", responses), 2);
        let tools = br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"hello world"}}]}}]}
"#;
        assert_eq!(completion_tokens("gpt-4o", tools), 2);
    }
}
