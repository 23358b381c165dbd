//! One relay call from key to bill: authenticate the key, check it, price the model, reserve
//! quota, pick a channel, call upstream with retries, stream the answer through while metering
//! it, then settle or refund and hand the record to the batch writer. No database write happens
//! on this path; reads happen only when a key, user or balance is first seen.

use crate::HttpClient;
use crate::channel_type::{self, Family};
use crate::client::{UpstreamBody, full_body};
use crate::directory::{Directory, TokenInfo, UserInfo};
use crate::ledger::{Ledger, Shortfall};
use crate::routing::{ChannelInfo, Router, Snapshot};
use crate::sse::{SseMeter, Usage, usage_of};
use crate::tokenizer;
use crate::upstream_error::{error_message, should_disable};
use bytes::Bytes;
use domain::options as opt;
use domain::pricing::{Price, PriceTable};
use domain::{ChannelStatus, Role, TokenStatus, UserStatus};
use futures_util::Stream;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;
use persistence::billing::{BillingRecord, BillingWriter};
use persistence::options::OptionStore;
use persistence::{DatabaseConnection, DbErr, channels, users};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long an upstream may take to start answering.
const HEAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The OpenAI endpoints relayed as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    Moderations,
    ImageGenerations,
    ImageEdits,
    ImageVariations,
    AudioTranscriptions,
    AudioTranslations,
    AudioSpeech,
}

impl Endpoint {
    /// The path after `/v1`, as upstreams and Azure's deployment URLs name it.
    fn suffix(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Moderations => "moderations",
            Endpoint::ImageGenerations => "images/generations",
            Endpoint::ImageEdits => "images/edits",
            Endpoint::ImageVariations => "images/variations",
            Endpoint::AudioTranscriptions => "audio/transcriptions",
            Endpoint::AudioTranslations => "audio/translations",
            Endpoint::AudioSpeech => "audio/speech",
        }
    }

    fn streams(self) -> bool {
        matches!(self, Endpoint::ChatCompletions | Endpoint::Completions)
    }

    /// The model a request without one means.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Endpoint::Moderations => Some("omni-moderation-latest"),
            Endpoint::ImageGenerations | Endpoint::ImageEdits | Endpoint::ImageVariations => {
                Some("dall-e-2")
            }
            Endpoint::AudioTranscriptions | Endpoint::AudioTranslations => Some("whisper-1"),
            _ => None,
        }
    }
}

/// Why a relay call was refused or failed; the gateway renders it in the caller's dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayError {
    /// 401: no key, an unknown key, or a key that is not usable.
    InvalidKey(&'static str),
    /// 403 with a code.
    Forbidden { code: &'static str, message: String },
    /// 400.
    BadRequest(String),
    /// 404: the model is not one this key may use.
    ModelNotFound(String),
    /// 503: no enabled channel serves the model.
    NoChannel(String),
    /// The upstream's own error, passed on with its status.
    Upstream {
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// 502: no upstream could be reached.
    Unavailable(String),
    /// 500; the detail is logged, not sent.
    Internal(String),
}

impl RelayError {
    pub fn status(&self) -> u16 {
        match self {
            RelayError::InvalidKey(_) => 401,
            RelayError::Forbidden { .. } => 403,
            RelayError::BadRequest(_) => 400,
            RelayError::ModelNotFound(_) => 404,
            RelayError::NoChannel(_) => 503,
            RelayError::Upstream { status, .. } => *status,
            RelayError::Unavailable(_) => 502,
            RelayError::Internal(_) => 500,
        }
    }

    /// OpenAI's `type` and `code` for this error.
    pub fn kind_and_code(&self) -> (&'static str, Option<String>) {
        match self {
            RelayError::InvalidKey(_) => ("invalid_request_error", Some("invalid_api_key".into())),
            RelayError::Forbidden { code, .. } => {
                let kind = if code.starts_with("insufficient") {
                    "insufficient_quota"
                } else {
                    "invalid_request_error"
                };
                (kind, Some((*code).into()))
            }
            RelayError::BadRequest(_) => ("invalid_request_error", None),
            RelayError::ModelNotFound(_) => {
                ("invalid_request_error", Some("model_not_found".into()))
            }
            RelayError::NoChannel(_) => ("server_error", Some("no_available_channel".into())),
            RelayError::Upstream { code, .. } => ("upstream_error", code.clone()),
            RelayError::Unavailable(_) => ("server_error", Some("upstream_unavailable".into())),
            RelayError::Internal(_) => ("server_error", None),
        }
    }

    /// The message a client sees (never internal details).
    pub fn message(&self) -> String {
        match self {
            RelayError::InvalidKey(m) => (*m).to_owned(),
            RelayError::Forbidden { message, .. } | RelayError::BadRequest(message) => {
                message.clone()
            }
            RelayError::ModelNotFound(model) => {
                format!("The model `{model}` does not exist or you do not have access to it.")
            }
            RelayError::NoChannel(model) => {
                format!("渠道不可用: no available channel for model {model}")
            }
            RelayError::Upstream { message, .. } => message.clone(),
            RelayError::Unavailable(_) => "upstream unavailable".into(),
            RelayError::Internal(_) => "internal error".into(),
        }
    }
}

impl From<DbErr> for RelayError {
    fn from(e: DbErr) -> Self {
        RelayError::Internal(format!("database: {e}"))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Arc<TokenInfo>,
    pub user: Arc<UserInfo>,
    /// The group whose channels and price apply.
    pub group: String,
    /// `sk-KEY-<channel_id>`: an admin's pinned channel.
    pub pinned: Option<i32>,
}

/// The answer to relay back.
pub struct RelayResponse {
    pub status: u16,
    pub content_type: String,
    pub body: RelayBody,
}

pub enum RelayBody {
    Full(Bytes),
    Stream(Box<MeteredStream>),
}

/// The shared state of the relay, used by every call.
pub struct Relay {
    pub db: DatabaseConnection,
    pub options: Arc<OptionStore>,
    pub http: HttpClient,
    pub directory: Directory,
    pub router: Router,
    pub ledger: Arc<Ledger>,
    pub billing: BillingWriter,
    prices: RwLock<(usize, Arc<PriceTable>)>,
}

/// The key of an `Authorization: Bearer` value, `x-api-key` and the like: `sk-` optional,
/// `-<channel id>` pins a channel.
pub fn parse_key(raw: &str) -> Option<(String, Option<i32>)> {
    let raw = raw.trim();
    let raw = match raw.get(..6) {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("bearer")
                && raw[6..].chars().next().is_none_or(char::is_whitespace) =>
        {
            raw[6..].trim()
        }
        _ => raw,
    };
    let body = raw.strip_prefix("sk-").unwrap_or(raw);
    if body.is_empty() {
        return None;
    }
    let (key, pinned) = match body.rsplit_once('-') {
        Some((key, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            (key, id.parse().ok())
        }
        _ => (body, None),
    };
    Some((format!("sk-{key}"), pinned))
}

impl Relay {
    pub async fn start(
        db: DatabaseConnection,
        options: Arc<OptionStore>,
        http: HttpClient,
        billing_window: Duration,
    ) -> Result<(Arc<Relay>, tokio::task::JoinHandle<()>), DbErr> {
        let router = Router::default();
        router.reload(&db).await?;
        let ledger = Arc::new(Ledger::default());
        let on_commit = {
            let ledger = ledger.clone();
            Box::new(move |r: &BillingRecord| {
                ledger.committed(
                    r.user_id,
                    (!r.token_unlimited).then_some(r.token_id),
                    r.quota,
                );
            })
        };
        let (billing, writer) =
            BillingWriter::start(db.clone(), billing_window, 1000, Some(on_commit));
        let relay = Arc::new(Relay {
            db,
            options,
            http,
            directory: Directory::default(),
            router,
            ledger,
            billing,
            prices: RwLock::new((0, Arc::new(PriceTable::default()))),
        });
        Ok((relay, writer))
    }

    /// Re-reads the loaded balances from the database, bringing in what other instances
    /// sharing it changed (top-ups, edits, their own calls). Skipped when a commit or change
    /// lands during the read; the next round catches up.
    pub async fn resync_balances(&self) -> Result<bool, DbErr> {
        let generation = self.ledger.generation();
        let (user_ids, token_ids) = self.ledger.loaded();
        if user_ids.is_empty() && token_ids.is_empty() {
            return Ok(true);
        }
        let users = users::quotas(&self.db, &user_ids).await?;
        let tokens = persistence::tokens::remains(&self.db, &token_ids).await?;
        Ok(self.ledger.resync(generation, &users, &tokens))
    }

    /// The price table of the current options (rebuilt only when options changed).
    pub fn prices(&self) -> Arc<PriceTable> {
        let snapshot = self.options.snapshot();
        let tag = Arc::as_ptr(&snapshot) as usize;
        {
            let cached = self
                .prices
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.0 == tag {
                return cached.1.clone();
            }
        }
        let get = |k: &str| snapshot.get(k).map(String::as_str).unwrap_or("{}");
        let table = Arc::new(PriceTable::new(
            get(opt::MODEL_RATIO),
            get(opt::COMPLETION_RATIO),
            get(opt::MODEL_PRICE),
            get(opt::GROUP_RATIO),
        ));
        *self
            .prices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (tag, table.clone());
        table
    }

    /// Checks an API key: known, enabled, not expired, allowed from `ip`, its user enabled.
    pub async fn authenticate(
        &self,
        raw_key: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<Caller, RelayError> {
        let (key, pinned) = raw_key
            .and_then(parse_key)
            .ok_or(RelayError::InvalidKey("Token无效: no API key provided"))?;
        let token = self
            .directory
            .token(&self.db, &domain::keys::digest(&key))
            .await?
            .ok_or(RelayError::InvalidKey(
                "Token无效: incorrect API key provided",
            ))?;
        if token.status != TokenStatus::Enabled.code() {
            return Err(RelayError::InvalidKey("Token无效: the API key is disabled"));
        }
        if token.expired_time != -1 && token.expired_time < domain::now_ts() {
            return Err(RelayError::InvalidKey("Token无效: the API key has expired"));
        }
        if !token.allows_ip(ip) {
            return Err(RelayError::Forbidden {
                code: "ip_not_allowed",
                message: "this API key may not be used from your IP address".into(),
            });
        }
        let user =
            self.directory
                .user(&self.db, token.user_id)
                .await?
                .ok_or(RelayError::InvalidKey(
                    "Token无效: the key's user no longer exists",
                ))?;
        if user.status != UserStatus::Enabled.code() {
            return Err(RelayError::Forbidden {
                code: "user_banned",
                message: "用户已被封禁".into(),
            });
        }
        if pinned.is_some() && Role(user.role) < Role::ADMIN {
            return Err(RelayError::Forbidden {
                code: "channel_pin_forbidden",
                message: "only admins may pin a channel with sk-KEY-<channel_id>".into(),
            });
        }
        if !token.group.is_empty() && token.group != user.group && !Role(user.role).is_admin() {
            return Err(RelayError::Forbidden {
                code: "group_not_usable",
                message: format!(
                    "the API key's group {} is not usable by its user",
                    token.group
                ),
            });
        }
        let group = if token.group.is_empty() {
            user.group.clone()
        } else {
            token.group.clone()
        };
        Ok(Caller {
            token,
            user,
            group,
            pinned,
        })
    }

    /// The models this caller may use.
    pub fn models_for(&self, caller: &Caller) -> Vec<String> {
        self.router
            .snapshot()
            .models(&caller.group)
            .into_iter()
            .filter(|m| caller.token.allows_model(m))
            .collect()
    }

    /// Loads the caller's balances into the ledger on first use.
    async fn ensure_balances(&self, caller: &Caller) -> Result<(), RelayError> {
        let limited_token = !caller.token.unlimited;
        if self.ledger.has_user(caller.user.id)
            && (!limited_token || self.ledger.has_token(caller.token.id))
        {
            return Ok(());
        }
        let user_quota = users::find(&self.db, caller.user.id)
            .await?
            .map_or(0, |u| u.quota);
        let token_remain = if limited_token {
            let t = persistence::tokens::find_for_user(&self.db, caller.user.id, caller.token.id)
                .await?;
            Some((caller.token.id, t.map_or(0, |t| t.remain_quota)))
        } else {
            None
        };
        self.ledger.load(caller.user.id, user_quota, token_remain);
        Ok(())
    }

    /// Disables a channel after an answer that shows its key is unusable, when allowed.
    fn maybe_disable(self: &Arc<Self>, channel: &ChannelInfo, status: u16, body: &[u8]) {
        if !channel.auto_ban
            || !self
                .options
                .get_bool(opt::AUTOMATIC_DISABLE_CHANNEL_ENABLED)
            || !should_disable(status, &String::from_utf8_lossy(body))
        {
            return;
        }
        let relay = self.clone();
        let id = channel.id;
        tokio::spawn(async move {
            match channels::set_status(&relay.db, id, ChannelStatus::AutoDisabled.code()).await {
                Ok(_) => {
                    tracing::warn!(channel = id, status, "channel disabled automatically");
                    if let Err(e) = relay.router.reload(&relay.db).await {
                        tracing::error!(error = %e, "reloading routes");
                    }
                }
                Err(e) => tracing::error!(channel = id, error = %e, "disabling channel"),
            }
        });
    }

    /// Prices the call and reserves its estimate; refuses before any upstream call when the
    /// model is not allowed, not served, not priced, or the quota is short.
    fn prepare(
        self: &Arc<Self>,
        snapshot: &Snapshot,
        caller: &Caller,
        model: &str,
        prompt_estimate: i64,
        max_tokens: i64,
        multiplier: i64,
    ) -> Result<Prepared, RelayError> {
        if !caller.token.allows_model(model) {
            return Err(RelayError::Forbidden {
                code: "model_not_allowed",
                message: format!("this API key may not use the model {model}"),
            });
        }
        if caller.pinned.is_none() && !snapshot.serves(&caller.group, model) {
            return Err(RelayError::NoChannel(model.to_owned()));
        }
        let price = match self.prices().price(model, &caller.group) {
            Some(p) => p,
            None if self.options.get_bool(opt::SELF_USE_MODE_ENABLED) => PriceTable::free(),
            None => {
                return Err(RelayError::BadRequest(format!(
                    "the model {model} has no price configured (set ModelRatio or ModelPrice, or enable SelfUseModeEnabled)"
                )));
            }
        };
        let estimate = price.quota(prompt_estimate, max_tokens) * multiplier;
        let paid = price.quota(1_000_000, 1_000_000) > 0;
        let token = (!caller.token.unlimited).then_some(caller.token.id);
        self.ledger
            .reserve(caller.user.id, token, estimate, paid)
            .map_err(|short| RelayError::Forbidden {
                code: match short {
                    Shortfall::User => "insufficient_user_quota",
                    Shortfall::Token => "insufficient_token_quota",
                },
                message: match short {
                    Shortfall::User => {
                        "配额不足: the user's quota is not enough for this request".into()
                    }
                    Shortfall::Token => {
                        "配额不足: the API key's quota is not enough for this request".into()
                    }
                },
            })?;
        Ok(Prepared {
            price,
            multiplier,
            prompt_estimate,
            reservation: Reservation {
                relay: self.clone(),
                user: caller.user.id,
                token,
                amount: estimate,
                settled: false,
            },
        })
    }

    /// Reads a failed answer: maybe disables the channel, and turns it into the caller's error.
    async fn upstream_failure(
        self: &Arc<Self>,
        channel: &ChannelInfo,
        resp: hyper::Response<Incoming>,
        request_id: &str,
    ) -> RelayError {
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.maybe_disable(channel, status, &bytes);
        let message =
            error_message(&bytes).unwrap_or_else(|| format!("upstream answered {status}"));
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/error/code")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            });
        tracing::warn!(channel = channel.id, status, request_id, "upstream error");
        RelayError::Upstream {
            status,
            message,
            code,
        }
    }

    /// Turns a successful upstream answer into the relayed response, billing it.
    async fn success(
        meter: Meter,
        resp: hyper::Response<Incoming>,
        answer: Answer,
        first: Option<Bytes>,
    ) -> Result<RelayResponse, RelayError> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = match answer {
            Answer::Sse => RelayBody::Stream(Box::new(MeteredStream {
                first,
                body: resp.into_body(),
                sse: Some(SseMeter::default()),
                meter: Some(meter),
            })),
            Answer::Binary => {
                // Speech is priced by its input's characters, known before the answer.
                let usage = Usage {
                    prompt_tokens: meter.prompt_estimate,
                    completion_tokens: 0,
                };
                meter.bill(Some(usage));
                RelayBody::Stream(Box::new(MeteredStream {
                    first: None,
                    body: resp.into_body(),
                    sse: None,
                    meter: None,
                }))
            }
            Answer::Json => {
                // A body that breaks off is not billed: the meter refunds when dropped.
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| RelayError::Unavailable(e.to_string()))?
                    .to_bytes();
                meter.bill(usage_of(&bytes));
                RelayBody::Full(bytes)
            }
        };
        Ok(RelayResponse {
            status,
            content_type,
            body,
        })
    }

    fn meter(
        self: &Arc<Self>,
        caller: &Caller,
        channel_id: i32,
        model: &str,
        prepared: Prepared,
        call: &CallInfo,
        stream: bool,
    ) -> Meter {
        Meter {
            relay: self.clone(),
            caller: caller.clone(),
            channel_id,
            model: model.to_owned(),
            price: prepared.price,
            multiplier: prepared.multiplier,
            prompt_estimate: prepared.prompt_estimate,
            request: call.request.clone(),
            started: call.started,
            request_id: call.request_id.clone(),
            ip: call.ip.map(|i| i.to_string()).unwrap_or_default(),
            stream,
            reservation: Some(prepared.reservation),
        }
    }

    /// Relays one JSON call of `endpoint`, retrying retryable failures on other channels.
    pub async fn call(
        self: &Arc<Self>,
        caller: &Caller,
        endpoint: Endpoint,
        body: Bytes,
        request_id: &str,
        ip: Option<IpAddr>,
    ) -> Result<RelayResponse, RelayError> {
        let info = CallInfo {
            request: body.clone(),
            started: Instant::now(),
            request_id: request_id.to_owned(),
            ip,
        };
        let peek: Peek<'_> = serde_json::from_slice(&body).map_err(|e| {
            RelayError::BadRequest(format!("the request body is not a valid JSON object: {e}"))
        })?;
        let model = match peek.model.as_deref() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => endpoint
                .default_model()
                .map(str::to_owned)
                .ok_or_else(|| RelayError::BadRequest("`model` is required".into()))?,
        };
        let stream = endpoint.streams() && peek.stream == Some(true);
        let multiplier = if endpoint == Endpoint::ImageGenerations {
            peek.n.unwrap_or(1).clamp(1, 10)
        } else {
            1
        };
        // Speech is priced by the characters of its input; text by a rough token estimate.
        let prompt_estimate = if endpoint == Endpoint::AudioSpeech {
            peek.input
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
                .map_or(0, |i| i.chars().count() as i64)
        } else {
            i64::try_from(body.len() / 4).unwrap_or(i64::MAX)
        };
        let max_tokens = peek
            .max_tokens
            .or(peek.max_completion_tokens)
            .unwrap_or(0)
            .max(0);
        let has_stream_options = peek.stream_options.is_some();
        self.ensure_balances(caller).await?;
        let snapshot = self.router.snapshot();
        let mut prepared = Some(self.prepare(
            &snapshot,
            caller,
            &model,
            prompt_estimate,
            max_tokens,
            multiplier,
        )?);

        let answer = if stream {
            Answer::Sse
        } else if endpoint == Endpoint::AudioSpeech {
            Answer::Binary
        } else {
            Answer::Json
        };

        let retries = self.options.get_i64(opt::RETRY_TIMES).clamp(0, 10);
        let mut tried: Vec<i32> = Vec::new();
        let mut last_error = RelayError::NoChannel(model.clone());
        let mut attempts = 0;
        while attempts <= retries {
            let Some(channel) = next_channel(&snapshot, caller, &model, &mut tried) else {
                break;
            };
            attempts += 1;
            let upstream_model = channel.upstream_model(&model).to_owned();
            let payload =
                upstream_payload(&body, &model, &upstream_model, stream, has_stream_options)?;
            let request = match build_request(
                &channel,
                endpoint,
                &upstream_model,
                "application/json",
                full_body(payload),
            ) {
                Ok(r) => r,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let resp = match self.http.send(request, HEAD_TIMEOUT).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(channel = channel.id, error = %e, request_id, "upstream unreachable");
                    last_error = RelayError::Unavailable(e.to_string());
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                last_error = self.upstream_failure(&channel, resp, request_id).await;
                if retryable(status) && caller.pinned.is_none() {
                    continue;
                }
                break;
            }
            // A stream is committed to the caller only once its first event is here and is not
            // an error: until then another channel can still take over.
            let (resp, first) = if stream {
                let (parts, mut body) = resp.into_parts();
                match first_event(&mut body).await {
                    FirstEvent::Data(chunk) => {
                        (hyper::Response::from_parts(parts, body), Some(chunk))
                    }
                    FirstEvent::Error(chunk) => {
                        self.maybe_disable(&channel, 200, &chunk);
                        let message = error_message(sse_data(&chunk))
                            .unwrap_or_else(|| "upstream stream error".into());
                        last_error = RelayError::Upstream {
                            status: 502,
                            message,
                            code: None,
                        };
                        continue;
                    }
                    FirstEvent::Broken(why) => {
                        tracing::warn!(
                            channel = channel.id,
                            request_id,
                            "upstream stream broke before its first event: {why}"
                        );
                        last_error = RelayError::Unavailable(why);
                        continue;
                    }
                }
            } else {
                (resp, None)
            };
            let Some(prepared) = prepared.take() else {
                break;
            };
            let meter = self.meter(caller, channel.id, &model, prepared, &info, stream);
            return Self::success(meter, resp, answer, first).await;
        }
        // `prepared` (when still held) refunds the reservation as it drops.
        Err(last_error)
    }

    /// Relays one multipart upload (image edits and variations, audio transcriptions and
    /// translations): the body streams through to one channel, so a failure is not retried.
    #[allow(clippy::too_many_arguments)]
    pub async fn call_upload(
        self: &Arc<Self>,
        caller: &Caller,
        endpoint: Endpoint,
        model: &str,
        multiplier: i64,
        content_type: &str,
        body: UpstreamBody,
        request_id: &str,
        ip: Option<IpAddr>,
    ) -> Result<RelayResponse, RelayError> {
        let info = CallInfo {
            request: Bytes::new(),
            started: Instant::now(),
            request_id: request_id.to_owned(),
            ip,
        };
        self.ensure_balances(caller).await?;
        let snapshot = self.router.snapshot();
        let prepared = self.prepare(&snapshot, caller, model, 0, 0, multiplier.clamp(1, 10))?;
        let channel = next_channel(&snapshot, caller, model, &mut Vec::new())
            .ok_or_else(|| RelayError::NoChannel(model.to_owned()))?;
        let upstream_model = channel.upstream_model(model).to_owned();
        let request = build_request(&channel, endpoint, &upstream_model, content_type, body)?;
        let resp = self
            .http
            .send(request, HEAD_TIMEOUT)
            .await
            .map_err(|e| RelayError::Unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(self.upstream_failure(&channel, resp, request_id).await);
        }
        let meter = self.meter(caller, channel.id, model, prepared, &info, false);
        Self::success(meter, resp, Answer::Json, None).await
    }
}

/// The few fields of a JSON request the relay reads; everything else passes through unparsed.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(borrow, default)]
    input: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    stream_options: Option<&'a serde_json::value::RawValue>,
}

/// The body sent upstream: the caller's bytes untouched, except for a mapped model name and,
/// on streams, `stream_options.include_usage` (spliced in without a parse when the caller sent
/// no `stream_options`).
fn upstream_payload(
    body: &Bytes,
    model: &str,
    upstream_model: &str,
    stream: bool,
    has_stream_options: bool,
) -> Result<Bytes, RelayError> {
    if upstream_model == model && !stream {
        return Ok(body.clone());
    }
    if upstream_model == model && !has_stream_options {
        let text = body.as_ref();
        let open = text.iter().position(|b| *b == b'{').ok_or_else(|| {
            RelayError::BadRequest("the request body is not a JSON object".into())
        })?;
        let rest = &text[open + 1..];
        let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        let mut out = Vec::with_capacity(text.len() + 48);
        out.extend_from_slice(&text[..=open]);
        out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        return Ok(Bytes::from(out));
    }
    let mut json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| {
            RelayError::BadRequest(format!("the request body is not a JSON object: {e}"))
        })?;
    json.insert(
        "model".into(),
        serde_json::Value::String(upstream_model.to_owned()),
    );
    if stream {
        let opts = json
            .entry("stream_options")
            .or_insert_with(|| serde_json::json!({}));
        match opts.as_object_mut() {
            Some(o) => {
                o.insert("include_usage".into(), serde_json::Value::Bool(true));
            }
            None => *opts = serde_json::json!({"include_usage": true}),
        }
    }
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| RelayError::Internal(e.to_string()))
}

/// What the start of an upstream stream turned out to be.
enum FirstEvent {
    Data(Bytes),
    /// An error event in place of the answer.
    Error(Bytes),
    /// The stream failed or ended before any data.
    Broken(String),
}

/// Reads up to the first data of a stream.
async fn first_event(body: &mut Incoming) -> FirstEvent {
    loop {
        match tokio::time::timeout(HEAD_TIMEOUT, body.frame()).await {
            Err(_) => return FirstEvent::Broken("timed out waiting for the first event".into()),
            Ok(None) => return FirstEvent::Broken("the stream ended without data".into()),
            Ok(Some(Err(e))) => return FirstEvent::Broken(e.to_string()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if data.is_empty() {
                        continue;
                    }
                    let first = sse_data(&data);
                    let mentions_error = first.windows(7).any(|w| w == b"\"error\"");
                    let is_error = mentions_error
                        && serde_json::from_slice::<serde_json::Value>(first)
                            .is_ok_and(|v| v.get("error").is_some_and(|e| !e.is_null()));
                    return if is_error {
                        FirstEvent::Error(data)
                    } else {
                        FirstEvent::Data(data)
                    };
                }
            }
        }
    }
}

/// The payload of the first `data:` line of an SSE chunk (the chunk itself when it has none).
fn sse_data(chunk: &[u8]) -> &[u8] {
    chunk
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"data:"))
        .map(|d| {
            let d = d.strip_prefix(b" ").unwrap_or(d);
            d.strip_suffix(b"\r").unwrap_or(d)
        })
        .unwrap_or(chunk)
}

/// A priced call with its quota reserved.
struct Prepared {
    price: Price,
    multiplier: i64,
    prompt_estimate: i64,
    reservation: Reservation,
}

/// Who called, when, from where.
struct CallInfo {
    /// The JSON request (empty for uploads).
    request: Bytes,
    started: Instant,
    request_id: String,
    ip: Option<IpAddr>,
}

/// How an upstream's successful answer is relayed and metered.
enum Answer {
    /// A whole JSON body with `usage`.
    Json,
    /// Server-sent events, metered as they pass.
    Sse,
    /// Bytes passed through (audio), billed when the answer starts.
    Binary,
}

/// Whether a channel type takes OpenAI-format calls (until the cross-format adaptors exist).
fn speaks_openai(channel_type: i32) -> bool {
    matches!(
        channel_type::family(channel_type),
        Family::OpenAi | Family::Azure
    )
}

/// The next channel to try for an OpenAI-format call: the pinned one (once), else a pick among
/// those not in `tried`; channels of other dialects are passed over without using up an attempt.
/// Every channel seen goes into `tried`.
fn next_channel(
    snapshot: &Snapshot,
    caller: &Caller,
    model: &str,
    tried: &mut Vec<i32>,
) -> Option<Arc<ChannelInfo>> {
    loop {
        let channel = match caller.pinned {
            Some(id) if tried.is_empty() => snapshot.channel(id),
            Some(_) => None,
            None => snapshot.pick(&caller.group, model, tried),
        }?;
        tried.push(channel.id);
        if speaks_openai(channel.channel_type) {
            return Some(channel);
        }
    }
}

/// Statuses worth trying on another channel.
fn retryable(status: u16) -> bool {
    matches!(status, 401 | 403 | 408 | 429) || status >= 500
}

fn build_request(
    channel: &ChannelInfo,
    endpoint: Endpoint,
    upstream_model: &str,
    content_type: &str,
    body: UpstreamBody,
) -> Result<hyper::Request<UpstreamBody>, RelayError> {
    let base =
        channel_type::base_url(channel.channel_type, &channel.base_url).ok_or_else(|| {
            RelayError::Unavailable(format!("channel {} has no base URL", channel.id))
        })?;
    let builder = hyper::Request::builder()
        .method(hyper::Method::POST)
        .header(hyper::header::CONTENT_TYPE, content_type);
    let builder = match channel_type::family(channel.channel_type) {
        Family::OpenAi => {
            let b = builder
                .uri(format!("{base}/v1/{}", endpoint.suffix()))
                .header(
                    hyper::header::AUTHORIZATION,
                    format!("Bearer {}", channel.key),
                );
            if channel.organization.is_empty() {
                b
            } else {
                b.header("openai-organization", channel.organization.as_str())
            }
        }
        Family::Azure => {
            let version = Some(channel.other.trim())
                .filter(|v| !v.is_empty())
                .unwrap_or("2024-10-21");
            let deployment = upstream_model.replace('.', "");
            builder
                .uri(format!(
                    "{base}/openai/deployments/{deployment}/{}?api-version={version}",
                    endpoint.suffix()
                ))
                .header("api-key", channel.key.as_str())
        }
        Family::Anthropic | Family::Gemini | Family::Task => {
            return Err(RelayError::Unavailable(format!(
                "channel {} (type {}) does not serve OpenAI-format calls",
                channel.id, channel.channel_type
            )));
        }
    };
    builder
        .body(body)
        .map_err(|e| RelayError::Internal(format!("building the upstream request: {e}")))
}

/// Quota taken before the upstream call; given back in full unless a bill settles it.
struct Reservation {
    relay: Arc<Relay>,
    user: i32,
    token: Option<i32>,
    amount: i64,
    settled: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.relay.ledger.credit(self.user, self.token, self.amount);
        }
    }
}

/// Everything needed to bill one successful upstream answer.
struct Meter {
    relay: Arc<Relay>,
    caller: Caller,
    channel_id: i32,
    model: String,
    price: Price,
    multiplier: i64,
    prompt_estimate: i64,
    /// The JSON request, kept (shared, not copied) for local counting.
    request: Bytes,
    started: Instant,
    request_id: String,
    ip: String,
    stream: bool,
    reservation: Option<Reservation>,
}

impl Meter {
    /// Settles the reservation against the real cost and queues the billing record.
    fn bill(mut self, usage: Option<Usage>) {
        self.bill_with(usage, None);
    }

    /// Bills `usage`, or, when the upstream gave none, tokens counted locally: the request's
    /// prompt and what was streamed.
    fn bill_with(&mut self, usage: Option<Usage>, streamed: Option<&SseMeter>) {
        let Some(mut reservation) = self.reservation.take() else {
            return;
        };
        let usage = usage.unwrap_or_else(|| {
            let prompt = match self.price {
                Price::PerToken { .. } if !self.request.is_empty() => {
                    tokenizer::prompt_tokens(&self.model, &self.request)
                }
                _ => self.prompt_estimate,
            };
            let completion = streamed.map_or(0, |s| {
                tokenizer::completion_tokens(&self.model, &s.retained) + s.overflow_events
            });
            Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
            }
        });
        let quota = self
            .price
            .quota(usage.prompt_tokens, usage.completion_tokens)
            * self.multiplier;
        self.relay.ledger.credit(
            reservation.user,
            reservation.token,
            reservation.amount - quota,
        );
        reservation.settled = true;
        let prices = match self.price {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio,
            } => {
                format!(
                    "模型倍率 {model_ratio}，补全倍率 {completion_ratio}，分组倍率 {group_ratio}"
                )
            }
            Price::PerCall { usd, group_ratio } => {
                format!("模型价格 {usd}，分组倍率 {group_ratio}")
            }
        };
        self.relay.billing.submit(BillingRecord {
            user_id: self.caller.user.id,
            username: self.caller.user.username.clone(),
            token_id: self.caller.token.id,
            token_name: self.caller.token.name.clone(),
            token_unlimited: self.caller.token.unlimited,
            channel_id: self.channel_id,
            model_name: self.model.clone(),
            prompt_tokens: i32::try_from(usage.prompt_tokens).unwrap_or(i32::MAX),
            completion_tokens: i32::try_from(usage.completion_tokens).unwrap_or(i32::MAX),
            quota,
            group: self.caller.group.clone(),
            is_stream: self.stream,
            use_time: i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            content: prices,
            created_at: domain::now_ts(),
        });
    }
}

/// An upstream SSE body passed through chunk by chunk; it bills when it ends, and when it is
/// dropped early (the client went away) it bills what was streamed.
pub struct MeteredStream {
    /// The first event, read before the answer was committed.
    first: Option<Bytes>,
    body: Incoming,
    /// `None` for bodies that are passed through unread (audio).
    sse: Option<SseMeter>,
    meter: Option<Meter>,
}

impl MeteredStream {
    fn finish(&mut self) {
        if let Some(mut meter) = self.meter.take() {
            let usage = self.sse.as_ref().and_then(|s| s.usage);
            meter.bill_with(usage, self.sse.as_ref());
        }
    }
}

impl Stream for MeteredStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            if let Some(sse) = self.sse.as_mut() {
                sse.feed(&first);
            }
            return Poll::Ready(Some(Ok(first)));
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.finish();
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some(sse) = self.sse.as_mut() {
                            sse.feed(&data);
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_pins() {
        assert_eq!(parse_key("Bearer sk-abc"), Some(("sk-abc".into(), None)));
        assert_eq!(parse_key("sk-abc-12"), Some(("sk-abc".into(), Some(12))));
        assert_eq!(parse_key("abc"), Some(("sk-abc".into(), None)));
        assert_eq!(parse_key("sk-a-b"), Some(("sk-a-b".into(), None)));
        assert_eq!(parse_key("Bearer "), None);
        assert_eq!(parse_key("sk-"), None);
    }

    #[test]
    fn payload_splices_usage_into_streams_only() {
        let parse = |b: &Bytes| serde_json::from_slice::<serde_json::Value>(b).unwrap_or_default();
        let body = Bytes::from_static(br#"{"model":"m","stream":true,"messages":[]}"#);
        let v = parse(&upstream_payload(&body, "m", "m", true, false).unwrap_or_default());
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["messages"], serde_json::json!([]));
        let plain = Bytes::from_static(br#"{"model":"m"}"#);
        assert_eq!(
            upstream_payload(&plain, "m", "m", false, false).unwrap_or_default(),
            plain
        );
        let mapped = upstream_payload(&plain, "m", "up", false, false).unwrap_or_default();
        assert_eq!(parse(&mapped)["model"], "up");
        let own = Bytes::from_static(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#,
        );
        let v = parse(&upstream_payload(&own, "m", "m", true, true).unwrap_or_default());
        assert_eq!(v["stream_options"]["include_usage"], true);
    }

    #[test]
    fn retry_rules() {
        for s in [401, 429, 500, 502, 503] {
            assert!(retryable(s), "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert!(!retryable(s), "{s}");
        }
    }
}
