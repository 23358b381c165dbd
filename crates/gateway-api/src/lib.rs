//! The relay API: OpenAI-compatible `/v1/*` and the billing dashboard, answering errors in
//! OpenAI's dialect, which the official SDKs parse.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use relay::{Caller, Endpoint, Relay, RelayBody, RelayError};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;

/// What the relay handlers reach.
pub struct GatewayState {
    pub relay: Arc<Relay>,
}

/// The request id the server's middleware put on the request.
fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An error body in OpenAI's dialect; the message names the request id.
pub fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Option<&str>,
    request_id: &str,
) -> HttpResponse {
    let message = if request_id.is_empty() {
        message.to_owned()
    } else {
        format!("{message} (request id: {request_id})")
    };
    HttpResponse::build(status).json(OpenAiError {
        error: OpenAiErrorBody {
            message,
            kind: kind.to_owned(),
            param: None,
            code: code.map(str::to_owned),
        },
    })
}

fn relay_error(err: &RelayError, req: &HttpRequest) -> HttpResponse {
    if let RelayError::Internal(detail) | RelayError::Unavailable(detail) = err {
        tracing::error!(error = %detail, request_id = %request_id(req), "relay call failed");
    }
    let (kind, code) = err.kind_and_code();
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    openai_error(
        status,
        &err.message(),
        kind,
        code.as_deref(),
        &request_id(req),
    )
}

/// The API key in any dialect: `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, `?key=`.
fn api_key(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header("authorization")
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| {
            web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("key").cloned())
        })
        .filter(|k| !k.trim().is_empty())
}

fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

async fn caller(state: &GatewayState, req: &HttpRequest) -> Result<Caller, HttpResponse> {
    state
        .relay
        .authenticate(api_key(req).as_deref(), client_ip(req))
        .await
        .map_err(|e| relay_error(&e, req))
}

async fn relay_json(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    body: web::Bytes,
    endpoint: Endpoint,
) -> HttpResponse {
    let caller = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let id = request_id(&req);
    match state
        .relay
        .call(&caller, endpoint, body, &id, client_ip(&req))
        .await
    {
        Ok(resp) => respond(resp),
        Err(e) => relay_error(&e, &req),
    }
}

macro_rules! json_endpoint {
    ($name:ident, $endpoint:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "relay",
            request_body(content = serde_json::Value, content_type = "application/json",
                description = "OpenAI's request body; passed upstream untouched (but `model` mapping and, on streams, `stream_options.include_usage`)"),
            responses(
                (status = 200, description = "OpenAI's answer (JSON, or `text/event-stream` when `stream` is true)"),
                (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
                (status = 403, body = OpenAiError, description = "`insufficient_user_quota`, `insufficient_token_quota`, `model_not_allowed`, ..."),
                (status = 503, body = OpenAiError, description = "no enabled channel serves the model")),
            security(("api_key" = [])))]
        async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            body: web::Bytes,
        ) -> HttpResponse {
            relay_json(state, req, body, $endpoint).await
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
    "Image generation, priced per image."
);
json_endpoint!(
    audio_speech,
    Endpoint::AudioSpeech,
    "/v1/audio/speech",
    "Speech: the audio streams back; priced by input characters."
);

/// How much of an upload is read to find its `model` field before the rest streams through.
const FIELD_WINDOW: usize = 64 << 10;

fn respond(resp: relay::RelayResponse) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.content_type(resp.content_type);
    match resp.body {
        RelayBody::Full(bytes) => builder.body(bytes),
        RelayBody::Stream(stream) => builder
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(stream),
    }
}

/// A multipart upload: the fields before the file are read to route and price the call, then
/// the whole body streams on to the upstream without being held in memory.
async fn relay_upload(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    mut payload: web::Payload,
    endpoint: Endpoint,
) -> HttpResponse {
    use futures_util::StreamExt;
    let caller = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let bad = |m: &str| relay_error(&RelayError::BadRequest(m.to_owned()), &req);
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(boundary) = relay::multipart::boundary(&content_type) else {
        return bad("the body must be multipart/form-data");
    };
    let mut prefix = bytes::BytesMut::new();
    let mut ended = false;
    while relay::multipart::text_field(&prefix, &boundary, "model").is_none()
        && prefix.len() < FIELD_WINDOW
    {
        match payload.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => return bad(&format!("reading the upload failed: {e}")),
            None => {
                ended = true;
                break;
            }
        }
    }
    let model = match relay::multipart::text_field(&prefix, &boundary, "model") {
        Some(m) if !m.trim().is_empty() => m.trim().to_owned(),
        _ if ended => endpoint.default_model().unwrap_or_default().to_owned(),
        _ => return bad("put the `model` field before the file in the form"),
    };
    let n = relay::multipart::text_field(&prefix, &boundary, "n")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let first = prefix.freeze();
    actix_web::rt::spawn(async move {
        if tx.send(Ok(first)).await.is_err() || ended {
            return;
        }
        while let Some(chunk) = payload.next().await {
            if tx.send(chunk.map_err(std::io::Error::other)).await.is_err() {
                break;
            }
        }
    });
    let id = request_id(&req);
    let body = relay::client::channel_body(rx);
    let ip = client_ip(&req);
    match state
        .relay
        .call_upload(&caller, endpoint, &model, n, &content_type, body, &id, ip)
        .await
    {
        Ok(resp) => respond(resp),
        Err(e) => relay_error(&e, &req),
    }
}

macro_rules! upload_endpoint {
    ($name:ident, $endpoint:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "relay",
            request_body(content = String, content_type = "multipart/form-data",
                description = "OpenAI's form; put `model` before the file (the body streams through)"),
            responses(
                (status = 200, description = "OpenAI's answer"),
                (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
                (status = 403, body = OpenAiError), (status = 503, body = OpenAiError)),
            security(("api_key" = [])))]
        async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            payload: web::Payload,
        ) -> HttpResponse {
            relay_upload(state, req, payload, $endpoint).await
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
    "Audio transcription (multipart)."
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
async fn list_models(state: web::Data<GatewayState>, req: HttpRequest) -> HttpResponse {
    match caller(&state, &req).await {
        Ok(c) => {
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
        Err(resp) => resp,
    }
}

/// One model, when the key may use it.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "relay", params(("model" = String, Path)),
    responses((status = 200, body = ModelObject), (status = 404, body = OpenAiError)),
    security(("api_key" = [])))]
async fn get_model(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
) -> HttpResponse {
    let c = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let model = model.into_inner();
    if state.relay.models_for(&c).contains(&model) {
        HttpResponse::Ok().json(model_object(&model))
    } else {
        relay_error(&RelayError::ModelNotFound(model), &req)
    }
}

/// The caller's spendable quota and what it has used, in quota units.
async fn balance(state: &GatewayState, c: &Caller) -> Result<(i64, i64), RelayError> {
    let user = persistence::users::find(&state.relay.db, c.user.id).await?;
    let token = persistence::tokens::find_for_user(&state.relay.db, c.user.id, c.token.id).await?;
    let user_quota = state
        .relay
        .ledger
        .user_balance(c.user.id)
        .or(user.as_ref().map(|u| u.quota))
        .unwrap_or(0);
    if c.token.unlimited {
        return Ok((user_quota, user.map_or(0, |u| u.used_quota)));
    }
    let token_remain = state
        .relay
        .ledger
        .token_balance(c.token.id)
        .or(token.as_ref().map(|t| t.remain_quota))
        .unwrap_or(0);
    Ok((
        token_remain.min(user_quota),
        token.map_or(0, |t| t.used_quota),
    ))
}

fn usd(quota: i64) -> f64 {
    domain::quota::quota_to_usd(quota)
}

/// The key's spendable quota in USD, in OpenAI's dashboard shape (also under `/v1`).
#[utoipa::path(get, path = "/dashboard/billing/subscription", tag = "relay",
    responses((status = 200, body = BillingSubscription), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
async fn billing_subscription(state: web::Data<GatewayState>, req: HttpRequest) -> HttpResponse {
    let c = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match balance(&state, &c).await {
        Ok((remaining, used)) => {
            let hard_limit = usd(remaining.max(0) + used);
            let now = domain::now_ts();
            let access_until = if c.token.expired_time == -1 {
                0
            } else {
                c.token.expired_time
            };
            let period_start = now - now.rem_euclid(86_400 * 30);
            HttpResponse::Ok().json(BillingSubscription {
                object: "billing.subscription",
                has_payment_method: true,
                canceled: false,
                canceled_at: None,
                current_period_start: period_start,
                current_period_end: period_start + 86_400 * 30,
                status: "active",
                plan: Plan {
                    id: "gateway",
                    title: "Gateway quota",
                    name: "Gateway quota",
                    price: 0,
                },
                soft_limit_usd: hard_limit,
                hard_limit_usd: hard_limit,
                system_hard_limit_usd: hard_limit,
                access_until,
            })
        }
        Err(e) => relay_error(&e, &req),
    }
}

/// What the key (or, for unlimited keys, its user) has used, in cents (also under `/v1`).
#[utoipa::path(get, path = "/dashboard/billing/usage", tag = "relay",
    responses((status = 200, body = BillingUsage), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
async fn billing_usage(state: web::Data<GatewayState>, req: HttpRequest) -> HttpResponse {
    let c = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match balance(&state, &c).await {
        // OpenAI reports usage in cents.
        Ok((_, used)) => HttpResponse::Ok().json(BillingUsage {
            object: "billing.usage",
            total_usage: usd(used) * 100.0,
            daily_costs: Vec::new(),
            models_usage: Vec::new(),
        }),
        Err(e) => relay_error(&e, &req),
    }
}

/// OpenAI's answer for a path it does not serve.
async fn unknown_route(req: HttpRequest) -> HttpResponse {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        "invalid_request_error",
        Some("not_found"),
        &request_id(&req),
    )
}

/// Request bodies of relay calls may carry images: up to 64 MiB.
const MAX_BODY: usize = 64 << 20;

/// The relay route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    let dashboard = |scope: &str| {
        web::scope(scope)
            .route("/subscription", get().to(billing_subscription))
            .route("/usage", get().to(billing_usage))
    };
    cfg.service(dashboard("/dashboard/billing")).service(
        web::scope("/v1")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route("/models", get().to(list_models))
            .route("/models/{model:.*}", get().to(get_model))
            .route("/chat/completions", post().to(chat_completions))
            .route("/completions", post().to(completions))
            .route("/embeddings", post().to(embeddings))
            .route("/moderations", post().to(moderations))
            .route("/images/generations", post().to(image_generations))
            .route("/images/edits", post().to(image_edits))
            .route("/images/variations", post().to(image_variations))
            .route("/audio/transcriptions", post().to(audio_transcriptions))
            .route("/audio/translations", post().to(audio_translations))
            .route("/audio/speech", post().to(audio_speech))
            .service(dashboard("/dashboard/billing"))
            .default_service(web::to(unknown_route)),
    );
}

/// OpenAI's error body.
#[derive(Serialize, ToSchema)]
pub struct OpenAiError {
    error: OpenAiErrorBody,
}

#[derive(Serialize, ToSchema)]
struct OpenAiErrorBody {
    /// Ends with `(request id: ...)`.
    message: String,
    #[serde(rename = "type")]
    kind: String,
    param: Option<String>,
    code: Option<String>,
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

#[derive(Serialize, ToSchema)]
struct Plan {
    id: &'static str,
    title: &'static str,
    name: &'static str,
    price: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BillingSubscription {
    object: &'static str,
    has_payment_method: bool,
    canceled: bool,
    canceled_at: Option<i64>,
    current_period_start: i64,
    current_period_end: i64,
    status: &'static str,
    plan: Plan,
    soft_limit_usd: f64,
    hard_limit_usd: f64,
    system_hard_limit_usd: f64,
    /// The key's expiry (Unix seconds), 0 when it never expires.
    access_until: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BillingUsage {
    object: &'static str,
    /// Cents.
    total_usage: f64,
    /// Always empty: per-day costs are in `/api/data`.
    daily_costs: Vec<serde_json::Value>,
    models_usage: Vec<serde_json::Value>,
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
        list_models, get_model, chat_completions, completions, embeddings, moderations,
        image_generations, image_edits, image_variations, audio_transcriptions,
        audio_translations, audio_speech, billing_subscription, billing_usage,
    )
)]
pub struct GatewayApiDoc;
