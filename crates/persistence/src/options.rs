//! The `options` table: key/value settings that admins change at run time.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
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
    Ok(Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|m| m.value))
}

pub async fn upsert(db: &impl ConnectionTrait, key: &str, value: &str) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict(
        OnConflict::column(Column::Key)
            .update_column(Column::Value)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Inserts `value` only when `key` has none yet; returns the value that is stored afterwards.
/// Several instances starting at once on one database agree on the first writer's value.
pub async fn get_or_insert(
    db: &impl ConnectionTrait,
    key: &str,
    value: &str,
) -> Result<String, DbErr> {
    Entity::insert(ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict_do_nothing_on([Column::Key])
    .exec_without_returning(db)
    .await?;
    Ok(get(db, key).await?.unwrap_or_else(|| value.to_owned()))
}

/// The options every instance reads from memory: built-in defaults overlaid with the table.
/// Writers update the table and this cache; other instances pick changes up on `reload`.
pub struct OptionStore {
    values: std::sync::RwLock<std::sync::Arc<BTreeMap<String, String>>>,
}

impl OptionStore {
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let store = OptionStore {
            values: std::sync::RwLock::new(std::sync::Arc::new(BTreeMap::new())),
        };
        store.reload(db).await?;
        Ok(store)
    }

    /// Re-reads the table (picks up other instances' changes).
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut values = domain::options::defaults();
        values.extend(load_all(db).await?);
        self.replace(values);
        Ok(())
    }

    fn replace(&self, values: BTreeMap<String, String>) {
        let mut guard = self
            .values
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = std::sync::Arc::new(values);
    }

    /// All current values.
    pub fn snapshot(&self) -> std::sync::Arc<BTreeMap<String, String>> {
        self.values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn get(&self, key: &str) -> String {
        self.snapshot().get(key).cloned().unwrap_or_default()
    }

    pub fn get_bool(&self, key: &str) -> bool {
        self.get(key) == "true"
    }

    pub fn get_i64(&self, key: &str) -> i64 {
        self.get(key).parse().unwrap_or_default()
    }

    /// Writes several options in one transaction, then updates the cache.
    pub async fn set_many(
        &self,
        db: &sea_orm::DatabaseConnection,
        pairs: &[(String, String)],
    ) -> Result<(), DbErr> {
        use sea_orm::TransactionTrait;
        let txn = db.begin().await?;
        for (k, v) in pairs {
            upsert(&txn, k, v).await?;
        }
        txn.commit().await?;
        let mut values = (*self.snapshot()).clone();
        values.extend(pairs.iter().cloned());
        self.replace(values);
        Ok(())
    }
}
