//! Asynchronous tasks (Midjourney, Suno, video, Kling) as the task relay writes them, and the
//! lease that lets one instance at a time poll them. The `tasks` table of the first migration
//! was a placeholder nothing wrote to: it is replaced whole.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    TaskId,
    UpstreamId,
    Platform,
    Action,
    Model,
    UserId,
    TokenId,
    TokenUnlimited,
    ChannelId,
    Status,
    Progress,
    ResultUrls,
    FailReason,
    Quota,
    Settlement,
    Context,
    Data,
    SubmitTime,
    StartTime,
    FinishTime,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Leases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

fn index(name: &str, cols: &[Tasks]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(Tasks::Table);
    for c in cols {
        stmt.col(*c);
    }
    stmt.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Tasks::Table).if_exists().to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(big_pk_auto(Tasks::Id))
                .col(string_len(Tasks::TaskId, 64))
                .col(string_len(Tasks::UpstreamId, 191))
                .col(string_len(Tasks::Platform, 20))
                .col(string_len(Tasks::Action, 40))
                .col(string_len(Tasks::Model, 64))
                .col(integer(Tasks::UserId))
                .col(integer(Tasks::TokenId))
                .col(boolean(Tasks::TokenUnlimited).default(false))
                .col(integer(Tasks::ChannelId))
                .col(string_len(Tasks::Status, 20))
                .col(string_len(Tasks::Progress, 20).default(""))
                .col(text_null(Tasks::ResultUrls))
                .col(text_null(Tasks::FailReason))
                .col(big_integer(Tasks::Quota).default(0))
                .col(string_len(Tasks::Settlement, 10))
                .col(text_null(Tasks::Context))
                .col(text_null(Tasks::Data))
                .col(big_integer(Tasks::SubmitTime))
                .col(big_integer(Tasks::StartTime).default(0))
                .col(big_integer(Tasks::FinishTime).default(0))
                .col(big_integer(Tasks::CreatedAt))
                .col(big_integer(Tasks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index("uidx_tasks_task_id", &[Tasks::TaskId])
                .unique()
                .take(),
        )
        .await?;
        m.create_index(index("idx_tasks_user_id", &[Tasks::UserId, Tasks::Id]))
            .await?;
        m.create_index(index(
            "idx_tasks_settlement",
            &[Tasks::Settlement, Tasks::Status],
        ))
        .await?;
        m.create_index(index("idx_tasks_submit_time", &[Tasks::SubmitTime]))
            .await?;
        m.create_table(
            Table::create()
                .table(Leases::Table)
                .col(string_len(Leases::Name, 40).primary_key())
                .col(string_len(Leases::Holder, 64).default(""))
                .col(big_integer(Leases::ExpiresAt).default(0))
                .to_owned(),
        )
        .await?;
        let seed = Query::insert()
            .into_table(Leases::Table)
            .columns([Leases::Name, Leases::Holder, Leases::ExpiresAt])
            .values_panic(["task_poller".into(), "".into(), 0i64.into()])
            .to_owned();
        m.exec_stmt(seed).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Leases::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
