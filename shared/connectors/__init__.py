"""Automatic connectors: they carry out provisioning orders in a target (webhook, scim, entra, ldap),
picked by name from the registry."""

from shared.connectors.base import Connector, ConnectorError, Outcome
from shared.connectors.registry import (
    check_connector,
    is_automatic,
    names,
    open_connector,
    register,
    unregister,
)

__all__ = [
    "Connector",
    "ConnectorError",
    "Outcome",
    "check_connector",
    "is_automatic",
    "names",
    "open_connector",
    "register",
    "unregister",
]
