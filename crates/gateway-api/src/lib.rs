//! The relay API: OpenAI-compatible `/v1/*` and the billing dashboard, answering errors in
//! OpenAI's dialect, which the official SDKs parse. One file per dialect; this one holds the
//! route table and the OpenAPI document.

mod dashboard;
mod error;
mod extract;
mod openai;

use actix_web::web;
pub use error::OpenAiError;
use relay::Relay;

/// What the relay handlers reach.
pub struct GatewayState {
    pub relay: Relay,
    /// The largest request body read, in bytes (413 beyond).
    pub max_body: usize,
}

/// The relay route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    let dashboard = |scope: &str| {
        web::scope(scope)
            .route("/subscription", get().to(dashboard::billing_subscription))
            .route("/usage", get().to(dashboard::billing_usage))
    };
    cfg.service(dashboard("/dashboard/billing")).service(
        web::scope("/v1")
            .route("/models", get().to(openai::list_models))
            .route("/models/{model:.*}", get().to(openai::get_model))
            .route("/chat/completions", post().to(openai::chat_completions))
            .route("/completions", post().to(openai::completions))
            .route("/embeddings", post().to(openai::embeddings))
            .route("/moderations", post().to(openai::moderations))
            .route("/images/generations", post().to(openai::image_generations))
            .route("/images/edits", post().to(openai::image_edits))
            .route("/images/variations", post().to(openai::image_variations))
            .route(
                "/audio/transcriptions",
                post().to(openai::audio_transcriptions),
            )
            .route("/audio/translations", post().to(openai::audio_translations))
            .route("/audio/speech", post().to(openai::audio_speech))
            .service(dashboard("/dashboard/billing"))
            .default_service(web::to(error::unknown_route)),
    );
}

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "api_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The OpenAPI document of the relay routes. Bodies are OpenAI's own; errors are OpenAI's shape.
#[derive(utoipa::OpenApi)]
#[openapi(
    modifiers(&ApiKeyScheme),
    paths(
        openai::list_models, openai::get_model, openai::chat_completions, openai::completions,
        openai::embeddings, openai::moderations, openai::image_generations, openai::image_edits,
        openai::image_variations, openai::audio_transcriptions, openai::audio_translations,
        openai::audio_speech, dashboard::billing_subscription, dashboard::billing_usage,
    )
)]
pub struct GatewayApiDoc;
