//! The OpenAPI document of `/api`. Handlers declare their success body and the errors only they
//! answer (404, 409, ...); [`CommonResponses`] adds what every operation of a kind answers, from
//! the same rules the extractors follow: an authenticated operation requires `New-Api-User`
//! with its credential and answers 401 and 403, one with parameters or a body answers 400 on bad input, and every error
//! carries [`ApiErrorBody`].

use crate::error::ApiErrorBody;
use crate::{auth, channel, data, log, option, redemption, system, task, token, user, user_admin};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, PartialSchema};

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::SESSION_COOKIE,
                "The session cookie set by `POST /api/user/login`; send `New-Api-User` too.",
            ))),
        );
        components.add_security_scheme(
            USER_HEADER_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                auth::USER_HEADER,
                "`New-Api-User: <id>`, the authenticated user's id; required with the session \
                 cookie and with an access token.",
            ))),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("access token")
                    .description(Some(
                        "`Authorization: Bearer <access token>`, the token from \
                         `GET /api/user/token` (not an `sk-` API key); send `New-Api-User` too.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The security scheme of the `New-Api-User` header, required together with either credential.
const USER_HEADER_SCHEME: &str = "user_id";

/// Adds the `New-Api-User` scheme to each alternative of a security requirement list: the header
/// goes with the session cookie and with the access token alike.
fn with_user_header(requirements: Vec<SecurityRequirement>) -> Vec<SecurityRequirement> {
    requirements
        .into_iter()
        .map(|requirement| {
            let mut schemes = serde_json::to_value(&requirement).unwrap_or_default();
            if let Some(schemes) = schemes.as_object_mut() {
                let scopes = schemes.values().next().cloned().unwrap_or_default();
                schemes.insert(USER_HEADER_SCHEME.into(), scopes);
            }
            serde_json::from_value(schemes).unwrap_or(requirement)
        })
        .collect()
}

/// Every operation of `/api` in this document.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The role an operation requires, from its security requirement's scopes (OpenAPI 3.1 lets
/// the scopes of non-OAuth schemes name roles): `admin`, `root`, or none for any user.
fn required_role(op: &Operation) -> Option<String> {
    let security = serde_json::to_value(op.security.as_ref()?).ok()?;
    security
        .as_array()?
        .iter()
        .filter_map(|req| req.as_object())
        .flat_map(|req| req.values())
        .filter_map(|scopes| scopes.as_array())
        .flatten()
        .find_map(|scope| scope.as_str().map(str::to_owned))
}

fn default_description(status: &str, role: Option<&str>) -> &'static str {
    match (status, role) {
        ("403", Some("admin")) => "The user is not an admin (role 10 or higher), or is banned.",
        ("403", Some("root")) => "The user is not the root user (role 100), or is banned.",
        (status, _) => match status {
            "200" => "Success.",
            "400" => {
                "Invalid input: a path, query or body value the server refuses; `message` names it."
            }
            "401" => {
                "Not logged in: no valid session cookie or access token, or `New-Api-User` is missing or \
             is not the authenticated user's id."
            }
            "403" => "The user is banned.",
            "404" => "Not found.",
            "409" => "Conflict with existing data.",
            "413" => "The body is over 1 MiB.",
            "429" => {
                "Too many requests from this address (`server.api_rate_limit` a minute; \
                 `server.critical_rate_limit` for logging in, registering, redeeming and access \
                 tokens): `Retry-After` says when to retry."
            }
            "500" => "Internal error; the detail is logged, never sent.",
            "503" => "The database cannot be reached now; retry shortly.",
            _ => "See the message.",
        },
    }
}

struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("ApiErrorBody".into(), ApiErrorBody::schema());
        let error_content = Content::new(Some(Ref::from_schema_name("ApiErrorBody")));
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let role = required_role(op);
                let takes_input = op.request_body.is_some()
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if secured {
                    op.security = op.security.take().map(with_user_header);
                }
                let responses = &mut op.responses.responses;
                let mut add = |status: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(Response::new("")));
                };
                if takes_input {
                    add("400");
                }
                if op.request_body.is_some() {
                    add("413");
                }
                if secured {
                    add("401");
                    add("403");
                }
                add("429");
                add("500");
                add("503");
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if response.description.is_empty() {
                        response.description =
                            default_description(status, role.as_deref()).to_owned();
                    }
                    if !status.starts_with('2') && response.content.is_empty() {
                        response
                            .content
                            .insert("application/json".into(), error_content.clone().into());
                    }
                }
            }
        }
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
            Every `/api` answer is the envelope `{success, message, data}`; errors carry \
            `ApiErrorBody` with any 4xx or 5xx status. A method a path does not support answers \
            405 with `Allow`. Messages are Chinese by default; send `Accept-Language: en` for English."
    ),
    components(schemas(channel::ChannelFields)),
    modifiers(&SecuritySchemes, &CommonResponses),
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
        log::list_own_logs, log::list_all_logs, task::list_own_tasks, task::list_all_tasks,
        redemption::list_redemptions, redemption::create_redemptions, redemption::update_redemption,
        redemption::delete_redemption,
        data::own_data, data::all_data,
        option::get_options, option::update_options,
    )
)]
pub struct AdminApiDoc;
