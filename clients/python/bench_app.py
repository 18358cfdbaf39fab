"""The app bench.sh measures: the tutorial's two protected routes (peer_fastapi.py's /users/me and
/admin-only), protected by bouncer_auth verifying Bouncer's JWTs locally.

Run: BOUNCER_URL=http://127.0.0.1:8080 uvicorn bench_app:app --port 8182
(BOUNCER_AUTH_VERIFIED_CACHE=0 turns the verified-token cache off: every request verifies the
signature, as the tutorial's check does.)
"""

import os

from fastapi import Depends, FastAPI

from bouncer_auth import Bouncer, Principal

auth = Bouncer(
    os.environ.get("BOUNCER_URL", "http://127.0.0.1:8080"),
    verified_cache_size=int(os.environ.get("BOUNCER_AUTH_VERIFIED_CACHE", "4096")),
)
app = FastAPI()
auth.install(app)


@app.get("/users/me")
async def me(p: Principal = Depends(auth.current_principal)) -> dict[str, object]:
    return {"id": p.id, "username": p.username, "roles": list(p.roles)}


@app.get("/admin-only", dependencies=[Depends(auth.require_role("admin"))])
async def admin_only() -> dict[str, str]:
    return {"message": "Hello, Admin!"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
