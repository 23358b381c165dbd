//! The official `openai` Python SDK against the gateway (`scripts/sdk_check.py`). It needs
//! python3 with the `openai` package: CI installs it and sets `TEST_OPENAI_SDK=1`, which makes
//! its absence a failure; elsewhere the check is skipped when the package is missing.

use crate::helpers::TestApp;
use serde_json::json;

fn sdk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn official_python_sdk_works(app: TestApp) {
    if !sdk_available() {
        assert!(
            std::env::var("TEST_OPENAI_SDK").is_err(),
            "TEST_OPENAI_SDK is set but python3 cannot import openai"
        );
        eprintln!("python3 openai package not installed; SDK check skipped");
        return;
    }
    let (_, key, _) = app.relay_setup(10_000_000).await;
    let root = app.root().await;
    app.create_channel(
        &root,
        json!({"models": "gpt-3.5-turbo-instruct,text-embedding-3-small,omni-moderation-latest,dall-e-3,dall-e-2,whisper-1,tts-1"}),
    )
    .await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sdk_check.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(app.url("/v1"))
        .arg(&key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "sdk_check.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

db_tests!(official_python_sdk_works);
