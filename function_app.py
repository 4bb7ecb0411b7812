"""Roster's Functions app: one blueprint per service (docs/architecture.md §2)."""

import azure.functions as func

from functions import (
    console,
    console_matches,
    groups,
    matches,
    notifications,
    ops,
    persons,
    provisioning,
    requests,
    scim,
    tickets,
)

BLUEPRINTS = (
    persons.bp, matches.bp, groups.bp, provisioning.bp, requests.bp, notifications.bp, tickets.bp, ops.bp, console.bp,
    scim.bp, console_matches.bp,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
