#!/usr/bin/env bash
# Policy, explain and audit figures on the release binary (pinned to CPU 1, wrk on CPU 0):
# /users/me, /admin-only and GET /items with no policies and with 20; POST /authz/explain latency;
# /users/me p99 while a login flood writes audit events. Needs wrk. Not a test: read ratios.
#   BIN=target/release/bouncer scripts/bench-policies.sh
set -u
BIN=${BIN:-target/release/bouncer}; BIN=$(realpath "$BIN")
D=$(mktemp -d /tmp/bouncer-polbench.XXXXXX)
cd "$D"
PW='correct horse battery staple'
B=http://127.0.0.1:18195
BOUNCER_ADMIN_PASSWORD="$PW" BOUNCER_LISTEN=127.0.0.1:18195 RUST_LOG=warn taskset -c 1 "$BIN" serve > bouncer.log 2>&1 &
BPID=$!
sleep 1.5
json() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
TOKEN=$(curl -s $B/oauth2/token -d grant_type=password -d username=admin -d "password=$PW" | json access_token)
UID_BENCH=$(curl -s $B/auth/register -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"bench-password-123"}' | json id)
UTOKEN=$(curl -s $B/oauth2/token -d grant_type=password -d username=bench -d password=bench-password-123 | json access_token)
wl() { taskset -c 0 wrk -t1 -c64 -d10s --latency "$@" | grep -E 'Requests/sec|  99%|Non-2xx' | tr -s ' ' | tr '\n' ' '; echo; }
round() {
  echo "users/me (JWT):          $(wl -H "Authorization: Bearer $TOKEN" $B/users/me)"
  echo "admin-only (JWT):        $(wl -H "Authorization: Bearer $TOKEN" $B/admin-only)"
  echo "GET /items (user JWT):   $(wl -H "Authorization: Bearer $UTOKEN" "$B/items?limit=1")"
}
echo "== no policies"
round
# 20 policies: 19 on other permissions (each compiled and scanned), and one allow that governs
# items:read and holds (every condition kind evaluated on every GET /items).
for i in $(seq 1 19); do
  curl -s -o /dev/null -X PUT $B/policies/p$i -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"effect\":\"allow\",\"permissions\":[\"res$i:*\"],\"conditions\":{\"time_zone\":\"Europe/Berlin\",\"time_windows\":[{\"start\":\"09:00\",\"end\":\"17:00\"}],\"client_ips\":[\"10.0.0.0/8\"]}}"
done
curl -s -o /dev/null -w "20th policy: %{http_code}\n" -X PUT $B/policies/reads -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"effect":"allow","permissions":["items:read"],"conditions":{"time_zone":"Europe/Berlin","time_windows":[{"start":"00:00","end":"24:00"}],"weekdays":["mon","tue","wed","thu","fri","sat","sun"],"client_ips":["127.0.0.0/8","::1/128"],"valid_from":"2020-01-01T00:00:00Z"}}'
sleep 1
echo "== 20 policies"
round
cat > explain.lua <<LUA
wrk.method = "POST"
wrk.body = '{"subject":"$UID_BENCH","permission":"items:read","client_ip":"10.1.2.3"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
echo "== explain"
for c in 1 8; do
  echo "POST /authz/explain c=$c: $(taskset -c 0 wrk -t1 -c$c -d10s --latency -s explain.lua $B/authz/explain | grep -E 'Requests/sec|  99%|Non-2xx' | tr -s ' ' | tr '\n' ' ')"
done
cat > login.lua <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=password&username=bench&password=wrong-password-1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
echo "== login flood (failed logins, each an audit event) while /users/me is measured"
taskset -c 0 wrk -t1 -c32 -d12s -s login.lua $B/oauth2/token > flood.txt 2>&1 &
FPID=$!
sleep 1
echo "users/me during flood:   $(wl -H "Authorization: Bearer $TOKEN" $B/users/me)"
wait $FPID
echo "login flood:             $(grep -E 'Requests/sec' flood.txt | tr -s ' ')"
EVENTS=$(curl -s "$B/audit/events?action=login&outcome=failure" -H "Authorization: Bearer $TOKEN" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(len(d["items"]), "on the first page; next_cursor", "set" if d["next_cursor"] else "null")')
echo "audit after the flood:   $EVENTS"
echo "RSS after load:          $(ps -o rss= -p $BPID | awk '{printf "%.1f MiB", $1/1024}')"
kill $BPID; wait 2>/dev/null
rm -rf "$D"
