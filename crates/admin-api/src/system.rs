//! System endpoints (contract 1-4): public, no authentication.

use crate::error::{ApiError, Envelope, ok};
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use domain::options as opt;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct StatusData {
    pub version: String,
    pub start_time: i64,
    pub system_name: String,
    pub logo: String,
    pub footer: String,
    pub top_up_link: String,
    pub chat_link: String,
    pub quota_per_unit: i64,
    pub display_in_currency: bool,
    pub register_enabled: bool,
    pub password_login_enabled: bool,
}

/// Public system status and settings the console needs before login.
#[utoipa::path(get, path = "/api/status", tag = "system",
    responses((status = 200, body = Envelope<StatusData>)))]
pub async fn get_status(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let o = &state.options;
    Ok(ok(StatusData {
        version: state.version.to_owned(),
        start_time: state.started_at,
        system_name: o.get(opt::SYSTEM_NAME),
        logo: o.get(opt::LOGO),
        footer: o.get(opt::FOOTER),
        top_up_link: o.get(opt::TOP_UP_LINK),
        chat_link: o.get(opt::CHAT_LINK),
        quota_per_unit: domain::quota::QUOTA_PER_USD,
        display_in_currency: o.get_bool(opt::DISPLAY_IN_CURRENCY_ENABLED),
        register_enabled: o.get_bool(opt::REGISTER_ENABLED),
        password_login_enabled: o.get_bool(opt::PASSWORD_LOGIN_ENABLED),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AboutData {
    pub version: String,
    pub system_name: String,
    pub footer: String,
    pub logo: String,
    /// The `About` option (Markdown, HTML or a URL).
    pub content: String,
}

/// The about text set by the admin.
#[utoipa::path(get, path = "/api/about", tag = "system",
    responses((status = 200, body = Envelope<AboutData>)))]
pub async fn get_about(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let o = &state.options;
    Ok(ok(AboutData {
        version: state.version.to_owned(),
        system_name: o.get(opt::SYSTEM_NAME),
        footer: o.get(opt::FOOTER),
        logo: o.get(opt::LOGO),
        content: o.get(opt::ABOUT),
    }))
}

/// The notice set by the admin.
#[utoipa::path(get, path = "/api/notice", tag = "system",
    responses((status = 200, body = Envelope<String>)))]
pub async fn get_notice(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    Ok(ok(state.options.get(opt::NOTICE)))
}

#[derive(Serialize, ToSchema)]
pub struct HomePageData {
    pub content: String,
}

/// The home page content set by the admin.
#[utoipa::path(get, path = "/api/home_page_content", tag = "system",
    responses((status = 200, body = Envelope<HomePageData>)))]
pub async fn get_home_page_content(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    Ok(ok(HomePageData {
        content: state.options.get(opt::HOME_PAGE_CONTENT),
    }))
}

/// The group names users and keys can be given.
#[utoipa::path(get, path = "/api/user/groups", tag = "user",
    responses((status = 200, body = Envelope<Vec<String>>)))]
pub async fn get_groups(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    Ok(ok(opt::group_names(&state.options.get(opt::GROUP_RATIO))))
}
