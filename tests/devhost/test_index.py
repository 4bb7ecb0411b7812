"""Loading the app and indexing its functions: get_functions once, settings resolved."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func
import pytest

from devhost import AppLoadError
from devhost.index import index_functions, load_app, resolve
from tests.devhost.hosts import make_host


def test_get_functions_is_called_once_per_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = func.FunctionApp.get_functions

    def counting(self):  # type: ignore[no-untyped-def]
        calls.append(self)
        return original(self)

    monkeypatch.setattr(func.FunctionApp, "get_functions", counting)
    with make_host(tmp_path) as host:
        assert len(calls) == 1
        kinds = {f.name: f.kind for f in host.functions}
    assert (
        kinds["get_thing"] == "http" and kinds["on_sample"] == "queue" and kinds["tick"] == "timer"
    )
    with make_host(tmp_path / "again"):  # a second host re-imports: a fresh FunctionApp
        assert len(calls) == 2 and calls[0] is not calls[1]


def test_index_resolves_settings_and_routes(tmp_path: Path) -> None:
    app = load_app("tests.devhost.sample_app:app")
    functions = {f.name: f for f in index_functions(app, {"SampleQueue": "q-1"})}
    assert functions["on_sample"].queue == "q-1"
    assert functions["echo_length"].route.template == "echo_length"
    assert functions["get_item"].methods == frozenset({"GET", "PUT"})
    assert functions["files"].methods is None
    assert functions["tick"].schedule == "* * * * * *"


def test_unresolved_setting_disables_only_that_function() -> None:
    app = load_app("tests.devhost.sample_app:app")
    functions = {f.name: f for f in index_functions(app, {"AzureWebJobs.tick.Disabled": "true"})}
    assert "%SampleQueue%" in (functions["on_sample"].disabled or "")
    assert "Disabled" in (functions["tick"].disabled or "")
    assert functions["get_thing"].disabled is None


def test_resolve() -> None:
    assert resolve("%A%-%B%", {"A": "x", "B": "y"}) == "x-y"
    assert resolve("plain", {}) == "plain"
    with pytest.raises(KeyError):
        resolve("%MISSING%", {})


def test_load_errors() -> None:
    with pytest.raises(AppLoadError):
        load_app("tests.devhost.no_such_module:app")
    with pytest.raises(AppLoadError):
        load_app("tests.devhost.hosts:QUEUE")


def test_arguments_follow_the_signature() -> None:
    from azure.functions.servicebus import ServiceBusMessage

    from devhost.index import HostFunction

    def as_text(msg: str, context: func.Context) -> tuple[str, str]:
        return msg, context.function_name

    def as_bytes(msg: bytes) -> bytes:
        return msg

    def as_message(msg: func.ServiceBusMessage) -> bytes:
        return msg.get_body()

    message = ServiceBusMessage(
        body=b"hi", message_id="m", application_properties={}, user_properties={}
    )
    for function, expected in [
        (as_text, ("hi", "f")),
        (as_bytes, b"hi"),
        (as_message, b"hi"),
    ]:
        fn = HostFunction(name="f", kind="queue", trigger=None, func=function, arg="msg")
        assert fn.call(message) == expected

    async def coroutine(msg: bytes) -> bytes:
        return msg * 2

    fn = HostFunction(name="c", kind="queue", trigger=None, func=coroutine, arg="msg")
    assert fn.is_async and fn.call(message) == b"hihi"
