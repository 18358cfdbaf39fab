# Helpers the bench scripts share (source it; bash). The caller sets `tmp` (a scratch directory)
# and `pids` (an array its EXIT trap kills) before starting a server with these.

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until URL answers 2xx, at most SECONDS (default 10); exits the script otherwise.
wait_up() {
  local url=$1 tries=$((${2:-10} * 20))
  for _ in $(seq "$tries"); do curl -sf "$url" >/dev/null && return 0; sleep 0.05; done
  echo "not ready: $url" >&2
  exit 1
}

# bouncer_up BINARY PORT PASSWORD [WRAPPER...]: `BINARY serve` on 127.0.0.1:PORT with a fresh
# SQLite database in $tmp, admin/PASSWORD as first admin, logging at the default level (a line a
# request, as the defaults deploy it; export RUST_LOG to change it), run under WRAPPER
# (taskset, valgrind...); sets SERVER to its pid and waits until it answers (60 s at most: under
# valgrind a start takes seconds).
bouncer_up() {
  local bin=$1 port=$2 password=$3
  shift 3
  BOUNCER_LISTEN=127.0.0.1:$port BOUNCER_DATABASE_URL="sqlite://$tmp/$port.db" \
    BOUNCER_ADMIN_USERNAME=admin BOUNCER_ADMIN_PASSWORD="$password" \
    "$@" "$bin" serve 2>"$tmp/$port.log" >/dev/null &
  SERVER=$!
  pids+=("$SERVER")
  wait_up "http://127.0.0.1:$port/healthz" 60
}

# admin_token PORT PASSWORD: an access token for admin by the password grant.
admin_token() {
  curl -sf -d grant_type=password -d username=admin --data-urlencode "password=$2" \
    "http://127.0.0.1:$1/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
