#!/usr/bin/env bash
# Measures what the guard costs: the example's GET /items (a JWT verified locally, the permission
# items:read checked) against a bare axum route returning the same JSON with no authentication,
# both when the bare route gets no credential and when it is sent the same Authorization header
# (and ignores it): the second isolates the guard's own work from the request's larger size.
#
#   crates/guard/bench.sh                 # release builds, 5 rounds of 10 s each, 32 connections
#   ROUNDS=5 DURATION=20s CONNECTIONS=64 crates/guard/bench.sh
#   BOUNCER_BIN=/path/to/bouncer crates/guard/bench.sh   # use that Bouncer instead of building one
#
# Each app runs on one tokio worker pinned to CPU 0 (taskset), wrk on CPU 1; Bouncer itself is
# only asked for a token and the key set before the runs. Needs wrk, curl, python3, taskset.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
APP_CPU=${APP_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
ADMIN_PASSWORD='Bench-admin-password-1'

for tool in wrk curl python3 taskset; do
    command -v "$tool" >/dev/null || { echo "bench.sh needs $tool" >&2; exit 2; }
done

cd "$ROOT"
cargo build --release -p bouncer-guard --example items_api --example items_bare
if [ -z "${BOUNCER_BIN:-}" ]; then
    cargo build --release -p bouncer --bin bouncer
    BOUNCER_BIN=target/release/bouncer
fi

# Private copies: others may rebuild target/ meanwhile.
WORK=$(mktemp -d /tmp/bouncer-guard-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cp "$BOUNCER_BIN" "$WORK/bouncer"
cp target/release/examples/items_api target/release/examples/items_bare "$WORK/"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # url
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    exit 1
}
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

BOUNCER_PORT=$(free_port)
BOUNCER="http://127.0.0.1:$BOUNCER_PORT"
env BOUNCER_LISTEN="127.0.0.1:$BOUNCER_PORT" BOUNCER_DATABASE_URL="sqlite://$WORK/bouncer.db" \
    BOUNCER_ADMIN_PASSWORD="$ADMIN_PASSWORD" RUST_LOG=warn "$WORK/bouncer" serve 2>"$WORK/bouncer.log" &
PIDS+=($!)
wait_for "$BOUNCER/readyz"
TOKEN=$(curl -s "$BOUNCER/oauth2/token" -d grant_type=password -d username=admin \
    -d "password=$ADMIN_PASSWORD" | json access_token)

GUARDED_PORT=$(free_port)
BARE_PORT=$(free_port)
env TOKIO_WORKER_THREADS=1 BOUNCER_URL="$BOUNCER" LISTEN="127.0.0.1:$GUARDED_PORT" \
    taskset -c "$APP_CPU" "$WORK/items_api" &
PIDS+=($!)
env TOKIO_WORKER_THREADS=1 LISTEN="127.0.0.1:$BARE_PORT" taskset -c "$APP_CPU" "$WORK/items_bare" &
PIDS+=($!)
GUARDED="http://127.0.0.1:$GUARDED_PORT/items"
BARE="http://127.0.0.1:$BARE_PORT/items"
wait_for "$GUARDED"
wait_for "$BARE"

# Same body, and the guard really guards.
[ "$(curl -s -H "Authorization: Bearer $TOKEN" "$GUARDED")" = "$(curl -s "$BARE")" ] \
    || { echo "the two apps answer differently" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$GUARDED")" = 401 ] \
    || { echo "the guarded app answers without a token" >&2; exit 1; }
echo "body: $(curl -s "$BARE")"

rps() { # url [header]
    local out
    if [ $# -gt 1 ]; then
        out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "$2" "$1")
    else
        out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$1")
    fi
    if echo "$out" | grep -q 'Non-2xx'; then
        echo "non-2xx answers during the run: $out" >&2
        exit 1
    fi
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}

# Warm both (connections, the guard's verified-token cache).
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "$BARE" >/dev/null
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" "$GUARDED" >/dev/null

BARE_RUNS=()
HEADER_RUNS=()
GUARDED_RUNS=()
for round in $(seq 1 "$ROUNDS"); do
    # Odd rounds bare first, even rounds guarded first: drift in the machine's load cancels out.
    if [ $((round % 2)) = 1 ]; then
        b=$(rps "$BARE")
        h=$(rps "$BARE" "Authorization: Bearer $TOKEN")
        g=$(rps "$GUARDED" "Authorization: Bearer $TOKEN")
    else
        g=$(rps "$GUARDED" "Authorization: Bearer $TOKEN")
        h=$(rps "$BARE" "Authorization: Bearer $TOKEN")
        b=$(rps "$BARE")
    fi
    BARE_RUNS+=("$b")
    HEADER_RUNS+=("$h")
    GUARDED_RUNS+=("$g")
    echo "round $round: bare $b req/s, bare sent the same header $h req/s, guarded $g req/s"
done

python3 - "${BARE_RUNS[*]}" "${HEADER_RUNS[*]}" "${GUARDED_RUNS[*]}" <<'EOF'
import statistics, sys
bare, header, guarded = ([float(x) for x in arg.split()] for arg in sys.argv[1:4])
b, h, g = statistics.median(bare), statistics.median(header), statistics.median(guarded)
print(f"median: bare {b:,.0f} req/s; bare sent the same Authorization header {h:,.0f} req/s; "
      f"guarded (local JWT verification) {g:,.0f} req/s")
print(f"ratio of the medians: guarded/bare {g / b:.2f} (goal >= 0.80), guarded/bare with the header {g / h:.2f}")
# Rounds measured side by side share the machine's load of the moment: their ratios are steadier.
rb = statistics.median(x / y for x, y in zip(guarded, bare))
rh = statistics.median(x / y for x, y in zip(guarded, header))
print(f"median of the rounds' ratios: guarded/bare {rb:.2f}, guarded/bare with the header {rh:.2f}")
EOF
