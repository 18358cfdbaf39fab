"""The small apps the tests protect: what a user of bouncer_auth writes."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bouncer_auth import Bouncer, Principal
from bouncer_auth.starlette import BouncerMiddleware, principal, require, require_role


def as_json(p: Principal | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "id": p.id,
        "username": p.username,
        "roles": list(p.roles),
        "scopes": list(p.scopes),
        "permissions": list(p.permissions),
        "credential": p.credential,
        "client_id": p.client_id,
    }


def fastapi_app(auth: Bouncer) -> FastAPI:
    app = FastAPI(title="items")
    auth.install(app)

    @app.get("/me")
    async def me(p: Principal = Depends(auth.current_principal)) -> Any:
        return as_json(p)

    @app.get("/items")
    async def list_items(p: Principal = Depends(auth.require("items:read"))) -> Any:
        return {"items": [], "caller": p.username}

    @app.post("/items", status_code=201)
    async def create_item(p: Principal = Depends(auth.require("items:write"))) -> Any:
        return {"owner": p.id}

    @app.get("/users")
    async def users(p: Principal = Depends(auth.require("users:read"))) -> Any:
        return {"caller": p.username}

    @app.get("/admin")
    async def admin(p: Principal = Depends(auth.require_role("admin"))) -> Any:
        return {"message": f"Hello, {p.username}!"}

    @app.get("/hello")
    async def hello(p: Principal | None = Depends(auth.optional_principal)) -> Any:
        return {"caller": p.username if p else None}

    @app.get("/_stats")
    async def stats() -> Any:
        return {"jwks_fetches": auth.jwks_fetches, "introspections": auth.introspections}

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    return app


def starlette_app(auth: Bouncer) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse(as_json(principal(request)))

    async def create_item(request: Request) -> JSONResponse:
        p = require(request, "items:write")
        return JSONResponse({"owner": p.id}, status_code=201)

    async def admin(request: Request) -> JSONResponse:
        p = require_role(request, "admin")
        return JSONResponse({"message": f"Hello, {p.username}!"})

    async def healthz(request: Request) -> JSONResponse:
        p = request.scope.get("state", {}).get("principal")
        return JSONResponse({"status": "ok", "caller": p.username if p else None})

    return Starlette(
        routes=[
            Route("/me", me),
            Route("/items", create_item, methods=["POST"]),
            Route("/admin", admin),
            Route("/healthz", healthz),
        ],
        middleware=[Middleware(BouncerMiddleware, auth=auth, public=["/healthz"])],
    )
