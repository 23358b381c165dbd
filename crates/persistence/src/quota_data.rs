//! The `quota_data` table: usage per user, model and hour, feeding `/api/data`.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ExprTrait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{QueryOrder, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_data")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub username: String,
    pub model_name: String,
    /// Start of the hour, Unix seconds.
    pub created_at: i64,
    pub token_used: i64,
    pub count: i64,
    pub quota: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One call's contribution to its hour bucket.
#[derive(Debug, Clone)]
pub struct Usage {
    pub user_id: i32,
    pub username: String,
    pub model_name: String,
    pub at: i64,
    pub tokens: i64,
    pub quota: i64,
    /// How many calls this usage sums.
    pub count: i64,
}

/// Adds `usage` to its (user, model, hour) bucket, creating the bucket when needed.
pub async fn record(db: &impl ConnectionTrait, usage: &Usage) -> Result<(), DbErr> {
    let hour = usage.at - usage.at.rem_euclid(3600);
    Entity::insert(ActiveModel {
        user_id: Set(usage.user_id),
        username: Set(usage.username.clone()),
        model_name: Set(usage.model_name.clone()),
        created_at: Set(hour),
        token_used: Set(usage.tokens),
        count: Set(usage.count),
        quota: Set(usage.quota),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([Column::UserId, Column::ModelName, Column::CreatedAt])
            .value(
                Column::TokenUsed,
                Expr::col((Entity, Column::TokenUsed)).add(usage.tokens),
            )
            .value(
                Column::Count,
                Expr::col((Entity, Column::Count)).add(usage.count),
            )
            .value(
                Column::Quota,
                Expr::col((Entity, Column::Quota)).add(usage.quota),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Filters of the statistics lists.
#[derive(Debug, Default, Clone)]
pub struct DataFilter {
    pub user_id: Option<i32>,
    pub username: Option<String>,
    pub start_timestamp: Option<i64>,
    pub end_timestamp: Option<i64>,
}

pub async fn list(db: &impl ConnectionTrait, f: &DataFilter) -> Result<Vec<Model>, DbErr> {
    let mut q = Entity::find()
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::ModelName);
    if let Some(v) = f.user_id {
        q = q.filter(Column::UserId.eq(v));
    }
    if let Some(v) = f.username.as_deref().filter(|v| !v.is_empty()) {
        q = q.filter(Column::Username.eq(v));
    }
    if let Some(v) = f.start_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::CreatedAt.gte(v - v.rem_euclid(3600)));
    }
    if let Some(v) = f.end_timestamp.filter(|t| *t > 0) {
        q = q.filter(Column::CreatedAt.lte(v));
    }
    q.all(db).await
}
