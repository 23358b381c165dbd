//! A user's own account (contract 5-12, logout, top-up).

use crate::auth::{self, CurrentUser, SessionUser};
use crate::error::{ApiError, Envelope, Input, MessageResponse, Msg, done, ok, ok_with};
use crate::state::AdminState;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::options as opt;
use domain::validate::{Password, Username, parse_display_name, parse_email};
use domain::{LogType, RedemptionStatus, Role, UserStatus};
use persistence::{TransactionTrait, abilities, is_unique_violation, logs, redemptions, users};
use relay::Change;
use sea_orm::{ActiveModelTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as the API shows them: never the password hash or access token.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub role: i32,
    pub status: i32,
    pub quota: i64,
    pub used_quota: i64,
    pub request_count: i64,
    pub group: String,
    pub aff_code: String,
    pub aff_count: i32,
    pub aff_quota: i64,
    pub aff_history_quota: i64,
    pub inviter_id: i32,
    pub created_at: i64,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            email: u.email.unwrap_or_default(),
            role: u.role,
            status: u.status,
            quota: u.quota,
            used_quota: u.used_quota,
            request_count: u.request_count,
            group: u.group,
            aff_code: u.aff_code,
            aff_count: u.aff_count,
            aff_quota: u.aff_quota,
            aff_history_quota: u.aff_history_quota,
            inviter_id: u.inviter_id,
            created_at: u.created_at,
        }
    }
}

/// Maps a unique-constraint violation on insert/update of a user to the field that clashed.
pub(crate) async fn clash(
    state: &AdminState,
    err: sea_orm::DbErr,
    username: &str,
    email: Option<&str>,
) -> ApiError {
    if !is_unique_violation(&err) {
        return err.into();
    }
    match users::find_by_username(&state.db, username).await {
        Ok(Some(_)) => return ApiError::Conflict(Msg::UsernameTaken),
        Err(e) => return e.into(),
        Ok(None) => {}
    }
    match email {
        Some(e)
            if users::email_taken(&state.db, e, None)
                .await
                .unwrap_or(false) =>
        {
            ApiError::Conflict(Msg::EmailTaken)
        }
        _ => err.into(),
    }
}

/// Checks username and email are free before an insert (the unique indexes are the backstop).
pub(crate) async fn ensure_free(
    state: &AdminState,
    username: Option<&str>,
    email: Option<&str>,
    except: Option<i32>,
) -> Result<(), ApiError> {
    if let Some(name) = username
        && let Some(existing) = users::find_by_username(&state.db, name).await?
        && Some(existing.id) != except
    {
        return Err(ApiError::Conflict(Msg::UsernameTaken));
    }
    if let Some(e) = email
        && users::email_taken(&state.db, e, except).await?
    {
        return Err(ApiError::Conflict(Msg::EmailTaken));
    }
    Ok(())
}

/// An optional email: empty means none.
pub(crate) fn optional_email(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.filter(|e| !e.is_empty()) {
        Some(e) => Ok(Some(parse_email(e)?)),
        None => Ok(None),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
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
    /// Empty or absent: none.
    #[serde(default)]
    #[schema(
        max_length = 50,
        pattern = r"^$|^[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.][^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\.[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]$"
    )]
    pub email: Option<String>,
    /// An inviter's `aff_code`.
    #[serde(default)]
    pub aff_code: Option<String>,
}

/// Register a new user.
#[utoipa::path(post, path = "/api/user/register", tag = "user", request_body = RegisterRequest,
    responses((status = 200, body = MessageResponse), (status = 403, description = "Registration is disabled."), (status = 404, description = "No user has this `aff_code`."), (status = 409, description = "The username or email is taken.")))]
pub async fn register(
    state: web::Data<AdminState>,
    body: Input<crate::body::Json<RegisterRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let o = &state.options;
    if !o.get_bool(opt::REGISTER_ENABLED) {
        return Err(ApiError::Forbidden(Msg::RegisterDisabled));
    }
    let username = Username::parse(&body.username)?;
    let password = Password::parse(&body.password)?;
    let email = optional_email(body.email.as_deref())?;
    ensure_free(&state, Some(username.as_str()), email.as_deref(), None).await?;
    let inviter = match body
        .aff_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(code) => Some(
            users::find_by_aff_code(&state.db, code)
                .await?
                .ok_or(ApiError::NotFound(Msg::InvalidAffCode))?,
        ),
        None => None,
    };
    let hash = auth::hash_password(&state, &password).await?;

    let now = domain::now_ts();
    let new_user_quota = o.get_i64(opt::QUOTA_FOR_NEW_USER);
    let invitee_reward = if inviter.is_some() {
        o.get_i64(opt::QUOTA_FOR_INVITEE)
    } else {
        0
    };
    let inviter_reward = o.get_i64(opt::QUOTA_FOR_INVITER);
    let name = username.as_str().to_owned();
    let txn = state.db.begin().await?;
    let created = users::insert(
        &txn,
        users::NewUser {
            username: name.clone(),
            password_hash: hash,
            display_name: name.clone(),
            email: email.clone(),
            role: Role::USER.0,
            quota: (new_user_quota + invitee_reward).min(domain::quota::MAX_QUOTA),
            group: "default".into(),
            aff_code: domain::keys::generate_aff_code(),
            inviter_id: inviter.as_ref().map_or(0, |i| i.id),
            created_at: now,
        },
    )
    .await;
    let user = match created {
        Ok(u) => u,
        Err(e) => {
            drop(txn);
            return Err(clash(&state, e, &name, email.as_deref()).await);
        }
    };
    let log = |user_id: i32, username: &str, log_type: LogType, content: String, quota: i64| {
        logs::NewLog {
            user_id,
            username: username.to_owned(),
            log_type: log_type.code(),
            content,
            quota,
            created_at: now,
            ..Default::default()
        }
    };
    if new_user_quota > 0 {
        let content = format!("新用户注册赠送 {new_user_quota} 额度");
        logs::insert(
            &txn,
            log(user.id, &name, LogType::System, content, new_user_quota),
        )
        .await?;
    }
    let mut credited = false;
    if let Some(inviter) = &inviter {
        if invitee_reward > 0 {
            let content = format!("使用邀请码赠送 {invitee_reward} 额度");
            logs::insert(
                &txn,
                log(user.id, &name, LogType::TopUp, content, invitee_reward),
            )
            .await?;
        }
        credited = users::credit_inviter(&txn, inviter.id, inviter_reward).await?;
        if credited && inviter_reward > 0 {
            let content = format!("邀请用户 {name} 注册赠送 {inviter_reward} 额度");
            logs::insert(
                &txn,
                log(
                    inviter.id,
                    &inviter.username,
                    LogType::TopUp,
                    content,
                    inviter_reward,
                ),
            )
            .await?;
        }
    }
    txn.commit().await?;
    if let Some(inviter) = inviter.as_ref().filter(|_| credited) {
        state
            .relay
            .apply(Change::User {
                id: inviter.id,
                quota_delta: inviter_reward,
            })
            .await?;
    }
    Ok(done(Msg::RegisterOk))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginData {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: i32,
    pub status: i32,
    pub group: String,
}

/// Log in with username and password; sets the session cookie.
#[utoipa::path(post, path = "/api/user/login", tag = "user", request_body = LoginRequest,
    responses((status = 200, body = Envelope<LoginData>, description = "Logged in; sets the `session` cookie."), (status = 401, description = "Wrong username or password."), (status = 403, description = "Password login is disabled, or the user is banned.")))]
pub async fn login(
    state: web::Data<AdminState>,
    body: Input<crate::body::Json<LoginRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    if !state.options.get_bool(opt::PASSWORD_LOGIN_ENABLED) {
        return Err(ApiError::Forbidden(Msg::PasswordLoginDisabled));
    }
    let user = users::find_by_username(&state.db, body.username.trim()).await?;
    // An unknown user costs the same hash check as a known one, so timing tells nothing.
    let hash = match &user {
        Some(u) => u.password.clone(),
        None => auth::dummy_hash(state.auth.bcrypt_cost).to_owned(),
    };
    let matches = auth::verify_password(&body.password, &hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::Unauthorized(Msg::WrongPassword));
    };
    if user.status != UserStatus::Enabled.code() {
        return Err(ApiError::Forbidden(Msg::UserBanned));
    }
    let cookie = auth::session_cookie(&state, &user)?;
    let mut resp = ok_with(
        Msg::LoginOk,
        LoginData {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            status: user.status,
            group: user.group,
        },
    );
    resp.add_cookie(&cookie)
        .map_err(|e| ApiError::Internal(format!("cookie: {e}")))?;
    Ok(resp)
}

/// Ends the session: clears the cookie and, when it was valid, revokes every session of that
/// user (the session version moves on).
#[utoipa::path(get, path = "/api/user/logout", tag = "user",
    responses((status = 200, body = MessageResponse)))]
pub async fn logout(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(user) = auth::session_user(&state, &req).await? {
        let version = user.session_version + 1;
        let mut am: users::ActiveModel = user.into();
        am.session_version = Set(version);
        am.update(&state.db).await?;
    }
    let mut resp = done(Msg::LogoutOk);
    resp.add_cookie(&auth::expired_cookie(&state))
        .map_err(|e| ApiError::Internal(format!("cookie: {e}")))?;
    Ok(resp)
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/user/self", tag = "user",
    responses((status = 200, body = Envelope<UserView>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn get_self(user: CurrentUser) -> Result<HttpResponse, ApiError> {
    Ok(ok(UserView::from(user.user)))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateSelfRequest {
    /// At most 20 characters; empty shows the username.
    #[schema(max_length = 20)]
    pub display_name: Option<String>,
    /// Empty removes the email.
    #[schema(
        max_length = 50,
        pattern = r"^$|^[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.][^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\.[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.]$"
    )]
    pub email: Option<String>,
    /// A new password (8-20 characters; empty keeps the old one); requires `original_password`.
    #[schema(max_length = 20, pattern = r"^$|^[\s\S]{8,}$")]
    pub password: Option<String>,
    pub original_password: Option<String>,
}

/// Update the caller's own account (display name, email, password).
#[utoipa::path(put, path = "/api/user/self", tag = "user", request_body = UpdateSelfRequest,
    responses((status = 200, body = MessageResponse), (status = 403, description = "`original_password` is wrong, or the user is banned."), (status = 409, description = "The email is taken.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn update_self(
    state: web::Data<AdminState>,
    user: CurrentUser,
    body: Input<crate::body::Json<UpdateSelfRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let current = user.user.clone();
    let mut am: users::ActiveModel = user.user.into();
    if let Some(name) = &body.display_name {
        am.display_name = Set(parse_display_name(name)?);
    }
    if let Some(raw) = &body.email {
        let email = optional_email(Some(raw))?;
        ensure_free(&state, None, email.as_deref(), Some(current.id)).await?;
        am.email = Set(email);
    }
    let mut password_changed = false;
    if let Some(raw) = body.password.as_deref().filter(|p| !p.is_empty()) {
        let password = Password::parse(raw)?;
        let original = body.original_password.as_deref().unwrap_or_default();
        if !auth::verify_password(original, &current.password).await? {
            return Err(ApiError::Forbidden(Msg::OriginalPasswordWrong));
        }
        am.password = Set(auth::hash_password(&state, &password).await?);
        am.session_version = Set(current.session_version + 1);
        password_changed = true;
    }
    let email = body.email.clone();
    let updated = match am.update(&state.db).await {
        Ok(u) => u,
        Err(e) => return Err(clash(&state, e, "", email.as_deref()).await),
    };
    let mut resp = done(Msg::SelfUpdated);
    if password_changed && user.via_session {
        // Other sessions are revoked; this browser gets a fresh cookie.
        resp.add_cookie(&auth::session_cookie(&state, &updated)?)
            .map_err(|e| ApiError::Internal(format!("cookie: {e}")))?;
    }
    Ok(resp)
}

/// Delete the caller's own account (not the root user).
#[utoipa::path(delete, path = "/api/user/self", tag = "user",
    responses((status = 200, body = MessageResponse), (status = 403, description = "The root user cannot delete itself; or the user is banned.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn delete_self(
    state: web::Data<AdminState>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    if user.role() >= Role::ROOT {
        return Err(ApiError::Forbidden(Msg::CannotDeleteRoot));
    }
    let txn = state.db.begin().await?;
    users::delete_with_tokens(&txn, user.id()).await?;
    txn.commit().await?;
    state
        .relay
        .apply(Change::UserDeleted { id: user.id() })
        .await?;
    let mut resp = done(Msg::UserDeleted);
    resp.add_cookie(&auth::expired_cookie(&state))
        .map_err(|e| ApiError::Internal(format!("cookie: {e}")))?;
    Ok(resp)
}

/// Issues a new 32-character access token, replacing the old one. Session only.
#[utoipa::path(get, path = "/api/user/token", tag = "user",
    responses((status = 200, body = Envelope<String>, description = "`data`: the new access token."), (status = 401, description = "Not logged in with a session cookie (an access token cannot make a new one), or `New-Api-User` is missing or wrong.")),
    security(("session" = [])))]
pub async fn generate_access_token(
    state: web::Data<AdminState>,
    user: SessionUser,
) -> Result<HttpResponse, ApiError> {
    let token = domain::keys::generate_access_token();
    users::set_access_token(&state.db, user.0.id(), &domain::keys::digest(&token)).await?;
    Ok(ok(token))
}

/// The models the caller's group can use.
#[utoipa::path(get, path = "/api/user/models", tag = "user",
    responses((status = 200, body = Envelope<Vec<String>>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn get_models(
    state: web::Data<AdminState>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    Ok(ok(
        abilities::models_for_group(&state.db, &user.user.group).await?
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct TopUpRequest {
    /// A redemption code.
    pub key: String,
}

/// Redeems a code: exactly once, even when two requests race for it.
#[utoipa::path(post, path = "/api/user/topup", tag = "user", request_body = TopUpRequest,
    responses((status = 200, body = Envelope<i64>, description = "`data`: the quota added."), (status = 404, description = "No such code."), (status = 409, description = "The code is used, disabled or expired, or would take the quota past the maximum.")),
    security(("session" = []), ("access_token" = [])))]
pub async fn top_up(
    state: web::Data<AdminState>,
    user: CurrentUser,
    body: Input<crate::body::Json<TopUpRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let key = body.key.trim();
    if key.is_empty() {
        return Err(ApiError::NotFound(Msg::InvalidRedemption));
    }
    let now = domain::now_ts();
    let txn = state.db.begin().await?;
    if !redemptions::claim(&txn, key, user.id(), now).await? {
        drop(txn);
        return Err(match redemptions::find_by_key(&state.db, key).await? {
            None => ApiError::NotFound(Msg::InvalidRedemption),
            Some(c) if c.status == RedemptionStatus::Disabled.code() => {
                ApiError::Conflict(Msg::RedemptionDisabled)
            }
            Some(c) if c.status == RedemptionStatus::Unused.code() => {
                ApiError::Conflict(Msg::RedemptionExpired)
            }
            Some(_) => ApiError::Conflict(Msg::RedemptionUsed),
        });
    }
    let code = redemptions::find_by_key(&txn, key)
        .await?
        .ok_or_else(|| ApiError::Internal("claimed code vanished".into()))?;
    if !users::add_quota(&txn, user.id(), code.quota).await? {
        drop(txn);
        return Err(ApiError::Conflict(Msg::QuotaPastMaximum));
    }
    logs::insert(
        &txn,
        logs::NewLog {
            user_id: user.id(),
            username: user.user.username.clone(),
            log_type: LogType::TopUp.code(),
            content: format!("通过兑换码充值 {} 额度，兑换码 ID {}", code.quota, code.id),
            quota: code.quota,
            created_at: now,
            ..Default::default()
        },
    )
    .await?;
    txn.commit().await?;
    state
        .relay
        .apply(Change::User {
            id: user.id(),
            quota_delta: code.quota,
        })
        .await?;
    Ok(ok_with(Msg::Redeemed(code.quota), code.quota))
}
