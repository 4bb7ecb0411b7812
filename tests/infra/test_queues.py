"""The queues Bicep creates are the queues of docs/architecture.md §4, the ones the app binds."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import timedelta

import pytest

from tests.infra.templates import REPO, app_settings, main, module

# docs/architecture.md §4: queue → session-keyed?
ARCHITECTURE_QUEUES = {
    "person-update": True,
    "person-changed": True,
    "group-update": True,
    "provisioning-order": True,
    "notification": False,
    "group-reevaluation": False,
    "ticket-mirror": True,
}


def duration(iso: str) -> timedelta:
    """An ISO 8601 duration of days, hours, minutes and seconds (P14D, PT10M, PT1M30S)."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", iso)
    assert match and iso not in ("P", "PT"), f"not an ISO 8601 duration: {iso}"
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def repo_on_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def bicep_queues() -> list[dict]:
    return main().var("queues")


def deployed_queues() -> dict[str, dict]:
    """Each queue's properties as the Service Bus module creates them from main's list."""
    servicebus = module("servicebus")
    loop = servicebus.resources["queue"]["config"]
    assert loop["loop_type"]["detail"]["array_name"] == "queues"
    item = loop["loop_type"]["detail"]["item_name"]
    return {
        q["name"]: servicebus.resolve(loop["config"]["properties"], {item: q})
        for q in bicep_queues()
    }


def test_bicep_creates_the_queues_of_architecture_section_4_with_their_sessions():
    assert {q["name"]: q["requiresSession"] for q in bicep_queues()} == ARCHITECTURE_QUEUES
    assert main().module_call("serviceBus")["params"]["queues"] == "queues"


def test_every_queue_dead_letters_after_a_bounded_number_of_deliveries():
    for name, props in deployed_queues().items():
        assert props["requiresSession"] is ARCHITECTURE_QUEUES[name], name
        assert isinstance(props["maxDeliveryCount"], int), name
        assert 3 <= props["maxDeliveryCount"] <= 20, name
        assert props["deadLetteringOnMessageExpiration"] is True, name
        assert duration(props["defaultMessageTimeToLive"]) >= timedelta(days=1), name
        # The Functions host renews the lock (host.json); a lock is at most 5 minutes.
        assert timedelta(seconds=5) <= duration(props["lockDuration"]) <= timedelta(minutes=5), name


def test_every_queue_drops_a_message_id_seen_within_the_duplicate_detection_window():
    for name, props in deployed_queues().items():
        assert props["requiresDuplicateDetection"] is True, name
        window = duration(props["duplicateDetectionHistoryTimeWindow"])
        assert timedelta(seconds=20) <= window <= timedelta(days=7), name


def test_queue_name_settings_are_those_the_app_reads():
    repo_on_path()
    from shared.config import QUEUE_SETTINGS

    assert {q["name"]: q["setting"] for q in bicep_queues()} == QUEUE_SETTINGS
    settings = app_settings()
    for q in bicep_queues():
        assert settings[q["setting"]] == q["name"]


# --- The function app's Service Bus bindings ----------------------------------------------


def fresh_app():
    """`app` of function_app.py, from a private copy of the module.

    get_functions() may run only once per FunctionApp, and the `function_app` in
    sys.modules may already have been indexed (devhost, other tests): executing the file
    again gives an app of our own, built from the very same blueprints.
    """
    repo_on_path()
    spec = importlib.util.spec_from_file_location(
        "_function_app_infra_tests", REPO / "function_app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.fixture(scope="module")
def bindings() -> list[dict]:
    """Every Service Bus binding of the app; get_functions() is called once."""
    found = []
    for function in fresh_app().get_functions():
        for binding in function.get_bindings():
            data = binding.get_dict_repr()
            if data.get("type") in ("serviceBusTrigger", "serviceBus"):
                found.append({"function": function.get_function_name(), **data})
    return found


def resolve(value: str, settings: dict) -> str:
    """%Setting% → the setting's value in the Bicep app settings."""
    match = re.fullmatch(r"%(\w+)%", value)
    assert match, f"queue name {value!r} is not bound through a setting (%Setting%)"
    assert match.group(1) in settings, f"{value} is no app setting in infra/"
    return settings[match.group(1)]


def test_the_triggers_bind_exactly_the_queues_bicep_creates(bindings):
    settings = app_settings()
    triggers = [b for b in bindings if b["type"] == "serviceBusTrigger"]

    bound = {resolve(b["queueName"], settings) for b in triggers}

    assert bound == {q["name"] for q in bicep_queues()}


def test_every_service_bus_binding_names_a_queue_bicep_creates(bindings):
    settings = app_settings()
    names = {q["name"] for q in bicep_queues()}

    for b in bindings:
        assert resolve(b["queueName"], settings) in names, b["function"]


def test_the_triggers_connect_through_the_identity_based_connection(bindings):
    settings = app_settings()

    for b in bindings:
        assert b["connection"] == "ServiceBusConnection", b["function"]
    assert "ServiceBusConnection__fullyQualifiedNamespace" in settings


def test_session_queues_are_read_by_session_triggers(bindings):
    settings = app_settings()
    sessions = {q["name"]: q["requiresSession"] for q in bicep_queues()}

    for b in bindings:
        if b["type"] == "serviceBusTrigger":
            queue = resolve(b["queueName"], settings)
            assert bool(b.get("isSessionsEnabled")) is sessions[queue], (
                f"{b['function']} on {queue}"
            )
