//! What a relay handler reads off a request before the relay sees it: the API key in any
//! dialect, the request id, the client's address and language, and the body, which is read
//! only after the key was accepted and only up to the configured limit.

use crate::GatewayState;
use crate::error::relay_error;
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
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

/// The subprotocol a browser's realtime socket carries its key in.
pub(crate) const KEY_PROTOCOL: &str = "openai-insecure-api-key.";

/// The API key in any dialect: `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
/// `mj-api-secret` (midjourney-proxy's clients), `?key=`, or a realtime socket's
/// `openai-insecure-api-key.` subprotocol.
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
        .or_else(|| header("mj-api-secret"))
        .or_else(|| {
            web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("key").cloned())
        })
        .or_else(|| {
            req.headers()
                .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .find_map(|p| p.trim().strip_prefix(KEY_PROTOCOL).map(str::to_owned))
        })
        .filter(|k| !k.trim().is_empty())
}

/// The client's address as the server worked it out (behind trusted proxies), else the peer's.
fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.extensions()
        .get::<relay::address::ClientIp>()
        .map(|c| c.0)
        .or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// The request id and address of a call.
pub fn meta(req: &HttpRequest) -> CallMeta {
    CallMeta {
        request_id: request_id(req),
        ip: client_ip(req),
    }
}

/// The caller of a request, from its headers alone; `admit`: only with a balance left.
async fn caller(req: &HttpRequest, admit: bool) -> Result<Caller, HttpResponse> {
    let Some(state) = req.app_data::<web::Data<GatewayState>>() else {
        let err = RelayError::Internal("the relay state is not configured".into());
        return Err(relay_error(&err, req));
    };
    let caller = state
        .relay
        .authenticate(api_key(req).as_deref(), client_ip(req))
        .await
        .map_err(|e| relay_error(&e, req))?;
    if admit {
        state
            .relay
            .admits(&caller)
            .await
            .map_err(|e| relay_error(&e, req))?;
    }
    Ok(caller)
}

fn refused(resp: HttpResponse) -> actix_web::Error {
    InternalError::from_response("the API key was refused", resp).into()
}

/// The caller of a relay route, from its API key in any dialect, checked before the body is
/// read; a refusal is answered in the route's own envelope (`relay_error`).
pub struct Key(pub Caller);

impl FromRequest for Key {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { caller(&req, false).await.map(Key).map_err(refused) })
    }
}

/// A [`Key`] whose balance (and its user's) is not used up: for routes that spend.
pub struct Admitted(pub Caller);

impl FromRequest for Admitted {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { caller(&req, true).await.map(Admitted).map_err(refused) })
    }
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
