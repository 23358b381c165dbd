#!/usr/bin/env bash
# The OpenAPI contract, checked as a front-end team would check it:
#   1. docs/openapi.json is valid OpenAPI 3.1 (openapi-spec-validator);
#   2. schemathesis, driven by that document alone, fuzzes every `/api` operation of a freshly
#      started server as an ordinary user and as the root user, and the relay's own read
#      operations (models, billing) with an API key, with all of its checks at their default
#      expectations (scripts/schemathesis.toml); any finding fails. The relay's POST operations
#      take the providers' own bodies and pass them upstream: they are held to the document
#      checks of the test suite, not fuzzed (docs/decisions.md);
#   3. a TypeScript client generated from the document (scripts/contract-client) type-checks
#      with `tsc --strict` and runs against the server (before the fuzzing, which changes
#      options).
# Tool versions are pinned in scripts/contract-requirements.txt and scripts/contract-client.
# CONTRACT_MAX_EXAMPLES bounds schemathesis' examples per operation (default 50), CONTRACT_SEED
# picks the random seed (default 1, so CI is repeatable; try others to explore).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r scripts/contract-requirements.txt
openapi-spec-validator docs/openapi.json

cargo build --locked --quiet -p server --bin server
target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
work="$(mktemp -d)"
port="${CONTRACT_PORT:-3907}"
base="http://127.0.0.1:$port"
root_password="contract-$RANDOM-root"
APP__SERVER__PORT="$port" APP__SERVER__HOST=127.0.0.1 \
  APP__DATABASE__URL="sqlite://$work/gateway.db" \
  APP__BOOTSTRAP__ROOT_PASSWORD="$root_password" APP__SECURITY__BCRYPT_COST=4 \
  APP__SERVER__API_RATE_LIMIT=0 APP__SERVER__CRITICAL_RATE_LIMIT=0 \
  RUST_LOG=warn "$target_dir/debug/server" >"$work/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$base/api/status" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/api/status" >/dev/null || { cat "$work/server.log"; exit 1; }

# The typed client first: the fuzzing below changes options (it may turn password login
# off). It makes its own access token, so the fuzzing's tokens are made after it.
GATEWAY_URL="$base" ROOT_USERNAME=root ROOT_PASSWORD="$root_password" scripts/contract-client/run.sh

# Logs in; prints "<user id> <access token>".
access_token() {
  local jar="$work/$1.cookies" id token
  id="$(curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$base/api/user/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')"
  token="$(curl -fsS -b "$jar" -H "New-Api-User: $id" "$base/api/user/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')"
  echo "$id $token"
}
read -r root_id root_token < <(access_token root "$root_password")
user_password="contract-user-1"
curl -fsS -H 'content-type: application/json' \
  -d "{\"username\":\"contract\",\"password\":\"$user_password\"}" "$base/api/user/register" >/dev/null
read -r user_id user_token < <(access_token contract "$user_password")

seed="${CONTRACT_SEED:-1}"
echo "schemathesis seed: $seed"
st_run() {
  local name="$1"
  shift
  echo "schemathesis: $name"
  st --config-file scripts/schemathesis.toml run docs/openapi.json --url "$base" \
    --max-examples "${CONTRACT_MAX_EXAMPLES:-50}" --seed "$seed" --no-color "$@" ||
    { echo "schemathesis found problems ($name); server log tail:"; tail -50 "$work/server.log"; exit 1; }
}

# The relay's read operations, with a key of the root user and a channel for it to list.
api() {
  curl -fsS -H "Authorization: Bearer $root_token" -H "New-Api-User: $root_id" \
    -H 'content-type: application/json' -d "$2" "$base$1"
}
api /api/channel '{"name":"contract","type":1,"key":"sk-contract","base_url":"http://127.0.0.1:9","models":"gpt-4o-mini,gpt-4o"}' >/dev/null
api_key="$(api /api/token '{"name":"contract","unlimited_quota":true}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["key"])')"
st_run "relay reads with an API key" --exclude-path-regex '^/api/' --exclude-method POST \
  -H "Authorization: Bearer $api_key"
# The ordinary user first (the root user's run may ban or delete them), without deleting their
# own account midway, which would leave the rest of the run nothing but 401s; that operation
# then runs on its own, last.
user_auth=(-H "Authorization: Bearer $user_token" -H "New-Api-User: $user_id")
root_auth=(-H "Authorization: Bearer $root_token" -H "New-Api-User: $root_id")
st_run "/api as an ordinary user" --include-path-regex '^/api/' "${user_auth[@]}" \
  --exclude-operation-id delete_self
st_run "/api as the root user" --include-path-regex '^/api/' "${root_auth[@]}"
st_run "an ordinary user deleting their account" "${user_auth[@]}" --include-operation-id delete_self

echo "contract: ok"
