//! Run-time options (contract 56-57), root only.

use crate::auth::RootUser;
use crate::error::{ApiError, Envelope, Input, MessageResponse, Msg, done, ok};
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use domain::options::{self as opt, canonical_key, is_secret, validate};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every option except secrets, under its new-api name and, where the seed has one, its
/// snake_case alias too.
#[utoipa::path(get, path = "/api/option", tag = "option",
    responses((status = 200, body = Envelope<BTreeMap<String, String>>), (status = 401), (status = 403)),
    security(("session" = ["root"]), ("access_token" = ["root"])))]
pub async fn get_options(
    state: web::Data<AdminState>,
    _root: RootUser,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state.options.snapshot();
    let mut out: BTreeMap<String, String> = snapshot
        .iter()
        .filter(|(k, _)| !is_secret(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for def in opt::DEFS {
        if let Some(alias) = def.alias {
            out.insert(
                alias.to_owned(),
                snapshot.get(def.key).cloned().unwrap_or_default(),
            );
        }
    }
    Ok(ok(out))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Accepts the seed's map (`{"system_name": "...", "logo": "..."}`) or new-api's single
/// `{"key": ..., "value": ...}`. Values may be strings, numbers, booleans or JSON objects.
/// Nothing is written unless every pair is valid.
#[utoipa::path(put, path = "/api/option", tag = "option",
    request_body(content = BTreeMap<String, serde_json::Value>, description = "options to set"),
    responses((status = 200, body = MessageResponse), (status = 400), (status = 403)),
    security(("session" = ["root"]), ("access_token" = ["root"])))]
pub async fn update_options(
    state: web::Data<AdminState>,
    _root: RootUser,
    body: Input<web::Json<BTreeMap<String, Value>>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let single = body.len() == 2 && body.contains_key("key") && body.contains_key("value");
    let raw: Vec<(String, String)> = if single {
        vec![(value_text(&body["key"]), value_text(&body["value"]))]
    } else {
        body.iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect()
    };
    if raw.is_empty() {
        return Err(ApiError::BadRequest(Msg::BadRequest(
            "no options given".into(),
        )));
    }
    let mut pairs = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let key = canonical_key(&key).to_owned();
        validate(&key, &value)?;
        pairs.push((key, value));
    }
    state.options.set_many(&state.db, &pairs).await?;
    announce_change(&state).await;
    Ok(done(Msg::OptionsUpdated))
}

/// Tells other instances (through Redis, when configured) to reload options now. Without
/// Redis they reload on their sync interval.
async fn announce_change(state: &AdminState) {
    let Some(pool) = &state.redis else { return };
    let result = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        deadpool_redis::redis::cmd("INCR")
            .arg(crate::state::OPTIONS_VERSION_KEY)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "announcing an option change through Redis failed");
    }
}
