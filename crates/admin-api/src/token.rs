//! A user's API keys (contract 13-17). Another user's key is invisible: it answers 404.

use crate::auth::CurrentUser;
use crate::error::{
    ApiError, Envelope, Input, MessageResponse, Msg, PageEnvelope, done, ok, ok_with, page,
};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use crate::user_admin::check_group;
use actix_web::{HttpResponse, web};
use domain::TokenStatus;
use domain::keys::ApiKey;
use domain::validate::{parse_ip_list, parse_name};
use persistence::channels::split_list;
use persistence::tokens;
use relay::Change;
use sea_orm::{ActiveModelTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key as listed: the key only as a mask.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    /// Masked, e.g. `sk-abcd...wxyz`; the full key is shown once, at creation.
    pub key: String,
    pub status: i32,
    pub created_time: i64,
    pub accessed_time: i64,
    /// -1 = never expires.
    pub expired_time: i64,
    pub remain_quota: i64,
    pub unlimited_quota: bool,
    pub used_quota: i64,
    pub request_count: i64,
    pub model_limits_enabled: bool,
    pub model_limits: String,
    pub allow_ips: String,
    pub group: String,
    /// Requests a minute; 0 = no limit.
    pub rpm_limit: i32,
    /// Tokens (prompt and completion) a minute; 0 = no limit.
    pub tpm_limit: i64,
    /// Calls in flight at once; 0 = no limit.
    pub concurrency_limit: i32,
}

impl From<tokens::Model> for TokenView {
    fn from(t: tokens::Model) -> Self {
        TokenView {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            key: t.key_mask,
            status: t.status,
            created_time: t.created_time,
            accessed_time: t.accessed_time,
            expired_time: t.expired_time,
            remain_quota: t.remain_quota,
            unlimited_quota: t.unlimited_quota,
            used_quota: t.used_quota,
            request_count: t.request_count,
            model_limits_enabled: t.model_limits_enabled,
            model_limits: t.model_limits,
            allow_ips: t.allow_ips,
            group: t.group,
            rpm_limit: t.rpm_limit,
            tpm_limit: t.tpm_limit,
            concurrency_limit: t.concurrency_limit,
        }
    }
}

/// The most a key's rate limits may be set to (requests, tokens, calls in flight).
const MAX_RPM: i64 = 1_000_000;
const MAX_TPM: i64 = 1_000_000_000_000;
const MAX_CONCURRENCY: i64 = 100_000;

/// A key's limit: a whole number from 0 (no limit) to `max`.
fn check_limit(field: &'static str, value: i64, max: i64) -> Result<i64, ApiError> {
    if (0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            field,
            "must be 0 (no limit) or a positive whole number",
        ))
    }
}

/// List the caller's API keys, paged.
#[utoipa::path(get, path = "/api/token", tag = "token", params(PageQuery),
    responses((status = 200, body = PageEnvelope<TokenView>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn list_tokens(
    state: web::Data<AdminState>,
    user: CurrentUser,
    paging: Input<web::Query<PageQuery>>,
) -> Result<HttpResponse, ApiError> {
    let res = tokens::list_for_user(&state.db, user.id(), paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(TokenView::from).collect(),
        res.total,
    ))
}

/// One of the caller's API keys, masked.
#[utoipa::path(get, path = "/api/token/{id}", tag = "token", params(("id" = i32, Path)),
    responses((status = 200, body = Envelope<TokenView>), (status = 404, description = "No such key of the caller.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn get_token(
    state: web::Data<AdminState>,
    user: CurrentUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    let token = tokens::find_for_user(&state.db, user.id(), id.into_inner())
        .await?
        .ok_or(ApiError::NotFound(Msg::TokenNotFound))?;
    Ok(ok(TokenView::from(token)))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// 1-30 characters, not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 30,
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub remain_quota: i64,
    #[serde(default)]
    pub unlimited_quota: bool,
    /// Unix seconds, in the future; -1 (default) = never. A past time answers 409.
    #[serde(default = "never")]
    #[schema(minimum = -1)]
    pub expired_time: i64,
    /// Empty (default) = the user's group.
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub model_limits_enabled: bool,
    /// Comma-separated model names.
    #[serde(default)]
    pub model_limits: String,
    /// IPs or CIDRs, separated by commas (the server also takes whitespace and IPv6, which the
    /// pattern leaves out); empty = any.
    #[serde(default)]
    #[schema(
        pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?(,(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?)*)?$"
    )]
    pub allow_ips: String,
    /// Requests a minute; 0 (default) = no limit. Over it, calls answer 429 with `Retry-After`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub rpm_limit: i64,
    /// Tokens (prompt and completion) a minute; 0 (default) = no limit.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub tpm_limit: i64,
    /// Calls in flight at once (a stream counts until it ends); 0 (default) = no limit.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000)]
    pub concurrency_limit: i64,
}

fn never() -> i64 {
    -1
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i32,
    /// The full key; shown only here.
    pub key: String,
    pub name: String,
}

fn check_expiry(expired_time: i64) -> Result<(), ApiError> {
    if expired_time < -1 {
        return Err(ApiError::invalid(
            "expired_time",
            "must be -1 (never) or a time",
        ));
    }
    if expired_time != -1 && expired_time <= domain::now_ts() {
        return Err(ApiError::Conflict(Msg::ExpiredTimeInPast));
    }
    Ok(())
}

/// A token's group: empty (the user's own), or an existing group the user may use: their
/// own, or any for admins.
fn check_token_group(
    state: &AdminState,
    user: &CurrentUser,
    group: &str,
) -> Result<String, ApiError> {
    let group = group.trim();
    if !group.is_empty() {
        check_group(state, group)?;
        if group != user.user.group && !user.role().is_admin() {
            return Err(ApiError::Forbidden(Msg::GroupNotUsable(group.to_owned())));
        }
    }
    Ok(group.to_owned())
}

/// Create an API key; the full key is shown only in this answer.
#[utoipa::path(post, path = "/api/token", tag = "token", request_body = CreateTokenRequest,
    responses((status = 200, body = Envelope<CreatedToken>), (status = 403, description = "The group may not be used by the caller, or the user is banned."), (status = 404, description = "The group does not exist."), (status = 409, description = "`expired_time` is in the past.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn create_token(
    state: web::Data<AdminState>,
    user: CurrentUser,
    body: Input<crate::body::Json<CreateTokenRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let name = parse_name(&body.name, 30)?;
    ApiError::check_quota("remain_quota", body.remain_quota, 0)?;
    check_expiry(body.expired_time)?;
    let group = check_token_group(&state, &user, &body.group)?;
    let key = ApiKey::generate();
    let token = tokens::insert(
        &state.db,
        tokens::ActiveModel {
            user_id: Set(user.id()),
            key_digest: Set(key.digest()),
            key_mask: Set(key.mask()),
            name: Set(name.clone()),
            status: Set(TokenStatus::Enabled.code()),
            created_time: Set(domain::now_ts()),
            accessed_time: Set(0),
            expired_time: Set(body.expired_time),
            remain_quota: Set(body.remain_quota),
            unlimited_quota: Set(body.unlimited_quota),
            used_quota: Set(0),
            request_count: Set(0),
            model_limits_enabled: Set(body.model_limits_enabled),
            model_limits: Set(split_list(&body.model_limits).join(",")),
            allow_ips: Set(parse_ip_list(&body.allow_ips)?),
            group: Set(group),
            rpm_limit: Set(check_limit("rpm_limit", body.rpm_limit, MAX_RPM)? as i32),
            tpm_limit: Set(check_limit("tpm_limit", body.tpm_limit, MAX_TPM)?),
            concurrency_limit: Set(check_limit(
                "concurrency_limit",
                body.concurrency_limit,
                MAX_CONCURRENCY,
            )? as i32),
            ..Default::default()
        },
    )
    .await?;
    Ok(ok_with(
        Msg::TokenCreated,
        CreatedToken {
            id: token.id,
            key: key.expose().to_owned(),
            name,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateTokenRequest {
    pub id: i32,
    #[schema(
        min_length = 1,
        max_length = 30,
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    /// 1 enabled, 2 disabled. Enabling an expired or used-up key answers 409.
    #[schema(schema_with = crate::schema::token_status)]
    pub status: Option<i32>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub remain_quota: Option<i64>,
    pub unlimited_quota: Option<bool>,
    /// Unix seconds, in the future; -1 = never. A past time answers 409.
    #[schema(minimum = -1)]
    pub expired_time: Option<i64>,
    pub group: Option<String>,
    pub model_limits_enabled: Option<bool>,
    pub model_limits: Option<String>,
    #[schema(
        pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?(,(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?)*)?$"
    )]
    pub allow_ips: Option<String>,
    /// Requests a minute; 0 = no limit.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub rpm_limit: Option<i64>,
    /// Tokens a minute; 0 = no limit.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub tpm_limit: Option<i64>,
    /// Calls in flight at once; 0 = no limit.
    #[schema(minimum = 0, maximum = 100_000)]
    pub concurrency_limit: Option<i64>,
}

/// Update one of the caller's API keys.
#[utoipa::path(put, path = "/api/token", tag = "token", request_body = UpdateTokenRequest,
    responses((status = 200, body = MessageResponse), (status = 403, description = "The group may not be used by the caller, or the user is banned."), (status = 404, description = "No such key of the caller, or the group does not exist."), (status = 409, description = "`expired_time` is in the past, or the key to enable has expired or is used up.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn update_token(
    state: web::Data<AdminState>,
    user: CurrentUser,
    body: Input<crate::body::Json<UpdateTokenRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let b = body.into_inner();
    let token = tokens::find_for_user(&state.db, user.id(), b.id)
        .await?
        .ok_or(ApiError::NotFound(Msg::TokenNotFound))?;
    let mut am: tokens::ActiveModel = token.clone().into();
    if let Some(name) = &b.name {
        am.name = Set(parse_name(name, 30)?);
    }
    let remain_quota = b.remain_quota.unwrap_or(token.remain_quota);
    ApiError::check_quota("remain_quota", remain_quota, 0)?;
    // Written only when given: billing commits move it meanwhile.
    if b.remain_quota.is_some() {
        am.remain_quota = Set(remain_quota);
    }
    let unlimited = b.unlimited_quota.unwrap_or(token.unlimited_quota);
    am.unlimited_quota = Set(unlimited);
    let expired_time = b.expired_time.unwrap_or(token.expired_time);
    if b.expired_time.is_some() {
        check_expiry(expired_time)?;
    }
    am.expired_time = Set(expired_time);
    if let Some(group) = &b.group {
        am.group = Set(check_token_group(&state, &user, group)?);
    }
    if let Some(v) = b.model_limits_enabled {
        am.model_limits_enabled = Set(v);
    }
    if let Some(v) = &b.model_limits {
        am.model_limits = Set(split_list(v).join(","));
    }
    if let Some(v) = &b.allow_ips {
        am.allow_ips = Set(parse_ip_list(v)?);
    }
    if let Some(v) = b.rpm_limit {
        am.rpm_limit = Set(check_limit("rpm_limit", v, MAX_RPM)? as i32);
    }
    if let Some(v) = b.tpm_limit {
        am.tpm_limit = Set(check_limit("tpm_limit", v, MAX_TPM)?);
    }
    if let Some(v) = b.concurrency_limit {
        am.concurrency_limit = Set(check_limit("concurrency_limit", v, MAX_CONCURRENCY)? as i32);
    }
    if let Some(status) = b.status {
        let status = match TokenStatus::from_code(status) {
            Some(s @ (TokenStatus::Enabled | TokenStatus::Disabled)) => s,
            _ => {
                return Err(ApiError::invalid(
                    "status",
                    "must be 1 (enabled) or 2 (disabled)",
                ));
            }
        };
        if status == TokenStatus::Enabled {
            if expired_time != -1 && expired_time <= domain::now_ts() {
                return Err(ApiError::Conflict(Msg::TokenExpiredCannotEnable));
            }
            if !unlimited && remain_quota <= 0 {
                return Err(ApiError::Conflict(Msg::TokenExhaustedCannotEnable));
            }
        }
        am.status = Set(status.code());
    }
    am.update(&state.db).await?;
    if unlimited != token.unlimited_quota {
        state
            .relay
            .apply(Change::TokenLimitSwitched { id: token.id })
            .await?;
    } else {
        let quota_delta = remain_quota - token.remain_quota;
        state
            .relay
            .apply(Change::Token {
                id: token.id,
                quota_delta,
            })
            .await?;
    }
    Ok(done(Msg::TokenUpdated))
}

/// Delete one of the caller's API keys.
#[utoipa::path(delete, path = "/api/token/{id}", tag = "token", params(("id" = i32, Path)),
    responses((status = 200, body = MessageResponse), (status = 404, description = "No such key of the caller.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn delete_token(
    state: web::Data<AdminState>,
    user: CurrentUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    let id = id.into_inner();
    let deleted = tokens::delete_for_user(&state.db, user.id(), &[id]).await?;
    if deleted.is_empty() {
        return Err(ApiError::NotFound(Msg::TokenNotFound));
    }
    forget_tokens(&state, &deleted).await?;
    Ok(done(Msg::TokenDeleted))
}

/// Drops deleted tokens from the relay's caches, on every instance.
async fn forget_tokens(state: &AdminState, ids: &[i32]) -> Result<(), ApiError> {
    for id in ids {
        state.relay.apply(Change::TokenDeleted { id: *id }).await?;
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct BatchDeleteRequest {
    /// 1-1000 key ids.
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<i32>,
}

/// Deletes those of `ids` that are the caller's; others are left alone and not counted.
#[utoipa::path(post, path = "/api/token/batch", tag = "token", request_body = BatchDeleteRequest,
    responses((status = 200, body = Envelope<u64>, description = "`data`: how many were deleted")),
    security(("session" = []), ("access_token" = [])))]
pub async fn delete_tokens(
    state: web::Data<AdminState>,
    user: CurrentUser,
    body: Input<crate::body::Json<BatchDeleteRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    if body.ids.is_empty() || body.ids.len() > 1000 {
        return Err(ApiError::invalid("ids", "must list 1-1000 ids"));
    }
    let deleted = tokens::delete_for_user(&state.db, user.id(), &body.ids).await?;
    forget_tokens(&state, &deleted).await?;
    let n = deleted.len() as u64;
    Ok(ok_with(Msg::TokensDeleted(n), n))
}
