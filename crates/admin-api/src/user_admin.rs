//! User management by admins (contract 58-61). An admin manages only users of a lower role;
//! root can never be deleted.

use crate::auth::{self, AdminUser};
use crate::error::{
    ApiError, Envelope, Input, MessageResponse, Msg, PageEnvelope, done, ok_with, page,
};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use crate::user::{UserView, clash, ensure_free, optional_email};
use actix_web::{HttpResponse, web};
use domain::options as opt;
use domain::validate::{Password, Username, parse_display_name};
use domain::{LogType, Role, UserStatus};
use persistence::{TransactionTrait, logs, users};
use relay::Change;
use sea_orm::{ActiveModelTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Matches username, display name or email (substring).
    pub username: Option<String>,
    /// Same as `username`.
    pub keyword: Option<String>,
    pub group: Option<String>,
}

/// List users, searched and paged (admin).
#[utoipa::path(get, path = "/api/user", tag = "admin-user", params(PageQuery, UserListQuery),
    responses((status = 200, body = PageEnvelope<UserView>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn list_users(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<UserListQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let q = q.into_inner();
    let filter = users::UserFilter {
        keyword: q.username.or(q.keyword),
        group: q.group,
    };
    let res = users::list(&state.db, &filter, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(UserView::from).collect(),
        res.total,
    ))
}

/// A group must be one of the `GroupRatio` option's keys.
pub(crate) fn check_group(state: &AdminState, group: &str) -> Result<(), ApiError> {
    if opt::group_names(&state.options.get(opt::GROUP_RATIO))
        .iter()
        .any(|g| g == group)
    {
        Ok(())
    } else {
        Err(ApiError::NotFound(Msg::UnknownGroup(group.to_owned())))
    }
}

/// A role the acting admin may give: a known role below their own.
fn grantable_role(actor: Role, raw: i32) -> Result<Role, ApiError> {
    let role = Role::parse(raw).ok_or_else(|| ApiError::invalid("role", "must be 1, 10 or 100"))?;
    if role >= actor {
        return Err(ApiError::Forbidden(Msg::RoleTooHigh));
    }
    Ok(role)
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// 1-20 characters, no whitespace or control characters.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$"
    )]
    pub username: String,
    /// 8-20 characters.
    #[schema(min_length = 8, max_length = 20)]
    pub password: String,
    /// At most 20 characters; default: the username.
    #[schema(max_length = 20)]
    pub display_name: Option<String>,
    /// Empty or absent: none.
    #[schema(
        max_length = 50,
        pattern = r"^$|^[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.][^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\.[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]$"
    )]
    pub email: Option<String>,
    /// 1 user (default) or 10 admin (root only); below the caller's own role.
    #[schema(schema_with = crate::schema::role)]
    pub role: Option<i32>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub quota: Option<i64>,
    /// One of the `GroupRatio` option's groups (default `default`); another answers 404.
    pub group: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub id: i32,
    pub username: String,
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/user", tag = "admin-user", request_body = CreateUserRequest,
    responses((status = 200, body = Envelope<CreatedUser>), (status = 403, description = "Not an admin, banned, or the role is not below the caller's."), (status = 404, description = "The group does not exist."), (status = 409, description = "The username or email is taken.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn create_user(
    state: web::Data<AdminState>,
    admin: AdminUser,
    body: Input<crate::body::Json<CreateUserRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let username = Username::parse(&body.username)?;
    let password = Password::parse(&body.password)?;
    let display_name = match body
        .display_name
        .as_deref()
        .map(parse_display_name)
        .transpose()?
    {
        Some(d) if !d.is_empty() => d,
        _ => username.as_str().to_owned(),
    };
    let email = optional_email(body.email.as_deref())?;
    let role = grantable_role(admin.role(), body.role.unwrap_or(Role::USER.0))?;
    let quota = ApiError::check_quota("quota", body.quota.unwrap_or(0), 0)?;
    let group = body.group.unwrap_or_else(|| "default".into());
    check_group(&state, &group)?;
    ensure_free(&state, Some(username.as_str()), email.as_deref(), None).await?;
    let hash = auth::hash_password(&state, &password).await?;
    let name = username.into_inner();
    let created = users::insert(
        &state.db,
        users::NewUser {
            username: name.clone(),
            password_hash: hash,
            display_name,
            email: email.clone(),
            role: role.0,
            quota,
            group,
            aff_code: domain::keys::generate_aff_code(),
            inviter_id: 0,
            created_at: domain::now_ts(),
        },
    )
    .await;
    let user = match created {
        Ok(u) => u,
        Err(e) => return Err(clash(&state, e, &name, email.as_deref()).await),
    };
    Ok(ok_with(
        Msg::UserCreated,
        CreatedUser {
            id: user.id,
            username: user.username,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    pub id: i32,
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$"
    )]
    pub username: Option<String>,
    #[schema(max_length = 20)]
    pub display_name: Option<String>,
    /// 8-20 characters; empty keeps the password.
    #[schema(max_length = 20, pattern = r"^$|^[\s\S]{8,}$")]
    pub password: Option<String>,
    /// Empty removes the email.
    #[schema(
        max_length = 50,
        pattern = r"^$|^[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.][^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\.[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]$"
    )]
    pub email: Option<String>,
    /// Below the caller's own role.
    #[schema(schema_with = crate::schema::role)]
    pub role: Option<i32>,
    /// 1 enabled, 2 banned.
    #[schema(schema_with = crate::schema::user_status)]
    pub status: Option<i32>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub quota: Option<i64>,
    /// One of the `GroupRatio` option's groups; another answers 404.
    pub group: Option<String>,
}

/// The user `id`, when the acting admin may manage them (a lower role).
async fn manageable(
    state: &AdminState,
    admin: &AdminUser,
    id: i32,
) -> Result<users::Model, ApiError> {
    let target = users::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound(Msg::UserNotFound))?;
    if Role(target.role) >= admin.role() {
        return Err(ApiError::Forbidden(Msg::RoleTooHigh));
    }
    Ok(target)
}

/// Update a user (admin; only users of a lower role).
#[utoipa::path(put, path = "/api/user", tag = "admin-user", request_body = UpdateUserRequest,
    responses((status = 200, body = MessageResponse), (status = 403, description = "Not an admin, banned, or the user or the new role is not below the caller's."), (status = 404, description = "No such user, or the group does not exist."), (status = 409, description = "The username or email is taken.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn update_user(
    state: web::Data<AdminState>,
    admin: AdminUser,
    body: Input<crate::body::Json<UpdateUserRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let target = manageable(&state, &admin, body.id).await?;
    let mut am: users::ActiveModel = target.clone().into();
    let mut revoke_sessions = false;
    let mut username = target.username.clone();
    if let Some(raw) = &body.username {
        username = Username::parse(raw)?.into_inner();
        ensure_free(&state, Some(&username), None, Some(target.id)).await?;
        am.username = Set(username.clone());
    }
    if let Some(raw) = &body.display_name {
        am.display_name = Set(parse_display_name(raw)?);
    }
    let email = optional_email(body.email.as_deref())?;
    if body.email.is_some() {
        ensure_free(&state, None, email.as_deref(), Some(target.id)).await?;
        am.email = Set(email.clone());
    }
    if let Some(raw) = body.password.as_deref().filter(|p| !p.is_empty()) {
        am.password = Set(auth::hash_password(&state, &Password::parse(raw)?).await?);
        revoke_sessions = true;
    }
    if let Some(role) = body.role {
        am.role = Set(grantable_role(admin.role(), role)?.0);
    }
    if let Some(status) = body.status {
        let status = UserStatus::from_code(status)
            .ok_or_else(|| ApiError::invalid("status", "must be 1 (enabled) or 2 (banned)"))?;
        revoke_sessions |= status == UserStatus::Banned;
        am.status = Set(status.code());
    }
    if let Some(group) = &body.group {
        check_group(&state, group)?;
        am.group = Set(group.clone());
    }
    let new_quota = body
        .quota
        .map(|q| ApiError::check_quota("quota", q, 0))
        .transpose()?;
    if let Some(q) = new_quota {
        am.quota = Set(q);
    }
    if revoke_sessions {
        am.session_version = Set(target.session_version + 1);
    }
    let txn = state.db.begin().await?;
    if let Err(e) = am.update(&txn).await {
        drop(txn);
        return Err(clash(&state, e, &username, email.as_deref()).await);
    }
    if let Some(q) = new_quota.filter(|q| *q != target.quota) {
        logs::insert(
            &txn,
            logs::NewLog {
                user_id: target.id,
                username: username.clone(),
                log_type: LogType::Manage.code(),
                content: format!(
                    "管理员 {} 将用户额度从 {} 修改为 {}",
                    admin.user.username, target.quota, q
                ),
                quota: q - target.quota,
                created_at: domain::now_ts(),
                ..Default::default()
            },
        )
        .await?;
    }
    txn.commit().await?;
    let delta = new_quota.map_or(0, |q| q - target.quota);
    state
        .relay
        .apply(Change::User {
            id: target.id,
            quota_delta: delta,
        })
        .await?;
    Ok(done(Msg::UserUpdated))
}

/// Delete a user (admin; only users of a lower role).
#[utoipa::path(delete, path = "/api/user/{id}", tag = "admin-user", params(("id" = i32, Path)),
    responses((status = 200, body = MessageResponse), (status = 403, description = "Not an admin, banned, or the user is not below the caller's role (the root user is never deleted)."), (status = 404, description = "No such user.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn delete_user(
    state: web::Data<AdminState>,
    admin: AdminUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    let id = id.into_inner();
    if let Some(target) = users::find(&state.db, id).await?
        && Role(target.role) >= Role::ROOT
    {
        return Err(ApiError::Forbidden(Msg::CannotDeleteRoot));
    }
    let target = manageable(&state, &admin, id).await?;
    let txn = state.db.begin().await?;
    users::delete_with_tokens(&txn, target.id).await?;
    txn.commit().await?;
    state
        .relay
        .apply(Change::UserDeleted { id: target.id })
        .await?;
    Ok(done(Msg::UserDeleted))
}
