//! Benchmark tools (`scripts/bench.sh` drives them): a quiet mock upstream, a bare
//! pass-through proxy on the gateway's own hyper stack (the lower bound), and a closed-loop load
//! generator.

/// The value of `--name` in `args`, or `default`.
pub fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}
