//! Persistence: sea-orm entities (one module per table), connection setup for SQLite,
//! PostgreSQL and MySQL/MariaDB, and the queries and mutations over them. Query functions take
//! `&impl ConnectionTrait` so they run inside transactions too.

pub mod abilities;
pub mod billing;
pub mod channels;
pub mod connect;
pub mod logs;
pub mod options;
pub mod quota_data;
pub mod redemptions;
pub mod tasks;
pub mod tokens;
pub mod users;

pub use connect::{DbError, connect, pending_migrations, unreachable};
pub use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait,
};

/// One page of a list: 1-based page number and page size.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

/// The items of one page and the total number of matching rows.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// True when `err` is a unique-constraint violation (a concurrent insert of the same key).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Runs `select` as one page and counts all matching rows.
pub async fn fetch_page<'db, C, S>(
    select: S,
    db: &'db C,
    page: Page,
) -> Result<Paged<<S::Selector as sea_orm::SelectorTrait>::Item>, DbErr>
where
    C: ConnectionTrait,
    S: sea_orm::PaginatorTrait<'db, C>,
{
    let paginator = select.paginate(db, page.size.max(1));
    let total = paginator.num_items().await?;
    let items = paginator.fetch_page(page.number.saturating_sub(1)).await?;
    Ok(Paged { items, total })
}

/// `(id, value)` of the rows with these ids, read in chunks.
pub(crate) async fn values_by_id<E>(
    db: &impl ConnectionTrait,
    ids: &[i32],
    id: E::Column,
    value: E::Column,
) -> Result<Vec<(i32, i64)>, DbErr>
where
    E: sea_orm::EntityTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(i32, i64)> = E::find()
            .select_only()
            .column(id)
            .column(value)
            .filter(id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}
