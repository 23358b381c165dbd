//! The official Python SDKs against the gateway: `openai` (`scripts/sdk_check.py`),
//! `anthropic` (`scripts/sdk_anthropic_check.py`) and `google-genai`
//! (`scripts/sdk_gemini_check.py`). They need python3 with the packages: CI installs them and
//! sets `TEST_OPENAI_SDK=1`, `TEST_ANTHROPIC_SDK=1` and `TEST_GEMINI_SDK=1`, which makes a
//! missing package a failure; elsewhere a check is skipped when its package is missing.

use crate::helpers::TestApp;
use serde_json::json;

/// Whether python3 can import `package`; when it cannot and `required_by` is set, fails.
fn sdk_available(package: &str, required_by: &str) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", &format!("import {package}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var(required_by).is_err(),
            "{required_by} is set but python3 cannot import {package}"
        );
        eprintln!("python3 {package} package not installed; SDK check skipped");
    }
    available
}

/// Runs `scripts/<script>` with `args`; fails with its output unless it succeeds.
async fn run_script(script: &str, args: &[&str]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let out = tokio::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn official_python_sdk_works(app: TestApp) {
    if !sdk_available("openai", "TEST_OPENAI_SDK") {
        return;
    }
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"models": "gpt-3.5-turbo-instruct,text-embedding-3-small,omni-moderation-latest,dall-e-3,dall-e-2,whisper-1,tts-1"}),
    )
    .await;
    // Chat on a model an Anthropic or a Gemini channel serves is converted.
    app.create_channel(&root, json!({"type": 14, "models": "claude-3-5-haiku"}))
        .await;
    app.create_channel(&root, json!({"type": 24, "models": "gemini-2.0-flash"}))
        .await;
    let args = [
        &app.url("/v1"),
        key.as_str(),
        "claude-3-5-haiku",
        "gemini-2.0-flash",
    ];
    run_script("sdk_check.py", &args).await;
}

/// A channel of each type serving `{prefix}-{type}` (as `mock-cached`) and
/// `{prefix}-{type}-tool` (as `mock-tool`); the model pairs, one per channel type.
async fn channel_of_each_type(app: &TestApp, prefix: &str) -> Vec<(String, String)> {
    let root = app.root().await;
    let mut pairs = Vec::new();
    let mut ratios = serde_json::Map::new();
    for channel_type in [14, 1, 24] {
        let model = format!("{prefix}-{channel_type}");
        let tool = format!("{model}-tool");
        let mapping = json!({&model: "mock-cached", &tool: "mock-tool"}).to_string();
        app.create_channel(
            &root,
            json!({"type": channel_type, "models": format!("{model},{tool}"), "model_mapping": mapping}),
        )
        .await;
        ratios.insert(model.clone(), json!(1));
        ratios.insert(tool.clone(), json!(1));
        pairs.push((model, tool));
    }
    let ratios = serde_json::Value::Object(ratios).to_string();
    app.set_option(&root, "ModelRatio", &ratios).await;
    pairs
}

/// The `anthropic` SDK on an Anthropic channel (native) and on OpenAI and Gemini channels
/// (converted), tools included.
async fn anthropic_python_sdk_works(app: TestApp) {
    if !sdk_available("anthropic", "TEST_ANTHROPIC_SDK") {
        return;
    }
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let base = app.url("");
    for (model, tool) in channel_of_each_type(&app, "claude").await {
        let args = [base.trim_end_matches('/'), key.as_str(), &model, &tool];
        run_script("sdk_anthropic_check.py", &args).await;
    }
}

/// The `google-genai` SDK on a Gemini channel (native) and on Anthropic and OpenAI channels
/// (converted), function calling included.
async fn gemini_python_sdk_works(app: TestApp) {
    if !sdk_available("google.genai", "TEST_GEMINI_SDK") {
        return;
    }
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let base = app.url("");
    for (model, tool) in channel_of_each_type(&app, "gemini").await {
        let args = [base.trim_end_matches('/'), key.as_str(), &model, &tool];
        run_script("sdk_gemini_check.py", &args).await;
    }
}

db_tests!(
    official_python_sdk_works,
    anthropic_python_sdk_works,
    gemini_python_sdk_works,
);
