//! Anthropic's Messages API: `POST /v1/messages` (also with `?beta=true`, as Claude Code sends
//! it) relayed to Anthropic channels as the caller's bytes (the caller's `anthropic-version`
//! and `anthropic-beta` go along) or converted for OpenAI channels, and
//! `POST /v1/messages/count_tokens`, counted here. Keys
//! come from `x-api-key` or `Authorization`; errors are Anthropic's
//! `{"type":"error","error":{...}}`, also as a stream's closing `error` event.

use crate::GatewayState;
use crate::call::{Shape, relay_call};
use crate::error::AnthropicError;
use crate::extract::Admitted;

use actix_web::{HttpRequest, HttpResponse, web};
use relay::{Endpoint, RelayError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Create a message, streamed (Anthropic's events) or not.
#[utoipa::path(post, path = "/v1/messages", tag = "anthropic",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Anthropic's request body; passed to Anthropic channels untouched (but a mapped `model`), converted for OpenAI and Gemini channels (text, system, images, documents, tools and tool results; thinking blocks sent are dropped, reasoning returned comes back as thinking). A priced field (`model`, `max_tokens`, `stream`) sent twice or in another letter case is refused."),
    responses(
        (status = 200, description = "Anthropic's answer (JSON, or `text/event-stream` when `stream` is true)"),
        (status = 400, body = AnthropicError), (status = 401, body = AnthropicError),
        (status = 403, body = AnthropicError), (status = 404, body = AnthropicError, description = "No enabled channel lists the model."),
        (status = 413, body = AnthropicError), (status = 503, body = AnthropicError, description = "The channels that list the model all failed.")),
    security(("api_key" = []), ("anthropic_key" = [])))]
pub(crate) async fn messages(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    payload: web::Payload,
    caller: Admitted,
) -> HttpResponse {
    relay_call(state, req, payload, caller, Shape::Json(Endpoint::Messages)).await
}

#[derive(Deserialize)]
struct CountRequest {
    model: String,
}

/// Anthropic's token count.
#[derive(Serialize, ToSchema)]
pub struct TokenCount {
    input_tokens: i64,
}

/// Count a message's input tokens (locally, with an OpenAI tokenizer: an estimate of Claude's
/// count; images and tools are not counted). Free, for keys with a balance left; bodies up to
/// 2 MiB, two counts at once per key.
#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "anthropic",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "A Messages request body (`model`, `messages`, `system`, ...)."),
    responses((status = 200, body = TokenCount),
        (status = 400, body = AnthropicError, description = "The body is not a JSON object with a `model`."),
        (status = 403, body = AnthropicError, description = "The key's or its user's balance is used up."),
        (status = 413, body = AnthropicError, description = "The body is over 2 MiB."),
        (status = 429, body = AnthropicError, description = "The key has two counts under way.")),
    security(("api_key" = []), ("anthropic_key" = [])))]
pub(crate) async fn count_tokens(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    payload: web::Payload,
    Admitted(caller): Admitted,
) -> HttpResponse {
    let counted = crate::count::count_tokens(&state, &req, payload, &caller, |body| {
        let request: CountRequest = serde_json::from_slice(body)
            .map_err(|e| RelayError::BadRequest(format!("the request body is not valid: {e}")))?;
        Ok(relay::tokenizer::prompt_tokens(&request.model, body))
    })
    .await;
    match counted {
        Ok(input_tokens) => HttpResponse::Ok().json(TokenCount { input_tokens }),
        Err(resp) => resp,
    }
}

/// Answers a connectivity probe (Claude Code sends `HEAD /` before its first request).
#[utoipa::path(head, path = "/", tag = "anthropic",
    responses((status = 200, description = "The gateway is up.")))]
pub(crate) async fn probe() -> HttpResponse {
    HttpResponse::Ok().finish()
}
