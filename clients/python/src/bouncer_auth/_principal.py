"""The one answer to "who is calling", whatever the credential."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from . import _errors, _rules

CredentialKind = Literal["jwt", "opaque", "client", "api_key"]
"""How the caller proved who they are, named as Bouncer names them in policies: ``jwt`` (a user's JWT
access token), ``opaque`` (a user's ``bno_...`` token), ``client`` (a machine client's own token,
from the client-credentials grant) and ``api_key`` (a user's ``bnc_...`` key)."""

_UNKNOWN_RIGHTS_NOTE = (
    " (Bouncer's introspection does not say which permissions and roles this credential holds;"
    " use JWT access tokens or a narrowed scope)"
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``roles`` are the roles this credential may use (a narrowed token only those its scope names
    with ``role:NAME``), ``scopes`` the credential's scope, ``permissions`` what it may do: its
    rights, already narrowed by the scope. ``claims`` is the verified JWT payload or the
    introspection answer.
    """

    id: str
    username: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    permissions: tuple[str, ...]
    credential: CredentialKind
    client_id: str | None = None
    expires_at: int | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    permissions_known: bool = field(default=True, repr=False)
    """False when Bouncer did not say what this credential may do (an introspected opaque token
    with the scope ``*``): every permission requirement is then refused."""
    roles_known: bool = field(default=True, repr=False)
    """False when Bouncer did not say which roles this credential may use (an introspected API key,
    or opaque token with the scope ``*``): every role requirement is then refused."""

    _scope_set: tuple[_rules.Perm, ...] = field(init=False, repr=False, compare=False)
    _perm_set: tuple[_rules.Perm, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scope_set", _rules.parse_set(self.scopes))
        object.__setattr__(self, "_perm_set", _rules.parse_set(self.permissions))

    @property
    def is_user(self) -> bool:
        """A user, not a machine client acting for itself."""
        return self.credential != "client"

    def has_permission(self, permission: str) -> bool:
        """Whether this credential may use ``permission``: its scope and its rights both cover it."""
        return self.check_permission(permission) is None

    def has_role(self, role: str) -> bool:
        """Whether this credential may use the role ``role``."""
        return self.check_roles((role,)) is None

    def check_permission(self, permission: str | _rules.Perm, realm: str = "bouncer") -> _errors.BouncerError | None:
        """``None`` when allowed, otherwise the refusal Bouncer would give.

        As on the server, a permission the credential's scope does not cover is
        ``insufficient_scope``; one the scope covers and the rights do not is ``missing_permission``.
        (Bouncer itself, knowing the user's full rights, says ``missing_permission`` when both are
        missing; the token only carries its narrowed rights, so that case reads as
        ``insufficient_scope`` here.)
        """
        required = _rules.parse_required(permission) if isinstance(permission, str) else permission
        name = _perm_name(required)
        if not _rules.set_covers(self._scope_set, required):
            return _errors.insufficient_scope(realm, name)
        if not _rules.set_covers(self._perm_set, required):
            return _errors.missing_permission(name, "" if self.permissions_known else _UNKNOWN_RIGHTS_NOTE)
        return None

    def check_roles(self, roles: tuple[str, ...], realm: str = "bouncer") -> _errors.BouncerError | None:
        """``None`` when this credential may use one of ``roles``, otherwise the refusal.

        A narrowed scope that names none of the roles is ``insufficient_scope`` (``role:NAME``);
        otherwise a role the subject lacks is ``missing_role``.
        """
        if not self.roles_known:
            return _errors.missing_role(",".join(roles), _UNKNOWN_RIGHTS_NOTE)
        for r in roles:
            if r in self.roles and _rules.set_covers(self._scope_set, _rules.role_scope(r)):
                return None
        # A client has no roles at all; for a user's narrowed token, a scope naming none of the
        # roles is what is missing as far as the token shows.
        if (
            self.credential != "client"
            and roles
            and not any(_rules.set_covers(self._scope_set, _rules.role_scope(r)) for r in roles)
        ):
            return _errors.insufficient_scope(realm, f"{_rules.ROLE_SCOPE}:{roles[0]}")
        return _errors.missing_role(",".join(roles))


def _perm_name(p: _rules.Perm) -> str:
    return "*" if p == _rules.ALL else f"{p[0]}:{p[1]}"
