//! A realtime client's byte stream, watched frame by frame before actix's WebSocket codec sees
//! it: the codec keeps a frame's every byte until the whole frame has arrived and only then
//! compares its length with the limit, so a frame declared at gigabytes would be held in
//! memory. Here each frame header's declared length is read as it arrives, and a frame over
//! the limit ends the stream at once (`oversize` tells the session why).

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Where the watcher is in the frame sequence.
enum At {
    /// Reading a frame header: the bytes of it seen so far (at most 14).
    Header(Vec<u8>),
    /// Inside a frame's payload: bytes of it still to come.
    Payload(u64),
}

pub(crate) struct FrameLimit<S> {
    inner: S,
    at: At,
    max: u64,
    oversize: Arc<AtomicBool>,
    done: bool,
}

impl<S> FrameLimit<S> {
    pub(crate) fn new(inner: S, max: usize, oversize: Arc<AtomicBool>) -> Self {
        FrameLimit {
            inner,
            at: At::Header(Vec::with_capacity(14)),
            max: u64::try_from(max).unwrap_or(u64::MAX),
            oversize,
            done: false,
        }
    }

    /// Follows `chunk` through the frames; false when a frame declares more than the limit.
    fn follow(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            match &mut self.at {
                At::Payload(left) => {
                    let take = (*left).min(chunk.len() as u64);
                    *left -= take;
                    chunk = &chunk[usize::try_from(take).unwrap_or(chunk.len())..];
                    if *left == 0 {
                        self.at = At::Header(Vec::with_capacity(14));
                    }
                }
                At::Header(seen) => {
                    let want = header_len(seen);
                    let take = (want - seen.len()).min(chunk.len());
                    seen.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if seen.len() < header_len(seen) {
                        continue;
                    }
                    let length = declared(seen);
                    if length > self.max {
                        return false;
                    }
                    self.at = match length {
                        0 => At::Header(Vec::with_capacity(14)),
                        n => At::Payload(n),
                    };
                }
            }
        }
        true
    }
}

/// How long a frame header is, as far as its first bytes tell (2 until they are there).
fn header_len(seen: &[u8]) -> usize {
    let Some(second) = seen.get(1) else {
        return 2;
    };
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// The payload length a whole header declares.
fn declared(header: &[u8]) -> u64 {
    match header[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => header[2..10]
            .iter()
            .fold(0_u64, |n, b| (n << 8) | u64::from(*b)),
        n => u64::from(n),
    }
}

impl<S> Stream for FrameLimit<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.follow(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.done = true;
                    self.oversize.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u64) -> Vec<u8> {
        let mut f = vec![0x81];
        match len {
            0..=125 => f.push(0x80 | len as u8),
            126..=65_535 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&len.to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.resize(
            f.len() + usize::try_from(len.min(1 << 20)).unwrap_or(0),
            b'x',
        );
        f
    }

    #[test]
    fn frames_are_followed_across_chunks_and_oversize_is_caught_at_the_header() {
        let limit = |max: usize, bytes: &[u8], step: usize| {
            let mut watch = FrameLimit::new((), max, Arc::new(AtomicBool::new(false)));
            bytes.chunks(step).all(|c| watch.follow(c))
        };
        let mut stream = frame(10);
        stream.extend(frame(300));
        stream.extend(frame(70_000));
        stream.extend(frame(0));
        for step in [1, 3, 7, 1000, stream.len()] {
            assert!(limit(100_000, &stream, step), "step {step}");
            assert!(!limit(50_000, &stream, step), "step {step}");
        }
        // Gigabytes declared in a 14-byte header: refused before any payload arrives.
        let mut huge = vec![0x81, 0x80 | 127];
        huge.extend_from_slice(&(8_u64 << 30).to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        assert!(!limit(16 << 20, &huge, 5));
        let mut top = vec![0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert!(!limit(16 << 20, &top, 14));
        top.clear();
    }
}
