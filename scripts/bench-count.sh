#!/usr/bin/env bash
# The hot path counted instead of timed (docs/benchmarks.md, "Found by counting"): instructions a
# request (user space, valgrind's callgrind) and syscalls a request (strace), for Bouncer's
# /healthz and /users/me (bearer) and bare axum's /healthz. Neither moves with what else the
# machine does, so two binaries can be compared on a host where wrk's figures cannot.
#
#   scripts/bench-count.sh                      # target/release/bouncer and bare axum
#   scripts/bench-count.sh OLD_BINARY           # and another bouncer binary, for a before/after
#   N=4000 CONNS=16 scripts/bench-count.sh
#
# Instructions: the server runs under callgrind; after a warm-up the counters are zeroed, N
# requests go over CONNS keep-alive connections (Python, one request at a time on each), and the
# counters are dumped. Syscalls: `strace -c -f` on the server (not under valgrind) over the same
# N requests. Needs valgrind, strace, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000}
CONNS=${CONNS:-16}
for tool in valgrind callgrind_control strace curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y valgrind strace curl)" >&2; exit 1; }
done
cargo build -q --release -p bouncer --bin bouncer --example bare_axum
BINS=(target/release/bouncer)
[ $# -ge 1 ] && BINS=("$1" "${BINS[@]}")
BARE=target/release/examples/bare_axum
password='correct horse battery staple'
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
source scripts/bench/lib.sh

# N requests over CONNS connections, each answer read to its end; any answer but 200 fails.
cat >"$tmp/load.py" <<'EOF'
import socket, sys, threading
port, n, conns, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
extra = "".join(h + "\r\n" for h in sys.argv[5:])
req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
failed = []
def run(k):
    with socket.create_connection(("127.0.0.1", port)) as s, s.makefile("rb") as f:
        for _ in range(k):
            s.sendall(req)
            status = f.readline()
            if b" 200 " not in status:
                failed.append(status)
                return
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
threads = [threading.Thread(target=run, args=(n // conns,)) for _ in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
if failed: sys.exit(f"not 200: {failed[0]!r}")
EOF

# Instructions a request of `path` (with headers) on the server under callgrind at `port`.
instructions() {
  local port=$1 path=$2
  shift 2
  python3 "$tmp/load.py" "$port" 400 "$CONNS" "$path" "$@"
  callgrind_control -z "$SERVER" >/dev/null
  python3 "$tmp/load.py" "$port" "$N" "$CONNS" "$path" "$@"
  rm -f "$tmp"/cg.out.*
  callgrind_control -d "$SERVER" >/dev/null
  sleep 1
  local total
  total=$(grep -hE '^(summary|totals):' "$tmp"/cg.out.* | awk '{print $2}' | head -1)
  echo $((total / N))
}
# Syscalls a request of `path` (with headers) on the server `pid` at `port`: strace counts them
# over N requests, after a warm-up.
syscalls() {
  local pid=$1 port=$2 path=$3
  shift 3
  python3 "$tmp/load.py" "$port" 400 "$CONNS" "$path" "$@"
  strace -c -f -p "$pid" -o "$tmp/strace.out" 2>/dev/null &
  local st=$!
  sleep 1
  python3 "$tmp/load.py" "$port" "$N" "$CONNS" "$path" "$@"
  kill -INT "$st"
  wait "$st" || true
  # Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
  awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%s %.2f  ", $NF, $4 / n }' "$tmp/strace.out"
  echo
}

echo "| server | route | instructions a request |"
echo "|---|---|---|"
port=$(free_port)
SERVER=
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$BARE" "127.0.0.1:$port" 2>/dev/null &
SERVER=$!
pids+=("$SERVER")
wait_up "http://127.0.0.1:$port/healthz" 60
echo "| bare axum | /healthz | $(instructions "$port" /healthz) |"
kill "$SERVER"
for bin in "${BINS[@]}"; do
  port=$(free_port)
  bouncer_up "$bin" "$port" "$password" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out"
  tok=$(admin_token "$port" "$password")
  echo "| $bin | /healthz | $(instructions "$port" /healthz) |"
  echo "| $bin | /users/me | $(instructions "$port" /users/me "Authorization: Bearer $tok") |"
  kill "$SERVER"
done
echo
echo "syscalls a request (strace over the same $N requests):"
port=$(free_port)
"$BARE" "127.0.0.1:$port" &
SERVER=$!
pids+=("$SERVER")
wait_up "http://127.0.0.1:$port/healthz"
echo "bare axum /healthz: $(syscalls "$SERVER" "$port" /healthz)"
kill "$SERVER"
for bin in "${BINS[@]}"; do
  port=$(free_port)
  bouncer_up "$bin" "$port" "$password"
  tok=$(admin_token "$port" "$password")
  echo "$bin /healthz: $(syscalls "$SERVER" "$port" /healthz)"
  echo "$bin /users/me: $(syscalls "$SERVER" "$port" /users/me "Authorization: Bearer $tok")"
  kill "$SERVER"
done
