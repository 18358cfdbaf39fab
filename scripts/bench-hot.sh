#!/usr/bin/env bash
# The hot path (docs/benchmarks.md, "Hot path"): requests/s of Bouncer's /healthz, /users/me
# (bearer JWT) and /users/me (API key) against a bare axum server's /healthz (the limit) and the
# same bare route with Bouncer's response headers (crates/bouncer/examples/bare_axum.rs), one core
# each. Not a test: the machine is shared, so read the ratios of one run, not absolute values.
#
#   scripts/bench-hot.sh                  # 3 alternating 8-s runs per figure, 64 connections
#   RUNS=5 SECS=10 CONNS=64 scripts/bench-hot.sh
#   PERF=1 scripts/bench-hot.sh           # also a perf profile of each Bouncer route (dwarf call
#                                         # graphs) in target/bench-hot/, of the profiling build
#
# With 2+ cores the servers are pinned to the last core and wrk to the others. Needs wrk, curl,
# python3 (and perf for PERF=1).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECS:-8}
CONNS=${CONNS:-64}
OUT=target/bench-hot
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
profile=release
[ -n "${PERF:-}" ] && profile=profiling
cargo build -q --profile "$profile" -p bouncer --bin bouncer --example bare_axum
BIN=target/$profile/bouncer
BARE=target/$profile/examples/bare_axum
n=$(nproc)
if [ "$n" -ge 2 ] && command -v taskset >/dev/null; then
  server=(taskset -c $((n - 1))); load=(taskset -c 0-$((n - 2)))
else
  server=(); load=()
fi
source scripts/bench/lib.sh
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
rps() { "${load[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" "${@:2}" "$1" | awk '/Requests\/sec/ {print int($2)}'; }

bare_port=$(free_port)
"${server[@]}" "$BARE" "127.0.0.1:$bare_port" & pids+=($!)
port=$(free_port)
password='correct horse battery staple'
bouncer_up "$BIN" "$port" "$password" "${server[@]}"
bouncer_pid=$SERVER
wait_up "http://127.0.0.1:$bare_port/healthz"
token=$(admin_token "$port" "$password")
key=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"name":"bench"}' \
  "http://127.0.0.1:$port/users/me/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

declare -A runs
for _ in $(seq "$RUNS"); do
  runs[bare]+=" $(rps "http://127.0.0.1:$bare_port/healthz")"
  runs[bare_with_headers]+=" $(rps "http://127.0.0.1:$bare_port/headers")"
  runs[healthz]+=" $(rps "http://127.0.0.1:$port/healthz")"
  runs[users_me]+=" $(rps "http://127.0.0.1:$port/users/me" -H "Authorization: Bearer $token")"
  runs[users_me_api_key]+=" $(rps "http://127.0.0.1:$port/users/me" -H "X-API-Key: $key")"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bare=$(echo "${runs[bare]}" | median)
echo "| route | req/s (median of $RUNS) | runs | ÷ bare axum |"
echo "|---|---|---|---|"
for r in bare bare_with_headers healthz users_me users_me_api_key; do
  m=$(echo "${runs[$r]}" | median)
  printf '| %s | %s | %s | %.2f |\n' "$r" "$m" "$(echo "${runs[$r]}" | xargs | tr ' ' '/')" "$(echo "$m $bare" | awk '{print $1/$2}')"
done
if [ -n "${PERF:-}" ]; then
  for r in healthz users_me; do
    h=(); [ "$r" = users_me ] && h=(-H "Authorization: Bearer $token")
    url="http://127.0.0.1:$port/healthz"; [ "$r" = users_me ] && url="http://127.0.0.1:$port/users/me"
    perf record -F 999 --call-graph dwarf,16384 -p "$bouncer_pid" -o "$OUT/perf.$r.data" -- sleep 4 >/dev/null 2>&1 &
    rec=$!
    echo "$r under perf: $(rps "$url" "${h[@]}") req/s; profile in $OUT/perf.$r.data"
    wait "$rec"
  done
fi
