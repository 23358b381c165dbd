#!/usr/bin/env bash
# Installs the coding-agent CLIs the API suite runs (crates/server/tests/api/agents.rs) into
# scripts/agents/node_modules, exactly as package-lock.json pins them. Idempotent: it does
# nothing when the installed tree already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.install-stamp
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$lock_sum" ]] \
    && [[ -x node_modules/.bin/claude && -x node_modules/.bin/codex && -x node_modules/.bin/gemini ]]; then
    echo "agent CLIs already installed"
    exit 0
fi
npm ci --no-audit --no-fund
echo "$lock_sum" > "$stamp"
./node_modules/.bin/claude --version
./node_modules/.bin/codex --version
echo "gemini $(./node_modules/.bin/gemini --version)"
