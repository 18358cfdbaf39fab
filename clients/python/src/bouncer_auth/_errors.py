"""Refusals as Bouncer words them: RFC 9457 problem documents with Bouncer's ``code`` and ``missing``,
and RFC 6750 ``WWW-Authenticate`` challenges."""

from __future__ import annotations

from typing import Any

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    503: "Service Unavailable",
}

PROBLEM_CONTENT_TYPE = "application/problem+json"


class BouncerError(Exception):
    """A refusal: an HTTP status, a stable ``code`` (Bouncer's), a ``detail`` for people, and the
    headers that go with it (``WWW-Authenticate``, ``Retry-After``)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        missing: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.missing = missing
        self.headers: dict[str, str] = dict(headers or {})

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body, with the same fields Bouncer sends."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.missing is not None:
            body["missing"] = self.missing
        return body

    def __repr__(self) -> str:
        return f"BouncerError({self.status}, {self.code!r}, {self.detail!r})"


class BouncerUnavailable(BouncerError):
    """Bouncer (its metadata, keys or introspection) does not answer, or answers nonsense: 503."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, "bouncer_unavailable", detail, headers={"Retry-After": "1"})


def _challenge(realm: str, **params: str) -> str:
    parts = [f'realm="{realm}"'] + [f'{k}="{v}"' for k, v in params.items()]
    return "Bearer " + ", ".join(parts)


def unauthorized(realm: str, detail: str = "authentication required") -> BouncerError:
    """401 ``unauthorized``: no credential, or one that is not valid and is not a bearer token."""
    return BouncerError(401, "unauthorized", detail, headers={"WWW-Authenticate": _challenge(realm)})


def invalid_token(realm: str, detail: str = "invalid or expired credentials") -> BouncerError:
    """401 ``invalid_token``: a bearer token was presented and refused (RFC 6750 §3.1)."""
    return BouncerError(
        401,
        "invalid_token",
        detail,
        headers={"WWW-Authenticate": _challenge(realm, error="invalid_token")},
    )


def ambiguous(detail: str) -> BouncerError:
    return BouncerError(400, "ambiguous_credentials", detail)


def insufficient_scope(realm: str, missing: str) -> BouncerError:
    return BouncerError(
        403,
        "insufficient_scope",
        f"the token's scope does not include {missing}",
        missing=missing,
        headers={"WWW-Authenticate": _challenge(realm, error="insufficient_scope", scope=missing)},
    )


def missing_permission(missing: str, note: str = "") -> BouncerError:
    return BouncerError(403, "missing_permission", f"requires the permission {missing}{note}", missing=missing)


def missing_role(missing: str, note: str = "") -> BouncerError:
    return BouncerError(403, "missing_role", f"requires one of the roles: {missing}{note}", missing=missing)
