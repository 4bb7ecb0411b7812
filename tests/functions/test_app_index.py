"""function_app.app indexes as the Functions host would: every function, valid bindings."""

from __future__ import annotations

import json

from shared.config import QUEUE_SETTINGS
from tests.functions.conftest import fresh_app_functions

# docs/architecture.md §4: the session-keyed queues (one person's messages in order).
SESSION_QUEUES = {"person-update", "person-changed", "group-update", "provisioning-order", "ticket-mirror"}


def test_every_function_has_a_unique_name_and_valid_bindings():
    functions = fresh_app_functions()
    names = [f.get_function_name() for f in functions]
    assert len(names) == len(set(names))
    for function in functions:
        spec = json.loads(function.get_function_json())
        bindings = spec["bindings"]
        assert sum(b["direction"] == "IN" and b["type"].endswith("Trigger") for b in bindings) == 1
        trigger = function.get_trigger()
        params = set(function.get_user_function().__code__.co_varnames[: function.get_user_function().__code__.co_argcount])
        assert trigger.name in params, function.get_function_name()


def test_http_functions_are_anonymous_at_the_host_and_routes_are_unique():
    routes = [
        (f.get_trigger().route, m.value)
        for f in fresh_app_functions() if f.get_trigger().get_binding_name() == "httpTrigger"
        for m in f.get_trigger().methods
    ]
    assert len(routes) == len(set(routes))
    assert ("persons", "POST") in routes and ("health", "GET") in routes


def test_queue_triggers_bind_queue_names_from_settings_with_sessions():
    by_setting = {f"%{setting}%": queue for queue, setting in QUEUE_SETTINGS.items()}
    triggers = [f.get_trigger() for f in fresh_app_functions() if f.get_trigger().get_binding_name() == "serviceBusTrigger"]
    bound = [by_setting[t.queue_name] for t in triggers]
    assert "person-update" in bound and len(bound) == len(set(bound))
    for trigger, queue in zip(triggers, bound, strict=True):
        assert bool(trigger.is_sessions_enabled) == (queue in SESSION_QUEUES), queue
        assert trigger.connection == "ServiceBusConnection"
