//! The management API (`/api/*`): users, API keys, channels, redemption codes, logs,
//! statistics and options, in the seed's `{"success","message","data"}` envelope.

pub mod auth;
pub mod body;
pub mod channel;
pub mod data;
pub mod error;
pub mod log;
pub mod openapi;
pub mod option;
pub mod pagination;
pub mod redemption;
pub mod schema;
pub mod state;
pub mod system;
pub mod task;
pub mod token;
pub mod user;
pub mod user_admin;

pub use openapi::AdminApiDoc;
pub use state::{AdminState, AuthSettings};

use actix_web::middleware::from_fn;
use actix_web::web;

/// The `/api` route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, post, put, resource};
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(error::method_not_allowed))
            .wrap(from_fn(error::language_scope))
            .app_data(web::PayloadConfig::new(body::LIMIT))
            // system
            .service(resource("/status").route(get().to(system::get_status)))
            .service(resource("/about").route(get().to(system::get_about)))
            .service(resource("/notice").route(get().to(system::get_notice)))
            .service(resource("/home_page_content").route(get().to(system::get_home_page_content)))
            // the caller's own account
            .service(resource("/user/register").route(post().to(user::register)))
            .service(resource("/user/login").route(post().to(user::login)))
            .service(resource("/user/logout").route(get().to(user::logout)))
            .service(
                resource("/user/self")
                    .route(get().to(user::get_self))
                    .route(put().to(user::update_self))
                    .route(delete().to(user::delete_self)),
            )
            .service(resource("/user/token").route(get().to(user::generate_access_token)))
            .service(resource("/user/models").route(get().to(user::get_models)))
            .service(resource("/user/groups").route(get().to(system::get_groups)))
            .service(resource("/user/topup").route(post().to(user::top_up)))
            // user management (admin)
            .service(
                resource("/user")
                    .route(get().to(user_admin::list_users))
                    .route(post().to(user_admin::create_user))
                    .route(put().to(user_admin::update_user)),
            )
            .service(resource("/user/{id}").route(delete().to(user_admin::delete_user)))
            // API keys
            .service(
                resource("/token")
                    .route(get().to(token::list_tokens))
                    .route(post().to(token::create_token))
                    .route(put().to(token::update_token)),
            )
            .service(resource("/token/batch").route(post().to(token::delete_tokens)))
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
            .service(resource("/channel/test").route(get().to(channel::test_all_channels)))
            .service(resource("/channel/test/{id}").route(get().to(channel::test_channel)))
            .service(
                resource("/channel/{id}")
                    .route(get().to(channel::get_channel))
                    .route(delete().to(channel::delete_channel)),
            )
            // logs
            .service(resource("/log/self").route(get().to(log::list_own_logs)))
            .service(resource("/log").route(get().to(log::list_all_logs)))
            .service(resource("/task/self").route(get().to(task::list_own_tasks)))
            .service(resource("/task").route(get().to(task::list_all_tasks)))
            // redemption codes (admin)
            .service(
                resource("/redemption")
                    .route(get().to(redemption::list_redemptions))
                    .route(post().to(redemption::create_redemptions))
                    .route(put().to(redemption::update_redemption)),
            )
            .service(resource("/redemption/{id}").route(delete().to(redemption::delete_redemption)))
            // statistics
            .service(resource("/data/self").route(get().to(data::own_data)))
            .service(resource("/data").route(get().to(data::all_data)))
            // options (root)
            .service(
                resource("/option")
                    .route(get().to(option::get_options))
                    .route(put().to(option::update_options)),
            )
            .default_service(web::to(error::not_found)),
    );
}
