"""mode="introspect": every credential is introspected (cached for introspection_cache_ttl, here
0.5 s), so revocations take effect at once; API keys and opaque tokens work."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from conftest import (
    ADMIN_PASSWORD,
    AppServer,
    BouncerServer,
    Ports,
    assert_problem,
    bearer,
    free_port,
    make_server,
    register_alice,
    serve,
)

TTL = 0.5


def test_a_jwt_is_verified_and_introspected(introspect_app: AppServer, bouncer: BouncerServer) -> None:
    token = bouncer.token()
    before = introspect_app.get("/_stats").json()["introspections"]
    r = introspect_app.get("/me", headers=bearer(token))
    assert r.status_code == 200 and r.json()["credential"] == "jwt"
    assert introspect_app.post("/items", headers=bearer(token)).status_code == 201
    assert introspect_app.get("/_stats").json()["introspections"] == before + 1  # the second was cached
    reader = bouncer.token(scope="items:read")
    r = introspect_app.post("/items", headers=bearer(reader))
    assert_problem(r, 403, "insufficient_scope", missing="items:write")
    assert r.headers["www-authenticate"] == 'Bearer realm="bouncer", error="insufficient_scope", scope="items:write"'


def test_a_revoked_token_is_refused_in_introspect_mode_and_not_locally(
    introspect_app: AppServer, local_app: AppServer, bouncer: BouncerServer
) -> None:
    token = bouncer.token()
    assert introspect_app.get("/me", headers=bearer(token)).status_code == 200
    assert local_app.get("/me", headers=bearer(token)).status_code == 200
    assert httpx.post(bouncer.url + "/oauth2/revoke", headers=bearer(token), data={"token": token}).status_code == 200
    time.sleep(TTL + 0.1)
    r = introspect_app.get("/me", headers=bearer(token))
    assert_problem(r, 401, "invalid_token")
    assert r.headers["www-authenticate"] == 'Bearer realm="bouncer", error="invalid_token"'
    # Local verification cannot know: accepted until the token expires (15 minutes by default).
    assert local_app.get("/me", headers=bearer(token)).status_code == 200


def test_api_keys(introspect_app: AppServer, bouncer: BouncerServer) -> None:
    key_id, key = bouncer.api_key(["items:read"])
    r = introspect_app.get("/me", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["credential"] == "api_key" and me["username"] == "alice"
    assert me["scopes"] == ["items:read"] and me["permissions"] == ["items:read"]
    assert introspect_app.get("/items", headers={"X-API-Key": key}).status_code == 200
    assert introspect_app.get("/items", auth=("anyone", key)).status_code == 200  # Basic, key as password
    r = introspect_app.post("/items", headers={"X-API-Key": key})
    assert_problem(r, 403, "insufficient_scope", missing="items:write")
    own = httpx.post(bouncer.url + "/items", headers={"X-API-Key": key}, json={"name": "x"})
    assert (own.status_code, own.json()["code"]) == (403, "insufficient_scope")
    assert r.headers["www-authenticate"] == own.headers["www-authenticate"]

    # Revoked: refused within the cache's time, as Bouncer refuses it (401 unauthorized).
    assert httpx.delete(bouncer.url + f"/users/me/api-keys/{key_id}", auth=("alice", "correct horse")).status_code == 204
    time.sleep(TTL + 0.1)
    r = introspect_app.get("/me", headers={"X-API-Key": key})
    assert_problem(r, 401, "unauthorized")
    assert httpx.get(bouncer.url + "/users/me", headers={"X-API-Key": key}).json()["code"] == "unauthorized"
    assert_problem(introspect_app.get("/me", headers={"X-API-Key": "bnc_made_up"}), 401, "unauthorized")


def test_an_unscoped_api_key_has_its_owners_permissions(introspect_app: AppServer, bouncer: BouncerServer) -> None:
    _, key = bouncer.api_key()
    me = introspect_app.get("/me", headers={"X-API-Key": key}).json()
    assert me["permissions"] == ["items:read", "items:write"]
    assert introspect_app.post("/items", headers={"X-API-Key": key}).status_code == 201
    # Introspection gives the key's scope already narrowed to what the owner holds, so a permission
    # the owner lacks reads as outside the scope (Bouncer, knowing both, says missing_permission).
    assert_problem(introspect_app.get("/users", headers={"X-API-Key": key}), 403, "insufficient_scope")
    assert httpx.get(bouncer.url + "/users", headers={"X-API-Key": key}).json()["code"] == "missing_permission"
    _, admin_key = bouncer.api_key(user=("admin", ADMIN_PASSWORD))
    assert introspect_app.get("/users", headers={"X-API-Key": admin_key}).status_code == 200


def test_api_keys_use_the_roles_introspection_names(introspect_app: AppServer, bouncer: BouncerServer) -> None:
    """Introspection says which roles a key may use now: the admin's unscoped key passes a role
    requirement here as it does at Bouncer's own /admin-only."""
    _, admin_key = bouncer.api_key(user=("admin", ADMIN_PASSWORD))
    assert httpx.get(bouncer.url + "/admin-only", headers={"X-API-Key": admin_key}).status_code == 200
    r = introspect_app.get("/admin", headers={"X-API-Key": admin_key})
    assert r.status_code == 200, r.text


def test_a_refresh_token_is_no_access_token(introspect_app: AppServer, bouncer: BouncerServer) -> None:
    refresh = bouncer.grant()["refresh_token"]
    assert_problem(introspect_app.get("/me", headers=bearer(refresh)), 401, "invalid_token")
    assert_problem(introspect_app.get("/me", headers={"X-API-Key": refresh}), 401, "unauthorized")


def test_wrong_client_credentials_are_503(bouncer: BouncerServer, ports: Ports) -> None:
    from apps import fastapi_app

    from bouncer_auth import Bouncer

    auth = Bouncer(bouncer.url, mode="introspect", client_id="cl_nobody", client_secret="bns_wrong")
    for app in serve(fastapi_app(auth), free_port()):
        r = app.get("/me", headers=bearer(bouncer.token()))
        body = assert_problem(r, 503, "bouncer_unavailable")
        assert "client credentials" in body["detail"] and r.headers["retry-after"] == "1"


# -- opaque tokens: a second Bouncer with tokens.format = "opaque" ---------------------------------


@pytest.fixture(scope="module")
def opaque_setup(tmpdir_session: Path, ports: Ports) -> Iterator[dict[str, Any]]:
    """The app is made, and answers, before its Bouncer starts: 503 until Bouncer answers."""
    from apps import fastapi_app

    from bouncer_auth import Bouncer

    server = make_server(
        tmpdir_session, "opaque", port=ports.opaque_bouncer, BOUNCER_TOKENS__FORMAT="opaque"
    )
    # The operator's way to make the introspection client, on the database, before the server runs.
    out = server.cli("client", "add", "opaque-app", "--scope", "tokens:introspect")
    creds = dict(line.split(":", 1) for line in out.splitlines() if line.startswith("client_"))
    auth = Bouncer(server.url, mode="introspect", client_id=creds["client_id"].strip(),
                   client_secret=creds["client_secret"].strip(), introspection_cache_ttl=TTL)
    for app in serve(fastapi_app(auth), ports.opaque):
        r = app.get("/me", headers=bearer("bno_whatever"))
        down = (r.status_code, r.headers.get("content-type"), r.json(), r.headers.get("retry-after"))
        assert app.get("/healthz").status_code == 200
        server.start()
        try:
            register_alice(server)
            yield {"server": server, "app": app, "down": down}
        finally:
            server.stop()


def test_the_app_answers_503_until_bouncer_answers(opaque_setup: dict[str, Any]) -> None:
    status, ctype, body, retry = opaque_setup["down"]
    assert status == 503 and ctype.startswith("application/problem+json") and retry == "1"
    assert body["code"] == "bouncer_unavailable" and body["status"] == 503
    server, app = opaque_setup["server"], opaque_setup["app"]
    time.sleep(1.1)  # past the one-second backoff after a failed metadata fetch
    r = app.get("/me", headers=bearer(server.token()))
    assert r.status_code == 200, r.text


def test_opaque_tokens(opaque_setup: dict[str, Any]) -> None:
    server, app = opaque_setup["server"], opaque_setup["app"]
    time.sleep(1.1)
    narrowed = server.token(scope="items:read items:write")
    assert narrowed.startswith("bno_")
    me = app.get("/me", headers=bearer(narrowed)).json()
    assert me["credential"] == "opaque" and me["permissions"] == ["items:read", "items:write"]
    assert app.post("/items", headers=bearer(narrowed)).status_code == 201
    reader = server.token(scope="items:read")
    assert app.get("/items", headers=bearer(reader)).status_code == 200
    assert_problem(app.post("/items", headers=bearer(reader)), 403, "insufficient_scope", missing="items:write")
    admin = server.token("admin", ADMIN_PASSWORD, scope="items:read role:admin")
    assert app.get("/admin", headers=bearer(admin)).status_code == 200

    # Revoked: refused within the cache's time.
    assert httpx.post(server.url + "/oauth2/revoke", headers=bearer(reader), data={"token": reader}).status_code == 200
    time.sleep(TTL + 0.1)
    assert_problem(app.get("/items", headers=bearer(reader)), 401, "invalid_token")
    assert_problem(app.get("/me", headers=bearer("bno_" + "A" * 43)), 401, "invalid_token")


def test_an_unnarrowed_opaque_token_has_the_rights_introspection_names(opaque_setup: dict[str, Any]) -> None:
    """Introspection answers what an unnarrowed (`*`) opaque token may do now: alice may create
    an item here, as Bouncer itself lets her."""
    server, app = opaque_setup["server"], opaque_setup["app"]
    time.sleep(1.1)
    token = server.token()
    assert app.get("/me", headers=bearer(token)).json()["username"] == "alice"
    assert httpx.post(server.url + "/items", headers=bearer(token), json={"name": "x"}).status_code == 201
    r = app.post("/items", headers=bearer(token))
    assert r.status_code == 201, r.text


def test_mode_introspect_needs_client_credentials() -> None:
    from bouncer_auth import Bouncer

    with pytest.raises(ValueError):
        Bouncer("http://127.0.0.1:1", mode="introspect")
