//! The `redemptions` table: single-use top-up codes.

use crate::{Page, Paged, fetch_page};
use domain::RedemptionStatus;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::ExprTrait;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The admin who created the code.
    pub user_id: i32,
    pub key: String,
    pub status: i32,
    pub name: String,
    pub quota: i64,
    pub created_time: i64,
    pub redeemed_time: i64,
    pub used_user_id: i32,
    /// 0 = never expires.
    pub expired_time: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn list(
    db: &impl ConnectionTrait,
    keyword: Option<&str>,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let mut q = Entity::find().order_by_desc(Column::Id);
    if let Some(k) = keyword.filter(|k| !k.is_empty()) {
        q = q.filter(Column::Name.contains(k).or(Column::Key.eq(k)));
    }
    fetch_page(q, db, page).await
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

pub async fn find_by_key(db: &impl ConnectionTrait, key: &str) -> Result<Option<Model>, DbErr> {
    Entity::find().filter(Column::Key.eq(key)).one(db).await
}

pub async fn insert(db: &impl ConnectionTrait, model: ActiveModel) -> Result<Model, DbErr> {
    model.insert(db).await
}

pub async fn delete(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    Ok(Entity::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// Marks an unused, unexpired code as used by `user_id`, in one conditional statement: of two
/// concurrent redeems exactly one changes the row. Returns whether this call claimed it.
pub async fn claim(
    db: &impl ConnectionTrait,
    key: &str,
    user_id: i32,
    now: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(RedemptionStatus::Used.code()))
        .col_expr(Column::RedeemedTime, Expr::value(now))
        .col_expr(Column::UsedUserId, Expr::value(user_id))
        .filter(Column::Key.eq(key))
        .filter(Column::Status.eq(RedemptionStatus::Unused.code()))
        .filter(Column::ExpiredTime.eq(0).or(Column::ExpiredTime.gt(now)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Writes an admin's changes to a code that is not used, in one conditional statement: a code
/// redeemed meanwhile stays used. Returns whether the row changed (`false` when it is used or
/// gone, or when nothing was to change).
pub async fn update_unless_used(
    db: &impl ConnectionTrait,
    id: i32,
    changes: ActiveModel,
) -> Result<bool, DbErr> {
    use sea_orm::Iterable;
    if !Column::iter().any(|c| changes.get(c).is_set()) {
        return Ok(false);
    }
    let res = Entity::update_many()
        .set(changes)
        .filter(Column::Id.eq(id))
        .filter(Column::Status.ne(RedemptionStatus::Used.code()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
