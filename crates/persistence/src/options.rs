//! The `options` table: key/value settings that admins change at run time.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::Set;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "options")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub value: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn load_all(db: &impl ConnectionTrait) -> Result<BTreeMap<String, String>, DbErr> {
    Ok(Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.key, m.value))
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, key: &str) -> Result<Option<String>, DbErr> {
    Ok(Entity::find_by_id(key.to_owned()).one(db).await?.map(|m| m.value))
}

pub async fn upsert(db: &impl ConnectionTrait, key: &str, value: &str) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict(OnConflict::column(Column::Key).update_column(Column::Value).to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Inserts `value` only when `key` has none yet; returns the value that is stored afterwards.
/// Several instances starting at once on one database agree on the first writer's value.
pub async fn get_or_insert(db: &impl ConnectionTrait, key: &str, value: &str) -> Result<String, DbErr> {
    Entity::insert(ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict_do_nothing_on([Column::Key])
    .exec_without_returning(db)
    .await?;
    Ok(get(db, key).await?.unwrap_or_else(|| value.to_owned()))
}
