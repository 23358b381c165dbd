//! The relay API (`/v1/*` and the other provider dialects). This issue brings its route table
//! and OpenAI's error dialect; the relay endpoints arrive with the relay issue.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// An error body in OpenAI's dialect, which the official SDKs parse.
pub fn openai_error(status: StatusCode, message: &str, kind: &str, code: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

/// OpenAI's answer for a path it does not serve.
async fn unknown_route(req: HttpRequest) -> HttpResponse {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        "invalid_request_error",
        "not_found",
    )
}

/// The relay route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/v1").default_service(web::to(unknown_route)));
}
