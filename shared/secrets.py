"""Connector credentials: only from environment variables named `ROSTER_TARGET_SECRET_*`
(docs/security.md §2).

A target's settings never hold a secret, only the *name* of the variable that does (keys
ending in `_env`: `token_env`, `secret_env`, …); in Azure those variables are Key Vault
references. Any other name is refused when the target is saved (`check_secret_name`, a 422
naming the field) and again when the secret is read (`secret`), so a target can never send
`ROSTER_API_KEYS` or `SENDGRID_API_KEY` to a receiver an administrator chose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError, InvalidInput

PREFIX = "ROSTER_TARGET_SECRET_"
NAME = re.compile(r"ROSTER_TARGET_SECRET_[A-Z0-9_]{1,100}")
# Settings keys that look like a secret value stored in the clear (a name ends in `_env`).
SECRET_LIKE = re.compile(r"(secret|token|password|passwd|api[_-]?key|credential|authorization)", re.I)


class SecretRefused(InvalidInput):
    """A secret name outside the namespace, a secret value in settings, or one not set."""


def check_secret_name(name: Any, field: str) -> str:
    """`name` if it is in the namespace, else SecretRefused (422) naming `field`."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        message = f"must name an environment variable {PREFIX}<NAME> (A-Z, 0-9, _)"
        raise SecretRefused(f"{field}: {message}", [FieldError(field, message)])
    return name


def secret(name: Any, field: str, env: Mapping[str, str] | None = None) -> str:
    """The value of the secret `name` (checked against the namespace); SecretRefused naming
    `field` when the name is outside it or the variable is not set."""
    check_secret_name(name, field)
    value = (os.environ if env is None else env).get(name)
    if not value:
        message = f"environment variable {name} is not set"
        raise SecretRefused(f"{field}: {message}", [FieldError(field, message)])
    return value


def check_settings(settings: Mapping[str, Any], prefix: str = "settings") -> None:
    """Every `*_env` key names a variable in the namespace; no key looks like a secret kept
    in the clear. SecretRefused naming the first offending field."""
    for key, value in settings.items():
        field = f"{prefix}.{key}"
        if key.endswith("_env"):
            if value not in (None, ""):
                check_secret_name(value, field)
        elif SECRET_LIKE.search(key):
            message = f"secrets are never stored: put it in {PREFIX}<NAME> and name that in {key}_env"
            raise SecretRefused(f"{field}: {message}", [FieldError(field, message)])
