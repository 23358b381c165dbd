//! Logs (contract 24-25): a user's own, or everyone's for admins.

use crate::auth::{AdminUser, CurrentUser};
use crate::error::{ApiError, Input, PageEnvelope, page};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use persistence::logs::{self, LogFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct LogView {
    pub id: i64,
    pub user_id: i32,
    pub created_at: i64,
    /// 1 top-up, 2 consume, 3 manage, 4 system, 5 error, 6 refund.
    #[serde(rename = "type")]
    pub log_type: i32,
    pub content: String,
    pub username: String,
    pub token_name: String,
    pub model_name: String,
    pub quota: i64,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    /// Seconds.
    pub use_time: i32,
    pub is_stream: bool,
    pub channel_id: i32,
    pub token_id: i32,
    pub group: String,
    pub ip: String,
    pub request_id: String,
}

impl From<logs::Model> for LogView {
    fn from(l: logs::Model) -> Self {
        LogView {
            id: l.id,
            user_id: l.user_id,
            created_at: l.created_at,
            log_type: l.log_type,
            content: l.content,
            username: l.username,
            token_name: l.token_name,
            model_name: l.model_name,
            quota: l.quota,
            prompt_tokens: l.prompt_tokens,
            completion_tokens: l.completion_tokens,
            use_time: l.use_time,
            is_stream: l.is_stream,
            channel_id: l.channel_id,
            token_id: l.token_id,
            group: l.group,
            ip: l.ip,
            request_id: l.request_id,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Log type; 0 or absent = all.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub log_type: Option<i32>,
    pub token_name: Option<String>,
    pub model_name: Option<String>,
    pub group: Option<String>,
    /// Unix seconds, inclusive.
    pub start_timestamp: Option<i64>,
    /// Unix seconds, inclusive.
    pub end_timestamp: Option<i64>,
    /// Admins only: a username.
    pub username: Option<String>,
    /// Admins only: a channel id.
    pub channel: Option<i32>,
}

fn filter(q: &LogQuery) -> LogFilter {
    LogFilter {
        user_id: None,
        log_type: q.log_type,
        username: None,
        token_name: q.token_name.clone(),
        model_name: q.model_name.clone(),
        channel_id: None,
        group: q.group.clone(),
        start_timestamp: q.start_timestamp,
        end_timestamp: q.end_timestamp,
    }
}

/// The caller's own logs; `username` and `channel` are ignored here.
#[utoipa::path(get, path = "/api/log/self", tag = "log", params(PageQuery, LogQuery),
    responses((status = 200, body = PageEnvelope<LogView>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn list_own_logs(
    state: web::Data<AdminState>,
    user: CurrentUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<LogQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let f = LogFilter {
        user_id: Some(user.id()),
        ..filter(&q)
    };
    let res = logs::list(&state.db, &f, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(LogView::from).collect(),
        res.total,
    ))
}

/// All users' logs, filtered and paged (admin).
#[utoipa::path(get, path = "/api/log", tag = "log", params(PageQuery, LogQuery),
    responses((status = 200, body = PageEnvelope<LogView>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn list_all_logs(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<LogQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let f = LogFilter {
        username: q.username.clone(),
        channel_id: q.channel,
        ..filter(&q)
    };
    let res = logs::list(&state.db, &f, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(LogView::from).collect(),
        res.total,
    ))
}
