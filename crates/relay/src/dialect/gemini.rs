//! Gemini's `models/{model}:generateContent` and `:streamGenerateContent`: the model is named
//! in the path; of the body only `generationConfig`'s output limit and candidate count are read.
//! Google's JSON parser takes a field by its lowerCamelCase or its snake_case name, so a body
//! naming a priced field both ways (which the upstream would pick between) is refused.

use super::{CallSpec, Output};
use crate::error::RelayError;
use domain::pricing::Tier;
use serde_json::{Map, Value};

/// Answers one call may ask for (Gemini's `candidateCount` limit).
const MAX_CANDIDATES: i64 = 8;

/// The one value of a field sent under `camel` or `snake`; both is an error.
fn field<'a>(
    object: &'a Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Result<Option<&'a Value>, RelayError> {
    match (object.get(camel), object.get(snake)) {
        (Some(_), Some(_)) => Err(RelayError::BadRequest(format!(
            "give `{camel}` or `{snake}`, not both"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

/// A non-negative whole number, or an error naming `name`.
fn count(value: Option<&Value>, name: &str) -> Result<Option<i64>, RelayError> {
    value
        .map(|v| {
            v.as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| RelayError::BadRequest(format!("`{name}` must be a whole number")))
        })
        .transpose()
}

/// Checks that no object in a JSON document names a key twice (which parser's pick the
/// upstream makes is not ours to guess: a priced field sent twice is refused).
struct NoDuplicateKeys;

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the field `{key}` appears twice"
                )));
            }
            map.next_value_seed(NoDuplicateKeys)?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Routes and prices a Gemini embedding call of `model`: its input's tokens only.
pub(crate) fn read_embed(model: &str, body: &[u8]) -> Result<CallSpec, RelayError> {
    let spec = read(model, body, false)?;
    Ok(CallSpec {
        output: None,
        ..spec
    })
}

/// Routes and prices a Gemini generate call of `model`.
pub(crate) fn read(model: &str, body: &[u8], stream: bool) -> Result<CallSpec, RelayError> {
    if model.is_empty() {
        return Err(RelayError::BadRequest("the path names no model".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::de::DeserializeSeed::deserialize(NoDuplicateKeys, &mut de)
        .and_then(|()| de.end())
        .map_err(|e| RelayError::BadRequest(format!("the request body is not valid: {e}")))?;
    let request: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        RelayError::BadRequest(format!("the request body is not a JSON object: {e}"))
    })?;
    let empty = Map::new();
    let config = match field(&request, "generationConfig", "generation_config")? {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(RelayError::BadRequest(
                "`generationConfig` must be an object".into(),
            ));
        }
    };
    // A zero limit is no limit: the model's maximum.
    let limit = count(
        field(config, "maxOutputTokens", "max_output_tokens")?,
        "maxOutputTokens",
    )?
    .filter(|l| *l > 0);
    let candidates = count(
        field(config, "candidateCount", "candidate_count")?,
        "candidateCount",
    )?
    .unwrap_or(1);
    if !(1..=MAX_CANDIDATES).contains(&candidates) {
        return Err(RelayError::BadRequest(format!(
            "`candidateCount` must be from 1 to {MAX_CANDIDATES}"
        )));
    }
    let estimate = super::estimate(body);
    Ok(CallSpec {
        model: model.to_owned(),
        stream,
        count: 1,
        output: Some(Output {
            limit,
            choices: candidates,
        }),
        prompt_estimate: estimate.tokens,
        media: estimate.refs,
        images: estimate.images,
        tier: Tier::Standard,
        tools: estimate.tools,
        image: None,
        seconds: None,
    })
}

/// The text of a Gemini request (`contents` and `systemInstruction` parts), for local counting.
pub fn prompt_text(body: &[u8]) -> String {
    fn collect(v: &Value, out: &mut String) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(t)) = o.get("text") {
                    out.push_str(t);
                }
                o.values().for_each(|v| collect(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut text = String::new();
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        // Generate calls (`contents`, the system instruction) and embedding calls (`content`,
        // and a batch's `requests`).
        for key in [
            "contents",
            "systemInstruction",
            "system_instruction",
            "content",
            "requests",
        ] {
            if let Some(part) = v.get(key) {
                collect(part, &mut text);
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_output_limit_and_candidates() {
        let spec = read(
            "gemini-2.5-flash",
            br#"{"contents":[],"generationConfig":{"maxOutputTokens":50,"candidateCount":2}}"#,
            true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.model, "gemini-2.5-flash");
        assert!(spec.stream);
        assert_eq!(
            spec.output,
            Some(Output {
                limit: Some(50),
                choices: 2
            })
        );
        let spec = read(
            "m",
            br#"{"generation_config":{"max_output_tokens":7}}"#,
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec.output,
            Some(Output {
                limit: Some(7),
                choices: 1
            })
        );
    }

    #[test]
    fn a_field_named_both_ways_is_refused() {
        for body in [
            r#"{"generationConfig":{"maxOutputTokens":5,"max_output_tokens":99999}}"#,
            r#"{"generationConfig":{},"generation_config":{}}"#,
            r#"{"generationConfig":{"candidateCount":1,"candidate_count":8}}"#,
            r#"{"generationConfig":{"candidateCount":9}}"#,
            r#"{"generationConfig":{"maxOutputTokens":-1}}"#,
            r#"{"generationConfig":{"maxOutputTokens":1},"generationConfig":{"maxOutputTokens":99999}}"#,
            r#"{"generationConfig":{"maxOutputTokens":1,"maxOutputTokens":99999}}"#,
            r#"{"contents":[{"parts":[{"text":"a","text":"b"}]}]}"#,
            r#"[]"#,
        ] {
            assert!(read("m", body.as_bytes(), false).is_err(), "{body}");
        }
        assert!(read("", b"{}", false).is_err());
    }

    #[test]
    fn prompt_text_of_parts() {
        let body = br#"{"systemInstruction":{"parts":[{"text":"Be brief. "}]},
            "contents":[{"role":"user","parts":[{"text":"Hello"},{"inlineData":{"data":"xx"}}]}]}"#;
        assert_eq!(prompt_text(body), "HelloBe brief. ");
    }
}
