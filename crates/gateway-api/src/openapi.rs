//! The OpenAPI document of the relay routes. Bodies are the providers' own; every error is the
//! route's dialect's (OpenAI's, Anthropic's or Google's). [`CommonResponses`] adds what every
//! authenticated relay operation answers: 401 for a
//! missing or bad key, 403 for a refused one, 500, and on calls that reach an upstream any other
//! status that upstream answered.

use crate::{anthropic, dashboard, gemini, openai, realtime, tasks};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "api_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("sk-...")
                        .description(Some(
                            "`Authorization: Bearer sk-...`, an API key made with \
                             `POST /api/token` (not an `/api` access token).",
                        ))
                        .build(),
                ),
            );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "goog_api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "x-goog-api-key",
                    "The same API key in Gemini's header (`x-goog-api-key: sk-...`; `?key=` works \
                     too).",
                ))),
            );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "anthropic_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "x-api-key",
                    "The same API key in Anthropic's header (`x-api-key: sk-...`).",
                ))),
            );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "mj_api_secret",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "mj-api-secret",
                    "The same API key as midjourney-proxy's clients send it \
                     (`mj-api-secret: sk-...`).",
                ))),
            );
    }
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "Success.",
        "400" => "Invalid request, or the model has no price set.",
        "401" => "No API key, or an unknown, disabled or expired one.",
        "403" => {
            "Refused: the user is banned, the key may not be used from this IP or for this model, \
             or the user's or key's quota cannot cover the call (`insufficient_user_quota`, \
             `insufficient_token_quota`)."
        }
        "404" => "Not found.",
        "413" => "The body is over `APP__SERVER__MAX_BODY_BYTES`.",
        "429" => {
            "A rate limit is reached (the key's requests or tokens a minute or calls in flight, \
             or the user's model requests): `Retry-After` says when to retry."
        }
        "500" => "Internal error; the detail is logged, never sent.",
        "502" => "No upstream could be reached.",
        "503" => "No enabled channel serves the model.",
        "default" => {
            "The status an upstream answered when no other channel could serve the call, with \
             its error (key-like strings, hosts and addresses of the channel masked)."
        }
        _ => "See the error.",
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.head]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// Operations served under a second prefix, documented again there with their own operation
/// ids: the billing dashboard under `/v1` (old clients call either), and Gemini's calls under
/// `/v1` (the google-genai SDK's default) as well as `/v1beta`.
struct V1Aliases;

impl V1Aliases {
    fn alias(path: &str) -> Option<String> {
        if path.starts_with("/dashboard/") {
            Some(format!("/v1{path}"))
        } else if path.starts_with("/v1beta/models/{model}:") {
            Some(path.replacen("/v1beta/", "/v1/", 1))
        } else {
            None
        }
    }
}

impl Modify for V1Aliases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let aliases: Vec<(String, PathItem)> = openapi
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let alias = Self::alias(path)?;
                let mut item = item.clone();
                for op in operations(&mut item) {
                    op.operation_id = op.operation_id.take().map(|id| format!("{id}_v1"));
                }
                Some((alias, item))
            })
            .collect();
        openapi.paths.paths.extend(aliases);
    }
}

struct CommonResponses;

/// The error schema of a relay path: its dialect's.
pub(crate) fn error_schema(path: &str) -> &'static str {
    if path.starts_with("/v1/messages") {
        "AnthropicError"
    } else if path.starts_with("/v1beta/") || path.starts_with("/v1/models/{model}:") {
        "GeminiError"
    } else if ["/mj/", "/suno/", "/kling/", "/v1/video/"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        "TaskError"
    } else {
        "OpenAiError"
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let error_content = Content::new(Some(Ref::from_schema_name(error_schema(path))));
            for op in operations(item) {
                if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                    continue;
                }
                let reaches_upstream = op.request_body.is_some();
                let responses = &mut op.responses.responses;
                let mut add = |status: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(Response::new("")));
                };
                add("401");
                add("403");
                add("500");
                if reaches_upstream {
                    add("429");
                    add("400");
                    add("413");
                    add("502");
                    add("503");
                    add("default");
                }
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if response.description.is_empty() {
                        response.description = default_description(status).to_owned();
                    }
                    if !status.starts_with('2') && response.content.is_empty() {
                        response
                            .content
                            .insert("application/json".into(), error_content.clone().into());
                    }
                }
            }
        }
    }
}

/// The OpenAPI document of the relay routes.
#[derive(OpenApi)]
#[openapi(
    components(schemas(crate::OpenAiError, crate::error::AnthropicError, crate::error::GeminiError,
        tasks::views::TaskError)),
    modifiers(&ApiKeyScheme, &V1Aliases, &CommonResponses),
    paths(
        openai::list_models, openai::get_model, openai::chat_completions, openai::responses,
        realtime::realtime,
        openai::completions,
        openai::embeddings, openai::moderations, openai::image_generations, openai::image_edits,
        openai::image_variations, openai::audio_transcriptions, openai::audio_translations,
        openai::audio_speech, dashboard::billing_subscription, dashboard::billing_usage,
        anthropic::messages, anthropic::count_tokens, anthropic::probe,
        gemini::generate_content, gemini::stream_generate_content, gemini::count_tokens,
        gemini::embed_content, gemini::batch_embed_contents,
        gemini::list_models,
        tasks::mj_imagine, tasks::mj_change, tasks::mj_simple_change, tasks::mj_describe,
        tasks::mj_blend, tasks::mj_action, tasks::mj_modal, tasks::mj_fetch, tasks::mj_list,
        tasks::suno_music, tasks::suno_lyrics, tasks::suno_fetch, tasks::suno_list,
        tasks::video_generations, tasks::video_fetch, tasks::openai_videos,
        tasks::openai_video_fetch, tasks::openai_video_content, tasks::kling_text2video, tasks::kling_image2video,
        tasks::kling_fetch,
    )
)]
pub struct GatewayApiDoc;
