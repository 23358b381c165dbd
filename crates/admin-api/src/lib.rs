//! The management API (`/api/*`): users, API keys, channels, redemption codes, logs,
//! statistics and options, in the seed's `{"success","message","data"}` envelope.

pub mod auth;
pub mod channel;
pub mod data;
pub mod error;
pub mod log;
pub mod option;
pub mod pagination;
pub mod redemption;
pub mod state;
pub mod system;
pub mod token;
pub mod user;
pub mod user_admin;

pub use state::{AdminState, AuthSettings};

use actix_web::middleware::from_fn;
use actix_web::web;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The `/api` route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, post, put, resource};
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(error::language_scope))
            .app_data(error::json_config())
            // system
            .route("/status", get().to(system::get_status))
            .route("/about", get().to(system::get_about))
            .route("/notice", get().to(system::get_notice))
            .route(
                "/home_page_content",
                get().to(system::get_home_page_content),
            )
            // the caller's own account
            .route("/user/register", post().to(user::register))
            .route("/user/login", post().to(user::login))
            .route("/user/logout", get().to(user::logout))
            .service(
                resource("/user/self")
                    .route(get().to(user::get_self))
                    .route(put().to(user::update_self))
                    .route(delete().to(user::delete_self)),
            )
            .route("/user/token", get().to(user::generate_access_token))
            .route("/user/models", get().to(user::get_models))
            .route("/user/groups", get().to(system::get_groups))
            .route("/user/topup", post().to(user::top_up))
            // user management (admin)
            .service(
                resource("/user")
                    .route(get().to(user_admin::list_users))
                    .route(post().to(user_admin::create_user))
                    .route(put().to(user_admin::update_user)),
            )
            .route("/user/{id}", delete().to(user_admin::delete_user))
            // API keys
            .service(
                resource("/token")
                    .route(get().to(token::list_tokens))
                    .route(post().to(token::create_token))
                    .route(put().to(token::update_token)),
            )
            .route("/token/batch", post().to(token::delete_tokens))
            .service(
                resource("/token/{id}")
                    .route(get().to(token::get_token))
                    .route(delete().to(token::delete_token)),
            )
            // channels (admin)
            .service(
                resource("/channel")
                    .route(get().to(channel::list_channels))
                    .route(post().to(channel::create_channel))
                    .route(put().to(channel::update_channel)),
            )
            .route("/channel/test", get().to(channel::test_all_channels))
            .route("/channel/test/{id}", get().to(channel::test_channel))
            .service(
                resource("/channel/{id}")
                    .route(get().to(channel::get_channel))
                    .route(delete().to(channel::delete_channel)),
            )
            // logs
            .route("/log/self", get().to(log::list_own_logs))
            .route("/log", get().to(log::list_all_logs))
            // redemption codes (admin)
            .service(
                resource("/redemption")
                    .route(get().to(redemption::list_redemptions))
                    .route(post().to(redemption::create_redemptions))
                    .route(put().to(redemption::update_redemption)),
            )
            .route(
                "/redemption/{id}",
                delete().to(redemption::delete_redemption),
            )
            // statistics
            .route("/data/self", get().to(data::own_data))
            .route("/data", get().to(data::all_data))
            // options (root)
            .service(
                resource("/option")
                    .route(get().to(option::get_options))
                    .route(put().to(option::update_options)),
            )
            .default_service(web::to(error::not_found)),
    );
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of `/api`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI gateway API",
        description = "The management API (`/api`) and the OpenAI-compatible relay (`/v1`, `/dashboard`; \
            authenticated with an API key `sk-...`, errors in OpenAI's shape). Authenticated `/api` calls send the `session` cookie (from \
            `POST /api/user/login`) or `Authorization: Bearer <access token>` (from \
            `GET /api/user/token`), and always the header `New-Api-User: <their user id>`. \
            Messages are Chinese by default; send `Accept-Language: en` for English."
    ),
    modifiers(&SecuritySchemes),
    paths(
        system::get_status, system::get_about, system::get_notice, system::get_home_page_content,
        system::get_groups,
        user::register, user::login, user::logout, user::get_self, user::update_self, user::delete_self,
        user::generate_access_token, user::get_models, user::top_up,
        user_admin::list_users, user_admin::create_user, user_admin::update_user, user_admin::delete_user,
        token::list_tokens, token::get_token, token::create_token, token::update_token, token::delete_token,
        token::delete_tokens,
        channel::list_channels, channel::get_channel, channel::create_channel, channel::update_channel,
        channel::delete_channel, channel::test_channel, channel::test_all_channels,
        log::list_own_logs, log::list_all_logs,
        redemption::list_redemptions, redemption::create_redemptions, redemption::update_redemption,
        redemption::delete_redemption,
        data::own_data, data::all_data,
        option::get_options, option::update_options,
    )
)]
pub struct AdminApiDoc;
