//! Reading usage out of an OpenAI server-sent-event stream as it passes through, without
//! holding the stream: lines are scanned chunk by chunk, and only a `data:` line that mentions
//! `"usage"` is parsed.

use super::Needle;
use domain::pricing::{Cached, Tier, Tool, ToolCalls};
use memchr::memmem::Finder;
use serde::Deserialize;

/// Token counts an upstream reported. `prompt_tokens` counts every prompt token, those the
/// provider read from or wrote to its cache included (`cached`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "UsageFields")]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached: Cached,
    /// Server-side tool calls the answer reports (Anthropic's `server_tool_use`, Responses'
    /// tool call items, Gemini's grounding), priced per call.
    pub tools: ToolCalls,
    /// The service tier the upstream ran the call in, when it says.
    pub tier: Option<Tier>,
    /// Prompt tokens that were images (gpt-image's `input_tokens_details.image_tokens`).
    pub image_in: i64,
    /// Output tokens that were images (Gemini's `candidatesTokensDetails` of modality IMAGE).
    pub image_out: i64,
    /// Prompt tokens that were audio (a transcription's `input_token_details.audio_tokens`).
    pub audio_in: i64,
    /// Output tokens that were audio (chat's `completion_tokens_details.audio_tokens`).
    pub audio_out: i64,
    /// Seconds of audio heard, rounded up (whisper's `usage` of type `duration`).
    pub seconds: Option<i64>,
    /// Of the prompt tokens written to the cache, those written for an hour (Anthropic's
    /// `cache_creation.ephemeral_1h_input_tokens`).
    pub cache_written_1h: i64,
}

impl Usage {
    /// Usage reported in parts over a stream (Anthropic: the prompt in `message_start`, the
    /// output in `message_delta`): each count is the largest reported.
    fn merge(self, other: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens.max(other.prompt_tokens),
            completion_tokens: self.completion_tokens.max(other.completion_tokens),
            cached: Cached {
                read: self.cached.read.max(other.cached.read),
                written: self.cached.written.max(other.cached.written),
            },
            tools: self.tools.max(other.tools),
            tier: other.tier.or(self.tier),
            image_in: self.image_in.max(other.image_in),
            image_out: self.image_out.max(other.image_out),
            audio_in: self.audio_in.max(other.audio_in),
            audio_out: self.audio_out.max(other.audio_out),
            seconds: other.seconds.or(self.seconds),
            cache_written_1h: self.cache_written_1h.max(other.cache_written_1h),
        }
    }
}

/// Usage as upstreams spell it: OpenAI chat (`prompt_tokens`, with
/// `prompt_tokens_details.cached_tokens` among them), OpenAI's other endpoints and Responses
/// (`input_tokens`, `input_tokens_details.cached_tokens` among them), Anthropic (`input_tokens`
/// without the cache's tokens, which come as `cache_read_input_tokens` and
/// `cache_creation_input_tokens`). OpenAI's chat names win when both are there.
#[derive(Deserialize)]
struct UsageFields {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    prompt_tokens_details: Option<CachedDetails>,
    input_tokens_details: Option<CachedDetails>,
    cache_read_input_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    cache_creation: Option<CacheCreation>,
    server_tool_use: Option<ServerToolUse>,
    completion_tokens_details: Option<CachedDetails>,
    /// A transcription's: `audio_tokens` among the input tokens.
    input_token_details: Option<AudioDetails>,
    /// whisper's `{"type": "duration", "seconds": N}` (`duration` in older answers).
    seconds: Option<f64>,
    duration: Option<f64>,
}

#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_1h_input_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct AudioDetails {
    audio_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct ServerToolUse {
    web_search_requests: Option<i64>,
}

#[derive(Deserialize)]
struct CachedDetails {
    cached_tokens: Option<i64>,
    /// gpt-image: the prompt's image tokens.
    image_tokens: Option<i64>,
    /// Chat with audio: the prompt's (or the output's) audio tokens.
    audio_tokens: Option<i64>,
}

impl From<UsageFields> for Usage {
    fn from(u: UsageFields) -> Self {
        let anthropic_read = u.cache_read_input_tokens.unwrap_or(0).max(0);
        let anthropic_written = u.cache_creation_input_tokens.unwrap_or(0).max(0);
        let details = u.prompt_tokens_details.or(u.input_tokens_details);
        let openai_read = details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .max(0);
        let image_in = details
            .as_ref()
            .and_then(|d| d.image_tokens)
            .unwrap_or(0)
            .max(0);
        let chat_audio_in = details.and_then(|d| d.audio_tokens).unwrap_or(0).max(0);
        // Every figure is clamped at zero: a negative count would lower the bill.
        let prompt = match u.prompt_tokens {
            Some(p) => p.max(0),
            None => u
                .input_tokens
                .unwrap_or(0)
                .max(0)
                .saturating_add(anthropic_read)
                .saturating_add(anthropic_written),
        };
        Usage {
            prompt_tokens: prompt,
            completion_tokens: u.completion_tokens.or(u.output_tokens).unwrap_or(0).max(0),
            cached: Cached {
                read: openai_read.max(anthropic_read),
                written: anthropic_written,
            },
            tools: {
                let mut tools = ToolCalls::default();
                let searches = u.server_tool_use.and_then(|t| t.web_search_requests);
                tools.add(Tool::WebSearch, searches.unwrap_or(0));
                tools
            },
            tier: None,
            image_in,
            image_out: 0,
            audio_in: u
                .input_token_details
                .and_then(|d| d.audio_tokens)
                .unwrap_or(0)
                .max(0)
                .max(chat_audio_in),
            audio_out: u
                .completion_tokens_details
                .and_then(|d| d.audio_tokens)
                .unwrap_or(0)
                .max(0),
            cache_written_1h: u
                .cache_creation
                .and_then(|c| c.ephemeral_1h_input_tokens)
                .unwrap_or(0)
                .clamp(0, anthropic_written),
            seconds: u
                .seconds
                .or(u.duration)
                .filter(|s| s.is_finite())
                .map(|s| s.max(0.0).ceil().min(1e12) as i64),
        }
    }
}

/// Gemini's `usageMetadata`: the prompt counts its cached tokens; thinking is billed as output.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: Option<i64>,
    /// What tools (URL context, search grounding) read: billed as input.
    tool_use_prompt_token_count: Option<i64>,
    candidates_token_count: Option<i64>,
    thoughts_token_count: Option<i64>,
    cached_content_token_count: Option<i64>,
    candidates_tokens_details: Option<Vec<ModalityCount>>,
    prompt_tokens_details: Option<Vec<ModalityCount>>,
}

/// The tokens of `modality` in Gemini's per-modality counts.
fn modality(details: Option<Vec<ModalityCount>>, modality: &str) -> i64 {
    details
        .into_iter()
        .flatten()
        .filter(|d| d.modality.as_deref() == Some(modality))
        .map(|d| d.token_count.unwrap_or(0).max(0))
        .fold(0, i64::saturating_add)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModalityCount {
    modality: Option<String>,
    token_count: Option<i64>,
}

impl From<GeminiUsage> for Usage {
    fn from(u: GeminiUsage) -> Self {
        Usage {
            prompt_tokens: u
                .prompt_token_count
                .unwrap_or(0)
                .max(0)
                .saturating_add(u.tool_use_prompt_token_count.unwrap_or(0).max(0)),
            completion_tokens: u
                .candidates_token_count
                .unwrap_or(0)
                .max(0)
                .saturating_add(u.thoughts_token_count.unwrap_or(0).max(0)),
            cached: Cached {
                read: u.cached_content_token_count.unwrap_or(0).max(0),
                written: 0,
            },
            image_out: modality(u.candidates_tokens_details, "IMAGE"),
            audio_in: modality(u.prompt_tokens_details, "AUDIO"),
            ..Usage::default()
        }
    }
}

#[derive(Deserialize, Default)]
struct WithUsage {
    usage: Option<Usage>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<GeminiUsage>,
    /// Anthropic's `message_start` event carries it in its message.
    message: Option<Box<WithUsage>>,
    /// OpenAI Responses' `response.completed` event carries it in its response.
    response: Option<Box<WithUsage>>,
    /// The tier OpenAI ran the call in (chat answers and chunks, Responses' response).
    service_tier: Option<String>,
    /// Responses' output items: server-side tool calls among them.
    output: Option<Vec<OutputItem>>,
    /// Gemini's candidates: their grounding says how many searches ran.
    candidates: Option<Vec<Candidate>>,
}

#[derive(Deserialize)]
struct OutputItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    container_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    grounding_metadata: Option<Grounding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grounding {
    web_search_queries: Option<Vec<serde::de::IgnoredAny>>,
}

impl WithUsage {
    /// The server-side tool calls of Responses' output items (code interpreter: one per
    /// container) and of Gemini's grounding (a grounded prompt, and its search queries).
    fn tools(&self) -> ToolCalls {
        let mut tools = ToolCalls::default();
        let mut containers: Vec<&str> = Vec::new();
        for item in self.output.iter().flatten() {
            let tool = match item.kind.as_deref() {
                Some("web_search_call") => Tool::WebSearch,
                Some("file_search_call") => Tool::FileSearch,
                Some("image_generation_call") => Tool::ImageGeneration,
                Some("code_interpreter_call") => {
                    let id = item.container_id.as_deref().unwrap_or_default();
                    if containers.contains(&id) {
                        continue;
                    }
                    containers.push(id);
                    Tool::CodeInterpreter
                }
                _ => continue,
            };
            tools.add(tool, 1);
        }
        // A grounded prompt is one, whatever its candidates; each query is billed.
        let mut grounded = false;
        for grounding in self
            .candidates
            .iter()
            .flatten()
            .filter_map(|c| c.grounding_metadata.as_ref())
        {
            grounded = true;
            let queries = grounding.web_search_queries.as_ref().map_or(0, Vec::len);
            tools.add(Tool::GoogleSearchQuery, queries as i64);
        }
        tools.add(Tool::GoogleSearch, i64::from(grounded));
        tools
    }
}

/// The `usage` of a complete JSON answer or of one stream event, when it has one, with what
/// the answer reports beside it (its tier, its server-side tool calls).
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let parsed = serde_json::from_slice::<WithUsage>(body).ok()?;
    let tools = parsed.tools();
    let tier = parsed.service_tier.as_deref().map(Tier::parse);
    let (usage, inner) = match (parsed.usage, parsed.usage_metadata) {
        (Some(u), _) => (Some(u), None),
        (None, Some(g)) => (Some(Usage::from(g)), None),
        (None, None) => {
            let inner = parsed.message.or(parsed.response);
            (inner.as_ref().and_then(|m| m.usage), inner)
        }
    };
    let mut usage = usage?;
    if let Some(inner) = inner {
        usage.tools = usage.tools.max(inner.tools());
        usage.tier = inner.service_tier.as_deref().map(Tier::parse);
    }
    usage.tools = usage.tools.max(tools);
    usage.tier = usage.tier.or(tier);
    Some(usage)
}

/// Watches an SSE byte stream.
#[derive(Debug, Default)]
pub struct SseMeter {
    partial: Vec<u8>,
    /// The last usage reported by the upstream.
    pub usage: Option<Usage>,
    /// Whether that usage counts the whole answer: Anthropic's `message_start` reports only
    /// the prompt (and one output token) until `message_delta` comes.
    pub complete: bool,
    /// Data events seen (other than `[DONE]` and a usage-only event).
    pub events: i64,
    /// The first events' data (up to [`RETAIN`] bytes), counted with tiktoken when the stream
    /// ends without usage.
    pub retained: Vec<u8>,
    /// Events that did not fit in `retained` (about one token each).
    pub overflow_events: i64,
    /// Server-side tool calls the events showed as they ran.
    pub tools_seen: ToolCalls,
}

/// Bytes of event data kept per stream for local counting.
pub const RETAIN: usize = 32 << 10;

impl SseMeter {
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(pos);
            if self.partial.is_empty() {
                self.line(line);
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.line(&joined);
            }
            rest = &tail[1..];
        }
        self.partial.extend_from_slice(rest);
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            return;
        }
        // `"usage` finds both `"usage"` and Gemini's `"usageMetadata"` in one scan.
        if USAGE.in_(data)
            && let Some(u) = usage_of(data)
        {
            self.usage = Some(self.usage.map_or(u, |seen| seen.merge(u)));
            if !MESSAGE_START.in_(data) {
                self.complete = true;
            }
            if !DELTA.in_(data) || NO_CHOICES.in_(data) {
                return;
            }
        }
        if !self.complete {
            self.tool_event(data);
        }
        self.events += 1;
        if !self.complete && self.retained.len() + data.len() < RETAIN {
            self.retained.extend_from_slice(data);
            self.retained.push(b'\n');
        } else {
            self.overflow_events += 1;
        }
    }
}

/// Server-side tool calls as a stream shows them when they run (a stream cut before its
/// closing usage still owes them): Responses' finished output items, Anthropic's server tool
/// blocks.
#[derive(Deserialize)]
struct ToolEvent {
    item: Option<OutputItem>,
    content_block: Option<ToolBlock>,
}

#[derive(Deserialize)]
struct ToolBlock {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
}

impl SseMeter {
    fn tool_event(&mut self, data: &[u8]) {
        if !(ITEM_DONE.in_(data) || SERVER_TOOL.in_(data)) {
            return;
        }
        let Ok(event) = serde_json::from_slice::<ToolEvent>(data) else {
            return;
        };
        let seen = WithUsage {
            output: event.item.map(|i| vec![i]),
            ..WithUsage::default()
        };
        let mut tools = seen.tools();
        if let Some(block) = event.content_block
            && block.kind.as_deref() == Some("server_tool_use")
            && block.name.as_deref() == Some("web_search")
        {
            tools.add(Tool::WebSearch, 1);
        }
        for (tool, n) in tools.iter() {
            if tool == Tool::CodeInterpreter && self.tools_seen.get(tool) > 0 {
                // One container a stream (the answer's own report counts them apart).
                continue;
            }
            self.tools_seen.add(tool, n);
        }
    }
}

static ITEM_DONE: Needle = Needle::new(|| Finder::new(b"\"response.output_item.done\""));
static SERVER_TOOL: Needle = Needle::new(|| Finder::new(b"\"server_tool_use\""));
static USAGE: Needle = Needle::new(|| Finder::new(b"\"usage"));
static MESSAGE_START: Needle = Needle::new(|| Finder::new(b"\"message_start\""));
static DELTA: Needle = Needle::new(|| Finder::new(b"\"delta\""));
static NO_CHOICES: Needle = Needle::new(|| Finder::new(b"\"choices\":[]"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_usage_across_chunk_borders() {
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2,\"total_tokens\":10}}\n\ndata: [DONE]\n\n";
        for split in [1, 7, 30, 80, stream.len() - 3] {
            let mut m = SseMeter::default();
            m.feed(&stream[..split]);
            m.feed(&stream[split..]);
            assert_eq!(
                m.usage,
                Some(Usage {
                    prompt_tokens: 8,
                    completion_tokens: 2,
                    ..Usage::default()
                }),
                "split {split}"
            );
            assert_eq!(m.events, 2);
        }
    }

    #[test]
    fn without_usage_counts_events() {
        let mut m = SseMeter::default();
        m.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n: comment\n");
        assert_eq!((m.usage, m.events), (None, 2));
    }

    #[test]
    fn usage_of_json() {
        assert_eq!(
            usage_of(br#"{"id":"x","usage":{"prompt_tokens":3,"total_tokens":3}}"#),
            Some(Usage {
                prompt_tokens: 3,
                ..Usage::default()
            })
        );
        assert_eq!(usage_of(b"{}"), None);
        assert_eq!(
            usage_of(br#"{"data":[],"usage":{"input_tokens":50,"output_tokens":4160}}"#),
            Some(Usage {
                prompt_tokens: 50,
                completion_tokens: 4160,
                ..Usage::default()
            })
        );
        // OpenAI counts cached tokens among the prompt's.
        assert_eq!(
            usage_of(br#"{"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":80}}}"#),
            Some(Usage {
                prompt_tokens: 100,
                completion_tokens: 5,
                cached: Cached { read: 80, written: 0 },
                ..Usage::default()
            })
        );
    }

    #[test]
    fn negative_usage_is_clamped_in_every_spelling() {
        let clamped = |body: &[u8]| usage_of(body).map(|u| (u.prompt_tokens, u.completion_tokens));
        assert_eq!(
            clamped(br#"{"usage":{"prompt_tokens":5000,"completion_tokens":-100000}}"#),
            Some((5000, 0))
        );
        assert_eq!(
            clamped(br#"{"usage":{"prompt_tokens":-5,"completion_tokens":3}}"#),
            Some((0, 3))
        );
        assert_eq!(
            clamped(br#"{"usage":{"input_tokens":-900,"output_tokens":-1,"cache_read_input_tokens":100}}"#),
            Some((100, 0))
        );
        assert_eq!(
            clamped(br#"{"type":"response.completed","response":{"usage":{"input_tokens":10,"output_tokens":-7}}}"#),
            Some((10, 0))
        );
        assert_eq!(
            clamped(br#"{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":50,"thoughtsTokenCount":-50}}"#),
            Some((10, 50))
        );
        assert_eq!(
            clamped(br#"{"usageMetadata":{"promptTokenCount":-10,"candidatesTokenCount":-5}}"#),
            Some((0, 0))
        );
        // In a stream, a later negative report does not undo an earlier one.
        let mut m = SseMeter::default();
        m.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5000,\"completion_tokens\":-100000}}\n\n");
        assert_eq!(m.usage.map(|u| u.completion_tokens), Some(0));
    }

    #[test]
    fn tools_run_in_a_cut_stream_are_seen() {
        let mut m = SseMeter::default();
        m.feed(b"event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"web_search_call\",\"status\":\"completed\"}}\n\n");
        m.feed(b"data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"code_interpreter_call\",\"container_id\":\"c\"}}\n\n");
        m.feed(b"data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"code_interpreter_call\",\"container_id\":\"c\"}}\n\n");
        m.feed(b"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\",\"input\":{}}}\n\n");
        m.feed(b"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"server_tool_use\"}}\n\n");
        assert!(!m.complete);
        assert_eq!(m.tools_seen.get(Tool::WebSearch), 2);
        assert_eq!(m.tools_seen.get(Tool::CodeInterpreter), 1);
    }

    #[test]
    fn transcription_usage() {
        let whisper = usage_of(br#"{"text":"hi","usage":{"type":"duration","seconds":61.2}}"#);
        assert_eq!(whisper.and_then(|u| u.seconds), Some(62));
        let hostile = usage_of(br#"{"usage":{"type":"duration","seconds":-5}}"#);
        assert_eq!(hostile.and_then(|u| u.seconds), Some(0));
        let tokens = usage_of(br#"{"usage":{"type":"tokens","input_tokens":120,"input_token_details":{"audio_tokens":100,"text_tokens":20},"output_tokens":30}}"#);
        assert_eq!(
            tokens.map(|u| (u.prompt_tokens, u.audio_in, u.completion_tokens)),
            Some((120, 100, 30))
        );
    }

    #[test]
    fn gemini_usage_metadata() {
        let event = br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":5,"thoughtsTokenCount":20,"cachedContentTokenCount":60,"totalTokenCount":125}}"#;
        let mut m = SseMeter::default();
        m.feed(b"data: ");
        m.feed(event);
        m.feed(b"\r\n\r\n");
        assert_eq!(
            m.usage,
            Some(Usage {
                prompt_tokens: 100,
                completion_tokens: 25,
                cached: Cached {
                    read: 60,
                    written: 0
                },
                ..Usage::default()
            })
        );
    }

    #[test]
    fn anthropic_usage_across_a_stream() {
        // The prompt (without the cache's tokens) in message_start, the output in message_delta.
        let stream = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":20,"cache_creation_input_tokens":100,"cache_read_input_tokens":800,"output_tokens":1}}}"#,
            "\n\nevent: content_block_delta\n",
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            "\n\nevent: message_delta\n",
            r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}"#,
            "\n\n"
        );
        // Cut before message_delta: the usage is the prompt's only, the deltas are kept.
        let cut = &stream[..stream.find("event: message_delta").unwrap_or_default()];
        let mut m = SseMeter::default();
        m.feed(cut.as_bytes());
        assert!(!m.complete);
        assert_eq!(m.usage.map(|u| u.completion_tokens), Some(1));
        assert!(String::from_utf8_lossy(&m.retained).contains("text_delta"));
        let mut m = SseMeter::default();
        m.feed(stream.as_bytes());
        assert!(m.complete);
        assert_eq!(
            m.usage,
            Some(Usage {
                prompt_tokens: 920,
                completion_tokens: 42,
                cached: Cached {
                    read: 800,
                    written: 100
                },
                ..Usage::default()
            })
        );
    }
}
