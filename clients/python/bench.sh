#!/usr/bin/env bash
# Requests/s of a FastAPI app protected by bouncer-auth (local JWT verification, EdDSA, bench_app.py)
# against the FastAPI tutorial's hand-written HS256 check (/work/shared/bench/peer_fastapi.py, or
# $PEER), same routes (/users/me, /admin-only), one uvicorn worker each, same load (wrk), one run.
# As in the shared bench.py, with 2+ cores the server is pinned to the last core and wrk to the others.
#
#   clients/python/bench.sh                 # 3 alternating 5-s runs per figure, 64 connections
#   ROUNDS=5 SECONDS_PER_RUN=10 CONNS=32 BENCH_NO_CACHE=0 BENCH_ASYNC_PEER=0 clients/python/bench.sh
#
# Bouncer itself ($BOUNCER_BIN, else a copy of target/release/bouncer or target/debug/bouncer) only
# serves the metadata and the keys, once. Nothing here is pass/fail: compare the ratios.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
peer="${PEER:-/work/shared/bench/peer_fastapi.py}"
secs="${SECONDS_PER_RUN:-5}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-64}"
password='correct horse battery staple'

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ -f "$peer" ] || { echo "the tutorial app $peer is missing (set PEER)" >&2; exit 1; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$here[fastapi]" uvicorn "pwdlib[argon2]" python-multipart

tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

bin="${BOUNCER_BIN:-}"
if [ -z "$bin" ]; then
    for b in "$root/target/release/bouncer" "$root/target/debug/bouncer"; do
        if [ -x "$b" ]; then cp "$b" "$tmp/bouncer"; bin="$tmp/bouncer"; break; fi
    done
fi
[ -n "$bin" ] || { echo "no Bouncer binary: cargo build -p bouncer --bin bouncer, or set BOUNCER_BIN" >&2; exit 1; }

port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
ncpu="$(nproc)"
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c "$((ncpu - 1))"); load_cpu=(taskset -c "0-$((ncpu - 2))")
else
    server_cpu=(); load_cpu=()
fi

bport="$(port)"; pport="$(port)"; aport="$(port)"
BOUNCER_ADMIN_PASSWORD="$password" BOUNCER_LISTEN="127.0.0.1:$bport" \
    BOUNCER_DATABASE_URL="sqlite://$tmp/bouncer.db" "$bin" serve >"$tmp/bouncer.log" 2>&1 &
pids+=($!)
(cd "$(dirname "$peer")" && BENCH_PASSWORD="$password" exec "${server_cpu[@]}" "$venv/bin/python" -m uvicorn \
    "$(basename "$peer" .py):app" --port "$pport" --workers 1 --log-level warning >"$tmp/peer.log" 2>&1) &
peer_pid=$!; pids+=("$peer_pid")   # exec all the way down: this is uvicorn's own pid
(cd "$here" && BOUNCER_URL="http://127.0.0.1:$bport" exec "${server_cpu[@]}" "$venv/bin/python" -m uvicorn \
    bench_app:app --port "$aport" --workers 1 --log-level warning >"$tmp/app.log" 2>&1) &
app_pid=$!; pids+=("$app_pid")
wait_up "http://127.0.0.1:$bport/readyz"; wait_up "http://127.0.0.1:$pport/healthz"; wait_up "http://127.0.0.1:$aport/healthz"

token() { curl -sf "$1/oauth2/token" -d grant_type=password -d username=admin --data-urlencode "password=$password" \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
ptoken="$(token "http://127.0.0.1:$pport")"
btoken="$(token "http://127.0.0.1:$bport")"
for path in /users/me /admin-only; do   # both answer 200 before anything is measured
    curl -sf -o /dev/null -H "Authorization: Bearer $ptoken" "http://127.0.0.1:$pport$path"
    curl -sf -o /dev/null -H "Authorization: Bearer $btoken" "http://127.0.0.1:$aport$path"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system clock ticks of a process
hz="$(getconf CLK_TCK)"
run() {  # url token pid -> "requests/s CPU-µs-per-request" (non-2xx answers fail the run)
    local out c0 c1 n
    c0="$(cpu_ticks "$3")"
    out="$("${load_cpu[@]}" wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $2" "$1")"
    c1="$(cpu_ticks "$3")"
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
    n="$(awk '/requests in/ {print $1}' <<<"$out")"
    echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(( (c1 - c0) * 1000000 / hz / n ))"
}
ratio() { "$venv/bin/python" -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

median() { "$venv/bin/python" -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.0f}")' "$@"; }

measure() {  # label: $rounds alternating runs of each server per route; medians and ratios
    local label="$1" path r ps=() as=() pc=() ac=() p a pcpu acpu
    for path in "${paths[@]}"; do
        ps=(); as=(); pc=(); ac=()
        for _ in $(seq "$rounds"); do
            read -r p pcpu <<<"$(run "http://127.0.0.1:$pport$path" "$ptoken" "$peer_pid")"
            read -r a acpu <<<"$(run "http://127.0.0.1:$aport$path" "$btoken" "$app_pid")"
            ps+=("$p"); as+=("$a"); pc+=("$pcpu"); ac+=("$acpu")
        done
        p="$(median "${ps[@]}")"; a="$(median "${as[@]}")"; pcpu="$(median "${pc[@]}")"; acpu="$(median "${ac[@]}")"
        printf '%-11s %10s %10s %6s   %10s %10s %6s   %s\n' "$path" "$p" "$a" "$(ratio "$a" "$p")" \
            "$pcpu" "$acpu" "$(ratio "$pcpu" "$acpu")" "$label"
    done
}

echo "one uvicorn worker each, wrk -c$conns, medians of $rounds alternating ${secs}-s runs; load average $(cut -d' ' -f1-3 /proc/loadavg) on $ncpu cores"
printf '%-11s %10s %10s %6s   %10s %10s %6s\n' "" "req/s" "" "" "CPU µs/req" "" ""
printf '%-11s %10s %10s %6s   %10s %10s %6s\n' route tutorial package ratio tutorial package ratio
paths=(/users/me /admin-only)
measure ""
if [ "${BENCH_ASYNC_PEER:-1}" = 1 ] && grep -q '    def __call__(self, user' "$peer"; then
    # The tutorial's RoleChecker is a sync function: FastAPI runs it in a thread pool (40 threads),
    # which on a busy machine wins the process more CPU time than an all-async app gets. The same
    # tutorial with `async def __call__` shows how much of /admin-only's req/s that is.
    sed 's/    def __call__(self, user/    async def __call__(self, user/' "$peer" >"$tmp/peer_async.py"
    kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true
    (cd "$tmp" && BENCH_PASSWORD="$password" exec "${server_cpu[@]}" "$venv/bin/python" -m uvicorn \
        peer_async:app --port "$pport" --workers 1 --log-level warning >"$tmp/peer2.log" 2>&1) &
    peer_pid=$!; pids+=("$peer_pid")
    wait_up "http://127.0.0.1:$pport/healthz"
    ptoken="$(token "http://127.0.0.1:$pport")"
    paths=(/admin-only)
    measure "(the same tutorial with an async RoleChecker)"
fi
if [ "${BENCH_NO_CACHE:-1}" = 1 ]; then
    # The same app without its verified-token cache: an Ed25519 signature check at every request.
    kill "$app_pid"; wait "$app_pid" 2>/dev/null || true
    (cd "$here" && BOUNCER_URL="http://127.0.0.1:$bport" BOUNCER_AUTH_VERIFIED_CACHE=0 exec "${server_cpu[@]}" \
        "$venv/bin/python" -m uvicorn bench_app:app --port "$aport" --workers 1 --log-level warning >"$tmp/app2.log" 2>&1) &
    app_pid=$!; pids+=("$app_pid")
    wait_up "http://127.0.0.1:$aport/healthz"
    curl -sf -o /dev/null -H "Authorization: Bearer $btoken" "http://127.0.0.1:$aport/users/me"
    paths=(/users/me)
    measure "(no verified-token cache: a signature check per request)"
fi
echo "ratios: package/tutorial for req/s, tutorial/package for CPU (above 1: the package costs less per request)"
