//! OpenAI's billing dashboard (`/dashboard/billing/*`, also under `/v1`): the key's balance
//! and usage in dollars, as old OpenAI clients read them.

use crate::GatewayState;
use crate::error::{OpenAiError, relay_error};
use crate::extract::Key;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, NaiveTime};
use relay::{Balance, RelayError, UsageEntry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

fn usd(quota: i64) -> f64 {
    domain::quota::quota_to_usd(quota)
}

fn cents(quota: i64) -> f64 {
    domain::quota::quota_to_cents(quota)
}

/// The key's spendable quota in USD, in OpenAI's dashboard shape.
#[utoipa::path(get, path = "/dashboard/billing/subscription", tag = "relay",
    responses((status = 200, body = BillingSubscription), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
pub(crate) async fn billing_subscription(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    Key(c): Key,
) -> HttpResponse {
    match state.relay.balance(&c).await {
        Ok(Balance { remaining, used }) => {
            let hard_limit = usd(remaining.max(0) + used);
            let now = domain::now_ts();
            let access_until = if c.token.expired_time == -1 {
                0
            } else {
                c.token.expired_time
            };
            let period_start = now - now.rem_euclid(86_400 * 30);
            HttpResponse::Ok().json(BillingSubscription {
                object: "billing.subscription",
                has_payment_method: true,
                canceled: false,
                canceled_at: None,
                current_period_start: period_start,
                current_period_end: period_start + 86_400 * 30,
                status: "active",
                plan: Plan {
                    id: "gateway",
                    title: "Gateway quota",
                    name: "Gateway quota",
                    price: 0,
                },
                soft_limit_usd: hard_limit,
                hard_limit_usd: hard_limit,
                system_hard_limit_usd: hard_limit,
                access_until,
            })
        }
        Err(e) => relay_error(&e, &req),
    }
}

/// The days `GET /dashboard/billing/usage` covers: `start_date` to `end_date` (UTC, inclusive,
/// `YYYY-MM-DD`), by default the 100 days up to today, as OpenAI's endpoint allowed.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// First day, `YYYY-MM-DD`; default: 99 days before `end_date`.
    #[param(
        pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|[0-9]{4}-(0[13-9]|1[0-2])-(29|30)|[0-9]{4}-(0[13578]|1[02])-31|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)$"
    )]
    start_date: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive; default: today. Before `start_date`: no days.
    #[param(
        pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|[0-9]{4}-(0[13-9]|1[0-2])-(29|30)|[0-9]{4}-(0[13578]|1[02])-31|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)$"
    )]
    end_date: Option<String>,
}

/// The Unix seconds range of `q`.
fn usage_range(q: &UsageQuery, now: i64) -> Result<(i64, i64), RelayError> {
    let day = |raw: &Option<String>, field: &str| {
        raw.as_deref()
            .map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp())
                    .map_err(|_| RelayError::BadRequest(format!("{field} must be YYYY-MM-DD")))
            })
            .transpose()
    };
    let end = day(&q.end_date, "end_date")?.unwrap_or(now - now.rem_euclid(DAY));
    let start = day(&q.start_date, "start_date")?.unwrap_or(end - 99 * DAY);
    Ok((start, end + DAY - 1))
}

const DAY: i64 = 86_400;

/// What the key (or, for unlimited keys, its user) has used in total, and the user's costs per
/// day and per model over the requested days, from the hourly statistics (kept per user, not
/// per key). Money is in US cents, as OpenAI reported it.
#[utoipa::path(get, path = "/dashboard/billing/usage", tag = "relay", params(UsageQuery),
    responses((status = 200, body = BillingUsage),
        (status = 400, description = "A date is not a valid `YYYY-MM-DD`.")),
    security(("api_key" = [])))]
pub(crate) async fn billing_usage(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    Key(c): Key,
) -> HttpResponse {
    let range = web::Query::<UsageQuery>::from_query(req.query_string())
        .map_err(|e| RelayError::BadRequest(e.to_string()))
        .and_then(|q| usage_range(&q, domain::now_ts()));
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => return relay_error(&e, &req),
    };
    let history = match state.relay.usage_history(&c, from, to).await {
        Ok(h) => h,
        Err(e) => return relay_error(&e, &req),
    };
    match state.relay.balance(&c).await {
        Ok(Balance { used, .. }) => HttpResponse::Ok().json(usage(used, &history)),
        Err(e) => relay_error(&e, &req),
    }
}

/// The usage answer: `used` in total, `history` summed per day and per model.
fn usage(used: i64, history: &[UsageEntry]) -> BillingUsage {
    let mut days: BTreeMap<i64, i64> = BTreeMap::new();
    let mut models: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for e in history {
        *days.entry(e.hour.div_euclid(DAY)).or_default() += e.quota;
        let m = models.entry(&e.model).or_default();
        m.0 += e.tokens;
        m.1 += e.quota;
    }
    BillingUsage {
        object: "billing.usage",
        total_usage: cents(used),
        daily_costs: days
            .into_iter()
            .map(|(day, quota)| DailyCost {
                date: DateTime::from_timestamp(day * DAY, 0)
                    .map(|d| d.date_naive().to_string())
                    .unwrap_or_default(),
                cost: cents(quota),
            })
            .collect(),
        models_usage: models
            .into_iter()
            .map(|(model, (tokens, quota))| ModelUsage {
                model: model.to_owned(),
                usage: tokens,
                cost: cents(quota),
            })
            .collect(),
    }
}

#[derive(Serialize, ToSchema)]
struct Plan {
    id: &'static str,
    title: &'static str,
    name: &'static str,
    price: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BillingSubscription {
    object: &'static str,
    has_payment_method: bool,
    canceled: bool,
    canceled_at: Option<i64>,
    current_period_start: i64,
    current_period_end: i64,
    status: &'static str,
    plan: Plan,
    soft_limit_usd: f64,
    hard_limit_usd: f64,
    system_hard_limit_usd: f64,
    /// The key's expiry (Unix seconds), 0 when it never expires.
    access_until: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BillingUsage {
    object: &'static str,
    /// US cents the key (an unlimited key: its user) has used in all.
    total_usage: f64,
    /// The user's cost per UTC day with any usage, oldest first.
    daily_costs: Vec<DailyCost>,
    /// The user's usage per model over the days, by model name.
    models_usage: Vec<ModelUsage>,
}

#[derive(Serialize, ToSchema)]
pub struct DailyCost {
    /// `YYYY-MM-DD`, UTC.
    date: String,
    /// US cents.
    cost: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ModelUsage {
    model: String,
    /// Tokens.
    usage: i64,
    /// US cents.
    cost: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_per_day_and_model_in_cents() {
        let e = |hour: i64, model: &str, tokens, quota| UsageEntry {
            hour,
            model: model.into(),
            tokens,
            quota,
        };
        let day = 19_723 * DAY; // 2024-01-01
        let u = usage(
            76,
            &[
                e(day, "gpt-4o", 10, 50),
                e(day + 3600, "gpt-4o-mini", 5, 26),
                e(day + DAY, "gpt-4o", 1, 5000),
            ],
        );
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(v["total_usage"], serde_json::json!(0.0152));
        assert_eq!(
            v["daily_costs"],
            serde_json::json!([
                {"date": "2024-01-01", "cost": 0.0152},
                {"date": "2024-01-02", "cost": 1.0}
            ])
        );
        assert_eq!(
            v["models_usage"],
            serde_json::json!([
                {"model": "gpt-4o", "usage": 11, "cost": 1.01},
                {"model": "gpt-4o-mini", "usage": 5, "cost": 0.0052}
            ])
        );
    }

    #[test]
    fn date_range() {
        let q = |s: Option<&str>, e: Option<&str>| UsageQuery {
            start_date: s.map(str::to_owned),
            end_date: e.map(str::to_owned),
        };
        let now = 19_723 * DAY + 5000;
        assert_eq!(
            usage_range(&q(None, None), now).ok(),
            Some((19_624 * DAY, 19_724 * DAY - 1))
        );
        assert_eq!(
            usage_range(&q(Some("2024-01-01"), Some("2024-01-01")), now).ok(),
            Some((19_723 * DAY, 19_724 * DAY - 1))
        );
        assert!(usage_range(&q(Some("2024-1-1x"), None), now).is_err());
        assert!(usage_range(&q(Some("2023-02-29"), None), now).is_err());
        assert!(usage_range(&q(Some(""), None), now).is_err());
        let (from, to) = usage_range(&q(Some("2024-01-02"), Some("2024-01-01")), now).unwrap();
        assert!(from > to, "an empty range");
    }
}
