//! Run-time options (contract 56-57), root only.

use crate::auth::RootUser;
use crate::error::{ApiError, Envelope, Input, MessageResponse, Msg, done, ok};
use crate::state::AdminState;
use actix_web::{HttpResponse, web};
use domain::options::{self as opt, canonical_key, is_secret, validate};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type,
};

/// Every option except secrets, under its new-api name and, where the seed has one, its
/// snake_case alias too.
#[utoipa::path(get, path = "/api/option", tag = "option",
    responses((status = 200, body = Envelope<BTreeMap<String, String>>)),
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
    request_body(content = OptionsBody, description = "Options to set: the map form. The single form `{\"key\": ..., \"value\": ...}` is accepted too."),
    responses((status = 200, body = MessageResponse), (status = 403, description = "Not the root user, banned, or the option `SessionSecret`, which the server manages.")),
    security(("session" = ["root"]), ("access_token" = ["root"])))]
pub async fn update_options(
    state: web::Data<AdminState>,
    _root: RootUser,
    body: Input<crate::body::Json<BTreeMap<String, Value>>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.take()?;
    let body = body.into_inner();
    let single = body.len() == 2 && body.contains_key("key") && body.contains_key("value");
    if body.contains_key("key") && !single {
        // The single form without its `value` (or with other fields): not a map of options.
        return Err(ApiError::BadRequest(Msg::BadRequest(
            "the single form takes exactly `key` and `value`".into(),
        )));
    }
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
        if key == opt::SESSION_SECRET {
            return Err(ApiError::Forbidden(Msg::Forbidden));
        }
        validate(&key, &value)?;
        pairs.push((key, value));
    }
    state.options.set_many(&state.db, &pairs).await?;
    // Prices and routing read options: every instance re-reads them.
    state.relay.apply(relay::Change::Options).await?;
    Ok(done(Msg::OptionsUpdated))
}

/// The map form of `PUT /api/option`, stated from the option registry: each known option (and
/// its snake_case alias) with its kind's values, and any other name of letters, digits, `_` and
/// `.` with any value.
pub struct OptionsBody;

impl utoipa::PartialSchema for OptionsBody {
    fn schema() -> RefOr<Schema> {
        let mut body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .min_properties(Some(1))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(128))
                    .pattern(Some("^[A-Za-z][A-Za-z0-9_.]*$")),
            ))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)));
        for def in opt::DEFS {
            let value = kind_schema(&def.kind);
            body = body.property(def.key, value.clone());
            if let Some(alias) = def.alias {
                body = body.property(alias, value);
            }
        }
        body.into()
    }
}

impl utoipa::ToSchema for OptionsBody {}

/// The values an option of `kind` takes in a JSON body.
fn kind_schema(kind: &opt::Kind) -> Schema {
    match kind {
        opt::Kind::Text => Schema::Object(
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("Any value; stored as its text."))
                .build(),
        ),
        opt::Kind::Bool => Schema::AnyOf(
            AnyOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Boolean))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["true", "false"])),
                )
                .build(),
        ),
        opt::Kind::Int { max } => Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(*max))
                .description(Some("Also taken as a string of digits."))
                .build(),
        ),
        opt::Kind::RatioMap { max } => Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .minimum(Some(0))
                        .maximum(Some(*max)),
                ))
                .description(Some("Also taken as the JSON text of such an object."))
                .build(),
        ),
        opt::Kind::ThresholdMap => Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(
                    utoipa::openapi::schema::ArrayBuilder::new()
                        .prefix_items([
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0))
                                .maximum(Some(100_000_000)),
                            ObjectBuilder::new()
                                .schema_type(Type::Number)
                                .minimum(Some(0))
                                .maximum(Some(100)),
                            ObjectBuilder::new()
                                .schema_type(Type::Number)
                                .minimum(Some(0))
                                .maximum(Some(100)),
                        ])
                        .items(utoipa::openapi::schema::ArrayItems::False)
                        .min_items(Some(3))
                        .max_items(Some(3)),
                ))
                .description(Some(
                    "[threshold tokens, input ratio, output ratio] per model family; also taken \
                     as the JSON text of such an object.",
                ))
                .build(),
        ),
        opt::Kind::LimitPairs { max } => Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(
                    utoipa::openapi::schema::ArrayBuilder::new()
                        .items(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(0))
                                .maximum(Some(*max)),
                        )
                        .min_items(Some(2))
                        .max_items(Some(2)),
                ))
                .description(Some(
                    "[requests, successful requests] per group; also taken as the JSON text of \
                     such an object.",
                ))
                .build(),
        ),
        opt::Kind::CountMap { min, max } => Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(*min))
                        .maximum(Some(*max)),
                ))
                .description(Some("Also taken as the JSON text of such an object."))
                .build(),
        ),
    }
}
