#!/usr/bin/env bash
# The relay benchmark: a quiet mock upstream, the bare hyper proxy (lower bound) and the
# gateway (real key, channel and billing on SQLite), each driven by the repo's own closed-loop
# load generator. Mock and load generator run on core 0, proxy and gateway on core 1.
# Prints one Markdown table. Usage: scripts/bench.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-5}"
cargo build --release --locked -p server -p bench >&2
BIN=target/release
WORK="$(mktemp -d)"
MOCK=127.0.0.1:19100 PROXY=127.0.0.1:19200 GW=127.0.0.1:19300
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true

taskset -c 0 "$BIN/bench-mock" --listen "$MOCK" >/dev/null & PIDS+=($!)
taskset -c 1 "$BIN/bare-proxy" --listen "$PROXY" --upstream "http://$MOCK" >/dev/null & PROXY_PID=$!; PIDS+=($!)
APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="${GW##*:}" APP__DATABASE__URL="sqlite://$WORK/gw.db" \
  APP__BOOTSTRAP__ROOT_PASSWORD=benchpass123 RUST_LOG=warn \
  taskset -c 1 "$BIN/server" >"$WORK/server.log" 2>&1 & GW_PID=$!; PIDS+=($!)
for addr in "$MOCK" "$PROXY" "$GW"; do
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && break; sleep 0.1; done
done

# A channel to the mock and a key, through the management API.
JAR="$WORK/cookies"
curl -sf -c "$JAR" -H 'content-type: application/json' -d '{"username":"root","password":"benchpass123"}' "http://$GW/api/user/login" >/dev/null
api() { curl -sf -b "$JAR" -H 'New-Api-User: 1' -H 'content-type: application/json' -X "$1" -d "$3" "http://$GW$2"; }
api POST /api/channel "{\"name\":\"mock\",\"type\":1,\"key\":\"sk-mock\",\"base_url\":\"http://$MOCK\",\"models\":\"gpt-4o,mock-hold,claude-on-openai\"}" >/dev/null
# Anthropic Messages: natively to an Anthropic channel, converted to the OpenAI one.
api POST /api/channel "{\"name\":\"claude\",\"type\":14,\"key\":\"sk-mock\",\"base_url\":\"http://$MOCK\",\"models\":\"claude-native\"}" >/dev/null
api PUT /api/option '{"ModelRatio":"{\"mock-hold\":1,\"claude-native\":1,\"claude-on-openai\":1}"}' >/dev/null
KEY="$(api POST /api/token '{"name":"bench","unlimited_quota":true}' | sed -E 's/.*"key":"([^"]+)".*/\1/')"
sleep 1

TCK="$(getconf CLK_TCK)"
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$2"; }

declare -A P50 P99
run() { # name url pid stream connections [mode label] [loadgen arguments]
  local before after out reqs cpu label="${6:-}"
  local extra=("${@:7}")
  [ "$3" != - ] && before="$(ticks "$3")"
  out="$(taskset -c 0 "$BIN/loadgen" --url "http://$2" --key "$KEY" --stream "$4" --connections "$5" --seconds "$SECS" "${extra[@]}")"
  reqs="$(field requests "$out")"
  cpu="-"
  if [ "$3" != - ] && [ "$reqs" -gt 0 ]; then
    after="$(ticks "$3")"
    cpu="$(awk -v t=$((after - before)) -v r="$reqs" -v h="$TCK" 'BEGIN{printf "%.1f", t * 1e6 / h / r}')"
  fi
  local key="$4/$5/${label:-openai}"
  local p50 p99 add50="-" add99="-"
  p50="$(field p50_us "$out")"; p99="$(field p99_us "$out")"
  if [ "$1" = mock ]; then P50[$key]=$p50; P99[$key]=$p99; else
    add50="$(awk -v a="$p50" -v b="${P50[$key]}" 'BEGIN{printf "%.3f", (a-b)/1000}')"
    add99="$(awk -v a="$p99" -v b="${P99[$key]}" 'BEGIN{printf "%.3f", (a-b)/1000}')"
  fi
  local mode=non-stream; [ "$4" = true ] && mode="stream (12 chunks)"
  [ -n "$label" ] && mode="$label"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$mode" "$5" "$(field rps "$out")" \
    "$(awk -v a="$p50" 'BEGIN{printf "%.3f", a/1000}')" "$(awk -v a="$p99" 'BEGIN{printf "%.3f", a/1000}')" "$add50" "$add99" "$cpu"
}

IDLE_RSS="$(rss_kb "$GW_PID")"
echo "| target | mode | connections | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU us/req |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mode in "false 1" "false 16" "false 32" "true 1" "true 16" "true 32"; do
  set -- $mode
  run mock "$MOCK" - "$1" "$2"
  run proxy "$PROXY" "$PROXY_PID" "$1" "$2"
  run gateway "$GW" "$GW_PID" "$1" "$2"
done

# Anthropic Messages streams: the mock's own, through the bare proxy, through the gateway to an
# Anthropic channel (pass-through) and to an OpenAI channel (converted both ways). The converted
# run's added latency is against the Anthropic mock's.
for conns in 1 16; do
  label="Anthropic stream"
  run mock "$MOCK" - true "$conns" "$label" --dialect anthropic --model claude-native
  run proxy "$PROXY" "$PROXY_PID" true "$conns" "$label" --dialect anthropic --model claude-native
  run gateway "$GW" "$GW_PID" true "$conns" "$label" --dialect anthropic --model claude-native
  run "gateway (converted to OpenAI)" "$GW" "$GW_PID" true "$conns" "$label" --dialect anthropic --model claude-on-openai
done

# Durable billing: the gateway with APP__SERVER__BILLING_DURABILITY=sync (each answer's end
# waits for its bill's group commit), on its own SQLite file.
GWD=127.0.0.1:19310
APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="${GWD##*:}" APP__DATABASE__URL="sqlite://$WORK/durable.db" \
  APP__SERVER__BILLING_DURABILITY=sync APP__BOOTSTRAP__ROOT_PASSWORD=benchpass123 RUST_LOG=warn \
  taskset -c 1 "$BIN/server" >"$WORK/durable.log" 2>&1 & GWD_PID=$!; PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${GWD%:*}/${GWD##*:}") 2>/dev/null && break; sleep 0.1; done
JARD="$WORK/cookies-durable"
curl -sf -c "$JARD" -H 'content-type: application/json' -d '{"username":"root","password":"benchpass123"}' "http://$GWD/api/user/login" >/dev/null
apid() { curl -sf -b "$JARD" -H 'New-Api-User: 1' -H 'content-type: application/json' -X "$1" -d "$3" "http://$GWD$2"; }
apid POST /api/channel "{\"name\":\"mock\",\"type\":1,\"key\":\"sk-mock\",\"base_url\":\"http://$MOCK\",\"models\":\"gpt-4o\"}" >/dev/null
KEY_MAIN="$KEY"
KEY="$(apid POST /api/token '{"name":"bench","unlimited_quota":true}' | sed -E 's/.*"key":"([^"]+)".*/\1/')"
sleep 1
echo
echo "| target | mode | connections | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU us/req |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mode in "false 1" "false 16" "true 16"; do
  set -- $mode
  run "gateway (durable billing)" "$GWD" "$GWD_PID" "$1" "$2"
done
KEY="$KEY_MAIN"

# Two instances sharing balances through Redis (when BENCH_REDIS_URL is set): both on one
# database and one Redis, each driven with half the connections; CPU is both processes' per
# call, to compare with the single instance without Redis above.
if [ -n "${BENCH_REDIS_URL:-}" ]; then
  GWA=127.0.0.1:19301 GWB=127.0.0.1:19302
  redis-cli -u "$BENCH_REDIS_URL" --scan --pattern 'gateway:*' 2>/dev/null | xargs -r redis-cli -u "$BENCH_REDIS_URL" del >/dev/null 2>&1 || true
  for addr in "$GWA" "$GWB"; do
    APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="${addr##*:}" APP__DATABASE__URL="sqlite://$WORK/shared.db" \
      APP__REDIS__URL="$BENCH_REDIS_URL" APP__BOOTSTRAP__ROOT_PASSWORD=benchpass123 RUST_LOG=warn \
      taskset -c 1 "$BIN/server" >>"$WORK/shared.log" 2>&1 & PIDS+=($!)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && break; sleep 0.1; done
  done
  PID_A="${PIDS[-2]}" PID_B="${PIDS[-1]}"
  JAR2="$WORK/cookies2"
  curl -sf -c "$JAR2" -H 'content-type: application/json' -d '{"username":"root","password":"benchpass123"}' "http://$GWA/api/user/login" >/dev/null
  api2() { curl -sf -b "$JAR2" -H 'New-Api-User: 1' -H 'content-type: application/json' -X "$1" -d "$3" "http://$GWA$2"; }
  api2 POST /api/channel "{\"name\":\"mock\",\"type\":1,\"key\":\"sk-mock\",\"base_url\":\"http://$MOCK\",\"models\":\"gpt-4o\"}" >/dev/null
  KEY2="$(api2 POST /api/token '{"name":"bench","unlimited_quota":true}' | sed -E 's/.*"key":"([^"]+)".*/\1/')"
  sleep 1
  echo
  echo "| target | mode | connections | req/s | p50 ms | p99 ms | CPU us/req (both) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for mode in "false 16" "true 16"; do
    set -- $mode
    half=$(( $2 / 2 ))
    a0="$(ticks "$PID_A")"; b0="$(ticks "$PID_B")"
    taskset -c 0 "$BIN/loadgen" --url "http://$GWA" --key "$KEY2" --stream "$1" --connections "$half" --seconds "$SECS" >"$WORK/a.out" &
    LA=$!
    taskset -c 0 "$BIN/loadgen" --url "http://$GWB" --key "$KEY2" --stream "$1" --connections "$half" --seconds "$SECS" >"$WORK/b.out"
    wait "$LA"
    a1="$(ticks "$PID_A")"; b1="$(ticks "$PID_B")"
    oa="$(cat "$WORK/a.out")"; ob="$(cat "$WORK/b.out")"
    reqs=$(( $(field requests "$oa") + $(field requests "$ob") ))
    cpu="$(awk -v t=$(( a1 - a0 + b1 - b0 )) -v r="$reqs" -v h="$TCK" 'BEGIN{printf "%.1f", t * 1e6 / h / r}')"
    rps="$(awk -v a="$(field rps "$oa")" -v b="$(field rps "$ob")" 'BEGIN{printf "%.0f", a + b}')"
    mode_name=non-stream; [ "$1" = true ] && mode_name="stream (12 chunks)"
    printf '| two gateways + Redis | %s | %s | %s | %s | %s | %s |\n' "$mode_name" "$2" "$rps" \
      "$(awk -v a="$(field p50_us "$oa")" 'BEGIN{printf "%.3f", a/1000}')" "$(awk -v a="$(field p99_us "$oa")" 'BEGIN{printf "%.3f", a/1000}')" "$cpu"
  done
fi

# 1,000 concurrent slow streams held open through the gateway.
BEFORE_RSS="$(rss_kb "$GW_PID")"
HOLD_OUT="$WORK/hold.out"
taskset -c 0 "$BIN/loadgen" --url "http://$GW" --key "$KEY" --stream true --model mock-hold --hold 1000 --seconds 4 >"$HOLD_OUT" &
HOLD_PID=$!
for _ in $(seq 1 300); do grep -q holding "$HOLD_OUT" 2>/dev/null && break; sleep 0.1; done
sleep 1
HOLD_RSS="$(rss_kb "$GW_PID")"
wait "$HOLD_PID" || true
echo
echo "gateway RSS: idle ${IDLE_RSS} KB, after the runs ${BEFORE_RSS} KB, with $(sed -E 's/holding //' "$HOLD_OUT") open streams ${HOLD_RSS} KB" \
  "($(awk -v a="$HOLD_RSS" -v b="$BEFORE_RSS" 'BEGIN{printf "%.1f", (a-b)/1000}') KB per stream)"
