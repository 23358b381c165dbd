//! JSON Schemas the derive cannot state: integer codes that take only some values (each lists
//! exactly what the handler accepts, so a schema-valid request is never refused for its value),
//! and the literal `success` of envelopes that are only ever a success or an error, which lets
//! a typed client tell the two apart by that field.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

fn codes(values: &[i64], nullable: bool) -> Schema {
    let types = if nullable {
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::from(Type::Integer)
    };
    let mut allowed: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        allowed.push(serde_json::Value::Null);
    }
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(types)
            .enum_values(Some(allowed))
            .build(),
    )
}

/// `true` and nothing else, for the `success` of an envelope that is only ever a success.
pub fn always_true() -> Schema {
    literal(true)
}

/// `false` and nothing else, for the `success` of an error.
pub fn always_false() -> Schema {
    literal(false)
}

fn literal(value: bool) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([value]))
            .build(),
    )
}

/// A role: 1 user, 10 admin, 100 root.
pub fn role() -> Schema {
    codes(&[1, 10, 100], true)
}

/// A user status an admin sets: 1 enabled, 2 banned.
pub fn user_status() -> Schema {
    codes(&[1, 2], true)
}

/// A key status a user sets: 1 enabled, 2 disabled.
pub fn token_status() -> Schema {
    codes(&[1, 2], true)
}

/// A redemption code status an admin sets: 1 unused, 2 disabled.
pub fn redemption_status() -> Schema {
    codes(&[1, 2], true)
}

/// A channel status: 1 enabled, 2 disabled by hand, 3 disabled automatically.
pub fn channel_status() -> Schema {
    codes(&[1, 2, 3], true)
}
