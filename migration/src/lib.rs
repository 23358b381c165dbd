//! Database migrations. The server runs them at start; each creates its tables on an empty
//! SQLite, PostgreSQL or MySQL/MariaDB database.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_tables;
mod m20261207_000001_tasks;
mod m20261207_000002_key_limits;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_tables::Migration),
            Box::new(m20261207_000001_tasks::Migration),
            Box::new(m20261207_000002_key_limits::Migration),
        ]
    }
}
