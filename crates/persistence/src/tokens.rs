//! The `tokens` table: API keys, stored as a SHA-256 digest plus a display mask.

use crate::{Page, Paged, fetch_page};
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub key_digest: String,
    pub key_mask: String,
    pub name: String,
    pub status: i32,
    pub created_time: i64,
    pub accessed_time: i64,
    pub expired_time: i64,
    pub remain_quota: i64,
    pub unlimited_quota: bool,
    pub used_quota: i64,
    pub request_count: i64,
    pub model_limits_enabled: bool,
    pub model_limits: String,
    pub allow_ips: String,
    pub group: String,
    /// Requests a minute (0 = no limit).
    pub rpm_limit: i32,
    /// Tokens (prompt and completion) a minute (0 = no limit).
    pub tpm_limit: i64,
    /// Calls in flight at once (0 = no limit).
    pub concurrency_limit: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn insert(db: &impl ConnectionTrait, model: ActiveModel) -> Result<Model, DbErr> {
    model.insert(db).await
}

pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let q = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::Id);
    fetch_page(q, db, page).await
}

/// A token of `user_id`; another user's token is `None`, exactly like a missing one.
pub async fn find_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    id: i32,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .one(db)
        .await
}

pub async fn find_by_digest(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::KeyDigest.eq(digest))
        .one(db)
        .await
}

pub async fn find_by_digests(
    db: &impl ConnectionTrait,
    digests: &[String],
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::KeyDigest.is_in(digests.iter().cloned()))
        .all(db)
        .await
}

/// Deletes those of `ids` that belong to `user_id`; returns how many were deleted.
/// Deletes the user's tokens among `ids`; returns the ids deleted (others' and unknown ids
/// are left out).
pub async fn delete_for_user(
    db: &impl ConnectionTrait,
    user_id: i32,
    ids: &[i32],
) -> Result<Vec<i32>, DbErr> {
    use sea_orm::QuerySelect;
    let theirs: Vec<i32> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    if theirs.is_empty() {
        return Ok(theirs);
    }
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Id.is_in(theirs.iter().copied()))
        .exec(db)
        .await?;
    Ok(theirs)
}

/// `(id, remain_quota)` of the given tokens.
pub async fn remains(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<(i32, i64)>, DbErr> {
    crate::values_by_id::<Entity>(db, ids, Column::Id, Column::RemainQuota).await
}
