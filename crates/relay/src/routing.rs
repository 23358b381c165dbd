//! Channel selection over an in-memory snapshot of abilities: highest priority first, weighted
//! random within a priority level; a retry skips channels already tried and falls to the next
//! level when its own is exhausted.

use persistence::{DatabaseConnection, DbErr, abilities, channels};
use rand::RngExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// What a relay call needs to know about a channel.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub id: i32,
    pub channel_type: i32,
    pub key: String,
    pub base_url: String,
    pub other: String,
    pub organization: String,
    pub model_mapping: HashMap<String, String>,
    pub auto_ban: bool,
}

impl ChannelInfo {
    pub(crate) fn from_model(c: channels::Model) -> Self {
        let model_mapping = c
            .model_mapping
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        ChannelInfo {
            id: c.id,
            channel_type: c.channel_type,
            key: c.key.trim().to_owned(),
            base_url: c.base_url,
            other: c.other,
            organization: c.openai_organization,
            model_mapping,
            auto_ban: c.auto_ban != 0,
        }
    }

    /// The model name sent upstream.
    pub fn upstream_model<'a>(&'a self, requested: &'a str) -> &'a str {
        self.model_mapping
            .get(requested)
            .map_or(requested, String::as_str)
    }
}

#[derive(Debug)]
struct Level {
    priority: i64,
    members: Vec<(Arc<ChannelInfo>, u32)>,
}

/// The routes of one moment: (group, model) -> priority levels, highest first.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: HashMap<String, HashMap<String, Vec<Level>>>,
    channels: HashMap<i32, Arc<ChannelInfo>>,
}

impl Snapshot {
    /// Builds the snapshot from enabled abilities and their channels.
    pub async fn load(db: &DatabaseConnection) -> Result<Snapshot, DbErr> {
        let all: HashMap<i32, Arc<ChannelInfo>> = channels::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, Arc::new(ChannelInfo::from_model(c))))
            .collect();
        let rows = abilities::Entity::find()
            .filter(abilities::Column::Enabled.eq(true))
            .all(db)
            .await?;
        let mut snap = Snapshot {
            routes: HashMap::new(),
            channels: all,
        };
        for row in rows {
            let Some(channel) = snap.channels.get(&row.channel_id).cloned() else {
                continue;
            };
            let levels = snap
                .routes
                .entry(row.group)
                .or_default()
                .entry(row.model)
                .or_default();
            let weight = u32::try_from(row.weight).unwrap_or(0);
            match levels.iter_mut().find(|l| l.priority == row.priority) {
                Some(level) => level.members.push((channel, weight)),
                None => levels.push(Level {
                    priority: row.priority,
                    members: vec![(channel, weight)],
                }),
            }
        }
        for models in snap.routes.values_mut() {
            for levels in models.values_mut() {
                levels.sort_by_key(|l| std::cmp::Reverse(l.priority));
                for level in levels.iter_mut() {
                    level.members.sort_by_key(|(c, _)| c.id);
                }
            }
        }
        Ok(snap)
    }

    /// Picks a channel for (group, model) not in `tried`.
    pub fn pick(&self, group: &str, model: &str, tried: &[i32]) -> Option<Arc<ChannelInfo>> {
        let levels = self.routes.get(group)?.get(model)?;
        for level in levels {
            let open: Vec<&(Arc<ChannelInfo>, u32)> = level
                .members
                .iter()
                .filter(|(c, _)| !tried.contains(&c.id))
                .collect();
            if open.is_empty() {
                continue;
            }
            // Weight 0 everywhere means equal chances.
            let total: u64 = open.iter().map(|(_, w)| u64::from(*w)).sum();
            let mut rng = rand::rng();
            if total == 0 {
                return Some(open[rng.random_range(0..open.len())].0.clone());
            }
            let mut roll = rng.random_range(0..total);
            for (channel, weight) in &open {
                let w = u64::from(*weight);
                if roll < w {
                    return Some(channel.clone());
                }
                roll -= w;
            }
        }
        None
    }

    /// Whether the channel `id` serves (group, model) now (enabled, with that ability).
    pub fn routes_to(&self, group: &str, model: &str, id: i32) -> bool {
        self.routes
            .get(group)
            .and_then(|m| m.get(model))
            .is_some_and(|levels| {
                levels
                    .iter()
                    .any(|l| l.members.iter().any(|(c, _)| c.id == id))
            })
    }

    /// Whether any enabled channel serves (group, model).
    pub fn serves(&self, group: &str, model: &str) -> bool {
        self.routes
            .get(group)
            .is_some_and(|m| m.contains_key(model))
    }

    /// The models served to `group`, sorted.
    pub fn models(&self, group: &str) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .routes
            .get(group)
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        set.into_iter().cloned().collect()
    }

    /// A channel by id, whatever its status (for pinned calls).
    pub fn channel(&self, id: i32) -> Option<Arc<ChannelInfo>> {
        self.channels.get(&id).cloned()
    }
}

/// The current snapshot, swapped whole on reload.
#[derive(Default)]
pub struct Router {
    /// The snapshot with the ticket of the reload that read it.
    current: RwLock<(u64, Arc<Snapshot>)>,
    /// Handed out when a reload starts: one that started before a newer one finished is
    /// dropped instead of putting older routes back (the sync loop's reload against a channel
    /// change's).
    tickets: std::sync::atomic::AtomicU64,
}

impl Router {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let snap = Arc::new(Snapshot::load(db).await?);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ticket > current.0 {
            *current = (ticket, snap);
        }
        Ok(())
    }
}

/// A channel registered in code (by an embedder, without the admin API).
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub name: String,
    /// New API's channel type (`providers::OPENAI`, `providers::AZURE`, ...).
    pub channel_type: i32,
    pub key: String,
    /// Empty: the type's default.
    pub base_url: String,
    pub models: Vec<String>,
    /// Comma-separated groups whose callers may use it.
    pub group: String,
}

impl crate::Relay {
    /// Registers an enabled channel and routes to it at once; returns its id.
    pub async fn add_channel(&self, spec: ChannelSpec) -> Result<i32, DbErr> {
        use sea_orm::{Set, TransactionTrait};
        let mut model = channels::blank(spec.channel_type);
        model.name = Set(spec.name);
        model.key = Set(spec.key);
        model.base_url = Set(spec.base_url);
        model.models = Set(spec.models.join(","));
        model.group = Set(spec.group);
        let txn = self.s.db.begin().await?;
        let saved = channels::save(&txn, model).await?;
        txn.commit().await?;
        self.apply(crate::Change::Channels).await?;
        Ok(saved.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(id: i32) -> Arc<ChannelInfo> {
        Arc::new(ChannelInfo {
            id,
            channel_type: 1,
            key: "k".into(),
            base_url: String::new(),
            other: String::new(),
            organization: String::new(),
            model_mapping: HashMap::new(),
            auto_ban: true,
        })
    }

    fn snapshot() -> Snapshot {
        let mut models = HashMap::new();
        models.insert(
            "m".to_owned(),
            vec![
                Level {
                    priority: 10,
                    members: vec![(channel(1), 3), (channel(2), 1)],
                },
                Level {
                    priority: 0,
                    members: vec![(channel(3), 0)],
                },
            ],
        );
        let mut routes = HashMap::new();
        routes.insert("default".to_owned(), models);
        Snapshot {
            routes,
            channels: HashMap::new(),
        }
    }

    #[test]
    fn highest_priority_first_then_fall_back() {
        let s = snapshot();
        for _ in 0..50 {
            let id = s.pick("default", "m", &[]).map(|c| c.id);
            assert!(id == Some(1) || id == Some(2));
        }
        assert_eq!(s.pick("default", "m", &[1]).map(|c| c.id), Some(2));
        assert_eq!(s.pick("default", "m", &[1, 2]).map(|c| c.id), Some(3));
        assert_eq!(s.pick("default", "m", &[1, 2, 3]).map(|c| c.id), None);
        assert!(s.pick("vip", "m", &[]).is_none());
        assert!(s.pick("default", "x", &[]).is_none());
    }

    #[test]
    fn weights_shape_the_odds() {
        let s = snapshot();
        let ones = (0..4000)
            .filter(|_| s.pick("default", "m", &[]).map(|c| c.id) == Some(1))
            .count();
        // Expected 3000 of 4000.
        assert!((2700..3300).contains(&ones), "{ones}");
    }

    #[test]
    fn mapping_renames_upstream_only() {
        let mut c = (*channel(1)).clone();
        c.model_mapping.insert("gpt-4".into(), "gpt-4o".into());
        assert_eq!(c.upstream_model("gpt-4"), "gpt-4o");
        assert_eq!(c.upstream_model("other"), "other");
    }
}
