//! The API suite: every test runs against the real app on SQLite, and on PostgreSQL and
//! MariaDB when `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;

mod admin_users;
mod agents;
mod anthropic;
mod auth;
mod authorization;
mod billing_holes;
mod channels;
mod conversion;
mod crash;
mod data;
mod fees;
mod gemini;
mod health;
mod hostile;
mod hostile_dialects;
mod hostile_review2;
mod instances;
mod instances_money;
mod limits;
mod logs;
mod matrix;
mod openapi;
mod operator_logs;
mod options;
mod outage;
mod realtime;
mod redemptions;
mod relay;
mod relay_billing;
mod relay_endpoints;
mod relay_hostile;
mod robust;
mod robust_dialects;
mod robust_realtime;
mod sdk;
mod shutdown;
mod startup;
mod system;
mod tasks;
mod tasks_money;
mod tasks_video;
mod tokens;
mod upstream_faults;
mod users;
