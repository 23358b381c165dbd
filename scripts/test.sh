#!/usr/bin/env bash
# Runs what CI runs: formatting, lints, and the whole test suite.
# The API suite always runs on SQLite; it also runs on PostgreSQL and MariaDB/MySQL when
# TEST_POSTGRES_URL / TEST_MYSQL_URL are set, and uses Redis when TEST_REDIS_URL is set; then it
# runs the relay's embedding example.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
# The embedding example: another service's use of the relay crate, run end to end.
cargo run --locked --quiet -p relay --example embed
