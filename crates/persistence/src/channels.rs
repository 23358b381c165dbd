//! The `channels` table: upstream providers with their keys.

use crate::{Page, Paged, fetch_page};
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_name = "type")]
    pub channel_type: i32,
    /// The upstream secret; never returned by the API.
    pub key: String,
    pub name: String,
    pub status: i32,
    pub weight: i32,
    pub priority: i64,
    pub created_time: i64,
    pub test_time: i64,
    pub response_time: i32,
    pub base_url: String,
    pub models: String,
    pub group: String,
    pub used_quota: i64,
    pub request_count: i64,
    pub model_mapping: Option<String>,
    pub tag: Option<String>,
    pub test_model: String,
    pub auto_ban: i32,
    pub other: String,
    pub openai_organization: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The channel's models, trimmed, without empties or repeats, in their listed order.
    pub fn model_list(&self) -> Vec<String> {
        split_list(&self.models)
    }

    /// The channel's groups.
    pub fn group_list(&self) -> Vec<String> {
        split_list(&self.group)
    }
}

/// Splits a comma-separated list, trimming and dropping empties and repeats.
pub fn split_list(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    out
}

/// Filters of the channel list.
#[derive(Debug, Default, Clone)]
pub struct ChannelFilter {
    pub status: Option<i32>,
    pub channel_type: Option<i32>,
    pub group: Option<String>,
    pub tag: Option<String>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ChannelFilter,
    page: Page,
) -> Result<Paged<Model>, DbErr> {
    let mut q = Entity::find()
        .order_by_desc(Column::Priority)
        .order_by_desc(Column::Id);
    if let Some(s) = filter.status {
        q = q.filter(Column::Status.eq(s));
    }
    if let Some(t) = filter.channel_type {
        q = q.filter(Column::ChannelType.eq(t));
    }
    if let Some(g) = filter.group.as_deref().filter(|g| !g.is_empty()) {
        q = q.filter(Column::Group.contains(g));
    }
    if let Some(t) = filter.tag.as_deref().filter(|t| !t.is_empty()) {
        q = q.filter(Column::Tag.eq(t));
    }
    fetch_page(q, db, page).await
}

pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find().order_by_asc(Column::Id).all(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// A new enabled channel of `channel_type` with every other field at its default (no key, no
/// models, the `default` group, automatic disabling allowed).
pub fn blank(channel_type: i32) -> ActiveModel {
    ActiveModel {
        channel_type: Set(channel_type),
        key: Set(String::new()),
        name: Set(String::new()),
        status: Set(domain::ChannelStatus::Enabled.code()),
        weight: Set(0),
        priority: Set(0),
        created_time: Set(domain::now_ts()),
        test_time: Set(0),
        response_time: Set(0),
        base_url: Set(String::new()),
        models: Set(String::new()),
        group: Set("default".into()),
        used_quota: Set(0),
        request_count: Set(0),
        model_mapping: Set(None),
        tag: Set(None),
        test_model: Set(String::new()),
        auto_ban: Set(1),
        other: Set(String::new()),
        openai_organization: Set(String::new()),
        ..Default::default()
    }
}

/// Saves a new or changed channel and rebuilds its abilities, in the caller's transaction.
pub async fn save(db: &impl ConnectionTrait, model: ActiveModel) -> Result<Model, DbErr> {
    let saved = if model.id.is_not_set() {
        model.insert(db).await?
    } else {
        model.update(db).await?
    };
    crate::abilities::rebuild_for_channel(db, &saved).await?;
    Ok(saved)
}

/// Deletes a channel and its abilities.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    crate::abilities::delete_for_channel(db, id).await?;
    Ok(Entity::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// Records a test: when it ran and how long the upstream took; optionally a new status.
pub async fn record_test(
    db: &impl ConnectionTrait,
    channel: &Model,
    test_time: i64,
    response_time_ms: i32,
    new_status: Option<i32>,
) -> Result<(), DbErr> {
    let mut am: ActiveModel = channel.clone().into();
    am.test_time = Set(test_time);
    am.response_time = Set(response_time_ms);
    if let Some(status) = new_status.filter(|s| *s != channel.status) {
        am.status = Set(status);
        let saved = am.update(db).await?;
        crate::abilities::rebuild_for_channel(db, &saved).await?;
    } else {
        am.update(db).await?;
    }
    Ok(())
}

/// Sets a channel's status (and its abilities'); returns whether the channel exists.
pub async fn set_status(db: &impl ConnectionTrait, id: i32, status: i32) -> Result<bool, DbErr> {
    let Some(channel) = find(db, id).await? else {
        return Ok(false);
    };
    if channel.status != status {
        let mut am: ActiveModel = channel.into();
        am.status = Set(status);
        let saved = am.update(db).await?;
        crate::abilities::rebuild_for_channel(db, &saved).await?;
    }
    Ok(true)
}

/// Sets an enabled channel's status to `status` (a channel disabled already, by hand or
/// otherwise, is left alone); returns whether it changed.
pub async fn disable_if_enabled(
    db: &impl ConnectionTrait,
    id: i32,
    status: i32,
) -> Result<bool, DbErr> {
    let enabled = domain::ChannelStatus::Enabled.code();
    let changed = Entity::update_many()
        .col_expr(Column::Status, sea_orm::sea_query::Expr::value(status))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(enabled))
        .exec(db)
        .await?;
    if changed.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(saved) = find(db, id).await? {
        crate::abilities::rebuild_for_channel(db, &saved).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_trimmed_and_deduplicated() {
        assert_eq!(
            split_list(" gpt-4, ,gpt-4o,gpt-4 "),
            vec!["gpt-4", "gpt-4o"]
        );
        assert!(split_list("").is_empty());
    }
}
