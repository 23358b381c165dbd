//! Reading usage out of an OpenAI server-sent-event stream as it passes through, without
//! holding the stream: lines are scanned chunk by chunk, and only a `data:` line that mentions
//! `"usage"` is parsed. Also the first event of a stream, read before the answer is committed.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use std::time::Duration;

/// Token counts an upstream reported (`input_tokens` / `output_tokens` on the endpoints that
/// name them so: image generation, audio transcription, Responses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "UsageFields")]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Usage as upstreams spell it; OpenAI's chat names win when both are there.
#[derive(Deserialize)]
struct UsageFields {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

impl From<UsageFields> for Usage {
    fn from(u: UsageFields) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens.or(u.input_tokens).unwrap_or(0),
            completion_tokens: u.completion_tokens.or(u.output_tokens).unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<Usage>,
}

/// The `usage` of a complete JSON answer, when it has one.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<WithUsage>(body).ok()?.usage
}

/// Watches an SSE byte stream.
#[derive(Debug, Default)]
pub struct SseMeter {
    partial: Vec<u8>,
    /// The last usage reported by the upstream.
    pub usage: Option<Usage>,
    /// Data events seen (other than `[DONE]` and a usage-only event).
    pub events: i64,
    /// The first events' data (up to [`RETAIN`] bytes), counted with tiktoken when the stream
    /// ends without usage.
    pub retained: Vec<u8>,
    /// Events that did not fit in `retained` (about one token each).
    pub overflow_events: i64,
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
        if memchr(data, b"\"usage\"")
            && let Some(u) = usage_of(data)
        {
            self.usage = Some(u);
            if !memchr(data, b"\"delta\"") || memchr(data, b"\"choices\":[]") {
                return;
            }
        }
        self.events += 1;
        if self.usage.is_none() && self.retained.len() + data.len() < RETAIN {
            self.retained.extend_from_slice(data);
            self.retained.push(b'\n');
        } else {
            self.overflow_events += 1;
        }
    }
}

/// What the start of an upstream stream turned out to be.
pub(crate) enum FirstEvent {
    Data(Bytes),
    /// An error event in place of the answer.
    Error(Bytes),
    /// The stream failed or ended before any data.
    Broken(String),
}

/// Reads up to the first data of a stream, waiting at most `timeout`.
pub(crate) async fn first_event(body: &mut Incoming, timeout: Duration) -> FirstEvent {
    loop {
        match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return FirstEvent::Broken("timed out waiting for the first event".into()),
            Ok(None) => return FirstEvent::Broken("the stream ended without data".into()),
            Ok(Some(Err(e))) => return FirstEvent::Broken(e.to_string()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if data.is_empty() {
                        continue;
                    }
                    let first = sse_data(&data);
                    let is_error = memchr(first, b"\"error\"")
                        && serde_json::from_slice::<serde_json::Value>(first)
                            .is_ok_and(|v| v.get("error").is_some_and(|e| !e.is_null()));
                    return if is_error {
                        FirstEvent::Error(data)
                    } else {
                        FirstEvent::Data(data)
                    };
                }
            }
        }
    }
}

/// The payload of the first `data:` line of an SSE chunk (the chunk itself when it has none).
pub(crate) fn sse_data(chunk: &[u8]) -> &[u8] {
    chunk
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"data:"))
        .map(|d| {
            let d = d.strip_prefix(b" ").unwrap_or(d);
            d.strip_suffix(b"\r").unwrap_or(d)
        })
        .unwrap_or(chunk)
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

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
                    completion_tokens: 2
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
                completion_tokens: 0
            })
        );
        assert_eq!(usage_of(b"{}"), None);
        assert_eq!(
            usage_of(br#"{"data":[],"usage":{"input_tokens":50,"output_tokens":4160}}"#),
            Some(Usage {
                prompt_tokens: 50,
                completion_tokens: 4160
            })
        );
    }
}
