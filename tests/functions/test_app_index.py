"""function_app.app indexes as the Functions host would: every function, valid bindings."""

from __future__ import annotations

import json

from tests.functions.conftest import fresh_app_functions

QUEUE_TRIGGERS = {"person_update_queue": ("%PersonUpdateQueue%", True)}


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
    found = {
        f.get_function_name(): (f.get_trigger().queue_name, f.get_trigger().is_sessions_enabled)
        for f in fresh_app_functions() if f.get_trigger().get_binding_name() == "serviceBusTrigger"
    }
    assert found == QUEUE_TRIGGERS
    for function in fresh_app_functions():
        if function.get_trigger().get_binding_name() == "serviceBusTrigger":
            assert function.get_trigger().connection == "ServiceBusConnection"
