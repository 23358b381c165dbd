//! Inbound wire formats: what the relay reads of a caller's request in each dialect (a file
//! each). Only the fields that route and price a call are read; the rest passes through.

pub mod gemini;
pub mod openai;

pub use openai::Endpoint;

/// An API dialect, spoken by callers and by upstream families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

/// Prompt tokens reserved for each image or file part: OpenAI's largest high-detail image
/// (2048 x 768 after scaling: 8 tiles of 170 tokens plus 85) rounded up, above what Anthropic
/// (about 1 600 at most) and Gemini (258 to 1 120) charge for one.
const MEDIA_TOKENS: i64 = 1_500;

/// A rough count of a JSON request's prompt tokens, whatever its dialect: about four bytes a
/// token, plus [`MEDIA_TOKENS`] for every image or file part, whose cost its bytes do not show
/// (an image by URL is a few bytes): chat's `image_url` parts, Anthropic's `image` blocks,
/// Responses' `input_image` parts, Gemini's `inlineData` and `fileData` parts (either case).
pub(crate) fn prompt_estimate(body: &[u8]) -> i64 {
    let next = |at: usize| body[at..].iter().find(|b| !b.is_ascii_whitespace());
    let mut parts = 0_i64;
    // `"image_url"` keys, and `"image"` or `"input_image"` values.
    for at in memchr::memmem::find_iter(body, b"image") {
        let before = at.checked_sub(1).map(|i| body[i]);
        let key = |len: usize| next(at + len) == Some(&b':');
        if body[at..].starts_with(b"image_url\"") && before == Some(b'"') && key(10) {
            parts += 1;
        } else if body[at..].starts_with(b"image\"") && !key(6) {
            let word_start = before == Some(b'"') || body[..at].ends_with(b"\"input_");
            parts += i64::from(word_start);
        }
    }
    // `"inlineData"`, `"inline_data"`, `"fileData"`, `"file_data"` keys.
    for at in memchr::memmem::find_iter(body, b"ata\"") {
        let word = &body[..at + 4];
        let named = [
            &b"\"inlineData\""[..],
            b"\"inline_data\"",
            b"\"fileData\"",
            b"\"file_data\"",
        ]
        .iter()
        .any(|w| word.ends_with(w));
        parts += i64::from(named && next(at + 4) == Some(&b':'));
    }
    i64::try_from(body.len() / 4)
        .unwrap_or(i64::MAX)
        .saturating_add(parts.saturating_mul(MEDIA_TOKENS))
}

/// What routes and prices one call, whatever its dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallSpec {
    pub model: String,
    pub stream: bool,
    /// A per-call price is charged this many times (images: `n`).
    pub count: i64,
    /// Text the answer may hold: `None` for answers without generated text (embeddings,
    /// images, audio).
    pub output: Option<Output>,
    /// A rough count of the prompt's tokens (speech: its characters).
    pub prompt_estimate: i64,
}

/// How much text an answer may generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Output {
    /// `max_tokens` or its like; `None` = the model's maximum.
    pub limit: Option<i64>,
    /// Answers generated at once (`n`).
    pub choices: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_parts_of_every_dialect_are_priced() {
        let base = |body: &str| body.len() as i64 / 4;
        let chat =
            r#"{"content":[{"type": "image_url", "image_url" : {"url":"https://a.io/x.png"}}]}"#;
        assert_eq!(prompt_estimate(chat.as_bytes()), base(chat) + MEDIA_TOKENS);
        let anthropic = r#"{"content":[{"type":"image","source":{"type":"url","url":"u"}},{"type": "image" ,"source":{}}]}"#;
        assert_eq!(
            prompt_estimate(anthropic.as_bytes()),
            base(anthropic) + 2 * MEDIA_TOKENS
        );
        let responses = r#"{"input":[{"content":[{"type":"input_image","image_url":"u"}]}]}"#;
        assert_eq!(
            prompt_estimate(responses.as_bytes()),
            base(responses) + 2 * MEDIA_TOKENS
        );
        let gemini = r#"{"contents":[{"parts":[{"fileData":{"fileUri":"u","mimeType":"image/png"}},{"inline_data":{"data":"AAAA"}}]}]}"#;
        assert_eq!(
            prompt_estimate(gemini.as_bytes()),
            base(gemini) + 2 * MEDIA_TOKENS
        );
        // Words inside text are escaped: not parts.
        let text = r#"{"messages":[{"content":"an \"image\" of \"fileData\": none"}],"image":1}"#;
        assert_eq!(prompt_estimate(text.as_bytes()), base(text));
    }
}
