//! OpenAI's endpoints and the few fields of their requests the relay reads. A field is read
//! once: a request naming a priced field twice, or in another letter case (`"Model"`, which a
//! case-insensitive upstream would run), is refused.

use super::{CallSpec, Dialect, Output};
use crate::error::RelayError;
use crate::upload::Form;
use bytes::Bytes;
use domain::pricing::{ImageAsk, Tier, ToolCalls, image_output_tokens};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The endpoints relayed: OpenAI's, and Anthropic's Messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// OpenAI's Responses API (`POST /v1/responses`).
    Responses,
    /// Gemini's `models/{model}:generateContent`.
    GenerateContent,
    /// Gemini's `models/{model}:streamGenerateContent`, asked for as server-sent events.
    StreamGenerateContent,
    /// Gemini's `models/{model}:embedContent`.
    EmbedContent,
    /// Gemini's `models/{model}:batchEmbedContents`.
    BatchEmbedContents,
    /// Anthropic's `POST /v1/messages` (its fields read here are named as OpenAI's are).
    Messages,
    ChatCompletions,
    Completions,
    Embeddings,
    Moderations,
    ImageGenerations,
    ImageEdits,
    ImageVariations,
    AudioTranscriptions,
    AudioTranslations,
    AudioSpeech,
}

/// Images one call may ask for.
const MAX_IMAGES: i64 = 10;
/// Answers one chat call may ask for (OpenAI's limit).
const MAX_CHOICES: i64 = 128;

impl Endpoint {
    /// The path after `/v1`, as upstreams and Azure's deployment URLs name it.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
            Endpoint::GenerateContent => "generateContent",
            Endpoint::StreamGenerateContent => "streamGenerateContent",
            Endpoint::EmbedContent => "embedContent",
            Endpoint::BatchEmbedContents => "batchEmbedContents",
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Moderations => "moderations",
            Endpoint::ImageGenerations => "images/generations",
            Endpoint::ImageEdits => "images/edits",
            Endpoint::ImageVariations => "images/variations",
            Endpoint::AudioTranscriptions => "audio/transcriptions",
            Endpoint::AudioTranslations => "audio/translations",
            Endpoint::AudioSpeech => "audio/speech",
        }
    }

    /// The dialect the endpoint's requests and answers are in.
    pub fn dialect(self) -> Dialect {
        match self {
            Endpoint::Messages => Dialect::Anthropic,
            Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
            | Endpoint::EmbedContent
            | Endpoint::BatchEmbedContents => Dialect::Gemini,
            _ => Dialect::OpenAi,
        }
    }

    fn streams(self) -> bool {
        matches!(
            self,
            Endpoint::ChatCompletions
                | Endpoint::Completions
                | Endpoint::Messages
                | Endpoint::Responses
        )
    }

    /// Whether a stream of this endpoint reports its usage only when asked to with
    /// `stream_options.include_usage` (OpenAI's chat and text completions; Responses and
    /// Anthropic always report it, and refuse the field).
    pub(crate) fn asks_for_stream_usage(self) -> bool {
        matches!(self, Endpoint::ChatCompletions | Endpoint::Completions)
    }

    /// Whether the endpoint takes a recording (transcriptions, translations).
    pub(crate) fn hears_audio(self) -> bool {
        matches!(
            self,
            Endpoint::AudioTranscriptions | Endpoint::AudioTranslations
        )
    }

    fn makes_images(self) -> bool {
        matches!(
            self,
            Endpoint::ImageGenerations | Endpoint::ImageEdits | Endpoint::ImageVariations
        )
    }

    /// The model a request without one means.
    fn default_model(self) -> Option<&'static str> {
        match self {
            Endpoint::Moderations => Some("omni-moderation-latest"),
            Endpoint::ImageGenerations | Endpoint::ImageEdits | Endpoint::ImageVariations => {
                Some("dall-e-2")
            }
            Endpoint::AudioTranscriptions | Endpoint::AudioTranslations => Some("whisper-1"),
            _ => None,
        }
    }

    /// Routes and prices a JSON request; returns whether it carries `stream_options`.
    pub(crate) fn read_json(self, body: &[u8]) -> Result<(CallSpec, bool), RelayError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let fields = de
            .deserialize_map(FieldsVisitor)
            .and_then(|f| de.end().map(|()| f))
            .map_err(|e| RelayError::BadRequest(format!("the request body is not valid: {e}")))?;
        let estimate = if self == Endpoint::AudioSpeech {
            super::Estimate {
                tokens: fields
                    .input
                    .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
                    .map_or(0, |i| i.chars().count() as i64),
                ..Default::default()
            }
        } else {
            super::estimate(body)
        };
        // Text completions answer each prompt of a list apart.
        let prompts = match fields.prompt {
            Some(raw) if self == Endpoint::Completions => prompts_in(raw)?,
            _ => 1,
        };
        let limits: Vec<i64> = [
            fields.max_tokens,
            fields.max_completion_tokens,
            fields.max_output_tokens,
        ]
        .into_iter()
        .flatten()
        .collect();
        let limit = match limits[..] {
            [] => None,
            [m] if m < 0 => {
                return Err(RelayError::BadRequest(
                    "`max_tokens` must not be negative".into(),
                ));
            }
            // No limit: the upstream's default, which is the model's maximum.
            [0] => None,
            [m] => Some(m),
            _ => {
                return Err(RelayError::BadRequest(
                    "give one of `max_tokens`, `max_completion_tokens` and `max_output_tokens`"
                        .into(),
                ));
            }
        };
        let has_stream_options = fields.stream_options;
        let mut spec = self.spec(
            fields.model.map(Cow::into_owned),
            fields.n,
            fields.best_of,
            limit,
            fields.stream == Some(true),
            estimate,
        )?;
        if let Some(output) = spec.output.as_mut() {
            output.choices = output.choices.saturating_mul(prompts);
        }
        spec.tier = fields
            .service_tier
            .as_deref()
            .map_or(Tier::Standard, Tier::parse);
        if self == Endpoint::Responses {
            // Work the immediate answer does not show is not taken on: a background response
            // runs (and is billed by the upstream) after the answer, which the gateway does
            // not see. A stored conversation or prompt is billed in the answer's usage, and
            // reserved at its worst case.
            if fields.background == Some(true) {
                return Err(RelayError::BadRequest(
                    "`background` responses are not supported: the gateway bills a response \
                     from its answer"
                        .into(),
                ));
            }
            let set = |raw: Option<&RawValue>| raw.is_some_and(|r| r.get() != "null");
            let stored_prompt = fields.prompt.is_some_and(|p| p.get().starts_with('{'));
            spec.media.context = [
                set(fields.previous_response_id),
                set(fields.conversation),
                stored_prompt,
            ]
            .into_iter()
            .map(i64::from)
            .sum();
        }
        spec.tools = estimate.tools;
        self.price_images(&mut spec, fields.quality, fields.size);
        Ok((spec, has_stream_options))
    }

    /// Routes and prices a multipart upload from the fields it sends upstream.
    pub(crate) fn read_form(self, form: &Form) -> Result<CallSpec, RelayError> {
        let n = match form.text("n")? {
            Some(n) => Some(n.trim().parse::<i64>().map_err(|_| {
                RelayError::BadRequest(format!("`n` must be a whole number, not {n:?}"))
            })?),
            None => None,
        };
        let model = form.text("model")?.map(|m| m.trim().to_owned());
        // An edit's prompt and the images it sends are prompt tokens to the models priced by
        // their tokens: reserved as a JSON call's are.
        let prompt = form.text("prompt")?.map_or(0, str::len);
        let estimate = super::Estimate {
            tokens: i64::try_from(prompt / 4)
                .unwrap_or(i64::MAX)
                .saturating_add(form.files().saturating_mul(super::media::IMAGE_TOKENS)),
            ..Default::default()
        };
        let mut spec = self.spec(model, n, None, None, false, estimate)?;
        let quality = form
            .text("quality")?
            .map(|q| Cow::Owned(q.trim().to_owned()));
        let size = form.text("size")?.map(|s| Cow::Owned(s.trim().to_owned()));
        self.price_images(&mut spec, quality, size);
        Ok(spec)
    }

    fn spec(
        self,
        model: Option<String>,
        n: Option<i64>,
        best_of: Option<i64>,
        limit: Option<i64>,
        stream: bool,
        estimate: super::Estimate,
    ) -> Result<CallSpec, RelayError> {
        let model = match model.filter(|m| !m.is_empty()) {
            Some(m) => m,
            None => self
                .default_model()
                .ok_or_else(|| RelayError::BadRequest("`model` is required".into()))?
                .to_owned(),
        };
        let in_range = |name: &str, v: Option<i64>, max: i64| match v {
            Some(v) if !(1..=max).contains(&v) => Err(RelayError::BadRequest(format!(
                "`{name}` must be from 1 to {max}"
            ))),
            v => Ok(v.unwrap_or(1)),
        };
        let (count, output) = if self.makes_images() {
            (in_range("n", n, MAX_IMAGES)?, None)
        } else if self.streams() {
            let choices = in_range("n", n, MAX_CHOICES)?.max(in_range("best_of", best_of, 20)?);
            (1, Some(Output { limit, choices }))
        } else {
            (1, None)
        };
        Ok(CallSpec {
            model,
            stream: self.streams() && stream,
            count,
            output,
            prompt_estimate: estimate.tokens,
            media: estimate.refs,
            images: estimate.images,
            tier: Tier::Standard,
            tools: ToolCalls::default(),
            image: None,
            seconds: None,
        })
    }

    /// An image call is priced by its quality and size: per image (DALL-E), or by the output
    /// tokens its images cost (the gpt-image models, which report them; `n` images of the
    /// most tokens the quality and size can take are reserved).
    fn price_images(
        self,
        spec: &mut CallSpec,
        quality: Option<Cow<'_, str>>,
        size: Option<Cow<'_, str>>,
    ) {
        if !self.makes_images() {
            return;
        }
        let ask = ImageAsk {
            quality: quality.map(Cow::into_owned),
            size: size.map(Cow::into_owned),
        };
        if spec.model.starts_with("gpt-image") {
            spec.output = Some(Output {
                limit: Some(image_output_tokens(
                    ask.quality.as_deref(),
                    ask.size.as_deref(),
                )),
                choices: spec.count,
            });
        }
        spec.image = Some(ask);
    }
}

/// The prompts of a text completion's `prompt`: a string or one list of token ids is one; a
/// list of strings or of token lists is one each.
fn prompts_in(raw: &RawValue) -> Result<i64, RelayError> {
    if !raw.get().starts_with('[') {
        return Ok(1);
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|e| RelayError::BadRequest(format!("`prompt` is not valid: {e}")))?;
    let token_list = items.iter().all(|i| {
        i.get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
    });
    Ok(if token_list {
        1
    } else {
        i64::try_from(items.len()).unwrap_or(i64::MAX)
    })
}

/// The body sent upstream: the caller's bytes untouched, except for a mapped model name and,
/// on streams, `stream_options.include_usage` (spliced in without a parse when the caller sent
/// no `stream_options`).
pub(crate) fn upstream_json(
    body: &Bytes,
    model: &str,
    upstream_model: &str,
    stream: bool,
    has_stream_options: bool,
) -> Result<Bytes, RelayError> {
    if upstream_model == model && !stream {
        return Ok(body.clone());
    }
    if upstream_model == model && !has_stream_options {
        let text = body.as_ref();
        let open = text.iter().position(|b| *b == b'{').ok_or_else(|| {
            RelayError::BadRequest("the request body is not a JSON object".into())
        })?;
        let rest = &text[open + 1..];
        let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        let mut out = Vec::with_capacity(text.len() + 48);
        out.extend_from_slice(&text[..=open]);
        out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        return Ok(Bytes::from(out));
    }
    let mut json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| {
            RelayError::BadRequest(format!("the request body is not a JSON object: {e}"))
        })?;
    json.insert(
        "model".into(),
        serde_json::Value::String(upstream_model.to_owned()),
    );
    if stream {
        let opts = json
            .entry("stream_options")
            .or_insert_with(|| serde_json::json!({}));
        match opts.as_object_mut() {
            Some(o) => {
                o.insert("include_usage".into(), serde_json::Value::Bool(true));
            }
            None => *opts = serde_json::json!({"include_usage": true}),
        }
    }
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| RelayError::Internal(e.to_string()))
}

/// The top-level fields read; any other letter case of one of them is refused.
const READ: [&str; 16] = [
    "model",
    "stream",
    "n",
    "best_of",
    "max_tokens",
    "max_completion_tokens",
    "input",
    "stream_options",
    "max_output_tokens",
    "prompt",
    "service_tier",
    "quality",
    "size",
    "background",
    "previous_response_id",
    "conversation",
];

/// Whether `key` matches the ASCII `field` under Unicode simple case folding, as Go's
/// `encoding/json` matches keys: letter case aside, the Kelvin sign (U+212A) folds to `k` and
/// the long s (U+017F) to `s`.
fn folds_to(key: &str, field: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(field.chars())
}

#[derive(Default)]
struct Fields<'a> {
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    n: Option<i64>,
    best_of: Option<i64>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    input: Option<&'a RawValue>,
    stream_options: bool,
    max_output_tokens: Option<i64>,
    prompt: Option<&'a RawValue>,
    service_tier: Option<Cow<'a, str>>,
    quality: Option<Cow<'a, str>>,
    size: Option<Cow<'a, str>>,
    background: Option<bool>,
    previous_response_id: Option<&'a RawValue>,
    conversation: Option<&'a RawValue>,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut f = Fields::default();
        let mut seen = [false; READ.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some(i) = READ.iter().position(|k| *k == key) else {
                if let Some(k) = READ.iter().find(|k| folds_to(&key, k)) {
                    return Err(de::Error::custom(format!(
                        "the field `{key}` differs from `{k}` only by letter case"
                    )));
                }
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::custom(format!(
                    "the field `{key}` appears twice"
                )));
            }
            match i {
                0 => f.model = map.next_value()?,
                1 => f.stream = map.next_value()?,
                2 => f.n = map.next_value()?,
                3 => f.best_of = map.next_value()?,
                4 => f.max_tokens = map.next_value()?,
                5 => f.max_completion_tokens = map.next_value()?,
                6 => f.input = map.next_value()?,
                7 => {
                    map.next_value::<IgnoredAny>()?;
                    f.stream_options = true;
                }
                8 => f.max_output_tokens = map.next_value()?,
                9 => f.prompt = map.next_value()?,
                10 => f.service_tier = map.next_value()?,
                11 => f.quality = map.next_value()?,
                12 => f.size = map.next_value()?,
                13 => f.background = map.next_value()?,
                14 => f.previous_response_id = map.next_value()?,
                _ => f.conversation = map.next_value()?,
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
