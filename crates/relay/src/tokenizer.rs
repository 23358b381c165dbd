//! Local token counting with `tiktoken-rs` (its encodings ship inside the crate), for answers
//! that arrive without usage: an upstream that reports none, or a stream the client left early.

use serde::Deserialize;
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

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
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
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .for_each(|t| out.push_str(t)),
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

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// Completion tokens of streamed events: `data` payloads separated by newlines.
pub fn completion_tokens(model: &str, events: &[u8]) -> i64 {
    let mut text = String::new();
    for line in events.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(chunk) = serde_json::from_slice::<Chunk>(line) {
            for c in chunk.choices {
                if let Some(t) = c.delta.and_then(|d| d.content).or(c.text) {
                    text.push_str(&t);
                }
            }
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
    }

    #[test]
    fn completion_of_events() {
        let events = b"{\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n{\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n";
        assert_eq!(completion_tokens("gpt-4o", events), 2);
    }
}
