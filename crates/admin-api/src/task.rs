//! Asynchronous tasks (Midjourney, Suno, video, Kling): a user's own, or everyone's for admins,
//! filtered and paged as the logs are. The upstream's task id is never shown.

use crate::auth::{AdminUser, CurrentUser};
use crate::error::{ApiError, Input, PageEnvelope, page};
use crate::pagination::PageQuery;
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use persistence::tasks::{self, TaskFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    /// The gateway's task id (`task_` + 32 characters).
    pub task_id: String,
    /// `mj`, `suno`, `kling` or `video`.
    pub platform: String,
    /// `IMAGINE`, `UPSCALE`, `MUSIC`, `TEXT2VIDEO`, ...
    pub action: String,
    /// The priced model (`mj_imagine`, `suno_music`, `kling-v1`, ...).
    pub model: String,
    pub user_id: i32,
    pub token_id: i32,
    pub channel_id: i32,
    /// `NOT_START`, `SUBMITTED`, `IN_PROGRESS`, `MODAL`, `SUCCESS` or `FAILURE`.
    pub status: String,
    /// `0%` to `100%`.
    pub progress: String,
    pub result_urls: Vec<String>,
    pub fail_reason: Option<String>,
    /// Quota charged at submit.
    pub quota: i64,
    /// `charged`, or `refunded` (once, when the task failed or timed out).
    pub settlement: String,
    /// Unix seconds.
    pub submit_time: i64,
    pub start_time: i64,
    pub finish_time: i64,
}

impl From<tasks::Model> for TaskView {
    fn from(t: tasks::Model) -> Self {
        TaskView {
            id: t.id,
            result_urls: t
                .result_urls
                .as_deref()
                .and_then(|u| serde_json::from_str(u).ok())
                .unwrap_or_default(),
            task_id: t.task_id,
            platform: t.platform,
            action: t.action,
            model: t.model,
            user_id: t.user_id,
            token_id: t.token_id,
            channel_id: t.channel_id,
            status: t.status,
            progress: t.progress,
            fail_reason: t.fail_reason,
            quota: t.quota,
            settlement: t.settlement,
            submit_time: t.submit_time,
            start_time: t.start_time,
            finish_time: t.finish_time,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `mj`, `suno`, `kling` or `video`.
    pub platform: Option<String>,
    /// A stored status (`SUCCESS`, `FAILURE`, `IN_PROGRESS`, ...).
    pub status: Option<String>,
    /// One task id.
    pub task_id: Option<String>,
    /// Submitted at or after (Unix seconds).
    pub start_timestamp: Option<i64>,
    /// Submitted at or before (Unix seconds).
    pub end_timestamp: Option<i64>,
    /// Admins only: a channel id.
    pub channel_id: Option<i32>,
}

fn filter(q: TaskQuery) -> TaskFilter {
    TaskFilter {
        user_id: None,
        platform: q.platform,
        status: q.status,
        task_id: q.task_id,
        channel_id: q.channel_id,
        start_timestamp: q.start_timestamp,
        end_timestamp: q.end_timestamp,
    }
}

/// The caller's own tasks, newest first; `channel_id` is ignored here.
#[utoipa::path(get, path = "/api/task/self", tag = "task", params(PageQuery, TaskQuery),
    responses((status = 200, body = PageEnvelope<TaskView>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn list_own_tasks(
    state: web::Data<AdminState>,
    user: CurrentUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<TaskQuery>>,
) -> Result<HttpResponse, ApiError> {
    let f = TaskFilter {
        user_id: Some(user.id()),
        channel_id: None,
        ..filter(q.take()?.into_inner())
    };
    let res = tasks::list(&state.db, &f, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(TaskView::from).collect(),
        res.total,
    ))
}

/// Everyone's tasks, filtered and paged (admin).
#[utoipa::path(get, path = "/api/task", tag = "task", params(PageQuery, TaskQuery),
    responses((status = 200, body = PageEnvelope<TaskView>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn list_all_tasks(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    paging: Input<web::Query<PageQuery>>,
    q: Input<web::Query<TaskQuery>>,
) -> Result<HttpResponse, ApiError> {
    let f = filter(q.take()?.into_inner());
    let res = tasks::list(&state.db, &f, paging.take()?.page()?).await?;
    Ok(page(
        res.items.into_iter().map(TaskView::from).collect(),
        res.total,
    ))
}
