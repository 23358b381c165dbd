//! The `tasks` table: asynchronous upstream jobs (Midjourney, Suno, video, Kling). A task row
//! is written in the same transaction as the bill of its submit (by the billing writer), so a
//! task exists exactly when it was charged; a refund is one conditional update of its
//! settlement, in the same transaction as the credit, so it happens at most once whoever
//! polls (DECISIONS.md "Async tasks").

use crate::{Page, Paged, fetch_page};
use domain::status::LogType;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{QueryOrder, QuerySelect, Set, TransactionTrait};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The gateway's own public id (`task_` + 32 characters).
    pub task_id: String,
    /// The upstream's id: never shown to callers.
    pub upstream_id: String,
    pub platform: String,
    pub action: String,
    /// The priced model (`mj_imagine`, `suno_music`, `kling-v1`, `sora-2`, ...).
    pub model: String,
    pub user_id: i32,
    pub token_id: i32,
    pub token_unlimited: bool,
    pub channel_id: i32,
    /// One of [`status`].
    pub status: String,
    pub progress: String,
    /// Result URLs, a JSON array of strings.
    pub result_urls: Option<String>,
    pub fail_reason: Option<String>,
    pub quota: i64,
    /// One of [`settlement`].
    pub settlement: String,
    /// How the submit was priced (JSON).
    pub context: Option<String>,
    /// The platform's own last view of the task (JSON, upstream ids removed).
    pub data: Option<String>,
    pub submit_time: i64,
    pub start_time: i64,
    pub finish_time: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Task statuses, as midjourney-proxy names them (every platform's are mapped to these).
pub mod status {
    pub const NOT_START: &str = "NOT_START";
    pub const SUBMITTED: &str = "SUBMITTED";
    pub const IN_PROGRESS: &str = "IN_PROGRESS";
    pub const SUCCESS: &str = "SUCCESS";
    pub const FAILURE: &str = "FAILURE";
    /// Statuses after which nothing changes.
    pub const FINAL: [&str; 2] = [SUCCESS, FAILURE];
}

/// Settlement states: charged at submit, refunded at most once.
pub mod settlement {
    pub const CHARGED: &str = "charged";
    pub const REFUNDED: &str = "refunded";
}

/// A task to write with the bill of its submit.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub task_id: String,
    pub upstream_id: String,
    pub platform: String,
    pub action: String,
    pub model: String,
    pub user_id: i32,
    pub token_id: i32,
    pub token_unlimited: bool,
    pub channel_id: i32,
    pub status: String,
    pub progress: String,
    pub context: Option<String>,
    pub data: Option<String>,
    pub submit_time: i64,
}

/// Writes a task charged `quota` (the billing writer does, with its bill).
pub async fn insert(db: &impl ConnectionTrait, t: &NewTask, quota: i64) -> Result<(), DbErr> {
    let row = ActiveModel {
        task_id: Set(t.task_id.clone()),
        upstream_id: Set(t.upstream_id.clone()),
        platform: Set(t.platform.clone()),
        action: Set(t.action.clone()),
        model: Set(t.model.clone()),
        user_id: Set(t.user_id),
        token_id: Set(t.token_id),
        token_unlimited: Set(t.token_unlimited),
        channel_id: Set(t.channel_id),
        status: Set(t.status.clone()),
        progress: Set(t.progress.clone()),
        result_urls: Set(None),
        fail_reason: Set(None),
        quota: Set(quota),
        settlement: Set(settlement::CHARGED.to_owned()),
        context: Set(t.context.clone()),
        data: Set(t.data.clone()),
        submit_time: Set(t.submit_time),
        start_time: Set(0),
        finish_time: Set(0),
        created_at: Set(t.submit_time),
        updated_at: Set(t.submit_time),
        ..Default::default()
    };
    Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// A user's task by its public id (another user's is `None`, as a missing one).
pub async fn find_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    task_id: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::TaskId.eq(task_id))
        .one(db)
        .await
}

/// A user's tasks among `task_ids` (others' and unknown ids are left out), oldest first.
pub async fn find_many_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    task_ids: &[String],
) -> Result<Vec<Model>, DbErr> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::TaskId.is_in(task_ids.iter().map(String::as_str)))
        .order_by_asc(Column::Id)
        .all(db)
        .await
}

/// Tasks still charged and not finished with an id above `after`, oldest first, at most
/// `limit`.
pub async fn unfinished(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Id.gt(after))
        .filter(Column::Settlement.eq(settlement::CHARGED))
        .filter(Column::Status.is_not_in(status::FINAL))
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// How many of a user's tasks are still charged and unfinished.
pub async fn unfinished_of_user(db: &impl ConnectionTrait, user_id: i32) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Settlement.eq(settlement::CHARGED))
        .filter(Column::Status.is_not_in(status::FINAL))
        .count(db)
        .await
}

/// What a poll learned about a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub status: String,
    pub progress: String,
    pub result_urls: Vec<String>,
    pub data: Option<String>,
    pub start_time: i64,
    pub finish_time: i64,
}

/// Records progress of an unfinished task (a finished one is never changed again). A
/// failure is not recorded here: [`fail_and_refund`] does it with the refund.
pub async fn record_progress(
    db: &impl ConnectionTrait,
    id: i64,
    p: &Progress,
    now: i64,
) -> Result<bool, DbErr> {
    let urls = (!p.result_urls.is_empty())
        .then(|| serde_json::to_string(&p.result_urls).unwrap_or_default());
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(p.status.clone()))
        .col_expr(Column::Progress, Expr::value(p.progress.clone()))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if urls.is_some() {
        update = update.col_expr(Column::ResultUrls, Expr::value(urls));
    }
    if p.data.is_some() {
        update = update.col_expr(Column::Data, Expr::value(p.data.clone()));
    }
    if p.start_time > 0 {
        update = update.col_expr(Column::StartTime, Expr::value(p.start_time));
    }
    if p.finish_time > 0 {
        update = update.col_expr(Column::FinishTime, Expr::value(p.finish_time));
    }
    let done = update
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_not_in(status::FINAL))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A refund that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub user_id: i32,
    /// The key credited back (`None` for an unlimited key, whose remaining quota was not
    /// charged).
    pub token_id: Option<i32>,
    pub quota: i64,
}

/// Marks a task failed with `reason` and refunds its charge, in one transaction whose first
/// step is the conditional `charged -> refunded` update: only the caller whose update wins
/// credits the user and key, lowers their used quota and writes the refund log (type 6).
/// Returns the refund made, or `None` when the task was already settled (or finished).
pub async fn fail_and_refund(
    db: &DatabaseConnection,
    id: i64,
    reason: &str,
    data: Option<String>,
    now: i64,
) -> Result<Option<Refund>, DbErr> {
    let txn = db.begin().await?;
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status::FAILURE))
        .col_expr(Column::Settlement, Expr::value(settlement::REFUNDED))
        .col_expr(Column::FailReason, Expr::value(reason.to_owned()))
        .col_expr(Column::FinishTime, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if data.is_some() {
        update = update.col_expr(Column::Data, Expr::value(data));
    }
    let won = update
        .filter(Column::Id.eq(id))
        .filter(Column::Settlement.eq(settlement::CHARGED))
        .filter(Column::Status.ne(status::SUCCESS))
        .exec(&txn)
        .await?;
    if won.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let Some(task) = Entity::find_by_id(id).one(&txn).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    let quota = Ord::max(task.quota, 0);
    let token_id = (!task.token_unlimited).then_some(task.token_id);
    if quota > 0 {
        crate::users::Entity::update_many()
            .col_expr(
                crate::users::Column::Quota,
                Expr::col(crate::users::Column::Quota).add(quota),
            )
            .col_expr(
                crate::users::Column::UsedQuota,
                Expr::col(crate::users::Column::UsedQuota).sub(quota),
            )
            .filter(crate::users::Column::Id.eq(task.user_id))
            .exec(&txn)
            .await?;
        let mut token = crate::tokens::Entity::update_many().col_expr(
            crate::tokens::Column::UsedQuota,
            Expr::col(crate::tokens::Column::UsedQuota).sub(quota),
        );
        if token_id.is_some() {
            token = token.col_expr(
                crate::tokens::Column::RemainQuota,
                Expr::col(crate::tokens::Column::RemainQuota).add(quota),
            );
        }
        token
            .filter(crate::tokens::Column::Id.eq(task.token_id))
            .exec(&txn)
            .await?;
    }
    let username = crate::users::find(&txn, task.user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    let token_name = crate::tokens::Entity::find_by_id(task.token_id)
        .one(&txn)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    crate::logs::insert(
        &txn,
        crate::logs::NewLog {
            user_id: task.user_id,
            username,
            log_type: LogType::Refund.code(),
            content: format!("任务 {} 失败，退还 {quota}：{reason}", task.task_id),
            quota,
            token_name,
            model_name: task.model.clone(),
            channel_id: task.channel_id,
            token_id: task.token_id,
            request_id: task.task_id.clone(),
            created_at: now,
            ..Default::default()
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some(Refund {
        user_id: task.user_id,
        token_id,
        quota,
    }))
}

/// Filters of the task lists; `user_id` is set for a user's own tasks.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub user_id: Option<i32>,
    pub platform: Option<String>,
    pub status: Option<String>,
    pub task_id: Option<String>,
    pub channel_id: Option<i32>,
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
}

/// A page of tasks, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &TaskFilter,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let mut q = Entity::find().order_by_desc(Column::Id);
    if let Some(v) = f.user_id {
        q = q.filter(Column::UserId.eq(v));
    }
    for (col, value) in [
        (Column::Platform, &f.platform),
        (Column::Status, &f.status),
        (Column::TaskId, &f.task_id),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            q = q.filter(col.eq(v));
        }
    }
    if let Some(v) = f.channel_id.filter(|c| *c != 0) {
        q = q.filter(Column::ChannelId.eq(v));
    }
    if let Some(v) = f.start_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::SubmitTime.gte(v));
    }
    if let Some(v) = f.end_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::SubmitTime.lte(v));
    }
    fetch_page(q, db, page).await
}

/// Leases: one holder at a time for work only one instance should do (polling tasks).
pub mod lease {
    use sea_orm::{ConnectionTrait, DbErr, Statement};

    /// Takes or renews the lease `name` for `holder` until `now + ttl` seconds, when it is
    /// free, expired or already `holder`'s. Returns whether `holder` holds it.
    pub async fn acquire(
        db: &impl ConnectionTrait,
        name: &str,
        holder: &str,
        now: i64,
        ttl: i64,
    ) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE leases SET holder = $1, expires_at = $2 \
                 WHERE name = $3 AND (holder = $4 OR expires_at < $5)"
            }
            _ => {
                "UPDATE leases SET holder = ?, expires_at = ? \
                 WHERE name = ? AND (holder = ? OR expires_at < ?)"
            }
        };
        let done = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    holder.into(),
                    (now + ttl).into(),
                    name.into(),
                    holder.into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (when `holder` holds it), so another instance may take it at once.
    pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2"
            }
            _ => "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [name.into(), holder.into()],
        ))
        .await?;
        Ok(())
    }
}
