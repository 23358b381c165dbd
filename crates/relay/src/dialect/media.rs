//! What a request's media costs before the upstream has seen it. An image costs at most a
//! fixed number of tokens whatever its size (providers scale it down), and an inline part's
//! bytes already count; but a part that names media by reference (Gemini's `fileData.fileUri`,
//! a chat `video_url`, a document or file by URL or id) can be an hour of video in a few bytes.
//! Those are counted by kind here and reserved at the worst case the `MediaReferenceTokens`
//! option sets per kind (`domain::pricing::MediaRefs`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use domain::pricing::{MediaRefs, Tool, ToolCalls};
use serde_json::Value;
use std::sync::LazyLock;

/// Prompt tokens reserved for each image part: OpenAI's largest high-detail image (2048 x 768
/// after scaling: 8 tiles of 170 tokens plus 85) rounded up, above what Anthropic (about 1 600
/// at most) and Gemini (258 to 1 120) charge for one.
pub(crate) const IMAGE_TOKENS: i64 = 1_500;

/// A rough count of a JSON request's prompt: about four bytes a token plus [`IMAGE_TOKENS`]
/// for every image or inline file part, and the media parts named by reference, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub tokens: i64,
    /// The image (and inline file) parts among them, at [`IMAGE_TOKENS`] each.
    pub images: i64,
    pub refs: MediaRefs,
    /// The server-side tools the request names (as a tool type or key): what they may cost
    /// is reserved, and which of them ran is read from the answer.
    pub tools: ToolCalls,
}

/// The names (a quote, then a prefix: `"web_search_20250305"` is a web search) that mark a
/// server-side tool, and the tool; `web_search_options` counts as a key only.
const TOOLS: [(&str, Tool); 9] = [
    ("\"web_search_preview", Tool::WebSearchPreview),
    ("\"web_search_options\"", Tool::SearchModel),
    ("\"web_search", Tool::WebSearch),
    ("\"file_search", Tool::FileSearch),
    ("\"code_interpreter", Tool::CodeInterpreter),
    ("\"image_generation", Tool::ImageGeneration),
    ("\"googlesearch", Tool::GoogleSearch),
    ("\"google_search", Tool::GoogleSearch),
    ("\"code_execution_", Tool::CodeExecution),
];

/// The names (quoted; matched in any letter case, as upstreams written in Go match keys) that
/// mark a media part: as object keys, and as string values (`type`).
const KEYS: [&str; 7] = [
    "\"image_url\"",
    "\"video_url\"",
    "\"inlinedata\"",
    "\"inline_data\"",
    "\"filedata\"",
    "\"file_data\"",
    "\"input_audio\"",
];
const VALUES: [&str; 5] = [
    "\"image\"",
    "\"input_image\"",
    "\"document\"",
    "\"file\"",
    "\"input_file\"",
];
/// Of those, the names whose part may be a reference: the body is parsed to tell.
const MAY_REFER: [&str; 6] = [
    "\"video_url\"",
    "\"filedata\"",
    "\"file_data\"",
    "\"document\"",
    "\"file\"",
    "\"input_file\"",
];

/// One automaton over every name, in any letter case: one pass over the body, no copy.
static NAMES: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(
            KEYS.iter()
                .chain(VALUES.iter())
                .chain(TOOLS.iter().map(|(name, _)| name)),
        )
        .unwrap_or_else(|_| unreachable!("the names are valid patterns"))
});

/// Estimates `body`'s prompt, whatever its dialect: chat's `image_url`, `video_url`,
/// `input_audio` and `file` parts, Anthropic's `image` and `document` blocks, Responses'
/// `input_image` and `input_file` parts, Gemini's `inlineData` and `fileData` parts.
pub(crate) fn estimate(body: &[u8]) -> Estimate {
    let bytes = i64::try_from(body.len() / 4).unwrap_or(i64::MAX);
    let scan = scan(body);
    let (images, refs, tools) = if scan.parse || escaped_ascii(body) {
        // A name spelled with escapes (`"\u0069mage"`) hides from a byte search, and a part
        // that may be a reference needs its fields: both are read from the parsed value (an
        // unparseable body is refused later anyway).
        let mut found = Found::default();
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            found.walk(&v);
        }
        (found.images, found.refs, found.tools.max(scan.tools))
    } else {
        (scan.images, MediaRefs::default(), scan.tools)
    };
    Estimate {
        tokens: bytes.saturating_add(images.saturating_mul(IMAGE_TOKENS)),
        images,
        refs,
        tools,
    }
}

/// What one pass over the bytes finds.
#[derive(Default)]
struct Scan {
    /// Image parts (keys followed by `:`, values not).
    images: i64,
    /// Whether a part may be a reference: the parsed body tells.
    parse: bool,
    tools: ToolCalls,
}

fn scan(body: &[u8]) -> Scan {
    let mut found = Scan::default();
    let media = KEYS.len() + VALUES.len();
    for m in NAMES.find_iter(body) {
        let index = m.pattern().as_usize();
        let next = body[m.end()..].iter().find(|b| !b.is_ascii_whitespace());
        let is_key = next == Some(&b':');
        if let Some((_, tool)) = index.checked_sub(media).and_then(|i| TOOLS.get(i)) {
            if *tool != Tool::SearchModel || is_key {
                found.tools.add(*tool, 1);
            }
            continue;
        }
        let name = KEYS
            .iter()
            .chain(VALUES.iter())
            .nth(index)
            .copied()
            .unwrap_or_default();
        if is_key != KEYS.contains(&name) {
            continue;
        }
        if MAY_REFER.contains(&name) {
            found.parse = true;
        }
        found.images += 1;
    }
    found
}

/// Whether `body` has a printable ASCII character written as a `\u00XX` escape, which no
/// encoder needs but for HTML-safe `<`, `>` and `&` (Go's default).
fn escaped_ascii(body: &[u8]) -> bool {
    static ESCAPE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\\u00"));
    ESCAPE.find_iter(body).any(|at| {
        let hex = body.get(at + 4..at + 6).unwrap_or_default();
        !matches!(hex, b"3c" | b"3C" | b"3e" | b"3E" | b"26")
            && matches!(hex.first(), Some(b'2'..=b'7'))
    })
}

/// Whether `name` is one of the quoted `names`, in any letter case.
fn named(names: &[&str], name: &str) -> bool {
    names.iter().any(|n| {
        n.get(1..n.len() - 1)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Whether an object has, at any depth, a key in `names` (any letter case).
fn has_key(v: &Value, names: &[&str]) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| named(names, k) || has_key(v, names)),
        Value::Array(items) => items.iter().any(|v| has_key(v, names)),
        _ => false,
    }
}

/// The keys that name media stored elsewhere.
const REFERENCES: [&str; 6] = [
    "\"url\"",
    "\"file_id\"",
    "\"file_url\"",
    "\"fileuri\"",
    "\"file_uri\"",
    "\"fileid\"",
];

/// The tool a key or string value names, as the byte scan reads it (a prefix, in any letter
/// case; `web_search_options` only as a key).
fn tool_named(name: &str, is_key: bool) -> Option<Tool> {
    let lower = name.to_ascii_lowercase();
    let quoted = format!("\"{lower}\"");
    TOOLS
        .iter()
        .find(|(pattern, _)| quoted.starts_with(pattern))
        .map(|(_, tool)| *tool)
        .filter(|tool| is_key || *tool != Tool::SearchModel)
}

/// Media parts found in a parsed body.
#[derive(Default)]
struct Found {
    images: i64,
    refs: MediaRefs,
    tools: ToolCalls,
}

impl Found {
    fn walk(&mut self, v: &Value) {
        match v {
            Value::Object(o) => {
                // A part's kind is its `type` (another key's value, a title, says nothing).
                let typed = o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("type"))
                    .and_then(|(_, v)| v.as_str())
                    .filter(|s| named(&VALUES, s));
                if let Some(kind) = typed
                    && self.typed_part(kind, o)
                {
                    // A document by reference: its worst case covers what it holds.
                    return;
                }
                for (k, v) in o {
                    if named(&KEYS, k) {
                        self.key_part(k, v);
                    }
                    if let Some(tool) = tool_named(k, true)
                        .or_else(|| v.as_str().and_then(|s| tool_named(s, false)))
                    {
                        self.tools.add(tool, 1);
                    }
                    self.walk(v);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }

    /// A part marked by its key (`"video_url": {...}`, `"fileData": {...}`).
    fn key_part(&mut self, key: &str, v: &Value) {
        let lower = key.to_ascii_lowercase();
        match lower.as_str() {
            "video_url" => self.refs.video += 1,
            "filedata" | "file_data" if has_key(v, &REFERENCES) => {
                let mime = v.as_object().and_then(|o| {
                    o.iter()
                        .find(|(k, _)| named(&["\"mimetype\"", "\"mime_type\""], k))
                        .and_then(|(_, m)| m.as_str())
                });
                match mime.map(str::to_ascii_lowercase) {
                    Some(m) if m.starts_with("image/") => self.images += 1,
                    Some(m) if m.starts_with("audio/") => self.refs.audio += 1,
                    Some(m) if m.starts_with("video/") => self.refs.video += 1,
                    Some(_) => self.refs.document += 1,
                    // No type (a YouTube link needs none): the worst kind.
                    None => self.refs.video += 1,
                }
            }
            // Inline data, an image URL, inline audio: the bytes (or the image price) tell.
            _ => self.images += 1,
        }
    }

    /// A part marked by its type (`"type": "document"`), the object `part`; whether it is a
    /// document by reference.
    fn typed_part(&mut self, kind: &str, part: &serde_json::Map<String, Value>) -> bool {
        let document = named(&["\"document\"", "\"file\"", "\"input_file\""], kind);
        let by_reference = part
            .iter()
            .any(|(k, v)| named(&REFERENCES, k) || has_key(v, &REFERENCES));
        if document && by_reference {
            self.refs.document += 1;
            return true;
        }
        self.images += 1;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(body: &str) -> i64 {
        estimate(body.as_bytes()).tokens
    }

    fn base(body: &str) -> i64 {
        body.len() as i64 / 4
    }

    #[test]
    fn image_parts_of_every_dialect_are_priced() {
        let chat =
            r#"{"content":[{"type": "image_url", "image_url" : {"url":"https://a.io/x.png"}}]}"#;
        assert_eq!(tokens(chat), base(chat) + IMAGE_TOKENS);
        let anthropic = r#"{"content":[{"type":"image","source":{"type":"url","url":"u"}},{"type": "image" ,"source":{}}]}"#;
        assert_eq!(tokens(anthropic), base(anthropic) + 2 * IMAGE_TOKENS);
        let responses = r#"{"input":[{"content":[{"type":"input_image","image_url":"u"}]}]}"#;
        // (`input_image` and its `image_url` key: two, an over-count that reserves more.)
        assert_eq!(tokens(responses), base(responses) + 2 * IMAGE_TOKENS);
        let gemini = r#"{"contents":[{"parts":[{"fileData":{"fileUri":"u","mimeType":"image/png"}},{"inline_data":{"data":"AAAA"}}]}]}"#;
        assert_eq!(tokens(gemini), base(gemini) + 2 * IMAGE_TOKENS);
        // A name spelled with escapes is still a part; `\u003c` (Go's HTML-safe `<`) is not an
        // obfuscation and keeps the byte search.
        let hidden = r#"{"content":[{"type":"\u0069mage","source":{"type":"url","url":"u"}}]}"#;
        assert_eq!(tokens(hidden), base(hidden) + IMAGE_TOKENS);
        let go = r#"{"content":[{"type":"image","source":{}}],"x":"\u003cb\u003e"}"#;
        assert!(!escaped_ascii(go.as_bytes()));
        assert_eq!(tokens(go), base(go) + IMAGE_TOKENS);
        let case = r#"{"content":[{"type":"image_url","Image_URL":{"url":"u"}}]}"#;
        assert_eq!(tokens(case), base(case) + IMAGE_TOKENS);
        // Words inside text are escaped: not parts.
        let text = r#"{"messages":[{"content":"an \"image\" of \"fileData\": none"}],"image":1}"#;
        assert_eq!(
            estimate(text.as_bytes()),
            Estimate {
                tokens: base(text),
                ..Estimate::default()
            }
        );
    }

    #[test]
    fn server_side_tools_are_named() {
        let tools = |body: &str| estimate(body.as_bytes()).tools;
        let responses = r#"{"tools":[{"type":"web_search_preview"},{"type":"File_Search"},
            {"type":"code_interpreter","container":{"type":"auto"}}]}"#;
        let t = tools(responses);
        assert_eq!(
            [
                Tool::WebSearchPreview,
                Tool::WebSearch,
                Tool::FileSearch,
                Tool::CodeInterpreter
            ]
            .map(|x| t.get(x)),
            [1, 0, 1, 1]
        );
        let anthropic =
            r#"{"tools":[{"type":"web_search_20250305"},{"type":"code_execution_20250522"}]}"#;
        let t = tools(anthropic);
        assert_eq!((t.get(Tool::WebSearch), t.get(Tool::CodeExecution)), (1, 1));
        let chat = r#"{"web_search_options":{},"messages":[{"content":"web_search_options"}]}"#;
        assert_eq!(tools(chat).get(Tool::SearchModel), 1);
        let gemini = r#"{"tools":[{"googleSearch":{}},{"google_search_retrieval":{}}]}"#;
        assert_eq!(tools(gemini).get(Tool::GoogleSearch), 2);
        assert!(tools(r#"{"messages":[{"content":"search the web"}]}"#).is_empty());
        // Spelled with escapes: read from the parsed body.
        let hidden = r#"{"tools":[{"type":"web_search_previe\u0077"},{"type":"code\u005fexecution_20250522"}]}"#;
        let t = tools(hidden);
        assert_eq!(
            (t.get(Tool::WebSearchPreview), t.get(Tool::CodeExecution)),
            (1, 1)
        );
    }

    #[test]
    fn media_by_reference_is_counted_by_kind() {
        let refs = |body: &str| estimate(body.as_bytes()).refs;
        let gemini = r#"{"contents":[{"parts":[
            {"fileData":{"fileUri":"gs://b/v.mp4","mimeType":"video/mp4"}},
            {"file_data":{"file_uri":"gs://b/a.mp3","mime_type":"AUDIO/mpeg"}},
            {"fileData":{"fileUri":"https://www.youtube.com/watch?v=x"}},
            {"FileData":{"fileUri":"gs://b/d.pdf","mimeType":"application/pdf"}},
            {"fileData":{"fileUri":"gs://b/i.png","mimeType":"image/png"}}]}]}"#;
        assert_eq!(
            refs(gemini),
            MediaRefs {
                video: 2,
                audio: 1,
                document: 1,
                context: 0
            }
        );
        assert_eq!(tokens(gemini), base(gemini) + IMAGE_TOKENS);
        let chat = r#"{"messages":[{"content":[{"type":"video_url","video_url":{"url":"u"}},
            {"type":"file","file":{"file_id":"file-1"}},{"type":"file","file":{"file_data":"AAAA"}}]}]}"#;
        assert_eq!(
            refs(chat),
            MediaRefs {
                video: 1,
                audio: 0,
                document: 1,
                context: 0
            }
        );
        let anthropic = r#"{"messages":[{"content":[{"type":"document","source":{"type":"url","url":"https://a.io/x.pdf"}},
            {"type":"document","source":{"type":"text","data":"short"}}]}]}"#;
        assert_eq!(refs(anthropic).document, 1);
        let responses =
            r#"{"input":[{"content":[{"type":"input_file","file_url":"https://a.io/x.pdf"}]}]}"#;
        assert_eq!(refs(responses).document, 1);
        // Hidden behind escapes: the same count.
        let hidden = r#"{"contents":[{"parts":[{"fil\u0065Data":{"fileUri":"gs://b/v.mp4","mimeType":"video/mp4"}}]}]}"#;
        assert_eq!(refs(hidden).video, 1);
    }
}
