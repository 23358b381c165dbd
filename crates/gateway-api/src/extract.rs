//! What a relay handler reads off a request before the relay sees it: the API key in any
//! dialect, the request id, the client's address and language, and the body, which is read
//! only after the key was accepted and only up to the configured limit.

use crate::GatewayState;
use crate::error::relay_error;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use relay::{CallMeta, Caller, RelayError};
use std::net::IpAddr;

/// The language of a request's messages, from `Accept-Language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn of(req: &HttpRequest) -> Lang {
        let english = req
            .headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s.trim_start().to_ascii_lowercase().starts_with("en"));
        if english { Lang::En } else { Lang::Zh }
    }
}

/// The request id the server's middleware put on the request.
pub fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
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

/// The request id and address of a call.
pub fn meta(req: &HttpRequest) -> CallMeta {
    CallMeta {
        request_id: request_id(req),
        ip: client_ip(req),
    }
}

/// The caller of a request, from its headers alone.
pub async fn caller(state: &GatewayState, req: &HttpRequest) -> Result<Caller, HttpResponse> {
    state
        .relay
        .authenticate(api_key(req).as_deref(), client_ip(req))
        .await
        .map_err(|e| relay_error(&e, req))
}

/// Reads the body, refusing with 413 past `limit` bytes (by its declared length at once).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, RelayError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(RelayError::TooLarge(limit));
    }
    // A declared length is a claim: at most 1 MiB is set aside before bytes arrive.
    let mut body = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(limit).min(1 << 20));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| RelayError::BadRequest(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(RelayError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
