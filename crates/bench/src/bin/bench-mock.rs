//! The mock upstream for benchmarks: counts calls, records nothing.
//! Usage: bench-mock --listen 127.0.0.1:9100
use bench::arg;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mock =
        mock_upstream::MockUpstream::start_on(&arg(&args, "--listen", "127.0.0.1:9100"), true)
            .await?;
    println!("mock listening on {}", mock.url());
    std::future::pending::<()>().await;
    Ok(())
}
