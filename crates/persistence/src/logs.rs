//! The `logs` table: top-ups, consumption, management and system events.

use crate::{Page, Paged, fetch_page};
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i32,
    pub created_at: i64,
    #[sea_orm(column_name = "type")]
    pub log_type: i32,
    pub content: String,
    pub username: String,
    pub token_name: String,
    pub model_name: String,
    pub quota: i64,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub use_time: i32,
    pub is_stream: bool,
    pub channel_id: i32,
    pub token_id: i32,
    pub group: String,
    pub ip: String,
    pub request_id: String,
    pub other: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A log row to write. Fields left at their defaults are empty or zero.
#[derive(Debug, Clone, Default)]
pub struct NewLog {
    pub user_id: i32,
    pub username: String,
    pub log_type: i32,
    pub content: String,
    pub quota: i64,
    pub token_name: String,
    pub model_name: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub use_time: i32,
    pub is_stream: bool,
    pub channel_id: i32,
    pub token_id: i32,
    pub group: String,
    pub ip: String,
    pub request_id: String,
    pub created_at: i64,
}

impl From<NewLog> for ActiveModel {
    fn from(n: NewLog) -> Self {
        ActiveModel {
            user_id: Set(n.user_id),
            created_at: Set(n.created_at),
            log_type: Set(n.log_type),
            content: Set(n.content),
            username: Set(n.username),
            token_name: Set(n.token_name),
            model_name: Set(n.model_name),
            quota: Set(n.quota),
            prompt_tokens: Set(n.prompt_tokens),
            completion_tokens: Set(n.completion_tokens),
            use_time: Set(n.use_time),
            is_stream: Set(n.is_stream),
            channel_id: Set(n.channel_id),
            token_id: Set(n.token_id),
            group: Set(n.group),
            ip: Set(n.ip),
            request_id: Set(n.request_id),
            other: Set(None),
            ..Default::default()
        }
    }
}

/// The columns a batch insert fills, in order (`other` stays NULL).
const BATCH_COLUMNS: [Column; 18] = [
    Column::UserId,
    Column::CreatedAt,
    Column::LogType,
    Column::Content,
    Column::Username,
    Column::TokenName,
    Column::ModelName,
    Column::Quota,
    Column::PromptTokens,
    Column::CompletionTokens,
    Column::UseTime,
    Column::IsStream,
    Column::ChannelId,
    Column::TokenId,
    Column::Group,
    Column::Ip,
    Column::RequestId,
    Column::Other,
];

/// Rows a batch insert statement holds at most.
pub const BATCH_ROWS: usize = 200;

/// The SQL of an insert of `rows` rows for `backend`, built once and kept: a billing commit
/// then only gathers values (building it through the query builder each time cost more than
/// the insert itself).
fn batch_sql(backend: sea_orm::DbBackend, rows: usize) -> std::sync::Arc<str> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<(u8, usize), Arc<str>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (backend as u8, rows);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(sql) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return sql.clone();
    }
    let mut insert = sea_orm::sea_query::Query::insert();
    insert.into_table(Entity).columns(BATCH_COLUMNS);
    for _ in 0..rows {
        insert.values_panic(BATCH_COLUMNS.map(|_| sea_orm::sea_query::Expr::val(0)));
    }
    let sql: Arc<str> = backend.build(&insert).sql.into();
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key, sql.clone());
    sql
}

/// Inserts many logs, [`BATCH_ROWS`] to a statement; the first one's `other` holds `mark`
/// (see [`marked`]).
pub async fn insert_batch(
    db: &impl ConnectionTrait,
    mark: &str,
    logs: &[NewLogRef<'_>],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut mark = Some(mark);
    for chunk in logs.chunks(BATCH_ROWS) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * BATCH_COLUMNS.len());
        for l in chunk {
            values.extend([
                l.user_id.into(),
                l.created_at.into(),
                l.log_type.into(),
                l.content.into(),
                l.username.into(),
                l.token_name.into(),
                l.model_name.into(),
                l.quota.into(),
                l.prompt_tokens.into(),
                l.completion_tokens.into(),
                l.use_time.into(),
                l.is_stream.into(),
                l.channel_id.into(),
                l.token_id.into(),
                l.group.into(),
                l.ip.into(),
                l.request_id.into(),
                mark.take().map(str::to_owned).into(),
            ]);
        }
        let sql = batch_sql(backend, chunk.len());
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql.as_ref(),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// Whether the log of (`user_id`, `created_at`) marked `mark` by [`insert_batch`] is stored.
pub async fn marked(
    db: &impl ConnectionTrait,
    user_id: i32,
    created_at: i64,
    mark: &str,
) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    let found = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::CreatedAt.eq(created_at))
        .filter(Column::Other.eq(mark))
        .count(db)
        .await?;
    Ok(found > 0)
}

/// A log row borrowed from its source (billing records), for [`insert_batch`].
#[derive(Debug, Clone, Copy)]
pub struct NewLogRef<'a> {
    pub user_id: i32,
    pub created_at: i64,
    pub log_type: i32,
    pub content: &'a str,
    pub username: &'a str,
    pub token_name: &'a str,
    pub model_name: &'a str,
    pub quota: i64,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub use_time: i32,
    pub is_stream: bool,
    pub channel_id: i32,
    pub token_id: i32,
    pub group: &'a str,
    pub ip: &'a str,
    pub request_id: &'a str,
}

pub async fn insert(db: &impl ConnectionTrait, log: NewLog) -> Result<(), DbErr> {
    Entity::insert(ActiveModel::from(log))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Filters of the log lists. `user_id` is set for a user's own logs.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub user_id: Option<i32>,
    pub log_type: Option<i32>,
    pub username: Option<String>,
    pub token_name: Option<String>,
    pub model_name: Option<String>,
    pub channel_id: Option<i32>,
    pub group: Option<String>,
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    f: &LogFilter,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let mut q = Entity::find().order_by_desc(Column::Id);
    if let Some(v) = f.user_id {
        q = q.filter(Column::UserId.eq(v));
    }
    if let Some(v) = f.log_type.filter(|t| *t != 0) {
        q = q.filter(Column::LogType.eq(v));
    }
    for (col, value) in [
        (Column::Username, &f.username),
        (Column::TokenName, &f.token_name),
        (Column::ModelName, &f.model_name),
        (Column::Group, &f.group),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            q = q.filter(col.eq(v));
        }
    }
    if let Some(v) = f.channel_id.filter(|c| *c != 0) {
        q = q.filter(Column::ChannelId.eq(v));
    }
    if let Some(v) = f.start_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::CreatedAt.gte(v));
    }
    if let Some(v) = f.end_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::CreatedAt.lte(v));
    }
    fetch_page(q, db, page).await
}

/// Deletes up to `batch` logs written before `before` (Unix seconds), oldest first; returns how
/// many went. One short statement pair per batch (ids first, then those ids: MySQL cannot
/// limit a subquery of a delete), so writers are never held behind a long delete.
pub async fn delete_before(
    db: &impl ConnectionTrait,
    before: i64,
    batch: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::CreatedAt.lt(before))
        .order_by_asc(Column::Id)
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let gone = Entity::delete_many()
        .filter(Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(gone.rows_affected)
}
