//! Who is calling: the client's address (behind trusted proxies, `server.trusted_proxies`),
//! put on every request for the API crates (`relay::address::ClientIp`), and the per-address
//! limits of `/api` (`server.api_rate_limit` a minute, `server.critical_rate_limit` for
//! logging in, registering, redeeming and making an access token), answered 429 in the `/api`
//! envelope with `Retry-After`. Counted like the relay's limits (shared through Redis).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use admin_api::error::{ApiError, Msg};
use gateway_api::GatewayState;
use relay::address::{ClientIp, client_ip};

/// How the server tells and limits callers.
pub struct Addressing {
    pub proxies: Vec<ipnet::IpNet>,
    /// `/api` requests a minute from one address (0 = no limit).
    pub api_per_minute: i64,
    /// Of those, to the routes guessing passwords or codes would use.
    pub critical_per_minute: i64,
}

/// The routes whose tries are counted apart, and more strictly.
const CRITICAL: [&str; 4] = [
    "/api/user/login",
    "/api/user/register",
    "/api/user/topup",
    "/api/user/token",
];

pub async fn addressing(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(config) = req.app_data::<web::Data<Addressing>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    // Every line of a header, joined (a proxy may add its own line rather than append).
    let header = |name: header::HeaderName| {
        let lines: Vec<String> = req
            .headers()
            .get_all(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!lines.is_empty()).then(|| lines.join(","))
    };
    let ip = client_ip(
        req.peer_addr().map(|a| a.ip()),
        header(header::HeaderName::from_static("x-forwarded-for")).as_deref(),
        header(header::FORWARDED).as_deref(),
        &config.proxies,
    );
    let Some(ip) = ip else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    req.extensions_mut().insert(ClientIp(ip));
    // The path as routing reads it (percent-decoded): `/%61pi/...` is `/api/...`.
    let path = req.match_info().as_str().to_owned();
    let path = path.as_str();
    if path.starts_with("/api/")
        && let Some(state) = req.app_data::<web::Data<GatewayState>>()
    {
        let (class, limit) = if CRITICAL.contains(&path) {
            ("critical", config.critical_per_minute)
        } else {
            ("api", config.api_per_minute)
        };
        if let Err(retry) = state.relay.limit_address(ip, class, limit).await {
            let mut resp = ApiError::TooManyRequests(Msg::RateLimited(retry)).error_response();
            if let Ok(value) = header::HeaderValue::from_str(&retry.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
