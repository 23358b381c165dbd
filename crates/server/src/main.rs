use server::{Application, Settings};

/// mimalloc: the relay allocates and frees many small buffers per call, which glibc's
/// allocator spent about a sixth of the gateway's CPU on (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = Settings::load();
    server::init_logging(settings.as_ref().map(|s| s.log.format).unwrap_or_default());
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("configuration error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(port = app.port(), "listening; API docs at /docs/");
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
