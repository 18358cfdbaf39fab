"""Fixtures: the real Bouncer binary on a free port with a fresh SQLite file, and apps protected by
bouncer_auth served by uvicorn in threads.

The binary is $BOUNCER_BIN, else target/debug/bouncer from the repository root. Without it the
integration tests are skipped, saying why; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
ADMIN_PASSWORD = "Admin-password-1"
ALICE_PASSWORD = "correct horse"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bouncer_bin() -> Path:
    path = Path(os.environ.get("BOUNCER_BIN") or ROOT / "target" / "debug" / "bouncer")
    if not path.is_absolute():
        path = ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        reason = (
            f"the Bouncer binary {path} is missing (cargo build -p bouncer --bin bouncer, or set BOUNCER_BIN)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; under CI=true this is a failure", pytrace=False)
        print(f"\nSKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return path


@dataclass
class BouncerServer:
    """A running Bouncer and what the tests set up on it."""

    bin: Path
    port: int
    db_url: str
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.bin), "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"bouncer exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("bouncer not ready after 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str) -> str:
        out = subprocess.run([str(self.bin), *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    # -- helpers over HTTP ---------------------------------------------------------------------

    def token(self, username: str = "alice", password: str = ALICE_PASSWORD, scope: str | None = None) -> str:
        return str(self.grant(username, password, scope)["access_token"])

    def grant(self, username: str = "alice", password: str = ALICE_PASSWORD, scope: str | None = None) -> Any:
        data = {"grant_type": "password", "username": username, "password": password}
        if scope is not None:
            data["scope"] = scope
        r = httpx.post(self.url + "/oauth2/token", data=data, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, auth=("admin", ADMIN_PASSWORD), timeout=30, **kw)

    def client(self, scopes: list[str]) -> tuple[str, str]:
        r = self.admin("POST", "/clients", json={"name": f"c{time.monotonic_ns()}", "scopes": scopes})
        assert r.status_code == 201, r.text
        return r.json()["client_id"], r.json()["client_secret"]

    def api_key(self, scopes: list[str] | None = None, user: tuple[str, str] = ("alice", ALICE_PASSWORD)) -> tuple[str, str]:
        body: dict[str, Any] = {"name": f"k{time.monotonic_ns()}"}
        if scopes is not None:
            body["scopes"] = scopes
        r = httpx.post(self.url + "/users/me/api-keys", auth=user, json=body, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["key"]


def make_server(tmp: Path, name: str, port: int | None = None, **extra_env: str) -> BouncerServer:
    b = bouncer_bin()
    port = port or free_port()
    db = tmp / f"{name}.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCER_")}
    env.update(
        BOUNCER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BOUNCER_LISTEN=f"127.0.0.1:{port}",
        BOUNCER_DATABASE_URL=f"sqlite://{db}",
        RUST_LOG="warn",
    )
    env.update(extra_env)
    return BouncerServer(bin=b, port=port, db_url=f"sqlite://{db}", env=env)


def register_alice(s: BouncerServer) -> None:
    r = httpx.post(
        s.url + "/auth/register",
        json={"username": "alice", "email": "alice@example.com", "password": ALICE_PASSWORD},
        timeout=30,
    )
    assert r.status_code == 201, r.text


@dataclass
class Ports:
    local: int = field(default_factory=free_port)
    introspect: int = field(default_factory=free_port)
    starlette: int = field(default_factory=free_port)
    opaque: int = field(default_factory=free_port)
    opaque_bouncer: int = field(default_factory=free_port)


@pytest.fixture(scope="session")
def ports() -> Ports:
    return Ports()


@pytest.fixture(scope="session")
def tmpdir_session() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bouncer-auth-tests-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def bouncer(tmpdir_session: Path, ports: Ports) -> Iterator[BouncerServer]:
    """Bouncer with JWT access tokens (EdDSA); the app on ports.local may call it from a browser."""
    origins = f'["http://127.0.0.1:{ports.local}"]'
    s = make_server(tmpdir_session, "jwt", BOUNCER_CORS__ALLOWED_ORIGINS=origins)
    s.start()
    try:
        register_alice(s)
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def introspector(bouncer: BouncerServer) -> tuple[str, str]:
    """A client holding tokens:introspect (and items:read, for its own client-credentials token)."""
    return bouncer.client(["tokens:introspect", "items:read"])


class AppServer:
    """An ASGI app served by uvicorn in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.app = app
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kw)


def serve(app: Any, port: int) -> Iterator[AppServer]:
    s = AppServer(app, port).start()
    try:
        yield s
    finally:
        s.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, code: str, missing: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"] == "about:blank" and body["title"] and body["detail"], body
    if missing is not None:
        assert body.get("missing") == missing, body
    return body


# -- apps ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_auth(bouncer: BouncerServer) -> Any:
    from bouncer_auth import Bouncer

    # No client credentials: JWTs only, verified here. A short refetch interval keeps tests quick.
    return Bouncer(bouncer.url, jwks_refetch_interval=1.0)


@pytest.fixture(scope="session")
def local_app(local_auth: Any, ports: Ports) -> Iterator[AppServer]:
    from apps import fastapi_app

    yield from serve(fastapi_app(local_auth), ports.local)


@pytest.fixture(scope="session")
def introspect_auth(bouncer: BouncerServer, introspector: tuple[str, str]) -> Any:
    from bouncer_auth import Bouncer

    cid, secret = introspector
    return Bouncer(
        bouncer.url, mode="introspect", client_id=cid, client_secret=secret, introspection_cache_ttl=0.5
    )


@pytest.fixture(scope="session")
def introspect_app(introspect_auth: Any, ports: Ports) -> Iterator[AppServer]:
    from apps import fastapi_app

    yield from serve(fastapi_app(introspect_auth), ports.introspect)


@pytest.fixture(scope="session")
def starlette_app(bouncer: BouncerServer, introspector: tuple[str, str], ports: Ports) -> Iterator[AppServer]:
    from apps import starlette_app as make

    from bouncer_auth import Bouncer

    cid, secret = introspector
    # Local mode with client credentials: JWTs verified here, API keys introspected.
    auth = Bouncer(bouncer.url, client_id=cid, client_secret=secret, introspection_cache_ttl=0.5)
    yield from serve(make(auth), ports.starlette)
