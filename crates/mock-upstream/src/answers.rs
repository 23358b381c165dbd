//! Whole (not streamed) answers, by endpoint and mock model.

use crate::errors::openai_error;
use crate::{
    PROMPT_TOKENS, TOOL_USE_TOKENS, WEB_SEARCHES, anthropic, completion_tokens, gemini, responses,
    usage_json,
};
use hyper::StatusCode;
use serde_json::{Value, json};

/// The whole answer for `path` and `model`: an error status for the failing mock models, else
/// the endpoint's body in its family's format.
pub(crate) fn answer(path: &str, model: &str, request: &Value) -> (StatusCode, Value) {
    let completion = completion_tokens(model, request);
    match model {
        "mock-401" => {
            return (
                StatusCode::UNAUTHORIZED,
                openai_error(
                    "Incorrect API key provided",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            );
        }
        "mock-429" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                openai_error("Rate limit reached", "requests", "rate_limit_exceeded"),
            );
        }
        "mock-quota" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                openai_error(
                    "You exceeded your current quota",
                    "insufficient_quota",
                    "insufficient_quota",
                ),
            );
        }
        "mock-403-resource" => {
            // What Gemini answers for a file or cache of another project: the caller's doing.
            return (
                StatusCode::FORBIDDEN,
                json!({"error": {"code": 403, "message": "Permission denied on resource",
                    "status": "PERMISSION_DENIED"}}),
            );
        }
        "mock-200-error" => {
            // Some upstreams answer 200 with an error object, naming their internals.
            return (
                StatusCode::OK,
                openai_error(
                    "backend vllm-0.vllm.svc.cluster.local:8000 failed reading /var/lib/models/x.bin",
                    "server_error",
                    "",
                ),
            );
        }
        "mock-500" => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                openai_error("The server had an error", "server_error", ""),
            );
        }
        _ => {}
    }
    let body = if path.ends_with("/embeddings") {
        json!({"object": "list", "model": model,
            "data": [{"object": "embedding", "embedding": [0.1, 0.2, 0.3], "index": 0}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS}})
    } else if path.ends_with("/moderations") {
        json!({"id": "modr-mock", "model": model, "results": [{"flagged": false,
            "categories": {"sexual": false, "hate": false, "violence": false},
            "category_scores": {"sexual": 0.001, "hate": 0.002, "violence": 0.003}}]})
    } else if path.ends_with("/audio/transcriptions") || path.ends_with("/audio/translations") {
        json!({"text": "transcribed text"})
    } else if path.ends_with("/audio/speech") {
        json!({})
    } else if path.contains("/images/") {
        json!({"created": 1_700_000_000, "data": [{"url": "https://example.com/image.png", "revised_prompt": "a cat"}]})
    } else if path.ends_with("/v1/completions") {
        // OpenAI answers every prompt of a list, `n` times each, and sums the usage.
        let prompts = match request.get("prompt") {
            Some(Value::Array(items)) if !items.iter().all(Value::is_number) => items.len(),
            _ => 1,
        };
        let answers = prompts * request.get("n").and_then(Value::as_u64).unwrap_or(1) as usize;
        let choices: Vec<Value> = (0..answers)
            .map(|i| json!({"text": "poem", "index": i, "finish_reason": "stop"}))
            .collect();
        json!({"id": "cmpl-mock", "object": "text_completion", "created": 1_700_000_000, "model": model,
            "choices": choices, "usage": usage_json(model, completion * answers)})
    } else if path.ends_with("/v1/messages") {
        anthropic::message(model, completion)
    } else if path.ends_with("/v1/responses") {
        responses::answer(model, completion)
    } else if path.ends_with(":embedContent") {
        json!({"embedding": {"values": [0.1, 0.2, 0.3]}})
    } else if path.ends_with(":batchEmbedContents") {
        json!({"embeddings": [{"values": [0.1, 0.2, 0.3]}, {"values": [0.4, 0.5, 0.6]}]})
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        gemini::answer(model, completion)
    } else if path.ends_with("/chat/completions") {
        json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": usage_json(model, completion)
        })
    } else {
        return (
            StatusCode::NOT_FOUND,
            openai_error("Unknown path", "invalid_request_error", "not_found"),
        );
    };
    let mut body = body;
    crate::fees::annotate(path, model, request, &mut body);
    if model == "mock-nousage"
        && let Some(o) = body.as_object_mut()
    {
        o.remove("usage");
    }
    if model == "mock-tool-use" {
        if let Some(usage) = body.get_mut("usageMetadata") {
            usage["toolUsePromptTokenCount"] = json!(TOOL_USE_TOKENS);
            let total = usage["totalTokenCount"].as_i64().unwrap_or(0);
            usage["totalTokenCount"] = json!(total + TOOL_USE_TOKENS);
        } else if path.ends_with("/v1/messages")
            && let Some(usage) = body.get_mut("usage")
        {
            usage["server_tool_use"] = json!({"web_search_requests": WEB_SEARCHES});
        }
    }
    (StatusCode::OK, body)
}
