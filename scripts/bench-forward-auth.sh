#!/usr/bin/env bash
# Forward-auth figures: /auth/verify (JWT) against /healthz and /users/me on the release binary
# (pinned to CPU 1, wrk on CPU 0), then nginx proxying to a static upstream with and without
# auth_request against Bouncer. Needs wrk and nginx (Debian packages). Not a test: read ratios.
#   BIN=target/release/bouncer scripts/bench-forward-auth.sh
set -u
BIN=${BIN:-target/release/bouncer}; BIN=$(realpath "$BIN")
D=$(mktemp -d /tmp/bouncer-fwdbench.XXXXXX); mkdir -p $D/ng
cd $D
BOUNCER_SERVER__TRUSTED_PROXIES='["127.0.0.1"]' BOUNCER_ADMIN_PASSWORD='correct horse battery staple' \
  BOUNCER_LISTEN=127.0.0.1:18095 RUST_LOG=warn taskset -c 1 $BIN serve > bouncer.log 2>&1 &
BPID=$!
sleep 1.5
TOKEN=$(curl -s http://127.0.0.1:18095/oauth2/token -d grant_type=password -d username=admin -d 'password=correct horse battery staple' | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
w() { taskset -c 0 wrk -t1 -c64 -d10s "$@" | grep -E 'Requests/sec|99%|Non-2xx' | tr -s ' ' | tr '\n' ' '; echo; }
wl() { taskset -c 0 wrk -t1 -c64 -d10s --latency "$@" | grep -E 'Requests/sec|  99%|Non-2xx' | tr -s ' ' | tr '\n' ' '; echo; }
echo "healthz:                 $(wl http://127.0.0.1:18095/healthz)"
echo "auth/verify (JWT):       $(wl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18095/auth/verify)"
echo "users/me (JWT):          $(wl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18095/users/me)"
cat > $D/ng/nginx.conf <<NG
pid $D/ng/nginx.pid;
error_log $D/ng/error.log warn;
worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $D/ng/b; proxy_temp_path $D/ng/p; fastcgi_temp_path $D/ng/f; uwsgi_temp_path $D/ng/u; scgi_temp_path $D/ng/s;
  upstream app { server 127.0.0.1:18097; keepalive 64; }
  upstream bouncer { server 127.0.0.1:18095; keepalive 64; }
  server { listen 127.0.0.1:18097; location / { return 200 "ok"; } }
  server {
    listen 127.0.0.1:18096;
    location = /_bouncer {
      internal;
      proxy_pass http://bouncer/auth/verify;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI \$request_uri; proxy_set_header X-Original-Method \$request_method;
    }
    location / { auth_request /_bouncer; proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:18098;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NG
/usr/sbin/nginx -c $D/ng/nginx.conf -p $D/ng -g 'daemon off;' > /dev/null 2>&1 &
NPID=$!
sleep 1
echo "nginx, no auth:          $(wl http://127.0.0.1:18098/x)"
echo "nginx + auth_request:    $(wl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18096/x)"
kill $NPID $BPID; wait 2>/dev/null
rm -rf "$D"
