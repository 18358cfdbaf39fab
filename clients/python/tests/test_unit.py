"""Unit tests without a Bouncer binary: the scope rules, and every check of local JWT verification
against a fake Bouncer (httpx.MockTransport) whose keys the test holds."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bouncer_auth import Bouncer, BouncerError, Principal, _rules

ISS = "http://bouncer.test"


def test_permission_grammar_and_wildcards() -> None:
    p = _rules.parse
    assert p("*") == ("*", "*") and p("items:*") == ("items", "*") and p("items:read") == ("items", "read")
    for bad in ["", "items", ":read", "items:", "Items:read", "items:read:x", "*:read", "i tems:read", "items:*x"]:
        assert p(bad) is None, bad
    c = lambda a, b: _rules.covers(p(a), p(b))  # noqa: E731
    assert c("*", "items:delete") and c("*", "items:*") and c("items:*", "items:delete")
    assert c("items:*", "items:*") and c("items:read", "items:read")
    assert not c("items:write", "items:*") and not c("items:*", "users:read") and not c("items:*", "*")
    assert not c("items:read", "items:write")
    with pytest.raises(ValueError):
        Bouncer("http://x").require("Items:write")


def principal(scopes: str, perms: list[str], roles: list[str] = [], credential: Any = "jwt") -> Principal:  # noqa: B006
    return Principal(id="u", username="u", roles=tuple(roles), scopes=tuple(scopes.split()),
                     permissions=tuple(perms), credential=credential)


def test_rights_are_scope_and_permissions() -> None:
    alice = principal("*", ["items:read", "items:write"], ["user"])
    assert alice.has_permission("items:write") and not alice.has_permission("items:*")
    assert alice.has_role("user") and not alice.has_role("admin")
    err = alice.check_permission("users:read")
    assert err is not None and err.code == "missing_permission" and err.missing == "users:read"
    reader = principal("items:read", ["items:read"])
    err = reader.check_permission("items:write")
    assert err is not None and err.code == "insufficient_scope"
    assert err.headers["WWW-Authenticate"] == 'Bearer realm="bouncer", error="insufficient_scope", scope="items:write"'
    admin = principal("items:read role:admin", ["items:read"], ["admin"])
    assert admin.has_role("admin") and not admin.has_permission("users:read")
    narrowed = principal("items:read", ["items:read"], ["admin"])  # claims never say this; defensive
    err = narrowed.check_roles(("admin",))
    assert err is not None and err.code == "insufficient_scope" and err.missing == "role:admin"
    err = principal("*", ["*"], ["user"]).check_roles(("admin", "moderator"))
    assert err is not None and err.code == "missing_role" and err.missing == "admin,moderator"
    assert principal("role:*", [], ["moderator"]).has_role("moderator")


# -- a fake Bouncer ---------------------------------------------------------------------------------


class FakeBouncer:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.kid = "k1"
        self.extra_keys: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.jwks_delay = 0.0
        self.up = True

    def jwk(self, key: Any, kid: str) -> dict[str, Any]:
        import json

        out: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
        out.update(kid=kid, use="sig", alg="EdDSA")
        return out

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if not self.up:
            raise httpx.ConnectError("down")
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={
                "issuer": ISS, "token_endpoint": ISS + "/oauth2/token", "jwks_uri": ISS + "/.well-known/jwks.json",
                "introspection_endpoint": ISS + "/oauth2/introspect", "scopes_supported": ["*", "items:read"]})
        if request.url.path == "/.well-known/jwks.json":
            if self.jwks_delay:
                await asyncio.sleep(self.jwks_delay)
            return httpx.Response(200, json={"keys": [self.jwk(self.key, self.kid), *self.extra_keys]},
                                  headers={"Cache-Control": "public, max-age=300"})
        return httpx.Response(404)

    def claims(self, **over: Any) -> dict[str, Any]:
        now = int(time.time())
        c = {"iss": ISS, "aud": "bouncer", "sub": "u1", "exp": now + 900, "iat": now, "nbf": now, "jti": "j",
             "client_id": "swagger", "scope": "*", "username": "alice", "roles": ["user"],
             "permissions": ["items:read", "items:write"]}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, key: Any = None, alg: str = "EdDSA", headers: dict[str, Any] | None = None, **claims: Any) -> str:
        h = {"typ": "at+jwt", "kid": self.kid}
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return jwt.encode(self.claims(**claims), key if key is not None else self.key, algorithm=alg, headers=h)

    def auth(self, **kw: Any) -> Bouncer:
        return Bouncer(ISS, transport=httpx.MockTransport(self.handler), **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def verify(auth: Bouncer, token: str) -> Principal | BouncerError:
    try:
        return await auth.verify_token(token)
    except BouncerError as e:
        return e


def refused(result: Any, code: str = "invalid_token") -> bool:
    return isinstance(result, BouncerError) and result.code == code


def test_nothing_is_fetched_at_construction() -> None:
    fake = FakeBouncer()
    fake.auth()
    assert fake.requests == []


def test_a_good_token() -> None:
    fake = FakeBouncer()
    p = run(verify(fake.auth(), fake.token()))
    assert isinstance(p, Principal) and p.username == "alice" and p.credential == "jwt" and p.roles == ("user",)


@pytest.mark.parametrize("case", [
    "no typ", "typ JWT", "alg none", "hs256 with the public key", "expired", "not yet valid", "wrong issuer",
    "wrong audience", "crit", "other key same kid", "no kid", "alg mismatch", "no exp", "bad claims",
])
def test_bad_tokens_are_refused(case: str) -> None:
    fake = FakeBouncer()
    now = int(time.time())
    pem = fake.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    token = {
        "no typ": lambda: fake.token(headers={"typ": None}),
        "typ JWT": lambda: fake.token(headers={"typ": "JWT"}),
        "alg none": lambda: jwt.encode(fake.claims(), None, algorithm="none", headers={"typ": "at+jwt", "kid": "k1"}),
        "hs256 with the public key": lambda: fake.token(key=pem, alg="HS256"),
        "expired": lambda: fake.token(exp=now - 60),
        "not yet valid": lambda: fake.token(nbf=now + 60),
        "wrong issuer": lambda: fake.token(iss="http://evil.test"),
        "wrong audience": lambda: fake.token(aud="other"),
        "crit": lambda: fake.token(headers={"crit": ["exp"]}),
        "other key same kid": lambda: fake.token(key=Ed25519PrivateKey.generate()),
        "no kid": lambda: fake.token(headers={"kid": None}),
        "alg mismatch": lambda: fake.token(key=ec.generate_private_key(ec.SECP256R1()), alg="ES256"),
        "no exp": lambda: fake.token(exp=None),
        "bad claims": lambda: fake.token(roles="admin"),
    }[case]()
    assert refused(run(verify(fake.auth(), token))), case


def test_leeway_and_audience_are_configurable() -> None:
    fake = FakeBouncer()
    now = int(time.time())
    assert isinstance(run(verify(fake.auth(), fake.token(exp=now - 5))), Principal)  # within 10 s
    assert refused(run(verify(fake.auth(leeway=0), fake.token(exp=now - 5))))
    assert isinstance(run(verify(fake.auth(audience="api"), fake.token(aud=["api", "x"]))), Principal)


def test_jku_and_x5u_are_never_fetched() -> None:
    fake = FakeBouncer()
    other = Ed25519PrivateKey.generate()
    t = fake.token(key=other, headers={"jku": "http://evil.test/jwks", "x5u": "http://evil.test/cert", "kid": "evil"})
    assert refused(run(verify(fake.auth(), t)))
    assert all(not p.startswith("/jwks") and p != "/cert" for p in fake.requests)
    assert fake.requests.count("/.well-known/jwks.json") == 1  # the first, and no refetch yet: too soon


def test_symmetric_and_mismatched_keys_in_the_jwks_are_ignored() -> None:
    fake = FakeBouncer()
    fake.extra_keys = [
        {"kty": "oct", "kid": "hs", "k": "c2VjcmV0LW9mLXRoaXJ0eS10d28tYnl0ZXMtYXQtbGVhc3Qh", "alg": "HS256"},
        dict(fake.jwk(Ed25519PrivateKey.generate(), "says-rs256"), alg="RS256"),
    ]
    secret = "secret-of-thirty-two-bytes-at-least!"
    t = jwt.encode(fake.claims(), secret, algorithm="HS256", headers={"typ": "at+jwt", "kid": "hs"})
    assert refused(run(verify(fake.auth(), t)))


def test_rs256_and_es256_keys() -> None:
    fake = FakeBouncer()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    import json

    fake.extra_keys = [
        dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())), kid="rsa", alg="RS256"),
        dict(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())), kid="ec"),
    ]
    auth = fake.auth()
    assert isinstance(run(verify(auth, fake.token(key=rsa_key, alg="RS256", headers={"kid": "rsa"}))), Principal)
    assert isinstance(run(verify(auth, fake.token(key=ec_key, alg="ES256", headers={"kid": "ec"}))), Principal)
    # A token naming another algorithm than its key's is refused, even one the key could do.
    assert refused(run(verify(auth, fake.token(key=rsa_key, alg="PS256", headers={"kid": "rsa"}))))


def test_an_unknown_kid_refetches_once_and_rate_limited_concurrently() -> None:
    fake = FakeBouncer()
    auth = fake.auth(jwks_refetch_interval=0.3)
    assert isinstance(run(verify(auth, fake.token())), Principal)
    assert auth.jwks_fetches == 1
    fake.jwks_delay = 0.05
    time.sleep(0.35)
    new = Ed25519PrivateKey.generate()
    fake.key, fake.kid = new, "k2"
    t = fake.token()

    async def many() -> list[Any]:
        return await asyncio.gather(*(verify(auth, t) for _ in range(20)))

    results = run(many())
    assert all(isinstance(r, Principal) for r in results), results[0]
    assert auth.jwks_fetches == 2
    bogus = fake.token(headers={"kid": "nope"})

    async def bogus_many() -> list[Any]:
        return await asyncio.gather(*(verify(auth, bogus) for _ in range(20)))

    results = run(bogus_many())
    assert all(refused(r) for r in results) and auth.jwks_fetches == 2  # too soon after the last


def test_thread_safety_many_loops() -> None:
    fake = FakeBouncer()
    auth = fake.auth()
    tokens = [fake.token(jti=str(i)) for i in range(50)]
    errors: list[Any] = []

    def worker() -> None:
        async def go() -> None:
            for t in tokens:
                r = await verify(auth, t)
                if not isinstance(r, Principal):
                    errors.append(r)

        asyncio.run(go())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and 1 <= auth.jwks_fetches <= 4


def test_a_cached_verification_still_expires() -> None:
    fake = FakeBouncer()
    auth = fake.auth(leeway=0)
    t = fake.token(exp=int(time.time()) + 1)
    assert isinstance(run(verify(auth, t)), Principal)
    time.sleep(1.1)
    assert refused(run(verify(auth, t)))


def test_bouncer_down_is_503_with_backoff_then_recovers() -> None:
    fake = FakeBouncer()
    fake.up = False
    auth = fake.auth()
    t = fake.token()
    r = run(verify(auth, t))
    assert isinstance(r, BouncerError) and r.status == 503 and r.code == "bouncer_unavailable"
    assert r.headers["Retry-After"] == "1"
    assert refused(run(verify(auth, t)), "bouncer_unavailable")
    assert len(fake.requests) == 1  # the second was answered from the backoff
    fake.up = True
    time.sleep(1.05)
    assert isinstance(run(verify(auth, t)), Principal)
    # Keys in hand stay usable while Bouncer is down.
    fake.up = False
    assert isinstance(run(verify(auth, fake.token(jti="other"))), Principal)


def test_an_issuer_other_than_the_url_needs_saying() -> None:
    fake = FakeBouncer()
    auth = Bouncer("http://internal:8080", transport=httpx.MockTransport(fake.handler))
    r = run(verify(auth, fake.token()))
    assert isinstance(r, BouncerError) and r.status == 503 and "issuer" in r.detail
    auth = Bouncer("http://internal:8080", issuer=ISS, transport=httpx.MockTransport(fake.handler))
    assert isinstance(run(verify(auth, fake.token())), Principal)


def test_introspection_answers_are_cached_for_the_ttl() -> None:
    calls: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/introspect":
            calls.append(request.content)
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(200, json={"active": True, "sub": "u1", "username": "alice",
                                             "scope": "items:read", "iat": 1, "token_type": "api_key"})
        return await FakeBouncer().handler(request)

    auth = Bouncer(ISS, client_id="cl_x", client_secret="bns_y", introspection_cache_ttl=0.2,
                   transport=httpx.MockTransport(handler))

    async def twice() -> tuple[Principal, Principal]:
        return await auth.verify_api_key("bnc_abc"), await auth.verify_api_key("bnc_abc")

    a, b = run(twice())
    assert a.credential == "api_key" and a.permissions == ("items:read",) and len(calls) == 1
    time.sleep(0.25)
    run(twice())
    assert len(calls) == 2


def test_fastapi_without_install_still_answers_problem_documents() -> None:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    fake = FakeBouncer()
    auth = fake.auth()
    app = FastAPI()  # no auth.install(app)

    @app.post("/items")
    async def create(p: Principal = Depends(auth.require("items:write"))) -> Any:
        return {"owner": p.id}

    with TestClient(app) as client:
        # Before the metadata is read, /docs points at the URL's /oauth2/token.
        flows = client.get("/openapi.json").json()["components"]["securitySchemes"]["bouncer"]["flows"]
        assert flows["password"]["tokenUrl"] == ISS + "/oauth2/token"
        r = client.post("/items")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "unauthorized" and r.headers["www-authenticate"] == 'Bearer realm="bouncer"'
        r = client.post("/items", headers={"Authorization": "Bearer " + fake.token(scope="items:read",
                                                                                  permissions=["items:read"])})
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
        assert r.headers["www-authenticate"].endswith('error="insufficient_scope", scope="items:write"')
        assert client.post("/items", headers={"Authorization": "Bearer " + fake.token()}).status_code == 200
        fake.up = False
        auth2 = fake.auth()
        r = TestClient(_app_with(auth2)).get("/me", headers={"Authorization": "Bearer " + fake.token()})
        assert r.status_code == 503 and r.json()["code"] == "bouncer_unavailable"


def _app_with(auth: Bouncer) -> Any:
    from fastapi import Depends, FastAPI

    app = FastAPI()
    auth.install(app)

    @app.get("/me")
    async def me(p: Principal = Depends(auth.current_principal)) -> Any:
        err = p.check_permission("users:read")  # raised from the app's own code: install() answers it
        if err is not None:
            raise err
        return {"id": p.id}

    return app


def test_install_answers_bouncer_errors_raised_by_the_app() -> None:
    from fastapi.testclient import TestClient

    fake = FakeBouncer()
    r = TestClient(_app_with(fake.auth())).get("/me", headers={"Authorization": "Bearer " + fake.token()})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"type": "about:blank", "title": "Forbidden", "status": 403,
                        "detail": "requires the permission users:read", "code": "missing_permission",
                        "missing": "users:read"}
