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
/// (an image by URL is a few bytes): chat's `image_url`, `video_url` and `file` parts,
/// Anthropic's `image` and `document` blocks, Responses' `input_image` and `input_file` parts,
/// Gemini's `inlineData` and `fileData` parts, in any letter case.
pub(crate) fn prompt_estimate(body: &[u8]) -> i64 {
    let parts = if escaped_ascii(body) {
        // A name spelled with escapes (`"\u0069mage"`) hides from a byte search: count on the
        // parsed value instead (an unparseable body is refused later anyway).
        serde_json::from_slice::<serde_json::Value>(body).map_or(0, |v| media_parts(&v))
    } else {
        media_parts_by_bytes(body)
    };
    i64::try_from(body.len() / 4)
        .unwrap_or(i64::MAX)
        .saturating_add(parts.saturating_mul(MEDIA_TOKENS))
}

/// The names (quoted, in lower case: upstreams written in Go match keys in any letter case)
/// that mark a media part: as object keys, and as string values (`type`).
const MEDIA_KEYS: [&[u8]; 6] = [
    b"\"image_url\"",
    b"\"video_url\"",
    b"\"inlinedata\"",
    b"\"inline_data\"",
    b"\"filedata\"",
    b"\"file_data\"",
];
const MEDIA_VALUES: [&[u8]; 5] = [
    b"\"image\"",
    b"\"input_image\"",
    b"\"document\"",
    b"\"file\"",
    b"\"input_file\"",
];

/// Whether `name` is one of the quoted `names`, in any letter case.
fn named(names: &[&[u8]], name: &str) -> bool {
    names.iter().any(|n| {
        n.get(1..n.len() - 1)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Whether `body` has a printable ASCII character written as a `\u00XX` escape, which no
/// encoder needs but for HTML-safe `<`, `>` and `&` (Go's default).
fn escaped_ascii(body: &[u8]) -> bool {
    memchr::memmem::find_iter(body, b"\\u00").any(|at| {
        let hex = body.get(at + 4..at + 6).unwrap_or_default();
        !matches!(hex, b"3c" | b"3C" | b"3e" | b"3E" | b"26")
            && matches!(hex.first(), Some(b'2'..=b'7'))
    })
}

/// Media parts in a parsed body.
fn media_parts(v: &serde_json::Value) -> i64 {
    match v {
        serde_json::Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                let part =
                    named(&MEDIA_KEYS, k) || v.as_str().is_some_and(|s| named(&MEDIA_VALUES, s));
                i64::from(part) + media_parts(v)
            })
            .sum(),
        serde_json::Value::Array(items) => items.iter().map(media_parts).sum(),
        _ => 0,
    }
}

/// Media parts found by searching the bytes for the quoted names (keys followed by `:`,
/// values not).
fn media_parts_by_bytes(body: &[u8]) -> i64 {
    let body = body.to_ascii_lowercase();
    let mut parts = 0_i64;
    for (names, key) in [(&MEDIA_KEYS[..], true), (&MEDIA_VALUES[..], false)] {
        for quoted in names.iter() {
            for at in memchr::memmem::find_iter(&body, quoted) {
                let next = body[at + quoted.len()..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace());
                parts += i64::from((next == Some(&b':')) == key);
            }
        }
    }
    parts
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
        // (`input_image` and its `image_url` key: two, an over-count that reserves more.)
        assert_eq!(
            prompt_estimate(responses.as_bytes()),
            base(responses) + 2 * MEDIA_TOKENS
        );
        let gemini = r#"{"contents":[{"parts":[{"fileData":{"fileUri":"u","mimeType":"image/png"}},{"inline_data":{"data":"AAAA"}}]}]}"#;
        assert_eq!(
            prompt_estimate(gemini.as_bytes()),
            base(gemini) + 2 * MEDIA_TOKENS
        );
        // A name spelled with escapes is still a part; `\u003c` (Go's HTML-safe `<`) is not an
        // obfuscation and keeps the byte search.
        let hidden = r#"{"content":[{"type":"\u0069mage","source":{"type":"url","url":"u"}}]}"#;
        assert_eq!(
            prompt_estimate(hidden.as_bytes()),
            base(hidden) + MEDIA_TOKENS
        );
        let go = r#"{"content":[{"type":"image","source":{}}],"x":"\u003cb\u003e"}"#;
        assert!(!escaped_ascii(go.as_bytes()));
        assert_eq!(prompt_estimate(go.as_bytes()), base(go) + MEDIA_TOKENS);
        let doc = r#"{"content":[{"type":"document","source":{"type":"url","url":"u"}}]}"#;
        assert_eq!(prompt_estimate(doc.as_bytes()), base(doc) + MEDIA_TOKENS);
        // Video parts, and names in another letter case (Go upstreams fold keys).
        let video = r#"{"content":[{"type":"video_url","video_url":{"url":"u"}},{"type":"image_url","Image_URL":{"url":"u"}}]}"#;
        assert_eq!(
            prompt_estimate(video.as_bytes()),
            base(video) + 2 * MEDIA_TOKENS
        );
        // Words inside text are escaped: not parts.
        let text = r#"{"messages":[{"content":"an \"image\" of \"fileData\": none"}],"image":1}"#;
        assert_eq!(prompt_estimate(text.as_bytes()), base(text));
    }
}
