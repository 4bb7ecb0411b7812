"""Automatic connectors: they carry out provisioning orders in a target (webhook, scim)."""

from shared.connectors.base import Connector, Outcome, connector_for

__all__ = ["Connector", "Outcome", "connector_for"]
