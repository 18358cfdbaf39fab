"""Protect Python web apps with Bouncer: verify its JWTs locally against its JWKS, or introspect
every credential; FastAPI dependencies and a Starlette middleware that answer as Bouncer does."""

from ._client import Bouncer, Metadata, Mode
from ._errors import BouncerError, BouncerUnavailable
from ._principal import CredentialKind, Principal

__version__ = "0.1.0"

__all__ = [
    "Bouncer",
    "BouncerError",
    "BouncerUnavailable",
    "CredentialKind",
    "Metadata",
    "Mode",
    "Principal",
    "__version__",
]
