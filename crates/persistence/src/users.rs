//! The `users` table.

use crate::{Page, Paged, fetch_page};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{QueryOrder, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub username: String,
    /// bcrypt hash; never leaves this crate in a response.
    pub password: String,
    pub display_name: String,
    pub role: i32,
    pub status: i32,
    pub email: Option<String>,
    /// SHA-256 digest of the management access token.
    pub access_token: Option<String>,
    pub quota: i64,
    pub used_quota: i64,
    pub request_count: i64,
    pub group: String,
    pub aff_code: String,
    pub aff_count: i32,
    pub aff_quota: i64,
    pub aff_history_quota: i64,
    pub inviter_id: i32,
    pub session_version: i32,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a new user row holds.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: i32,
    pub quota: i64,
    pub group: String,
    pub aff_code: String,
    pub inviter_id: i32,
    pub created_at: i64,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewUser) -> Result<Model, DbErr> {
    ActiveModel {
        username: Set(new.username),
        password: Set(new.password_hash),
        display_name: Set(new.display_name),
        role: Set(new.role),
        status: Set(domain::UserStatus::Enabled.code()),
        email: Set(new.email),
        access_token: Set(None),
        quota: Set(new.quota),
        used_quota: Set(0),
        request_count: Set(0),
        group: Set(new.group),
        aff_code: Set(new.aff_code),
        aff_count: Set(0),
        aff_quota: Set(0),
        aff_history_quota: Set(0),
        inviter_id: Set(new.inviter_id),
        session_version: Set(0),
        created_at: Set(new.created_at),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Entity::find().count(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

pub async fn find_many(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Username.eq(username))
        .one(db)
        .await
}

pub async fn find_by_access_token(
    db: &impl ConnectionTrait,
    digest: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::AccessToken.eq(digest))
        .one(db)
        .await
}

pub async fn find_by_aff_code(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::AffCode.eq(code))
        .one(db)
        .await
}

/// True when another user (not `except`) already uses `email`.
pub async fn email_taken(
    db: &impl ConnectionTrait,
    email: &str,
    except: Option<i32>,
) -> Result<bool, DbErr> {
    let mut q = Entity::find().filter(Column::Email.eq(email));
    if let Some(id) = except {
        q = q.filter(Column::Id.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

/// Filters of the admin user list.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub keyword: Option<String>,
    pub group: Option<String>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &UserFilter,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let mut q = Entity::find().order_by_desc(Column::Id);
    if let Some(k) = filter.keyword.as_deref().filter(|k| !k.is_empty()) {
        q = q.filter(
            Column::Username
                .contains(k)
                .or(Column::DisplayName.contains(k))
                .or(Column::Email.contains(k)),
        );
    }
    if let Some(g) = filter.group.as_deref().filter(|g| !g.is_empty()) {
        q = q.filter(Column::Group.eq(g));
    }
    fetch_page(q, db, page).await
}

/// Adds `delta` to a user's quota in one statement, unless the result would leave
/// `0..=MAX_QUOTA`: the condition is in the statement, so no database ever computes an
/// overflowing sum. Returns whether the row changed.
pub async fn add_quota(db: &impl ConnectionTrait, id: i32, delta: i64) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Quota, Expr::col(Column::Quota).add(delta))
        .filter(Column::Id.eq(id))
        .filter(quota_room(delta))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The condition under which `quota + delta` stays in `0..=MAX_QUOTA`.
fn quota_room(delta: i64) -> sea_orm::Condition {
    use domain::quota::MAX_QUOTA;
    let delta = Ord::clamp(delta, -MAX_QUOTA, MAX_QUOTA);
    sea_orm::Condition::all()
        .add(Column::Quota.lte(MAX_QUOTA - Ord::max(delta, 0)))
        .add(Column::Quota.gte(-Ord::min(delta, 0)))
}

/// Credits an inviter: quota, invitation count and lifetime invitation quota; nothing when the
/// reward would take their quota past `MAX_QUOTA`. Returns whether the row changed.
pub async fn credit_inviter(
    db: &impl ConnectionTrait,
    id: i32,
    reward: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Quota, Expr::col(Column::Quota).add(reward))
        .col_expr(Column::AffCount, Expr::col(Column::AffCount).add(1))
        .col_expr(
            Column::AffHistoryQuota,
            Expr::col(Column::AffHistoryQuota).add(reward),
        )
        .filter(Column::Id.eq(id))
        .filter(quota_room(reward))
        .filter(Column::AffHistoryQuota.lte(domain::quota::MAX_QUOTA - Ord::max(reward, 0)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_access_token(
    db: &impl ConnectionTrait,
    id: i32,
    digest: &str,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::AccessToken, Expr::value(digest))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a user and their API keys. Logs stay: they are the billing history.
pub async fn delete_with_tokens(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    crate::tokens::Entity::delete_many()
        .filter(crate::tokens::Column::UserId.eq(id))
        .exec(db)
        .await?;
    Ok(Entity::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// `(id, quota)` of the given users.
pub async fn quotas(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<(i32, i64)>, DbErr> {
    crate::values_by_id::<Entity>(db, ids, Column::Id, Column::Quota).await
}
