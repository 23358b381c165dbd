//! One relay call from an HTTP request, whatever the route's dialect: the key from the headers,
//! then the body, then the relay; the answer (or error) back in the route's dialect.

use crate::GatewayState;
use crate::error::{error_event, relay_error};
use crate::extract::{Admitted, meta, read_body};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use relay::{Dialect, Endpoint, RelayBody, RelayResponse, Request};

/// Caller headers passed on to a channel of the same dialect: Anthropic's API version and the
/// betas the caller opted into.
const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// Relays a call whose body is read after the key was accepted.
/// How a route's body becomes a relay request.
pub(crate) enum Shape {
    /// A JSON body (OpenAI's endpoints, Anthropic's Messages).
    Json(Endpoint),
    /// A multipart upload.
    Upload(Endpoint),
    /// A Gemini call of the model named in the path.
    Gemini(Endpoint, String),
}

/// Relays a call whose body is read after the key was accepted; the answer goes through
/// `respond` (the dialect's framing of the relayed answer).
pub(crate) async fn relay_call(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    payload: web::Payload,
    caller: Admitted,
    shape: Shape,
) -> HttpResponse {
    relay_call_with(state, req, payload, caller, shape, respond).await
}

/// [`relay_call`] with the answer framed by `respond`.
pub(crate) async fn relay_call_with(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    payload: web::Payload,
    Admitted(caller): Admitted,
    shape: Shape,
    respond: fn(RelayResponse, &HttpRequest) -> HttpResponse,
) -> HttpResponse {
    // The rate limits before the body: a refused call reads nothing.
    let permit = match state.relay.admit_call(&caller).await {
        Ok(p) => p,
        Err(e) => return relay_error(&e, &req),
    };
    let request = match (read_body(&req, payload, state.max_body).await, shape) {
        (Err(e), _) => Err(e),
        (Ok(body), Shape::Upload(endpoint)) => {
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Request::openai_upload(endpoint, content_type, body).await
        }
        (Ok(body), Shape::Gemini(endpoint, model)) => Request::gemini(endpoint, &model, body),
        (Ok(body), Shape::Json(endpoint)) => {
            Request::openai_json(endpoint, body).map(|mut request| {
                if endpoint.dialect() == Dialect::Anthropic {
                    for name in FORWARDED {
                        if let Some(value) = req.headers().get(name) {
                            request.forward_header(name, value.as_bytes());
                        }
                    }
                }
                request
            })
        }
    };
    let result = match request {
        Ok(request) => {
            state
                .relay
                .call_admitted(&caller, request, &meta(&req), permit)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => respond(resp, &req),
        Err(e) => relay_error(&e, &req),
    }
}

/// The relayed answer; a stream that ends early (for want of quota, an upstream that broke
/// off or went quiet) closes with an error event in the caller's dialect, not a cut socket.
pub(crate) fn respond(resp: RelayResponse, req: &HttpRequest) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.content_type(resp.content_type);
    match resp.body {
        RelayBody::Full(bytes) => builder.body(bytes),
        RelayBody::Stream(stream) => {
            let req = req.clone();
            let stream = stream.map(move |item| match item {
                Ok(chunk) => Ok(chunk),
                Err(e) => Ok::<_, std::io::Error>(error_event(&e, &req)),
            });
            builder
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-accel-buffering", "no"))
                .streaming(stream)
        }
    }
}
