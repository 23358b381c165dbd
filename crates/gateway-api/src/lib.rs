//! The relay API: OpenAI's `/v1/*` (and the billing dashboard), Anthropic's Messages and
//! Gemini's `/v1beta`, each answering errors in its own dialect, which the official SDKs parse.
//! One file per dialect; this one holds the route table.

mod anthropic;
mod call;
mod count;
mod dashboard;
mod error;
mod extract;
mod frames;
mod gemini;
mod openai;
mod openapi;
mod realtime;
mod tasks;

use actix_web::middleware::from_fn;
use actix_web::web;
pub use count::CountLimiter;
pub use error::OpenAiError;
pub use openapi::GatewayApiDoc;
use relay::Relay;

/// What the relay handlers reach.
pub struct GatewayState {
    pub relay: Relay,
    /// The largest request body read, in bytes (413 beyond).
    pub max_body: usize,
    /// The largest realtime client frame read, in bytes (an `error` event beyond).
    pub realtime_max_frame: usize,
    /// Token counts under way, by key.
    pub counts: CountLimiter,
}

/// The relay route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post, resource};
    let dashboard = |scope: &str| {
        web::scope(scope)
            .wrap(from_fn(error::method_not_allowed))
            .service(resource("/subscription").route(get().to(dashboard::billing_subscription)))
            .service(resource("/usage").route(get().to(dashboard::billing_usage)))
    };
    // Gemini's calls, under both of its prefixes; before OpenAI's `/v1/models/{model}`, whose
    // pattern would take their paths too (after the static routes).
    let gemini = |scope: actix_web::Scope| {
        scope
            .wrap(from_fn(error::method_not_allowed))
            .service(
                resource("/models/{model}:generateContent")
                    .route(post().to(gemini::generate_content)),
            )
            .service(
                resource("/models/{model}:streamGenerateContent")
                    .route(post().to(gemini::stream_generate_content)),
            )
            .service(resource("/models/{model}:countTokens").route(post().to(gemini::count_tokens)))
            .service(
                resource("/models/{model}:embedContent").route(post().to(gemini::embed_content)),
            )
            .service(
                resource("/models/{model}:batchEmbedContents")
                    .route(post().to(gemini::batch_embed_contents)),
            )
    };
    // The hot routes are static and come first in their scope: actix tries resources in
    // order, and each pattern with a variable is a regular expression to run.
    let v1 = web::scope("/v1")
        .service(resource("/chat/completions").route(post().to(openai::chat_completions)))
        .service(resource("/responses").route(post().to(openai::responses)))
        .service(resource("/messages").route(post().to(anthropic::messages)))
        .service(resource("/completions").route(post().to(openai::completions)))
        .service(resource("/embeddings").route(post().to(openai::embeddings)))
        .service(resource("/realtime").route(get().to(realtime::realtime)))
        .service(resource("/messages/count_tokens").route(post().to(anthropic::count_tokens)))
        .service(resource("/moderations").route(post().to(openai::moderations)))
        .service(resource("/images/generations").route(post().to(openai::image_generations)))
        .service(resource("/images/edits").route(post().to(openai::image_edits)))
        .service(resource("/images/variations").route(post().to(openai::image_variations)))
        .service(resource("/audio/transcriptions").route(post().to(openai::audio_transcriptions)))
        .service(resource("/audio/translations").route(post().to(openai::audio_translations)))
        .service(resource("/audio/speech").route(post().to(openai::audio_speech)))
        .service(resource("/models").route(get().to(openai::list_models)))
        .service(resource("/video/generations").route(post().to(tasks::video_generations)))
        .service(resource("/video/generations/{task_id}").route(get().to(tasks::video_fetch)))
        .service(resource("/videos").route(post().to(tasks::openai_videos)))
        .service(resource("/videos/{id}").route(get().to(tasks::openai_video_fetch)))
        .service(resource("/videos/{id}/content").route(get().to(tasks::openai_video_content)));
    cfg.service(
        gemini(v1)
            .service(resource("/models/{model:.*}").route(get().to(openai::get_model)))
            .service(dashboard("/dashboard/billing"))
            .default_service(web::to(error::unknown_route)),
    )
    .service(resource("/").route(web::head().to(anthropic::probe)))
    .service(
        gemini(web::scope("/v1beta"))
            .service(resource("/models").route(get().to(gemini::list_models)))
            .default_service(web::to(error::unknown_route)),
    )
    .service(dashboard("/dashboard/billing"))
    .configure(tasks::configure);
}
