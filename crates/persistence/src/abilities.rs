//! The `abilities` table: one row per (group, model, channel), rebuilt when a channel changes.
//! The relay routes over an in-memory snapshot of it.

use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "abilities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub model: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: i32,
    pub enabled: bool,
    pub priority: i64,
    pub weight: i32,
    pub tag: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn delete_for_channel(db: &impl ConnectionTrait, channel_id: i32) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces a channel's abilities with one row per (group, model) it lists.
pub async fn rebuild_for_channel(
    db: &impl ConnectionTrait,
    channel: &crate::channels::Model,
) -> Result<(), DbErr> {
    delete_for_channel(db, channel.id).await?;
    let enabled = channel.status == domain::ChannelStatus::Enabled.code();
    let rows: Vec<ActiveModel> = channel
        .group_list()
        .into_iter()
        .flat_map(|group| {
            channel
                .model_list()
                .into_iter()
                .map(move |model| ActiveModel {
                    group: Set(group.clone()),
                    model: Set(model),
                    channel_id: Set(channel.id),
                    enabled: Set(enabled),
                    priority: Set(channel.priority),
                    weight: Set(channel.weight),
                    tag: Set(channel.tag.clone()),
                })
        })
        .collect();
    if !rows.is_empty() {
        Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

/// The models of enabled channels in `group`, sorted.
pub async fn models_for_group(
    db: &impl ConnectionTrait,
    group: &str,
) -> Result<Vec<String>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Model)
        .distinct()
        .filter(Column::Group.eq(group))
        .filter(Column::Enabled.eq(true))
        .order_by_asc(Column::Model)
        .into_tuple::<String>()
        .all(db)
        .await
}

pub async fn for_channel(db: &impl ConnectionTrait, channel_id: i32) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ChannelId.eq(channel_id))
        .order_by_asc(Column::Group)
        .order_by_asc(Column::Model)
        .all(db)
        .await
}
