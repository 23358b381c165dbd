//! Gemini's API, under `/v1beta` and `/v1` (the google-genai SDK's default):
//! `models/{model}:generateContent`, `:streamGenerateContent` (server-sent events with
//! `?alt=sse`, else one JSON array streamed element by element), `:countTokens` (counted here),
//! and the model list. Calls go to Gemini channels with their bodies untouched. Keys come from
//! `x-goog-api-key`, `?key=` or `Authorization`; errors are Google's
//! `{"error":{"code","message","status"}}`.

use crate::GatewayState;
use crate::call::{Shape, relay_call, relay_call_with, respond};
use crate::error::{GeminiError, error_event};
use crate::extract::{Admitted, Key};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use relay::{Endpoint, RelayBody, RelayError, RelayResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// Generate content.
#[utoipa::path(post, path = "/v1beta/models/{model}:generateContent", tag = "gemini", operation_id = "gemini_generate_content",
    params(("model" = String, Path, description = "The model, e.g. `gemini-2.5-flash`.")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Gemini's request body, passed to Gemini channels untouched and converted for OpenAI and Anthropic channels. `generationConfig.maxOutputTokens` and `candidateCount` are priced; naming one in both lowerCamelCase and snake_case is refused."),
    responses((status = 200, description = "Gemini's answer"),
        (status = 404, body = GeminiError, description = "No enabled channel lists the model.")),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn generate_content(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    payload: web::Payload,
    caller: Admitted,
) -> HttpResponse {
    relay_call(
        state,
        req,
        payload,
        caller,
        Shape::Gemini(Endpoint::GenerateContent, model.into_inner()),
    )
    .await
}

/// Stream generated content: server-sent events with `?alt=sse`, else a JSON array.
#[utoipa::path(post, path = "/v1beta/models/{model}:streamGenerateContent", tag = "gemini", operation_id = "gemini_stream_generate_content",
    params(("model" = String, Path, description = "The model, e.g. `gemini-2.5-flash`."),
        ("alt" = Option<String>, Query, description = "`sse` for server-sent events")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Gemini's request body, passed to Gemini channels untouched and converted for OpenAI and Anthropic channels."),
    responses((status = 200, description = "Gemini's answers, one per event or array element"),
        (status = 404, body = GeminiError, description = "No enabled channel lists the model.")),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn stream_generate_content(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    payload: web::Payload,
    caller: Admitted,
) -> HttpResponse {
    let shape = Shape::Gemini(Endpoint::StreamGenerateContent, model.into_inner());
    let sse =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .is_ok_and(|q| q.get("alt").is_some_and(|a| a == "sse"));
    let framing = if sse { respond } else { respond_json_array };
    relay_call_with(state, req, payload, caller, shape, framing).await
}

/// Embed one content.
#[utoipa::path(post, path = "/v1beta/models/{model}:embedContent", tag = "gemini", operation_id = "gemini_embed_content",
    params(("model" = String, Path, description = "The model, e.g. `gemini-embedding-001`.")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Gemini's request body (`content`), passed to Gemini channels untouched; priced by its tokens, counted locally."),
    responses((status = 200, description = "Gemini's embedding"),
        (status = 404, body = GeminiError, description = "No enabled channel lists the model.")),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn embed_content(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    payload: web::Payload,
    caller: Admitted,
) -> HttpResponse {
    relay_call(
        state,
        req,
        payload,
        caller,
        Shape::Gemini(Endpoint::EmbedContent, model.into_inner()),
    )
    .await
}

/// Embed several contents.
#[utoipa::path(post, path = "/v1beta/models/{model}:batchEmbedContents", tag = "gemini", operation_id = "gemini_batch_embed_contents",
    params(("model" = String, Path, description = "The model, e.g. `gemini-embedding-001`.")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Gemini's request body (`requests`), passed to Gemini channels untouched; priced by its tokens, counted locally."),
    responses((status = 200, description = "Gemini's embeddings"),
        (status = 404, body = GeminiError, description = "No enabled channel lists the model.")),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn batch_embed_contents(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    payload: web::Payload,
    caller: Admitted,
) -> HttpResponse {
    relay_call(
        state,
        req,
        payload,
        caller,
        Shape::Gemini(Endpoint::BatchEmbedContents, model.into_inner()),
    )
    .await
}

/// Gemini's token count.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCount {
    total_tokens: i64,
}

/// Count a request's tokens (locally, with an OpenAI tokenizer: an estimate; images are not
/// counted). Free, for keys with a balance left; bodies up to 2 MiB, two counts at once per key.
#[utoipa::path(post, path = "/v1beta/models/{model}:countTokens", tag = "gemini", operation_id = "gemini_count_tokens",
    params(("model" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "`contents` (and `systemInstruction`), or a `generateContentRequest`."),
    responses((status = 200, body = TokenCount),
        (status = 403, body = GeminiError, description = "The key's or its user's balance is used up."),
        (status = 413, body = GeminiError, description = "The body is over 2 MiB."),
        (status = 429, body = GeminiError, description = "The key has two counts under way.")),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn count_tokens(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    model: web::Path<String>,
    payload: web::Payload,
    Admitted(caller): Admitted,
) -> HttpResponse {
    let model = model.into_inner();
    let counted = crate::count::count_tokens(&state, &req, payload, &caller, move |body| {
        Ok(relay::tokenizer::prompt_tokens(&model, body))
    })
    .await;
    match counted {
        Ok(total_tokens) => HttpResponse::Ok().json(TokenCount { total_tokens }),
        Err(resp) => resp,
    }
}

/// A model in Gemini's list shape.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeminiModel {
    /// `models/{id}`.
    name: String,
    display_name: String,
    supported_generation_methods: Vec<&'static str>,
}

/// Gemini's model list.
#[derive(Serialize, ToSchema)]
pub struct GeminiModelList {
    models: Vec<GeminiModel>,
}

/// The models the key may use, in Gemini's list shape.
#[utoipa::path(get, path = "/v1beta/models", tag = "gemini", operation_id = "gemini_list_models",
    responses((status = 200, body = GeminiModelList)),
    security(("api_key" = []), ("goog_api_key" = [])))]
pub(crate) async fn list_models(state: web::Data<GatewayState>, Key(c): Key) -> HttpResponse {
    HttpResponse::Ok().json(GeminiModelList {
        models: state
            .relay
            .models_for(&c)
            .iter()
            .map(|id| GeminiModel {
                name: format!("models/{id}"),
                display_name: id.clone(),
                supported_generation_methods: vec![
                    "generateContent",
                    "streamGenerateContent",
                    "countTokens",
                ],
            })
            .collect(),
    })
}

/// A stream of server-sent events relayed as one JSON array, element by element.
fn respond_json_array(resp: RelayResponse, req: &HttpRequest) -> HttpResponse {
    let RelayBody::Stream(stream) = resp.body else {
        return respond(resp, req);
    };
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type("application/json")
        .streaming(json_array(stream, req.clone()))
}

/// Re-frames SSE `data:` payloads as the elements of a JSON array.
fn json_array(
    events: impl Stream<Item = Result<Bytes, RelayError>> + Unpin + 'static,
    req: HttpRequest,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    struct State<S> {
        events: S,
        pending: Vec<u8>,
        elements: usize,
        done: bool,
        req: HttpRequest,
    }
    impl<S> State<S> {
        /// The complete events in `pending` as array elements.
        fn drain(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.pending.drain(..end + 2).collect();
                let data: Vec<&[u8]> = event
                    .split(|b| *b == b'\n')
                    .filter_map(|line| line.strip_prefix(b"data:"))
                    .map(|d| d.strip_prefix(b" ").unwrap_or(d))
                    .collect();
                if !data.is_empty() {
                    self.element(&data.concat(), &mut out);
                }
            }
            out
        }

        fn element(&mut self, json: &[u8], out: &mut Vec<u8>) {
            out.extend_from_slice(if self.elements == 0 { b"[" } else { b",\r\n" });
            out.extend_from_slice(json);
            self.elements += 1;
        }

        fn close(&mut self, out: &mut Vec<u8>) {
            if self.elements == 0 {
                out.push(b'[');
            }
            out.push(b']');
            self.done = true;
        }
    }
    let state = State {
        events,
        pending: Vec::new(),
        elements: 0,
        done: false,
        req,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.events.next().await {
                Some(Ok(chunk)) => {
                    st.pending.extend(chunk.iter().filter(|b| **b != b'\r'));
                    let out = st.drain();
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), st));
                    }
                }
                // Ended early (quota, an upstream that broke off or went quiet): the error as
                // the array's last element.
                Some(Err(e)) => {
                    let event = error_event(&e, &st.req);
                    let mut out = Vec::new();
                    let json = event.strip_prefix(b"data: ").unwrap_or(&event);
                    st.element(json.trim_ascii_end(), &mut out);
                    st.close(&mut out);
                    return Some((Ok(Bytes::from(out)), st));
                }
                None => {
                    st.pending.extend_from_slice(b"\n\n");
                    let mut out = st.drain();
                    st.close(&mut out);
                    return Some((Ok(Bytes::from(out)), st));
                }
            }
        }
    })
}
