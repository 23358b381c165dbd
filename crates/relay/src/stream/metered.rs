//! An upstream body passed through chunk by chunk to the caller, billed when it ends, or when
//! the caller goes away (what was streamed). A stream that produces more than its reservation
//! covers (an upstream that ignores `max_tokens`) reserves more as it goes; when the balance
//! cannot cover more, it ends with [`RelayError::Insufficient`], which the API crate turns
//! into an error event in the caller's dialect. A chunk holding an upstream error has the
//! channel's secrets and addresses masked before the caller (or a converter) sees it.

use crate::billing::Meter;
use crate::convert::Reframe;
use crate::error::RelayError;
use crate::mask::mask;
use crate::routing::ChannelInfo;
use crate::stream::sse::SseMeter;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::Body as _;
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Output tokens reserved at a time when a stream passes its reservation.
const EXTEND_TOKENS: i64 = 256;

pub struct MeteredStream {
    /// The first event, read before the answer was committed.
    first: Option<Bytes>,
    body: Incoming,
    /// `None` for bodies that are passed through unread (audio).
    sse: Option<SseMeter>,
    meter: Option<Meter>,
    /// Output tokens the reservation covers so far (`None`: not counted).
    allowance: Option<i64>,
    /// Re-frames the upstream's events for a caller of another dialect.
    reframe: Option<Box<dyn Reframe>>,
    /// The channel whose secrets an error event must not show.
    channel: Option<Arc<ChannelInfo>>,
    /// Events are passed on whole, so that an error split across chunks is masked whole.
    aligned: Aligned,
    ended: bool,
    /// The call's slot among its key's calls in flight, held until the stream ends.
    permit: Option<crate::limits::Permit>,
    /// Counts the stream among the open ones while it lives.
    _open: crate::telemetry::Open,
    /// The upstream's silence and the gateway's shutdown, watched.
    watch: Option<Watch>,
    /// Durable billing: the writer the bill is committed through before the last bytes leave
    /// (the latest piece is held back one piece meanwhile), and the commit under way with the
    /// bytes it holds back.
    durable: Option<persistence::billing::BillingWriter>,
    held: Option<Bytes>,
    closing: Option<Closing>,
    /// An error to end with once the held-back piece is out.
    failed: Option<RelayError>,
}

/// What a stream watches besides its body: how long the upstream has been quiet (a timer
/// re-armed lazily, at most a second ahead, not on every frame) and whether the gateway's
/// shutdown grace is over (a flag read on every poll, and when the timer fires).
struct Watch {
    idle: std::time::Duration,
    last: tokio::time::Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
    ending: Arc<std::sync::atomic::AtomicBool>,
}

/// How often a quiet stream looks at the shutdown flag.
const WATCH_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Watch {
    fn ending(&self) -> bool {
        self.ending.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Polled while the body is pending: `Some(true)` when the upstream was quiet too long,
    /// `Some(false)` when the gateway is ending, else `None` (the timer re-armed).
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.ending() {
                return Some(false);
            }
            let quiet = self.last.elapsed();
            if quiet >= self.idle {
                return Some(true);
            }
            let next = (self.idle - quiet).min(WATCH_TICK);
            self.timer
                .as_mut()
                .reset(tokio::time::Instant::now() + next);
        }
        None
    }
}

/// The end of a durable stream: its last bytes wait for the bill's commit.
struct Closing {
    last: Bytes,
    commit: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl MeteredStream {
    pub(crate) fn events(
        first: Bytes,
        body: Incoming,
        meter: Meter,
        allowance: Option<i64>,
        reframe: Option<Box<dyn Reframe>>,
        channel: Arc<ChannelInfo>,
    ) -> Self {
        let mut stream = Self::bytes(body);
        stream.first = Some(first);
        stream.sse = Some(SseMeter::default());
        stream.meter = Some(meter);
        stream.allowance = allowance;
        stream.reframe = reframe;
        stream.channel = Some(channel);
        stream
    }

    /// Bytes passed through unread (the caller was billed already).
    pub(crate) fn bytes(body: Incoming) -> Self {
        MeteredStream {
            first: None,
            body,
            sse: None,
            meter: None,
            allowance: None,
            reframe: None,
            channel: None,
            aligned: Aligned::default(),
            ended: false,
            permit: None,
            _open: crate::telemetry::Open::new("gateway_open_streams"),
            watch: None,
            durable: None,
            held: None,
            closing: None,
            failed: None,
        }
    }

    fn finish(&mut self) {
        if let Some(mut meter) = self.meter.take() {
            let usage = self.sse.as_ref().and_then(|s| s.usage);
            meter.bill_with(usage, self.sse.as_ref());
        }
    }

    /// Feeds a chunk to the meter; past the reservation, reserves more, or says why not.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), RelayError> {
        let Some(sse) = self.sse.as_mut() else {
            return Ok(());
        };
        sse.feed(chunk);
        let produced = sse
            .usage
            .map_or(sse.events, |u| u.completion_tokens.max(sse.events));
        let (Some(allowance), Some(meter)) = (self.allowance.as_mut(), self.meter.as_mut()) else {
            return Ok(());
        };
        while produced > *allowance {
            let more = EXTEND_TOKENS.max(produced - *allowance);
            meter.extend_output(more)?;
            *allowance += more;
        }
        Ok(())
    }
}

impl MeteredStream {
    /// Gives the upstream up after `idle` without a byte, and ends the stream once `ending`
    /// is set (the shutdown grace is over): the caller gets an error event either way, and is
    /// billed for what was streamed.
    pub(crate) fn watched(
        mut self,
        idle: std::time::Duration,
        ending: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let now = tokio::time::Instant::now();
        self.watch = Some(Watch {
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle.min(WATCH_TICK))),
            ending,
        });
        self
    }

    /// Commits the stream's bill through `writer` before its last bytes leave.
    pub(crate) fn durable(mut self, writer: Option<persistence::billing::BillingWriter>) -> Self {
        self.durable = writer;
        self
    }

    /// Passes `out` on, or, for a durable stream, the piece held back before it.
    fn deliver(&mut self, out: Result<Bytes, RelayError>) -> Option<Result<Bytes, RelayError>> {
        match (out, self.durable.is_some()) {
            (Ok(bytes), true) => self.held.replace(bytes).map(Ok),
            (Ok(bytes), false) => Some(Ok(bytes)),
            (Err(e), _) => Some(self.fail(e)),
        }
    }

    /// Ends with `e`, after the piece held back (when there is one).
    fn fail(&mut self, e: RelayError) -> Result<Bytes, RelayError> {
        match self.held.take() {
            Some(held) => {
                self.failed = Some(e);
                Ok(held)
            }
            None => Err(e),
        }
    }

    /// The stream's end: `tail` (and what is held back) once the bill is committed.
    fn close(
        &mut self,
        tail: Bytes,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, RelayError>>> {
        let last = match self.held.take() {
            Some(held) => [held, tail].concat().into(),
            None => tail,
        };
        if let Some(writer) = self.durable.clone() {
            self.closing = Some(Closing {
                last,
                commit: Box::pin(async move { writer.flush().await }),
            });
            return self.poll_closing(cx);
        }
        Poll::Ready((!last.is_empty()).then_some(Ok(last)))
    }

    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, RelayError>>> {
        let Some(closing) = self.closing.as_mut() else {
            return Poll::Ready(None);
        };
        if closing.commit.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let last = std::mem::take(&mut closing.last);
        self.closing = None;
        Poll::Ready((!last.is_empty()).then_some(Ok(last)))
    }

    /// Ends the stream because the gateway is stopping.
    fn shut(&mut self) -> Poll<Option<Result<Bytes, RelayError>>> {
        self.ended = true;
        self.finish();
        Poll::Ready(Some(self.fail(RelayError::ShuttingDown)))
    }

    /// Ends the stream on an upstream fault: bills what was streamed, counts the channel's
    /// failure, and says why.
    fn broken(&mut self, why: String) -> Poll<Option<Result<Bytes, RelayError>>> {
        self.ended = true;
        self.finish();
        if let Some(channel) = &self.channel {
            tracing::warn!(channel = channel.id, "{why}");
            crate::telemetry::upstream_unreachable(channel.id);
        }
        Poll::Ready(Some(self.fail(RelayError::Unavailable(why))))
    }

    /// Holds the call's rate-limit permit until the stream ends.
    pub(crate) fn hold(&mut self, permit: crate::limits::Permit) {
        self.permit = Some(permit);
    }
}

impl Stream for MeteredStream {
    type Item = Result<Bytes, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.closing.is_some() {
            return self.poll_closing(cx);
        }
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        if self.watch.as_ref().is_some_and(Watch::ending) {
            return self.shut();
        }
        if let Some(first) = self.first.take() {
            let out = self.pass(first);
            if let Some(out) = self.deliver(out) {
                return Poll::Ready(Some(out));
            }
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    let expired = self.watch.as_mut().and_then(|w| w.expired(cx));
                    return match expired {
                        Some(true) => {
                            let idle = self.watch.as_ref().map_or(0, |w| w.idle.as_secs());
                            self.broken(format!("the upstream sent nothing for {idle} s"))
                        }
                        Some(false) => self.shut(),
                        None => Poll::Pending,
                    };
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    self.finish();
                    // What is left of an event the upstream did not finish, then the end.
                    let rest = self.aligned.flush();
                    let rest = self.masked(rest);
                    let tail = match self.reframe.take() {
                        Some(mut r) => {
                            let mut out = r.feed(&rest);
                            out.extend(r.finish());
                            Bytes::from(out)
                        }
                        None => rest,
                    };
                    return self.close(tail, cx);
                }
                Poll::Ready(Some(Err(e))) => {
                    return self.broken(format!("the upstream stream broke: {e}"));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(w) = self.watch.as_mut() {
                        w.last = tokio::time::Instant::now();
                    }
                    if let Ok(data) = frame.into_data() {
                        let out = self.pass(data);
                        if let Some(out) = self.deliver(out) {
                            return Poll::Ready(Some(out));
                        }
                    }
                }
            }
        }
    }
}

impl MeteredStream {
    /// A chunk for the caller, or the end of a stream the balance cannot pay for.
    fn pass(&mut self, chunk: Bytes) -> Result<Bytes, RelayError> {
        match self.feed(&chunk) {
            Ok(()) => {
                let chunk = match self.sse {
                    Some(_) => self.aligned.push(chunk),
                    None => chunk,
                };
                let chunk = self.masked(chunk);
                Ok(match self.reframe.as_mut() {
                    Some(r) => Bytes::from(r.feed(&chunk)),
                    None => chunk,
                })
            }
            Err(e) => {
                self.ended = true;
                self.finish();
                Err(e)
            }
        }
    }
}

impl MeteredStream {
    /// `chunk`, with the channel's secrets masked in its error events.
    fn masked(&self, chunk: Bytes) -> Bytes {
        match self.channel.as_ref() {
            Some(channel) => mask_error_events(chunk, channel),
            None => chunk,
        }
    }
}

/// `chunk` with the channel's secrets masked in its error events only: others (a Responses
/// event's `"error": null` beside the answer's text) pass as they are.
fn mask_error_events(chunk: Bytes, channel: &ChannelInfo) -> Bytes {
    if !super::ERROR_KEY.in_(&chunk) {
        return chunk;
    }
    let events: Vec<&[u8]> = split_events(&chunk);
    let errors = |event: &&[u8]| {
        event
            .split(|b| *b == b'\n')
            .filter_map(|line| line.strip_prefix(b"data:"))
            .any(|data| super::is_error_event(data.trim_ascii()))
    };
    if !events.iter().any(errors) {
        return chunk;
    }
    let mut out = Vec::with_capacity(chunk.len());
    for event in events {
        match std::str::from_utf8(event) {
            Ok(text) if errors(&event) => out.extend_from_slice(mask(text, channel).as_bytes()),
            _ => out.extend_from_slice(event),
        }
    }
    Bytes::from(out)
}

/// `chunk` cut after each blank line (the last piece may be an unfinished event).
fn split_events(chunk: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut rest = chunk;
    while let Some(end) = first_event_end(rest) {
        let (event, tail) = rest.split_at(end);
        events.push(event);
        rest = tail;
    }
    if !rest.is_empty() {
        events.push(rest);
    }
    events
}

/// The end of the first complete event in `buf` (just past its blank line).
fn first_event_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[from..]).map(|i| from + i) {
        let next = &buf[i + 1..];
        if next.starts_with(b"\n") {
            return Some(i + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(i + 3);
        }
        from = i + 1;
    }
    None
}

/// A tail held back this long without the end of its event is passed on as it is.
const HOLD_LIMIT: usize = 256 << 10;

/// Re-cuts a stream of server-sent events at event boundaries: what follows the last blank
/// line of a chunk waits for the rest of its event. The bytes are the upstream's, in order;
/// chunks that end on an event (the usual case) pass without a copy.
#[derive(Default)]
struct Aligned {
    held: Vec<u8>,
}

/// The end of the last complete event in `buf` (just past its blank line, `\n\n` or
/// `\r\n\r\n`).
fn events_end(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(i) = memchr::memrchr(b'\n', &buf[..end]) {
        let before = &buf[..i];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return Some(i + 1);
        }
        end = i;
    }
    None
}

impl Aligned {
    /// The complete events `chunk` finishes (possibly none yet).
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let ready = if self.held.is_empty() {
            match events_end(&chunk) {
                Some(end) if end == chunk.len() => return chunk,
                Some(end) => {
                    self.held.extend_from_slice(&chunk[end..]);
                    chunk.slice(..end)
                }
                None => {
                    self.held.extend_from_slice(&chunk);
                    Bytes::new()
                }
            }
        } else {
            self.held.extend_from_slice(&chunk);
            match events_end(&self.held) {
                Some(end) => {
                    let rest = self.held.split_off(end);
                    Bytes::from(std::mem::replace(&mut self.held, rest))
                }
                None => Bytes::new(),
            }
        };
        if self.held.len() > HOLD_LIMIT {
            let mut all = ready.to_vec();
            all.append(&mut self.held);
            return Bytes::from(all);
        }
        ready
    }

    /// What is held, at the end of the stream.
    fn flush(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.held))
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_events_are_masked() {
        let channel = crate::mask::test_channel();
        let done = "data: {\"type\":\"response.completed\",\"response\":{\"error\":null,\"output\":[{\"text\":\"Vec::new at localhost:8080, Bearer abc\"}]}}\n\n";
        let failed = "data: {\"error\":{\"message\":\"key secret-upstream-key-123 at api.example.com:8443\"}}\n\n";
        let chunk = Bytes::from(format!("{done}{failed}"));
        let out = mask_error_events(chunk, &channel);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(done), "{text}");
        assert!(
            !text.contains("secret-upstream-key-123") && !text.contains("api.example.com"),
            "{text}"
        );
        let plain = Bytes::from(done);
        assert_eq!(mask_error_events(plain.clone(), &channel), plain);
    }

    #[test]
    fn events_pass_whole() {
        let mut a = Aligned::default();
        let whole = Bytes::from_static(b"data: 1\n\ndata: 2\n\n");
        assert_eq!(
            a.push(whole.clone()),
            whole,
            "whole events pass as they are"
        );
        assert_eq!(
            &a.push(Bytes::from_static(b"data: {\"error\": \"sk-ab"))[..],
            b""
        );
        assert_eq!(
            &a.push(Bytes::from_static(b"cd\"}\r\n\r\ndata: 3"))[..],
            b"data: {\"error\": \"sk-abcd\"}\r\n\r\n"
        );
        assert_eq!(&a.push(Bytes::from_static(b"\n\n"))[..], b"data: 3\n\n");
        assert_eq!(&a.push(Bytes::from_static(b"data: 4"))[..], b"");
        assert_eq!(&a.flush()[..], b"data: 4");
    }
}
