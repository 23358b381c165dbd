use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Username,
    Password,
    DisplayName,
    Role,
    Status,
    Email,
    AccessToken,
    Quota,
    UsedQuota,
    RequestCount,
    Group,
    AffCode,
    AffCount,
    AffQuota,
    AffHistoryQuota,
    InviterId,
    SessionVersion,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tokens {
    Table,
    Id,
    UserId,
    KeyDigest,
    KeyMask,
    Name,
    Status,
    CreatedTime,
    AccessedTime,
    ExpiredTime,
    RemainQuota,
    UnlimitedQuota,
    UsedQuota,
    RequestCount,
    ModelLimitsEnabled,
    ModelLimits,
    AllowIps,
    Group,
}

#[derive(DeriveIden, Clone, Copy)]
enum Channels {
    Table,
    Id,
    Type,
    Key,
    Name,
    Status,
    Weight,
    Priority,
    CreatedTime,
    TestTime,
    ResponseTime,
    BaseUrl,
    Models,
    Group,
    UsedQuota,
    RequestCount,
    ModelMapping,
    Tag,
    TestModel,
    AutoBan,
    Other,
    OpenaiOrganization,
}

#[derive(DeriveIden, Clone, Copy)]
enum Abilities {
    Table,
    Group,
    Model,
    ChannelId,
    Enabled,
    Priority,
    Weight,
    Tag,
}

#[derive(DeriveIden, Clone, Copy)]
enum Redemptions {
    Table,
    Id,
    UserId,
    Key,
    Status,
    Name,
    Quota,
    CreatedTime,
    RedeemedTime,
    UsedUserId,
    ExpiredTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum Logs {
    Table,
    Id,
    UserId,
    CreatedAt,
    Type,
    Content,
    Username,
    TokenName,
    ModelName,
    Quota,
    PromptTokens,
    CompletionTokens,
    UseTime,
    IsStream,
    ChannelId,
    TokenId,
    Group,
    Ip,
    RequestId,
    Other,
}

#[derive(DeriveIden, Clone, Copy)]
enum Options {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden, Clone, Copy)]
enum QuotaData {
    Table,
    Id,
    UserId,
    Username,
    ModelName,
    CreatedAt,
    TokenUsed,
    Count,
    Quota,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    CreatedAt,
    UpdatedAt,
    TaskId,
    Platform,
    UserId,
    ChannelId,
    Quota,
    Action,
    Status,
    FailReason,
    SubmitTime,
    StartTime,
    FinishTime,
    Progress,
    Properties,
    Data,
}

fn index<T: IntoIden + Copy + 'static>(table: T, name: &str, cols: &[T]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(*c);
    }
    stmt.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_auto(Users::Id))
                .col(string_len_uniq(Users::Username, 64))
                .col(string_len(Users::Password, 255))
                .col(string_len(Users::DisplayName, 64).default(""))
                .col(integer(Users::Role).default(1))
                .col(integer(Users::Status).default(1))
                .col(string_len_null(Users::Email, 64).unique_key())
                .col(string_len_null(Users::AccessToken, 64).unique_key())
                .col(big_integer(Users::Quota).default(0))
                .col(big_integer(Users::UsedQuota).default(0))
                .col(big_integer(Users::RequestCount).default(0))
                .col(string_len(Users::Group, 64).default("default"))
                .col(string_len_uniq(Users::AffCode, 32))
                .col(integer(Users::AffCount).default(0))
                .col(big_integer(Users::AffQuota).default(0))
                .col(big_integer(Users::AffHistoryQuota).default(0))
                .col(integer(Users::InviterId).default(0))
                .col(integer(Users::SessionVersion).default(0))
                .col(big_integer(Users::CreatedAt).default(0))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tokens::Table)
                .col(pk_auto(Tokens::Id))
                .col(integer(Tokens::UserId))
                .col(string_len_uniq(Tokens::KeyDigest, 64))
                .col(string_len(Tokens::KeyMask, 64))
                .col(string_len(Tokens::Name, 64))
                .col(integer(Tokens::Status).default(1))
                .col(big_integer(Tokens::CreatedTime))
                .col(big_integer(Tokens::AccessedTime).default(0))
                .col(big_integer(Tokens::ExpiredTime).default(-1))
                .col(big_integer(Tokens::RemainQuota).default(0))
                .col(boolean(Tokens::UnlimitedQuota).default(false))
                .col(big_integer(Tokens::UsedQuota).default(0))
                .col(big_integer(Tokens::RequestCount).default(0))
                .col(boolean(Tokens::ModelLimitsEnabled).default(false))
                .col(string_len(Tokens::ModelLimits, 2048).default(""))
                .col(string_len(Tokens::AllowIps, 2048).default(""))
                .col(string_len(Tokens::Group, 64).default(""))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            Tokens::Table,
            "idx_tokens_user_id",
            &[Tokens::UserId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Channels::Table)
                .col(pk_auto(Channels::Id))
                .col(integer(Channels::Type).default(1))
                .col(text(Channels::Key))
                .col(string_len(Channels::Name, 128))
                .col(integer(Channels::Status).default(1))
                .col(integer(Channels::Weight).default(0))
                .col(big_integer(Channels::Priority).default(0))
                .col(big_integer(Channels::CreatedTime))
                .col(big_integer(Channels::TestTime).default(0))
                .col(integer(Channels::ResponseTime).default(0))
                .col(string_len(Channels::BaseUrl, 512).default(""))
                .col(text(Channels::Models))
                .col(string_len(Channels::Group, 255).default("default"))
                .col(big_integer(Channels::UsedQuota).default(0))
                .col(big_integer(Channels::RequestCount).default(0))
                .col(text_null(Channels::ModelMapping))
                .col(string_len_null(Channels::Tag, 64))
                .col(string_len(Channels::TestModel, 255).default(""))
                .col(integer(Channels::AutoBan).default(1))
                .col(string_len(Channels::Other, 512).default(""))
                .col(string_len(Channels::OpenaiOrganization, 128).default(""))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Abilities::Table)
                .col(string_len(Abilities::Group, 64))
                .col(string_len(Abilities::Model, 255))
                .col(integer(Abilities::ChannelId))
                .col(boolean(Abilities::Enabled).default(true))
                .col(big_integer(Abilities::Priority).default(0))
                .col(integer(Abilities::Weight).default(0))
                .col(string_len_null(Abilities::Tag, 64))
                .primary_key(
                    Index::create()
                        .col(Abilities::Group)
                        .col(Abilities::Model)
                        .col(Abilities::ChannelId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            Abilities::Table,
            "idx_abilities_channel_id",
            &[Abilities::ChannelId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Redemptions::Table)
                .col(pk_auto(Redemptions::Id))
                .col(integer(Redemptions::UserId))
                .col(string_len_uniq(Redemptions::Key, 32))
                .col(integer(Redemptions::Status).default(1))
                .col(string_len(Redemptions::Name, 64))
                .col(big_integer(Redemptions::Quota))
                .col(big_integer(Redemptions::CreatedTime))
                .col(big_integer(Redemptions::RedeemedTime).default(0))
                .col(integer(Redemptions::UsedUserId).default(0))
                .col(big_integer(Redemptions::ExpiredTime).default(0))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Logs::Table)
                .col(big_pk_auto(Logs::Id))
                .col(integer(Logs::UserId))
                .col(big_integer(Logs::CreatedAt))
                .col(integer(Logs::Type))
                .col(text(Logs::Content))
                .col(string_len(Logs::Username, 64).default(""))
                .col(string_len(Logs::TokenName, 64).default(""))
                .col(string_len(Logs::ModelName, 255).default(""))
                .col(big_integer(Logs::Quota).default(0))
                .col(integer(Logs::PromptTokens).default(0))
                .col(integer(Logs::CompletionTokens).default(0))
                .col(integer(Logs::UseTime).default(0))
                .col(boolean(Logs::IsStream).default(false))
                .col(integer(Logs::ChannelId).default(0))
                .col(integer(Logs::TokenId).default(0))
                .col(string_len(Logs::Group, 64).default(""))
                .col(string_len(Logs::Ip, 64).default(""))
                .col(string_len(Logs::RequestId, 64).default(""))
                .col(text_null(Logs::Other))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            Logs::Table,
            "idx_logs_user_created",
            &[Logs::UserId, Logs::CreatedAt],
        ))
        .await?;
        m.create_index(index(
            Logs::Table,
            "idx_logs_created_at",
            &[Logs::CreatedAt],
        ))
        .await?;
        m.create_index(index(
            Logs::Table,
            "idx_logs_model_name",
            &[Logs::ModelName],
        ))
        .await?;
        m.create_index(index(Logs::Table, "idx_logs_username", &[Logs::Username]))
            .await?;

        m.create_table(
            Table::create()
                .table(Options::Table)
                .col(string_len(Options::Key, 128).primary_key())
                .col(text(Options::Value))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(QuotaData::Table)
                .col(pk_auto(QuotaData::Id))
                .col(integer(QuotaData::UserId))
                .col(string_len(QuotaData::Username, 64).default(""))
                .col(string_len(QuotaData::ModelName, 255).default(""))
                .col(big_integer(QuotaData::CreatedAt))
                .col(big_integer(QuotaData::TokenUsed).default(0))
                .col(big_integer(QuotaData::Count).default(0))
                .col(big_integer(QuotaData::Quota).default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                QuotaData::Table,
                "uidx_quota_data_bucket",
                &[
                    QuotaData::UserId,
                    QuotaData::ModelName,
                    QuotaData::CreatedAt,
                ],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            QuotaData::Table,
            "idx_quota_data_created_at",
            &[QuotaData::CreatedAt],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(big_pk_auto(Tasks::Id))
                .col(big_integer(Tasks::CreatedAt))
                .col(big_integer(Tasks::UpdatedAt))
                .col(string_len(Tasks::TaskId, 191))
                .col(string_len(Tasks::Platform, 30))
                .col(integer(Tasks::UserId))
                .col(integer(Tasks::ChannelId).default(0))
                .col(big_integer(Tasks::Quota).default(0))
                .col(string_len(Tasks::Action, 40).default(""))
                .col(string_len(Tasks::Status, 20).default(""))
                .col(text_null(Tasks::FailReason))
                .col(big_integer(Tasks::SubmitTime).default(0))
                .col(big_integer(Tasks::StartTime).default(0))
                .col(big_integer(Tasks::FinishTime).default(0))
                .col(string_len(Tasks::Progress, 20).default(""))
                .col(text_null(Tasks::Properties))
                .col(text_null(Tasks::Data))
                .to_owned(),
        )
        .await?;
        m.create_index(index(Tasks::Table, "idx_tasks_task_id", &[Tasks::TaskId]))
            .await?;
        m.create_index(index(Tasks::Table, "idx_tasks_user_id", &[Tasks::UserId]))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Tasks::Table.into_iden(),
            QuotaData::Table.into_iden(),
            Options::Table.into_iden(),
            Logs::Table.into_iden(),
            Redemptions::Table.into_iden(),
            Abilities::Table.into_iden(),
            Channels::Table.into_iden(),
            Tokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
