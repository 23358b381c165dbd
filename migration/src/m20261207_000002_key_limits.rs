//! Per-key limits: requests per minute, tokens per minute and calls in flight (0 = none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tokens {
    Table,
    RpmLimit,
    TpmLimit,
    ConcurrencyLimit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters one at a time.
        for column in [
            integer(Tokens::RpmLimit).default(0).to_owned(),
            big_integer(Tokens::TpmLimit).default(0).to_owned(),
            integer(Tokens::ConcurrencyLimit).default(0).to_owned(),
        ] {
            let mut column = column;
            m.alter_table(
                Table::alter()
                    .table(Tokens::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tokens::RpmLimit, Tokens::TpmLimit, Tokens::ConcurrencyLimit] {
            m.alter_table(
                Table::alter()
                    .table(Tokens::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
