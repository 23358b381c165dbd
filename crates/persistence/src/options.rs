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
    /// The values, with the ticket of the read or write they came from.
    values: std::sync::RwLock<(u64, std::sync::Arc<BTreeMap<String, String>>)>,
    /// Handed out at the start of every read or write: a reload that started before a newer
    /// one finished is dropped instead of putting older values back.
    tickets: std::sync::atomic::AtomicU64,
}

impl OptionStore {
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let store = OptionStore {
            values: std::sync::RwLock::new((0, std::sync::Arc::new(BTreeMap::new()))),
            tickets: std::sync::atomic::AtomicU64::new(0),
        };
        store.reload(db).await?;
        Ok(store)
    }

    /// Re-reads the table (picks up other instances' changes).
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let ticket = self.ticket();
        let mut values = domain::options::defaults();
        values.extend(load_all(db).await?);
        self.replace(ticket, values);
        Ok(())
    }

    fn ticket(&self) -> u64 {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// Puts `values` in unless values of a later ticket are there already.
    fn replace(&self, ticket: u64, values: BTreeMap<String, String>) {
        let mut guard = self
            .values
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ticket > guard.0 {
            *guard = (ticket, std::sync::Arc::new(values));
        }
    }

    /// All current values with their version (it moves on with every change), for caches
    /// built from them.
    pub fn versioned(&self) -> (u64, std::sync::Arc<BTreeMap<String, String>>) {
        let guard = self
            .values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard.0, guard.1.clone())
    }

    /// All current values.
    pub fn snapshot(&self) -> std::sync::Arc<BTreeMap<String, String>> {
        self.values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
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
        let ticket = self.ticket();
        let mut values = (*self.snapshot()).clone();
        values.extend(pairs.iter().cloned());
        self.replace(ticket, values);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_older_read_does_not_undo_a_newer_write() {
        let Ok(db) = crate::connect("sqlite::memory:").await else {
            panic!("connecting to SQLite in memory failed");
        };
        let Ok(store) = OptionStore::load(&db).await else {
            panic!("loading options failed");
        };
        // A reload starts, reads the table, and is slow to finish...
        let early = store.ticket();
        let stale = (*store.snapshot()).clone();
        // ...while a write lands.
        let written = store
            .set_many(&db, &[("SystemName".into(), "Newer".into())])
            .await;
        assert!(written.is_ok());
        store.replace(early, stale);
        assert_eq!(store.get("SystemName"), "Newer");
    }
}
