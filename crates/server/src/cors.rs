//! CORS (DECISIONS.md): relay routes allow any origin without credentials (browser apps call
//! them with keys); `/api` allows only the configured origins, with credentials (the session
//! cookie).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::collections::HashSet;

/// The origins allowed on `/api`.
#[derive(Debug, Clone, Default)]
pub struct ApiOrigins(pub HashSet<String>);

impl ApiOrigins {
    pub fn parse(list: &str) -> Self {
        ApiOrigins(
            list.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        )
    }
}

/// The `Access-Control-Allow-Origin` value for `origin` on `path`, and whether credentials go
/// with it; `None` when the origin is not allowed there.
fn policy(origins: &ApiOrigins, path: &str, origin: &str) -> Option<(HeaderValue, bool)> {
    if path == "/api" || path.starts_with("/api/") {
        if origins.0.contains(origin) {
            return HeaderValue::from_str(origin).ok().map(|v| (v, true));
        }
        return None;
    }
    Some((HeaderValue::from_static("*"), false))
}

fn allow(headers: &mut header::HeaderMap, value: HeaderValue, credentials: bool) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    if credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-request-id"),
    );
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let origins = req
        .app_data::<web::Data<ApiOrigins>>()
        .map(|o| o.get_ref().clone())
        .unwrap_or_default();
    let decision = policy(&origins, req.path(), &origin);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut resp = match &decision {
            Some(_) => HttpResponse::NoContent().finish(),
            None => HttpResponse::new(StatusCode::FORBIDDEN),
        };
        if let Some((value, credentials)) = decision {
            let h = resp.headers_mut();
            allow(h, value, credentials);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
            );
            let asked = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
        }
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some((value, credentials)) = decision {
        allow(res.headers_mut(), value, credentials);
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let o = ApiOrigins::parse(" https://admin.example.com/ , http://localhost:5173");
        assert_eq!(o.0.len(), 2);
        assert_eq!(
            policy(&o, "/api/user/self", "https://admin.example.com").map(|p| p.1),
            Some(true)
        );
        assert!(policy(&o, "/api/user/self", "https://evil.example").is_none());
        assert_eq!(
            policy(&o, "/v1/chat/completions", "https://evil.example").map(|p| p.1),
            Some(false)
        );
        assert!(policy(&ApiOrigins::default(), "/api", "http://localhost:5173").is_none());
    }
}
