//! The `/api` envelope, its messages in Chinese (default) and English, and the one error type
//! every handler returns. Errors reach HTTP through one exhaustive match.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use domain::ValidationError;
use serde::Serialize;
use std::fmt;

/// The language of a request's messages, from `Accept-Language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

tokio::task_local! {
    static LANG: Lang;
}

/// The current request's language (Chinese outside a request).
pub fn lang() -> Lang {
    LANG.try_with(|l| *l).unwrap_or(Lang::Zh)
}

/// Middleware: runs the rest of the request with its language set, so that handlers and error
/// responses can speak it.
pub async fn language_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let lang = match req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE) {
        Some(v)
            if v.to_str()
                .is_ok_and(|s| s.trim_start().to_ascii_lowercase().starts_with("en")) =>
        {
            Lang::En
        }
        _ => Lang::Zh,
    };
    LANG.scope(lang, next.call(req)).await
}

/// Every message `/api` answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Empty,
    RegisterOk,
    LoginOk,
    LogoutOk,
    SelfUpdated,
    UserCreated,
    UserUpdated,
    UserDeleted,
    TokenCreated,
    TokenUpdated,
    TokenDeleted,
    TokensDeleted(u64),
    ChannelCreated,
    ChannelUpdated,
    ChannelDeleted,
    ChannelTestOk,
    ChannelTestFailed(String),
    BatchTestStarted,
    RedemptionCreated,
    RedemptionUpdated,
    RedemptionDeleted,
    Redeemed(i64),
    OptionsUpdated,
    // errors
    NotLoggedIn,
    UserHeaderMismatch,
    SessionRequired,
    Forbidden,
    RoleTooHigh,
    CannotDeleteRoot,
    UserBanned,
    WrongPassword,
    OriginalPasswordWrong,
    UsernameTaken,
    EmailTaken,
    RegisterDisabled,
    PasswordLoginDisabled,
    InvalidAffCode,
    Invalid(ValidationError),
    BadRequest(String),
    /// The body is over the limit (bytes).
    BodyTooLarge(usize),
    UnknownGroup(String),
    GroupNotUsable(String),
    ExpiredTimeInPast,
    TokenExpiredCannotEnable,
    TokenExhaustedCannotEnable,
    UserNotFound,
    TokenNotFound,
    ChannelNotFound,
    RedemptionNotFound,
    RouteNotFound,
    MethodNotAllowed,
    InvalidRedemption,
    QuotaPastMaximum,
    RedemptionUsed,
    RedemptionDisabled,
    RedemptionExpired,
    RedemptionUsedCannotChange,
    BatchTestRunning,
    /// An update would leave the channel without this field.
    ChannelIncomplete(&'static str),
    /// A rate limit of the caller's address; retry after that many seconds.
    RateLimited(u64),
    Internal,
    /// The database cannot be reached.
    Unavailable,
}

fn validation_text(e: &ValidationError, lang: Lang) -> String {
    match (lang, e) {
        (Lang::En, e) => e.to_string(),
        (Lang::Zh, ValidationError::Username) => {
            "用户名长度必须在1-20个字符之间，且不能包含空白字符".into()
        }
        (Lang::Zh, ValidationError::PasswordLength) => "密码长度必须在8-20个字符之间".into(),
        (Lang::Zh, ValidationError::Email) => "邮箱地址无效".into(),
        (Lang::Zh, ValidationError::DisplayName) => "显示名称不能超过20个字符".into(),
        (Lang::Zh, ValidationError::Name { max }) => format!("名称长度必须在1-{max}个字符之间"),
        (Lang::Zh, ValidationError::Field { field, reason }) => {
            format!("参数 {field} 无效：{reason}")
        }
    }
}

impl Msg {
    pub fn text(&self, lang: Lang) -> String {
        use Msg::*;
        let (zh, en): (&str, &str) = match self {
            Empty => ("", ""),
            RegisterOk => ("注册成功", "Registered successfully"),
            LoginOk => ("登录成功", "Logged in"),
            LogoutOk => ("已退出登录", "Logged out"),
            SelfUpdated => ("用户信息更新成功", "Profile updated"),
            UserCreated => ("用户创建成功", "User created"),
            UserUpdated => ("用户更新成功", "User updated"),
            UserDeleted => ("用户删除成功", "User deleted"),
            TokenCreated => ("Token创建成功", "Token created"),
            TokenUpdated => ("Token更新成功", "Token updated"),
            TokenDeleted => ("Token删除成功", "Token deleted"),
            TokensDeleted(n) => {
                return match lang {
                    Lang::Zh => format!("成功删除 {n} 个Token"),
                    Lang::En => format!("Deleted {n} tokens"),
                };
            }
            ChannelCreated => ("渠道添加成功", "Channel created"),
            ChannelUpdated => ("渠道更新成功", "Channel updated"),
            ChannelDeleted => ("渠道删除成功", "Channel deleted"),
            ChannelTestOk => ("渠道测试成功", "Channel test succeeded"),
            ChannelTestFailed(why) => {
                return match lang {
                    Lang::Zh => format!("渠道测试失败：{why}"),
                    Lang::En => format!("Channel test failed: {why}"),
                };
            }
            BatchTestStarted => ("开始批量测试渠道", "Testing all channels in the background"),
            RedemptionCreated => ("兑换码创建成功", "Redemption codes created"),
            RedemptionUpdated => ("兑换码更新成功", "Redemption code updated"),
            RedemptionDeleted => ("兑换码删除成功", "Redemption code deleted"),
            Redeemed(q) => {
                return match lang {
                    Lang::Zh => format!("兑换成功，获得额度 {q}"),
                    Lang::En => format!("Redeemed: {q} quota added"),
                };
            }
            OptionsUpdated => ("系统选项更新成功", "Options updated"),
            NotLoggedIn => (
                "未登录或登录已过期",
                "Not logged in, or the session has expired",
            ),
            UserHeaderMismatch => (
                "未提供 New-Api-User 请求头，或与当前用户不匹配",
                "The New-Api-User header is missing or does not match the authenticated user",
            ),
            SessionRequired => ("此操作需要登录会话", "This action requires a login session"),
            Forbidden => ("权限不足", "Permission denied"),
            RoleTooHigh => (
                "无权操作同级或更高权限的用户",
                "You cannot manage users of equal or higher role",
            ),
            CannotDeleteRoot => ("不能删除超级管理员", "The root user cannot be deleted"),
            UserBanned => ("用户已被封禁", "The user is banned"),
            WrongPassword => ("密码错误", "Wrong username or password"),
            OriginalPasswordWrong => ("原密码错误", "The original password is wrong"),
            UsernameTaken => ("用户名已存在", "The username is already taken"),
            EmailTaken => ("邮箱已被注册", "The email is already registered"),
            RegisterDisabled => ("管理员已关闭新用户注册", "Registration is disabled"),
            PasswordLoginDisabled => ("管理员已关闭密码登录", "Password login is disabled"),
            InvalidAffCode => ("邀请码无效", "The invitation code is invalid"),
            Invalid(e) => return validation_text(e, lang),
            BadRequest(detail) => {
                return match lang {
                    Lang::Zh => format!("请求参数错误：{detail}"),
                    Lang::En => format!("Bad request: {detail}"),
                };
            }
            ChannelIncomplete(field) => {
                return match lang {
                    Lang::Zh => format!("更新后的渠道缺少 {field}"),
                    Lang::En => format!("The channel as updated would lack {field}"),
                };
            }
            RateLimited(secs) => {
                return match lang {
                    Lang::Zh => format!("请求过于频繁，请在 {secs} 秒后重试"),
                    Lang::En => format!("Too many requests; retry in {secs} s"),
                };
            }
            BodyTooLarge(limit) => {
                return match lang {
                    Lang::Zh => format!("请求体超过 {limit} 字节的上限"),
                    Lang::En => format!("The request body is over the limit of {limit} bytes"),
                };
            }
            UnknownGroup(g) => {
                return match lang {
                    Lang::Zh => format!("分组 {g} 不存在"),
                    Lang::En => format!("Group {g} does not exist"),
                };
            }
            GroupNotUsable(g) => {
                return match lang {
                    Lang::Zh => format!("无权使用分组 {g}"),
                    Lang::En => format!("You may not use the group {g}"),
                };
            }
            ExpiredTimeInPast => ("过期时间不能早于当前时间", "The expiry time is in the past"),
            TokenExpiredCannotEnable => (
                "令牌已过期，无法启用，请先修改过期时间",
                "The token has expired; change its expiry time before enabling it",
            ),
            TokenExhaustedCannotEnable => (
                "令牌额度已用尽，无法启用，请先修改剩余额度",
                "The token's quota is used up; raise it before enabling the token",
            ),
            UserNotFound => ("用户不存在", "User not found"),
            TokenNotFound => ("Token不存在", "Token not found"),
            ChannelNotFound => ("渠道不存在", "Channel not found"),
            RedemptionNotFound => ("兑换码不存在", "Redemption code not found"),
            RouteNotFound => ("接口不存在", "No such endpoint"),
            MethodNotAllowed => (
                "该接口不支持此请求方法",
                "This endpoint does not support the method",
            ),
            InvalidRedemption => ("无效的兑换码", "Invalid redemption code"),
            QuotaPastMaximum => (
                "兑换后额度将超过上限",
                "The code would take your quota past the maximum",
            ),
            RedemptionUsed => (
                "该兑换码已被使用",
                "The redemption code has already been used",
            ),
            RedemptionDisabled => ("该兑换码已被禁用", "The redemption code is disabled"),
            RedemptionExpired => ("该兑换码已过期", "The redemption code has expired"),
            RedemptionUsedCannotChange => (
                "已使用的兑换码不能修改",
                "A used redemption code cannot be changed",
            ),
            BatchTestRunning => ("批量测试已在进行中", "A batch test is already running"),
            Internal => ("内部错误", "internal error"),
            Unavailable => (
                "数据库暂时不可用，请稍后重试",
                "the database is unavailable; try again shortly",
            ),
        };
        match lang {
            Lang::Zh => zh.to_owned(),
            Lang::En => en.to_owned(),
        }
    }
}

/// The `/api` envelope of an answer with data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// `true`, except for a channel test that ran and failed.
    pub success: bool,
    /// Often empty on success.
    pub message: String,
    pub data: T,
}

/// The envelope of a successful answer that carries only a message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageResponse {
    #[schema(schema_with = crate::schema::always_true)]
    pub success: bool,
    pub message: String,
}

/// The body of every `/api` error (any 4xx or 5xx status).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    #[schema(schema_with = crate::schema::always_false)]
    pub success: bool,
    /// What went wrong, in the request's language (`Accept-Language`).
    pub message: String,
}

/// The envelope of a paginated list: the items in `data`, the number of all matches in `total`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageEnvelope<T> {
    #[schema(schema_with = crate::schema::always_true)]
    pub success: bool,
    pub message: String,
    pub data: Vec<T>,
    pub total: u64,
}

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    ok_with(Msg::Empty, data)
}

/// 200 with a message and `data`.
pub fn ok_with<T: Serialize>(msg: Msg, data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        success: true,
        message: msg.text(lang()),
        data,
    })
}

/// 200 with a message only.
pub fn done(msg: Msg) -> HttpResponse {
    HttpResponse::Ok().json(MessageResponse {
        success: true,
        message: msg.text(lang()),
    })
}

/// 200 with one page of a list.
pub fn page<T: Serialize>(items: Vec<T>, total: u64) -> HttpResponse {
    HttpResponse::Ok().json(PageEnvelope {
        success: true,
        message: String::new(),
        data: items,
        total,
    })
}

/// Every way an `/api` request fails.
#[derive(Debug, Clone)]
pub enum ApiError {
    BadRequest(Msg),
    Unauthorized(Msg),
    Forbidden(Msg),
    NotFound(Msg),
    MethodNotAllowed,
    Conflict(Msg),
    TooManyRequests(Msg),
    /// 413.
    PayloadTooLarge(Msg),
    /// The detail is logged, never sent.
    Internal(String),
    /// 503: the database cannot be reached now; the detail is logged.
    Unavailable(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(detail) => write!(f, "internal error: {detail}"),
            ApiError::Unavailable(detail) => write!(f, "unavailable: {detail}"),
            other => write!(f, "{:?}", other.msg()),
        }
    }
}

impl ApiError {
    /// 400: the field `field` is invalid for `reason`.
    pub fn invalid(field: &'static str, reason: &str) -> ApiError {
        ApiError::BadRequest(Msg::Invalid(ValidationError::Field {
            field,
            reason: reason.to_owned(),
        }))
    }

    /// 400 unless `value` is a quota amount from `min` to [`domain::quota::MAX_QUOTA`].
    pub fn check_quota(field: &'static str, value: i64, min: i64) -> Result<i64, ApiError> {
        if (min..=domain::quota::MAX_QUOTA).contains(&value) {
            Ok(value)
        } else {
            Err(ApiError::invalid(
                field,
                &format!("must be from {min} to {}", domain::quota::MAX_QUOTA),
            ))
        }
    }

    fn msg(&self) -> Msg {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::TooManyRequests(m)
            | ApiError::PayloadTooLarge(m) => m.clone(),
            ApiError::MethodNotAllowed => Msg::MethodNotAllowed,
            ApiError::Internal(_) => Msg::Internal,
            ApiError::Unavailable(_) => Msg::Unavailable,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error in /api")
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the database is unavailable to /api")
            }
            _ => {}
        }
        HttpResponse::build(self.status_code()).json(ApiErrorBody {
            success: false,
            message: self.msg().text(lang()),
        })
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if persistence::unreachable(&e) {
            ApiError::Unavailable(format!("database: {e}"))
        } else {
            ApiError::Internal(format!("database: {e}"))
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::BadRequest(Msg::Invalid(e))
    }
}

/// A request part (JSON body, query, path) whose parse error is kept until the handler asks
/// for it. Actix polls all extractors together, so without this a malformed body could answer
/// 400 before the auth extractor answers 401 or 403; with it, access is decided first and bad
/// input still gets a 400 in the envelope.
pub struct Input<T>(Result<T, ApiError>);

impl<T> Input<T> {
    pub fn take(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T> actix_web::FromRequest for Input<T>
where
    T: actix_web::FromRequest + 'static,
    T::Error: Into<actix_web::Error>,
{
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let inner = T::from_request(req, payload);
        Box::pin(async move {
            Ok(Input(inner.await.map_err(|e| {
                let e: actix_web::Error = e.into();
                // The body reader's own refusals (413, 400) pass as they are.
                if let Some(api) = e.as_error::<ApiError>() {
                    return api.clone();
                }
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    return ApiError::PayloadTooLarge(Msg::BodyTooLarge(crate::body::LIMIT));
                }
                ApiError::BadRequest(Msg::BadRequest(e.to_string()))
            })))
        })
    }
}

/// Middleware: a method a route does not support answers 405 in the envelope, keeping the
/// `Allow` header actix puts on it.
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
    let mut answer = ApiError::MethodNotAllowed.error_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

/// The answer for an unknown `/api` path.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(Msg::RouteNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_in_both_languages() {
        assert_eq!(Msg::UsernameTaken.text(Lang::Zh), "用户名已存在");
        assert_eq!(Msg::TokensDeleted(3).text(Lang::Zh), "成功删除 3 个Token");
        assert_eq!(Msg::TokensDeleted(3).text(Lang::En), "Deleted 3 tokens");
        assert_eq!(
            Msg::Invalid(ValidationError::PasswordLength).text(Lang::Zh),
            "密码长度必须在8-20个字符之间"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(
            ApiError::Conflict(Msg::EmailTaken).status_code(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::Internal("x".into()).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(ApiError::Internal("secret sql".into()).msg(), Msg::Internal);
    }
}
