//! Usage statistics (contract 28-29): quota per user, model and hour.

use crate::auth::{AdminUser, CurrentUser};
use crate::error::{ApiError, Envelope, Input, ok};
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use persistence::quota_data::{self, DataFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One hour of one model's use by one user. `date`, `used_quota` and `request_count` are the
/// seed's names for the bucket's day (UTC), quota and call count.
#[derive(Serialize, ToSchema)]
pub struct DataRow {
    pub id: i32,
    pub user_id: i32,
    pub username: String,
    pub model_name: String,
    /// Start of the hour, Unix seconds.
    pub created_at: i64,
    pub token_used: i64,
    pub count: i64,
    pub quota: i64,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub used_quota: i64,
    pub request_count: i64,
}

/// `YYYY-MM-DD` of a Unix time (UTC), from the civil-from-days algorithm.
fn utc_date(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

impl From<quota_data::Model> for DataRow {
    fn from(m: quota_data::Model) -> Self {
        DataRow {
            date: utc_date(m.created_at),
            used_quota: m.quota,
            request_count: m.count,
            id: m.id,
            user_id: m.user_id,
            username: m.username,
            model_name: m.model_name,
            created_at: m.created_at,
            token_used: m.token_used,
            count: m.count,
            quota: m.quota,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// Unix seconds, inclusive.
    pub start_timestamp: Option<i64>,
    /// Unix seconds, inclusive.
    pub end_timestamp: Option<i64>,
    /// Admins only.
    pub username: Option<String>,
}

/// The caller's hourly usage statistics.
#[utoipa::path(get, path = "/api/data/self", tag = "data", params(DataQuery),
    responses((status = 200, body = Envelope<Vec<DataRow>>)),
    security(("session" = []), ("access_token" = [])))]
pub async fn own_data(
    state: web::Data<AdminState>,
    user: CurrentUser,
    q: Input<web::Query<DataQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let f = DataFilter {
        user_id: Some(user.id()),
        username: None,
        start_timestamp: q.start_timestamp,
        end_timestamp: q.end_timestamp,
    };
    let rows = quota_data::list(&state.db, &f).await?;
    Ok(ok(rows.into_iter().map(DataRow::from).collect::<Vec<_>>()))
}

/// Hourly usage statistics of all users (admin).
#[utoipa::path(get, path = "/api/data", tag = "data", params(DataQuery),
    responses((status = 200, body = Envelope<Vec<DataRow>>)),
    security(("session" = ["admin"]), ("access_token" = ["admin"])))]
pub async fn all_data(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    q: Input<web::Query<DataQuery>>,
) -> Result<HttpResponse, ApiError> {
    let q = q.take()?;
    let f = DataFilter {
        user_id: None,
        username: q.username.clone(),
        start_timestamp: q.start_timestamp,
        end_timestamp: q.end_timestamp,
    };
    let rows = quota_data::list(&state.db, &f).await?;
    Ok(ok(rows.into_iter().map(DataRow::from).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_640_995_200), "2022-01-01");
        assert_eq!(utc_date(1_709_164_800), "2024-02-29");
    }
}
