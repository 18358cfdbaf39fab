"""Bouncer's permission grammar and scope rules, mirrored from the server (crates/core/src/permission).

A permission is ``resource:action``, ``resource:*`` or ``*``. Held ``*`` covers everything; held
``items:*`` covers ``items:*`` and every ``items:ACTION``; an exact permission covers only itself.
A wildcard requirement is met only by an equal or wider wildcard, never by a set of exact ones.
``role:NAME`` (and ``role:*``) in a scope names roles, not permissions: a narrowed token may use the
role ``NAME`` only when its scope covers ``role:NAME``.
"""

from __future__ import annotations

import re
from typing import Iterable

# (resource, action): "*" is ("*", "*"), "items:*" is ("items", "*").
Perm = tuple[str, str]
ALL: Perm = ("*", "*")
ROLE_SCOPE = "role"

_SEGMENT = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")


def parse(s: str) -> Perm | None:
    """Parses ``*``, ``resource:*`` or ``resource:action`` (lowercase ASCII letters, digits, ``_-.``)."""
    if s == "*":
        return ALL
    resource, sep, action = s.partition(":")
    if not sep or not _SEGMENT.fullmatch(resource):
        return None
    if action == "*" or _SEGMENT.fullmatch(action):
        return (resource, action)
    return None


def parse_required(s: str) -> Perm:
    """A permission named in code (``auth.require("items:write")``): invalid ones fail at once."""
    p = parse(s)
    if p is None:
        raise ValueError(f"not a Bouncer permission: {s!r} (expected resource:action, resource:* or *)")
    return p


def covers(held: Perm, required: Perm) -> bool:
    """Whether holding ``held`` grants ``required`` (``Permission::covers`` on the server)."""
    if held == ALL:
        return True
    if required == ALL:
        return False
    if held[1] == "*":
        return held[0] == required[0]
    return held == required


def set_covers(held: Iterable[Perm], required: Perm) -> bool:
    return any(covers(h, required) for h in held)


def parse_set(items: Iterable[str]) -> tuple[Perm, ...]:
    """The valid entries of a list (unknown grammar is ignored: it can grant nothing)."""
    out = []
    for s in items:
        p = parse(s)
        if p is not None:
            out.append(p)
    return tuple(out)


def role_scope(role: str) -> Perm:
    return (ROLE_SCOPE, role)


def names_role(p: Perm) -> bool:
    return p[0] == ROLE_SCOPE
