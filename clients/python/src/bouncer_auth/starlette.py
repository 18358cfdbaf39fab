"""A pure ASGI middleware for Starlette (or any ASGI) apps (needs the ``starlette`` extra).

::

    from bouncer_auth import Bouncer
    from bouncer_auth.starlette import BouncerMiddleware, principal, require

    auth = Bouncer("http://127.0.0.1:8080")
    app = Starlette(routes=[...], middleware=[Middleware(BouncerMiddleware, auth=auth, public=["/healthz"])])

    async def create_item(request):
        who = require(request, "items:write")   # 403 problem document unless allowed
        ...

Every request but those to ``public`` paths must carry a valid credential (401 otherwise); the
caller is then ``request.user`` and ``request.state.principal``. ``permission``/``role`` make every
protected path need that too; :func:`require` and :func:`require_role` check inside an endpoint
(the middleware turns their refusal into Bouncer's answer).
"""

from __future__ import annotations

from typing import Any, Iterable

try:
    from starlette.requests import HTTPConnection
    from starlette.responses import JSONResponse
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as e:  # pragma: no cover
    raise ImportError(f"bouncer_auth.starlette needs Starlette: pip install 'bouncer-auth[starlette]' ({e})") from e

from . import _errors, _rules
from ._client import Bouncer
from ._errors import PROBLEM_CONTENT_TYPE, BouncerError
from ._principal import Principal

__all__ = ["BouncerMiddleware", "principal", "problem_response", "require", "require_role"]


def problem_response(error: BouncerError) -> JSONResponse:
    """Bouncer's answer for a refusal: the problem document with its headers."""
    return JSONResponse(
        error.problem(), status_code=error.status, headers=error.headers, media_type=PROBLEM_CONTENT_TYPE
    )


class BouncerMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        auth: Bouncer,
        *,
        public: Iterable[str] = (),
        permission: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
    ) -> None:
        """``public``: paths open to anyone (an entry ending in ``/`` is a prefix; the caller, if it
        sends a valid credential, is still known; a refused one is ignored there). ``permission``: every one needed on every other
        path. ``role``: one of these roles needed on every other path."""
        self.app = app
        self.auth = auth
        public = list(public)
        self._public_exact = frozenset(p for p in public if not p.endswith("/"))
        self._public_prefixes = tuple(p for p in public if p.endswith("/"))
        perms = [permission] if isinstance(permission, str) else list(permission or ())
        self._perms = tuple(_rules.parse_required(p) for p in perms)
        self._roles = (role,) if isinstance(role, str) else tuple(role or ())

    def _is_public(self, path: str) -> bool:
        return path in self._public_exact or path.startswith(self._public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        public = self._is_public(scope.get("path", ""))
        try:
            p = await self._principal(scope, public)
        except BouncerError as e:
            await self._refuse(e, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["bouncer_realm"] = self.auth.realm
        if p is not None:
            scope["user"] = p
            state["principal"] = p

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except BouncerError as e:
            if started:
                raise
            await self._refuse(e, scope, receive, send)

    async def _principal(self, scope: Scope, public: bool) -> Principal | None:
        if public:
            raw = scope.get("headers") or []
            names = {n for n, _ in raw}
            if b"authorization" not in names and self.auth._api_key_header_raw not in names:
                return None
        try:
            p = await self.auth.authenticate(list(scope.get("headers") or []))
        except BouncerError:
            if public:  # a public path stays open, whatever credential comes along
                return None
            raise
        if not public:
            for perm in self._perms:
                err = p.check_permission(perm, self.auth.realm)
                if err is not None:
                    raise err
            if self._roles:
                err = p.check_roles(self._roles, self.auth.realm)
                if err is not None:
                    raise err
        return p

    async def _refuse(self, e: BouncerError, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": e.code})
            return
        await problem_response(e)(scope, receive, send)


def principal(request: HTTPConnection) -> Principal:
    """The caller the middleware authenticated (401 if the path was public and had none)."""
    p: Any = request.scope.get("state", {}).get("principal")
    if not isinstance(p, Principal):
        raise _errors.unauthorized(_realm(request))
    return p


def _realm(request: HTTPConnection) -> str:
    return str(request.scope.get("state", {}).get("bouncer_realm", "bouncer"))


def require(request: HTTPConnection, *permissions: str) -> Principal:
    """The caller, who must hold every one of ``permissions``; raises the refusal otherwise (the
    middleware answers it)."""
    p = principal(request)
    for perm in permissions:
        err = p.check_permission(perm, _realm(request))
        if err is not None:
            raise err
    return p


def require_role(request: HTTPConnection, *roles: str) -> Principal:
    """The caller, who must be able to use one of ``roles``; raises the refusal otherwise."""
    p = principal(request)
    err = p.check_roles(tuple(roles), _realm(request))
    if err is not None:
        raise err
    return p
