//! Who is calling: the session cookie (a signed JWT) or an access token, always together with
//! the `New-Api-User` header, and the role the handler requires. Handlers state their rule by
//! the extractor they take: `CurrentUser`, `AdminUser`, `RootUser` or `SessionUser`.

use crate::error::{ApiError, Msg};
use crate::state::AdminState;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use domain::{Role, UserStatus};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use persistence::users;
use serde::{Deserialize, Serialize};

pub const SESSION_COOKIE: &str = "session";
pub const USER_HEADER: &str = "New-Api-User";
const SESSION_DAYS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    uid: i32,
    role: i32,
    /// The user's session version when the cookie was issued; logout and password changes
    /// bump it, which revokes every earlier cookie.
    ver: i32,
    iat: i64,
    exp: i64,
}

/// A session cookie for `user`.
pub fn session_cookie(
    state: &AdminState,
    user: &users::Model,
) -> Result<Cookie<'static>, ApiError> {
    let now = domain::now_ts();
    let claims = Claims {
        uid: user.id,
        role: user.role,
        ver: user.session_version,
        iat: now,
        exp: now + SESSION_DAYS * 86_400,
    };
    let jwt = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&state.auth.session_secret),
    )
    .map_err(|e| ApiError::Internal(format!("signing session: {e}")))?;
    Ok(cookie(state, jwt, CookieDuration::days(SESSION_DAYS)))
}

/// A cookie that removes the session from the browser.
pub fn expired_cookie(state: &AdminState) -> Cookie<'static> {
    cookie(state, String::new(), CookieDuration::ZERO)
}

fn cookie(state: &AdminState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.auth.cookie_secure)
        .max_age(max_age)
        .finish();
    if let Some(domain) = &state.auth.cookie_domain {
        c.set_domain(domain.clone());
    }
    c
}

/// The user id of a valid session cookie, with the session version it carries.
fn verify_session(state: &AdminState, jwt: &str) -> Option<(i32, i32)> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    decode::<Claims>(
        jwt,
        &DecodingKey::from_secret(&state.auth.session_secret),
        &validation,
    )
    .ok()
    .map(|d| (d.claims.uid, d.claims.ver))
}

/// The user a session cookie belongs to, when it is still valid. Used by logout.
pub async fn session_user(
    state: &AdminState,
    req: &HttpRequest,
) -> Result<Option<users::Model>, ApiError> {
    let Some((uid, ver)) = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| verify_session(state, c.value()))
    else {
        return Ok(None);
    };
    Ok(users::find(&state.db, uid)
        .await?
        .filter(|u| u.session_version == ver))
}

/// An authenticated user of at least role `MIN`.
pub struct Authed<const MIN: i32> {
    pub user: users::Model,
    /// Authenticated by the session cookie (not an access token).
    pub via_session: bool,
}

pub type CurrentUser = Authed<1>;
pub type AdminUser = Authed<10>;
pub type RootUser = Authed<100>;

impl<const MIN: i32> Authed<MIN> {
    pub fn id(&self) -> i32 {
        self.user.id
    }

    pub fn role(&self) -> Role {
        Role(self.user.role)
    }
}

struct Credentials {
    session: Option<String>,
    access_token: Option<String>,
    user_header: Option<String>,
}

impl Credentials {
    fn from_request(req: &HttpRequest) -> Self {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let access_token = header("authorization").map(|v| match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                token.trim().to_owned()
            }
            _ => v,
        });
        Credentials {
            session: req
                .cookie(SESSION_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|v| !v.is_empty()),
            access_token,
            user_header: header(USER_HEADER),
        }
    }
}

async fn authenticate(
    state: &AdminState,
    creds: Credentials,
    min: Role,
) -> Result<(users::Model, bool), ApiError> {
    let by_session = match creds
        .session
        .as_deref()
        .and_then(|jwt| verify_session(state, jwt))
    {
        Some((uid, ver)) => users::find(&state.db, uid)
            .await?
            .filter(|u| u.session_version == ver),
        None => None,
    };
    let (user, via_session) = match by_session {
        Some(user) => (user, true),
        None => {
            let token = creds
                .access_token
                .ok_or(ApiError::Unauthorized(Msg::NotLoggedIn))?;
            let user = users::find_by_access_token(&state.db, &domain::keys::digest(&token))
                .await?
                .ok_or(ApiError::Unauthorized(Msg::NotLoggedIn))?;
            (user, false)
        }
    };
    let header_id = creds.user_header.and_then(|h| h.parse::<i32>().ok());
    if header_id != Some(user.id) {
        return Err(ApiError::Unauthorized(Msg::UserHeaderMismatch));
    }
    if user.status != UserStatus::Enabled.code() {
        return Err(ApiError::Forbidden(Msg::UserBanned));
    }
    if Role(user.role) < min {
        return Err(ApiError::Forbidden(Msg::Forbidden));
    }
    Ok((user, via_session))
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AdminState>, ApiError> {
    req.app_data::<web::Data<AdminState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("AdminState is not registered".into()))
}

impl<const MIN: i32> FromRequest for Authed<MIN> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let creds = Credentials::from_request(req);
        Box::pin(async move {
            let state = state?;
            let (user, via_session) = authenticate(&state, creds, Role(MIN)).await?;
            Ok(Authed { user, via_session })
        })
    }
}

/// A user authenticated by the session cookie; access tokens are refused (401).
pub struct SessionUser(pub CurrentUser);

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let inner = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = inner.await?;
            if !user.via_session {
                return Err(ApiError::Unauthorized(Msg::SessionRequired));
            }
            Ok(SessionUser(user))
        })
    }
}

/// bcrypt-hashes a password on the blocking pool.
pub async fn hash_password(
    state: &AdminState,
    password: &domain::validate::Password,
) -> Result<String, ApiError> {
    let plain = password.expose().to_owned();
    let cost = state.auth.bcrypt_cost;
    web::block(move || bcrypt::hash(plain, cost))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking pool: {e}")))?
        .map_err(|e| ApiError::Internal(format!("bcrypt: {e}")))
}

/// A bcrypt hash of a random password at `cost`, checked against when a login names no known
/// user. Made once per cost.
pub fn dummy_hash(cost: u32) -> &'static str {
    static HASHES: std::sync::Mutex<Vec<(u32, &'static str)>> = std::sync::Mutex::new(Vec::new());
    let mut hashes = HASHES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, h)) = hashes.iter().find(|(c, _)| *c == cost) {
        return h;
    }
    let hash = bcrypt::hash(domain::keys::random_alphanumeric(16), cost).unwrap_or_default();
    let hash: &'static str = Box::leak(hash.into_boxed_str());
    hashes.push((cost, hash));
    hash
}

/// Checks a password against a bcrypt hash on the blocking pool.
pub async fn verify_password(plain: &str, hash: &str) -> Result<bool, ApiError> {
    let (plain, hash) = (plain.to_owned(), hash.to_owned());
    web::block(move || bcrypt::verify(plain, &hash).unwrap_or(false))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking pool: {e}")))
}
