"""The connector registry: a target's `connector` name → the connector that carries out
its orders, like `open_store`/`open_bus` pick an adapter from a setting.

Each entry names the module and class of an implementation, imported on first use (the
scim2 libraries load only when a SCIM target has an order). Adding a connector is one
entry in `_BUILT_IN` (or one `register` call); `manual` is the name of a target whose
orders staff carry out from the worklist: it has no connector.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import httpx

from shared.clock import Clock
from shared.connectors.base import Connector, delivery_setting_problems
from shared.errors import FieldError, InvalidInput
from shared.models.provisioning import MANUAL, Target

Factory = Callable[..., Connector]

_BUILT_IN: dict[str, str] = {
    "webhook": "shared.connectors.webhook:WebhookConnector",
    "scim": "shared.connectors.scim_bulk:BulkScimConnector",
    "entra": "shared.connectors.entra:EntraConnector",
    "ldap": "shared.connectors.ldap:LdapConnector",
}
_registry: dict[str, str | Factory] = dict(_BUILT_IN)


def register(name: str, factory: str | Factory) -> None:
    """Make `name` a connector: `factory` is "module:Class" or a callable taking the
    keyword options of `open_connector` (clock, transport)."""
    if name == MANUAL or not name:
        raise ValueError(f"{name!r} cannot name an automatic connector")
    _registry[name] = factory


def unregister(name: str) -> None:
    """Forget a connector added with `register` (tests); the built-in ones stay."""
    if name in _registry and name not in _BUILT_IN:
        del _registry[name]


def names() -> list[str]:
    """Every name a target's `connector` may have: manual and the registered ones."""
    return [MANUAL, *sorted(_registry)]


def is_automatic(name: str) -> bool:
    """Whether orders of a target with this connector go to the provisioning-order queue."""
    return name in _registry


def check_connector(target: Target) -> None:
    """A target's connector is one Roster knows and its delivery settings (`concurrency`,
    `batch_size`) are valid, or InvalidInput naming the field."""
    if target.connector != MANUAL and not is_automatic(target.connector):
        raise InvalidInput(
            f"unknown connector {target.connector!r}",
            [FieldError("connector", f"one of {', '.join(names())}")],
        )
    problems = delivery_setting_problems(target.settings)
    if problems:
        raise InvalidInput(f"{problems[0][0]}: {problems[0][1]}", [FieldError(f, p) for f, p in problems])


def open_connector(
    target: Target, *, clock: Clock | None = None, transport: httpx.BaseTransport | None = None
) -> Connector:
    """The connector that carries out orders for `target`. `transport` replaces the network
    (an httpx mock or WSGI transport, in tests). A manual or unknown one: ValueError."""
    factory = _registry.get(target.connector)
    if factory is None:
        raise ValueError(
            f"target {target.id!r} is {target.connector}: it has no automatic connector"
        )
    if isinstance(factory, str):
        factory = _load(factory)
    options: dict[str, Any] = {"clock": clock, "transport": transport}
    return factory(**options)


def _load(path: str) -> Factory:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
