#!/usr/bin/env python3
"""Helpers for scripts/schemathesis.sh, standard library only.

  principals.py wait BASE SECONDS          wait until GET BASE/healthz answers 200
  principals.py token BASE USER PASSWORD   print an access token (password grant)
  principals.py register BASE USER EMAIL PASSWORD
                                           register a plain user (POST /auth/register)
  principals.py whoami BASE TOKEN          print "STATUS USERNAME ROLES" of GET /users/me
  principals.py denials BASE TOKEN         print the deny policies that exist (GET /policies), one a line
  principals.py config SPEC                print a schemathesis.toml for this spec (a file or URL): no
                                           crash cache, and $ST_BEARER_TOKEN as the credential of every
                                           security scheme that takes a bearer token

Each prints one line on success and exits 1 with the response on stderr otherwise.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def fail(what, status, body):
    print(f"{what}: HTTP {status}: {body[:500]!r}", file=sys.stderr)
    sys.exit(1)


def wait(base, seconds):
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            status, _ = request("GET", base + "/healthz")
            if status == 200:
                print("healthy")
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            print(f"{base}/healthz did not answer 200 within {seconds}s", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)


def token(base, user, password):
    body = urllib.parse.urlencode(
        {"grant_type": "password", "username": user, "password": password}
    ).encode()
    status, raw = request(
        "POST",
        base + "/oauth2/token",
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        fail(f"POST /oauth2/token as {user}", status, raw)
    print(json.loads(raw)["access_token"])


def register(base, user, email, password):
    body = json.dumps({"username": user, "email": email, "password": password}).encode()
    status, raw = request(
        "POST", base + "/auth/register", body, {"Content-Type": "application/json"}
    )
    if status != 201:
        fail(f"POST /auth/register {user}", status, raw)
    print(json.loads(raw)["id"])


def whoami(base, tok):
    status, raw = request("GET", base + "/users/me", headers={"Authorization": "Bearer " + tok})
    if status != 200:
        print(f"{status} - -")
        return
    me = json.loads(raw)
    print(f"{status} {me.get('username')} {','.join(me.get('roles') or []) or '-'}")


def denials(base, tok):
    status, raw = request("GET", base + "/policies", headers={"Authorization": "Bearer " + tok})
    if status != 200:
        print(f"(GET /policies: HTTP {status})")
        return
    doc = json.loads(raw)
    items = doc.get("items", []) if isinstance(doc, dict) else doc
    for p in items:
        if isinstance(p, dict) and p.get("effect") == "deny":
            print(f"{p.get('name')}: roles {p.get('roles')} permissions {p.get('permissions')}")


def config(spec):
    """Bearer auth through Schemathesis' OpenAPI-aware auth, not a fixed `-H Authorization` header:
    it then knows which scheme the token belongs to, sends it only where the spec asks for it, and
    its `ignored_auth` check can take it away (and put an invalid one in its place) to see the API
    refuse. With `-H` that check can neither remove the header nor tell it apart from the generated
    X-API-Key/cookie credentials, and reports every authenticated 2xx as "accepts invalid auth".
    """
    if spec.startswith(("http://", "https://")):
        status, raw = request("GET", spec)
        if status != 200:
            fail(f"GET {spec}", status, raw)
    else:
        with open(spec, "rb") as f:
            raw = f.read()
    schemes = json.loads(raw).get("components", {}).get("securitySchemes", {})
    bearer = [
        name
        for name, s in schemes.items()
        if s.get("type") in ("oauth2", "openIdConnect")
        or (s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer")
    ]
    if not bearer:
        print(f"{spec} declares no security scheme that takes a bearer token", file=sys.stderr)
        sys.exit(1)
    lines = [
        "# Written by scripts/schemathesis/principals.py for one run.",
        "# No crash cache: nothing stored by an earlier run is replayed (the same seed gives the same",
        "# cases), and no .schemathesis/ folder is written into the checkout.",
        "[cache]",
        "enabled = false",
        "",
        "# A token that no operation receives would make the whole run unauthenticated.",
        "[warnings]",
        'fail-on = ["unused_openapi_auth"]',
    ]
    for name in bearer:
        lines += ["", f"[auth.openapi.{json.dumps(name)}]", 'bearer = "${ST_BEARER_TOKEN}"']
    print("\n".join(lines))


def main(argv):
    commands = {
        "wait": (wait, 2),
        "token": (token, 3),
        "register": (register, 4),
        "whoami": (whoami, 2),
        "denials": (denials, 2),
        "config": (config, 1),
    }
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn, _ = commands[argv[1]]
    fn(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
