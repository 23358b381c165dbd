//! JSON request bodies of `/api`, read the way the OpenAPI document's JSON Schemas read them: a
//! number without a fractional part is an integer (`5.0` is `5`), as JSON itself does not tell
//! the two apart. Bodies are at most 1 MiB (413 in the `/api` envelope beyond) and must be sent
//! as `application/json`.

use crate::error::{ApiError, Msg};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The largest `/api` body.
pub const LIMIT: usize = 1 << 20;

/// A JSON body of type `T`.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn bad(detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(Msg::BadRequest(detail.to_string()))
}

/// Replaces each integral float that fits an `i64` with that integer, everywhere in `value`.
fn integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e18
            {
                // In range and integral: the conversion is exact.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integers),
        Value::Object(fields) => fields.values_mut().for_each(integers),
        _ => {}
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(bad("the body must be sent as application/json"));
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(Msg::BodyTooLarge(LIMIT))
                } else {
                    bad("the body could not be read")
                }
            })?;
            let mut value: Value = serde_json::from_slice(&bytes).map_err(bad)?;
            integers(&mut value);
            serde_json::from_value(value).map(Json).map_err(bad)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers() {
        let mut v = serde_json::json!({"a": 5.0, "b": [1.5, -2.0], "c": 1e300, "d": 7});
        integers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": 5, "b": [1.5, -2], "c": 1e300, "d": 7})
        );
    }
}
