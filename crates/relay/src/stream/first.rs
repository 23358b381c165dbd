//! The first event of an upstream stream, read before the answer is committed to the caller.
//! It is judged whole, however the upstream cut it into frames: an error event that arrives
//! in two frames is still an error (another channel may take the call, nothing is billed),
//! not the start of a 200.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use std::fmt::Display;
use std::time::Duration;

/// The most read while waiting for the first event to be complete. An error event is never
/// this long; a first event that is (an image inline in a Gemini chunk) is passed on as data.
pub(crate) const FIRST_EVENT_LIMIT: usize = 1 << 20;

/// What the start of an upstream stream turned out to be.
#[derive(Debug)]
pub(crate) enum FirstEvent {
    /// Everything read so far: the first data event whole, and what came with it.
    Data(Bytes),
    /// The data of an error event in place of the answer.
    Error(Bytes),
    /// The stream failed or ended before any data.
    Broken(String),
}

/// Reads until the first event with data is complete (ended by a blank line, or by the end of
/// the stream), waiting at most `timeout` in all and reading at most [`FIRST_EVENT_LIMIT`].
pub(crate) async fn first_event<B>(body: &mut B, timeout: Duration) -> FirstEvent
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Display,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut held = BytesMut::new();
    let mut scan = Scan::default();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return FirstEvent::Broken("timed out waiting for the first event".into()),
            Ok(Some(Err(e))) => return FirstEvent::Broken(e.to_string()),
            Ok(None) => {
                // The last event of a stream may lack its blank line.
                return match event_data(&held[scan.event..]) {
                    Some(data) => judge(&data, held.freeze()),
                    None => FirstEvent::Broken("the stream ended without data".into()),
                };
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if held.is_empty() {
            // The usual case: the first frame holds the first event whole; pass it on as it is.
            if let Some(data) = scan.complete_data(&chunk) {
                return judge(&data, chunk);
            }
            held.extend_from_slice(&chunk);
        } else {
            held.extend_from_slice(&chunk);
            if let Some(data) = scan.complete_data(&held) {
                return judge(&data, held.freeze());
            }
        }
        if held.len() > FIRST_EVENT_LIMIT {
            return FirstEvent::Data(held.freeze());
        }
    }
}

/// How far the bytes held were read: each byte is looked at once, however the upstream cut
/// its frames.
#[derive(Default)]
struct Scan {
    /// Where the first event not yet complete starts.
    event: usize,
    /// Where the first line not yet complete starts.
    line: usize,
}

impl Scan {
    /// The data of the first complete event with data in `buf` (all bytes held so far); the
    /// complete events without data (comments, keep-alives) are passed over.
    fn complete_data(&mut self, buf: &[u8]) -> Option<Vec<u8>> {
        while let Some(pos) = buf[self.line..].iter().position(|b| *b == b'\n') {
            let line = &buf[self.line..self.line + pos];
            self.line += pos + 1;
            if line.is_empty() || line == b"\r" {
                let event = &buf[self.event..self.line];
                self.event = self.line;
                if let Some(data) = event_data(event) {
                    return Some(data);
                }
            }
        }
        None
    }
}

/// The data of one event: its `data:` lines joined by newlines; `None` when it has none.
fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            match &mut data {
                Some(d) => {
                    d.push(b'\n');
                    d.extend_from_slice(value);
                }
                None => data = Some(value.to_vec()),
            }
        }
    }
    data
}

/// An error event (OpenAI's and Gemini's `error`, Anthropic's error event, a Responses
/// stream's `response.failed`) or the start of the answer, all of `read` passed on.
fn judge(data: &[u8], read: Bytes) -> FirstEvent {
    // A first event that does not parse is passed on (the stream fails later if it is bad).
    let is_error = super::is_error_event(data)
        && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    if is_error {
        FirstEvent::Error(Bytes::copy_from_slice(data))
    } else {
        FirstEvent::Data(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    async fn first_of(frames: &[&[u8]]) -> FirstEvent {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = frames
            .iter()
            .map(|f| Ok(Frame::data(Bytes::copy_from_slice(f))))
            .collect();
        let mut body = StreamBody::new(futures_util::stream::iter(frames));
        first_event(&mut body, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn an_error_event_in_two_frames_is_an_error() {
        let event = b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        for cut in [3, 10, 20, event.len() - 2, event.len() - 1] {
            let (a, b) = event.split_at(cut);
            match first_of(&[a, b, b"data: [DONE]\n\n"]).await {
                FirstEvent::Error(data) => assert!(data.starts_with(b"{\"error\""), "{cut}"),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn data_is_passed_on_with_everything_read() {
        let stream: &[&[u8]] = &[
            b": keep-alive\n\n",
            b"event: message_start\r\ndata: {\"type\":",
            b"\"message_start\"}\r\n\r\ndata: {\"x\":1}",
        ];
        match first_of(stream).await {
            FirstEvent::Data(read) => assert_eq!(read, stream.concat()),
            other => panic!("{other:?}"),
        }
        // One frame with a whole event passes without a copy.
        let one = b"data: {\"choices\":[]}\n\ndata: {\"choices\"";
        match first_of(&[one]).await {
            FirstEvent::Data(read) => assert_eq!(&read[..], one),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn anthropic_and_responses_errors_and_endings() {
        let anthropic = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"m\"}}\n\n";
        assert!(matches!(
            first_of(&[&anthropic[..9], &anthropic[9..]]).await,
            FirstEvent::Error(_)
        ));
        let failed = b"data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\"}}}";
        assert!(matches!(first_of(&[failed]).await, FirstEvent::Error(_)));
        assert!(matches!(
            first_of(&[b": ping\n\n"]).await,
            FirstEvent::Broken(_)
        ));
        assert!(matches!(first_of(&[]).await, FirstEvent::Broken(_)));
    }

    #[tokio::test]
    async fn a_first_event_past_the_limit_is_data() {
        let big = vec![b'a'; FIRST_EVENT_LIMIT + 10];
        let mut start = b"data: {\"error\":\"".to_vec();
        start.extend_from_slice(&big);
        match first_of(&[&start, b"\"}\n\n"]).await {
            FirstEvent::Data(read) => assert_eq!(read.len(), start.len()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn waits_at_most_the_timeout_in_all() {
        let slow = futures_util::stream::unfold(0, |n| async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let frame: Result<Frame<Bytes>, std::convert::Infallible> =
                Ok(Frame::data(Bytes::from_static(b"data: {\"x\"")));
            (n < 100).then_some((frame, n + 1))
        });
        let mut body = StreamBody::new(Box::pin(slow));
        let started = std::time::Instant::now();
        let first = first_event(&mut body, Duration::from_millis(200)).await;
        assert!(matches!(first, FirstEvent::Broken(_)), "{first:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
