//! The asynchronous task routes: Midjourney (midjourney-proxy's API), Suno, the seed's video
//! route, OpenAI's `/v1/videos` and Kling's. A submit is charged once the upstream takes it;
//! fetches answer from the gateway's task table (no upstream call), and only with the caller's
//! own tasks. Keys come through the [`Key`]/[`Admitted`] extractors (midjourney-proxy clients
//! send theirs as `mj-api-secret`); errors are in each family's envelope.

pub(crate) mod views;

use crate::GatewayState;
use crate::error::relay_error;
use crate::extract::{Admitted, Key, meta, read_body};
use actix_web::{HttpRequest, HttpResponse, web};
use relay::RelayError;
use relay::tasks::{MjAction, SunoAction, TaskKind, TaskRequest, VideoAction};
use serde::Deserialize;
use utoipa::ToSchema;
use views::{Family, TaskError, TaskFetched, TaskSubmitted, fetched, fetched_many, submitted};

/// Reads a submit (JSON, or a form on the video routes), submits it and answers in `family`'s
/// shape.
async fn submit(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    payload: web::Payload,
    Admitted(caller): Admitted,
    kind: TaskKind,
    family: Family,
) -> HttpResponse {
    let body = match read_body(&req, payload, state.max_body).await {
        Ok(b) => b,
        Err(e) => return relay_error(&e, &req),
    };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request = if content_type.starts_with("multipart/form-data") {
        TaskRequest::form(kind, content_type, body).await
    } else {
        TaskRequest::json(kind, &body)
    };
    let result = match request {
        Ok(request) => state.relay.submit_task(&caller, request, &meta(&req)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => HttpResponse::Ok().json(submitted(family, &s)),
        Err(e) => relay_error(&e, &req),
    }
}

macro_rules! submit_route {
    ($name:ident, $path:literal, $kind:expr, $family:expr, $doc:literal, $body:literal) => {
        submit_route!($name, $path, $kind, $family, TaskError, $doc, $body);
    };
    ($name:ident, $path:literal, $kind:expr, $family:expr, $err:ty, $doc:literal, $body:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "tasks",
            request_body(content = serde_json::Value, content_type = "application/json", description = $body),
            responses(
                (status = 200, body = TaskSubmitted, description = "The upstream took the task; it is charged (once)."),
                (status = 400, body = $err, description = "Invalid request, a priced field sent twice or in another letter case, a duration that is not 1-60 whole seconds, or the upstream refused the task (nothing charged)."),
                (status = 404, body = $err, description = "The task acted on is not the caller's (or does not exist), or no channel of the key's group lists the model.")),
            security(("api_key" = []), ("mj_api_secret" = [])))]
        pub(crate) async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            payload: web::Payload,
            caller: Admitted,
        ) -> HttpResponse {
            submit(state, req, payload, caller, $kind, $family).await
        }
    };
}

submit_route!(
    mj_imagine,
    "/mj/submit/imagine",
    TaskKind::Midjourney(MjAction::Imagine),
    Family::Midjourney,
    "Midjourney: imagine (priced as `mj_imagine`).",
    "`prompt` (required), `base64Array`, `botType`, ... as midjourney-proxy takes them; `notifyHook` is not passed on."
);
submit_route!(
    mj_change,
    "/mj/submit/change",
    TaskKind::Midjourney(MjAction::Change),
    Family::Midjourney,
    "Midjourney: upscale, vary or reroll an earlier task (`mj_upscale`, `mj_variation`, `mj_reroll`).",
    "`taskId` (the gateway's id of the caller's task) and `action` UPSCALE/VARIATION/REROLL with `index` 1-4, or `content` \"U1\"-\"U4\", \"V1\"-\"V4\", \"R\"."
);
submit_route!(
    mj_simple_change,
    "/mj/submit/simple-change",
    TaskKind::Midjourney(MjAction::SimpleChange),
    Family::Midjourney,
    "Midjourney: a change written as `\"<taskId> U2\"`.",
    "`content`: the task id and U1-U4, V1-V4 or R."
);
submit_route!(
    mj_describe,
    "/mj/submit/describe",
    TaskKind::Midjourney(MjAction::Describe),
    Family::Midjourney,
    "Midjourney: describe an image (`mj_describe`).",
    "`base64`: the image as a data URL."
);
submit_route!(
    mj_blend,
    "/mj/submit/blend",
    TaskKind::Midjourney(MjAction::Blend),
    Family::Midjourney,
    "Midjourney: blend 2-5 images (`mj_blend`).",
    "`base64Array` (2-5 data URLs), `dimensions`."
);
submit_route!(
    mj_action,
    "/mj/submit/action",
    TaskKind::Midjourney(MjAction::Action),
    Family::Midjourney,
    "Midjourney: press a button of an earlier task (priced by the button: `mj_upscale`, `mj_variation`, `mj_reroll`, `mj_pan`, `mj_zoom`, `mj_inpaint`, ...).",
    "`taskId` and the button's `customId`."
);
submit_route!(
    mj_modal,
    "/mj/submit/modal",
    TaskKind::Midjourney(MjAction::Modal),
    Family::Midjourney,
    "Midjourney: confirm a task waiting for a modal (code 21) with its prompt or mask (`mj_modal`).",
    "`taskId`, `prompt`, `maskBase64`."
);
submit_route!(
    suno_music,
    "/suno/submit/music",
    TaskKind::Suno(SunoAction::Music),
    Family::Suno,
    "Suno: make music (`suno_music`).",
    "`prompt`, `mv`, `title`, `tags`, `gpt_description_prompt`, `make_instrumental`; `task_id` and `continue_clip_id` continue the caller's earlier task."
);
submit_route!(
    suno_lyrics,
    "/suno/submit/lyrics",
    TaskKind::Suno(SunoAction::Lyrics),
    Family::Suno,
    "Suno: write lyrics (`suno_lyrics`).",
    "`prompt` (required)."
);
submit_route!(
    video_generations,
    "/v1/video/generations",
    TaskKind::Video(VideoAction::Generate),
    Family::Video,
    "Make a video with the model's channel (Kling, or an OpenAI-style video API); priced by `ModelPrice` of the model for its default seconds (Kling 5, Sora 4), scaled by `duration`.",
    "`model` (required), `prompt`, `duration` or `seconds` (1-60), `aspect_ratio` or `size`, `mode` std/pro, `image` (URL or base64) for image-to-video. JSON or multipart with an `image` file."
);
submit_route!(
    openai_videos,
    "/v1/videos",
    TaskKind::Video(VideoAction::OpenAi),
    Family::OpenAiVideo,
    crate::OpenAiError,
    "OpenAI's video API: make a video (default model `sora-2`, priced per its default 4 seconds and scaled by `seconds`).",
    "`model`, `prompt`, `seconds`, `size`; multipart with an `input_reference` file."
);
submit_route!(
    kling_text2video,
    "/kling/v1/videos/text2video",
    TaskKind::Video(VideoAction::Text2Video),
    Family::Kling,
    "Kling: text to video (default `kling-v1`; `mode` pro is priced as `<model>-pro`).",
    "`model` or `model_name`, `prompt`, `negative_prompt`, `cfg_scale`, `mode`, `duration` (\"5\" or \"10\"), `aspect_ratio`."
);
submit_route!(
    kling_image2video,
    "/kling/v1/videos/image2video",
    TaskKind::Video(VideoAction::Image2Video),
    Family::Kling,
    "Kling: image to video. JSON with `image` (URL or base64), or multipart with an `image` file (sent on as base64, byte for byte).",
    "`model` or `model_name`, `image` (required), `image_tail`, `prompt`, `mode`, `duration`."
);

/// One of the caller's tasks, answered in `family`'s shape.
async fn fetch_one(
    state: &GatewayState,
    req: &HttpRequest,
    caller: &relay::Caller,
    id: &str,
    family: Family,
) -> HttpResponse {
    match state.relay.task(caller, id).await {
        Ok(task) => HttpResponse::Ok().json(fetched(family, &task)),
        Err(e) => relay_error(&e, req),
    }
}

macro_rules! fetch_route {
    ($name:ident, $path:literal, $param:literal, $family:expr, $doc:literal) => {
        fetch_route!($name, $path, $param, $family, TaskError, $doc);
    };
    ($name:ident, $path:literal, $param:literal, $family:expr, $err:ty, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = "tasks",
            params(($param = String, Path, description = "The gateway's task id.")),
            responses((status = 200, body = TaskFetched),
                (status = 404, body = $err, description = "Not one of the caller's tasks.")),
            security(("api_key" = []), ("mj_api_secret" = [])))]
        pub(crate) async fn $name(
            state: web::Data<GatewayState>,
            req: HttpRequest,
            id: web::Path<String>,
            Key(caller): Key,
        ) -> HttpResponse {
            fetch_one(&state, &req, &caller, &id, $family).await
        }
    };
}

fetch_route!(
    mj_fetch,
    "/mj/task/{id}/fetch",
    "id",
    Family::Midjourney,
    "Midjourney: a task (midjourney-proxy's task view: `id`, `status`, `progress`, `imageUrl`, `failReason`, `buttons`, ... with the seed's envelope)."
);
fetch_route!(
    suno_fetch,
    "/suno/fetch/{id}",
    "id",
    Family::Suno,
    "Suno: a task."
);
fetch_route!(
    video_fetch,
    "/v1/video/generations/{task_id}",
    "task_id",
    Family::Video,
    "A video task."
);
fetch_route!(
    openai_video_fetch,
    "/v1/videos/{id}",
    "id",
    Family::OpenAiVideo,
    crate::OpenAiError,
    "OpenAI's video API: a video (OpenAI's video object)."
);

/// OpenAI's video API: a finished video's content, read through the gateway.
#[utoipa::path(get, path = "/v1/videos/{id}/content", tag = "tasks",
    params(("id" = String, Path, description = "The gateway's task id.")),
    responses((status = 200, content_type = "video/mp4", description = "The video."),
        (status = 400, body = crate::OpenAiError, description = "The video is not finished."),
        (status = 404, body = crate::OpenAiError, description = "Not one of the caller's tasks."),
        (status = 502, body = crate::OpenAiError, description = "The upstream could not be read.")),
    security(("api_key" = [])))]
pub(crate) async fn openai_video_content(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    id: web::Path<String>,
    Key(caller): Key,
) -> HttpResponse {
    match state.relay.task_content(&caller, &id).await {
        Ok(resp) => crate::call::respond(resp, &req),
        Err(e) => relay_error(&e, &req),
    }
}

/// Kling: a task of either kind.
#[utoipa::path(get, path = "/kling/v1/videos/{kind}/{task_id}", tag = "tasks",
    params(("kind" = String, Path, description = "`text2video` or `image2video`."),
        ("task_id" = String, Path, description = "The gateway's task id.")),
    responses((status = 200, body = TaskFetched),
        (status = 404, body = TaskError, description = "Not one of the caller's tasks.")),
    security(("api_key" = [])))]
pub(crate) async fn kling_fetch(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    Key(caller): Key,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    if kind != "text2video" && kind != "image2video" {
        return relay_error(&RelayError::TaskNotFound(id), &req);
    }
    fetch_one(&state, &req, &caller, &id, Family::Kling).await
}

/// Several task ids.
#[derive(Deserialize, ToSchema)]
pub struct TaskIds {
    /// The gateway's task ids (at most 500; others' and unknown ones are left out).
    ids: Vec<String>,
}

/// The most ids one batch fetch reads.
const MAX_IDS: usize = 500;

async fn fetch_many(
    state: &GatewayState,
    req: &HttpRequest,
    caller: &relay::Caller,
    body: &[u8],
    family: Family,
) -> HttpResponse {
    let ids = match serde_json::from_slice::<TaskIds>(body) {
        Ok(b) if b.ids.len() <= MAX_IDS => b.ids,
        Ok(_) => {
            let e = RelayError::BadRequest(format!("at most {MAX_IDS} ids at once"));
            return relay_error(&e, req);
        }
        Err(e) => {
            return relay_error(
                &RelayError::BadRequest(format!("`ids` is required: {e}")),
                req,
            );
        }
    };
    match state.relay.tasks(caller, &ids).await {
        Ok(tasks) => HttpResponse::Ok().json(fetched_many(family, &tasks)),
        Err(e) => relay_error(&e, req),
    }
}

/// Midjourney: several of the caller's tasks (a JSON array of task views).
#[utoipa::path(post, path = "/mj/task/list-by-condition", tag = "tasks", request_body = TaskIds,
    responses((status = 200, body = Vec<serde_json::Value>, description = "midjourney-proxy's task views, the caller's only."),
        (status = 400, body = TaskError)),
    security(("api_key" = []), ("mj_api_secret" = [])))]
pub(crate) async fn mj_list(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    body: web::Bytes,
    Key(caller): Key,
) -> HttpResponse {
    fetch_many(&state, &req, &caller, &body, Family::Midjourney).await
}

/// Suno: several of the caller's tasks.
#[utoipa::path(post, path = "/suno/fetch", tag = "tasks", request_body = TaskIds,
    responses((status = 200, body = serde_json::Value, description = "`data`: the caller's tasks."),
        (status = 400, body = TaskError)),
    security(("api_key" = [])))]
pub(crate) async fn suno_list(
    state: web::Data<GatewayState>,
    req: HttpRequest,
    body: web::Bytes,
    Key(caller): Key,
) -> HttpResponse {
    fetch_many(&state, &req, &caller, &body, Family::Suno).await
}

/// The task routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post, resource};
    cfg.service(
        web::scope("/mj")
            .service(resource("/submit/imagine").route(post().to(mj_imagine)))
            .service(resource("/submit/change").route(post().to(mj_change)))
            .service(resource("/submit/simple-change").route(post().to(mj_simple_change)))
            .service(resource("/submit/describe").route(post().to(mj_describe)))
            .service(resource("/submit/blend").route(post().to(mj_blend)))
            .service(resource("/submit/action").route(post().to(mj_action)))
            .service(resource("/submit/modal").route(post().to(mj_modal)))
            .service(resource("/task/list-by-condition").route(post().to(mj_list)))
            .service(resource("/task/{id}/fetch").route(get().to(mj_fetch)))
            .default_service(web::to(crate::error::unknown_route)),
    )
    .service(
        web::scope("/suno")
            .service(resource("/submit/music").route(post().to(suno_music)))
            .service(resource("/submit/lyrics").route(post().to(suno_lyrics)))
            .service(resource("/fetch").route(post().to(suno_list)))
            .service(resource("/fetch/{id}").route(get().to(suno_fetch)))
            .default_service(web::to(crate::error::unknown_route)),
    )
    .service(
        web::scope("/kling/v1/videos")
            .service(resource("/text2video").route(post().to(kling_text2video)))
            .service(resource("/image2video").route(post().to(kling_image2video)))
            .service(resource("/{kind}/{task_id}").route(get().to(kling_fetch)))
            .default_service(web::to(crate::error::unknown_route)),
    );
}
