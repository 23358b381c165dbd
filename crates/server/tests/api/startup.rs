//! Start-up: clear errors for bad configuration, and the root user on first start.

use crate::helpers::test_settings;
use server::Application;
use server::config::Secret;

#[tokio::test]
async fn unsupported_or_unreachable_databases_are_clear_errors() {
    let err = Application::build(test_settings("redis://localhost/0", None))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unsupported database URL scheme"),
        "{err}"
    );
    let err = Application::build(test_settings("postgres://nobody@127.0.0.1:1/none", None))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot connect to the database"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!(
        "gw-redis-{}.db",
        domain::keys::random_alphanumeric(8)
    ));
    let url = format!("sqlite://{}", path.display());
    let err = Application::build(test_settings(&url, Some("redis://127.0.0.1:1".into())))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("Redis"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn weak_configured_root_password_is_refused() {
    let path = std::env::temp_dir().join(format!(
        "gw-root-{}.db",
        domain::keys::random_alphanumeric(8)
    ));
    let mut settings = test_settings(&format!("sqlite://{}", path.display()), None);
    settings.bootstrap.root_password = Some(Secret("short".into()));
    let err = Application::build(settings).await.err().unwrap();
    assert!(err.to_string().contains("ROOT_PASSWORD"), "{err}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
