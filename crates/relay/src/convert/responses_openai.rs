//! Placeholder, filled in by the converter's own commit.

use super::{Events, SseData, bad};
use crate::error::RelayError;
use bytes::Bytes;

pub(crate) fn request(_body: &[u8], _model: &str, _stream: bool) -> Result<Bytes, RelayError> {
    Err(bad("not yet"))
}

pub(crate) fn response(_body: &[u8], _model: &str) -> Result<Bytes, RelayError> {
    Err(bad("not yet"))
}

pub(crate) struct StreamToResponses {
    lines: SseData,
}

impl StreamToResponses {
    pub(crate) fn new(_model: &str) -> Self {
        StreamToResponses {
            lines: SseData::default(),
        }
    }
}

impl Events for StreamToResponses {
    fn lines(&mut self) -> &mut SseData {
        &mut self.lines
    }

    fn event(&mut self, _data: &[u8], _out: &mut Vec<u8>) {}

    fn end(&mut self) -> Vec<u8> {
        Vec::new()
    }
}
