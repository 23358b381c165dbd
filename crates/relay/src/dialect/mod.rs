//! Inbound wire formats: what the relay reads of a caller's request in each dialect (a file
//! each). Only the fields that route and price a call are read; the rest passes through.

pub mod gemini;
mod media;
pub mod openai;

use domain::pricing::{ImageAsk, MediaRefs, Tier, ToolCalls};
pub(crate) use media::{Estimate, IMAGE_TOKENS, estimate};

pub use openai::Endpoint;

/// An API dialect, spoken by callers and by upstream families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
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
    /// Media the prompt names by reference, reserved at their worst case.
    pub media: MediaRefs,
    /// Image and inline file parts of the prompt (in `prompt_estimate` at 1 500 tokens each).
    pub images: i64,
    /// The service tier asked for (`service_tier`).
    pub tier: Tier,
    /// The server-side tools the request names.
    pub tools: ToolCalls,
    /// An image call's quality and size, which its price depends on.
    pub image: Option<ImageAsk>,
    /// Seconds of audio an upload holds (as read from it, or the most its size could hold).
    pub seconds: Option<i64>,
}

/// Audio tokens a second of speech is reserved for, on models priced by their tokens
/// (gpt-4o-transcribe bills about 17 a second: 0.006 USD a minute at 6 USD per 1M), and
/// output tokens a second of it may be written as.
const AUDIO_TOKENS_PER_SECOND: i64 = 25;
const TEXT_TOKENS_PER_SECOND: i64 = 10;

impl CallSpec {
    /// An upload of `seconds` of audio: priced by the second where its model is, else by the
    /// tokens that many seconds are heard and written as.
    pub(crate) fn hear(&mut self, seconds: i64) {
        self.seconds = Some(seconds);
        self.prompt_estimate = seconds.saturating_mul(AUDIO_TOKENS_PER_SECOND);
        self.output = Some(Output {
            limit: Some(seconds.saturating_mul(TEXT_TOKENS_PER_SECOND).max(1)),
            choices: 1,
        });
    }
}

/// How much text an answer may generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Output {
    /// `max_tokens` or its like; `None` = the model's maximum.
    pub limit: Option<i64>,
    /// Answers generated at once (`n`).
    pub choices: i64,
}
