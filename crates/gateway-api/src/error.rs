//! Relay errors in the dialect of the route called, which the official SDKs parse: OpenAI's
//! `{"error": {"message", "type", "param", "code"}}`, Anthropic's `{"type": "error", "error":
//! {...}}` or Google's `{"error": {"code", "message", "status"}}`, with the request id in the
//! message, and the same object as a stream's closing error event. Messages are Chinese by default and English
//! with `Accept-Language: en`.

use crate::extract::{Lang, request_id};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use relay::{Dialect, Holder, KeyProblem, Refusal, RelayError, UpstreamKind};
use serde::Serialize;
use utoipa::ToSchema;

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

/// The message of `err` in `lang`.
fn message(err: &RelayError, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    let pick = |zh_text: String, en_text: String| if zh { zh_text } else { en_text };
    match err {
        RelayError::Key(p) => {
            let (z, e) = match p {
                KeyProblem::Missing => ("未提供令牌", "no API key provided"),
                KeyProblem::Unknown => ("无效的令牌", "incorrect API key provided"),
                KeyProblem::Disabled => ("该令牌已被禁用", "the API key is disabled"),
                KeyProblem::Expired => ("该令牌已过期", "the API key has expired"),
                KeyProblem::Orphaned => ("令牌的用户不存在", "the key's user no longer exists"),
            };
            pick(z.into(), e.into())
        }
        RelayError::Refused(r) => match r {
            Refusal::IpNotAllowed => pick(
                "该令牌不允许从您的 IP 地址使用".into(),
                "this API key may not be used from your IP address".into(),
            ),
            Refusal::UserBanned => pick("用户已被封禁".into(), "the user is banned".into()),
            Refusal::PinForbidden => pick(
                "只有管理员可以用 sk-KEY-<渠道ID> 指定渠道".into(),
                "only admins may pin a channel with sk-KEY-<channel_id>".into(),
            ),
            Refusal::GroupNotUsable(g) => pick(
                format!("该令牌的分组 {g} 不可被其用户使用"),
                format!("the API key's group {g} is not usable by its user"),
            ),
            Refusal::ModelNotAllowed(m) => pick(
                format!("该令牌无权使用模型 {m}"),
                format!("this API key may not use the model {m}"),
            ),
        },
        RelayError::Insufficient {
            holder,
            model,
            affordable_output,
        } => {
            let (who_zh, who_en) = match holder {
                Holder::User => ("用户", "the user's"),
                Holder::Key => ("令牌", "the API key's"),
            };
            match affordable_output {
                Some(n) => pick(
                    format!(
                        "{who_zh}额度不足：余额最多可支付模型 {model} 的 {n} 个输出 token（output tokens），请调低 max_tokens"
                    ),
                    format!(
                        "insufficient quota: {who_en} balance affords at most {n} output tokens of {model}; lower max_tokens"
                    ),
                ),
                None => pick(
                    format!("{who_zh}额度不足，无法支付模型 {model} 的这次调用"),
                    format!(
                        "insufficient quota: {who_en} balance does not cover this call of {model}"
                    ),
                ),
            }
        }
        RelayError::Exhausted(holder) => match holder {
            Holder::User => pick(
                "用户额度已用尽".into(),
                "insufficient quota: the user's balance is used up".into(),
            ),
            Holder::Key => pick(
                "令牌额度已用尽".into(),
                "insufficient quota: the API key's balance is used up".into(),
            ),
        },
        RelayError::BadRequest(detail) => pick(format!("请求无效：{detail}"), detail.clone()),
        RelayError::TooLarge(limit) => pick(
            format!("请求体超过 {limit} 字节的上限"),
            format!("the request body is over the limit of {limit} bytes"),
        ),
        RelayError::ModelNotFound(m) => pick(
            format!("模型 {m} 不存在或您无权使用"),
            format!("The model `{m}` does not exist or you do not have access to it."),
        ),
        RelayError::NoPrice(m) => pick(
            format!("模型 {m} 未设置价格（请设置 ModelRatio 或 ModelPrice，或开启自用模式）"),
            format!(
                "the model {m} has no price configured (set ModelRatio or ModelPrice, or enable SelfUseModeEnabled)"
            ),
        ),
        RelayError::TaskNotFound(id) => {
            pick(format!("任务 {id} 不存在"), format!("task {id} not found"))
        }
        RelayError::NoChannel(m) => pick(
            format!("渠道不可用：没有可用于模型 {m} 的渠道"),
            format!("no available channel for model {m}"),
        ),
        RelayError::RateLimited { retry_after } => pick(
            format!("请求过于频繁，请在 {retry_after} 秒后重试"),
            format!("rate limit reached; retry in {retry_after} s"),
        ),
        RelayError::Busy => pick(
            "该令牌同时进行的此类请求过多，请稍后再试".into(),
            "too many concurrent requests of this kind for this API key; retry shortly".into(),
        ),
        // The upstream's own words about the channel's key (OpenAI repeats a redacted form
        // of it) are for the operator's log, not the caller.
        RelayError::Upstream(e) if e.credentials_refused() => pick(
            "上游拒绝了网关在该渠道的密钥（不是您的令牌的问题），请联系管理员".into(),
            "the upstream refused the gateway's credentials for this channel (not your API key); \
             the operator has been told"
                .into(),
        ),
        RelayError::Upstream(e) => e.message.clone(),
        RelayError::Unavailable(_) => pick("上游服务不可用".into(), "upstream unavailable".into()),
        RelayError::ShuttingDown => pick(
            "网关正在停止，请重试".into(),
            "the gateway is shutting down; please retry".into(),
        ),
        RelayError::Internal(_) => pick("内部错误".into(), "internal error".into()),
    }
}

/// OpenAI's `type` for `err`.
fn kind(err: &RelayError) -> &'static str {
    match err {
        RelayError::Insufficient { .. } | RelayError::Exhausted(_) => "insufficient_quota",
        RelayError::Busy | RelayError::RateLimited { .. } => "rate_limit_error",
        RelayError::Upstream(e) if e.credentials_refused() => "upstream_error",
        RelayError::Upstream(e) => match e.kind {
            UpstreamKind::RateLimited => "rate_limit_error",
            UpstreamKind::Rejected => "invalid_request_error",
            UpstreamKind::KeyUnusable | UpstreamKind::Failed => "upstream_error",
        },
        RelayError::NoChannel(_)
        | RelayError::Unavailable(_)
        | RelayError::ShuttingDown
        | RelayError::Internal(_) => "server_error",
        RelayError::Key(_)
        | RelayError::Refused(_)
        | RelayError::BadRequest(_)
        | RelayError::TooLarge(_)
        | RelayError::ModelNotFound(_)
        | RelayError::TaskNotFound(_)
        | RelayError::NoPrice(_) => "invalid_request_error",
    }
}

/// Anthropic's error body.
#[derive(Serialize, ToSchema)]
pub struct AnthropicError {
    /// Always `error`.
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorBody,
}

#[derive(Serialize, ToSchema)]
struct AnthropicErrorBody {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `request_too_large`, `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Ends with `(request id: ...)`.
    message: String,
}

/// Anthropic's error `type` for an answer of `status`.
fn anthropic_kind(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        405 => "invalid_request_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        _ => "api_error",
    }
}

/// Gemini's error body.
#[derive(Serialize, ToSchema)]
pub struct GeminiError {
    error: GeminiErrorBody,
}

#[derive(Serialize, ToSchema)]
struct GeminiErrorBody {
    /// The HTTP status.
    code: u16,
    /// Ends with `(request id: ...)`.
    message: String,
    /// Google's status name: `INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
    /// `NOT_FOUND`, `UNIMPLEMENTED` (405), `RESOURCE_EXHAUSTED`, `INTERNAL` or `UNAVAILABLE`.
    status: &'static str,
}

/// Google's status name for an answer of `status`.
fn gemini_status(status: u16) -> &'static str {
    match status {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 => "UNIMPLEMENTED",
        429 => "RESOURCE_EXHAUSTED",
        502 | 503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

/// Gemini's methods on a model (`/v1/models/{model}:method`); any other `/v1/models/...` path
/// is OpenAI's, whose model ids may hold colons (`ft:gpt-4o:org:x`).
const GEMINI_METHODS: [&str; 5] = [
    ":generateContent",
    ":streamGenerateContent",
    ":countTokens",
    ":embedContent",
    ":batchEmbedContents",
];

/// The dialect a relay route answers in, from its path.
pub(crate) fn dialect_of(req: &HttpRequest) -> Dialect {
    let path = req.path();
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else if path.starts_with("/v1beta/")
        || (path.starts_with("/v1/models/") && GEMINI_METHODS.iter().any(|m| path.ends_with(m)))
    {
        Dialect::Gemini
    } else {
        Dialect::OpenAi
    }
}

/// `err` in the dialect of the route `req` came to; `code` replaces OpenAI's `code`.
fn body(err: &RelayError, req: &HttpRequest, code: Option<&str>) -> serde_json::Value {
    body_as(err, req, code, err.status())
}

/// [`body`] for an answer of `status` (the dialects' status-derived fields follow it).
fn body_as(
    err: &RelayError,
    req: &HttpRequest,
    code: Option<&str>,
    status: u16,
) -> serde_json::Value {
    let id = request_id(req);
    let text = message(err, Lang::of(req));
    let message = if id.is_empty() {
        text
    } else {
        format!("{text} (request id: {id})")
    };
    if let Some(family) = crate::tasks::views::Family::of_path(req.path()) {
        let code = code.or(err.code());
        return crate::tasks::views::error_body(family, status, code, &message);
    }
    let rendered = match dialect_of(req) {
        Dialect::Anthropic => serde_json::to_value(AnthropicError {
            kind: "error",
            error: AnthropicErrorBody {
                kind: anthropic_kind(status),
                message,
            },
        }),
        Dialect::Gemini => serde_json::to_value(GeminiError {
            error: GeminiErrorBody {
                code: status,
                message,
                status: gemini_status(status),
            },
        }),
        Dialect::OpenAi => serde_json::to_value(OpenAiError {
            error: OpenAiErrorBody {
                message,
                kind: kind(err).to_owned(),
                param: None,
                code: code.or(err.code()).map(str::to_owned),
            },
        }),
    };
    rendered.unwrap_or_default()
}

/// The response for `err`, in the route's dialect; internal details are logged, not sent.
pub fn relay_error(err: &RelayError, req: &HttpRequest) -> HttpResponse {
    if let RelayError::Internal(detail) | RelayError::Unavailable(detail) = err {
        tracing::error!(error = %detail, request_id = %request_id(req), "relay call failed");
    }
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = HttpResponse::build(status);
    if let RelayError::RateLimited { retry_after } = err {
        resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
    }
    resp.json(body(err, req, None))
}

/// `err` as the server-sent event that ends a stream, in the route's dialect: for Responses
/// callers a `response.failed` event, as the Responses API ends a failed stream.
pub fn error_event(err: &RelayError, req: &HttpRequest) -> bytes::Bytes {
    if req.path().starts_with("/v1/responses") {
        let error = &body(err, req, None)["error"];
        let failed = serde_json::json!({"type": "response.failed", "sequence_number": 0,
            "response": {"id": format!("resp_{}", request_id(req)), "object": "response",
                "status": "failed", "output": [],
                "error": {"code": error["code"], "message": error["message"]}}});
        return bytes::Bytes::from(format!("event: response.failed\ndata: {failed}\n\n"));
    }
    let json = body(err, req, None).to_string();
    let event = match dialect_of(req) {
        Dialect::Anthropic => "event: error\n",
        Dialect::OpenAi | Dialect::Gemini => "",
    };
    bytes::Bytes::from(format!("{event}data: {json}\n\n"))
}

/// `err` as a realtime session's `error` event (OpenAI's error object under `error`).
pub(crate) fn realtime_error_event(err: &RelayError, req: &HttpRequest) -> String {
    let mut event = body(err, req, None);
    event["type"] = serde_json::json!("error");
    event["event_id"] = serde_json::json!(format!("event_{}", request_id(req)));
    event.to_string()
}

/// The answer for a path the relay does not serve.
pub async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let text = format!("Invalid URL ({} {})", req.method(), req.path());
    let err = RelayError::BadRequest(text);
    HttpResponse::NotFound().json(body_as(&err, &req, Some("not_found"), 404))
}

/// Middleware: a method a relay route does not support answers 405 in OpenAI's error shape,
/// keeping the `Allow` header actix puts on it.
pub async fn method_not_allowed(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(res.map_into_left_body());
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let text = format!("Method not allowed ({} {})", req.method(), req.path());
    let body = body_as(
        &RelayError::BadRequest(text),
        &req,
        Some("method_not_allowed"),
        405,
    );
    let mut answer = HttpResponse::MethodNotAllowed().json(body);
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}
