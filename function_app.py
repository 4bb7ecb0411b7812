"""Roster's Functions app: one blueprint per service (docs/architecture.md §2); telemetry is
set up once, as the environment asks (docs/telemetry.md)."""

import azure.functions as func

from functions import (
    console,
    console_admin,
    console_matches,
    console_ops,
    groups,
    matches,
    notifications,
    ops,
    persons,
    provisioning,
    requester,
    requests,
    scim,
    tickets,
)
from shared import telemetry

BLUEPRINTS = (
    persons.bp, matches.bp, groups.bp, provisioning.bp, requests.bp, requester.bp, notifications.bp, tickets.bp,
    ops.bp, console.bp, console_admin.bp, scim.bp, console_matches.bp, console_ops.bp,
)

telemetry.setup()
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
