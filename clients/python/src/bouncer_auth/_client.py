"""The Bouncer client: RFC 8414 metadata (fetched lazily), the JWKS cache, introspection, and the
checks that turn a request's credential into a :class:`Principal` or a refusal."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence

import httpx
import jwt

from . import _errors, _rules
from ._errors import BouncerError, BouncerUnavailable
from ._principal import Principal

if TYPE_CHECKING:  # pragma: no cover
    from starlette.requests import HTTPConnection

    from ._fastapi import FastAPIGlue

log = logging.getLogger("bouncer_auth")

Mode = Literal["local", "introspect"]

API_KEY_PREFIX = "bnc_"
_MAX_TOKEN_BYTES = 16 * 1024
_MAX_CACHE_ENTRIES = 10_000
_FAILURE_BACKOFF_S = 1.0  # after a failed fetch, answer 503 at once for this long instead of asking again
_MAX_STALE_S = 24 * 3600.0  # keys older than their max-age stay usable while Bouncer cannot be reached
_TYP = {"at+jwt", "application/at+jwt"}
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)

# The only algorithms a JWKS key can pin, by key type and curve. Symmetric (`oct`) keys are never
# taken from a key set: HS256 tokens can only be checked by Bouncer (introspection).
_EC_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


@dataclass(frozen=True)
class Metadata:
    """What ``/.well-known/oauth-authorization-server`` said (RFC 8414)."""

    issuer: str
    token_endpoint: str
    jwks_uri: str | None
    introspection_endpoint: str | None
    revocation_endpoint: str | None
    scopes_supported: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass
class _LoopState:
    """What cannot be shared between event loops: the HTTP client and the single-flight locks."""

    client: httpx.AsyncClient
    metadata_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    jwks_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _alg_for(jwk: Mapping[str, Any]) -> str | None:
    """The one algorithm a JWK may verify, from its key type (and the `alg` it declares, which must
    agree); `None` for keys this package will not use."""
    kty, crv, declared = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if kty == "OKP" and crv == "Ed25519":
        alg = "EdDSA"
    elif kty == "EC" and crv in _EC_CURVES:
        alg = _EC_CURVES[crv]
    elif kty == "RSA":
        alg = declared if declared in _RSA_ALGS else "RS256"
    else:
        return None
    if declared is not None and declared != alg:
        return None
    return alg


def _parse_jwks(doc: Any) -> dict[str, tuple[str, Any]]:
    keys: dict[str, tuple[str, Any]] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK set")
    for jwk in doc["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
            continue
        alg = _alg_for(jwk)
        if alg is None:
            log.debug("JWKS key %s (%s) ignored: no asymmetric signing algorithm", kid, jwk.get("kty"))
            continue
        public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")}
        try:
            key = jwt.PyJWK(public, algorithm=alg).key
        except Exception as e:  # noqa: BLE001 - a key we cannot read is a key we do not use
            log.warning("JWKS key %s ignored: %s", kid, e)
            continue
        if alg.startswith(("RS", "PS")) and getattr(key, "key_size", 0) < 2048:
            log.warning("JWKS key %s ignored: RSA key under 2048 bits", kid)
            continue
        keys[kid] = (alg, key)
    return keys


def _str_list(v: Any) -> tuple[str, ...] | None:
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(v)
    return None


class Bouncer:
    """Protects an app with a Bouncer server.

    ``Bouncer("http://127.0.0.1:8080")`` reads the server's RFC 8414 metadata on first use (never at
    construction: the app starts, and answers 503, while Bouncer is down).

    - ``mode="local"`` (default): JWT access tokens are verified here, against Bouncer's JWKS; no
      call to Bouncer per request. A revoked token is accepted until it expires (15 minutes by
      default). Opaque tokens and API keys are checked by introspection when ``client_id`` and
      ``client_secret`` are given, and refused otherwise.
    - ``mode="introspect"``: every credential is also introspected (answers cached for
      ``introspection_cache_ttl`` seconds), so a revocation takes effect within that time. Needs a
      client holding ``tokens:introspect``.
    """

    def __init__(
        self,
        url: str,
        *,
        mode: Mode = "local",
        audience: str = "bouncer",
        issuer: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        introspection_cache_ttl: float = 1.0,
        leeway: float = 10.0,
        timeout: float = 5.0,
        jwks_refetch_interval: float = 10.0,
        verified_cache_size: int = 4096,
        api_key_header: str = "X-API-Key",
        token_url: str | None = None,
        realm: str = "bouncer",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if mode not in ("local", "introspect"):
            raise ValueError(f"mode must be 'local' or 'introspect', not {mode!r}")
        if (client_id is None) != (client_secret is None):
            raise ValueError("give both client_id and client_secret, or neither")
        if mode == "introspect" and client_id is None:
            raise ValueError("mode='introspect' needs client_id and client_secret (a client holding tokens:introspect)")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Bouncer's URL must be http(s)://..., not {url!r}")
        self.url = url.rstrip("/")
        self.mode: Mode = mode
        self.audience = audience
        self.issuer = (issuer or self.url).rstrip("/")
        self.leeway = float(leeway)
        self.timeout = float(timeout)
        self.introspection_cache_ttl = float(introspection_cache_ttl)
        self.jwks_refetch_interval = float(jwks_refetch_interval)
        self.api_key_header = api_key_header
        self.realm = realm
        self._api_key_header_raw = api_key_header.lower().encode("latin-1")
        self._client_auth = (
            (client_id, client_secret) if client_id is not None and client_secret is not None else None
        )
        self._token_url = token_url
        self._transport = transport
        self._verified_cache_size = max(0, int(verified_cache_size))

        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

        self._metadata: Metadata | None = None
        self._metadata_failed_at = -1e9
        self._metadata_error = ""

        self._keys: dict[str, tuple[str, Any]] | None = None
        self._keys_fetched_at = -1e9
        self._keys_max_age = 300.0
        self._jwks_last_attempt = -1e9
        self._jwks_failed_at = -1e9
        self._jwks_error = ""
        self.jwks_fetches = 0
        """How many times the JWKS was fetched (for tests and monitoring)."""
        self.introspections = 0
        """How many introspection requests were sent (cache misses)."""

        self._verified: dict[str, tuple[float, float, Principal]] = {}
        self._introspected: dict[bytes, tuple[float, Mapping[str, Any]]] = {}

        self._fastapi: FastAPIGlue | None = None  # the FastAPI glue, made on first use (FastAPI is optional)

    # ------------------------------------------------------------------ plumbing

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            with self._lock:
                state = self._loops.get(loop)
                if state is None:
                    client = httpx.AsyncClient(
                        timeout=httpx.Timeout(self.timeout),
                        follow_redirects=False,
                        transport=self._transport,
                        headers={"Accept": "application/json", "User-Agent": "bouncer-auth/0.1.0"},
                    )
                    state = _LoopState(client=client)
                    self._loops[loop] = state
        return state

    async def aclose(self) -> None:
        """Closes this event loop's HTTP connections (call at shutdown; optional)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loops.pop(loop, None)
        if state is not None:
            await state.client.aclose()

    async def _get(self, url: str, what: str) -> httpx.Response:
        try:
            r = await self._loop_state().client.get(url)
        except httpx.HTTPError as e:
            raise BouncerUnavailable(f"Bouncer does not answer ({what}: {type(e).__name__})") from None
        if r.status_code != 200:
            raise BouncerUnavailable(f"Bouncer answered {r.status_code} for {what}")
        return r

    # ------------------------------------------------------------------ metadata

    @property
    def metadata_loaded(self) -> Metadata | None:
        """The metadata if it has been read, else ``None`` (never fetches)."""
        return self._metadata

    @property
    def token_url(self) -> str:
        """Bouncer's token endpoint: the ``token_url`` given, else the metadata's once read, else
        the URL's ``/oauth2/token``."""
        if self._token_url:
            return self._token_url
        md = self._metadata
        return md.token_endpoint if md else self.url + "/oauth2/token"

    async def metadata(self) -> Metadata:
        """Bouncer's RFC 8414 metadata, fetched once (a failure is retried after a second; until
        then every request is answered 503)."""
        md = self._metadata
        if md is not None:
            return md
        if time.monotonic() - self._metadata_failed_at < _FAILURE_BACKOFF_S:
            raise BouncerUnavailable(self._metadata_error)
        state = self._loop_state()
        async with state.metadata_lock:
            if self._metadata is not None:
                return self._metadata
            try:
                md = await self._fetch_metadata()
            except BouncerUnavailable as e:
                self._metadata_failed_at = time.monotonic()
                self._metadata_error = e.detail
                log.warning("bouncer_auth: %s", e.detail)
                raise
            self._metadata = md
            return md

    async def _fetch_metadata(self) -> Metadata:
        r = await self._get(self.url + "/.well-known/oauth-authorization-server", "its metadata")
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise BouncerUnavailable("Bouncer's metadata is not a JSON object")

        def url_field(name: str, required: bool) -> str | None:
            v = doc.get(name)
            if v is None and not required:
                return None
            if not isinstance(v, str) or not v.startswith(("http://", "https://")):
                raise BouncerUnavailable(f"Bouncer's metadata has no valid {name}")
            return v

        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer:
            raise BouncerUnavailable(
                f"Bouncer's metadata names the issuer {issuer!r}, not {self.issuer!r} (pass issuer=...)"
            )
        scopes = _str_list(doc.get("scopes_supported")) or ()
        return Metadata(
            issuer=issuer,
            token_endpoint=url_field("token_endpoint", True) or "",
            jwks_uri=url_field("jwks_uri", False),
            introspection_endpoint=url_field("introspection_endpoint", False),
            revocation_endpoint=url_field("revocation_endpoint", False),
            scopes_supported=scopes,
            raw=doc,
        )

    # ------------------------------------------------------------------ keys

    async def _refresh_jwks(self, asked_at: float) -> None:
        """Fetches the JWKS unless another task did since ``asked_at`` (single flight per loop;
        across threads, at worst one fetch each). A failure keeps the keys in hand."""
        state = self._loop_state()
        async with state.jwks_lock:
            with self._lock:
                if self._jwks_last_attempt >= asked_at:
                    return
                self._jwks_last_attempt = time.monotonic()
            try:
                md = await self.metadata()
                if md.jwks_uri is None:
                    raise BouncerUnavailable("Bouncer's metadata has no jwks_uri")
                r = await self._get(md.jwks_uri, "its keys")
                try:
                    keys = _parse_jwks(r.json())
                except ValueError as e:
                    raise BouncerUnavailable(f"Bouncer's JWKS is not a key set ({e})") from None
            except BouncerUnavailable as e:
                self._jwks_failed_at = time.monotonic()
                self._jwks_error = e.detail
                log.warning("bouncer_auth: %s", e.detail)
                return
            m = _MAX_AGE.search(r.headers.get("cache-control", ""))
            max_age = min(max(float(m.group(1)), 10.0), 86400.0) if m else 300.0
            with self._lock:
                self._keys = keys
                self._keys_fetched_at = time.monotonic()
                self._keys_max_age = max_age
                self.jwks_fetches += 1
                self._verified.clear()  # a key may have gone: verify again
            log.debug("bouncer_auth: JWKS fetched, kids %s", sorted(keys))

    async def _signing_key(self, kid: str) -> tuple[str, Any] | None:
        """The (algorithm, key) for ``kid``; ``None`` if the key set does not have it even after the
        one refetch an unknown ``kid`` may cause (at most one per ``jwks_refetch_interval``)."""
        now = time.monotonic()
        keys = self._keys
        if keys is None or now - self._keys_fetched_at >= self._keys_max_age:
            if now - self._jwks_failed_at >= _FAILURE_BACKOFF_S:
                await self._refresh_jwks(now)
            keys = self._keys
            if keys is None or time.monotonic() - self._keys_fetched_at > self._keys_max_age + _MAX_STALE_S:
                raise BouncerUnavailable(self._jwks_error or "Bouncer's keys could not be fetched")
        found = keys.get(kid)
        if found is not None:
            return found
        lock = self._loop_state().jwks_lock
        if lock.locked():  # a fetch is under way: its answer may have the key
            async with lock:
                pass
            keys = self._keys or {}
            found = keys.get(kid)
            if found is not None:
                return found
        now = time.monotonic()
        if now - self._jwks_last_attempt < self.jwks_refetch_interval:
            return None
        await self._refresh_jwks(now)
        keys = self._keys
        return keys.get(kid) if keys is not None else None

    # ------------------------------------------------------------------ JWTs

    async def _verify_jwt(self, token: str) -> Principal:
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None:
            exp, nbf, p = hit
            if nbf - self.leeway <= now < exp + self.leeway:
                return p
            self._verified.pop(token, None)
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: the token has expired")
        md = await self.metadata()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: not a JWT") from None
        typ, alg, kid = header.get("typ"), header.get("alg"), header.get("kid")
        if not isinstance(typ, str) or typ.lower() not in _TYP:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: not an access token (typ)")
        if "crit" in header:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: unsupported crit header")
        if not isinstance(kid, str) or not isinstance(alg, str):
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: no kid or alg")
        # jku, x5u, jwk and x5c are never looked at: keys come from Bouncer's JWKS only.
        found = await self._signing_key(kid)
        if found is None:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: unknown signing key")
        key_alg, key = found
        if alg != key_alg:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: wrong algorithm for the key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key_alg],
                audience=self.audience,
                issuer=md.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: the token has expired") from None
        except jwt.InvalidAudienceError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: wrong audience") from None
        except jwt.InvalidIssuerError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: wrong issuer") from None
        except jwt.ImmatureSignatureError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: not valid yet") from None
        except jwt.InvalidTokenError:
            raise _errors.invalid_token(self.realm, "invalid or expired credentials") from None
        p = self._principal_from_claims(claims)
        if self._verified_cache_size:
            if len(self._verified) >= self._verified_cache_size:
                try:
                    self._verified.pop(next(iter(self._verified)))
                except (StopIteration, KeyError, RuntimeError):
                    pass
            nbf_claim = claims.get("nbf")
            self._verified[token] = (
                float(claims["exp"]),
                float(nbf_claim) if isinstance(nbf_claim, (int, float)) else float("-inf"),
                p,
            )
        return p

    def _principal_from_claims(self, c: Mapping[str, Any]) -> Principal:
        sub, username, scope = c.get("sub"), c.get("username", ""), c.get("scope", "")
        roles, perms = _str_list(c.get("roles", [])), _str_list(c.get("permissions", []))
        client_id = c.get("client_id")
        if (
            not isinstance(sub, str)
            or not isinstance(username, str)
            or not isinstance(scope, str)
            or roles is None
            or perms is None
            or not (client_id is None or isinstance(client_id, str))
        ):
            raise _errors.invalid_token(self.realm, "invalid or expired credentials: malformed claims")
        scopes = tuple(s for s in scope.split(" ") if s)
        scope_set = _rules.parse_set(scopes)
        usable = tuple(r for r in roles if _rules.set_covers(scope_set, _rules.role_scope(r)))
        return Principal(
            id=sub,
            username=username,
            roles=usable,
            scopes=scopes,
            permissions=perms,
            credential="client" if client_id is not None and client_id == sub else "jwt",
            client_id=client_id,
            expires_at=int(c["exp"]),
            claims=c,
        )

    # ------------------------------------------------------------------ introspection

    async def introspect(self, token: str) -> Mapping[str, Any]:
        """RFC 7662 introspection of ``token`` with this service's client credentials; answers are
        cached for ``introspection_cache_ttl`` seconds (never past the token's ``exp``)."""
        if self._client_auth is None:
            raise RuntimeError("introspection needs client_id and client_secret")
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        now = time.monotonic()
        hit = self._introspected.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        md = await self.metadata()
        if md.introspection_endpoint is None:
            raise BouncerUnavailable("Bouncer's metadata has no introspection_endpoint")
        try:
            r = await self._loop_state().client.post(
                md.introspection_endpoint, data={"token": token}, auth=self._client_auth
            )
        except httpx.HTTPError as e:
            raise BouncerUnavailable(f"Bouncer does not answer (introspection: {type(e).__name__})") from None
        if r.status_code == 401:
            log.error("bouncer_auth: Bouncer refused this service's client credentials for introspection")
            raise BouncerUnavailable("Bouncer refused this service's client credentials for introspection")
        if r.status_code != 200:
            raise BouncerUnavailable(f"Bouncer answered {r.status_code} for an introspection")
        try:
            data = r.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
            raise BouncerUnavailable("Bouncer's introspection answer is not RFC 7662")
        with self._lock:
            self.introspections += 1
        ttl = self.introspection_cache_ttl
        exp = data.get("exp")
        if data["active"] and isinstance(exp, (int, float)) and exp > 0:
            ttl = min(ttl, exp - time.time())
        if ttl > 0:
            if len(self._introspected) >= _MAX_CACHE_ENTRIES:
                self._expire_introspections()
            self._introspected[digest] = (time.monotonic() + ttl, data)
        return data

    def _expire_introspections(self) -> None:
        now = time.monotonic()
        with self._lock:
            for k in [k for k, (until, _) in self._introspected.items() if until <= now]:
                self._introspected.pop(k, None)
            while len(self._introspected) >= _MAX_CACHE_ENTRIES:
                self._introspected.pop(next(iter(self._introspected)), None)

    def _principal_from_introspection(self, d: Mapping[str, Any], api_key: bool) -> Principal:
        """A principal from an active introspection answer of an opaque token or an API key.

        Bouncer's answer has ``roles`` and ``permissions`` (what the credential may use now), used
        when present; without them (an older Bouncer) the rights are read from ``scope``.
        For an API key, ``scope`` is what the key can use now (its scopes ∩ its owner's
        permissions): its rights; its roles are not said. For an opaque access token, ``scope`` is
        the scope granted at issue: when narrowed, every entry was held then, so the rights are
        its permissions and the roles its ``role:NAME`` entries; for ``*``, nothing is known.
        """
        sub, username, scope = d.get("sub"), d.get("username", ""), d.get("scope", "")
        client_id = d.get("client_id") or None
        if not isinstance(sub, str) or not isinstance(username, str) or not isinstance(scope, str):
            raise BouncerUnavailable("Bouncer's introspection answer lacks sub, username or scope")
        scopes = tuple(s for s in scope.split(" ") if s)
        parsed = _rules.parse_set(scopes)
        explicit_perms, explicit_roles = _str_list(d.get("permissions")), _str_list(d.get("roles"))
        role_entries = tuple(p[1] for p in parsed if _rules.names_role(p) and p[1] != "*")
        perm_entries = tuple(s for s, p in zip(scopes, map(_rules.parse, scopes)) if p and not _rules.names_role(p))
        perms: tuple[str, ...]
        roles: tuple[str, ...]
        if api_key:
            perms, perms_known = perm_entries, True
            roles, roles_known = (), False
        elif _rules.ALL in parsed:
            perms, perms_known = (), False
            roles, roles_known = (), False
        else:
            perms, perms_known = perm_entries, True
            roles, roles_known = role_entries, not any(p == (_rules.ROLE_SCOPE, "*") for p in parsed)
        if explicit_perms is not None:
            perms, perms_known = explicit_perms, True
        if explicit_roles is not None:
            roles, roles_known = explicit_roles, True
        exp = d.get("exp")
        kind: Any = "api_key" if api_key else ("client" if client_id is not None and client_id == sub else "opaque")
        return Principal(
            id=sub,
            username=username,
            roles=roles,
            scopes=scopes,
            permissions=perms,
            credential=kind,
            client_id=client_id if isinstance(client_id, str) else None,
            expires_at=int(exp) if isinstance(exp, (int, float)) and exp > 0 else None,
            claims=d,
            permissions_known=perms_known,
            roles_known=roles_known,
        )

    # ------------------------------------------------------------------ credentials

    async def verify_token(self, token: str) -> Principal:
        """Checks a bearer access token (a JWT, or with introspection an opaque ``bno_...``)."""
        if not token or len(token) > _MAX_TOKEN_BYTES:
            raise _errors.invalid_token(self.realm)
        if token.count(".") == 2:
            p = await self._verify_jwt(token)
            if self.mode == "introspect":
                d = await self.introspect(token)
                if not d["active"] or d.get("token_type", "access_token") != "access_token" or d.get("sub") != p.id:
                    raise _errors.invalid_token(self.realm, "invalid or expired credentials: revoked")
            return p
        if token.startswith(API_KEY_PREFIX) or self._client_auth is None:
            raise _errors.invalid_token(
                self.realm,
                "invalid or expired credentials"
                + ("" if self._client_auth else ": this service checks JWTs only (no introspection credentials)"),
            )
        d = await self.introspect(token)
        if not d["active"] or d.get("token_type") != "access_token":
            raise _errors.invalid_token(self.realm)
        return self._principal_from_introspection(d, api_key=False)

    async def verify_api_key(self, key: str) -> Principal:
        """Checks an API key (``bnc_...``) by introspection."""
        if not key.startswith(API_KEY_PREFIX) or len(key) > _MAX_TOKEN_BYTES:
            raise _errors.unauthorized(self.realm, "invalid or expired credentials")
        if self._client_auth is None:
            raise _errors.unauthorized(
                self.realm, "this service cannot check API keys: it has no introspection credentials"
            )
        d = await self.introspect(key)
        if not d["active"] or d.get("token_type") != "api_key":
            raise _errors.unauthorized(self.realm, "invalid or expired credentials")
        return self._principal_from_introspection(d, api_key=True)

    def _credential(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str]:
        """("bearer", token) or ("api_key", key) from a request's headers, as Bouncer takes them:
        the Authorization header first, then the API-key header; two that disagree are refused."""
        auths: list[bytes] = []
        keys: list[bytes] = []
        for name, value in raw_headers:
            if name == b"authorization":
                auths.append(value)
            elif name == self._api_key_header_raw:
                keys.append(value)
        key_values = {k.decode("latin-1").strip() for k in keys}
        if len(auths) > 1:
            raise _errors.ambiguous("more than one Authorization header")
        if len(key_values) > 1:
            raise _errors.ambiguous(f"more than one {self.api_key_header} header")
        if auths:
            scheme, _, rest = auths[0].decode("latin-1").strip().partition(" ")
            scheme = scheme.lower()
            rest = rest.strip()
            if scheme == "bearer":
                if not rest:
                    raise _errors.invalid_token(self.realm)
                return "bearer", rest
            if scheme == "basic":
                try:
                    _, sep, password = base64.b64decode(rest, validate=True).decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    sep, password = "", ""
                if sep and password.startswith(API_KEY_PREFIX):
                    if key_values and key_values != {password}:
                        raise _errors.ambiguous("different API keys in different places")
                    return "api_key", password
                raise _errors.unauthorized(
                    self.realm, "this service takes bearer tokens and API keys, not passwords"
                )
            raise _errors.unauthorized(self.realm, "unsupported authorization scheme")
        if key_values:
            return "api_key", key_values.pop()
        raise _errors.unauthorized(self.realm)

    async def authenticate(self, request: HTTPConnection | Sequence[tuple[bytes, bytes]]) -> Principal:
        """The caller of a request (a Starlette/FastAPI request, or ASGI raw headers), or a
        :class:`BouncerError` (401, 400, or 503 while Bouncer cannot be reached)."""
        raw = request if isinstance(request, (list, tuple)) else getattr(request, "headers").raw
        kind, value = self._credential(raw)
        if kind == "bearer":
            return await self.verify_token(value)
        return await self.verify_api_key(value)

    # ------------------------------------------------------------------ FastAPI

    def _glue(self) -> FastAPIGlue:
        if self._fastapi is None:
            try:
                from ._fastapi import FastAPIGlue
            except ImportError as e:
                raise ImportError(f"FastAPI dependencies need FastAPI: pip install 'bouncer-auth[fastapi]' ({e})") from e
            self._fastapi = FastAPIGlue(self)
        return self._fastapi

    def require(self, *permissions: str) -> Callable[..., Any]:
        """A FastAPI dependency: the caller, who must hold every one of ``permissions`` (scope and
        rights), else 403 ``insufficient_scope`` (with its ``WWW-Authenticate`` challenge) or
        ``missing_permission``. ``Depends(auth.require("items:write"))``."""
        parsed = tuple(_rules.parse_required(p) for p in permissions)
        return self._glue().dependency(("perm",) + permissions, list(permissions), _permission_check(parsed, self.realm))

    def require_role(self, *roles: str) -> Callable[..., Any]:
        """A FastAPI dependency: the caller, who must be able to use one of ``roles`` (a narrowed
        token only with ``role:NAME`` in its scope), else 403 ``missing_role`` or
        ``insufficient_scope``."""
        if not roles:
            raise ValueError("require_role needs at least one role")
        realm = self.realm
        return self._glue().dependency(
            ("role",) + roles, [f"role:{r}" for r in roles], lambda p: p.check_roles(tuple(roles), realm)
        )

    @property
    def current_principal(self) -> Callable[..., Any]:
        """A FastAPI dependency: the authenticated caller, any credential; 401 without one."""
        return self._glue().dependency(("any",), [], None)

    @property
    def optional_principal(self) -> Callable[..., Any]:
        """A FastAPI dependency: the caller, or ``None`` when the request has no credential at all
        (a credential that is refused is still 401)."""
        return self._glue().dependency(("optional",), [], None, optional=True)

    def install(self, app: Any) -> None:
        """Optional for FastAPI apps: problem documents for :class:`BouncerError` raised anywhere
        in the app, the ``swagger`` client id pre-filled in ``/docs``'s Authorize dialog, and an
        OpenAPI document that names the token URL from Bouncer's metadata once it has been read."""
        self._glue().install(app)


def _permission_check(parsed: tuple[_rules.Perm, ...], realm: str) -> Callable[[Principal], BouncerError | None]:
    def check(p: Principal) -> BouncerError | None:
        for perm in parsed:
            err = p.check_permission(perm, realm)
            if err is not None:
                return err
        return None

    return check
