"""A FastAPI app verifying Bouncer's JWTs locally (mode="local", the default), against the real
server: every answer compared with the one Bouncer itself gives for the same credential."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
from conftest import ADMIN_PASSWORD, AppServer, BouncerServer, assert_problem, bearer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def test_no_credential_is_401_with_bouncers_challenge(local_app: AppServer, bouncer: BouncerServer) -> None:
    r = local_app.get("/me")
    assert_problem(r, 401, "unauthorized")
    assert r.headers.get_list("www-authenticate") == ['Bearer realm="bouncer"']
    own = httpx.get(bouncer.url + "/users/me")
    assert own.json()["code"] == "unauthorized"
    assert 'Bearer realm="bouncer"' in own.headers.get_list("www-authenticate")


def test_a_bad_token_is_401_invalid_token(local_app: AppServer, bouncer: BouncerServer) -> None:
    for token in ["not-a-token", "a.b.c", bouncer.token()[:-4] + "AAAA"]:
        r = local_app.get("/me", headers=bearer(token))
        assert_problem(r, 401, "invalid_token")
        assert r.headers["www-authenticate"] == 'Bearer realm="bouncer", error="invalid_token"'
        own = httpx.get(bouncer.url + "/users/me", headers=bearer(token))
        assert own.status_code == 401 and own.json()["code"] == "invalid_token"
        assert 'Bearer realm="bouncer", error="invalid_token"' in own.headers.get_list("www-authenticate")


def test_a_users_jwt_gives_its_principal(local_app: AppServer, bouncer: BouncerServer) -> None:
    token = bouncer.token()
    r = local_app.get("/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    me = r.json()
    own = httpx.get(bouncer.url + "/users/me", headers=bearer(token)).json()
    assert me["id"] == own["id"] and me["username"] == "alice"
    assert me["roles"] == ["user"] and me["scopes"] == ["*"]
    assert me["permissions"] == ["items:read", "items:write"]
    assert me["credential"] == "jwt" and me["client_id"] == "swagger"
    assert local_app.post("/items", headers=bearer(token)).status_code == 201
    assert local_app.get("/items", headers=bearer(token)).status_code == 200


def test_a_role_the_user_lacks_is_403_missing_role(local_app: AppServer, bouncer: BouncerServer) -> None:
    token = bouncer.token()
    r = local_app.get("/admin", headers=bearer(token))
    assert_problem(r, 403, "missing_role", missing="admin")
    own = httpx.get(bouncer.url + "/admin-only", headers=bearer(token))
    assert (own.status_code, own.json()["code"], own.json()["missing"]) == (403, "missing_role", "admin")
    r = local_app.get("/users", headers=bearer(token))
    assert_problem(r, 403, "missing_permission", missing="users:read")
    own = httpx.get(bouncer.url + "/users", headers=bearer(token))
    assert (own.status_code, own.json()["code"]) == (403, "missing_permission")


def test_a_narrowed_token_is_403_insufficient_scope_with_its_challenge(
    local_app: AppServer, bouncer: BouncerServer
) -> None:
    reader = bouncer.token(scope="items:read")
    assert local_app.get("/items", headers=bearer(reader)).status_code == 200
    r = local_app.post("/items", headers=bearer(reader))
    assert_problem(r, 403, "insufficient_scope", missing="items:write")
    challenge = 'Bearer realm="bouncer", error="insufficient_scope", scope="items:write"'
    assert r.headers["www-authenticate"] == challenge
    own = httpx.post(bouncer.url + "/items", headers=bearer(reader), json={"name": "x"})
    assert own.status_code == 403 and own.json()["code"] == "insufficient_scope"
    assert own.headers["www-authenticate"] == challenge
    assert r.json()["detail"] == own.json()["detail"]


def test_role_scopes_narrow_roles_as_on_the_server(local_app: AppServer, bouncer: BouncerServer) -> None:
    # `role:admin` in the scope lets the token use the role, not the role's permissions.
    t = bouncer.token("admin", ADMIN_PASSWORD, scope="items:read role:admin")
    me = local_app.get("/me", headers=bearer(t)).json()
    assert me["roles"] == ["admin"] and me["permissions"] == ["items:read"]
    assert local_app.get("/admin", headers=bearer(t)).status_code == 200
    assert httpx.get(bouncer.url + "/admin-only", headers=bearer(t)).status_code == 200
    r = local_app.get("/users", headers=bearer(t))
    assert_problem(r, 403, "insufficient_scope", missing="users:read")
    assert httpx.get(bouncer.url + "/users", headers=bearer(t)).json()["code"] == "insufficient_scope"

    # Narrowed without role:admin: the admin may not use the role with this token.
    t = bouncer.token("admin", ADMIN_PASSWORD, scope="items:read")
    r = local_app.get("/admin", headers=bearer(t))
    assert_problem(r, 403, "insufficient_scope", missing="role:admin")
    assert r.headers["www-authenticate"].endswith('scope="role:admin"')
    own = httpx.get(bouncer.url + "/admin-only", headers=bearer(t))
    assert (own.json()["code"], own.json()["missing"]) == ("insufficient_scope", "role:admin")

    # role:* names every role the user has; items:* covers items:write.
    t = bouncer.token("admin", ADMIN_PASSWORD, scope="items:* role:*")
    assert local_app.get("/admin", headers=bearer(t)).status_code == 200
    assert local_app.post("/items", headers=bearer(t)).status_code == 201
    assert local_app.get("/users", headers=bearer(t)).status_code == 403

    # An unnarrowed admin token: `*` covers everything.
    t = bouncer.token("admin", ADMIN_PASSWORD)
    assert local_app.get("/users", headers=bearer(t)).status_code == 200
    assert local_app.get("/admin", headers=bearer(t)).status_code == 200


def test_a_client_token_is_a_client(local_app: AppServer, bouncer: BouncerServer, introspector: tuple[str, str]) -> None:
    r = httpx.post(bouncer.url + "/oauth2/token", auth=introspector, data={"grant_type": "client_credentials"})
    token = r.json()["access_token"]
    me = local_app.get("/me", headers=bearer(token)).json()
    assert me["credential"] == "client" and me["id"] == introspector[0] and me["roles"] == []
    assert local_app.get("/items", headers=bearer(token)).status_code == 200
    assert_problem(local_app.get("/admin", headers=bearer(token)), 403, "missing_role", missing="admin")
    own = httpx.get(bouncer.url + "/admin-only", headers=bearer(token))
    assert (own.status_code, own.json()["code"]) == (403, "missing_role")


def test_forged_tokens_are_refused(local_app: AppServer, bouncer: BouncerServer) -> None:
    real = bouncer.token()
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    other = Ed25519PrivateKey.generate()
    forged = [
        # Bouncer's kid, another key.
        jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "at+jwt"}),
        # alg none.
        jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"], "typ": "at+jwt"}),
        # HS256 keyed with the public key (the classic algorithm confusion).
        jwt.encode(claims, "a" * 32, algorithm="HS256", headers={"kid": header["kid"], "typ": "at+jwt"}),
    ]
    # Claims changed under the real signature.
    h, p, s = real.split(".")
    more = dict(claims, permissions=["*"], scope="*")
    forged.append(f"{h}.{base64.urlsafe_b64encode(json.dumps(more).encode()).rstrip(b'=').decode()}.{s}")
    for t in forged:
        assert_problem(local_app.get("/me", headers=bearer(t)), 401, "invalid_token")


def test_api_keys_and_opaque_tokens_need_introspection_credentials(
    local_app: AppServer, bouncer: BouncerServer
) -> None:
    _, key = bouncer.api_key()
    r = local_app.get("/me", headers={"X-API-Key": key})
    body = assert_problem(r, 401, "unauthorized")
    assert "introspection" in body["detail"]
    r = local_app.get("/me", headers=bearer("bno_" + "A" * 43))
    assert_problem(r, 401, "invalid_token")


def test_passwords_are_not_taken(local_app: AppServer) -> None:
    r = local_app.get("/me", auth=("alice", "correct horse"))
    assert_problem(r, 401, "unauthorized")


def test_ambiguous_credentials_are_400(local_app: AppServer, bouncer: BouncerServer) -> None:
    r = httpx.get(
        local_app.url + "/me",
        headers=[("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")],
    )
    assert_problem(r, 400, "ambiguous_credentials")
    _, k1 = bouncer.api_key()
    _, k2 = bouncer.api_key()
    r = local_app.get("/me", headers={"X-API-Key": k1}, auth=("any", k2))
    assert_problem(r, 400, "ambiguous_credentials")


def test_optional_principal(local_app: AppServer, bouncer: BouncerServer) -> None:
    assert local_app.get("/hello").json() == {"caller": None}
    assert local_app.get("/hello", headers=bearer(bouncer.token())).json() == {"caller": "alice"}
    assert_problem(local_app.get("/hello", headers=bearer("x.y.z")), 401, "invalid_token")


def test_a_revoked_jwt_is_accepted_locally_until_it_expires(local_app: AppServer, bouncer: BouncerServer) -> None:
    """The trade-off of local verification: no call to Bouncer, so no news of a revocation."""
    token = bouncer.token()
    assert local_app.get("/me", headers=bearer(token)).status_code == 200
    r = httpx.post(bouncer.url + "/oauth2/revoke", headers=bearer(token), data={"token": token})
    assert r.status_code == 200
    assert httpx.get(bouncer.url + "/users/me", headers=bearer(token)).status_code == 401
    assert local_app.get("/me", headers=bearer(token)).status_code == 200


def test_key_rotation_is_picked_up_through_the_new_kid(local_app: AppServer, bouncer: BouncerServer) -> None:
    old = bouncer.token()
    assert local_app.get("/me", headers=bearer(old)).status_code == 200
    old_kid = jwt.get_unverified_header(old)["kid"]
    bouncer.cli("keys", "rotate", "--now")
    deadline = time.time() + 10
    while True:  # a running server sees a CLI change within a second
        new = bouncer.token()
        if jwt.get_unverified_header(new)["kid"] != old_kid:
            break
        assert time.time() < deadline, "the server did not start signing with the new key"
        time.sleep(0.2)
    time.sleep(1.1)  # past the app's refetch interval since its last fetch
    before = local_app.get("/_stats").json()["jwks_fetches"]
    r = local_app.get("/me", headers=bearer(new))
    assert r.status_code == 200, r.text
    assert local_app.get("/me", headers=bearer(new)).status_code == 200
    assert local_app.get("/_stats").json()["jwks_fetches"] == before + 1
    # The old key is still published (tokens it signed live on until they expire).
    assert local_app.get("/me", headers=bearer(old)).status_code == 200


def test_unknown_kids_refetch_at_most_once_per_interval(local_app: AppServer, bouncer: BouncerServer) -> None:
    claims = jwt.decode(bouncer.token(), options={"verify_signature": False})
    other = Ed25519PrivateKey.generate()
    t = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": "not-a-kid", "typ": "at+jwt"})
    time.sleep(1.1)
    before = local_app.get("/_stats").json()["jwks_fetches"]
    for _ in range(5):
        assert_problem(local_app.get("/me", headers=bearer(t)), 401, "invalid_token")
    assert local_app.get("/_stats").json()["jwks_fetches"] == before + 1
