"""Who is calling: roles from App Service Authentication or from API keys (docs/architecture.md §7)."""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass

import azure.functions as func

from shared.config import Settings, key_digest
from shared.errors import NotAllowed, NotAuthenticated
from shared.models.role import Role, Roles, any_of

ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIMS = ("preferred_username", "name", "appid", "azp")
MAX_CLIENT_PRINCIPAL = 64 * 1024  # characters of base64; App Service's own are a few KB


@dataclass(frozen=True)
class Principal:
    """`name` is what audit records keep (`apikey:1a2b3c4d`, `entra:holly@…`); `display` what people read."""

    name: str
    roles: frozenset[str]
    display: str = ""

    def __post_init__(self) -> None:
        if not self.display:
            object.__setattr__(self, "display", self.name.removeprefix("entra:"))

    def has(self, role: str) -> bool:
        return role in self.roles or Role.admin in self.roles


def authenticate(req: func.HttpRequest, settings: Settings) -> Principal:
    """The caller, or NotAuthenticated. The client-principal header is trusted only when
    App Service Authentication is on (it strips forged copies of that header)."""
    if settings.auth_enabled and req.headers.get("x-ms-client-principal"):
        return _from_client_principal(req.headers["x-ms-client-principal"])
    header = req.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthenticated("send Authorization: Bearer <api key>")
    return principal_for_key(key.strip(), settings)


def principal_for_key(key: str, settings: Settings) -> Principal:
    """The caller an API key stands for (ROSTER_API_KEYS), or NotAuthenticated."""
    return principal_for_digest(key_digest(key), settings)


def principal_for_digest(digest: str, settings: Settings) -> Principal:
    """The caller whose API key has this digest, or NotAuthenticated."""
    for known, roles in settings.api_keys.items():
        if hmac.compare_digest(key_digest(known).encode(), digest.encode()):
            actor = f"apikey:{digest[:8]}"
            return Principal(actor, frozenset(roles), settings.key_names.get(known, actor))
    raise NotAuthenticated("the API key is not known")


def require(principal: Principal, role: Roles) -> None:
    """`role` may be one role or a tuple of roles of which any one will do."""
    wanted = any_of(role)
    if wanted and not any(principal.has(r) for r in wanted):
        raise NotAllowed(f"this needs the role {' or '.join(wanted)}")


def _from_client_principal(encoded: str) -> Principal:
    """The principal App Service Authentication vouches for: `{"claims": [{"typ", "val"}]}`
    in base64. Anything else (too long, not JSON, nested, values that are not text) → 401."""
    malformed = NotAuthenticated("the client principal header is malformed")
    if len(encoded) > MAX_CLIENT_PRINCIPAL:
        raise malformed
    try:
        data = json.loads(base64.b64decode(encoded, validate=True))
        claims = data.get("claims") or []
        pairs = [(c.get("typ"), c.get("val")) for c in claims]
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise malformed from None
    if not all(isinstance(t, str) and isinstance(v, str) for t, v in pairs):
        raise malformed
    roles = {v for t, v in pairs if t in ROLE_CLAIMS}
    names = dict(pairs)
    name = next((names[c] for c in NAME_CLAIMS if names.get(c)), "unknown")
    return Principal(f"entra:{name}", frozenset(roles), names.get("name") or name)
