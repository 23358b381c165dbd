//! OpenAI's billing dashboard (`/dashboard/billing/*`, also under `/v1`): the key's balance
//! and usage in dollars, as old OpenAI clients read them.

use crate::GatewayState;
use crate::error::{OpenAiError, relay_error};
use crate::extract::caller;
use actix_web::{HttpRequest, HttpResponse, web};
use relay::Balance;
use serde::Serialize;
use utoipa::ToSchema;

fn usd(quota: i64) -> f64 {
    domain::quota::quota_to_usd(quota)
}

/// The key's spendable quota in USD, in OpenAI's dashboard shape (also under `/v1`).
#[utoipa::path(get, path = "/dashboard/billing/subscription", tag = "relay",
    responses((status = 200, body = BillingSubscription), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
pub(crate) async fn billing_subscription(
    state: web::Data<GatewayState>,
    req: HttpRequest,
) -> HttpResponse {
    let c = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
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

/// What the key (or, for unlimited keys, its user) has used, in cents (also under `/v1`).
#[utoipa::path(get, path = "/dashboard/billing/usage", tag = "relay",
    responses((status = 200, body = BillingUsage), (status = 401, body = OpenAiError)),
    security(("api_key" = [])))]
pub(crate) async fn billing_usage(
    state: web::Data<GatewayState>,
    req: HttpRequest,
) -> HttpResponse {
    let c = match caller(&state, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match state.relay.balance(&c).await {
        // OpenAI reports usage in cents.
        Ok(Balance { used, .. }) => HttpResponse::Ok().json(BillingUsage {
            object: "billing.usage",
            total_usage: usd(used) * 100.0,
            daily_costs: Vec::new(),
            models_usage: Vec::new(),
        }),
        Err(e) => relay_error(&e, &req),
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
    /// Cents.
    total_usage: f64,
    /// Always empty: per-day costs are in `/api/data`.
    daily_costs: Vec<serde_json::Value>,
    models_usage: Vec<serde_json::Value>,
}
