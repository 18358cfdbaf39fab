"""Clients no one on the team wrote, against the real binary: Authlib's OAuth 2.0 client (password
grant, refresh, client credentials, revocation, introspection) and PyJWT's PyJWKClient across a
signing-key rotation made with the CLI while the server runs."""
import subprocess
import time

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session

from bouncer_harness import ADMIN_USER, ADMIN_PASS, Server, find_binary, make_user, token


def register_client(server, admin_token, name, scopes, first_party=False):
    r = requests.post(server.url + "/clients", json={"name": name, "scopes": scopes, "first_party": first_party},
                      headers={"Authorization": "Bearer " + admin_token})
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]


def test_authlib_password_refresh_revoke_and_introspect(fresh_server):
    server = fresh_server
    admin = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
    u, p, _ = make_user(server, {"access_token": admin}, "user")
    web_id, web_secret = register_client(server, admin, "web", [], first_party=True)
    gw_id, gw_secret = register_client(server, admin, "gateway", ["tokens:introspect"])

    web = OAuth2Session(web_id, web_secret, token_endpoint_auth_method="client_secret_basic")
    t1 = web.fetch_token(server.url + "/oauth2/token", username=u, password=p)
    assert t1["refresh_token"] and t1["token_type"].lower() == "bearer"
    t2 = web.refresh_token(server.url + "/oauth2/token", refresh_token=t1["refresh_token"])
    assert t2["refresh_token"] != t1["refresh_token"]
    assert requests.get(server.url + "/users/me", headers={"Authorization": "Bearer " + t2["access_token"]}).json()["username"] == u

    gw = OAuth2Session(gw_id, gw_secret, token_endpoint_auth_method="client_secret_basic")
    r = gw.introspect_token(server.url + "/oauth2/introspect", token=t2["access_token"])
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["username"] == u
    r = gw.introspect_token(server.url + "/oauth2/introspect", token=t2["refresh_token"], token_type_hint="refresh_token")
    assert r.json()["active"] is True and r.json()["token_type"] == "refresh_token"

    r = web.revoke_token(server.url + "/oauth2/revoke", token=t2["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200
    assert gw.introspect_token(server.url + "/oauth2/introspect", token=t2["access_token"]).json() == {"active": False}
    assert requests.get(server.url + "/users/me", headers={"Authorization": "Bearer " + t2["access_token"]}).status_code == 401


def test_authlib_client_credentials(fresh_server):
    server = fresh_server
    admin = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
    cid, secret = register_client(server, admin, "reporter", ["items:read"])
    for method in ("client_secret_basic", "client_secret_post"):
        s = OAuth2Session(cid, secret, token_endpoint_auth_method=method)
        t = s.fetch_token(server.url + "/oauth2/token", grant_type="client_credentials")
        assert t["scope"] == "items:read" and "refresh_token" not in t
        assert requests.get(server.url + "/items", headers={"Authorization": "Bearer " + t["access_token"]}).status_code == 200


def test_pyjwkclient_across_a_key_rotation():
    """The point of the publish delay: a verifier that fetched the JWKS after the rotation already
    holds the new key when the first token signed with it arrives, and keeps verifying the old
    key's tokens."""
    server = Server(extra_env={"BOUNCER_KEYS__PUBLISH_DELAY_S": "2"})
    try:
        meta = requests.get(server.url + "/.well-known/oauth-authorization-server").json()
        old = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
        out = subprocess.run([find_binary(), "keys", "rotate"], env=dict(server.env), cwd=server.dir,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        new_kid = out.stdout.strip().rsplit(" ", 1)[-1]
        jwks = jwt.PyJWKClient(meta["jwks_uri"])
        deadline = time.time() + 10
        while new_kid not in [k.key_id for k in jwks.get_signing_keys(refresh=True)]:
            assert time.time() < deadline, "the rotated key was never published"
            time.sleep(0.1)
        assert jwt.get_unverified_header(token(server, ADMIN_USER, ADMIN_PASS)["access_token"])["kid"] != new_kid, \
            "published first, signing later"
        while True:
            new = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
            if jwt.get_unverified_header(new)["kid"] == new_kid:
                break
            assert time.time() < deadline, "the server never signed with the rotated key"
            time.sleep(0.2)
        for t in (old, new):  # from the key set fetched before the first new token
            key = jwks.get_signing_key_from_jwt(t)
            claims = jwt.decode(t, key.key, algorithms=["EdDSA"], audience="bouncer", issuer=meta["issuer"])
            assert claims["username"] == ADMIN_USER
            assert requests.get(server.url + "/users/me", headers={"Authorization": "Bearer " + t}).status_code == 200
    finally:
        server.stop()
