"""Automatic connectors: they carry out provisioning orders in a target (webhook, scim)."""

from shared.connectors.base import Connector, ConnectorError, Outcome, connector_for

__all__ = ["Connector", "ConnectorError", "Outcome", "connector_for"]
