//! First start: the root user and the session secret.

use crate::config::{BootstrapSettings, SecuritySettings};
use domain::validate::{Password, Username};
use persistence::{DatabaseConnection, DbErr, is_unique_violation, options, users};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("APP__BOOTSTRAP__ROOT_USERNAME: {0}")]
    Username(domain::ValidationError),
    #[error("APP__BOOTSTRAP__ROOT_PASSWORD: {0}")]
    Password(domain::ValidationError),
    #[error("hashing the root password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    #[error("creating the root user: {0}")]
    Db(#[from] DbErr),
}

/// Creates the root user when the database has no user yet. Without a configured password a
/// random one is generated and logged once; there is never a fixed default.
pub async fn ensure_root(
    db: &DatabaseConnection,
    cfg: &BootstrapSettings,
    bcrypt_cost: u32,
) -> Result<(), BootstrapError> {
    if users::count(db).await? > 0 {
        return Ok(());
    }
    let username = Username::parse(&cfg.root_username).map_err(BootstrapError::Username)?;
    let (password, generated) = match &cfg.root_password {
        Some(p) => (
            Password::parse(&p.0).map_err(BootstrapError::Password)?,
            false,
        ),
        None => {
            let raw = domain::keys::random_alphanumeric(16);
            (
                Password::parse(&raw).map_err(BootstrapError::Password)?,
                true,
            )
        }
    };
    let plain = password.expose().to_owned();
    let hash = tokio::task::spawn_blocking(move || bcrypt::hash(plain, bcrypt_cost))
        .await
        .map_err(|e| DbErr::Custom(format!("blocking task: {e}")))??;
    let result = users::insert(
        db,
        users::NewUser {
            username: username.as_str().to_owned(),
            password_hash: hash,
            display_name: "Root User".into(),
            email: None,
            role: domain::Role::ROOT.0,
            quota: 100_000_000,
            group: "default".into(),
            aff_code: domain::keys::generate_aff_code(),
            inviter_id: 0,
            created_at: domain::now_ts(),
        },
    )
    .await;
    match result {
        Ok(_) if generated => {
            tracing::warn!(
                "created the root user {:?} with the generated password {}; it is shown only now, change it after logging in",
                username.as_str(),
                password.expose()
            );
            Ok(())
        }
        Ok(_) => {
            tracing::info!(
                "created the root user {:?} with the configured password",
                username.as_str()
            );
            Ok(())
        }
        // Another instance created it at the same moment.
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The session signing key: configured, or generated once and kept in the database so that
/// every instance sharing it accepts the others' sessions.
pub async fn session_secret(
    db: &DatabaseConnection,
    cfg: &SecuritySettings,
) -> Result<Vec<u8>, DbErr> {
    if let Some(secret) = &cfg.session_secret {
        return Ok(secret.0.as_bytes().to_vec());
    }
    let fresh = domain::keys::random_alphanumeric(64);
    let stored = options::get_or_insert(db, domain::options::SESSION_SECRET, &fresh).await?;
    Ok(stored.into_bytes())
}
