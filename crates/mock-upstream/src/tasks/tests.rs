//! The task platforms driven over HTTP.

use crate::tasks::{FAIL_REASON, kling::LEEWAY_SECS, video::MP4_BYTES};
use crate::{KLING_ACCESS, KLING_SECRET, MockUpstream};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// What came back: status, content type and body.
struct Reply {
    status: u16,
    content_type: String,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(
    mock: &MockUpstream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", mock.url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body,
    }
}

async fn post_json(mock: &MockUpstream, path: &str, auth: (&str, &str), body: Value) -> Reply {
    let headers = [auth, ("content-type", "application/json")];
    call(mock, "POST", path, &headers, body.to_string().into_bytes()).await
}

async fn get(mock: &MockUpstream, path: &str, auth: (&str, &str)) -> Reply {
    call(mock, "GET", path, &[auth], Vec::new()).await
}

const MJ: (&str, &str) = ("mj-api-secret", "mj-secret");
const BEARER: (&str, &str) = ("authorization", "Bearer sk-test");

#[tokio::test]
async fn midjourney_imagine_runs_then_succeeds() {
    let mock = MockUpstream::start().await.unwrap();
    let submit = post_json(&mock, "/mj/submit/imagine", MJ, json!({"prompt": "a cat"})).await;
    assert_eq!(submit.status, 200);
    let submit = submit.json();
    assert_eq!(submit["code"], 1);
    let id = submit["result"].as_str().unwrap().to_owned();
    assert!(
        id.len() >= 16 && id.chars().all(|c| c.is_ascii_digit()),
        "{id}"
    );

    let first = get(&mock, &format!("/mj/task/{id}/fetch"), MJ).await.json();
    assert_eq!(first["status"], "IN_PROGRESS");
    assert_eq!(first["progress"], "50%");
    assert_eq!(first["action"], "IMAGINE");
    assert!(first["imageUrl"].is_null());

    let ids = json!({"ids": [id, "1234"]});
    let list = post_json(&mock, "/mj/task/list-by-condition", MJ, ids)
        .await
        .json();
    let views = list.as_array().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["status"], "SUCCESS");
    assert_eq!(views[0]["progress"], "100%");
    let url = format!("https://cdn.mock.test/midjourney/{id}.png");
    assert_eq!(views[0]["imageUrl"], url.as_str());
    assert_eq!(views[0]["buttons"].as_array().unwrap().len(), 9);
    assert!(views[0]["finishTime"].as_u64().is_some());

    assert_eq!(mock.task_polls(&id), 2);
    assert_eq!(mock.tasks_created(), 1);
    let seen = mock.seen();
    assert_eq!(seen[0].credential.as_deref(), Some("mj-secret"));
    assert_eq!(seen[0].body["prompt"], "a cat");

    // A change of the finished grid, then a button press.
    let change = json!({"content": format!("{id} U2")});
    let upscale = post_json(&mock, "/mj/submit/simple-change", MJ, change)
        .await
        .json();
    assert_eq!(upscale["code"], 1);
    let upscale_id = upscale["result"].as_str().unwrap();
    let view = get(&mock, &format!("/mj/task/{upscale_id}/fetch"), MJ)
        .await
        .json();
    assert_eq!(view["action"], "UPSCALE");
    assert_eq!(view["prompt"], "a cat");
    let custom = views[0]["buttons"][5]["customId"].as_str().unwrap();
    let press = json!({"taskId": id, "customId": custom});
    let pressed = post_json(&mock, "/mj/submit/action", MJ, press)
        .await
        .json();
    assert_eq!(pressed["code"], 1);
}

#[tokio::test]
async fn midjourney_refuses_queues_fails_and_waits_for_modals() {
    let mock = MockUpstream::start().await.unwrap();
    let refused = post_json(
        &mock,
        "/mj/submit/imagine",
        MJ,
        json!({"prompt": "mock-refuse"}),
    )
    .await;
    assert_eq!(refused.status, 200);
    let refused = refused.json();
    assert_eq!(refused["code"], 24);
    assert!(refused["result"].is_null());
    assert_eq!(mock.tasks_created(), 0);

    let queued = json!({"prompt": "mock-queued mock-fail"});
    let queued = post_json(&mock, "/mj/submit/imagine", MJ, queued)
        .await
        .json();
    assert_eq!(queued["code"], 22);
    let id = queued["result"].as_str().unwrap().to_owned();
    let path = format!("/mj/task/{id}/fetch");
    assert_eq!(get(&mock, &path, MJ).await.json()["status"], "IN_PROGRESS");
    let failed = get(&mock, &path, MJ).await.json();
    assert_eq!(failed["status"], "FAILURE");
    assert_eq!(failed["failReason"], FAIL_REASON);

    let unknown = json!({"taskId": "42", "action": "UPSCALE", "index": 1});
    let unknown = post_json(&mock, "/mj/submit/change", MJ, unknown)
        .await
        .json();
    assert_eq!(unknown["code"], 3);
    let missing = get(&mock, "/mj/task/42/fetch", MJ).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());

    // Inpaint waits for its modal, then runs under the same id.
    let press = json!({"taskId": id, "customId": format!("MJ::Inpaint::1::{id}::SOLO")});
    let waiting = post_json(&mock, "/mj/submit/action", MJ, press)
        .await
        .json();
    assert_eq!(waiting["code"], 21);
    let modal_id = waiting["result"].as_str().unwrap().to_owned();
    let modal_path = format!("/mj/task/{modal_id}/fetch");
    assert_eq!(get(&mock, &modal_path, MJ).await.json()["status"], "MODAL");
    let confirm = json!({"taskId": modal_id, "prompt": "a hat", "maskBase64": "AAAA"});
    let confirmed = post_json(&mock, "/mj/submit/modal", MJ, confirm)
        .await
        .json();
    assert_eq!(confirmed["code"], 1);
    assert_eq!(confirmed["result"], modal_id.as_str());
    assert_eq!(get(&mock, &modal_path, MJ).await.json()["progress"], "50%");
    assert_eq!(
        get(&mock, &modal_path, MJ).await.json()["status"],
        "SUCCESS"
    );
    assert_eq!(mock.task_polls(&modal_id), 3);
}

#[tokio::test]
async fn suno_music_and_lyrics() {
    let mock = MockUpstream::start().await.unwrap();
    let music =
        json!({"prompt": "[Verse] la la", "mv": "chirp-v3-5", "title": "Song", "tags": "pop"});
    let submit = post_json(&mock, "/suno/submit/music", BEARER, music)
        .await
        .json();
    assert_eq!(submit["code"], "success");
    let id = submit["data"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);

    let batch = post_json(&mock, "/suno/fetch", BEARER, json!({"ids": [id]}))
        .await
        .json();
    assert_eq!(batch["code"], "success");
    let task = &batch["data"][0];
    assert_eq!(task["status"], "IN_PROGRESS");
    assert_eq!(task["progress"], "50%");
    assert_eq!(task["data"][0]["status"], "streaming");

    let one = get(&mock, &format!("/suno/fetch/{id}"), BEARER)
        .await
        .json();
    let task = &one["data"];
    assert_eq!(task["task_id"], id.as_str());
    assert_eq!(task["action"], "MUSIC");
    assert_eq!(task["status"], "SUCCESS");
    let clips = task["data"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    assert_eq!(clips[0]["status"], "complete");
    let url = format!("https://cdn.mock.test/suno/{id}.mp3");
    assert_eq!(clips[0]["audio_url"], url.as_str());
    assert_eq!(clips[0]["model_name"], "chirp-v3-5");
    assert_eq!(mock.task_polls(&id), 2);
    assert_eq!(mock.seen()[0].credential.as_deref(), Some("Bearer sk-test"));

    let lyrics = json!({"prompt": "mock-fail a song about rain"});
    let submit = post_json(&mock, "/suno/submit/lyrics", BEARER, lyrics)
        .await
        .json();
    let id = submit["data"].as_str().unwrap().to_owned();
    let ids = json!({"ids": [id], "action": "LYRICS"});
    post_json(&mock, "/suno/fetch", BEARER, ids.clone()).await;
    let failed = post_json(&mock, "/suno/fetch", BEARER, ids).await.json();
    assert_eq!(failed["data"][0]["status"], "FAILURE");
    assert_eq!(failed["data"][0]["fail_reason"], FAIL_REASON);
    assert_eq!(failed["data"][0]["data"]["status"], "error");

    let refuse = json!({"gpt_description_prompt": "mock-refuse"});
    let refused = post_json(&mock, "/suno/submit/music", BEARER, refuse).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "invalid_request");
    assert_eq!(mock.tasks_created(), 2);
    let unknown = get(&mock, "/suno/fetch/nope", BEARER).await;
    assert_eq!(unknown.status, 400);
}

/// A Kling token for `claims`, signed with `secret`.
fn kling_token(secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

fn now() -> u64 {
    crate::tasks::now_ms() / 1000
}

#[tokio::test]
async fn kling_checks_its_jwt_and_runs_tasks() {
    let mock = MockUpstream::start().await.unwrap();
    let claims = json!({"iss": KLING_ACCESS, "exp": now() + 1800, "nbf": now() - 5});
    let bearer = format!("Bearer {}", kling_token(KLING_SECRET, &claims));
    let auth = ("authorization", bearer.as_str());

    let body =
        json!({"model_name": "kling-v1", "prompt": "a dog", "duration": "10", "mode": "std"});
    let submit = post_json(&mock, "/v1/videos/text2video", auth, body).await;
    assert_eq!(submit.status, 200);
    let submit = submit.json();
    assert_eq!(submit["code"], 0);
    assert_eq!(submit["message"], "SUCCEED");
    assert_eq!(submit["data"]["task_status"], "submitted");
    let id = submit["data"]["task_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/videos/text2video/{id}");
    let first = get(&mock, &path, auth).await.json();
    assert_eq!(first["data"]["task_status"], "processing");
    let done = get(&mock, &path, auth).await.json();
    assert_eq!(done["data"]["task_status"], "succeed");
    let video = &done["data"]["task_result"]["videos"][0];
    let url = format!("https://cdn.mock.test/kling/{id}.mp4");
    assert_eq!(video["url"], url.as_str());
    assert_eq!(video["duration"], "10");
    // The other kind's path does not know it.
    let other = get(&mock, &format!("/v1/videos/image2video/{id}"), auth).await;
    assert_eq!(other.status, 404);

    let failing = json!({"image": "https://img.test/a.png", "prompt": "mock-fail"});
    let submit = post_json(&mock, "/v1/videos/image2video", auth, failing)
        .await
        .json();
    let id = submit["data"]["task_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/videos/image2video/{id}");
    get(&mock, &path, auth).await;
    let failed = get(&mock, &path, auth).await.json();
    assert_eq!(failed["message"], "SUCCEED");
    assert_eq!(failed["data"]["task_status"], "failed");
    assert_eq!(failed["data"]["task_status_msg"], FAIL_REASON);

    let refused = post_json(
        &mock,
        "/v1/videos/text2video",
        auth,
        json!({"prompt": "mock-refuse"}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], 1301);
    assert_eq!(mock.kling_auth_failures(), 0);

    // Bad tokens: wrong secret, wrong issuer, expired, none.
    let wrong_secret = format!("Bearer {}", kling_token("other-secret", &claims));
    let wrong_iss = json!({"iss": "someone", "exp": now() + 1800, "nbf": now()});
    let wrong_iss = format!("Bearer {}", kling_token(KLING_SECRET, &wrong_iss));
    let expired =
        json!({"iss": KLING_ACCESS, "exp": now() - LEEWAY_SECS - 60, "nbf": now() - 3600});
    let expired = format!("Bearer {}", kling_token(KLING_SECRET, &expired));
    let early = json!({"iss": KLING_ACCESS, "exp": now() + 3600, "nbf": now() + 600});
    let early = format!("Bearer {}", kling_token(KLING_SECRET, &early));
    for (token, code) in [
        (wrong_secret, 1002),
        (wrong_iss, 1002),
        (expired, 1004),
        (early, 1003),
    ] {
        let reply = get(&mock, &path, ("authorization", token.as_str())).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json()["code"], code);
    }
    let reply = call(&mock, "GET", &path, &[], Vec::new()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["code"], 1001);
    assert_eq!(mock.kling_auth_failures(), 5);
    assert_eq!(mock.task_polls(&id), 2);
}

/// A multipart body with the text `fields` and one file.
fn multipart(boundary: &str, fields: &[(&str, &str)], file: (&str, &[u8])) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"ref.png\"\r\nContent-Type: image/png\r\n\r\n",
            file.0
        )
        .as_bytes(),
    );
    out.extend_from_slice(file.1);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[tokio::test]
async fn openai_videos_run_and_keep_the_upload() {
    let mock = MockUpstream::start().await.unwrap();
    let image: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    let boundary = "mockboundary42";
    let form = multipart(
        boundary,
        &[
            ("model", "sora-2-pro"),
            ("prompt", "a boat"),
            ("seconds", "8"),
            ("size", "1280x720"),
        ],
        ("input_reference", &image),
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let headers = [BEARER, ("content-type", content_type.as_str())];
    let created = call(&mock, "POST", "/v1/videos", &headers, form.clone()).await;
    assert_eq!(created.status, 200);
    let created = created.json();
    assert_eq!(created["object"], "video");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["model"], "sora-2-pro");
    assert_eq!(created["seconds"], "8");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("video_"));
    let seen = mock.seen();
    assert_eq!(seen[0].raw.as_ref(), form.as_slice());
    assert_eq!(seen[0].body["input_reference"]["bytes"], image.len());

    let path = format!("/v1/videos/{id}");
    let early = call(
        &mock,
        "GET",
        &format!("{path}/content"),
        &[BEARER],
        Vec::new(),
    )
    .await;
    assert_eq!(early.status, 400);
    let first = get(&mock, &path, BEARER).await.json();
    assert_eq!(first["status"], "in_progress");
    assert_eq!(first["progress"], 50);
    let done = get(&mock, &path, BEARER).await.json();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"], 100);
    assert!(done["completed_at"].as_u64().is_some());
    let bytes = call(
        &mock,
        "GET",
        &format!("{path}/content"),
        &[BEARER],
        Vec::new(),
    )
    .await;
    assert_eq!(bytes.status, 200);
    assert_eq!(bytes.content_type, "video/mp4");
    assert_eq!(bytes.body.as_ref(), MP4_BYTES);
    assert_eq!(mock.task_polls(&id), 2);

    let never = post_json(
        &mock,
        "/v1/videos",
        BEARER,
        json!({"model": "sora-2", "prompt": "mock-never"}),
    )
    .await
    .json();
    let never_path = format!("/v1/videos/{}", never["id"].as_str().unwrap());
    for _ in 0..3 {
        let view = get(&mock, &never_path, BEARER).await.json();
        assert_eq!(view["status"], "in_progress");
        assert_eq!(view["progress"], 10);
    }
    let failing = post_json(&mock, "/v1/videos", BEARER, json!({"prompt": "mock-fail"}))
        .await
        .json();
    let failing_path = format!("/v1/videos/{}", failing["id"].as_str().unwrap());
    get(&mock, &failing_path, BEARER).await;
    let failed = get(&mock, &failing_path, BEARER).await.json();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "mock_failure");
    assert_eq!(failed["error"]["message"], FAIL_REASON);

    let refused = post_json(
        &mock,
        "/v1/videos",
        BEARER,
        json!({"prompt": "mock-refuse"}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], "moderation_blocked");
    assert_eq!(
        get(&mock, "/v1/videos/video_nope", BEARER).await.status,
        404
    );
    assert_eq!(mock.tasks_created(), 3);
}
