"""FastAPI glue (needs the ``fastapi`` extra): dependencies, the OpenAPI security schemes that make
``/docs``'s Authorize button log in at Bouncer, and problem-document answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from fastapi import FastAPI, Request, Security
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowPassword, OAuthFlows
from fastapi.security import APIKeyHeader, OAuth2
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from ._errors import PROBLEM_CONTENT_TYPE, BouncerError
from ._principal import Principal

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Bouncer

_SCOPE_KEY = "bouncer_auth.principal"


class BouncerHTTPException(HTTPException):
    """A :class:`BouncerError` on its way out of a FastAPI dependency. Answered as a problem
    document; should the handler be missing, FastAPI's own handler still gives the right status
    and headers (with Bouncer's ``detail``)."""

    def __init__(self, error: BouncerError) -> None:
        super().__init__(error.status, detail=error.detail, headers=error.headers or None)
        self.error = error


def problem_response(error: BouncerError) -> JSONResponse:
    return JSONResponse(
        error.problem(), status_code=error.status, headers=error.headers, media_type=PROBLEM_CONTENT_TYPE
    )


async def _handle(_request: Any, exc: Exception) -> JSONResponse:
    err = exc.error if isinstance(exc, BouncerHTTPException) else exc
    assert isinstance(err, BouncerError)
    return problem_response(err)


def _register_handler(scope: Any) -> None:
    """Makes the app answer BouncerHTTPException with a problem document, without an install
    step: Starlette's ExceptionMiddleware puts its (long-lived) handler table in the scope."""
    handlers = scope.get("starlette.exception_handlers")
    if handlers and isinstance(handlers[0], dict):
        handlers[0].setdefault(BouncerHTTPException, _handle)


class _BouncerOAuth2(OAuth2):
    """The OAuth2 password flow at Bouncer's token URL, as the OpenAPI document shows it. Computed
    when the document is made, so it names the metadata's token endpoint once that is known."""

    def __init__(self, auth: Bouncer) -> None:
        self._auth = auth
        self._description = (
            "Bouncer: log in with your username and password (the client is `swagger`, no secret)."
        )
        super().__init__(scheme_name="bouncer", description=self._description, auto_error=False)

    @property  # type: ignore[override]
    def model(self) -> OAuth2Model:
        auth = self._auth
        md = auth.metadata_loaded
        scopes = {s: s for s in (md.scopes_supported if md else ())}
        url = auth.token_url
        return OAuth2Model(
            flows=OAuthFlows(password=OAuthFlowPassword(tokenUrl=url, refreshUrl=url, scopes=scopes)),
            description=self._description,
        )

    @model.setter
    def model(self, _value: Any) -> None:  # the base class sets it; ours is computed
        pass

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None  # only for the OpenAPI document: the credential is read by the dependency


class _ApiKeyDoc(APIKeyHeader):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class FastAPIGlue:
    def __init__(self, auth: Bouncer) -> None:
        self.auth = auth
        self.oauth2 = _BouncerOAuth2(auth)
        self.api_key = _ApiKeyDoc(
            name=auth.api_key_header,
            scheme_name="bouncer_api_key",
            description="A Bouncer API key (bnc_...).",
            auto_error=False,
        )
        self._deps: dict[tuple[str, ...], Callable[..., Any]] = {}

    def dependency(
        self,
        key: tuple[str, ...],
        doc_scopes: list[str],
        check: Callable[[Principal], BouncerError | None] | None,
        optional: bool = False,
    ) -> Callable[..., Any]:
        dep = self._deps.get(key)
        if dep is not None:
            return dep
        auth = self.auth

        async def principal(
            request: Request,
            _bearer: None = Security(self.oauth2, scopes=doc_scopes),
            _api_key: None = Security(self.api_key),
        ) -> Principal | None:
            scope = request.scope
            try:
                p = scope.get(_SCOPE_KEY)
                if p is None:
                    if optional and not _has_credential(request, auth.api_key_header):
                        return None
                    p = await auth.authenticate(request)
                    scope[_SCOPE_KEY] = p
                if check is not None:
                    err = check(p)
                    if err is not None:
                        raise err
                return p
            except BouncerError as e:
                _register_handler(scope)
                raise BouncerHTTPException(e) from None

        principal.__name__ = "bouncer_" + "_".join(k.replace(":", "_").replace("*", "all") for k in key)
        self._deps[key] = principal
        return principal

    def install(self, app: FastAPI) -> None:
        app.add_exception_handler(BouncerHTTPException, _handle)
        app.add_exception_handler(BouncerError, _handle)
        if app.swagger_ui_init_oauth is None:
            app.swagger_ui_init_oauth = {"clientId": "swagger"}
        auth = self.auth
        original = app.openapi

        def openapi() -> dict[str, Any]:
            schema = original()
            if auth.metadata_loaded is None:
                app.openapi_schema = None  # made again once the metadata (and its token URL) is known
            return schema

        app.openapi = openapi  # type: ignore[method-assign]


def _has_credential(request: Request, api_key_header: str) -> bool:
    h = request.headers
    return "authorization" in h or api_key_header in h
