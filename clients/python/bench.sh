#!/usr/bin/env bash
# Requests/s of a FastAPI app protected by bouncer-auth (local JWT verification, EdDSA, bench_app.py)
# against the FastAPI tutorial's hand-written HS256 check (/work/shared/bench/peer_fastapi.py, or
# $PEER), same routes (/users/me, /admin-only), one uvicorn worker each, same load (wrk), one run.
# As in the shared bench.py, with 2+ cores the server is pinned to the last core and wrk to the others.
#
#   clients/python/bench.sh                 # 10 s per figure, 64 connections
#   SECONDS_PER_RUN=5 CONNS=32 clients/python/bench.sh
#
# Bouncer itself ($BOUNCER_BIN, else a copy of target/release/bouncer or target/debug/bouncer) only
# serves the metadata and the keys, once. Nothing here is pass/fail: compare the ratios.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
peer="${PEER:-/work/shared/bench/peer_fastapi.py}"
secs="${SECONDS_PER_RUN:-10}"
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
pids+=($!)
(cd "$here" && BOUNCER_URL="http://127.0.0.1:$bport" exec "${server_cpu[@]}" "$venv/bin/python" -m uvicorn \
    bench_app:app --port "$aport" --workers 1 --log-level warning >"$tmp/app.log" 2>&1) &
pids+=($!)
wait_up "http://127.0.0.1:$bport/readyz"; wait_up "http://127.0.0.1:$pport/healthz"; wait_up "http://127.0.0.1:$aport/healthz"

token() { curl -sf "$1/oauth2/token" -d grant_type=password -d username=admin --data-urlencode "password=$password" \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
ptoken="$(token "http://127.0.0.1:$pport")"
btoken="$(token "http://127.0.0.1:$bport")"
for path in /users/me /admin-only; do   # both answer 200 before anything is measured
    curl -sf -o /dev/null -H "Authorization: Bearer $ptoken" "http://127.0.0.1:$pport$path"
    curl -sf -o /dev/null -H "Authorization: Bearer $btoken" "http://127.0.0.1:$aport$path"
done

rps() {  # url token -> requests/s (non-2xx answers fail the run)
    local out
    out="$("${load_cpu[@]}" wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $2" "$1")"
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
ratio() { "$venv/bin/python" -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

printf '%-12s %22s %22s %7s\n' route "tutorial HS256 req/s" "bouncer-auth req/s" ratio
for path in /users/me /admin-only; do
    p="$(rps "http://127.0.0.1:$pport$path" "$ptoken")"
    a="$(rps "http://127.0.0.1:$aport$path" "$btoken")"
    printf '%-12s %22s %22s %7s\n' "$path" "$p" "$a" "$(ratio "$a" "$p")"
done
if [ "${BENCH_NO_CACHE:-1}" = 1 ]; then
    # The same app without its verified-token cache: an Ed25519 signature check at every request.
    kill "${pids[2]}"; wait "${pids[2]}" 2>/dev/null || true
    (cd "$here" && BOUNCER_URL="http://127.0.0.1:$bport" BOUNCER_AUTH_VERIFIED_CACHE=0 exec "${server_cpu[@]}" \
        "$venv/bin/python" -m uvicorn bench_app:app --port "$aport" --workers 1 --log-level warning >"$tmp/app2.log" 2>&1) &
    pids+=($!)
    wait_up "http://127.0.0.1:$aport/healthz"
    curl -sf -o /dev/null -H "Authorization: Bearer $btoken" "http://127.0.0.1:$aport/users/me"
    p="$(rps "http://127.0.0.1:$pport/users/me" "$ptoken")"
    a="$(rps "http://127.0.0.1:$aport/users/me" "$btoken")"
    printf '%-12s %22s %22s %7s   (no verified-token cache)\n' /users/me "$p" "$a" "$(ratio "$a" "$p")"
fi
