//! The OpenAPI document: served, complete, and identical to the committed `docs/openapi.json`.

use crate::helpers::TestApp;
use reqwest::StatusCode;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// Regenerate with `UPDATE_OPENAPI=1 cargo test -p server --test api openapi`.
#[test]
fn committed_document_matches_the_code() {
    let generated = server::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p server --test api openapi"
    );
}

#[test]
fn every_contract_endpoint_is_documented() {
    let doc = server::openapi();
    let expected = [
        ("get", "/api/status"),
        ("get", "/api/about"),
        ("get", "/api/notice"),
        ("get", "/api/home_page_content"),
        ("post", "/api/user/register"),
        ("post", "/api/user/login"),
        ("get", "/api/user/logout"),
        ("get", "/api/user/self"),
        ("put", "/api/user/self"),
        ("delete", "/api/user/self"),
        ("get", "/api/user/token"),
        ("get", "/api/user/models"),
        ("get", "/api/user/groups"),
        ("post", "/api/user/topup"),
        ("get", "/api/token"),
        ("post", "/api/token"),
        ("put", "/api/token"),
        ("delete", "/api/token/{id}"),
        ("post", "/api/token/batch"),
        ("get", "/api/channel"),
        ("post", "/api/channel"),
        ("put", "/api/channel"),
        ("delete", "/api/channel/{id}"),
        ("get", "/api/channel/test/{id}"),
        ("get", "/api/channel/test"),
        ("get", "/api/log/self"),
        ("get", "/api/log"),
        ("get", "/api/redemption"),
        ("post", "/api/redemption"),
        ("put", "/api/redemption"),
        ("delete", "/api/redemption/{id}"),
        ("get", "/api/data/self"),
        ("get", "/api/data"),
        ("get", "/api/option"),
        ("put", "/api/option"),
        ("get", "/api/user"),
        ("post", "/api/user"),
        ("put", "/api/user"),
        ("delete", "/api/user/{id}"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{model}"),
        ("post", "/v1/chat/completions"),
        ("post", "/v1/completions"),
        ("post", "/v1/embeddings"),
        ("post", "/v1/moderations"),
        ("post", "/v1/images/generations"),
        ("post", "/v1/images/edits"),
        ("post", "/v1/images/variations"),
        ("post", "/v1/audio/transcriptions"),
        ("post", "/v1/audio/translations"),
        ("post", "/v1/audio/speech"),
        ("get", "/dashboard/billing/subscription"),
        ("get", "/dashboard/billing/usage"),
        ("get", "/v1/dashboard/billing/subscription"),
        ("get", "/v1/dashboard/billing/usage"),
        ("post", "/v1/messages"),
        ("post", "/v1/messages/count_tokens"),
        ("head", "/"),
        ("post", "/v1beta/models/{model}:generateContent"),
        ("post", "/v1/models/{model}:streamGenerateContent"),
        ("get", "/v1beta/models"),
    ];
    let json = serde_json::to_value(&doc).unwrap();
    for (method, path) in expected {
        assert!(
            json["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

async fn served_with_viewer(app: TestApp) {
    let resp = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert!(doc["paths"]["/api/user/login"].is_object());
    let resp = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text().await.unwrap().contains("swagger"),
        "the Swagger UI page"
    );
}

/// What a generated client relies on, checked on the document itself (`scripts/contract.sh`
/// adds the validator, schemathesis and a TypeScript client on top).
#[test]
fn every_operation_is_complete() {
    let doc = serde_json::to_value(server::openapi()).unwrap();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(operation_ids.insert(id), "{at}: operationId repeats");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: summary"
            );
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{at}: {name} is no path placeholder"
                    );
                }
            }
            let error_schema = if path == "/readyz" {
                // A probe's failure is its report, which says which check failed.
                "Readiness"
            } else if path == "/metrics" {
                "ProbeError"
            } else if path.starts_with("/api/") {
                "ApiErrorBody"
            } else if path.starts_with("/v1/messages") {
                "AnthropicError"
            } else if path.starts_with("/v1beta/") || path.starts_with("/v1/models/{model}:") {
                "GeminiError"
            } else if ["/mj/", "/suno/", "/kling/", "/v1/video/"]
                .iter()
                .any(|p| path.starts_with(p))
            {
                "TaskError"
            } else {
                "OpenAiError"
            };
            for (status, resp) in op["responses"].as_object().unwrap() {
                assert!(
                    resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{at} {status}"
                );
                if !status.starts_with('2') {
                    assert_eq!(
                        resp["content"]["application/json"]["schema"]["$ref"],
                        format!("#/components/schemas/{error_schema}"),
                        "{at} {status}"
                    );
                }
            }
            let security = op["security"].as_array().cloned().unwrap_or_default();
            if !security.is_empty() {
                for status in ["401", "403", "500"] {
                    assert!(op["responses"][status].is_object(), "{at}: {status}");
                }
            }
            if path.starts_with("/api/") {
                for alternative in &security {
                    assert!(
                        alternative["user_id"].is_array(),
                        "{at}: New-Api-User with {alternative}"
                    );
                }
            }
        }
    }
    // A success envelope's data is required.
    let envelope = &doc["components"]["schemas"]["Envelope_UserView"];
    assert!(
        envelope["required"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("data"))
    );
    // List queries are query parameters.
    let list = &doc["paths"]["/api/token"]["get"]["parameters"];
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "p" && p["in"] == "query")
    );
}

async fn unsupported_methods_answer_405_with_allow(app: TestApp) {
    for (method, path, allow) in [
        (reqwest::Method::PATCH, "/api/status", "GET"),
        (reqwest::Method::DELETE, "/api/user/login", "POST"),
        (reqwest::Method::PATCH, "/api/token", "GET, POST, PUT"),
    ] {
        let resp = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let mut allowed: Vec<String> = resp.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allowed.sort();
        assert_eq!(allowed.join(", "), allow, "{method} {path}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["success"], false, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    for path in [
        "/v1/chat/completions",
        "/v1/models",
        "/dashboard/billing/usage",
    ] {
        let resp = app.client.put(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(resp.headers().contains_key("allow"), "{path}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    }
}

db_tests!(
    served_with_viewer,
    unsupported_methods_answer_405_with_allow
);
