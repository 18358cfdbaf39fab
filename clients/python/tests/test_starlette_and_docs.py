"""The Starlette middleware, and the FastAPI app's own /docs and /openapi.json."""

from __future__ import annotations

import httpx
from conftest import ADMIN_PASSWORD, AppServer, BouncerServer, assert_problem, bearer


def test_starlette_middleware(starlette_app: AppServer, bouncer: BouncerServer) -> None:
    # Public path: open, and knows the caller when there is one.
    assert starlette_app.get("/healthz").json() == {"status": "ok", "caller": None}
    assert starlette_app.get("/healthz", headers=bearer(bouncer.token())).json()["caller"] == "alice"
    assert starlette_app.get("/healthz", headers=bearer("x.y.z")).json()["caller"] is None
    # Everything else needs a credential.
    r = starlette_app.get("/me")
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == 'Bearer realm="bouncer"'
    assert_problem(starlette_app.get("/me", headers=bearer("x.y.z")), 401, "invalid_token")
    me = starlette_app.get("/me", headers=bearer(bouncer.token())).json()
    assert me["username"] == "alice" and me["credential"] == "jwt"
    assert starlette_app.post("/items", headers=bearer(bouncer.token())).status_code == 201
    r = starlette_app.post("/items", headers=bearer(bouncer.token(scope="items:read")))
    assert_problem(r, 403, "insufficient_scope", missing="items:write")
    assert r.headers["www-authenticate"] == 'Bearer realm="bouncer", error="insufficient_scope", scope="items:write"'
    assert_problem(starlette_app.get("/admin", headers=bearer(bouncer.token())), 403, "missing_role", missing="admin")
    admin = bouncer.token("admin", ADMIN_PASSWORD)
    assert starlette_app.get("/admin", headers=bearer(admin)).json() == {"message": "Hello, admin!"}
    # Local mode with client credentials: API keys are introspected.
    _, key = bouncer.api_key(["items:read", "items:write"])
    assert starlette_app.post("/items", headers={"X-API-Key": key}).status_code == 201


def test_openapi_names_bouncers_token_url(local_app: AppServer, bouncer: BouncerServer) -> None:
    meta = httpx.get(bouncer.url + "/.well-known/oauth-authorization-server").json()
    local_app.get("/me", headers=bearer(bouncer.token()))  # the metadata has been read
    doc = local_app.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    password = schemes["bouncer"]["flows"]["password"]
    assert password["tokenUrl"] == meta["token_endpoint"] == bouncer.url + "/oauth2/token"
    assert set(password["scopes"]) == set(meta["scopes_supported"])
    assert schemes["bouncer_api_key"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A Bouncer API key (bnc_...)."
    }
    post_items = doc["paths"]["/items"]["post"]
    assert {"bouncer": ["items:write"]} in post_items["security"]
    assert {"bouncer_api_key": []} in post_items["security"]
    assert {"bouncer": ["role:admin"]} in doc["paths"]["/admin"]["get"]["security"]
    assert "security" not in doc["paths"]["/healthz"]["get"]
    # /docs: the Authorize dialog comes with the client id `swagger` (Bouncer's public client).
    html = local_app.get("/docs").text
    assert 'ui.initOAuth({"clientId": "swagger"})' in html


def test_the_authorize_button_works_from_the_apps_origin(local_app: AppServer, bouncer: BouncerServer) -> None:
    """What Swagger UI on the app's /docs sends to Bouncer's token URL (cross-origin), given that
    the operator lists the app's origin under Bouncer's [cors]."""
    origin = local_app.url
    token_url = local_app.get("/openapi.json").json()["components"]["securitySchemes"]["bouncer"]["flows"][
        "password"]["tokenUrl"]
    pre = httpx.options(token_url, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.headers.get("access-control-allow-origin") == origin
    r = httpx.post(token_url, headers={"Origin": origin}, auth=("swagger", ""),
                   data={"grant_type": "password", "username": "alice", "password": "correct horse"})
    assert r.status_code == 200 and r.headers.get("access-control-allow-origin") == origin
    assert local_app.get("/me", headers=bearer(r.json()["access_token"])).status_code == 200
