//! In-memory views of API keys and users for the hot path: loaded from the database on first
//! use, dropped when `/api` changes them.

use persistence::{DatabaseConnection, DbErr, tokens, users};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// What a relay call needs to know about its API key (balances live in the ledger).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub status: i32,
    /// -1 = never.
    pub expired_time: i64,
    pub unlimited: bool,
    /// `None` = any model.
    pub model_limits: Option<HashSet<String>>,
    /// Empty = any address.
    pub allow_ips: Vec<ipnet::IpNet>,
    /// Empty = the user's group.
    pub group: String,
    /// Requests a minute, tokens a minute, calls in flight; 0 = no limit.
    pub rpm_limit: i64,
    pub tpm_limit: i64,
    pub concurrency_limit: i64,
}

impl TokenInfo {
    fn from_model(t: tokens::Model) -> Self {
        let model_limits = t.model_limits_enabled.then(|| {
            t.model_limits
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let allow_ips = t
            .allow_ips
            .split(',')
            .filter_map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
            })
            .collect();
        TokenInfo {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            status: t.status,
            expired_time: t.expired_time,
            unlimited: t.unlimited_quota,
            model_limits,
            allow_ips,
            group: t.group,
            rpm_limit: i64::from(t.rpm_limit),
            tpm_limit: t.tpm_limit,
            concurrency_limit: i64::from(t.concurrency_limit),
        }
    }

    pub fn allows_ip(&self, ip: Option<IpAddr>) -> bool {
        self.allow_ips.is_empty()
            || ip.is_some_and(|ip| self.allow_ips.iter().any(|n| n.contains(&ip)))
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.model_limits.as_ref().is_none_or(|m| m.contains(model))
    }
}

/// What a relay call needs to know about its user.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub id: i32,
    pub username: String,
    pub group: String,
    pub status: i32,
    pub role: i32,
}

impl UserInfo {
    fn from_model(u: users::Model) -> Self {
        UserInfo {
            id: u.id,
            username: u.username,
            group: u.group,
            status: u.status,
            role: u.role,
        }
    }
}

#[derive(Default)]
pub struct Directory {
    tokens: RwLock<HashMap<String, Arc<TokenInfo>>>,
    users: RwLock<HashMap<i32, Arc<UserInfo>>>,
    /// Moves on with every `forget_*`: a refresh whose read straddles one is dropped, so it
    /// cannot bring back a view read before the change.
    generation: std::sync::atomic::AtomicU64,
}

impl Directory {
    /// The token whose key has this digest.
    pub async fn token(
        &self,
        db: &DatabaseConnection,
        digest: &str,
    ) -> Result<Option<Arc<TokenInfo>>, DbErr> {
        if let Some(t) = self
            .tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(digest)
        {
            return Ok(Some(t.clone()));
        }
        let generation = self.generation();
        let Some(model) = tokens::find_by_digest(db, digest).await? else {
            return Ok(None);
        };
        let info = Arc::new(TokenInfo::from_model(model));
        let mut map = self
            .tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A change that landed during the read may not be in it: use it once, keep it not.
        if self.generation() == generation {
            map.insert(digest.to_owned(), info.clone());
        }
        Ok(Some(info))
    }

    pub async fn user(
        &self,
        db: &DatabaseConnection,
        id: i32,
    ) -> Result<Option<Arc<UserInfo>>, DbErr> {
        if let Some(u) = self
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Some(u.clone()));
        }
        let generation = self.generation();
        let Some(u) = users::find(db, id).await? else {
            return Ok(None);
        };
        let info = Arc::new(UserInfo::from_model(u));
        let mut map = self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation() == generation {
            map.insert(id, info.clone());
        }
        Ok(Some(info))
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Drops a token's cached view (it changed or was deleted).
    pub fn forget_token(&self, id: i32) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, t| t.id != id);
    }

    /// Drops a user's cached view and their tokens'.
    pub fn forget_user(&self, id: i32) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, t| t.user_id != id);
    }

    /// Re-reads every cached key and user from the database in one pass and swaps the views in
    /// (changes made by other instances arrive this way); calls keep using the old views
    /// meanwhile, so no call waits for the database.
    pub async fn refresh(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::SeqCst);
        let digests: Vec<String> = self
            .tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        let user_ids: Vec<i32> = self
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        let mut tokens = HashMap::with_capacity(digests.len());
        for chunk in digests.chunks(500) {
            for t in tokens::find_by_digests(db, chunk).await? {
                tokens.insert(t.key_digest.clone(), Arc::new(TokenInfo::from_model(t)));
            }
        }
        let mut users = HashMap::with_capacity(user_ids.len());
        for chunk in user_ids.chunks(500) {
            for u in users::find_many(db, chunk).await? {
                users.insert(u.id, Arc::new(UserInfo::from_model(u)));
            }
        }
        let mut token_map = self
            .tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut user_map = self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) == generation {
            *token_map = tokens;
            *user_map = users;
        }
        Ok(())
    }
}
