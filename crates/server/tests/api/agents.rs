//! Real coding-agent CLIs against the gateway: Claude Code (`claude -p`), Codex (`codex exec`)
//! and Gemini CLI (`gemini -p`), pinned in `scripts/agents/package.json` and installed by
//! `scripts/agents/install.sh`. Each CLI runs one prompt on a model of its own format's channel
//! and one on a model of another format's channel (converted), both mapped to the mock's
//! `mock-tool`: it calls a tool the CLI offers, the CLI runs it in a scratch directory and sends
//! the result back, and the mock answers with text. Every run must exit 0, carry the tool's
//! output upstream and be billed. Each CLI gets a fresh HOME and config directory, with
//! telemetry and update checks off. CI installs the CLIs and sets `TEST_AGENT_CLIS=1`, which
//! makes a missing CLI a failure; elsewhere a test is skipped when its CLI is missing.

use crate::helpers::{Backend, TestApp, run};
use mock_upstream::tools::answered;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long one CLI run may take.
const TIMEOUT: Duration = Duration::from_secs(120);
const PROMPT: &str = "List the files in this directory, then say done.";
/// A file of the scratch work directory; the listing the tool returns must name it.
const MARKER: &str = "AGENT_MARKER_NOTES.md";

/// The CLI's launcher in `scripts/agents`, or `None` (skipped) when it is not installed; with
/// `TEST_AGENT_CLIS` set, a missing CLI fails.
fn agent_cli(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/agents/node_modules/.bin")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("TEST_AGENT_CLIS").is_err(),
        "TEST_AGENT_CLIS is set but {} is missing: run scripts/agents/install.sh",
        path.display()
    );
    eprintln!("{name} not installed (scripts/agents/install.sh); agent CLI test skipped");
    None
}

/// A scratch directory, removed on drop: `home` (HOME and the CLI's config) and `work` (the
/// directory the CLI runs in, holding [`MARKER`]).
struct Scratch(PathBuf);

impl Scratch {
    fn new(cli: &str) -> Scratch {
        let name = domain::keys::random_alphanumeric(10).to_lowercase();
        let root = std::env::temp_dir().join(format!("gw_agent_{cli}_{name}"));
        let scratch = Scratch(root);
        for dir in [scratch.home(), scratch.work()] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(scratch.work().join(MARKER), "# Notes\n").unwrap();
        scratch
    }

    fn home(&self) -> PathBuf {
        self.0.join("home")
    }

    fn work(&self) -> PathBuf {
        self.0.join("work")
    }

    /// Writes `text` to `path` under `home`.
    fn config(&self, path: &str, text: &str) {
        let file = self.home().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A user's key; each `(channel type, model)` gets a channel of that type serving the model as
/// the mock's `mock-tool`, and a price.
async fn setup(app: &TestApp, models: &[(i64, &str)]) -> String {
    let (_, key, _) = app.relay_setup(1_000_000_000).await;
    let root = app.root().await;
    let mut ratios = serde_json::Map::new();
    for (channel_type, model) in models {
        let mapping = json!({*model: "mock-tool"}).to_string();
        app.create_channel(
            &root,
            json!({"type": channel_type, "models": model, "model_mapping": mapping}),
        )
        .await;
        ratios.insert((*model).to_owned(), json!(1));
    }
    app.set_option(&root, "ModelRatio", &Value::Object(ratios).to_string())
        .await;
    key
}

/// Runs `cli` with `args` in the scratch work directory, with only PATH of this environment
/// plus `envs`; returns its output, failing unless it exits 0 within [`TIMEOUT`].
async fn run_cli(cli: &Path, args: &[&str], envs: &[(&str, String)], scratch: &Scratch) -> String {
    let home = scratch.home();
    let mut cmd = tokio::process::Command::new(cli);
    cmd.args(args)
        .current_dir(scratch.work())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let Ok(out) = tokio::time::timeout(TIMEOUT, child.wait_with_output()).await else {
        // The npm launchers start the real binary as a child: end the whole group.
        if let Some(pid) = pid {
            let group = format!("-{pid}");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
        }
        panic!("{} {args:?} timed out after {TIMEOUT:?}", cli.display());
    };
    let out = out.unwrap();
    let output = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{output}",
        cli.display(),
        out.status
    );
    output
}

/// Checks a CLI's run on `model`, whose upstream requests are the mock's from index `from` on:
/// at a path containing `path`, one offered tools and got the call, a later one carried the
/// tool's output (naming [`MARKER`]); and every call on `model` was billed.
async fn assert_round_trip(app: &TestApp, from: usize, model: &str, path: &str, output: &str) {
    let seen = app.mock.seen();
    let runs: Vec<&Value> = seen[from..]
        .iter()
        .filter(|s| s.path.contains(path))
        .map(|s| &s.body)
        .collect();
    let trace: Vec<String> = seen[from..]
        .iter()
        .map(|s| format!("{} (tool result: {})", s.path, answered(&s.body)))
        .collect();
    let context = format!("{model}: upstream saw {trace:#?}\n{output}");
    let called = runs
        .iter()
        .find(|b| !answered(b) && b.get("tools").is_some())
        .unwrap_or_else(|| panic!("no request offering tools at {path}; {context}"));
    let result = runs
        .iter()
        .find(|b| answered(b))
        .unwrap_or_else(|| panic!("no request carrying the tool result at {path}; {context}"));
    // The result lists the work directory (a sandbox that cannot run the command fails here).
    let mentions = |b: &Value| b.to_string().matches(MARKER).count();
    assert!(
        mentions(result) > mentions(called),
        "the tool result does not list {MARKER}: {}\n{context}",
        result
    );
    let logs = app.consume_logs().await;
    let billed: Vec<i64> = logs
        .iter()
        .filter(|l| l["model_name"] == model)
        .map(|l| l["quota"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        billed.len() >= 2 && billed.iter().all(|q| *q > 0),
        "{model}: expected 2+ billed calls, consume logs give quotas {billed:?}; {context}"
    );
}

/// Claude Code on an Anthropic channel and on an OpenAI one (Messages converted to chat).
async fn claude_code_round_trips(app: TestApp) {
    let Some(cli) = agent_cli("claude") else {
        return;
    };
    let cases = [
        (14, "claude-sonnet-4-5", "/v1/messages"),
        (1, "claude-haiku-4-5", "/v1/chat/completions"),
    ];
    let key = setup(&app, &cases.map(|(t, m, _)| (t, m))).await;
    for (_, model, path) in cases {
        let scratch = Scratch::new("claude");
        let from = app.mock.seen().len();
        let envs = [
            ("ANTHROPIC_BASE_URL", app.address.clone()),
            ("ANTHROPIC_API_KEY", key.clone()),
            ("ANTHROPIC_MODEL", model.to_owned()),
            ("ANTHROPIC_SMALL_FAST_MODEL", model.to_owned()),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", model.to_owned()),
            // Keeps an older model from being replaced by the newest of its family.
            ("CLAUDE_CODE_DISABLE_LEGACY_MODEL_REMAP", "1".to_owned()),
            (
                "CLAUDE_CONFIG_DIR",
                scratch.home().join(".claude").display().to_string(),
            ),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
            ("DISABLE_AUTOUPDATER", "1".to_owned()),
            ("DISABLE_TELEMETRY", "1".to_owned()),
            ("DISABLE_ERROR_REPORTING", "1".to_owned()),
        ];
        let args = ["-p", PROMPT, "--model", model, "--allowedTools", "Bash(ls)"];
        let output = run_cli(&cli, &args, &envs, &scratch).await;
        assert_round_trip(&app, from, model, path, &output).await;
    }
}

/// Codex on an OpenAI channel (Responses, native) and on an Anthropic one (converted).
async fn codex_round_trips(app: TestApp) {
    let Some(cli) = agent_cli("codex") else {
        return;
    };
    let cases = [
        (1, "gpt-5-codex", "/v1/responses"),
        (14, "gpt-5-codex-mini", "/v1/messages"),
    ];
    let key = setup(&app, &cases.map(|(t, m, _)| (t, m))).await;
    for (_, model, path) in cases {
        let scratch = Scratch::new("codex");
        let from = app.mock.seen().len();
        let config = format!(
            r#"model = "{model}"
model_provider = "gw"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.gw]
name = "gateway"
base_url = "{}/v1"
env_key = "GW_KEY"
wire_api = "responses"

[analytics]
enabled = false
"#,
            app.address
        );
        scratch.config(".codex/config.toml", &config);
        let envs = [
            (
                "CODEX_HOME",
                scratch.home().join(".codex").display().to_string(),
            ),
            ("GW_KEY", key.clone()),
        ];
        let args = [
            "exec",
            "--skip-git-repo-check",
            "--sandbox",
            "read-only",
            PROMPT,
        ];
        let output = run_cli(&cli, &args, &envs, &scratch).await;
        assert_round_trip(&app, from, model, path, &output).await;
    }
}

/// Gemini CLI on a Gemini channel and on an OpenAI one (converted).
async fn gemini_cli_round_trips(app: TestApp) {
    let Some(cli) = agent_cli("gemini") else {
        return;
    };
    let cases = [
        (24, "gemini-2.5-pro", "/models/mock-tool:"),
        (1, "gemini-2.5-flash", "/v1/chat/completions"),
    ];
    let key = setup(&app, &cases.map(|(t, m, _)| (t, m))).await;
    for (_, model, path) in cases {
        let scratch = Scratch::new("gemini");
        let from = app.mock.seen().len();
        // An API key, not the "gateway" auth GOOGLE_GEMINI_BASE_URL implies: the CLI's own
        // check rejects that one ("Invalid auth method selected.").
        let settings = json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": false},
            "telemetry": {"enabled": false},
            "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
        });
        scratch.config(".gemini/settings.json", &settings.to_string());
        let envs = [
            ("GOOGLE_GEMINI_BASE_URL", app.address.clone()),
            ("GEMINI_API_KEY", key.clone()),
            ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_owned()),
            ("GEMINI_TELEMETRY_ENABLED", "false".to_owned()),
        ];
        let output = run_cli(&cli, &["-p", PROMPT, "-m", model], &envs, &scratch).await;
        assert_round_trip(&app, from, model, path, &output).await;
    }
}

// SQLite only: the CLIs exercise the relay, not the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code() {
    run(Backend::Sqlite, claude_code_round_trips).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex() {
    run(Backend::Sqlite, codex_round_trips).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli() {
    run(Backend::Sqlite, gemini_cli_round_trips).await;
}
