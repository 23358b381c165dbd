//! Connecting to the database named by a URL, and running the migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("unsupported database URL scheme in {0:?} (use sqlite://, postgres:// or mysql://)")]
    Scheme(String),
    #[error("cannot create the SQLite directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(sea_orm::DbErr),
    #[error("database migration failed: {0}")]
    Migrate(sea_orm::DbErr),
}

/// Connects to `url`, creating a SQLite file (and its directory) when needed, and brings the
/// schema up to date.
///
/// SQLite gets one pooled connection: SQLite serialises writers anyway, and a single connection
/// never meets `SQLITE_BUSY` between the gateway's own transactions.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    let url = normalise_url(url)?;
    let mut options = ConnectOptions::new(url.clone());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // One connection kept for good: its worker thread lives as long as the pool.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    } else {
        options.max_connections(20);
    }
    let db = Database::connect(options).await.map_err(DbError::Connect)?;
    if db.get_database_backend() == DbBackend::Sqlite {
        for pragma in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
        ] {
            db.execute_unprepared(pragma)
                .await
                .map_err(DbError::Connect)?;
        }
    }
    Migrator::up(&db, None).await.map_err(DbError::Migrate)?;
    if db.get_database_backend() == DbBackend::Sqlite {
        lower_sqlite_worker_priority();
    }
    Ok(db)
}

/// Niceness of SQLite's worker thread: every statement runs there, mostly billing commits, and
/// on a busy core it should wait for calls, not calls for it (docs/benchmarks.md). Calls never
/// wait on it except for a key or user seen for the first time.
const SQLITE_WORKER_NICENESS: i32 = 19;

/// Lowers the CPU priority of this process's SQLite worker threads (Linux; best effort).
fn lower_sqlite_worker_priority() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let tid = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw);
        if let (true, Some(tid)) = (comm.starts_with("sqlx-sqlite-wor"), tid)
            && let Err(e) = rustix::process::setpriority_process(Some(tid), SQLITE_WORKER_NICENESS)
        {
            tracing::debug!(error = %e, "could not lower the SQLite worker's priority");
        }
    }
}

/// Accepts `sqlite:path`, `sqlite://path` and `sqlite::memory:`; makes sure a SQLite file's
/// directory exists and that the file is created on first start.
fn normalise_url(url: &str) -> Result<String, DbError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://")
        || lower.starts_with("postgresql://")
        || lower.starts_with("mysql://")
    {
        return Ok(url.to_owned());
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(DbError::Scheme(
            url.split(':').next().unwrap_or_default().to_owned(),
        ));
    };
    if rest.starts_with(":memory:") {
        return Ok(url.to_owned());
    }
    let path = rest.trim_start_matches("//");
    let file = path.split('?').next().unwrap_or_default();
    if let Some(dir) = std::path::Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let mode = if path.contains("mode=") {
        String::new()
    } else {
        format!("{sep}mode=rwc")
    };
    Ok(format!("sqlite://{path}{mode}"))
}

/// How many migrations the database lacks (0 when its schema is this build's).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// Whether `e` says the database could not be reached (a connection refused, broken or not
/// to be had in time) rather than that a statement failed.
pub fn unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let transport = |r: &RuntimeErr| match r {
        RuntimeErr::SqlxError(e) => matches!(
            e.as_ref(),
            sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::WorkerCrashed
                | sea_orm::sqlx::Error::Tls(_)
        ),
        _ => false,
    };
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => transport(r),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("gw-url-{}", std::process::id()));
        let file = dir.join("x.db");
        let url = normalise_url(&format!("sqlite://{}", file.display())).unwrap_or_default();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", file.display()));
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(matches!(normalise_url("redis://x"), Err(DbError::Scheme(s)) if s == "redis"));
        assert!(normalise_url("postgres://u@h/db").is_ok());
    }
}
