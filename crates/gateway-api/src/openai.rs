//! OpenAI's `/v1` endpoints: JSON calls, multipart uploads and the model list. Every handler
//! checks the key from the headers before it reads the body.

use crate::GatewayState;
use crate::call::{Shape, relay_call};
use crate::error::{OpenAiError, relay_error};
use crate::extract::{Admitted, Key};
use actix_web::{HttpRequest, HttpResponse, web};
use relay::{Endpoint, RelayError};
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! json_endpoint {
    ($name:ident, $endpoint:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "relay",
            request_body(content = serde_json::Value, content_type = "application/json",
                description = "OpenAI's request body; passed to OpenAI channels untouched (but `model` mapping and, on streams, `stream_options.include_usage`); chat and Responses calls on Anthropic or Gemini channels are converted. A priced field (`model`, `n`, `max_tokens`, `stream`, ...) sent twice or in another letter case is refused."),
            responses(
                (status = 200, description = "OpenAI's answer (JSON, or `text/event-stream` when `stream` is true)"),
                (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
                (status = 403, body = OpenAiError, description = "`insufficient_user_quota`, `insufficient_token_quota`, `model_not_allowed`, ..."),
                (status = 413, body = OpenAiError, description = "the body is over `APP__SERVER__MAX_BODY_BYTES`"),
                (status = 503, body = OpenAiError, description = "no enabled channel serves the model")),
            security(("api_key" = [])))]
        pub(crate) async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            payload: web::Payload,
            caller: Admitted,
        ) -> HttpResponse {
            relay_call(state, req, payload, caller, Shape::Json($endpoint)).await
        }
    };
}

json_endpoint!(
    chat_completions,
    Endpoint::ChatCompletions,
    "/v1/chat/completions",
    "Chat completions, streamed or not."
);
json_endpoint!(
    responses,
    Endpoint::Responses,
    "/v1/responses",
    "OpenAI Responses (what the Codex CLI speaks), streamed or not. `background: true` is refused (400); a stored conversation or prompt is reserved at its worst case; server-side tools are billed per call."
);
json_endpoint!(
    completions,
    Endpoint::Completions,
    "/v1/completions",
    "Text completions, streamed or not."
);
json_endpoint!(
    embeddings,
    Endpoint::Embeddings,
    "/v1/embeddings",
    "Embeddings."
);
json_endpoint!(
    moderations,
    Endpoint::Moderations,
    "/v1/moderations",
    "Moderations (default model omni-moderation-latest)."
);
json_endpoint!(
    image_generations,
    Endpoint::ImageGenerations,
    "/v1/images/generations",
    "Image generation (`n` from 1 to 10): DALL-E priced per image by `quality` and `size`, the gpt-image models by the image tokens they report."
);
json_endpoint!(
    audio_speech,
    Endpoint::AudioSpeech,
    "/v1/audio/speech",
    "Speech: the audio streams back; priced by input characters."
);

macro_rules! upload_endpoint {
    ($name:ident, $endpoint:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "relay",
            request_body(content = String, content_type = "multipart/form-data",
                description = "OpenAI's form, in any field order; read whole (up to `APP__SERVER__MAX_BODY_BYTES`) and sent upstream re-encoded with the model it was priced for. `model` or `n` sent twice or in another letter case is refused."),
            responses(
                (status = 200, description = "OpenAI's answer"),
                (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
                (status = 403, body = OpenAiError), (status = 413, body = OpenAiError),
                (status = 503, body = OpenAiError)),
            security(("api_key" = [])))]
        pub(crate) async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            payload: web::Payload,
            caller: Admitted,
        ) -> HttpResponse {
            relay_call(state, req, payload, caller, Shape::Upload($endpoint)).await
        }
    };
}

upload_endpoint!(
    image_edits,
    Endpoint::ImageEdits,
    "/v1/images/edits",
    "Image edits (multipart)."
);
upload_endpoint!(
    image_variations,
    Endpoint::ImageVariations,
    "/v1/images/variations",
    "Image variations (multipart)."
);
upload_endpoint!(
    audio_transcriptions,
    Endpoint::AudioTranscriptions,
    "/v1/audio/transcriptions",
    "Audio transcription (multipart): whisper-1 priced by the second of the recording, the gpt-4o transcribe models by their tokens."
);
upload_endpoint!(
    audio_translations,
    Endpoint::AudioTranslations,
    "/v1/audio/translations",
    "Audio translation (multipart)."
);

fn owner_of(model: &str) -> &'static str {
    let m = model.to_ascii_lowercase();
    if m.starts_with("claude") {
        "anthropic"
    } else if m.starts_with("gemini") {
        "google"
    } else if m.starts_with("deepseek") {
        "deepseek"
    } else {
        "openai"
    }
}

fn model_object(id: &str) -> ModelObject {
    ModelObject {
        id: id.to_owned(),
        object: "model",
        created: 1_626_777_600,
        owned_by: owner_of(id),
    }
}

/// The models the key may use.
#[utoipa::path(get, path = "/v1/models", tag = "relay",
    responses((status = 200, body = ModelList), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
pub(crate) async fn list_models(state: web::Data<GatewayState>, Key(c): Key) -> HttpResponse {
    let data = state
        .relay
        .models_for(&c)
        .iter()
        .map(|m| model_object(m))
        .collect();
    HttpResponse::Ok().json(ModelList {
        object: "list",
        data,
    })
}

/// One model, when the key may use it.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "relay", params(("model" = String, Path)),
    responses((status = 200, body = ModelObject), (status = 401, body = OpenAiError),
        (status = 404, body = OpenAiError)),
    security(("api_key" = [])))]
pub(crate) async fn get_model(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    Key(c): Key,
) -> HttpResponse {
    let model = model.into_inner();
    if state.relay.models_for(&c).contains(&model) {
        HttpResponse::Ok().json(model_object(&model))
    } else {
        relay_error(&RelayError::ModelNotFound(model), &req)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelObject {
    id: String,
    object: &'static str,
    created: i64,
    owned_by: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}
