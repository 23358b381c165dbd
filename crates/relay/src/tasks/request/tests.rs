//! Reading task submits: what prices or routes a task is read once, in one spelling.

use super::*;

fn json(kind: TaskKind, body: &str) -> Result<TaskRequest, RelayError> {
    TaskRequest::json(kind, body.as_bytes())
}

const IMAGINE: TaskKind = TaskKind::Midjourney(MjAction::Imagine);
const CHANGE: TaskKind = TaskKind::Midjourney(MjAction::Change);
const KLING: TaskKind = TaskKind::Video(VideoAction::Text2Video);

#[test]
fn midjourney_actions_name_their_priced_model() {
    let r = json(IMAGINE, r#"{"prompt":"a cat"}"#).unwrap();
    assert_eq!(
        (r.action.as_str(), r.model.as_str()),
        ("IMAGINE", "mj_imagine")
    );
    let r = json(
        CHANGE,
        r#"{"taskId":"task_a","action":"UPSCALE","index":2}"#,
    )
    .unwrap();
    assert_eq!(r.model, "mj_upscale");
    assert_eq!(r.change, Some(("UPSCALE".into(), 2)));
    assert_eq!(r.parent.as_deref(), Some("task_a"));
    // The seed's form: `content` "V3".
    let r = json(CHANGE, r#"{"taskId":"task_a","content":"V3"}"#).unwrap();
    assert_eq!(
        (r.model.as_str(), r.change.clone()),
        ("mj_variation", Some(("VARIATION".into(), 3)))
    );
    let simple = TaskKind::Midjourney(MjAction::SimpleChange);
    let r = json(simple, r#"{"content":"task_b U4"}"#).unwrap();
    assert_eq!(
        (r.parent.as_deref(), r.model.as_str()),
        (Some("task_b"), "mj_upscale")
    );
    let action = TaskKind::Midjourney(MjAction::Action);
    let r = json(
        action,
        r#"{"taskId":"t","customId":"MJ::JOB::reroll::0::abc::SOLO"}"#,
    )
    .unwrap();
    assert_eq!(r.model, "mj_reroll");
    for bad in [
        (IMAGINE, r#"{"prompt":""}"#),
        (CHANGE, r#"{"taskId":"t","action":"UPSCALE","index":7}"#),
        (CHANGE, r#"{"taskId":"t","action":"DELETE","index":1}"#),
        (
            CHANGE,
            r#"{"taskId":"t","content":"U1","action":"VARIATION"}"#,
        ),
        (action, r#"{"taskId":"t","customId":"MJ::Unknown::1"}"#),
        (simple, r#"{"content":"U1"}"#),
    ] {
        assert!(json(bad.0, bad.1).is_err(), "{}", bad.1);
    }
}

#[test]
fn midjourney_runs_one_job_per_call_at_the_channels_speed() {
    for bad in [
        r#"{"prompt":"a cat --repeat 40"}"#,
        r#"{"prompt":"a cat --r 40"}"#,
        r#"{"prompt":"a cat —r 40"}"#,
        r#"{"prompt":"a {red, blue, green} cat"}"#,
        r#"{"prompt":"a cat --video"}"#,
    ] {
        assert!(json(IMAGINE, bad).is_err(), "{bad}");
    }
    let r = json(
        IMAGINE,
        r#"{"prompt":"a cat --TURBO --ar 16:9 —relax","accountFilter":{"modes":["TURBO"]},"notifyHook":"http://x","botType":"NIJI_JOURNEY"}"#,
    )
    .unwrap();
    assert_eq!(r.text("prompt"), Some("a cat --ar 16:9"));
    assert!(r.fields.get("accountFilter").is_none() && r.fields.get("notifyHook").is_none());
    assert_eq!(r.text("botType"), Some("NIJI_JOURNEY"));
}

#[test]
fn priced_fields_are_read_once_in_one_spelling() {
    for bad in [
        r#"{"prompt":"x","duration":5,"duration":10}"#,
        r#"{"prompt":"x","duration":5,"Duration":10}"#,
        r#"{"prompt":"x","DURATION":10}"#,
        r#"{"prompt":"x","Model":"kling-v2"}"#,
        r#"{"prompt":"x","mode":"std","MODE":"pro"}"#,
        "{\"prompt\":\"x\",\"\u{017F}econds\":10}",
        r#"{"prompt":"x","model":"kling-v1","model_name":"kling-v2-master"}"#,
        r#"{"prompt":"x","duration":5,"seconds":10}"#,
    ] {
        assert!(json(KLING, bad).is_err(), "{bad}");
    }
    let change = r#"{"taskid":"t","action":"UPSCALE","index":1}"#;
    assert!(json(CHANGE, change).is_err(), "taskId spelled otherwise");
}

#[test]
fn durations_are_whole_positive_seconds() {
    for bad in ["-5", "0", "\"abc\"", "1e9", "5.5", "\"10.5\"", "[5]", "61"] {
        let body = format!(r#"{{"prompt":"x","duration":{bad}}}"#);
        assert!(json(KLING, &body).is_err(), "{bad}");
    }
    let r = json(KLING, r#"{"prompt":"x","duration":"10"}"#).unwrap();
    assert_eq!((r.seconds, r.model.as_str()), (Some(10), "kling-v1"));
    let r = json(KLING, r#"{"prompt":"x","mode":"pro","model":"kling-v1-6"}"#).unwrap();
    assert!(r.pro);
    assert!(json(KLING, r#"{"prompt":"x","mode":"ultra"}"#).is_err());
    let generic = TaskKind::Video(VideoAction::Generate);
    assert!(
        json(generic, r#"{"prompt":"x"}"#).is_err(),
        "the model is required"
    );
    let r = json(generic, r#"{"prompt":"x","model":"sora-2","image":"aGk="}"#).unwrap();
    assert_eq!(r.action, "IMAGE2VIDEO");
    assert!(json(KLING, r#"{"prompt":"x","image":"aGk="}"#).is_err());
}

#[tokio::test]
async fn forms_keep_their_files_and_refuse_repeats() {
    let ct = "multipart/form-data; boundary=XyZ";
    let form = |parts: &[(&str, &str)]| {
        let mut b = String::new();
        for (header, value) in parts {
            b.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; {header}\r\n\r\n{value}\r\n"
            ));
        }
        b.push_str("--XyZ--\r\n");
        Bytes::from(b)
    };
    let kind = TaskKind::Video(VideoAction::Image2Video);
    let body = form(&[
        ("name=\"prompt\"", "waves"),
        ("name=\"image\"; filename=\"a.png\"", "PNGDATA"),
        ("name=\"duration\"", "10"),
    ]);
    let r = TaskRequest::form(kind, ct, body).await.unwrap();
    assert_eq!(r.seconds, Some(10));
    assert_eq!(r.files.len(), 1);
    assert_eq!(&r.files[0].data[..], b"PNGDATA");
    let twice = form(&[
        ("name=\"prompt\"", "waves"),
        ("name=\"image\"; filename=\"a.png\"", "A"),
        ("name=\"duration\"", "5"),
        ("name=\"Duration\"", "10"),
    ]);
    assert!(TaskRequest::form(kind, ct, twice).await.is_err());
    let suno = TaskKind::Suno(SunoAction::Music);
    assert!(
        TaskRequest::form(suno, ct, form(&[("name=\"prompt\"", "x")]))
            .await
            .is_err()
    );
}
