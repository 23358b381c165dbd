//! Submitting a task: priced per call (`ModelPrice` of the action's model, a video's scaled by
//! the seconds sent upstream), reserved before the upstream call, and charged only when the
//! upstream takes the task; the task row is written with the bill (one transaction), so a
//! refused or unreachable submit charges and records nothing.

use super::{Platform, TaskKind, TaskRequest, adaptor_for};
use crate::auth::Caller;
use crate::client::TransportError;
use crate::error::{RelayError, UpstreamError, UpstreamKind};
use crate::mask::mask;
use crate::pipeline::CallMeta;
use crate::providers::{self, Provider};
use crate::relay::{BILLING_BACKLOG, Relay};
use crate::routing::ChannelInfo;
use domain::options as opt;
use domain::pricing::{Price, PriceTable};
use persistence::billing::BillingRecord;
use persistence::tasks::{Model, NewTask, settlement, status};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a submit may take upstream: within the shutdown bound (30 s), so a submit under
/// way at shutdown is answered and charged before the process ends.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(25);

/// A task the upstream took, as written, and the platform's own answer.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub task: Model,
    /// The upstream's own submit answer (midjourney-proxy's `code` 1/21/22, `description`).
    pub native: Value,
}

/// Seconds a video price is for when the request names none: OpenAI's videos default to 4,
/// Kling's (and others') to 5.
pub fn default_seconds(model: &str) -> i64 {
    if model.starts_with("sora") { 4 } else { 5 }
}

/// Whether a channel's platform runs this kind of task.
fn runs(platform: Platform, kind: TaskKind) -> bool {
    matches!(
        (platform, kind),
        (Platform::Midjourney, TaskKind::Midjourney(_))
            | (Platform::Suno, TaskKind::Suno(_))
            | (Platform::Kling | Platform::Video, TaskKind::Video(_))
    )
}

impl Relay {
    /// The caller's task with this public id (another user's is not found, as a missing one).
    pub async fn task(&self, caller: &Caller, task_id: &str) -> Result<Model, RelayError> {
        persistence::tasks::find_for_user(&self.s.db, caller.user.id, task_id)
            .await
            .map_err(|e| RelayError::Internal(format!("reading a task: {e}")))?
            .ok_or_else(|| RelayError::TaskNotFound(task_id.to_owned()))
    }

    /// The caller's tasks among `task_ids` (others' and unknown ids are left out).
    pub async fn tasks(
        &self,
        caller: &Caller,
        task_ids: &[String],
    ) -> Result<Vec<Model>, RelayError> {
        persistence::tasks::find_many_for_user(&self.s.db, caller.user.id, task_ids)
            .await
            .map_err(|e| RelayError::Internal(format!("reading tasks: {e}")))
    }

    /// The per-call price of a submit and the quota it reserves: the action model's price, a
    /// pro-mode video's `<model>-pro` price, a sized one's `<model> <size>` price when set,
    /// scaled by the seconds asked over the price's own.
    fn task_price(
        &self,
        caller: &Caller,
        request: &TaskRequest,
    ) -> Result<(Price, String, i64), RelayError> {
        let snapshot = self.s.router.snapshot();
        let mut price = self.price_of(&snapshot, caller, &request.model)?;
        let table = self.prices();
        let mut key = request.model.clone();
        if request.pro {
            key = format!("{key}-pro");
            price = table
                .price(&key, &caller.group)
                .ok_or_else(|| RelayError::NoPrice(key.clone()))?;
        }
        if let Some(size) = request.text("size")
            && let Some(sized) = table.price(&format!("{key} {size}"), &caller.group)
        {
            key = format!("{key} {size}");
            price = sized;
        }
        let price = match price {
            Price::PerCall { usd, group_ratio } => {
                let scale = request
                    .seconds
                    .map_or(1.0, |s| s as f64 / default_seconds(&request.model) as f64);
                Price::PerCall {
                    usd: usd * scale,
                    group_ratio,
                }
            }
            // A task has no tokens: only a per-call price (or none, in self-use mode) prices it.
            free if free.quota(1_000_000, 1_000_000) == 0 => PriceTable::free(),
            Price::PerToken { .. } => return Err(RelayError::NoPrice(key)),
        };
        Ok((price, key, price.quota_times(1)))
    }

    /// Submits a task: prices and reserves it, sends it to a channel of the caller's group
    /// that runs its kind (the channel of the task it acts on, for actions on an earlier
    /// task), and charges it once the upstream took it. A refusal charges nothing. The
    /// upstream call and the charge run as owned background work: a caller who hangs up, or
    /// a shutdown, cannot leave a task the upstream took uncharged.
    pub async fn submit_task(
        &self,
        caller: &Caller,
        request: TaskRequest,
        meta: &CallMeta,
    ) -> Result<Submitted, RelayError> {
        self.s.billing.wait_below(BILLING_BACKLOG).await;
        self.ensure_balances(caller).await?;
        let parent = match &request.parent {
            Some(id) => Some(self.parent_of(caller, &request, id).await?),
            None => None,
        };
        let mut permit = self.limit(caller).await?;
        let unfinished = persistence::tasks::unfinished_of_user(&self.s.db, caller.user.id)
            .await
            .map_err(|e| RelayError::Internal(format!("counting tasks: {e}")))?;
        if unfinished >= MAX_UNFINISHED {
            return Err(RelayError::Busy);
        }
        let (price, key, quota) = self.task_price(caller, &request)?;
        let session = self
            .hold(caller, price, quota, |short| RelayError::Insufficient {
                holder: short.holder().0,
                model: request.model.clone(),
                affordable_output: None,
            })
            .await?;
        let held = Held {
            session,
            price,
            key,
            quota,
        };
        let job = self.s.jobs.spawn(self.clone().send_task(
            caller.clone(),
            request,
            parent,
            held,
            meta.clone(),
        ));
        let submitted = job
            .await
            .map_err(|e| RelayError::Internal(format!("the task submit stopped: {e}")))??;
        permit.succeeded();
        Ok(submitted)
    }

    /// The caller's task an action acts on: finished (or waiting for its modal, for the modal
    /// route), on a channel that still serves the action's model to the caller's group.
    async fn parent_of(
        &self,
        caller: &Caller,
        request: &TaskRequest,
        id: &str,
    ) -> Result<Model, RelayError> {
        let parent = self.task(caller, id).await?;
        let wanted = if request.kind == TaskKind::Midjourney(super::MjAction::Modal) {
            "MODAL"
        } else {
            status::SUCCESS
        };
        if parent.status != wanted {
            return Err(RelayError::BadRequest(format!(
                "the task {id} is {}, not {wanted}",
                parent.status
            )));
        }
        let snapshot = self.s.router.snapshot();
        if caller.pinned.is_none()
            && !snapshot.routes_to(&caller.group, &request.model, parent.channel_id)
        {
            return Err(RelayError::NoChannel(request.model.clone()));
        }
        Ok(parent)
    }

    /// Sends a priced submit to the channels in turn, and charges it when one takes it.
    async fn send_task(
        self,
        caller: Caller,
        request: TaskRequest,
        parent: Option<Model>,
        held: Held,
        meta: CallMeta,
    ) -> Result<Submitted, RelayError> {
        let snapshot = self.s.router.snapshot();
        let retries = self.s.options.get_i64(opt::RETRY_TIMES).clamp(0, 10);
        let mut tried: Vec<i32> = Vec::new();
        let mut last_error = RelayError::NoChannel(request.model.clone());
        while tried.len() as i64 <= retries {
            // An action on an earlier task goes to the channel that ran it; a pinned key to
            // its channel; others to the group's channels in turn.
            let fixed = parent.as_ref().map(|p| p.channel_id).or(caller.pinned);
            let channel = match fixed {
                Some(_) if !tried.is_empty() => break,
                Some(id) => snapshot.channel(id),
                None => snapshot.pick(&caller.group, &request.model, &tried),
            };
            let Some(channel) = channel else {
                break;
            };
            tried.push(channel.id);
            let platform = Platform::of_channel(channel.channel_type);
            if !runs(platform, request.kind)
                || parent
                    .as_ref()
                    .is_some_and(|p| p.platform != platform.name())
            {
                continue;
            }
            if request.pro && platform == Platform::Video {
                return Err(RelayError::BadRequest(
                    "`mode` is Kling's: this model's channel takes none".into(),
                ));
            }
            let Some(base) = providers::base_url(channel.channel_type, &channel.base_url) else {
                continue;
            };
            let adaptor = adaptor_for(platform);
            let upstream = adaptor.submit(
                &channel,
                &base,
                &request,
                parent.as_ref().map(|p| p.upstream_id.as_str()),
            )?;
            let resp = match self.s.http.fetch(upstream, SUBMIT_TIMEOUT).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(channel = channel.id, error = %e, request_id = %meta.request_id, "task upstream unreachable");
                    last_error = RelayError::Unavailable(e.to_string());
                    // Only a submit that never reached the upstream may go elsewhere: one
                    // whose answer was lost may have been taken.
                    if matches!(e, TransportError::Connect(_)) {
                        continue;
                    }
                    break;
                }
            };
            if resp.status >= 500 || resp.status == 429 {
                tracing::warn!(channel = channel.id, status = resp.status, request_id = %meta.request_id, "task upstream failed");
                last_error = RelayError::Unavailable(format!("upstream answered {}", resp.status));
                continue;
            }
            let accepted = match adaptor.accepted(resp.status, &resp.body) {
                Ok(a) if valid_id(&a.upstream_id) => a,
                Ok(a) => {
                    tracing::error!(channel = channel.id, request_id = %meta.request_id, id = %a.upstream_id, "the upstream took a task under an unusable id; not charged");
                    return Err(RelayError::Unavailable(
                        "the upstream's task id is unusable".into(),
                    ));
                }
                Err(reason) => {
                    tracing::warn!(channel = channel.id, status = resp.status, request_id = %meta.request_id, body = %String::from_utf8_lossy(&resp.body), "task refused");
                    let credentials = matches!(resp.status, 401 | 403);
                    if credentials {
                        self.key_failure(&channel);
                    }
                    // The reservation goes back when the session drops.
                    return Err(RelayError::Upstream(UpstreamError {
                        provider: Provider::Task,
                        status: if credentials { resp.status } else { 400 },
                        kind: if credentials {
                            UpstreamKind::KeyUnusable
                        } else {
                            UpstreamKind::Rejected
                        },
                        message: mask(&reason, &channel),
                        code: Some("task_refused".into()),
                    }));
                }
            };
            return Ok(self
                .charge(&caller, &request, &channel, platform, accepted, held, &meta)
                .await);
        }
        Err(last_error)
    }

    /// Charges a task the upstream took: its row goes with its bill, committed before the
    /// caller is answered.
    #[allow(clippy::too_many_arguments)]
    async fn charge(
        &self,
        caller: &Caller,
        request: &TaskRequest,
        channel: &ChannelInfo,
        platform: Platform,
        accepted: super::Accepted,
        held: Held,
        meta: &CallMeta,
    ) -> Submitted {
        let Held {
            session,
            price,
            key,
            quota,
        } = held;
        let now = domain::now_ts();
        let task_id = format!("task_{}", domain::keys::random_alphanumeric(32));
        let (usd, group_ratio) = match price {
            Price::PerCall { usd, group_ratio } => (usd, group_ratio),
            Price::PerToken { group_ratio, .. } => (0.0, group_ratio),
        };
        let short = |name: &str, max: usize| {
            request.text(name).map(|t| {
                t.chars()
                    .filter(|c| *c != '\0')
                    .take(max)
                    .collect::<String>()
            })
        };
        let context = json!({
            "price_key": key,
            "usd": usd,
            "group_ratio": group_ratio,
            "group": caller.group,
            "seconds": request.seconds,
            "prompt": short("prompt", 1000),
            "size": short("size", 40),
            "mode": short("mode", 10),
        });
        let mut native = accepted.native;
        strip_id(&mut native, &accepted.upstream_id, &task_id);
        let new = NewTask {
            task_id: task_id.clone(),
            upstream_id: accepted.upstream_id,
            platform: platform.name().into(),
            action: request.action.clone(),
            model: request.model.clone(),
            user_id: caller.user.id,
            token_id: caller.token.id,
            token_unlimited: caller.token.unlimited,
            channel_id: channel.id,
            status: status::SUBMITTED.into(),
            progress: "0%".into(),
            context: Some(context.to_string()),
            data: None,
            submit_time: now,
        };
        let charged = session.settle(quota);
        let mut content = format!("模型价格 {usd}，分组倍率 {group_ratio}，任务 {task_id}");
        if let Some(s) = request.seconds {
            content.push_str(&format!("，时长 {s} 秒"));
        }
        self.s.billing.submit(BillingRecord {
            user_id: caller.user.id,
            username: caller.user.username.clone(),
            token_id: caller.token.id,
            token_name: caller.token.name.clone(),
            token_unlimited: caller.token.unlimited,
            channel_id: channel.id,
            model_name: key,
            quota: charged,
            group: caller.group.clone(),
            request_id: meta.request_id.clone(),
            ip: meta.ip.map(|i| i.to_string()).unwrap_or_default(),
            content,
            created_at: now,
            task: Some(Box::new(new.clone())),
            ..Default::default()
        });
        // Answered once the task and its bill are committed: a caller who fetches at once
        // finds it.
        self.s.billing.flush().await;
        // The platform's own words, masked of the channel's secrets.
        if let Some(Value::String(d)) = native.get_mut("description") {
            *d = mask(d, channel);
        }
        let task = Model {
            id: 0,
            task_id: new.task_id,
            upstream_id: String::new(),
            platform: new.platform,
            action: new.action,
            model: new.model,
            user_id: new.user_id,
            token_id: new.token_id,
            token_unlimited: new.token_unlimited,
            channel_id: new.channel_id,
            status: new.status,
            progress: new.progress,
            result_urls: None,
            fail_reason: None,
            quota: charged,
            settlement: settlement::CHARGED.into(),
            context: new.context,
            data: None,
            submit_time: now,
            start_time: 0,
            finish_time: 0,
            created_at: now,
            updated_at: now,
        };
        Submitted { task, native }
    }
}

/// A submit's reservation and price, held until the upstream answers.
struct Held {
    session: crate::billing::Session,
    price: Price,
    key: String,
    quota: i64,
}

/// The most unfinished tasks one user may have (each is polled until it ends).
const MAX_UNFINISHED: u64 = 1000;

/// Whether an upstream task id can be stored and polled (`upstream_id` is 191 characters).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 191 && !id.chars().any(char::is_control)
}

/// Replaces the upstream's id by the gateway's own everywhere in a platform's answer: in
/// texts (a button's id may carry it) and as a number.
pub(crate) fn strip_id(native: &mut Value, upstream_id: &str, task_id: &str) {
    match native {
        Value::String(s) if upstream_id.len() >= 6 && s.contains(upstream_id) => {
            *s = s.replace(upstream_id, task_id);
        }
        Value::Number(n) if n.to_string() == upstream_id => *native = json!(task_id),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| strip_id(v, upstream_id, task_id)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| strip_id(v, upstream_id, task_id)),
        _ => {}
    }
}

/// How long an upstream may take to start sending a finished video.
const CONTENT_TIMEOUT: Duration = Duration::from_secs(30);

impl Relay {
    /// The content of the caller's finished video made by an OpenAI-style upstream, read
    /// through the gateway (the upstream's content URL needs the channel's key).
    pub async fn task_content(
        &self,
        caller: &Caller,
        task_id: &str,
    ) -> Result<crate::pipeline::RelayResponse, RelayError> {
        let task = self.task(caller, task_id).await?;
        if task.platform != Platform::Video.name() || task.status != status::SUCCESS {
            return Err(RelayError::BadRequest(format!(
                "the video {task_id} is not ready"
            )));
        }
        let channel = self
            .s
            .router
            .snapshot()
            .channel(task.channel_id)
            .ok_or_else(|| RelayError::Unavailable("the video's channel is gone".into()))?;
        let base = providers::base_url(channel.channel_type, &channel.base_url)
            .ok_or_else(|| RelayError::Unavailable("the video's channel has no address".into()))?;
        let auth = format!("Bearer {}", channel.key);
        let url = format!("{base}/v1/videos/{}/content", task.upstream_id);
        let request =
            super::json_request(hyper::Method::GET, &url, &[("authorization", &auth)], None)?;
        let resp = self
            .s
            .http
            .send(request, CONTENT_TIMEOUT)
            .await
            .map_err(|e| RelayError::Unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(RelayError::Unavailable(format!(
                "the video's upstream answered {}",
                resp.status()
            )));
        }
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("video/mp4")
            .to_owned();
        Ok(crate::pipeline::RelayResponse {
            status: 200,
            content_type,
            body: crate::pipeline::RelayBody::Stream(Box::new(
                crate::stream::MeteredStream::bytes(resp.into_body()),
            )),
        })
    }
}
