#!/usr/bin/env bash
# Scale figures (docs/benchmarks.md, "Scale"): a database of 1,000,000 users and 100,000 API keys
# against a small one of 1,000 users and 1,000 keys, on SQLite and (--postgres) PostgreSQL; or,
# with --soak, 1,000 open connections of mixed traffic for 10 minutes. Not a test: read the table.
#
#   scripts/bench-scale.sh [--postgres [--no-sqlite]] [--users N] [--keys N] [--small N] [--rounds N]
#   scripts/bench-scale.sh --soak [--minutes N] [--postgres]
#
# Needs wrk, curl, python3; PostgreSQL binaries under /usr/lib/postgresql/*/bin for --postgres
# (a throwaway cluster on 127.0.0.1 is started and removed). BENCH_POSTGRES=1 is --postgres.
#
# Binaries: the release build of `bouncer` and of the `seed` example (crates/bouncer/examples/
# seed.rs: bulk inserts through the store, one shared Argon2id hash, keys and tokens derived from
# the index) are built and copied to BIN_DIR (/tmp/bouncer-scale-bin) first, so a rebuild by
# someone else during the run changes nothing; BENCH_NO_BUILD=1 uses what BIN_DIR holds.
#
# What is measured, per database (fresh, seeded, then served by the release binary):
#   - seeding time (the seed tool's own report: users, then keys);
#   - start-to-ready: spawn of `bouncer serve` to the first 200 from /readyz, at the first start
#     (which also creates the signing key) and at every restart (median);
#   - idle RSS: VmRSS of the server 2 s after ready (median over the restarts);
#   - cold credentials, ROUNDS rounds each, every round on a freshly started server (empty caches)
#     and every request with a credential no earlier request used: /users/me with a bearer token
#     (minted by the seed tool with the server's key, no Argon2 per token), /users/me with an API
#     key (X-API-Key), and the password grant (default Argon2id: that cost dominates a login;
#     4 connections). Each round is COLD requests (1,000: all the small database has) less one per
#     connection; the table gives the median of the rounds' p50 and p99. On the large database,
#     rounds take users from different parts of the table;
#   - GET /users?limit=50&offset=X as the admin, X uniform over the table, 10 s, 4 connections,
#     and the last page alone (median of 5 curl requests); then GET /users?limit=50&cursor=C the
#     same way, C one of 1,000 cursors spread over the table (`seed cursors`);
#   - the server's RSS and peak RSS (VmHWM) after all of it.
# On PostgreSQL a seeded database is VACUUM ANALYZEd before the server starts (what autovacuum
# would do within the minute after such a load).
#
# --soak: the large database, then wrk -t2 -c1000 with scripts/bench/soak.lua (bearer, API key,
# /healthz, ~2 logins a second) for MINUTES, sampling every 10 s the server's RSS, its established
# connections and the answers by class; at the end the series, wrk's totals (socket errors
# included) and the server's warnings by message. server.max_connections_per_ip is raised to 1024
# for it: every connection comes from 127.0.0.1, and the default 256 would refuse 744 of them.
#
# Throttling is off for the server (BOUNCER_THROTTLE__*=0): all the load comes from 127.0.0.1
# and would otherwise be throttled as one client. Everything else is the default configuration.
# The raw figures and the server's log are kept as /tmp/bouncer-scale-results.* and
# /tmp/bouncer-scale-server.*.log (and the soak's samples as /tmp/bouncer-soak-samples.*).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

POSTGRES=${BENCH_POSTGRES:-0}
SQLITE=1
SOAK=0
MINUTES=10
USERS=1000000
KEYS=100000
SMALL=1000
ROUNDS=3
COLD=1000
LOGINS=400
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES=1 ;;
    --no-sqlite) SQLITE=0 ;;
    --soak) SOAK=1 ;;
    --minutes) MINUTES=$2; shift ;;
    --users) USERS=$2; shift ;;
    --keys) KEYS=$2; shift ;;
    --small) SMALL=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$COLD" -gt "$SMALL" ]; then COLD=$SMALL; fi
if [ "$LOGINS" -gt "$SMALL" ]; then LOGINS=$SMALL; fi

BIN_DIR=${BIN_DIR:-/tmp/bouncer-scale-bin}
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -p bouncer --bin bouncer --example seed
  mkdir -p "$BIN_DIR"
  out=${CARGO_TARGET_DIR:-$ROOT/target}/release
  cp "$out/bouncer" "$BIN_DIR/bouncer.new" && mv "$BIN_DIR/bouncer.new" "$BIN_DIR/bouncer"
  cp "$out/examples/seed" "$BIN_DIR/seed.new" && mv "$BIN_DIR/seed.new" "$BIN_DIR/seed"
fi
BIN=$BIN_DIR/bouncer
SEED=$BIN_DIR/seed
PASSWORD=bench-Quokka-Lantern-42
LUA=$ROOT/scripts/bench

D=$(mktemp -d /tmp/bouncer-scale.XXXXXX)
source "$ROOT/scripts/bench/lib.sh"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
export BOUNCER_LISTEN=127.0.0.1:$PORT
export BOUNCER_THROTTLE__PER_USER_ADDRESS=0 BOUNCER_THROTTLE__PER_ADDRESS=0
export BOUNCER_THROTTLE__REGISTRATIONS_PER_ADDRESS_PER_HOUR=0
export RUST_LOG=warn

SPID=
WPID=
PG_STOP=
PG_DIR=
cleanup() {
  if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null || true; fi
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  if [ -n "$PG_STOP" ]; then $PG_STOP > /dev/null 2>&1 || true; rm -rf "$PG_DIR"; fi
  # The raw figures and the server log outlive the run.
  local ts
  ts=$(date +%s)
  if [ -s "$D/results" ]; then cp "$D/results" "/tmp/bouncer-scale-results.$ts"; fi
  if [ -s "$D/server.log" ]; then cp "$D/server.log" "/tmp/bouncer-scale-server.$ts.log"; fi
  rm -rf "$D"
}
trap cleanup EXIT

cat > "$D/helper.py" <<'PY'
import json, os, statistics, sys, time, urllib.request

def ready(port, t0_ns, pid):
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    print(f"{(time.time_ns() - int(t0_ns)) / 1e6:.0f}")
                    return
        except Exception:
            pass
        try:
            os.kill(int(pid), 0)
        except OSError:
            sys.exit("the server exited before it was ready")
        time.sleep(0.002)
    sys.exit("the server was not ready within 300 s")

def load(path):
    res = {}
    for line in open(path):
        key, _, value = line.rstrip("\n").partition(" ")
        res.setdefault(key, []).append(value)
    return res

def table(path, backends):
    res = load(path)
    def vals(key):
        return [float(v) for v in res.get(key, []) if v not in ("", "-")]
    def med(key):
        v = vals(key)
        return statistics.median(v) if v else None
    def fmt(x, unit=""):
        if x is None:
            return "-"
        return f"{x:.0f}{unit}" if abs(x) >= 100 else f"{x:.1f}{unit}"
    def result(key, field):
        # Median over the rounds of one field of wrk RESULT lines.
        out = []
        for line in res.get(key, []):
            kv = dict(p.split("=") for p in line.split() if "=" in p)
            if field in kv:
                out.append(float(kv[field]))
        return statistics.median(out) if out else None
    def rsum(key, fields):
        total = 0
        for line in res.get(key, []):
            kv = dict(p.split("=") for p in line.split() if "=" in p)
            total += sum(int(float(kv.get(f, 0))) for f in fields)
        return total
    rows = []
    def row(label, cell, ratio=None):
        cells = []
        for b in backends:
            s, l = cell(f"{b}/small"), cell(f"{b}/large")
            cells += [s, l]
            if ratio:
                rs, rl = ratio(f"{b}/small"), ratio(f"{b}/large")
                cells.append(f"{rl / rs:.2f}×" if rs and rl else "")
            else:
                cells.append("")
        rows.append([label] + cells)
    row("users / API keys", lambda p: f"{res.get(p + '/users', ['-'])[0]} / {res.get(p + '/keys', ['-'])[0]}")
    row("seeding: users, keys (s)", lambda p: f"{fmt(med(p + '/seed_users_s'))}, {fmt(med(p + '/seed_keys_s'))}")
    row("database size (MiB)", lambda p: fmt(med(p + "/db_mib")))
    row("start-to-ready, first start (ms)", lambda p: fmt(med(p + "/ready_first_ms")), lambda p: med(p + "/ready_first_ms"))
    row("start-to-ready, restarts: median / max (ms)",
        lambda p: f"{fmt(med(p + '/ready_ms'))} / {fmt(max(vals(p + '/ready_ms'), default=None))}",
        lambda p: med(p + "/ready_ms"))
    row("idle RSS after ready, median (MiB)", lambda p: fmt(med(p + "/rss_idle_mib")), lambda p: med(p + "/rss_idle_mib"))
    for key, label in [("login", "login (password grant) p50 / p99 (ms)"),
                       ("bearer", "/users/me bearer, cold: p50 / p99 (ms)"),
                       ("apikey", "/users/me API key, cold: p50 / p99 (ms)"),
                       ("paging", "GET /users by offset: p50 / p99 (ms)"),
                       ("paging_cursor", "GET /users by cursor: p50 / p99 (ms)")]:
        row(label, lambda p, k=key: f"{fmt(result(p + '/' + k, 'p50_ms'))} / {fmt(result(p + '/' + k, 'p99_ms'))}",
            lambda p, k=key: result(p + "/" + k, "p99_ms"))
    row("GET /users last page (ms)", lambda p: fmt(med(p + "/last_page_ms")), lambda p: med(p + "/last_page_ms"))
    row("throughput: bearer / API key / offset / cursor pages (req/s)",
        lambda p: " / ".join(fmt(result(p + "/" + k, "rps")) for k in ("bearer", "apikey", "paging", "paging_cursor")))
    row("RSS after the run / peak (MiB)", lambda p: f"{fmt(med(p + '/rss_end_mib'))} / {fmt(med(p + '/hwm_end_mib'))}")
    kinds = ("login", "bearer", "apikey", "paging", "paging_cursor")
    row("load average during the rounds (median)", lambda p: fmt(med(p + "/load")))
    row("non-2xx, socket errors (all runs)",
        lambda p: f"{sum(rsum(p + '/' + k, ['non2xx']) for k in kinds)}, "
                  f"{sum(rsum(p + '/' + k, ['socket_errors']) for k in kinds)}")
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    head = [""]
    for b in backends:
        head += [f"{names[b]} small", f"{names[b]} large", "large/small"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")

def soak_table(samples):
    # One line per sample: t rss_mib hwm_mib conns, then the threads' summed running totals:
    # requests 2xx 4xx 5xx other logins logins_2xx.
    rows = [line.split() for line in open(samples) if line.strip()]
    print("| t (s) | RSS (MiB) | open connections | req/s | 2xx | 4xx | 5xx | other | logins (200) |")
    print("|---|---|---|---|---|---|---|---|---|")
    prev, prev_t = [0] * 7, 0.0
    for r in rows:
        t, rss, hwm, conns = float(r[0]), r[1], r[2], r[3]
        tot = [int(x) for x in r[4:11]]
        d = [a - b for a, b in zip(tot, prev)]
        rate = d[0] / (t - prev_t) if t > prev_t else 0
        print(f"| {t:.0f} | {rss} | {conns} | {rate:.0f} | {d[1]} | {d[2]} | {d[3]} | {d[4]} | {d[5]} ({d[6]}) |")
        prev, prev_t = tot, t
    if rows:
        print(f"\npeak RSS (VmHWM) at the end: {rows[-1][2]} MiB; totals: requests {prev[0]}, 2xx {prev[1]}, "
              f"4xx {prev[2]}, 5xx {prev[3]}, other {prev[4]}, logins {prev[5]} ({prev[6]} answered 200)")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ready":
        ready(*sys.argv[2:5])
    elif cmd == "table":
        table(sys.argv[2], sys.argv[3:])
    elif cmd == "soak":
        soak_table(sys.argv[2])
    elif cmd == "token":
        print(json.load(sys.stdin)["access_token"])
PY
helper() { python3 "$D/helper.py" "$@"; }
rec() { echo "$1 $2" >> "$D/results"; }
rss_mib() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# start_server PREFIX: starts `bouncer serve`, records start-to-ready under PREFIX.
start_server() {
  local t0
  t0=$(date +%s%N)
  "$BIN" serve >> "$D/server.log" 2>&1 &
  SPID=$!
  local ms
  if ! ms=$(helper ready "$PORT" "$t0" "$SPID"); then
    tail -20 "$D/server.log" >&2
    exit 1
  fi
  rec "$1" "$ms"
}
stop_server() {
  kill -TERM "$SPID"
  wait "$SPID" || true
  SPID=
}
restart_server() {
  [ -n "$SPID" ] && stop_server
  # The machine is shared: the 1-minute load average goes with the figures.
  rec "$1/load" "$(cut -d' ' -f1 /proc/loadavg)"
  start_server "$1/ready_ms"
  sleep 2
  rec "$1/rss_idle_mib" "$(rss_mib "$SPID" VmRSS)"
}

# run_wrk_capped OUT THREADS CONNS MODE SOURCE COUNT: cold.lua until each thread has used its
# share, then SIGINT (wrk would wait out -d otherwise).
run_wrk_capped() {
  local out=$1 threads=$2 conns=$3 mode=$4 source=$5 count=$6
  local done_dir
  done_dir=$(mktemp -d "$D/done.XXXXXX")
  wrk -t"$threads" -c"$conns" -d300s --timeout 30s -s "$LUA/cold.lua" "$URL" -- \
    "$mode" "$source" "$count" "$threads" "$conns" "$done_dir" "$PASSWORD" > "$done_dir/out" 2>&1 &
  local wpid=$!
  while kill -0 "$wpid" 2>/dev/null; do
    if [ "$(find "$done_dir" -maxdepth 1 -name '[0-9]*' | wc -l)" -ge "$threads" ]; then
      kill -INT "$wpid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$wpid" || true
  local line
  line=$(grep '^RESULT' "$done_dir/out" || true)
  if [ -z "$line" ]; then
    cat "$done_dir/out" >&2
    line="RESULT failed=1"
  fi
  rec "$out" "$line"
  echo "  $out: $line"
}

# bench_db BACKEND SIZE USERS KEYS DATABASE_URL
bench_db() {
  local b=$1 size=$2 users=$3 keys=$4
  export BOUNCER_DATABASE_URL=$5
  local p=$b/$size
  echo "== $p: $users users, $keys API keys"
  rec "$p/users" "$users"
  rec "$p/keys" "$keys"
  "$SEED" populate --users "$users" --keys "$keys" 2>&1 | tee "$D/seed.out"
  rec "$p/seed_users_s" "$(sed -n 's/^seeded .* users in \([0-9.]*\) s.*/\1/p' "$D/seed.out")"
  rec "$p/seed_keys_s" "$(sed -n 's/.* API keys in \([0-9.]*\) s.*/\1/p' "$D/seed.out")"
  if [ "$b" = postgres ]; then
    # What autovacuum would do within the minute after such a load (hint bits, visibility map,
    # statistics), done now so that it does not run during the measurements.
    psql -q "$BOUNCER_DATABASE_URL" -c 'VACUUM ANALYZE'
  fi
  start_server "$p/ready_first_ms"
  sleep 2
  rec "$p/rss_idle_mib" "$(rss_mib "$SPID" VmRSS)"
  if [ "$b" = sqlite ]; then
    rec "$p/db_mib" "$(du -sm "${BOUNCER_DATABASE_URL#sqlite://}" | cut -f1)"
  else
    rec "$p/db_mib" "$(psql -At "$BOUNCER_DATABASE_URL" -c 'SELECT pg_database_size(current_database()) / 1048576')"
  fi
  local r from kfrom
  for r in $(seq 1 "$ROUNDS"); do
    # Different parts of the large table in each round; the small table whole every time.
    from=$(( (r - 1) * (users / ROUNDS) ))
    kfrom=$(( (r - 1) * (keys / ROUNDS) ))
    if [ $((from + COLD)) -gt "$users" ]; then from=0; fi
    if [ $((kfrom + COLD)) -gt "$keys" ]; then kfrom=0; fi
    "$SEED" tokens --from "$from" --count "$COLD" > "$D/tokens"
    restart_server "$p"
    run_wrk_capped "$p/bearer" 1 16 bearer "$D/tokens" "$COLD"
    "$SEED" keys --from "$kfrom" --count "$COLD" > "$D/keys"
    restart_server "$p"
    run_wrk_capped "$p/apikey" 1 16 apikey "$D/keys" "$COLD"
    restart_server "$p"
    run_wrk_capped "$p/login" 1 4 login "$from" "$LOGINS"
  done
  local admin
  admin=$(curl -sf "$URL/oauth2/token" -d grant_type=password -d username=bench-admin \
    -d "password=$PASSWORD" | helper token)
  local line
  line=$(wrk -t1 -c4 -d10s --timeout 30s -s "$LUA/paging.lua" "$URL" -- "$admin" offset "$users" | grep '^RESULT')
  rec "$p/paging" "$line"
  echo "  $p/paging: $line"
  "$SEED" cursors --users "$users" --count 1000 > "$D/cursors"
  line=$(wrk -t1 -c4 -d10s --timeout 30s -s "$LUA/paging.lua" "$URL" -- "$admin" cursor "$D/cursors" | grep '^RESULT')
  rec "$p/paging_cursor" "$line"
  echo "  $p/paging_cursor: $line"
  for _ in 1 2 3 4 5; do
    rec "$p/last_page_ms" "$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $admin" \
      "$URL/users?limit=50&offset=$((users + 1 - 50))" | python3 -c 'import sys; print(float(sys.stdin.read()) * 1000)')"
  done
  rec "$p/rss_end_mib" "$(rss_mib "$SPID" VmRSS)"
  rec "$p/hwm_end_mib" "$(rss_mib "$SPID" VmHWM)"
  stop_server
}

PGBIN=
start_postgres() {
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PGBIN" ]; then echo "no PostgreSQL under /usr/lib/postgresql/*/bin" >&2; exit 1; fi
  # Its own directory: the postgres user cannot enter $D (mode 0700, ours).
  local pgdir
  pgdir=$(mktemp -d /tmp/bouncer-scale-pg.XXXXXX)
  local as_pg=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pgdir"
    as_pg=(runuser -u postgres --)
  fi
  PGPORT=$(free_port)
  "${as_pg[@]}" "$PGBIN/initdb" -D "$pgdir/data" -A trust -U postgres --no-sync -E UTF8 > /dev/null
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
    -o "-h 127.0.0.1 -p $PGPORT -k $pgdir" start > /dev/null
  PG_STOP="${as_pg[*]} $PGBIN/pg_ctl -D $pgdir/data -m fast stop"
  PG_DIR=$pgdir
  PGURL=postgres://postgres@127.0.0.1:$PGPORT
}

# The soak: the large database (USERS, KEYS), 1,000 connections of soak.lua's mix for MINUTES,
# sampled every 10 s: the server's RSS, its established connections, and the answers by class.
soak() {
  local b=sqlite url="sqlite://$D/soak.db"
  if [ "$POSTGRES" = 1 ]; then
    start_postgres
    psql -q "$PGURL/postgres" -c "CREATE DATABASE bench_soak"
    b=postgres url=$PGURL/bench_soak
  fi
  export BOUNCER_DATABASE_URL=$url
  # wrk's 1,000 connections all come from 127.0.0.1: the per-address cap (default 256, so one
  # address never holds every slot) would refuse 744 of them. server.max_connections stays 1024.
  export BOUNCER_SERVER__MAX_CONNECTIONS_PER_IP=1024
  # Tokens minted before the run must outlive it (default 900 s).
  local ttl=$(( MINUTES * 60 + 900 ))
  export BOUNCER_TOKENS__ACCESS_TTL_S=$(( ttl > 86400 ? 86400 : ttl ))
  local creds=20000
  echo "== soak on $b: $USERS users, $KEYS API keys; 1000 connections for $MINUTES min"
  "$SEED" populate --users "$USERS" --keys "$KEYS"
  start_server soak/ready_ms
  "$SEED" tokens --count $(( USERS < creds ? USERS : creds )) > "$D/tokens"
  "$SEED" keys --count $(( KEYS < creds ? KEYS : creds )) > "$D/keys"
  sleep 2
  echo "ready in $(tail -1 "$D/results" | cut -d' ' -f2) ms; idle RSS $(rss_mib "$SPID" VmRSS) MiB"
  mkdir -p "$D/stats"
  wrk -t2 -c1000 -d"${MINUTES}m" --timeout 10s -s "$LUA/soak.lua" "$URL" -- \
    "$D/tokens" "$D/keys" "$PASSWORD" "$USERS" 2 2 "$D/stats" > "$D/soak.out" 2>&1 &
  WPID=$!
  local t0=$SECONDS
  while kill -0 "$WPID" 2>/dev/null; do
    sleep 10
    local conns totals
    conns=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
    totals=$(find "$D/stats" -type f ! -name '*.tmp' -exec cat {} + | awk '{ for (i = 2; i <= 8; i++) s[i] += $i }
      END { for (i = 2; i <= 8; i++) printf "%d ", s[i] }')
    echo "$((SECONDS - t0)) $(rss_mib "$SPID" VmRSS) $(rss_mib "$SPID" VmHWM) $conns $totals" >> "$D/samples"
    tail -1 "$D/samples"
  done
  wait "$WPID" || true
  WPID=
  sleep 10
  local after after30
  after=$(rss_mib "$SPID" VmRSS)
  sleep 20
  after30=$(rss_mib "$SPID" VmRSS)
  stop_server
  echo
  helper soak "$D/samples"
  echo "RSS 10 s after the load: $after MiB; 30 s after: $after30 MiB"
  grep -E '^RESULT|Socket errors|Non-2xx' "$D/soak.out" || cat "$D/soak.out"
  echo "server log (warnings and errors, by message):"
  sed 's/\x1b\[[0-9;]*m//g' "$D/server.log" | { grep -E ' (WARN|ERROR) ' || echo "(none)"; } | sed -E 's/^[^ ]+ +//; s/[0-9]+(\.[0-9]+)?/N/g' |
    cut -c1-200 | sort | uniq -c | sort -rn | head -10
  cp "$D/samples" "/tmp/bouncer-soak-samples.$(date +%s)"
}

if [ "$SOAK" = 1 ]; then
  echo "soak: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, binaries in $BIN_DIR"
  soak
  exit 0
fi

echo "scale bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), binaries in $BIN_DIR"
backends=()
if [ "$SQLITE" = 1 ]; then
  backends+=(sqlite)
  bench_db sqlite small "$SMALL" "$SMALL" "sqlite://$D/small.db"
  bench_db sqlite large "$USERS" "$KEYS" "sqlite://$D/large.db"
  rm -f "$D"/small.db* "$D"/large.db*
fi
if [ "$POSTGRES" = 1 ]; then
  start_postgres
  backends+=(postgres)
  for db in small large; do
    psql -q "$PGURL/postgres" -c "CREATE DATABASE bench_$db"
  done
  bench_db postgres small "$SMALL" "$SMALL" "$PGURL/bench_small"
  bench_db postgres large "$USERS" "$KEYS" "$PGURL/bench_large"
fi
echo
helper table "$D/results" "${backends[@]}"
