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
    ended: bool,
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
        MeteredStream {
            first: Some(first),
            body,
            sse: Some(SseMeter::default()),
            meter: Some(meter),
            allowance,
            reframe,
            channel: Some(channel),
            ended: false,
        }
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
            ended: false,
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

impl Stream for MeteredStream {
    type Item = Result<Bytes, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(self.pass(first)));
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.ended = true;
                    self.finish();
                    let tail = self.reframe.take().map(|mut r| r.finish());
                    return Poll::Ready(tail.map(|t| Ok(Bytes::from(t))));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    self.finish();
                    return Poll::Ready(Some(Err(RelayError::Unavailable(e.to_string()))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(self.pass(data)));
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
    /// `chunk`, with the channel's secrets masked when it holds an error.
    fn masked(&self, chunk: Bytes) -> Bytes {
        let Some(channel) = self.channel.as_ref() else {
            return chunk;
        };
        if memchr::memmem::find(&chunk, b"\"error\"").is_none() {
            return chunk;
        }
        match std::str::from_utf8(&chunk) {
            Ok(text) => Bytes::from(mask(text, channel)),
            Err(_) => chunk,
        }
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        self.finish();
    }
}
