//! Channels (contract 18-23), admins only. The channel key is write-only: no response has it.

use crate::auth::AdminUser;
use crate::error::{
    ApiError, Envelope, Input, MessageResponse, Msg, PageEnvelope, done, ok, ok_with, page,
};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use domain::ChannelStatus;
use domain::validate::parse_name;
use persistence::TransactionTrait;
use persistence::channels::{self, split_list};
use relay::Change;
use relay::test_model;
use sea_orm::Set;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct ChannelView {
    pub id: i32,
    #[serde(rename = "type")]
    pub channel_type: i32,
    pub name: String,
    pub status: i32,
    pub created_time: i64,
    pub test_time: i64,
    /// Milliseconds of the last test.
    pub response_time: i32,
    pub base_url: String,
    pub models: String,
    pub group: String,
    pub used_quota: i64,
    pub request_count: i64,
    pub priority: i64,
    pub weight: i32,
    pub tag: Option<String>,
    pub model_mapping: Option<String>,
    pub test_model: String,
    pub auto_ban: i32,
    pub other: String,
    pub openai_organization: String,
}

impl From<channels::Model> for ChannelView {
    fn from(c: channels::Model) -> Self {
        ChannelView {
            id: c.id,
            channel_type: c.channel_type,
            name: c.name,
            status: c.status,
            created_time: c.created_time,
            test_time: c.test_time,
            response_time: c.response_time,
            base_url: c.base_url,
            models: c.models,
            group: c.group,
            used_quota: c.used_quota,
            request_count: c.request_count,
            priority: c.priority,
            weight: c.weight,
            tag: c.tag,
            model_mapping: c.model_mapping,
            test_model: c.test_model,
            auto_ban: c.auto_ban,
            other: c.other,
            openai_organization: c.openai_organization,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChannelListQuery {
    pub status: Option<i32>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub channel_type: Option<i32>,
    pub group: Option<String>,
    pub tag: Option<String>,
}

/// List channels, filtered and paged (admin).
#[utoipa::path(get, path = "/api/channel", tag = "channel", params(PageQuery, ChannelListQuery),
    responses((status = 200, body = PageEnvelope<ChannelView>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn list_channels(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<ChannelListQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let q = q.into_inner();
    let filter = channels::ChannelFilter {
        status: q.status,
        channel_type: q.channel_type,
        group: q.group,
        tag: q.tag,
    };
    let res = channels::list(&state.db, &filter, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(ChannelView::from).collect(),
        res.total,
    ))
}

async fn find_channel(state: &AdminState, id: i32) -> Result<channels::Model, ApiError> {
    channels::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound(Msg::ChannelNotFound))
}

/// One channel, its key masked (admin).
#[utoipa::path(get, path = "/api/channel/{id}", tag = "channel", params(("id" = i32, Path)),
    responses((status = 200, body = Envelope<ChannelView>), (status = 404, description = "No such channel.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn get_channel(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    Ok(ok(ChannelView::from(
        find_channel(&state, id.into_inner()).await?,
    )))
}

/// Fields of a channel create or update; on update, absent fields keep their value.
#[derive(Deserialize, ToSchema, Default)]
pub struct ChannelFields {
    /// 1-128 characters, not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    /// The channel type id (1 OpenAI, 3 Azure, 14 Anthropic, 24 Gemini, ...; default 1). A type
    /// without a default base URL needs `base_url`.
    #[serde(rename = "type")]
    #[schema(rename = "type", minimum = 1)]
    pub channel_type: Option<i32>,
    /// The upstream key; write-only. Empty on update keeps the old key.
    #[schema(
        pattern = r"^$|[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub key: Option<String>,
    /// `http://` or `https://` URL; empty: the type's default.
    #[schema(pattern = r"^$|^https?://")]
    pub base_url: Option<String>,
    /// Comma-separated model names, at least one.
    #[schema(
        pattern = r"[^,\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub models: Option<String>,
    /// Comma-separated groups, at least one.
    #[schema(
        pattern = r"[^,\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub group: Option<String>,
    /// 1 enabled, 2 disabled by hand, 3 disabled automatically.
    #[schema(schema_with = crate::schema::channel_status)]
    pub status: Option<i32>,
    #[schema(minimum = 0)]
    pub weight: Option<i32>,
    pub priority: Option<i64>,
    /// A JSON object of requested model -> upstream model, as a string; empty: none.
    #[schema(
        pattern = r#"^$|^\{("([^"\\\x00-\x1f]|\\["\\/bfnrt])*":"([^"\\\x00-\x1f]|\\["\\/bfnrt])*"(,"([^"\\\x00-\x1f]|\\["\\/bfnrt])*":"([^"\\\x00-\x1f]|\\["\\/bfnrt])*")*)?\}$"#
    )]
    pub model_mapping: Option<String>,
    pub tag: Option<String>,
    pub test_model: Option<String>,
    pub auto_ban: Option<i32>,
    /// Type-specific setting (Azure: the API version).
    pub other: Option<String>,
    pub openai_organization: Option<String>,
}

/// The body of a channel create, for the OpenAPI document: [`ChannelFields`] with `name`, `key`
/// and `models` required, and `base_url` required for a type without a default one.
pub struct CreateChannelBody;

impl utoipa::PartialSchema for CreateChannelBody {
    fn schema() -> RefOr<Schema> {
        let string = |pattern: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
        };
        let typed_with_default = ObjectBuilder::new().property(
            "type",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                .enum_values(Some(
                    relay::providers::TYPES_WITH_DEFAULT_BASE_URL
                        .iter()
                        .map(|t| serde_json::Value::from(*t))
                        .chain([serde_json::Value::Null]),
                )),
        );
        let with_base_url = ObjectBuilder::new()
            .property("base_url", string("^https?://"))
            .required("base_url");
        AllOfBuilder::new()
            .item(Ref::from_schema_name("ChannelFields"))
            .item(
                ObjectBuilder::new()
                    .property("name", string(r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"))
                    .property("key", string(r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"))
                    .property("models", string(r"[^,\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"))
                    .required("name")
                    .required("key")
                    .required("models"),
            )
            .item(
                AnyOfBuilder::new()
                    .item(typed_with_default)
                    .item(with_base_url),
            )
            .into()
    }
}

impl utoipa::ToSchema for CreateChannelBody {}

/// Applies `f` to `am`, checking every field given.
fn apply(am: &mut channels::ActiveModel, f: ChannelFields) -> Result<(), ApiError> {
    if let Some(v) = f.name {
        am.name = Set(parse_name(&v, 128)?);
    }
    if let Some(v) = f.channel_type {
        if v < 1 {
            return Err(ApiError::invalid(
                "type",
                "must be a positive channel type id",
            ));
        }
        am.channel_type = Set(v);
    }
    if let Some(v) = f.key.filter(|k| !k.is_empty()) {
        let v = v.trim();
        if v.is_empty() {
            return Err(ApiError::invalid("key", "must not be blank"));
        }
        am.key = Set(v.to_owned());
    }
    if let Some(v) = f.base_url {
        if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
            return Err(ApiError::invalid(
                "base_url",
                "must start with http:// or https://",
            ));
        }
        am.base_url = Set(v.trim_end_matches('/').to_owned());
    }
    if let Some(v) = f.models {
        let list = split_list(&v);
        if list.is_empty() {
            return Err(ApiError::invalid("models", "must list at least one model"));
        }
        am.models = Set(list.join(","));
    }
    if let Some(v) = f.group {
        let list = split_list(&v);
        if list.is_empty() {
            return Err(ApiError::invalid("group", "must list at least one group"));
        }
        am.group = Set(list.join(","));
    }
    if let Some(v) = f.status {
        if ChannelStatus::from_code(v).is_none() {
            return Err(ApiError::invalid("status", "must be 1, 2 or 3"));
        }
        am.status = Set(v);
    }
    if let Some(v) = f.weight {
        if v < 0 {
            return Err(ApiError::invalid("weight", "must not be negative"));
        }
        am.weight = Set(v);
    }
    if let Some(v) = f.priority {
        am.priority = Set(v);
    }
    if let Some(v) = f.model_mapping {
        if v.is_empty() {
            am.model_mapping = Set(None);
        } else {
            serde_json::from_str::<std::collections::BTreeMap<String, String>>(&v).map_err(
                |_| ApiError::invalid("model_mapping", "must be a JSON object of model names"),
            )?;
            am.model_mapping = Set(Some(v));
        }
    }
    if let Some(v) = f.tag {
        am.tag = Set(Some(v.trim().to_owned()).filter(|t| !t.is_empty()));
    }
    if let Some(v) = f.test_model {
        am.test_model = Set(v.trim().to_owned());
    }
    if let Some(v) = f.auto_ban {
        am.auto_ban = Set(i32::from(v != 0));
    }
    if let Some(v) = f.other {
        am.other = Set(v.trim().to_owned());
    }
    if let Some(v) = f.openai_organization {
        am.openai_organization = Set(v.trim().to_owned());
    }
    Ok(())
}

/// A saved channel must be usable: a key, models, and a base URL its type can reach. What is
/// missing is the request's fault on a create (400), and a conflict with the stored channel on
/// an update, whose body may leave fields as they are (409).
fn check_complete(am: &channels::ActiveModel, update: bool) -> Result<(), ApiError> {
    let get = |v: &sea_orm::ActiveValue<String>| v.as_ref().clone();
    let channel_type = *am.channel_type.as_ref();
    let missing = if get(&am.key).is_empty() {
        Some(("key", "is required"))
    } else if get(&am.name).is_empty() {
        Some(("name", "is required"))
    } else if get(&am.models).is_empty() {
        Some(("models", "must list at least one model"))
    } else if relay::providers::base_url(channel_type, am.base_url.as_ref()).is_none() {
        Some(("base_url", "is required for this channel type"))
    } else {
        None
    };
    match missing {
        None => Ok(()),
        Some((field, _)) if update => Err(ApiError::Conflict(Msg::ChannelIncomplete(field))),
        Some((field, reason)) => Err(ApiError::invalid(field, reason)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedChannel {
    pub id: i32,
    pub name: String,
}

/// Create a channel (admin).
#[utoipa::path(post, path = "/api/channel", tag = "channel", request_body = CreateChannelBody,
    responses((status = 200, body = Envelope<CreatedChannel>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn create_channel(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    body: Input<crate::body::Json<ChannelFields>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let mut am = channels::blank(relay::providers::OPENAI);
    apply(&mut am, body.into_inner())?;
    check_complete(&am, false)?;
    let txn = state.db.begin().await?;
    let saved = channels::save(&txn, am).await?;
    txn.commit().await?;
    state.relay.apply(Change::Channels).await?;
    Ok(ok_with(
        Msg::ChannelCreated,
        CreatedChannel {
            id: saved.id,
            name: saved.name,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateChannelRequest {
    pub id: i32,
    #[serde(flatten)]
    pub fields: ChannelFields,
}

/// Update a channel; fields left out keep their value (admin).
#[utoipa::path(put, path = "/api/channel", tag = "channel", request_body = UpdateChannelRequest,
    responses((status = 200, body = MessageResponse), (status = 404, description = "No such channel."),
        (status = 409, description = "The channel as updated would lack a key, a name, models, or a base URL its type needs.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn update_channel(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    body: Input<crate::body::Json<UpdateChannelRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let channel = find_channel(&state, body.id).await?;
    let mut am: channels::ActiveModel = channel.into();
    apply(&mut am, body.fields)?;
    check_complete(&am, true)?;
    let txn = state.db.begin().await?;
    channels::save(&txn, am).await?;
    txn.commit().await?;
    state.relay.apply(Change::Channels).await?;
    Ok(done(Msg::ChannelUpdated))
}

/// Delete a channel (admin).
#[utoipa::path(delete, path = "/api/channel/{id}", tag = "channel", params(("id" = i32, Path)),
    responses((status = 200, body = MessageResponse), (status = 404, description = "No such channel.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn delete_channel(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: Input<web::Path<i32>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    let txn = state.db.begin().await?;
    let deleted = channels::delete(&txn, id.into_inner()).await?;
    txn.commit().await?;
    state.relay.apply(Change::Channels).await?;
    if !deleted {
        return Err(ApiError::NotFound(Msg::ChannelNotFound));
    }
    Ok(done(Msg::ChannelDeleted))
}

/// Tests one channel and records the result: test time, response time, and its status when the
/// test re-enables an auto-disabled channel; a key the test finds unusable counts under the
/// channel health policy the relay's calls follow (`Relay::judge_key_failure`).
async fn run_test(
    state: &AdminState,
    channel: &channels::Model,
    model: Option<&str>,
) -> Result<relay::TestOutcome, ApiError> {
    let Some(model) = test_model(channel, model) else {
        return Err(ApiError::invalid(
            "model",
            "the channel has no model to test",
        ));
    };
    let outcome = relay::test_channel(&state.http, channel, &model).await;
    let new_status = (outcome.success && channel.status == ChannelStatus::AutoDisabled.code())
        .then_some(ChannelStatus::Enabled.code());
    let txn = state.db.begin().await?;
    channels::record_test(
        &txn,
        channel,
        domain::now_ts(),
        outcome.response_time_ms,
        new_status,
    )
    .await?;
    txn.commit().await?;
    if new_status.is_some() {
        state.relay.apply(Change::Channels).await?;
    }
    // A refused key counts as the relay's calls do (one policy: threshold, window, shared).
    if !outcome.success
        && outcome.key_unusable
        && let Some(info) = state.relay.channel_info(channel.id)
    {
        state.relay.judge_key_failure(&info, true).await;
    }
    Ok(outcome)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestQuery {
    /// The model to test; default: the channel's test model, else its first model.
    pub model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestResult {
    /// Milliseconds.
    pub response_time: i32,
    /// `success` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends one real minimal chat request to the channel's upstream. A failed test is still a
/// completed request: HTTP 200 with `success: false`, the reason in `message` and `data.error`.
#[utoipa::path(get, path = "/api/channel/test/{id}", tag = "channel", params(("id" = i32, Path), TestQuery),
    responses((status = 200, body = Envelope<TestResult>, description = "The test ran: `success` tells whether the channel answered."), (status = 404, description = "No such channel.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn test_channel(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: Input<web::Path<i32>>,
    q: Input<web::Query<TestQuery>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.take()?;
    let q = q.take()?;
    let channel = find_channel(&state, id.into_inner()).await?;
    let outcome = run_test(&state, &channel, q.model.as_deref()).await?;
    let result = TestResult {
        response_time: outcome.response_time_ms,
        status: if outcome.success { "success" } else { "failed" }.into(),
        error: outcome.error.clone(),
    };
    if outcome.success {
        return Ok(ok_with(Msg::ChannelTestOk, result));
    }
    let msg = Msg::ChannelTestFailed(outcome.error.unwrap_or_default());
    Ok(HttpResponse::Ok().json(Envelope {
        success: false,
        message: msg.text(crate::error::lang()),
        data: result,
    }))
}

/// Starts testing every channel not disabled by hand, one after another, in the background.
#[utoipa::path(get, path = "/api/channel/test", tag = "channel",
    responses((status = 200, body = MessageResponse), (status = 429, description = "A batch test is already running.")),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn test_all_channels(
    state: web::Data<AdminState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    if state.batch_test_running.swap(true, Ordering::SeqCst) {
        return Err(ApiError::TooManyRequests(Msg::BatchTestRunning));
    }
    let state = state.into_inner();
    let jobs = state.relay.jobs().clone();
    jobs.spawn(async move {
        match channels::all(&state.db).await {
            Ok(all) => {
                for channel in all
                    .iter()
                    .filter(|c| c.status != ChannelStatus::ManuallyDisabled.code())
                {
                    // Shutdown ends the batch between two channels.
                    if state.relay.jobs().is_cancelled() {
                        break;
                    }
                    if let Err(e) = run_test(&state, channel, None).await {
                        tracing::warn!(channel = channel.id, error = %e, "channel test failed to run");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "listing channels for the batch test"),
        }
        state.batch_test_running.store(false, Ordering::SeqCst);
    });
    Ok(done(Msg::BatchTestStarted))
}
