//! Redemption codes (contract 26-27, plus update and delete), admins only. Each code is
//! single-use; `count` on create makes that many codes.

use crate::auth::AdminUser;
use crate::error::{
    ApiError, Envelope, Input, MessageResponse, Msg, PageEnvelope, done, ok_with, page,
};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use domain::RedemptionStatus;
use domain::validate::parse_name;
use persistence::{TransactionTrait, redemptions};
use sea_orm::Set;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: i32,
    pub name: String,
    pub key: String,
    /// 1 unused, 2 disabled, 3 used.
    pub status: i32,
    pub quota: i64,
    pub created_time: i64,
    pub redeemed_time: i64,
    pub used_user_id: i32,
    /// 0 = never.
    pub expired_time: i64,
    /// Uses a code allows: always 1 (codes are single-use).
    pub count: i32,
    /// 1 once redeemed, else 0.
    pub used_count: i32,
}

impl From<redemptions::Model> for RedemptionView {
    fn from(r: redemptions::Model) -> Self {
        let used = i32::from(r.status == RedemptionStatus::Used.code());
        RedemptionView {
            id: r.id,
            name: r.name,
            key: r.key,
            status: r.status,
            quota: r.quota,
            created_time: r.created_time,
            redeemed_time: r.redeemed_time,
            used_user_id: r.used_user_id,
            expired_time: r.expired_time,
            count: 1,
            used_count: used,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedemptionListQuery {
    /// Matches the name (substring) or the exact key.
    pub keyword: Option<String>,
}

/// List redemption codes, searched and paged (admin).
#[utoipa::path(get, path = "/api/redemption", tag = "redemption", params(PageQuery, RedemptionListQuery),
    responses((status = 200, body = PageEnvelope<RedemptionView>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn list_redemptions(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<RedemptionListQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let res = redemptions::list(&state.db, q.keyword.as_deref(), paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(RedemptionView::from).collect(),
        res.total,
    ))
}

fn check_expiry(expired_time: i64) -> Result<i64, ApiError> {
    if expired_time < 0 {
        return Err(ApiError::invalid(
            "expired_time",
            "must be 0 (never) or a time",
        ));
    }
    if expired_time != 0 && expired_time <= domain::now_ts() {
        return Err(ApiError::Conflict(Msg::ExpiredTimeInPast));
    }
    Ok(expired_time)
}

#[derive(Deserialize, ToSchema)]
pub struct CreateRedemptionRequest {
    /// 1-64 characters, not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub quota: i64,
    /// How many codes to make, 1-100 (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100)]
    pub count: u32,
    /// Unix seconds, in the future; 0 (default) = never. A past time answers 409.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub expired_time: i64,
}

fn one() -> u32 {
    1
}

#[derive(Serialize, ToSchema)]
pub struct CreatedRedemptions {
    /// The first code's id and key (the seed's shape).
    pub id: i32,
    pub key: String,
    /// Every code made.
    pub ids: Vec<i32>,
    pub keys: Vec<String>,
}

/// Create redemption codes (admin).
#[utoipa::path(post, path = "/api/redemption", tag = "redemption", request_body = CreateRedemptionRequest,
    responses((status = 200, body = Envelope<CreatedRedemptions>), (status = 409, description = "`expired_time` is in the past.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn create_redemptions(
    state: web::Data<AdminState>,
    admin: AdminUser,
    body: Input<crate::body::Json<CreateRedemptionRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let name = parse_name(&body.name, 64)?;
    let quota = ApiError::check_quota("quota", body.quota, 1)?;
    if !(1..=100).contains(&body.count) {
        return Err(ApiError::invalid("count", "must be 1-100"));
    }
    let expired_time = check_expiry(body.expired_time)?;
    let now = domain::now_ts();
    let txn = state.db.begin().await?;
    let mut made = Vec::with_capacity(body.count as usize);
    for _ in 0..body.count {
        let code = redemptions::insert(
            &txn,
            redemptions::ActiveModel {
                user_id: Set(admin.id()),
                key: Set(domain::keys::generate_redemption_key()),
                status: Set(RedemptionStatus::Unused.code()),
                name: Set(name.clone()),
                quota: Set(quota),
                created_time: Set(now),
                redeemed_time: Set(0),
                used_user_id: Set(0),
                expired_time: Set(expired_time),
                ..Default::default()
            },
        )
        .await?;
        made.push(code);
    }
    txn.commit().await?;
    let (id, key) = made
        .first()
        .map(|c| (c.id, c.key.clone()))
        .ok_or_else(|| ApiError::Internal("no code made".into()))?;
    Ok(ok_with(
        Msg::RedemptionCreated,
        CreatedRedemptions {
            id,
            key,
            ids: made.iter().map(|c| c.id).collect(),
            keys: made.into_iter().map(|c| c.key).collect(),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateRedemptionRequest {
    pub id: i32,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub quota: Option<i64>,
    /// 1 unused (enable) or 2 disabled.
    #[schema(schema_with = crate::schema::redemption_status)]
    pub status: Option<i32>,
    /// Unix seconds, in the future; 0 = never. A past time answers 409.
    #[schema(minimum = 0)]
    pub expired_time: Option<i64>,
}

/// Changes an unused or disabled code; a used code cannot change.
#[utoipa::path(put, path = "/api/redemption", tag = "redemption", request_body = UpdateRedemptionRequest,
    responses((status = 200, body = MessageResponse), (status = 404, description = "No such code."), (status = 409, description = "The code is used, or `expired_time` is in the past.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn update_redemption(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    body: Input<crate::body::Json<UpdateRedemptionRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let code = redemptions::find(&state.db, body.id)
        .await?
        .ok_or(ApiError::NotFound(Msg::RedemptionNotFound))?;
    if code.status == RedemptionStatus::Used.code() {
        return Err(ApiError::Conflict(Msg::RedemptionUsedCannotChange));
    }
    let mut am: redemptions::ActiveModel = code.into();
    if let Some(v) = &body.name {
        am.name = Set(parse_name(v, 64)?);
    }
    if let Some(v) = body.quota {
        am.quota = Set(ApiError::check_quota("quota", v, 1)?);
    }
    if let Some(v) = body.expired_time {
        am.expired_time = Set(check_expiry(v)?);
    }
    if let Some(v) = body.status {
        match RedemptionStatus::from_code(v) {
            Some(s @ (RedemptionStatus::Unused | RedemptionStatus::Disabled)) => {
                am.status = Set(s.code())
            }
            _ => {
                return Err(ApiError::invalid(
                    "status",
                    "must be 1 (unused) or 2 (disabled)",
                ));
            }
        }
    }
    // Only an unused or disabled row changes: a concurrent redeem wins over this edit.
    // (MySQL counts a row whose values did not change as unaffected: read it again to tell.)
    if !redemptions::update_unless_used(&state.db, body.id, am).await?
        && redemptions::find(&state.db, body.id)
            .await?
            .is_none_or(|c| c.status == RedemptionStatus::Used.code())
    {
        return Err(ApiError::Conflict(Msg::RedemptionUsedCannotChange));
    }
    Ok(done(Msg::RedemptionUpdated))
}

/// Delete a redemption code (admin).
#[utoipa::path(delete, path = "/api/redemption/{id}", tag = "redemption", params(("id" = i32, Path)),
    responses((status = 200, body = MessageResponse), (status = 404, description = "No such code.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn delete_redemption(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    if !redemptions::delete(&state.db, id.into_inner()).await? {
        return Err(ApiError::NotFound(Msg::RedemptionNotFound));
    }
    Ok(done(Msg::RedemptionDeleted))
}
