//! Tests of reading OpenAI requests.

use super::*;

fn read(endpoint: Endpoint, body: &str) -> Result<CallSpec, RelayError> {
    endpoint.read_json(body.as_bytes()).map(|(s, _)| s)
}

#[test]
fn fields_are_read_once_in_one_case() {
    let chat = Endpoint::ChatCompletions;
    let spec = read(
        chat,
        r#"{"messages":[],"model":"m","stream":true,"max_tokens":7,"n":2}"#,
    );
    assert_eq!(
        spec.ok().map(|s| (s.model, s.stream, s.output)),
        Some((
            "m".into(),
            true,
            Some(Output {
                limit: Some(7),
                choices: 2
            })
        ))
    );
    for bad in [
        r#"{"model":"a","Model":"b"}"#,
        r#"{"MODEL":"a","model":"b"}"#,
        r#"{"model":"a","model":"b"}"#,
        r#"{"model":"a","Stream":true}"#,
        r#"{"model":"a","max_tokens":-1}"#,
        r#"{"model":"a","n":0}"#,
        r#"{"model":"a","n":1.5}"#,
        r#"{"model":"a"} {"model":"b"}"#,
        r#"["model"]"#,
    ] {
        assert!(read(chat, bad).is_err(), "{bad}");
    }
    // Go folds these to `s` and `k`: a Go upstream would read them as the fields.
    assert!(read(chat, "{\"model\":\"a\",\"\u{17F}tream\":true}").is_err());
    assert!(read(chat, "{\"model\":\"a\",\"max_to\u{212A}ens\":9}").is_err());
    // Escaped keys are read as what they spell.
    assert!(read(chat, r#"{"model":"a","mod\u0065l":"b"}"#).is_err());
    assert!(read(chat, r#"{"model":"a","modelx":"b","Messages":[]}"#).is_ok());
}

#[test]
fn every_prompt_of_a_list_is_reserved_and_zero_is_no_limit() {
    let completions = |body: &str| {
        read(Endpoint::Completions, body)
            .ok()
            .and_then(|s| s.output)
            .map(|o| (o.limit, o.choices))
    };
    let list = format!(
        r#"{{"model":"m","max_tokens":7,"n":2,"prompt":{:?}}}"#,
        ["a"; 100]
    );
    assert_eq!(completions(&list), Some((Some(7), 200)));
    let tokens = r#"{"model":"m","prompt":[[1,2],[3],[4]]}"#;
    assert_eq!(completions(tokens), Some((None, 3)));
    assert_eq!(
        completions(r#"{"model":"m","prompt":[1,2,3]}"#),
        Some((None, 1))
    );
    assert_eq!(
        completions(r#"{"model":"m","prompt":"one"}"#),
        Some((None, 1))
    );
    // Chat has no prompt list; a zero limit is no limit (the model's maximum).
    let chat = read(Endpoint::ChatCompletions, r#"{"model":"m","max_tokens":0}"#);
    assert_eq!(
        chat.ok().and_then(|s| s.output).map(|o| o.limit),
        Some(None)
    );
    assert!(
        read(
            Endpoint::Completions,
            r#"{"model":"m","prompt":"a","Prompt":["b","c"]}"#
        )
        .is_err()
    );
}

#[test]
fn images_count_n_and_models_default() {
    let images = Endpoint::ImageGenerations;
    let spec = read(images, r#"{"prompt":"cat","n":7}"#);
    assert_eq!(
        spec.ok().map(|s| (s.model, s.count, s.output)),
        Some(("dall-e-2".into(), 7, None))
    );
    for n in ["0", "11", "50", "-1", "\"3\""] {
        assert!(read(images, &format!(r#"{{"n":{n}}}"#)).is_err(), "{n}");
    }
    assert!(
        read(Endpoint::ChatCompletions, "{}").is_err(),
        "chat needs a model"
    );
    let image = r#"{"type":"image_url","image_url":{"url":"https://a.io/x.png"}}"#;
    let body =
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{image},{image}]}}]}}"#);
    let spec = read(Endpoint::ChatCompletions, &body);
    assert!(
        spec.is_ok_and(|s| s.prompt_estimate >= 2 * 1_500),
        "images are reserved for"
    );
    let speech = read(Endpoint::AudioSpeech, r#"{"model":"tts-1","input":"你好"}"#);
    assert_eq!(speech.ok().map(|s| s.prompt_estimate), Some(2));
}

#[test]
fn payload_splices_usage_into_streams_only() {
    let parse = |b: &Bytes| serde_json::from_slice::<serde_json::Value>(b).unwrap_or_default();
    let body = Bytes::from_static(br#"{"model":"m","stream":true,"messages":[]}"#);
    let v = parse(&upstream_json(&body, "m", "m", true, false).unwrap_or_default());
    assert_eq!(v["stream_options"]["include_usage"], true);
    assert_eq!(v["messages"], serde_json::json!([]));
    let plain = Bytes::from_static(br#"{"model":"m"}"#);
    assert_eq!(
        upstream_json(&plain, "m", "m", false, false).unwrap_or_default(),
        plain
    );
    let mapped = upstream_json(&plain, "m", "up", false, false).unwrap_or_default();
    assert_eq!(parse(&mapped)["model"], "up");
    let own = Bytes::from_static(
        br#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#,
    );
    let v = parse(&upstream_json(&own, "m", "m", true, true).unwrap_or_default());
    assert_eq!(v["stream_options"]["include_usage"], true);
}
